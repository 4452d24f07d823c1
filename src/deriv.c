/* Derivatives with respect to the inputs (VJP, JVP, Jacobians) and the gradient of the energy +
 * force loss: the orchestration of the products of src/blas.c (which holds every BLAS call) and
 * the elementwise kernels of src/kernels.c, on the buffers of the workspace (src/workspace.h).
 * Nothing here allocates. The equations are written out in include/backprop.h. */
#include "kernels.h"
#include "workspace.h"

#include <math.h>
#include <string.h>

/* d (n^l x cols) <- J^l d, J^l = da^l/dz^l at the last forward; column j belongs to sample
 * j / rep (rep > 1: a Jacobian's seeds, rep columns per sample). */
static void apply_dact(const bp_net *net, const bp_workspace *ws, int l, float *d, int cols,
                       int rep)
{
    int n = ws->sizes[l - 1];
    bp_activation act = net->acts[l - 2]; /* the net's: a workspace of its shape may be another's */
    const float *a = ws->act[l], *z = ws->z[l];
    if (rep == 1) {
        bp__mul_dact(d, a, z, n, cols, act);
        return;
    }
    for (int j = 0; j < cols; j++) {
        size_t s = (size_t)(j / rep) * (size_t)n;
        bp__mul_dact(d + (size_t)j * (size_t)n, a + s, z ? z + s : NULL, n, 1, act);
    }
}

/* VJP: with the seeds V (n^L x cols) in ws->delta[0], G = (da^L/dx)^T V (n^1 x cols, ldg):
 * delta^L = J^L V, delta^{l-1} = J^{l-1} (w^l)^T delta^l down to l = 3, G = (w^2)^T delta^2. */
static void vjp(const bp_net *net, bp_workspace *ws, int cols, int rep, float *G, int ldg)
{
    int L = net->num_layers;
    float *d = ws->delta[0], *dprev = ws->delta[1];
    apply_dact(net, ws, L, d, cols, rep);
    for (int l = L; l > 2; l--) {
        bp__product_t(net, ws, l, cols, d, dprev, net->sizes[l - 2]);
        apply_dact(net, ws, l - 1, dprev, cols, rep);
        float *t = d;
        d = dprev;
        dprev = t;
    }
    bp__product_t(net, ws, 2, cols, d, G, ldg);
}

/* JVP from z-dot^2 (n^2 x cols, in ws->delta[0]): a-dot^l = J^l z-dot^l, z-dot^{l+1} =
 * w^{l+1} a-dot^l. Returns the buffer that holds a-dot^L (n^L x cols). */
static float *jvp(const bp_net *net, bp_workspace *ws, int cols, int rep)
{
    float *t = ws->delta[0], *next = ws->delta[1];
    apply_dact(net, ws, 2, t, cols, rep);
    for (int l = 3; l <= net->num_layers; l++) {
        bp__product(net, ws, l, cols, t, net->sizes[l - 2], next);
        apply_dact(net, ws, l, next, cols, rep);
        float *s = t;
        t = next;
        next = s;
    }
    return t;
}

/* Checks of bp_vjp_batch and bp_jvp_batch: the pair, a forward of batch columns, and the seed
 * (rows sn) and result (rows rn) matrices. */
static bp_status check_derivative(const bp_net *net, const bp_workspace *ws, int batch,
                                  const char *sname, const float *S, int lds, int sn,
                                  const char *rname, const float *R, int ldr, int rn)
{
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    if (ws->batch != batch)
        return bp__fail(BP_EBATCH, "batch %d differs from the last forward's batch %d (0: none)",
                        batch, ws->batch);
    if ((st = bp__check_matrix(sname, S, sn, lds)))
        return st;
    return bp__check_matrix(rname, R, rn, ldr);
}

/* D (rows x cols, ldd) = S (lds) with row i multiplied by s[i] (divide: divided by it), or a
 * plain copy when s is NULL. D may be S (ldd = lds): then rows are scaled in place. */
static void copy_scaled(int rows, int cols, const float *S, int lds, const float *s, int divide,
                        float *D, int ldd)
{
    if (!s && S == D)
        return;
    for (size_t j = 0; j < (size_t)cols; j++) {
        const float *src = S + j * (size_t)lds;
        float *dst = D + j * (size_t)ldd;
        if (!s)
            memcpy(dst, src, (size_t)rows * sizeof *dst);
        else if (divide)
            for (int i = 0; i < rows; i++)
                dst[i] = src[i] / s[i];
        else
            for (int i = 0; i < rows; i++)
                dst[i] = src[i] * s[i];
    }
}

/* The scales of the chain rule through net's scaling (x' = (x - mean) / scale in, y = scale_y
 * a^L + mean_y out): the n^1 input scales and the n^L target scales, NULL for a side without. */
static const float *input_scales(const bp_net *net)
{
    return net->in_scaling ? net->in_scaling + net->sizes[0] : NULL;
}

static const float *target_scales(const bp_net *net)
{
    return net->out_scaling ? net->out_scaling + net->sizes[net->num_layers - 1] : NULL;
}

bp_status bp_vjp_batch(const bp_net *net, bp_workspace *ws, int batch, const float *V, int ldv,
                       float *G, int ldg)
{
    bp__clear_error();
    bp_status st = check_derivative(net, ws, batch, "V (ldv)", V, ldv,
                                    net ? net->sizes[net->num_layers - 1] : 0, "G (ldg)", G, ldg,
                                    net ? net->sizes[0] : 0);
    if (st)
        return st;
    int nL = net->sizes[net->num_layers - 1];
    copy_scaled(nL, batch, V, ldv, target_scales(net), 0, ws->delta[0], nL); /* diag(s_y) V */
    vjp(net, ws, batch, 1, G, ldg);
    copy_scaled(net->sizes[0], batch, G, ldg, input_scales(net), 1, G, ldg); /* diag(1/s) G' */
    return BP_OK;
}

bp_status bp_jvp_batch(const bp_net *net, bp_workspace *ws, int batch, const float *U, int ldu,
                       float *Adot, int ldd)
{
    bp__clear_error();
    bp_status st = check_derivative(net, ws, batch, "U (ldu)", U, ldu, net ? net->sizes[0] : 0,
                                    "Adot (ldd)", Adot, ldd,
                                    net ? net->sizes[net->num_layers - 1] : 0);
    if (st)
        return st;
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    if (net->in_scaling) { /* U' = diag(1/s) U, in the standardised-input scratch */
        float *us, *unused;
        bp__workspace_scratch(ws, &us, &unused);
        copy_scaled(n1, batch, U, ldu, input_scales(net), 1, us, n1);
        U = us;
        ldu = n1;
    }
    bp__product(net, ws, 2, batch, U, ldu, ws->delta[0]);
    const float *t = jvp(net, ws, batch, 1);
    copy_scaled(nL, batch, t, nL, target_scales(net), 0, Adot, ldd); /* diag(s_y) A-dot' */
    return BP_OK;
}

/* The Jacobians of cnt samples just forwarded, by n^L VJPs per sample (one pass of cnt n^L
 * columns, seeds e_i): column (s, i) of G is grad_x a_i^L of sample s, that is row i of its
 * Jacobian, so G (n^1 x cnt n^L, ld n^1) is J itself. */
static void jacobians_by_vjp(const bp_net *net, bp_workspace *ws, int cnt, float *J)
{
    int nL = net->sizes[net->num_layers - 1], cols = cnt * nL;
    float *d = ws->delta[0];
    memset(d, 0, (size_t)nL * (size_t)cols * sizeof *d);
    for (int j = 0; j < cols; j++)
        d[(size_t)j * (size_t)nL + (size_t)(j % nL)] = 1.0f;
    vjp(net, ws, cols, nL, J, net->sizes[0]);
}

/* The same by n^1 JVPs per sample (seeds e_k, so z-dot^2 of column (s, k) is column k of w^2):
 * column (s, k) of the result is da^L/dx_k of sample s, transposed into J's rows. */
static void jacobians_by_jvp(const bp_net *net, bp_workspace *ws, int cnt, float *J)
{
    int n1 = net->sizes[0], n2 = net->sizes[1], nL = net->sizes[net->num_layers - 1];
    size_t block = (size_t)n2 * (size_t)n1;
    for (int s = 0; s < cnt; s++)
        memcpy(ws->delta[0] + (size_t)s * block, net->params + net->w_off[2], block * sizeof *J);
    const float *t = jvp(net, ws, cnt * n1, n1);
    for (int s = 0; s < cnt; s++)
        for (int k = 0; k < n1; k++)
            for (int i = 0; i < nL; i++)
                J[((size_t)s * (size_t)nL + (size_t)i) * (size_t)n1 + (size_t)k] =
                    t[((size_t)s * (size_t)n1 + (size_t)k) * (size_t)nL + (size_t)i];
}

/* The forward pass of cnt raw columns X (checked), standardised first when net scales its inputs
 * (into the workspace's scratch, which holds max_batch columns). */
static void forward_raw(const bp_net *net, bp_workspace *ws, int cnt, const float *X, int ldx)
{
    if (net->in_scaling) {
        float *xs, *unused;
        bp__workspace_scratch(ws, &xs, &unused);
        bp__standardize(net->in_scaling, net->sizes[0], cnt, X, ldx, xs, net->sizes[0]);
        X = xs;
        ldx = net->sizes[0];
    }
    bp__forward_pass(net, ws, cnt, X, ldx);
}

/* The Jacobians of the standardised network (cnt row-major n^L x n^1 blocks) to raw units:
 * J[i][k] = s_y[i] J'[i][k] / s[k]. Row (s, i) of the blocks is column (s, i) of an n^1 x cnt n^L
 * column-major matrix, so the input side divides its rows. */
static void scale_jacobians(const bp_net *net, int cnt, float *J)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    const float *sy = target_scales(net);
    for (size_t c = 0; sy && c < (size_t)cnt * (size_t)nL; c++)
        for (size_t k = 0; k < (size_t)n1; k++)
            J[c * (size_t)n1 + k] *= sy[c % (size_t)nL];
    copy_scaled(n1, cnt * nL, J, n1, input_scales(net), 1, J, n1);
}

bp_status bp_jacobian_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                            int ldx, float *J)
{
    bp__clear_error();
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    if ((st = bp__check_matrix("X (ldx)", X, net->sizes[0], ldx)))
        return st;
    if (!J)
        return bp__fail(BP_ENULL, "J is NULL");
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    int by_vjp = nL <= n1, seeds = by_vjp ? nL : n1;
    if (seeds > ws->max_batch)
        return bp__fail(BP_EBATCH, "a Jacobian needs max_batch >= min(n^L, n^1) = %d, the "
                        "workspace has %d", seeds, ws->max_batch);
    int chunk = ws->max_batch / seeds;
    size_t per_sample = (size_t)nL * (size_t)n1;
    for (int s0 = 0; s0 < batch; s0 += chunk) {
        int cnt = batch - s0 < chunk ? batch - s0 : chunk;
        forward_raw(net, ws, cnt, X + (size_t)s0 * (size_t)ldx, ldx);
        float *Js = J + (size_t)s0 * per_sample;
        if (by_vjp)
            jacobians_by_vjp(net, ws, cnt, Js);
        else
            jacobians_by_jvp(net, ws, cnt, Js);
        scale_jacobians(net, cnt, Js);
    }
    return BP_OK;
}

/* ---------------------------------------------------------------- the energy + force loss */
/* The network's configuration before the shapes of X, E and F: E's rows are the n^L outputs, so
 * on a network of several outputs a shape check would blame E's leading dimension for what is the
 * network's fault. */
bp_status bp__check_force_net(const bp_net *net)
{
    int L = net->num_layers;
    if (net->sizes[L - 1] != 1)
        return bp__fail(BP_ECONFIG, "the force loss needs one output (the energy), the network "
                        "has %d", net->sizes[L - 1]);
    if (net->acts[L - 2] == BP_SOFTMAX || net->cost != BP_QUADRATIC)
        return bp__fail(BP_ECONFIG, "the force loss needs the quadratic cost and an elementwise "
                        "output activation, not %s with %s", bp_cost_name(net->cost),
                        bp_activation_name(net->acts[L - 2]));
    return BP_OK;
}

bp_status bp__check_forces(const bp_net *net, const bp__force_batch *fb)
{
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    bp_status st = bp__check_force_net(net);
    if (st || (st = bp__check_io(net, fb->batch, fb->X, fb->ldx, "E (lde)", fb->E, fb->lde)) ||
        (st = bp__check_matrix("F (ldf)", fb->F, net->sizes[0], fb->ldf)))
        return st;
    if (!(fb->w_energy >= 0) || !isfinite(fb->w_energy) || !(fb->w_force >= 0) ||
        !isfinite(fb->w_force))
        return bp__fail(BP_EVALUE, "w_energy %g and w_force %g must be finite and >= 0",
                        (double)fb->w_energy, (double)fb->w_force);
    return BP_OK;
}

/* E*' of sample j: the reference energy standardised as the network's output, (E* - mean_y) /
 * scale_y, or E* itself on a network without target scaling. */
static float energy_target(const bp_net *net, const bp__force_batch *fb, int j)
{
    float e = fb->E[(size_t)j * (size_t)fb->lde];
    return net->out_scaling ? (e - net->out_scaling[0]) / net->out_scaling[1] : e;
}

/* Steps 1-2 of the force gradient: the forward of the standardised inputs (in the first half of
 * [X R]), g' = grad_x' a^L by the VJP (V = 1) into R, then r = diag(1/s) g' + F* / s_y, the
 * residual of the raw forces over s_y (r = g' + F* unscaled), whose squares the loss sums, and
 * R = diag(1/s) r, the tangent input whose reverse pass is the force term's gradient. Returns the
 * summed loss. */
static double residual(const bp_net *net, bp_workspace *ws, const bp__force_batch *fb)
{
    int L = net->num_layers, n1 = net->sizes[0], B = fb->batch;
    const float *s = input_scales(net), *sy = target_scales(net);
    bp__standardize(net->in_scaling, n1, B, fb->X, fb->ldx, ws->input, n1);
    bp__forward_pass(net, ws, B, ws->input, n1);
    float *R = ws->input + (size_t)n1 * (size_t)B;
    for (int j = 0; j < B; j++)
        ws->delta[0][j] = 1.0f;
    vjp(net, ws, B, 1, R, n1);
    double loss = 0;
    for (int j = 0; j < B; j++) {
        float *g = R + (size_t)j * (size_t)n1;
        const float *f = fb->F + (size_t)j * (size_t)fb->ldf;
        double rr = 0, de = (double)ws->act[L][j] - energy_target(net, fb, j);
        for (int k = 0; k < n1; k++) {
            float r = (s ? g[k] / s[k] : g[k]) + (sy ? f[k] / sy[0] : f[k]);
            rr += (double)r * r;
            g[k] = s ? r / s[k] : r;
        }
        loss += 0.5 * (fb->w_energy * de * de + fb->w_force * rr);
    }
    return loss;
}

bp_status bp__force_loss(const bp_net *net, bp_workspace *ws, const bp__force_batch *fb,
                         double *loss)
{
    if (!ws->tangent)
        return bp__fail(BP_EMISMATCH, "the force loss needs a workspace made by "
                        "bp_workspace_create_tangent");
    *loss = residual(net, ws, fb);
    return BP_OK;
}

/* Step 3: the tangent forward z-dot^l = w^l a-dot^{l-1}, a-dot^l = J^l z-dot^l from a-dot^1 = R
 * (a-dot^L is not needed). */
static void tangent_forward(const bp_net *net, bp_workspace *ws, int B)
{
    int L = net->num_layers;
    const float *prev = ws->input + (size_t)net->sizes[0] * (size_t)B;
    for (int l = 2; l <= L; l++) {
        int n = net->sizes[l - 1];
        bp__product(net, ws, l, B, prev, net->sizes[l - 2], ws->zdot[l]);
        if (l == L)
            break;
        float *adot = ws->act[l] + (size_t)n * (size_t)B;
        memcpy(adot, ws->zdot[l], (size_t)n * (size_t)B * sizeof *adot);
        apply_dact(net, ws, l, adot, B, 1);
        prev = adot;
    }
}

/* Step 4: the backward of the doubled state from abar^L = w_E (a^L - E*), adbar^L = w_F; each
 * layer's two weight-gradient products are one of inner dimension 2B ([zbar zdbar] [a adot]^T)
 * and its two transposed products one of 2B columns. grad overwritten. */
static void tangent_backward(const bp_net *net, bp_workspace *ws, const bp__force_batch *fb,
                             float *grad)
{
    int L = net->num_layers, B = fb->batch;
    float *d = ws->delta[0], *dprev = ws->delta[1];
    for (int j = 0; j < B; j++) {
        d[j] = fb->w_energy * (ws->act[L][j] - energy_target(net, fb, j));
        d[B + j] = fb->w_force;
    }
    for (int l = L; l >= 2; l--) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        size_t cells = (size_t)n * (size_t)B;
        bp__tangent_adjoint(d, d + cells, ws->act[l], ws->z[l], ws->zdot[l], cells,
                            net->acts[l - 2]);
        const float *below = l == 2 ? ws->input : ws->act[l - 1]; /* [a^{l-1} adot^{l-1}] */
        bp__layer_gradient(net, ws, l, 2 * B, d, below, m, B, grad);
        if (l == 2)
            break;
        bp__product_t(net, ws, l, 2 * B, d, dprev, m);
        float *t = d;
        d = dprev;
        dprev = t;
    }
}

/* X and E of an energy-only batch standardised into the workspace's scratch where net scales
 * that side (the pointers and lds then point there). */
static void standardize_energy_batch(const bp_net *net, bp_workspace *ws, int batch,
                                     const float **X, int *ldx, const float **E, int *lde)
{
    float *xs, *es;
    bp__workspace_scratch(ws, &xs, &es);
    if (net->in_scaling) {
        bp__standardize(net->in_scaling, net->sizes[0], batch, *X, *ldx, xs, net->sizes[0]);
        *X = xs;
        *ldx = net->sizes[0];
    }
    if (net->out_scaling) {
        bp__standardize(net->out_scaling, 1, batch, *E, *lde, es, 1);
        *E = es;
        *lde = 1;
    }
}

bp_status bp_gradient_forces(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                             int ldx, const float *E, int lde, const float *F, int ldf,
                             float w_energy, float w_force, float *grad, double *loss)
{
    bp__clear_error();
    bp__force_batch fb = {batch, X, ldx, E, lde, F, ldf, w_energy, w_force};
    bp_status st = bp__check_batch(net, ws, batch, X, ldx);
    if (st || (st = bp__check_forces(net, &fb)))
        return st;
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    if (w_force == 0.0f) { /* equations A-D alone on x' and E*', with (A) scaled by w_E */
        double cost;
        standardize_energy_batch(net, ws, batch, &X, &ldx, &E, &lde);
        st = bp_gradient_batch(net, ws, batch, X, ldx, E, lde, grad, &cost);
        if (w_energy != 1.0f)
            for (size_t i = 0; i < net->num_params; i++)
                grad[i] *= w_energy;
        if (loss)
            *loss = w_energy * cost;
        return st;
    }
    if (!ws->tangent)
        return bp__fail(BP_EMISMATCH, "w_force > 0 needs a workspace made by "
                        "bp_workspace_create_tangent");
    double l = residual(net, ws, &fb);
    tangent_forward(net, ws, batch);
    tangent_backward(net, ws, &fb, grad);
    if (loss)
        *loss = l;
    return BP_OK;
}
