/* Optimizers over the contiguous parameter block: SGD, momentum, Nesterov, Adam, with L2 weight
 * decay in the gradient and decoupled weight decay (AdamW's) outside it, both on the weights (not
 * the biases), and optional gradient-norm clipping. State is allocated
 * once in bp_optim_create; a step allocates nothing. */
#include "internal.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

struct bp_optim {
    bp_optim_config cfg;
    size_t num_params;
    float *v; /* velocity (momentum, Nesterov) or Adam's second moment */
    float *m; /* Adam's first moment */
    long t;   /* steps taken, for Adam's bias correction */
};

/* The decoupled decay's factor 1 - eta weight_decay must not be negative: below 0 every step
 * flips the weights' signs, below -1 it also grows them, until the run overflows (or, with finite
 * but huge weights, "succeeds"). The product in float, so that eta 0.1f and weight_decay 10
 * (exactly 1 as a float, a decay to zero) pass. */
static bp_status check_decay(float eta, float weight_decay)
{
    if (eta * weight_decay > 1.0f)
        return bp__fail(BP_EVALUE, "eta %g times weight_decay %g is %g, above 1: the decay "
                        "1 - eta weight_decay would flip the weights' signs at every step",
                        (double)eta, (double)weight_decay, (double)eta * weight_decay);
    return BP_OK;
}

static bp_status check_config(const bp_optim_config *c)
{
    if (c->kind < BP_OPT_SGD || c->kind > BP_OPT_ADAM)
        return bp__fail(BP_EDIM, "optimizer kind %d is not a bp_optimizer_kind", (int)c->kind);
    if (!isfinite(c->eta) || c->eta <= 0)
        return bp__fail(BP_EVALUE, "eta must be finite and > 0");
    if (!isfinite(c->lambda) || c->lambda < 0)
        return bp__fail(BP_EVALUE, "lambda must be finite and >= 0");
    if (!(c->mu >= 0 && c->mu < 1))
        return bp__fail(BP_EVALUE, "mu must be in [0,1)");
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return bp__fail(BP_EVALUE, "beta1 and beta2 must be in [0,1)");
    if (!isfinite(c->epsilon) || c->epsilon < 0)
        return bp__fail(BP_EVALUE, "epsilon must be finite and >= 0");
    if (!isfinite(c->clip_norm) || c->clip_norm < 0)
        return bp__fail(BP_EVALUE, "clip_norm must be finite and >= 0");
    if (!isfinite(c->weight_decay) || c->weight_decay < 0)
        return bp__fail(BP_EVALUE, "weight_decay must be finite and >= 0");
    return check_decay(c->eta, c->weight_decay);
}

bp_status bp_optim_create(bp_optim **out, const bp_net *net, const bp_optim_config *cfg)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!net || !cfg)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "cfg" : "net");
    bp_status st = check_config(cfg);
    if (st)
        return st;
    bp_optim *o = bp__calloc(1, sizeof *o);
    if (!o)
        return bp__fail(BP_ENOMEM, "optimizer");
    o->cfg = *cfg;
    if (o->cfg.kind == BP_OPT_ADAM) {
        if (o->cfg.beta1 == 0 && o->cfg.beta2 == 0) {
            o->cfg.beta1 = 0.9f;
            o->cfg.beta2 = 0.999f;
        }
        if (o->cfg.epsilon == 0)
            o->cfg.epsilon = 1e-8f;
    }
    o->num_params = net->num_params;
    int moments = bp__optim_moments(cfg->kind);
    if (moments >= 1)
        o->v = bp__calloc(net->num_params, sizeof(float));
    if (moments == 2)
        o->m = bp__calloc(net->num_params, sizeof(float));
    if ((moments >= 1 && !o->v) || (moments == 2 && !o->m)) {
        bp_optim_free(o);
        return bp__fail(BP_ENOMEM, "optimizer state of %d x %zu floats", moments, net->num_params);
    }
    *out = o;
    return BP_OK;
}

void bp_optim_free(bp_optim *opt)
{
    if (!opt)
        return;
    bp__free(opt->v);
    bp__free(opt->m);
    bp__free(opt);
}

/* 1 if x is NaN or infinite (a comparison, so that an OR of them vectorises). */
#define NOT_FINITE(x) (!(fabsf(x) <= FLT_MAX))

/* Update theta[i], i in [lo, hi), with g_i = scale * grad[i] + decay * theta[i] (L2 in the
 * gradient) and the decoupled decay outside the rule: theta[i] = keep * theta[i] + step_i, keep =
 * 1 - eta * weight_decay, step_i the rule's step from g_i (both from the same old theta[i]); keep
 * is exactly 1 without decoupled decay, and 1 * theta is theta: the same bits as the rule alone.
 * One pass over the block. With store 0 nothing is written: the same arithmetic only says whether
 * any new parameter or state value would be non-finite (the return value, 1 if so), so that a
 * step can be refused before it changes anything. The arrays never overlap (restrict) and the
 * constants are read once, so that every case vectorises (Adam's sqrtf too: the library is built
 * with -fno-math-errno). */
static inline __attribute__((always_inline)) int
update_pass(bp_optim *o, float *restrict theta, const float *restrict grad, size_t lo, size_t hi,
            float scale, float decay, float keep, float eta, const int store)
{
    const bp_optim_config *c = &o->cfg;
    float *restrict v = o->v, *restrict m = o->m;
    const float mu = c->mu, b1 = c->beta1, b2 = c->beta2, eps = c->epsilon;
    int bad = 0;
    switch (c->kind) {
    case BP_OPT_SGD:
        for (size_t i = lo; i < hi; i++) {
            float th = keep * theta[i] - eta * (scale * grad[i] + decay * theta[i]);
            if (store)
                theta[i] = th;
            else
                bad |= NOT_FINITE(th);
        }
        break;
    case BP_OPT_MOMENTUM:
        for (size_t i = lo; i < hi; i++) {
            float vi = mu * v[i] - eta * (scale * grad[i] + decay * theta[i]);
            float th = keep * theta[i] + vi;
            if (store) {
                v[i] = vi;
                theta[i] = th;
            } else {
                bad |= NOT_FINITE(vi) | NOT_FINITE(th);
            }
        }
        break;
    case BP_OPT_NESTEROV:
        for (size_t i = lo; i < hi; i++) {
            float step = eta * (scale * grad[i] + decay * theta[i]);
            float vi = mu * v[i] - step;
            float th = keep * theta[i] + (mu * vi - step);
            if (store) {
                v[i] = vi;
                theta[i] = th;
            } else {
                bad |= NOT_FINITE(vi) | NOT_FINITE(th);
            }
        }
        break;
    case BP_OPT_ADAM: {
        const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)o->t)));
        const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)o->t)));
        for (size_t i = lo; i < hi; i++) {
            float g = scale * grad[i] + decay * theta[i];
            float mi = b1 * m[i] + (1 - b1) * g;
            float vi = b2 * v[i] + (1 - b2) * g * g;
            float th = keep * theta[i] - eta * (mi * c1) / (sqrtf(vi * c2) + eps);
            if (store) {
                m[i] = mi;
                v[i] = vi;
                theta[i] = th;
            } else {
                bad |= NOT_FINITE(mi) | NOT_FINITE(vi) | NOT_FINITE(th);
            }
        }
        break;
    }
    }
    return bad;
}

BP_CLONES static void update(bp_optim *o, float *restrict theta, const float *restrict grad,
                             size_t lo, size_t hi, float scale, float decay, float keep, float eta)
{
    (void)update_pass(o, theta, grad, lo, hi, scale, decay, keep, eta, 1);
}

BP_CLONES static int update_overflows(bp_optim *o, float *restrict theta,
                                      const float *restrict grad, size_t lo, size_t hi,
                                      float scale, float decay, float keep, float eta)
{
    return update_pass(o, theta, grad, lo, hi, scale, decay, keep, eta, 0);
}

/* sum_i g_i^2 in double over eight interleaved partial sums: one running sum is a chain of
 * dependent additions (four cycles each), eight independent ones vectorise and run about ten times
 * faster - on a small network this loop otherwise costs as much as the backward pass. */
BP_CLONES static double sum_squares(const float *g, size_t n)
{
    double part[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int p = 0; p < 8; p++)
            part[p] += (double)g[i + p] * g[i + p];
    double sq = 0;
    for (; i < n; i++)
        sq += (double)g[i] * g[i];
    for (int p = 0; p < 8; p++)
        sq += part[p];
    return sq;
}

/* The step's pass over the parameters [lo, hi), layer by layer: the weights with the L2 and
 * decoupled decays, the biases without. With store 0 the dry run, which writes nothing: the first
 * layer whose new parameters or state would not all be finite, or 0. Every element's update
 * depends on that element and p alone, so passes over parts that tile [0, num_params) give the
 * bits of one pass over all of it. */
static int step_pass(bp_optim *o, bp_net *net, const float *grad, size_t lo, size_t hi,
                     const bp__optim_plan *p, int store)
{
    for (int l = 2; l <= net->num_layers; l++) {
        size_t w = net->w_off[l], b = net->b_off[l], e = b + (size_t)net->sizes[l - 1];
        w = w < lo ? lo : w > hi ? hi : w;
        b = b < lo ? lo : b > hi ? hi : b;
        e = e < lo ? lo : e > hi ? hi : e;
        if (store) {
            update(o, net->params, grad, w, b, p->scale, p->decay, p->keep, p->eta);
            update(o, net->params, grad, b, e, p->scale, 0.0f, 1.0f, p->eta);
        } else if (update_overflows(o, net->params, grad, w, b, p->scale, p->decay, p->keep,
                                    p->eta) ||
                   update_overflows(o, net->params, grad, b, e, p->scale, 0.0f, 1.0f, p->eta)) {
            return l;
        }
    }
    return 0;
}

bp_status bp__optim_begin(bp_optim *opt, const bp_net *net, const float *grad, int m, long n,
                          float eta, int whole, bp__optim_plan *p)
{
    if (!opt || !net || !grad)
        return bp__fail(BP_ENULL, "%s is NULL", !opt ? "opt" : !net ? "net" : "grad");
    if (opt->num_params != net->num_params)
        return bp__fail(BP_EMISMATCH, "optimizer made for %zu parameters, network has %zu",
                        opt->num_params, net->num_params);
    if (m < 1 || n < 1)
        return bp__fail(BP_EDIM, "%s is %ld, must be >= 1", m < 1 ? "m" : "n",
                        m < 1 ? (long)m : n);
    if (!isfinite(eta) || eta <= 0)
        return bp__fail(BP_EVALUE, "eta must be finite and > 0");
    bp_status st = check_decay(eta, opt->cfg.weight_decay);
    if (st)
        return st;
    p->scale = 1.0f / (float)m;
    p->norm_done = whole || opt->cfg.clip_norm > 0;
    if (p->norm_done) {
        double sq = sum_squares(grad, net->num_params); /* a NaN or inf in grad: non-finite */
        if (!isfinite(sq))
            return bp__optim_refused(opt, NULL, 0);
        double norm = sqrt(sq) / m;
        if (opt->cfg.clip_norm > 0 && norm > opt->cfg.clip_norm)
            p->scale = (float)(opt->cfg.clip_norm / (norm * m));
    }
    p->decay = (float)(opt->cfg.lambda / (double)n);
    p->keep = (float)(1.0 - (double)eta * opt->cfg.weight_decay);
    p->eta = eta;
    /* Adam's bias correction is 1 to float precision long before LONG_MAX steps: saturating the
     * count changes no result and can never overflow. */
    p->t_before = opt->t;
    opt->t += opt->t < LONG_MAX;
    return BP_OK;
}

int bp__optim_grad_finite(const float *grad, size_t lo, size_t hi)
{
    /* each square is below 2^256 and there are fewer than 2^64 of them: no double overflows */
    return isfinite(sum_squares(grad + lo, hi - lo));
}

int bp__optim_refuses(bp_optim *opt, bp_net *net, const float *grad, size_t lo, size_t hi,
                      const bp__optim_plan *p)
{
    return step_pass(opt, net, grad, lo, hi, p, 0);
}

void bp__optim_apply(bp_optim *opt, bp_net *net, const float *grad, size_t lo, size_t hi,
                     const bp__optim_plan *p)
{
    (void)step_pass(opt, net, grad, lo, hi, p, 1);
}

int bp__optim_clips(const bp_optim *opt)
{
    return opt->cfg.clip_norm > 0;
}

void bp__optim_cancel(bp_optim *opt, const bp__optim_plan *p)
{
    opt->t = p->t_before;
}

bp_status bp__optim_refused(bp_optim *opt, const bp__optim_plan *p, int layer)
{
    if (p)
        opt->t = p->t_before;
    if (!layer)
        return bp__fail(BP_ENUMERIC, "gradient is not finite (or its squared norm overflows)");
    return bp__fail(BP_ENUMERIC, "the step would make a parameter or the optimizer's state "
                    "non-finite (layer %d): nothing changed", layer);
}

bp_status bp_optim_step(bp_optim *opt, bp_net *net, const float *grad, int m, long n, float eta)
{
    bp__clear_error();
    bp__optim_plan p;
    bp_status st = bp__optim_begin(opt, net, grad, m, n, eta, 1, &p);
    if (st)
        return st;
    int layer = bp__optim_refuses(opt, net, grad, 0, net->num_params, &p);
    if (layer)
        return bp__optim_refused(opt, &p, layer);
    bp__optim_apply(opt, net, grad, 0, net->num_params, &p);
    return BP_OK;
}

static bp_status schedule_formula(const bp_schedule *s, float eta0, int epoch, int epochs,
                                  float *eta)
{
    bp__clear_error();
    if (!s || !eta)
        return bp__fail(BP_ENULL, "%s is NULL", s ? "eta" : "s");
    if (epochs < 1 || epoch < 0 || epoch >= epochs)
        return bp__fail(BP_EDIM, "epoch %d of %d: need 0 <= epoch < epochs", epoch, epochs);
    if (!isfinite(eta0) || eta0 <= 0)
        return bp__fail(BP_EVALUE, "eta0 must be finite and > 0");
    switch (s->kind) {
    case BP_LR_CONSTANT: *eta = eta0; return BP_OK;
    case BP_LR_STEP:
        if (s->step_epochs < 1)
            return bp__fail(BP_EDIM, "step_epochs is %d, must be >= 1", s->step_epochs);
        if (!(s->gamma > 0 && s->gamma <= 1))
            return bp__fail(BP_EVALUE, "gamma must be in (0,1]");
        *eta = (float)(eta0 * pow(s->gamma, epoch / s->step_epochs));
        return BP_OK;
    case BP_LR_COSINE:
        if (!(s->eta_min >= 0 && s->eta_min <= eta0))
            return bp__fail(BP_EVALUE, "eta_min must be in [0, eta0]");
        *eta = (float)(s->eta_min + (eta0 - s->eta_min) * 0.5 *
                                        (1.0 + cos(3.141592653589793 * epoch / epochs)));
        return BP_OK;
    }
    return bp__fail(BP_EDIM, "schedule kind %d is not a bp_schedule_kind", (int)s->kind);
}

bp_status bp_schedule_eta(const bp_schedule *s, float eta0, int epoch, int epochs, float *eta)
{
    float v = 0;
    bp_status st = schedule_formula(s, eta0, epoch, epochs, eta ? &v : NULL);
    if (st)
        return st;
    /* eta0 * gamma^k or the cosine's last epochs can fall below the smallest float */
    if (!(v > 0) || !isfinite(v))
        return bp__fail(BP_EVALUE, "the rate at epoch %d of %d is %g as a float: not > 0 (eta0 %g "
                        "is too small for this schedule)", epoch, epochs, (double)v, (double)eta0);
    *eta = v;
    return BP_OK;
}

int bp__optim_moments(bp_optimizer_kind kind)
{
    return kind == BP_OPT_ADAM ? 2 : kind == BP_OPT_SGD ? 0 : 1;
}

void bp__optim_state(bp_optim *opt, bp_optimizer_kind *kind, long **t, float **v, float **m)
{
    *kind = opt->cfg.kind;
    *t = &opt->t;
    *v = opt->v;
    *m = opt->m;
}
