/* What src/cublas.c (the equations on cuBLAS) shares with src/cuda_train.c (the training loop on
 * the device): the bp_cuda object and its device-side steps, which take device pointers, copy
 * nothing between host and device and do not wait for the device. */
#ifndef BP_CUDA_INTERNAL_H_INCLUDED
#define BP_CUDA_INTERNAL_H_INCLUDED

#include "backprop_cuda.h"
#include "internal.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

/* Slots of bp_cuda.scalars (device doubles). */
enum { BP__CU_BATCH_COST, BP__CU_SUMSQ, BP__CU_EVAL_COST, BP__CU_SCALARS };

struct bp_cuda {
    bp_net shape;   /* the network's description (sizes, activations, cost, offsets); no params */
    int max_batch;
    int batch;      /* columns of the last forward; 0 = none */
    cudaStream_t stream;
    cublasHandle_t handle; /* bound to stream, atomics not allowed */
    int has_optim;
    bp_optim_config optim; /* with the Adam defaults filled in */
    long t;                /* optimizer steps taken (Adam's bias correction) */
    /* Device memory, all inside fblock and dblock: */
    float *params, *grad;  /* num_params floats each, the host layout */
    float *v, *m;          /* the optimizer's moments (num_params each), NULL when none */
    float *x, *y;          /* a batch: n^1 x max_batch and n^L x max_batch, ld = rows */
    float *act[BP_MAX_LAYERS + 1]; /* act[l], l = 2..L: a^l, n^l x max_batch */
    float *delta[2];       /* ping-pong delta buffers, max width x max_batch */
    double *cost_cols;     /* max_batch: the cost of each column of a batch */
    double *scalars;       /* BP__CU_SCALARS doubles */
    float *fblock;
    double *dblock;
};

/* BP_ENOMEM for a failed allocation, BP_ECONFIG otherwise: "what: CUDA's message". */
bp_status bp__cuda_fail(cudaError_t err, const char *what);
/* Chain a CUDA call of a function returning bp_status. */
#define CU(call, what)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return bp__cuda_fail(e_, what);                                                        \
    } while (0)

/* Eq. 15 for batch columns of X (device, n^1 x batch, ld n^1) into cu->act. */
bp_status bp__cuda_forward(bp_cuda *cu, int batch, const float *X);
/* Eqs. A-D for the columns of the last forward: cu->grad overwritten with their sum. X and Y
 * (device, ld = rows) are that forward's inputs and its targets. */
bp_status bp__cuda_backward(bp_cuda *cu, const float *X, const float *Y);
/* cu->scalars[slot] (+)= the summed cost of the last forward against Y (device, ld n^L). */
bp_status bp__cuda_cost(bp_cuda *cu, const float *Y, int slot, int accumulate);
/* cu->scalars[BP__CU_SUMSQ] = ||cu->grad||^2, in double. */
bp_status bp__cuda_grad_sumsq(bp_cuda *cu);
/* The optimizer step on cu->grad, whose squared norm is known finite. */
bp_status bp__cuda_update(bp_cuda *cu, int m, long n, float eta);
/* Device -> host copy of n bytes on cu's stream, then wait for the stream. */
bp_status bp__cuda_download(bp_cuda *cu, void *dst, const void *src, size_t n);

#endif
