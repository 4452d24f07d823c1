/* Fault injection in the manner of SQLite's OOM and I/O-error tests: an operation is run once to
 * count the calls it makes of one class, then once more for every k = 1..n with the k-th call made
 * to fail. After each run: the status is the documented one (BP_ENOMEM for an allocation, BP_EIO
 * for an I/O call) with a detail, out-objects are NULL or zeroed, inputs are unchanged, a model
 * file being replaced is intact and no temporary file is left, and nothing the run allocated or
 * opened is still live (checked here, in every build, not only under ASan or valgrind).
 *
 * Allocating calls: malloc, calloc, realloc (the library's through src/alloc.c) and the libc and
 * zlib calls that allocate for it (fopen, fdopen, gzopen, getline). I/O calls of a save: open (of
 * the temporary file and of the directory), fchmod, fwrite, fflush, fsync, fclose, rename. All are intercepted with -Wl,--wrap, which redirects the calls of
 * the static library and of this file alone (libc, zlib, OpenBLAS and CMocka keep their own): no
 * hook in the library, which keeps no global state. What --wrap cannot reach: allocations inside
 * zlib's gzread (inflate state; reported as Z_MEM_ERROR -> BP_ENOMEM by read_upto, untested) and
 * inside libc's own functions. The counts are printed with BPT_VERBOSE=1. A wrapped stat also
 * stages a race: another writer's file landing at the path while it is checked. */
#define _POSIX_C_SOURCE 200809L /* getline, mkdtemp, fdopen, fsync */

#include "bp_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------- the injector */
typedef enum fault_kind { ALLOC, IO } fault_kind;

static struct {
    int armed;      /* calls of `kind` are being counted */
    fault_kind kind;
    long calls;     /* calls of `kind` since armed */
    long fail_at;   /* the call that fails (1-based); 0: none */
    const char *failed; /* name of the function that was made to fail, NULL if none */
    int err;            /* the errno it failed with */
} inj;

/* Resources (blocks, FILE and gzFile handles) acquired through the wrapped calls while `tracking`
 * is on; releasing one removes it wherever it was acquired. Must be empty after each run. */
enum { MAX_LIVE = 256 };
static const void *live[MAX_LIVE];
static int tracking, live_overflow;

static void track(const void *p)
{
    if (!tracking || !p)
        return;
    for (int i = 0; i < MAX_LIVE; i++)
        if (!live[i]) {
            live[i] = p;
            return;
        }
    live_overflow = 1; /* no assertion in here: CMocka would longjmp out of libc's caller */
}

static void untrack(const void *p)
{
    for (int i = 0; p && i < MAX_LIVE; i++)
        if (live[i] == p)
            live[i] = NULL;
}

static int live_count(void)
{
    int n = 0;
    for (int i = 0; i < MAX_LIVE; i++)
        n += live[i] != NULL;
    return n + live_overflow;
}

/* Counts a call of kind; true (errno = err) if it is the one that must fail. */
static int inject(fault_kind kind, const char *name, int err)
{
    if (!inj.armed || inj.kind != kind || ++inj.calls != inj.fail_at)
        return 0;
    inj.failed = name;
    inj.err = errno = err;
    return 1;
}

/* The originals, as -Wl,--wrap=NAME renames them; each __wrap_NAME below replaces NAME. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fdopen(int fd, const char *mode);
int __real_fclose(FILE *f);
gzFile __real_gzopen(const char *path, const char *mode);
int __real_gzclose_r(gzFile f);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
int __real_fflush(FILE *f);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __real_open(const char *path, int flags, ...);
int __real_fchmod(int fd, mode_t mode);
int __real_stat(const char *path, struct stat *sb);

void *__wrap_malloc(size_t n)
{
    void *p = inject(ALLOC, "malloc", ENOMEM) ? NULL : __real_malloc(n);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = inject(ALLOC, "calloc", ENOMEM) ? NULL : __real_calloc(n, size);
    track(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    void *q = inject(ALLOC, "realloc", ENOMEM) ? NULL : __real_realloc(p, n);
    if (q) { /* a failed realloc leaves p allocated */
        untrack(p);
        track(q);
    }
    return q;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    FILE *f = inject(ALLOC, "fopen", ENOMEM) ? NULL : __real_fopen(path, mode);
    track(f);
    return f;
}

FILE *__wrap_fdopen(int fd, const char *mode)
{
    FILE *f = inject(ALLOC, "fdopen", ENOMEM) ? NULL : __real_fdopen(fd, mode);
    track(f);
    return f;
}

/* Closes the stream even when it reports a failure, as fclose does. */
int __wrap_fclose(FILE *f)
{
    untrack(f);
    int rc = __real_fclose(f);
    return inject(IO, "fclose", EIO) ? EOF : rc;
}

gzFile __wrap_gzopen(const char *path, const char *mode)
{
    gzFile f = inject(ALLOC, "gzopen", ENOMEM) ? NULL : __real_gzopen(path, mode);
    track(f);
    return f;
}

int __wrap_gzclose_r(gzFile f)
{
    untrack(f);
    return __real_gzclose_r(f);
}

/* getline's buffer comes from libc's own malloc: tracked here so that a leaked line shows. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
    if (inject(ALLOC, "getline", ENOMEM))
        return -1;
    char *before = *line;
    ssize_t n = __real_getline(line, cap, f);
    if (*line != before) {
        untrack(before);
        track(*line);
    }
    return n;
}

/* A full disk: the write stops short with ENOSPC. */
size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    return inject(IO, "fwrite", ENOSPC) ? 0 : __real_fwrite(p, size, n, f);
}

int __wrap_fflush(FILE *f) { return inject(IO, "fflush", ENOSPC) ? EOF : __real_fflush(f); }

int __wrap_fsync(int fd) { return inject(IO, "fsync", EIO) ? -1 : __real_fsync(fd); }

int __wrap_rename(const char *from, const char *to)
{
    return inject(IO, "rename", EIO) ? -1 : __real_rename(from, to);
}

/* A directory that refuses the file (EACCES); the mode argument is there only with O_CREAT. */
int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return inject(IO, "open", EACCES) ? -1 : __real_open(path, flags, mode);
}

int __wrap_fchmod(int fd, mode_t mode)
{
    return inject(IO, "fchmod", EPERM) ? -1 : __real_fchmod(fd, mode);
}

/* A race of two writers of one file (two runs on one --log): when landing_at names a path that
 * does not exist yet, the other writer's rename lands there just after this stat finds nothing
 * (the file is created before ENOENT returns), once. */
static const char *landing_at;

int __wrap_stat(const char *path, struct stat *sb)
{
    int rc = __real_stat(path, sb);
    if (rc != 0 && errno == ENOENT && landing_at && strcmp(path, landing_at) == 0) {
        landing_at = NULL;
        int fd = __real_open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0)
            close(fd);
        errno = ENOENT;
    }
    return rc;
}

/* ---------------------------------------------------------------- the driver */
/* One operation under injection. prepare (may be NULL) runs uninjected before each run; run is
 * the call under test; check asserts the state after it (st is its status) and releases all that
 * prepare and run made. Calls numbered tolerated_from and after (0: none) may fail without failing
 * the operation (the shrinking realloc of a split). */
typedef struct op {
    const char *name;
    fault_kind kind;
    bp_status expect;
    long tolerated_from;
    void (*prepare)(void *ctx);
    bp_status (*run)(void *ctx);
    void (*check)(void *ctx, bp_status st);
} op;

/* One run with call fail_at failing (0: none); returns the number of calls of the op's kind. */
static long run_once(const op *o, void *ctx, long fail_at)
{
    if (o->prepare)
        o->prepare(ctx);
    memset(live, 0, sizeof live);
    live_overflow = 0;
    inj.kind = o->kind;
    inj.calls = 0;
    inj.fail_at = fail_at;
    inj.failed = NULL;
    tracking = 1;
    inj.armed = 1;
    bp_status st = o->run(ctx);
    inj.armed = 0;
    long calls = inj.calls;
    if (fail_at == 0 || (o->tolerated_from > 0 && fail_at >= o->tolerated_from)) {
        if (st != BP_OK)
            fail_msg("%s with call %ld (%s) failing: %s: %s", o->name, fail_at,
                     inj.failed ? inj.failed : "none", bp_strerror(st), bp_last_error());
    } else {
        if (st != o->expect)
            fail_msg("%s with call %ld (%s) failing returned %s (%s), expected %s", o->name,
                     fail_at, inj.failed ? inj.failed : "none", bp_strerror(st), bp_last_error(),
                     bp_strerror(o->expect));
        if (bp_last_error()[0] == '\0')
            fail_msg("%s with call %ld failing: empty bp_last_error()", o->name, fail_at);
        if (o->kind == IO && (!inj.failed || !strstr(bp_last_error(), strerror(inj.err))))
            fail_msg("%s with call %ld (%s) failing: detail \"%s\" lacks the system's reason",
                     o->name, fail_at, inj.failed ? inj.failed : "none", bp_last_error());
    }
    o->check(ctx, st);
    tracking = 0;
    if (live_count() != 0)
        fail_msg("%s with call %ld (%s) failing: %d blocks or handles still live", o->name,
                 fail_at, inj.failed ? inj.failed : "none", live_count());
    return calls;
}

/* Every call of the operation's kind fails in turn; returns how many there are. */
static long inject_each(const op *o, void *ctx)
{
    long n = run_once(o, ctx, 0);
    assert_true(n > 0);
    for (long k = 1; k <= n; k++) {
        run_once(o, ctx, k);
        assert_non_null(inj.failed); /* the run really reached call k */
    }
    const char *v = getenv("BPT_VERBOSE");
    if (v && *v && *v != '0')
        printf("  [inject] %-28s %s calls 1..%ld each failed in turn\n", o->name,
               o->kind == ALLOC ? "allocating" : "I/O", n);
    return n;
}

/* ---------------------------------------------------------------- shared state */
static const int sizes[] = {4, 6, 3};
static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
enum { ROWS = 100, CLASSES = 3 }; /* CSV lines: past the reader's first capacity of 64 */
static char dir[64];

static char dummy;
#define SENTINEL ((void *)&dummy) /* a non-NULL out-pointer that a failed call must reset */

typedef struct ctx {
    bp_net *net, *other, *made;
    float params[4 * 6 + 6 + 6 * 3 + 3];
    bp_workspace *ws;
    bp_optim *opt;
    bp_optimizer_kind kind;
    int epochs;
    int workers; /* bp_train_config.workers of run_train */
    float dropout; /* run_train's dropout rate of the hidden layer */
    bp_dataset ds, tail, copy;
    char model[128], csv[128], img[128], lab[128], imgz[128], labz[128];
    const char *images, *labels;
    unsigned char *old_file;
    size_t old_len;
    float X[4 * 8], Y[3 * 8];
    double rel[2];
} ctx;

static void path_in(char *buf, const char *name)
{
    int n = snprintf(buf, 128, "%s/%s", dir, name);
    assert_true(n > 0 && n < 128);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    assert_true(feof(f) && !ferror(f));
    fclose(f);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len, int gzip)
{
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

/* Entries of dir whose name holds ".tmp": what a save leaves if it fails to clean up. */
static int count_tmp(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    snprintf(dir, sizeof dir, "/tmp/bp_faults_XXXXXX");
    if (!c || !mkdtemp(dir))
        return -1;
    *state = c;
    if (bp_net_create(&c->net, 3, sizes, acts, BP_NLL) || bp_net_init(c->net, BP_INIT_XAVIER, 1) ||
        bp_net_create(&c->other, 3, sizes, acts, BP_NLL) || bp_net_init(c->other, BP_INIT_HE, 2))
        return -1;
    memcpy(c->params, bpt_params(c->net), sizeof c->params);
    bpt_rng r = bpt_rng_make(9);
    bpt_fill(&r, c->X, 4 * 8, -1, 1);
    for (int j = 0; j < 8; j++)
        c->Y[3 * j + j % 3] = 1.0f;
    path_in(c->model, "model.bpn");
    if (bp_model_save(c->net, c->model))
        return -1;

    /* ROWS samples of 4 features and a class; a 3-sample IDX set of 2 x 2 images, plain and gzip */
    path_in(c->csv, "data.csv");
    FILE *f = fopen(c->csv, "w");
    if (!f)
        return -1;
    for (int i = 0; i < ROWS; i++)
        fprintf(f, "%g,%g,%g,%g,%d\n", bpt_range(&r, -1, 1), bpt_range(&r, -1, 1),
                bpt_range(&r, -1, 1), bpt_range(&r, -1, 1), i % CLASSES);
    fclose(f);
    static const unsigned char img[16 + 12] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                               0, 51, 255, 7, 255, 0, 51, 128, 1, 2, 3, 254};
    static const unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1};
    path_in(c->img, "img-idx3-ubyte");
    path_in(c->lab, "lab-idx1-ubyte");
    path_in(c->imgz, "img-idx3-ubyte.gz");
    path_in(c->labz, "lab-idx1-ubyte.gz");
    write_file(c->img, img, sizeof img, 0);
    write_file(c->lab, lab, sizeof lab, 0);
    write_file(c->imgz, img, sizeof img, 1);
    write_file(c->labz, lab, sizeof lab, 1);
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    const char *files[] = {c->model, c->csv, c->img, c->lab, c->imgz, c->labz};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        remove(files[i]);
    rmdir(dir);
    bp_net_free(c->net);
    bp_net_free(c->other);
    free(c);
    return 0;
}

/* The network, its parameters as setup made them. */
static void params_unchanged(const ctx *c)
{
    const float *p;
    bpt_ok(bp_net_params_const(c->net, &p));
    assert_memory_equal(p, c->params, sizeof c->params);
}

static void assert_zeroed(const bp_dataset *ds)
{
    static const bp_dataset zero;
    assert_memory_equal(ds, &zero, sizeof zero);
}

/* ---------------------------------------------------------------- creation */
static bp_status run_net_create(void *p)
{
    ctx *c = p;
    c->made = SENTINEL;
    return bp_net_create(&c->made, 3, sizes, acts, BP_NLL);
}

static void check_net_made(void *p, bp_status st)
{
    ctx *c = p;
    if (st)
        assert_null(c->made);
    else
        assert_int_equal(bpt_num_params(c->made), sizeof c->params / sizeof(float));
    bp_net_free(c->made);
    c->made = NULL;
}

static bp_status run_workspace(void *p)
{
    ctx *c = p;
    c->ws = SENTINEL;
    return bp_workspace_create(&c->ws, c->net, 8);
}

static void check_workspace(void *p, bp_status st)
{
    ctx *c = p;
    if (st)
        assert_null(c->ws);
    else
        bpt_ok(bp_forward_batch(c->net, c->ws, 8, c->X, 4)); /* usable */
    bp_workspace_free(c->ws);
    c->ws = NULL;
}

static bp_status run_optim(void *p)
{
    ctx *c = p;
    bp_optim_config cfg = {.kind = c->kind, .eta = 0.1f, .mu = 0.9f};
    c->opt = SENTINEL;
    return bp_optim_create(&c->opt, c->net, &cfg);
}

static void check_optim(void *p, bp_status st)
{
    ctx *c = p;
    if (st)
        assert_null(c->opt);
    bp_optim_free(c->opt);
    c->opt = NULL;
}

static void alloc_create(void **state)
{
    ctx *c = *state;
    const op net = {"bp_net_create", ALLOC, BP_ENOMEM, 0, NULL, run_net_create, check_net_made};
    const op ws = {"bp_workspace_create", ALLOC, BP_ENOMEM, 0, NULL, run_workspace, check_workspace};
    const op opt = {"bp_optim_create", ALLOC, BP_ENOMEM, 0, NULL, run_optim, check_optim};
    assert_int_equal(inject_each(&net, c), 2); /* the struct, the parameter block */
    assert_int_equal(inject_each(&ws, c), 2);  /* the struct, the buffer block */
    const long per_kind[] = {1, 2, 2, 3}; /* the struct, then 0, 1, 1, 2 moment vectors */
    for (c->kind = BP_OPT_SGD; c->kind <= BP_OPT_ADAM; c->kind++)
        assert_int_equal(inject_each(&opt, c), per_kind[c->kind]);
}

/* ---------------------------------------------------------------- model files */
static bp_status run_load(void *p)
{
    ctx *c = p;
    c->made = SENTINEL;
    return bp_model_load(&c->made, c->model);
}

static void check_load(void *p, bp_status st)
{
    ctx *c = p;
    if (st) {
        assert_null(c->made);
    } else {
        const float *q;
        bpt_ok(bp_net_params_const(c->made, &q));
        assert_memory_equal(q, c->params, sizeof c->params);
    }
    bp_net_free(c->made);
    c->made = NULL;
}

/* The file at c->model holds c->net (saved by setup); saves of c->other over it are injected. */
static void prepare_save(void *p)
{
    ctx *c = p;
    bpt_ok(bp_model_save(c->net, c->model));
    c->old_file = read_file(c->model, &c->old_len);
}

static bp_status run_save(void *p)
{
    ctx *c = p;
    return bp_model_save(c->other, c->model);
}

/* A failed save leaves the old file byte for byte and no temporary file; a good one the new
 * model. Either way the file loads. */
static void check_save(void *p, bp_status st)
{
    ctx *c = p;
    size_t len;
    unsigned char *now = read_file(c->model, &len);
    if (st) {
        assert_non_null(strstr(bp_last_error(), c->model));
        assert_int_equal(len, c->old_len);
        assert_memory_equal(now, c->old_file, len);
    }
    assert_int_equal(count_tmp(), 0);
    bp_net *back = NULL;
    bpt_ok(bp_model_load(&back, c->model));
    const float *q, *want;
    bpt_ok(bp_net_params_const(back, &q));
    bpt_ok(bp_net_params_const(st ? c->net : c->other, &want));
    assert_memory_equal(q, want, sizeof c->params);
    bp_net_free(back);
    free(now);
    free(c->old_file);
    c->old_file = NULL;
}

static void alloc_model_files(void **state)
{
    ctx *c = *state;
    const op load = {"bp_model_load", ALLOC, BP_ENOMEM, 0, NULL, run_load, check_load};
    const op save = {"bp_model_save", ALLOC, BP_ENOMEM, 0, prepare_save, run_save, check_save};
    assert_int_equal(inject_each(&load, c), 3); /* fdopen, the struct, the parameter block */
    assert_int_equal(inject_each(&save, c), 2); /* the temporary name, fdopen */
}

/* A version-2 model (c->net with an input scaling) loaded from memory: no stream, so only the
 * network's three blocks are allocated, and each failure frees what the others made. */
static const float in_mean[4] = {1, -2, 0.5f, 3}, in_scale[4] = {2, 0.25f, 1, 8};

static bp_status run_load_memory(void *p)
{
    ctx *c = p;
    c->made = SENTINEL;
    return bp_model_load_memory(&c->made, c->old_file, c->old_len);
}

static void check_load_memory(void *p, bp_status st)
{
    ctx *c = p;
    if (!st) {
        const float *mean, *scale;
        bpt_ok(bp_net_get_scaling(c->made, BP_SCALE_INPUTS, &mean, &scale));
        assert_memory_equal(mean, in_mean, sizeof in_mean);
        assert_memory_equal(scale, in_scale, sizeof in_scale);
    }
    check_load(p, st);
}

static void alloc_model_memory(void **state)
{
    ctx *c = *state;
    const op load = {"bp_model_load_memory", ALLOC, BP_ENOMEM, 0, NULL, run_load_memory,
                     check_load_memory};
    bpt_ok(bp_net_set_scaling(c->net, BP_SCALE_INPUTS, in_mean, in_scale));
    bpt_ok(bp_model_save(c->net, c->model));
    bpt_ok(bp_net_set_scaling(c->net, BP_SCALE_INPUTS, NULL, NULL));
    c->old_file = read_file(c->model, &c->old_len);
    assert_int_equal(inject_each(&load, c), 3); /* the struct, the parameters, the scaling */
    free(c->old_file);
    c->old_file = NULL;
    bpt_ok(bp_model_save(c->net, c->model)); /* the file as setup left it */
}

/* Every I/O call of a save fails in turn: a short write on a full disk (ENOSPC), a failing flush
 * (ENOSPC), fsync, fclose or rename (EIO). The last call is the fsync of the directory after the
 * rename, whose failure is ignored by design (the new file is complete and renamed; some file
 * systems refuse to sync a directory): that one save succeeds. */
/* Every I/O call of a save fails in turn: the temporary file's open (EACCES) or fchmod to the
 * old file's mode (EPERM), a short write on a full disk (ENOSPC), a failing flush (ENOSPC),
 * fsync, fclose or rename (EIO). The last two calls are the open and the fsync of the directory
 * after the rename, whose failure is ignored by design (the new file is complete and renamed;
 * some file systems refuse to sync a directory): those saves succeed. */
static void io_save(void **state)
{
    ctx *c = *state;
    op save = {"bp_model_save", IO, BP_EIO, 0, prepare_save, run_save, check_save};
    long n = run_once(&save, c, 0);
    assert_true(n >= 9); /* open, fchmod, fwrite(s), fflush, fsync, fclose, rename, open, fsync */
    run_once(&save, c, 1);
    assert_string_equal(inj.failed, "open");
    save.tolerated_from = n - 1;
    assert_int_equal(inject_each(&save, c), n);
    run_once(&save, c, n - 1);
    assert_string_equal(inj.failed, "open");
    run_once(&save, c, n);
    assert_string_equal(inj.failed, "fsync");
}

/* The public writer the program uses for its log: create, two writes, commit over c->model. */
static bp_status run_file(void *p)
{
    ctx *c = p;
    bp_file *f = NULL;
    bp_status st = bp_file_create(&f, c->model);
    if (st) {
        if (f)
            fail_msg("bp_file_create failed but left a handle");
        return st;
    }
    if ((st = bp_file_write(f, "epoch,loss\n", 11)) || (st = bp_file_write(f, "1,0.5\n", 6))) {
        bp_file_discard(f);
        return st;
    }
    return bp_file_commit(f);
}

/* A failed write leaves the old file byte for byte and no temporary file; a good one the text. */
static void check_file(void *p, bp_status st)
{
    ctx *c = p;
    size_t len;
    unsigned char *now = read_file(c->model, &len);
    if (st) {
        assert_int_equal(len, c->old_len);
        assert_memory_equal(now, c->old_file, len);
    } else {
        assert_int_equal(len, 17);
        assert_memory_equal(now, "epoch,loss\n1,0.5\n", 17);
    }
    assert_int_equal(count_tmp(), 0);
    free(now);
    free(c->old_file);
    c->old_file = NULL;
}

/* Every I/O call of bp_file_create / bp_file_write / bp_file_commit fails in turn, as for a save
 * (the directory's open and fsync after the rename are ignored); and each allocation. */
static void faults_file(void **state)
{
    ctx *c = *state;
    op io = {"bp_file", IO, BP_EIO, 0, prepare_save, run_file, check_file};
    const op alloc = {"bp_file", ALLOC, BP_ENOMEM, 0, prepare_save, run_file, check_file};
    long n = run_once(&io, c, 0);
    assert_true(n >= 10); /* open, fchmod, fwrite, fflush, fwrite, fflush, fflush, fsync, ... */
    io.tolerated_from = n - 1;
    assert_int_equal(inject_each(&io, c), n);
    assert_int_equal(inject_each(&alloc, c), 3); /* the handle, the temporary name, fdopen */
    bp_net *back = NULL;
    bpt_ok(bp_model_save(c->net, c->model)); /* the model setup wrote, for the tests after */
    bpt_ok(bp_model_load(&back, c->model));
    bp_net_free(back);
}

/* ---------------------------------------------------------------- datasets */
static bp_status run_idx(void *p)
{
    ctx *c = p;
    c->ds.count = -1; /* a failed load must zero it */
    return bp_dataset_load_idx(&c->ds, c->images, c->labels, CLASSES);
}

static bp_status run_csv(void *p)
{
    ctx *c = p;
    c->ds.count = -1;
    return bp_dataset_load_csv(&c->ds, c->csv, BP_CSV_CLASSES, CLASSES);
}

static void check_loaded(void *p, bp_status st)
{
    ctx *c = p;
    if (st) {
        assert_zeroed(&c->ds);
    } else {
        assert_true(c->ds.count == 3 || c->ds.count == ROWS);
        assert_int_equal(c->ds.labels[2], c->ds.count == 3 ? 1 : 2);
    }
    bp_dataset_free(&c->ds);
}

static void alloc_datasets(void **state)
{
    ctx *c = *state;
    const op idx = {"bp_dataset_load_idx", ALLOC, BP_ENOMEM, 0, NULL, run_idx, check_loaded};
    const op csv = {"bp_dataset_load_csv", ALLOC, BP_ENOMEM, 0, NULL, run_csv, check_loaded};
    c->images = c->img;
    c->labels = c->lab;
    /* per file: gzopen and the data buffer; then x, y and labels */
    assert_int_equal(inject_each(&idx, c), 7);
    c->images = c->imgz;
    c->labels = c->labz;
    /* and per gzip file the fopen of the scan for its end */
    assert_int_equal(inject_each(&idx, c), 9);
    /* fopen, ROWS + 1 getline, x/y/labels at capacity 64, again at 128 and at the final shrink */
    assert_int_equal(inject_each(&csv, c), 1 + ROWS + 1 + 3 * 3);
}

static void prepare_split(void *p)
{
    ctx *c = p;
    bpt_ok(bp_dataset_load_csv(&c->ds, c->csv, BP_CSV_CLASSES, CLASSES));
    bpt_ok(bp_dataset_load_csv(&c->copy, c->csv, BP_CSV_CLASSES, CLASSES));
}

static bp_status run_split(void *p)
{
    ctx *c = p;
    c->tail.count = -1;
    return bp_dataset_split(&c->ds, 10, &c->tail);
}

/* A failed split leaves ds as it was and tail zeroed; a good one moves the last 10 samples. */
static void check_split(void *p, bp_status st)
{
    ctx *c = p;
    const bp_dataset *ds = &c->ds, *copy = &c->copy;
    if (st) {
        assert_zeroed(&c->tail);
        assert_int_equal(ds->count, ROWS);
    } else {
        assert_int_equal(ds->count, ROWS - 10);
        assert_int_equal(c->tail.count, 10);
        assert_memory_equal(c->tail.x, copy->x + 4 * (ROWS - 10), 4 * 10 * sizeof(float));
        assert_memory_equal(c->tail.labels, copy->labels + ROWS - 10, 10 * sizeof(int));
    }
    assert_memory_equal(ds->x, copy->x, (size_t)ds->count * 4 * sizeof(float));
    assert_memory_equal(ds->y, copy->y, (size_t)ds->count * CLASSES * sizeof(float));
    assert_memory_equal(ds->labels, copy->labels, (size_t)ds->count * sizeof(int));
    bp_dataset_free(&c->ds);
    bp_dataset_free(&c->tail);
    bp_dataset_free(&c->copy);
}

static void alloc_split(void **state)
{
    /* x, y, labels of the tail, then the three shrinking reallocs of ds, whose failure keeps the
     * larger block: tolerated from call 4 on */
    const op split = {"bp_dataset_split", ALLOC, BP_ENOMEM, 4, prepare_split, run_split, check_split};
    assert_int_equal(inject_each(&split, *state), 6);
}

/* ---------------------------------------------------------------- training and checks */
static bp_status run_train(void *p)
{
    ctx *c = p;
    bp_dataset d = {8, 4, 3, c->X, c->Y, NULL};
    int labels[8];
    for (int j = 0; j < 8; j++)
        labels[j] = j % 3;
    d.labels = labels;
    bp_train_config cfg = {.epochs = c->epochs, .batch_size = 4, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}, .patience = 2,
                           .workers = c->workers, .dropout = {0, c->dropout}};
    return bp_train(c->net, &d, &d, &cfg, NULL);
}

/* A failed training leaves the parameters as they were; a good one is undone for the next run. */
static void check_train(void *p, bp_status st)
{
    ctx *c = p;
    if (st)
        params_unchanged(c);
    memcpy(bpt_params(c->net), c->params, sizeof c->params);
}

static bp_status run_evaluate(void *p)
{
    ctx *c = p;
    bp_dataset d = {8, 4, 3, c->X, c->Y, NULL};
    double loss, acc;
    return bp_evaluate(c->net, &d, &loss, &acc, NULL);
}

/* One rank: the sum over ranks is the identity. */
static bp_status sum_one_rank(void *data, size_t count, bp_reduce_type type, void *user)
{
    (void)data, (void)count, (void)type, (void)user;
    return BP_OK;
}

static bp_status run_evaluate_parallel(void *p)
{
    ctx *c = p;
    bp_dataset d = {8, 4, 3, c->X, c->Y, NULL};
    int labels[8];
    for (int j = 0; j < 8; j++)
        labels[j] = j % 3;
    d.labels = labels;
    const bp_parallel one = {0, 1, sum_one_rank, NULL};
    double loss, acc;
    long confusion[CLASSES * CLASSES];
    return bp_evaluate_parallel(c->net, &d, &one, &loss, &acc, confusion);
}

static bp_status run_gradcheck(void *p)
{
    ctx *c = p;
    bp_gradcheck_options o = {.per_layer = 3, .seed = 1};
    return bp_gradcheck(c->net, 8, c->X, 4, c->Y, 3, &o, c->rel);
}

static bp_status run_naive(void *p)
{
    ctx *c = p;
    float grad[sizeof c->params / sizeof(float)] = {0}, out[3 * 8];
    double cost;
    bp_status st = bp_naive_forward(c->net, 8, c->X, 4, out, 3);
    return st ? st : bp_naive_backward(c->net, 8, c->X, 4, c->Y, 3, grad, &cost);
}

/* These take the network read-only: whatever happened, its parameters are those of setup. */
static void check_net_unchanged(void *p, bp_status st)
{
    (void)st;
    params_unchanged(p);
}

static void alloc_training(void **state)
{
    ctx *c = *state;
    const op train = {"bp_train", ALLOC, BP_ENOMEM, 0, NULL, run_train, check_train};
    const op eval = {"bp_evaluate", ALLOC, BP_ENOMEM, 0, NULL, run_evaluate, check_net_unchanged};
    const op grad = {"bp_gradcheck", ALLOC, BP_ENOMEM, 0, NULL, run_gradcheck, check_net_unchanged};
    const op naive = {"bp_naive_forward/backward", ALLOC, BP_ENOMEM, 0, NULL, run_naive,
                      check_net_unchanged};
    /* workspace 2, Adam 3, gradient, batch x, y and labels, permutation, best */
    c->epochs = 1;
    assert_int_equal(inject_each(&train, c), 11);
    c->epochs = 3; /* the same allocations: all are made before the first epoch */
    assert_int_equal(run_once(&train, c, 0), 11);
    /* with 2 workers, a team instead of the workspace: the team, its two tables, 2 workspaces of
     * 2 and the second share's gradient block (a thread that cannot start: bp_team_create) */
    c->workers = 2;
    assert_int_equal(inject_each(&train, c), 11 - 2 + 3 + 2 * 2 + 1);
    /* with dropout, one more block of masks per workspace (bp_team_set_dropout) */
    c->dropout = 0.5f;
    assert_int_equal(inject_each(&train, c), 11 - 2 + 3 + 2 * 2 + 1 + 2);
    c->workers = 0;
    assert_int_equal(inject_each(&train, c), 11 + 1);
    c->dropout = 0;
    assert_int_equal(inject_each(&eval, c), 2);
    const op par = {"bp_evaluate_parallel", ALLOC, BP_ENOMEM, 0, NULL, run_evaluate_parallel,
                    check_net_unchanged};
    assert_int_equal(inject_each(&par, c), 3); /* the sums' scratch, workspace 2 */
    /* gradient, parameters in double, workspace 2; naive scratch for each of the 2 x 3 x 2
     * evaluations of the cost (2 layers, 3 parameters each, C(theta + h) and C(theta - h)) */
    assert_int_equal(inject_each(&grad, c), 4 + 3 * 2 * 2);
    assert_int_equal(inject_each(&naive, c), 2 + 3); /* params and scratch; params, grad, scratch */
}

/* ---------------------------------------------------------------- a race of two writers */
/* A file that appears at the path between the check's stat (nothing there) and its lstat is the
 * other writer's file, looked at again: not refused as a link to nothing, at the start of a write
 * (bp_file_create) or at its commit; the commit then replaces that file with the whole new one. */
static void writer_lands_during_check(void **state)
{
    (void)state;
    char path[128];
    path_in(path, "raced.csv");
    bp_file *f = NULL;
    landing_at = path;
    bpt_ok(bp_file_create(&f, path));
    assert_null(landing_at); /* the race happened */
    remove(path);
    bpt_ok(bp_file_write(f, "mine\n", 5));
    landing_at = path;
    bpt_ok(bp_file_commit(f));
    assert_null(landing_at);
    size_t len;
    unsigned char *got = read_file(path, &len);
    assert_true(len == 5 && memcmp(got, "mine\n", 5) == 0);
    free(got);
    remove(path);
    assert_int_equal(symlink("nowhere", path), 0); /* the twin: a real link to nothing */
    bpt_assert_status(bp_file_check(path), BP_EIO, "link to nothing");
    remove(path);
}

/* ---------------------------------------------------------------- lint of the injector itself */
/* The wrappers see the library's calls at all (a shared build, or a library that stopped calling
 * them, would make every test above vacuous): one model load must count its allocations. */
static void wrappers_see_library(void **state)
{
    ctx *c = *state;
    const op load = {"bp_model_load", ALLOC, BP_ENOMEM, 0, NULL, run_load, check_load};
    assert_true(run_once(&load, c, 0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrappers_see_library),
        cmocka_unit_test(alloc_create),
        cmocka_unit_test(alloc_model_files),
        cmocka_unit_test(alloc_model_memory),
        cmocka_unit_test(io_save),
        cmocka_unit_test(faults_file),
        cmocka_unit_test(alloc_datasets),
        cmocka_unit_test(alloc_split),
        cmocka_unit_test(alloc_training),
        cmocka_unit_test(writer_lands_during_check),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
