/* The elementwise code between the BLAS calls: bias + sigma in one pass, sigma' from the stored
 * activation, the output error (A) and the cost. Matrices here are contiguous (ld = rows): they
 * are the workspace's own buffers.
 *
 * The activations are straight-line code with selects in place of branches and no libm call, so
 * that every target_clones clone runs them in packed vectors; they have no float-to-int conversion
 * and no signed shift, so NaN and infinities are defined inputs (NaN in, NaN out). */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The functions below run inside the target_clones clones only when inlined there: an outlined
 * copy is compiled for the baseline target alone, which every clone would then call. */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif
/* GCC unrolls a short loop of known count completely before it vectorises, and the unrolled copy of
 * a select becomes scalar branches; kept a loop, it is if-converted and vectorised. */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_LOOP _Pragma("GCC unroll 1")
#else
#define KEEP_LOOP
#endif

/* e^-a for a >= 0 (the sigmoid on it: 2.40 ulps at worst over every float), in straight-line code
 * that every clone runs in vectors (libm's expf is a call per element: on a sigmoid network it
 * cost a sixth of a training step). Cody-Waite reduction -a = k ln2 + r, |r| <= ln2/2, Cephes'
 * degree-6 polynomial for e^r, evaluated by Estrin's scheme (a dependency chain half as long as
 * Horner's, which kept the out-of-order window full of waiting multiplies), and 2^k put into the
 * exponent bits. k = round(-a log2 e) comes from adding 1.5 2^23 + 127: the sum's low mantissa
 * bits are then k + 127, which the unsigned shift moves into the exponent field (no float-to-int
 * conversion: it is undefined for NaN). Above 87.3 (where e^-a leaves the normal floats) a is
 * clamped: the result is then 1.22e-38 instead of a subnormal or 0, a difference no sigmoid output
 * can show. NaN stays NaN (the clamp's comparison is false for it). */
static ALWAYS_INLINE float exp_negative(float a)
{
    const float shift = 12583039.0f; /* 1.5 2^23 + 127 */
    a = 87.3f < a ? 87.3f : a;
    union {
        float f;
        uint32_t u;
    } biased = {.f = a * -1.44269504f + shift}, scale;
    float k = biased.f - shift;
    float m = (a + k * 0.693359375f) - k * 2.12194440e-4f; /* m = -r: no negation of a */
    float r2 = m * m, r4 = r2 * r2;
    float p01 = 5.0000001201e-1f - 1.6666665459e-1f * m;
    float p23 = 4.1665795894e-2f - 8.3334519073e-3f * m;
    float p45 = 1.3981999507e-3f - 1.9875691500e-4f * m;
    float p = (p01 + r2 * p23) + r4 * p45;
    p = p * r2 - m + 1.0f;
    scale.u = biased.u << 23;
    return p * scale.f;
}

/* 1/(1+e^-z) without overflow: with t = e^-|z| <= 1, it is 1/(1+t) for z >= 0 and t/(1+t) below,
 * one division either way (its numerator chosen before it, off the dependency chain). */
static ALWAYS_INLINE float sigmoid(float z)
{
    float t = exp_negative(fabsf(z));
    return (z >= 0.0f ? 1.0f : t) / (1.0f + t);
}

/* e^x for x <= 0 (or NaN) in double, relative error below 2^-46: rounded to float it is the
 * correctly rounded e^x but for about one input in 2^21 (libm's expf: 0.502 ulp). k = round(x /
 * ln2) by the 1.5 2^52 shift, whose low mantissa bits then hold k (two's complement), moved into
 * the exponent field by an unsigned shift; r = x - k ln2 with ln2 split in two (k ln2_hi is exact);
 * e^r by its Taylor polynomial to degree 11 (|r| <= ln2/2: truncation 6e-15). Below -104 e^x
 * rounds to a float 0 and x is clamped there. */
static ALWAYS_INLINE double exp_nonpositive_double(double x)
{
    const double round_shift = 6755399441055744.0; /* 1.5 2^52 */
    x = x < -104.0 ? -104.0 : x;
    union {
        double f;
        uint64_t u;
    } shifted = {.f = x * 1.4426950408889634 + round_shift}, scale;
    double k = shifted.f - round_shift;
    double r = x - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    scale.u = (shifted.u + 1023u) << 52;
    return p * scale.f;
}

/* tanh z, computed in double and rounded once (within 0.5 ulp but for rare ties of the rounding;
 * libm's tanhf: 2.2 ulps). |z| >= 1/8: (1 - t)/(1 + t) with t = e^-2|z|, where 1 - t >= 0.22 loses
 * nothing to cancellation; below, the odd Taylor series to z^11 (truncation 2.5e-14). The sign is
 * put back last (tanh -0 = -0); NaN fails the comparison and stays NaN, +-inf give +-1. */
static ALWAYS_INLINE float tanh_float(float z)
{
    double x = fabs((double)z), x2 = x * x;
    double t = exp_nonpositive_double(-2.0 * x);
    double far = (1.0 - t) / (1.0 + t);
    double s = -1382.0 / 155925.0;
    s = s * x2 + 62.0 / 2835.0;
    s = s * x2 - 17.0 / 315.0;
    s = s * x2 + 2.0 / 15.0;
    s = s * x2 - 1.0 / 3.0;
    double near = s * x2 * x + x;
    return copysignf((float)(x < 0.125 ? near : far), z);
}

/* The elementwise passes run BLOCK floats at a time, a length the compiler knows, so that each
 * clone runs a block in whole vectors with no scalar remainder loop; the last partial block is
 * copied into a zero-padded block and back. */
enum { BLOCK = 16 };

/* The forward pass of one block: x <- sigma(x + b). Softmax: x <- e^(x - shift), its numerator
 * (b unused). */
static ALWAYS_INLINE void forward_block(bp_activation act, float *restrict x,
                                        const float *restrict b, float shift)
{
    switch (act) {
    case BP_SIGMOID:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            x[i] = sigmoid(x[i] + b[i]);
        break;
    case BP_TANH:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            x[i] = tanh_float(x[i] + b[i]);
        break;
    case BP_RELU:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++) {
            float z = x[i] + b[i];
            x[i] = z <= 0.0f ? 0.0f : z; /* max(0, z), NaN kept */
        }
        break;
    case BP_LEAKY_RELU:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++) {
            float z = x[i] + b[i];
            x[i] = z > 0.0f ? z : BP_LEAKY_SLOPE * z;
        }
        break;
    case BP_IDENTITY:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            x[i] += b[i];
        break;
    case BP_SOFTMAX:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            x[i] = (float)exp_nonpositive_double((double)x[i] - (double)shift);
        break;
    }
}

/* d <- d (.) sigma'(z) for one block, sigma' computed from a = sigma(z) (the forward pass does not
 * keep z); a NaN activation gives a NaN delta. Tanh's 1 - a^2 is taken as (1 - a)(1 + a), whose
 * factors are exact or once rounded, where 1 - fl(a^2) loses all digits as |a| -> 1. Identity and
 * softmax: never called (unchanged d; softmax's Jacobian is applied in bp__output_delta). */
static ALWAYS_INLINE void dsigma_block(bp_activation act, float *restrict d,
                                       const float *restrict a)
{
    switch (act) {
    case BP_SIGMOID:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            d[i] *= a[i] * (1.0f - a[i]);
        break;
    case BP_TANH:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            d[i] *= (1.0f - a[i]) * (1.0f + a[i]);
        break;
    case BP_RELU:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            d[i] = a[i] > 0.0f ? d[i] : a[i] <= 0.0f ? 0.0f : a[i];
        break;
    case BP_LEAKY_RELU:
        KEEP_LOOP for (int i = 0; i < BLOCK; i++)
            d[i] *= a[i] > 0.0f ? 1.0f : a[i] <= 0.0f ? BP_LEAKY_SLOPE : a[i];
        break;
    case BP_IDENTITY:
    case BP_SOFTMAX: break;
    }
}

typedef enum pass { FORWARD, DSIGMA } pass;

/* x (n floats) through forward_block (y = b) or dsigma_block (y = a), block by block; a last
 * partial block goes through a zero-padded copy. The block code has one call site, which runs
 * on either, so that the compiler vectorises it once and does not unroll a scalar copy of it for
 * the padded one. */
static ALWAYS_INLINE void by_blocks(pass which, bp_activation act, float *restrict x,
                                    const float *restrict y, size_t n, float shift)
{
    float xt[BLOCK] = {0}, yt[BLOCK] = {0};
    for (size_t i = 0; i < n; i += BLOCK) {
        float *xb = x + i;
        const float *yb = y + i;
        size_t tail = n - i < BLOCK ? (n - i) * sizeof(float) : 0;
        if (tail) {
            xb = memcpy(xt, xb, tail);
            yb = memcpy(yt, yb, tail);
        }
        if (which == FORWARD)
            forward_block(act, xb, yb, shift);
        else
            dsigma_block(act, xb, yb);
        if (tail)
            memcpy(x + i, xt, tail);
    }
}

/* a <- softmax(a + b) over n rows. The sum is in double and in index order (n can be large and
 * every term is positive); e^(a_i - max) <= 1 and is computed from the double difference. */
static ALWAYS_INLINE void softmax_column(float *restrict a, const float *restrict b, int n)
{
    by_blocks(FORWARD, BP_IDENTITY, a, b, (size_t)n, 0.0f);
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = a[i] > max ? a[i] : max;
    by_blocks(FORWARD, BP_SOFTMAX, a, b, (size_t)n, max);
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += a[i];
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        a[i] *= inv;
}

/* Every column of a through by_blocks with act a constant in each call, so that the switches of
 * the block functions fold away and each loop holds one activation's code alone. */
static ALWAYS_INLINE void activate_columns(float *restrict a, int rows, int cols,
                                           const float *restrict b, bp_activation act)
{
    for (int j = 0; j < cols; j++)
        by_blocks(FORWARD, act, a + (size_t)j * (size_t)rows, b, (size_t)rows, 0.0f);
}

BP_CLONES static void bias_activate(float *restrict a, int rows, int cols, const float *restrict b,
                                    bp_activation act)
{
    switch (act) {
    case BP_SIGMOID: activate_columns(a, rows, cols, b, BP_SIGMOID); break;
    case BP_TANH: activate_columns(a, rows, cols, b, BP_TANH); break;
    case BP_RELU: activate_columns(a, rows, cols, b, BP_RELU); break;
    case BP_LEAKY_RELU: activate_columns(a, rows, cols, b, BP_LEAKY_RELU); break;
    case BP_IDENTITY: activate_columns(a, rows, cols, b, BP_IDENTITY); break;
    case BP_SOFTMAX:
        for (int j = 0; j < cols; j++)
            softmax_column(a + (size_t)j * (size_t)rows, b, rows);
        break;
    }
}

void bp__bias_activate(float *a, int rows, int cols, const float *b, bp_activation act)
{
    bias_activate(a, rows, cols, b, act);
}

BP_CLONES static void mul_dsigma(float *restrict d, const float *restrict a, size_t n,
                                 bp_activation act)
{
    switch (act) { /* act a constant in each call: see activate_columns */
    case BP_SIGMOID: by_blocks(DSIGMA, BP_SIGMOID, d, a, n, 0.0f); break;
    case BP_TANH: by_blocks(DSIGMA, BP_TANH, d, a, n, 0.0f); break;
    case BP_RELU: by_blocks(DSIGMA, BP_RELU, d, a, n, 0.0f); break;
    case BP_LEAKY_RELU: by_blocks(DSIGMA, BP_LEAKY_RELU, d, a, n, 0.0f); break;
    case BP_IDENTITY:
    case BP_SOFTMAX: break;
    }
}

void bp__mul_dsigma(float *d, const float *a, size_t n, bp_activation act)
{
    if (act != BP_IDENTITY && act != BP_SOFTMAX) /* sigma' = 1; softmax: see dsigma_block */
        mul_dsigma(d, a, n, act);
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
