/* Writes the seed corpus of every fuzz target into DIR/TARGET/ (DIR is the only argument): valid
 * inputs of each format, made with the library itself where it writes that format, and inputs that
 * claim huge sizes in a few bytes. Run by ctest (a fixture) and run.sh, never stored; the
 * layout of each target's input is described at the top of its source file. */
#define _POSIX_C_SOURCE 200809L

#include "fuzz_resume.h"

#include <backprop.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *root;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_corpus: %s: %s\n", what, detail);
    exit(1);
}

/* ROOT/target (created) / name, in a static buffer. */
static const char *path_of(const char *target, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die(path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    return path;
}

static void put(const char *target, const char *name, const void *data, size_t size)
{
    const char *path = path_of(target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        die(path, "cannot write");
}

/* A growable byte string, for inputs assembled from parts. */
typedef struct bytes {
    unsigned char data[1 << 15];
    size_t size;
} bytes;

static void add(bytes *b, const void *p, size_t n)
{
    if (n > sizeof b->data - b->size)
        die("seed", "larger than 32 KiB");
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

static void add_u32(bytes *b, uint32_t v, int big_endian)
{
    unsigned char p[4];
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * (big_endian ? 3 - i : i));
    add(b, p, 4);
}

/* ---------------------------------------------------------------- model files */
/* sides: 0 none, 1 inputs, 3 inputs and targets scaled (format version 2). */
static void model_scaled(const char *name, int L, const int *sizes, const bp_activation *acts,
                         bp_cost c, int sides)
{
    static const float mean[8] = {1, -2, 3, -4, 5, -6, 7, -8}, scale[8] = {1, 2, 4, 8, 0.5f, 3,
                                                                           5, 7};
    bp_net *net = NULL;
    bp_status st = bp_net_create(&net, L, sizes, acts, c);
    if (!st)
        st = bp_net_init(net, BP_INIT_XAVIER, 7);
    if (!st && (sides & 1))
        st = bp_net_set_scaling(net, BP_SCALE_INPUTS, mean, scale);
    if (!st && (sides & 2))
        st = bp_net_set_scaling(net, BP_SCALE_TARGETS, mean, scale);
    if (!st)
        st = bp_model_save(net, path_of("model_load", name));
    if (st)
        die(name, bp_last_error());
    bp_net_free(net);
}

static void model(const char *name, int L, const int *sizes, const bp_activation *acts, bp_cost c)
{
    model_scaled(name, L, sizes, acts, c, 0);
}

/* A header of L layers of the given width, parameter count as the sizes imply, no parameters. */
static void model_claim(const char *name, int L, uint32_t width)
{
    static const unsigned char magic[8] = {0x89, 'B', 'P', 'N', '\r', '\n', 0x1a, '\n'};
    bytes b = {.size = 0};
    uint64_t params = 0;
    add(&b, magic, sizeof magic);
    add_u32(&b, 1, 0);
    add_u32(&b, (uint32_t)L, 0);
    for (int i = 0; i < L; i++)
        add_u32(&b, width, 0);
    for (int i = 0; i < L - 1; i++)
        add_u32(&b, BP_SIGMOID, 0);
    add_u32(&b, BP_QUADRATIC, 0);
    for (int i = 1; i < L; i++)
        params += (uint64_t)width * ((uint64_t)width + 1);
    add_u32(&b, (uint32_t)params, 0);
    add_u32(&b, (uint32_t)(params >> 32), 0);
    add_u32(&b, 0, 0); /* a checksum, wrong */
    put("model_load", name, b.data, b.size);
}

static void models(void)
{
    static const int s232[] = {2, 3, 2}, s31[] = {3, 1}, s483[] = {4, 8, 3},
                     s5[] = {2, 3, 3, 2, 1};
    static const bp_activation sig[] = {BP_SIGMOID, BP_SIGMOID}, soft[] = {BP_RELU, BP_SOFTMAX},
                               mixed[] = {BP_TANH, BP_LEAKY_RELU, BP_RELU, BP_IDENTITY};
    model("2-3-2-sigmoid-quadratic.bpn", 3, s232, sig, BP_QUADRATIC);
    model("3-1-sigmoid-cross-entropy.bpn", 2, s31, sig, BP_CROSS_ENTROPY);
    model("4-8-3-relu-softmax-nll.bpn", 3, s483, soft, BP_NLL);
    model("2-3-3-2-1-mixed.bpn", 5, s5, mixed, BP_QUADRATIC);
    model_scaled("v2-2-3-2-scaled-both.bpn", 3, s232, sig, BP_QUADRATIC, 3);
    model_scaled("v2-4-8-3-scaled-inputs-nll.bpn", 3, s483, soft, BP_NLL, 1);
    model_claim("claim-64-layers-of-int-max.bpn", 64, 0x7fffffff);
    model_claim("claim-2-layers-of-65536.bpn", 2, 65536);
}

/* ---------------------------------------------------------------- round trip */
static void roundtrips(void)
{
    /* L - 2, widths, activations, cost, then parameter bits (see fuzz_roundtrip.c). */
    static const unsigned char small[] = {1, 1, 2, 1, 0, 0, 0, 0, 0, 0x80, 0x3f};
    static const unsigned char odd_bits[] = {
        2, 3, 4, 5, 6, 1, 5, 2, 0x01, 0x00, 0xc0, 0x7f, /* a NaN with a payload */
        0x00, 0x00, 0x80, 0xff, /* -inf */ 0x01, 0x00, 0x00, 0x00, /* the smallest subnormal */
        0x00, 0x00, 0x00, 0x80 /* -0 */};
    unsigned char wide[7 + 6 + 1 + 64];
    for (size_t i = 0; i < sizeof wide; i++)
        wide[i] = (unsigned char)(i * 37 + 11);
    wide[0] = 5;
    put("roundtrip", "2-2-3-sigmoid", small, sizeof small);
    put("roundtrip", "odd-float-bits", odd_bits, sizeof odd_bits);
    put("roundtrip", "seven-layers", wide, sizeof wide);
}

/* ---------------------------------------------------------------- IDX */
/* An IDX header: type 0x08, rank, the dimensions (big-endian). */
static void idx_header(bytes *b, int rank, const uint32_t *dims)
{
    const unsigned char head[4] = {0, 0, 0x08, (unsigned char)rank};
    add(b, head, 4);
    for (int i = 0; i < rank; i++)
        add_u32(b, dims[i], 1);
}

/* The bytes of a gzip file of src, appended to b. */
static void add_gzip(bytes *b, const bytes *src)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("gzip", "deflateInit2");
    zs.next_in = (Bytef *)(uintptr_t)src->data; /* zlib only reads it */
    zs.avail_in = (uInt)src->size;
    zs.next_out = b->data + b->size;
    zs.avail_out = (uInt)(sizeof b->data - b->size);
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("gzip", "deflate");
    b->size += zs.total_out;
    deflateEnd(&zs);
}

/* The fuzz_idx_load input: num_classes - 1, flags, the image file's length, the two files. With
 * gzip_here the two files are gzipped by this generator (and the flags say plain): zlib reads
 * real gzip files, which the mutations then damage. */
static void idx_input(const char *name, int classes, int flags, const bytes *images,
                      const bytes *labels, int gzip_here)
{
    bytes in = {.size = 0}, zimages = {.size = 0}, zlabels = {.size = 0};
    if (gzip_here) {
        add_gzip(&zimages, images);
        add_gzip(&zlabels, labels);
        images = &zimages;
        labels = &zlabels;
    }
    const unsigned char head[4] = {(unsigned char)(classes - 1), (unsigned char)flags,
                                   (unsigned char)images->size,
                                   (unsigned char)(images->size >> 8)};
    add(&in, head, 4);
    add(&in, images->data, images->size);
    add(&in, labels->data, labels->size);
    put("idx_load", name, in.data, in.size);
}

static void idx(void)
{
    static const uint32_t dims[] = {3, 4, 4}, count[] = {3};
    static bytes images, labels, claim_images, claim_labels, overflow;
    idx_header(&images, 3, dims);
    for (int i = 0; i < 3 * 16; i++)
        add(&images, &(unsigned char){(unsigned char)(i * 29)}, 1);
    idx_header(&labels, 1, count);
    add(&labels, (const unsigned char[]){0, 2, 1}, 3);
    idx_input("3-images-4x4-plain", 3, 0, &images, &labels, 0);
    idx_input("3-images-4x4-gzip-both-here", 3, 0, &images, &labels, 1);
    idx_input("3-images-4x4-gzip-images-by-harness", 3, 1 | 6 << 2, &images, &labels, 0);
    idx_input("3-images-4x4-gzip-labels-by-harness", 3, 2 | 1 << 2, &images, &labels, 0);
    idx_input("3-images-4x4-gzip-both-by-harness", 10, 3 | 9 << 2, &images, &labels, 0);

    /* Headers that claim far more than the file holds: 2^31 - 1 images of 28 x 28 (1.6 TB), and
     * dimensions whose product overflows 64 bits. */
    static const uint32_t claim[] = {0x7fffffff, 28, 28}, claim_count[] = {0x7fffffff},
                          huge[] = {0x7fffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    idx_header(&claim_images, 3, claim);
    idx_header(&claim_labels, 1, claim_count);
    idx_input("claim-2g-images", 10, 0, &claim_images, &claim_labels, 0);
    idx_input("claim-2g-images-gzip", 10, 3, &claim_images, &claim_labels, 0);
    idx_header(&overflow, 4, huge);
    idx_input("claim-overflowing-dimensions", 10, 0, &overflow, &claim_labels, 0);
}

/* ---------------------------------------------------------------- CSV */
/* The fuzz_csv_load input: kind (0 classes, 1 targets), n - 1, the text. */
static void csv_input(const char *name, int kind, int n, const char *text)
{
    bytes in = {.size = 0};
    add(&in, (const unsigned char[]){(unsigned char)kind, (unsigned char)(n - 1)}, 2);
    add(&in, text, strlen(text));
    put("csv_load", name, in.data, in.size);
}

static void csv(void)
{
    static char wide[16384 + 1];
    csv_input("classes", 0, 3, "0.5,1,2\n-1e-3,4.25,0\n7,8,1\n");
    csv_input("classes-comments-blanks-spaces", 0, 2,
              "# x1, x2, label\n\n  1.5 , -2 ,1\r\n\t\n3,4e2, 0\n# end\n");
    csv_input("targets", 1, 2, "1,2,0.5,0.25\n3,4,-1,1e-7\n");
    csv_input("targets-no-final-newline", 1, 1, "0x1p-3,2\n1,2");
    csv_input("bad-values", 0, 2, "1,nan,0\ninf,2,1\n1,2,3\n1,2\n");
    /* One line of 8192 columns: the loader must not reserve room for many such samples before
     * it has seen them (replayed under a 1 MB allocation limit). */
    for (size_t i = 0; i + 1 < sizeof wide; i += 2)
        memcpy(wide + i, i + 2 < sizeof wide - 1 ? "0," : "0\n", 2);
    csv_input("one-wide-line", 0, 1, wide);
}

/* ---------------------------------------------------------------- CLI arguments */
/* The fuzz_cli_args input: the arguments separated by NUL bytes (given here separated by '|'). */
static void args_input(const char *name, const char *args)
{
    bytes in = {.size = 0};
    add(&in, args, strlen(args));
    for (size_t i = 0; i < in.size; i++)
        if (in.data[i] == '|')
            in.data[i] = '\0';
    put("cli_args", name, in.data, in.size);
}

static void cli_args(void)
{
    args_input("network", "--layers|784-512-10|--hidden|sigmoid|--output=softmax|--cost|nll|"
                          "--init|xavier|--seed|18446744073709551615");
    args_input("numbers", "--epochs=30|--shift|-5|--eta|3.0|--mu=0.5|--optimizer|nesterov|"
                          "--schedule=step");
    args_input("positional-and-flag", "model.bpn|--outputs|--out|m.bpn");
    args_input("data-and-csv", "--data|/usr/share/datasets/fashion-mnist|--csv|t.csv");
    args_input("help", "--layers|2-2|--help");
    args_input("too-many-layers", "--layers=1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18-19-20-21-"
                                  "22-23-24-25-26-27-28-29-30-31-32-33-34-35-36-37-38-39-40-41-42-"
                                  "43-44-45-46-47-48-49-50-51-52-53-54-55-56-57-58-59-60-61-62-63-"
                                  "64-65");
    args_input("bad-values", "--layers|784--10|--eta|0|--mu|1|--epochs|2147483648|--seed|-1");
}

/* ---------------------------------------------------------------- checkpoints */
/* The fuzz_checkpoint_load seeds: the checkpoint after epoch 2 of the run of fuzz_resume.h, for
 * each optimizer, early stopping on and off, written by bp_train itself; and one of them with a
 * NaN where its state's first vector starts (the harness recomputes the CRCs). */
static void checkpoints(void)
{
    static const char *const kinds[] = {"sgd", "momentum", "nesterov", "adam"};
    char name[64];
    resume_data d;
    resume_data_make(&d);
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++)
        for (int early = 0; early < 2; early++) {
            bp_net *net = resume_net();
            bp_train_config cfg = resume_config((bp_optimizer_kind)kind, early);
            snprintf(name, sizeof name, "%s%s", kinds[kind], early ? "-early" : "");
            cfg.epochs = 2;
            cfg.checkpoint_every = 1;
            cfg.checkpoint_path = path_of("checkpoint_load", name);
            if (!net || bp_train(net, &d.ds, &d.ds, &cfg, NULL) != BP_OK)
                die(name, bp_last_error());
            bp_net_free(net);
        }
    FILE *f = fopen(path_of("checkpoint_load", "adam-early"), "rb");
    static bytes b;
    if (!f)
        die("adam-early", "cannot read");
    b.size = fread(b.data, 1, sizeof b.data, f);
    fclose(f);
    size_t state = 20 + (size_t)(b.data[12] | b.data[13] << 8 | b.data[14] << 16);
    float nan = NAN;
    if (state + 68 + 4 > b.size)
        die("adam-early", "shorter than its layout");
    memcpy(b.data + state + 68, &nan, 4);
    put("checkpoint_load", "adam-early-nan-moment", b.data, b.size);
}

/* ---------------------------------------------------------------- training setups */
/* fuzz_train_setup inputs (layout at the top of its source): ordinary runs of each optimizer and
 * schedule, and the hostile ones of the robustness table (NaN and 1e30 data, an eta that the step
 * schedule takes below the smallest float). Bytes below 224 pick from the target's table: 1 is
 * 1.0, 4 is 0.01, 5 is 0.9, 13 is 1e30, 18 is NaN, 9 is 1e-45, 21 is 1e-3. */
static void train_setup(const char *name, const unsigned char *head, size_t n, unsigned char fill)
{
    bytes b = {.size = 0};
    add(&b, head, n);
    while (b.size < 200)
        add(&b, &fill, 1);
    put("train_setup", name, b.data, b.size);
}

static void train_setups(void)
{
    /* L-2, widths, activations, cost, kind, schedule, count, epochs, batch, patience, step
     * epochs, labels, eta, lambda, mu, clip, beta1, beta2, epsilon, gamma, eta_min */
    static const unsigned char plain[] = {1, 1, 3, 1, 1, 5, 2, 0, 0, 7, 2, 3, 0, 1, 1,
                                          4, 0, 5, 0, 0, 0, 0, 3, 0};
    for (unsigned char kind = 0; kind < 4; kind++) {
        unsigned char in[sizeof plain];
        char name[32];
        memcpy(in, plain, sizeof in);
        in[7] = kind;     /* the optimizer */
        in[8] = kind % 3; /* the schedule */
        snprintf(name, sizeof name, "kind-%u", kind);
        train_setup(name, in, sizeof in, 3);
        snprintf(name, sizeof name, "kind-%u-nan", kind);
        train_setup(name, in, sizeof in, 18);
        snprintf(name, sizeof name, "kind-%u-1e30", kind);
        train_setup(name, in, sizeof in, 13);
    }
    static const unsigned char underflow[] = {0, 2, 2, 4, 0, 0, 1, 1, 1, 2, 0, 1, 0,
                                              9, 0, 0, 0, 0, 0, 0, 21, 0};
    train_setup("step-underflow", underflow, sizeof underflow, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_corpus DIR\n");
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0777) != 0 && errno != EEXIST)
        die(root, strerror(errno));
    models();
    roundtrips();
    idx();
    csv();
    cli_args();
    checkpoints();
    train_setups();
    return 0;
}
