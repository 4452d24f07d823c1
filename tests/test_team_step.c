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
 *  - every error. */
#include "bp_test.h"

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

/* STEPS steps of cfg by the team of N workers on one net, by bp_optim_step on another: the same
 * bits after each step, and each step moved the first and the last slice. */
static void check_steps(const bp_optim_config *cfg, int N)
{
    bp_net *a = make_net(), *b = make_net();
    size_t P = bpt_num_params(a);
    bp_team *team;
    bp_optim *oa, *ob;
    bpt_ok(bp_team_create(&team, a, N, MAXB));
    bpt_ok(bp_optim_create(&oa, a, cfg));
    bpt_ok(bp_optim_create(&ob, b, cfg));
    float *g = bpt_grad(a);
    for (int s = 0; s < STEPS; s++) {
        float *before = params_copy(a);
        fill_grad(g, P, s);
        bpt_ok(bp_team_optim_step(team, oa, a, g, MAXB, 60, 0.01f * (float)(s + 1)));
        bpt_ok(bp_optim_step(ob, b, g, MAXB, 60, 0.01f * (float)(s + 1)));
        assert_memory_equal(bpt_params(a), bpt_params(b), P * sizeof(float));
        assert_true(moved(before, bpt_params(a), 0, 16));
        assert_true(moved(before, bpt_params(a), P - 12, P));
        free(before);
    }
    free(g);
    bp_optim_free(oa);
    bp_optim_free(ob);
    bp_team_free(team);
    bp_net_free(a);
    bp_net_free(b);
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
    bp_net *a = make_net(), *b = make_net(), *c = make_net();
    size_t P = bpt_num_params(a);
    bp_team *team;
    bp_optim *oa, *ob, *oc;
    bp_optim_config cfg = {.kind = BP_OPT_ADAM, .eta = 0.01f, .weight_decay = 0.1f};
    bpt_ok(bp_team_create(&team, a, 3, MAXB));
    bpt_ok(bp_optim_create(&oa, a, &cfg));
    bpt_ok(bp_optim_create(&ob, b, &cfg));
    bpt_ok(bp_optim_create(&oc, c, &cfg));
    float *g = bpt_grad(a);
    fill_grad(g, P, 0);
    bpt_ok(bp_team_optim_step(team, oa, a, g, MAXB, 60, 0.01f));
    bpt_ok(bp_optim_step(ob, b, g, MAXB, 60, 0.011f));
    bpt_ok(bp_optim_step(oc, c, g, MAXB + 1, 60, 0.01f));
    assert_true(moved(bpt_params(a), bpt_params(b), 0, P));
    assert_true(moved(bpt_params(a), bpt_params(c), 0, P));
    free(g);
    bp_optim_free(oa);
    bp_optim_free(ob);
    bp_optim_free(oc);
    bp_team_free(team);
    bp_net_free(a);
    bp_net_free(b);
    bp_net_free(c);
}

/* One refused step of each kind (bad: where in the gradient, and what) between finite steps,
 * for the team and for bp_optim_step: the same status and message, nothing changed, and the
 * next finite steps the same bits on both. */
static void check_refusal(bp_optimizer_kind kind, int N, size_t bad, float value, float eta)
{
    bp_net *a = make_net(), *b = make_net();
    size_t P = bpt_num_params(a);
    bp_team *team;
    bp_optim *oa, *ob;
    bp_optim_config cfg = {.kind = kind, .eta = 0.01f, .mu = 0.5f};
    bpt_ok(bp_team_create(&team, a, N, MAXB));
    bpt_ok(bp_optim_create(&oa, a, &cfg));
    bpt_ok(bp_optim_create(&ob, b, &cfg));
    float *g = bpt_grad(a);
    fill_grad(g, P, 0);
    bpt_ok(bp_team_optim_step(team, oa, a, g, MAXB, 60, 0.01f));
    bpt_ok(bp_optim_step(ob, b, g, MAXB, 60, 0.01f));
    float *before = params_copy(a);
    g[bad] = value;
    bp_status st = bp_team_optim_step(team, oa, a, g, MAXB, 60, eta);
    char why[256];
    snprintf(why, sizeof why, "%s", bp_last_error());
    assert_int_equal(st, BP_ENUMERIC);
    assert_int_equal(bp_optim_step(ob, b, g, MAXB, 60, eta), BP_ENUMERIC);
    assert_string_equal(why, bp_last_error());
    assert_memory_equal(before, bpt_params(a), P * sizeof(float)); /* every slice unchanged */
    for (int s = 1; s < 3; s++) {
        fill_grad(g, P, s);
        bpt_ok(bp_team_optim_step(team, oa, a, g, MAXB, 60, 0.01f));
        bpt_ok(bp_optim_step(ob, b, g, MAXB, 60, 0.01f));
        assert_memory_equal(bpt_params(a), bpt_params(b), P * sizeof(float));
    }
    free(before);
    free(g);
    bp_optim_free(oa);
    bp_optim_free(ob);
    bp_team_free(team);
    bp_net_free(a);
    bp_net_free(b);
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
    bp_net *a = make_net(), *b = make_net();
    size_t P = bpt_num_params(a);
    bp_team *team;
    bp_optim *oa, *ob;
    bp_optim_config cfg = {.kind = BP_OPT_SGD, .eta = 0.01f};
    bpt_ok(bp_team_create(&team, a, 2, MAXB));
    bpt_ok(bp_optim_create(&oa, a, &cfg));
    bpt_ok(bp_optim_create(&ob, b, &cfg));
    float *g = bpt_grad(a);
    g[5] = 3e38f;     /* layer 2, slice 0 */
    g[P - 1] = 3e38f; /* layer 3, slice 1 */
    bpt_assert_status(bp_team_optim_step(team, oa, a, g, 1, 60, 1e30f), BP_ENUMERIC, "layer 2");
    bpt_assert_status(bp_optim_step(ob, b, g, 1, 60, 1e30f), BP_ENUMERIC, "layer 2");
    g[5] = 0;
    bpt_assert_status(bp_team_optim_step(team, oa, a, g, 1, 60, 1e30f), BP_ENUMERIC, "layer 3");
    g[5] = NAN; /* a non-finite gradient is named before any layer */
    bpt_assert_status(bp_team_optim_step(team, oa, a, g, 1, 60, 1e30f), BP_ENUMERIC, "gradient");
    free(g);
    bp_optim_free(oa);
    bp_optim_free(ob);
    bp_team_free(team);
    bp_net_free(a);
    bp_net_free(b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(team_step_is_the_serial_step),
        cmocka_unit_test(team_step_is_not_another_step),
        cmocka_unit_test(refused_step_changes_no_slice),
        cmocka_unit_test(refusal_names_the_lowest_layer),
        cmocka_unit_test(team_gradient_sum_by_slices),
        cmocka_unit_test(team_step_errors),
    };
    return cmocka_run_group_tests_name("team_step", tests, NULL, NULL);
}
