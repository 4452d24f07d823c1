/*
 * bp_test.h - helpers shared by the CMocka suites: a deterministic input generator, float
 * comparisons |got - ref| <= atol + rtol*|ref| that name the failing index and values, status
 * assertions that print bp_last_error(), and small constructors.
 *
 * Everything is static inline so that each suite compiles it alone (no twin copies in the files).
 * Internal names start with bpt_ so that they are never mistaken for the library's bp_.
 */
#ifndef BP_TEST_H_INCLUDED
#define BP_TEST_H_INCLUDED

/* CMocka 1.1.5 needs these before <cmocka.h>. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backprop.h"

/* ---------------------------------------------------------------- generator */
/* 64-bit LCG (Knuth's MMIX constants). The top 24 bits give a uniform u = k / 2^24 in [0,1), so
 * lo + (hi - lo) * u is exact in float for lo = -1, hi = 1: a script can reproduce every input. */
typedef struct bpt_rng {
    uint64_t s;
} bpt_rng;

static inline bpt_rng bpt_rng_make(uint64_t seed)
{
    bpt_rng r = {seed};
    return r;
}

static inline double bpt_uniform(bpt_rng *r)
{
    r->s = r->s * 6364136223846793005u + 1442695040888963407u;
    return (double)(r->s >> 40) * 0x1.0p-24;
}

static inline float bpt_range(bpt_rng *r, float lo, float hi)
{
    return (float)(lo + (hi - lo) * bpt_uniform(r));
}

static inline void bpt_fill(bpt_rng *r, float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = bpt_range(r, lo, hi);
}

/* A rows x cols column-major matrix with leading dimension ld, rows filled uniformly in [lo,hi),
 * the padding rows (ld > rows) set to pad (NaN: reading them would poison any result). */
static inline float *bpt_matrix(bpt_rng *r, int rows, int cols, int ld, float lo, float hi,
                                float pad)
{
    float *m = malloc((size_t)ld * (size_t)cols * sizeof *m);
    assert_non_null(m);
    for (int c = 0; c < cols; c++)
        for (int i = 0; i < ld; i++)
            m[(size_t)c * (size_t)ld + (size_t)i] = i < rows ? bpt_range(r, lo, hi) : pad;
    return m;
}

/* Targets that make sense for the output activation and cost: one-hot columns for a softmax output
 * (NLL or quadratic), values in (0.05,0.95) for a sigmoid output, arbitrary in [-1,1) otherwise.
 * Padding rows are pad. */
static inline float *bpt_targets(bpt_rng *r, bp_activation out, bp_cost cost, int rows, int cols,
                                 int ld, float pad)
{
    float *y;
    if (out == BP_SOFTMAX || cost == BP_NLL) {
        y = bpt_matrix(r, rows, cols, ld, 0.0f, 0.0f, pad);
        for (int c = 0; c < cols; c++) {
            int hot = (int)(bpt_uniform(r) * rows);
            y[(size_t)c * (size_t)ld + (size_t)hot] = 1.0f;
        }
    } else if (out == BP_SIGMOID) {
        y = bpt_matrix(r, rows, cols, ld, 0.05f, 0.95f, pad);
    } else {
        y = bpt_matrix(r, rows, cols, ld, -1.0f, 1.0f, pad);
    }
    return y;
}

/* Copy of a rows x cols matrix with leading dimension ld into a compact one (ld = rows). */
static inline float *bpt_compact(const float *m, int rows, int cols, int ld)
{
    float *c = malloc((size_t)rows * (size_t)cols * sizeof *c);
    assert_non_null(c);
    for (int j = 0; j < cols; j++)
        memcpy(c + (size_t)j * (size_t)rows, m + (size_t)j * (size_t)ld, (size_t)rows * sizeof *c);
    return c;
}

/* ---------------------------------------------------------------- comparisons */
/* |got - ref| <= atol + rtol*|ref|, false for NaN or infinity in either. */
static inline int bpt_close(double got, double ref, double atol, double rtol)
{
    if (!isfinite(got) || !isfinite(ref))
        return 0;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

/* Set BPT_VERBOSE=1 to print, for every comparison, its worst error as a fraction of the tolerance
 * (the margin a tolerance really has). */
static inline void bpt_report_margin(const char *what, double worst)
{
    const char *v = getenv("BPT_VERBOSE");
    if (v && *v && *v != '0')
        printf("  [margin] %-48s worst |err|/tol = %.3g\n", what, worst);
}

/* Matrix got (ldg) against matrix ref (ldr), both rows x cols floats. */
static inline void bpt_assert_close_mat_(const char *file, int line, const char *what,
                                         const float *got, int ldg, const float *ref, int ldr,
                                         int rows, int cols, double atol, double rtol)
{
    double worst = 0.0;
    for (int c = 0; c < cols; c++) {
        for (int i = 0; i < rows; i++) {
            double g = got[(size_t)c * (size_t)ldg + (size_t)i];
            double r = ref[(size_t)c * (size_t)ldr + (size_t)i];
            double tol = atol + rtol * fabs(r);
            if (!bpt_close(g, r, atol, rtol)) {
                print_error("%s: mismatch at row %d, column %d (index %zu): got %.9g, expected "
                            "%.9g, |diff| %.3g > tol %.3g (atol %.1e, rtol %.1e)\n",
                            what, i, c, (size_t)c * (size_t)rows + (size_t)i, g, r, fabs(g - r),
                            tol, atol, rtol);
                _fail(file, line);
            }
            if (fabs(g - r) / tol > worst)
                worst = fabs(g - r) / tol;
        }
    }
    bpt_report_margin(what, worst);
}
#define bpt_assert_close_mat(what, got, ldg, ref, ldr, rows, cols, atol, rtol)                     \
    bpt_assert_close_mat_(__FILE__, __LINE__, what, got, ldg, ref, ldr, rows, cols, atol, rtol)
#define bpt_assert_close_vec(what, got, ref, n, atol, rtol)                                        \
    bpt_assert_close_mat_(__FILE__, __LINE__, what, got, (int)(n), ref, (int)(n), (int)(n), 1,    \
                          atol, rtol)

/* Float array against double reference values (hand-computed literals). */
static inline void bpt_assert_close_dvec_(const char *file, int line, const char *what,
                                          const float *got, const double *ref, size_t n,
                                          double atol, double rtol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(ref[i]);
        if (!bpt_close(got[i], ref[i], atol, rtol)) {
            print_error("%s: mismatch at index %zu: got %.12g, expected %.12g, |diff| %.3g > tol "
                        "%.3g\n",
                        what, i, (double)got[i], ref[i], fabs(got[i] - ref[i]), tol);
            _fail(file, line);
        }
        if (fabs(got[i] - ref[i]) / tol > worst)
            worst = fabs(got[i] - ref[i]) / tol;
    }
    bpt_report_margin(what, worst);
}
#define bpt_assert_close_dvec(what, got, ref, n, atol, rtol)                                       \
    bpt_assert_close_dvec_(__FILE__, __LINE__, what, got, ref, n, atol, rtol)

static inline void bpt_assert_close_scalar_(const char *file, int line, const char *what,
                                            double got, double ref, double atol, double rtol)
{
    double tol = atol + rtol * fabs(ref);
    if (!bpt_close(got, ref, atol, rtol)) {
        print_error("%s: got %.12g, expected %.12g, |diff| %.3g > tol %.3g\n", what, got, ref,
                    fabs(got - ref), tol);
        _fail(file, line);
    }
    bpt_report_margin(what, fabs(got - ref) / tol);
}
#define bpt_assert_close_scalar(what, got, ref, atol, rtol)                                        \
    bpt_assert_close_scalar_(__FILE__, __LINE__, what, got, ref, atol, rtol)

/* Largest |v| of a float array (the scale of a normwise tolerance). */
static inline double bpt_max_abs(const float *v, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(v[i]) > m)
            m = fabs(v[i]);
    return m;
}

/* ---------------------------------------------------------------- statuses */
/* Case-insensitive: does hay contain needle? */
static inline int bpt_contains_ci(const char *hay, const char *needle, size_t nlen)
{
    size_t hlen = strlen(hay);
    for (size_t i = 0; i + nlen <= hlen; i++) {
        size_t k = 0;
        while (k < nlen && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == nlen)
            return 1;
    }
    return 0;
}

/* got must be expected; if keywords is not NULL, bp_last_error() must be non-empty and contain one
 * of the '|'-separated keywords (case-insensitive): the detail names the argument. */
static inline void bpt_assert_status_(const char *file, int line, const char *call, bp_status got,
                                      bp_status expected, const char *keywords)
{
    const char *detail = bp_last_error();
    if (got != expected) {
        print_error("%s returned %d (%s), expected %d (%s); detail: \"%s\"\n", call, (int)got,
                    bp_strerror(got), (int)expected, bp_strerror(expected), detail);
        _fail(file, line);
    }
    if (!keywords)
        return;
    if (detail == NULL || detail[0] == '\0') {
        print_error("%s returned %s but bp_last_error() is empty\n", call, bp_strerror(got));
        _fail(file, line);
    }
    const char *k = keywords;
    while (*k) {
        const char *bar = strchr(k, '|');
        size_t len = bar ? (size_t)(bar - k) : strlen(k);
        if (len > 0 && bpt_contains_ci(detail, k, len))
            return;
        k += len + (bar ? 1 : 0);
    }
    print_error("%s: detail \"%s\" names none of \"%s\"\n", call, detail, keywords);
    _fail(file, line);
}
#define bpt_assert_status(call, expected, keywords)                                                \
    bpt_assert_status_(__FILE__, __LINE__, #call, (call), expected, keywords)
#define bpt_ok(call) bpt_assert_status_(__FILE__, __LINE__, #call, (call), BP_OK, NULL)

/* ---------------------------------------------------------------- constructors */
static inline bp_net *bpt_net(int num_layers, const int *sizes, const bp_activation *acts,
                              bp_cost cost)
{
    bp_net *net = NULL;
    bpt_ok(bp_net_create(&net, num_layers, sizes, acts, cost));
    assert_non_null(net);
    return net;
}

/* Set the BLAS threads: BP_OK, except on a generic CBLAS, which has no thread control. */
static inline void bpt_blas_threads(int threads)
{
    bp_blas_info blas;
    bpt_ok(bp_blas_describe(&blas));
    if (strcmp(blas.library, "CBLAS") == 0)
        bpt_assert_status(bp_blas_set_threads(threads), BP_ECONFIG, "thread");
    else
        bpt_ok(bp_blas_set_threads(threads));
}

static inline bp_workspace *bpt_ws(const bp_net *net, int max_batch)
{
    bp_workspace *ws = NULL;
    bpt_ok(bp_workspace_create(&ws, net, max_batch));
    assert_non_null(ws);
    return ws;
}

static inline size_t bpt_num_params(const bp_net *net)
{
    bp_net_info info;
    bpt_ok(bp_net_describe(net, &info));
    return info.num_params;
}

static inline float *bpt_params(bp_net *net)
{
    float *p = NULL;
    bpt_ok(bp_net_params(net, &p));
    assert_non_null(p);
    return p;
}

/* A zeroed gradient block of the network's size (calloc, so independent of bp_grad_zero). */
static inline float *bpt_grad(const bp_net *net)
{
    float *g = calloc(bpt_num_params(net), sizeof *g);
    assert_non_null(g);
    return g;
}

/* Every parameter uniform in [lo,hi) from the test generator (independent of bp_net_init). */
static inline void bpt_fill_params(bp_net *net, uint64_t seed, float lo, float hi)
{
    bpt_rng r = bpt_rng_make(seed);
    bpt_fill(&r, bpt_params(net), bpt_num_params(net), lo, hi);
}

/* The whole of a (non-empty) file, malloc'ed; *len its size. */
static inline unsigned char *bpt_file_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* CRC-32 (ISO-HDLC, zlib's crc32) of n bytes, bit by bit: independent of the library's zlib, so
 * that a test can forge a file whose checksums are valid. */
static inline uint32_t bpt_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Little-endian v of width bytes at p. */
static inline void bpt_put_le(unsigned char *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* ---------------------------------------------------------------- datasets */
/* A zeroed dataset of count samples (x n_features x count, y n_targets x count, labels when
 * labelled), for a suite to fill. */
static inline bp_dataset bpt_dataset_alloc(int count, int n_features, int n_targets, int labelled)
{
    bp_dataset ds = {count, n_features, n_targets, NULL, NULL, NULL};
    ds.x = calloc((size_t)count * (size_t)n_features, sizeof *ds.x);
    ds.y = calloc((size_t)count * (size_t)n_targets, sizeof *ds.y);
    assert_non_null(ds.x);
    assert_non_null(ds.y);
    if (labelled) {
        ds.labels = calloc((size_t)count, sizeof *ds.labels);
        assert_non_null(ds.labels);
    }
    return ds;
}

/* The class in 0..n_classes-1 of a sample x (its n_features inputs): a suite's fixed rule. */
typedef int (*bpt_label_fn)(const float *x);

/* A classification set: each sample's x uniform in [-1,1)^n_features from the test generator
 * seeded with seed (sample after sample), its label label(x), y the one-hot column of it. */
static inline bp_dataset bpt_dataset_classes(int count, int n_features, int n_classes,
                                             uint64_t seed, bpt_label_fn label)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = bpt_dataset_alloc(count, n_features, n_classes, 1);
    for (int i = 0; i < count; i++) {
        float *x = ds.x + (size_t)i * (size_t)n_features;
        bpt_fill(&r, x, (size_t)n_features, -1.0f, 1.0f);
        int c = label(x);
        assert_true(c >= 0 && c < n_classes);
        ds.y[(size_t)i * (size_t)n_classes + (size_t)c] = 1.0f;
        ds.labels[i] = c;
    }
    return ds;
}

/* Free the arrays of a dataset the test made itself (not a loader's: bp_dataset_free) and zero it. */
static inline void bpt_dataset_release(bp_dataset *ds)
{
    free(ds->x);
    free(ds->y);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

#endif
