/* The elementwise CUDA kernels of the cuBLAS path (src/cuda_kernels.cu), as C functions that
 * launch them on a stream: the device twins of src/kernels.h. Every pointer is device memory;
 * matrices are contiguous (ld = rows) unless an ld is given. Each returns the launch's
 * cudaError_t (cudaSuccess, or why the kernel could not start). None uses floating-point atomics:
 * every sum runs in a fixed order, so the same inputs give the same bits. */
#ifndef BP_CUDA_KERNELS_H_INCLUDED
#define BP_CUDA_KERNELS_H_INCLUDED

#include "backprop.h"

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* a (rows x cols) <- sigma(a + b 1^T): eq. 15 after the product; softmax per column. */
cudaError_t bp__cu_bias_activate(cudaStream_t s, float *a, int rows, int cols, const float *b,
                                 bp_activation act);

/* d <- d (.) sigma'(z), sigma' from a = sigma(z); n elements: (B) after its product. */
cudaError_t bp__cu_mul_dsigma(cudaStream_t s, float *d, const float *a, size_t n,
                              bp_activation act);

/* (A): d (rows x cols) <- grad_a C (.) sigma'(z^L) for outputs a, targets y (ldy); a - y for
 * softmax+NLL and sigmoid+cross-entropy; the full softmax Jacobian for softmax+quadratic. */
cudaError_t bp__cu_output_delta(cudaStream_t s, bp_cost cost, bp_activation act, const float *a,
                                const float *y, int ldy, int rows, int cols, float *d);

/* (D): gb (+)= d 1, the row sums of d (rows x cols); gb overwritten when overwrite, else added
 * to. One block per row, a fixed-order tree over the columns. */
cudaError_t bp__cu_row_sums(cudaStream_t s, int rows, int cols, const float *d, float *gb,
                            int overwrite);

/* cost_cols[j] = C(y_j, a_j) of column j (a: rows x cols, y: ldy), in double: bp__cost's terms. */
cudaError_t bp__cu_cost_columns(cudaStream_t s, bp_cost cost, const float *a, const float *y,
                                int ldy, int rows, int cols, double *cost_cols);

/* *out (+)= sum of x[0..n-1] (doubles) in a fixed order, one block; added when accumulate. */
cudaError_t bp__cu_sum_doubles(cudaStream_t s, const double *x, size_t n, double *out,
                               int accumulate);

/* *out = sum of g[i]^2 over n floats, in double, one block in a fixed order. */
cudaError_t bp__cu_sum_squares(cudaStream_t s, const float *g, size_t n, double *out);

/* The constants of one optimizer step over theta[lo..hi): bp_optim_step's rule with
 * g_i = scale * grad[i] + decay * theta[i]; c1, c2 Adam's bias corrections. */
typedef struct bp__cu_update {
    bp_optimizer_kind kind;
    float scale, decay, eta, mu, beta1, beta2, epsilon, c1, c2;
} bp__cu_update;
/* theta, v, m (moments, NULL when the kind has none) updated over [lo, hi). */
cudaError_t bp__cu_optim_update(cudaStream_t s, const bp__cu_update *u, float *theta,
                                const float *grad, float *v, float *m, size_t lo, size_t hi);

/* dst (rows x b) = the columns perm[0..b-1] of src (rows x count, ld = rows). */
cudaError_t bp__cu_gather(cudaStream_t s, const float *src, int rows, const int *perm, int b,
                          float *dst);

/* *correct += the columns j < cols of a (rows x cols) whose argmax (first on ties) is
 * labels[perm[j]] (labels[j] when perm is NULL); integer atomics (exact, order-free). */
cudaError_t bp__cu_count_correct(cudaStream_t s, const float *a, int rows, int cols,
                                 const int *labels, const int *perm, unsigned long long *correct);

#ifdef __cplusplus
}
#endif
#endif
