/* Finite-difference check of the BLAS path's gradient. The cost is evaluated by the naive
 * reference in double with the parameters held in double, so the step h can be small (1e-6)
 * without the float rounding of the parameters swamping the difference. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

static double rel_err(double g, double fd, double floor)
{
    double den = fmax(fmax(fabs(g), fabs(fd)), floor);
    return fabs(g - fd) / den;
}

bp_status bp_gradcheck(const bp_net *net, int batch, const float *X, int ldx, const float *Y,
                       int ldy, const bp_gradcheck_options *opts, double *max_rel_err)
{
    bp__clear_error();
    bp_status st = bp__check_io(net, batch, X, ldx, "Y (ldy)", Y, ldy);
    if (st)
        return st;
    if (!max_rel_err)
        return bp__fail(BP_ENULL, "max_rel_err is NULL");
    bp_gradcheck_options o = {0};
    if (opts)
        o = *opts;
    if (!(o.step >= 0) || !isfinite(o.step) || !(o.floor >= 0) || !isfinite(o.floor))
        return bp__fail(BP_EVALUE, "opts->step and opts->floor must be finite and >= 0");
    if (o.per_layer < 0)
        return bp__fail(BP_EDIM, "opts->per_layer is %d, must be >= 0", o.per_layer);
    double h = o.step > 0 ? o.step : 1e-6, floor = o.floor > 0 ? o.floor : 1e-4;

    bp_workspace *ws = NULL;
    float *g = bp__calloc(net->num_params, sizeof *g);
    double *theta = NULL;
    if (!g) {
        st = bp__fail(BP_ENOMEM, "gradient of %zu floats", net->num_params);
        goto done;
    }
    if ((st = bp__params_to_double(net, &theta)) || (st = bp_workspace_create(&ws, net, batch)) ||
        (st = bp_forward_batch(net, ws, batch, X, ldx)) ||
        (st = bp_backward_batch(net, ws, batch, X, ldx, Y, ldy, g)))
        goto done;

    bp__rng rng;
    bp__rng_seed(&rng, o.seed);
    for (int l = 2; l <= net->num_layers; l++) {
        size_t first = net->w_off[l], count = net->b_off[l] + (size_t)net->sizes[l - 1] - first;
        size_t checks = o.per_layer > 0 ? (size_t)o.per_layer : count;
        double worst = 0;
        for (size_t c = 0; c < checks; c++) {
            size_t i = first + (o.per_layer > 0 ? (size_t)bp__rng_below(&rng, count) : c);
            double saved = theta[i], cp, cm;
            theta[i] = saved + h;
            st = bp__naive_run(net, theta, batch, X, ldx, Y, ldy, NULL, 0, NULL, &cp);
            theta[i] = saved - h;
            if (!st)
                st = bp__naive_run(net, theta, batch, X, ldx, Y, ldy, NULL, 0, NULL, &cm);
            theta[i] = saved;
            if (st)
                goto done;
            double e = rel_err(g[i], (cp - cm) / (2 * h), floor);
            if (!(e <= worst)) /* a NaN error sticks */
                worst = e;
        }
        max_rel_err[l - 2] = worst;
    }
done:
    bp_workspace_free(ws);
    bp__free(theta);
    bp__free(g);
    return st;
}
