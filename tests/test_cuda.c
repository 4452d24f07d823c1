/*
 * test_cuda.c - the cuBLAS backend (backprop_cuda.h), built with BACKPROP_CUDA only.
 *
 * Without a usable GPU (none present, no driver, or CUDA_VISIBLE_DEVICES="") the suite runs the
 * "cuda_nodevice" group - every entry point fails cleanly with BP_ECONFIG or BP_ENULL, nothing
 * leaks, nothing aborts - and then exits with 77, which ctest reports as skipped
 * (SKIP_RETURN_CODE): the GPU comparisons did not run. A failure of the no-device group is a
 * failure, not a skip.
 *
 * With a GPU, the "cuda" group compares, for every combination of test_oracle.c (output
 * activation x cost, hidden activations cycling, five shapes, batch 1 and 37, compact and strided
 * inputs), the device's forward output, cost and gradient with the naive double oracle and with
 * the CPU's BLAS path. Tolerances, |got - ref| <= atol + rtol*|ref|:
 *  - against the oracle: test_oracle.c's (outputs and costs rtol 1e-4, atol 1e-5; gradients
 *    rtol 1e-4, atol 1e-5 * max(1, ||ref||_inf)): the GPU computes in float32 as the CPU does,
 *    only in another order (cuBLAS's blocking, fused multiply-adds), which changes the rounding
 *    errors, not their size (at most about 2e-6 relative for these shapes, test_oracle.c);
 *  - against the CPU path: the same tolerances; each side is within half of them of the oracle
 *    in the worst case.
 * An optimizer step (SGD, momentum, Adam with L2) from the same gradient agrees with
 * bp_optim_step within rtol 1e-5, atol 1e-6 (the device contracts a*b+c into an FMA, one rounding
 * less per operation). Training: two bp_cuda_train runs with the same seed end in the same bits
 * (cuBLAS's reproducibility on one stream without atomics, fixed-order kernels); a run with
 * another seed does not; and three epochs of SGD agree with bp_train's within rtol 1e-3,
 * atol 1e-4 (the same batches: the same shuffles; the differences are float rounding compounded
 * over 24 steps).
 */
#include "bp_test.h"

#include "backprop_cuda.h"

enum { SKIP = 77 };

#define OUT_RTOL 1e-4
#define OUT_ATOL 1e-5
#define COST_RTOL 1e-4
#define COST_ATOL 1e-5
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5 /* times max(1, ||ref||_inf) */
#define STEP_RTOL 1e-5
#define STEP_ATOL 1e-6
#define TRAIN_RTOL 1e-3
#define TRAIN_ATOL 1e-4
#define OUT_PAD (-777.0f)

/* ---------------------------------------------------------------- without a GPU */

static bp_net *small_net(void)
{
    const int sizes[] = {3, 5, 2};
    const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
    return net;
}

static void nodevice_count_is_zero_with_a_reason(void **state)
{
    (void)state;
    int count = -1;
    bpt_ok(bp_cuda_device_count(&count));
    assert_int_equal(count, 0);
    assert_true(strstr(bp_last_error(), "cudaGetDeviceCount") != NULL);
    bpt_assert_status(bp_cuda_device_count(NULL), BP_ENULL, "count");
}

static void nodevice_create_fails_cleanly(void **state)
{
    (void)state;
    bp_net *net = small_net();
    bp_cuda *cu = (bp_cuda *)&cu; /* must come back NULL */
    bpt_assert_status(bp_cuda_create(&cu, net, 8, NULL), BP_ECONFIG, "no CUDA device");
    assert_null(cu);
    /* The argument checks come first, device or not. */
    bpt_assert_status(bp_cuda_create(NULL, net, 8, NULL), BP_ENULL, "out");
    bpt_assert_status(bp_cuda_create(&cu, NULL, 8, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_cuda_create(&cu, net, 0, NULL), BP_EDIM, "max_batch");
    bp_optim_config bad = {.kind = BP_OPT_SGD, .eta = -1.0f};
    bpt_assert_status(bp_cuda_create(&cu, net, 8, &bad), BP_EVALUE, "eta");
    bp_optim_config clip = {.kind = BP_OPT_SGD, .eta = 0.1f, .clip_norm = 1.0f};
    bpt_assert_status(bp_cuda_create(&cu, net, 8, &clip), BP_ECONFIG, "clip_norm");
    assert_null(cu);
    bp_cuda_free(NULL);
    bp_net_free(net);
}

static int first_class(const float *x) { return x[0] > 0.0f; }

static void nodevice_train_fails_cleanly(void **state)
{
    (void)state;
    bp_net *net = small_net();
    bp_dataset ds = bpt_dataset_classes(20, 3, 2, 5, first_class);
    size_t P = bpt_num_params(net);
    float *before = malloc(P * sizeof *before);
    const float *p;
    assert_non_null(before);
    bpt_ok(bp_net_params_const(net, &p));
    memcpy(before, p, P * sizeof *before);
    bp_train_config cfg = {.epochs = 1, .batch_size = 4,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}};
    bpt_assert_status(bp_cuda_train(net, &ds, NULL, &cfg, NULL), BP_ECONFIG, "no CUDA device");
    assert_memory_equal(before, p, P * sizeof *before); /* nothing was trained */
    free(before);
    cfg.patience = 2; /* refused before any device is looked for */
    bpt_assert_status(bp_cuda_train(net, &ds, &ds, &cfg, NULL), BP_ECONFIG, "patience");
    cfg.patience = 0;
    cfg.epochs = 0;
    bpt_assert_status(bp_cuda_train(net, &ds, NULL, &cfg, NULL), BP_EDIM, "epochs");
    bpt_assert_status(bp_cuda_train(NULL, &ds, NULL, &cfg, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_cuda_train(net, NULL, NULL, &cfg, NULL), BP_ENULL, "train");
    /* The calls on an object: NULL is refused before anything reaches CUDA. */
    float x[3] = {0}, y[2] = {0}, out[2];
    bpt_assert_status(bp_cuda_forward_batch(NULL, 1, x, 3, out, 2), BP_ENULL, "cu");
    bpt_assert_status(bp_cuda_gradient_batch(NULL, 1, x, 3, y, 2, NULL, NULL), BP_ENULL, "cu");
    bpt_assert_status(bp_cuda_step(NULL, 1, 1, 0.1f), BP_ENULL, "cu");
    bpt_assert_status(bp_cuda_set_params(NULL, net), BP_ENULL, "cu");
    bpt_assert_status(bp_cuda_get_params(NULL, net), BP_ENULL, "cu");
    bpt_dataset_release(&ds);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- with a GPU: the oracle suite */

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
    {3, {1, 1, 1}}, {3, {3, 5, 2}}, {4, {4, 7, 6, 3}}, {5, {5, 3, 8, 4, 2}}, {3, {40, 50, 30}},
};
enum { MAX_BATCH = 37 };

static void grad_compare(const char *what, const float *got, const float *ref, size_t n)
{
    double scale = bpt_max_abs(ref, n);
    bpt_assert_close_vec(what, got, ref, n, GRAD_ATOL * (scale > 1.0 ? scale : 1.0), GRAD_RTOL);
}

static bp_net *combo_net(int ci, int si, int batch)
{
    const shape *s = &shapes[si];
    bp_activation acts[4];
    for (int h = 0; h < s->num_layers - 2; h++)
        acts[h] = hidden_cycle[(ci + si + h) % 5];
    acts[s->num_layers - 2] = combos[ci].out;
    bp_net *net = bpt_net(s->num_layers, s->sizes, acts, combos[ci].cost);
    bpt_ok(bp_net_init(net, (ci + si) % 2 ? BP_INIT_LARGE : BP_INIT_SCALED,
                       (uint64_t)(100 * ci + 10 * si + batch)));
    return net;
}

/* One combination: the device's output (padding untouched), cost and gradient (NaN beforehand,
 * overwritten) against the oracle and the CPU's sgemm path. */
static void check_case(int ci, int si, int batch, int strided)
{
    const shape *s = &shapes[si];
    int L = s->num_layers, n1 = s->sizes[0], nL = s->sizes[L - 1];
    int ldx = strided ? n1 + 3 : n1, ldy = strided ? nL + 2 : nL, ldo = strided ? nL + 1 : nL;
    char what[160], label[240];
    snprintf(what, sizeof what, "%s shape %d batch %d%s", combos[ci].name, si, batch,
             strided ? " strided" : "");
    bp_net *net = combo_net(ci, si, batch);
    size_t P = bpt_num_params(net), nout = (size_t)ldo * (size_t)batch;
    bpt_rng rng = bpt_rng_make((uint64_t)(7919 * ci + 104729 * si + 31 * batch + strided));
    float *X = bpt_matrix(&rng, n1, batch, ldx, -1.0f, 1.0f, NAN);
    float *Y = bpt_targets(&rng, combos[ci].out, combos[ci].cost, nL, batch, ldy, NAN);
    float *ref = malloc(nout * sizeof *ref), *out = malloc(nout * sizeof *out);
    float *gn = bpt_grad(net), *gc = bpt_grad(net), *gg = bpt_grad(net);
    assert_non_null(ref);
    assert_non_null(out);
    double cost_naive, cost_cpu, cost_gpu = NAN;
    bpt_ok(bp_naive_forward(net, batch, X, ldx, ref, ldo));
    bpt_ok(bp_naive_backward(net, batch, X, ldx, Y, ldy, gn, &cost_naive));
    bp_workspace *ws = bpt_ws(net, MAX_BATCH);
    bpt_ok(bp_workspace_set_path(ws, BP_PATH_GEMM));
    bpt_ok(bp_gradient_batch(net, ws, batch, X, ldx, Y, ldy, gc, &cost_cpu));

    bp_cuda *cu = NULL;
    bpt_ok(bp_cuda_create(&cu, net, MAX_BATCH, NULL));
    for (size_t i = 0; i < nout; i++)
        out[i] = OUT_PAD;
    bpt_ok(bp_cuda_forward_batch(cu, batch, X, ldx, out, ldo));
    for (size_t i = 0; i < nout; i++)
        if ((int)(i % (size_t)ldo) >= nL && out[i] != OUT_PAD)
            fail_msg("%s: the padding of out[%zu] was written", what, i);
    snprintf(label, sizeof label, "%s: GPU forward vs oracle", what);
    bpt_assert_close_mat(label, out, ldo, ref, ldo, nL, batch, OUT_ATOL, OUT_RTOL);
    for (size_t i = 0; i < P; i++)
        gg[i] = NAN;
    bpt_ok(bp_cuda_gradient_batch(cu, batch, X, ldx, Y, ldy, gg, &cost_gpu));
    snprintf(label, sizeof label, "%s: GPU cost vs oracle", what);
    bpt_assert_close_scalar(label, cost_gpu, cost_naive, COST_ATOL, COST_RTOL);
    snprintf(label, sizeof label, "%s: GPU cost vs CPU", what);
    bpt_assert_close_scalar(label, cost_gpu, cost_cpu, COST_ATOL, COST_RTOL);
    snprintf(label, sizeof label, "%s: GPU gradient vs oracle", what);
    grad_compare(label, gg, gn, P);
    snprintf(label, sizeof label, "%s: GPU gradient vs CPU", what);
    grad_compare(label, gg, gc, P);
    bp_cuda_free(cu);
    bp_workspace_free(ws);
    free(gg);
    free(gc);
    free(gn);
    free(out);
    free(ref);
    free(X);
    free(Y);
    bp_net_free(net);
}

static void every_combination_matches_oracle_and_cpu(void **state)
{
    (void)state;
    for (int ci = 0; ci < (int)(sizeof combos / sizeof combos[0]); ci++)
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
            for (int strided = 0; strided < 2; strided++) {
                check_case(ci, si, 1, strided);
                check_case(ci, si, MAX_BATCH, strided);
            }
}

/* ---------------------------------------------------------------- with a GPU: steps, errors */

/* One step of kind from the device's own gradient, on both sides, twice (Adam's t = 2). */
static void step_matches_cpu(bp_optimizer_kind kind)
{
    const int sizes[] = {6, 9, 4};
    const bp_activation acts[] = {BP_SIGMOID, BP_SIGMOID};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC), *twin = bpt_net(3, sizes, acts,
                                                                          BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_SCALED, 3));
    size_t P = bpt_num_params(net);
    memcpy(bpt_params(twin), bpt_params(net), P * sizeof(float));
    bpt_rng rng = bpt_rng_make(11);
    float *X = bpt_matrix(&rng, 6, 10, 6, -1.0f, 1.0f, 0.0f);
    float *Y = bpt_targets(&rng, BP_SIGMOID, BP_QUADRATIC, 4, 10, 4, 0.0f);
    float *g = bpt_grad(net), *got = malloc(P * sizeof *got);
    assert_non_null(got);
    bp_optim_config cfg = {.kind = kind, .eta = 0.05f, .lambda = 0.5f, .mu = 0.9f};
    bp_optim *opt = NULL;
    bp_cuda *cu = NULL;
    bpt_ok(bp_optim_create(&opt, twin, &cfg));
    bpt_ok(bp_cuda_create(&cu, net, 10, &cfg));
    for (int s = 0; s < 2; s++) {
        bpt_ok(bp_cuda_gradient_batch(cu, 10, X, 6, Y, 4, g, NULL));
        bpt_ok(bp_cuda_step(cu, 10, 100, 0.05f));
        bpt_ok(bp_optim_step(opt, twin, g, 10, 100, 0.05f));
    }
    bpt_ok(bp_cuda_get_params(cu, net));
    bpt_assert_close_vec("device step vs bp_optim_step", bpt_params(net), bpt_params(twin), P,
                         STEP_ATOL, STEP_RTOL);
    /* A non-finite gradient: BP_ENUMERIC, the parameters untouched. */
    X[0] = NAN;
    memcpy(got, bpt_params(net), P * sizeof *got);
    bpt_ok(bp_cuda_gradient_batch(cu, 10, X, 6, Y, 4, NULL, NULL));
    bpt_assert_status(bp_cuda_step(cu, 10, 100, 0.05f), BP_ENUMERIC, "not finite");
    bpt_ok(bp_cuda_get_params(cu, net));
    assert_memory_equal(got, bpt_params(net), P * sizeof *got);
    bp_cuda_free(cu);
    bp_optim_free(opt);
    free(got);
    free(g);
    free(X);
    free(Y);
    bp_net_free(twin);
    bp_net_free(net);
}

static void steps_match_cpu(void **state)
{
    (void)state;
    step_matches_cpu(BP_OPT_SGD);
    step_matches_cpu(BP_OPT_MOMENTUM);
    step_matches_cpu(BP_OPT_ADAM);
}

static void device_errors(void **state)
{
    (void)state;
    bp_net *net = small_net();
    const int other_sizes[] = {3, 6, 2};
    const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *other = bpt_net(3, other_sizes, acts, BP_NLL);
    bp_cuda *cu = NULL;
    bpt_ok(bp_cuda_create(&cu, net, 4, NULL));
    float X[3 * 5] = {0}, Y[2 * 5] = {0}, out[2 * 5];
    bpt_assert_status(bp_cuda_forward_batch(cu, 5, X, 3, out, 2), BP_EBATCH, "max_batch");
    bpt_assert_status(bp_cuda_forward_batch(cu, 0, X, 3, out, 2), BP_EDIM, "batch");
    bpt_assert_status(bp_cuda_forward_batch(cu, 2, X, 2, out, 2), BP_ELD, "ldx");
    bpt_assert_status(bp_cuda_forward_batch(cu, 2, X, 3, out, 1), BP_ELD, "ldo");
    bpt_assert_status(bp_cuda_gradient_batch(cu, 2, X, 3, NULL, 2, NULL, NULL), BP_ENULL, "Y");
    bpt_assert_status(bp_cuda_gradient_batch(cu, 2, X, 3, Y, 1, NULL, NULL), BP_ELD, "ldy");
    bpt_assert_status(bp_cuda_step(cu, 2, 10, 0.1f), BP_ECONFIG, "without an optimizer");
    bpt_assert_status(bp_cuda_set_params(cu, other), BP_EMISMATCH, "shape");
    bpt_assert_status(bp_cuda_get_params(cu, other), BP_EMISMATCH, "shape");
    bp_cuda_free(cu);
    bp_optim_config sgd = {.kind = BP_OPT_SGD, .eta = 0.1f};
    bpt_ok(bp_cuda_create(&cu, net, 4, &sgd));
    bpt_assert_status(bp_cuda_step(cu, 0, 10, 0.1f), BP_EDIM, "m");
    bpt_assert_status(bp_cuda_step(cu, 2, 10, INFINITY), BP_EVALUE, "eta");
    bp_cuda_free(cu);
    bp_net_free(other);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- with a GPU: training */

static int quadrant(const float *x) { return (x[0] > 0.0f) + 2 * (x[1] > 0.0f); }

/* A trained copy of a fixed network: on the GPU or (cpu) with bp_train. */
static bp_net *trained(const bp_dataset *ds, uint64_t seed, bp_optimizer_kind kind, int cpu)
{
    const int sizes[] = {4, 16, 4};
    const bp_activation acts[] = {BP_RELU, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 9));
    bp_train_config cfg = {.epochs = 3, .batch_size = 25, .seed = seed,
                           .optim = {.kind = kind, .eta = kind == BP_OPT_ADAM ? 0.01f : 0.1f}};
    double best = 0;
    if (cpu)
        bpt_ok(bp_train(net, ds, ds, &cfg, &best));
    else
        bpt_ok(bp_cuda_train(net, ds, ds, &cfg, &best));
    assert_true(best >= 0.0 && best <= 1.0); /* an accuracy was reported */
    return net;
}

static void training_is_deterministic_and_matches_cpu(void **state)
{
    (void)state;
    bp_dataset ds = bpt_dataset_classes(200, 4, 4, 17, quadrant);
    bp_net *a = trained(&ds, 42, BP_OPT_ADAM, 0), *b = trained(&ds, 42, BP_OPT_ADAM, 0);
    bp_net *c = trained(&ds, 43, BP_OPT_ADAM, 0);
    size_t P = bpt_num_params(a);
    assert_memory_equal(bpt_params(a), bpt_params(b), P * sizeof(float));
    assert_memory_not_equal(bpt_params(a), bpt_params(c), P * sizeof(float));
    bp_net *g = trained(&ds, 42, BP_OPT_SGD, 0), *h = trained(&ds, 42, BP_OPT_SGD, 1);
    bpt_assert_close_vec("bp_cuda_train vs bp_train (SGD)", bpt_params(g), bpt_params(h), P,
                         TRAIN_ATOL, TRAIN_RTOL);
    bp_net_free(h);
    bp_net_free(g);
    bp_net_free(c);
    bp_net_free(b);
    bp_net_free(a);
    bpt_dataset_release(&ds);
}

int main(void)
{
    int count = 0;
    bp_cuda_device_count(&count);
    if (count == 0) {
        printf("test_cuda: no CUDA device (%s)\n", bp_last_error());
        const struct CMUnitTest nodevice[] = {
            cmocka_unit_test(nodevice_count_is_zero_with_a_reason),
            cmocka_unit_test(nodevice_create_fails_cleanly),
            cmocka_unit_test(nodevice_train_fails_cleanly),
        };
        int failed = cmocka_run_group_tests_name("cuda_nodevice", nodevice, NULL, NULL);
        if (failed)
            return failed;
        printf("test_cuda: skipped: the GPU comparisons need a CUDA device\n");
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_combination_matches_oracle_and_cpu),
        cmocka_unit_test(steps_match_cpu),
        cmocka_unit_test(device_errors),
        cmocka_unit_test(training_is_deterministic_and_matches_cpu),
    };
    return cmocka_run_group_tests_name("cuda", tests, NULL, NULL);
}
