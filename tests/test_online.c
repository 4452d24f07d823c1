/* Online learning (bp_online_step, and bp_train's batches of one sample with plain SGD):
 *  - one fused step is the step of the naive oracle's gradient, w - eta dC/dw, within float
 *    rounding (atol 1e-6, rtol 1e-5), and bp_forward + bp_backward + bp_sgd_step's within the same;
 *    its cost is C(y, a^L) before the step (bp_cost_value's bits after the loops' forward);
 *  - bp_train with batch 1 and plain SGD takes exactly this step (a one-sample set: the permutation
 *    is the identity), for 1 and 3 epochs; with momentum it does not (negative twin);
 *  - a step that could overflow, or a non-finite cost, fails with BP_ENUMERIC and leaves the
 *    parameters untouched, in bp_online_step and in bp_train;
 *  - the argument errors. */
#include "bp_test.h"

static const int sizes[] = {5, 8, 6, 3};
static const bp_activation acts[] = {BP_TANH, BP_SIGMOID, BP_SOFTMAX};
enum { N1 = 5, NL = 3 };

static bp_net *make_net(void)
{
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 7));
    return net;
}

static void one_step_is_the_gradient_step(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(3);
    float *x = bpt_matrix(&r, N1, 1, N1, -1, 1, 0);
    float *y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, 1, NL, 0);
    const float eta = 0.3f;
    bp_net *fused = make_net(), *ref = make_net();
    size_t P = bpt_num_params(fused);
    float *before = malloc(P * sizeof *before), *g = bpt_grad(ref), *naive = bpt_grad(ref);
    assert_non_null(before);
    memcpy(before, bpt_params(fused), P * sizeof *before);
    bp_workspace *ws = bpt_ws(fused, 1), *wr = bpt_ws(ref, 1);
    double cost = -1, c_ref = -2, c_naive = 0;
    bpt_ok(bp_naive_backward(ref, 1, x, N1, y, NL, naive, &c_naive));
    bpt_ok(bp_online_step(fused, ws, x, y, eta, &cost));
    /* the cost of the loops' forward (the online step's, bp_online_step's header): bp_forward's
     * sgemv may sum in another order (BLIS does), and one ulp of z can move a sigmoid's output */
    bpt_ok(bp_workspace_set_path(wr, BP_PATH_LOOPS));
    bpt_ok(bp_forward_batch(ref, wr, 1, x, N1));
    bpt_ok(bp_cost_value(ref, wr, y, NL, &c_ref));
    bpt_ok(bp_forward(ref, wr, x));
    bpt_ok(bp_backward(ref, wr, x, y, g));
    bpt_ok(bp_sgd_step(ref, g, eta, 1));
    assert_memory_equal(&cost, &c_ref, sizeof cost);
    bpt_assert_close_scalar("cost vs naive", cost, c_naive, 1e-6, 1e-5);
    for (size_t i = 0; i < P; i++)
        naive[i] = before[i] - eta * naive[i];
    bpt_assert_close_vec("fused vs naive step", bpt_params(fused), naive, P, 1e-6, 1e-5);
    bpt_assert_close_vec("fused vs backward + sgd", bpt_params(fused), bpt_params(ref), P, 1e-6,
                         1e-5);
    assert_true(memcmp(bpt_params(fused), before, P * sizeof *before) != 0); /* it did step */
    bpt_ok(bp_online_step(fused, ws, x, y, eta, NULL)); /* cost may be NULL */
    bp_workspace_free(ws);
    bp_workspace_free(wr);
    bp_net_free(fused);
    bp_net_free(ref);
    free(before);
    free(g);
    free(naive);
    free(x);
    free(y);
}

/* The online step runs its forward pass on the project's loops (at one BLAS thread): the
 * activations it leaves are bp_forward_batch's on a BP_PATH_LOOPS workspace, bit for bit, and
 * the step is the gradient step within rounding on every layer. */
static void online_forward_is_the_loops_forward(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(11);
    float *x = bpt_matrix(&r, N1, 1, N1, -1, 1, 0);
    float *y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, 1, NL, 0);
    bp_net *net = make_net();
    bp_workspace *loops = bpt_ws(net, 1), *gemm = bpt_ws(net, 1);
    bpt_ok(bp_workspace_set_path(loops, BP_PATH_LOOPS));
    bpt_ok(bp_workspace_set_path(gemm, BP_PATH_GEMM)); /* the online step ignores the path */
    bpt_ok(bp_forward_batch(net, loops, 1, x, N1));
    bpt_ok(bp_online_step(net, gemm, x, y, 0.1f, NULL));
    for (int l = 2; l <= 4; l++) {
        const float *a, *b;
        int lda, ldb;
        bpt_ok(bp_workspace_activations(gemm, l, &a, &lda));
        bpt_ok(bp_workspace_activations(loops, l, &b, &ldb));
        assert_memory_equal(a, b, (size_t)sizes[l - 1] * sizeof *a);
    }
    bp_workspace_free(loops);
    bp_workspace_free(gemm);
    bp_net_free(net);
    free(x);
    free(y);
}

/* A layer above 2^18 weights with two BLAS threads: the step's products go to sgemv and sger
 * (threaded) instead of the loops; still the gradient step within rounding. Skipped on a BLAS
 * whose thread count cannot be set. */
static void online_large_layer_threaded(void **state)
{
    (void)state;
    if (bp_blas_set_threads(2) != BP_OK)
        skip();
    static const int big[] = {600, 440, 3};
    static const bp_activation big_acts[] = {BP_TANH, BP_SOFTMAX};
    bpt_rng r = bpt_rng_make(13);
    float *x = bpt_matrix(&r, 600, 1, 600, -1, 1, 0);
    float *y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, 3, 1, 3, 0);
    bp_net *fused = bpt_net(3, big, big_acts, BP_NLL), *ref = bpt_net(3, big, big_acts, BP_NLL);
    bpt_ok(bp_net_init(fused, BP_INIT_XAVIER, 3));
    bpt_ok(bp_net_init(ref, BP_INIT_XAVIER, 3));
    size_t P = bpt_num_params(fused);
    float *g = bpt_grad(ref), *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, bpt_params(fused), P * sizeof *before);
    bp_workspace *ws = bpt_ws(fused, 1), *wr = bpt_ws(ref, 1);
    bp_status st = bp_online_step(fused, ws, x, y, 0.05f, NULL);
    bpt_ok(bp_forward(ref, wr, x));
    bpt_ok(bp_backward(ref, wr, x, y, g));
    bpt_ok(bp_sgd_step(ref, g, 0.05f, 1));
    bpt_ok(bp_blas_set_threads(1));
    bpt_ok(st);
    bpt_assert_close_vec("threaded fused vs backward + sgd", bpt_params(fused), bpt_params(ref), P,
                         1e-6, 1e-5);
    assert_true(memcmp(bpt_params(fused), before, P * sizeof *before) != 0);
    bp_workspace_free(ws);
    bp_workspace_free(wr);
    bp_net_free(fused);
    bp_net_free(ref);
    free(before);
    free(g);
    free(x);
    free(y);
}

/* A dataset of the one sample x, y with its label. */
static bp_dataset one_sample(float *x, float *y, int *label)
{
    *label = 0;
    for (int i = 1; i < NL; i++)
        if (y[i] > y[*label])
            *label = i;
    return (bp_dataset){1, N1, NL, x, y, label};
}

static void train_batch_one_takes_the_fused_step(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(5);
    float *x = bpt_matrix(&r, N1, 1, N1, -1, 1, 0);
    float *y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, 1, NL, 0);
    int label;
    bp_dataset ds = one_sample(x, y, &label);
    for (int epochs = 1; epochs <= 3; epochs += 2) {
        bp_net *trained = make_net(), *stepped = make_net();
        size_t P = bpt_num_params(trained);
        bp_train_config cfg = {.epochs = epochs, .batch_size = 1, .seed = 2,
                               .optim = {.kind = BP_OPT_SGD, .eta = 0.2f}};
        bpt_ok(bp_train(trained, &ds, NULL, &cfg, NULL));
        bp_workspace *ws = bpt_ws(stepped, 1);
        for (int e = 0; e < epochs; e++)
            bpt_ok(bp_online_step(stepped, ws, x, y, 0.2f, NULL));
        assert_memory_equal(bpt_params(trained), bpt_params(stepped), P * sizeof(float));
        /* negative twin: momentum (mu 0: the same arithmetic rule) goes through the gradient
         * block and bp_optim_step, whose rounding differs */
        bp_net *moment = make_net();
        cfg.optim.kind = BP_OPT_MOMENTUM;
        bpt_ok(bp_train(moment, &ds, NULL, &cfg, NULL));
        assert_true(memcmp(bpt_params(moment), bpt_params(stepped), P * sizeof(float)) != 0);
        bpt_assert_close_vec("momentum 0 vs fused", bpt_params(moment), bpt_params(stepped), P,
                             1e-6, 1e-5);
        bp_workspace_free(ws);
        bp_net_free(trained);
        bp_net_free(stepped);
        bp_net_free(moment);
    }
    free(x);
    free(y);
}

static void a_step_that_could_overflow_is_refused(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(9);
    float *x = bpt_matrix(&r, N1, 1, N1, -1, 1, 0);
    float *y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, 1, NL, 0);
    bp_net *net = make_net();
    size_t P = bpt_num_params(net);
    float *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, bpt_params(net), P * sizeof *before);
    bp_workspace *ws = bpt_ws(net, 1);
    bpt_assert_status(bp_online_step(net, ws, x, y, 1e38f, NULL), BP_ENUMERIC, "step");
    assert_memory_equal(bpt_params(net), before, P * sizeof *before);
    x[2] = INFINITY; /* tanh(inf) is finite; the delta of layer 2 times x is not */
    bpt_assert_status(bp_online_step(net, ws, x, y, 0.1f, NULL), BP_ENUMERIC, "not finite");
    assert_memory_equal(bpt_params(net), before, P * sizeof *before);
    x[2] = NAN; /* the cost clamps its logarithms (finite here); the deltas are NaN */
    bpt_assert_status(bp_online_step(net, ws, x, y, 0.1f, NULL), BP_ENUMERIC, "not finite");
    assert_memory_equal(bpt_params(net), before, P * sizeof *before);
    /* the same through bp_train: BP_ENUMERIC naming the batch, the parameters before it */
    int label;
    bp_dataset ds = one_sample(x, y, &label);
    bp_train_config cfg = {.epochs = 1, .batch_size = 1,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}};
    bpt_assert_status(bp_train(net, &ds, NULL, &cfg, NULL), BP_ENUMERIC, "epoch 0 batch 0");
    assert_memory_equal(bpt_params(net), before, P * sizeof *before);
    bp_workspace_free(ws);
    bp_net_free(net);
    free(before);
    free(x);
    free(y);
}

static void online_errors(void **state)
{
    (void)state;
    bp_net *net = make_net();
    static const int other_sizes[] = {5, 8, 6, 4};
    bp_net *other = bpt_net(4, other_sizes, acts, BP_NLL);
    bp_workspace *ws = bpt_ws(net, 1), *wo = bpt_ws(other, 1);
    float x[N1] = {0}, y[NL] = {1, 0, 0};
    bpt_assert_status(bp_online_step(NULL, ws, x, y, 0.1f, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_online_step(net, NULL, x, y, 0.1f, NULL), BP_ENULL, "ws");
    bpt_assert_status(bp_online_step(net, ws, NULL, y, 0.1f, NULL), BP_ENULL, "x");
    bpt_assert_status(bp_online_step(net, ws, x, NULL, 0.1f, NULL), BP_ENULL, "y");
    bpt_assert_status(bp_online_step(net, wo, x, y, 0.1f, NULL), BP_EMISMATCH, "workspace");
    bpt_assert_status(bp_online_step(net, ws, x, y, 0.0f, NULL), BP_EVALUE, "eta");
    bpt_assert_status(bp_online_step(net, ws, x, y, -1.0f, NULL), BP_EVALUE, "eta");
    bpt_assert_status(bp_online_step(net, ws, x, y, NAN, NULL), BP_EVALUE, "eta");
    bpt_ok(bp_online_step(net, ws, x, y, 0.1f, NULL));
    bp_workspace_free(ws);
    bp_workspace_free(wo);
    bp_net_free(net);
    bp_net_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_step_is_the_gradient_step),
        cmocka_unit_test(online_forward_is_the_loops_forward),
        cmocka_unit_test(online_large_layer_threaded),
        cmocka_unit_test(train_batch_one_takes_the_fused_step),
        cmocka_unit_test(a_step_that_could_overflow_is_refused),
        cmocka_unit_test(online_errors),
    };
    return cmocka_run_group_tests_name("online", tests, NULL, NULL);
}
