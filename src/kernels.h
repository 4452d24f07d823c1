/* Elementwise kernels of the BLAS path (src/kernels.c). Matrices are contiguous, ld = rows. */
#ifndef BP_KERNELS_H_INCLUDED
#define BP_KERNELS_H_INCLUDED

#include "internal.h"

/* a (rows x cols) <- sigma(a + b 1^T): the bias and the activation of the forward pass, one pass. */
void bp__bias_activate(float *a, int rows, int cols, const float *b, bp_activation act);

/* d <- d (.) sigma'(z), sigma' computed from a = sigma(z); n elements. Identity: unchanged. */
void bp__mul_dsigma(float *d, const float *a, size_t n, bp_activation act);

/* (A): d (rows x cols) <- grad_a C (.) sigma'(z^L) for outputs a and targets y (leading dimension
 * ldy); a - y for softmax+NLL and sigmoid+cross-entropy. */
void bp__output_delta(bp_cost cost, bp_activation act, const float *a, const float *y, int ldy,
                      int rows, int cols, float *d);

/* The project's own loops for the products of a batched pass (src/loops.c); shapes as the BLAS
 * calls they replace in src/blas.c. a has leading dimension lda; every other matrix is contiguous.
 * z = w a (w: rows x cols, a: cols x batch), overwritten. */
void bp__loops_forward(int rows, int cols, int batch, const float *restrict w,
                       const float *restrict a, int lda, float *restrict z);
/* (C) gw += d a^T (d: rows x batch, a: cols x batch); overwrite: gw = d a^T, the bits of zeroing
 * gw first. */
void bp__loops_weight_grad(int rows, int cols, int batch, const float *restrict d,
                           const float *restrict a, int lda, float *restrict gw, int overwrite);
/* (D) gb += d 1: the row sums of d (rows x batch). */
void bp__loops_bias_grad(int rows, int batch, const float *restrict d, float *restrict gb);
/* (B) before sigma': dprev = w^T d (w: rows x cols, d: rows x batch), overwritten. */
void bp__loops_delta(int rows, int cols, int batch, const float *restrict w,
                     const float *restrict d, float *restrict dprev);

/* w += alpha d a^T (w: rows x cols, d: rows, a: cols): the rank-one update of the online step. */
void bp__loops_rank1(int rows, int cols, float alpha, const float *restrict d,
                     const float *restrict a, float *restrict w);

/* y += alpha x over n floats: the SGD step. Not cblas_saxpy: OpenBLAS splits an axpy of more than
 * 10000 floats between its threads, and waking them costs more than the pass itself. */
void bp__loops_axpy(size_t n, float alpha, const float *restrict x, float *restrict y);

/* Index of the largest of a[0..n-1], the first one on ties. */
int bp__argmax(const float *a, int n);
/* The classes a network of n outputs tells apart: n, or 2 for one output (binary classification,
 * the output read as the probability of class 1). */
int bp__num_classes(int n_out);
/* The class of an output column a of n values: 1 if a[0] > 0.5 when n is 1, else bp__argmax. */
int bp__class_of(const float *a, int n);

/* Sum over the columns of C(y, a), in double. */
double bp__cost(bp_cost cost, const float *a, const float *y, int ldy, int rows, int cols);

/* ---------------------------------------------------------------- derivative kernels
 * Layers whose sigma' needs z (softplus, SiLU, GELU: sigma' is not a function of a) keep z^l in the
 * workspace; the kernels below read it. */
static inline int bp__needs_z(bp_activation act)
{
    return act == BP_SOFTPLUS || act == BP_SILU || act == BP_GELU;
}

/* The forward pass of a layer that keeps z: z (rows x cols) <- z + b 1^T, a <- sigma(z). */
void bp__bias_activate_z(float *z, float *a, int rows, int cols, const float *b,
                         bp_activation act);

/* d <- d (.) sigma'(z) for an activation that keeps z; n elements. */
void bp__mul_dsigma_z(float *d, const float *z, size_t n, bp_activation act);

/* d (rows x cols) <- J d column by column, J = da/dz of the layer at a (and z where the layer keeps
 * it, else NULL): sigma'(z) (.) d for an elementwise sigma, a (.) (d - (a^T d) 1) for softmax (its
 * Jacobian is symmetric, so this is the step of both the VJP and the JVP). */
void bp__mul_dact(float *d, const float *a, const float *z, int rows, int cols, bp_activation act);

/* The elementwise step of the force gradient's backward at a layer of n elements (DESIGN.md,
 * "Training on derivatives"): with the adjoints abar of a and adbar of a-dot on entry,
 *   zbar  <- abar (.) sigma'(z) + adbar (.) sigma''(z) (.) zdot   (written over abar)
 *   zdbar <- adbar (.) sigma'(z)                                   (written over adbar)
 * sigma' and sigma'' from a, or from z where the layer keeps it (else z is NULL). Not softmax. */
void bp__tangent_adjoint(float *abar, float *adbar, const float *a, const float *z,
                         const float *zdot, size_t n, bp_activation act);

#endif
