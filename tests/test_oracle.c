/*
 * test_oracle.c - the BLAS path (bp_forward / bp_forward_batch / bp_backward / bp_backward_batch /
 * bp_cost_value) against the naive double-accumulating reference (bp_naive_forward /
 * bp_naive_backward), for every valid output activation x cost, hidden activations cycling through
 * sigmoid, tanh, relu, leaky relu and identity, four shapes, batch 1 and 37, compact and strided
 * inputs (padding rows filled with NaN so that reading them poisons the result).
 *
 * Tolerances (|got - ref| <= atol + rtol*|ref|). The BLAS path computes in float32, the oracle
 * accumulates in double from the same float parameters, so the only difference is float32
 * rounding (unit roundoff u = 6e-8):
 *  - outputs a^L: rtol 1e-4, atol 1e-5. Each layer is a dot product of at most 8 terms of size
 *    O(1), so after at most 4 layers the worst-case relative error is about 4 * 8 * u = 2e-6 (the
 *    typical one is far smaller): 50x margin, while any real mistake (a wrong index, a missing bias,
 *    a wrong sigma) shows up at 1e-2 or more.
 *  - cost (a sum of non-negative terms, accumulated in double by both): rtol 1e-4, atol 1e-5, for
 *    the same reason.
 *  - gradients: rtol 1e-4, atol 1e-5 * max(1, ||ref||_inf). An entry of a batch gradient is a sum
 *    of 37 products of mixed sign; its absolute float error scales with the size of those terms,
 *    not with the (possibly cancelled) result, hence the normwise absolute part. The same
 *    tolerance is used for "batch gradient = sum of 37 single-sample gradients", which differ only
 *    in summation order (one GEMM against 37 rank-1 updates).
 * Run with BPT_VERBOSE=1 to print the worst error of each comparison as a fraction of its
 * tolerance.
 */
#include "bp_test.h"

#define OUT_RTOL 1e-4
#define OUT_ATOL 1e-5
#define COST_RTOL 1e-4
#define COST_ATOL 1e-5
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5 /* times max(1, ||ref||_inf) */

#define MAX_BATCH 37
#define OUT_PAD (-777.0f) /* sentinel in the padding rows of the oracle's output */

typedef struct combo {
    const char *name;
    bp_activation out;
    bp_cost cost;
} combo;

static const combo combos[] = {
    {"quadratic/sigmoid", BP_SIGMOID, BP_QUADRATIC},
    {"quadratic/tanh", BP_TANH, BP_QUADRATIC},
    {"quadratic/relu", BP_RELU, BP_QUADRATIC},
    {"quadratic/leaky", BP_LEAKY_RELU, BP_QUADRATIC},
    {"quadratic/identity", BP_IDENTITY, BP_QUADRATIC},
    {"quadratic/softmax", BP_SOFTMAX, BP_QUADRATIC},
    {"cross-entropy/sigmoid", BP_SIGMOID, BP_CROSS_ENTROPY},
    {"nll/softmax", BP_SOFTMAX, BP_NLL},
};

static const bp_activation hidden_cycle[5] = {BP_SIGMOID, BP_TANH, BP_RELU, BP_LEAKY_RELU,
                                              BP_IDENTITY};

typedef struct shape {
    int num_layers;
    int sizes[5];
} shape;

static const shape shapes[] = {
    {3, {1, 1, 1}},       /* one-neuron layers */
    {3, {3, 5, 2}},       /* non-square */
    {4, {4, 7, 6, 3}},    /* three weight layers */
    {5, {5, 3, 8, 4, 2}}, /* four weight layers, narrow then wide */
    {3, {40, 50, 30}},    /* products big enough for BP_PATH_AUTO to choose BLAS */
};

static void grad_compare(const char *what, const float *got, const float *ref, size_t n)
{
    double scale = bpt_max_abs(ref, n);
    bpt_assert_close_vec(what, got, ref, n, GRAD_ATOL * (scale > 1.0 ? scale : 1.0), GRAD_RTOL);
}

/* One network, one batch size, compact or strided: its inputs, and the oracle's results that the
 * BLAS paths are compared with. */
typedef struct oracle_case {
    bp_net *net;
    bp_workspace *ws;
    int L, n1, nL, batch;
    int ldx, ldy, ldo;
    size_t P;
    float *X, *Y;   /* inputs and targets, ldx and ldy (NaN padding when strided) */
    float *Xc, *Yc; /* the same, compact */
    char what[160]; /* names the case in every failure */
    float *out;     /* the oracle's a^L (ldo, OUT_PAD padding) */
    float *gn;      /* the oracle's gradient */
    double cost_naive;
} oracle_case;

static void case_setup(oracle_case *k, int ci, int si, int batch, int strided)
{
    const combo *c = &combos[ci];
    const shape *s = &shapes[si];
    k->L = s->num_layers;
    k->n1 = s->sizes[0];
    k->nL = s->sizes[k->L - 1];
    k->batch = batch;

    bp_activation acts[4];
    for (int h = 0; h < k->L - 2; h++)
        acts[h] = hidden_cycle[(ci + si + h) % 5];
    acts[k->L - 2] = c->out;

    k->net = bpt_net(k->L, s->sizes, acts, c->cost);
    /* Alternate Nielsen's N(0,1) (large pre-activations, saturation) and the scaled scheme. */
    bpt_ok(bp_net_init(k->net, (ci + si) % 2 ? BP_INIT_LARGE : BP_INIT_SCALED,
                       (uint64_t)(100 * ci + 10 * si + batch)));
    k->ws = bpt_ws(k->net, MAX_BATCH);
    k->P = bpt_num_params(k->net);

    k->ldx = strided ? k->n1 + 3 : k->n1;
    k->ldy = strided ? k->nL + 2 : k->nL;
    k->ldo = strided ? k->nL + 1 : k->nL;
    bpt_rng rng = bpt_rng_make((uint64_t)(7919 * ci + 104729 * si + 31 * batch + strided));
    k->X = bpt_matrix(&rng, k->n1, batch, k->ldx, -1.0f, 1.0f, NAN);
    k->Y = bpt_targets(&rng, c->out, c->cost, k->nL, batch, k->ldy, NAN);
    k->Xc = bpt_compact(k->X, k->n1, batch, k->ldx);
    k->Yc = bpt_compact(k->Y, k->nL, batch, k->ldy);
    snprintf(k->what, sizeof k->what, "%s shape %d batch %d%s", c->name, si, batch,
             strided ? " strided" : "");
}

static void case_free(oracle_case *k)
{
    free(k->gn);
    free(k->out);
    free(k->Xc);
    free(k->Yc);
    free(k->X);
    free(k->Y);
    bp_workspace_free(k->ws);
    bp_net_free(k->net);
}

/* The oracle: naive forward (compact and strided input give the same bits, the padding of the
 * output is never written) and backward (the same bits and cost from both layouts). */
static void oracle_reference(oracle_case *k)
{
    const int batch = k->batch, ldo = k->ldo;
    float *out = malloc((size_t)ldo * (size_t)batch * sizeof *out);
    float *out2 = malloc((size_t)ldo * (size_t)batch * sizeof *out2);
    assert_non_null(out);
    assert_non_null(out2);
    for (size_t i = 0; i < (size_t)ldo * (size_t)batch; i++)
        out[i] = out2[i] = OUT_PAD;
    bpt_ok(bp_naive_forward(k->net, batch, k->Xc, k->n1, out, ldo));
    bpt_ok(bp_naive_forward(k->net, batch, k->X, k->ldx, out2, ldo));
    for (int b = 0; b < batch; b++) {
        for (int i = 0; i < ldo; i++) {
            size_t j = (size_t)b * (size_t)ldo + (size_t)i;
            if (i >= k->nL) { /* the oracle must not write the padding of its output */
                assert_true(out[j] == OUT_PAD);
                continue;
            }
            assert_true(isfinite(out[j]));
            assert_memory_equal(&out[j], &out2[j], sizeof(float));
        }
    }
    float *gn = bpt_grad(k->net), *gn2 = bpt_grad(k->net);
    double cost_naive = NAN, cost_naive2 = NAN;
    bpt_ok(bp_naive_backward(k->net, batch, k->Xc, k->n1, k->Yc, k->nL, gn, &cost_naive));
    bpt_ok(bp_naive_backward(k->net, batch, k->X, k->ldx, k->Y, k->ldy, gn2, &cost_naive2));
    assert_memory_equal(gn, gn2, k->P * sizeof *gn);
    assert_true(isfinite(cost_naive));
    assert_true(cost_naive == cost_naive2);
    free(gn2);
    free(out2);
    k->out = out;
    k->gn = gn;
    k->cost_naive = cost_naive;
}

/* The batched passes on each path of the workspace against the oracle; bp_gradient_batch against
 * forward + backward. Returns the gradient of the last path (BP_PATH_AUTO), malloc'ed. */
static float *compare_batched(const oracle_case *k)
{
    const float *a = NULL;
    int lda = 0;
    float *g = NULL;
    char label[240];
    static const bp_path paths[] = {BP_PATH_GEMM, BP_PATH_LOOPS, BP_PATH_AUTO};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        char pwhat[180];
        snprintf(pwhat, sizeof pwhat, "%s path %d", k->what, (int)paths[p]);
        bpt_ok(bp_workspace_set_path(k->ws, paths[p]));
        bpt_ok(bp_forward_batch(k->net, k->ws, k->batch, k->X, k->ldx));
        bpt_ok(bp_workspace_activations(k->ws, k->L, &a, &lda));
        assert_non_null(a);
        assert_true(lda >= k->nL);
        snprintf(label, sizeof label, "%s: forward_batch a^L", pwhat);
        bpt_assert_close_mat(label, a, lda, k->out, k->ldo, k->nL, k->batch, OUT_ATOL, OUT_RTOL);

        double cost = NAN;
        bpt_ok(bp_cost_value(k->net, k->ws, k->Y, k->ldy, &cost));
        snprintf(label, sizeof label, "%s: cost_value (batch)", pwhat);
        bpt_assert_close_scalar(label, cost, k->cost_naive, COST_ATOL, COST_RTOL);

        free(g);
        g = bpt_grad(k->net);
        bpt_ok(bp_backward_batch(k->net, k->ws, k->batch, k->X, k->ldx, k->Y, k->ldy, g));
        snprintf(label, sizeof label, "%s: backward_batch gradient", pwhat);
        grad_compare(label, g, k->gn, k->P);

        /* bp_gradient_batch overwrites (NaN beforehand must vanish) with the same numbers as
         * forward + backward into a zeroed block: the same products, beta 0 instead of 1. */
        float *go = bpt_grad(k->net);
        for (size_t i = 0; i < k->P; i++)
            go[i] = NAN;
        double cost_go = NAN;
        bpt_ok(bp_gradient_batch(k->net, k->ws, k->batch, k->X, k->ldx, k->Y, k->ldy, go,
                                 &cost_go));
        assert_true(cost_go == cost);
        for (size_t i = 0; i < k->P; i++)
            if (!(go[i] == g[i]))
                fail_msg("%s: bp_gradient_batch [%zu] = %g, forward + backward %g", pwhat, i,
                         (double)go[i], (double)g[i]);
        free(go);
    }
    return g;
}

/* The single-sample BLAS path, accumulated over the batch, against the oracle and against the
 * batched gradient g. */
static void compare_single(const oracle_case *k, const float *g)
{
    const float *a = NULL;
    int lda = 0;
    char label[240];
    float *gs = bpt_grad(k->net);
    double cost_sum = 0.0;
    for (int b = 0; b < k->batch; b++) {
        const float *x = k->X + (size_t)b * (size_t)k->ldx;
        const float *y = k->Y + (size_t)b * (size_t)k->ldy;
        bpt_ok(bp_forward(k->net, k->ws, x));
        bpt_ok(bp_workspace_activations(k->ws, k->L, &a, &lda));
        snprintf(label, sizeof label, "%s: forward sample %d", k->what, b);
        bpt_assert_close_mat(label, a, lda, k->out + (size_t)b * (size_t)k->ldo, k->ldo, k->nL, 1,
                             OUT_ATOL, OUT_RTOL);
        double cb = NAN;
        bpt_ok(bp_cost_value(k->net, k->ws, y, k->nL, &cb));
        cost_sum += cb;
        bpt_ok(bp_backward(k->net, k->ws, x, y, gs));
    }
    snprintf(label, sizeof label, "%s: sum of single-sample costs", k->what);
    bpt_assert_close_scalar(label, cost_sum, k->cost_naive, COST_ATOL, COST_RTOL);
    snprintf(label, sizeof label, "%s: sum of bp_backward vs oracle", k->what);
    grad_compare(label, gs, k->gn, k->P);
    snprintf(label, sizeof label, "%s: batch gradient vs sum of per-sample", k->what);
    grad_compare(label, g, gs, k->P);
    free(gs);
}

/* One network, one batch size, compact or strided: every comparison of the file. */
static void check_case(int ci, int si, int batch, int strided)
{
    oracle_case k = {0};
    case_setup(&k, ci, si, batch, strided);
    oracle_reference(&k);
    float *g = compare_batched(&k);
    compare_single(&k, g);
    free(g);
    case_free(&k);
}

static void check_combo(int ci)
{
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        check_case(ci, si, 1, (ci + si) % 2);
        check_case(ci, si, MAX_BATCH, 0);
        check_case(ci, si, MAX_BATCH, 1);
    }
}

#define COMBO_TEST(fn, idx)                                                                        \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        check_combo(idx);                                                                          \
    }
COMBO_TEST(test_quadratic_sigmoid, 0)
COMBO_TEST(test_quadratic_tanh, 1)
COMBO_TEST(test_quadratic_relu, 2)
COMBO_TEST(test_quadratic_leaky_relu, 3)
COMBO_TEST(test_quadratic_identity, 4)
COMBO_TEST(test_quadratic_softmax, 5)
COMBO_TEST(test_cross_entropy_sigmoid, 6)
COMBO_TEST(test_nll_softmax, 7)

/* Gradients ACCUMULATE: starting from a non-zero block G0, both paths give G0 + dC/dtheta; and
 * bp_grad_zero really zeroes (the block starts as NaN). */
static void test_gradients_accumulate(void **state)
{
    (void)state;
    const int sizes[] = {4, 6, 3};
    const bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    bp_net *net = bpt_net(3, sizes, acts, BP_CROSS_ENTROPY);
    bpt_ok(bp_net_init(net, BP_INIT_SCALED, 5));
    bp_workspace *ws = bpt_ws(net, 8);
    const size_t P = bpt_num_params(net);
    bpt_rng rng = bpt_rng_make(99);
    float *X = bpt_matrix(&rng, 4, 8, 4, -1.0f, 1.0f, NAN);
    float *Y = bpt_targets(&rng, BP_SIGMOID, BP_CROSS_ENTROPY, 3, 8, 3, NAN);

    float *g = malloc(P * sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < P; i++)
        g[i] = NAN;
    bpt_ok(bp_grad_zero(net, g));
    for (size_t i = 0; i < P; i++)
        assert_true(g[i] == 0.0f);

    float *fresh = bpt_grad(net);
    bpt_ok(bp_naive_backward(net, 8, X, 4, Y, 3, fresh, NULL)); /* cost may be NULL */

    float *g0 = malloc(P * sizeof *g0), *expect = malloc(P * sizeof *expect);
    float *gn = malloc(P * sizeof *gn);
    assert_non_null(g0);
    assert_non_null(expect);
    assert_non_null(gn);
    bpt_fill(&rng, g0, P, -1.0f, 1.0f);
    for (size_t i = 0; i < P; i++)
        expect[i] = g0[i] + fresh[i];

    memcpy(g, g0, P * sizeof *g);
    bpt_ok(bp_forward_batch(net, ws, 8, X, 4));
    bpt_ok(bp_backward_batch(net, ws, 8, X, 4, Y, 3, g));
    grad_compare("backward_batch accumulates", g, expect, P);

    memcpy(g, g0, P * sizeof *g);
    for (int b = 0; b < 8; b++) {
        bpt_ok(bp_forward(net, ws, X + 4 * b));
        bpt_ok(bp_backward(net, ws, X + 4 * b, Y + 3 * b, g));
    }
    grad_compare("backward accumulates", g, expect, P);

    memcpy(gn, g0, P * sizeof *gn);
    bpt_ok(bp_naive_backward(net, 8, X, 4, Y, 3, gn, NULL));
    grad_compare("naive_backward accumulates", gn, expect, P);

    /* Two batch backward passes from zero give twice the gradient. */
    bpt_ok(bp_grad_zero(net, g));
    for (int rep = 0; rep < 2; rep++) {
        bpt_ok(bp_forward_batch(net, ws, 8, X, 4));
        bpt_ok(bp_backward_batch(net, ws, 8, X, 4, Y, 3, g));
    }
    for (size_t i = 0; i < P; i++)
        expect[i] = 2.0f * fresh[i];
    grad_compare("two backward_batch passes", g, expect, P);

    free(g);
    free(g0);
    free(gn);
    free(expect);
    free(fresh);
    free(X);
    free(Y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* A one-sample batch through a layer of more than 2^18 weights, the case where BP_PATH_AUTO leaves
 * sgemm (src/blas.c, choose): on the loops with one BLAS thread, on sgemv/sger with two. Either way
 * bp_gradient_batch overwrites a NaN-filled block with the oracle's gradient. */
static void test_large_layer_one_sample(void **state)
{
    (void)state;
    const int sizes[] = {600, 500, 3};
    const bp_activation acts[] = {BP_SIGMOID, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 11));
    bp_workspace *ws = bpt_ws(net, 1);
    const size_t P = bpt_num_params(net);
    bpt_rng rng = bpt_rng_make(12);
    float *x = bpt_matrix(&rng, 600, 1, 600, -1.0f, 1.0f, 0.0f);
    float *y = bpt_targets(&rng, BP_SOFTMAX, BP_NLL, 3, 1, 3, 0.0f);
    float *gn = bpt_grad(net), *g = bpt_grad(net);
    bpt_ok(bp_naive_backward(net, 1, x, 600, y, 3, gn, NULL));
    for (int threads = 1; threads <= 2; threads++) {
        bpt_blas_threads(threads);
        for (size_t i = 0; i < P; i++)
            g[i] = NAN;
        bpt_ok(bp_gradient_batch(net, ws, 1, x, 600, y, 3, g, NULL));
        grad_compare(threads == 1 ? "600-500-3, one sample, 1 BLAS thread"
                                  : "600-500-3, one sample, 2 BLAS threads",
                     g, gn, P);
    }
    bpt_blas_threads(1);
    free(g);
    free(gn);
    free(x);
    free(y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* BP_PATH_AUTO at one sample and one BLAS thread runs the project's loops on every layer up to
 * 2^18 weights (sgemm packs w even for one column: slower than the loops on some CPUs' kernels),
 * so its gradient has BP_PATH_LOOPS's bits; sgemm's differ (the check can fail). */
static void test_one_sample_takes_the_loops(void **state)
{
    (void)state;
    const int sizes[] = {300, 100, 10};
    const bp_activation acts[] = {BP_SIGMOID, BP_SIGMOID};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    bp_workspace *ws = bpt_ws(net, 1);
    const size_t P = bpt_num_params(net);
    bpt_rng rng = bpt_rng_make(6);
    float *x = bpt_matrix(&rng, 300, 1, 300, -1.0f, 1.0f, 0.0f);
    float *y = bpt_targets(&rng, BP_SIGMOID, BP_QUADRATIC, 10, 1, 10, 0.0f);
    float *g[3];
    bpt_blas_threads(1);
    for (int p = BP_PATH_AUTO; p <= BP_PATH_LOOPS; p++) {
        g[p] = bpt_grad(net);
        bpt_ok(bp_workspace_set_path(ws, (bp_path)p));
        bpt_ok(bp_gradient_batch(net, ws, 1, x, 300, y, 10, g[p], NULL));
    }
    assert_memory_equal(g[BP_PATH_AUTO], g[BP_PATH_LOOPS], P * sizeof(float));
    assert_memory_not_equal(g[BP_PATH_GEMM], g[BP_PATH_LOOPS], P * sizeof(float));
    for (int p = BP_PATH_AUTO; p <= BP_PATH_LOOPS; p++)
        free(g[p]);
    free(x);
    free(y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* The deepest network allowed (BP_MAX_LAYERS layers, so layer index L = 64 is used by every
 * per-layer table): BLAS forward and gradient equal the oracle, one sample and batch. */
static void test_max_layers(void **state)
{
    (void)state;
    int sizes[BP_MAX_LAYERS];
    bp_activation acts[BP_MAX_LAYERS - 1];
    for (int i = 0; i < BP_MAX_LAYERS; i++)
        sizes[i] = 2 + i % 3;
    for (int i = 0; i < BP_MAX_LAYERS - 1; i++)
        acts[i] = BP_TANH;
    bp_net *net = bpt_net(BP_MAX_LAYERS, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    const int n1 = sizes[0], nL = sizes[BP_MAX_LAYERS - 1], B = 3;
    const size_t P = bpt_num_params(net);
    bp_workspace *ws = bpt_ws(net, B);
    bpt_rng rng = bpt_rng_make(64);
    float *X = bpt_matrix(&rng, n1, B, n1, -1.0f, 1.0f, NAN);
    float *Y = bpt_matrix(&rng, nL, B, nL, -1.0f, 1.0f, NAN);
    float out[4 * 3];
    const float *a = NULL;
    int lda = 0;
    float *g = bpt_grad(net), *gn = bpt_grad(net), *g1 = bpt_grad(net);

    bpt_ok(bp_naive_forward(net, B, X, n1, out, nL));
    bpt_ok(bp_forward_batch(net, ws, B, X, n1));
    bpt_ok(bp_workspace_activations(ws, BP_MAX_LAYERS, &a, &lda));
    bpt_assert_close_mat("64 layers: a^L", a, lda, out, nL, nL, B, OUT_ATOL, OUT_RTOL);
    bpt_ok(bp_backward_batch(net, ws, B, X, n1, Y, nL, g));
    bpt_ok(bp_naive_backward(net, B, X, n1, Y, nL, gn, NULL));
    grad_compare("64 layers: batch gradient", g, gn, P);
    for (int j = 0; j < B; j++) {
        bpt_ok(bp_forward(net, ws, X + j * n1));
        bpt_ok(bp_backward(net, ws, X + j * n1, Y + j * nL, g1));
    }
    grad_compare("64 layers: per-sample gradients", g1, gn, P);
    free(g);
    free(gn);
    free(g1);
    free(X);
    free(Y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* A smaller batch in a larger workspace, after a larger batch: nothing stale is used. */
static void test_batch_sizes_in_one_workspace(void **state)
{
    (void)state;
    const int sizes[] = {3, 5, 4};
    const bp_activation acts[] = {BP_RELU, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 11));
    bp_workspace *ws = bpt_ws(net, 16);
    const size_t P = bpt_num_params(net);
    bpt_rng rng = bpt_rng_make(4242);
    float *X = bpt_matrix(&rng, 3, 16, 3, -1.0f, 1.0f, NAN);
    float *Y = bpt_targets(&rng, BP_SOFTMAX, BP_NLL, 4, 16, 4, NAN);
    float out[4 * 16];

    const int batches[] = {16, 5, 1, 16, 9};
    for (int t = 0; t < 5; t++) {
        const int B = batches[t];
        const float *X2 = X + 3 * t; /* a different window of samples each time */
        const float *Y2 = Y + 4 * t;
        const int Bw = B + t > 16 ? 16 - t : B;
        const float *a = NULL;
        int lda = 0;
        char label[96];
        bpt_ok(bp_naive_forward(net, Bw, X2, 3, out, 4));
        bpt_ok(bp_forward_batch(net, ws, Bw, X2, 3));
        bpt_ok(bp_workspace_activations(ws, 3, &a, &lda));
        snprintf(label, sizeof label, "round %d batch %d: a^L", t, Bw);
        bpt_assert_close_mat(label, a, lda, out, 4, 4, Bw, OUT_ATOL, OUT_RTOL);
        float *g = bpt_grad(net), *gn = bpt_grad(net);
        bpt_ok(bp_backward_batch(net, ws, Bw, X2, 3, Y2, 4, g));
        bpt_ok(bp_naive_backward(net, Bw, X2, 3, Y2, 4, gn, NULL));
        snprintf(label, sizeof label, "round %d batch %d: gradient", t, Bw);
        grad_compare(label, g, gn, P);
        free(g);
        free(gn);
    }
    free(X);
    free(Y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quadratic_sigmoid),
        cmocka_unit_test(test_quadratic_tanh),
        cmocka_unit_test(test_quadratic_relu),
        cmocka_unit_test(test_quadratic_leaky_relu),
        cmocka_unit_test(test_quadratic_identity),
        cmocka_unit_test(test_quadratic_softmax),
        cmocka_unit_test(test_cross_entropy_sigmoid),
        cmocka_unit_test(test_nll_softmax),
        cmocka_unit_test(test_gradients_accumulate),
        cmocka_unit_test(test_batch_sizes_in_one_workspace),
        cmocka_unit_test(test_large_layer_one_sample),
        cmocka_unit_test(test_one_sample_takes_the_loops),
        cmocka_unit_test(test_max_layers),
    };
    return cmocka_run_group_tests_name("oracle", tests, NULL, NULL);
}
