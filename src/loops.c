/* The project's own single-threaded float kernels of a batched step (BP_PATH_LOOPS, and
 * BP_PATH_AUTO on small products): the three matrix products (eq. 15's w a, (B)'s w^T delta,
 * (C)'s delta a^T) and the row sums of (D), each called from its equation's function in blas.c;
 * and the online step's rank-one update w += alpha d a^T (bp_online_step).
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
    /* eq. 15 before the bias and sigma: z[:,j] = sum_k w[:,k] a[k,j], axpys down w's columns in
     * the order k = 0, 1, 2, ..., four columns per pass over z: one load and store of z per four
     * products instead of one per product (the sums, and so the bits, are those of one column at a
     * time) */
    for (int j = 0; j < batch; j++) {
        float *zj = z + (size_t)j * (size_t)rows;
        const float *aj = a + (size_t)j * (size_t)lda;
        for (int i = 0; i < rows; i++)
            zj[i] = 0.0f;
        int k = 0;
        for (; k + 4 <= cols; k += 4) {
            const float *w0 = w + (size_t)k * (size_t)rows, *w1 = w0 + rows, *w2 = w1 + rows,
                        *w3 = w2 + rows;
            float s0 = aj[k], s1 = aj[k + 1], s2 = aj[k + 2], s3 = aj[k + 3];
            for (int i = 0; i < rows; i++)
                zj[i] = (((zj[i] + w0[i] * s0) + w1[i] * s1) + w2[i] * s2) + w3[i] * s3;
        }
        for (; k < cols; k++) {
            const float *wk = w + (size_t)k * (size_t)rows;
            float s = aj[k];
            for (int i = 0; i < rows; i++)
                zj[i] += wk[i] * s;
        }
    }
}

BP_CLONES static void loops_weight_grad(int rows, int cols, int batch, const float *restrict d,
                                        const float *restrict a, int lda, float *restrict gw,
                                        int overwrite)
{
    /* (C) weight gradient: gw[:,k] += sum_j d[:,j] a[k,j]; overwrite: gw[:,k] = 0 + d[:,0] a[k,0]
     * first (the bits of zeroing gw, then adding: 0 + x is +0 where x is -0), then the rest */
    int j = 0;
    if (overwrite) {
        for (int k = 0; k < cols; k++) {
            float *gk = gw + (size_t)k * (size_t)rows, s = a[k];
            for (int i = 0; i < rows; i++)
                gk[i] = 0.0f + d[i] * s;
        }
        j = 1;
    }
    for (; j < batch; j++) {
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
     * columns. Short columns (dot's one sum in order) four at a time: four chains of dependent
     * adds that overlap, the same sums */
    for (int j = 0; j < batch; j++) {
        const float *dj = d + (size_t)j * (size_t)rows;
        float *out = dprev + (size_t)j * (size_t)cols;
        int k = 0;
        for (; rows < 2 * SPLIT && k + 4 <= cols; k += 4) {
            const float *w0 = w + (size_t)k * (size_t)rows, *w1 = w0 + rows, *w2 = w1 + rows,
                        *w3 = w2 + rows;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int i = 0; i < rows; i++) {
                s0 += w0[i] * dj[i];
                s1 += w1[i] * dj[i];
                s2 += w2[i] * dj[i];
                s3 += w3[i] * dj[i];
            }
            out[k] = s0;
            out[k + 1] = s1;
            out[k + 2] = s2;
            out[k + 3] = s3;
        }
        for (; k < cols; k++)
            out[k] = dot(w + (size_t)k * (size_t)rows, dj, rows);
    }
}

BP_CLONES static void loops_rank1(int rows, int cols, float alpha, const float *restrict d,
                                  const float *restrict a, float *restrict w)
{
    /* w += alpha d a^T: column k gets (alpha a[k]) d, the order of cblas_sger's products */
    for (int k = 0; k < cols; k++) {
        float *wk = w + (size_t)k * (size_t)rows, s = alpha * a[k];
        for (int i = 0; i < rows; i++)
            wk[i] += s * d[i];
    }
}

BP_CLONES static void loops_axpy(size_t n, float alpha, const float *restrict x, float *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void bp__loops_axpy(size_t n, float alpha, const float *x, float *y) { loops_axpy(n, alpha, x, y); }

void bp__loops_rank1(int rows, int cols, float alpha, const float *d, const float *a, float *w)
{
    loops_rank1(rows, cols, alpha, d, a, w);
}

void bp__loops_forward(int rows, int cols, int batch, const float *w, const float *a, int lda,
                       float *z)
{
    loops_forward(rows, cols, batch, w, a, lda, z);
}

void bp__loops_weight_grad(int rows, int cols, int batch, const float *d, const float *a, int lda,
                           float *gw, int overwrite)
{
    loops_weight_grad(rows, cols, batch, d, a, lda, gw, overwrite);
}

void bp__loops_bias_grad(int rows, int batch, const float *d, float *gb)
{
    loops_bias_grad(rows, batch, d, gb);
}

void bp__loops_delta(int rows, int cols, int batch, const float *w, const float *d, float *dprev)
{
    loops_delta(rows, cols, batch, w, d, dprev);
}
