/* The elementwise code between the BLAS calls: bias + sigma in one pass, sigma' from the stored
 * activation, the output error (A) and the cost. Matrices here are contiguous (ld = rows): they
 * are the workspace's own buffers. */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* e^x for x <= 0, within 2 ulp of expf, in straight-line code that the compiler vectorises (libm's
 * expf is a call per element: on a sigmoid network it cost a sixth of a training step). Cody-Waite
 * reduction x = k ln2 + r, |r| <= ln2/2, Cephes' degree-6 polynomial for e^r, and 2^k put into the
 * exponent bits. Below -87.3 (where e^x leaves the normal floats) x is clamped: the result is then
 * 1.22e-38 instead of a subnormal or 0, a difference no sigmoid output can show. */
static inline float exp_nonpositive(float x)
{
    x = x < -87.3f ? -87.3f : x;
    int32_t ki = (int32_t)(x * 1.44269504f - 0.5f); /* round(x log2 e): truncation of x <= 0 */
    float k = (float)ki;
    float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {.i = (ki + 127) << 23}; /* 2^k, k in [-126, 0] */
    return p * scale.f;
}

/* 1/(1+e^-z) without overflow: with t = e^-|z| <= 1, it is 1/(1+t) for z >= 0 and t/(1+t) below. */
static inline float sigmoid(float z)
{
    float t = exp_nonpositive(-fabsf(z));
    float s = 1.0f / (1.0f + t);
    return z >= 0.0f ? s : t * s;
}

static void softmax_column(float *a, const float *b, int n)
{
    float max = -INFINITY;
    for (int i = 0; i < n; i++) {
        a[i] += b[i];
        if (a[i] > max)
            max = a[i];
    }
    double sum = 0.0; /* double: n can be large and every term is positive */
    for (int i = 0; i < n; i++) {
        a[i] = expf(a[i] - max);
        sum += a[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        a[i] *= inv;
}

BP_CLONES static void bias_activate(float *restrict a, int rows, int cols, const float *restrict b,
                                    bp_activation act)
{
    for (int j = 0; j < cols; j++) {
        float *col = a + (size_t)j * (size_t)rows;
        switch (act) {
        case BP_SIGMOID:
            for (int i = 0; i < rows; i++)
                col[i] = sigmoid(col[i] + b[i]);
            break;
        case BP_TANH:
            for (int i = 0; i < rows; i++)
                col[i] = tanhf(col[i] + b[i]);
            break;
        case BP_RELU:
            for (int i = 0; i < rows; i++) {
                float z = col[i] + b[i];
                col[i] = z > 0.0f ? z : 0.0f;
            }
            break;
        case BP_LEAKY_RELU:
            for (int i = 0; i < rows; i++) {
                float z = col[i] + b[i];
                col[i] = z > 0.0f ? z : BP_LEAKY_SLOPE * z;
            }
            break;
        case BP_IDENTITY:
            for (int i = 0; i < rows; i++)
                col[i] += b[i];
            break;
        case BP_SOFTMAX:
            softmax_column(col, b, rows);
            break;
        case BP_SOFTPLUS:
        case BP_SILU: /* these layers keep z: bp__bias_activate_z */
            break;
        }
    }
}

void bp__bias_activate(float *a, int rows, int cols, const float *b, bp_activation act)
{
    bias_activate(a, rows, cols, b, act);
}

/* sigma'(z) expressed through a = sigma(z), so the forward pass need not keep z. */
void bp__mul_dsigma(float *d, const float *a, size_t n, bp_activation act)
{
    switch (act) {
    case BP_SIGMOID:
        for (size_t i = 0; i < n; i++)
            d[i] *= a[i] * (1.0f - a[i]);
        break;
    case BP_TANH:
        for (size_t i = 0; i < n; i++)
            d[i] *= 1.0f - a[i] * a[i];
        break;
    case BP_RELU:
        for (size_t i = 0; i < n; i++)
            d[i] = a[i] > 0.0f ? d[i] : 0.0f;
        break;
    case BP_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
            d[i] *= a[i] > 0.0f ? 1.0f : BP_LEAKY_SLOPE;
        break;
    case BP_IDENTITY:
    case BP_SOFTMAX: /* softmax is output-only; its Jacobian is applied in bp__output_delta */
    case BP_SOFTPLUS:
    case BP_SILU: /* sigma' needs z: bp__mul_dsigma_z */
        break;
    }
}

void bp__output_delta(bp_cost cost, bp_activation act, const float *a, const float *y, int ldy,
                      int rows, int cols, float *d)
{
    for (int j = 0; j < cols; j++) {
        const float *aj = a + (size_t)j * (size_t)rows, *yj = y + (size_t)j * (size_t)ldy;
        float *dj = d + (size_t)j * (size_t)rows;
        for (int i = 0; i < rows; i++)
            dj[i] = aj[i] - yj[i]; /* grad_a C of the quadratic cost; the whole (A) when fused */
        if (cost != BP_QUADRATIC)
            continue; /* softmax+NLL and sigmoid+cross-entropy: sigma' cancels, delta = a - y */
        if (act == BP_SOFTMAX) {
            /* (A) with the full softmax Jacobian: delta_i = a_i (g_i - sum_k a_k g_k). */
            double dot = 0.0;
            for (int i = 0; i < rows; i++)
                dot += (double)aj[i] * dj[i];
            for (int i = 0; i < rows; i++)
                dj[i] = aj[i] * (dj[i] - (float)dot);
        } else {
            bp__mul_dsigma(dj, aj, (size_t)rows, act);
        }
    }
}

int bp__argmax(const float *a, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (a[i] > a[best])
            best = i;
    return best;
}

/* ln(max(x, FLT_MIN)): a saturated float output costs a large finite value, not infinity. */
static double safe_log(float x) { return log(x > FLT_MIN ? (double)x : (double)FLT_MIN); }

double bp__cost(bp_cost cost, const float *a, const float *y, int ldy, int rows, int cols)
{
    double sum = 0.0;
    for (int j = 0; j < cols; j++) {
        const float *aj = a + (size_t)j * (size_t)rows, *yj = y + (size_t)j * (size_t)ldy;
        for (int i = 0; i < rows; i++) {
            double t = yj[i];
            switch (cost) {
            case BP_QUADRATIC: sum += 0.5 * (t - aj[i]) * (t - aj[i]); break;
            case BP_CROSS_ENTROPY:
                if (t != 0.0)
                    sum -= t * safe_log(aj[i]);
                if (t != 1.0)
                    sum -= (1.0 - t) * safe_log(1.0f - aj[i]);
                break;
            case BP_NLL:
                if (t != 0.0)
                    sum -= t * safe_log(aj[i]);
                break;
            }
        }
    }
    return sum;
}

/* ---------------------------------------------------------------- derivative kernels
 * Softplus and SiLU (smooth to every order, for fits whose loss holds derivatives), sigma' from z
 * for them, the layer Jacobian of the VJP/JVP, and the force gradient's second-order step. Each
 * loop runs down contiguous memory with the activation chosen outside it, so it vectorises. */

/* ln(1 + t) for t in [0, 1], within 2 ulp, in straight-line code that vectorises: u = 1 + t is
 * split as m 2^e with m in [sqrt(1/2), sqrt(2)), ln m by Cephes' logf polynomial, and the
 * rounding of 1 + t corrected by (t - (u - 1)) / u (so t below 2^-24 still gives t). */
static inline float log1p_unit(float t)
{
    float u = 1.0f + t;
    union {
        float f;
        int32_t i;
    } v = {.f = u};
    int32_t e = ((v.i >> 23) & 0xff) - 126; /* u = m 2^e, m in [0.5, 1) */
    v.i = (v.i & 0x007fffff) | 0x3f000000;
    float m = v.f, x;
    if (m < 0.707106781f) {
        e -= 1;
        x = m + m - 1.0f;
    } else {
        x = m - 1.0f;
    }
    float fe = (float)e, x2 = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * x2 - 2.12194440e-4f * fe - 0.5f * x2;
    float ln_u = x + y + 0.693359375f * fe;
    return ln_u + (t - (u - 1.0f)) / u;
}

/* ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|): no overflow for any finite z. */
static inline float softplus(float z)
{
    return (z > 0.0f ? z : 0.0f) + log1p_unit(exp_nonpositive(-fabsf(z)));
}

BP_CLONES static void bias_activate_z(float *restrict z, float *restrict a, int rows, int cols,
                                      const float *restrict b, bp_activation act)
{
    for (int j = 0; j < cols; j++) {
        float *zj = z + (size_t)j * (size_t)rows, *aj = a + (size_t)j * (size_t)rows;
        for (int i = 0; i < rows; i++)
            zj[i] += b[i];
        if (act == BP_SOFTPLUS)
            for (int i = 0; i < rows; i++)
                aj[i] = softplus(zj[i]);
        else /* SiLU */
            for (int i = 0; i < rows; i++)
                aj[i] = zj[i] * sigmoid(zj[i]);
    }
}

void bp__bias_activate_z(float *z, float *a, int rows, int cols, const float *b, bp_activation act)
{
    bias_activate_z(z, a, rows, cols, b, act);
}

/* softplus' = sigmoid(z); SiLU' = s + z s (1 - s) with s = sigmoid(z). */
BP_CLONES static void mul_dsigma_z(float *restrict d, const float *restrict z, size_t n,
                                   bp_activation act)
{
    if (act == BP_SOFTPLUS) {
        for (size_t i = 0; i < n; i++)
            d[i] *= sigmoid(z[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float s = sigmoid(z[i]);
        d[i] *= s + z[i] * s * (1.0f - s);
    }
}

void bp__mul_dsigma_z(float *d, const float *z, size_t n, bp_activation act)
{
    mul_dsigma_z(d, z, n, act);
}

void bp__mul_dact(float *d, const float *a, const float *z, int rows, int cols, bp_activation act)
{
    size_t n = (size_t)rows * (size_t)cols;
    if (act != BP_SOFTMAX) {
        if (z)
            bp__mul_dsigma_z(d, z, n, act);
        else
            bp__mul_dsigma(d, a, n, act);
        return;
    }
    for (int j = 0; j < cols; j++) {
        const float *aj = a + (size_t)j * (size_t)rows;
        float *dj = d + (size_t)j * (size_t)rows;
        double dot = 0.0;
        for (int i = 0; i < rows; i++)
            dot += (double)aj[i] * dj[i];
        for (int i = 0; i < rows; i++)
            dj[i] = aj[i] * (dj[i] - (float)dot);
    }
}

/* sigma'(z) and sigma''(z) of element i: from a for the activations that allow it (sigmoid:
 * a(1-a), a(1-a)(1-2a); tanh: 1-a^2 as (1-a)(1+a), whose factors are exact or once rounded,
 * and -2a(1-a^2); the piecewise-linear ones: their slope and 0),
 * from z for softplus (s, s(1-s)) and SiLU (s + z s(1-s), s(1-s)(2 + z(1-2s))), s = sigmoid(z). */
static inline void dsigma12(bp_activation act, const float *a, const float *z, size_t i, float *d1,
                            float *d2)
{
    float s;
    switch (act) {
    case BP_SIGMOID: *d1 = a[i] * (1.0f - a[i]), *d2 = *d1 * (1.0f - 2.0f * a[i]); return;
    case BP_TANH: *d1 = (1.0f - a[i]) * (1.0f + a[i]), *d2 = -2.0f * a[i] * *d1; return;
    case BP_RELU: *d1 = a[i] > 0.0f ? 1.0f : 0.0f, *d2 = 0.0f; return;
    case BP_LEAKY_RELU: *d1 = a[i] > 0.0f ? 1.0f : BP_LEAKY_SLOPE, *d2 = 0.0f; return;
    case BP_SOFTPLUS: s = sigmoid(z[i]), *d1 = s, *d2 = s * (1.0f - s); return;
    case BP_SILU:
        s = sigmoid(z[i]);
        *d1 = s + z[i] * s * (1.0f - s);
        *d2 = s * (1.0f - s) * (2.0f + z[i] * (1.0f - 2.0f * s));
        return;
    case BP_IDENTITY:
    case BP_SOFTMAX: break; /* softmax: refused by the force gradient's checks */
    }
    *d1 = 1.0f, *d2 = 0.0f;
}

/* One loop per activation (act is a constant at each call below, so the switch of dsigma12 folds
 * away and the loop vectorises). */
static inline void adjoint_loop(float *restrict abar, float *restrict adbar,
                                const float *restrict a, const float *restrict z,
                                const float *restrict zdot, size_t n, bp_activation act)
{
    for (size_t i = 0; i < n; i++) {
        float d1, d2;
        dsigma12(act, a, z, i, &d1, &d2);
        abar[i] = abar[i] * d1 + adbar[i] * d2 * zdot[i];
        adbar[i] *= d1;
    }
}

BP_CLONES static void tangent_adjoint(float *restrict abar, float *restrict adbar,
                                      const float *restrict a, const float *restrict z,
                                      const float *restrict zdot, size_t n, bp_activation act)
{
    switch (act) {
    case BP_SIGMOID: adjoint_loop(abar, adbar, a, z, zdot, n, BP_SIGMOID); break;
    case BP_TANH: adjoint_loop(abar, adbar, a, z, zdot, n, BP_TANH); break;
    case BP_RELU: adjoint_loop(abar, adbar, a, z, zdot, n, BP_RELU); break;
    case BP_LEAKY_RELU: adjoint_loop(abar, adbar, a, z, zdot, n, BP_LEAKY_RELU); break;
    case BP_SOFTPLUS: adjoint_loop(abar, adbar, a, z, zdot, n, BP_SOFTPLUS); break;
    case BP_SILU: adjoint_loop(abar, adbar, a, z, zdot, n, BP_SILU); break;
    case BP_IDENTITY:
    case BP_SOFTMAX: adjoint_loop(abar, adbar, a, z, zdot, n, BP_IDENTITY); break;
    }
}

void bp__tangent_adjoint(float *abar, float *adbar, const float *a, const float *z,
                         const float *zdot, size_t n, bp_activation act)
{
    tangent_adjoint(abar, adbar, a, z, zdot, n, act);
}
