/*
 * backprop_cuda.h - the same equations on an NVIDIA GPU: cuBLAS where the CPU path calls CBLAS.
 *
 * Present in a build configured with -DBACKPROP_CUDA=ON (CMake's CUDAToolkit: the CUDA runtime and
 * cuBLAS); the library then also exports the functions below, and BP_HAVE_CUDA is defined for its
 * users. Without the option neither this header's functions nor any CUDA dependency exist.
 *
 * A bp_cuda holds, on one device, a copy of one network's parameters, a gradient block of the same
 * layout, the optimizer's moments and a workspace for batches of at most max_batch samples
 * (the inputs and targets of a batch, the activations of every layer, two delta buffers). Data
 * crosses between host and device only at the edges of a call: a batch goes up, the output (or the
 * gradient, when asked for) comes down; nothing per layer comes back. The conventions of
 * backprop.h hold: column-major, samples are columns, every matrix followed by its leading
 * dimension, gradients are sums over the batch, the parameter layout [w^2 | b^2 | ... ].
 *
 * Errors. No status is added for the GPU: a missing device, a CUDA driver that cannot start, or a
 * failed CUDA or cuBLAS call is BP_ECONFIG, with a detail naming the call and CUDA's own message
 * ("cudaGetDeviceCount: no CUDA-capable device is detected"); a failed cudaMalloc is BP_ENOMEM.
 * bp_cuda_device_count tells "no GPU here" apart without an error.
 *
 * Precision. Every product is cublasSgemm in float32 with the default math mode (no TF32, no
 * reduced precision), so results agree with the CPU path within float rounding, not bit for bit
 * (cuBLAS sums in another order and fuses multiply-adds). tests/test_cuda.c states the tolerances.
 *
 * Determinism. cuBLAS promises the same bits run to run on GPUs of the same architecture and SM
 * count with the same toolkit when a handle works on one stream with atomics not allowed (its
 * "Results reproducibility" section). A bp_cuda owns one handle on one stream of its own, sets
 * CUBLAS_ATOMICS_NOT_ALLOWED, and its own kernels sum in a fixed order (no floating-point
 * atomics), so a run with a fixed seed repeats bit for bit on the same GPU and toolkit. Across
 * GPUs or toolkit versions only the float tolerances hold.
 *
 * Threads: each thread uses its own bp_cuda (they may share a device).
 */
#ifndef BACKPROP_CUDA_H_INCLUDED
#define BACKPROP_CUDA_H_INCLUDED

#include "backprop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bp_cuda bp_cuda; /* opaque: a device copy of a network, its gradient and workspace */

/* *count = the CUDA devices this process can use; 0 when there is none, when no driver is
 * installed or when CUDA_VISIBLE_DEVICES hides them all, and then bp_last_error() says why
 * (CUDA's message). Never fails for lack of a GPU: a program's (or a test's) way to decide to
 * skip. Errors: BP_ENULL. */
BP_API bp_status bp_cuda_device_count(int *count);

/* A device copy of net for batches of at most max_batch samples, on the current CUDA device
 * (device 0 unless the caller chose one with cudaSetDevice or CUDA_VISIBLE_DEVICES). net's
 * parameters are copied up; later changes to them on the host are not seen until
 * bp_cuda_set_params. optim (may be NULL: no bp_cuda_step) configures bp_cuda_step's rule as
 * bp_optim_create does (every kind, L2, zero Adam fields the defaults); its moments start at 0 on
 * the device.
 * Errors: BP_ENULL, BP_EDIM (max_batch < 1, unknown optimizer kind), BP_EVALUE (an optimizer
 * field out of its domain), BP_ECONFIG (no CUDA device, a CUDA or cuBLAS call failed; clip_norm
 * > 0, which this backend does not do), BP_EOVERFLOW (the device buffers' size), BP_ENOMEM (host
 * or device memory). On failure *out is NULL and nothing is left allocated.
 * Ownership: *out is the caller's; release with bp_cuda_free. It does not refer to net after the
 * call (it keeps the shape only). */
BP_API bp_status bp_cuda_create(bp_cuda **out, const bp_net *net, int max_batch,
                                const bp_optim_config *optim);

/* Release the device memory, the cuBLAS handle and the stream. NULL is a no-op. */
BP_API void bp_cuda_free(bp_cuda *cu);

/* Copy net's parameters (num_params floats) up to the device, host -> device. net must have the
 * shape cu was made for. Errors: BP_ENULL, BP_EMISMATCH, BP_ECONFIG (the copy failed). */
BP_API bp_status bp_cuda_set_params(bp_cuda *cu, const bp_net *net);

/* Copy the device's parameters down into net's parameter block, device -> host (overwritten).
 * Errors: BP_ENULL, BP_EMISMATCH, BP_ECONFIG (the copy failed). */
BP_API bp_status bp_cuda_get_params(const bp_cuda *cu, bp_net *net);

/* Inference on the device (eq. 15 for every column): A^l = sigma(w^l A^{l-1} + b^l 1^T) with
 * cublasSgemm, then +b and sigma in one kernel; A^1 = X (n^1 x batch, leading dimension
 * ldx >= n^1, host memory). out (host, n^L x batch, leading dimension ldo >= n^L) = A^L,
 * overwritten; rows n^L..ldo-1 of out are not written. The activations stay on the device for
 * bp_cuda_gradient_batch's comparison of costs. One copy up, one copy down.
 * Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (batch > max_batch), BP_ELD, BP_ECONFIG. */
BP_API bp_status bp_cuda_forward_batch(bp_cuda *cu, int batch, const float *X, int ldx,
                                       float *out, int ldo);

/* The gradient of one mini-batch, as bp_gradient_batch: eq. 15, then from the output layer down
 * (A) Delta^L = grad_a C (.) sigma'(Z^L), fused to A^L - Y for softmax+NLL and
 *     sigmoid+cross-entropy (a kernel);
 * (B) Delta^l = (w^{l+1})^T Delta^{l+1} (.) sigma'(A^l)  (cublasSgemm T,N, then a sigma' kernel);
 * (C) grad w^l = Delta^l (A^{l-1})^T                    (cublasSgemm N,T, beta = 0);
 * (D) grad b^l = Delta^l 1                               (a row-sum kernel, fixed order).
 * The device's gradient block is OVERWRITTEN with the sum over the batch; grad (host, may be
 * NULL) receives a copy of it (num_params floats, overwritten), for a caller that wants it; with
 * NULL nothing comes down and bp_cuda_step uses it where it is. X: n^1 x batch (ldx), Y: n^L x
 * batch (ldy), host memory. cost (may be NULL) = the summed cost of the batch (bp_cost_value's
 * definition), summed in double on the device in a fixed order.
 * Errors: BP_ENULL, BP_EDIM, BP_EBATCH (batch > max_batch), BP_ELD, BP_ECONFIG. */
BP_API bp_status bp_cuda_gradient_batch(bp_cuda *cu, int batch, const float *X, int ldx,
                                        const float *Y, int ldy, float *grad, double *cost);

/* One optimizer step on the device's parameters with its gradient block (the SUM of m per-sample
 * gradients, left by bp_cuda_gradient_batch): bp_optim_step's rule and arguments (n = the size of
 * the training set, for L2; eta = this step's rate), one kernel per layer's weights and biases.
 * The squared norm of the gradient is summed on the device (fixed order, double) and its one
 * double comes down: a non-finite gradient leaves parameters and moments untouched.
 * Errors: BP_ENULL, BP_ECONFIG (cu made without optim; a CUDA call failed), BP_EDIM (m < 1 or
 * n < 1), BP_EVALUE (eta not finite or <= 0), BP_ENUMERIC (gradient not finite). */
BP_API bp_status bp_cuda_step(bp_cuda *cu, int m, long n, float eta);

/* bp_train on the device: the same arguments, the same shuffles (the project's generator seeded
 * with cfg->seed), the same batches and the same optimizer rule, with the training and evaluation
 * sets copied up once and each epoch's order (count ints) once per epoch; each batch's columns are
 * gathered on the device. net's parameters are copied up at the start and down at the end, also on
 * failure (then as the device holds them: after the last step taken). What differs from bp_train:
 *  - progress is called twice per epoch, after its last batch (epoch_done 0, batch = batches) and
 *    after its evaluation (epoch_done 1), not after every batch;
 *  - a step that overflows a parameter is not undone (bp_train restores the parameters before it):
 *    the next batch then fails with BP_ENUMERIC;
 *  - cfg->parallel, checkpoint_every, resume_path, patience and optim.clip_norm, and a network
 *    with a scaling (bp_net_set_scaling), are refused (BP_ECONFIG): train on the CPU for those.
 * Errors: those of bp_train, and BP_ECONFIG (above; no device; a CUDA or cuBLAS failure). */
BP_API bp_status bp_cuda_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                               const bp_train_config *cfg, double *best_accuracy);

#ifdef __cplusplus
}
#endif
#endif /* BACKPROP_CUDA_H_INCLUDED */
