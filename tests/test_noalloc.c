/* The hot path allocates nothing: forward, backward (one sample and batch), cost, the SGD step,
 * every optimizer's step (with L2 and decoupled weight decay), the online step, a team's gradient
 * (its threads already started), the dropout gradient (masks allocated once by
 * bp_workspace_set_dropout) alone and across a team (bp_team_set_dropout), the VJP, JVP, Jacobians and the force-loss gradient are run with
 * malloc, calloc and realloc counted. The test executable is linked with -Wl,--wrap for those
 * three, which redirects every call in the static library too. */
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
    const bp_activation acts[] = {BP_TANH, BP_SOFTPLUS, BP_SOFTMAX};
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 1));
    bp_workspace *ws = bpt_ws(net, 8);
    bpt_rng r = bpt_rng_make(5);
    float *X = bpt_matrix(&r, 6, 8, 6, -1, 1, 0), *Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, 4, 8, 4, 0);
    float *grad = bpt_grad(net);
    bp_optim *opt[4];
    for (int k = 0; k < 4; k++) {
        bp_optim_config cfg = {.kind = (bp_optimizer_kind)k, .eta = 0.01f, .lambda = 1, .mu = 0.9f,
                               .clip_norm = 1, .weight_decay = 0.01f};
        bpt_ok(bp_optim_create(&opt[k], net, &cfg));
    }
    double cost;
    int classes[8];
    bp_team *team = NULL;
    bpt_ok(bp_team_create(&team, net, 3, 8));
    bp_workspace *wsd = bpt_ws(net, 8);
    const float rates[] = {0.1f, 0.5f, 0.2f};
    bpt_ok(bp_workspace_set_dropout(wsd, rates));
    bp_team *dteam = NULL;
    bpt_ok(bp_team_create(&dteam, net, 3, 8));
    bpt_ok(bp_team_set_dropout(dteam, rates));

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
            bpt_ok(bp_workspace_set_path(wsd, (bp_path)p));
            bpt_ok(bp_gradient_dropout(net, wsd, 1, (uint64_t)rep, 0, 8, X, 6, Y, 4, grad, &cost));
            bpt_ok(bp_gradient_dropout(net, wsd, 1, (uint64_t)rep, 3, 1, X, 6, Y, 4, grad, NULL));
        }
        bpt_ok(bp_sgd_step(net, grad, 0.01f, 8));
        for (int k = 0; k < 4; k++)
            bpt_ok(bp_optim_step(opt[k], net, grad, 8, 100, 0.01f));
        bpt_ok(bp_online_step(net, ws, X, Y, 0.01f, &cost));
        bpt_ok(bp_team_gradient(team, net, 8, X, 6, Y, 4, grad, &cost));
        bpt_ok(bp_team_gradient(team, net, 2, X, 6, Y, 4, grad, NULL));
        bpt_ok(bp_team_gradient_dropout(dteam, net, 1, (uint64_t)rep, 0, 8, X, 6, Y, 4, grad,
                                        &cost));
        bpt_ok(bp_team_gradient_dropout(dteam, net, 1, (uint64_t)rep, 5, 2, X, 6, Y, 4, grad,
                                        NULL));
    }
    assert_int_equal(allocations - before, 0);

    /* The derivative passes: VJP, JVP and Jacobians on the network above (a softplus layer keeps
     * z), the force-loss gradient on a one-output network, on every path. */
    const int fsizes[] = {6, 9, 1};
    const bp_activation facts[] = {BP_SILU, BP_IDENTITY};
    bp_net *fnet = bpt_net(3, fsizes, facts, BP_QUADRATIC);
    bpt_ok(bp_net_init(fnet, BP_INIT_XAVIER, 2));
    bp_workspace *tws = NULL;
    bpt_ok(bp_workspace_create_tangent(&tws, fnet, 8));
    float *V = bpt_matrix(&r, 4, 8, 4, -1, 1, 0), *G = bpt_matrix(&r, 6, 8, 6, 0, 0, 0);
    float *J = bpt_matrix(&r, 24, 8, 24, 0, 0, 0), *EF = bpt_matrix(&r, 7, 8, 7, -1, 1, 0);
    float *fgrad = bpt_grad(fnet);
    before = allocations;
    for (int p = BP_PATH_AUTO; p <= BP_PATH_LOOPS; p++) {
        bpt_ok(bp_workspace_set_path(ws, (bp_path)p));
        bpt_ok(bp_workspace_set_path(tws, (bp_path)p));
        bpt_ok(bp_forward_batch(net, ws, 8, X, 6));
        bpt_ok(bp_vjp_batch(net, ws, 8, V, 4, G, 6));
        bpt_ok(bp_jvp_batch(net, ws, 8, X, 6, V, 4));
        bpt_ok(bp_jacobian_batch(net, ws, 8, X, 6, J));
        bpt_ok(bp_gradient_forces(fnet, tws, 8, X, 6, EF, 7, EF + 1, 7, 1.0f, 0.5f, fgrad, &cost));
        bpt_ok(bp_gradient_forces(fnet, tws, 1, X, 6, EF, 7, EF + 1, 7, 1.0f, 0.0f, fgrad, NULL));
    }
    assert_int_equal(allocations - before, 0);
    free(V), free(G), free(J), free(EF), free(fgrad);
    bp_workspace_free(tws);
    bp_net_free(fnet);

    /* The counter works: creating a workspace allocates. */
    bp_workspace *other = bpt_ws(net, 2);
    assert_true(allocations > before);
    bp_workspace_free(other);

    bp_team_free(team);
    bp_team_free(dteam);
    for (int k = 0; k < 4; k++)
        bp_optim_free(opt[k]);
    free(X);
    free(Y);
    free(grad);
    bp_workspace_free(ws);
    bp_workspace_free(wsd);
    bp_net_free(net);
}

/* Inference for embedders: bp_predict on raw data through both scalings allocates nothing, nor
 * do the derivatives in raw units and the force loss on a scaled network. */
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

    /* the derivatives in raw units through both scalings, and the force loss on a scaled energy */
    const int fsizes[] = {3, 8, 1};
    bp_net *fnet = bpt_net(3, fsizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(fnet, BP_INIT_XAVIER, 4));
    bpt_ok(bp_net_set_scaling(fnet, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_net_set_scaling(fnet, BP_SCALE_TARGETS, my, sy));
    bp_workspace *tws = NULL;
    bpt_ok(bp_workspace_create_tangent(&tws, fnet, 5));
    float *EF = bpt_matrix(&r, 4, 5, 4, -1, 1, 0), G[3 * 5], A[2 * 5], J[6 * 5], grad[41];
    assert_int_equal(bpt_num_params(fnet), 41);
    before = allocations;
    for (int p = BP_PATH_AUTO; p <= BP_PATH_LOOPS; p++) {
        bpt_ok(bp_workspace_set_path(ws, (bp_path)p));
        bpt_ok(bp_workspace_set_path(tws, (bp_path)p));
        bpt_ok(bp_predict(net, ws, 5, X, 4, Y, 3));
        bpt_ok(bp_vjp_batch(net, ws, 5, Y, 3, G, 3));
        bpt_ok(bp_jvp_batch(net, ws, 5, X, 4, A, 2));
        bpt_ok(bp_jacobian_batch(net, ws, 5, X, 4, J));
        double cost;
        bpt_ok(bp_gradient_forces(fnet, tws, 5, X, 4, EF, 4, EF + 1, 4, 1.0f, 0.5f, grad, &cost));
        bpt_ok(bp_gradient_forces(fnet, tws, 1, X, 4, EF, 4, EF + 1, 4, 1.0f, 0.0f, grad, NULL));
    }
    assert_int_equal(allocations - before, 0);
    free(X), free(EF);
    bp_workspace_free(ws), bp_workspace_free(tws);
    bp_net_free(net), bp_net_free(fnet);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(hot_path_allocates_nothing),
                                       cmocka_unit_test(predict_allocates_nothing)};
    return cmocka_run_group_tests_name("noalloc", tests, NULL, NULL);
}
