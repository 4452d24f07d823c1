/* Forward and backward passes on cuBLAS, the device twin of src/blas.c with the same shape: one
 * function per equation, cublasSgemm where blas.c calls cblas_sgemm, the elementwise steps as
 * CUDA kernels (src/cuda_kernels.cu). Parameters, gradient, moments and workspace live on the
 * device; the public calls copy a batch up and a result down, and wait for the device only then.
 * Shapes are validated before any call, as on the CPU. Built only with BACKPROP_CUDA. */
#include "cuda_internal.h"
#include "cuda_kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Chain a cuBLAS call likewise. */
#define CUBLAS(call, what)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return cublas_fail(s_, what);                                                          \
    } while (0)

bp_status bp__cuda_fail(cudaError_t err, const char *what)
{
    return bp__fail(err == cudaErrorMemoryAllocation ? BP_ENOMEM : BP_ECONFIG, "%s: %s", what,
                    cudaGetErrorString(err));
}

static bp_status cublas_fail(cublasStatus_t st, const char *what)
{
    return bp__fail(st == CUBLAS_STATUS_ALLOC_FAILED ? BP_ENOMEM : BP_ECONFIG, "%s: %s", what,
                    cublasGetStatusString(st));
}

bp_status bp_cuda_device_count(int *count)
{
    bp__clear_error();
    if (!count)
        return bp__fail(BP_ENULL, "count is NULL");
    *count = 0;
    cudaError_t err = cudaGetDeviceCount(count);
    if (err != cudaSuccess) { /* no driver, no device, or all hidden: nothing to run on */
        *count = 0;
        bp__fail(BP_OK, "cudaGetDeviceCount: %s", cudaGetErrorString(err));
    } else if (*count == 0) {
        bp__fail(BP_OK, "cudaGetDeviceCount: 0 devices");
    }
    return BP_OK;
}

/* ---------------------------------------------------------------- the object */

static bp_status check_shape(const bp_cuda *cu, const bp_net *net)
{
    if (!cu || !net)
        return bp__fail(BP_ENULL, "%s is NULL", cu ? "net" : "cu");
    if (net->num_layers != cu->shape.num_layers || net->num_params != cu->shape.num_params ||
        memcmp(net->sizes, cu->shape.sizes, (size_t)net->num_layers * sizeof *net->sizes) != 0)
        return bp__fail(BP_EMISMATCH, "the network's shape is not the one cu was made for");
    return BP_OK;
}

/* The optimizer cu runs, validated as bp_optim_create does, with the Adam defaults filled in. */
static bp_status set_optim(bp_cuda *cu, const bp_net *net, const bp_optim_config *cfg)
{
    bp_optim *probe;
    bp_status st = bp_optim_create(&probe, net, cfg);
    if (st)
        return st;
    bp_optim_free(probe);
    if (cfg->clip_norm > 0)
        return bp__fail(BP_ECONFIG, "clip_norm %g: gradient clipping is not done on the GPU",
                        (double)cfg->clip_norm);
    cu->has_optim = 1;
    cu->optim = *cfg;
    if (cfg->kind == BP_OPT_ADAM) {
        if (cfg->beta1 == 0 && cfg->beta2 == 0) {
            cu->optim.beta1 = 0.9f;
            cu->optim.beta2 = 0.999f;
        }
        if (cfg->epsilon == 0)
            cu->optim.epsilon = 1e-8f;
    }
    return BP_OK;
}

/* Floats of the device block: parameters, gradient, moments, a batch's x and y, activations,
 * deltas; 0 on overflow. */
static size_t device_floats(const bp_cuda *cu)
{
    const bp_net *s = &cu->shape;
    size_t B = (size_t)cu->max_batch, per_col = 2 * (size_t)s->max_width, cols, n;
    per_col += (size_t)s->sizes[0] + (size_t)s->sizes[s->num_layers - 1];
    for (int l = 2; l <= s->num_layers; l++)
        per_col += (size_t)s->sizes[l - 1];
    int moments = cu->has_optim ? bp__optim_moments(cu->optim.kind) : 0;
    if (!bp__mul_size(per_col, B, &cols) || !bp__mul_size(s->num_params, 2 + (size_t)moments, &n) ||
        cols > SIZE_MAX - n || cols + n > SIZE_MAX / sizeof(float))
        return 0;
    return cols + n;
}

/* Carve the device block into cu's buffers. */
static void carve(bp_cuda *cu)
{
    const bp_net *s = &cu->shape;
    size_t B = (size_t)cu->max_batch, P = s->num_params;
    float *p = cu->fblock;
    cu->params = p, p += P;
    cu->grad = p, p += P;
    if (cu->has_optim && bp__optim_moments(cu->optim.kind) >= 1)
        cu->v = p, p += P;
    if (cu->has_optim && bp__optim_moments(cu->optim.kind) == 2)
        cu->m = p, p += P;
    cu->x = p, p += (size_t)s->sizes[0] * B;
    cu->y = p, p += (size_t)s->sizes[s->num_layers - 1] * B;
    for (int l = 2; l <= s->num_layers; l++)
        cu->act[l] = p, p += (size_t)s->sizes[l - 1] * B;
    cu->delta[0] = p, p += (size_t)s->max_width * B;
    cu->delta[1] = p;
    cu->cost_cols = cu->dblock;
    cu->scalars = cu->dblock + B;
}

/* Device, stream, handle, memory; the parameters copied up and the moments zeroed. */
static bp_status device_start(bp_cuda *cu, const bp_net *net)
{
    int count;
    bp_cuda_device_count(&count);
    if (count < 1) {
        char why[256]; /* the detail is about to be overwritten */
        snprintf(why, sizeof why, "%s", bp_last_error());
        return bp__fail(BP_ECONFIG, "no CUDA device (%s)", why);
    }
    size_t floats = device_floats(cu), doubles = (size_t)cu->max_batch + BP__CU_SCALARS;
    if (floats == 0)
        return bp__fail(BP_EOVERFLOW, "device buffers for max_batch %d overflow size_t",
                        cu->max_batch);
    CU(cudaStreamCreate(&cu->stream), "cudaStreamCreate");
    CUBLAS(cublasCreate(&cu->handle), "cublasCreate");
    CUBLAS(cublasSetStream(cu->handle, cu->stream), "cublasSetStream");
    CUBLAS(cublasSetAtomicsMode(cu->handle, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
    CUBLAS(cublasSetMathMode(cu->handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    CU(cudaMalloc((void **)&cu->fblock, floats * sizeof(float)),
       "cudaMalloc (parameters, workspace)");
    CU(cudaMalloc((void **)&cu->dblock, doubles * sizeof(double)), "cudaMalloc (sums)");
    carve(cu);
    size_t P = net->num_params;
    if (cu->v)
        CU(cudaMemsetAsync(cu->v, 0, P * sizeof(float) * (cu->m ? 2 : 1), cu->stream),
           "cudaMemsetAsync (moments)");
    CU(cudaMemcpyAsync(cu->params, net->params, P * sizeof(float), cudaMemcpyHostToDevice,
                       cu->stream), "cudaMemcpyAsync (parameters up)");
    CU(cudaStreamSynchronize(cu->stream), "cudaStreamSynchronize");
    return BP_OK;
}

bp_status bp_cuda_create(bp_cuda **out, const bp_net *net, int max_batch,
                         const bp_optim_config *optim)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (max_batch < 1)
        return bp__fail(BP_EDIM, "max_batch is %d, must be >= 1", max_batch);
    bp_cuda *cu = bp__calloc(1, sizeof *cu);
    if (!cu)
        return bp__fail(BP_ENOMEM, "the bp_cuda object");
    cu->shape = *net;
    cu->shape.params = NULL;
    cu->max_batch = max_batch;
    bp_status st = optim ? set_optim(cu, net, optim) : BP_OK;
    if (!st)
        st = device_start(cu, net);
    if (st) {
        bp_cuda_free(cu);
        return st;
    }
    *out = cu;
    return BP_OK;
}

void bp_cuda_free(bp_cuda *cu)
{
    if (!cu)
        return;
    cudaFree(cu->fblock); /* cudaFree(NULL) and cublasDestroy(NULL) do nothing */
    cudaFree(cu->dblock);
    if (cu->handle)
        cublasDestroy(cu->handle);
    if (cu->stream)
        cudaStreamDestroy(cu->stream);
    bp__free(cu);
}

bp_status bp__cuda_download(bp_cuda *cu, void *dst, const void *src, size_t n)
{
    CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, cu->stream), "cudaMemcpyAsync (down)");
    CU(cudaStreamSynchronize(cu->stream), "cudaStreamSynchronize");
    return BP_OK;
}

bp_status bp_cuda_set_params(bp_cuda *cu, const bp_net *net)
{
    bp__clear_error();
    bp_status st = check_shape(cu, net);
    if (st)
        return st;
    CU(cudaMemcpyAsync(cu->params, net->params, net->num_params * sizeof(float),
                       cudaMemcpyHostToDevice, cu->stream), "cudaMemcpyAsync (parameters up)");
    CU(cudaStreamSynchronize(cu->stream), "cudaStreamSynchronize");
    return BP_OK;
}

bp_status bp_cuda_get_params(const bp_cuda *cu, bp_net *net)
{
    bp__clear_error();
    bp_status st = check_shape(cu, net);
    if (st)
        return st;
    return bp__cuda_download((bp_cuda *)cu, net->params, cu->params,
                             net->num_params * sizeof(float));
}

/* ---------------------------------------------------------------- the equations */
static const float ONE = 1.0f, ZERO = 0.0f;

/* Eq. 15 before the bias and sigma: z = w a, overwritten.
 * w is (rows, cols), a is (cols, batch) with leading dimension lda, z is (rows, batch). */
static bp_status weighted_input(bp_cuda *cu, int rows, int cols, int batch, const float *w,
                                const float *a, int lda, float *z)
{
    CUBLAS(cublasSgemm(cu->handle, CUBLAS_OP_N, CUBLAS_OP_N, rows, batch, cols, &ONE, w, rows, a,
                       lda, &ZERO, z, rows), "cublasSgemm (eq. 15)");
    return BP_OK;
}

/* (A) delta^L = grad_a C (.) sigma'(z^L), fused to a^L - y where the cost allows.
 * d and a^L are (n^L, batch), Y is (n^L, batch) with ld n^L; d overwritten. */
static bp_status output_error(bp_cuda *cu, const float *Y, float *d)
{
    const bp_net *s = &cu->shape;
    int L = s->num_layers, nL = s->sizes[L - 1];
    CU(bp__cu_output_delta(cu->stream, s->cost, s->acts[L - 2], cu->act[L], Y, nL, nL, cu->batch,
                           d), "output error kernel (A)");
    return BP_OK;
}

/* (B) delta^{l-1} = ((w^l)^T delta^l) (.) sigma'(z^{l-1}), sigma' computed from a^{l-1}.
 * w is (rows, cols), d is (rows, batch), a and dprev are (cols, batch); dprev overwritten. */
static bp_status hidden_error(bp_cuda *cu, int rows, int cols, const float *w, const float *d,
                              const float *a, bp_activation act, float *dprev)
{
    int batch = cu->batch;
    CUBLAS(cublasSgemm(cu->handle, CUBLAS_OP_T, CUBLAS_OP_N, cols, batch, rows, &ONE, w, rows, d,
                       rows, &ZERO, dprev, cols), "cublasSgemm (eq. B)");
    CU(bp__cu_mul_dsigma(cu->stream, dprev, a, (size_t)cols * (size_t)batch, act),
       "sigma' kernel (B)");
    return BP_OK;
}

/* (C) dC/dw^l = delta^l (a^{l-1})^T summed over the batch, overwritten (beta = 0).
 * d is (rows, batch), a is (cols, batch) with ld cols, gw is (rows, cols). */
static bp_status weight_gradient(bp_cuda *cu, int rows, int cols, const float *d, const float *a,
                                 float *gw)
{
    CUBLAS(cublasSgemm(cu->handle, CUBLAS_OP_N, CUBLAS_OP_T, rows, cols, cu->batch, &ONE, d, rows,
                       a, cols, &ZERO, gw, rows), "cublasSgemm (eq. C)");
    return BP_OK;
}

/* (D) dC/db^l = delta^l summed over the batch: gb = d 1, the row sums of d, overwritten.
 * d is (rows, batch), gb is (rows). */
static bp_status bias_gradient(bp_cuda *cu, int rows, const float *d, float *gb)
{
    CU(bp__cu_row_sums(cu->stream, rows, cu->batch, d, gb, 1), "row-sum kernel (D)");
    return BP_OK;
}

bp_status bp__cuda_forward(bp_cuda *cu, int batch, const float *X)
{
    const bp_net *s = &cu->shape;
    const float *prev = X;
    bp_status st = BP_OK;
    for (int l = 2; l <= s->num_layers && !st; l++) {
        int rows = s->sizes[l - 1], cols = s->sizes[l - 2];
        st = weighted_input(cu, rows, cols, batch, cu->params + s->w_off[l], prev, cols,
                            cu->act[l]);
        cudaError_t err = st ? cudaSuccess
                             : bp__cu_bias_activate(cu->stream, cu->act[l], rows, batch,
                                                    cu->params + s->b_off[l], s->acts[l - 2]);
        if (err != cudaSuccess)
            st = bp__cuda_fail(err, "bias and sigma kernel (eq. 15)");
        prev = cu->act[l];
    }
    cu->batch = st ? 0 : batch;
    return st;
}

bp_status bp__cuda_backward(bp_cuda *cu, const float *X, const float *Y)
{
    const bp_net *s = &cu->shape;
    float *d = cu->delta[0], *dprev = cu->delta[1];
    bp_status st = output_error(cu, Y, d);
    for (int l = s->num_layers; l >= 2 && !st; l--) {
        int rows = s->sizes[l - 1], cols = s->sizes[l - 2];
        const float *aprev = l == 2 ? X : cu->act[l - 1];
        if ((st = weight_gradient(cu, rows, cols, d, aprev, cu->grad + s->w_off[l])) ||
            (st = bias_gradient(cu, rows, d, cu->grad + s->b_off[l])) || l == 2)
            break; /* no delta for the input layer */
        st = hidden_error(cu, rows, cols, cu->params + s->w_off[l], d, aprev, s->acts[l - 3],
                          dprev);
        float *t = d;
        d = dprev;
        dprev = t;
    }
    return st;
}

bp_status bp__cuda_cost(bp_cuda *cu, const float *Y, int slot, int accumulate)
{
    const bp_net *s = &cu->shape;
    int L = s->num_layers, nL = s->sizes[L - 1];
    CU(bp__cu_cost_columns(cu->stream, s->cost, cu->act[L], Y, nL, nL, cu->batch, cu->cost_cols),
       "cost kernel");
    CU(bp__cu_sum_doubles(cu->stream, cu->cost_cols, (size_t)cu->batch, cu->scalars + slot,
                          accumulate), "sum kernel (cost)");
    return BP_OK;
}

bp_status bp__cuda_grad_sumsq(bp_cuda *cu)
{
    CU(bp__cu_sum_squares(cu->stream, cu->grad, cu->shape.num_params, cu->scalars + BP__CU_SUMSQ),
       "sum-of-squares kernel");
    return BP_OK;
}

bp_status bp__cuda_update(bp_cuda *cu, int m, long n, float eta)
{
    const bp_net *s = &cu->shape;
    const bp_optim_config *c = &cu->optim;
    cu->t++;
    bp__cu_update u = {.kind = c->kind, .scale = 1.0f / (float)m, .eta = eta, .mu = c->mu,
                       .beta1 = c->beta1, .beta2 = c->beta2, .epsilon = c->epsilon,
                       .c1 = (float)(1.0 / (1.0 - pow(c->beta1, (double)cu->t))),
                       .c2 = (float)(1.0 / (1.0 - pow(c->beta2, (double)cu->t)))};
    float decay = (float)(c->lambda / (double)n);
    for (int l = 2; l <= s->num_layers; l++) {
        size_t b = s->b_off[l];
        u.decay = decay; /* L2 on the weights, not on the biases */
        CU(bp__cu_optim_update(cu->stream, &u, cu->params, cu->grad, cu->v, cu->m, s->w_off[l], b),
           "optimizer kernel (weights)");
        u.decay = 0.0f;
        CU(bp__cu_optim_update(cu->stream, &u, cu->params, cu->grad, cu->v, cu->m, b,
                               b + (size_t)s->sizes[l - 1]), "optimizer kernel (biases)");
    }
    return BP_OK;
}

/* ---------------------------------------------------------------- the public calls */

/* Checks of a batched call: cu, batch in 1..max_batch, a host matrix and its ld. */
static bp_status check_batch(const bp_cuda *cu, int batch, const char *name, const float *M,
                             int rows, int ld)
{
    if (!cu)
        return bp__fail(BP_ENULL, "cu is NULL");
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    if (batch > cu->max_batch)
        return bp__fail(BP_EBATCH, "batch %d exceeds max_batch %d", batch, cu->max_batch);
    return bp__check_matrix(name, M, rows, ld);
}

/* Host matrix M (rows x cols, ld) up into the compact device matrix dst. */
static bp_status upload(bp_cuda *cu, float *dst, const float *M, int rows, int cols, int ld)
{
    CU(cudaMemcpy2DAsync(dst, (size_t)rows * sizeof(float), M, (size_t)ld * sizeof(float),
                         (size_t)rows * sizeof(float), (size_t)cols, cudaMemcpyHostToDevice,
                         cu->stream), "cudaMemcpy2DAsync (batch up)");
    return BP_OK;
}

bp_status bp_cuda_forward_batch(bp_cuda *cu, int batch, const float *X, int ldx, float *out,
                                int ldo)
{
    bp__clear_error();
    bp_status st = check_batch(cu, batch, "X (ldx)", X, cu ? cu->shape.sizes[0] : 0, ldx);
    if (st)
        return st;
    int L = cu->shape.num_layers, nL = cu->shape.sizes[L - 1];
    if ((st = bp__check_matrix("out (ldo)", out, nL, ldo)) ||
        (st = upload(cu, cu->x, X, cu->shape.sizes[0], batch, ldx)) ||
        (st = bp__cuda_forward(cu, batch, cu->x)))
        return st;
    CU(cudaMemcpy2DAsync(out, (size_t)ldo * sizeof(float), cu->act[L], (size_t)nL * sizeof(float),
                         (size_t)nL * sizeof(float), (size_t)batch, cudaMemcpyDeviceToHost,
                         cu->stream), "cudaMemcpy2DAsync (output down)");
    CU(cudaStreamSynchronize(cu->stream), "cudaStreamSynchronize");
    return BP_OK;
}

bp_status bp_cuda_gradient_batch(bp_cuda *cu, int batch, const float *X, int ldx, const float *Y,
                                 int ldy, float *grad, double *cost)
{
    bp__clear_error();
    bp_status st = check_batch(cu, batch, "X (ldx)", X, cu ? cu->shape.sizes[0] : 0, ldx);
    if (st)
        return st;
    int n1 = cu->shape.sizes[0], nL = cu->shape.sizes[cu->shape.num_layers - 1];
    if ((st = bp__check_matrix("Y (ldy)", Y, nL, ldy)) ||
        (st = upload(cu, cu->x, X, n1, batch, ldx)) ||
        (st = upload(cu, cu->y, Y, nL, batch, ldy)) ||
        (st = bp__cuda_forward(cu, batch, cu->x)) ||
        (cost && (st = bp__cuda_cost(cu, cu->y, BP__CU_BATCH_COST, 0))) ||
        (st = bp__cuda_backward(cu, cu->x, cu->y)))
        return st;
    if (grad)
        CU(cudaMemcpyAsync(grad, cu->grad, cu->shape.num_params * sizeof(float),
                           cudaMemcpyDeviceToHost, cu->stream), "cudaMemcpyAsync (gradient down)");
    if (cost)
        return bp__cuda_download(cu, cost, cu->scalars + BP__CU_BATCH_COST, sizeof *cost);
    CU(cudaStreamSynchronize(cu->stream), "cudaStreamSynchronize");
    return BP_OK;
}

bp_status bp_cuda_step(bp_cuda *cu, int m, long n, float eta)
{
    bp__clear_error();
    if (!cu)
        return bp__fail(BP_ENULL, "cu is NULL");
    if (!cu->has_optim)
        return bp__fail(BP_ECONFIG, "cu was made without an optimizer");
    if (m < 1 || n < 1)
        return bp__fail(BP_EDIM, "%s is %ld, must be >= 1", m < 1 ? "m" : "n",
                        m < 1 ? (long)m : n);
    if (!isfinite(eta) || eta <= 0)
        return bp__fail(BP_EVALUE, "eta must be finite and > 0");
    double sq;
    bp_status st = bp__cuda_grad_sumsq(cu);
    if (!st)
        st = bp__cuda_download(cu, &sq, cu->scalars + BP__CU_SUMSQ, sizeof sq);
    if (st)
        return st;
    if (!isfinite(sq))
        return bp__fail(BP_ENUMERIC, "gradient is not finite (or its squared norm overflows)");
    return bp__cuda_update(cu, m, n, eta);
}
