/* Finite-difference checks of the BLAS path: the parameter gradient of the cost (bp_gradcheck) and
 * of the energy + force loss (bp_forcecheck), and the derivatives with respect to the inputs
 * (bp_vjpcheck, bp_jvpcheck). The function differenced is evaluated by the naive reference in
 * double with the parameters (and inputs) held in double, so the step h can be small (1e-6)
 * without the float rounding of the parameters swamping the difference. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

static double rel_err(double g, double fd, double floor)
{
    double den = fmax(fmax(fabs(g), fabs(fd)), floor);
    return fabs(g - fd) / den;
}

/* worst <- max(worst, e); a NaN error sticks. */
static void keep_worst(double *worst, double e)
{
    if (!(e <= *worst))
        *worst = e;
}

/* The options with their defaults filled in: *h the step, *floor the denominator floor. */
static bp_status read_options(const bp_gradcheck_options *opts, bp_gradcheck_options *o,
                              double *h, double *floor)
{
    *o = (bp_gradcheck_options){0};
    if (opts)
        *o = *opts;
    if (!(o->step >= 0) || !isfinite(o->step) || !(o->floor >= 0) || !isfinite(o->floor))
        return bp__fail(BP_EVALUE, "opts->step and opts->floor must be finite and >= 0");
    if (o->per_layer < 0)
        return bp__fail(BP_EDIM, "opts->per_layer is %d, must be >= 0", o->per_layer);
    *h = o->step > 0 ? o->step : 1e-6;
    *floor = o->floor > 0 ? o->floor : 1e-4;
    return BP_OK;
}

/* The function a parameter check differences: *value at the parameters theta (double). */
typedef bp_status (*objective_fn)(const bp_net *net, const double *theta, const void *ctx,
                                  double *value);

typedef struct cost_ctx {
    int batch;
    const float *X, *Y;
    int ldx, ldy;
} cost_ctx;

static bp_status summed_cost(const bp_net *net, const double *theta, const void *ctx, double *value)
{
    const cost_ctx *c = ctx;
    return bp__naive_run(net, theta, c->batch, c->X, c->ldx, c->Y, c->ldy, NULL, 0, NULL, value);
}

static bp_status force_loss(const bp_net *net, const double *theta, const void *ctx, double *value)
{
    return bp__naive_forces(net, theta, ctx, NULL, value);
}

/* max_rel_err[l-2] = max over the checked parameters of layer l of the relative error of the
 * analytic g against the central difference of f; theta is restored. */
static bp_status compare_per_layer(const bp_net *net, double *theta, const float *g,
                                   const bp_gradcheck_options *o, double h, double floor,
                                   objective_fn f, const void *ctx, double *max_rel_err)
{
    bp__rng rng;
    bp__rng_seed(&rng, o->seed);
    for (int l = 2; l <= net->num_layers; l++) {
        size_t first = net->w_off[l], count = net->b_off[l] + (size_t)net->sizes[l - 1] - first;
        /* as many draws as the layer has parameters, or more, check all of them instead */
        int drawn = o->per_layer > 0 && (size_t)o->per_layer < count;
        size_t checks = drawn ? (size_t)o->per_layer : count;
        double worst = 0;
        for (size_t c = 0; c < checks; c++) {
            size_t i = first + (drawn ? (size_t)bp__rng_below(&rng, count) : c);
            double saved = theta[i], fp, fm;
            theta[i] = saved + h;
            bp_status st = f(net, theta, ctx, &fp);
            theta[i] = saved - h;
            if (!st)
                st = f(net, theta, ctx, &fm);
            theta[i] = saved;
            if (st)
                return st;
            keep_worst(&worst, rel_err(g[i], (fp - fm) / (2 * h), floor));
        }
        max_rel_err[l - 2] = worst;
    }
    return BP_OK;
}

/* The analytic gradient a parameter check compares with: g (zeroed, num_params floats). */
typedef bp_status (*analytic_fn)(const bp_net *net, const void *ctx, float *g);

static bp_status cost_gradient(const bp_net *net, const void *ctx, float *g)
{
    const cost_ctx *c = ctx;
    bp_workspace *ws = NULL;
    bp_status st = bp_workspace_create(&ws, net, c->batch);
    if (!st && !(st = bp_forward_batch(net, ws, c->batch, c->X, c->ldx)))
        st = bp_backward_batch(net, ws, c->batch, c->X, c->ldx, c->Y, c->ldy, g);
    bp_workspace_free(ws);
    return st;
}

static bp_status force_gradient(const bp_net *net, const void *ctx, float *g)
{
    const bp__force_batch *fb = ctx;
    bp_workspace *ws = NULL;
    bp_status st = bp_workspace_create_tangent(&ws, net, fb->batch);
    if (!st)
        st = bp_gradient_forces(net, ws, fb->batch, fb->X, fb->ldx, fb->E, fb->lde, fb->F, fb->ldf,
                                fb->w_energy, fb->w_force, g, NULL);
    bp_workspace_free(ws);
    return st;
}

/* A parameter check whose arguments (in ctx) are valid: the analytic gradient against the central
 * differences of f, per layer. */
static bp_status check_parameters(const bp_net *net, const bp_gradcheck_options *opts,
                                  analytic_fn analytic_gradient, objective_fn f, const void *ctx,
                                  double *max_rel_err)
{
    if (!max_rel_err)
        return bp__fail(BP_ENULL, "max_rel_err is NULL");
    bp_gradcheck_options o;
    double h = 0, floor = 0;
    bp_status st = read_options(opts, &o, &h, &floor);
    if (st)
        return st;
    float *g = bp__calloc(net->num_params, sizeof *g);
    double *theta = NULL;
    if (!g)
        st = bp__fail(BP_ENOMEM, "gradient of %zu floats", net->num_params);
    else if (!(st = bp__params_to_double(net, &theta)) && !(st = analytic_gradient(net, ctx, g)))
        st = compare_per_layer(net, theta, g, &o, h, floor, f, ctx, max_rel_err);
    bp__free(theta);
    bp__free(g);
    return st;
}

bp_status bp_gradcheck(const bp_net *net, int batch, const float *X, int ldx, const float *Y,
                       int ldy, const bp_gradcheck_options *opts, double *max_rel_err)
{
    bp__clear_error();
    bp_status st = bp__check_io(net, batch, X, ldx, "Y (ldy)", Y, ldy);
    cost_ctx ctx = {batch, X, Y, ldx, ldy};
    return st ? st : check_parameters(net, opts, cost_gradient, summed_cost, &ctx, max_rel_err);
}

bp_status bp_forcecheck(const bp_net *net, int batch, const float *X, int ldx, const float *E,
                        int lde, const float *F, int ldf, float w_energy, float w_force,
                        const bp_gradcheck_options *opts, double *max_rel_err)
{
    bp__clear_error();
    bp__force_batch fb = {batch, X, ldx, E, lde, F, ldf, w_energy, w_force};
    bp_status st = bp__check_forces(net, &fb);
    return st ? st : check_parameters(net, opts, force_gradient, force_loss, &fb, max_rel_err);
}

/* Scratch of the input checks: the parameters and one input in double, the outputs at x +- h. */
typedef struct input_scratch {
    double *theta, *x, *plus, *minus;
    float *result; /* the BLAS path's G or A-dot */
} input_scratch;

static bp_status scratch_create(const bp_net *net, int batch, int result_rows, input_scratch *s)
{
    *s = (input_scratch){0};
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    size_t cells;
    if (!bp__mul_size((size_t)result_rows, (size_t)batch, &cells) ||
        !bp__mul_size(cells, sizeof(float), &cells))
        return bp__fail(BP_EOVERFLOW, "%d x %d results overflow size_t", result_rows, batch);
    bp_status st = bp__params_to_double(net, &s->theta);
    if (st)
        return st;
    s->x = bp__malloc(((size_t)n1 + 2 * (size_t)nL) * sizeof(double));
    s->result = bp__malloc(cells);
    if (!s->x || !s->result)
        return bp__fail(BP_ENOMEM, "scratch of an input check");
    s->plus = s->x + n1;
    s->minus = s->plus + nL;
    return BP_OK;
}

static void scratch_free(input_scratch *s)
{
    bp__free(s->theta);
    bp__free(s->x);
    bp__free(s->result);
}

/* a^L at x0 + t dir and x0 - t dir (x0 floats; dir floats, or e_k when dir is NULL). */
static bp_status outputs_pm(const bp_net *net, input_scratch *s, const float *x0, const float *dir,
                            int k, double t)
{
    int n1 = net->sizes[0];
    for (int i = 0; i < n1; i++)
        s->x[i] = x0[i] + t * (dir ? dir[i] : i == k);
    bp_status st = bp__naive_outputs_at(net, s->theta, s->x, s->plus);
    for (int i = 0; i < n1; i++)
        s->x[i] = x0[i] - t * (dir ? dir[i] : i == k);
    return st ? st : bp__naive_outputs_at(net, s->theta, s->x, s->minus);
}

/* The analytic derivative of the BLAS path into s->result (n^1 x batch for the VJP, n^L x batch
 * for the JVP). */
static bp_status analytic(const bp_net *net, int vjp, int batch, const float *X, int ldx,
                          const float *S, int lds, float *R)
{
    int rows = vjp ? net->sizes[0] : net->sizes[net->num_layers - 1];
    bp_workspace *ws = NULL;
    bp_status st = bp_workspace_create(&ws, net, batch);
    if (!st && !(st = bp__forward_raw(net, ws, batch, X, ldx))) /* X raw on a scaled net */
        st = vjp ? bp_vjp_batch(net, ws, batch, S, lds, R, rows)
                 : bp_jvp_batch(net, ws, batch, S, lds, R, rows);
    bp_workspace_free(ws);
    return st;
}

/* Worst relative error over sample j (inputs x0, seed, analytic r) of the VJP (G_kj against the
 * central difference of seed^T a^L along x_k, for every k or per_layer drawn ones) or of the JVP
 * (A-dot_ij against the central difference of a_i^L along the seed u_j). */
static bp_status compare_sample(const bp_net *net, int vjp, input_scratch *s, const float *x0,
                                const float *seed, const float *r, const bp_gradcheck_options *o,
                                bp__rng *rng, double h, double floor, double *worst)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    bp_status st;
    if (!vjp) {
        if ((st = outputs_pm(net, s, x0, seed, 0, h)))
            return st;
        for (int i = 0; i < nL; i++)
            keep_worst(worst, rel_err(r[i], (s->plus[i] - s->minus[i]) / (2 * h), floor));
        return BP_OK;
    }
    int drawn = o->per_layer > 0 && o->per_layer < n1; /* else every input, as for 0 */
    int checks = drawn ? o->per_layer : n1;
    for (int c = 0; c < checks; c++) {
        int k = drawn ? (int)bp__rng_below(rng, (uint64_t)n1) : c;
        if ((st = outputs_pm(net, s, x0, NULL, k, h)))
            return st;
        double fd = 0;
        for (int i = 0; i < nL; i++)
            fd += seed[i] * (s->plus[i] - s->minus[i]) / (2 * h);
        keep_worst(worst, rel_err(r[k], fd, floor));
    }
    return BP_OK;
}

/* bp_vjpcheck (vjp = 1) and bp_jvpcheck (vjp = 0). */
static bp_status check_inputs(const bp_net *net, int vjp, int batch, const float *X, int ldx,
                              const float *S, int lds, const bp_gradcheck_options *opts,
                              double *max_rel_err)
{
    bp__clear_error();
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1], rows = vjp ? n1 : nL;
    bp_status st = bp__check_matrix("X (ldx)", X, n1, ldx);
    if (st || (st = bp__check_matrix(vjp ? "V (ldv)" : "U (ldu)", S, vjp ? nL : n1, lds)))
        return st;
    if (!max_rel_err)
        return bp__fail(BP_ENULL, "max_rel_err is NULL");
    bp_gradcheck_options o;
    double h = 0, floor = 0, worst = 0;
    if ((st = read_options(opts, &o, &h, &floor)))
        return st;
    input_scratch s;
    bp__rng rng;
    bp__rng_seed(&rng, o.seed);
    if (!(st = scratch_create(net, batch, rows, &s)))
        st = analytic(net, vjp, batch, X, ldx, S, lds, s.result);
    for (int j = 0; j < batch && !st; j++)
        st = compare_sample(net, vjp, &s, X + (size_t)j * (size_t)ldx, S + (size_t)j * (size_t)lds,
                            s.result + (size_t)j * (size_t)rows, &o, &rng, h, floor, &worst);
    scratch_free(&s);
    if (!st)
        *max_rel_err = worst;
    return st;
}

bp_status bp_vjpcheck(const bp_net *net, int batch, const float *X, int ldx, const float *V,
                      int ldv, const bp_gradcheck_options *opts, double *max_rel_err)
{
    return check_inputs(net, 1, batch, X, ldx, V, ldv, opts, max_rel_err);
}

bp_status bp_jvpcheck(const bp_net *net, int batch, const float *X, int ldx, const float *U,
                      int ldu, const bp_gradcheck_options *opts, double *max_rel_err)
{
    return check_inputs(net, 0, batch, X, ldx, U, ldu, opts, max_rel_err);
}
