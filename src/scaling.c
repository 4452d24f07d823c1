/* The standardisation a network carries (x' = (x - mean) / scale into layer 1, y = scale_y a^L +
 * mean_y out of it), its statistics from a dataset, one-call inference on raw data, and the
 * regression metrics (RMSE, MAE, R^2) in the data's units. The equations themselves (blas.c) never
 * see the scaling: it is applied to copies of the columns, on the way in and on the way out. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- the columns */

void bp__standardize(const float *ms, int rows, int cols, const float *src, int lds, float *dst,
                     int ldd)
{
    for (size_t j = 0; j < (size_t)cols; j++) {
        const float *s = src + j * (size_t)lds;
        float *d = dst + j * (size_t)ldd;
        for (int i = 0; i < rows; i++)
            d[i] = ms ? (s[i] - ms[i]) / ms[rows + i] : s[i];
    }
}

void bp__unstandardize(const float *ms, int rows, int cols, const float *src, int lds, float *dst,
                       int ldd)
{
    for (size_t j = 0; j < (size_t)cols; j++) {
        const float *s = src + j * (size_t)lds;
        float *d = dst + j * (size_t)ldd;
        for (int i = 0; i < rows; i++)
            d[i] = ms ? ms[rows + i] * s[i] + ms[i] : s[i];
    }
}

/* ---------------------------------------------------------------- set, get */

static int same_side(const float *a, const float *b, int n)
{
    return a == b || (a && b && memcmp(a, b, 2 * (size_t)n * sizeof *a) == 0);
}

int bp__same_scaling(const bp_net *a, const bp_net *b)
{
    return same_side(a->in_scaling, b->in_scaling, a->sizes[0]) &&
           same_side(a->out_scaling, b->out_scaling, a->sizes[a->num_layers - 1]);
}

bp_status bp__scaling_check(int n, const float *mean, const float *scale, const char *side)
{
    for (int i = 0; i < n; i++) {
        if (!isfinite(mean[i]))
            return bp__fail(BP_EVALUE, "%s scaling: mean[%d] is not finite", side, i);
        if (!isfinite(scale[i]) || !(scale[i] >= FLT_MIN))
            return bp__fail(BP_EVALUE, "%s scaling: scale[%d] = %g is not a finite float >= "
                            "FLT_MIN", side, i, (double)scale[i]);
    }
    return BP_OK;
}

bp_status bp__scaling_copy(float **dst, int n, const float *mean, const float *scale,
                           const char *side)
{
    if (!mean != !scale)
        return bp__fail(BP_ENULL, "%s scaling: %s is NULL but %s is not", side,
                        mean ? "scale" : "mean", mean ? "mean" : "scale");
    bp_status st = mean ? bp__scaling_check(n, mean, scale, side) : BP_OK;
    if (st)
        return st;
    float *copy = NULL;
    if (mean) {
        if (!(copy = bp__calloc(2 * (size_t)n, sizeof *copy)))
            return bp__fail(BP_ENOMEM, "%s scaling of %d floats", side, 2 * n);
        memcpy(copy, mean, (size_t)n * sizeof *copy);
        memcpy(copy + n, scale, (size_t)n * sizeof *copy);
    }
    bp__free(*dst);
    *dst = copy;
    return BP_OK;
}

static bp_status check_side(bp_scaling_side side)
{
    if (side != BP_SCALE_INPUTS && side != BP_SCALE_TARGETS)
        return bp__fail(BP_EDIM, "side is %d, not a bp_scaling_side", (int)side);
    return BP_OK;
}

bp_status bp_net_set_scaling(bp_net *net, bp_scaling_side side, const float *mean,
                             const float *scale)
{
    bp__clear_error();
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    bp_status st = check_side(side);
    if (st)
        return st;
    if (side == BP_SCALE_INPUTS)
        return bp__scaling_copy(&net->in_scaling, net->sizes[0], mean, scale, "input");
    if (mean && net->cost != BP_QUADRATIC)
        return bp__fail(BP_ECONFIG, "target scaling needs the quadratic cost, not %s (its targets "
                        "must stay in [0,1])", bp_cost_name(net->cost));
    return bp__scaling_copy(&net->out_scaling, net->sizes[net->num_layers - 1], mean, scale,
                            "target");
}

bp_status bp_net_get_scaling(const bp_net *net, bp_scaling_side side, const float **mean,
                             const float **scale)
{
    bp__clear_error();
    if (!net || !mean || !scale)
        return bp__fail(BP_ENULL, "%s is NULL", !net ? "net" : !mean ? "mean" : "scale");
    bp_status st = check_side(side);
    if (st)
        return st;
    const float *ms = side == BP_SCALE_INPUTS ? net->in_scaling : net->out_scaling;
    int n = side == BP_SCALE_INPUTS ? net->sizes[0] : net->sizes[net->num_layers - 1];
    *mean = ms;
    *scale = ms ? ms + n : NULL;
    return BP_OK;
}

/* ---------------------------------------------------------------- statistics */

/* mean and standard deviation of row i of v (rows x count, ld rows), two passes in double. */
static void row_moments(const float *v, int rows, int count, int i, double *mean, double *sd)
{
    double sum = 0, ss = 0;
    for (size_t j = 0; j < (size_t)count; j++)
        sum += v[j * (size_t)rows + (size_t)i];
    *mean = sum / count;
    for (size_t j = 0; j < (size_t)count; j++) {
        double d = v[j * (size_t)rows + (size_t)i] - *mean;
        ss += d * d;
    }
    *sd = sqrt(ss / count);
}

/* The scale of a row of mean m and standard deviation sd, 1 for a row taken as constant (then
 * only centred). Relative: a spread within 10 FLT_EPSILON of |m| is the float rounding of one
 * value (a few ulps), not a signal, and the test does not depend on the data's units. Absolute:
 * below 2^-63 = sqrt(FLT_MIN), where no relative test helps (a row of zeros and one 1e-37), since
 * then 1 / scale would exceed 2^63 and amplify any input off the training values by as much; the
 * floor keeps 1 / scale within half of float's exponent range. */
static float row_scale(double m, double sd)
{
    if (sd <= 10 * FLT_EPSILON * fabs(m) || sd < 0x1p-63)
        return 1.0f;
    return (float)sd;
}

bp_status bp_dataset_standardization(const bp_dataset *ds, bp_scaling_side side, float *mean,
                                     float *scale)
{
    bp__clear_error();
    if (!ds || !mean || !scale)
        return bp__fail(BP_ENULL, "%s is NULL", !ds ? "ds" : !mean ? "mean" : "scale");
    bp_status st = check_side(side);
    if (st)
        return st;
    const float *v = side == BP_SCALE_INPUTS ? ds->x : ds->y;
    int rows = side == BP_SCALE_INPUTS ? ds->n_features : ds->n_targets;
    if (ds->count < 1 || rows < 1 || !v)
        return bp__fail(BP_EDIM, "ds is empty (count %d, %d rows) or lacks its %s", ds->count,
                        rows, side == BP_SCALE_INPUTS ? "x" : "y");
    for (int i = 0; i < rows; i++) {
        double m, sd;
        row_moments(v, rows, ds->count, i, &m, &sd);
        if (!isfinite(m) || !isfinite(sd) || fabs(m) > FLT_MAX || sd > FLT_MAX)
            return bp__fail(BP_EVALUE, "row %d: mean %g, standard deviation %g: not finite "
                            "floats (a value is not finite, or the values are too large)", i, m,
                            sd);
        mean[i] = (float)m;
        scale[i] = row_scale(m, sd);
    }
    return BP_OK;
}

/* ---------------------------------------------------------------- inference */

bp_status bp__forward_raw(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx)
{
    if (!net || !net->in_scaling)
        return bp_forward_batch(net, ws, batch, X, ldx);
    bp_status st = bp__check_batch(net, ws, batch, X, ldx); /* before writing into ws */
    if (st)
        return st;
    float *xs, *ys;
    bp__workspace_scratch(ws, &xs, &ys);
    bp__standardize(net->in_scaling, net->sizes[0], batch, X, ldx, xs, net->sizes[0]);
    return bp_forward_batch(net, ws, batch, xs, net->sizes[0]);
}

bp_status bp_predict(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx,
                     float *Y, int ldy)
{
    bp__clear_error();
    bp_status st = bp__check_io(net, batch, X, ldx, "Y", Y, ldy);
    if (!st)
        st = bp__forward_raw(net, ws, batch, X, ldx);
    if (st)
        return st;
    int L = net->num_layers, ld;
    const float *a;
    bp_workspace_activations(ws, L, &a, &ld);
    bp__unstandardize(net->out_scaling, net->sizes[L - 1], batch, a, ld, Y, ldy);
    return BP_OK;
}
