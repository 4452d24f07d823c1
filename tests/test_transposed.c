/*
 * test_transposed.c - (C)'s transposed form (src/blas.c: gw^T = a d^T by sgemm into a scratch,
 * then copied or added transposed into the gradient) and its transpose kernel (src/transpose.c).
 *
 * The kernel: bp__transpose against a plain double loop, exactly (a copy, or one float addition
 * per element), at sizes that are and are not multiples of its 8 x 8 tiles, with leading
 * dimensions beyond the matrices (the padding of the destination must stay untouched).
 *
 * The gradients: the batched training entry points at batch 1024, on layers of 20 and 256 units
 * (the ends of the range where the transposed form runs) and of 30 and 24 units in one network,
 * and beside them where it does not run (19 and 257 units; batch 1023), against the naive oracle
 * with test_oracle.c's tolerances (rtol 1e-4, atol 1e-5 max(1, ||ref||_inf)): overwritten
 * (bp_gradient_batch, NaN beforehand), accumulated (bp_backward_batch onto a non-zero block), under
 * input dropout (bp_gradient_dropout against the oracle on the masked inputs), on every path.
 * Where the transposed form runs, the accumulated weight gradient is exactly the block it started
 * from plus the overwritten one: both modes add or copy the same scratch product.
 */
#include "bp_test.h"

#include "../src/transpose.h"

#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5 /* times max(1, ||ref||_inf), as in test_oracle.c */

/* ---------------------------------------------------------------- the kernel */
/* dst (cols x rows, ldd) against d0 (its content before) and src (rows x cols, lds): every
 * element src^T (copy) or d0 + src^T (add) exactly, the padding rows of dst as in d0. Returns the
 * number of elements that differ. */
static size_t transpose_mismatches(int rows, int cols, const float *src, int lds, const float *d0,
                                   const float *dst, int ldd, bp__transpose_mode mode)
{
    size_t bad = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ldd; j++) {
            size_t at = (size_t)j + (size_t)i * (size_t)ldd;
            float want = d0[at];
            if (j < cols) {
                float v = src[(size_t)i + (size_t)j * (size_t)lds];
                want = mode == BP__TRANSPOSE_ADD ? d0[at] + v : v;
            }
            bad += memcmp(&want, &dst[at], sizeof want) != 0;
        }
    return bad;
}

static void check_transpose(int rows, int cols, int pad, bp__transpose_mode mode)
{
    int lds = rows + pad, ldd = cols + pad;
    bpt_rng rng = bpt_rng_make((uint64_t)(1000 * rows + cols + 7 * pad + (int)mode));
    float *src = bpt_matrix(&rng, rows, cols, lds, -4.0f, 4.0f, NAN);
    float *d0 = bpt_matrix(&rng, cols, rows, ldd, -4.0f, 4.0f, -555.0f);
    float *dst = malloc((size_t)ldd * (size_t)rows * sizeof *dst);
    assert_non_null(dst);
    memcpy(dst, d0, (size_t)ldd * (size_t)rows * sizeof *dst);
    bp__transpose(rows, cols, src, lds, dst, ldd, mode);
    size_t bad = transpose_mismatches(rows, cols, src, lds, d0, dst, ldd, mode);
    if (bad)
        fail_msg("transpose %d x %d pad %d mode %d: %zu elements wrong", rows, cols, pad,
                 (int)mode, bad);
    free(dst);
    free(d0);
    free(src);
}

static void test_transpose_sizes(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {1, 9}, {7, 1}, {8, 8}, {9, 17}, {13, 8},
                                   {16, 24}, {33, 29}, {64, 40}, {100, 784}, {1024, 20}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int pad = 0; pad <= 5; pad += 5) {
            check_transpose(sizes[s][0], sizes[s][1], pad, BP__TRANSPOSE_COPY);
            check_transpose(sizes[s][0], sizes[s][1], pad, BP__TRANSPOSE_ADD);
        }
}

/* The comparison sees a wrong result: the copy of an untransposed (non-symmetric) matrix, and a
 * transpose with one element changed in its last bit. */
static void test_transpose_mismatch_detected(void **state)
{
    (void)state;
    enum { N = 12 };
    bpt_rng rng = bpt_rng_make(3);
    float *src = bpt_matrix(&rng, N, N, N, -1.0f, 1.0f, NAN);
    float *d0 = calloc(N * N, sizeof *d0), *dst = calloc(N * N, sizeof *dst);
    assert_non_null(d0);
    assert_non_null(dst);
    memcpy(dst, src, N * N * sizeof *dst);
    assert_true(transpose_mismatches(N, N, src, N, d0, dst, N, BP__TRANSPOSE_COPY) > 0);
    bp__transpose(N, N, src, N, dst, N, BP__TRANSPOSE_COPY);
    assert_int_equal(transpose_mismatches(N, N, src, N, d0, dst, N, BP__TRANSPOSE_COPY), 0);
    dst[5 + 3 * N] = nextafterf(dst[5 + 3 * N], INFINITY);
    assert_int_equal(transpose_mismatches(N, N, src, N, d0, dst, N, BP__TRANSPOSE_COPY), 1);
    free(dst);
    free(d0);
    free(src);
}

/* ---------------------------------------------------------------- the gradients */
typedef struct grad_case {
    int L, sizes[4], batch;
    int transposed[4]; /* transposed[l - 2]: whether layer l's (C) runs transposed */
} grad_case;

static const grad_case cases[] = {
    {3, {5, 20, 3}, 1024, {1, 0}},        /* the smallest layer of the range, the output not */
    {3, {7, 256, 4}, 1024, {1, 0}},       /* the widest */
    {4, {6, 30, 24, 2}, 1024, {1, 1, 0}}, /* two layers of the range */
    {3, {5, 19, 3}, 1024, {0, 0}},        /* one unit too few */
    {3, {4, 257, 3}, 1024, {0, 0}},       /* one too many */
    {4, {6, 30, 24, 2}, 1023, {0, 0, 0}}, /* a column too few */
};
enum { NUM_CASES = sizeof cases / sizeof cases[0] };

/* The network of case c: sigmoid layers and quadratic cost for even c, ReLU layers, softmax and
 * NLL for odd c; inputs X (ldx = n^1 + 3 for odd c, NaN padding) and targets Y. */
typedef struct grad_setup {
    bp_net *net;
    bp_workspace *ws;
    float *X, *Y;
    int ldx;
    size_t P;
} grad_setup;

static grad_setup setup(int c)
{
    const grad_case *k = &cases[c];
    bp_activation acts[3];
    int relu = c % 2, nL = k->sizes[k->L - 1];
    for (int l = 0; l < k->L - 1; l++)
        acts[l] = relu ? BP_RELU : BP_SIGMOID;
    if (relu)
        acts[k->L - 2] = BP_SOFTMAX;
    grad_setup s = {0};
    s.net = bpt_net(k->L, k->sizes, acts, relu ? BP_NLL : BP_QUADRATIC);
    bpt_ok(bp_net_init(s.net, relu ? BP_INIT_HE : BP_INIT_XAVIER, (uint64_t)(11 + c)));
    s.ws = bpt_ws(s.net, k->batch);
    s.P = bpt_num_params(s.net);
    s.ldx = k->sizes[0] + (c % 2 ? 3 : 0);
    bpt_rng rng = bpt_rng_make((uint64_t)(97 + c));
    s.X = bpt_matrix(&rng, k->sizes[0], k->batch, s.ldx, -1.0f, 1.0f, NAN);
    s.Y = bpt_targets(&rng, acts[k->L - 2], relu ? BP_NLL : BP_QUADRATIC, nL, k->batch, nL, NAN);
    return s;
}

static void release(grad_setup *s)
{
    free(s->X);
    free(s->Y);
    bp_workspace_free(s->ws);
    bp_net_free(s->net);
}

/* Entries of got outside |got - ref| <= atol + rtol |ref|, atol = GRAD_ATOL max(1, ||ref||). */
static size_t grad_mismatches(const float *got, const float *ref, size_t n)
{
    double scale = bpt_max_abs(ref, n), atol = GRAD_ATOL * (scale > 1 ? scale : 1);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !bpt_close(got[i], ref[i], atol, GRAD_RTOL);
    return bad;
}

static void expect_close(const char *what, int c, const float *got, const float *ref, size_t n)
{
    size_t bad = grad_mismatches(got, ref, n);
    if (bad)
        fail_msg("case %d (%d-%d-... batch %d) %s: %zu of %zu entries off the oracle", c,
                 cases[c].sizes[0], cases[c].sizes[1], cases[c].batch, what, bad, n);
}

/* The oracle's gradient of the case's network on inputs X (ldx). */
static float *oracle(const grad_setup *s, int c, const float *X, int ldx)
{
    float *g = bpt_grad(s->net);
    int nL = cases[c].sizes[cases[c].L - 1];
    bpt_ok(bp_naive_backward(s->net, cases[c].batch, X, ldx, s->Y, nL, g, NULL));
    return g;
}

/* Overwritten and accumulated gradients on the workspace's path against the oracle gn; where
 * (C) runs transposed (the case's layer, on sgemm: gemm), accumulated weights = start +
 * overwritten ones, exactly. */
static void check_modes(const grad_setup *s, int c, const float *gn, int gemm)
{
    const grad_case *k = &cases[c];
    int nL = k->sizes[k->L - 1];
    float *go = bpt_grad(s->net), *ga = bpt_grad(s->net), *g0 = bpt_grad(s->net);
    for (size_t i = 0; i < s->P; i++)
        go[i] = NAN;
    bpt_ok(bp_gradient_batch(s->net, s->ws, k->batch, s->X, s->ldx, s->Y, nL, go, NULL));
    expect_close("bp_gradient_batch", c, go, gn, s->P);

    bpt_rng rng = bpt_rng_make((uint64_t)(5 + c));
    bpt_fill(&rng, g0, s->P, -1.0f, 1.0f);
    memcpy(ga, g0, s->P * sizeof *ga);
    bpt_ok(bp_forward_batch(s->net, s->ws, k->batch, s->X, s->ldx));
    bpt_ok(bp_backward_batch(s->net, s->ws, k->batch, s->X, s->ldx, s->Y, nL, ga));
    float *want = malloc(s->P * sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < s->P; i++)
        want[i] = g0[i] + gn[i];
    expect_close("bp_backward_batch onto a start block", c, ga, want, s->P);
    for (int l = 2; l <= k->L; l++) {
        bp_layer_view v;
        bpt_ok(bp_net_layer(s->net, l, &v));
        for (size_t i = v.w_offset; gemm && k->transposed[l - 2] && i < v.b_offset; i++)
            if (ga[i] != g0[i] + go[i])
                fail_msg("case %d layer %d: accumulated w[%zu] = %a, start + overwritten %a", c,
                         l, i - v.w_offset, (double)ga[i], (double)(g0[i] + go[i]));
    }
    free(want);
    free(g0);
    free(ga);
    free(go);
}

static void test_gradients_on_every_path(void **state)
{
    (void)state;
    static const bp_path paths[] = {BP_PATH_AUTO, BP_PATH_GEMM, BP_PATH_LOOPS};
    for (int c = 0; c < NUM_CASES; c++) {
        grad_setup s = setup(c);
        float *gn = oracle(&s, c, s.X, s.ldx);
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            bpt_ok(bp_workspace_set_path(s.ws, paths[p]));
            check_modes(&s, c, gn, paths[p] != BP_PATH_LOOPS);
        }
        free(gn);
        release(&s);
    }
}

/* Dropout on the inputs (rate 0.3): the gradient of the network on X (.) mask^1. */
static void test_gradients_under_dropout(void **state)
{
    (void)state;
    for (int c = 0; c < NUM_CASES; c++) {
        grad_setup s = setup(c);
        const grad_case *k = &cases[c];
        int n1 = k->sizes[0], nL = k->sizes[k->L - 1];
        float rates[3] = {0.3f, 0.0f, 0.0f};
        bpt_ok(bp_workspace_set_dropout(s.ws, rates));
        float *g = bpt_grad(s.net);
        bpt_ok(bp_gradient_dropout(s.net, s.ws, 77, 1, 0, k->batch, s.X, s.ldx, s.Y, nL, g, NULL));
        const float *mask = NULL;
        bpt_ok(bp_workspace_mask(s.ws, 1, &mask));
        float *Xm = malloc((size_t)n1 * (size_t)k->batch * sizeof *Xm);
        assert_non_null(Xm);
        for (int j = 0; j < k->batch; j++)
            for (int i = 0; i < n1; i++) {
                size_t at = (size_t)j * (size_t)n1 + (size_t)i;
                Xm[at] = s.X[(size_t)j * (size_t)s.ldx + (size_t)i] * mask[at];
            }
        float *gn = oracle(&s, c, Xm, n1);
        expect_close("bp_gradient_dropout", c, g, gn, s.P);
        free(gn);
        free(Xm);
        free(g);
        release(&s);
    }
}

/* The comparison fails a gradient one entry of which is off by ten tolerances, in the layer of
 * the transposed form. */
static void test_wrong_gradient_detected(void **state)
{
    (void)state;
    grad_setup s = setup(0);
    float *gn = oracle(&s, 0, s.X, s.ldx), *g = bpt_grad(s.net);
    int nL = cases[0].sizes[cases[0].L - 1];
    bpt_ok(bp_gradient_batch(s.net, s.ws, cases[0].batch, s.X, s.ldx, s.Y, nL, g, NULL));
    assert_int_equal(grad_mismatches(g, gn, s.P), 0);
    double scale = bpt_max_abs(gn, s.P);
    g[7] += (float)(10 * (GRAD_ATOL * (scale > 1 ? scale : 1) + GRAD_RTOL * fabs(gn[7])));
    assert_int_equal(grad_mismatches(g, gn, s.P), 1);
    free(g);
    free(gn);
    release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose_sizes),
        cmocka_unit_test(test_transpose_mismatch_detected),
        cmocka_unit_test(test_gradients_on_every_path),
        cmocka_unit_test(test_gradients_under_dropout),
        cmocka_unit_test(test_wrong_gradient_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
