/* Internal declarations shared between the library's source files (hidden from the shared library). */
#ifndef BP_INTERNAL_H_INCLUDED
#define BP_INTERNAL_H_INCLUDED

#include "backprop.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BP__PRINTF(f, a)
#endif

struct bp_net {
    int num_layers;             /* L */
    int sizes[BP_MAX_LAYERS];   /* n^1..n^L */
    bp_activation acts[BP_MAX_LAYERS]; /* acts[l-2] for layer l = 2..L */
    bp_cost cost;
    size_t w_off[BP_MAX_LAYERS + 1]; /* offsets of w^l, b^l in the block, indexed by l (2..L) */
    size_t b_off[BP_MAX_LAYERS + 1];
    size_t num_params;
    int max_width;              /* max over l >= 2 of n^l */
    float *params;
};

/* Record status and a printf-style detail for bp_last_error(); returns status. */
bp_status bp__fail(bp_status status, const char *fmt, ...) BP__PRINTF(2, 3);
/* Clear the detail message (called on entry by functions that may fail). */
void bp__clear_error(void);

/* BP_EIO with the detail "path: what: <system message for err>". */
bp_status bp__fail_errno(int err, const char *path, const char *what);
/* realloc(p) to rows * cols elements of elem bytes with the size product checked; on failure NULL,
 * *st set (BP_EOVERFLOW or BP_ENOMEM) and p untouched. */
void *bp__realloc_array(void *p, size_t rows, size_t cols, size_t elem, bp_status *st);
/* a * b into *out; 0 if it overflows size_t. */
int bp__mul_size(size_t a, size_t b, size_t *out);
/* Checks common to every BLAS-facing function. */
bp_status bp__check_matrix(const char *name, const void *p, int rows, int ld);

/* The project's generator: xoshiro256** seeded through splitmix64. */
typedef struct bp__rng {
    uint64_t s[4];
} bp__rng;
void bp__rng_seed(bp__rng *rng, uint64_t seed);
uint64_t bp__rng_next(bp__rng *rng);
/* Uniform in [0,1) with 53 random bits. */
double bp__rng_uniform(bp__rng *rng);
/* Standard normal by Box-Muller (one pair of uniforms per value, so the sequence depends only
 * on the seed and the number of draws). */
double bp__rng_normal(bp__rng *rng);
/* Uniform integer in [0, n) without modulo bias, n >= 1. */
uint64_t bp__rng_below(bp__rng *rng, uint64_t n);

/* y += alpha x over n floats (cblas_saxpy in INT_MAX chunks). */
void bp__axpy(size_t n, float alpha, const float *x, float *y);

/* Validity of an activation sequence and cost; detail via bp__fail. */
bp_status bp__check_config(int num_layers, const int *sizes, const bp_activation *acts, bp_cost cost);

/* The naive reference in double with parameters params (the network's layout, in double):
 * out (may be NULL) = a^L; with Y: *cost = summed cost and, if grad, grad += dC/dtheta. */
bp_status bp__naive_run(const bp_net *net, const double *params, int batch, const float *X, int ldx,
                        const float *Y, int ldy, float *out, int ldo, double *grad, double *cost);
/* A malloc'ed double copy of net's parameters. */
bp_status bp__params_to_double(const bp_net *net, double **out);
/* net, batch >= 1, X (n^1 x batch, ldx) and the n^L x batch matrix yname (Y or an output, ldy)
 * present and well shaped. */
bp_status bp__check_io(const bp_net *net, int batch, const float *X, int ldx, const char *yname,
                       const float *Y, int ldy);

#endif
