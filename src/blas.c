/* Forward and backward passes on CBLAS: the only file that calls BLAS, so that another backend can
 * stand beside it with the same shape. Shapes are validated before any call (OpenBLAS reports a bad
 * lda through xerbla on stderr and returns nothing to the caller). Nothing here allocates except
 * bp_workspace_create. */
#include "blas_info.h"
#include "kernels.h"
#include "workspace.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bp_status bp__check_pair(const bp_net *net, const bp_workspace *ws)
{
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (!ws)
        return bp__fail(BP_ENULL, "ws is NULL");
    if (ws->num_layers != net->num_layers)
        return bp__fail(BP_EMISMATCH, "workspace made for %d layers, network has %d",
                        ws->num_layers, net->num_layers);
    for (int i = 0; i < net->num_layers; i++)
        if (ws->sizes[i] != net->sizes[i])
            return bp__fail(BP_EMISMATCH, "workspace made for width %d at layer %d, network has %d",
                            ws->sizes[i], i + 1, net->sizes[i]);
    for (int l = 2; l <= net->num_layers; l++)
        if (bp__needs_z(ws->acts[l - 2]) != bp__needs_z(net->acts[l - 2]))
            return bp__fail(BP_EMISMATCH, "workspace made for a %s layer %d, network has %s (one "
                            "keeps z, the other not)", bp_activation_name(ws->acts[l - 2]), l,
                            bp_activation_name(net->acts[l - 2]));
    return BP_OK;
}

/* Common checks of the batched entry points: pair, batch size, X and its ld. */
bp_status bp__check_batch(const bp_net *net, const bp_workspace *ws, int batch, const float *X,
                          int ldx)
{
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    if (batch > ws->max_batch)
        return bp__fail(BP_EBATCH, "batch %d exceeds the workspace's max_batch %d", batch,
                        ws->max_batch);
    return bp__check_matrix("X (ldx)", X, net->sizes[0], ldx);
}

/* Floats per batch column of a workspace for net: activations (twice in a tangent workspace), z of
 * the layers that keep it, and in a tangent workspace z-dot and [X R]; then the two delta buffers
 * (twice as wide in a tangent workspace); then the standardised inputs and targets (n^1 + n^L) of
 * bp_predict and the evaluations. Widths are ints and there are at most 64 layers, so the sum
 * fits a 64-bit size_t. */
static size_t floats_per_column(const bp_net *net, int tangent)
{
    size_t t = tangent ? 2 : 1, n = 2 * t * (size_t)net->max_width;
    for (int l = 2; l <= net->num_layers; l++) {
        size_t w = (size_t)net->sizes[l - 1];
        n += t * w + (bp__needs_z(net->acts[l - 2]) ? w : 0) + (tangent ? w : 0);
    }
    return n + (tangent ? 2 * (size_t)net->sizes[0] : 0) + (size_t)net->sizes[0] +
           (size_t)net->sizes[net->num_layers - 1];
}

/* Floats after the delta buffers beyond the per-column ones: bp_online_step keeps one column of
 * every layer's delta there (sum_l n^l floats), more than 2 max_width floats for one column of a
 * deep network. deltas (the buffers' floats) was checked not to overflow. */
static size_t online_extra(const bp_net *net, size_t deltas)
{
    size_t widths = 0;
    for (int l = 2; l <= net->num_layers; l++)
        widths += (size_t)net->sizes[l - 1];
    return deltas < widths ? widths - deltas : 0;
}

/* Point ws's buffers into block, in the order floats_per_column counts them, with extra floats
 * (online_extra) after the delta buffers. */
static void lay_out(bp_workspace *ws, const bp_net *net, float *block, size_t extra)
{
    size_t B = (size_t)ws->max_batch, t = ws->tangent ? 2 : 1;
    float *p = block;
    for (int l = 2; l <= net->num_layers; l++) {
        size_t cells = (size_t)net->sizes[l - 1] * B;
        ws->act[l] = p;
        p += t * cells;
        if (bp__needs_z(net->acts[l - 2])) {
            ws->z[l] = p;
            p += cells;
        }
        if (ws->tangent) {
            ws->zdot[l] = p;
            p += cells;
        }
    }
    if (ws->tangent) {
        ws->input = p;
        p += 2 * (size_t)net->sizes[0] * B;
    }
    for (int k = 0; k < 2; k++) {
        ws->delta[k] = p;
        p += t * (size_t)net->max_width * B;
    }
    p += extra;
    ws->x_std = p;
    ws->y_std = p + (size_t)net->sizes[0] * B;
}

static bp_status workspace_create(bp_workspace **out, const bp_net *net, int max_batch,
                                  int tangent)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (max_batch < 1)
        return bp__fail(BP_EDIM, "max_batch is %d, must be >= 1", max_batch);
    size_t n, bytes, t = tangent ? 2 : 1, extra = 0;
    int fits = bp__mul_size(floats_per_column(net, tangent), (size_t)max_batch, &n);
    if (fits) /* the delta buffers are part of n: their product cannot overflow */
        extra = online_extra(net, 2 * t * (size_t)net->max_width * (size_t)max_batch);
    if (!fits || n + extra < n || !bp__mul_size(n + extra, sizeof(float), &bytes))
        return bp__fail(BP_EOVERFLOW, "workspace for max_batch %d overflows size_t", max_batch);

    bp_workspace *ws = bp__calloc(1, sizeof *ws);
    float *block = ws ? bp__malloc(bytes) : NULL;
    if (!block) {
        bp__free(ws);
        return bp__fail(BP_ENOMEM, "workspace of %zu bytes for max_batch %d", bytes, max_batch);
    }
    ws->num_layers = net->num_layers;
    for (int i = 0; i < net->num_layers; i++)
        ws->sizes[i] = net->sizes[i];
    for (int i = 0; i < net->num_layers - 1; i++)
        ws->acts[i] = net->acts[i];
    ws->max_batch = max_batch;
    ws->tangent = tangent;
    ws->block = block;
    lay_out(ws, net, block, extra);
    *out = ws;
    return BP_OK;
}

bp_status bp_workspace_create(bp_workspace **out, const bp_net *net, int max_batch)
{
    return workspace_create(out, net, max_batch, 0);
}

bp_status bp_workspace_create_tangent(bp_workspace **out, const bp_net *net, int max_batch)
{
    return workspace_create(out, net, max_batch, 1);
}

bp_status bp_workspace_set_path(bp_workspace *ws, bp_path path)
{
    bp__clear_error();
    if (!ws)
        return bp__fail(BP_ENULL, "ws is NULL");
    if (path < BP_PATH_AUTO || path > BP_PATH_LOOPS)
        return bp__fail(BP_EDIM, "path %d is not a bp_path", (int)path);
    ws->path = path;
    return BP_OK;
}

void bp__workspace_scratch(bp_workspace *ws, float **x, float **y)
{
    *x = ws->x_std;
    *y = ws->y_std;
}

void bp_workspace_free(bp_workspace *ws)
{
    if (!ws)
        return;
    bp__free(ws->drop_block);
    bp__free(ws->block);
    bp__free(ws);
}

bp_status bp__dropout_alloc(const bp_workspace *ws, const float *rates, float **block)
{
    size_t floats = 0, B = (size_t)ws->max_batch; /* each fits: the workspace's own block did */
    for (int l = 1; rates && l < ws->num_layers; l++)
        floats += rates[l - 1] > 0 ? 2 * (size_t)ws->sizes[l - 1] * B : 0;
    *block = floats ? bp__malloc(floats * sizeof **block) : NULL;
    if (floats && !*block)
        return bp__fail(BP_ENOMEM, "dropout masks of %zu floats", floats);
    return BP_OK;
}

void bp__dropout_install(bp_workspace *ws, const float *rates, float *block)
{
    size_t B = (size_t)ws->max_batch;
    bp__free(ws->drop_block);
    ws->drop_block = block;
    ws->masked = 0;
    for (int l = 1; l < ws->num_layers; l++) {
        ws->rates[l - 1] = rates ? rates[l - 1] : 0.0f;
        ws->mask[l] = ws->dropped[l] = NULL;
        if (ws->rates[l - 1] > 0) {
            size_t cells = (size_t)ws->sizes[l - 1] * B;
            ws->mask[l] = block;
            ws->dropped[l] = block + cells;
            block += 2 * cells;
        }
    }
}

bp_status bp_workspace_set_dropout(bp_workspace *ws, const float *rates)
{
    bp__clear_error();
    if (!ws)
        return bp__fail(BP_ENULL, "ws is NULL");
    float *block;
    bp_status st = bp__check_dropout(ws->num_layers, rates);
    if (!st && !(st = bp__dropout_alloc(ws, rates, &block)))
        bp__dropout_install(ws, rates, block);
    return st;
}

bp_status bp_workspace_mask(const bp_workspace *ws, int l, const float **mask)
{
    bp__clear_error();
    if (!ws || !mask)
        return bp__fail(BP_ENULL, "%s is NULL", ws ? "mask" : "ws");
    if (l < 1 || l >= ws->num_layers)
        return bp__fail(BP_EDIM, "layer l is %d, not in 1..%d", l, ws->num_layers - 1);
    if (ws->masked < 1)
        return bp__fail(BP_EBATCH, "no dropout pass has run in this workspace");
    *mask = ws->mask[l];
    return BP_OK;
}

bp_status bp_workspace_activations(const bp_workspace *ws, int l, const float **a, int *ld)
{
    bp__clear_error();
    if (!ws || !a || !ld)
        return bp__fail(BP_ENULL, "%s is NULL", !ws ? "ws" : !a ? "a" : "ld");
    if (l < 2 || l > ws->num_layers)
        return bp__fail(BP_EDIM, "layer l is %d, not in 2..%d", l, ws->num_layers);
    if (ws->batch < 1)
        return bp__fail(BP_EBATCH, "no forward pass has run in this workspace");
    *a = ws->act[l];
    *ld = ws->sizes[l - 1];
    return BP_OK;
}

bp_status bp_workspace_classes(const bp_workspace *ws, int *classes)
{
    bp__clear_error();
    if (!ws || !classes)
        return bp__fail(BP_ENULL, "%s is NULL", ws ? "classes" : "ws");
    if (ws->batch < 1)
        return bp__fail(BP_EBATCH, "no forward pass has run in this workspace");
    int L = ws->num_layers, nL = ws->sizes[L - 1];
    for (int j = 0; j < ws->batch; j++)
        classes[j] = bp__class_of(ws->act[L] + (size_t)j * (size_t)nL, nL);
    return BP_OK;
}

/* How one matrix product of a pass is computed. */
typedef enum kernel { K_GEMV, K_GEMM, K_LOOPS } kernel;

/* What a pass runs on and what its backward does with grad:
 *  - PER_SAMPLE: one sample on the documented sgemv / sger / saxpy calls (bp_forward,
 *    bp_backward); grad accumulated;
 *  - BATCH_ACCUMULATE: a batch on the kernels of the workspace's path (bp_forward_batch,
 *    bp_backward_batch); grad accumulated;
 *  - BATCH_OVERWRITE: the same kernels, grad overwritten with the batch's gradient
 *    (bp_gradient_batch), so its caller needs no zeroing pass;
 *  - ONLINE: one sample of bp_online_step, on the one-column kernels of BP_PATH_AUTO whatever
 *    the workspace's path (which is for batched passes); no grad.
 * The forward pass reads only the kernel choose() gives for the mode. */
typedef enum pass_mode { PER_SAMPLE, BATCH_ACCUMULATE, BATCH_OVERWRITE, ONLINE } pass_mode;

/* Under BP_PATH_AUTO a one-sample batch runs on the project's loops, but for layers of more than
 * LOOPS_ABOVE weights when the BLAS has more than one thread: there sgemv and sger split the layer
 * between its threads and win. The loops are the one-column choice that holds across CPUs
 * (bench/bench_backprop, README "Benchmarks"): sgemm packs w (copies it) even for one column, which
 * on OpenBLAS's Zen kernels makes it 1.4 to 1.6 times slower than the loops on 784-100-10 and
 * 784-256-128-10; on its SkylakeX kernels sgemm was within 3% of them; one-threaded sgemv is
 * slower than the loops on small and large layers. From two columns on, sgemm: its small-matrix
 * kernels beat the loops, and it never splits a product of these sizes between threads (a
 * threaded sgemv or sger does, and loses to one thread). */
enum { LOOPS_ABOVE = 1 << 18 };

/* The kernel of a one-sample product of layer rows x cols under BP_PATH_AUTO. */
static kernel one_column(int rows, int cols)
{
    return (double)rows * cols > LOOPS_ABOVE && bp__blas_threads() > 1 ? K_GEMV : K_LOOPS;
}

/* The kernel of layer rows x cols in a pass over batch samples. */
static kernel choose(const bp_workspace *ws, pass_mode mode, int rows, int cols, int batch)
{
    if (mode == PER_SAMPLE)
        return K_GEMV;
    if (mode == ONLINE)
        return one_column(rows, cols);
    switch (ws->path) {
    case BP_PATH_GEMM: return K_GEMM;
    case BP_PATH_LOOPS: return K_LOOPS;
    case BP_PATH_AUTO: break;
    }
    return batch > 1 ? K_GEMM : one_column(rows, cols);
}

/* Eq. 15 before the bias and sigma: z = w a, overwritten. Its transposed form, z^T = a^T w^T by
 * sgemm (TT) into a scratch and then transposed into z, made steps of 784-100-10 at B = 1024 no
 * faster (0.97 to 1.015 times, alternated steps); a TN product on a transposed copy of w is 2%
 * (B = 1024) to 11% (B = 128) slower than this one, the copy included.
 * w is (rows, cols), a is (cols, batch) with leading dimension lda, z is (rows, batch). */
static void weighted_input(kernel k, int rows, int cols, int batch, const float *w, const float *a,
                           int lda, float *z)
{
    switch (k) {
    case K_GEMV:
        cblas_sgemv(CblasColMajor, CblasNoTrans, rows, cols, 1.0f, w, rows, a, 1, 0.0f, z, 1);
        break;
    case K_GEMM: /* zeroed, then beta = 1: see weight_gradient */
        memset(z, 0, (size_t)rows * (size_t)batch * sizeof *z);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, rows, batch, cols, 1.0f, w, rows, a,
                    lda, 1.0f, z, rows);
        break;
    case K_LOOPS: bp__loops_forward(rows, cols, batch, w, a, lda, z); break;
    }
}

/* (A) delta^L = grad_a C (.) sigma'(z^L), fused to a^L - y for softmax+NLL and
 * sigmoid+cross-entropy (bp__output_delta); elementwise, so one kernel for every mode. The
 * quadratic cost on an elementwise activation: bp__output_delta with the identity's sigma' gives
 * a - y, then sigma' in one pass over the whole block (from z where the layer keeps it, as its
 * sigma' needs), not bp__output_delta's pass per column: the same products, without a call and a
 * padded block per column, which cost more than the arithmetic on a layer of a few outputs.
 * Softmax with the quadratic cost keeps bp__output_delta's Jacobian per column.
 * d and a^L are (n^L, batch), y is (n^L, batch) with leading dimension ldy; d overwritten. */
static void output_error(const bp_net *net, const bp_workspace *ws, const float *Y, int ldy,
                         float *d)
{
    int L = net->num_layers, nL = net->sizes[L - 1];
    bp_activation act = net->acts[L - 2];
    if (net->cost != BP_QUADRATIC || act == BP_SOFTMAX) {
        bp__output_delta(net->cost, act, ws->act[L], Y, ldy, nL, ws->batch, d);
        return;
    }
    size_t n = (size_t)nL * (size_t)ws->batch;
    bp__output_delta(BP_QUADRATIC, BP_IDENTITY, ws->act[L], Y, ldy, nL, ws->batch, d);
    if (ws->z[L])
        bp__mul_dsigma_z(d, ws->z[L], n, act);
    else
        bp__mul_dsigma(d, ws->act[L], n, act);
}

/* The product of (B) before sigma': y = w^T d. w is (rows, cols), d is (rows, batch), y is
 * (cols, batch) with leading dimension ldy; overwritten. */
static void transposed_product(kernel k, int rows, int cols, int batch, const float *w,
                               const float *d, float *y, int ldy)
{
    switch (k) {
    case K_GEMV:
        cblas_sgemv(CblasColMajor, CblasTrans, rows, cols, 1.0f, w, rows, d, 1, 0.0f, y, 1);
        break;
    case K_GEMM: /* zeroed, then beta = 1: see weight_gradient */
        for (int j = 0; j < batch; j++)
            memset(y + (size_t)j * (size_t)ldy, 0, (size_t)cols * sizeof *y);
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, cols, batch, rows, 1.0f, w, rows, d,
                    rows, 1.0f, y, ldy);
        break;
    case K_LOOPS:
        if (ldy == cols) {
            bp__loops_delta(rows, cols, batch, w, d, y);
            break;
        }
        for (int j = 0; j < batch; j++) /* the loops write contiguous columns: one at a time */
            bp__loops_delta(rows, cols, 1, w, d + (size_t)j * (size_t)rows,
                            y + (size_t)j * (size_t)ldy);
        break;
    }
}

/* (B) delta^{l-1} = ((w^l)^T delta^l) (.) sigma'(z^{l-1}), sigma' computed from a^{l-1}, or from
 * z^{l-1} where the layer keeps it (z non-NULL).
 * w is (rows, cols), d is (rows, batch), a, z and dprev are (cols, batch); dprev overwritten. */
static void hidden_error(kernel k, int rows, int cols, int batch, const float *w, const float *d,
                         const float *a, const float *z, bp_activation act, float *dprev)
{
    transposed_product(k, rows, cols, batch, w, d, dprev, cols);
    size_t n = (size_t)cols * (size_t)batch;
    if (z)
        bp__mul_dsigma_z(dprev, z, n, act);
    else
        bp__mul_dsigma(dprev, a, n, act);
}

/* (C) dC/dw^l = delta^l (a^{l-1})^T summed over the batch: gw (+)= d a^T, one product for the
 * batch's outer products; gw zeroed first under BATCH_OVERWRITE. Zeroed by memset, then sgemm with
 * beta = 1, rather than by sgemm's beta = 0: OpenBLAS runs beta = 0 as a separate pass of its own
 * over gw (sgemm_beta) that costs two to three times the memset (a fifth of a batch-10 step of
 * 784-100-10, perf), then accumulates into the zeros just the same: the same bits either way.
 * The loops overwrite in their first column's pass instead (0 + d a^T, the same bits), with no
 * zeroing pass at all. The transposed form, gw^T = a d^T by sgemm into a scratch and then added
 * transposed into gw, makes the product alone 7-11% faster on 100 x 784 at B = 1024 (OpenBLAS
 * 0.3.21, Zen kernels, one thread), but whole steps of 784-100-10 only 3% (median of 21 runs of
 * 101-201 alternated steps; -1.5% to +2% on an otherwise idle machine): not worth a scratch pass.
 * d is (rows, batch), a is (cols, batch) with leading dimension lda, gw is (rows, cols). */
static void weight_gradient(kernel k, pass_mode mode, int rows, int cols, int batch,
                            const float *d, const float *a, int lda, float *gw)
{
    if (k == K_LOOPS) {
        bp__loops_weight_grad(rows, cols, batch, d, a, lda, gw, mode == BATCH_OVERWRITE);
        return;
    }
    if (mode == BATCH_OVERWRITE)
        memset(gw, 0, (size_t)rows * (size_t)cols * sizeof *gw);
    switch (k) {
    case K_GEMV: cblas_sger(CblasColMajor, rows, cols, 1.0f, d, 1, a, 1, gw, rows); break;
    case K_GEMM:
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, rows, cols, batch, 1.0f, d, rows, a,
                    lda, 1.0f, gw, rows);
        break;
    case K_LOOPS: break;
    }
}

/* (D) dC/db^l = delta^l summed over the batch: gb (+)= d 1, the row sums of d; gb zeroed first
 * under BATCH_OVERWRITE. One sample: cblas_saxpy. A batch: one vectorised loop on every path
 * (bp__loops_bias_grad), not a sgemv against a ones vector: OpenBLAS splits that sgemv between
 * its threads from 9216 elements on, and loses more to waking them than the sums cost.
 * d is (rows, batch), gb is (rows). */
static void bias_gradient(kernel k, pass_mode mode, int rows, int batch, const float *d, float *gb)
{
    if (mode == BATCH_OVERWRITE)
        memset(gb, 0, (size_t)rows * sizeof *gb);
    if (k == K_GEMV) /* one column: the per-sample path, or BP_PATH_AUTO's batch of one */
        cblas_saxpy(rows, 1.0f, d, 1, gb, 1);
    else
        bp__loops_bias_grad(rows, batch, d, gb);
}

/* Whether the pass in progress drops units of layer l (a dropout pass, a rate > 0 there). */
static int drops(const bp_workspace *ws, int l) { return ws->dropping && ws->mask[l]; }

/* What layer l's activations a (n^l x batch, leading dimension lda) give the next layer: a itself,
 * or under dropout a (.) mask^l, written by the forward pass (apply) and read by the backward. */
static const float *layer_input(bp_workspace *ws, int l, int batch, const float *a, int lda,
                                int apply)
{
    if (!drops(ws, l))
        return a;
    if (apply)
        bp__dropout_apply(ws->sizes[l - 1], batch, a, lda, ws->mask[l], ws->dropped[l]);
    return ws->dropped[l];
}

/* Eq. 15 for batch columns of X: A^l = sigma(w^l A^{l-1} + b^l 1^T), l = 2..L, A^1 = X
 * (n^1, batch) with leading dimension ldx; arguments checked by the caller. */
static void forward(const bp_net *net, bp_workspace *ws, pass_mode mode, int batch, const float *X,
                    int ldx)
{
    const float *prev = layer_input(ws, 1, batch, X, ldx, 1);
    int ldp = drops(ws, 1) ? net->sizes[0] : ldx;
    for (int l = 2; l <= net->num_layers; l++) {
        int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
        const float *b = net->params + net->b_off[l];
        float *z = ws->z[l]; /* the layers whose sigma' needs z keep it */
        weighted_input(choose(ws, mode, rows, cols, batch), rows, cols, batch,
                       net->params + net->w_off[l], prev, ldp, z ? z : ws->act[l]);
        if (z)
            bp__bias_activate_z(z, ws->act[l], rows, batch, b, net->acts[l - 2]);
        else
            bp__bias_activate(ws->act[l], rows, batch, b, net->acts[l - 2]);
        prev = layer_input(ws, l, batch, ws->act[l], rows, 1);
        ldp = rows;
    }
    ws->batch = batch;
}

/* Eqs. A-D for the columns of the last forward, from the output layer down; arguments checked by
 * the caller. Layer l's weights w^l are (rows, cols) = (n^l, n^{l-1}); X is (n^1, batch) with
 * leading dimension ldx, Y is (n^L, batch) with leading dimension ldy. */
static void backward(const bp_net *net, bp_workspace *ws, pass_mode mode, const float *X, int ldx,
                     const float *Y, int ldy, float *grad)
{
    int L = net->num_layers, batch = ws->batch;
    float *d = ws->delta[0], *dprev = ws->delta[1];
    output_error(net, ws, Y, ldy, d);
    for (int l = L; l >= 2; l--) {
        int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
        const float *aprev = l == 2 ? X : ws->act[l - 1]; /* a^{l-1}, before any mask */
        int lda = l == 2 ? ldx : cols;
        const float *input = layer_input(ws, l - 1, batch, aprev, lda, 0);
        kernel k = choose(ws, mode, rows, cols, batch);
        weight_gradient(k, mode, rows, cols, batch, d, input, input == aprev ? lda : cols,
                        grad + net->w_off[l]);
        bias_gradient(k, mode, rows, batch, d, grad + net->b_off[l]);
        if (l == 2)
            break; /* no delta for the input layer */
        hidden_error(k, rows, cols, batch, net->params + net->w_off[l], d, aprev, ws->z[l - 1],
                     net->acts[l - 3], dprev);
        if (drops(ws, l - 1)) /* the unit's output was a (.) mask: so is its delta */
            bp__dropout_mask_delta(dprev, ws->mask[l - 1], (size_t)cols * (size_t)batch);
        float *t = d;
        d = dprev;
        dprev = t;
    }
}

/* ---------------------------------------------------------------- for src/deriv.c */
void bp__product(const bp_net *net, const bp_workspace *ws, int l, int batch, const float *x,
                 int ldx, float *y)
{
    int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
    weighted_input(choose(ws, BATCH_OVERWRITE, rows, cols, batch), rows, cols, batch,
                   net->params + net->w_off[l], x, ldx, y);
}

void bp__product_t(const bp_net *net, const bp_workspace *ws, int l, int batch, const float *d,
                   float *y, int ldy)
{
    int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
    transposed_product(choose(ws, BATCH_OVERWRITE, rows, cols, batch), rows, cols, batch,
                       net->params + net->w_off[l], d, y, ldy);
}

void bp__layer_gradient(const bp_net *net, const bp_workspace *ws, int l, int batch,
                        const float *d, const float *x, int ldx, int bias_cols, float *grad)
{
    int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
    kernel k = choose(ws, BATCH_OVERWRITE, rows, cols, batch);
    weight_gradient(k, BATCH_OVERWRITE, rows, cols, batch, d, x, ldx, grad + net->w_off[l]);
    bias_gradient(k, BATCH_OVERWRITE, rows, bias_cols, d, grad + net->b_off[l]);
}

void bp__forward_pass(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx)
{
    forward(net, ws, BATCH_OVERWRITE, batch, X, ldx);
}

bp_status bp_forward(const bp_net *net, bp_workspace *ws, const float *x)
{
    bp__clear_error();
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (!x)
        return bp__fail(BP_ENULL, "x is NULL");
    forward(net, ws, PER_SAMPLE, 1, x, net->sizes[0]);
    return BP_OK;
}

bp_status bp_forward_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx)
{
    bp__clear_error();
    bp_status st = bp__check_batch(net, ws, batch, X, ldx);
    if (st)
        return st;
    forward(net, ws, BATCH_ACCUMULATE, batch, X, ldx);
    return BP_OK;
}

bp_status bp_backward(const bp_net *net, bp_workspace *ws, const float *x, const float *y,
                      float *grad)
{
    bp__clear_error();
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (!x || !y || !grad)
        return bp__fail(BP_ENULL, "%s is NULL", !x ? "x" : !y ? "y" : "grad");
    if (ws->batch != 1)
        return bp__fail(BP_EBATCH, "bp_backward needs a one-sample forward first (last forward: "
                        "batch %d)", ws->batch);
    int nL = net->sizes[net->num_layers - 1];
    backward(net, ws, PER_SAMPLE, x, net->sizes[0], y, nL, grad);
    return BP_OK;
}

bp_status bp_backward_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                            int ldx, const float *Y, int ldy, float *grad)
{
    bp__clear_error();
    bp_status st = bp__check_batch(net, ws, batch, X, ldx);
    if (st)
        return st;
    if ((st = bp__check_matrix("Y (ldy)", Y, net->sizes[net->num_layers - 1], ldy)))
        return st;
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    if (ws->batch != batch)
        return bp__fail(BP_EBATCH, "backward batch %d differs from the last forward's batch %d",
                        batch, ws->batch);
    backward(net, ws, BATCH_ACCUMULATE, X, ldx, Y, ldy, grad);
    return BP_OK;
}

/* The summed cost of the last forward pass (batch columns), NaN when an output is not finite: the
 * cost kernel clamps its logarithms' arguments (a saturated output costs a large finite value),
 * which would otherwise turn a NaN output into a finite loss. */
static double cost_of(const bp_net *net, const bp_workspace *ws, const float *Y, int ldy,
                      int batch)
{
    int L = net->num_layers, nL = net->sizes[L - 1];
    const float *a = ws->act[L];
    float poison = 0; /* 0 * a is NaN exactly when a is NaN or infinite */
    for (size_t i = 0; i < (size_t)nL * (size_t)batch; i++)
        poison += 0.0f * a[i];
    return poison == 0 ? bp__cost(net->cost, a, Y, ldy, nL, batch) : NAN;
}

/* The arguments of the batch gradients: the network/workspace pair, the batch, X, Y and grad. */
static bp_status check_gradient(const bp_net *net, const bp_workspace *ws, int batch,
                                const float *X, int ldx, const float *Y, int ldy, const float *grad)
{
    bp_status st = bp__check_batch(net, ws, batch, X, ldx);
    if (!st)
        st = bp__check_matrix("Y (ldy)", Y, net->sizes[net->num_layers - 1], ldy);
    if (!st && !grad)
        st = bp__fail(BP_ENULL, "grad is NULL");
    return st;
}

bp_status bp_gradient_batch(const bp_net *net, bp_workspace *ws, int batch, const float *X,
                            int ldx, const float *Y, int ldy, float *grad, double *cost)
{
    bp__clear_error();
    bp_status st = check_gradient(net, ws, batch, X, ldx, Y, ldy, grad);
    if (st)
        return st;
    forward(net, ws, BATCH_OVERWRITE, batch, X, ldx);
    if (cost)
        *cost = cost_of(net, ws, Y, ldy, batch);
    backward(net, ws, BATCH_OVERWRITE, X, ldx, Y, ldy, grad);
    return BP_OK;
}

bp_status bp_gradient_dropout(const bp_net *net, bp_workspace *ws, uint64_t key, uint64_t step,
                              int first, int batch, const float *X, int ldx, const float *Y,
                              int ldy, float *grad, double *cost)
{
    bp__clear_error();
    bp_status st = check_gradient(net, ws, batch, X, ldx, Y, ldy, grad);
    if (st)
        return st;
    int L = net->num_layers;
    if (first < 0 || first > INT_MAX - batch)
        return bp__fail(BP_EDIM, "first column %d: must be >= 0, first + batch <= INT_MAX", first);
    bp__dropout_draw(L, net->sizes, ws->rates, key, step, first, batch, ws->mask);
    ws->dropping = 1;
    forward(net, ws, BATCH_OVERWRITE, batch, X, ldx);
    if (cost)
        *cost = cost_of(net, ws, Y, ldy, batch);
    backward(net, ws, BATCH_OVERWRITE, X, ldx, Y, ldy, grad);
    ws->dropping = 0;
    ws->masked = batch;
    return BP_OK;
}

bp_status bp_cost_value(const bp_net *net, const bp_workspace *ws, const float *Y, int ldy,
                        double *cost)
{
    bp__clear_error();
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    int L = net->num_layers, nL = net->sizes[L - 1];
    if ((st = bp__check_matrix("Y (ldy)", Y, nL, ldy)))
        return st;
    if (!cost)
        return bp__fail(BP_ENULL, "cost is NULL");
    if (ws->batch < 1)
        return bp__fail(BP_EBATCH, "no forward pass has run in this workspace");
    *cost = cost_of(net, ws, Y, ldy, ws->batch);
    return BP_OK;
}

bp_status bp_sgd_step(bp_net *net, const float *grad, float eta, int m)
{
    bp__clear_error();
    if (!net || !grad)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "grad" : "net");
    if (m < 1)
        return bp__fail(BP_EDIM, "m is %d, must be >= 1", m);
    if (!isfinite(eta))
        return bp__fail(BP_EVALUE, "eta is not finite");
    bp__loops_axpy(net->num_params, -eta / (float)m, grad, net->params);
    return BP_OK;
}

/* ---------------------------------------------------------------- online learning */

/* Largest |v[i]| of n floats, NaN if one is not finite. It runs on every layer of every sample,
 * so it works on the bit patterns with the sign cleared: there the order of unsigned integers is
 * the order of the magnitudes of the floats that are not NaN, every pattern from infinity's up is
 * infinite or NaN, and sixteen partial integer maxima vectorise (a float select a > m ? a : m
 * does not: GCC keeps it scalar for its NaN rule). */
BP_CLONES static double max_abs(const float *v, int n)
{
    enum { PARTS = 16 };
    const uint32_t magnitude = 0x7fffffffu, infinity = 0x7f800000u;
    uint32_t part[PARTS] = {0}, m = 0, u;
    int i = 0;
    for (; i + PARTS <= n; i += PARTS)
        for (int k = 0; k < PARTS; k++) {
            memcpy(&u, v + i + k, sizeof u);
            u &= magnitude;
            part[k] = u > part[k] ? u : part[k];
        }
    for (; i < n; i++) {
        memcpy(&u, v + i, sizeof u);
        u &= magnitude;
        m = u > m ? u : m;
    }
    for (int k = 0; k < PARTS; k++)
        m = part[k] > m ? part[k] : m;
    float f;
    memcpy(&f, &m, sizeof f);
    return m < infinity ? (double)f : NAN;
}

/* eta max(|delta_i|, 1) max(|a_j|, 1) below 2^100 for every pair of a layer's update: then no
 * finite parameter can overflow (at FLT_MAX the spacing of floats is 2^104, so adding less than
 * half of it rounds back to a finite value), and no intermediate of sger overflows either: it may
 * form eta a_j first, which overflows to inf for a huge a_j even when delta_i is 0, and inf 0 is
 * NaN. */
static const double ONLINE_STEP_LIMIT = 0x1p100;

/* (A) and (B) for the one-sample forward in ws with the weights before the step, every layer's
 * delta^l kept (delta^l at ws->delta[0] + off[l]); BP_ENUMERIC unless every delta is finite and
 * every update of the step stays below ONLINE_STEP_LIMIT. */
static bp_status online_deltas(const bp_net *net, bp_workspace *ws, const float *x, const float *y,
                               float eta, size_t *off)
{
    int L = net->num_layers;
    off[L] = 0;
    for (int l = L; l > 2; l--)
        off[l - 1] = off[l] + (size_t)net->sizes[l - 1];
    float *base = ws->delta[0];
    output_error(net, ws, y, net->sizes[L - 1], base + off[L]);
    for (int l = L; l >= 2; l--) {
        int rows = net->sizes[l - 1], cols = net->sizes[l - 2];
        const float *aprev = l == 2 ? x : ws->act[l - 1];
        double amax = max_abs(aprev, cols), dmax = max_abs(base + off[l], rows); /* NaN stays */
        double bound = fabs((double)eta) * (dmax < 1 ? 1 : dmax) * (amax < 1 ? 1 : amax);
        if (!(bound < ONLINE_STEP_LIMIT))
            return bp__fail(BP_ENUMERIC, "delta^%d is not finite or the step of layer %d could "
                            "overflow", l, l);
        if (l > 2)
            hidden_error(one_column(rows, cols), rows, cols, 1, net->params + net->w_off[l],
                         base + off[l], aprev, ws->z[l - 1], net->acts[l - 3], base + off[l - 1]);
    }
    return BP_OK;
}

/* (C) and (D) fused with the step on layer l (rows x cols), no gradient block: w^l gets
 * -eta d a^T, b^l gets -eta d. */
static void online_update(bp_net *net, int l, int rows, int cols, float eta, const float *d,
                          const float *a)
{
    float *w = net->params + net->w_off[l], *b = net->params + net->b_off[l];
    if (one_column(rows, cols) == K_GEMV) { /* threaded sger on a large layer */
        cblas_sger(CblasColMajor, rows, cols, -eta, d, 1, a, 1, w, rows);
        cblas_saxpy(rows, -eta, d, 1, b, 1);
        return;
    }
    bp__loops_rank1(rows, cols, -eta, d, a, w);
    bp__loops_axpy((size_t)rows, -eta, d, b);
}

bp_status bp_online_step(bp_net *net, bp_workspace *ws, const float *x, const float *y, float eta,
                         double *cost)
{
    bp__clear_error();
    bp_status st = bp__check_pair(net, ws);
    if (st)
        return st;
    if (!x || !y)
        return bp__fail(BP_ENULL, "%s is NULL", x ? "y" : "x");
    if (!isfinite(eta) || eta <= 0)
        return bp__fail(BP_EVALUE, "eta must be finite and > 0");
    int L = net->num_layers, nL = net->sizes[L - 1];
    forward(net, ws, ONLINE, 1, x, net->sizes[0]);
    double c = cost_of(net, ws, y, nL, 1);
    if (cost)
        *cost = c;
    if (!isfinite(c))
        return bp__fail(BP_ENUMERIC, "the cost is not finite");
    size_t off[BP_MAX_LAYERS + 1];
    if ((st = online_deltas(net, ws, x, y, eta, off)))
        return st;
    for (int l = L; l >= 2; l--)
        online_update(net, l, net->sizes[l - 1], net->sizes[l - 2], eta, ws->delta[0] + off[l],
                      l == 2 ? x : ws->act[l - 1]);
    return BP_OK;
}
