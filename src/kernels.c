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

/* The sigmoid's forward pass runs CHAINS independent computations side by side, each statement
 * done for every chain before the next, each chain CHAIN_LEN floats (one AVX2 vector). Its ~24
 * vector operations per vector form one dependency chain ~55 cycles long (the division at its
 * end); issued one vector after another they keep Zen 3's FP scheduler full of operations waiting
 * on their predecessors (llvm-mca: full in over 80% of cycles). Chains in step give the scheduler
 * CHAINS ready operations at each step. Alternated runs on 1000 x 256, 1024 x 250, 256 x 1000 and
 * 100 x 2560 blocks, sigma - identity: five chains of 8 floats 0.63-0.75x the time of the code
 * before (four chains of 16 floats, 32 operations a vector); three or four chains of 8: 0.68-0.82x;
 * six: 0.85-0.92x (registers spilled); four chains of 16 floats of this code: about 0.9x (two ymm
 * vectors a chain, spilled). The scalar callers use one chain. */
enum { CHAINS = 5, CHAIN_LEN = 8 };
/* A loop over the chains (at most CHAINS of them, fewer than 8), unrolled before the vectoriser
 * runs (a loop left inside the loop it vectorises stops it). */
#if defined(__GNUC__) && !defined(__clang__)
#define EACH_CHAIN(c, n) _Pragma("GCC unroll 8") for (int c = 0; c < (n); c++)
#else
#define EACH_CHAIN(c, n) for (int c = 0; c < (n); c++)
#endif

/* The float whose bits are u, and the bits of f. */
static ALWAYS_INLINE float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static ALWAYS_INLINE uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* bound where the mask is all ones, else x: a select by masks. As a branch (a ?: on floats), it
 * kept the scalar callers' one-chain loop from unrolling (and their loops from vectorising), and
 * GCC's partial redundancy elimination, finding every later value a constant where x = bound,
 * computed e^x from the unclamped x with selects of those constants at the end (a compare and two
 * blends a vector in place of one blend, on the dependency chain: 15% slower). */
static ALWAYS_INLINE float clamp_where(uint32_t mask, float bound, float x)
{
    return from_bits((to_bits(bound) & mask) | (to_bits(x) & ~mask));
}

/* e^x[c] = 2^k[c] e^m[c] for c < n: Cody-Waite reduction x = k ln2 + m, |m| <= ln2/2, in
 * straight-line code that every clone runs in vectors (libm's expf is a call per element: on a
 * sigmoid network it cost a sixth of a training step). x is clamped to [-87.3, 87.3] (where e^x
 * is a normal float; above only if both_sides: the callers with x <= 0 skip that compare): below
 * it, e^x is 1.22e-38 instead of a subnormal or 0, a difference no sigmoid output can show; so
 * |k| <= 126. k = round(x log2 e) comes from adding 1.5 2^23 + bias: the low mantissa bits of
 * kbits[c] are then k + bias, in two's complement (no float-to-int conversion: it is undefined
 * for NaN), from which unsigned shifts build exponents; bias 127 rounds the ties of x log2 e to
 * odd k, bias 0 to even. NaN stays NaN (the clamps' comparisons are false for it). */
static ALWAYS_INLINE void exp_reduce(int n, int both_sides, float bias, float *restrict m,
                                     uint32_t *restrict kbits, const float *restrict x0)
{
    const float shift = 12582912.0f + bias; /* 1.5 2^23 + bias */
    float x[CHAINS], b[CHAINS], k[CHAINS];
    EACH_CHAIN(c, n)
        x[c] = clamp_where(-(uint32_t)(x0[c] < -87.3f), -87.3f, x0[c]);
    if (both_sides)
        EACH_CHAIN(c, n)
            x[c] = clamp_where(-(uint32_t)(87.3f < x[c]), 87.3f, x[c]);
    EACH_CHAIN(c, n)
        b[c] = x[c] * 1.44269504f + shift;
    EACH_CHAIN(c, n)
        k[c] = b[c] - shift;
    EACH_CHAIN(c, n) { /* k ln2_hi is exact, and so is x - k ln2_hi (Sterbenz) */
        m[c] = (x[c] - k[c] * 0.693359375f) + k[c] * 2.12194440e-4f;
        kbits[c] = to_bits(b[c]);
    }
}

/* e^x for x <= 0 (or NaN): e^m by Cephes' degree-7 polynomial, evaluated by Estrin's scheme (a
 * dependency chain half as long as Horner's), times 2^k; softplus's exponential, the bits of the
 * sigmoid's e^-|z| before it took the rational form. */
static ALWAYS_INLINE float exp_nonpositive(float x)
{
    float m;
    uint32_t biased;
    exp_reduce(1, 0, 127.0f, &m, &biased, &x);
    float r2 = m * m, r4 = r2 * r2;
    float p01 = 5.0000001201e-1f + 1.6666665459e-1f * m;
    float p23 = 4.1665795894e-2f + 8.3334519073e-3f * m;
    float p45 = 1.3981999507e-3f + 1.9875691500e-4f * m;
    float p = (p01 + r2 * p23) + r4 * p45;
    p = p * r2 + m + 1.0f;
    return p * from_bits(biased << 23); /* 2^k: k + 127 into the exponent field */
}

/* s[c] = 1/(1+e^-z[c]) = e^z/(e^z+1) for c < n without overflow, one formula for every z (no
 * select of a numerator by the sign of z). With e^z = 2^k e^m, e^m = P/Q, P = R + m, Q = R - m,
 * where R = m coth(m/2) = 2 + m^2/6 - m^4/360 + ... (e^m = (R + m)/(R - m) exactly), here a fit of
 * degree 2 in m^2 (error below 1.5e-8 for |m| <= ln2/2: 2.5e-9 relative in e^m): s = SP/(SP + Q) with
 * SP = 2^k P, a normal float (P >= 1.6, |k| <= 126) made by adding k to P's exponent field (exact;
 * an integer add where a product waited 3 cycles). The division that the sigmoid needs anyway is
 * the rational function's: 24 vector operations a vector where the degree-7 polynomial and its
 * own division took 32. Q is P - 2m rather than R - m, so that P's rounding mostly cancels in
 * P/Q: over every float >= -87.3 the worst error is 2.26 ulps at z = -16.64 (R - m: 2.44; the
 * polynomial before: 2.40), measured against 1/(1 + e^-z) in double; below -87.3 the output is
 * in (0, 1.25e-38]. NaN: Q is NaN, and so is the quotient (where SP is NaN too, the quotient is
 * SP's: the dividend's NaN on every clone). */
static ALWAYS_INLINE void sigmoid_chains(int n, float *restrict s, const float *restrict z)
{
    float m[CHAINS];
    uint32_t kbits[CHAINS];
    exp_reduce(n, 1, 0.0f, m, kbits, z);
    EACH_CHAIN(c, n) {
        float t = m[c] * m[c];
        float R = 2.0f + t * (1.66666548e-1f - 2.76985460e-3f * t);
        float P = R + m[c], Q = P - (m[c] + m[c]);
        float SP = from_bits(to_bits(P) + (kbits[c] << 23));
        s[c] = SP / (SP + Q);
    }
}

static ALWAYS_INLINE float sigmoid(float z)
{
    float s;
    sigmoid_chains(1, &s, &z);
    return s;
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

/* The elementwise passes run BLOCK floats at a time (the sigmoid's forward pass CHAINS chains of
 * CHAIN_LEN floats), a length the compiler knows, so that each clone runs a block in whole vectors
 * with no scalar remainder loop. */
enum { BLOCK = 16, WIDEST_BLOCK = CHAINS * CHAIN_LEN };

static ALWAYS_INLINE size_t block_length(bp_activation act, int forward)
{
    return forward && act == BP_SIGMOID ? WIDEST_BLOCK : BLOCK;
}

/* The forward pass of one block: x <- sigma(x + b). Softmax: x <- e^(x - shift), its numerator
 * (b unused). */
static ALWAYS_INLINE void forward_block(bp_activation act, float *restrict x,
                                        const float *restrict b, float shift)
{
    switch (act) {
    case BP_SIGMOID: /* WIDEST_BLOCK floats: chain c takes x[c CHAIN_LEN + i] */
        KEEP_LOOP for (int i = 0; i < CHAIN_LEN; i++) {
            float z[CHAINS], s[CHAINS];
            EACH_CHAIN(c, CHAINS)
                z[c] = x[c * CHAIN_LEN + i] + b[c * CHAIN_LEN + i];
            sigmoid_chains(CHAINS, s, z);
            EACH_CHAIN(c, CHAINS)
                x[c * CHAIN_LEN + i] = s[c];
        }
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
    case BP_SOFTPLUS:
    case BP_SILU:
    case BP_GELU: break; /* these layers keep z: bp__bias_activate_z */
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
    case BP_SOFTMAX:
    case BP_SOFTPLUS:
    case BP_SILU:
    case BP_GELU: break; /* sigma' needs z: bp__mul_dsigma_z */
    }
}

typedef enum pass { FORWARD, DSIGMA } pass;

/* x (n floats) through forward_block (y = b) or dsigma_block (y = a), block by block. The block at
 * x + o takes y + o, or with period > 0 y + o % period: y then holds period + block_length floats
 * repeating with that period (a bias repeated down a whole matrix, see activate_columns). A last
 * partial block is the block that ends at n, run on a copy of its x taken before the whole blocks
 * overwrite their part of it: the elements it shares with them get the same bits again, and every
 * copy has the block's fixed length (the variable-length copy of a zero-padded block was a branchy
 * loop and a stalled store-to-load forward in every column). x shorter than a block goes through
 * a zero-padded copy (y too, if it is not periodic). The block code has one call site, which runs
 * on either, so that the compiler vectorises it once and does not unroll a scalar copy of it. */
static ALWAYS_INLINE void by_blocks(pass which, bp_activation act, float *restrict x,
                                    const float *restrict y, size_t n, float shift, size_t period)
{
    const size_t len = block_length(act, which == FORWARD), wrap = period ? period : SIZE_MAX;
    size_t whole = n / len, step = period ? len % period : len, off = 0;
    float xt[WIDEST_BLOCK], yt[WIDEST_BLOCK];
    const float *y_last = y + (n < len ? 0 : (n - len) % wrap);
    if (n < len) { /* n % len (= n): else GCC -O0 warns of an overflow where n > 512 */
        memset(xt, 0, sizeof xt);
        memcpy(xt, x, n % len * sizeof(float));
        if (!period) {
            memset(yt, 0, sizeof yt);
            memcpy(yt, y, n % len * sizeof(float));
            y_last = yt;
        }
    } else if (n % len) {
        memcpy(xt, x + n - len, len * sizeof(float));
    }
    for (size_t k = 0; k < whole + (n % len != 0); k++) {
        float *xb = k < whole ? x + k * len : xt;
        const float *yb = k < whole ? y + off : y_last;
        if (which == FORWARD)
            forward_block(act, xb, yb, shift);
        else
            dsigma_block(act, xb, yb);
        off += step;
        off -= off >= wrap ? wrap : 0;
    }
    if (n < len)
        memcpy(x, xt, n % len * sizeof(float));
    else if (n % len)
        memcpy(x + n - len, xt, len * sizeof(float));
}

/* a <- softmax(a) over n rows, the bias already added (b, n floats, is read and unused). The sum
 * is in double and in index order (n can be large and every term is positive); e^(a_i - max) <= 1
 * and is computed from the double difference. */
static ALWAYS_INLINE void softmax_column(float *restrict a, const float *restrict b, int n)
{
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = a[i] > max ? a[i] : max;
    by_blocks(FORWARD, BP_SOFTMAX, a, b, (size_t)n, max, 0);
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += a[i];
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        a[i] *= inv;
}

/* Columns up to this long are activated as one flat array of rows * cols floats against the bias
 * repeated down it. Walked column by column, a column shorter than a block (or a column's last
 * partial block) ran a whole padded block: a 16-row sigmoid layer computed a 64-float block (as it
 * then was) for every 16, plus copies, per column (16 x 128: 11.0 us a call column by column,
 * 1.27 us flat; the one-chain 16-float blocks before the chains: 1.7 us). Above this length a
 * column's last block adds fewer than WIDEST_BLOCK floats to more than 512 (8%), and the repeated
 * bias would not fit the stack. One
 * column is the same walk without the copy of b. */
enum { FLAT_ROWS = 512 };

/* a <- sigma(a + b) for a rows x cols, act a constant in each call, so that the switches of the
 * block functions fold away and each loop holds one activation's code alone. */
static ALWAYS_INLINE void activate_columns(float *restrict a, int rows, int cols,
                                           const float *restrict b, bp_activation act)
{
    size_t m = (size_t)rows, n = m * (size_t)cols, len = block_length(act, 1);
    if (n == 0)
        return;
    if (m > FLAT_ROWS || cols == 1) {
        for (size_t j = 0; j < (size_t)cols; j++)
            by_blocks(FORWARD, act, a + j * m, b, m, 0.0f, 0);
        return;
    }
    /* b, then its first len floats again (mod rows), copied from b: a copy from the floats just
     * stored (repeated[i - m]) waited on each store for m = 1, 130 ns a call. */
    float repeated[FLAT_ROWS + WIDEST_BLOCK];
    for (size_t j = 0; j < m + len; j += m)
        for (size_t i = 0; i < m && j + i < m + len; i++)
            repeated[j + i] = b[i];
    by_blocks(FORWARD, act, a, repeated, n, 0.0f, m);
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
        activate_columns(a, rows, cols, b, BP_IDENTITY);
        for (int j = 0; j < cols; j++)
            softmax_column(a + (size_t)j * (size_t)rows, b, rows);
        break;
    case BP_SOFTPLUS:
    case BP_SILU:
    case BP_GELU: break; /* these layers keep z: bp__bias_activate_z */
    }
}

void bp__bias_activate(float *a, int rows, int cols, const float *b, bp_activation act)
{
    bias_activate(a, rows, cols, b, act);
}

/* Columns taken together by the passes that walk a matrix twice (a - y then sigma', z + b then
 * sigma(z)): columns shorter than 64 floats in groups of up to 2048 floats (8 KB, in L1 between
 * the two passes), where a column at a time ran mostly padded blocks or a loop's remainder (a
 * one-row output: one float a column). Longer columns one at a time, as before: the first pass
 * over a whole 1000 x 256 matrix (1 MB) made the output delta 1.3x slower. */
enum { GROUP_FLOATS = 2048 };

static int group_columns(int rows)
{
    return rows >= 4 * BLOCK ? 1 : GROUP_FLOATS / (rows > 0 ? rows : 1);
}

BP_CLONES static void mul_dsigma(float *restrict d, const float *restrict a, size_t n,
                                 bp_activation act)
{
    switch (act) { /* act a constant in each call: see activate_columns */
    case BP_SIGMOID: by_blocks(DSIGMA, BP_SIGMOID, d, a, n, 0.0f, 0); break;
    case BP_TANH: by_blocks(DSIGMA, BP_TANH, d, a, n, 0.0f, 0); break;
    case BP_RELU: by_blocks(DSIGMA, BP_RELU, d, a, n, 0.0f, 0); break;
    case BP_LEAKY_RELU: by_blocks(DSIGMA, BP_LEAKY_RELU, d, a, n, 0.0f, 0); break;
    case BP_IDENTITY:
    case BP_SOFTMAX:
    case BP_SOFTPLUS:
    case BP_SILU:
    case BP_GELU: break; /* sigma' needs z: bp__mul_dsigma_z */
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
    int group = group_columns(rows);
    for (int j = 0; j < cols; j++) {
        const float *aj = a + (size_t)j * (size_t)rows, *yj = y + (size_t)j * (size_t)ldy;
        float *dj = d + (size_t)j * (size_t)rows;
        for (int i = 0; i < rows; i++)
            dj[i] = aj[i] - yj[i]; /* grad_a C of the quadratic cost; the whole (A) when fused */
        if (cost == BP_QUADRATIC && act == BP_SOFTMAX) {
            /* (A) with the full softmax Jacobian: delta_i = a_i (g_i - sum_k a_k g_k). */
            double dot = 0.0;
            for (int i = 0; i < rows; i++)
                dot += (double)aj[i] * dj[i];
            for (int i = 0; i < rows; i++)
                dj[i] = aj[i] * (dj[i] - (float)dot);
        }
        /* softmax+NLL and sigmoid+cross-entropy: sigma' cancels, delta = a - y. Otherwise
         * sigma' over each group of columns at once (see group_columns). */
        int first = j - j % group;
        if (cost == BP_QUADRATIC && act != BP_SOFTMAX && (j + 1 - first == group || j == cols - 1))
            bp__mul_dsigma(d + (size_t)first * (size_t)rows, a + (size_t)first * (size_t)rows,
                           (size_t)rows * (size_t)(j + 1 - first), act);
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

/* ---------------------------------------------------------------- derivative kernels
 * Softplus, SiLU and GELU (smooth to every order, for fits whose loss holds derivatives), sigma'
 * from z for them, the layer Jacobian of the VJP/JVP, and the force gradient's second-order step.
 * Each loop runs down contiguous memory with the activation chosen outside it, so it vectorises. */

/* ln(1 + t) for t in [0, 1], within 2 ulp, in straight-line code that vectorises: u = 1 + t is
 * split as m 2^e with m in [sqrt(1/2), sqrt(2)), ln m by Cephes' logf polynomial, and the
 * rounding of 1 + t corrected by (t - (u - 1)) / u (so t below 2^-24 still gives t). */
static ALWAYS_INLINE float log1p_unit(float t)
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
static ALWAYS_INLINE float softplus(float z)
{
    return (z > 0.0f ? z : 0.0f) + log1p_unit(exp_nonpositive(-fabsf(z)));
}

/* The gated activations a = z sigmoid(v(z)): SiLU, v = z; GELU in its tanh form,
 * 0.5 z (1 + tanh(c (z + k z^3))) = z sigmoid(v) with v = 2c (z + k z^3), c = sqrt(2/pi),
 * k = 0.044715 (sigmoid(2u) = (1 + tanh u) / 2, which keeps its relative accuracy where 1 + tanh u
 * cancels). */
#define GELU_2C 1.5957691216f /* 2 sqrt(2/pi) */
#define GELU_K 0.044715f
static ALWAYS_INLINE float gate_arg(bp_activation act, float z)
{
    return act == BP_SILU ? z : GELU_2C * (z + GELU_K * z * z * z);
}

/* z as a factor of the gated activations and their derivatives: below -200 the gate is 0 but for
 * the clamp of e^x (1.2e-38), so the factor is clamped too and a stays below 2.5e-36 in size;
 * v' and v'' are taken at the clamped z, so that they cannot overflow. */
static ALWAYS_INLINE float gate_factor(float z) { return z < -200.0f ? -200.0f : z; }

static ALWAYS_INLINE void gate_slopes(bp_activation act, float zc, float *v1, float *v2)
{
    *v1 = act == BP_SILU ? 1.0f : GELU_2C * (1.0f + 3.0f * GELU_K * zc * zc);
    *v2 = act == BP_SILU ? 0.0f : GELU_2C * 6.0f * GELU_K * zc;
}

/* sigma = z s and sigma' = s + z s (1 - s) v' of a gated activation at z, s = sigmoid(v(z)). */
static ALWAYS_INLINE float gated(bp_activation act, float z)
{
    return gate_factor(z) * sigmoid(gate_arg(act, z));
}

static ALWAYS_INLINE float dgated(bp_activation act, float z)
{
    float v1, v2, zc = gate_factor(z), s = sigmoid(gate_arg(act, z));
    gate_slopes(act, zc, &v1, &v2);
    return s + zc * s * (1.0f - s) * v1;
}

/* z and a of the columns of a layer that keeps z, one activation per loop. */
static ALWAYS_INLINE void activate_z_columns(float *restrict z, float *restrict a, int rows,
                                             int cols, const float *restrict b, bp_activation act)
{
    int group = group_columns(rows);
    for (int first = 0; first < cols; first += group) {
        size_t at = (size_t)first * (size_t)rows;
        size_t n = (size_t)rows * (size_t)(cols - first < group ? cols - first : group);
        for (size_t j = 0; j < n; j += (size_t)rows)
            for (int i = 0; i < rows; i++)
                z[at + j + (size_t)i] += b[i];
        /* One loop over the group: column by column, a short column ran mostly the loop's
         * scalar remainder. */
        for (size_t i = at; i < at + n; i++)
            a[i] = act == BP_SOFTPLUS ? softplus(z[i]) : gated(act, z[i]);
    }
}

BP_CLONES static void bias_activate_z(float *restrict z, float *restrict a, int rows, int cols,
                                      const float *restrict b, bp_activation act)
{
    switch (act) { /* act a constant in each call: see activate_columns */
    case BP_SOFTPLUS: activate_z_columns(z, a, rows, cols, b, BP_SOFTPLUS); break;
    case BP_SILU: activate_z_columns(z, a, rows, cols, b, BP_SILU); break;
    default: activate_z_columns(z, a, rows, cols, b, BP_GELU); break;
    }
}

void bp__bias_activate_z(float *z, float *a, int rows, int cols, const float *b, bp_activation act)
{
    bias_activate_z(z, a, rows, cols, b, act);
}

/* softplus' = sigmoid(z); the gated ones' dgated. */
static ALWAYS_INLINE void dsigma_z_loop(float *restrict d, const float *restrict z, size_t n,
                                        bp_activation act)
{
    for (size_t i = 0; i < n; i++)
        d[i] *= act == BP_SOFTPLUS ? sigmoid(z[i]) : dgated(act, z[i]);
}

BP_CLONES static void mul_dsigma_z(float *restrict d, const float *restrict z, size_t n,
                                   bp_activation act)
{
    switch (act) {
    case BP_SOFTPLUS: dsigma_z_loop(d, z, n, BP_SOFTPLUS); break;
    case BP_SILU: dsigma_z_loop(d, z, n, BP_SILU); break;
    default: dsigma_z_loop(d, z, n, BP_GELU); break;
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
 * from z for softplus (s, s(1-s), s = sigmoid(z)) and the gated ones, a = z s with s = sigmoid(v):
 * s + z s(1-s) v' and s(1-s)(2v' + z((1-2s) v'^2 + v'')), which for SiLU (v = z) are
 * s + z s(1-s) and s(1-s)(2 + z(1-2s)). */
static ALWAYS_INLINE void dsigma12(bp_activation act, const float *a, const float *z, size_t i,
                                   float *d1, float *d2)
{
    float s;
    switch (act) {
    case BP_SIGMOID: *d1 = a[i] * (1.0f - a[i]), *d2 = *d1 * (1.0f - 2.0f * a[i]); return;
    case BP_TANH: *d1 = (1.0f - a[i]) * (1.0f + a[i]), *d2 = -2.0f * a[i] * *d1; return;
    case BP_RELU: *d1 = a[i] > 0.0f ? 1.0f : 0.0f, *d2 = 0.0f; return;
    case BP_LEAKY_RELU: *d1 = a[i] > 0.0f ? 1.0f : BP_LEAKY_SLOPE, *d2 = 0.0f; return;
    case BP_SOFTPLUS: s = sigmoid(z[i]), *d1 = s, *d2 = s * (1.0f - s); return;
    case BP_SILU:
    case BP_GELU: {
        float v1, v2, zc = gate_factor(z[i]);
        gate_slopes(act, zc, &v1, &v2);
        s = sigmoid(gate_arg(act, z[i]));
        *d1 = s + zc * s * (1.0f - s) * v1;
        *d2 = s * (1.0f - s) * (2.0f * v1 + zc * ((1.0f - 2.0f * s) * v1 * v1 + v2));
        return;
    }
    case BP_IDENTITY:
    case BP_SOFTMAX: break; /* softmax: refused by the force gradient's checks */
    }
    *d1 = 1.0f, *d2 = 0.0f;
}

/* One loop per activation (act is a constant at each call below, so the switch of dsigma12 folds
 * away and the loop vectorises). */
static ALWAYS_INLINE void adjoint_loop(float *restrict abar, float *restrict adbar,
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
    case BP_GELU: adjoint_loop(abar, adbar, a, z, zdot, n, BP_GELU); break;
    case BP_IDENTITY:
    case BP_SOFTMAX: adjoint_loop(abar, adbar, a, z, zdot, n, BP_IDENTITY); break;
    }
}

void bp__tangent_adjoint(float *abar, float *adbar, const float *a, const float *z,
                         const float *zdot, size_t n, bp_activation act)
{
    tangent_adjoint(abar, adbar, a, z, zdot, n, act);
}
