/* The derivatives with respect to the inputs on a network that carries a scaling (x' = (x - m) /
 * s into layer 1, y = s_y a^L + m_y out): in raw units, dy/dx = diag(s_y) (da^L/dx') diag(1/s).
 * Checked three ways: against the naive reference in double (bp_naive_vjp, bp_naive_jvp, which
 * apply the scaling themselves), against the chain rule written out here around the same network
 * without its scaling (so a scaling applied wrongly in both the library and the oracle is caught),
 * and against central differences of the raw outputs (bp_vjpcheck, bp_jvpcheck); for inputs
 * only, targets only and both, several activations, batches 1 and 6, every bp_path. The force
 * loss on a scaled network (the raw loss over s_y^2) against its naive double implementation,
 * central differences (bp_forcecheck) and the loss computed here from bp_predict and the raw VJP;
 * w_F = 0 against bp_gradient_batch on the standardised batch bit for bit; an identity scaling
 * (mean 0, scale 1) gives the unscaled network's bits; bp_train on forces with a scaling; errors.
 * Tolerances as in test_deriv.c (float against double: atol 1e-5 of the magnitude + rtol 1e-4;
 * central-difference checks below 1e-3); the scales span [0.25, 4], so the chain rule's factors
 * move the results by up to 16x, far beyond those tolerances. */
#include "bp_test.h"

#define CHECK_THRESHOLD 1e-3

static const bp_path paths[] = {BP_PATH_AUTO, BP_PATH_GEMM, BP_PATH_LOOPS};

typedef struct shape {
    int L;
    int sizes[5];
} shape;

enum { SCALE_INPUTS = 1, SCALE_TARGETS = 2, SCALE_BOTH = 3 };

/* A network's scaling as the test holds it: means and scales of each side (1 and 0 where off). */
typedef struct scaling {
    float m[8], s[8], my[8], sy[8];
} scaling;

static bp_net *make_net(const shape *sh, bp_activation hidden, bp_activation out, uint64_t seed)
{
    bp_activation acts[4];
    for (int i = 0; i < sh->L - 1; i++)
        acts[i] = i == sh->L - 2 ? out : hidden;
    bp_net *net = bpt_net(sh->L, sh->sizes, acts, BP_QUADRATIC);
    bpt_fill_params(net, seed, -0.9f, 0.9f);
    return net;
}

/* 2^e with |e| in [0.5, 2]: a scale in [0.25, 4] at least a factor 1.4 away from 1. */
static float log2_away_from_0(bpt_rng *r)
{
    float e = bpt_range(r, 0.5f, 2.0f);
    return exp2f(bpt_uniform(r) < 0.5 ? -e : e);
}

/* Means in [-2, 2] and scales in [0.25, 4] on the chosen sides, set on net and kept in sc. */
static void set_scaling(bp_net *net, const shape *sh, int sides, uint64_t seed, scaling *sc)
{
    bpt_rng r = bpt_rng_make(seed);
    int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1];
    for (int i = 0; i < 8; i++) {
        sc->m[i] = sc->my[i] = 0, sc->s[i] = sc->sy[i] = 1;
        float m = bpt_range(&r, -2, 2), s = log2_away_from_0(&r);
        if ((sides & SCALE_INPUTS) && i < n1)
            sc->m[i] = m, sc->s[i] = s;
        m = bpt_range(&r, -2, 2), s = log2_away_from_0(&r);
        if ((sides & SCALE_TARGETS) && i < nL)
            sc->my[i] = m, sc->sy[i] = s;
    }
    if (sides & SCALE_INPUTS)
        bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, sc->m, sc->s));
    if (sides & SCALE_TARGETS)
        bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, sc->my, sc->sy));
}

/* The same network without its scaling (parameters copied). */
static bp_net *unscaled_copy(const bp_net *net, const shape *sh)
{
    bp_net_info info;
    bpt_ok(bp_net_describe(net, &info));
    bp_net *plain = bpt_net(sh->L, sh->sizes, info.activations, BP_QUADRATIC);
    const float *p;
    bpt_ok(bp_net_params_const(net, &p));
    memcpy(bpt_params(plain), p, bpt_num_params(net) * sizeof *p);
    return plain;
}

static bp_activation bpt_act(const bp_net *net, int i)
{
    bp_net_info info;
    bpt_ok(bp_net_describe(net, &info));
    return info.activations[i];
}

/* |got - ref| within 1e-5 of ref's magnitude + 1e-4 relative. */
static void assert_matches(const char *what, const float *got, int ldg, const float *ref, int rows,
                           int cols)
{
    double scale = bpt_max_abs(ref, (size_t)rows * (size_t)cols);
    bpt_assert_close_mat(what, got, ldg, ref, rows, rows, cols, 1e-5 * (1 + scale), 1e-4);
}

/* Raw inputs as the scaling expects them, m + s u with u uniform in [-1.5, 1.5] (x' = u: a
 * scaling fitted to the data makes x' of order 1), n1 x cols with leading dimension ld (padding
 * NaN). */
static float *raw_inputs(bpt_rng *r, const scaling *sc, int n1, int cols, int ld)
{
    float *X = bpt_matrix(r, n1, cols, ld, -1.5f, 1.5f, NAN);
    for (int j = 0; j < cols; j++)
        for (int k = 0; k < n1; k++)
            X[(size_t)j * ld + k] = sc->m[k] + sc->s[k] * X[(size_t)j * ld + k];
    return X;
}

/* D (rows x cols, contiguous) = S (lds) with row i multiplied by f[i] (or divided: divide). */
static float *scaled_rows(const float *S, int lds, int rows, int cols, const float *f, int divide)
{
    float *D = malloc((size_t)rows * (size_t)cols * sizeof *D);
    assert_non_null(D);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            float v = S[(size_t)j * (size_t)lds + (size_t)i];
            D[(size_t)j * (size_t)rows + (size_t)i] = divide ? v / f[i] : v * f[i];
        }
    return D;
}

/* X' = (X - m) / s, contiguous: the standardisation as the library writes it in float. */
static float *standardized(const float *X, int ldx, int rows, int cols, const float *m,
                           const float *s)
{
    float *D = malloc((size_t)rows * (size_t)cols * sizeof *D);
    assert_non_null(D);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++)
            D[(size_t)j * (size_t)rows + (size_t)i] =
                (X[(size_t)j * (size_t)ldx + (size_t)i] - m[i]) / s[i];
    return D;
}

static void assert_check_passes(const char *what, bp_status st, double err)
{
    bpt_ok(st);
    if (!(err >= 0 && err < CHECK_THRESHOLD))
        fail_msg("%s: max relative error %.3g", what, err);
}

/* The chain rule written out around the unscaled copy, in double by the naive reference:
 * G = diag(1/s) G'(x', diag(s_y) V) and A-dot = diag(s_y) A-dot'(x', diag(1/s) U). */
static void chain_rule_reference(const bp_net *plain, const shape *sh, const scaling *sc,
                                 int batch, const float *X, int ldx, const float *V, int ldv,
                                 const float *U, int ldu, float *G, float *A)
{
    int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1];
    float *Xs = standardized(X, ldx, n1, batch, sc->m, sc->s);
    float *Vs = scaled_rows(V, ldv, nL, batch, sc->sy, 0), *Us = scaled_rows(U, ldu, n1, batch, sc->s, 1);
    float *Gs = calloc((size_t)n1 * batch, sizeof *Gs), *As = calloc((size_t)nL * batch, sizeof *As);
    assert_non_null(Gs), assert_non_null(As);
    bpt_ok(bp_naive_vjp(plain, batch, Xs, n1, Vs, nL, Gs, n1));
    bpt_ok(bp_naive_jvp(plain, batch, Xs, n1, Us, n1, As, nL));
    for (size_t c = 0; c < (size_t)batch * n1; c++)
        G[c] = Gs[c] / sc->s[c % n1];
    for (size_t c = 0; c < (size_t)batch * nL; c++)
        A[c] = As[c] * sc->sy[c % nL];
    free(Xs), free(Vs), free(Us), free(Gs), free(As);
}

/* VJP and JVP of one scaled network, batch and path after bp_predict of raw X: against the naive
 * reference, the chain rule, central differences; the same bits after bp_forward_batch of the
 * standardised X (the derivatives depend on the point only); padding rows untouched. Returns the
 * largest |G - G_plain| / (1 + |G|), G_plain the unscaled network's VJP at x' with the same seeds:
 * how far the scaling moved the result. */
static double check_scaled(const bp_net *net, const bp_net *plain, const shape *sh,
                           const scaling *sc, int batch, bp_path path, uint64_t seed)
{
    int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1];
    bpt_rng r = bpt_rng_make(seed);
    float *X = raw_inputs(&r, sc, n1, batch, n1 + 2);
    float *V = bpt_matrix(&r, nL, batch, nL + 1, -1, 1, NAN);
    float *U = bpt_matrix(&r, n1, batch, n1 + 3, -1, 1, NAN);
    float *G = bpt_matrix(&r, n1, batch, n1 + 1, 0, 0, -7.0f), *A = bpt_matrix(&r, nL, batch, nL + 2, 0, 0, -7.0f);
    float *Gn = calloc((size_t)n1 * batch, 4), *An = calloc((size_t)nL * batch, 4);
    float *Gc = calloc((size_t)n1 * batch, 4), *Ac = calloc((size_t)nL * batch, 4);
    float *Y = calloc((size_t)nL * batch, 4), *G2 = calloc((size_t)n1 * batch, 4);
    assert_non_null(Gn), assert_non_null(An), assert_non_null(Gc), assert_non_null(Ac);
    assert_non_null(Y), assert_non_null(G2);
    bp_workspace *ws = bpt_ws(net, batch + 1);
    bpt_ok(bp_workspace_set_path(ws, path));
    bpt_ok(bp_predict(net, ws, batch, X, n1 + 2, Y, nL));
    bpt_ok(bp_vjp_batch(net, ws, batch, V, nL + 1, G, n1 + 1));
    bpt_ok(bp_jvp_batch(net, ws, batch, U, n1 + 3, A, nL + 2));
    bpt_ok(bp_naive_vjp(net, batch, X, n1 + 2, V, nL + 1, Gn, n1));
    bpt_ok(bp_naive_jvp(net, batch, X, n1 + 2, U, n1 + 3, An, nL));
    assert_matches("scaled VJP vs naive", G, n1 + 1, Gn, n1, batch);
    assert_matches("scaled JVP vs naive", A, nL + 2, An, nL, batch);
    chain_rule_reference(plain, sh, sc, batch, X, n1 + 2, V, nL + 1, U, n1 + 3, Gc, Ac);
    assert_matches("scaled VJP vs the chain rule", G, n1 + 1, Gc, n1, batch);
    assert_matches("scaled JVP vs the chain rule", A, nL + 2, Ac, nL, batch);
    for (int j = 0; j < batch; j++) {
        assert_true(G[(size_t)j * (n1 + 1) + n1] == -7.0f);
        assert_true(A[(size_t)j * (nL + 2) + nL] == -7.0f);
    }
    float *Xs = standardized(X, n1 + 2, n1, batch, sc->m, sc->s);
    bpt_ok(bp_forward_batch(net, ws, batch, Xs, n1));
    bpt_ok(bp_vjp_batch(net, ws, batch, V, nL + 1, G2, n1));
    for (int j = 0; j < batch; j++)
        assert_memory_equal(G2 + (size_t)j * n1, G + (size_t)j * (n1 + 1), (size_t)n1 * 4);
    bpt_ok(bp_naive_vjp(plain, batch, Xs, n1, V, nL + 1, G2, n1)); /* the scaling left out */
    double moved = 0;
    for (int j = 0; j < batch; j++)
        for (int k = 0; k < n1; k++) {
            double g = G[(size_t)j * (n1 + 1) + k];
            moved = fmax(moved, fabs(g - G2[(size_t)j * n1 + k]) / (1 + fabs(g)));
        }
    bp_gradcheck_options o = {.step = 1e-6};
    double err = -1;
    bp_status st = bp_vjpcheck(net, batch, X, n1 + 2, V, nL + 1, &o, &err);
    assert_check_passes("scaled bp_vjpcheck", st, err);
    err = -1;
    st = bp_jvpcheck(net, batch, X, n1 + 2, U, n1 + 3, &o, &err);
    assert_check_passes("scaled bp_jvpcheck", st, err);
    bp_workspace_free(ws);
    free(X), free(V), free(U), free(G), free(A), free(Gn), free(An), free(Gc), free(Ac), free(Y);
    free(G2), free(Xs);
    return moved;
}

static void scaled_vjp_jvp_naive_chain_rule_differences(void **state)
{
    (void)state;
    static const shape shapes[] = {{3, {3, 6, 1}}, {4, {5, 7, 4, 3}}, {3, {2, 5, 6}}, {2, {4, 3}}};
    static const bp_activation hidden[] = {BP_TANH, BP_SIGMOID, BP_SOFTPLUS, BP_SILU, BP_GELU};
    static const bp_activation out[] = {BP_IDENTITY, BP_TANH, BP_SOFTPLUS};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t h = 0; h < sizeof hidden / sizeof hidden[0]; h++)
            for (size_t o = 0; o < sizeof out / sizeof out[0]; o++)
                for (int sides = SCALE_INPUTS; sides <= SCALE_BOTH; sides++) {
                    bp_net *net = make_net(&shapes[s], hidden[h], out[o], seed++);
                    scaling sc;
                    set_scaling(net, &shapes[s], sides, seed++, &sc);
                    bp_net *plain = unscaled_copy(net, &shapes[s]);
                    double moved = 0;
                    for (int b = 0; b < 2; b++)
                        for (size_t p = 0; p < 3; p++)
                            moved = fmax(moved, check_scaled(net, plain, &shapes[s], &sc,
                                                             b ? 6 : 1, paths[p], seed++));
                    if (!(moved > 0.01)) /* the scaling is in the chain, not ignored */
                        fail_msg("the scaling moved the VJP by %.3g only", moved);
                    bp_net_free(net), bp_net_free(plain);
                }
}

/* bp_jacobian_batch on raw X against n^1 naive raw JVPs along e_k and against diag(s_y) J'
 * diag(1/s) of the unscaled copy's Jacobians at x', in both modes, in groups, on every path. */
static void scaled_jacobian(void **state)
{
    (void)state;
    enum { B = 5 };
    static const shape shapes[] = {{4, {5, 7, 4, 3}}, {3, {3, 6, 1}}, {3, {2, 5, 6}}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        int n1 = sh->sizes[0], nL = sh->sizes[sh->L - 1], seeds = nL <= n1 ? nL : n1;
        bp_net *net = make_net(sh, BP_SILU, BP_TANH, 40 + s);
        scaling sc;
        set_scaling(net, sh, SCALE_BOTH, 60 + s, &sc);
        bp_net *plain = unscaled_copy(net, sh);
        bpt_rng r = bpt_rng_make(50 + s);
        float *X = raw_inputs(&r, &sc, n1, B, n1 + 1);
        float *Xs = standardized(X, n1 + 1, n1, B, sc.m, sc.s);
        size_t cells = (size_t)B * nL * n1;
        float *J = malloc(cells * 4), *Jn = malloc(cells * 4), *Jp = malloc(cells * 4);
        float *E = calloc((size_t)n1 * B, 4), *col = malloc((size_t)nL * B * 4);
        assert_non_null(J), assert_non_null(Jn), assert_non_null(Jp), assert_non_null(E);
        assert_non_null(col);
        for (int k = 0; k < n1; k++) {
            for (int j = 0; j < B; j++)
                for (int i = 0; i < n1; i++)
                    E[(size_t)j * n1 + i] = i == k;
            bpt_ok(bp_naive_jvp(net, B, X, n1 + 1, E, n1, col, nL));
            for (int j = 0; j < B; j++)
                for (int i = 0; i < nL; i++)
                    Jn[((size_t)j * nL + i) * n1 + k] = col[(size_t)j * nL + i];
        }
        bp_workspace *pws = bpt_ws(plain, B * seeds);
        bpt_ok(bp_jacobian_batch(plain, pws, B, Xs, n1, Jp));
        for (size_t c = 0; c < cells; c++) /* J[(j nL + i) n1 + k] = s_y[i] J'[..] / s[k] */
            Jp[c] = Jp[c] * sc.sy[(c / n1) % nL] / sc.s[c % n1];
        for (int max_batch = seeds; max_batch <= seeds * B; max_batch += 2 * seeds - 1)
            for (size_t p = 0; p < 3; p++) {
                bp_workspace *ws = bpt_ws(net, max_batch);
                bpt_ok(bp_workspace_set_path(ws, paths[p]));
                bpt_ok(bp_jacobian_batch(net, ws, B, X, n1 + 1, J));
                assert_matches("scaled Jacobian vs naive JVPs", J, nL * n1, Jn, nL * n1, B);
                assert_matches("scaled Jacobian vs the chain rule", J, nL * n1, Jp, nL * n1, B);
                bp_workspace_free(ws);
            }
        bp_workspace_free(pws);
        free(X), free(Xs), free(J), free(Jn), free(Jp), free(E), free(col);
        bp_net_free(net), bp_net_free(plain);
    }
}

/* ---------------------------------------------------------------- the energy + force loss */
typedef struct force_data {
    int n1, batch;
    float *X, *Y; /* raw inputs; raw targets [E*; F*] (n^1 + 1 rows) */
} force_data;

/* Raw data of the scaling's units: x as raw_inputs, E* = m_y + s_y u, F*_k = (s_y / s_k) u'
 * (the units of an energy over an input), u, u' uniform in [-1, 1]. */
static force_data force_data_make(const scaling *sc, int n1, int batch, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    force_data d = {n1, batch, raw_inputs(&r, sc, n1, batch, n1),
                    bpt_matrix(&r, n1 + 1, batch, n1 + 1, -1, 1, 0)};
    for (int j = 0; j < batch; j++) {
        float *y = d.Y + (size_t)j * (n1 + 1);
        y[0] = sc->my[0] + sc->sy[0] * y[0];
        for (int k = 0; k < n1; k++)
            y[1 + k] *= sc->sy[0] / sc->s[k];
    }
    return d;
}

static bp_status forces(const bp_net *net, bp_workspace *ws, const force_data *d, float we,
                        float wf, float *grad, double *loss)
{
    return bp_gradient_forces(net, ws, d->batch, d->X, d->n1, d->Y, d->n1 + 1, d->Y + 1, d->n1 + 1,
                              we, wf, grad, loss);
}

/* The documented loss from the raw prediction and the raw VJP (V = 1: grad_x E), in double:
 * sum_j [w_E 1/2 ((E_j - E*_j) / s_y)^2 + w_F 1/2 ||(grad_x E_j + F*_j) / s_y||^2]. */
static double raw_loss_over_sy2(const bp_net *net, const force_data *d, const scaling *sc, float we,
                                float wf)
{
    int n1 = d->n1, B = d->batch;
    bp_workspace *ws = bpt_ws(net, B);
    float *E = malloc((size_t)B * 4), *V = malloc((size_t)B * 4), *G = malloc((size_t)n1 * B * 4);
    assert_non_null(E), assert_non_null(V), assert_non_null(G);
    for (int j = 0; j < B; j++)
        V[j] = 1;
    bpt_ok(bp_predict(net, ws, B, d->X, n1, E, 1));
    bpt_ok(bp_vjp_batch(net, ws, B, V, 1, G, n1));
    double loss = 0, sy = sc->sy[0];
    for (int j = 0; j < B; j++) {
        const float *y = d->Y + (size_t)j * (n1 + 1);
        double de = (E[j] - (double)y[0]) / sy, rr = 0;
        for (int k = 0; k < n1; k++) {
            double r = (G[(size_t)j * n1 + k] + (double)y[1 + k]) / sy;
            rr += r * r;
        }
        loss += 0.5 * (we * de * de + wf * rr);
    }
    bp_workspace_free(ws);
    free(E), free(V), free(G);
    return loss;
}

/* One scaled force network and batch: the gradient and loss against the naive reference on every
 * path, the loss against raw_loss_over_sy2, and bp_forcecheck. */
static void check_scaled_forces(const bp_net *net, const shape *sh, const scaling *sc,
                                const force_data *d)
{
    size_t P = bpt_num_params(net);
    float *gn = bpt_grad(net), *g = bpt_grad(net);
    double loss = 0, loss_n = 0;
    bpt_ok(bp_naive_gradient_forces(net, d->batch, d->X, d->n1, d->Y, d->n1 + 1, d->Y + 1,
                                    d->n1 + 1, 0.7f, 1.3f, gn, &loss_n));
    for (size_t p = 0; p < 3; p++) {
        bp_workspace *ws = NULL;
        bpt_ok(bp_workspace_create_tangent(&ws, net, d->batch + 2));
        bpt_ok(bp_workspace_set_path(ws, paths[p]));
        bpt_ok(forces(net, ws, d, 0.7f, 1.3f, g, &loss));
        assert_matches("scaled force gradient vs naive", g, (int)P, gn, (int)P, 1);
        bpt_assert_close_scalar("scaled force loss vs naive", loss, loss_n, 1e-6, 1e-5);
        bp_workspace_free(ws);
    }
    bpt_assert_close_scalar("force loss = raw loss / s_y^2", loss,
                            raw_loss_over_sy2(net, d, sc, 0.7f, 1.3f), 1e-6, 1e-5);
    double err[4] = {-1, -1, -1, -1};
    bp_gradcheck_options opt = {.step = 1e-6};
    bpt_ok(bp_forcecheck(net, d->batch, d->X, d->n1, d->Y, d->n1 + 1, d->Y + 1, d->n1 + 1, 0.7f,
                         1.3f, &opt, err));
    for (int l = 0; l < sh->L - 1; l++)
        if (!(err[l] >= 0 && err[l] < CHECK_THRESHOLD))
            fail_msg("scaled bp_forcecheck layer %d: %.3g (%s/%s, batch %d, s_y %g)", l + 2,
                     err[l], bp_activation_name(bpt_act(net, 0)), bp_activation_name(bpt_act(net, sh->L - 2)), d->batch, (double)sc->sy[0]);
    free(g), free(gn);
}

static void scaled_force_gradient(void **state)
{
    (void)state;
    static const shape shapes[] = {{3, {3, 6, 1}}, {4, {2, 5, 4, 1}}, {2, {4, 1}}};
    static const bp_activation hidden[] = {BP_TANH, BP_SIGMOID, BP_SOFTPLUS, BP_SILU, BP_GELU};
    static const bp_activation out[] = {BP_IDENTITY, BP_TANH, BP_SILU};
    uint64_t seed = 100;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t h = 0; h < sizeof hidden / sizeof hidden[0]; h++)
            for (size_t o = 0; o < sizeof out / sizeof out[0]; o++)
                for (int sides = SCALE_INPUTS; sides <= SCALE_BOTH; sides++) {
                    bp_net *net = make_net(&shapes[s], hidden[h], out[o], seed++);
                    scaling sc;
                    set_scaling(net, &shapes[s], sides, seed++, &sc);
                    for (int b = 0; b < 2; b++) {
                        force_data d = force_data_make(&sc, shapes[s].sizes[0], b ? 5 : 1, seed++);
                        check_scaled_forces(net, &shapes[s], &sc, &d);
                        free(d.X), free(d.Y);
                    }
                    bp_net_free(net);
                }
}

/* w_F = 0 on a scaled network is equations A-D on x' and E*' = (E* - m_y) / s_y: the bits of
 * bp_gradient_batch on the batch standardised here; and the loss moves with the scaling. */
static void scaled_force_weight_zero_is_the_standardised_gradient(void **state)
{
    (void)state;
    const shape sh = {3, {3, 8, 1}};
    bp_net *net = make_net(&sh, BP_SILU, BP_IDENTITY, 7);
    scaling sc;
    set_scaling(net, &sh, SCALE_BOTH, 8, &sc);
    size_t P = bpt_num_params(net);
    force_data d = force_data_make(&sc, 3, 6, 8);
    float *Xs = standardized(d.X, 3, 3, 6, sc.m, sc.s), *Es = standardized(d.Y, 4, 1, 6, sc.my, sc.sy);
    float *g = bpt_grad(net), *ref = bpt_grad(net);
    for (size_t p = 0; p < 3; p++) {
        bp_workspace *ws = NULL, *plain = bpt_ws(net, 6);
        bpt_ok(bp_workspace_create_tangent(&ws, net, 6));
        bpt_ok(bp_workspace_set_path(ws, paths[p]));
        bpt_ok(bp_workspace_set_path(plain, paths[p]));
        double c_ref = 0, c = 0;
        bpt_ok(bp_gradient_batch(net, plain, 6, Xs, 3, Es, 1, ref, &c_ref));
        bpt_ok(forces(net, ws, &d, 1.0f, 0.0f, g, &c));
        assert_memory_equal(g, ref, P * sizeof *g);
        assert_memory_equal(&c, &c_ref, sizeof c);
        bpt_ok(forces(net, plain, &d, 1.0f, 0.0f, g, &c));
        assert_memory_equal(g, ref, P * sizeof *g);
        bp_workspace_free(ws), bp_workspace_free(plain);
    }
    bp_net *bare = unscaled_copy(net, &sh);
    bp_workspace *bws = bpt_ws(bare, 6);
    double c_bare = 0, c_scaled = 0;
    bpt_ok(forces(bare, bws, &d, 1.0f, 0.0f, g, &c_bare));
    bpt_ok(forces(net, bws, &d, 1.0f, 0.0f, g, &c_scaled));
    assert_true(fabs(c_bare - c_scaled) > 1e-3 * c_bare);
    bp_workspace_free(bws);
    bp_net_free(bare);
    free(Xs), free(Es), free(g), free(ref), free(d.X), free(d.Y);
    bp_net_free(net);
}

/* A scaling of mean 0 and scale 1 on both sides gives exactly the unscaled network's bits: every
 * factor of the chain rule is an exact 1 (x / 1, x * 1, (x - 0) / 1). */
static void identity_scaling_keeps_the_bits(void **state)
{
    (void)state;
    const shape sh = {3, {3, 7, 1}};
    bp_net *plain = make_net(&sh, BP_SOFTPLUS, BP_TANH, 9);
    bp_net *net = unscaled_copy(plain, &sh);
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, zero, one));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, zero, one));
    size_t P = bpt_num_params(net);
    scaling unit;
    set_scaling(plain, &sh, 0, 1, &unit); /* no side: mean 0, scale 1 in unit only */
    force_data d = force_data_make(&unit, 3, 5, 10);
    bpt_rng r = bpt_rng_make(11);
    float *V = bpt_matrix(&r, 1, 5, 1, -1, 1, 0), G[2][15], A[2][5], J[2][15];
    float *g[2] = {bpt_grad(net), bpt_grad(net)};
    for (size_t p = 0; p < 3; p++)
        for (int b = 1; b <= 5; b += 4) {
            double loss[2];
            for (int k = 0; k < 2; k++) {
                const bp_net *n = k ? net : plain;
                bp_workspace *ws = NULL;
                bpt_ok(bp_workspace_create_tangent(&ws, n, 5));
                bpt_ok(bp_workspace_set_path(ws, paths[p]));
                bpt_ok(bp_forward_batch(n, ws, b, d.X, 3));
                bpt_ok(bp_vjp_batch(n, ws, b, V, 1, G[k], 3));
                bpt_ok(bp_jvp_batch(n, ws, b, d.X, 3, A[k], 1));
                bpt_ok(bp_jacobian_batch(n, ws, b, d.X, 3, J[k]));
                force_data db = {3, b, d.X, d.Y};
                bpt_ok(forces(n, ws, &db, 0.5f, 2.0f, g[k], &loss[k]));
                bp_workspace_free(ws);
            }
            assert_memory_equal(G[0], G[1], (size_t)3 * b * 4);
            assert_memory_equal(A[0], A[1], (size_t)b * 4);
            assert_memory_equal(J[0], J[1], (size_t)3 * b * 4);
            assert_memory_equal(g[0], g[1], P * 4);
            assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
        }
    free(V), free(g[0]), free(g[1]), free(d.X), free(d.Y);
    bp_net_free(net), bp_net_free(plain);
}

/* ---------------------------------------------------------------- bp_train with forces */
/* E(x) = 40 + 3 (sin(2 u) + v^2 / 2) of u = (x_1 - 5) / 2, v = x_2 / 10 (raw inputs far from
 * [-1, 1], energies far from 0 with a spread of a few units) on n samples, with F = -grad_x E. */
static bp_dataset far_surface(int n, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = {n, 2, 3, malloc((size_t)2 * n * 4), malloc((size_t)3 * n * 4), NULL};
    assert_non_null(ds.x), assert_non_null(ds.y);
    for (int j = 0; j < n; j++) {
        float u = bpt_range(&r, -1, 1), v = bpt_range(&r, -1, 1), *y = ds.y + (size_t)3 * j;
        ds.x[2 * j] = 5 + 2 * u, ds.x[2 * j + 1] = 10 * v;
        y[0] = 40 + 3 * (sinf(2 * u) + 0.5f * v * v);
        y[1] = -3 * 2 * cosf(2 * u) / 2, y[2] = -3 * v / 10;
    }
    return ds;
}

static double last_eval_loss;
static int keep_eval_loss(const bp_progress *p, void *user)
{
    (void)user;
    if (p->epoch_done)
        last_eval_loss = p->eval_loss;
    return 0;
}

/* RMSE of the raw forces -grad_x E of net (bp_predict, then the raw VJP) against ds's. */
static double force_rmse(const bp_net *net, const bp_dataset *ds)
{
    int n = ds->count;
    bp_workspace *ws = bpt_ws(net, n);
    float *E = malloc((size_t)n * 4), *V = malloc((size_t)n * 4), *G = malloc((size_t)2 * n * 4);
    assert_non_null(E), assert_non_null(V), assert_non_null(G);
    for (int j = 0; j < n; j++)
        V[j] = 1;
    bpt_ok(bp_predict(net, ws, n, ds->x, 2, E, 1));
    bpt_ok(bp_vjp_batch(net, ws, n, V, 1, G, 2));
    double ss = 0;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < 2; k++) {
            double e = -G[2 * j + k] - ds->y[3 * j + 1 + k];
            ss += e * e;
        }
    bp_workspace_free(ws);
    free(E), free(V), free(G);
    return sqrt(ss / (2.0 * n));
}

/* bp_train takes a scaled network with forces: the held-out loss falls by 10x and the raw forces
 * of the fit are within 0.15 RMS of the true ones (their spread is ~2); w_F = 0 trains to the bits
 * of an energy-only run on the same scaled network. */
static void train_scaled_on_forces(void **state)
{
    (void)state;
    const int sizes[] = {2, 16, 1};
    const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    bp_dataset train = far_surface(300, 1), held = far_surface(100, 2);
    bp_dataset energies = {train.count, 2, 1, train.x, malloc((size_t)train.count * 4), NULL};
    assert_non_null(energies.y);
    for (int j = 0; j < train.count; j++)
        energies.y[j] = train.y[3 * j];
    float m[2], s[2], my[1], sy[1];
    bpt_ok(bp_dataset_standardization(&train, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_dataset_standardization(&energies, BP_SCALE_TARGETS, my, sy));
    bp_net *net[2];
    for (int k = 0; k < 2; k++) {
        net[k] = bpt_net(3, sizes, acts, BP_QUADRATIC);
        bpt_ok(bp_net_init(net[k], BP_INIT_XAVIER, 3));
        bpt_ok(bp_net_set_scaling(net[k], BP_SCALE_INPUTS, m, s));
        bpt_ok(bp_net_set_scaling(net[k], BP_SCALE_TARGETS, my, sy));
    }
    bp_train_config cfg = {.epochs = 3, .batch_size = 16, .seed = 5,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}};
    bpt_ok(bp_train(net[0], &energies, NULL, &cfg, NULL));
    cfg.forces = 1, cfg.energy_weight = 1, cfg.force_weight = 0;
    bpt_ok(bp_train(net[1], &train, NULL, &cfg, NULL));
    const float *pa, *pb;
    bpt_ok(bp_net_params_const(net[0], &pa));
    bpt_ok(bp_net_params_const(net[1], &pb));
    assert_memory_equal(pa, pb, bpt_num_params(net[0]) * sizeof *pa);

    cfg.force_weight = 1, cfg.epochs = 1, cfg.progress = keep_eval_loss;
    bpt_ok(bp_train(net[1], &train, &held, &cfg, NULL));
    double first = last_eval_loss, rmse_first = force_rmse(net[1], &held);
    cfg.epochs = 150;
    bpt_ok(bp_train(net[1], &train, &held, &cfg, NULL));
    double rmse = force_rmse(net[1], &held);
    if (!(last_eval_loss < first / 10) || !(rmse < 0.15) || !(rmse < rmse_first / 3))
        fail_msg("held-out loss %.4g after 151 epochs, %.4g after 1; force RMSE %.4g (was %.4g)",
                 last_eval_loss, first, rmse, rmse_first);
    bp_net_free(net[0]), bp_net_free(net[1]);
    free(energies.y);
    bpt_dataset_release(&train), bpt_dataset_release(&held);
}

/* The checks of a scaled network run before anything is written (the raw-unit scratch too). */
static void scaled_errors(void **state)
{
    (void)state;
    const shape sh = {3, {3, 4, 1}}, wide = {3, {3, 4, 2}};
    bp_net *net = make_net(&sh, BP_SOFTPLUS, BP_IDENTITY, 1), *two = make_net(&wide, BP_TANH, BP_IDENTITY, 2);
    scaling sc;
    set_scaling(net, &sh, SCALE_BOTH, 3, &sc);
    force_data d = force_data_make(&sc, 3, 4, 2);
    set_scaling(two, &wide, SCALE_BOTH, 4, &sc);
    bp_workspace *ws = bpt_ws(net, 4), *tws = NULL, *tw2 = NULL;
    bpt_ok(bp_workspace_create_tangent(&tws, net, 4));
    bpt_ok(bp_workspace_create_tangent(&tw2, two, 4));
    float G[12], A[4], V[4] = {1, 1, 1, 1}, J[12], *g = bpt_grad(net);
    for (int i = 0; i < 12; i++)
        G[i] = -7.0f;
    A[0] = A[1] = A[2] = A[3] = -7.0f;
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 1, G, 3), BP_EBATCH, "forward");
    bpt_ok(bp_predict(net, ws, 4, d.X, 3, A, 1));
    for (int i = 0; i < 4; i++)
        A[i] = -7.0f;
    bpt_assert_status(bp_vjp_batch(net, ws, 3, V, 1, G, 3), BP_EBATCH, "batch");
    bpt_assert_status(bp_vjp_batch(net, ws, 4, V, 1, G, 2), BP_ELD, "ldg");
    bpt_assert_status(bp_jvp_batch(net, ws, 4, d.X, 2, A, 1), BP_ELD, "ldu");
    bpt_assert_status(bp_jvp_batch(net, ws, 4, NULL, 3, A, 1), BP_ENULL, "U");
    bpt_assert_status(bp_jacobian_batch(net, ws, 4, NULL, 3, J), BP_ENULL, "X");
    bp_workspace *small = bpt_ws(net, 3);
    bpt_ok(bp_jacobian_batch(net, small, 4, d.X, 3, J)); /* groups of 3 and 1 */
    bp_workspace_free(small);
    for (int i = 0; i < 12; i++)
        assert_true(G[i] == -7.0f);
    for (int i = 0; i < 4; i++)
        assert_true(A[i] == -7.0f);
    bpt_assert_status(forces(net, ws, &d, 1, 1, g, NULL), BP_EMISMATCH, "tangent");
    bpt_assert_status(forces(net, tws, &d, 1, -1, g, NULL), BP_EVALUE, "w_force");
    bpt_assert_status(bp_gradient_forces(net, tws, 4, d.X, 3, NULL, 4, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ENULL, "E");
    bpt_assert_status(forces(two, tw2, &d, 1, 1, g, NULL), BP_ECONFIG, "one output");
    bpt_assert_status(bp_naive_gradient_forces(two, 4, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, g, NULL),
                      BP_ECONFIG, "one output");
    double err[2];
    bpt_assert_status(bp_forcecheck(two, 4, d.X, 3, d.Y, 4, d.Y + 1, 4, 1, 1, NULL, err),
                      BP_ECONFIG, "one output");
    bpt_assert_status(bp_vjpcheck(net, 4, d.X, 3, NULL, 1, NULL, err), BP_ENULL, "V");
    for (size_t i = 0; i < bpt_num_params(net); i++)
        assert_true(g[i] == 0);
    free(g), free(d.X), free(d.Y);
    bp_workspace_free(ws), bp_workspace_free(tws), bp_workspace_free(tw2);
    bp_net_free(net), bp_net_free(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scaled_vjp_jvp_naive_chain_rule_differences),
        cmocka_unit_test(scaled_jacobian),
        cmocka_unit_test(scaled_force_gradient),
        cmocka_unit_test(scaled_force_weight_zero_is_the_standardised_gradient),
        cmocka_unit_test(identity_scaling_keeps_the_bits),
        cmocka_unit_test(train_scaled_on_forces),
        cmocka_unit_test(scaled_errors),
    };
    return cmocka_run_group_tests_name("deriv_scaling", tests, NULL, NULL);
}
