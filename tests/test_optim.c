/* Optimizers and learning-rate schedules: bp_optim_step against updates computed here in double
 * from the formulas of backprop.h (SGD, L2 on weights only, momentum, Nesterov, Adam with bias
 * correction and its defaults, decoupled weight decay on weights only, gradient clipping), non-finite gradients leaving parameters AND
 * state untouched, every error of bp_optim_create / bp_optim_step, and bp_schedule_eta.
 *
 * Net: 2-2-1, P = 9 parameters [w2 (2x2) | b2 (2) | w3 (1x2) | b3 (1)], offsets from bp_net_layer.
 * Tolerance of every comparison with the double reference: |got - ref| <= 1e-6 |ref|. An entry is
 * the result of a handful of float operations per step (3 steps at most), each rounding by at most
 * 2^-24 ~ 6e-8 relative; the parameters stay in [0.25, 2] and every update pushes them AWAY from
 * zero (the gradient's sign is opposite to the parameter's), so there is no cancellation and the
 * float result is within a few 1e-7 of the double one. A wrong formula (a missing 1/m, a decayed
 * bias, a wrong bias correction) is off by 1e-3 or more. */
#include "bp_test.h"

#define P 9
#define RTOL 1e-6

static const int sizes_221[] = {2, 2, 1};
static const bp_activation acts_221[] = {BP_SIGMOID, BP_SIGMOID};

/* Starting parameters (all |theta| >= 0.25) and the magnitudes of the summed gradient. */
static const float theta0[P] = {0.5f,   -0.75f, 1.25f,   -1.5f, 0.25f,
                                -0.375f, 0.875f, -1.125f, 0.625f};
static const float gmag[P] = {0.8f, 1.2f, 0.4f, 2.0f, 0.6f, 1.0f, 1.6f, 0.3f, 0.9f};

typedef struct fixture {
    bp_net *net;
    int is_bias[P];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    if (bp_net_create(&fx->net, 3, sizes_221, acts_221, BP_QUADRATIC) != BP_OK) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    bp_net_free(fx->net);
    free(fx);
    return 0;
}

/* Parameters back to theta0; the bias mask from bp_net_layer (not from a hard-coded layout). */
static float *reset(fixture *fx)
{
    assert_int_equal(bpt_num_params(fx->net), P);
    memset(fx->is_bias, 0, sizeof fx->is_bias);
    for (int l = 2; l <= 3; l++) {
        bp_layer_view v;
        bpt_ok(bp_net_layer(fx->net, l, &v));
        assert_true(v.b_offset + (size_t)v.rows <= P);
        for (int i = 0; i < v.rows; i++)
            fx->is_bias[v.b_offset + (size_t)i] = 1;
    }
    float *p = bpt_params(fx->net);
    memcpy(p, theta0, sizeof theta0);
    return p;
}

/* The summed gradient of step k (0, 1, 2): opposite in sign to theta0 (updates move away from 0),
 * a different magnitude per step and per entry. */
static void grad_of_step(int k, float *g)
{
    for (int i = 0; i < P; i++) {
        float mag = gmag[i] * (1.0f + 0.25f * (float)k * (float)(i % 3 + 1));
        g[i] = theta0[i] > 0 ? -mag : mag;
    }
}

static bp_optim *make_opt(const bp_net *net, bp_optim_config cfg)
{
    bp_optim *o = NULL;
    bpt_ok(bp_optim_create(&o, net, &cfg));
    assert_non_null(o);
    return o;
}

static void copy_to_double(double *d, const float *f)
{
    for (int i = 0; i < P; i++)
        d[i] = f[i];
}

/* ---------------------------------------------------------------- SGD, L2 */

/* theta <- theta - eta/m grad, twice; and the same as bp_sgd_step for lambda 0. */
static void sgd_plain(void **state)
{
    fixture *fx = *state;
    const int m = 4;
    const float eta = 0.1f;
    float *p = reset(fx), g[P];
    double ref[P];
    copy_to_double(ref, theta0);
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_SGD, .eta = eta});
    for (int k = 0; k < 2; k++) {
        grad_of_step(k, g);
        bpt_ok(bp_optim_step(o, fx->net, g, m, 10, eta));
        for (int i = 0; i < P; i++)
            ref[i] -= (double)eta / m * g[i];
    }
    bpt_assert_close_dvec("sgd, 2 steps", p, ref, P, 0.0, RTOL);

    /* bp_sgd_step from theta0 with the same two gradients. */
    float via_optim[P];
    memcpy(via_optim, p, sizeof via_optim);
    reset(fx);
    for (int k = 0; k < 2; k++) {
        grad_of_step(k, g);
        bpt_ok(bp_sgd_step(fx->net, g, eta, m));
    }
    bpt_assert_close_vec("bp_optim_step (SGD) vs bp_sgd_step", via_optim, p, P, 0.0, RTOL);
    bp_optim_free(o);
}

/* Weights w <- (1 - eta lambda/n) w - eta/m grad; biases b <- b - eta/m grad (never decayed). */
static void sgd_l2_weights_only(void **state)
{
    fixture *fx = *state;
    const int m = 2;
    const long n = 10;
    const float eta = 0.1f, lambda = 5.0f; /* decay factor 1 - 0.05 per step: clearly visible */
    float *p = reset(fx), g[P];
    double ref[P];
    copy_to_double(ref, theta0);
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_SGD, .eta = eta,
                                                      .lambda = lambda});
    for (int k = 0; k < 2; k++) {
        grad_of_step(k, g);
        bpt_ok(bp_optim_step(o, fx->net, g, m, n, eta));
        for (int i = 0; i < P; i++) {
            double decay = fx->is_bias[i] ? 1.0 : 1.0 - (double)eta * lambda / (double)n;
            ref[i] = decay * ref[i] - (double)eta / m * g[i];
        }
    }
    bpt_assert_close_dvec("sgd + L2, 2 steps", p, ref, P, 0.0, RTOL);

    /* One bias entry, spelled out: b3 (its offset from bp_net_layer) after two undecayed steps,
     * and far from what decaying it would give. */
    bp_layer_view v3;
    bpt_ok(bp_net_layer(fx->net, 3, &v3));
    size_t b = v3.b_offset;
    assert_true(fx->is_bias[b]);
    float g0[P], g1[P];
    grad_of_step(0, g0);
    grad_of_step(1, g1);
    double undecayed = (double)theta0[b] - (double)eta / m * g0[b] - (double)eta / m * g1[b];
    double q = 1.0 - (double)eta * lambda / (double)n;
    double decayed = q * (q * theta0[b] - (double)eta / m * g0[b]) - (double)eta / m * g1[b];
    bpt_assert_close_scalar("b3 not decayed", p[b], undecayed, 0.0, RTOL);
    assert_true(fabs(p[b] - decayed) > 1e-2);
    /* and a weight entry really is decayed */
    size_t w = v3.w_offset;
    assert_false(fx->is_bias[w]);
    double w_undecayed = (double)theta0[w] - (double)eta / m * g0[w] - (double)eta / m * g1[w];
    assert_true(fabs(p[w] - w_undecayed) > 1e-2);
    bp_optim_free(o);
}

/* ---------------------------------------------------------------- momentum, Nesterov, Adam */

typedef struct ref_state {
    double v[P], m1[P];
    long t;
    double weight_decay; /* decoupled: theta <- (1 - eta weight_decay) theta + step, weights only */
    const int *is_bias;
} ref_state;

/* One step of the header's formulas in double, g_i = grad_i/m (no clipping, no L2 here), and the
 * decoupled weight decay of the old theta on the weights. */
static void ref_step(bp_optimizer_kind kind, double *th, ref_state *s, const float *grad, int m,
                     double eta, double mu, double b1, double b2, double eps)
{
    s->t++;
    for (int i = 0; i < P; i++) {
        double g = (double)grad[i] / m, old = th[i];
        if (!s->is_bias[i])
            th[i] -= eta * s->weight_decay * old;
        switch (kind) {
        case BP_OPT_SGD: th[i] -= eta * g; break;
        case BP_OPT_MOMENTUM:
            s->v[i] = mu * s->v[i] - eta * g;
            th[i] += s->v[i];
            break;
        case BP_OPT_NESTEROV:
            s->v[i] = mu * s->v[i] - eta * g;
            th[i] += mu * s->v[i] - eta * g;
            break;
        case BP_OPT_ADAM: {
            s->m1[i] = b1 * s->m1[i] + (1 - b1) * g;
            s->v[i] = b2 * s->v[i] + (1 - b2) * g * g;
            double mhat = s->m1[i] / (1 - pow(b1, (double)s->t));
            double vhat = s->v[i] / (1 - pow(b2, (double)s->t));
            th[i] -= eta * mhat / (sqrt(vhat) + eps);
            break;
        }
        }
    }
}

static void run_three_steps(fixture *fx, bp_optim_config cfg, const char *what, double mu,
                            double b1, double b2, double eps, int tiny_entry)
{
    const int m = 4;
    float *p = reset(fx), g[P];
    double ref[P];
    ref_state s = {{0}, {0}, 0, cfg.weight_decay, fx->is_bias};
    copy_to_double(ref, theta0);
    bp_optim *o = make_opt(fx->net, cfg);
    for (int k = 0; k < 3; k++) {
        grad_of_step(k, g);
        if (tiny_entry) /* g_3 = grad_3/m ~ 1e-8 = epsilon: the update is about eta/2 */
            g[3] = (theta0[3] > 0 ? -4e-8f : 4e-8f) * (float)(k + 1);
        float eta = cfg.eta * (k == 2 ? 0.5f : 1.0f); /* a per-step rate, as a schedule gives */
        bpt_ok(bp_optim_step(o, fx->net, g, m, 10, eta));
        ref_step(cfg.kind, ref, &s, g, m, eta, mu, b1, b2, eps);
    }
    bpt_assert_close_dvec(what, p, ref, P, 0.0, RTOL);
    bp_optim_free(o);
}

static void momentum_three_steps(void **state)
{
    bp_optim_config cfg = {.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .mu = 0.9f};
    run_three_steps(*state, cfg, "momentum, 3 steps", 0.9f, 0, 0, 0, 0);
    /* Distinguishable from plain SGD (v really carries over). */
    fixture *fx = *state;
    float with_momentum[P];
    memcpy(with_momentum, bpt_params(fx->net), sizeof with_momentum);
    cfg.kind = BP_OPT_SGD;
    run_three_steps(fx, cfg, "sgd, 3 steps", 0, 0, 0, 0, 0);
    assert_true(fabs(with_momentum[3] - bpt_params(fx->net)[3]) > 1e-2);
}

static void nesterov_three_steps(void **state)
{
    bp_optim_config cfg = {.kind = BP_OPT_NESTEROV, .eta = 0.1f, .mu = 0.9f};
    run_three_steps(*state, cfg, "nesterov, 3 steps", 0.9f, 0, 0, 0, 0);
    fixture *fx = *state;
    float nesterov[P];
    memcpy(nesterov, bpt_params(fx->net), sizeof nesterov);
    cfg.kind = BP_OPT_MOMENTUM;
    run_three_steps(fx, cfg, "momentum, 3 steps", 0.9f, 0, 0, 0, 0);
    assert_true(fabs(nesterov[3] - bpt_params(fx->net)[3]) > 1e-2);
    /* mu = 0 makes both plain SGD */
    cfg = (bp_optim_config){.kind = BP_OPT_NESTEROV, .eta = 0.1f, .mu = 0.0f};
    run_three_steps(fx, cfg, "nesterov mu 0 = sgd", 0, 0, 0, 0, 0);
}

/* Defaults selected by zeros: beta1 0.9, beta2 0.999, epsilon 1e-8 (the reference uses the double
 * constants of the header; entry 3 has g ~ epsilon, so a wrong default epsilon shows). */
static void adam_three_steps_defaults(void **state)
{
    fixture *fx = *state;
    bp_optim_config cfg = {.kind = BP_OPT_ADAM, .eta = 0.01f};
    run_three_steps(fx, cfg, "adam defaults, 3 steps", 0, 0.9, 0.999, 1e-8, 1);
    float by_zeros[P];
    memcpy(by_zeros, bpt_params(fx->net), sizeof by_zeros);
    /* The tiny entry (g ~ epsilon) moved 0.0142 in all; epsilon 0 would have moved it by the full
     * 0.01 + 0.01 + 0.005 = 0.025. */
    assert_true(fabs(fabs(by_zeros[3] - theta0[3]) - 0.025) > 5e-3);
    /* Explicit 0.9f / 0.999f / 1e-8f: the very same bits. */
    cfg.beta1 = 0.9f;
    cfg.beta2 = 0.999f;
    cfg.epsilon = 1e-8f;
    run_three_steps(fx, cfg, "adam explicit defaults, 3 steps", 0, 0.9, 0.999, 1e-8, 1);
    assert_memory_equal(by_zeros, bpt_params(fx->net), sizeof by_zeros);
}

/* Non-default betas and epsilon are used as given. */
static void adam_three_steps_custom(void **state)
{
    bp_optim_config cfg = {.kind = BP_OPT_ADAM, .eta = 0.05f, .beta1 = 0.5f, .beta2 = 0.75f,
                           .epsilon = 1e-3f};
    run_three_steps(*state, cfg, "adam 0.5/0.75/1e-3, 3 steps", 0, 0.5, 0.75, (double)1e-3f, 0);
}

/* ---------------------------------------------------------------- decoupled weight decay */

/* theta <- (1 - eta weight_decay) theta + step on the weights, for every rule, three steps with a
 * per-step rate; the biases take the rule's step alone (the same bits as without decay). */
static void decoupled_decay_each_kind(void **state)
{
    fixture *fx = *state;
    const char *what[] = {"sgd", "momentum", "nesterov", "adam"};
    for (int k = BP_OPT_SGD; k <= BP_OPT_ADAM; k++) {
        bp_optim_config cfg = {.kind = (bp_optimizer_kind)k, .eta = 0.1f, .mu = 0.9f};
        int adam = k == BP_OPT_ADAM, has_mu = k == BP_OPT_MOMENTUM || k == BP_OPT_NESTEROV;
        double b1 = adam ? 0.9 : 0, b2 = adam ? 0.999 : 0, eps = adam ? 1e-8 : 0;
        double mu = has_mu ? 0.9f : 0;
        run_three_steps(fx, cfg, what[k], mu, b1, b2, eps, 0);
        float plain[P];
        memcpy(plain, bpt_params(fx->net), sizeof plain);
        cfg.weight_decay = 0.5f; /* keep = 1 - 0.05 (0.025 on the half-rate step) */
        run_three_steps(fx, cfg, what[k], mu, b1, b2, eps, 0);
        const float *p = bpt_params(fx->net);
        for (int i = 0; i < P; i++) {
            if (fx->is_bias[i])
                assert_memory_equal(&plain[i], &p[i], sizeof *p);
            else /* pulled towards zero by about 0.05 + 0.05 + 0.025 of |theta| */
                assert_true(fabsf(p[i]) < fabsf(plain[i]) - 0.05f * fabsf(theta0[i]));
        }
    }
}

/* By hand, one Adam step of one weight: theta = 0.5, g = grad/m = -0.2, eta = 0.1. Adam's first
 * step is -eta g/(|g| + eps) = +0.1 (the bias-corrected moments are g and g^2).
 *  - decoupled, weight_decay 0.5: theta = (1 - 0.05) 0.5 + 0.1 = 0.575;
 *  - L2 with the same coefficient (lambda/n = 0.5): g = -0.2 + 0.5 * 0.5 = +0.05, so the step is
 *    -0.1 and theta = 0.4: inside the adaptive step, the decay is normalised away with g. */
static void decoupled_vs_l2_adam_by_hand(void **state)
{
    fixture *fx = *state;
    float *p = reset(fx), g[P];
    bp_layer_view v2;
    bpt_ok(bp_net_layer(fx->net, 2, &v2));
    size_t w = v2.w_offset; /* theta0[w] = 0.5 */
    assert_true(theta0[w] == 0.5f);
    for (int i = 0; i < P; i++)
        g[i] = theta0[i] > 0 ? -0.4f : 0.4f; /* m = 2: g = -0.2 for the weight w */
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_ADAM, .eta = 0.1f,
                                                      .weight_decay = 0.5f});
    bpt_ok(bp_optim_step(o, fx->net, g, 2, 10, 0.1f));
    bpt_assert_close_scalar("decoupled", p[w], 0.575, 0.0, RTOL);
    bp_optim_free(o);
    reset(fx);
    o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_ADAM, .eta = 0.1f, .lambda = 5.0f});
    bpt_ok(bp_optim_step(o, fx->net, g, 2, 10, 0.1f)); /* lambda/n = 0.5 */
    bpt_assert_close_scalar("L2", p[w], 0.4, 0.0, RTOL);
    bp_optim_free(o);
}

/* By hand, momentum: theta = 0.5, g = -0.2, eta = 0.1, mu = 0.9, weight_decay 0.5, two steps of
 * the same gradient: v1 = 0.02, theta1 = 0.95 * 0.5 + 0.02 = 0.495; v2 = 0.9 * 0.02 + 0.02 =
 * 0.038, theta2 = 0.95 * 0.495 + 0.038 = 0.50825. */
static void decoupled_momentum_by_hand(void **state)
{
    fixture *fx = *state;
    float *p = reset(fx), g[P];
    bp_layer_view v2;
    bpt_ok(bp_net_layer(fx->net, 2, &v2));
    size_t w = v2.w_offset;
    assert_true(theta0[w] == 0.5f && !fx->is_bias[w]);
    for (int i = 0; i < P; i++)
        g[i] = theta0[i] > 0 ? -0.4f : 0.4f;
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_MOMENTUM, .eta = 0.1f,
                                                      .mu = 0.9f, .weight_decay = 0.5f});
    bpt_ok(bp_optim_step(o, fx->net, g, 2, 10, 0.1f));
    bpt_assert_close_scalar("momentum step 1", p[w], 0.495, 0.0, RTOL);
    bpt_ok(bp_optim_step(o, fx->net, g, 2, 10, 0.1f));
    bpt_assert_close_scalar("momentum step 2", p[w], 0.50825, 0.0, RTOL);
    bp_optim_free(o);
}

/* ---------------------------------------------------------------- clipping */

/* From theta = 0 with eta = 1 the update is -g itself (no difference of nearby floats). */
static void clipping(void **state)
{
    fixture *fx = *state;
    const int m = 4;
    float g[P], *p = reset(fx);
    grad_of_step(0, g);
    double sq = 0;
    for (int i = 0; i < P; i++)
        sq += (double)g[i] * g[i];
    double norm = sqrt(sq); /* 3.33; norm/m = 0.83 */

    /* Above: clip 0.5 < 0.83, the update has norm exactly 0.5 and the direction of -grad. */
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_SGD, .eta = 1.0f,
                                                      .clip_norm = 0.5f});
    memset(p, 0, P * sizeof *p);
    bpt_ok(bp_optim_step(o, fx->net, g, m, 10, 1.0f));
    double usq = 0, ref[P];
    for (int i = 0; i < P; i++) {
        usq += (double)p[i] * p[i];
        ref[i] = -0.5 * g[i] / norm;
    }
    bpt_assert_close_scalar("norm of the clipped update", sqrt(usq), 0.5, 0.0, RTOL);
    bpt_assert_close_dvec("clipped update", p, ref, P, 0.0, RTOL);
    bp_optim_free(o);

    /* Below: clip 1.0 > 0.83 (but < ||grad|| = 3.33: the test is on norm/m), untouched. */
    o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_SGD, .eta = 1.0f, .clip_norm = 1.0f});
    memset(p, 0, P * sizeof *p);
    bpt_ok(bp_optim_step(o, fx->net, g, m, 10, 1.0f));
    for (int i = 0; i < P; i++)
        ref[i] = -(double)g[i] / m;
    bpt_assert_close_dvec("unclipped update", p, ref, P, 0.0, RTOL);
    bp_optim_free(o);

    /* Clipping acts on g before L2 is added: w <- w - eta (clip g/||g|| + lambda/n w). */
    const float eta = 0.1f, lambda = 2.0f;
    const long n = 10;
    o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_SGD, .eta = eta, .lambda = lambda,
                                            .clip_norm = 0.5f});
    p = reset(fx);
    bpt_ok(bp_optim_step(o, fx->net, g, m, n, eta));
    for (int i = 0; i < P; i++) {
        double l2 = fx->is_bias[i] ? 0.0 : (double)lambda / (double)n * theta0[i];
        ref[i] = theta0[i] - (double)eta * (0.5 * g[i] / norm + l2);
    }
    bpt_assert_close_dvec("clip then L2", p, ref, P, 0.0, RTOL);
    bp_optim_free(o);
}

/* ---------------------------------------------------------------- non-finite gradients */

/* step(g0), step(bad) -> BP_ENUMERIC with nothing changed, step(g1) == step(g0), step(g1). */
static void nonfinite_untouched(void **state)
{
    fixture *fx = *state;
    const bp_optimizer_kind kinds[] = {BP_OPT_MOMENTUM, BP_OPT_NESTEROV, BP_OPT_ADAM};
    const float bad_values[] = {NAN, INFINITY, -INFINITY};
    float g0[P], g1[P], bad[P], expect[P], after_first[P];
    grad_of_step(0, g0);
    grad_of_step(1, g1);
    for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
        bp_optim_config cfg = {.kind = kinds[ki], .eta = 0.05f, .mu = 0.9f, .lambda = 1.0f};
        /* Two normal steps. */
        float *p = reset(fx);
        bp_optim *o = make_opt(fx->net, cfg);
        bpt_ok(bp_optim_step(o, fx->net, g0, 4, 10, cfg.eta));
        bpt_ok(bp_optim_step(o, fx->net, g1, 4, 10, cfg.eta));
        memcpy(expect, p, sizeof expect);
        bp_optim_free(o);
        for (size_t bi = 0; bi < sizeof bad_values / sizeof bad_values[0]; bi++) {
            p = reset(fx);
            o = make_opt(fx->net, cfg);
            bpt_ok(bp_optim_step(o, fx->net, g0, 4, 10, cfg.eta));
            memcpy(after_first, p, sizeof after_first);
            memcpy(bad, g1, sizeof bad);
            bad[5] = bad_values[bi];
            bpt_assert_status(bp_optim_step(o, fx->net, bad, 4, 10, cfg.eta), BP_ENUMERIC,
                              "finite");
            assert_memory_equal(p, after_first, sizeof after_first);
            bpt_ok(bp_optim_step(o, fx->net, g1, 4, 10, cfg.eta));
            /* Bit for bit: the same operations on the same state (velocity, moments, Adam's t). */
            assert_memory_equal(p, expect, sizeof expect);
            bp_optim_free(o);
        }
    }
}

/* A finite gradient whose step would overflow: the parameters (SGD, momentum, Nesterov: eta 1e30
 * times a gradient of 1e10) or Adam's second moment (a gradient of 1e30, squared). Every kind
 * returns BP_ENUMERIC with the parameters and the state untouched: the next ordinary step gives
 * the bits of a run that never saw the bad one. */
static void overflowing_step_untouched(void **state)
{
    fixture *fx = *state;
    float g0[P], g1[P], bad[P], expect[P], after_first[P];
    grad_of_step(0, g0);
    grad_of_step(1, g1);
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++) {
        bp_optim_config cfg = {.kind = (bp_optimizer_kind)kind, .eta = 0.05f, .mu = 0.9f};
        int adam = kind == BP_OPT_ADAM;
        float bad_eta = adam ? cfg.eta : 1e30f;
        for (int i = 0; i < P; i++)
            bad[i] = g1[i] * (adam ? 1e30f : 1e10f);
        float *p = reset(fx);
        bp_optim *o = make_opt(fx->net, cfg);
        bpt_ok(bp_optim_step(o, fx->net, g0, 4, 10, cfg.eta));
        bpt_ok(bp_optim_step(o, fx->net, g1, 4, 10, cfg.eta));
        memcpy(expect, p, sizeof expect);
        bp_optim_free(o);

        p = reset(fx);
        o = make_opt(fx->net, cfg);
        bpt_ok(bp_optim_step(o, fx->net, g0, 4, 10, cfg.eta));
        memcpy(after_first, p, sizeof after_first);
        bpt_assert_status(bp_optim_step(o, fx->net, bad, 4, 10, bad_eta), BP_ENUMERIC,
                          "non-finite");
        assert_memory_equal(p, after_first, sizeof after_first);
        bpt_ok(bp_optim_step(o, fx->net, g1, 4, 10, cfg.eta));
        assert_memory_equal(p, expect, sizeof expect);
        bp_optim_free(o);
    }
}

/* ---------------------------------------------------------------- errors */

static void step_errors(void **state)
{
    fixture *fx = *state;
    float g[P], *p = reset(fx);
    grad_of_step(0, g);
    bp_optim *o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_MOMENTUM, .eta = 0.1f,
                                                      .mu = 0.5f});
    bpt_assert_status(bp_optim_step(NULL, fx->net, g, 4, 10, 0.1f), BP_ENULL, "opt");
    bpt_assert_status(bp_optim_step(o, NULL, g, 4, 10, 0.1f), BP_ENULL, "net");
    bpt_assert_status(bp_optim_step(o, fx->net, NULL, 4, 10, 0.1f), BP_ENULL, "grad");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 0, 10, 0.1f), BP_EDIM, "m");
    bpt_assert_status(bp_optim_step(o, fx->net, g, -3, 10, 0.1f), BP_EDIM, "m");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, 0, 0.1f), BP_EDIM, "n");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, -1, 0.1f), BP_EDIM, "n");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, 10, NAN), BP_EVALUE, "eta");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, 10, INFINITY), BP_EVALUE, "eta");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, 10, 0.0f), BP_EVALUE, "eta");
    bpt_assert_status(bp_optim_step(o, fx->net, g, 4, 10, -0.1f), BP_EVALUE, "eta");
    assert_memory_equal(p, theta0, sizeof theta0); /* no failed call touched the parameters */

    /* An optimizer made for the 2-2-1 net (P = 9) used on a 2-3-1 net (P = 13). */
    static const int sizes_231[] = {2, 3, 1};
    bp_net *other = bpt_net(3, sizes_231, acts_221, BP_QUADRATIC);
    float g13[13] = {0};
    bpt_assert_status(bp_optim_step(o, other, g13, 4, 10, 0.1f), BP_EMISMATCH,
                      "parameters|mismatch");
    bp_net_free(other);

    /* The failed calls left the velocity alone: one step now is a first momentum step. */
    bpt_ok(bp_optim_step(o, fx->net, g, 4, 10, 0.1f));
    double ref[P];
    for (int i = 0; i < P; i++)
        ref[i] = theta0[i] - 0.1 * (double)g[i] / 4;
    bpt_assert_close_dvec("first step after failures", p, ref, P, 0.0, RTOL);
    bp_optim_free(o);
    bp_optim_free(NULL);
}

static void create_errors(void **state)
{
    fixture *fx = *state;
    bp_optim *o = (bp_optim *)fx; /* a non-NULL sentinel: every failure must reset it */
    bp_optim_config ok = {.kind = BP_OPT_ADAM, .eta = 0.1f, .mu = 0.5f};

    bpt_assert_status(bp_optim_create(NULL, fx->net, &ok), BP_ENULL, "out");
    bpt_assert_status(bp_optim_create(&o, NULL, &ok), BP_ENULL, "net");
    assert_null(o);
    o = (bp_optim *)fx;
    bpt_assert_status(bp_optim_create(&o, fx->net, NULL), BP_ENULL, "cfg");
    assert_null(o);

    struct {
        bp_optim_config cfg;
        bp_status st;
        const char *keyword;
    } bad[] = {
        {{.kind = BP_OPT_SGD, .eta = 0.0f}, BP_EVALUE, "eta"},
        {{.kind = BP_OPT_SGD, .eta = -0.1f}, BP_EVALUE, "eta"},
        {{.kind = BP_OPT_SGD, .eta = NAN}, BP_EVALUE, "eta"},
        {{.kind = BP_OPT_SGD, .eta = INFINITY}, BP_EVALUE, "eta"},
        {{.kind = BP_OPT_SGD, .eta = 0.1f, .lambda = -1e-3f}, BP_EVALUE, "lambda"},
        {{.kind = BP_OPT_SGD, .eta = 0.1f, .lambda = NAN}, BP_EVALUE, "lambda"},
        {{.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .mu = 1.0f}, BP_EVALUE, "mu"},
        {{.kind = BP_OPT_NESTEROV, .eta = 0.1f, .mu = -0.1f}, BP_EVALUE, "mu"},
        {{.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .mu = NAN}, BP_EVALUE, "mu"},
        {{.kind = BP_OPT_ADAM, .eta = 0.1f, .beta1 = 1.0f}, BP_EVALUE, "beta"},
        {{.kind = BP_OPT_ADAM, .eta = 0.1f, .beta2 = 1.0f}, BP_EVALUE, "beta"},
        {{.kind = BP_OPT_ADAM, .eta = 0.1f, .beta1 = -0.5f}, BP_EVALUE, "beta"},
        {{.kind = BP_OPT_ADAM, .eta = 0.1f, .epsilon = -1e-8f}, BP_EVALUE, "epsilon"},
        {{.kind = BP_OPT_SGD, .eta = 0.1f, .clip_norm = -1.0f}, BP_EVALUE, "clip"},
        {{.kind = BP_OPT_SGD, .eta = 0.1f, .clip_norm = INFINITY}, BP_EVALUE, "clip"},
        {{.kind = BP_OPT_ADAM, .eta = 0.1f, .weight_decay = -1e-3f}, BP_EVALUE, "weight_decay"},
        {{.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .weight_decay = NAN}, BP_EVALUE, "weight_decay"},
        {{.kind = BP_OPT_SGD, .eta = 0.1f, .weight_decay = INFINITY}, BP_EVALUE, "weight_decay"},
        {{.kind = (bp_optimizer_kind)99, .eta = 0.1f}, BP_EDIM, "kind"},
        {{.kind = (bp_optimizer_kind)-1, .eta = 0.1f}, BP_EDIM, "kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = (bp_optim *)fx;
        bp_status st = bp_optim_create(&o, fx->net, &bad[i].cfg);
        if (st != bad[i].st)
            print_error("bad config %zu\n", i);
        bpt_assert_status(st, bad[i].st, bad[i].keyword);
        assert_null(o);
    }
    /* Boundaries that are valid: lambda 0, mu 0, clip 0 (off), each kind. */
    for (int k = BP_OPT_SGD; k <= BP_OPT_ADAM; k++) {
        o = NULL;
        bp_optim_config c = {.kind = (bp_optimizer_kind)k, .eta = 1e-3f};
        bpt_ok(bp_optim_create(&o, fx->net, &c));
        assert_non_null(o);
        bp_optim_free(o);
    }
}

/* 1 - eta weight_decay < 0 flips every weight's sign at each step (and, below -1, grows it until
 * the run overflows): refused by bp_optim_create for the base rate and by bp_optim_step for the
 * step's rate, the parameters then untouched. eta weight_decay = 1 as a float (0.1f times 10) is
 * a decay to zero, accepted. */
static void decay_factor_never_negative(void **state)
{
    fixture *fx = *state;
    bp_optim *o = (bp_optim *)fx;
    bp_optim_config flip = {.kind = BP_OPT_SGD, .eta = 0.1f, .weight_decay = 20.0f};
    bpt_assert_status(bp_optim_create(&o, fx->net, &flip), BP_EVALUE, "weight_decay");
    assert_null(o);
    flip.kind = BP_OPT_ADAM;
    flip.weight_decay = nextafterf(10.0f, 11.0f);
    bpt_assert_status(bp_optim_create(&o, fx->net, &flip), BP_EVALUE, "flip");
    float *p = reset(fx), g[P], before[P];
    for (int i = 0; i < P; i++)
        g[i] = 0.25f;
    o = make_opt(fx->net, (bp_optim_config){.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .mu = 0.5f,
                                            .weight_decay = 10.0f});
    memcpy(before, p, sizeof before);
    bpt_assert_status(bp_optim_step(o, fx->net, g, 1, 10, 0.2f), BP_EVALUE, "weight_decay");
    assert_memory_equal(p, before, sizeof before);
    bpt_ok(bp_optim_step(o, fx->net, g, 1, 10, 0.1f)); /* keep = 0: weights = the step alone */
    for (int i = 0; i < P; i++)
        if (!fx->is_bias[i])
            bpt_assert_close_scalar("decayed to the step", p[i], -0.1 * 0.25, 1e-7, RTOL);
    bp_optim_free(o);
}

/* ---------------------------------------------------------------- schedules */

static float sched(bp_schedule s, float eta0, int epoch, int epochs)
{
    float eta = -1.0f;
    bpt_ok(bp_schedule_eta(&s, eta0, epoch, epochs, &eta));
    return eta;
}

static void schedule_constant_and_step(void **state)
{
    (void)state;
    const float eta0 = 0.3f;
    bp_schedule c = {.kind = BP_LR_CONSTANT};
    for (int e = 0; e < 7; e++)
        assert_true(sched(c, eta0, e, 7) == eta0);

    bp_schedule s = {.kind = BP_LR_STEP, .step_epochs = 2, .gamma = 0.5f};
    const double expect[] = {0.3, 0.3, 0.15, 0.15, 0.075, 0.075, 0.0375};
    for (int e = 0; e < 7; e++) {
        double ref = (double)eta0 * expect[e] / 0.3;
        bpt_assert_close_scalar("step schedule", sched(s, eta0, e, 7), ref, 0.0, RTOL);
    }
    s.gamma = 1.0f; /* the upper boundary is valid: constant */
    assert_true(sched(s, eta0, 5, 7) == eta0);
}

static void schedule_cosine(void **state)
{
    (void)state;
    const float eta0 = 0.1f, eta_min = 0.01f;
    const int epochs = 10;
    bp_schedule s = {.kind = BP_LR_COSINE, .eta_min = eta_min};
    bpt_assert_close_scalar("cosine epoch 0", sched(s, eta0, 0, epochs), eta0, 0.0, RTOL);
    bpt_assert_close_scalar("cosine epoch epochs/2", sched(s, eta0, epochs / 2, epochs),
                            ((double)eta0 + eta_min) / 2, 0.0, RTOL);
    double ref3 =
        eta_min + ((double)eta0 - eta_min) * (1 + cos(3.14159265358979323846 * 3 / 10)) / 2;
    bpt_assert_close_scalar("cosine epoch 3", sched(s, eta0, 3, epochs), ref3, 0.0, RTOL);
    float prev = sched(s, eta0, 0, epochs);
    for (int e = 1; e < epochs; e++) {
        float cur = sched(s, eta0, e, epochs);
        assert_true(cur < prev);
        assert_true(cur > eta_min);
        prev = cur;
    }
    s.eta_min = 0.0f; /* boundary */
    bpt_assert_close_scalar("cosine eta_min 0, epoch 5", sched(s, eta0, 5, epochs), eta0 / 2.0,
                            0.0, RTOL);
}

static void schedule_errors(void **state)
{
    (void)state;
    float eta = -1.0f;
    bp_schedule c = {.kind = BP_LR_CONSTANT};
    bpt_assert_status(bp_schedule_eta(NULL, 0.1f, 0, 5, &eta), BP_ENULL, "NULL");
    bpt_assert_status(bp_schedule_eta(&c, 0.1f, 0, 5, NULL), BP_ENULL, "eta");
    bpt_assert_status(bp_schedule_eta(&c, 0.1f, 5, 5, &eta), BP_EDIM, "epoch");
    bpt_assert_status(bp_schedule_eta(&c, 0.1f, 9, 5, &eta), BP_EDIM, "epoch");
    bpt_assert_status(bp_schedule_eta(&c, 0.1f, -1, 5, &eta), BP_EDIM, "epoch");
    bpt_assert_status(bp_schedule_eta(&c, 0.1f, 0, 0, &eta), BP_EDIM, "epoch");
    bpt_assert_status(bp_schedule_eta(&c, 0.0f, 0, 5, &eta), BP_EVALUE, "eta0");
    bpt_assert_status(bp_schedule_eta(&c, NAN, 0, 5, &eta), BP_EVALUE, "eta0");
    bp_schedule s = {.kind = BP_LR_STEP, .step_epochs = 0, .gamma = 0.5f};
    bpt_assert_status(bp_schedule_eta(&s, 0.1f, 0, 5, &eta), BP_EDIM, "step_epochs");
    s.step_epochs = 2;
    s.gamma = 0.0f;
    bpt_assert_status(bp_schedule_eta(&s, 0.1f, 0, 5, &eta), BP_EVALUE, "gamma");
    s.gamma = 1.5f;
    bpt_assert_status(bp_schedule_eta(&s, 0.1f, 0, 5, &eta), BP_EVALUE, "gamma");
    s.gamma = NAN;
    bpt_assert_status(bp_schedule_eta(&s, 0.1f, 0, 5, &eta), BP_EVALUE, "gamma");
    bp_schedule cs = {.kind = BP_LR_COSINE, .eta_min = 0.2f};
    bpt_assert_status(bp_schedule_eta(&cs, 0.1f, 0, 5, &eta), BP_EVALUE, "eta_min");
    cs.eta_min = -0.01f;
    bpt_assert_status(bp_schedule_eta(&cs, 0.1f, 0, 5, &eta), BP_EVALUE, "eta_min");
    bp_schedule u = {.kind = (bp_schedule_kind)99};
    bpt_assert_status(bp_schedule_eta(&u, 0.1f, 0, 5, &eta), BP_EDIM, "kind");
    assert_true(eta == -1.0f); /* no failure wrote a rate */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sgd_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(sgd_l2_weights_only, setup, teardown),
        cmocka_unit_test_setup_teardown(momentum_three_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(nesterov_three_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(adam_three_steps_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(adam_three_steps_custom, setup, teardown),
        cmocka_unit_test_setup_teardown(decoupled_decay_each_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(decoupled_vs_l2_adam_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(decoupled_momentum_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(clipping, setup, teardown),
        cmocka_unit_test_setup_teardown(nonfinite_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(overflowing_step_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(step_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(decay_factor_never_negative, setup, teardown),
        cmocka_unit_test(schedule_constant_and_step),
        cmocka_unit_test(schedule_cosine),
        cmocka_unit_test(schedule_errors),
    };
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
