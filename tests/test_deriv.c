/* Derivatives with respect to the inputs and the energy + force loss (src/deriv.c): the VJP, the
 * JVP and the Jacobians of the BLAS path against the naive reference in double (bp_naive_vjp,
 * bp_naive_jvp) and against central differences of the outputs (bp_vjpcheck, bp_jvpcheck), for
 * every activation, several shapes, batches of 1 and more, padded leading dimensions and every
 * bp_path; the duality u^T (VJP v) = v^T (JVP u); the force-loss gradient against its naive
 * double implementation and central differences of the loss (bp_forcecheck), and with w_F = 0
 * against bp_gradient_batch bit for bit; softplus, SiLU and GELU against libm in double; every error.
 *
 * Tolerances. Float against double: each product sums at most a few dozen terms of size ~1, so
 * the float path is within a few 1e-7 relative of the double one; atol 1e-5 (scaled by the
 * result's magnitude) + rtol 1e-4 leaves a margin of 10-100 (BPT_VERBOSE=1 prints it). Central
 * differences with h = 1e-6 in double: truncation ~1e-12, rounding ~1e-10, so the finite
 * differences are exact to float precision, and the check's relative error (floor 1e-4) is that
 * of the float path: a few 1e-5 at worst; the threshold is 1e-3. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, close */

#include "bp_test.h"

#include <unistd.h>

#define CHECK_THRESHOLD 1e-3

static const bp_path paths[] = {BP_PATH_AUTO, BP_PATH_GEMM, BP_PATH_LOOPS};

typedef struct shape {
    int L;
    int sizes[5];
} shape;

/* n^L < n^1, n^L = 1, no hidden layer, n^L > n^1 (the Jacobian's JVP mode), a deeper one */
static const shape shapes[] = {{4, {5, 7, 4, 3}}, {3, {3, 6, 1}}, {2, {4, 3}},
                               {3, {2, 5, 6}},    {5, {3, 4, 5, 4, 2}}};

static const bp_activation hidden_acts[] = {BP_SIGMOID,  BP_TANH,     BP_RELU, BP_LEAKY_RELU,
                                            BP_IDENTITY, BP_SOFTPLUS, BP_SILU, BP_GELU};
static const bp_activation output_acts[] = {BP_IDENTITY, BP_SIGMOID,  BP_TANH,
                                            BP_SOFTMAX,  BP_SOFTPLUS, BP_SILU, BP_GELU};

static bp_net *make_net(const shape *sh, bp_activation hidden, bp_activation out, uint64_t seed)
{
    bp_activation acts[4];
    for (int i = 0; i < sh->L - 1; i++)
        acts[i] = i == sh->L - 2 ? out : hidden;
    bp_net *net = bpt_net(sh->L, sh->sizes, acts, out == BP_SOFTMAX ? BP_NLL : BP_QUADRATIC);
    bpt_fill_params(net, seed, -0.9f, 0.9f);
    return net;
}

/* |got - ref| within 1e-5 of ref's magnitude + 1e-4 relative. */
static void assert_matches(const char *what, const float *got, int ldg, const float *ref, int rows,
                           int cols)
{
    double scale = bpt_max_abs(ref, (size_t)rows * (size_t)cols);
    bpt_assert_close_mat(what, got, ldg, ref, rows, rows, cols, 1e-5 * (1 + scale), 1e-4);
}

/* VJP and JVP of one network and batch on one path, against the naive reference (results padded
 * with NaN rows that must stay untouched), and against central differences. */
static void check_vjp_jvp(const bp_net *net, const shape *sh, int batch, bp_path path,
                          uint64_t seed)
{
    int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1];
    bpt_rng r = bpt_rng_make(seed);
    float *X = bpt_matrix(&r, n1, batch, n1 + 2, -1, 1, NAN);
    float *V = bpt_matrix(&r, nL, batch, nL + 1, -1, 1, NAN);
    float *U = bpt_matrix(&r, n1, batch, n1 + 3, -1, 1, NAN);
    float *G = bpt_matrix(&r, n1, batch, n1 + 1, 0, 0, -7.0f);
    float *Gn = bpt_matrix(&r, n1, batch, n1, 0, 0, 0);
    float *A = bpt_matrix(&r, nL, batch, nL + 2, 0, 0, -7.0f);
    float *An = bpt_matrix(&r, nL, batch, nL, 0, 0, 0);
    bp_workspace *ws = bpt_ws(net, batch + 1);
    bpt_ok(bp_workspace_set_path(ws, path));
    if (batch == 1)
        bpt_ok(bp_forward(net, ws, X));
    else
        bpt_ok(bp_forward_batch(net, ws, batch, X, n1 + 2));
    bpt_ok(bp_vjp_batch(net, ws, batch, V, nL + 1, G, n1 + 1));
    bpt_ok(bp_jvp_batch(net, ws, batch, U, n1 + 3, A, nL + 2));
    bpt_ok(bp_naive_vjp(net, batch, X, n1 + 2, V, nL + 1, Gn, n1));
    bpt_ok(bp_naive_jvp(net, batch, X, n1 + 2, U, n1 + 3, An, nL));
    assert_matches("VJP vs naive", G, n1 + 1, Gn, n1, batch);
    assert_matches("JVP vs naive", A, nL + 2, An, nL, batch);
    for (int j = 0; j < batch; j++) { /* the padding rows are not written */
        assert_true(G[(size_t)j * (n1 + 1) + n1] == -7.0f);
        assert_true(A[(size_t)j * (nL + 2) + nL] == -7.0f);
    }
    /* u^T (VJP v) = v^T (JVP u), per sample */
    for (int j = 0; j < batch; j++) {
        double uv = 0, vu = 0, mag = 0;
        for (int k = 0; k < n1; k++) {
            uv += (double)U[(size_t)j * (n1 + 3) + k] * G[(size_t)j * (n1 + 1) + k];
            mag += fabs((double)U[(size_t)j * (n1 + 3) + k] * G[(size_t)j * (n1 + 1) + k]);
        }
        for (int i = 0; i < nL; i++)
            vu += (double)V[(size_t)j * (nL + 1) + i] * A[(size_t)j * (nL + 2) + i];
        bpt_assert_close_scalar("u.(VJP v) = v.(JVP u)", uv, vu, 1e-5 * (1 + mag), 1e-4);
    }
    bp_gradcheck_options o = {.step = 1e-6};
    double err = -1;
    bpt_ok(bp_vjpcheck(net, batch, X, n1 + 2, V, nL + 1, &o, &err));
    if (!(err >= 0 && err < CHECK_THRESHOLD))
        fail_msg("bp_vjpcheck: max relative error %.3g", err);
    err = -1;
    bpt_ok(bp_jvpcheck(net, batch, X, n1 + 2, U, n1 + 3, &o, &err));
    if (!(err >= 0 && err < CHECK_THRESHOLD))
        fail_msg("bp_jvpcheck: max relative error %.3g", err);
    bp_workspace_free(ws);
    free(X), free(V), free(U), free(G), free(Gn), free(A), free(An);
}

static void vjp_jvp_every_activation_shape_batch_path(void **state)
{
    (void)state;
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t h = 0; h < sizeof hidden_acts / sizeof hidden_acts[0]; h++)
            for (size_t o = 0; o < sizeof output_acts / sizeof output_acts[0]; o++) {
                const shape *sh = &shapes[s];
                if (output_acts[o] == BP_SOFTMAX && sh->sizes[sh->L - 1] == 1)
                    continue; /* a constant */
                bp_net *net = make_net(sh, hidden_acts[h], output_acts[o], seed++);
                for (int b = 0; b < 2; b++)
                    for (size_t p = 0; p < 3; p++)
                        check_vjp_jvp(net, sh, b ? 6 : 1, paths[p], seed++);
                bp_net_free(net);
            }
}

/* The Jacobians of bp_jacobian_batch (row-major n^L x n^1 per sample) against n^1 naive JVPs
 * along e_k, in both modes (n^L <= n^1: VJPs; n^L > n^1: JVPs), with a workspace so small that
 * the batch runs in several groups, on every path. */
static void jacobian_both_modes_in_groups(void **state)
{
    (void)state;
    enum { B = 5 };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1], seeds = nL <= n1 ? nL : n1;
        bp_net *net = make_net(sh, BP_SILU, nL > 1 ? BP_SOFTMAX : BP_SOFTPLUS, 40 + s);
        bpt_rng r = bpt_rng_make(50 + s);
        float *X = bpt_matrix(&r, n1, B, n1 + 1, -1, 1, NAN);
        size_t cells = (size_t)B * nL * n1;
        float *J = malloc(cells * sizeof *J), *Jn = malloc(cells * sizeof *J);
        float *E = calloc((size_t)n1 * B, sizeof *E), *col = malloc((size_t)nL * B * sizeof *col);
        assert_non_null(J), assert_non_null(Jn), assert_non_null(E), assert_non_null(col);
        for (int k = 0; k < n1; k++) { /* column k of every sample's Jacobian */
            for (int j = 0; j < B; j++)
                for (int i = 0; i < n1; i++)
                    E[(size_t)j * n1 + i] = i == k;
            bpt_ok(bp_naive_jvp(net, B, X, n1 + 1, E, n1, col, nL));
            for (int j = 0; j < B; j++)
                for (int i = 0; i < nL; i++)
                    Jn[((size_t)j * nL + i) * n1 + k] = col[(size_t)j * nL + i];
        }
        for (int max_batch = seeds; max_batch <= seeds * B; max_batch += 2 * seeds - 1)
            for (size_t p = 0; p < 3; p++) {
                bp_workspace *ws = bpt_ws(net, max_batch);
                bpt_ok(bp_workspace_set_path(ws, paths[p]));
                bpt_ok(bp_jacobian_batch(net, ws, B, X, n1 + 1, J));
                assert_matches("Jacobian vs naive JVPs", J, nL * n1, Jn, nL * n1, B);
                bp_workspace_free(ws);
            }
        bp_workspace *small = bpt_ws(net, 1);
        bpt_assert_status(bp_jacobian_batch(net, small, B, X, n1 + 1, J),
                          seeds > 1 ? BP_EBATCH : BP_OK, seeds > 1 ? "max_batch" : NULL);
        bp_workspace_free(small);
        free(X), free(J), free(Jn), free(E), free(col);
        bp_net_free(net);
    }
}

/* ---------------------------------------------------------------- the energy + force loss */
/* A batch of the force loss as a dataset would hold it: X, and targets [E*; F*] (n^1 + 1 rows). */
typedef struct force_data {
    int n1, batch;
    float *X, *Y;
} force_data;

static force_data force_data_make(int n1, int batch, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    force_data d = {n1, batch, bpt_matrix(&r, n1, batch, n1, -1, 1, 0),
                    bpt_matrix(&r, n1 + 1, batch, n1 + 1, -1, 1, 0)};
    return d;
}

static void force_data_free(force_data *d) { free(d->X), free(d->Y); }

static bp_status forces(const bp_net *net, bp_workspace *ws, const force_data *d, float we,
                        float wf, float *grad, double *loss)
{
    return bp_gradient_forces(net, ws, d->batch, d->X, d->n1, d->Y, d->n1 + 1, d->Y + 1, d->n1 + 1,
                              we, wf, grad, loss);
}

static void force_gradient_matches_naive_and_differences(void **state)
{
    (void)state;
    static const shape fshapes[] = {{3, {3, 6, 1}}, {4, {2, 5, 4, 1}}, {2, {4, 1}}};
    static const bp_activation fhidden[] = {BP_TANH,     BP_SIGMOID,    BP_SOFTPLUS, BP_SILU,
                                            BP_IDENTITY, BP_LEAKY_RELU, BP_GELU};
    static const bp_activation fout[] = {BP_IDENTITY, BP_TANH, BP_SOFTPLUS, BP_SILU, BP_GELU};
    uint64_t seed = 100;
    for (size_t s = 0; s < sizeof fshapes / sizeof fshapes[0]; s++)
        for (size_t h = 0; h < sizeof fhidden / sizeof fhidden[0]; h++)
            for (size_t o = 0; o < sizeof fout / sizeof fout[0]; o++) {
                const shape *sh = &fshapes[s];
                bp_net *net = make_net(sh, fhidden[h], fout[o], seed++);
                size_t P = bpt_num_params(net);
                for (int b = 0; b < 2; b++) {
                    force_data d = force_data_make(sh->sizes[0], b ? 5 : 1, seed++);
                    float *gn = bpt_grad(net), *g = bpt_grad(net);
                    double loss = 0, loss_n = 0;
                    bpt_ok(bp_naive_gradient_forces(net, d.batch, d.X, d.n1, d.Y, d.n1 + 1,
                                                    d.Y + 1, d.n1 + 1, 0.7f, 1.3f, gn, &loss_n));
                    for (size_t p = 0; p < 3; p++) {
                        bp_workspace *ws = NULL;
                        bpt_ok(bp_workspace_create_tangent(&ws, net, d.batch + 2));
                        bpt_ok(bp_workspace_set_path(ws, paths[p]));
                        bpt_ok(forces(net, ws, &d, 0.7f, 1.3f, g, &loss));
                        assert_matches("force gradient vs naive", g, (int)P, gn, (int)P, 1);
                        bpt_assert_close_scalar("force loss vs naive", loss, loss_n, 1e-6, 1e-5);
                        bp_workspace_free(ws);
                    }
                    double err[4] = {-1, -1, -1, -1};
                    bp_gradcheck_options opt = {.step = 1e-6};
                    bpt_ok(bp_forcecheck(net, d.batch, d.X, d.n1, d.Y, d.n1 + 1, d.Y + 1,
                                         d.n1 + 1, 0.7f, 1.3f, &opt, err));
                    for (int l = 0; l < sh->L - 1; l++)
                        if (!(err[l] >= 0 && err[l] < CHECK_THRESHOLD))
                            fail_msg("bp_forcecheck layer %d (%s/%s): %.3g", l + 2,
                                     bp_activation_name(fhidden[h]), bp_activation_name(fout[o]),
                                     err[l]);
                    free(g), free(gn);
                    force_data_free(&d);
                }
                bp_net_free(net);
            }
}

/* w_F = 0 is equations A-D: the bits of bp_gradient_batch with Y = E (w_E = 1), and w_E times them
 * otherwise; the force term changes the gradient (the tangent path is not a no-op). */
static void force_weight_zero_is_the_ordinary_gradient(void **state)
{
    (void)state;
    const shape sh = {3, {3, 8, 1}};
    bp_net *net = make_net(&sh, BP_SILU, BP_IDENTITY, 7);
    size_t P = bpt_num_params(net);
    force_data d = force_data_make(3, 6, 8);
    float *g = bpt_grad(net), *ref = bpt_grad(net), *gf = bpt_grad(net);
    for (size_t p = 0; p < 3; p++) {
        bp_workspace *ws = NULL, *plain = bpt_ws(net, 6);
        bpt_ok(bp_workspace_create_tangent(&ws, net, 6));
        bpt_ok(bp_workspace_set_path(ws, paths[p]));
        bpt_ok(bp_workspace_set_path(plain, paths[p]));
        double c_ref = 0, c = 0;
        bpt_ok(bp_gradient_batch(net, plain, 6, d.X, 3, d.Y, 4, ref, &c_ref));
        bpt_ok(forces(net, ws, &d, 1.0f, 0.0f, g, &c));
        assert_memory_equal(g, ref, P * sizeof *g);
        assert_memory_equal(&c, &c_ref, sizeof c);
        bpt_ok(forces(net, plain, &d, 1.0f, 0.0f, g, &c)); /* no tangent buffers needed */
        assert_memory_equal(g, ref, P * sizeof *g);
        bpt_ok(forces(net, ws, &d, 0.25f, 0.0f, g, &c));
        for (size_t i = 0; i < P; i++)
            assert_true(g[i] == 0.25f * ref[i]);
        bpt_ok(forces(net, ws, &d, 1.0f, 1.0f, gf, &c));
        double diff = 0;
        for (size_t i = 0; i < P; i++)
            diff = fmax(diff, fabs(gf[i] - ref[i]));
        assert_true(diff > 1e-3 * (1 + bpt_max_abs(ref, P)));
        assert_true(c > c_ref);
        bp_workspace_free(ws);
        bp_workspace_free(plain);
    }
    free(g), free(ref), free(gf);
    force_data_free(&d);
    bp_net_free(net);
}

/* The checks can fail: with a step of 0.5 the central differences of a curved function are off. */
static void checks_detect_a_wrong_difference(void **state)
{
    (void)state;
    const shape sh = {3, {3, 6, 2}};
    bp_net *net = make_net(&sh, BP_TANH, BP_SOFTPLUS, 3);
    bpt_rng r = bpt_rng_make(4);
    float *X = bpt_matrix(&r, 3, 4, 3, -1, 1, 0), *V = bpt_matrix(&r, 2, 4, 2, -1, 1, 0);
    float *U = bpt_matrix(&r, 3, 4, 3, -1, 1, 0);
    bp_gradcheck_options coarse = {.step = 0.5};
    double err = 0, fine = 1;
    bpt_ok(bp_vjpcheck(net, 4, X, 3, V, 2, &coarse, &err));
    assert_true(err > 1e-3);
    bpt_ok(bp_jvpcheck(net, 4, X, 3, U, 3, &coarse, &err));
    assert_true(err > 1e-3);
    bp_gradcheck_options draws = {.per_layer = 2, .seed = 9};
    bpt_ok(bp_vjpcheck(net, 4, X, 3, V, 2, &draws, &fine));
    assert_true(fine < CHECK_THRESHOLD);
    free(X), free(V), free(U);
    bp_net_free(net);
}

/* Softplus, SiLU and GELU of the forward pass (own vectorised e^x and ln(1+t)) against libm in
 * double for 200001 values of z in [-100, 100]: within 4 float ulps of ln(1 + e^z), z/(1 + e^-z)
 * and z (1 + tanh u)/2 = z/(1 + e^-2u) (u = sqrt(2/pi)(z + 0.044715 z^3)), relative, where the
 * exponent is >= -87 (GELU: plus the rounding of its gate argument, below); below, where e^x is
 * clamped to 1.2e-38, |a| <= 2.5e-36. */
static void softplus_silu_accuracy(void **state)
{
    (void)state;
    enum { N = 200001 };
    const int sizes[] = {1, 1};
    const bp_activation kinds[] = {BP_SOFTPLUS, BP_SILU, BP_GELU};
    float *X = malloc(N * sizeof *X);
    assert_non_null(X);
    for (int i = 0; i < N; i++)
        X[i] = (float)(-100.0 + 200.0 * i / (N - 1));
    for (int k = 0; k < 3; k++) {
        bp_net *net = bpt_net(2, sizes, &kinds[k], BP_QUADRATIC);
        float *p = bpt_params(net);
        p[0] = 1.0f, p[1] = 0.0f;
        bp_workspace *ws = bpt_ws(net, N);
        const float *a = NULL;
        int ld = 0;
        bpt_ok(bp_forward_batch(net, ws, N, X, 1));
        bpt_ok(bp_workspace_activations(ws, 2, &a, &ld));
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double z = X[i];
            double u = 0.79788456080286536 * (z + 0.044715 * z * z * z);
            double exact = k == 0   ? (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)))
                           : k == 1 ? z / (1.0 + exp(-z))
                                    : z / (1.0 + exp(-2 * u)); /* = z (1 + tanh u) / 2 */
            if ((k < 2 && z < -87.0) || (k == 2 && 2 * u < -87.0)) { /* e^x clamped at e^-87.3 */
                if (!(fabs(a[i]) <= 2.5e-36))
                    fail_msg("%s(%.9g) = %.9g, exact %.9g", bp_activation_name(kinds[k]), z,
                             (double)a[i], exact);
                continue;
            }
            /* GELU's gate argument 2u = 2c (z + k z^3) takes five float roundings, each within
             * 2^-24 relative (no cancellation: z and k z^3 have one sign), and e^2u turns its
             * error into a relative one of up to |2u| 5 2^-24: 2.6e-5 near the clamp. */
            double bound = 4.8e-7 + (k == 2 ? fabs(2 * u) * 5 * 0x1p-24 : 0);
            double rel = fabs(a[i] - exact) / fabs(exact);
            worst = rel / bound > worst ? rel / bound : worst;
            if (rel > bound)
                fail_msg("%s(%.9g) = %.9g, exact %.9g (relative error %.3g > %.3g)",
                         bp_activation_name(kinds[k]), z, (double)a[i], exact, rel, bound);
        }
        print_message("%s: worst relative error / bound %.3g\n", bp_activation_name(kinds[k]),
                      worst);
        bp_workspace_free(ws);
        bp_net_free(net);
    }
    free(X);
}

/* A network of the new activations survives a model file: same activations, same outputs. */
static void smooth_activations_in_model_files(void **state)
{
    (void)state;
    const shape sh = {4, {3, 5, 4, 2}};
    const bp_activation acts[] = {BP_SOFTPLUS, BP_SILU, BP_SILU};
    bp_net *net = bpt_net(4, sh.sizes, acts, BP_QUADRATIC), *back = NULL;
    bpt_fill_params(net, 5, -1, 1);
    char path[] = "/tmp/bp_test_deriv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    bpt_ok(bp_model_save(net, path));
    bpt_ok(bp_model_load(&back, path));
    remove(path);
    bp_net_info a, b;
    bpt_ok(bp_net_describe(net, &a));
    bpt_ok(bp_net_describe(back, &b));
    assert_memory_equal(a.activations, b.activations, 3 * sizeof *a.activations);
    assert_string_equal(bp_activation_name(BP_SOFTPLUS), "softplus");
    assert_string_equal(bp_activation_name(BP_SILU), "silu");
    assert_string_equal(bp_activation_name(BP_GELU), "gelu");
    assert_null(bp_activation_name((bp_activation)9));
    float X[3] = {0.3f, -0.2f, 0.9f}, o1[2], o2[2];
    bpt_ok(bp_naive_forward(net, 1, X, 3, o1, 2));
    bpt_ok(bp_naive_forward(back, 1, X, 3, o2, 2));
    assert_memory_equal(o1, o2, sizeof o1);
    bp_net_free(back);
    bp_net_free(net);
}

static void errors(void **state)
{
    (void)state;
    const shape sh = {3, {3, 4, 1}};
    bp_net *net = make_net(&sh, BP_SOFTPLUS, BP_IDENTITY, 1);
    bp_net *other = make_net(&sh, BP_TANH, BP_IDENTITY, 1); /* same shape, keeps no z */
    const shape wide = {3, {3, 4, 2}};
    bp_net *two = make_net(&wide, BP_TANH, BP_IDENTITY, 1);
    const bp_activation sm[] = {BP_TANH, BP_SOFTMAX};
    bp_net *soft = bpt_net(3, sh.sizes, sm, BP_QUADRATIC);
    bp_workspace *ws = bpt_ws(net, 4), *tws = NULL, *ows = bpt_ws(other, 4), *sws = NULL;
    bpt_ok(bp_workspace_create_tangent(&tws, net, 4));
    bpt_ok(bp_workspace_create_tangent(&sws, soft, 4));
    force_data d = force_data_make(3, 4, 2);
    float G[12], V[4] = {1, 1, 1, 1}, J[12], *g = bpt_grad(net);
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 1, G, 3), BP_EBATCH, "forward");
    bpt_ok(bp_forward_batch(net, ws, 4, d.X, 3));
    bpt_assert_status(bp_vjp_batch(net, ws, 3, V, 1, G, 3), BP_EBATCH, "batch");
    bpt_assert_status(bp_vjp_batch(net, ws, 0, V, 1, G, 3), BP_EDIM, "batch");
    bpt_assert_status(bp_vjp_batch(NULL, ws, 4, V, 1, G, 3), BP_ENULL, "net");
    bpt_assert_status(bp_vjp_batch(net, NULL, 4, V, 1, G, 3), BP_ENULL, "ws");
    bpt_assert_status(bp_vjp_batch(net, ws, 4, NULL, 1, G, 3), BP_ENULL, "V");
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 1, NULL, 3), BP_ENULL, "G");
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 1, G, 2), BP_ELD, "ldg");
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 0, G, 3), BP_ELD, "ldv");
    bpt_assert_status(bp_vjp_batch(other, ws, 4, V, 1, G, 3), BP_EMISMATCH, "z");
    bpt_assert_status(bp_jvp_batch(net, ws, 4, d.X, 2, V, 1), BP_ELD, "ldu");
    bpt_assert_status(bp_jvp_batch(net, ws, 4, d.X, 3, V, 0), BP_ELD, "ldd");
    bpt_assert_status(bp_jvp_batch(net, ows, 4, d.X, 3, V, 1), BP_EMISMATCH, "z");
    bpt_assert_status(bp_jacobian_batch(net, ws, 4, d.X, 3, NULL), BP_ENULL, "J");
    bpt_assert_status(bp_jacobian_batch(net, ws, 0, d.X, 3, J), BP_EDIM, "batch");
    bpt_assert_status(bp_jacobian_batch(net, ws, 4, d.X, 1, J), BP_ELD, "ldx");
    /* the force loss */
    bpt_assert_status(forces(net, ws, &d, 1, 1, g, NULL), BP_EMISMATCH, "tangent");
    bpt_assert_status(forces(net, tws, &d, -1, 1, g, NULL), BP_EVALUE, "w_energy");
    bpt_assert_status(forces(net, tws, &d, 1, NAN, g, NULL), BP_EVALUE, "w_force");
    bpt_assert_status(forces(net, tws, &d, 1, 1, NULL, NULL), BP_ENULL, "grad");
    bpt_assert_status(forces(two, tws, &d, 1, 1, g, NULL), BP_EMISMATCH, "width");
    bp_workspace *tw2 = NULL;
    bpt_ok(bp_workspace_create_tangent(&tw2, two, 4));
    bpt_assert_status(forces(two, tw2, &d, 1, 1, g, NULL), BP_ECONFIG, "one output");
    bpt_assert_status(forces(soft, sws, &d, 1, 1, g, NULL), BP_ECONFIG, "softmax");
    /* The configuration before E's shape, whose rows follow from n^L: lde = 1 fits one output but
     * not two, and must not be blamed for the network's second output. */
    bpt_assert_status(bp_gradient_forces(two, tw2, 4, d.X, 3, d.Y, 1, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ECONFIG, "one output (the energy), the network has 2");
    bpt_assert_status(bp_naive_gradient_forces(two, 4, d.X, 3, d.Y, 1, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ECONFIG, "one output");
    bpt_assert_status(bp_naive_gradient_forces(NULL, 4, d.X, 3, d.Y, 1, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ENULL, "net");
    bpt_assert_status(bp_gradient_forces(net, tws, 4, d.X, 3, d.Y, 0, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ELD, "lde");
    bpt_assert_status(bp_gradient_forces(net, tws, 4, d.X, 3, d.Y, 4, d.Y + 1, 2, 1, 1, g, NULL),
                      BP_ELD, "ldf");
    bpt_assert_status(bp_gradient_forces(net, tws, 5, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_EBATCH, "max_batch");
    bpt_assert_status(bp_naive_gradient_forces(two, 4, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ECONFIG, "one output");
    bpt_assert_status(bp_naive_vjp(net, 4, d.X, 3, V, 1, G, 2), BP_ELD, "ldg");
    bpt_assert_status(bp_naive_jvp(net, 4, d.X, 3, d.X, 2, V, 1), BP_ELD, "ldu");
    double err[2];
    bpt_assert_status(bp_vjpcheck(net, 4, d.X, 3, V, 1, NULL, NULL), BP_ENULL, "max_rel_err");
    bp_gradcheck_options bad = {.step = -1};
    bpt_assert_status(bp_jvpcheck(net, 4, d.X, 3, d.X, 3, &bad, err), BP_EVALUE, "step");
    bpt_assert_status(bp_forcecheck(net, 4, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, &bad, err),
                      BP_EVALUE, "step");
    bpt_assert_status(bp_forcecheck(two, 4, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, NULL, err),
                      BP_ECONFIG, "one output");
    bpt_assert_status(bp_forcecheck(two, 4, d.X, 3, d.Y, 1, d.Y + 1, 4, 1, 1, NULL, err),
                      BP_ECONFIG, "one output");
    bpt_assert_status(bp_forcecheck(net, 4, d.X, 3, d.Y, 0, d.Y + 1, 4, 1, 1, NULL, err), BP_ELD,
                      "lde");
    bp_workspace *none = (bp_workspace *)1;
    bpt_assert_status(bp_workspace_create_tangent(&none, net, 0), BP_EDIM, "max_batch");
    assert_null(none);
    free(g);
    force_data_free(&d);
    bp_workspace_free(ws), bp_workspace_free(tws), bp_workspace_free(ows), bp_workspace_free(sws);
    bp_workspace_free(tw2);
    bp_net_free(net), bp_net_free(other), bp_net_free(two), bp_net_free(soft);
}

/* ---------------------------------------------------------------- bp_train with forces */
/* E(x) = sin(2 x_1) + x_2^2 / 2 and F = -grad E on n samples of [-1, 1]^2; targets [E; F1; F2]. */
static bp_dataset surface(int n, uint64_t seed, int with_forces)
{
    bpt_rng r = bpt_rng_make(seed);
    int nt = with_forces ? 3 : 1;
    bp_dataset ds = {n, 2, nt, bpt_matrix(&r, 2, n, 2, -1, 1, 0), malloc((size_t)nt * n * 4), NULL};
    assert_non_null(ds.y);
    for (int j = 0; j < n; j++) {
        float x1 = ds.x[2 * j], x2 = ds.x[2 * j + 1], *y = ds.y + (size_t)nt * j;
        y[0] = sinf(2 * x1) + 0.5f * x2 * x2;
        if (with_forces)
            y[1] = -2 * cosf(2 * x1), y[2] = -x2;
    }
    return ds;
}

static double eval_loss_of_last_epoch;
static int keep_eval_loss(const bp_progress *p, void *user)
{
    (void)user;
    if (p->epoch_done)
        eval_loss_of_last_epoch = p->eval_loss;
    return 0;
}

/* forces with w_F = 0 trains to the bits of an energy-only run; with w_F = 1 the force loss on a
 * held-out set falls by more than 10x; the errors of the configuration. */
static void train_on_forces(void **state)
{
    (void)state;
    const int sizes[] = {2, 16, 1};
    const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    bp_net *a = bpt_net(3, sizes, acts, BP_QUADRATIC), *b = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(a, BP_INIT_XAVIER, 3));
    bpt_ok(bp_net_init(b, BP_INIT_XAVIER, 3));
    bp_dataset ef = surface(200, 1, 1), e = surface(200, 1, 0), held = surface(100, 2, 1);
    bp_train_config cfg = {.epochs = 3, .batch_size = 16, .seed = 5,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}};
    bpt_ok(bp_train(a, &e, NULL, &cfg, NULL));
    cfg.forces = 1, cfg.energy_weight = 1, cfg.force_weight = 0;
    bpt_ok(bp_train(b, &ef, NULL, &cfg, NULL));
    const float *pa, *pb;
    bpt_ok(bp_net_params_const(a, &pa));
    bpt_ok(bp_net_params_const(b, &pb));
    assert_memory_equal(pa, pb, bpt_num_params(a) * sizeof *pa);

    cfg.force_weight = 1, cfg.epochs = 1, cfg.progress = keep_eval_loss;
    bpt_ok(bp_train(b, &ef, &held, &cfg, NULL));
    double first = eval_loss_of_last_epoch;
    cfg.epochs = 60;
    bpt_ok(bp_train(b, &ef, &held, &cfg, NULL));
    if (!(eval_loss_of_last_epoch < first / 10))
        fail_msg("held-out force loss %.4g after 61 epochs, %.4g after 1", eval_loss_of_last_epoch,
                 first);

    bpt_assert_status(bp_train(b, &e, NULL, &cfg, NULL), BP_EMISMATCH, "targets");
    cfg.energy_weight = -1;
    bpt_assert_status(bp_train(b, &ef, NULL, &cfg, NULL), BP_EVALUE, "w_energy");
    cfg.energy_weight = 1;
    const int two[] = {2, 16, 2};
    bp_net *c = bpt_net(3, two, acts, BP_QUADRATIC);
    bpt_assert_status(bp_train(c, &ef, NULL, &cfg, NULL), BP_ECONFIG, "one output");
    double loss, acc;
    bpt_assert_status(bp_evaluate(b, &held, &loss, &acc, NULL), BP_EMISMATCH, "targets");
    bp_net_free(a), bp_net_free(b), bp_net_free(c);
    bpt_dataset_release(&ef), bpt_dataset_release(&e), bpt_dataset_release(&held);
}

/* forces on a network of two outputs whose dataset fits it as a classifier's (2 targets): the
 * force loss's network is refused first (BP_ECONFIG, not a shape mismatch that prints agreeing
 * shapes), forces < 0 is BP_EDIM, and forces 0 on the same pair trains. */
static void train_on_forces_checks_the_network_first(void **state)
{
    (void)state;
    const int sizes[] = {2, 8, 2};
    const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 3));
    bp_dataset ds = surface(20, 1, 0);
    float *y = malloc(2 * 20 * sizeof *y);
    assert_non_null(y);
    for (int j = 0; j < 20; j++)
        y[2 * j] = ds.y[j] > 0, y[2 * j + 1] = !(ds.y[j] > 0);
    free(ds.y);
    ds.y = y, ds.n_targets = 2;
    bp_train_config cfg = {.epochs = 1, .batch_size = 4, .seed = 5, .forces = 1,
                           .energy_weight = 1, .force_weight = 1,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.01f}};
    bpt_assert_status(bp_train(net, &ds, &ds, &cfg, NULL), BP_ECONFIG, "one output");
    cfg.forces = -1;
    bpt_assert_status(bp_train(net, &ds, &ds, &cfg, NULL), BP_EDIM, "forces is -1");
    cfg.forces = 0;
    bpt_ok(bp_train(net, &ds, &ds, &cfg, NULL));
    bp_net_free(net);
    bpt_dataset_release(&ds);
}

/* bp_train of one sample at batch 1 with plain SGD (where a run without forces takes the fused
 * online step) trains the force loss: each epoch is bp_gradient_forces' step on that sample by
 * hand, for either weight; w_F = 0 and 100 differ on a set of 32 samples. */
static void train_on_forces_at_batch_one(void **state)
{
    (void)state;
    const int sizes[] = {2, 6, 1};
    const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    bp_dataset one = surface(1, 7, 1), set = surface(32, 8, 1);
    const float weights[][2] = {{1, 0}, {1, 100}, {7, 1}};
    bp_train_config cfg = {.epochs = 3, .batch_size = 1, .seed = 5,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.01f}, .forces = 1};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC), *hand = bpt_net(3, sizes, acts,
                                                                         BP_QUADRATIC);
    size_t P = bpt_num_params(net);
    float *g = malloc(P * sizeof *g), *p0 = malloc(P * sizeof *p0);
    assert_non_null(g), assert_non_null(p0);
    const float *pn, *ph;
    bpt_ok(bp_net_params_const(net, &pn));
    bpt_ok(bp_net_params_const(hand, &ph));
    bp_workspace *ws;
    bp_optim *opt;
    bpt_ok(bp_workspace_create_tangent(&ws, hand, 1));
    for (int w = 0; w < 3; w++) {
        cfg.energy_weight = weights[w][0], cfg.force_weight = weights[w][1];
        bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
        bpt_ok(bp_net_init(hand, BP_INIT_XAVIER, 1));
        bpt_ok(bp_train(net, &one, NULL, &cfg, NULL));
        bpt_ok(bp_optim_create(&opt, hand, &cfg.optim));
        for (int e = 0; e < cfg.epochs; e++) {
            double c;
            bpt_ok(bp_gradient_forces(hand, ws, 1, one.x, 2, one.y, 3, one.y + 1, 3,
                                      cfg.energy_weight, cfg.force_weight, g, &c));
            bpt_ok(bp_optim_step(opt, hand, g, 1, 1, cfg.optim.eta));
        }
        bp_optim_free(opt);
        assert_memory_equal(pn, ph, P * sizeof *pn);
    }
    for (int w = 0; w < 2; w++) {
        cfg.energy_weight = 1, cfg.force_weight = w ? 100 : 0;
        bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
        bpt_ok(bp_train(net, &set, NULL, &cfg, NULL));
        if (w == 0)
            memcpy(p0, pn, P * sizeof *p0);
    }
    assert_true(memcmp(p0, pn, P * sizeof *pn) != 0);
    bp_workspace_free(ws);
    bp_net_free(net), bp_net_free(hand);
    free(g), free(p0);
    bpt_dataset_release(&one), bpt_dataset_release(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vjp_jvp_every_activation_shape_batch_path),
        cmocka_unit_test(jacobian_both_modes_in_groups),
        cmocka_unit_test(force_gradient_matches_naive_and_differences),
        cmocka_unit_test(force_weight_zero_is_the_ordinary_gradient),
        cmocka_unit_test(checks_detect_a_wrong_difference),
        cmocka_unit_test(softplus_silu_accuracy),
        cmocka_unit_test(smooth_activations_in_model_files),
        cmocka_unit_test(errors),
        cmocka_unit_test(train_on_forces),
        cmocka_unit_test(train_on_forces_at_batch_one),
        cmocka_unit_test(train_on_forces_checks_the_network_first),
    };
    return cmocka_run_group_tests_name("deriv", tests, NULL, NULL);
}
