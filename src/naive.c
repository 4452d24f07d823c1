/* The naive reference: the derivation's index formulas as plain loops, in double, one sample at a
 * time, no BLAS. It shares nothing with the BLAS path but the network description: sigma and
 * sigma' are its own and computed from z, and the output error is the chain rule of eq. 2 with no
 * fused shortcut, so a wrong fusion in the BLAS path shows up as a difference.
 *
 * Equation numbers are those of the backpropagation derivation the project follows, written here
 * in this file's indices, with delta_j^l = dC/dz_j^l the error of neuron j of layer l:
 *   eq. 15  forward pass      z_j^l = sum_k w_jk^l a_k^{l-1} + b_j^l,  a_j^l = sigma(z_j^l)
 *   eq. 2   output error      delta_j^L = sum_k dC/da_k^L da_k^L/dz_j^L  (the chain rule)
 *   eq. 5   output error      delta_j^L = dC/da_j^L sigma'(z_j^L)  (eq. 2, sigma elementwise)  (A)
 *   eq. 9   hidden error      delta_k^{l-1} = sum_j delta_j^l w_jk^l sigma'(z_k^{l-1})          (B)
 *   eq. 13  weight gradient   dC/dw_jk^l = delta_j^l a_k^{l-1}                                 (C)
 *   eq. 17  bias gradient     dC/db_j^l = delta_j^l                                            (D)
 * (A)-(D) are their vector forms, which the BLAS path (src/blas.c, src/loops.c) computes and is
 * tagged with, so that `grep -n '(B)' src` finds both paths. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* GELU in its tanh form: z (1 + tanh(u)) / 2, u = GELU_C (z + GELU_K z^3). */
#define GELU_C 0.79788456080286536 /* sqrt(2/pi) */
#define GELU_K 0.044715

static double sigma(bp_activation act, double z)
{
    switch (act) {
    case BP_SIGMOID: return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
    case BP_TANH: return tanh(z);
    case BP_RELU: return z > 0 ? z : 0.0;
    case BP_LEAKY_RELU: return z > 0 ? z : (double)BP_LEAKY_SLOPE * z;
    case BP_SOFTPLUS: return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
    case BP_SILU: return z * sigma(BP_SIGMOID, z);
    case BP_GELU: return 0.5 * z * (1.0 + tanh(GELU_C * (z + GELU_K * z * z * z)));
    case BP_IDENTITY:
    case BP_SOFTMAX: break; /* softmax is a whole-vector function, see forward_sample */
    }
    return z;
}

static double dsigma(bp_activation act, double z)
{
    switch (act) {
    case BP_SIGMOID: {
        double s = sigma(act, z);
        return s * (1.0 - s);
    }
    case BP_TANH: return 1.0 - tanh(z) * tanh(z);
    case BP_RELU: return z > 0 ? 1.0 : 0.0;
    case BP_LEAKY_RELU: return z > 0 ? 1.0 : (double)BP_LEAKY_SLOPE;
    case BP_SOFTPLUS: return sigma(BP_SIGMOID, z);
    case BP_SILU: {
        double s = sigma(BP_SIGMOID, z);
        return s + z * s * (1.0 - s);
    }
    case BP_GELU: { /* d/dz of the tanh form: (1 + t)/2 + z (1 - t^2) u' / 2 */
        double t = tanh(GELU_C * (z + GELU_K * z * z * z)), u1 = GELU_C * (1 + 3 * GELU_K * z * z);
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * u1;
    }
    case BP_IDENTITY:
    case BP_SOFTMAX: break;
    }
    return 1.0;
}

/* sigma''(z), for the force gradient: zero for the piecewise-linear activations. */
static double d2sigma(bp_activation act, double z)
{
    double s = sigma(BP_SIGMOID, z), t = tanh(z);
    switch (act) {
    case BP_SIGMOID: return s * (1.0 - s) * (1.0 - 2.0 * s);
    case BP_TANH: return -2.0 * t * (1.0 - t * t);
    case BP_SOFTPLUS: return s * (1.0 - s);
    case BP_SILU: return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s));
    case BP_GELU: { /* (1 - t^2) (u' + z (u'' - 2 t u'^2) / 2) */
        double g = tanh(GELU_C * (z + GELU_K * z * z * z)), u1 = GELU_C * (1 + 3 * GELU_K * z * z);
        return (1.0 - g * g) * (u1 + 0.5 * z * (6 * GELU_C * GELU_K * z - 2 * g * u1 * u1));
    }
    case BP_RELU:
    case BP_LEAKY_RELU:
    case BP_IDENTITY:
    case BP_SOFTMAX: break;
    }
    return 0.0;
}

/* ln x for a cost term; an output that underflowed to 0 costs ln(DBL_MIN) instead of -inf. */
static double cost_log(double x) { return log(x > 0x1p-1022 ? x : 0x1p-1022); }

/* Per-sample vectors z^l, a^l, delta^l for l = 1..L, and for the derivative passes the tangents
 * z-dot^l (zt) and a-dot^l (at) and the adjoint of a-dot^l (e), laid out one after another. */
enum { NAIVE_VECTORS = 6 };
typedef struct naive_buf {
    double *z[BP_MAX_LAYERS + 1], *a[BP_MAX_LAYERS + 1], *d[BP_MAX_LAYERS + 1];
    double *zt[BP_MAX_LAYERS + 1], *at[BP_MAX_LAYERS + 1], *e[BP_MAX_LAYERS + 1];
    double *block;
} naive_buf;

static bp_status buf_create(const bp_net *net, naive_buf *buf)
{
    size_t total = 0;
    for (int l = 1; l <= net->num_layers; l++)
        total += NAIVE_VECTORS * (size_t)net->sizes[l - 1]; /* <= 64 widths <= INT_MAX */
    buf->block = bp__malloc(total * sizeof(double));
    if (!buf->block)
        return bp__fail(BP_ENOMEM, "naive scratch of %zu doubles", total);
    double *p = buf->block;
    for (int l = 1; l <= net->num_layers; l++) {
        size_t n = (size_t)net->sizes[l - 1];
        buf->z[l] = p;
        buf->a[l] = p + n;
        buf->d[l] = p + 2 * n;
        buf->zt[l] = p + 3 * n;
        buf->at[l] = p + 4 * n;
        buf->e[l] = p + 5 * n;
        p += NAIVE_VECTORS * n;
    }
    return BP_OK;
}

/* Forward pass, eq. 15: z_j^l = sum_k w_jk^l a_k^{l-1} + b_j^l, a_j^l = sigma(z_j^l);
 * w_jk^l at w[j + k n^l]. The input a^1 is already in buf. */
static void forward_layers(const bp_net *net, const double *params, naive_buf *buf)
{
    for (int l = 2; l <= net->num_layers; l++) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        const double *w = params + net->w_off[l], *b = params + net->b_off[l];
        bp_activation act = net->acts[l - 2];
        for (int j = 0; j < n; j++) {
            double z = b[j];
            for (int k = 0; k < m; k++)
                z += w[j + (size_t)k * (size_t)n] * buf->a[l - 1][k];
            buf->z[l][j] = z;
            buf->a[l][j] = sigma(act, z);
        }
        if (act == BP_SOFTMAX) { /* a_j = e^{z_j} / sum_k e^{z_k}, max subtracted */
            double max = buf->z[l][0], sum = 0;
            for (int j = 1; j < n; j++)
                max = fmax(max, buf->z[l][j]);
            for (int j = 0; j < n; j++)
                sum += buf->a[l][j] = exp(buf->z[l][j] - max);
            for (int j = 0; j < n; j++)
                buf->a[l][j] /= sum;
        }
    }
}

static void forward_sample(const bp_net *net, const double *params, const float *x, naive_buf *buf)
{
    for (int k = 0; k < net->sizes[0]; k++)
        buf->a[1][k] = x[k];
    forward_layers(net, params, buf);
}

static double sample_cost(bp_cost cost, const double *a, const float *y, int n)
{
    double c = 0;
    for (int j = 0; j < n; j++) {
        double t = y[j];
        switch (cost) {
        case BP_QUADRATIC: c += 0.5 * (t - a[j]) * (t - a[j]); break;
        case BP_CROSS_ENTROPY:
            c -= (t != 0 ? t * cost_log(a[j]) : 0) + (t != 1 ? (1 - t) * cost_log(1 - a[j]) : 0);
            break;
        case BP_NLL: c -= t != 0 ? t * cost_log(a[j]) : 0; break;
        }
    }
    return c;
}

/* (A) output error delta_j^L by the chain rule: eq. 2 for a softmax output, eq. 5 for an
 * elementwise sigma. Written so that a saturated output (a = 0 or 1 exactly in double) never
 * forms 0 * inf: the factor a_k of the softmax Jacobian da_k/dz_j = a_k (1[k=j] - a_j) multiplies
 * dC/da_k = -t_k/a_k of the log-likelihood as -t_k, and for cross-entropy
 * sigma'(z) = sigma(z) sigma(-z) is distributed over the two terms of
 * dC/da = -t/a + (1-t)/(1-a). */
static double output_delta(const bp_net *net, const naive_buf *buf, const float *y, int j)
{
    int L = net->num_layers, nL = net->sizes[L - 1];
    const double *a = buf->a[L], *z = buf->z[L];
    bp_activation act = net->acts[L - 2];
    if (act == BP_SOFTMAX) {
        double s = 0;
        for (int k = 0; k < nL; k++) {
            double dc_times_a = net->cost == BP_NLL ? -(double)y[k] : (a[k] - y[k]) * a[k];
            s += dc_times_a * ((k == j) - a[j]);
        }
        return s;
    }
    if (net->cost == BP_CROSS_ENTROPY) /* sigmoid output */
        return -(double)y[j] * sigma(act, -z[j]) + (1.0 - y[j]) * sigma(act, z[j]);
    return (a[j] - y[j]) * dsigma(act, z[j]); /* quadratic: dC/da = a - y */
}

/* (A) eqs. 2/5, (B) eq. 9, (C) eq. 13, (D) eq. 17 for one sample after forward_sample; g
 * accumulates. */
static void backward_sample(const bp_net *net, const double *params, const float *y, naive_buf *buf,
                            double *g)
{
    int L = net->num_layers;
    for (int j = 0; j < net->sizes[L - 1]; j++)
        buf->d[L][j] = output_delta(net, buf, y, j); /* (A) eqs. 2/5 */
    for (int l = L; l >= 2; l--) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        double *gw = g + net->w_off[l], *gb = g + net->b_off[l];
        for (int j = 0; j < n; j++) {
            for (int k = 0; k < m; k++) /* (C) eq. 13: dC/dw_jk^l = delta_j^l a_k^{l-1} */
                gw[j + (size_t)k * (size_t)n] += buf->d[l][j] * buf->a[l - 1][k];
            gb[j] += buf->d[l][j]; /* (D) eq. 17: dC/db_j^l = delta_j^l */
        }
        if (l == 2)
            break;
        const double *w = params + net->w_off[l];
        /* (B) eq. 9: delta_k^{l-1} = sum_j delta_j^l w_jk^l sigma'(z_k^{l-1}) */
        for (int k = 0; k < m; k++) {
            double s = 0;
            for (int j = 0; j < n; j++)
                s += buf->d[l][j] * w[j + (size_t)k * (size_t)n];
            buf->d[l - 1][k] = s * dsigma(net->acts[l - 3], buf->z[l - 1][k]);
        }
    }
}

bp_status bp__naive_run(const bp_net *net, const double *params, int batch, const float *X, int ldx,
                        const float *Y, int ldy, float *out, int ldo, double *grad, double *cost)
{
    naive_buf buf;
    bp_status st = buf_create(net, &buf);
    if (st)
        return st;
    int L = net->num_layers, nL = net->sizes[L - 1];
    double total = 0;
    for (int s = 0; s < batch; s++) {
        const float *x = X + (size_t)s * (size_t)ldx;
        forward_sample(net, params, x, &buf);
        if (out)
            for (int j = 0; j < nL; j++)
                out[(size_t)s * (size_t)ldo + (size_t)j] = (float)buf.a[L][j];
        if (!Y)
            continue;
        const float *y = Y + (size_t)s * (size_t)ldy;
        total += sample_cost(net->cost, buf.a[L], y, nL);
        if (grad)
            backward_sample(net, params, y, &buf, grad);
    }
    if (cost)
        *cost = total;
    bp__free(buf.block);
    return BP_OK;
}

bp_status bp__params_to_double(const bp_net *net, double **out)
{
    size_t bytes;
    if (!bp__mul_size(net->num_params, sizeof(double), &bytes))
        return bp__fail(BP_EOVERFLOW, "%zu parameters in double overflow size_t", net->num_params);
    double *p = bp__malloc(bytes);
    if (!p)
        return bp__fail(BP_ENOMEM, "%zu bytes for parameters in double", bytes);
    for (size_t i = 0; i < net->num_params; i++)
        p[i] = net->params[i];
    *out = p;
    return BP_OK;
}

bp_status bp__check_io(const bp_net *net, int batch, const float *X, int ldx, const char *yname,
                       const float *Y, int ldy)
{
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    bp_status st = bp__check_matrix("X (ldx)", X, net->sizes[0], ldx);
    if (!st)
        st = bp__check_matrix(yname, Y, net->sizes[net->num_layers - 1], ldy);
    return st;
}

bp_status bp_naive_forward(const bp_net *net, int batch, const float *X, int ldx, float *out,
                           int ldo)
{
    bp__clear_error();
    bp_status st = bp__check_io(net, batch, X, ldx, "out (ldo)", out, ldo);
    double *params = NULL;
    if (st || (st = bp__params_to_double(net, &params)))
        return st;
    st = bp__naive_run(net, params, batch, X, ldx, NULL, 0, out, ldo, NULL, NULL);
    bp__free(params);
    return st;
}

bp_status bp_naive_backward(const bp_net *net, int batch, const float *X, int ldx, const float *Y,
                            int ldy, float *grad, double *cost)
{
    bp__clear_error();
    bp_status st = bp__check_io(net, batch, X, ldx, "Y (ldy)", Y, ldy);
    if (st)
        return st;
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    double *params = NULL, *g = NULL;
    if ((st = bp__params_to_double(net, &params)))
        return st;
    g = bp__calloc(net->num_params, sizeof *g); /* count * 8 checked by bp__params_to_double */
    if (!g) {
        bp__free(params);
        return bp__fail(BP_ENOMEM, "naive gradient of %zu doubles", net->num_params);
    }
    st = bp__naive_run(net, params, batch, X, ldx, Y, ldy, NULL, 0, g, cost);
    if (!st)
        for (size_t i = 0; i < net->num_params; i++)
            grad[i] += (float)g[i];
    bp__free(g);
    bp__free(params);
    return st;
}

/* ---------------------------------------------------------------- derivatives with respect to x
 * In this file's indices, after forward_sample (J^l = da^l/dz^l: sigma'(z^l) on the diagonal, or
 * for softmax a_i (1[i=j] - a_j)):
 *   VJP   delta_j^L = sum_i v_i J_ij^L;  delta_k^{l-1} = sum_j delta_j^l w_jk^l sigma'(z_k^{l-1});
 *         g_k = sum_j delta_j^2 w_jk^2                                  (g = (da^L/dx)^T v)
 *   JVP   adot^1 = u;  zdot_j^l = sum_k w_jk^l adot_k^{l-1};  adot_i^l = sum_j J_ij^l zdot_j^l
 *   force gradient (DESIGN.md, "Training on derivatives"): g by the VJP with v = 1, r = g + F*,
 *         the JVP along r, then from abar^L = w_E (a^L - E*), ebar^L = w_F, for l = L..2:
 *         zbar_j = abar_j sigma'(z_j) + ebar_j sigma''(z_j) zdot_j,  zdbar_j = ebar_j sigma'(z_j),
 *         dL/dw_jk += zbar_j a_k^{l-1} + zdbar_j adot_k^{l-1},  dL/db_j += zbar_j,
 *         abar_k^{l-1} = sum_j w_jk zbar_j,  ebar_k^{l-1} = sum_j w_jk zdbar_j. */

/* The scaling in double (the derivative functions take raw data, include/backprop.h): a^1 =
 * (x - mean) / scale of the raw sample x (floats: xf, or doubles: xd), then the forward. */
static void forward_raw_sample(const bp_net *net, const double *params, const float *xf,
                               const double *xd, naive_buf *buf)
{
    int n1 = net->sizes[0];
    const float *ms = net->in_scaling;
    for (int k = 0; k < n1; k++) {
        double x = xf ? xf[k] : xd[k];
        buf->a[1][k] = ms ? (x - ms[k]) / ms[n1 + k] : x;
    }
    forward_layers(net, params, buf);
}

/* Row i's factor of the chain rule through the scaling: scale_y[i] (target side) or 1/scale[i]
 * (input side); 1 for a side without scaling. */
static double target_factor(const bp_net *net, int i)
{
    return net->out_scaling ? net->out_scaling[net->sizes[net->num_layers - 1] + i] : 1.0;
}

static double input_factor(const bp_net *net, int k)
{
    return net->in_scaling ? 1.0 / net->in_scaling[net->sizes[0] + k] : 1.0;
}

/* out_i = sum_j J_ij^L in_j of the output layer (J symmetric for softmax too). */
static double output_jacobian_row(const bp_net *net, const naive_buf *buf, const double *in, int i)
{
    int L = net->num_layers, nL = net->sizes[L - 1];
    const double *a = buf->a[L];
    if (net->acts[L - 2] != BP_SOFTMAX)
        return in[i] * dsigma(net->acts[L - 2], buf->z[L][i]);
    double s = 0;
    for (int j = 0; j < nL; j++)
        s += a[i] * ((i == j) - a[j]) * in[j];
    return s;
}

/* g = (da^L/dx)^T v into buf->d[1], after forward_sample. */
static void vjp_sample(const bp_net *net, const double *params, const double *v, naive_buf *buf)
{
    int L = net->num_layers;
    for (int j = 0; j < net->sizes[L - 1]; j++)
        buf->d[L][j] = output_jacobian_row(net, buf, v, j);
    for (int l = L; l >= 2; l--) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        const double *w = params + net->w_off[l];
        for (int k = 0; k < m; k++) {
            double s = 0;
            for (int j = 0; j < n; j++)
                s += buf->d[l][j] * w[j + (size_t)k * (size_t)n];
            buf->d[l - 1][k] = l > 2 ? s * dsigma(net->acts[l - 3], buf->z[l - 1][k]) : s;
        }
    }
}

/* adot^L = (da^L/dx) adot^1 into buf->at[L], with adot^1 in buf->at[1], after forward_sample. */
static void jvp_sample(const bp_net *net, const double *params, naive_buf *buf)
{
    int L = net->num_layers;
    for (int l = 2; l <= L; l++) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        const double *w = params + net->w_off[l];
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < m; k++)
                s += w[j + (size_t)k * (size_t)n] * buf->at[l - 1][k];
            buf->zt[l][j] = s;
        }
        if (l == L) {
            for (int i = 0; i < n; i++)
                buf->at[L][i] = output_jacobian_row(net, buf, buf->zt[L], i);
            break;
        }
        for (int j = 0; j < n; j++)
            buf->at[l][j] = buf->zt[l][j] * dsigma(net->acts[l - 2], buf->z[l][j]);
    }
}

/* The force gradient's backward from abar^L (in d[L]) and ebar^L (in e[L]); g accumulates. */
static void tangent_backward(const bp_net *net, const double *params, naive_buf *buf, double *g)
{
    for (int l = net->num_layers; l >= 2; l--) {
        int n = net->sizes[l - 1], m = net->sizes[l - 2];
        bp_activation act = net->acts[l - 2];
        const double *w = params + net->w_off[l];
        double *gw = g + net->w_off[l], *gb = g + net->b_off[l];
        for (int j = 0; j < n; j++) {
            double z = buf->z[l][j], zbar, zdbar;
            zbar = buf->d[l][j] * dsigma(act, z) + buf->e[l][j] * d2sigma(act, z) * buf->zt[l][j];
            zdbar = buf->e[l][j] * dsigma(act, z);
            for (int k = 0; k < m; k++) /* dL/dw_jk = zbar_j a_k + zdbar_j adot_k */
                gw[j + (size_t)k * (size_t)n] +=
                    zbar * buf->a[l - 1][k] + zdbar * buf->at[l - 1][k];
            gb[j] += zbar;
            buf->d[l][j] = zbar;
            buf->e[l][j] = zdbar;
        }
        if (l == 2)
            break;
        for (int k = 0; k < m; k++) {
            double sa = 0, se = 0;
            for (int j = 0; j < n; j++) {
                sa += w[j + (size_t)k * (size_t)n] * buf->d[l][j];
                se += w[j + (size_t)k * (size_t)n] * buf->e[l][j];
            }
            buf->d[l - 1][k] = sa;
            buf->e[l - 1][k] = se;
        }
    }
}

/* One sample of the energy + force loss in the units of bp_gradient_forces (the raw loss over
 * scale_y^2): returns its loss, and g (if not NULL) accumulates its parameter gradient. x, e_ref
 * (E*) and f_ref (F*, n^1 floats) are raw. With c_k = 1/scale_k and c_y = 1/scale_y:
 * r_k = c_k g'_k + c_y F*_k, and the tangent starts at adot^1_k = c_k r_k. */
static double force_sample(const bp_net *net, const double *params, const float *x, float e_ref,
                           const float *f_ref, double w_e, double w_f, naive_buf *buf, double *g)
{
    int L = net->num_layers, n1 = net->sizes[0];
    const double one = 1.0, cy = 1.0 / target_factor(net, 0);
    double e = net->out_scaling ? (e_ref - (double)net->out_scaling[0]) * cy : e_ref;
    forward_raw_sample(net, params, x, NULL, buf);
    vjp_sample(net, params, &one, buf);
    double rr = 0, de = buf->a[L][0] - e;
    for (int k = 0; k < n1; k++) {
        double r = input_factor(net, k) * buf->d[1][k] + cy * f_ref[k];
        rr += r * r;
        buf->at[1][k] = input_factor(net, k) * r;
    }
    if (g) {
        jvp_sample(net, params, buf);
        buf->d[L][0] = w_e * de;
        buf->e[L][0] = w_f;
        tangent_backward(net, params, buf, g);
    }
    return w_e * 0.5 * de * de + w_f * 0.5 * rr;
}

bp_status bp__naive_forces(const bp_net *net, const double *params, const bp__force_batch *fb,
                           double *grad, double *loss)
{
    naive_buf buf;
    bp_status st = buf_create(net, &buf);
    if (st)
        return st;
    double total = 0;
    for (size_t s = 0; s < (size_t)fb->batch; s++)
        total += force_sample(net, params, fb->X + s * (size_t)fb->ldx, fb->E[s * (size_t)fb->lde],
                              fb->F + s * (size_t)fb->ldf, fb->w_energy, fb->w_force, &buf, grad);
    *loss = total;
    bp__free(buf.block);
    return BP_OK;
}

bp_status bp__naive_outputs_at(const bp_net *net, const double *params, const double *x,
                               double *out)
{
    naive_buf buf;
    bp_status st = buf_create(net, &buf);
    if (st)
        return st;
    int L = net->num_layers, nL = net->sizes[L - 1];
    forward_raw_sample(net, params, NULL, x, &buf);
    for (int i = 0; i < nL; i++)
        out[i] = target_factor(net, i) * buf.a[L][i] + (net->out_scaling ? net->out_scaling[i] : 0);
    bp__free(buf.block);
    return BP_OK;
}

/* Which product bp_naive_vjp / bp_naive_jvp run: seeds S (rows n^L for the VJP, n^1 for the
 * JVP) to results R (n^1 resp. n^L rows). */
typedef enum naive_mode { NAIVE_VJP, NAIVE_JVP } naive_mode;

static bp_status naive_derivative(const bp_net *net, naive_mode mode, int batch, const float *X,
                                  int ldx, const float *S, int lds, float *R, int ldr)
{
    int vjp = mode == NAIVE_VJP;
    bp_status st = bp__check_io(net, batch, X, ldx, vjp ? "V (ldv)" : "Adot (ldd)", vjp ? S : R,
                                vjp ? lds : ldr);
    if (st || (st = bp__check_matrix(vjp ? "G (ldg)" : "U (ldu)", vjp ? R : S, net->sizes[0],
                                     vjp ? ldr : lds)))
        return st;
    int L = net->num_layers, sn = vjp ? net->sizes[L - 1] : net->sizes[0];
    int rn = vjp ? net->sizes[0] : net->sizes[L - 1];
    double *params = NULL;
    naive_buf buf;
    if ((st = bp__params_to_double(net, &params)))
        return st;
    if ((st = buf_create(net, &buf))) {
        bp__free(params);
        return st;
    }
    for (int s = 0; s < batch; s++) {
        const float *seed = S + (size_t)s * (size_t)lds;
        forward_raw_sample(net, params, X + (size_t)s * (size_t)ldx, NULL, &buf);
        double *in = vjp ? buf.e[L] : buf.at[1]; /* e^L: free scratch in a VJP */
        for (int i = 0; i < sn; i++) /* the seed in the standardised units */
            in[i] = seed[i] * (vjp ? target_factor(net, i) : input_factor(net, i));
        if (vjp)
            vjp_sample(net, params, in, &buf);
        else
            jvp_sample(net, params, &buf);
        const double *res = vjp ? buf.d[1] : buf.at[L];
        for (int i = 0; i < rn; i++) /* back to raw units */
            R[(size_t)s * (size_t)ldr + (size_t)i] =
                (float)(res[i] * (vjp ? input_factor(net, i) : target_factor(net, i)));
    }
    bp__free(buf.block);
    bp__free(params);
    return BP_OK;
}

bp_status bp_naive_vjp(const bp_net *net, int batch, const float *X, int ldx, const float *V,
                       int ldv, float *G, int ldg)
{
    bp__clear_error();
    return naive_derivative(net, NAIVE_VJP, batch, X, ldx, V, ldv, G, ldg);
}

bp_status bp_naive_jvp(const bp_net *net, int batch, const float *X, int ldx, const float *U,
                       int ldu, float *Adot, int ldd)
{
    bp__clear_error();
    return naive_derivative(net, NAIVE_JVP, batch, X, ldx, U, ldu, Adot, ldd);
}

bp_status bp_naive_gradient_forces(const bp_net *net, int batch, const float *X, int ldx,
                                   const float *E, int lde, const float *F, int ldf, float w_energy,
                                   float w_force, float *grad, double *loss)
{
    bp__clear_error();
    bp__force_batch fb = {batch, X, ldx, E, lde, F, ldf, w_energy, w_force};
    bp_status st = bp__check_forces(net, &fb);
    if (st)
        return st;
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    double *params = NULL, *g = NULL, total;
    if ((st = bp__params_to_double(net, &params)))
        return st;
    g = bp__calloc(net->num_params, sizeof *g); /* count * 8 checked by bp__params_to_double */
    if (!g)
        st = bp__fail(BP_ENOMEM, "naive gradient of %zu doubles", net->num_params);
    else if (!(st = bp__naive_forces(net, params, &fb, g, &total)))
        for (size_t i = 0; i < net->num_params; i++)
            grad[i] += (float)g[i];
    if (!st && loss)
        *loss = total;
    bp__free(g);
    bp__free(params);
    return st;
}
