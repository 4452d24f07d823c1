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

int bp__num_classes(int n_out) { return n_out == 1 ? 2 : n_out; }

int bp__class_of(const float *a, int n)
{
    if (n == 1) /* one sigmoid output: a is the probability of class 1 */
        return a[0] > 0.5f;
    return bp__argmax(a, n);
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
