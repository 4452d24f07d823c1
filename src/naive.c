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

static double sigma(bp_activation act, double z)
{
    switch (act) {
    case BP_SIGMOID: return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
    case BP_TANH: return tanh(z);
    case BP_RELU: return z > 0 ? z : 0.0;
    case BP_LEAKY_RELU: return z > 0 ? z : (double)BP_LEAKY_SLOPE * z;
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
    case BP_IDENTITY:
    case BP_SOFTMAX: break;
    }
    return 1.0;
}

/* ln x for a cost term; an output that underflowed to 0 costs ln(DBL_MIN) instead of -inf. */
static double cost_log(double x) { return log(x > 0x1p-1022 ? x : 0x1p-1022); }

/* Per-sample vectors z^l, a^l, delta^l for l = 1..L, laid out one after another. */
typedef struct naive_buf {
    double *z[BP_MAX_LAYERS + 1], *a[BP_MAX_LAYERS + 1], *d[BP_MAX_LAYERS + 1];
    double *block;
} naive_buf;

static bp_status buf_create(const bp_net *net, naive_buf *buf)
{
    size_t total = 0;
    for (int l = 1; l <= net->num_layers; l++)
        total += 3 * (size_t)net->sizes[l - 1]; /* widths <= INT_MAX, <= 64 layers: no overflow */
    buf->block = bp__malloc(total * sizeof(double));
    if (!buf->block)
        return bp__fail(BP_ENOMEM, "naive scratch of %zu doubles", total);
    double *p = buf->block;
    for (int l = 1; l <= net->num_layers; l++) {
        size_t n = (size_t)net->sizes[l - 1];
        buf->z[l] = p;
        buf->a[l] = p + n;
        buf->d[l] = p + 2 * n;
        p += 3 * n;
    }
    return BP_OK;
}

/* Forward pass, eq. 15: z_j^l = sum_k w_jk^l a_k^{l-1} + b_j^l, a_j^l = sigma(z_j^l);
 * w_jk^l at w[j + k n^l]. */
static void forward_sample(const bp_net *net, const double *params, const float *x, naive_buf *buf)
{
    for (int k = 0; k < net->sizes[0]; k++)
        buf->a[1][k] = x[k];
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
