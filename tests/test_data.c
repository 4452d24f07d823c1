/* Datasets: IDX (plain and gzip) and CSV loaders, bp_dataset_split, bp_dataset_free.
 * Every test writes its small files into one temporary directory made by the group setup. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "backprop.h"

static char dir[64]; /* mkdtemp("/tmp/bp_data_XXXXXX") */

/* dir/name in one of two static buffers, so that a call may take two fresh paths; a test that
 * keeps a path longer copies it (keep). */
static const char *path_of(const char *name)
{
    static char bufs[2][128];
    static int which;
    which ^= 1;
    int n = snprintf(bufs[which], sizeof bufs[which], "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof bufs[which]);
    return bufs[which];
}

static const char *keep(char copy[128], const char *path)
{
    int n = snprintf(copy, 128, "%s", path);
    assert_true(n > 0 && n < 128);
    return copy;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = path_of(name);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

/* The bytes of a file, for cutting or corrupting one. */
static unsigned char *read_back(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    data = malloc((size_t)n);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* An IDX file: header (00 00 type rank, big-endian dims) then data; *len its size; caller frees. */
static unsigned char *idx_bytes(unsigned char type, int rank, const uint32_t *dims,
                                const unsigned char *data, size_t data_len, size_t *len)
{
    size_t head = 4 + 4 * (size_t)rank;
    unsigned char *b = malloc(head + data_len + 1);
    int d;
    assert_non_null(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = type;
    b[3] = (unsigned char)rank;
    for (d = 0; d < rank; d++) {
        b[4 + 4 * d] = (unsigned char)(dims[d] >> 24);
        b[5 + 4 * d] = (unsigned char)(dims[d] >> 16);
        b[6 + 4 * d] = (unsigned char)(dims[d] >> 8);
        b[7 + 4 * d] = (unsigned char)dims[d];
    }
    if (data_len)
        memcpy(b + head, data, data_len);
    *len = head + data_len;
    return b;
}

static const char *write_idx(const char *name, int gzip, unsigned char type, int rank,
                             const uint32_t *dims, const unsigned char *data, size_t data_len)
{
    size_t len;
    unsigned char *b = idx_bytes(type, rank, dims, data, data_len, &len);
    const char *path = gzip ? write_gz(name, b, len) : write_file(name, b, len);
    free(b);
    return path;
}

/* Three 2x2 images (a rank-3 file) and their labels 2, 0, 1. */
static const unsigned char pixels[12] = {0, 51, 255, 7, 255, 0, 51, 128, 1, 2, 3, 254};
static const uint32_t image_dims[3] = {3, 2, 2};
static const unsigned char labels3[3] = {2, 0, 1};
static const uint32_t label_dims[1] = {3};

static const char *good_images(void)
{
    return write_idx("images.idx", 0, 0x08, 3, image_dims, pixels, sizeof pixels);
}

static const char *good_labels(void)
{
    return write_idx("labels.idx", 0, 0x08, 1, label_dims, labels3, sizeof labels3);
}

static void assert_zeroed(const bp_dataset *ds)
{
    static const bp_dataset zero;
    assert_memory_equal(ds, &zero, sizeof zero);
}

/* A failing load: the exact status, a detail mentioning word, and *out zeroed. */
static void expect_idx_error(const char *images, const char *labels, int classes, bp_status want,
                             const char *word)
{
    bp_dataset ds;
    memset(&ds, 0xAB, sizeof ds);
    assert_int_equal(bp_dataset_load_idx(&ds, images, labels, classes), want);
    if (!strstr(bp_last_error(), word))
        fail_msg("detail '%s' does not mention '%s'", bp_last_error(), word);
    assert_zeroed(&ds);
}

static void expect_csv_error(const char *path, bp_csv_kind kind, int n, bp_status want,
                             const char *word)
{
    bp_dataset ds;
    memset(&ds, 0xAB, sizeof ds);
    assert_int_equal(bp_dataset_load_csv(&ds, path, kind, n), want);
    if (!strstr(bp_last_error(), word))
        fail_msg("detail '%s' does not mention '%s'", bp_last_error(), word);
    assert_zeroed(&ds);
}

static void check_good_idx(const char *images, const char *labels)
{
    bp_dataset ds;
    int s, j;
    assert_int_equal(bp_dataset_load_idx(&ds, images, labels, 3), BP_OK);
    assert_int_equal(ds.count, 3);
    assert_int_equal(ds.n_features, 4);
    assert_int_equal(ds.n_targets, 3);
    assert_non_null(ds.labels);
    /* Sample s is column s: features s*4 .. s*4+3 in file order. */
    for (s = 0; s < 3; s++) {
        for (j = 0; j < 4; j++)
            assert_true(ds.x[s * 4 + j] == (float)pixels[s * 4 + j] / 255.0f);
        assert_int_equal(ds.labels[s], labels3[s]);
        for (j = 0; j < 3; j++)
            assert_true(ds.y[s * 3 + j] == (j == labels3[s] ? 1.0f : 0.0f));
    }
    assert_true(ds.x[0] == 0.0f);
    assert_true(ds.x[1] == 0.2f);
    assert_true(ds.x[2] == 1.0f);
    bp_dataset_free(&ds);
    assert_zeroed(&ds);
}

static void idx_plain(void **state)
{
    (void)state;
    check_good_idx(good_images(), good_labels());
}

static void idx_gzip(void **state)
{
    (void)state;
    check_good_idx(write_idx("images.gz", 1, 0x08, 3, image_dims, pixels, sizeof pixels),
                   write_idx("labels.gz", 1, 0x08, 1, label_dims, labels3, sizeof labels3));
    /* One compressed, one plain: each file is detected on its own. */
    check_good_idx(write_idx("images.gz", 1, 0x08, 3, image_dims, pixels, sizeof pixels),
                   good_labels());
}

static void idx_rank1_and_rank4(void **state)
{
    static const uint32_t dims4[4] = {3, 1, 2, 2};
    static const uint32_t dims1[1] = {12};
    static const unsigned char labels12[12] = {0};
    const char *images, *labels;
    bp_dataset ds;
    (void)state;
    images = write_idx("images.idx", 0, 0x08, 4, dims4, pixels, 12);
    labels = good_labels();
    assert_int_equal(bp_dataset_load_idx(&ds, images, labels, 3), BP_OK);
    assert_int_equal(ds.n_features, 4);
    bp_dataset_free(&ds);
    images = write_idx("images.idx", 0, 0x08, 1, dims1, pixels, 12);
    labels = write_idx("labels.idx", 0, 0x08, 1, dims1, labels12, 12);
    assert_int_equal(bp_dataset_load_idx(&ds, images, labels, 1), BP_OK);
    assert_int_equal(ds.count, 12);
    assert_int_equal(ds.n_features, 1);
    assert_true(ds.x[2] == 1.0f);
    bp_dataset_free(&ds);
}

static void idx_bad_magic(void **state)
{
    size_t len;
    unsigned char *b = idx_bytes(0x08, 3, image_dims, pixels, sizeof pixels, &len);
    (void)state;
    b[1] = 0x01;
    expect_idx_error(write_file("images.idx", b, len), good_labels(), 3, BP_EFORMAT, "magic");
    b[1] = 0;
    b[0] = 0x08;
    expect_idx_error(write_file("images.idx", b, len), good_labels(), 3, BP_EFORMAT, "magic");
    free(b);
}

static void idx_bad_type(void **state)
{
    (void)state;
    /* 0x0D (float) is a real IDX type this library does not read; 0x07 is no type at all. */
    expect_idx_error(write_idx("images.idx", 0, 0x0D, 3, image_dims, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "unsupported type");
    expect_idx_error(good_images(), write_idx("labels.idx", 0, 0x09, 1, label_dims, labels3, 3), 3,
                     BP_EFORMAT, "unsupported type");
    expect_idx_error(write_idx("images.idx", 0, 0x07, 3, image_dims, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "bad type byte");
}

static void idx_bad_rank(void **state)
{
    static const uint32_t dims5[5] = {3, 1, 1, 2, 2};
    static const uint32_t dims2[2] = {3, 1};
    (void)state;
    expect_idx_error(write_idx("images.idx", 0, 0x08, 0, NULL, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "rank 0");
    expect_idx_error(write_idx("images.idx", 0, 0x08, 5, dims5, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "rank 5");
    expect_idx_error(good_images(), write_idx("labels.idx", 0, 0x08, 2, dims2, labels3, 3), 3,
                     BP_EFORMAT, "rank 2");
}

static void idx_zero_dimension(void **state)
{
    static const uint32_t dims[3] = {3, 0, 2};
    (void)state;
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, dims, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "dimension 1 is 0");
}

static void idx_dimension_overflow(void **state)
{
    /* 65536^3: 2^32 values per sample do not fit int; 65536^4 does not even fit size_t. */
    static const uint32_t dims3[3] = {65536, 65536, 65536};
    static const uint32_t dims4[4] = {65536, 65536, 65536, 65536};
    static const uint32_t huge_count[3] = {0x80000000u, 1, 1};
    (void)state;
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, dims3, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "overflow");
    expect_idx_error(write_idx("images.idx", 0, 0x08, 4, dims4, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "overflow");
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, huge_count, pixels, sizeof pixels),
                     good_labels(), 3, BP_EFORMAT, "overflow");
}

static void idx_truncated(void **state)
{
    static const uint32_t mnist[3] = {60000, 28, 28};
    (void)state;
    /* A header claiming all of MNIST over 5 bytes of data: refused, without allocating 47 MB. */
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, mnist, pixels, 5), good_labels(), 10,
                     BP_EFORMAT, "header says 47040000 bytes of data, file has 5");
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, image_dims, pixels, 11), good_labels(), 3,
                     BP_EFORMAT, "truncated");
    /* Cut inside the header: in the magic, and in the dimensions. */
    expect_idx_error(write_file("images.idx", "\0\0\x08", 3), good_labels(), 3, BP_EFORMAT,
                     "truncated header");
    expect_idx_error(write_file("images.idx", "\0\0\x08\x03\0\0\0\x03\0", 9), good_labels(), 3,
                     BP_EFORMAT, "truncated header");
    expect_idx_error(write_file("images.idx", "", 0), good_labels(), 3, BP_EFORMAT, "truncated");
}

/* A gzip file of 100 MNIST-sized images of noise (so that it compresses poorly and a cut lands
 * inside the deflate data); returns its bytes. */
static unsigned char *noisy_gzip(size_t *len)
{
    static const uint32_t dims[3] = {100, 28, 28};
    unsigned char *data = malloc(100 * 784);
    uint32_t v = 12345;
    size_t i;
    assert_non_null(data);
    for (i = 0; i < 100 * 784; i++) {
        v = v * 1664525u + 1013904223u;
        data[i] = (unsigned char)(v >> 24);
    }
    write_idx("noise.gz", 1, 0x08, 3, dims, data, 100 * 784);
    free(data);
    return read_back(path_of("noise.gz"), len);
}

static void idx_truncated_gzip(void **state)
{
    static const uint32_t dims[1] = {100};
    static const unsigned char zeros[100] = {0};
    size_t len;
    unsigned char *gz = noisy_gzip(&len);
    char kept[128];
    const char *labels = keep(kept, write_idx("labels100.idx", 0, 0x08, 1, dims, zeros, 100));
    bp_dataset ds;
    (void)state;
    assert_true(len > 1000);
    assert_int_equal(bp_dataset_load_idx(&ds, path_of("noise.gz"), labels, 10), BP_OK);
    bp_dataset_free(&ds);
    /* Without its 8-byte trailer (CRC-32, size) every pixel is there, but the stream is cut. */
    expect_idx_error(write_file("cut.gz", gz, len - 8), labels, 10, BP_EFORMAT, "truncated gzip");
    expect_idx_error(write_file("cut.gz", gz, len - 1), labels, 10, BP_EFORMAT, "truncated gzip");
    expect_idx_error(write_file("cut.gz", gz, len / 2), labels, 10, BP_EFORMAT, "truncated gzip");
    expect_idx_error(write_file("cut.gz", gz, 12), labels, 10, BP_EFORMAT, "truncated gzip");
    /* A flipped byte in the CRC-32 trailer: the data decompress but do not check. */
    gz[len - 6] ^= 0x55;
    expect_idx_error(write_file("bad.gz", gz, len), labels, 10, BP_EFORMAT, "corrupt gzip");
    free(gz);
}

static void idx_trailing_bytes(void **state)
{
    unsigned char more[13];
    (void)state;
    memcpy(more, pixels, 12);
    more[12] = 9;
    expect_idx_error(write_idx("images.idx", 0, 0x08, 3, image_dims, more, 13), good_labels(), 3,
                     BP_EFORMAT, "trailing");
    expect_idx_error(good_images(), write_idx("labels.gz", 1, 0x08, 1, label_dims, more, 4), 3,
                     BP_EFORMAT, "trailing");
}

/* Bytes after the last gzip member (gzread skips them) are refused, one byte or many, and a gzip
 * header alone after it too; members that follow one another are one stream and load. */
static void idx_bytes_after_gzip(void **state)
{
    (void)state;
    size_t len, half;
    unsigned char *gz = read_back(write_idx("images.gz", 1, 0x08, 3, image_dims, pixels, 12), &len);
    unsigned char *more = malloc(2 * len + 64);
    assert_non_null(more);
    static const char *const tails[] = {"x", "some text after the stream\n", "\x1f"};
    for (int k = 0; k < 3; k++) {
        memcpy(more, gz, len);
        memcpy(more + len, tails[k], strlen(tails[k]));
        expect_idx_error(write_file("more.gz", more, len + strlen(tails[k])), good_labels(), 3,
                         BP_EFORMAT, "trailing bytes after the gzip stream");
    }
    /* the header and the first 4 pixels in one member, the other 8 in a second */
    size_t raw_len;
    unsigned char *raw = idx_bytes(0x08, 3, image_dims, pixels, 12, &raw_len);
    unsigned char *a = read_back(write_gz("a.gz", raw, raw_len - 8), &half);
    unsigned char *b = read_back(write_gz("b.gz", raw + raw_len - 8, 8), &len);
    memcpy(more, a, half);
    memcpy(more + half, b, len);
    check_good_idx(write_file("two.gz", more, half + len), good_labels());
    free(raw);
    free(a);
    free(b);
    free(gz);
    free(more);
}

static void idx_count_mismatch(void **state)
{
    static const uint32_t two[1] = {2};
    (void)state;
    expect_idx_error(good_images(), write_idx("labels.idx", 0, 0x08, 1, two, labels3, 2), 3,
                     BP_EFORMAT, "count mismatch");
}

static void idx_label_out_of_range(void **state)
{
    static const unsigned char bad[3] = {2, 0, 3};
    (void)state;
    expect_idx_error(good_images(), write_idx("labels.idx", 0, 0x08, 1, label_dims, bad, 3), 3,
                     BP_EFORMAT, "sample 2");
    /* Good labels, too few classes. */
    expect_idx_error(good_images(), good_labels(), 2, BP_EFORMAT, "sample 0: label 2");
}

static void idx_bad_arguments(void **state)
{
    char kept_images[128], kept_labels[128];
    const char *images = keep(kept_images, good_images());
    const char *labels = keep(kept_labels, good_labels());
    (void)state;
    expect_idx_error(path_of("missing.idx"), labels, 3, BP_EIO, "missing.idx: cannot open");
    expect_idx_error(images, path_of("missing.idx"), 3, BP_EIO, "missing.idx");
    /* A directory opens but cannot be read. */
    expect_idx_error(dir, labels, 3, BP_EIO, "cannot read");
    expect_idx_error(images, labels, 0, BP_EDIM, "num_classes");
    expect_idx_error(images, labels, 257, BP_EDIM, "num_classes");
    expect_idx_error(NULL, labels, 3, BP_ENULL, "images_path");
    expect_idx_error(images, NULL, 3, BP_ENULL, "labels_path");
    assert_int_equal(bp_dataset_load_idx(NULL, images, labels, 3), BP_ENULL);
}

static void csv_classes(void **state)
{
    bp_dataset ds;
    (void)state;
    /* Comments, blank lines, spaces around fields, CRLF and a last line without newline. */
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("c.csv",
                                                         "# x1,x2,label\n"
                                                         "1.5, 2,0\n"
                                                         "\n"
                                                         "   \t\n"
                                                         "  # indented comment\n"
                                                         "  -3e-1 ,4 , 2\r\n"
                                                         "0.25,-8,1"),
                                         BP_CSV_CLASSES, 3), BP_OK);
    assert_int_equal(ds.count, 3);
    assert_int_equal(ds.n_features, 2);
    assert_int_equal(ds.n_targets, 3);
    assert_non_null(ds.labels);
    assert_true(ds.x[0] == 1.5f && ds.x[1] == 2.0f);
    assert_true(ds.x[2] == -0.3f && ds.x[3] == 4.0f);
    assert_true(ds.x[4] == 0.25f && ds.x[5] == -8.0f);
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[1], 2);
    assert_int_equal(ds.labels[2], 1);
    assert_true(ds.y[0] == 1.0f && ds.y[1] == 0.0f && ds.y[2] == 0.0f);
    assert_true(ds.y[3] == 0.0f && ds.y[4] == 0.0f && ds.y[5] == 1.0f);
    assert_true(ds.y[6] == 0.0f && ds.y[7] == 1.0f && ds.y[8] == 0.0f);
    bp_dataset_free(&ds);
    assert_zeroed(&ds);
}

static void csv_targets(void **state)
{
    bp_dataset ds;
    (void)state;
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("t.csv", "1,2,3,4\n5,6,7.5,-8\n"),
                                         BP_CSV_TARGETS, 2), BP_OK);
    assert_int_equal(ds.count, 2);
    assert_int_equal(ds.n_features, 2);
    assert_int_equal(ds.n_targets, 2);
    assert_null(ds.labels);
    assert_true(ds.x[0] == 1.0f && ds.x[1] == 2.0f && ds.x[2] == 5.0f && ds.x[3] == 6.0f);
    assert_true(ds.y[0] == 3.0f && ds.y[1] == 4.0f && ds.y[2] == 7.5f && ds.y[3] == -8.0f);
    bp_dataset_free(&ds);
}

/* Many samples (past several doublings of the arrays) and one line far longer than 1024 bytes. */
static void csv_large(void **state)
{
    enum { SAMPLES = 1000, WIDE = 3000 };
    size_t cap = (size_t)SAMPLES * 32 + (size_t)WIDE * 8, len = 0;
    char *text = malloc(cap);
    bp_dataset ds;
    int i;
    (void)state;
    assert_non_null(text);
    for (i = 0; i < SAMPLES; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,%d.25,%d\n", i, i, i % 4);
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("big.csv", text), BP_CSV_CLASSES, 4),
                     BP_OK);
    assert_int_equal(ds.count, SAMPLES);
    for (i = 0; i < SAMPLES; i++) {
        assert_true(ds.x[2 * i] == (float)i);
        assert_true(ds.x[2 * i + 1] == (float)i + 0.25f);
        assert_int_equal(ds.labels[i], i % 4);
        assert_true(ds.y[4 * i + i % 4] == 1.0f);
    }
    bp_dataset_free(&ds);

    len = 0;
    for (i = 0; i < WIDE; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s%d", i ? ", " : "", i);
    assert_true(len > 10000);
    snprintf(text + len, cap - len, "\n");
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("wide.csv", text), BP_CSV_TARGETS, 1),
                     BP_OK);
    assert_int_equal(ds.count, 1);
    assert_int_equal(ds.n_features, WIDE - 1);
    assert_true(ds.x[WIDE - 2] == (float)(WIDE - 2));
    assert_true(ds.y[0] == (float)(WIDE - 1));
    bp_dataset_free(&ds);
    free(text);
}

static void csv_bad_numbers(void **state)
{
    (void)state;
    expect_csv_error(write_text("e.csv", "1,2,0\n# note\n3,abc,1\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     "e.csv:3: column 2: 'abc' is not a number");
    expect_csv_error(write_text("e.csv", "1.5x,2,0\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     ":1: column 1: '1.5x' is not a number");
    expect_csv_error(write_text("e.csv", "1 2,2,0\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     "'1 2' is not a number");
    expect_csv_error(write_text("e.csv", "1,2,0\n1,,0\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     ":2: column 2: empty field");
    expect_csv_error(write_text("e.csv", "1,2,3\n4,5, \n"), BP_CSV_TARGETS, 1, BP_EFORMAT,
                     ":2: column 3: empty field");
    expect_csv_error(write_text("e.csv", "1,nan,0\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     "column 2: 'nan' is not finite");
    expect_csv_error(write_text("e.csv", "1,2,-inf\n"), BP_CSV_TARGETS, 1, BP_EFORMAT,
                     "column 3: '-inf' is not finite");
    expect_csv_error(write_text("e.csv", "1e39,2,0\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     "'1e39' is not finite");
}

static void csv_bad_shape(void **state)
{
    (void)state;
    expect_csv_error(write_text("e.csv", "1,2,0\n\n3,4\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     "e.csv:3: 2 columns, expected 3 as on line 1");
    expect_csv_error(write_text("e.csv", "1,2,0\n3,4,5,1\n"), BP_CSV_CLASSES, 2, BP_EFORMAT,
                     ":2: 4 columns");
    /* A label alone, and regression targets with no feature left. */
    expect_csv_error(write_text("e.csv", "1\n"), BP_CSV_CLASSES, 2, BP_EFORMAT, "columns");
    expect_csv_error(write_text("e.csv", "1,2\n"), BP_CSV_TARGETS, 2, BP_EFORMAT, "columns");
    expect_csv_error(write_text("e.csv", ""), BP_CSV_CLASSES, 2, BP_EFORMAT, "empty");
    expect_csv_error(write_text("e.csv", "# only\n\n  \n"), BP_CSV_CLASSES, 2, BP_EFORMAT, "empty");
}

static void csv_bad_labels(void **state)
{
    (void)state;
    expect_csv_error(write_text("e.csv", "1,2,0\n3,4,3\n"), BP_CSV_CLASSES, 3, BP_EFORMAT,
                     ":2: column 3: label 3 is not in [0, 3)");
    expect_csv_error(write_text("e.csv", "1,2,-1\n"), BP_CSV_CLASSES, 3, BP_EFORMAT,
                     "label -1 is not in");
    expect_csv_error(write_text("e.csv", "1,2,99999999999999999999\n"), BP_CSV_CLASSES, 3,
                     BP_EFORMAT, "is not in");
    expect_csv_error(write_text("e.csv", "1,2,1.5\n"), BP_CSV_CLASSES, 3, BP_EFORMAT,
                     ":1: column 3: label '1.5' is not an integer");
    expect_csv_error(write_text("e.csv", "1,2,x\n"), BP_CSV_CLASSES, 3, BP_EFORMAT,
                     "label 'x' is not an integer");
}

static void csv_bad_arguments(void **state)
{
    char kept[128];
    const char *path = keep(kept, write_text("ok.csv", "1,2,0\n"));
    (void)state;
    expect_csv_error(path_of("missing.csv"), BP_CSV_CLASSES, 2, BP_EIO, "missing.csv: cannot open");
    expect_csv_error(dir, BP_CSV_CLASSES, 2, BP_EIO, "cannot read after line 0: Is a directory");
    expect_csv_error(path, BP_CSV_CLASSES, 0, BP_EDIM, "n is 0");
    expect_csv_error(path, (bp_csv_kind)7, 2, BP_EDIM, "kind");
    expect_csv_error(NULL, BP_CSV_CLASSES, 2, BP_ENULL, "path");
    assert_int_equal(bp_dataset_load_csv(NULL, path, BP_CSV_CLASSES, 2), BP_ENULL);
}

static void split_classes(void **state)
{
    bp_dataset ds, tail;
    int s;
    const char *path = write_text("s.csv", "0,10,0\n1,11,1\n2,12,2\n3,13,0\n4,14,1\n");
    (void)state;
    assert_int_equal(bp_dataset_load_csv(&ds, path, BP_CSV_CLASSES, 3), BP_OK);
    assert_int_equal(bp_dataset_split(&ds, 2, &tail), BP_OK);
    assert_int_equal(ds.count, 3);
    assert_int_equal(tail.count, 2);
    assert_int_equal(tail.n_features, 2);
    assert_int_equal(tail.n_targets, 3);
    for (s = 0; s < 3; s++) {
        assert_true(ds.x[2 * s] == (float)s && ds.x[2 * s + 1] == (float)(10 + s));
        assert_int_equal(ds.labels[s], s % 3);
        assert_true(ds.y[3 * s + s % 3] == 1.0f);
    }
    for (s = 0; s < 2; s++) {
        assert_true(tail.x[2 * s] == (float)(3 + s) && tail.x[2 * s + 1] == (float)(13 + s));
        assert_int_equal(tail.labels[s], s);
        assert_true(tail.y[3 * s + s] == 1.0f);
        assert_true(tail.y[3 * s + (s + 1) % 3] == 0.0f);
    }
    bp_dataset_free(&tail);
    bp_dataset_free(&ds);
}

static void split_targets(void **state)
{
    bp_dataset ds, tail;
    (void)state;
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("s.csv", "1,2\n3,4\n5,6\n"),
                                         BP_CSV_TARGETS, 1), BP_OK);
    assert_int_equal(bp_dataset_split(&ds, 1, &tail), BP_OK);
    assert_null(tail.labels);
    assert_int_equal(ds.count, 2);
    assert_true(ds.x[1] == 3.0f && ds.y[1] == 4.0f);
    assert_int_equal(tail.count, 1);
    assert_true(tail.x[0] == 5.0f && tail.y[0] == 6.0f);
    bp_dataset_free(&tail);
    bp_dataset_free(&ds);
}

static void split_errors(void **state)
{
    bp_dataset ds, tail;
    (void)state;
    assert_int_equal(bp_dataset_load_csv(&ds, write_text("s.csv", "1,0\n2,1\n"), BP_CSV_CLASSES, 2),
                     BP_OK);
    memset(&tail, 0xAB, sizeof tail);
    assert_int_equal(bp_dataset_split(&ds, 0, &tail), BP_EDIM);
    assert_non_null(strstr(bp_last_error(), "tail_count"));
    assert_zeroed(&tail);
    assert_int_equal(bp_dataset_split(&ds, 2, &tail), BP_EDIM);
    assert_int_equal(bp_dataset_split(&ds, -1, &tail), BP_EDIM);
    assert_int_equal(ds.count, 2);
    assert_true(ds.x[1] == 2.0f);
    assert_int_equal(bp_dataset_split(NULL, 1, &tail), BP_ENULL);
    assert_int_equal(bp_dataset_split(&ds, 1, NULL), BP_ENULL);
    bp_dataset_free(&ds);
    assert_int_equal(bp_dataset_split(&ds, 1, &tail), BP_ENULL);
    bp_dataset_free(NULL);
}

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bp_test_data_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    (void)state;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            unlink(path_of(e->d_name));
    closedir(d);
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idx_plain),
        cmocka_unit_test(idx_gzip),
        cmocka_unit_test(idx_rank1_and_rank4),
        cmocka_unit_test(idx_bad_magic),
        cmocka_unit_test(idx_bad_type),
        cmocka_unit_test(idx_bad_rank),
        cmocka_unit_test(idx_zero_dimension),
        cmocka_unit_test(idx_dimension_overflow),
        cmocka_unit_test(idx_truncated),
        cmocka_unit_test(idx_truncated_gzip),
        cmocka_unit_test(idx_trailing_bytes),
        cmocka_unit_test(idx_bytes_after_gzip),
        cmocka_unit_test(idx_count_mismatch),
        cmocka_unit_test(idx_label_out_of_range),
        cmocka_unit_test(idx_bad_arguments),
        cmocka_unit_test(csv_classes),
        cmocka_unit_test(csv_targets),
        cmocka_unit_test(csv_large),
        cmocka_unit_test(csv_bad_numbers),
        cmocka_unit_test(csv_bad_shape),
        cmocka_unit_test(csv_bad_labels),
        cmocka_unit_test(csv_bad_arguments),
        cmocka_unit_test(split_classes),
        cmocka_unit_test(split_targets),
        cmocka_unit_test(split_errors),
    };
    return cmocka_run_group_tests_name("data", tests, make_dir, remove_dir);
}
