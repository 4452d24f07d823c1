/* The workspace's layout, shared by the passes of src/blas.c and the derivative passes of
 * src/deriv.c. Every buffer is contiguous with leading dimension = its rows. */
#ifndef BP_WORKSPACE_H_INCLUDED
#define BP_WORKSPACE_H_INCLUDED

#include "internal.h"

struct bp_workspace {
    int num_layers;             /* shape of the network it was made for */
    int sizes[BP_MAX_LAYERS];
    bp_activation acts[BP_MAX_LAYERS]; /* acts[l-2] for layer l: which layers keep z */
    int max_batch;
    int batch;                  /* columns of the last forward; 0 = none yet */
    bp_path path;               /* kernels of the batched passes */
    int tangent;                /* 1: made by bp_workspace_create_tangent (the buffers below) */
    /* act[l], l = 2..L: a^l, n^l x max_batch (ld = n^l). In a tangent workspace n^l x 2 max_batch:
     * the tangent a-dot^l of a batch of B follows a^l at column B, so [a^l a-dot^l] is one
     * n^l x 2B matrix for the fused products of the force gradient. */
    float *act[BP_MAX_LAYERS + 1];
    /* z[l]: z^l, n^l x max_batch, only for the layers whose sigma' needs z (bp__needs_z); NULL
     * for the others, whose sigma' is computed from a^l. */
    float *z[BP_MAX_LAYERS + 1];
    /* Tangent workspace only (NULL otherwise): z-dot^l = w^l a-dot^{l-1}, n^l x max_batch, and
     * [X R], n^1 x 2 max_batch: the inputs and the input tangents side by side. */
    float *zdot[BP_MAX_LAYERS + 1];
    float *input;
    /* ping-pong delta^l buffers, max width x max_batch (x 2 max_batch in a tangent workspace:
     * [z-bar z-dot-bar] of the force gradient's backward), adjacent and at least sum_l n^l floats
     * together (bp_online_step keeps every layer's delta there) */
    float *delta[2];
    /* standardised inputs (n^1 x max_batch) and targets (n^L x max_batch) of bp_predict and the
     * evaluations */
    float *x_std, *y_std;
    float *block;               /* the single allocation all of the above point into */
    /* Dropout (bp_workspace_set_dropout), for layers l = 1..L-1 whose rate is > 0, else NULL: */
    float rates[BP_MAX_LAYERS]; /* rates[l-1]: layer l's rate */
    float *mask[BP_MAX_LAYERS]; /* mask[l]: n^l x max_batch, 0 or 1/(1-p) */
    float *dropped[BP_MAX_LAYERS]; /* dropped[l] = a^l (.) mask[l], the next layer's input */
    float *drop_block;          /* the allocation of mask and dropped */
    int dropping;               /* the pass in progress applies the masks (bp_gradient_dropout) */
    int masked;                 /* columns of the masks of the last dropout pass; 0 = none */
};

/* How the derivative passes (src/deriv.c) reach the products of src/blas.c. Each picks its kernel
 * (sgemm, sgemv, the own loops) by the workspace's path for batch columns, as the batched passes
 * do; matrices are contiguous unless an ld is given. */
/* y = w x: w is (rows, cols) at net's layer l, x is (cols, batch) with leading dimension ldx, y
 * is (rows, batch), overwritten. */
void bp__product(const bp_net *net, const bp_workspace *ws, int l, int batch, const float *x,
                 int ldx, float *y);
/* y = (w^l)^T d: d is (rows, batch), y is (cols, batch) with leading dimension ldy, overwritten. */
void bp__product_t(const bp_net *net, const bp_workspace *ws, int l, int batch, const float *d,
                   float *y, int ldy);
/* (C) and (D) of layer l, overwritten: gw = d x^T over batch columns (x: ldx), gb = the row sums
 * of the first bias_cols columns of d. */
void bp__layer_gradient(const bp_net *net, const bp_workspace *ws, int l, int batch,
                        const float *d, const float *x, int ldx, int bias_cols, float *grad);
/* Eq. 15 for batch columns of X (checked by the caller), the batched passes' kernels. */
void bp__forward_pass(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx);
/* Checks of the batched entry points: network/workspace pair, 1 <= batch <= max_batch, X. */
bp_status bp__check_batch(const bp_net *net, const bp_workspace *ws, int batch, const float *X,
                          int ldx);
/* The workspace/network pair only. */
bp_status bp__check_pair(const bp_net *net, const bp_workspace *ws);

#endif
