/* The hot path allocates nothing: forward, backward (one sample and batch), cost, the SGD step,
 * every optimizer's step, the online step and a team's gradient (its threads already started)
 * are run with malloc, calloc and realloc counted. The test executable is
 * linked with -Wl,--wrap for those three, which redirects every call in the static library too. */
#include "bp_test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long allocations;

void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocations++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocations++;
    return __real_realloc(p, n);
}

static void hot_path_allocates_nothing(void **state)
{
    (void)state;
    const int sizes[] = {6, 9, 7, 4};
    const bp_activation acts[] = {BP_TANH, BP_RELU, BP_SOFTMAX};
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 1));
    bp_workspace *ws = bpt_ws(net, 8);
    bpt_rng r = bpt_rng_make(5);
    float *X = bpt_matrix(&r, 6, 8, 6, -1, 1, 0), *Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, 4, 8, 4, 0);
    float *grad = bpt_grad(net);
    bp_optim *opt[4];
    for (int k = 0; k < 4; k++) {
        bp_optim_config cfg = {.kind = (bp_optimizer_kind)k, .eta = 0.01f, .lambda = 1, .mu = 0.9f,
                               .clip_norm = 1};
        bpt_ok(bp_optim_create(&opt[k], net, &cfg));
    }
    double cost;
    int classes[8];
    bp_team *team = NULL;
    bpt_ok(bp_team_create(&team, net, 3, 8));

    long before = allocations;
    for (int rep = 0; rep < 3; rep++) {
        bpt_ok(bp_grad_zero(net, grad));
        bpt_ok(bp_forward(net, ws, X));
        bpt_ok(bp_backward(net, ws, X, Y, grad));
        bpt_ok(bp_forward_batch(net, ws, 8, X, 6));
        bpt_ok(bp_cost_value(net, ws, Y, 4, &cost));
        bpt_ok(bp_workspace_classes(ws, classes));
        bpt_ok(bp_backward_batch(net, ws, 8, X, 6, Y, 4, grad));
        for (int p = BP_PATH_AUTO; p <= BP_PATH_LOOPS; p++) { /* every kernel, batch 8 and 1 */
            bpt_ok(bp_workspace_set_path(ws, (bp_path)p));
            bpt_ok(bp_gradient_batch(net, ws, 8, X, 6, Y, 4, grad, &cost));
            bpt_ok(bp_gradient_batch(net, ws, 1, X, 6, Y, 4, grad, NULL));
        }
        bpt_ok(bp_sgd_step(net, grad, 0.01f, 8));
        for (int k = 0; k < 4; k++)
            bpt_ok(bp_optim_step(opt[k], net, grad, 8, 100, 0.01f));
        bpt_ok(bp_online_step(net, ws, X, Y, 0.01f, &cost));
        bpt_ok(bp_team_gradient(team, net, 8, X, 6, Y, 4, grad, &cost));
        bpt_ok(bp_team_gradient(team, net, 2, X, 6, Y, 4, grad, NULL));
    }
    assert_int_equal(allocations - before, 0);

    /* The counter works: creating a workspace allocates. */
    bp_workspace *other = bpt_ws(net, 2);
    assert_true(allocations > before);
    bp_workspace_free(other);

    bp_team_free(team);
    for (int k = 0; k < 4; k++)
        bp_optim_free(opt[k]);
    free(X);
    free(Y);
    free(grad);
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* Inference for embedders: bp_predict on raw data through both scalings allocates nothing. */
static void predict_allocates_nothing(void **state)
{
    (void)state;
    const int sizes[] = {3, 8, 2};
    const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    const float m[] = {10, 20, 30}, s[] = {2, 4, 8}, my[] = {-1, 1}, sy[] = {3, 0.5f};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 2));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, my, sy));
    bp_workspace *ws = bpt_ws(net, 5);
    bpt_rng r = bpt_rng_make(3);
    float *X = bpt_matrix(&r, 3, 5, 4, 0, 40, 0), Y[3 * 5];
    long before = allocations;
    for (int rep = 0; rep < 3; rep++) {
        bpt_ok(bp_predict(net, ws, 5, X, 4, Y, 3));
        bpt_ok(bp_predict(net, ws, 1, X, 4, Y, 3));
    }
    assert_int_equal(allocations - before, 0);
    assert_true(isfinite(Y[0]) && Y[0] != 0);
    free(X);
    bp_workspace_free(ws);
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(hot_path_allocates_nothing),
                                       cmocka_unit_test(predict_allocates_nothing)};
    return cmocka_run_group_tests_name("noalloc", tests, NULL, NULL);
}
