/* Numerics at the edges: a network whose outputs are NaN never evaluates to a finite loss (the cost
 * kernel clamps its logarithms); a finite gradient that would overflow the optimizer's state stops
 * training with BP_ENUMERIC and finite parameters for every optimizer (Adam's squared gradient of
 * inputs of 1e30 used to leave +inf moments behind a BP_OK); a schedule is checked for every epoch
 * before the first (a rate that underflows to 0 at a later epoch is refused up front). */
#include "bp_test.h"

static const int sizes[] = {3, 4, 2};

static bp_dataset make_set(int count, float scale)
{
    bpt_rng r = bpt_rng_make(17);
    bp_dataset ds = {count, 3, 2, malloc(sizeof(float) * 3 * (size_t)count),
                     calloc(2 * (size_t)count, sizeof(float)), malloc(sizeof(int) * (size_t)count)};
    assert_true(ds.x && ds.y && ds.labels);
    bpt_fill(&r, ds.x, 3 * (size_t)count, -1, 1);
    for (int i = 0; i < 3 * count; i++)
        ds.x[i] *= scale;
    for (int j = 0; j < count; j++) {
        ds.labels[j] = j % 2;
        ds.y[2 * j + j % 2] = 1.0f;
    }
    return ds;
}

/* Every cost, on a network whose parameters are all NaN (or one of them): the loss is not finite
 * and the accuracy NaN (NaN outputs name no class); the same network with finite parameters has
 * a finite loss and an accuracy in [0, 1]. */
static void evaluate_nan_network(void **state)
{
    (void)state;
    static const bp_activation softmax[] = {BP_TANH, BP_SOFTMAX}, sigmoid[] = {BP_TANH, BP_SIGMOID};
    const bp_cost costs[] = {BP_QUADRATIC, BP_CROSS_ENTROPY, BP_NLL};
    bp_dataset ds = make_set(10, 1);
    for (int c = 0; c < 3; c++) {
        bp_net *net = bpt_net(3, sizes, costs[c] == BP_NLL ? softmax : sigmoid, costs[c]);
        double loss = 0, acc = 0;
        bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
        bpt_ok(bp_evaluate(net, &ds, &loss, &acc, NULL));
        assert_true(isfinite(loss) && acc >= 0 && acc <= 1);
        float *p = bpt_params(net);
        p[0] = NAN; /* w^2_11: the first hidden unit, then every output, is NaN */
        bpt_ok(bp_evaluate(net, &ds, &loss, &acc, NULL));
        if (isfinite(loss) || !isnan(acc))
            fail_msg("cost %s: one NaN parameter evaluates to loss %g, accuracy %g",
                     bp_cost_name(costs[c]), loss, acc);
        for (size_t i = 0; i < bpt_num_params(net); i++)
            p[i] = NAN;
        bpt_ok(bp_evaluate(net, &ds, &loss, &acc, NULL));
        if (isfinite(loss) || !isnan(acc))
            fail_msg("cost %s: an all-NaN network evaluates to loss %g, accuracy %g",
                     bp_cost_name(costs[c]), loss, acc);
        bp_net_free(net);
    }
    bpt_dataset_release(&ds);
}

/* The dropout gradient's cost of an all-NaN network is NaN too, for every cost (the cost kernel
 * clamps its logarithms, which would otherwise make it finite). */
static void dropout_cost_of_nan_network(void **state)
{
    (void)state;
    static const bp_activation softmax[] = {BP_TANH, BP_SOFTMAX}, sigmoid[] = {BP_TANH, BP_SIGMOID};
    const bp_cost costs[] = {BP_QUADRATIC, BP_CROSS_ENTROPY, BP_NLL};
    bp_dataset ds = make_set(10, 1);
    float rates[BP_MAX_LAYERS] = {0.1f, 0.2f};
    for (int c = 0; c < 3; c++) {
        bp_net *net = bpt_net(3, sizes, costs[c] == BP_NLL ? softmax : sigmoid, costs[c]);
        bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
        bp_workspace *ws = bpt_ws(net, ds.count);
        bpt_ok(bp_workspace_set_dropout(ws, rates));
        float *grad = bpt_grad(net);
        double cost = NAN;
        bpt_ok(bp_gradient_dropout(net, ws, 7, 0, 0, ds.count, ds.x, ds.n_features, ds.y,
                                   ds.n_targets, grad, &cost));
        assert_true(isfinite(cost));
        float *p = bpt_params(net);
        for (size_t i = 0; i < bpt_num_params(net); i++)
            p[i] = NAN;
        bpt_ok(bp_gradient_dropout(net, ws, 7, 1, 0, ds.count, ds.x, ds.n_features, ds.y,
                                   ds.n_targets, grad, &cost));
        if (isfinite(cost))
            fail_msg("cost %s: an all-NaN network's dropout gradient has the finite cost %g",
                     bp_cost_name(costs[c]), cost);
        free(grad);
        bp_workspace_free(ws);
        bp_net_free(net);
    }
    bpt_dataset_release(&ds);
}

static int never_called(const bp_progress *p, void *user)
{
    (void)p;
    ++*(int *)user;
    return 0;
}

/* Inputs of 1e30: the gradient is finite but its square is not. Every optimizer ends with
 * BP_ENUMERIC and the finite parameters it had; ordinary inputs train (BP_OK). */
static void huge_inputs_every_optimizer(void **state)
{
    (void)state;
    static const bp_activation acts[] = {BP_RELU, BP_SOFTMAX};
    bp_dataset huge = make_set(12, 1e30f), plain = make_set(12, 1);
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++) {
        bp_train_config cfg = {.epochs = 3, .batch_size = 4, .seed = 1,
                               .optim = {.kind = (bp_optimizer_kind)kind, .eta = 0.01f,
                                         .mu = 0.9f}};
        bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
        bpt_ok(bp_net_init(net, BP_INIT_HE, 2));
        bpt_assert_status(bp_train(net, &huge, NULL, &cfg, NULL), BP_ENUMERIC, "finite");
        const float *p = bpt_params(net);
        for (size_t i = 0; i < bpt_num_params(net); i++)
            if (!isfinite(p[i]))
                fail_msg("optimizer %d: parameter %zu is %g", kind, i, (double)p[i]);
        bpt_ok(bp_net_init(net, BP_INIT_HE, 2));
        bpt_ok(bp_train(net, &plain, NULL, &cfg, NULL));
        bp_net_free(net);
    }
    bpt_dataset_release(&huge);
    bpt_dataset_release(&plain);
}

/* eta 1e-45 (the smallest float) under a step schedule of gamma 1e-3: valid at epoch 0, 0 as a
 * float from epoch 1 on. A run of 2 epochs is refused before the first (no progress call, the
 * parameters untouched); a run of 1 epoch is fine. Cosine to eta_min 0 over many epochs: its
 * last epoch's rate, about eta pi^2 / (4 epochs^2) (5.6e-47 for eta 1e-34 over 2^20 epochs), is
 * refused the same way. */
static void schedule_checked_for_every_epoch(void **state)
{
    (void)state;
    static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_dataset ds = make_set(8, 1);
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 3));
    size_t P = bpt_num_params(net);
    float *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, bpt_params(net), P * sizeof *before);
    int calls = 0;
    bp_train_config cfg = {.epochs = 2, .batch_size = 4, .seed = 1, .progress = never_called,
                           .user = &calls,
                           .optim = {.kind = BP_OPT_SGD, .eta = 1e-45f},
                           .schedule = {.kind = BP_LR_STEP, .step_epochs = 1, .gamma = 1e-3f}};
    bpt_assert_status(bp_train(net, &ds, NULL, &cfg, NULL), BP_EVALUE, "epoch 1");
    assert_int_equal(calls, 0);
    assert_memory_equal(bpt_params(net), before, P * sizeof *before);
    cfg.schedule = (bp_schedule){.kind = BP_LR_COSINE};
    cfg.optim.eta = 1e-34f;
    cfg.epochs = 1 << 20;
    bpt_assert_status(bp_train(net, &ds, NULL, &cfg, NULL), BP_EVALUE, "epoch");
    assert_int_equal(calls, 0);
    float eta;
    bpt_assert_status(bp_schedule_eta(&cfg.schedule, 1e-34f, cfg.epochs - 1, cfg.epochs, &eta),
                      BP_EVALUE, "0");
    cfg.epochs = 1;
    cfg.schedule = (bp_schedule){.kind = BP_LR_STEP, .step_epochs = 1, .gamma = 1e-3f};
    cfg.optim.eta = 1e-45f;
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    assert_int_equal(calls, 8 / 4 + 1); /* two batches and the epoch */
    free(before);
    bp_net_free(net);
    bpt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(evaluate_nan_network),
        cmocka_unit_test(dropout_cost_of_nan_network),
        cmocka_unit_test(huge_inputs_every_optimizer),
        cmocka_unit_test(schedule_checked_for_every_epoch),
    };
    return cmocka_run_group_tests_name("numerics", tests, NULL, NULL);
}
