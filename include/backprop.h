/*
 * backprop.h - fully-connected neural networks trained by backpropagation on CBLAS.
 *
 * The four equations of backpropagation (numbering of the derivation the project follows):
 *   (A) delta^L = grad_a C (.) sigma'(z^L)                  output error
 *   (B) delta^l = ((w^{l+1})^T delta^{l+1}) (.) sigma'(z^l)   backward recursion
 *   (C) dC/dw^l = delta^l (a^{l-1})^T                        weight gradient
 *   (D) dC/db^l = delta^l                                    bias gradient
 * after the forward pass z^l = w^l a^{l-1} + b^l, a^l = sigma(z^l) for l = 2..L (eq. 15; the
 * derivation's algorithm runs it first, then (A), then (B) down the layers, then (C) and (D)).
 *
 * Conventions of the whole API
 *  - Layers are numbered as in the derivation: 1 is the input layer, L the output layer; parameters
 *    exist for l = 2..L.
 *  - Column-major everywhere. A batch of B samples is a matrix whose COLUMNS are the samples: X is
 *    n^1 x B with leading dimension ldx >= n^1. A C array of B samples, each contiguous, is exactly
 *    that matrix with ldx = n^1. Every matrix argument is followed by its leading dimension.
 *  - Parameters live in one contiguous float block [w^2 | b^2 | w^3 | b^3 | ...]; w^l is
 *    n^l x n^{l-1} column-major with leading dimension n^l. Gradient blocks have the same layout.
 *  - Cost convention: every cost and every gradient is the SUM over the samples of a batch (never
 *    the mean). Gradient functions ACCUMULATE into the caller's gradient block (g += dC/dtheta);
 *    zero it with bp_grad_zero first. The SGD step divides by the batch size m (w <- w - eta/m sum).
 *  - Every function that can fail returns a bp_status (only the *_free, name and version functions
 *    do not); results come back through out-parameters. On failure
 *    nothing is leaked, no out-object is left half-built (out-pointers are set to NULL) and
 *    bp_last_error() says which argument or byte was wrong. The library never prints, never exits,
 *    never aborts and keeps no global mutable state except that thread-local message.
 *  - Sizes that reach BLAS are int; element and byte counts are size_t; every size product is
 *    checked for overflow before an allocation.
 *  - Threads: a bp_net is read-only during forward/backward; several threads may share one network
 *    as long as each has its own bp_workspace and gradient block.
 *  - ABI: the shared library is libbackprop.so.MAJOR (BP_VERSION_MAJOR) and exports only the
 *    functions declared here. Part of the ABI, changed only with MAJOR: every
 *    signature, every enum value (pinned by explicit numbers, new ones only appended) and the
 *    layout of the structs the caller fills or reads (bp_net_info, bp_layer_view,
 *    bp_gradcheck_options, bp_dataset, bp_optim_config, bp_schedule, bp_progress, bp_parallel,
 *    bp_train_config, bp_blas_info, bp_regression_metrics). bp_net, bp_workspace and bp_optim
 *    are opaque and may change freely. A minor release only adds functions and enum values.
 *    Zero-initialise the structs ({0}) and set the fields you need: zero is the documented
 *    default of every optional field.
 */
#ifndef BACKPROP_H_INCLUDED
#define BACKPROP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BP_STATIC_DEFINE)
#define BP_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define BP_API __attribute__((visibility("default")))
#else
#define BP_API
#endif

/* ---------------------------------------------------------------- version */
#define BP_VERSION_MAJOR 1 /* the ABI: incremented by a release that breaks it (the SONAME) */
#define BP_VERSION_MINOR 3 /* incremented by a release that adds functions or enum values */
#define BP_VERSION_PATCH 0 /* incremented by a release that only fixes */
/* The version of this header as one number, MAJOR * 10000 + MINOR * 100 + PATCH. */
#define BP_VERSION_NUMBER (BP_VERSION_MAJOR * 10000 + BP_VERSION_MINOR * 100 + BP_VERSION_PATCH)

/* Runtime version, BP_VERSION_NUMBER of the library actually linked. */
BP_API int bp_version_number(void);

/* ---------------------------------------------------------------- status */
/* What a call that can fail returns. The values are pinned (ABI, tests/test_abi.c): new codes are
 * only appended. */
typedef enum bp_status {
    BP_OK = 0,           /* success */
    BP_ENULL = 1,        /* a required pointer argument was NULL */
    BP_EDIM = 2,         /* a size, count or index was zero, negative or out of range */
    BP_EOVERFLOW = 3,    /* a size product does not fit size_t or int */
    BP_ELD = 4,          /* a leading dimension is smaller than the number of rows */
    BP_EBATCH = 5,       /* batch larger than the workspace, or backward after another batch */
    BP_EVALUE = 6,       /* a scalar argument is non-finite or outside its domain */
    BP_ECONFIG = 7,      /* invalid combination (softmax on a hidden layer, NLL without softmax) */
    BP_ENOMEM = 8,       /* allocation failed */
    BP_EIO = 9,          /* a file could not be opened, read, written or renamed */
    BP_EFORMAT = 10,     /* a file is malformed (bad magic, field, checksum, length, label) */
    BP_ENUMERIC = 11,    /* a loss or gradient became NaN or infinite */
    BP_ESTOPPED = 12,    /* the progress callback asked training to stop */
    BP_EMISMATCH = 13    /* two objects disagree (network vs workspace, dataset vs network) */
} bp_status;

/* Short constant name of a status ("invalid dimension", ...). Never NULL. */
BP_API const char *bp_strerror(bp_status status);

/* Detail of the failure of the last library call on the calling thread ("sizes[2] is 0",
 * "byte 12: layer count 0 not in 2..64"); every function that returns a bp_status clears it on
 * entry, so it is empty after a success. The pointer is valid until the next library call on this thread. */
BP_API const char *bp_last_error(void);

/* ---------------------------------------------------------------- network description */
/* The activation sigma of a layer (model files store these values). */
typedef enum bp_activation {
    BP_SIGMOID = 0,    /* 1/(1+e^-z), computed without overflow for any finite z */
    BP_TANH = 1,
    BP_RELU = 2,       /* max(0,z); sigma'(0) taken as 0 */
    BP_LEAKY_RELU = 3, /* z > 0 ? z : BP_LEAKY_SLOPE*z */
    BP_IDENTITY = 4,
    BP_SOFTMAX = 5,    /* output layer only; max subtracted before exp */
    BP_SOFTPLUS = 6,   /* ln(1 + e^z), computed without overflow; sigma' = sigmoid(z) */
    BP_SILU = 7,       /* z sigmoid(z) (swish); sigma' = s + z s (1 - s), s = sigmoid(z) */
    BP_GELU = 8        /* GELU, tanh form: z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2 */
} bp_activation;
/* Softplus, SiLU and GELU are smooth to every order (the activations for a loss that holds derivatives
 * with respect to the inputs, bp_gradient_forces); their sigma' is not a function of a, so a
 * workspace keeps z^l for those layers (n^l x max_batch floats each). */

#define BP_LEAKY_SLOPE 0.01f /* the slope of BP_LEAKY_RELU for z <= 0 */

/* The cost C(y, a^L) of one sample (model files store these values). */
typedef enum bp_cost {
    BP_QUADRATIC = 0,     /* C = 1/2 ||y - a^L||^2, any output activation */
    BP_CROSS_ENTROPY = 1, /* C = -sum_j [y_j ln a_j + (1-y_j) ln(1-a_j)], sigmoid output only */
    BP_NLL = 2            /* C = -sum_j y_j ln a_j, softmax output only; each target column must
                             sum to 1 (one-hot, or a distribution): the fused delta^L = a - y
                             equals a sum(y) - y only then */
} bp_cost;

/* How bp_net_init draws the parameters; N(0,v) is a normal of mean 0 and variance v. */
typedef enum bp_init {
    BP_INIT_LARGE = 0,  /* w ~ N(0,1),          b ~ N(0,1)  (Nielsen's first network) */
    BP_INIT_SCALED = 1, /* w ~ N(0,1/n^{l-1}),  b ~ N(0,1)  (Nielsen's network2 default) */
    BP_INIT_XAVIER = 2, /* w ~ N(0,2/(n^{l-1}+n^l)), b = 0 (Glorot) */
    BP_INIT_HE = 3      /* w ~ N(0,2/n^{l-1}),  b = 0 */
} bp_init;

/* Name of an activation/cost/init ("sigmoid", "quadratic", "he"), NULL for an unknown value. */
BP_API const char *bp_activation_name(bp_activation a);
BP_API const char *bp_cost_name(bp_cost c); /* "quadratic", "cross-entropy", "nll"; NULL if unknown */
BP_API const char *bp_init_name(bp_init i); /* "large", "scaled", "xavier", "he"; NULL if unknown */

/* Largest layer width and layer count accepted (model files are checked against them too). */
#define BP_MAX_LAYERS 64
#define BP_MAX_WIDTH 0x7fffffff /* INT_MAX: widths reach BLAS as int */

typedef struct bp_net bp_net; /* opaque: sizes, activations, cost, parameter block */

/* Create a network of num_layers >= 2 layers of sizes[0..num_layers-1] (sizes[0] = n^1 inputs),
 * activations[0..num_layers-2] for layers 2..L, and a cost. Parameters are zero; call bp_net_init.
 * Errors: BP_ENULL, BP_EDIM (num_layers < 2 or > BP_MAX_LAYERS, a size < 1 or > BP_MAX_WIDTH, an
 * unknown enum value), BP_EOVERFLOW (parameter count), BP_ECONFIG (softmax on a hidden layer,
 * NLL without softmax output, cross-entropy without sigmoid output), BP_ENOMEM.
 * Ownership: *out is the caller's; release with bp_net_free. */
BP_API bp_status bp_net_create(bp_net **out, int num_layers, const int *sizes,
                               const bp_activation *activations, bp_cost cost);

/* Release a network. NULL is a no-op. */
BP_API void bp_net_free(bp_net *net);

/* Fill the parameters by scheme from the project's generator seeded with seed: the same seed gives
 * the same bits on every thread count and on every machine whose libm log, cos and sqrt agree
 * (the generator itself is integer arithmetic). Errors: BP_ENULL, BP_EDIM (unknown scheme). */
BP_API bp_status bp_net_init(bp_net *net, bp_init scheme, uint64_t seed);

/* What a network is. Pointers stay valid (and unchanged) while the network lives. */
typedef struct bp_net_info {
    int num_layers;                  /* L */
    const int *sizes;                /* n^1..n^L, num_layers entries */
    const bp_activation *activations;/* layers 2..L, num_layers-1 entries */
    bp_cost cost;                    /* the cost of the output layer */
    size_t num_params;               /* P: floats in the parameter (and gradient) block */
} bp_net_info;
/* *info = what net is (overwritten). Errors: BP_ENULL. */
BP_API bp_status bp_net_describe(const bp_net *net, bp_net_info *info);

/* The parameter block [w^2 | b^2 | ... | w^L | b^L], num_params floats, owned by the network.
 * The caller may read and write it (an optimizer does); not during another thread's forward. */
BP_API bp_status bp_net_params(bp_net *net, float **params);
/* The same block, read-only, from a const network. Errors: BP_ENULL. */
BP_API bp_status bp_net_params_const(const bp_net *net, const float **params);

/* Where layer l (2..L) lives inside any block of the parameter layout (parameters or gradient):
 * w^l = block + w_offset (rows x cols, leading dimension ld = rows), b^l = block + b_offset (rows). */
typedef struct bp_layer_view {
    size_t w_offset; /* floats from the block's start to w^l */
    size_t b_offset; /* floats from the block's start to b^l */
    int rows; /* n^l */
    int cols; /* n^{l-1} */
    int ld;   /* = rows */
} bp_layer_view;
/* *view = where layer l lives (overwritten). Errors: BP_ENULL, BP_EDIM (l outside 2..L). */
BP_API bp_status bp_net_layer(const bp_net *net, int l, bp_layer_view *view);

/* g[0..num_params-1] = 0. Errors: BP_ENULL. */
BP_API bp_status bp_grad_zero(const bp_net *net, float *grad);

/* ---------------------------------------------------------------- workspace, forward, backward */
typedef struct bp_workspace bp_workspace; /* opaque: activations of every layer, two delta buffers */

/* Workspace for net and batches of at most max_batch samples. It is tied to the network's shape
 * and to which of its layers keep z (softplus, SiLU, GELU), not to its parameter values.
 * Errors: BP_ENULL, BP_EDIM (max_batch < 1), BP_EOVERFLOW (the byte count overflows size_t; on
 * 64-bit hosts an oversized request fails as BP_ENOMEM instead), BP_ENOMEM.
 * Ownership: *out is the caller's; release with bp_workspace_free (NULL is a no-op). */
BP_API bp_status bp_workspace_create(bp_workspace **out, const bp_net *net, int max_batch);
/* Release a workspace. NULL is a no-op. */
BP_API void bp_workspace_free(bp_workspace *ws);

/* Which kernels the batched passes (bp_forward_batch, bp_backward_batch) of a workspace run.
 * Every path computes the same equations on the same buffers; they differ in speed only, and in
 * the last bits of the results (summation order).
 *  - BP_PATH_AUTO (the default): per layer and batch, the fastest of the two below on the
 *    measured grid of bench/ - sgemm for products big enough to amortise a BLAS call, the
 *    project's own loops where the call's overhead, or waking BLAS threads, costs more than the
 *    product (tiny layers, batch 1 on small layers);
 *  - BP_PATH_GEMM: always cblas_sgemm, whatever the shape (and a vectorised loop for the row sums
 *    of the bias gradient);
 *  - BP_PATH_LOOPS: always the project's own single-threaded float loops, no BLAS.
 * Errors: BP_ENULL, BP_EDIM (path is not a bp_path). */
typedef enum bp_path { BP_PATH_AUTO = 0, BP_PATH_GEMM = 1, BP_PATH_LOOPS = 2 } bp_path;
/* Run ws's batched passes on the kernels of path (see bp_path). Errors: BP_ENULL, BP_EDIM. */
BP_API bp_status bp_workspace_set_path(bp_workspace *ws, bp_path path);

/* Forward pass, one sample (eq. 15): for l = 2..L, z^l = w^l a^{l-1} + b^l (cblas_sgemv),
 * then +b and sigma in one fused pass. x: n^1 floats. The activations stay in ws (column 0).
 * Allocates nothing. Errors: BP_ENULL, BP_EMISMATCH (ws made for another shape). */
BP_API bp_status bp_forward(const bp_net *net, bp_workspace *ws, const float *x);

/* Forward pass, batch (eq. 15 for every column): A^l = sigma(w^l A^{l-1} + b^l 1^T) with
 * cblas_sgemm, then +b and sigma in one fused pass; A^1 = X (n^1 x batch,
 * leading dimension ldx >= n^1, samples are columns). Allocates nothing.
 * Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (batch > max_batch), BP_ELD, BP_EMISMATCH. */
BP_API bp_status bp_forward_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                                  int ldx);

/* Activations a^l (l = 2..L; l = L is the network's output) of the last forward:
 * n^l x batch, leading dimension *ld. Owned by ws; valid until its next forward.
 * Errors: BP_ENULL, BP_EDIM (l out of 2..L), BP_EBATCH (no forward has run in ws). */
BP_API bp_status bp_workspace_activations(const bp_workspace *ws, int l, const float **a, int *ld);

/* The class of each sample of the last forward: classes[j] = the index of the largest output of
 * column j (the first one on ties), for j < the forward's batch; a network of one output is a
 * binary classifier: classes[j] = 1 if its output is > 0.5, else 0 (the output read as the
 * probability of class 1, e.g. a sigmoid). classes: batch ints, overwritten.
 * Errors: BP_ENULL, BP_EBATCH (no forward has run in ws). */
BP_API bp_status bp_workspace_classes(const bp_workspace *ws, int *classes);

/* Backward pass, one sample, after bp_forward(net, ws, x) with the same x:
 * (A) delta^L = grad_a C (.) sigma'(z^L), fused to a^L - y for softmax+NLL and sigmoid+cross-entropy;
 * (B) delta^l = (w^{l+1})^T delta^{l+1} (.) sigma'(z^l)  (cblas_sgemv Trans; sigma' from a^l);
 * (C) grad w^l += delta^l (a^{l-1})^T                   (cblas_sger);
 * (D) grad b^l += delta^l                               (cblas_saxpy).
 * y: n^L targets. grad: num_params floats, ACCUMULATED. Allocates nothing.
 * Errors: BP_ENULL, BP_EMISMATCH, BP_EBATCH (the last forward was not a single sample). */
BP_API bp_status bp_backward(const bp_net *net, bp_workspace *ws, const float *x, const float *y,
                             float *grad);

/* Backward pass, batch, after bp_forward_batch with the same batch and X. Y: n^L x batch targets,
 * leading dimension ldy >= n^L. Accumulates the SUM over the batch of the per-sample gradients:
 * (A) Delta^L = grad_a C (.) sigma'(Z^L), fused to A^L - Y as in bp_backward;
 * (B) Delta^l = (w^{l+1})^T Delta^{l+1} (.) sigma'(A^l)  (cblas_sgemm Trans,NoTrans);
 * (C) grad w^l += Delta^l (A^{l-1})^T                   (cblas_sgemm NoTrans,Trans: one GEMM sums
 *     the batch's outer products);
 * (D) grad b^l += Delta^l 1                              (the row sums of Delta^l in one vectorised
 *     loop: a threaded sgemv against a ones vector would cost more than the sums).
 * Allocates nothing. Errors: BP_ENULL, BP_EDIM, BP_EBATCH (batch differs from the last forward, or
 * no forward has run), BP_ELD, BP_EMISMATCH. */
BP_API bp_status bp_backward_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                                   int ldx, const float *Y, int ldy, float *grad);

/* The gradient of one mini-batch in one call: bp_forward_batch then bp_backward_batch, except that
 * grad is OVERWRITTEN with the sum over the batch (eqs. A-D) instead of accumulated, so the caller
 * needs no zeroing pass: each part of grad is zeroed just before its product adds into it (a
 * memset, faster than OpenBLAS's own pass for sgemm's beta = 0; the same bits), and grad's old
 * contents (NaN included) are never read. cost (may be NULL) receives the
 * summed cost of the batch, as bp_cost_value. Shapes as bp_forward_batch and bp_backward_batch.
 * The training loop's step; the activations stay in ws. Allocates nothing.
 * Errors: BP_ENULL, BP_EDIM, BP_EBATCH (batch > max_batch), BP_ELD, BP_EMISMATCH. */
BP_API bp_status bp_gradient_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                                   int ldx, const float *Y, int ldy, float *grad, double *cost);

/* ---- dropout (inverted): during training, unit i of layer l (the inputs l = 1, or a hidden layer)
 * is dropped with probability p_l, and kept units are scaled by 1/(1-p_l): the next layer sees
 * a~^l = m^l (.) a^l with m^l_i = 0 or 1/(1-p_l), so E[a~^l] = a^l and evaluation, which drops
 * nothing, needs no rescaling. The backward pass applies the same mask to the delta:
 * (B') delta^l = ((w^{l+1})^T delta^{l+1}) (.) m^l (.) sigma'(z^l), and (C) uses a~^{l-1}. */

/* Dropout rates of ws's dropout passes: rates[l-1] for layer l = 1 (the inputs) .. L-1 (the last
 * hidden layer), num_layers - 1 floats in [0, 1); NULL or all zero: none. The output layer is never
 * dropped. Allocates the masks (2 n^l x max_batch floats per layer of rate > 0) once, here,
 * replacing those of an earlier call; the passes allocate nothing. Only bp_gradient_dropout
 * applies them; the other passes of ws are unchanged. Errors: BP_ENULL, BP_EVALUE (a rate outside
 * [0, 1) or NaN), BP_ENOMEM (ws unchanged). */
BP_API bp_status bp_workspace_set_dropout(bp_workspace *ws, const float *rates);

/* bp_gradient_batch with the dropout of ws (bp_workspace_set_dropout): the masks of columns
 * first .. first+batch-1 of step are drawn, then forward with a~^l = m^l (.) a^l, cost (may be NULL:
 * summed over the batch, of the dropped network), backward (B') and (C); grad OVERWRITTEN.
 * The masks of a column are a function of (key, step, first + j) alone, from the project's
 * generator seeded by the three (integer arithmetic): the same bits on every machine, and a batch
 * split into column ranges (threads, ranks), each pass given its own first, draws exactly the masks
 * of one pass over the whole batch. bp_train uses key = a hash of its seed, step = the batch's
 * number since the start of training (epoch * batches + k) and first = the column's position in
 * the mini-batch. Activations (bp_workspace_activations) are a^l before the mask. Allocates
 * nothing. Errors: as bp_gradient_batch; BP_EDIM (first < 0 or first + batch > INT_MAX). */
BP_API bp_status bp_gradient_dropout(const bp_net *net, bp_workspace *ws, uint64_t key,
                                     uint64_t step, int first, int batch, const float *X, int ldx,
                                     const float *Y, int ldy, float *grad, double *cost);

/* The mask m^l of layer l (1..L-1) of ws's last bp_gradient_dropout: n^l x batch, contiguous
 * (leading dimension n^l), entries 0 or 1/(1-p_l); NULL if layer l has no dropout. Owned by ws,
 * valid until its next dropout pass or bp_workspace_set_dropout. Errors: BP_ENULL, BP_EDIM (l
 * outside 1..L-1), BP_EBATCH (no dropout pass has run in ws since its rates were set). */
BP_API bp_status bp_workspace_mask(const bp_workspace *ws, int l, const float **mask);

/* Cost of the last forward (one sample or batch) against targets Y (n^L x batch, ldy >= n^L):
 * the SUM over the batch of the network's cost C(y, a^L) (the C of eq. A), accumulated in double.
 * Logarithms take max(a, FLT_MIN), so a saturated output costs a large finite value, not infinity.
 * For one sample pass ldy = n^L.
 * Errors: BP_ENULL, BP_ELD, BP_EMISMATCH, BP_EBATCH (no forward has run in ws). */
BP_API bp_status bp_cost_value(const bp_net *net, const bp_workspace *ws, const float *Y, int ldy,
                               double *cost);

/* Plain SGD step (the gradient descent that ends the derivation's algorithm) over the whole block,
 * one vectorised pass: theta <- theta - eta/m * grad. (Not cblas_saxpy: OpenBLAS hands an axpy
 * this long to its threads, whose wake-up costs more than the pass.)
 * m >= 1 is the number of samples summed in grad. Allocates nothing.
 * Errors: BP_ENULL, BP_EDIM (m < 1), BP_EVALUE (eta not finite). */
BP_API bp_status bp_sgd_step(bp_net *net, const float *grad, float eta, int m);

/* ---------------------------------------------------------------- derivatives with respect to x
 * After a forward pass of B samples (bp_forward_batch, or bp_forward for B = 1), the derivatives
 * of the outputs a^L with respect to the inputs x = a^1 at those samples, on the same products as
 * the passes above (one product per layer on the workspace's path: sgemm; the own loops or sgemv
 * where BP_PATH_AUTO picks them for one sample; see bp_path). With J^l = da^l/dz^l (sigma'(z^l)
 * on the diagonal; for softmax diag(a) - a a^T):
 *   VJP (reverse): delta^L = J^L V; delta^{l-1} = J^{l-1} (w^l)^T delta^l for l = L..3 (eq. B with
 *        the seeds V for grad_a C); G = (w^2)^T delta^2 (the input layer has no sigma'):
 *        G = (da^L/dx)^T V, per sample. With V = grad_a C it is the gradient of the cost with
 *        respect to the inputs; for a scalar energy E = a^L and V = 1 it is grad_x E = -F.
 *   JVP (forward): z-dot^2 = w^2 U; a-dot^l = J^l z-dot^l; z-dot^{l+1} = w^{l+1} a-dot^l:
 *        A-dot = (da^L/dx) U, per sample.
 * A workspace of the default kind serves both: they use its delta buffers and leave the
 * activations in place, so several VJPs and JVPs may follow one forward.
 * On a network that carries a scaling (bp_net_set_scaling: x' = (x - m) (/) s enters layer 1, the
 * raw output is y = s_y (.) a^L + m_y), the scaling is part of the chain: every derivative below
 * (and its naive reference and check) is of the raw outputs with respect to the raw inputs,
 *   dy/dx = diag(s_y) (da^L/dx') diag(1 (/) s),
 * with the seeds V in the units of y, the tangents U in those of x, and G, A-dot, J in raw units:
 *   G = diag(1 (/) s) (da^L/dx')^T diag(s_y) V,   A-dot = diag(s_y) (da^L/dx') diag(1 (/) s) U.
 * The point is that of the last forward: bp_predict of the raw X, or bp_forward_batch of its x'.
 * A side without scaling contributes factors 1 (a network without scaling: dy/dx = da^L/dx, the
 * same bits as before scalings existed). The factors are one elementwise pass over V or U and
 * one over the result, in the workspace's own buffers: nothing is allocated. */

/* G (n^1 x batch, leading dimension ldg >= n^1, OVERWRITTEN) = (da^L/dx)^T V column by column,
 * V (n^L x batch, ldv >= n^L) the seeds, after a forward of the same batch in ws; with a scaling,
 * in raw units (above). Allocates nothing. Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (batch differs from the last forward,
 * or no forward has run), BP_ELD, BP_EMISMATCH (ws made for another network shape). */
BP_API bp_status bp_vjp_batch(const bp_net *net, bp_workspace *ws, int batch, const float *V,
                              int ldv, float *G, int ldg);

/* Adot (n^L x batch, ldd >= n^L, OVERWRITTEN) = (da^L/dx) U column by column, U (n^1 x batch,
 * ldu >= n^1) the input tangents, after a forward of the same batch in ws; with a scaling, in
 * raw units (above). Allocates nothing. Errors: as bp_vjp_batch. */
BP_API bp_status bp_jvp_batch(const bp_net *net, bp_workspace *ws, int batch, const float *U,
                              int ldu, float *Adot, int ldd);

/* The Jacobians da^L/dx of batch samples X (n^1 x batch, ldx >= n^1) into J, OVERWRITTEN: batch
 * row-major n^L x n^1 matrices one after another, J[(s n^L + i) n^1 + k] = d a_i^L / d x_k of
 * sample s (batch n^L n^1 floats; sample s's rows are the gradients grad_x a_i^L). Computed by
 * whichever mode needs fewer seeds: n^L VJPs (seeds e_i) if n^L <= n^1, else n^1 JVPs (seeds e_k),
 * each as one pass with the seeds of max_batch / min(n^L, n^1) samples as columns (the forward
 * pass of those samples, then one product per layer over all their seeds). It runs its own
 * forward passes: afterwards ws holds the activations of the last such group of samples. With a
 * scaling, X is raw (standardised into the workspace first) and J = dy/dx in raw units (above):
 * J[(s n^L + i) n^1 + k] = s_y[i] (da_i^L/dx'_k) / s[k]. J must not overlap X: a group's
 * Jacobians are written before the next group's samples are read.
 * Allocates nothing. Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (max_batch of ws below
 * min(n^L, n^1)), BP_ELD, BP_EMISMATCH. */
BP_API bp_status bp_jacobian_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                                   int ldx, float *J);

/* A workspace for net and batches of at most max_batch samples that also holds the tangent state
 * of bp_gradient_forces: a-dot^l beside a^l (so [a^l a-dot^l] is one n^l x 2B matrix), z-dot^l, the
 * inputs beside their tangents [X R] (n^1 x 2B), and delta buffers of 2B columns: per column of
 * max_batch, 3 sum_{l>=2} n^l + 2 n^1 + 4 max_l n^l floats instead of sum_{l>=2} n^l +
 * 2 max_l n^l (plus n^l for each layer that keeps z, in both). Everything else as
 * bp_workspace_create (release with bp_workspace_free); it serves every function that takes a
 * workspace. Errors: as bp_workspace_create. */
BP_API bp_status bp_workspace_create_tangent(bp_workspace **out, const bp_net *net,
                                             int max_batch);

/* Gradient of the energy + force loss over a batch, for a network with one output, the energy
 * E(x) = a^L (n^L = 1, the quadratic cost, an elementwise output activation):
 *   L = sum_j [ w_E 1/2 (E(x_j) - E*_j)^2 + w_F 1/2 ||grad_x E(x_j) + F*_j||^2 ]
 * with the reference energies E* and forces F* = -grad_x E* (a force is minus the gradient). With
 * g = grad_x E (the VJP with V = 1) and r = g + F* held fixed, the force term's parameter gradient
 * is (dg/dtheta)^T r = d(r^T g)/dtheta, and r^T g is the JVP of E along r: so it is the reverse
 * pass of the tangent network started at a-dot^1 = r. One call runs
 *   1. the forward pass (eq. 15);  2. g by the VJP, r = g + F*;
 *   3. the tangent forward z-dot^l = w^l a-dot^{l-1}, a-dot^l = sigma'(z^l) (.) z-dot^l, a-dot^1 = r;
 *   4. from abar^L = w_E (a^L - E*) and adbar^L = w_F, for l = L..2 (equations A-D on the doubled
 *      state, with sigma'' in one extra term):
 *        zbar^l  = abar^l (.) sigma'(z^l) + adbar^l (.) sigma''(z^l) (.) z-dot^l
 *        zdbar^l = adbar^l (.) sigma'(z^l)
 *        dL/dw^l = [zbar^l zdbar^l] [a^{l-1} a-dot^{l-1}]^T   (one sgemm of inner dimension 2B)
 *        dL/db^l = zbar^l 1                                    (the tangent has no bias)
 *        [abar^{l-1} adbar^{l-1}] = (w^l)^T [zbar^l zdbar^l]   (one sgemm of 2B columns)
 * ReLU and leaky ReLU have sigma'' = 0 (a kink): prefer softplus, SiLU, GELU, tanh or sigmoid.
 * X: n^1 x batch (ldx >= n^1); E: the batch's reference energies, E*_j = E[j lde] (lde >= 1); F:
 * n^1 x batch reference forces (ldf >= n^1). So a dataset whose targets are [E*; F*] (n^1 + 1 rows)
 * passes E = y, F = y + 1, lde = ldf = n^1 + 1. grad: num_params floats, OVERWRITTEN with the sum
 * over the batch. loss (may be NULL): L, summed in double. w_force = 0 runs equations A-D
 * (bp_gradient_batch with Y = E) and scales the gradient by w_energy, so with w_energy = 1 its
 * bits are bp_gradient_batch's; w_force > 0 needs a workspace from bp_workspace_create_tangent.
 * The activations of the batch stay in ws. Allocates nothing.
 * On a network that carries a scaling (x' = (x - m) (/) s in, E = s_y a^L + m_y out; either side
 * may be absent, factor 1), X, E* and F* are raw and the loss is the raw loss over s_y^2:
 *   L = sum_j [ w_E 1/2 ((E_j - E*_j) / s_y)^2 + w_F 1/2 ||(grad_x E_j + F*_j) / s_y||^2 ]
 *     = sum_j [ w_E 1/2 (a^L - E*'_j)^2 + w_F 1/2 ||diag(1 (/) s) g'_j + F*_j / s_y||^2 ],
 * with E*' = (E* - m_y) / s_y and g' = grad_x' a^L. Why these units: the raw loss fixes what
 * the weights mean (w_F / w_E converts a squared force error into a squared energy error, in the
 * inputs' units squared, whatever the scaling), and every force component counts as in raw
 * units (the scaled loss ||g' + diag(s) F* / s_y||^2 would weigh component k by s_k^2); dividing
 * by s_y^2 changes no minimiser but makes the energy term the standardised cost bp_train
 * minimises for regression, so w_F = 0 is that training, bit for bit, and a step size
 * does not depend on the energy's units. The passes are those above on x' with r = diag(1 (/) s)
 * g' + F* / s_y in step 2 and the tangent started at a-dot^1 = diag(1 (/) s) r, since
 * d(1/2 ||r||^2)/dtheta = (dg'/dtheta)^T diag(1 (/) s) r; abar^L = w_E (a^L - E*'). w_force = 0
 * runs bp_gradient_batch on x' and E*' (standardised into the workspace's scratch).
 * Errors: BP_ENULL, BP_EDIM, BP_EBATCH (batch > max_batch), BP_ELD, BP_EMISMATCH (ws made for
 * another network, or not a tangent workspace while w_force > 0), BP_ECONFIG (n^L != 1, softmax
 * output, a cost other than quadratic; checked before the shapes of E and F, whose rows follow
 * from n^L), BP_EVALUE (a weight negative or not finite). */
BP_API bp_status bp_gradient_forces(const bp_net *net, bp_workspace *ws, int batch,
                                    const float *X, int ldx, const float *E, int lde,
                                    const float *F, int ldf, float w_energy, float w_force,
                                    float *grad, double *loss);

/* ---------------------------------------------------------------- naive reference */
/* The same equations as plain index loops written from the derivation's index formulas: eq. 15
 * (forward), eq. 5 (output error), eq. 9 (recursion), eq. 13 (weight gradient), eq. 17 (bias
 * gradient), with eq. 2 (the full chain rule) for a softmax output. Accumulates in double, calls no
 * BLAS, shares no arithmetic with the BLAS path; sigma' is computed from z, not from a, and the
 * output error is the chain rule evaluated from z (never the BLAS path's fused a - y), so it checks
 * that fusion. It is the oracle of the tests and
 * the baseline of the benchmark.
 * It allocates its double scratch on every call (it is a reference, not a hot path). */

/* out (n^L x batch, leading dimension ldo >= n^L) = a^L for each column of X (n^1 x batch, ldx).
 * Errors: BP_ENULL, BP_EDIM, BP_ELD, BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_naive_forward(const bp_net *net, int batch, const float *X, int ldx,
                                  float *out, int ldo);

/* grad += sum over the batch of dC/dtheta; *cost (may be NULL) = summed cost.
 * Errors: as bp_naive_forward. */
BP_API bp_status bp_naive_backward(const bp_net *net, int batch, const float *X, int ldx,
                                   const float *Y, int ldy, float *grad, double *cost);

/* The derivatives with respect to x by the same loops in double (VJP, JVP: the chain rule of
 * each layer written as index sums, sigma' from z; a softmax output's Jacobian in full), one sample
 * at a time. Shapes as bp_vjp_batch and bp_jvp_batch; they run their own forward pass. With a
 * scaling, X, the seeds and the results are raw, as there (the factors applied in double).
 * Errors: BP_ENULL, BP_EDIM, BP_ELD, BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_naive_vjp(const bp_net *net, int batch, const float *X, int ldx,
                              const float *V, int ldv, float *G, int ldg);
/* Adot = (da^L/dx) U by the naive loops in double, as bp_naive_vjp. */
BP_API bp_status bp_naive_jvp(const bp_net *net, int batch, const float *X, int ldx,
                              const float *U, int ldu, float *Adot, int ldd);
/* The gradient of bp_gradient_forces' loss by the same loops in double (with a scaling: raw data,
 * the raw loss over s_y^2, as there); grad ACCUMULATES (+=), *loss (may be NULL) = the summed loss. Shapes and errors as bp_gradient_forces (no workspace),
 * plus BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_naive_gradient_forces(const bp_net *net, int batch, const float *X, int ldx,
                                          const float *E, int lde, const float *F, int ldf,
                                          float w_energy, float w_force, float *grad,
                                          double *loss);

/* ---------------------------------------------------------------- gradient check */
/* Options of bp_gradcheck; zero fields select the defaults. */
typedef struct bp_gradcheck_options {
    double step;          /* central-difference step h, in double; 0 selects 1e-6 */
    int per_layer;        /* parameters checked per layer, drawn at random; 0, or at least the
                             layer's count, = all of them */
    uint64_t seed;        /* which parameters are drawn */
    double floor;         /* denominator floor of the relative error; 0 selects 1e-4 */
} bp_gradcheck_options;

/* Compare the library's analytic gradient (BLAS path: bp_forward_batch + bp_backward_batch) with
 * central finite differences (C(theta+h) - C(theta-h)) / 2h, where C is the summed batch cost
 * evaluated in double with the parameters held in double (so h can be small).
 * max_rel_err[i] (i = 0..L-2, for layer l = i+2) = max over the checked weights and biases of
 * |g - fd| / max(|g|, |fd|, floor). opts may be NULL (defaults). The network is not modified.
 * Allocates its own scratch. Errors: BP_ENULL, BP_EDIM, BP_ELD, BP_EVALUE, BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_gradcheck(const bp_net *net, int batch, const float *X, int ldx, const float *Y,
                              int ldy, const bp_gradcheck_options *opts, double *max_rel_err);

/* The derivatives with respect to the inputs against central differences of the outputs, each
 * evaluated by the naive reference in double at x +- h (inputs and parameters in double), opts as
 * in bp_gradcheck (step h, floor; 0 < per_layer < n^1: that many inputs drawn per sample instead
 * of all, for the VJP). *max_rel_err = the max over the batch of |d - fd| / max(|d|, |fd|, floor):
 *  - bp_vjpcheck: d = G_kj of bp_vjp_batch, fd = (V_j^T a^L(x_j + h e_k) - V_j^T a^L(x_j - h e_k)) / 2h;
 *  - bp_jvpcheck: d = A-dot_ij of bp_jvp_batch, fd = (a_i^L(x_j + h u_j) - a_i^L(x_j - h u_j)) / 2h.
 * V: n^L x batch (ldv), U: n^1 x batch (ldu). With a scaling, X, V, U, the derivatives and the
 * outputs a^L above are raw (y = s_y a^L(x') + m_y; bp_vjp_batch after bp_predict). The network
 * is not modified; allocates its own
 * scratch. Errors: BP_ENULL, BP_EDIM, BP_ELD, BP_EVALUE, BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_vjpcheck(const bp_net *net, int batch, const float *X, int ldx,
                             const float *V, int ldv, const bp_gradcheck_options *opts,
                             double *max_rel_err);
/* The JVP of bp_jvp_batch against central differences of a^L along U, as bp_vjpcheck. */
BP_API bp_status bp_jvpcheck(const bp_net *net, int batch, const float *X, int ldx,
                             const float *U, int ldu, const bp_gradcheck_options *opts,
                             double *max_rel_err);

/* bp_gradcheck for the energy + force loss: the gradient of bp_gradient_forces against central
 * differences of L (bp_naive_gradient_forces' loss in double, parameters in double; with a
 * scaling, the loss of raw data in bp_gradient_forces' units).
 * max_rel_err[l-2] per layer as in bp_gradcheck. Arguments as bp_gradient_forces; errors as
 * bp_gradient_forces and bp_gradcheck. */
BP_API bp_status bp_forcecheck(const bp_net *net, int batch, const float *X, int ldx,
                               const float *E, int lde, const float *F, int ldf, float w_energy,
                               float w_force, const bp_gradcheck_options *opts,
                               double *max_rel_err);

/* ---------------------------------------------------------------- datasets */
/* A dataset in memory: count samples as columns. Plain struct so that embedders can fill one
 * from their own arrays (then they own the memory and must not call bp_dataset_free). */
typedef struct bp_dataset {
    int count;       /* samples */
    int n_features;  /* rows of x */
    int n_targets;   /* rows of y: classes (one-hot) or regression targets */
    float *x;        /* n_features x count, leading dimension n_features */
    float *y;        /* n_targets x count, leading dimension n_targets */
    int *labels;     /* class index of each sample (count ints), NULL for regression data */
} bp_dataset;

/* Release what a loader allocated and zero the struct. NULL is a no-op. */
BP_API void bp_dataset_free(bp_dataset *ds);

/* Read an IDX image file and its IDX label file (the MNIST / Fashion-MNIST format), each plain or
 * gzip-compressed (detected from the content). Images: type 0x08 (unsigned byte), rank 1..4, the
 * first dimension is the sample count, the others multiply to n_features; pixels scaled to [0,1].
 * Labels: type 0x08, rank 1, the same count, each < num_classes; y is one-hot, labels the indices.
 * Every header field is validated and the sizes are checked against the data really present before
 * anything is allocated. On failure *out is zeroed.
 * Errors: BP_ENULL, BP_EDIM (num_classes < 1 or > 256), BP_EIO (cannot open/read),
 * BP_EFORMAT (magic, type byte, rank, dimension overflow, truncated data or gzip stream, trailing
 * data, count mismatch, label out of range; the detail names which), BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_dataset_load_idx(bp_dataset *out, const char *images_path,
                                     const char *labels_path, int num_classes);

/* What the last columns of a CSV file hold (bp_dataset_load_csv). */
typedef enum bp_csv_kind {
    BP_CSV_CLASSES = 0, /* features..., label: the last column is an integer in [0, n) */
    BP_CSV_TARGETS = 1, /* features..., t_1..t_n: the last n columns are regression targets */
    BP_CSV_FEATURES = 2 /* features...: every column a feature (n is 0; n_targets 0, y and labels
                         * NULL): samples to predict from, as bp_dataset_load_idx_images reads */
} bp_csv_kind;

/* Read a CSV file of numbers, one sample per line, comma separated; blank lines and lines starting
 * with '#' are skipped. Every line must have the same number of columns (> n for targets).
 * kind/n as bp_csv_kind says. Errors name the line and column: BP_ENULL, BP_EDIM (n < 1; for
 * BP_CSV_FEATURES n other than 0), BP_EIO, BP_EFORMAT (not a number, non-finite value, ragged
 * line, label not an integer in range, empty file), BP_EOVERFLOW, BP_ENOMEM. On failure *out is
 * zeroed. */
BP_API bp_status bp_dataset_load_csv(bp_dataset *out, const char *path, bp_csv_kind kind, int n);

/* Move the last tail_count samples of ds into *tail (a new dataset owned by the caller) and shrink
 * ds->count. For a validation split. ds must own its memory (come from a loader).
 * Errors: BP_ENULL, BP_EDIM (tail_count < 1 or >= ds->count), BP_ENOMEM (ds unchanged). */
BP_API bp_status bp_dataset_split(bp_dataset *ds, int tail_count, bp_dataset *tail);

/* ---------------------------------------------------------------- model files */
/* Write net (sizes, activations, cost, parameters, scaling) to path in the project's binary format
 * (docs/model-format.md): little-endian, CRC-32 checked; format version 1 when the network has no
 * scaling (so such files stay byte for byte what earlier releases wrote), version 2 otherwise.
 * Written as every file of the library (see "safe file writing" below: a temporary file beside
 * path, fsync, rename): an interrupted or failed save never destroys a previous model, a failed
 * one removes its temporary file (a killed process may leave it behind), and only a regular file
 * (or a link to one) is ever replaced.
 * Errors: BP_ENULL, BP_ENOMEM (the temporary name or its stream), BP_EIO (detail: path and the
 * system error, or why path cannot be replaced: a directory, a device, a FIFO). */
BP_API bp_status bp_model_save(const bp_net *net, const char *path);

/* Read a model file written by bp_model_save (format version 2, or 1: no scaling). Every field is
 * validated against the limits (BP_MAX_LAYERS, BP_MAX_WIDTH, known enum values, valid combination,
 * a finite scaling with scales >= FLT_MIN) and the file's real length before anything is
 * allocated; trailing bytes and a CRC mismatch are refused. path must be a regular file (its
 * length is part of the check; a FIFO is refused without blocking).
 * Errors: BP_ENULL, BP_EIO (cannot open or read, not a regular file), BP_EFORMAT (detail: path,
 * byte offset and field), BP_ENOMEM. On failure *out is NULL.
 * Ownership: *out is the caller's (bp_net_free). */
BP_API bp_status bp_model_load(bp_net **out, const char *path);

/* ---------------------------------------------------------------- optimizers */
/* The update rule of bp_optim_step, with g the mean gradient (clipped, plus L2), written
 * theta <- theta + step; with decoupled weight decay (bp_optim_config.weight_decay = wd > 0) a
 * weight takes theta <- (1 - eta wd) theta + step instead, step computed as here from the same
 * old theta (AdamW of Loshchilov & Hutter with PyTorch's convention: the decay is scaled by this
 * step's rate eta, so a schedule decays it too). */
typedef enum bp_optimizer_kind {
    BP_OPT_SGD = 0,      /* theta <- theta - eta g */
    BP_OPT_MOMENTUM = 1, /* v <- mu v - eta g; theta <- theta + v */
    BP_OPT_NESTEROV = 2, /* v <- mu v - eta g; theta <- theta + mu v - eta g */
    BP_OPT_ADAM = 3      /* m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2 (elementwise), t-th step
                            theta <- theta - eta m^ / (sqrt(v^) + epsilon), m^ = m/(1-b1^t),
                            v^ = v/(1-b2^t) (Kingma & Ba); with weight_decay: AdamW */
} bp_optimizer_kind;

/* The learning rate of each epoch (bp_schedule_eta), from the base rate eta. */
typedef enum bp_schedule_kind {
    BP_LR_CONSTANT = 0, /* eta */
    BP_LR_STEP = 1,     /* eta * gamma^floor(epoch / step_epochs) */
    BP_LR_COSINE = 2    /* eta_min + (eta - eta_min)(1 + cos(pi epoch / epochs)) / 2 */
} bp_schedule_kind;

/* An optimizer: its rule, base learning rate and hyper-parameters; zero fields not used by the
 * rule are ignored, zero Adam fields select the defaults. */
typedef struct bp_optim_config {
    bp_optimizer_kind kind; /* the update rule */
    float eta;          /* learning rate, > 0 */
    float lambda;       /* L2 weight decay on weights (not biases), >= 0: the step uses
                           g = sum/m + (lambda/n) w, so SGD gives w <- (1 - eta lambda/n) w - eta/m sum */
    float mu;           /* momentum coefficient in [0,1) for MOMENTUM and NESTEROV */
    float beta1;        /* Adam, first-moment decay in [0,1); 0 selects 0.9 */
    float beta2;        /* Adam, second-moment decay in [0,1); 0 selects 0.999 */
    float epsilon;      /* Adam, > 0; 0 selects 1e-8 */
    float clip_norm;    /* if > 0, g is scaled so that ||g||_2 <= clip_norm (before L2); 0 = off */
    /* Decoupled weight decay on weights (not biases), >= 0, every kind: theta <- (1 - eta
     * weight_decay) theta + step, outside the rule's step (bp_optimizer_kind), so that Adam's
     * normalisation does not rescale it as it rescales lambda's term (AdamW). Not divided by n.
     * 0 = off (then the step's bits are those of the rule alone). Beside lambda, not instead: both
     * may be set. eta weight_decay <= 1 (as a float), so that 1 - eta weight_decay >= 0. */
    float weight_decay;
} bp_optim_config;

typedef struct bp_optim bp_optim; /* opaque: configuration and state (velocity, moments) */

/* State for optimizing net with cfg; allocates P or 2P floats once. Errors: BP_ENULL, BP_EDIM
 * (unknown kind), BP_EVALUE (eta, lambda, mu, beta, epsilon, clip_norm or weight_decay out of
 * domain, or eta weight_decay > 1 as a float: the decay would flip the weights' signs), BP_ENOMEM. */
BP_API bp_status bp_optim_create(bp_optim **out, const bp_net *net, const bp_optim_config *cfg);
/* Release an optimizer. NULL is a no-op. */
BP_API void bp_optim_free(bp_optim *opt);

/* One step on net's parameters with grad = the SUM of m per-sample gradients (as accumulated by
 * bp_backward_batch), n = size of the training set (for L2), eta = this step's learning rate
 * (from bp_schedule_eta; the configured eta is the base). With g = grad/m, clipped to clip_norm,
 * plus (lambda/n) w for weights, SGD is w <- w - eta g (w <- (1 - eta weight_decay) w - eta g with
 * decoupled decay). Allocates nothing. Errors: BP_ENULL,
 * BP_EDIM (m < 1 or n < 1), BP_EVALUE (eta not finite or <= 0, or eta weight_decay > 1 as a
 * float; parameters and state untouched), BP_EMISMATCH (net of another
 * parameter count), BP_ENUMERIC (grad not finite; parameters and state untouched). A finite
 * gradient times a huge eta can still overflow a parameter: bp_train checks for that. */
BP_API bp_status bp_optim_step(bp_optim *opt, bp_net *net, const float *grad, int m, long n,
                               float eta);

/* A learning-rate schedule; zero is the constant rate. */
typedef struct bp_schedule {
    bp_schedule_kind kind; /* the formula */
    int step_epochs; /* STEP: epochs between decays, >= 1 */
    float gamma;     /* STEP: factor per decay, in (0,1] */
    float eta_min;   /* COSINE: final rate, >= 0 */
} bp_schedule;

/* *eta = the learning rate of epoch (0-based) of epochs, from base rate eta0. Every schedule is
 * non-increasing in epoch, so the last epoch's rate is the run's smallest.
 * Errors: BP_ENULL, BP_EDIM, BP_EVALUE (a parameter out of its domain, or a rate that is not > 0
 * as a float: eta0 * gamma^k below the smallest float). */
BP_API bp_status bp_schedule_eta(const bp_schedule *s, float eta0, int epoch, int epochs,
                                 float *eta);

/* ---------------------------------------------------------------- training */
/* What bp_train reports to its progress callback. */
typedef struct bp_progress {
    int epoch;            /* 0-based */
    int epochs;           /* of the run */
    int batch;            /* batches done in this epoch */
    int batches;          /* batches per epoch */
    double loss;          /* mean cost per sample over the epoch so far */
    double accuracy;      /* running training accuracy over the epoch so far (classification) */
    double samples_per_s; /* training throughput over the epoch so far */
    double seconds;       /* wall time of the epoch so far */
    int epoch_done;       /* 1 on the call after the evaluation that ends an epoch */
    double eval_loss;     /* epoch_done: mean cost per sample on the evaluation set (NaN: none) */
    double eval_accuracy; /* epoch_done: accuracy on the evaluation set (NaN: none) */
    /* Appended: epoch_done: the RMSE over all outputs of the predictions in the data's units
     * (bp_regression_metrics.rmse) on an evaluation set without labels (NaN: none, labels, or
     * training on forces). */
    double eval_rmse;
} bp_progress;

/* Called after every batch (epoch_done = 0) and once after each epoch (epoch_done = 1).
 * Return non-zero to stop training (bp_train then returns BP_ESTOPPED). */
typedef int (*bp_progress_fn)(const bp_progress *p, void *user);

/* Data parallelism across processes (ranks), with no transport in the library: the caller supplies
 * a sum over ranks (the MPI component, backprop_mpi.h, supplies one over MPI_Allreduce). */
typedef enum bp_reduce_type {
    BP_REDUCE_FLOAT = 0, /* data is float[count] */
    BP_REDUCE_DOUBLE = 1 /* data is double[count] */
} bp_reduce_type;

/* Replace data[0..count-1] on every rank by the elementwise sum over all ranks, in place. Every
 * rank must receive the same bits (the result of one reduction, not each rank's own summation
 * order); that is what keeps the parameters identical. Called collectively: by every rank, the
 * same number of times, with the same count and type. Returns BP_OK, or any other status to fail
 * training on that rank. */
typedef bp_status (*bp_reduce_fn)(void *data, size_t count, bp_reduce_type type, void *ctx);

/* The ranks of a data-parallel run and their sum (bp_train_config.parallel). */
typedef struct bp_parallel {
    int rank;          /* this process, 0..ranks-1 */
    int ranks;         /* >= 1 */
    bp_reduce_fn sum;  /* the sum over ranks; required */
    void *ctx;         /* passed to sum */
} bp_parallel;

/* A training run of bp_train; zero optional fields are the defaults. docs/training.md states what
 * each field does: the split of a mini-batch over ranks, checkpoints, resuming. */
typedef struct bp_train_config {
    int epochs;              /* >= 1 */
    int batch_size;          /* >= 1; with parallel, the GLOBAL mini-batch (all ranks together) */
    uint64_t seed;           /* shuffling order */
    bp_optim_config optim;   /* the optimizer and its base learning rate */
    bp_schedule schedule;    /* the learning rate per epoch */
    int patience;            /* early stopping: stop after this many epochs without a better
                                evaluation accuracy and restore the best parameters; 0 = off */
    bp_progress_fn progress; /* may be NULL */
    void *user;              /* passed to progress */
    const bp_parallel *parallel; /* data-parallel SGD over ranks; NULL = this process alone */
    int checkpoint_every;        /* epochs between checkpoints; 0 = never, < 0 is BP_EDIM */
    const char *checkpoint_path; /* where checkpoints go; required when checkpoint_every > 0 */
    const char *resume_path;     /* continue from this checkpoint; NULL = start afresh */
    int workers;                 /* worker threads per step (bp_team; with dropout too); 0 or 1 =
                                    this thread alone, at most BP_MAX_WORKERS (docs/training.md) */
    /* Training on derivatives (docs/training.md), 0 = off (< 0 is BP_EDIM): the targets are
     * [E*; F*] (n_targets = 1 + n^1, row 0 the energy) and each batch's gradient is bp_gradient_forces' with these
     * weights; the progress and evaluation losses are that loss per sample (with a scaling, in
     * its units: the raw loss over s_y^2). */
    int forces;
    float energy_weight; /* w_E >= 0 of the energy term, with forces */
    float force_weight;  /* w_F >= 0 of the force term, with forces */
    /* Dropout rates: dropout[l-1] for layer l = 1 (the inputs) .. L-1, each in [0, 1), 0 from
     * l = L on; all zero (the default) = none. Masks keyed by the seed, the batch number and the
     * column (bp_gradient_dropout); kept in checkpoints, not in model files (docs/training.md). */
    float dropout[BP_MAX_LAYERS];
} bp_train_config;

/* Train net on train with mini-batch gradient descent through the batched BLAS path, reshuffling
 * every epoch with the project's generator; evaluate on eval (may be NULL) after every epoch.
 * When net carries a scaling (bp_net_set_scaling), every sample is standardised as it is gathered
 * into its mini-batch: the network learns y' = (y - mean_y) / s_y from x' = (x - mean) / s, and the
 * losses reported are on those standardised targets. With forces, the batches stay raw and
 * bp_gradient_forces applies the scaling (target scaling: the energy's, one mean and scale); the
 * losses are its loss, the raw loss over s_y^2.
 * A batch of one sample with plain SGD, no L2 (lambda 0), no clipping, no weight decay, no
 * dropout, no forces, one process and one worker takes the fused online step instead
 * (bp_online_step: no gradient block, no copy of the parameters; the same training up to the
 * rounding of eta delta a).
 * Everything it needs is allocated once before the first epoch.
 * If a batch's loss or gradient is not finite, or its step would overflow a parameter or the
 * optimizer's state (Adam's moments too), training stops with BP_ENUMERIC and the parameters are
 * those before that batch (all finite). The schedule's rate is checked for every epoch before the
 * first (BP_EVALUE if one is not > 0 as a float). A resumed checkpoint whose floats are not all
 * finite (or Adam's second moment negative), or whose step count exceeds one step per sample of
 * each epoch, is refused (BP_EFORMAT) before anything is replaced. With patience > 0, the parameters of the best evaluation epoch are
 * restored on return. best_accuracy (may be NULL) receives the best evaluation accuracy.
 * Errors: BP_ENULL, BP_EDIM (forces < 0; epochs, batch size, patience, checkpoint_every, workers,
 * parallel rank or ranks, an empty dataset, a label outside 0..C-1 with C as for bp_evaluate), BP_EVALUE
 * (also a force weight negative or not finite; a dropout rate outside [0, 1) or set for the output
 * layer), BP_ECONFIG (forces on a network that is not one-output or not quadratic, checked
 * before the datasets' shapes; forces with dropout), BP_EMISMATCH
 * (dataset shape vs network; a checkpoint
 * of another run; ranks whose parameters, run or configuration differ: docs/training.md),
 * BP_ENOMEM, BP_ENUMERIC, BP_ESTOPPED, BP_EIO (a checkpoint that cannot be read or written),
 * BP_EFORMAT (a damaged checkpoint), and any status the parallel sum returns. With parallel,
 * every rank returns a failure status if any rank fails (a rank's detail names its own cause). */
BP_API bp_status bp_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                          const bp_train_config *cfg, double *best_accuracy);

/* Mean cost per sample and accuracy (the class of bp_workspace_classes vs label; NaN for
 * regression data) of net on ds, through the batched forward (eq. 15). The network tells C classes
 * apart: C = n^L, or C = 2 when n^L = 1 (binary: class 1 when the output is > 0.5; y holds the
 * label 0 or 1 itself). Labels, if present, must be classes in 0..C-1. With a scaling, the inputs
 * are standardised first and the cost is against the standardised targets (the quantity bp_train
 * minimises). When the loss is not finite (a NaN or infinite output, as from NaN parameters), the
 * accuracy is NaN: such outputs name no class (the confusion matrix still counts what
 * bp_workspace_classes picked).
 * confusion (may be NULL): C x C longs, row-major, row = true class, column = predicted,
 * overwritten. Allocates a workspace for the call. Errors: BP_ENULL, BP_EDIM (empty dataset, x or
 * y NULL, a label out of range), BP_EMISMATCH (features/targets vs the network), BP_EOVERFLOW,
 * BP_ENOMEM. */
BP_API bp_status bp_evaluate(const bp_net *net, const bp_dataset *ds, double *loss,
                             double *accuracy, long *confusion);

/* bp_evaluate sharded across ranks: rank r scores samples [r*count/ranks, (r+1)*count/ranks) of ds
 * and the loss sum, correct count and confusion matrix are summed with parallel->sum, so every
 * rank receives the results over the whole set (loss within float rounding of bp_evaluate's,
 * accuracy and confusion exact). Called collectively. parallel NULL is bp_evaluate.
 * Errors: those of bp_evaluate; BP_EDIM (rank or ranks out of range); BP_ENULL (no sum);
 * the sum's own status. */
BP_API bp_status bp_evaluate_parallel(const bp_net *net, const bp_dataset *ds,
                                      const bp_parallel *parallel, double *loss, double *accuracy,
                                      long *confusion);

/* ---------------------------------------------------------------- scaling and inference */
/* A network may carry the standardisation of its data (docs/model-format.md stores it):
 *   inputs   x' = (x - mean) (/) scale       (n^1 each; x' is what enters layer 1)
 *   targets  y' = (y - mean_y) (/) scale_y   (n^L each; the network fits y', so a prediction in
 *            the data's units is y = scale_y (.) a^L + mean_y)
 * Every function above that takes X or Y (bp_forward_batch, the gradients of the cost,
 * bp_cost_value, bp_naive_forward/backward, bp_gradcheck) works on the network as it is, unscaled,
 * on x' and y'; bp_train, bp_evaluate*, bp_predict and bp_evaluate_regression apply the scaling,
 * and so do the derivatives with respect to the inputs (VJP, JVP, Jacobian, the force loss, their
 * naive references and checks), which are in raw units by the chain rule
 * dy/dx = diag(scale_y) (da^L/dx') diag(1 (/) scale). */
typedef enum bp_scaling_side {
    BP_SCALE_INPUTS = 0, /* mean and scale of the n^1 inputs */
    BP_SCALE_TARGETS = 1 /* mean and scale of the n^L targets (regression, quadratic cost only) */
} bp_scaling_side;

/* Set (copy) the scaling of one side: mean and scale hold n floats (n = n^1 for inputs, n^L for
 * targets); both NULL removes it. Every mean must be finite, every scale finite and >= FLT_MIN.
 * Errors: BP_ENULL (net, or one of mean/scale NULL without the other), BP_EDIM (side),
 * BP_EVALUE (detail: which entry), BP_ECONFIG (target scaling on a cost other than quadratic:
 * cross-entropy and NLL need targets in [0,1]), BP_ENOMEM (the scaling is then unchanged).
 * Not while another thread uses net. */
BP_API bp_status bp_net_set_scaling(bp_net *net, bp_scaling_side side, const float *mean,
                                    const float *scale);

/* *mean and *scale = the side's n floats, owned by net (valid until it changes or is freed), or
 * both NULL when that side has no scaling. Errors: BP_ENULL, BP_EDIM (side). */
BP_API bp_status bp_net_get_scaling(const bp_net *net, bp_scaling_side side, const float **mean,
                                    const float **scale);

/* The standardisation of a dataset's inputs (ds->x, n_features rows) or targets (ds->y, n_targets
 * rows), per row i over the N = ds->count samples, in double (two passes):
 *   mean_i = (1/N) sum_j v_ij,   scale_i = sqrt((1/N) sum_j (v_ij - mean_i)^2)
 * (the population standard deviation, as scikit-learn's StandardScaler), rounded to float;
 * scale_i = 1 for a row taken as constant (it is then only centred): where the standard
 * deviation is <= 10 FLT_EPSILON |mean_i| (the rounding of one value, whatever the units) or below
 * 2^-63 = sqrt(FLT_MIN) (so 1 / scale_i <= 2^63: a row of zeros and one 1e-37 would otherwise
 * multiply an input of 1 by 10^38).
 * mean, scale: n_features or n_targets floats each, overwritten.
 * Errors: BP_ENULL, BP_EDIM (side; ds empty or without x/y), BP_EVALUE (a value is not finite or
 * the statistics overflow float). */
BP_API bp_status bp_dataset_standardization(const bp_dataset *ds, bp_scaling_side side,
                                            float *mean, float *scale);

/* Inference on raw data in one call: Y = scale_y (.) a^L(x') + mean_y for each column of
 * X (n^1 x batch, ldx >= n^1; x' its input scaling), through the forward pass (eq. 15); without
 * a scaling, the identity on that side. Y: n^L x batch, ldy >= n^L, overwritten (the caller's
 * buffer; it must not overlap X). The standardised inputs are kept in ws, the activations stay
 * there as after bp_forward_batch (bp_workspace_classes works). Allocates nothing; net is only
 * read, so threads may share it, each with its own workspace.
 * Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (batch > max_batch), BP_ELD, BP_EMISMATCH. */
BP_API bp_status bp_predict(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx,
                            float *Y, int ldy);

/* bp_model_load from the size bytes at data (a model embedded in the caller's file, received
 * over MPI): exactly the same validation, in the same order, with "memory" in place of the path
 * in the detail. data is only read and may be freed after the call.
 * Errors: BP_ENULL, BP_EFORMAT, BP_ENOMEM. On failure *out is NULL. */
BP_API bp_status bp_model_load_memory(bp_net **out, const void *data, size_t size);

/* Regression quality, in double, over N samples and n outputs, p the prediction and y the target:
 * per output i
 *   rmse_i = sqrt(SS_res_i / N), mae_i = (1/N) sum_j |p_ij - y_ij|,
 *   r2_i   = 1 - SS_res_i / SS_tot_i,
 *   SS_res_i = sum_j (p_ij - y_ij)^2, SS_tot_i = sum_j (y_ij - ybar_i)^2, ybar_i the mean of y_i
 *   on the evaluated set (so r2 < 0 for a model worse than predicting that mean; NaN when
 *   SS_tot_i = 0: a constant target has no R^2);
 * overall: rmse and mae over all N n entries, r2 the mean of the r2_i (scikit-learn's r2_score
 * "uniform_average"). */
typedef struct bp_regression_metrics {
    double rmse; /* root mean squared error, in the data's units */
    double mae;  /* mean absolute error, in the data's units */
    double r2;   /* coefficient of determination */
} bp_regression_metrics;

/* The metrics of predictions P (n_outputs x count, ldp >= n_outputs) against targets Y
 * (n_outputs x count, ldy). overall (may be NULL) and per_output (n_outputs entries, may be NULL)
 * are overwritten. Allocates n_outputs x 4 doubles.
 * Errors: BP_ENULL, BP_EDIM, BP_ELD, BP_ENOMEM. */
BP_API bp_status bp_regression_metrics_compute(int n_outputs, int count, const float *P, int ldp,
                                               const float *Y, int ldy,
                                               bp_regression_metrics *overall,
                                               bp_regression_metrics *per_output);

/* The metrics of net's predictions (bp_predict: the data's units) on ds (targets ds->y, labels
 * ignored). overall (may be NULL) and per_output (n^L entries, may be NULL) are overwritten.
 * Allocates a workspace for the call. Errors: BP_ENULL, BP_EDIM (empty dataset), BP_EMISMATCH
 * (features/targets vs the network), BP_EOVERFLOW, BP_ENOMEM. */
BP_API bp_status bp_evaluate_regression(const bp_net *net, const bp_dataset *ds,
                                        bp_regression_metrics *overall,
                                        bp_regression_metrics *per_output);

/* ---------------------------------------------------------------- worker threads */
/* The most worker threads a team (or bp_train_config.workers) may have. */
#define BP_MAX_WORKERS 256

typedef struct bp_team bp_team; /* opaque: worker threads, each with a workspace and gradient block */

/* A team of workers for net's shape and batches of at most max_batch samples: workers - 1 threads
 * started now (the calling thread is the other worker of each call), with every signal blocked,
 * waiting between calls (watching for the next call for at most 100 microseconds, as the calling
 * thread watches for the others' shares, then asleep on a condition variable); and for each of the
 * workers shares of a batch a workspace for ceil(max_batch / workers) samples and (but share 0, which writes the caller's block) a
 * gradient block of num_params floats. A team serves one calling thread at a time.
 * Errors: BP_ENULL, BP_EDIM (workers outside 1..BP_MAX_WORKERS, max_batch < 1), BP_EOVERFLOW,
 * BP_ENOMEM (also: a thread could not be started; the detail says which). On failure *out is NULL.
 * Ownership: *out is the caller's; release with bp_team_free, which stops the threads. */
BP_API bp_status bp_team_create(bp_team **out, const bp_net *net, int workers, int max_batch);
/* Stop the threads and release the team. NULL is a no-op. */
BP_API void bp_team_free(bp_team *team);
/* *workers = the team's worker count. Errors: BP_ENULL. */
BP_API bp_status bp_team_workers(const bp_team *team, int *workers);

/* bp_gradient_batch split across the team: with N workers, the columns of X and Y are split into
 * N shares as N ranks split a batch, share w being [w*batch/N, (w+1)*batch/N); the gradient of
 * each (eqs. 15, A-D; no columns: zeros) goes into the share's own block, and grad is OVERWRITTEN
 * with g_0 + g_1 + ... + g_{N-1}, added in that order, so the result depends on N only, never on
 * timing nor on which thread ran which share (the threads claim the shares one at a time: a
 * worker kept off the cores by a loaded machine leaves its share to the others); *cost (may be
 * NULL) = the shares' summed costs, in the same order. With N = 1 it is bp_gradient_batch's
 * bits. X: n^1 x batch (ldx >= n^1), Y:
 * n^L x batch (ldy >= n^L), grad: num_params floats. Allocates nothing.
 * BLAS threads: OpenBLAS (0.3.21) has only a process-wide thread count, and N workers whose
 * products each split between BLAS threads would oversubscribe the cores; so if the count is above
 * one, the call sets it to one and restores it before returning. Another thread of the process
 * calling BLAS meanwhile runs at one thread too; do not change the count from another thread
 * during the call. Errors: BP_ENULL, BP_EDIM (batch < 1), BP_EBATCH (batch > max_batch), BP_ELD,
 * BP_EMISMATCH (net of another shape than the team's). */
BP_API bp_status bp_team_gradient(bp_team *team, const bp_net *net, int batch, const float *X,
                                  int ldx, const float *Y, int ldy, float *grad, double *cost);

/* Dropout rates of the team's dropout gradients (bp_team_gradient_dropout): what
 * bp_workspace_set_dropout does to one workspace, done to each worker's: rates[l-1] for layer
 * l = 1 (the inputs) .. L-1, num_layers - 1 floats in [0, 1); NULL or all zero: none. Allocates
 * each workspace's masks (2 n^l x ceil(max_batch / workers) floats per layer of rate > 0) here,
 * all of them before any earlier ones are released, so on failure the team keeps its earlier
 * rates; the gradients allocate nothing. bp_team_gradient is unchanged by them. Not during a call
 * of the team. Errors: BP_ENULL (team), BP_EVALUE (a rate outside [0, 1) or NaN), BP_ENOMEM. */
BP_API bp_status bp_team_set_dropout(bp_team *team, const float *rates);

/* bp_gradient_dropout split across the team, as bp_team_gradient splits bp_gradient_batch: the
 * batch's columns are columns first .. first+batch-1 of step; share w, [lo, hi) = [w*batch/N,
 * (w+1)*batch/N), runs bp_gradient_dropout(net, its workspace, key, step, first + lo, hi - lo, ...)
 * with the team's rates (bp_team_set_dropout), so column j of the batch is dropped by the mask of
 * (key, step, first + j) whatever N is: forward with a~^l = m^l (.) a^l, (B') and (C) into the
 * share's block (no columns: zeros), and grad is OVERWRITTEN with g_0 + g_1 + ... + g_{N-1} added
 * in that order, *cost (may be NULL) the shares' summed costs of the dropped network in that order.
 * So the result depends on N only (the sum's order), never on timing; with N = 1 it is
 * bp_gradient_dropout's bits. Shapes, leading dimensions and BLAS threads as bp_team_gradient;
 * without rates set it is bp_team_gradient's bits. Allocates nothing. Errors: as
 * bp_team_gradient; BP_EDIM (first < 0 or first + batch > INT_MAX). */
BP_API bp_status bp_team_gradient_dropout(bp_team *team, const bp_net *net, uint64_t key,
                                          uint64_t step, int first, int batch, const float *X,
                                          int ldx, const float *Y, int ldy, float *grad,
                                          double *cost);

/* A team as bp_team_create makes one, but each share's workspace made by
 * bp_workspace_create_tangent (for ceil(max_batch / workers) samples), so that the team's force
 * gradients (bp_team_gradient_forces) may have a force term; it serves every team function.
 * Errors and ownership: as bp_team_create. Since 1.3. */
BP_API bp_status bp_team_create_tangent(bp_team **out, const bp_net *net, int workers,
                                        int max_batch);

/* bp_gradient_forces split across the team, as bp_team_gradient splits bp_gradient_batch: share w,
 * [lo, hi) = [w*batch/N, (w+1)*batch/N), runs bp_gradient_forces(net, its workspace, hi - lo,
 * X + lo ldx, ldx, E + lo lde, lde, F + lo ldf, ldf, w_energy, w_force, its block, ...) (no
 * columns: zeros), and grad is OVERWRITTEN with g_0 + g_1 + ... + g_{N-1} added in that order,
 * *loss (may be NULL) the shares' summed losses in that order. The loss is a sum over the
 * samples, so the sum of the shares' gradients is the batch's:
 *   dL/dtheta = sum_w sum_{j in share w} dL_j/dtheta.
 * So the result depends on N only, never on timing; with N = 1 it is bp_gradient_forces' bits.
 * X, E, F, their leading dimensions, the weights and a network carrying a scaling as
 * bp_gradient_forces has them; w_force > 0 needs a team from bp_team_create_tangent. BLAS threads
 * as bp_team_gradient. Allocates nothing. Errors: bp_gradient_forces' (BP_ENULL, BP_EDIM, BP_ELD,
 * BP_ECONFIG, BP_EVALUE); BP_EBATCH (batch > max_batch), BP_EMISMATCH (net of another shape than
 * the team's; w_force > 0 on a team made by bp_team_create). Since 1.3. */
BP_API bp_status bp_team_gradient_forces(bp_team *team, const bp_net *net, int batch,
                                         const float *X, int ldx, const float *E, int lde,
                                         const float *F, int ldf, float w_energy, float w_force,
                                         float *grad, double *loss);

/* ---------------------------------------------------------------- online learning */
/* One step of online gradient descent on one sample (plain SGD, m = 1, the derivation's
 * per-sample loop), fused so that no gradient block exists: the forward pass (eq. 15), (A) and
 * (B) down the layers with the weights before the step, then for l = L..2
 *   w^l <- w^l - eta delta^l (a^{l-1})^T   (eq. C straight into w^l: column j gets
 *                                           (-eta a_j) delta^l)
 *   b^l <- b^l - eta delta^l               (eq. D straight into b^l).
 * The products run on the project's loops (the forward pass's bits are bp_forward_batch's on
 * BP_PATH_LOOPS), but on a layer of more than 2^18 weights when the BLAS has more than one thread:
 * there cblas_sgemv, cblas_sger (alpha = -eta) and cblas_saxpy, which split the layer between the
 * threads. The workspace's path (bp_workspace_set_path) does not apply. The same step as
 * bp_forward + bp_backward into a zeroed block + bp_sgd_step(eta, 1), up to the rounding of the
 * products (other summation orders; eta delta a is rounded in another order). x: n^1 floats, y: n^L
 * targets; *cost (may be NULL) = C(y, a^L) before the step. The activations stay in ws (column 0).
 * Allocates nothing. Errors: BP_ENULL, BP_EMISMATCH, BP_EVALUE (eta not finite or <= 0),
 * BP_ENUMERIC (the cost or a delta is not finite, or a product eta max(|delta_i|, 1) max(|a_j|, 1)
 * of the step reaches 2^100, from where a parameter or an intermediate of the update could
 * overflow): then the parameters are untouched. */
BP_API bp_status bp_online_step(bp_net *net, bp_workspace *ws, const float *x, const float *y,
                                float eta, double *cost);

/* ---------------------------------------------------------------- the BLAS */
/* The BLAS the library was built on (CMake's BACKPROP_BLAS: OpenBLAS, the default; BLIS; or a
 * generic CBLAS) and the kernels it runs, for a host program to log at startup. Every string is
 * static (never freed, valid for the life of the process) and never NULL; "" means unknown.
 * A vector width is in bits: 512 (AVX-512), 256 (AVX, AVX2), 128 (SSE); 0 when unknown. */
typedef struct bp_blas_info {
    const char *library;     /* "OpenBLAS", "BLIS" or "CBLAS" (a generic CBLAS: which is unknown) */
    const char *kernels;     /* the kernel set running: OpenBLAS's core ("SkylakeX", "Haswell",
                                "Zen", "Prescott", ...), BLIS's configuration ("skx", "haswell",
                                "zen3", "generic", ...); "" for a generic CBLAS */
    const char *cpu_kernels; /* OpenBLAS only: the core whose instructions this CPU runs
                                ("SkylakeX", "Haswell", "Sandybridge"), the value to give
                                OPENBLAS_CORETYPE; "" otherwise or when the CPU has none of them */
    const char *threads_env; /* the environment variable the BLAS reads its thread count from
                                when it loads ("OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS"); "" for
                                a generic CBLAS */
    int kernel_bits;         /* the vector width of the kernels' instructions (0: unknown, as
                                for a generic CBLAS or BLIS's plain-C "generic" kernels) */
    int cpu_bits;            /* the widest vectors this CPU executes: 512 with AVX-512 F, BW, VL
                                and DQ (what AVX-512 kernels need), 256 with AVX, 128 on other
                                x86-64; 0 off x86 or with a compiler that cannot tell */
    int narrow;              /* 1 when the kernels are narrower than the CPU: kernel_bits and
                                cpu_bits known and kernel_bits < cpu_bits (OpenBLAS 0.3.21 falls
                                back to "Prescott", 128 bits, on a CPU model newer than itself;
                                sgemm then runs 3 to 6 times slower); else 0 */
    int threads;             /* the BLAS's thread count now (BLIS: 1 when set only per loop, as
                                BLIS_JC_NT ...); 1 for a generic CBLAS */
} bp_blas_info;

/* Fill info with the BLAS the library runs on, as it is now (the kernels are chosen when the BLAS
 * loads, OpenBLAS's from OPENBLAS_CORETYPE if set). Overwrites every field. Threads may call it
 * together, but not while one calls bp_blas_set_threads. Errors: BP_ENULL (info). */
BP_API bp_status bp_blas_describe(bp_blas_info *info);

/* Set the BLAS's thread count for every later call in the process (openblas_set_num_threads,
 * bli_thread_set_num_threads): the application's choice, never the library's (but inside a call
 * of its own worker threads, bp_team_gradient, which runs BLAS at one thread and restores the
 * count), so that its own threads and the BLAS's share the cores as it decides (1 when it runs
 * passes on several threads).
 * Not thread-safe against BLAS calls running at the time. Errors: BP_EDIM (threads < 1),
 * BP_ECONFIG (a generic CBLAS, which offers no thread control: set its own variable instead). */
BP_API bp_status bp_blas_set_threads(int threads);

/* ---------------------------------------------------------------- data sets as tools write them */
/* Whether the first line of a CSV file (the first that is not blank or a '#' comment) is a header
 * of column names, for bp_dataset_read_csv. */
typedef enum bp_csv_header {
    BP_CSV_HEADER_DETECT = 0,  /* a header if none of its fields is a number ("x1,x2,label") */
    BP_CSV_HEADER_PRESENT = 1, /* always a header (names that are numbers: "1,2,3,label") */
    BP_CSV_HEADER_ABSENT = 2   /* never: the first line is data */
} bp_csv_header;

/* Read a CSV data set from the open stream f (a file, a pipe, standard input) up to its end, as
 * bp_dataset_load_csv reads a file; name is the file's name in messages ("train.csv:3: column 2:
 * ..."; "-" or "<stdin>" for standard input). Beyond the plain format it accepts what spreadsheets
 * and data-frame libraries write: a UTF-8 byte-order mark before the first line, a header line
 * (header), fields in double quotes ("1.5"), class labels written as whole floats ("1.0"), CRLF line
 * ends. A field holding a NUL byte or a byte-order mark is named as such in the message.
 * n_features: 0 accepts any width (the first data line sets it); otherwise the first data line
 * must hold n_features features and then the label (or n targets; none for BP_CSV_FEATURES),
 * else BP_EMISMATCH, before any value is parsed. f is read, never closed. On failure *out is
 * zeroed. Errors: BP_ENULL (out, f, name), BP_EDIM (kind, n as for bp_dataset_load_csv,
 * n_features < 0, header), BP_EMISMATCH, and those of bp_dataset_load_csv.
 * bp_dataset_load_csv(out, path, kind, n) is this function on the opened file with
 * BP_CSV_HEADER_DETECT and n_features 0. */
BP_API bp_status bp_dataset_read_csv(bp_dataset *out, FILE *f, const char *name, bp_csv_kind kind,
                                     int n, bp_csv_header header, int n_features);

/* Move count samples of ds, drawn at random with a generator seeded by seed (the same seed and
 * data give the same split on every machine), into *held (a new dataset owned by the caller), and
 * keep the others in ds; both keep the samples' order of ds. With labels the draw is stratified:
 * class c gives round(count * n_c / ds->count) of its n_c samples (largest remainders, ties to the
 * smaller class index, so that the counts add up to count), so that a file sorted by class gives
 * held-out samples of every class. Without labels (regression) count samples are drawn uniformly.
 * ds must own its memory (come from a loader). For a validation split.
 * Errors: BP_ENULL, BP_EDIM (count < 1 or >= ds->count, a negative label), BP_ENOMEM (ds
 * unchanged). */
BP_API bp_status bp_dataset_split_random(bp_dataset *ds, int count, uint64_t seed,
                                         bp_dataset *held);

/* What a checkpoint file (docs/checkpoint-format.md, written by bp_train with checkpoint_every)
 * holds: *net receives its network (a new one, owned by the caller: bp_net_free) with the
 * parameters after *epoch epochs, *optimizer the optimizer it was trained with. The file is
 * validated as a resume validates it, but for the comparison with a run (the fields, the length
 * and the checksums). On failure *net is NULL.
 * Errors: BP_ENULL, BP_EIO (cannot open or read; not a regular file), BP_EFORMAT (not a
 * checkpoint, truncated, damaged), BP_ENOMEM. */
BP_API bp_status bp_checkpoint_describe(const char *path, bp_net **net, int *epoch,
                                        bp_optimizer_kind *optimizer);

/* Read an IDX image file alone, as bp_dataset_load_idx reads it, for prediction: x holds the
 * pixels scaled to [0,1]; n_targets is 0 and y and labels are NULL (no labels file is needed).
 * On failure *out is zeroed. Errors: those of bp_dataset_load_idx but BP_EDIM. */
BP_API bp_status bp_dataset_load_idx_images(bp_dataset *out, const char *images_path);

/* ---------------------------------------------------------------- safe file writing
 * The way the library writes every file (models, checkpoints), offered to programs for theirs (the
 * backprop program's training log). A file is written to a temporary file beside path (its
 * directory, its name cut to fit the system's 255-byte NAME_MAX, then ".tmp.PID.N"), created with
 * O_CREAT | O_EXCL | O_NOFOLLOW so that it never opens an existing file or follows a link; on
 * commit it is flushed, fsynced and renamed over path and the directory is synced, so that path
 * holds either its old content or the whole new one. Only a regular file is ever replaced (a
 * symbolic link to one counts: the link itself is replaced by the new file); a directory, a
 * device, a FIFO, a socket, a link to nothing, a link to an open descriptor's name in /proc (as
 * /dev/stdout is: the link would be replaced) or a mount point (a file mounted there, which no
 * rename replaces) is refused. The new file gets the permission bits
 * (0777: never a set-user- or set-group-ID bit) of the file it replaces (0666 less the umask for a
 * new one); its owner is the writer (another user's file in a sticky directory, which only root
 * or its owner may replace, is refused by bp_file_check unless the process is root; elsewhere it
 * fails at the rename, reported as BP_EIO). */
typedef struct bp_file bp_file; /* opaque: a file being written, not yet at its path */

/* Whether path could be written now: not empty, not ending in '/', nothing there or a regular file
 * (or a link to one), in a directory where this process can create a file, which is proven by
 * creating one under the temporary file's name rules and removing it at once (so that root, a
 * read-only mount, an immutable directory or a file system out of inodes is judged as the write
 * will be), and no other user's file in a sticky directory (/tmp) unless the process is root.
 * Nothing else is created or changed. Programs check their outputs with it before long work.
 * Errors: BP_ENULL, BP_EIO (detail: path and the reason), BP_ENOMEM. */
BP_API bp_status bp_file_check(const char *path);

/* Check path as bp_file_check and create its temporary file (nothing is written at path yet).
 * Errors: BP_ENULL, BP_EIO, BP_ENOMEM; *out is NULL on failure.
 * Ownership: *out is the caller's, released by exactly one of bp_file_commit and bp_file_discard. */
BP_API bp_status bp_file_create(bp_file **out, const char *path);

/* Append bytes bytes of data to the temporary file, flushed at once (a reader following it sees
 * each write whole). After a failed write the file can only be discarded (commit reports BP_EIO).
 * Errors: BP_ENULL (f, or data with bytes > 0), BP_EIO (detail: the system error). */
BP_API bp_status bp_file_write(bp_file *f, const void *data, size_t bytes);

/* The temporary file's name (valid until commit or discard), for a user who follows it; NULL for a
 * NULL f. */
BP_API const char *bp_file_temp_path(const bp_file *f);

/* fsync the temporary file, check path again and rename the file over it, sync the directory; f
 * is released whatever the outcome. On failure the temporary file is removed and path untouched.
 * Errors: BP_ENULL, BP_EIO (a write failed before, the sync, path no longer a file to replace, or
 * the rename). */
BP_API bp_status bp_file_commit(bp_file *f);

/* Remove the temporary file and release f, leaving path untouched; NULL is a no-op. */
BP_API void bp_file_discard(bp_file *f);

/* ---------------------------------------------------------------- worker threads: the step */
/* bp_optim_step (the same arguments, checks, errors and result bits) with its passes over the
 * parameters split across the team's threads: the N workers' slices of the parameter block,
 * slice w starting at w floor(P/N) (P = num_params) rounded down to a multiple of 16 floats, the
 * last ending at P, each claimed by one thread as bp_team_gradient's shares are. Every element's
 * update depends on that element alone, so the bits do not depend on N, on timing nor on which
 * thread ran which slice. Two rounds: the dry run of every slice (any non-finite gradient
 * element, any new parameter or optimizer state that would not be finite), then, only if no slice
 * refuses, the update of every slice; so a refused step (BP_ENUMERIC) changes neither the
 * parameters nor the optimizer's state, in any slice, and names what bp_optim_step names (a
 * non-finite gradient before a refused layer, the lowest layer refused). With clipping
 * (clip_norm > 0) the gradient's norm is computed first on the calling thread, as bp_optim_step
 * computes it. net must be of the team's shape. Not during another call of the team. Allocates
 * nothing. Errors: those of bp_optim_step; BP_ENULL (team), BP_EMISMATCH (net of another shape
 * than the team's). */
BP_API bp_status bp_team_optim_step(bp_team *team, bp_optim *opt, bp_net *net, const float *grad,
                                    int m, long n, float eta);

#ifdef __cplusplus
}
#endif
#endif /* BACKPROP_H_INCLUDED */
