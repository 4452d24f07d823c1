/* A matrix transpose for the batched passes of src/blas.c (src/transpose.c), which run some of
 * their products in the transposed form and bring the result back to the workspace's layout. */
#ifndef BP_TRANSPOSE_H_INCLUDED
#define BP_TRANSPOSE_H_INCLUDED

/* Whether bp__transpose overwrites its destination or adds into it. */
typedef enum bp__transpose_mode { BP__TRANSPOSE_COPY, BP__TRANSPOSE_ADD } bp__transpose_mode;

/* dst = src^T (COPY) or dst += src^T (ADD): src is (rows, cols) with leading dimension lds, dst is
 * (cols, rows) with leading dimension ldd; the two do not overlap. Exact: each element is copied,
 * or added once in float, so every implementation gives the same bits. */
void bp__transpose(int rows, int cols, const float *src, int lds, float *dst, int ldd,
                   bp__transpose_mode mode);

#endif
