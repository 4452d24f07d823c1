/*
 * test_gradcheck.c - bp_gradcheck (float32 BLAS gradient against central differences of the cost
 * in double) for every output activation x cost and every hidden activation; a finite difference
 * computed independently here through the public forward and cost; per_layer sampling; and a
 * negative case where the check must fail.
 *
 * Threshold: max_rel_err < 1e-2 with step h = 1e-6 and floor 1e-4.
 *  - The finite difference is computed in double with the parameters in double: its truncation
 *    error is O(h^2) = 1e-12 and its rounding error about 1e-16 * C / h = 1e-10, negligible.
 *  - The analytic gradient is float32: for these nets (fan-in <= 5, batch 4, values O(1)) its
 *    absolute error is a few 1e-7. Relative to max(|g|, |fd|, 1e-4) that is at most a few 1e-3 for
 *    the smallest entries and about 1e-6 for the typical ones.
 *  - A wrong gradient (a missing sigma', a transposed weight, a diagonal softmax Jacobian under the
 *    quadratic cost, a factor 2) gives relative errors of order 1: the negative test below shows
 *    that a genuine disagreement (sigma'(0) = 0 at a ReLU kink) is reported as about 1.
 * ReLU and leaky ReLU have a kink at z = 0: every test asserts, before checking, that no
 * pre-activation of a (leaky) ReLU layer is within 1e-3 of 0, far more than h * |a| can move it.
 */
#include "bp_test.h"

#include <limits.h>

#define GC_STEP 1e-6
#define GC_FLOOR 1e-4
#define GC_THRESHOLD 1e-2
#define GC_BATCH 4
#define KINK_MARGIN 1e-3

typedef struct combo {
    bp_activation out;
    bp_cost cost;
} combo;

static const combo combos[] = {
    {BP_SIGMOID, BP_QUADRATIC},  {BP_TANH, BP_QUADRATIC},     {BP_RELU, BP_QUADRATIC},
    {BP_LEAKY_RELU, BP_QUADRATIC}, {BP_IDENTITY, BP_QUADRATIC}, {BP_SOFTMAX, BP_QUADRATIC},
    {BP_SIGMOID, BP_CROSS_ENTROPY}, {BP_SOFTMAX, BP_NLL},
};
#define NUM_COMBOS ((int)(sizeof combos / sizeof combos[0]))

static const bp_activation hidden_acts[5] = {BP_SIGMOID, BP_TANH, BP_RELU, BP_LEAKY_RELU,
                                             BP_IDENTITY};

static const char *act_name(bp_activation a)
{
    const char *n = bp_activation_name(a);
    return n ? n : "?";
}

/* Smallest |z^l| over the layers with a kink (relu, leaky relu), recomputed in double from the
 * parameters and the activations the BLAS forward left in ws (A^1 = X). */
static double min_kink_distance(bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx)
{
    bp_net_info info;
    bpt_ok(bp_net_describe(net, &info));
    bpt_ok(bp_forward_batch(net, ws, batch, X, ldx));
    const float *p = bpt_params(net);
    double best = INFINITY;
    for (int l = 2; l <= info.num_layers; l++) {
        bp_activation act = info.activations[l - 2];
        if (act != BP_RELU && act != BP_LEAKY_RELU)
            continue;
        const float *prev = X;
        int ldp = ldx;
        if (l > 2)
            bpt_ok(bp_workspace_activations(ws, l - 1, &prev, &ldp));
        bp_layer_view v;
        bpt_ok(bp_net_layer(net, l, &v));
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < v.rows; j++) {
                double z = p[v.b_offset + (size_t)j];
                for (int k = 0; k < v.cols; k++)
                    z += (double)p[v.w_offset + (size_t)k * (size_t)v.ld + (size_t)j] *
                         prev[(size_t)b * (size_t)ldp + (size_t)k];
                if (fabs(z) < best)
                    best = fabs(z);
            }
        }
    }
    return best;
}

/* Gradcheck one network over all its parameters; every layer below the threshold. The seed is
 * the first of seed, seed + 1000, ... (at most 20) whose parameters and inputs put no (leaky) ReLU
 * pre-activation within KINK_MARGIN of 0: deterministic, and it says so if none qualifies. */
static void check_net(int num_layers, const int *sizes, const bp_activation *acts, bp_cost cost,
                      uint64_t seed, const char *what)
{
    bp_net *net = bpt_net(num_layers, sizes, acts, cost);
    bp_workspace *ws = bpt_ws(net, GC_BATCH);
    const int n1 = sizes[0], nL = sizes[num_layers - 1];
    float *X = NULL, *Y = NULL;
    double kink = 0.0;
    for (int tries = 0; tries < 20 && !(kink > KINK_MARGIN); tries++, seed += 1000) {
        free(X);
        free(Y);
        bpt_ok(bp_net_init(net, BP_INIT_SCALED, seed));
        bpt_rng rng = bpt_rng_make(seed * 31 + 7);
        X = bpt_matrix(&rng, n1, GC_BATCH, n1 + 1, -1.0f, 1.0f, NAN);
        Y = bpt_targets(&rng, acts[num_layers - 2], cost, nL, GC_BATCH, nL, NAN);
        kink = min_kink_distance(net, ws, GC_BATCH, X, n1 + 1);
    }
    if (!(kink > KINK_MARGIN))
        fail_msg("%s: no seed keeps the pre-activations %g away from the kink", what, KINK_MARGIN);

    const size_t P = bpt_num_params(net);
    float *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, bpt_params(net), P * sizeof *before);

    bp_gradcheck_options opts = {GC_STEP, 0, seed, GC_FLOOR};
    double err[8];
    for (int i = 0; i < 8; i++)
        err[i] = -1.0;
    bpt_ok(bp_gradcheck(net, GC_BATCH, X, n1 + 1, Y, nL, &opts, err));
    for (int i = 0; i < num_layers - 1; i++) {
        if (!(isfinite(err[i]) && err[i] >= 0.0 && err[i] < GC_THRESHOLD))
            fail_msg("%s: layer %d max relative error %g (threshold %g)", what, i + 2, err[i],
                     GC_THRESHOLD);
    }
    for (int i = num_layers - 1; i < 8; i++)
        assert_true(err[i] == -1.0); /* nothing written past L-2 */
    double worst = 0.0;
    for (int i = 0; i < num_layers - 1; i++)
        worst = fmax(worst, err[i] / GC_THRESHOLD);
    bpt_report_margin(what, worst);
    /* The network is not modified. */
    assert_memory_equal(before, bpt_params(net), P * sizeof *before);

    free(before);
    free(X);
    free(Y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* Every output x cost, with each of the five hidden activations (3-4-3), and a deeper net with two
 * different hidden activations (3-5-4-3). */
static void test_every_combination(void **state)
{
    (void)state;
    char what[128];
    for (int c = 0; c < NUM_COMBOS; c++) {
        for (int h = 0; h < 5; h++) {
            const int sizes[] = {3, 4, 3};
            const bp_activation acts[] = {hidden_acts[h], combos[c].out};
            snprintf(what, sizeof what, "3-4-3 %s/%s cost %s", act_name(acts[0]),
                     act_name(acts[1]), bp_cost_name(combos[c].cost));
            check_net(3, sizes, acts, combos[c].cost, (uint64_t)(10 * c + h + 1), what);
        }
        const int sizes[] = {3, 5, 4, 3};
        const bp_activation acts[] = {hidden_acts[c % 5], hidden_acts[(c + 2) % 5], combos[c].out};
        snprintf(what, sizeof what, "3-5-4-3 %s/%s/%s cost %s", act_name(acts[0]),
                 act_name(acts[1]), act_name(acts[2]), bp_cost_name(combos[c].cost));
        check_net(4, sizes, acts, combos[c].cost, (uint64_t)(100 + c), what);
    }
}

/* An independent finite difference: perturb one float parameter by about 1e-2 in the block, run
 * bp_forward_batch + bp_cost_value (cost summed in double from float activations), and compare
 * (C+ - C-) / (p+ - p-) with bp_backward_batch's gradient, for the largest-|g| weight and bias of
 * every layer. With h = 1e-2 the truncation error is about h^2/6 |C'''| ~ 2e-5 relative and the
 * float rounding of the cost about 1e-7 C / 2h ~ 5e-6 C: agreement within 1e-2 relative is a
 * wide margin, while a wrong gradient misses it by far. */
static void own_fd(const int *sizes, const bp_activation *acts, bp_cost cost, uint64_t seed)
{
    const float h = 1e-2f;
    bp_net *net = bpt_net(3, sizes, acts, cost);
    bpt_ok(bp_net_init(net, BP_INIT_SCALED, seed));
    bp_workspace *ws = bpt_ws(net, GC_BATCH);
    bpt_rng rng = bpt_rng_make(seed + 17);
    /* Inputs in [0.5, 1.5) and the (leaky) ReLU outputs' biases set to 1 keep every output unit
     * active (z > 0, away from the kink) so that no layer's gradient vanishes. */
    float *X = bpt_matrix(&rng, sizes[0], GC_BATCH, sizes[0], 0.5f, 1.5f, NAN);
    float *Y = bpt_targets(&rng, acts[1], cost, sizes[2], GC_BATCH, sizes[2], NAN);
    float *g = bpt_grad(net);
    float *p = bpt_params(net);
    if (acts[1] == BP_RELU || acts[1] == BP_LEAKY_RELU) {
        bp_layer_view v3;
        bpt_ok(bp_net_layer(net, 3, &v3));
        for (int j = 0; j < v3.rows; j++)
            p[v3.b_offset + (size_t)j] = 1.0f;
    }
    bpt_ok(bp_forward_batch(net, ws, GC_BATCH, X, sizes[0]));
    bpt_ok(bp_backward_batch(net, ws, GC_BATCH, X, sizes[0], Y, sizes[2], g));

    for (int l = 2; l <= 3; l++) {
        bp_layer_view v;
        bpt_ok(bp_net_layer(net, l, &v));
        size_t ranges[2][2] = {{v.w_offset, (size_t)v.rows * (size_t)v.cols},
                               {v.b_offset, (size_t)v.rows}};
        for (int r = 0; r < 2; r++) {
            size_t best = ranges[r][0];
            for (size_t i = ranges[r][0]; i < ranges[r][0] + ranges[r][1]; i++)
                if (fabsf(g[i]) > fabsf(g[best]))
                    best = i;
            if (!(fabsf(g[best]) > 1e-3f))
                fail_msg("%s/%s %s: layer %d: largest gradient %g too small to test",
                         act_name(acts[0]), act_name(acts[1]), bp_cost_name(cost), l,
                         (double)g[best]);
            const float orig = p[best];
            const float plus = orig + h, minus = orig - h;
            double cp = NAN, cm = NAN;
            p[best] = plus;
            bpt_ok(bp_forward_batch(net, ws, GC_BATCH, X, sizes[0]));
            bpt_ok(bp_cost_value(net, ws, Y, sizes[2], &cp));
            p[best] = minus;
            bpt_ok(bp_forward_batch(net, ws, GC_BATCH, X, sizes[0]));
            bpt_ok(bp_cost_value(net, ws, Y, sizes[2], &cm));
            p[best] = orig;
            double fd = (cp - cm) / ((double)plus - (double)minus);
            double denom = fmax(fabs(g[best]), fabs(fd));
            if (!(fabs(g[best] - fd) <= 1e-2 * denom))
                fail_msg("%s/%s %s: layer %d %s parameter %zu: analytic %.8g, finite difference "
                         "%.8g",
                         act_name(acts[0]), act_name(acts[1]), bp_cost_name(cost), l,
                         r ? "bias" : "weight", best, (double)g[best], fd);
        }
    }
    free(g);
    free(X);
    free(Y);
    bp_workspace_free(ws);
    bp_net_free(net);
}

static void test_own_finite_difference(void **state)
{
    (void)state;
    const int sizes[] = {3, 4, 3};
    for (int c = 0; c < NUM_COMBOS; c++) {
        const bp_activation acts[] = {c % 2 ? BP_TANH : BP_SIGMOID, combos[c].out};
        own_fd(sizes, acts, combos[c].cost, (uint64_t)(500 + c));
    }
}

/* per_layer = 3: each of the L-1 entries is written, finite and small; entry L-1 is untouched.
 * opts = NULL (the defaults) also passes. */
static void test_per_layer_sampling(void **state)
{
    (void)state;
    const int sizes[] = {4, 6, 5, 3};
    const bp_activation acts[] = {BP_TANH, BP_SIGMOID, BP_SOFTMAX};
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 21));
    bpt_rng rng = bpt_rng_make(2121);
    float *X = bpt_matrix(&rng, 4, GC_BATCH, 4, -1.0f, 1.0f, NAN);
    float *Y = bpt_targets(&rng, BP_SOFTMAX, BP_NLL, 3, GC_BATCH, 5, NAN); /* ldy 5 > 3 */
    const double sentinel = -12345.0;

    for (uint64_t seed = 1; seed <= 3; seed++) {
        bp_gradcheck_options opts = {GC_STEP, 3, seed, GC_FLOOR};
        double err[4] = {sentinel, sentinel, sentinel, sentinel};
        bpt_ok(bp_gradcheck(net, GC_BATCH, X, 4, Y, 5, &opts, err));
        for (int i = 0; i < 3; i++)
            if (!(isfinite(err[i]) && err[i] >= 0.0 && err[i] < GC_THRESHOLD))
                fail_msg("seed %d layer %d: %g", (int)seed, i + 2, err[i]);
        assert_true(err[3] == sentinel);
    }
    double err[4] = {sentinel, sentinel, sentinel, sentinel};
    bpt_ok(bp_gradcheck(net, GC_BATCH, X, 4, Y, 5, NULL, err));
    for (int i = 0; i < 3; i++)
        if (!(isfinite(err[i]) && err[i] >= 0.0 && err[i] < GC_THRESHOLD))
            fail_msg("default options, layer %d: %g", i + 2, err[i]);
    assert_true(err[3] == sentinel);
    free(X);
    free(Y);
    bp_net_free(net);
}

/* The check can fail. Hidden ReLU unit 1 has zero weights and bias, so z = 0 exactly for every
 * sample: the analytic gradient of its weights and bias uses sigma'(0) = 0 and is 0, while the
 * central difference sees the one-sided slope 1 on the right, (C(b+h) - C(b-h))/2h = w^3_1 dC/da^3 / 2
 * != 0. The relative error of layer 2 is then |0 - fd| / |fd| = 1; layer 3 is unaffected. */
static void test_check_detects_disagreement(void **state)
{
    (void)state;
    const int sizes[] = {2, 2, 1};
    const bp_activation acts[] = {BP_RELU, BP_IDENTITY};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    float *p = bpt_params(net);
    bp_layer_view v2, v3;
    bpt_ok(bp_net_layer(net, 2, &v2));
    bpt_ok(bp_net_layer(net, 3, &v3));
    /* unit 1: all zero; unit 2: w = (0.5, -0.5), b = 0.25; output w^3 = (1, 0.5), b^3 = 0.1 */
    p[v2.w_offset + 0] = 0.0f;
    p[v2.w_offset + 1] = 0.5f;
    p[v2.w_offset + (size_t)v2.ld + 0] = 0.0f;
    p[v2.w_offset + (size_t)v2.ld + 1] = -0.5f;
    p[v2.b_offset + 0] = 0.0f;
    p[v2.b_offset + 1] = 0.25f;
    p[v3.w_offset + 0] = 1.0f;
    p[v3.w_offset + (size_t)v3.ld] = 0.5f;
    p[v3.b_offset] = 0.1f;
    const float X[2 * GC_BATCH] = {0.5f, 0.25f, -0.5f, 0.75f, 1.0f, -1.0f, 0.25f, 0.5f};
    const float Y[GC_BATCH] = {1.0f, -1.0f, 2.0f, 0.5f};
    bp_gradcheck_options opts = {GC_STEP, 0, 1, GC_FLOOR};
    double err[2] = {-1.0, -1.0};
    bpt_ok(bp_gradcheck(net, GC_BATCH, X, 2, Y, 1, &opts, err));
    if (!(err[0] > 0.5 && err[0] <= 1.0 + 1e-9))
        fail_msg("layer 2 (kink at z = 0): max relative error %g, expected about 1", err[0]);
    if (!(err[1] >= 0.0 && err[1] < GC_THRESHOLD))
        fail_msg("layer 3: max relative error %g, expected below %g", err[1], GC_THRESHOLD);
    bp_net_free(net);
}

/* per_layer at or above a layer's parameter count checks all of them, as per_layer = 0 does, to
 * the bit: drawing with replacement would miss some and, at INT_MAX, run 2^31 differences per
 * layer (hours on any network). The same for bp_vjpcheck's inputs. */
static void per_layer_beyond_the_layer_checks_all(void **state)
{
    (void)state;
    const int sizes[] = {2, 2, 1};
    const bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    bp_net *net = bpt_net(3, sizes, acts, BP_CROSS_ENTROPY);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    bpt_rng rng = bpt_rng_make(55);
    float *X = bpt_matrix(&rng, 2, 3, 2, -1.0f, 1.0f, NAN);
    float *Y = bpt_targets(&rng, BP_SIGMOID, BP_CROSS_ENTROPY, 1, 3, 1, NAN);
    float *V = bpt_matrix(&rng, 1, 3, 1, -1.0f, 1.0f, NAN);
    double all[2], some[2], vall, vsome;
    bpt_ok(bp_gradcheck(net, 3, X, 2, Y, 1, NULL, all));
    bpt_ok(bp_vjpcheck(net, 3, X, 2, V, 1, NULL, &vall));
    const int many[] = {6, 7, INT_MAX}; /* layer 2 has 6 parameters, layer 3 has 3 */
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 1; seed <= 8; seed++) { /* draws would miss the worst for some */
            bp_gradcheck_options o = {.per_layer = many[k], .seed = seed};
            bpt_ok(bp_gradcheck(net, 3, X, 2, Y, 1, &o, some));
            bpt_ok(bp_vjpcheck(net, 3, X, 2, V, 1, &o, &vsome));
            assert_memory_equal(some, all, sizeof all);
            assert_memory_equal(&vsome, &vall, sizeof vall);
        }
    free(X), free(Y), free(V);
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_combination),
        cmocka_unit_test(test_own_finite_difference),
        cmocka_unit_test(test_per_layer_sampling),
        cmocka_unit_test(per_layer_beyond_the_layer_checks_all),
        cmocka_unit_test(test_check_detects_disagreement),
    };
    return cmocka_run_group_tests_name("gradcheck", tests, NULL, NULL);
}
