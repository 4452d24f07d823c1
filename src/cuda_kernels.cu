/* The elementwise code between the cuBLAS calls (src/cuda_kernels.h): the device twins of
 * src/kernels.c, with the same formulas, so that the GPU and CPU paths differ only by float
 * rounding. Reductions run in one block with a fixed number of threads and a fixed tree, never
 * with floating-point atomics: the same inputs give the same bits on every run. */
#include "cuda_kernels.h"

#include <cfloat>

namespace {

constexpr int THREADS = 256;    /* threads per block of the elementwise kernels */
constexpr int SUM_THREADS = 1024; /* threads of the one block of a reduction (a power of 2) */

/* Blocks for n elements at THREADS each, capped: the kernels stride over the rest. */
unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

/* The same sigmoid as src/kernels.c: 1/(1+t) or t/(1+t) with t = e^-|z|, never overflowing. */
__device__ float sigmoid(float z)
{
    float t = expf(-fabsf(z));
    float s = 1.0f / (1.0f + t);
    return z >= 0.0f ? s : t * s;
}

__device__ float activate(float z, bp_activation act)
{
    switch (act) {
    case BP_SIGMOID: return sigmoid(z);
    case BP_TANH: return tanhf(z);
    case BP_RELU: return z > 0.0f ? z : 0.0f;
    case BP_LEAKY_RELU: return z > 0.0f ? z : BP_LEAKY_SLOPE * z;
    default: return z; /* identity; softmax is done per column */
    }
}

/* sigma'(z) from a = sigma(z), as bp__mul_dsigma. */
__device__ float dsigma(float a, bp_activation act)
{
    switch (act) {
    case BP_SIGMOID: return a * (1.0f - a);
    case BP_TANH: return 1.0f - a * a;
    case BP_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case BP_LEAKY_RELU: return a > 0.0f ? 1.0f : BP_LEAKY_SLOPE;
    default: return 1.0f;
    }
}

__global__ void bias_activate_kernel(float *a, int rows, size_t n, const float *b,
                                     bp_activation act)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = activate(a[i] + b[i % (size_t)rows], act);
}

/* One thread per column: +b, max subtracted, exp, sum in double, scaled (softmax_column). */
__global__ void softmax_kernel(float *a, int rows, int cols, const float *b)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols)
        return;
    float *col = a + (size_t)j * (size_t)rows;
    float max = -INFINITY;
    for (int i = 0; i < rows; i++) {
        col[i] += b[i];
        max = col[i] > max ? col[i] : max;
    }
    double sum = 0.0;
    for (int i = 0; i < rows; i++) {
        col[i] = expf(col[i] - max);
        sum += col[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < rows; i++)
        col[i] *= inv;
}

__global__ void mul_dsigma_kernel(float *d, const float *a, size_t n, bp_activation act)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        d[i] = act == BP_RELU ? (a[i] > 0.0f ? d[i] : 0.0f) : d[i] * dsigma(a[i], act);
}

/* One thread per column, as bp__output_delta. */
__global__ void output_delta_kernel(bp_cost cost, bp_activation act, const float *a,
                                    const float *y, int ldy, int rows, int cols, float *d)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols)
        return;
    const float *aj = a + (size_t)j * (size_t)rows, *yj = y + (size_t)j * (size_t)ldy;
    float *dj = d + (size_t)j * (size_t)rows;
    for (int i = 0; i < rows; i++)
        dj[i] = aj[i] - yj[i];
    if (cost != BP_QUADRATIC)
        return; /* softmax+NLL and sigmoid+cross-entropy: delta = a - y */
    if (act == BP_SOFTMAX) {
        double dot = 0.0;
        for (int i = 0; i < rows; i++)
            dot += (double)aj[i] * dj[i];
        for (int i = 0; i < rows; i++)
            dj[i] = aj[i] * (dj[i] - (float)dot);
    } else {
        for (int i = 0; i < rows; i++)
            dj[i] = act == BP_RELU ? (aj[i] > 0.0f ? dj[i] : 0.0f) : dj[i] * dsigma(aj[i], act);
    }
}

/* The sum of the block's values v[0..blockDim.x-1] (shared), in a fixed tree; blockDim.x a power
 * of 2. Returns it in thread 0. */
template <typename T> __device__ T block_sum(T *v)
{
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        __syncthreads();
        if (threadIdx.x < half)
            v[threadIdx.x] += v[threadIdx.x + half];
    }
    __syncthreads();
    return v[0];
}

/* Block i sums row i of d over the columns: thread t takes columns t, t + T, ... in order. */
__global__ void row_sums_kernel(int rows, int cols, const float *d, float *gb, int overwrite)
{
    __shared__ float part[THREADS];
    int i = blockIdx.x;
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        s += d[i + (size_t)j * (size_t)rows];
    part[threadIdx.x] = s;
    float total = block_sum(part);
    if (threadIdx.x == 0)
        gb[i] = overwrite ? total : gb[i] + total;
}

/* ln(max(x, FLT_MIN)), as safe_log. */
__device__ double safe_log(float x) { return log(x > FLT_MIN ? (double)x : (double)FLT_MIN); }

__global__ void cost_columns_kernel(bp_cost cost, const float *a, const float *y, int ldy,
                                    int rows, int cols, double *out)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols)
        return;
    const float *aj = a + (size_t)j * (size_t)rows, *yj = y + (size_t)j * (size_t)ldy;
    double sum = 0.0;
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
    out[j] = sum;
}

__global__ void sum_doubles_kernel(const double *x, size_t n, double *out, int accumulate)
{
    __shared__ double part[SUM_THREADS];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x)
        s += x[i];
    part[threadIdx.x] = s;
    double total = block_sum(part);
    if (threadIdx.x == 0)
        *out = accumulate ? *out + total : total;
}

__global__ void sum_squares_kernel(const float *g, size_t n, double *out)
{
    __shared__ double part[SUM_THREADS];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x)
        s += (double)g[i] * g[i];
    part[threadIdx.x] = s;
    double total = block_sum(part);
    if (threadIdx.x == 0)
        *out = total;
}

/* The update of src/optim.c, element by element. */
__global__ void optim_update_kernel(bp__cu_update u, float *theta, const float *grad, float *v,
                                    float *m, size_t lo, size_t hi)
{
    for (size_t i = lo + blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < hi;
         i += (size_t)gridDim.x * blockDim.x) {
        float g = u.scale * grad[i] + u.decay * theta[i];
        switch (u.kind) {
        case BP_OPT_SGD: theta[i] -= u.eta * g; break;
        case BP_OPT_MOMENTUM:
            v[i] = u.mu * v[i] - u.eta * g;
            theta[i] += v[i];
            break;
        case BP_OPT_NESTEROV: {
            float step = u.eta * g;
            v[i] = u.mu * v[i] - step;
            theta[i] += u.mu * v[i] - step;
            break;
        }
        case BP_OPT_ADAM:
            m[i] = u.beta1 * m[i] + (1 - u.beta1) * g;
            v[i] = u.beta2 * v[i] + (1 - u.beta2) * g * g;
            theta[i] -= u.eta * (m[i] * u.c1) / (sqrtf(v[i] * u.c2) + u.epsilon);
            break;
        }
    }
}

__global__ void gather_kernel(const float *src, int rows, const int *perm, int b, float *dst)
{
    size_t n = (size_t)rows * (size_t)b;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t i = k % (size_t)rows, j = k / (size_t)rows;
        dst[k] = src[(size_t)perm[j] * (size_t)rows + i];
    }
}

__global__ void count_correct_kernel(const float *a, int rows, int cols, const int *labels,
                                     const int *perm, unsigned long long *correct)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols)
        return;
    const float *aj = a + (size_t)j * (size_t)rows;
    int best = 0;
    for (int i = 1; i < rows; i++)
        best = aj[i] > aj[best] ? i : best;
    if (best == labels[perm ? perm[j] : j])
        atomicAdd(correct, 1ULL);
}

unsigned column_blocks(int cols) { return (unsigned)((cols + THREADS - 1) / THREADS); }

} // namespace

extern "C" {

cudaError_t bp__cu_bias_activate(cudaStream_t s, float *a, int rows, int cols, const float *b,
                                 bp_activation act)
{
    if (act == BP_SOFTMAX)
        softmax_kernel<<<column_blocks(cols), THREADS, 0, s>>>(a, rows, cols, b);
    else {
        size_t n = (size_t)rows * (size_t)cols;
        bias_activate_kernel<<<blocks_for(n), THREADS, 0, s>>>(a, rows, n, b, act);
    }
    return cudaGetLastError();
}

cudaError_t bp__cu_mul_dsigma(cudaStream_t s, float *d, const float *a, size_t n,
                              bp_activation act)
{
    if (act == BP_IDENTITY || act == BP_SOFTMAX)
        return cudaSuccess;
    mul_dsigma_kernel<<<blocks_for(n), THREADS, 0, s>>>(d, a, n, act);
    return cudaGetLastError();
}

cudaError_t bp__cu_output_delta(cudaStream_t s, bp_cost cost, bp_activation act, const float *a,
                                const float *y, int ldy, int rows, int cols, float *d)
{
    output_delta_kernel<<<column_blocks(cols), THREADS, 0, s>>>(cost, act, a, y, ldy, rows, cols,
                                                                 d);
    return cudaGetLastError();
}

cudaError_t bp__cu_row_sums(cudaStream_t s, int rows, int cols, const float *d, float *gb,
                            int overwrite)
{
    row_sums_kernel<<<(unsigned)rows, THREADS, 0, s>>>(rows, cols, d, gb, overwrite);
    return cudaGetLastError();
}

cudaError_t bp__cu_cost_columns(cudaStream_t s, bp_cost cost, const float *a, const float *y,
                                int ldy, int rows, int cols, double *cost_cols)
{
    cost_columns_kernel<<<column_blocks(cols), THREADS, 0, s>>>(cost, a, y, ldy, rows, cols,
                                                                 cost_cols);
    return cudaGetLastError();
}

cudaError_t bp__cu_sum_doubles(cudaStream_t s, const double *x, size_t n, double *out,
                               int accumulate)
{
    sum_doubles_kernel<<<1, SUM_THREADS, 0, s>>>(x, n, out, accumulate);
    return cudaGetLastError();
}

cudaError_t bp__cu_sum_squares(cudaStream_t s, const float *g, size_t n, double *out)
{
    sum_squares_kernel<<<1, SUM_THREADS, 0, s>>>(g, n, out);
    return cudaGetLastError();
}

cudaError_t bp__cu_optim_update(cudaStream_t s, const bp__cu_update *u, float *theta,
                                const float *grad, float *v, float *m, size_t lo, size_t hi)
{
    if (hi <= lo)
        return cudaSuccess;
    optim_update_kernel<<<blocks_for(hi - lo), THREADS, 0, s>>>(*u, theta, grad, v, m, lo, hi);
    return cudaGetLastError();
}

cudaError_t bp__cu_gather(cudaStream_t s, const float *src, int rows, const int *perm, int b,
                          float *dst)
{
    gather_kernel<<<blocks_for((size_t)rows * (size_t)b), THREADS, 0, s>>>(src, rows, perm, b,
                                                                            dst);
    return cudaGetLastError();
}

cudaError_t bp__cu_count_correct(cudaStream_t s, const float *a, int rows, int cols,
                                 const int *labels, const int *perm, unsigned long long *correct)
{
    count_correct_kernel<<<column_blocks(cols), THREADS, 0, s>>>(a, rows, cols, labels, perm,
                                                                  correct);
    return cudaGetLastError();
}

} // extern "C"
