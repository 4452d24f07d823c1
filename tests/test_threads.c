/* A network is read-only during forward and backward: threads sharing one network, each with its
 * own workspace and gradient block, must get exactly the gradient and cost a single thread gets.
 * The threads start together (a barrier) so that their passes overlap; the tsan preset runs this
 * under ThreadSanitizer, which must report no race. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */

#include "bp_test.h"

#include <pthread.h>

enum { THREADS = 4, BATCH = 16, ROUNDS = 50 };

typedef struct job {
    const bp_net *net;
    const float *X, *Y;
    float *grad;
    bp_status status;
    double cost;
    pthread_barrier_t *start; /* NULL for the single-thread reference */
} job;

static const int sizes[] = {12, 20, 9, 5};
static const bp_activation acts[] = {BP_TANH, BP_RELU, BP_SOFTMAX};

/* ROUNDS gradients and costs of the same batch, summed, and of its first sample alone: many
 * batched and one-sample forward/backward passes over the shared net. */
static void *work(void *arg)
{
    job *j = arg;
    bp_workspace *ws = NULL;
    j->status = bp_workspace_create(&ws, j->net, BATCH);
    if (j->start)
        pthread_barrier_wait(j->start);
    for (int r = 0; r < ROUNDS && !j->status; r++) {
        double c = 0;
        j->status = bp_forward_batch(j->net, ws, BATCH, j->X, sizes[0]);
        if (!j->status)
            j->status = bp_cost_value(j->net, ws, j->Y, 5, &c);
        if (!j->status)
            j->status = bp_backward_batch(j->net, ws, BATCH, j->X, sizes[0], j->Y, 5, j->grad);
        if (!j->status)
            j->status = bp_forward(j->net, ws, j->X);
        if (!j->status)
            j->status = bp_backward(j->net, ws, j->X, j->Y, j->grad);
        j->cost += c;
    }
    bp_workspace_free(ws);
    return NULL;
}

static void shared_network_gives_single_thread_bits(void **state)
{
    (void)state;
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    assert_int_equal(bp_net_init(net, BP_INIT_XAVIER, 3), BP_OK);
    bpt_rng r = bpt_rng_make(11);
    float *X = bpt_matrix(&r, sizes[0], BATCH, sizes[0], -1, 1, 0);
    float *Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, 5, BATCH, 5, 0);
    size_t P = bpt_num_params(net);

    job ref = {net, X, Y, bpt_grad(net), BP_OK, 0, NULL};
    work(&ref);
    assert_int_equal(ref.status, BP_OK);

    job jobs[THREADS];
    pthread_t tid[THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){net, X, Y, bpt_grad(net), BP_OK, 0, &start};
        assert_int_equal(pthread_create(&tid[t], NULL, work, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(jobs[t].status, BP_OK);
        /* OPENBLAS_NUM_THREADS=1 (set by ctest): the same calls give the same bits. */
        assert_memory_equal(jobs[t].grad, ref.grad, P * sizeof(float));
        assert_memory_equal(&jobs[t].cost, &ref.cost, sizeof ref.cost);
        free(jobs[t].grad);
    }
    pthread_barrier_destroy(&start);
    assert_true(bpt_max_abs(ref.grad, P) > 0);
    free(ref.grad);
    free(X);
    free(Y);
    bp_net_free(net);
}

/* bp_predict on one shared network with both scalings: each thread's predictions are the
 * single thread's bits. */
typedef struct predict_job {
    const bp_net *net;
    const float *X;
    float Y[3 * BATCH];
    bp_status status;
    pthread_barrier_t *start;
} predict_job;

static void *predict_work(void *arg)
{
    predict_job *j = arg;
    bp_workspace *ws = NULL;
    j->status = bp_workspace_create(&ws, j->net, BATCH);
    if (j->start)
        pthread_barrier_wait(j->start);
    for (int r = 0; r < ROUNDS && !j->status; r++)
        j->status = bp_predict(j->net, ws, BATCH, j->X, 4, j->Y, 3);
    bp_workspace_free(ws);
    return NULL;
}

static void shared_scaled_network_predicts_single_thread_bits(void **state)
{
    (void)state;
    const int rs[] = {4, 10, 3};
    const bp_activation ra[] = {BP_TANH, BP_IDENTITY};
    const float m[] = {100, -1, 0, 5}, s[] = {30, 2, 1, 0.5f}, my[] = {1, 2, 3}, sy[] = {4, 5, 6};
    bp_net *net = bpt_net(3, rs, ra, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 4));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, my, sy));
    bpt_rng r = bpt_rng_make(12);
    float *X = bpt_matrix(&r, 4, BATCH, 4, -100, 100, 0);
    predict_job ref = {.net = net, .X = X}, jobs[THREADS];
    predict_work(&ref);
    assert_int_equal(ref.status, BP_OK);
    pthread_t tid[THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (predict_job){.net = net, .X = X, .start = &start};
        assert_int_equal(pthread_create(&tid[t], NULL, predict_work, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(jobs[t].status, BP_OK);
        assert_memory_equal(jobs[t].Y, ref.Y, sizeof ref.Y);
    }
    pthread_barrier_destroy(&start);
    free(X);
    bp_net_free(net);
}

/* The derivative passes share the network too: per thread, ROUNDS VJPs, JVPs and force-loss
 * gradients of one batch on a one-output SiLU network, unscaled and scaled on both sides (the
 * raw-unit factors read the network, write only the workspace); every thread gets the single
 * thread's bits. */
enum { DN1 = 5 };
typedef struct deriv_job {
    const bp_net *net;
    const float *X, *EF;
    float out[BATCH * DN1 + BATCH], *grad;
    bp_status status;
    pthread_barrier_t *start;
} deriv_job;

static void *deriv_work(void *arg)
{
    deriv_job *j = arg;
    bp_workspace *ws = NULL;
    j->status = bp_workspace_create_tangent(&ws, j->net, BATCH);
    if (j->start)
        pthread_barrier_wait(j->start);
    float ones[BATCH];
    for (int i = 0; i < BATCH; i++)
        ones[i] = 1.0f;
    for (int r = 0; r < ROUNDS && !j->status; r++) {
        j->status = bp_forward_batch(j->net, ws, BATCH, j->X, DN1);
        if (!j->status)
            j->status = bp_vjp_batch(j->net, ws, BATCH, ones, 1, j->out, DN1);
        if (!j->status)
            j->status = bp_jvp_batch(j->net, ws, BATCH, j->X, DN1, j->out + BATCH * DN1, 1);
        if (!j->status)
            j->status = bp_gradient_forces(j->net, ws, BATCH, j->X, DN1, j->EF, DN1 + 1,
                                           j->EF + 1, DN1 + 1, 1.0f, 0.5f, j->grad, NULL);
    }
    bp_workspace_free(ws);
    return NULL;
}

static void shared_derivatives(int scaled)
{
    const int dsizes[] = {DN1, 16, 1};
    const bp_activation dacts[] = {BP_SILU, BP_IDENTITY};
    bp_net *net = bpt_net(3, dsizes, dacts, BP_QUADRATIC);
    assert_int_equal(bp_net_init(net, BP_INIT_XAVIER, 4), BP_OK);
    const float m[DN1] = {1, -2, 0.5f, 3, 0}, s[DN1] = {2, 0.5f, 4, 1, 0.25f}, my = 5, sy = 3;
    if (scaled) {
        bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, m, s));
        bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, &my, &sy));
    }
    bpt_rng r = bpt_rng_make(12);
    float *X = bpt_matrix(&r, DN1, BATCH, DN1, -1, 1, 0);
    float *EF = bpt_matrix(&r, DN1 + 1, BATCH, DN1 + 1, -1, 1, 0);
    size_t P = bpt_num_params(net);
    deriv_job ref = {.net = net, .X = X, .EF = EF, .grad = bpt_grad(net)};
    deriv_work(&ref);
    assert_int_equal(ref.status, BP_OK);
    deriv_job jobs[THREADS];
    pthread_t tid[THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (deriv_job){.net = net, .X = X, .EF = EF, .grad = bpt_grad(net), .start = &start};
        assert_int_equal(pthread_create(&tid[t], NULL, deriv_work, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(jobs[t].status, BP_OK);
        assert_memory_equal(jobs[t].out, ref.out, sizeof ref.out);
        assert_memory_equal(jobs[t].grad, ref.grad, P * sizeof(float));
        free(jobs[t].grad);
    }
    pthread_barrier_destroy(&start);
    assert_true(bpt_max_abs(ref.grad, P) > 0 && bpt_max_abs(ref.out, BATCH * DN1) > 0);
    free(ref.grad);
    free(X);
    free(EF);
    bp_net_free(net);
}

static void derivatives_on_a_shared_network(void **state)
{
    (void)state;
    shared_derivatives(0);
}

static void derivatives_on_a_shared_scaled_network(void **state)
{
    (void)state;
    shared_derivatives(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_network_gives_single_thread_bits),
        cmocka_unit_test(shared_scaled_network_predicts_single_thread_bits),
        cmocka_unit_test(derivatives_on_a_shared_network),
        cmocka_unit_test(derivatives_on_a_shared_scaled_network)};
    return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
