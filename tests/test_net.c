/*
 * test_net.c - the network description: parameter layout and describe, initialisation
 * (determinism and the statistics of each scheme), numerical safety of sigmoid and softmax for huge
 * pre-activations, version and name functions.
 */
#include "bp_test.h"

/* ---------------------------------------------------------------- layout */
static void test_layout(void **state)
{
    (void)state;
    const int sizes[] = {3, 5, 2, 4};
    const bp_activation acts[] = {BP_RELU, BP_TANH, BP_SOFTMAX};
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);

    bp_net_info info, info2;
    bpt_ok(bp_net_describe(net, &info));
    assert_int_equal(info.num_layers, 4);
    assert_int_equal(info.cost, BP_NLL);
    assert_int_equal(info.num_params, 5 * 3 + 5 + 2 * 5 + 2 + 4 * 2 + 4); /* 44 */
    for (int i = 0; i < 4; i++)
        assert_int_equal(info.sizes[i], sizes[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(info.activations[i], acts[i]);
    bpt_ok(bp_net_describe(net, &info2)); /* pointers stay the same */
    assert_ptr_equal(info.sizes, info2.sizes);
    assert_ptr_equal(info.activations, info2.activations);

    /* [w^2 (5x3) | b^2 (5) | w^3 (2x5) | b^3 (2) | w^4 (4x2) | b^4 (4)] */
    const size_t w_off[] = {0, 20, 32}, b_off[] = {15, 30, 40};
    for (int l = 2; l <= 4; l++) {
        bp_layer_view v;
        bpt_ok(bp_net_layer(net, l, &v));
        assert_int_equal(v.w_offset, w_off[l - 2]);
        assert_int_equal(v.b_offset, b_off[l - 2]);
        assert_int_equal(v.rows, sizes[l - 1]);
        assert_int_equal(v.cols, sizes[l - 2]);
        assert_int_equal(v.ld, sizes[l - 1]);
    }

    /* Parameters start at zero; params and params_const are the same block. */
    float *p = bpt_params(net);
    const float *cp = NULL;
    bpt_ok(bp_net_params_const(net, &cp));
    assert_ptr_equal(p, cp);
    for (size_t i = 0; i < 44; i++)
        assert_true(p[i] == 0.0f);
    bp_net_free(net);
}

/* The layout as the forward passes read it: a 2-3 identity network with block = 0, 1, ..., 8 is
 * w^2 = [0 3; 1 4; 2 5] (column-major), b^2 = (6, 7, 8); x = (1, 10) gives z = (36, 48, 60). */
static void test_layout_used_by_forward(void **state)
{
    (void)state;
    const int sizes[] = {2, 3};
    const bp_activation acts[] = {BP_IDENTITY};
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    float *p = bpt_params(net);
    for (int i = 0; i < 9; i++)
        p[i] = (float)i;
    const float x[2] = {1.0f, 10.0f};
    const double expect[3] = {36.0, 48.0, 60.0};
    bp_workspace *ws = bpt_ws(net, 1);
    const float *a = NULL;
    int ld = 0;
    float out[3];
    bpt_ok(bp_forward(net, ws, x));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    bpt_assert_close_dvec("bp_forward", a, expect, 3, 0.0, 0.0);
    bpt_ok(bp_forward_batch(net, ws, 1, x, 2));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    bpt_assert_close_dvec("bp_forward_batch", a, expect, 3, 0.0, 0.0);
    bpt_ok(bp_naive_forward(net, 1, x, 2, out, 3));
    bpt_assert_close_dvec("bp_naive_forward", out, expect, 3, 0.0, 0.0);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- init determinism */
static void test_init_deterministic(void **state)
{
    (void)state;
    const int sizes[] = {7, 11, 5, 3};
    const bp_activation acts[] = {BP_TANH, BP_RELU, BP_SIGMOID};
    for (int scheme = BP_INIT_LARGE; scheme <= BP_INIT_HE; scheme++) {
        bp_net *a = bpt_net(4, sizes, acts, BP_QUADRATIC);
        bp_net *b = bpt_net(4, sizes, acts, BP_QUADRATIC);
        const size_t P = bpt_num_params(a);
        float *first = malloc(P * sizeof *first);
        assert_non_null(first);

        bpt_ok(bp_net_init(a, (bp_init)scheme, 42));
        bpt_ok(bp_net_init(b, (bp_init)scheme, 42));
        assert_memory_equal(bpt_params(a), bpt_params(b), P * sizeof(float));
        memcpy(first, bpt_params(a), P * sizeof *first);

        /* A different seed gives different weights (nearly all of them). */
        bpt_ok(bp_net_init(b, (bp_init)scheme, 43));
        bp_layer_view v;
        bpt_ok(bp_net_layer(b, 2, &v));
        size_t same = 0;
        for (size_t i = 0; i < (size_t)v.rows * (size_t)v.cols; i++)
            same += bpt_params(b)[v.w_offset + i] == first[v.w_offset + i];
        assert_true(same < 3);

        /* Re-initialising with the first seed restores the same bits, whatever came before. */
        bpt_ok(bp_net_init(b, (bp_init)scheme, 42));
        assert_memory_equal(first, bpt_params(b), P * sizeof(float));

        /* The BLAS thread count plays no part. */
        bpt_blas_threads(2);
        bpt_ok(bp_net_init(b, (bp_init)scheme, 42));
        bpt_blas_threads(1);
        assert_memory_equal(first, bpt_params(b), P * sizeof(float));

        /* Every entry is written and finite. */
        for (size_t i = 0; i < P; i++)
            assert_true(isfinite(first[i]));
        free(first);
        bp_net_free(a);
        bp_net_free(b);
    }
}

/* ---------------------------------------------------------------- init statistics */
/* Mean, variance and the fraction within one standard deviation of the mean (0.6827 for a normal,
 * 0.577 for a uniform of the same variance) of n floats, in double. */
static void moments(const float *v, size_t n, double *mean, double *var, double *within)
{
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *var = s2 / (double)(n - 1);
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
        in += fabs(v[i] - *mean) <= sqrt(*var);
    *within = (double)in / (double)n;
}

/* N(0, var) within: |mean| <= 5 standard errors, variance within 5% (5 to 12 standard errors for
 * 20000 to 120000 draws), the 1-sigma fraction within 0.015 of 0.6827 (>= 4.5 standard errors). */
static void check_normal(const char *what, const float *v, size_t n, double var)
{
    double m, s2, within;
    moments(v, n, &m, &s2, &within);
    if (!(fabs(m) <= 5.0 * sqrt(var / (double)n)))
        fail_msg("%s: mean %g, expected 0 +- %g", what, m, 5.0 * sqrt(var / (double)n));
    if (!(fabs(s2 - var) <= 0.05 * var))
        fail_msg("%s: variance %g, expected %g +- 5%%", what, s2, var);
    if (!(fabs(within - 0.6827) <= 0.015))
        fail_msg("%s: fraction within one sigma %g, expected 0.6827 (normal)", what, within);
}

static void test_init_statistics(void **state)
{
    (void)state;
    /* Weights: layer 2 is 400 x 300 (n_in 300), layer 3 is 200 x 400 (n_in 400). */
    const int sizes[] = {300, 400, 200};
    const bp_activation acts[] = {BP_RELU, BP_IDENTITY};
    /* Biases: a 1-20000 network has 20000 of them (and 20000 x 1 weights, n_in 1). */
    const int wide[] = {1, 20000};
    const bp_activation wide_acts[] = {BP_IDENTITY};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bp_net *net2 = bpt_net(2, wide, wide_acts, BP_QUADRATIC);
    bp_layer_view v2, v3, w2;
    bpt_ok(bp_net_layer(net, 2, &v2));
    bpt_ok(bp_net_layer(net, 3, &v3));
    bpt_ok(bp_net_layer(net2, 2, &w2));
    char what[96];

    for (int s = BP_INIT_LARGE; s <= BP_INIT_HE; s++) {
        /* expected weight variance for n_in, n_out */
#define WVAR(nin, nout)                                                                            \
    (s == BP_INIT_LARGE ? 1.0                                                                      \
     : s == BP_INIT_SCALED ? 1.0 / (nin)                                                           \
     : s == BP_INIT_XAVIER ? 2.0 / ((nin) + (nout))                                                \
                           : 2.0 / (nin))
        const int zero_bias = s == BP_INIT_XAVIER || s == BP_INIT_HE;
        const char *name = bp_init_name((bp_init)s);
        float *p = bpt_params(net), *q = bpt_params(net2);
        /* Poison the blocks: init must write every entry, biases included. */
        for (size_t i = 0; i < bpt_num_params(net); i++)
            p[i] = 7.0f;
        for (size_t i = 0; i < bpt_num_params(net2); i++)
            q[i] = 7.0f;
        bpt_ok(bp_net_init(net, (bp_init)s, 2024));
        bpt_ok(bp_net_init(net2, (bp_init)s, 2024));

        snprintf(what, sizeof what, "%s w^2 (400x300)", name);
        check_normal(what, p + v2.w_offset, 400 * 300, WVAR(300.0, 400.0));
        snprintf(what, sizeof what, "%s w^3 (200x400)", name);
        check_normal(what, p + v3.w_offset, 200 * 400, WVAR(400.0, 200.0));
        snprintf(what, sizeof what, "%s w^2 (20000x1)", name);
        check_normal(what, q + w2.w_offset, 20000, WVAR(1.0, 20000.0));
        if (zero_bias) {
            for (int i = 0; i < 400; i++)
                assert_true(p[v2.b_offset + (size_t)i] == 0.0f);
            for (int i = 0; i < 200; i++)
                assert_true(p[v3.b_offset + (size_t)i] == 0.0f);
            for (int i = 0; i < 20000; i++)
                assert_true(q[w2.b_offset + (size_t)i] == 0.0f);
        } else {
            snprintf(what, sizeof what, "%s b^2 (20000)", name);
            check_normal(what, q + w2.b_offset, 20000, 1.0);
        }
#undef WVAR
    }
    bp_net_free(net);
    bp_net_free(net2);
}

/* ---------------------------------------------------------------- numerical safety */
/* Sigmoid of z = +-1e4 is 1 and 0, without NaN, on every path; so are its cost and gradient. With
 * cross-entropy and targets 1 and 0 at saturation the cost terms are 0 (y ln a with y = 0 is 0, not
 * 0 * -inf = NaN): the cost is exactly that of the third sample, ln 2. */
static void test_sigmoid_saturation(void **state)
{
    (void)state;
    const int sizes[] = {1, 1};
    const bp_activation acts[] = {BP_SIGMOID};
    const float X[3] = {1e4f, -1e4f, 0.0f};
    const double expect[3] = {1.0, 0.0, 0.5};
    for (int cost_kind = BP_QUADRATIC; cost_kind <= BP_CROSS_ENTROPY; cost_kind++) {
        bp_net *net = bpt_net(2, sizes, acts, (bp_cost)cost_kind);
        float *p = bpt_params(net);
        p[0] = 1.0f; /* w */
        p[1] = 0.0f; /* b */
        bp_workspace *ws = bpt_ws(net, 3);
        const float *a = NULL;
        int ld = 0;
        float out[3], g[2] = {0, 0}, gn[2] = {0, 0};
        const float Y[3] = {1.0f, 0.0f, 0.5f};
        double cost = NAN, cost_naive = NAN;
        const double expect_cost = cost_kind == BP_QUADRATIC ? 0.0 : log(2.0);

        bpt_ok(bp_forward_batch(net, ws, 3, X, 1));
        bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
        bpt_assert_close_dvec("sigmoid(+-1e4), batch", a, expect, 3, 1e-7, 0.0);
        bpt_ok(bp_cost_value(net, ws, Y, 1, &cost));
        bpt_assert_close_scalar("saturated cost", cost, expect_cost, 1e-6, 1e-6);
        bpt_ok(bp_backward_batch(net, ws, 3, X, 1, Y, 1, g));
        for (int i = 0; i < 3; i++) {
            bpt_ok(bp_forward(net, ws, &X[i]));
            bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
            bpt_assert_close_dvec("sigmoid(+-1e4), one sample", a, &expect[i], 1, 1e-7, 0.0);
        }
        bpt_ok(bp_naive_forward(net, 3, X, 1, out, 1));
        bpt_assert_close_dvec("sigmoid(+-1e4), naive", out, expect, 3, 1e-7, 0.0);
        bpt_ok(bp_naive_backward(net, 3, X, 1, Y, 1, gn, &cost_naive));
        bpt_assert_close_scalar("saturated cost, naive", cost_naive, expect_cost, 1e-6, 1e-6);
        /* The exact gradient is 0: every sample has a = y (quadratic) or a - y = 0 (fused CE). */
        const double zero[2] = {0.0, 0.0};
        bpt_assert_close_dvec(cost_kind == BP_QUADRATIC ? "saturated gradient (quadratic), BLAS"
                                                        : "saturated gradient (cross-entropy), BLAS",
                              g, zero, 2, 1e-6, 0.0);
        bpt_assert_close_dvec(cost_kind == BP_QUADRATIC
                                  ? "saturated gradient (quadratic), naive"
                                  : "saturated gradient (cross-entropy), naive",
                              gn, zero, 2, 1e-6, 0.0);
        bp_workspace_free(ws);
        bp_net_free(net);
    }
}

/* The forward pass's sigmoid (its own vectorised e^x, src/kernels.c) against 1/(1 + e^-z) in double
 * for 200001 values of z in [-100, 100]: within 4 float ulps (relative 4.8e-7) wherever sigma(z)
 * is a normal float (z >= -87.3), and in [0, 1.25e-38] below, where e^z is clamped to e^-87.3. */
static void test_sigmoid_accuracy(void **state)
{
    (void)state;
    enum { N = 200001 };
    const int sizes[] = {1, 1};
    const bp_activation acts[] = {BP_SIGMOID};
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    float *p = bpt_params(net);
    p[0] = 1.0f; /* w */
    p[1] = 0.0f; /* b */
    float *X = malloc(N * sizeof *X);
    assert_non_null(X);
    for (int i = 0; i < N; i++)
        X[i] = (float)(-100.0 + 200.0 * i / (N - 1));
    bp_workspace *ws = bpt_ws(net, N);
    const float *a = NULL;
    int ld = 0;
    bpt_ok(bp_forward_batch(net, ws, N, X, 1));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double z = X[i], exact = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        if (z < -87.3) {
            assert_true(a[i] >= 0.0f && a[i] <= 1.25e-38f);
            continue;
        }
        double rel = fabs(a[i] - exact) / exact;
        worst = rel > worst ? rel : worst;
        if (rel > 4.8e-7)
            fail_msg("sigmoid(%.9g) = %.9g, exact %.9g (relative error %.3g)", z, (double)a[i],
                     exact, rel);
    }
    print_message("sigmoid: worst relative error %.3g (bound 4.8e-7)\n", worst);
    free(X);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* Softmax of z around 1e4 (z = 1e4 + (0, 1, -3)) is finite, sums to 1 and equals softmax(0, 1, -3);
 * with z = (1e4, -1e4, 0) it is (1, 0, 0) and the NLL of class 1 is 0, finite. */
static void test_softmax_large(void **state)
{
    (void)state;
    const int sizes[] = {1, 3};
    const bp_activation acts[] = {BP_SOFTMAX};
    bp_net *net = bpt_net(2, sizes, acts, BP_NLL);
    bp_workspace *ws = bpt_ws(net, 2);
    float *p = bpt_params(net);
    const float X[2] = {1.0f, -1.0f};
    /* softmax(0, 1, -3) = e^(0,1,-3) / (1 + e + e^-3) */
    const double s = 1.0 + exp(1.0) + exp(-3.0);
    const double expect[3] = {1.0 / s, exp(1.0) / s, exp(-3.0) / s};
    const float *a = NULL;
    int ld = 0;
    float out[6];
    double cost = NAN;

    /* x = 1: z = 1e4 + (0, 1, -3). */
    p[0] = p[1] = p[2] = 1e4f;
    p[3] = 0.0f;
    p[4] = 1.0f;
    p[5] = -3.0f;
    bpt_ok(bp_forward_batch(net, ws, 1, X, 1));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    bpt_assert_close_dvec("softmax near 1e4", a, expect, 3, 1e-6, 1e-5);
    assert_true(fabs((double)a[0] + a[1] + a[2] - 1.0) <= 1e-6);
    bpt_ok(bp_naive_forward(net, 1, X, 1, out, 3));
    bpt_assert_close_dvec("softmax near 1e4, naive", out, expect, 3, 1e-6, 1e-5);
    /* x = -1: z = -1e4 + (0, 1, -3) with the same b: the max is subtracted either way. */
    bpt_ok(bp_forward(net, ws, &X[1]));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    bpt_assert_close_dvec("softmax near -1e4", a, expect, 3, 1e-6, 1e-5);

    /* z = (1e4, -1e4, 0): (1, 0, 0); NLL of class 1 = 0; the gradient a - y is finite. */
    p[0] = 1e4f;
    p[1] = -1e4f;
    p[2] = 0.0f;
    p[3] = p[4] = p[5] = 0.0f;
    const float y1[3] = {1, 0, 0};
    const double onehot[3] = {1.0, 0.0, 0.0};
    float g[6] = {0}, gn[6] = {0};
    bpt_ok(bp_forward_batch(net, ws, 1, X, 1));
    bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
    bpt_assert_close_dvec("softmax (1e4, -1e4, 0)", a, onehot, 3, 1e-7, 0.0);
    bpt_ok(bp_cost_value(net, ws, y1, 3, &cost));
    bpt_assert_close_scalar("NLL at a one-hot output", cost, 0.0, 1e-6, 0.0);
    bpt_ok(bp_backward_batch(net, ws, 1, X, 1, y1, 3, g));
    for (int i = 0; i < 6; i++)
        assert_true(isfinite(g[i]));
    bpt_ok(bp_naive_backward(net, 1, X, 1, y1, 3, gn, &cost));
    bpt_assert_close_scalar("NLL at a one-hot output, naive", cost, 0.0, 1e-6, 0.0);
    for (int i = 0; i < 6; i++)
        assert_true(isfinite(gn[i]));

    /* Same output, target class 2 (whose probability underflowed to 0): the cost is huge but the
     * gradient is exactly delta = a - y = (1, -1, 0) times x = 1, for w^2 and b^2 alike; the
     * naive path must give it too (its chain rule -y/a * da/dz must not turn 0 * inf into NaN). */
    const float y2[3] = {0, 1, 0};
    const double expect_g[6] = {1.0, -1.0, 0.0, 1.0, -1.0, 0.0};
    memset(g, 0, sizeof g);
    memset(gn, 0, sizeof gn);
    bpt_ok(bp_forward_batch(net, ws, 1, X, 1));
    bpt_ok(bp_backward_batch(net, ws, 1, X, 1, y2, 3, g));
    bpt_assert_close_dvec("NLL gradient, underflowed class, BLAS", g, expect_g, 6, 1e-6, 0.0);
    bpt_ok(bp_naive_backward(net, 1, X, 1, y2, 3, gn, &cost));
    assert_true(isfinite(cost) && cost > 80.0); /* -ln(a_2), a_2 <= FLT_MIN or DBL_MIN */
    bpt_assert_close_dvec("NLL gradient, underflowed class, naive", gn, expect_g, 6, 1e-6, 0.0);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- classes */
/* A 1-3 identity net with w = (1, -1, 0), b = (0, 0, 0.5): for x = 2, -2, 0.25, 0.5 the outputs are
 * (2,-2,.5), (-2,2,.5), (.25,-.25,.5), (.5,-.5,.5): classes 0, 1, 2 and 0 (a tie of entries 0 and 2
 * goes to the first). */
static void test_workspace_classes(void **state)
{
    (void)state;
    const int sizes[] = {1, 3};
    const bp_activation acts[] = {BP_IDENTITY};
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    float *p = bpt_params(net);
    const float w[6] = {1, -1, 0, 0, 0, 0.5f};
    memcpy(p, w, sizeof w);
    bp_workspace *ws = bpt_ws(net, 4);
    int classes[5] = {-1, -1, -1, -1, -7};
    const float *act = NULL;
    int ld = 0;
    bpt_assert_status(bp_workspace_classes(ws, classes), BP_EBATCH, "forward");
    bpt_assert_status(bp_workspace_activations(ws, 2, &act, &ld), BP_EBATCH, "forward");
    bpt_assert_status(bp_workspace_classes(ws, NULL), BP_ENULL, "classes");
    const float X[4] = {2, -2, 0.25f, 0.5f};
    bpt_ok(bp_forward_batch(net, ws, 4, X, 1));
    bpt_ok(bp_workspace_classes(ws, classes));
    assert_int_equal(classes[0], 0);
    assert_int_equal(classes[1], 1);
    assert_int_equal(classes[2], 2);
    assert_int_equal(classes[3], 0);
    assert_int_equal(classes[4], -7); /* only the forward's batch is written */
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- version and names */
static void test_version(void **state)
{
    (void)state;
    assert_int_equal(bp_version_number(), BP_VERSION_NUMBER);
    assert_int_equal(BP_VERSION_NUMBER,
                     BP_VERSION_MAJOR * 10000 + BP_VERSION_MINOR * 100 + BP_VERSION_PATCH);
}

static void check_names(const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        assert_non_null(names[i]);
        assert_true(names[i][0] != '\0');
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                fail_msg("names %d and %d are both \"%s\"", i, j, names[i]);
    }
}

static void test_names(void **state)
{
    (void)state;
    const char *acts[6], *costs[3], *inits[4];
    for (int i = 0; i < 6; i++)
        acts[i] = bp_activation_name((bp_activation)i);
    for (int i = 0; i < 3; i++)
        costs[i] = bp_cost_name((bp_cost)i);
    for (int i = 0; i < 4; i++)
        inits[i] = bp_init_name((bp_init)i);
    check_names(acts, 6);
    check_names(costs, 3);
    check_names(inits, 4);
    assert_string_equal(bp_activation_name(BP_SIGMOID), "sigmoid");
    assert_string_equal(bp_cost_name(BP_QUADRATIC), "quadratic");
    assert_string_equal(bp_init_name(BP_INIT_HE), "he");
    assert_null(bp_activation_name((bp_activation)6));
    assert_null(bp_activation_name((bp_activation)-1));
    assert_null(bp_cost_name((bp_cost)3));
    assert_null(bp_cost_name((bp_cost)-1));
    assert_null(bp_init_name((bp_init)4));
    assert_null(bp_init_name((bp_init)-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_layout_used_by_forward),
        cmocka_unit_test(test_init_deterministic),
        cmocka_unit_test(test_init_statistics),
        cmocka_unit_test(test_sigmoid_saturation),
        cmocka_unit_test(test_sigmoid_accuracy),
        cmocka_unit_test(test_softmax_large),
        cmocka_unit_test(test_workspace_classes),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
