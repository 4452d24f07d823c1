/* The project's own single-threaded float kernels of a batched step (BP_PATH_LOOPS, and
 * BP_PATH_AUTO on small products): the three matrix products (eq. 15's w a, (B)'s w^T delta,
 * (C)'s delta a^T) and the row sums of (D), each called from its equation's function in blas.c.
 * A BLAS call costs a fixed overhead (argument checks, dispatch, buffer packing, and waking its
 * threads when it has more than one) that dominates a product of a few thousand multiply-adds;
 * these loops have none. Every inner loop runs down a contiguous column, so the compiler
 * vectorises it; the sums of (B) are split over SPLIT partial accumulators so that they vectorise
 * without reassociation flags. */
#include "kernels.h"

enum { SPLIT = 16 };

BP_CLONES static void loops_forward(int rows, int cols, int batch, const float *restrict w,
                                    const float *restrict a, int lda, float *restrict z)
{
    /* eq. 15 before the bias and sigma: z[:,j] = sum_k w[:,k] a[k,j], axpys down w's columns */
    for (int j = 0; j < batch; j++) {
        float *zj = z + (size_t)j * (size_t)rows;
        const float *aj = a + (size_t)j * (size_t)lda;
        for (int i = 0; i < rows; i++)
            zj[i] = 0.0f;
        for (int k = 0; k < cols; k++) {
            const float *wk = w + (size_t)k * (size_t)rows;
            float s = aj[k];
            for (int i = 0; i < rows; i++)
                zj[i] += wk[i] * s;
        }
    }
}

BP_CLONES static void loops_weight_grad(int rows, int cols, int batch, const float *restrict d,
                                        const float *restrict a, int lda, float *restrict gw)
{
    /* (C) weight gradient: gw[:,k] += sum_j d[:,j] a[k,j] */
    for (int j = 0; j < batch; j++) {
        const float *dj = d + (size_t)j * (size_t)rows, *aj = a + (size_t)j * (size_t)lda;
        for (int k = 0; k < cols; k++) {
            float *gk = gw + (size_t)k * (size_t)rows;
            float s = aj[k];
            for (int i = 0; i < rows; i++)
                gk[i] += dj[i] * s;
        }
    }
}

BP_CLONES static void loops_bias_grad(int rows, int batch, const float *restrict d,
                                      float *restrict gb)
{
    /* (D) bias gradient: gb += sum_j d[:,j] */
    for (int j = 0; j < batch; j++)
        for (int i = 0; i < rows; i++)
            gb[i] += d[(size_t)j * (size_t)rows + (size_t)i];
}

/* sum_i x[i] y[i] over SPLIT interleaved partial sums. */
static inline float dot(const float *restrict x, const float *restrict y, int n)
{
    if (n < 2 * SPLIT) {
        float s = 0.0f;
        for (int i = 0; i < n; i++)
            s += x[i] * y[i];
        return s;
    }
    float part[SPLIT] = {0};
    int i = 0;
    for (; i + SPLIT <= n; i += SPLIT)
        for (int p = 0; p < SPLIT; p++)
            part[p] += x[i + p] * y[i + p];
    float s = 0.0f;
    for (; i < n; i++)
        s += x[i] * y[i];
    for (int p = 0; p < SPLIT; p++)
        s += part[p];
    return s;
}

BP_CLONES static void loops_delta(int rows, int cols, int batch, const float *restrict w,
                                  const float *restrict d, float *restrict dprev)
{
    /* (B) hidden error before sigma': dprev[k,j] = sum_i w[i,k] d[i,j], a dot of two contiguous
     * columns */
    for (int j = 0; j < batch; j++)
        for (int k = 0; k < cols; k++)
            dprev[(size_t)j * (size_t)cols + (size_t)k] =
                dot(w + (size_t)k * (size_t)rows, d + (size_t)j * (size_t)rows, rows);
}

BP_CLONES static void loops_axpy(size_t n, float alpha, const float *restrict x, float *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void bp__loops_axpy(size_t n, float alpha, const float *x, float *y) { loops_axpy(n, alpha, x, y); }

void bp__loops_forward(int rows, int cols, int batch, const float *w, const float *a, int lda,
                       float *z)
{
    loops_forward(rows, cols, batch, w, a, lda, z);
}

void bp__loops_weight_grad(int rows, int cols, int batch, const float *d, const float *a, int lda,
                           float *gw)
{
    loops_weight_grad(rows, cols, batch, d, a, lda, gw);
}

void bp__loops_bias_grad(int rows, int batch, const float *d, float *gb)
{
    loops_bias_grad(rows, batch, d, gb);
}

void bp__loops_delta(int rows, int cols, int batch, const float *w, const float *d, float *dprev)
{
    loops_delta(rows, cols, batch, w, d, dprev);
}
