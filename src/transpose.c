/* The transpose of bp__transpose (src/transpose.h). A plain loop over the elements reads one
 * matrix along its columns and the other across them, one float per cache line; here 8 x 8 tiles
 * are transposed in AVX2 registers (eight column loads, the unpack/shuffle/permute network, eight
 * row stores), on CPUs that have AVX2, and a 32 x 32 blocked loop elsewhere and on the edges. Every
 * element is a copy or one float addition, so the bits do not depend on which runs. */
#include "transpose.h"

#include <stddef.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BP_TRANSPOSE_AVX2 1
#include <immintrin.h>
#endif

/* The blocked loop over rows [i0, i1) x cols [j0, j1) of src. */
static void transpose_block(int i0, int i1, int j0, int j1, const float *src, size_t lds,
                            float *dst, size_t ldd, bp__transpose_mode mode)
{
    enum { TILE = 32 };
    for (int jt = j0; jt < j1; jt += TILE)
        for (int it = i0; it < i1; it += TILE) {
            int je = jt + TILE < j1 ? jt + TILE : j1, ie = it + TILE < i1 ? it + TILE : i1;
            for (int i = it; i < ie; i++)
                for (int j = jt; j < je; j++) {
                    float v = src[(size_t)i + (size_t)j * lds], *out = dst + j + (size_t)i * ldd;
                    *out = mode == BP__TRANSPOSE_ADD ? *out + v : v;
                }
        }
}

#ifdef BP_TRANSPOSE_AVX2
/* One 8 x 8 tile: s is its top left corner in src, d in dst. */
__attribute__((target("avx2"))) static inline void tile8(const float *s, size_t lds, float *d,
                                                         size_t ldd, bp__transpose_mode mode)
{
    __m256 r[8], t[8], u[8];
    for (int k = 0; k < 8; k++)
        r[k] = _mm256_loadu_ps(s + (size_t)k * lds);
    for (int k = 0; k < 8; k += 2) { /* pairs of columns interleaved */
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) { /* 4 x 4 blocks within each 128-bit lane */
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) { /* the lanes: rows k and k + 4 of the tile's transpose */
        __m256 lo = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        __m256 hi = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
        float *plo = d + (size_t)k * ldd, *phi = d + (size_t)(k + 4) * ldd;
        if (mode == BP__TRANSPOSE_ADD) {
            lo = _mm256_add_ps(_mm256_loadu_ps(plo), lo);
            hi = _mm256_add_ps(_mm256_loadu_ps(phi), hi);
        }
        _mm256_storeu_ps(plo, lo);
        _mm256_storeu_ps(phi, hi);
    }
}

/* The whole tiles by tile8, column panels of eight at a time, and the edges by the loop. */
__attribute__((target("avx2"))) static void transpose_avx2(int rows, int cols, const float *src,
                                                           size_t lds, float *dst, size_t ldd,
                                                           bp__transpose_mode mode)
{
    int rows8 = rows & ~7, cols8 = cols & ~7;
    for (int j = 0; j < cols8; j += 8)
        for (int i = 0; i < rows8; i += 8)
            tile8(src + i + (size_t)j * lds, lds, dst + j + (size_t)i * ldd, ldd, mode);
    transpose_block(rows8, rows, 0, cols8, src, lds, dst, ldd, mode);
    transpose_block(0, rows, cols8, cols, src, lds, dst, ldd, mode);
}
#endif

void bp__transpose(int rows, int cols, const float *src, int lds, float *dst, int ldd,
                   bp__transpose_mode mode)
{
#ifdef BP_TRANSPOSE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        transpose_avx2(rows, cols, src, (size_t)lds, dst, (size_t)ldd, mode);
        return;
    }
#endif
    transpose_block(0, rows, 0, cols, src, (size_t)lds, dst, (size_t)ldd, mode);
}
