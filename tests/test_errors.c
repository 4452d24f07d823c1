/*
 * test_errors.c - every error status reachable from the core API (network description, workspace,
 * forward/backward, cost, SGD step, naive reference, gradient check) is provoked; each test checks
 * the status, that bp_last_error() is non-empty and that it names the offending argument, and that
 * a failed create leaves its out-pointer NULL. Run under valgrind: the error paths leak nothing.
 */
#include "bp_test.h"

#include <limits.h>

/* A dummy non-NULL value for out-pointers that a failed call must reset to NULL. */
static char dummy_object;
#define NOT_NULL_NET ((bp_net *)(void *)&dummy_object)
#define NOT_NULL_WS ((bp_workspace *)(void *)&dummy_object)

/* Fixture: a 3-4-2 network (tanh, sigmoid, quadratic), a workspace for 5 samples, compact data. */
typedef struct fixture {
    bp_net *net;
    bp_workspace *ws;
    float X[3 * 5];
    float Y[3 * 5]; /* room for ldy = 3 in the mismatch test */
    float grad[4 * 3 + 4 + 2 * 4 + 2];
    float out[2 * 5];
} fixture;

static int setup(void **state)
{
    static const int sizes[] = {3, 4, 2};
    static const bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (bp_net_create(&f->net, 3, sizes, acts, BP_QUADRATIC) != BP_OK ||
        bp_net_init(f->net, BP_INIT_SCALED, 1) != BP_OK ||
        bp_workspace_create(&f->ws, f->net, 5) != BP_OK) {
        bp_net_free(f->net);
        free(f);
        return -1;
    }
    bpt_rng r = bpt_rng_make(3);
    bpt_fill(&r, f->X, 15, -1.0f, 1.0f);
    bpt_fill(&r, f->Y, 15, 0.1f, 0.9f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bp_workspace_free(f->ws);
    bp_net_free(f->net);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------- status names */
static void test_strerror(void **state)
{
    (void)state;
    for (int s = 0; s <= 13; s++) {
        const char *m = bp_strerror((bp_status)s);
        assert_non_null(m);
        assert_true(m[0] != '\0');
        for (int t = 0; t < s; t++)
            if (strcmp(m, bp_strerror((bp_status)t)) == 0)
                fail_msg("bp_strerror(%d) and bp_strerror(%d) are both \"%s\"", s, t, m);
    }
    const char *unknown = bp_strerror((bp_status)14);
    assert_non_null(unknown);
    assert_true(unknown[0] != '\0');
    assert_non_null(bp_strerror((bp_status)-1));
    assert_non_null(bp_strerror((bp_status)1000));
}

/* Before any failure the detail is empty (runs first in this group). */
static void test_last_error_initially_empty(void **state)
{
    (void)state;
    assert_non_null(bp_last_error());
    assert_string_equal(bp_last_error(), "");
}

static void test_free_null(void **state)
{
    (void)state;
    bp_net_free(NULL);
    bp_workspace_free(NULL);
    assert_true(1); /* reaching here is the test: no crash */
}

/* ---------------------------------------------------------------- bp_net_create */
static const int good_sizes[] = {3, 4, 2};
static const bp_activation good_acts[] = {BP_TANH, BP_SIGMOID};

static void test_create_null(void **state)
{
    (void)state;
    bp_net *net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(NULL, 3, good_sizes, good_acts, BP_QUADRATIC), BP_ENULL,
                      "out");
    bpt_assert_status(bp_net_create(&net, 3, NULL, good_acts, BP_QUADRATIC), BP_ENULL, "sizes");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, NULL, BP_QUADRATIC), BP_ENULL,
                      "activations");
    assert_null(net);
}

static void test_create_dim(void **state)
{
    (void)state;
    bp_net *net = NOT_NULL_NET;
    int sizes[BP_MAX_LAYERS + 1];
    bp_activation acts[BP_MAX_LAYERS];
    for (int i = 0; i <= BP_MAX_LAYERS; i++)
        sizes[i] = 2;
    for (int i = 0; i < BP_MAX_LAYERS; i++)
        acts[i] = BP_TANH;

    bpt_assert_status(bp_net_create(&net, 1, sizes, acts, BP_QUADRATIC), BP_EDIM, "layers");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 0, sizes, acts, BP_QUADRATIC), BP_EDIM, "layers");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, -3, sizes, acts, BP_QUADRATIC), BP_EDIM, "layers");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, BP_MAX_LAYERS + 1, sizes, acts, BP_QUADRATIC), BP_EDIM,
                      "layers");
    assert_null(net);
    /* BP_MAX_LAYERS itself is accepted. */
    bpt_ok(bp_net_create(&net, BP_MAX_LAYERS, sizes, acts, BP_QUADRATIC));
    bp_net_free(net);

    /* (BP_MAX_WIDTH is INT_MAX, so "a size > BP_MAX_WIDTH" cannot be written as an int.) */
    const int zero[] = {3, 0, 2}, negative[] = {3, 4, -1}, int_min[] = {3, INT_MIN, 2},
              zero_in[] = {0, 4, 2};
    const int *bad[] = {zero, negative, int_min, zero_in};
    for (int i = 0; i < 4; i++) {
        net = NOT_NULL_NET;
        bpt_assert_status(bp_net_create(&net, 3, bad[i], good_acts, BP_QUADRATIC), BP_EDIM,
                          "sizes");
        assert_null(net);
    }

    const bp_activation unknown_act[] = {(bp_activation)9, BP_SIGMOID};
    const bp_activation negative_act[] = {BP_TANH, (bp_activation)-1};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, unknown_act, BP_QUADRATIC), BP_EDIM,
                      "activation");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, negative_act, BP_QUADRATIC), BP_EDIM,
                      "activation");
    assert_null(net);
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, good_acts, (bp_cost)3), BP_EDIM, "cost");
    assert_null(net);
}

/* Parameter counts that do not fit size_t must be refused before any allocation, and the check
 * itself must not wrap around:
 *  - 64 layers of width INT_MAX: 63 * INT_MAX * (INT_MAX + 1) floats overflow size_t;
 *  - INT_MAX-INT_MAX-INT_MAX: 2^63 - 2^32 floats fit size_t, their bytes do not;
 *  - INT_MAX x 5, 1, INT_MAX, 1, 2: after eight layers the count is SIZE_MAX - 1, exactly; the
 *    ninth layer (2 x 1 weights, 2 biases) takes it past SIZE_MAX. A check written as
 *    w > SIZE_MAX - total - rows wraps (1 - 2) and lets the count wrap to 2 floats. */
static void test_create_overflow(void **state)
{
    (void)state;
    const int M = INT_MAX;
    int many[BP_MAX_LAYERS];
    bp_activation many_acts[BP_MAX_LAYERS - 1];
    for (int i = 0; i < BP_MAX_LAYERS; i++)
        many[i] = M;
    for (int i = 0; i < BP_MAX_LAYERS - 1; i++)
        many_acts[i] = BP_TANH;
    const int three[] = {M, M, M};
    const int wrap[] = {M, M, M, M, M, 1, M, 1, 2};
    struct {
        int num_layers;
        const int *sizes;
    } cases[] = {{BP_MAX_LAYERS, many}, {3, three}, {9, wrap}};
    for (int c = 0; c < 3; c++) {
        bp_net *net = NOT_NULL_NET;
        bp_status st = bp_net_create(&net, cases[c].num_layers, cases[c].sizes, many_acts,
                                     BP_QUADRATIC);
        if (st == BP_OK) {
            bp_net_info info;
            bpt_ok(bp_net_describe(net, &info));
            size_t p = info.num_params;
            bp_net_free(net);
            fail_msg("case %d: bp_net_create accepted a parameter count beyond SIZE_MAX "
                     "(num_params reads %zu)", c, p);
        }
        bpt_assert_status_(__FILE__, __LINE__, "bp_net_create (overflowing sizes)", st,
                           BP_EOVERFLOW, "param|overflow");
        assert_null(net);
    }
}

/* A count that fits size_t but no memory: 2^49 floats (2 PiB) fail with BP_ENOMEM, cleanly. */
static void test_create_nomem(void **state)
{
    (void)state;
    const int sizes[] = {1 << 24, 1 << 24, 1 << 24};
    const bp_activation acts[] = {BP_RELU, BP_IDENTITY};
    bp_net *net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, sizes, acts, BP_QUADRATIC), BP_ENOMEM,
                      "param|bytes|block");
    assert_null(net);
}

static void test_create_config(void **state)
{
    (void)state;
    bp_net *net = NOT_NULL_NET;
    const int sizes4[] = {3, 4, 4, 2};
    const bp_activation softmax_hidden[] = {BP_SOFTMAX, BP_TANH, BP_SIGMOID};
    bpt_assert_status(bp_net_create(&net, 4, sizes4, softmax_hidden, BP_QUADRATIC), BP_ECONFIG,
                      "softmax");
    assert_null(net);
    const bp_activation softmax_hidden2[] = {BP_TANH, BP_SOFTMAX, BP_SOFTMAX};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 4, sizes4, softmax_hidden2, BP_NLL), BP_ECONFIG,
                      "softmax");
    assert_null(net);

    const bp_activation sig_out[] = {BP_TANH, BP_SIGMOID};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, sig_out, BP_NLL), BP_ECONFIG,
                      "nll|likelihood");
    assert_null(net);
    const bp_activation id_out[] = {BP_TANH, BP_IDENTITY};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, id_out, BP_NLL), BP_ECONFIG,
                      "nll|likelihood");
    assert_null(net);

    const bp_activation soft_out[] = {BP_TANH, BP_SOFTMAX};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, soft_out, BP_CROSS_ENTROPY), BP_ECONFIG,
                      "cross");
    assert_null(net);
    const bp_activation tanh_out[] = {BP_SIGMOID, BP_TANH};
    net = NOT_NULL_NET;
    bpt_assert_status(bp_net_create(&net, 3, good_sizes, tanh_out, BP_CROSS_ENTROPY), BP_ECONFIG,
                      "cross");
    assert_null(net);
}

/* ---------------------------------------------------------------- network accessors */
static void test_net_accessors(void **state)
{
    fixture *f = *state;
    bp_net_info info;
    float *p = NULL;
    const float *cp = NULL;
    bp_layer_view v;

    bpt_assert_status(bp_net_init(NULL, BP_INIT_HE, 1), BP_ENULL, "net");
    bpt_assert_status(bp_net_init(f->net, (bp_init)4, 1), BP_EDIM, "scheme|init");
    bpt_assert_status(bp_net_init(f->net, (bp_init)-1, 1), BP_EDIM, "scheme|init");
    bpt_assert_status(bp_net_describe(NULL, &info), BP_ENULL, "net");
    bpt_assert_status(bp_net_describe(f->net, NULL), BP_ENULL, "info");
    bpt_assert_status(bp_net_params(NULL, &p), BP_ENULL, "net");
    bpt_assert_status(bp_net_params(f->net, NULL), BP_ENULL, "params");
    bpt_assert_status(bp_net_params_const(NULL, &cp), BP_ENULL, "net");
    bpt_assert_status(bp_net_params_const(f->net, NULL), BP_ENULL, "params");
    bpt_assert_status(bp_net_layer(NULL, 2, &v), BP_ENULL, "net");
    bpt_assert_status(bp_net_layer(f->net, 2, NULL), BP_ENULL, "view");
    const int bad_l[] = {1, 0, -1, 4, INT_MAX, INT_MIN};
    for (int i = 0; i < 6; i++)
        bpt_assert_status(bp_net_layer(f->net, bad_l[i], &v), BP_EDIM, "layer|l =|l is|l (");
    bpt_ok(bp_net_layer(f->net, 3, &v)); /* the last valid one */
    bpt_assert_status(bp_grad_zero(NULL, f->grad), BP_ENULL, "net");
    bpt_assert_status(bp_grad_zero(f->net, NULL), BP_ENULL, "grad");
}

/* ---------------------------------------------------------------- workspace */
static void test_workspace_create(void **state)
{
    fixture *f = *state;
    bp_workspace *ws = NOT_NULL_WS;
    bpt_assert_status(bp_workspace_create(NULL, f->net, 4), BP_ENULL, "out is|out (");
    bpt_assert_status(bp_workspace_create(&ws, NULL, 4), BP_ENULL, "net");
    assert_null(ws);
    ws = NOT_NULL_WS;
    bpt_assert_status(bp_workspace_create(&ws, f->net, 0), BP_EDIM, "batch");
    assert_null(ws);
    ws = NOT_NULL_WS;
    bpt_assert_status(bp_workspace_create(&ws, f->net, -7), BP_EDIM, "batch");
    assert_null(ws);
}

/* A network 2^20 wide and max_batch INT_MAX: 2^20 * (2^31 - 1) activations per layer (2^53
 * bytes, more than any address space). Since BP_MAX_WIDTH is INT_MAX and BLAS receives rows and
 * batch separately, the product need not fit int and the byte count fits size_t: the create must
 * fail cleanly, BP_ENOMEM (or BP_EOVERFLOW if the library caps the product), out NULL, the detail
 * naming max_batch. A true size_t overflow here needs a network of more than 2^31 parameters. */
static void test_workspace_too_large(void **state)
{
    (void)state;
    const int sizes[] = {2, 1 << 20, 2};
    const bp_activation acts[] = {BP_RELU, BP_IDENTITY};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    const int batches[] = {INT_MAX, 1 << 22};
    for (int i = 0; i < 2; i++) {
        bp_workspace *ws = NOT_NULL_WS;
        bp_status st = bp_workspace_create(&ws, net, batches[i]);
        if (st == BP_OK) {
            bp_workspace_free(ws);
            fail_msg("bp_workspace_create accepted max_batch %d on a 2^20-wide network",
                     batches[i]);
        }
        bpt_assert_status_(__FILE__, __LINE__, "bp_workspace_create", st,
                           st == BP_EOVERFLOW ? BP_EOVERFLOW : BP_ENOMEM, "max_batch");
        assert_null(ws);
    }
    bp_net_free(net);
}

static void test_workspace_activations(void **state)
{
    fixture *f = *state;
    const float *a = NULL;
    int ld = 0;
    bpt_ok(bp_forward_batch(f->net, f->ws, 5, f->X, 3));
    bpt_assert_status(bp_workspace_activations(NULL, 3, &a, &ld), BP_ENULL, "ws is|workspace");
    bpt_assert_status(bp_workspace_activations(f->ws, 3, NULL, &ld), BP_ENULL, "a is");
    bpt_assert_status(bp_workspace_activations(f->ws, 3, &a, NULL), BP_ENULL, "ld is");
    const int bad_l[] = {1, 0, -2, 4, INT_MAX};
    for (int i = 0; i < 5; i++)
        bpt_assert_status(bp_workspace_activations(f->ws, bad_l[i], &a, &ld), BP_EDIM,
                          "layer|l =|l is|l (");
    bpt_ok(bp_workspace_activations(f->ws, 2, &a, &ld));
}

/* ---------------------------------------------------------------- forward */
static void test_forward_errors(void **state)
{
    fixture *f = *state;
    bpt_assert_status(bp_forward(NULL, f->ws, f->X), BP_ENULL, "net");
    bpt_assert_status(bp_forward(f->net, NULL, f->X), BP_ENULL, "ws|workspace");
    bpt_assert_status(bp_forward(f->net, f->ws, NULL), BP_ENULL, "x is|x (");

    bpt_assert_status(bp_forward_batch(NULL, f->ws, 5, f->X, 3), BP_ENULL, "net");
    bpt_assert_status(bp_forward_batch(f->net, NULL, 5, f->X, 3), BP_ENULL, "ws|workspace");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 5, NULL, 3), BP_ENULL, "x is|x (");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 0, f->X, 3), BP_EDIM, "batch");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, -1, f->X, 3), BP_EDIM, "batch");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 6, f->X, 3), BP_EBATCH, "batch");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, INT_MAX, f->X, 3), BP_EBATCH, "batch");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 5, f->X, 2), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 5, f->X, 0), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_forward_batch(f->net, f->ws, 5, f->X, -3), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_ok(bp_forward_batch(f->net, f->ws, 5, f->X, 3));
}

/* A workspace created for 3-4-2 is refused by a 3-5-2 and a 3-4-3 network, everywhere. */
static void test_mismatch(void **state)
{
    fixture *f = *state;
    const int other_sizes[2][3] = {{3, 5, 2}, {3, 4, 3}};
    for (int o = 0; o < 2; o++) {
        bp_net *other = bpt_net(3, other_sizes[o], good_acts, BP_QUADRATIC);
        float *g = bpt_grad(other);
        double cost = 0.0;
        bpt_assert_status(bp_forward(other, f->ws, f->X), BP_EMISMATCH, "workspace|ws");
        bpt_assert_status(bp_forward_batch(other, f->ws, 5, f->X, 3), BP_EMISMATCH,
                          "workspace|ws");
        bpt_ok(bp_forward_batch(f->net, f->ws, 5, f->X, 3));
        const int ldy = other_sizes[o][2];
        bpt_assert_status(bp_backward_batch(other, f->ws, 5, f->X, 3, f->Y, ldy, g), BP_EMISMATCH,
                          "workspace|ws");
        bpt_assert_status(bp_cost_value(other, f->ws, f->Y, ldy, &cost), BP_EMISMATCH,
                          "workspace|ws");
        bpt_ok(bp_forward(f->net, f->ws, f->X));
        bpt_assert_status(bp_backward(other, f->ws, f->X, f->Y, g), BP_EMISMATCH,
                          "workspace|ws");
        free(g);
        bp_net_free(other);
    }
}

/* ---------------------------------------------------------------- backward */
static void test_backward_errors(void **state)
{
    fixture *f = *state;
    bpt_ok(bp_forward(f->net, f->ws, f->X));
    bpt_assert_status(bp_backward(NULL, f->ws, f->X, f->Y, f->grad), BP_ENULL, "net");
    bpt_assert_status(bp_backward(f->net, NULL, f->X, f->Y, f->grad), BP_ENULL, "ws|workspace");
    bpt_assert_status(bp_backward(f->net, f->ws, NULL, f->Y, f->grad), BP_ENULL, "x is|x (");
    bpt_assert_status(bp_backward(f->net, f->ws, f->X, NULL, f->grad), BP_ENULL, "y is|y (");
    bpt_assert_status(bp_backward(f->net, f->ws, f->X, f->Y, NULL), BP_ENULL, "grad");

    bpt_ok(bp_forward_batch(f->net, f->ws, 5, f->X, 3));
    bpt_assert_status(bp_backward_batch(NULL, f->ws, 5, f->X, 3, f->Y, 2, f->grad), BP_ENULL,
                      "net");
    bpt_assert_status(bp_backward_batch(f->net, NULL, 5, f->X, 3, f->Y, 2, f->grad), BP_ENULL,
                      "ws|workspace");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, NULL, 3, f->Y, 2, f->grad), BP_ENULL,
                      "x is|x (");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 3, NULL, 2, f->grad), BP_ENULL,
                      "y is|y (");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 3, f->Y, 2, NULL), BP_ENULL,
                      "grad");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 0, f->X, 3, f->Y, 2, f->grad), BP_EDIM,
                      "batch");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 4, f->X, 3, f->Y, 2, f->grad), BP_EBATCH,
                      "batch");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 6, f->X, 3, f->Y, 2, f->grad), BP_EBATCH,
                      "batch");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 2, f->Y, 2, f->grad), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 3, f->Y, 1, f->grad), BP_ELD,
                      "ldy|leading dimension of y");
    /* bp_backward (one sample) after a batch forward of 5. */
    bpt_assert_status(bp_backward(f->net, f->ws, f->X, f->Y, f->grad), BP_EBATCH, "batch|sample");
    /* After all those failures, the forward of 5 still serves a backward of 5. */
    memset(f->grad, 0, sizeof f->grad);
    bpt_ok(bp_backward_batch(f->net, f->ws, 5, f->X, 3, f->Y, 2, f->grad));
    /* bp_gradient_batch checks what forward and backward check (the fixture's max_batch is 5). */
    bpt_assert_status(bp_gradient_batch(NULL, f->ws, 5, f->X, 3, f->Y, 2, f->grad, NULL),
                      BP_ENULL, "net");
    bpt_assert_status(bp_gradient_batch(f->net, f->ws, 5, NULL, 3, f->Y, 2, f->grad, NULL),
                      BP_ENULL, "x is|x (");
    bpt_assert_status(bp_gradient_batch(f->net, f->ws, 5, f->X, 3, NULL, 2, f->grad, NULL),
                      BP_ENULL, "y is|y (");
    bpt_assert_status(bp_gradient_batch(f->net, f->ws, 5, f->X, 3, f->Y, 2, NULL, NULL), BP_ENULL,
                      "grad");
    bpt_assert_status(bp_gradient_batch(f->net, f->ws, 6, f->X, 3, f->Y, 2, f->grad, NULL),
                      BP_EBATCH, "batch");
    bpt_assert_status(bp_gradient_batch(f->net, f->ws, 5, f->X, 3, f->Y, 1, f->grad, NULL),
                      BP_ELD, "ldy|leading dimension of y");
    /* A workspace's path must be a bp_path. */
    bpt_assert_status(bp_workspace_set_path(NULL, BP_PATH_AUTO), BP_ENULL, "ws");
    bpt_assert_status(bp_workspace_set_path(f->ws, (bp_path)3), BP_EDIM, "path");
    bpt_assert_status(bp_workspace_set_path(f->ws, (bp_path)-1), BP_EDIM, "path");
    /* And a batch backward of 5 after a single-sample forward is refused. */
    bpt_ok(bp_forward(f->net, f->ws, f->X));
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 3, f->Y, 2, f->grad), BP_EBATCH,
                      "batch");
}

static void test_cost_errors(void **state)
{
    fixture *f = *state;
    double cost = 0.0;
    bpt_ok(bp_forward_batch(f->net, f->ws, 5, f->X, 3));
    bpt_assert_status(bp_cost_value(NULL, f->ws, f->Y, 2, &cost), BP_ENULL, "net");
    bpt_assert_status(bp_cost_value(f->net, NULL, f->Y, 2, &cost), BP_ENULL, "ws|workspace");
    bpt_assert_status(bp_cost_value(f->net, f->ws, NULL, 2, &cost), BP_ENULL, "y is|y (");
    bpt_assert_status(bp_cost_value(f->net, f->ws, f->Y, 2, NULL), BP_ENULL, "cost");
    bpt_assert_status(bp_cost_value(f->net, f->ws, f->Y, 1, &cost), BP_ELD,
                      "ldy|leading dimension of y");
    bpt_assert_status(bp_cost_value(f->net, f->ws, f->Y, 0, &cost), BP_ELD,
                      "ldy|leading dimension of y");
    bpt_ok(bp_cost_value(f->net, f->ws, f->Y, 2, &cost));
}

/* A fresh workspace has no forward pass: backward and cost are refused (the header documents
 * BP_EBATCH for backward "after another batch"; for bp_cost_value it lists no such status, see the
 * report). */
static void test_before_any_forward(void **state)
{
    fixture *f = *state;
    double cost = 0.0;
    bpt_assert_status(bp_backward(f->net, f->ws, f->X, f->Y, f->grad), BP_EBATCH, "forward|batch");
    bpt_assert_status(bp_backward_batch(f->net, f->ws, 5, f->X, 3, f->Y, 2, f->grad), BP_EBATCH,
                      "forward|batch");
    bpt_assert_status(bp_cost_value(f->net, f->ws, f->Y, 2, &cost), BP_EBATCH, "forward|batch");
}

/* ---------------------------------------------------------------- SGD step */
static void test_sgd_errors(void **state)
{
    fixture *f = *state;
    const size_t P = bpt_num_params(f->net);
    float *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, bpt_params(f->net), P * sizeof *before);
    for (size_t i = 0; i < P; i++)
        f->grad[i] = 1.0f;

    bpt_assert_status(bp_sgd_step(NULL, f->grad, 0.1f, 1), BP_ENULL, "net");
    bpt_assert_status(bp_sgd_step(f->net, NULL, 0.1f, 1), BP_ENULL, "grad");
    bpt_assert_status(bp_sgd_step(f->net, f->grad, 0.1f, 0), BP_EDIM, "m is|m =|m (");
    bpt_assert_status(bp_sgd_step(f->net, f->grad, 0.1f, -4), BP_EDIM, "m is|m =|m (");
    bpt_assert_status(bp_sgd_step(f->net, f->grad, NAN, 1), BP_EVALUE, "eta");
    bpt_assert_status(bp_sgd_step(f->net, f->grad, INFINITY, 1), BP_EVALUE, "eta");
    bpt_assert_status(bp_sgd_step(f->net, f->grad, -INFINITY, 1), BP_EVALUE, "eta");
    /* No failed step touched the parameters. */
    assert_memory_equal(before, bpt_params(f->net), P * sizeof *before);
    /* The positive twin: the same call with valid arguments changes them. */
    bpt_ok(bp_sgd_step(f->net, f->grad, 0.1f, 1));
    assert_true(memcmp(before, bpt_params(f->net), P * sizeof *before) != 0);
    free(before);
}

/* ---------------------------------------------------------------- naive reference */
static void test_naive_errors(void **state)
{
    fixture *f = *state;
    double cost = 0.0;
    bpt_assert_status(bp_naive_forward(NULL, 5, f->X, 3, f->out, 2), BP_ENULL, "net");
    bpt_assert_status(bp_naive_forward(f->net, 5, NULL, 3, f->out, 2), BP_ENULL, "x is|x (");
    bpt_assert_status(bp_naive_forward(f->net, 5, f->X, 3, NULL, 2), BP_ENULL, "out is|out (");
    bpt_assert_status(bp_naive_forward(f->net, 0, f->X, 3, f->out, 2), BP_EDIM, "batch");
    bpt_assert_status(bp_naive_forward(f->net, -5, f->X, 3, f->out, 2), BP_EDIM, "batch");
    bpt_assert_status(bp_naive_forward(f->net, 5, f->X, 2, f->out, 2), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_naive_forward(f->net, 5, f->X, 3, f->out, 1), BP_ELD,
                      "ldo|leading dimension of out");

    bpt_assert_status(bp_naive_backward(NULL, 5, f->X, 3, f->Y, 2, f->grad, &cost), BP_ENULL,
                      "net");
    bpt_assert_status(bp_naive_backward(f->net, 5, NULL, 3, f->Y, 2, f->grad, &cost), BP_ENULL,
                      "x is|x (");
    bpt_assert_status(bp_naive_backward(f->net, 5, f->X, 3, NULL, 2, f->grad, &cost), BP_ENULL,
                      "y is|y (");
    bpt_assert_status(bp_naive_backward(f->net, 5, f->X, 3, f->Y, 2, NULL, &cost), BP_ENULL,
                      "grad");
    bpt_assert_status(bp_naive_backward(f->net, 0, f->X, 3, f->Y, 2, f->grad, &cost), BP_EDIM,
                      "batch");
    bpt_assert_status(bp_naive_backward(f->net, 5, f->X, 1, f->Y, 2, f->grad, &cost), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_naive_backward(f->net, 5, f->X, 3, f->Y, 1, f->grad, &cost), BP_ELD,
                      "ldy|leading dimension of y");
    /* cost may be NULL */
    memset(f->grad, 0, sizeof f->grad);
    bpt_ok(bp_naive_backward(f->net, 5, f->X, 3, f->Y, 2, f->grad, NULL));
}

/* ---------------------------------------------------------------- gradient check */
static void test_gradcheck_errors(void **state)
{
    fixture *f = *state;
    double err[2];
    bp_gradcheck_options o = {0.0, 0, 1, 0.0};
    bpt_assert_status(bp_gradcheck(NULL, 5, f->X, 3, f->Y, 2, &o, err), BP_ENULL, "net");
    bpt_assert_status(bp_gradcheck(f->net, 5, NULL, 3, f->Y, 2, &o, err), BP_ENULL, "x is|x (");
    bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, NULL, 2, &o, err), BP_ENULL, "y is|y (");
    bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 2, &o, NULL), BP_ENULL,
                      "max_rel_err|err");
    bpt_assert_status(bp_gradcheck(f->net, 0, f->X, 3, f->Y, 2, &o, err), BP_EDIM, "batch");
    bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 2, f->Y, 2, &o, err), BP_ELD,
                      "ldx|leading dimension of x");
    bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 1, &o, err), BP_ELD,
                      "ldy|leading dimension of y");

    bp_gradcheck_options bad_step[3] = {{NAN, 0, 1, 0.0}, {-1e-6, 0, 1, 0.0}, {INFINITY, 0, 1, 0.0}};
    for (int i = 0; i < 3; i++)
        bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 2, &bad_step[i], err), BP_EVALUE,
                          "step");
    bp_gradcheck_options bad_floor[2] = {{0.0, 0, 1, NAN}, {0.0, 0, 1, -1.0}};
    for (int i = 0; i < 2; i++)
        bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 2, &bad_floor[i], err), BP_EVALUE,
                          "floor");
    bp_gradcheck_options bad_per_layer = {0.0, -1, 1, 0.0};
    bpt_assert_status(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 2, &bad_per_layer, err), BP_EDIM,
                      "per_layer");
    /* zeros select the defaults */
    bpt_ok(bp_gradcheck(f->net, 5, f->X, 3, f->Y, 2, &o, err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_error_initially_empty),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_create_null),
        cmocka_unit_test(test_create_dim),
        cmocka_unit_test(test_create_overflow),
        cmocka_unit_test(test_create_nomem),
        cmocka_unit_test(test_create_config),
        cmocka_unit_test_setup_teardown(test_net_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_create, setup, teardown),
        cmocka_unit_test(test_workspace_too_large),
        cmocka_unit_test_setup_teardown(test_workspace_activations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_any_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sgd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_naive_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gradcheck_errors, setup, teardown),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
