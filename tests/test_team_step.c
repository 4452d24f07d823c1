/* The optimizer's step on worker threads (bp_team_optim_step). The tsan preset runs this suite
 * under ThreadSanitizer, which must report no race.
 *  - with N = 1, 2, 3, 5, 8, 200 workers (slices inside layers, on layer boundaries, empty ones),
 *    every optimizer kind, with and without L2, decoupled decay and clipping: the parameters after
 *    four steps are bit for bit those of bp_optim_step on a copy (the later steps read the
 *    optimizer's state, so it is the same too), and every slice's parameters moved;
 *  - a non-finite gradient element in the last slice only, and a finite step that overflows one
 *    parameter of the last slice only: BP_ENUMERIC with bp_optim_step's message, no parameter of
 *    any slice changed, and the next steps give bp_optim_step's bits from the untouched state (so
 *    neither the moments nor Adam's step count moved);
 *  - bp_team_gradient's sum, done by slices on the workers, on a network whose slices cross
 *    layers: the sum in share order of the shares' gradients, bit for bit;
 *  - every error;
 *  - bp_train's step (bp__team_gradient_checked, whose round of the sum also dry-runs the step,
 *    then bp__team_step_finish), on a network of several sum chunks per slice, with 1, 2, 3, 5,
 *    8 and 200 workers, every optimizer with and without L2, decay, clipping and dropout: the
 *    gradient, cost and parameters of the public calls it replaces (bp_team_gradient, then
 *    bp_optim_step), bit for bit, and they differ from a step of another rate or of one pass;
 *  - its refusals: a weight whose step overflows in one slice, in two slices or two layers of
 *    one chunk, a non-finite gradient (from the last share), with and without clipping: the
 *    serial step's status and message, no parameter changed (plain SGD's, updated chunk by chunk
 *    in the round, restored), the gradient the whole sum, the next steps the serial bits; a
 *    dropped step (SGD, Adam) and the errors change nothing. */
#include "bp_test.h"

#include "../src/internal.h" /* bp_train's fused step: hidden symbols of the static library */

#include <math.h>

/* 1073 + 29 + 377 + 13 = 1492 parameters: slices of 16-float multiples cut the layers anywhere */
static const int sizes[] = {37, 29, 13};
static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
static const int team_sizes[] = {1, 2, 3, 5, 8, 200};
enum { N1 = 37, NL = 13, MAXB = 11, STEPS = 4 };

static bp_net *make_net(void)
{
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_fill_params(net, 3, -0.5f, 0.5f);
    return net;
}

/* A copy of net's parameters (the caller frees it). */
static float *params_copy(bp_net *net)
{
    size_t P = bpt_num_params(net);
    float *p = malloc(P * sizeof *p);
    assert_non_null(p);
    memcpy(p, bpt_params(net), P * sizeof *p);
    return p;
}

/* The gradient of step s: a sum over MAXB samples' worth of values, different every step. */
static void fill_grad(float *g, size_t P, int s)
{
    bpt_rng r = bpt_rng_make(100 + (uint64_t)s);
    bpt_fill(&r, g, P, -2.0f, 2.0f);
}

/* Whether some parameter of [lo, hi) differs between a and b. */
static int moved(const float *a, const float *b, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (a[i] != b[i])
            return 1;
    return 0;
}

/* Twin networks a and b of one maker (the same parameters), an optimizer of one configuration on
 * each, a gradient buffer for each (ga, gb) and, unless N is 0, a team of N workers made on a.
 * The team steps a, bp_optim_step (or the public calls) steps b, and the two are compared. */
typedef struct pair {
    bp_net *a, *b;
    bp_optim *oa, *ob;
    float *ga, *gb;
    bp_team *team;
    size_t P;
} pair;

static pair pair_make(bp_net *(*make)(void), const bp_optim_config *cfg, int N)
{
    pair p = {make(), make(), NULL, NULL, NULL, NULL, NULL, 0};
    p.P = bpt_num_params(p.a);
    if (N > 0)
        bpt_ok(bp_team_create(&p.team, p.a, N, MAXB));
    bpt_ok(bp_optim_create(&p.oa, p.a, cfg));
    bpt_ok(bp_optim_create(&p.ob, p.b, cfg));
    p.ga = bpt_grad(p.a);
    p.gb = bpt_grad(p.b);
    return p;
}

static void pair_free(pair *p)
{
    free(p->ga);
    free(p->gb);
    bp_optim_free(p->oa);
    bp_optim_free(p->ob);
    bp_team_free(p->team);
    bp_net_free(p->a);
    bp_net_free(p->b);
}

/* The pair's networks have the same parameter bits (a macro: a failure names the caller's line). */
#define assert_same_params(p)                                                                      \
    assert_memory_equal(bpt_params((p)->a), bpt_params((p)->b), (p)->P * sizeof(float))

/* Step s of rate eta on both, from one gradient (fill_grad's of step s, in ga): by the team on
 * a, by bp_optim_step on b. */
static void optim_step_both(pair *p, int s, float eta)
{
    fill_grad(p->ga, p->P, s);
    bpt_ok(bp_team_optim_step(p->team, p->oa, p->a, p->ga, MAXB, 60, eta));
    bpt_ok(bp_optim_step(p->ob, p->b, p->ga, MAXB, 60, eta));
}

/* STEPS steps of cfg by the team of N workers on one net, by bp_optim_step on another: the same
 * bits after each step, and each step moved the first and the last slice. */
static void check_steps(const bp_optim_config *cfg, int N)
{
    pair p = pair_make(make_net, cfg, N);
    for (int s = 0; s < STEPS; s++) {
        float *before = params_copy(p.a);
        optim_step_both(&p, s, 0.01f * (float)(s + 1));
        assert_same_params(&p);
        assert_true(moved(before, bpt_params(p.a), 0, 16));
        assert_true(moved(before, bpt_params(p.a), p.P - 12, p.P));
        free(before);
    }
    pair_free(&p);
}

static void team_step_is_the_serial_step(void **state)
{
    (void)state;
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++)
        for (int variant = 0; variant < 4; variant++) {
            bp_optim_config cfg = {.kind = (bp_optimizer_kind)kind, .eta = 0.01f, .mu = 0.9f};
            cfg.lambda = variant & 1 ? 0.5f : 0.0f;
            cfg.weight_decay = variant >= 2 ? 0.1f : 0.0f;
            cfg.clip_norm = variant == 3 ? 0.5f : 0.0f; /* far below the norms: it clips */
            for (size_t k = 0; k < sizeof team_sizes / sizeof *team_sizes; k++)
                check_steps(&cfg, team_sizes[k]);
        }
}

/* The comparison above can fail: a step of another rate, or of another batch size m, gives other
 * bits than the team's. */
static void team_step_is_not_another_step(void **state)
{
    (void)state;
    bp_optim_config cfg = {.kind = BP_OPT_ADAM, .eta = 0.01f, .weight_decay = 0.1f};
    pair p = pair_make(make_net, &cfg, 3);
    bp_net *c = make_net();
    bp_optim *oc;
    bpt_ok(bp_optim_create(&oc, c, &cfg));
    fill_grad(p.ga, p.P, 0);
    bpt_ok(bp_team_optim_step(p.team, p.oa, p.a, p.ga, MAXB, 60, 0.01f));
    bpt_ok(bp_optim_step(p.ob, p.b, p.ga, MAXB, 60, 0.011f));
    bpt_ok(bp_optim_step(oc, c, p.ga, MAXB + 1, 60, 0.01f));
    assert_true(moved(bpt_params(p.a), bpt_params(p.b), 0, p.P));
    assert_true(moved(bpt_params(p.a), bpt_params(c), 0, p.P));
    bp_optim_free(oc);
    bp_net_free(c);
    pair_free(&p);
}

/* One refused step of each kind (bad: where in the gradient, and what) between finite steps,
 * for the team and for bp_optim_step: the same status and message, nothing changed, and the
 * next finite steps the same bits on both. */
static void check_refusal(bp_optimizer_kind kind, int N, size_t bad, float value, float eta)
{
    bp_optim_config cfg = {.kind = kind, .eta = 0.01f, .mu = 0.5f};
    pair p = pair_make(make_net, &cfg, N);
    optim_step_both(&p, 0, 0.01f);
    float *before = params_copy(p.a);
    p.ga[bad] = value;
    bp_status st = bp_team_optim_step(p.team, p.oa, p.a, p.ga, MAXB, 60, eta);
    char why[256];
    snprintf(why, sizeof why, "%s", bp_last_error());
    assert_int_equal(st, BP_ENUMERIC);
    assert_int_equal(bp_optim_step(p.ob, p.b, p.ga, MAXB, 60, eta), BP_ENUMERIC);
    assert_string_equal(why, bp_last_error());
    assert_memory_equal(before, bpt_params(p.a), p.P * sizeof(float)); /* every slice unchanged */
    for (int s = 1; s < 3; s++) {
        optim_step_both(&p, s, 0.01f);
        assert_same_params(&p);
    }
    free(before);
    pair_free(&p);
}

static void refused_step_changes_no_slice(void **state)
{
    (void)state;
    size_t last = 1492 - 3; /* a bias of the output layer: the last slice */
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++)
        for (int N = 2; N <= 5; N += 3) {
            check_refusal((bp_optimizer_kind)kind, N, last, NAN, 0.01f);
            check_refusal((bp_optimizer_kind)kind, N, 0, INFINITY, 0.01f);
            /* finite, but eta g / m overflows (Adam normalises the step: the moment overflows) */
            check_refusal((bp_optimizer_kind)kind, N, last, 3e38f, 1e30f);
        }
}

/* The lowest refused layer is named, as bp_optim_step names it, when two slices refuse. */
static void refusal_names_the_lowest_layer(void **state)
{
    (void)state;
    bp_optim_config cfg = {.kind = BP_OPT_SGD, .eta = 0.01f};
    pair p = pair_make(make_net, &cfg, 2);
    float *g = p.ga;
    g[5] = 3e38f;       /* layer 2, slice 0 */
    g[p.P - 1] = 3e38f; /* layer 3, slice 1 */
    bpt_assert_status(bp_team_optim_step(p.team, p.oa, p.a, g, 1, 60, 1e30f), BP_ENUMERIC,
                      "layer 2");
    bpt_assert_status(bp_optim_step(p.ob, p.b, g, 1, 60, 1e30f), BP_ENUMERIC, "layer 2");
    g[5] = 0;
    bpt_assert_status(bp_team_optim_step(p.team, p.oa, p.a, g, 1, 60, 1e30f), BP_ENUMERIC,
                      "layer 3");
    g[5] = NAN; /* a non-finite gradient is named before any layer */
    bpt_assert_status(bp_team_optim_step(p.team, p.oa, p.a, g, 1, 60, 1e30f), BP_ENUMERIC,
                      "gradient");
    pair_free(&p);
}

/* bp_team_gradient on this network (slices across layers): the share-order sum of the shares'
 * bp_gradient_batch, bit for bit; and not the bits of one pass (the comparison can fail). */
static void team_gradient_sum_by_slices(void **state)
{
    (void)state;
    bp_net *net = make_net();
    size_t P = bpt_num_params(net);
    bpt_rng r = bpt_rng_make(9);
    float *X = bpt_matrix(&r, N1, MAXB, N1, -1.0f, 1.0f, 0.0f);
    float *Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, MAXB, NL, 0.0f);
    float *got = bpt_grad(net), *ref = bpt_grad(net), *g = bpt_grad(net);
    for (int N = 2; N <= 8; N += 3) {
        bp_team *team;
        bpt_ok(bp_team_create(&team, net, N, MAXB));
        bpt_ok(bp_team_gradient(team, net, MAXB, X, N1, Y, NL, got, NULL));
        memset(ref, 0, P * sizeof *ref);
        for (int w = 0; w < N; w++) {
            int lo = w * MAXB / N, hi = (w + 1) * MAXB / N;
            memset(g, 0, P * sizeof *g);
            bp_workspace *ws = bpt_ws(net, MAXB);
            if (hi > lo)
                bpt_ok(bp_gradient_batch(net, ws, hi - lo, X + (size_t)lo * N1, N1,
                                         Y + (size_t)lo * NL, NL, g, NULL));
            bp_workspace_free(ws);
            for (size_t i = 0; i < P; i++)
                ref[i] = w == 0 ? g[i] : ref[i] + g[i];
        }
        assert_memory_equal(got, ref, P * sizeof *got);
        bp_workspace *ws = bpt_ws(net, MAXB);
        memset(g, 0, P * sizeof *g);
        bpt_ok(bp_gradient_batch(net, ws, MAXB, X, N1, Y, NL, g, NULL));
        assert_true(moved(got, g, 0, P));
        bp_workspace_free(ws);
        bp_team_free(team);
    }
    free(got);
    free(ref);
    free(g);
    free(X);
    free(Y);
    bp_net_free(net);
}

static void team_step_errors(void **state)
{
    (void)state;
    bp_net *net = make_net();
    static const int other_sizes[] = {37, 29, 12};
    bp_net *other = bpt_net(3, other_sizes, acts, BP_NLL);
    bp_team *team;
    bp_optim *opt, *opt_other;
    bp_optim_config cfg = {.kind = BP_OPT_ADAM, .eta = 0.01f, .weight_decay = 1.0f};
    bpt_ok(bp_team_create(&team, net, 2, MAXB));
    bpt_ok(bp_optim_create(&opt, net, &cfg));
    bpt_ok(bp_optim_create(&opt_other, other, &cfg));
    float *g = bpt_grad(net);
    float *before = params_copy(net);
    bpt_assert_status(bp_team_optim_step(NULL, opt, net, g, 1, 1, 0.1f), BP_ENULL, "team");
    bpt_assert_status(bp_team_optim_step(team, NULL, net, g, 1, 1, 0.1f), BP_ENULL, "opt");
    bpt_assert_status(bp_team_optim_step(team, opt, NULL, g, 1, 1, 0.1f), BP_ENULL, "net");
    bpt_assert_status(bp_team_optim_step(team, opt, net, NULL, 1, 1, 0.1f), BP_ENULL, "grad");
    bpt_assert_status(bp_team_optim_step(team, opt, other, g, 1, 1, 0.1f), BP_EMISMATCH,
                      "shape");
    bpt_assert_status(bp_team_optim_step(team, opt_other, net, g, 1, 1, 0.1f), BP_EMISMATCH,
                      "parameters");
    bpt_assert_status(bp_team_optim_step(team, opt, net, g, 0, 1, 0.1f), BP_EDIM, "m");
    bpt_assert_status(bp_team_optim_step(team, opt, net, g, 1, 0, 0.1f), BP_EDIM, "n");
    bpt_assert_status(bp_team_optim_step(team, opt, net, g, 1, 1, 0.0f), BP_EVALUE, "eta");
    bpt_assert_status(bp_team_optim_step(team, opt, net, g, 1, 1, NAN), BP_EVALUE, "eta");
    bpt_assert_status(bp_team_optim_step(team, opt, net, g, 1, 1, 2.0f), BP_EVALUE, "flip");
    assert_memory_equal(before, bpt_params(net), bpt_num_params(net) * sizeof(float));
    g[7] = 1.0f;
    bpt_ok(bp_team_optim_step(team, opt, net, g, 1, 1, 0.1f)); /* still usable */
    assert_true(moved(before, bpt_params(net), 0, bpt_num_params(net)));
    free(before);
    free(g);
    bp_optim_free(opt);
    bp_optim_free(opt_other);
    bp_team_free(team);
    bp_net_free(other);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- bp_train's fused step */

/* 4773 + 129 + 1677 + 13 = 6592 parameters: several of the fused round's 2048-float chunks per
 * slice for N <= 3, chunks and slices that cut the layers anywhere. */
static const int big_sizes[] = {37, 129, 13};
enum { BIG_W3 = 37 * 129 + 129, BIG_P = BIG_W3 + 129 * 13 + 13 };

static bp_net *make_big(void)
{
    bp_net *net = bpt_net(3, big_sizes, acts, BP_NLL);
    bpt_fill_params(net, 5, -0.3f, 0.3f);
    return net;
}

/* The inputs and targets of step s: MAXB columns of each. */
static void step_data(int s, float **X, float **Y)
{
    bpt_rng r = bpt_rng_make(200 + (uint64_t)s);
    *X = bpt_matrix(&r, N1, MAXB, N1, -1.0f, 1.0f, 0.0f);
    *Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, MAXB, NL, 0.0f);
}

/* The step bp_train takes with a team (bp__team_gradient_checked, then bp__team_step_finish),
 * or, with serial, the public calls it replaces: bp_team_gradient (or the dropout one, masks
 * (7, s, 3)) then bp_optim_step. */
static void train_step(bp_team *team, bp_net *net, bp_optim *opt, int s, int masks, float *g,
                       double *cost, int serial)
{
    float *X, *Y;
    step_data(s, &X, &Y);
    bp__team_masks m = {7, (uint64_t)s, 3};
    float eta = 0.01f * (float)(s + 1);
    if (serial) {
        bpt_ok(masks ? bp_team_gradient_dropout(team, net, 7, (uint64_t)s, 3, MAXB, X, N1, Y, NL,
                                                g, cost)
                     : bp_team_gradient(team, net, MAXB, X, N1, Y, NL, g, cost));
        bpt_ok(bp_optim_step(opt, net, g, MAXB, 60, eta));
    } else {
        bpt_ok(bp__team_gradient_checked(team, net, masks ? &m : NULL, NULL, MAXB, X, N1, Y, NL, g,
                                         cost, opt, 60, eta));
        bpt_ok(bp__team_step_finish(team, 1));
    }
    free(X);
    free(Y);
}

/* Step s on both nets of the pair with team: fused on a, by the public calls on b; the gradients
 * into ga and gb, the costs into *ca and *cb. */
static void train_step_both(pair *p, bp_team *team, int s, int masks, double *ca, double *cb)
{
    train_step(team, p->a, p->oa, s, masks, p->ga, ca, 0);
    train_step(team, p->b, p->ob, s, masks, p->gb, cb, 1);
}

/* Steps from, ..., to - 1 (no masks) on both: the same parameter bits after each. */
static void train_steps_agree(pair *p, bp_team *team, int from, int to)
{
    double ca, cb;
    for (int s = from; s < to; s++) {
        train_step_both(p, team, s, 0, &ca, &cb);
        assert_same_params(p);
    }
}

/* STEPS steps of cfg, fused on one net and by the public calls and bp_optim_step on another: the
 * same gradient, cost and parameters after each, and each step moved the first and last slice. */
static void check_fused(bp_team *team, const bp_optim_config *cfg, int masks)
{
    pair p = pair_make(make_big, cfg, 0);
    for (int s = 0; s < STEPS; s++) {
        float *before = params_copy(p.a);
        double ca = 0, cb = 1;
        train_step_both(&p, team, s, masks, &ca, &cb);
        assert_memory_equal(p.ga, p.gb, BIG_P * sizeof(float));
        assert_memory_equal(&ca, &cb, sizeof ca);
        assert_same_params(&p);
        assert_true(moved(before, bpt_params(p.a), 0, 16));
        assert_true(moved(before, bpt_params(p.a), BIG_P - 12, BIG_P));
        free(before);
    }
    pair_free(&p);
}

static void fused_step_is_the_serial_step(void **state)
{
    (void)state;
    static const float rates[] = {0.2f, 0.3f};
    for (size_t k = 0; k < sizeof team_sizes / sizeof *team_sizes; k++) {
        bp_net *shape = make_big();
        bp_team *team;
        bpt_ok(bp_team_create(&team, shape, team_sizes[k], MAXB));
        for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++)
            for (int variant = 0; variant < 5; variant++) {
                bp_optim_config cfg = {.kind = (bp_optimizer_kind)kind, .eta = 0.01f, .mu = 0.9f};
                cfg.lambda = variant & 1 ? 0.5f : 0.0f;
                cfg.weight_decay = variant >= 2 ? 0.1f : 0.0f;
                cfg.clip_norm = variant == 3 ? 0.05f : 0.0f; /* below the norms: it clips */
                bpt_ok(bp_team_set_dropout(team, variant == 4 ? rates : NULL));
                check_fused(team, &cfg, variant == 4);
            }
        bp_team_free(team);
        bp_net_free(shape);
    }
}

/* The bias of the hidden unit whose output weight p (of layer 3) multiplies. */
static size_t saturated(size_t p)
{
    return 37 * 129 + (p - BIG_W3) / 13;
}

/* One refused fused step between finite ones, the same on the public calls and bp_optim_step:
 * the same status and message, no parameter changed, the gradient still the whole sum, and the
 * next steps the same bits (so neither the moments nor the step count moved). poke[]: weights
 * set to 1e36 on both nets first (the hidden unit of one of layer 3 saturated, so that its
 * gradient stays finite and moderate upstream); with lambda the L2 term then overflows them
 * alone (eta lambda / n = 1000: -999 theta, finite for the others); inf_target: the last
 * sample's first target infinite (a non-finite gradient; the last share's, not share 0's). */
static void check_fused_refusal(bp_team *team, const bp_optim_config *cfg, const size_t *poke,
                                int pokes, int inf_target, const char *named)
{
    pair p = pair_make(make_big, cfg, 0);
    float *pa = bpt_params(p.a), *pb = bpt_params(p.b), *X, *Y;
    double ca, cb;
    train_step_both(&p, team, 0, 0, &ca, &cb);
    for (int i = 0; i < pokes; i++) {
        pa[poke[i]] = pb[poke[i]] = 1e36f;
        if (poke[i] >= BIG_W3) /* its hidden unit saturated: no huge delta reaches layer 2 */
            pa[saturated(poke[i])] = pb[saturated(poke[i])] = 100.0f;
    }
    float *before = params_copy(p.a);
    step_data(1, &X, &Y);
    if (inf_target)
        Y[(MAXB - 1) * NL] = INFINITY;
    bpt_ok(bp__team_gradient_checked(team, p.a, NULL, NULL, MAXB, X, N1, Y, NL, p.ga, NULL, p.oa,
                                     60, 0.01f));
    bpt_assert_status(bp__team_step_finish(team, 1), BP_ENUMERIC, named);
    char why[256];
    snprintf(why, sizeof why, "%s", bp_last_error());
    bpt_ok(bp_team_gradient(team, p.b, MAXB, X, N1, Y, NL, p.gb, NULL));
    assert_int_equal(bp_optim_step(p.ob, p.b, p.gb, MAXB, 60, 0.01f), BP_ENUMERIC);
    assert_string_equal(why, bp_last_error());
    assert_memory_equal(before, pa, BIG_P * sizeof(float)); /* every slice unchanged */
    assert_memory_equal(p.ga, p.gb, BIG_P * sizeof(float));
    for (int i = 0; i < pokes; i++)
        pa[poke[i]] = pb[poke[i]] = 0.1f;
    train_steps_agree(&p, team, 2, 4);
    free(before);
    free(X);
    free(Y);
    pair_free(&p);
}

static void fused_refusal_changes_no_slice(void **state)
{
    (void)state;
    /* a weight of layer 3 in the last chunk; one of layer 2 in the first chunk and one of layer 3
     * further on in the same slice (N = 1) or in another; both in one chunk (4500 and 5000) */
    static const size_t last[] = {BIG_P - 20}, two[] = {1000, BIG_P - 20}, chunk[] = {4500, 5000};
    for (size_t k = 0; k < 4; k++) {
        bp_net *shape = make_big();
        bp_team *team;
        bpt_ok(bp_team_create(&team, shape, team_sizes[k], MAXB));
        for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++) {
            bp_optim_config cfg = {.kind = (bp_optimizer_kind)kind, .eta = 0.01f, .mu = 0.5f,
                                   .lambda = 1000 * 60 / 0.01f};
            check_fused_refusal(team, &cfg, last, 1, 0, "layer 3");
            check_fused_refusal(team, &cfg, two, 2, 0, "layer 2");
            check_fused_refusal(team, &cfg, chunk, 2, 0, "layer 2");
            check_fused_refusal(team, &cfg, NULL, 0, 1, "gradient");
            check_fused_refusal(team, &cfg, two, 2, 1, "gradient"); /* named before any layer */
            cfg.clip_norm = 0.05f; /* the norm first: not finite */
            check_fused_refusal(team, &cfg, NULL, 0, 1, "gradient");
            check_fused_refusal(team, &cfg, last, 1, 0, "layer 3");
        }
        bp_team_free(team);
        bp_net_free(shape);
    }
}

/* A fused step dropped (bp__team_step_finish without take, as bp_train drops it when the loss is
 * not finite) changes nothing, not even Adam's step count, nor plain SGD's parameters, which its
 * round updated (and the drop restores): the next steps are those of a run without it. And its
 * errors: the step's arguments before anything is computed, the gradient's, nothing kept after
 * either. */
static void check_dropped(bp_optimizer_kind kind)
{
    bp_optim_config cfg = {.kind = kind, .eta = 0.01f};
    pair p = pair_make(make_big, &cfg, 3);
    bp_team *team = p.team; /* the fused side's, for the long calls below */
    bp_net *a = p.a;
    bp_optim *oa = p.oa;
    float *ga = p.ga, *X, *Y;
    double ca, cb;
    step_data(9, &X, &Y);
    train_step_both(&p, team, 0, 0, &ca, &cb);
    float *before = params_copy(a);
    bpt_ok(bp__team_gradient_checked(team, a, NULL, NULL, MAXB, X, N1, Y, NL, ga, NULL, oa, 60,
                                     0.01f));
    bpt_ok(bp__team_step_finish(team, 0));
    assert_memory_equal(before, bpt_params(a), BIG_P * sizeof(float));
    bpt_ok(bp__team_step_finish(team, 1)); /* nothing kept: nothing done */
    assert_memory_equal(before, bpt_params(a), BIG_P * sizeof(float));
    memset(ga, 0, BIG_P * sizeof *ga);
    bpt_assert_status(bp__team_gradient_checked(team, a, NULL, NULL, MAXB, X, N1, Y, NL, ga, NULL,
                                                oa, 60, NAN),
                      BP_EVALUE, "eta");
    bpt_assert_status(bp__team_gradient_checked(team, a, NULL, NULL, MAXB, X, N1, Y, NL, ga, NULL,
                                                NULL, 60, 0.01f),
                      BP_ENULL, "opt");
    bpt_assert_status(bp__team_gradient_checked(team, a, NULL, NULL, MAXB, X, N1, Y, NL, ga, NULL,
                                                oa, 0, 0.01f),
                      BP_EDIM, "n");
    for (size_t i = 0; i < BIG_P; i++) /* the step's errors come before the gradient */
        assert_true(ga[i] == 0.0f);
    bpt_assert_status(bp__team_gradient_checked(team, a, NULL, NULL, MAXB + 1, X, N1, Y, NL, ga,
                                                NULL, oa, 60, 0.01f),
                      BP_EBATCH, "max_batch");
    bpt_assert_status(bp__team_gradient_checked(team, a, NULL, NULL, MAXB, X, N1 - 1, Y, NL, ga,
                                                NULL, oa, 60, 0.01f),
                      BP_ELD, "ldx");
    bpt_ok(bp__team_step_finish(team, 1));
    assert_memory_equal(before, bpt_params(a), BIG_P * sizeof(float));
    train_steps_agree(&p, team, 1, 4);
    free(before);
    free(X);
    free(Y);
    pair_free(&p);
}

static void fused_step_dropped_and_errors(void **state)
{
    (void)state;
    check_dropped(BP_OPT_SGD);
    check_dropped(BP_OPT_ADAM);
}

/* The comparisons above can fail: a fused step of another rate, or with the sum of the blocks in
 * another order (a one-pass gradient), gives other bits than the public calls'. */
static void fused_step_is_not_another_step(void **state)
{
    (void)state;
    bp_optim_config cfg = {.kind = BP_OPT_SGD, .eta = 0.01f};
    pair p = pair_make(make_big, &cfg, 3);
    bp_net *c = make_big();
    bp_optim *oc;
    bpt_ok(bp_optim_create(&oc, c, &cfg));
    float *X, *Y;
    double cost;
    step_data(0, &X, &Y);
    train_step(p.team, p.a, p.oa, 0, 0, p.ga, &cost, 0);
    bpt_ok(bp_team_gradient(p.team, p.b, MAXB, X, N1, Y, NL, p.gb, NULL));
    bpt_ok(bp_optim_step(p.ob, p.b, p.gb, MAXB, 60, 0.011f));
    bp_workspace *ws = bpt_ws(c, MAXB);
    bpt_ok(bp_gradient_batch(c, ws, MAXB, X, N1, Y, NL, p.gb, NULL));
    bpt_ok(bp_optim_step(oc, c, p.gb, MAXB, 60, 0.01f));
    assert_true(moved(bpt_params(p.a), bpt_params(p.b), 0, BIG_P));
    assert_true(moved(bpt_params(p.a), bpt_params(c), 0, BIG_P));
    bp_workspace_free(ws);
    free(X);
    free(Y);
    bp_optim_free(oc);
    bp_net_free(c);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(team_step_is_the_serial_step),
        cmocka_unit_test(team_step_is_not_another_step),
        cmocka_unit_test(refused_step_changes_no_slice),
        cmocka_unit_test(refusal_names_the_lowest_layer),
        cmocka_unit_test(team_gradient_sum_by_slices),
        cmocka_unit_test(team_step_errors),
        cmocka_unit_test(fused_step_is_the_serial_step),
        cmocka_unit_test(fused_step_is_not_another_step),
        cmocka_unit_test(fused_refusal_changes_no_slice),
        cmocka_unit_test(fused_step_dropped_and_errors),
    };
    return cmocka_run_group_tests_name("team_step", tests, NULL, NULL);
}
