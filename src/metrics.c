/* Regression metrics in the data's units (backprop.h, bp_regression_metrics): RMSE, MAE and R^2
 * per output and overall, accumulated in double, from arrays or from a network on a dataset. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ybar_i: the mean of row i of Y (rows x cols, ldy), in double. */
static void row_means(int rows, int cols, const float *Y, int ldy, double *ymean)
{
    for (int i = 0; i < rows; i++)
        ymean[i] = 0;
    for (size_t j = 0; j < (size_t)cols; j++)
        for (int i = 0; i < rows; i++)
            ymean[i] += Y[j * (size_t)ldy + (size_t)i];
    for (int i = 0; i < rows; i++)
        ymean[i] /= cols;
}

void bp__regression_sums(int rows, int cols, const float *P, int ldp, const float *Y, int ldy,
                         const double *ymean, double *sums)
{
    for (size_t j = 0; j < (size_t)cols; j++) {
        const float *p = P + j * (size_t)ldp, *y = Y + j * (size_t)ldy;
        for (int i = 0; i < rows; i++) {
            double e = (double)p[i] - y[i], t = y[i] - ymean[i];
            sums[3 * i] += e * e;
            sums[3 * i + 1] += fabs(e);
            sums[3 * i + 2] += t * t;
        }
    }
}

/* The metrics of the sums of count samples over rows outputs. */
static void finish(int rows, int count, const double *sums, bp_regression_metrics *overall,
                   bp_regression_metrics *per_output)
{
    double sse = 0, sae = 0, r2 = 0, n = count;
    for (int i = 0; i < rows; i++) {
        const double *s = sums + 3 * i;
        double r2_i = s[2] > 0 ? 1 - s[0] / s[2] : NAN;
        if (per_output)
            per_output[i] = (bp_regression_metrics){sqrt(s[0] / n), s[1] / n, r2_i};
        sse += s[0];
        sae += s[1];
        r2 += r2_i;
    }
    if (overall)
        *overall = (bp_regression_metrics){sqrt(sse / (n * rows)), sae / (n * rows), r2 / rows};
}

bp_status bp_regression_metrics_compute(int n_outputs, int count, const float *P, int ldp,
                                        const float *Y, int ldy, bp_regression_metrics *overall,
                                        bp_regression_metrics *per_output)
{
    bp__clear_error();
    if (n_outputs < 1 || count < 1)
        return bp__fail(BP_EDIM, "n_outputs %d and count %d must be >= 1", n_outputs, count);
    bp_status st = bp__check_matrix("P (ldp)", P, n_outputs, ldp);
    if (!st)
        st = bp__check_matrix("Y (ldy)", Y, n_outputs, ldy);
    if (st)
        return st;
    double *work = bp__calloc(4 * (size_t)n_outputs, sizeof *work); /* ybar, then 3 sums each */
    if (!work)
        return bp__fail(BP_ENOMEM, "the sums of %d outputs", n_outputs);
    row_means(n_outputs, count, Y, ldy, work);
    bp__regression_sums(n_outputs, count, P, ldp, Y, ldy, work, work + n_outputs);
    finish(n_outputs, count, work + n_outputs, overall, per_output);
    bp__free(work);
    return BP_OK;
}

static bp_status check_regression_set(const bp_net *net, const bp_dataset *ds)
{
    if (!net || !ds)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "ds" : "net");
    if (ds->count < 1 || !ds->x || !ds->y)
        return bp__fail(BP_EDIM, "ds is empty (count %d) or lacks x/y", ds->count);
    int nL = net->sizes[net->num_layers - 1];
    if (ds->n_features != net->sizes[0] || ds->n_targets != nL)
        return bp__fail(BP_EMISMATCH, "ds has %d features and %d targets, network has %d inputs "
                        "and %d outputs", ds->n_features, ds->n_targets, net->sizes[0], nL);
    return BP_OK;
}

/* The sums of net's predictions on ds, chunk samples at a time through ws (max_batch chunk). */
static bp_status sum_predictions(const bp_net *net, bp_workspace *ws, int chunk,
                                 const bp_dataset *ds, const double *ymean, double *sums)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    float *xs, *pred; /* the predictions go where the standardised targets would */
    bp__workspace_scratch(ws, &xs, &pred);
    for (int first = 0, b; first < ds->count; first += b) {
        b = ds->count - first < chunk ? ds->count - first : chunk;
        const float *Y = ds->y + (size_t)first * (size_t)nL;
        bp_status st = bp_predict(net, ws, b, ds->x + (size_t)first * (size_t)n1, n1, pred, nL);
        if (st)
            return st;
        bp__regression_sums(nL, b, pred, nL, Y, nL, ymean, sums);
    }
    return BP_OK;
}

bp_status bp_evaluate_regression(const bp_net *net, const bp_dataset *ds,
                                 bp_regression_metrics *overall, bp_regression_metrics *per_output)
{
    bp__clear_error();
    bp_status st = check_regression_set(net, ds);
    if (st)
        return st;
    enum { CHUNK = 256 };
    int chunk = ds->count < CHUNK ? ds->count : CHUNK, nL = net->sizes[net->num_layers - 1];
    double *work = bp__calloc(4 * (size_t)nL, sizeof *work);
    if (!work)
        return bp__fail(BP_ENOMEM, "the sums of %d outputs", nL);
    bp_workspace *ws = NULL;
    row_means(nL, ds->count, ds->y, nL, work);
    if (!(st = bp_workspace_create(&ws, net, chunk)) &&
        !(st = sum_predictions(net, ws, chunk, ds, work, work + nL)))
        finish(nL, ds->count, work + nL, overall, per_output);
    bp_workspace_free(ws);
    bp__free(work);
    return st;
}
