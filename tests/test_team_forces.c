/* The force loss on worker threads (bp_team_create_tangent, bp_team_gradient_forces, bp_train's
 * forces with workers). The tsan preset runs this suite under ThreadSanitizer, which must report
 * no race.
 *  - bp_team_gradient_forces with N = 1, 2, 3, 5 workers is, bit for bit, the sum in share order
 *    of bp_gradient_forces over the columns [w*b/N, (w+1)*b/N) (b below, at and not a multiple of
 *    N), with the force term and without (w_F = 0, also on a team of plain workspaces), on a
 *    network that carries an input and a target scaling; its loss the shares' losses summed in
 *    that order; N = 1 is one bp_gradient_forces pass; a repeat gives the same bits;
 *  - the negative twin: N = 3 is the batch's gradient up to rounding, not one pass's bits;
 *  - bp_train with forces and 2 or 3 workers: the same bits on every run, a held-out loss (the
 *    evaluation across the workers) that is the serial force loss of the final parameters, and
 *    a fit as good as one thread's; another worker count gives other bits;
 *  - a NaN reference force: training across workers stops at the batch one thread stops at;
 *  - a workspace or team made for another network of the same shape (tanh for a sigmoid one)
 *    gives the VJP and the force gradients of the network's own workspace;
 *  - every error, with the caller's gradient untouched.
 * That W workers are W ranks bit for bit is tests/test_parallel.c's (it has the ranks). */
#include "bp_test.h"

static const int sizes[] = {3, 8, 6, 1};
static const bp_activation acts[] = {BP_SOFTPLUS, BP_TANH, BP_IDENTITY};
enum { N1 = 3, NT = 1 + N1, MAXB = 23 };

/* A network with an input scaling and a target scaling, so that the shares' raw data are scaled
 * as one pass scales them. */
static bp_net *make_net(void)
{
    bp_net *net = bpt_net(4, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    const float mean[N1] = {0.5f, -1.0f, 2.0f}, scale[N1] = {2.0f, 0.5f, 3.0f};
    const float ym = 1.5f, ys = 4.0f;
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, mean, scale));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, &ym, &ys));
    return net;
}

/* count samples of the energy E = x1 x2 + sin(x3) (raw units, x around the scaling's means)
 * and its forces F = -grad E: targets [E; F], NT rows per sample. */
static bp_dataset make_data(int count, uint64_t seed)
{
    bp_dataset ds = bpt_dataset_alloc(count, N1, NT, 0);
    bpt_rng r = bpt_rng_make(seed);
    for (int j = 0; j < count; j++) {
        float *x = ds.x + (size_t)j * N1, *y = ds.y + (size_t)j * NT;
        x[0] = bpt_range(&r, -1.5f, 2.5f);
        x[1] = bpt_range(&r, -2.0f, 0.0f);
        x[2] = bpt_range(&r, -1.0f, 5.0f);
        y[0] = x[0] * x[1] + sinf(x[2]);
        y[1] = -x[1], y[2] = -x[0], y[3] = -cosf(x[2]);
    }
    return ds;
}

/* make_net() and make_data(count, seed), freed together by fixture_free. */
typedef struct fixture {
    bp_net *net;
    bp_dataset ds;
    size_t P;
} fixture;

static fixture fixture_make(int count, uint64_t seed)
{
    fixture fx = {make_net(), make_data(count, seed), 0};
    fx.P = bpt_num_params(fx.net);
    return fx;
}

static void fixture_free(fixture *fx)
{
    bpt_dataset_release(&fx->ds);
    bp_net_free(fx->net);
}

/* What bp_team_gradient_forces with N workers must give for the first b samples of ds: the sum
 * in share order of bp_gradient_forces over the shares, each in a tangent workspace of its own;
 * *loss the sum of their losses in the same order. */
static void force_sum_of_shares(const bp_net *net, int N, int b, const bp_dataset *ds, float w_f,
                                float *grad, double *loss)
{
    size_t P = bpt_num_params(net);
    float *g = bpt_grad(net);
    *loss = 0;
    for (int w = 0; w < N; w++) {
        int lo = (int)((long)w * b / N), hi = (int)((long)(w + 1) * b / N);
        double l = 0;
        memset(g, 0, P * sizeof *g);
        if (hi > lo) {
            bp_workspace *ws = NULL;
            const float *Y = ds->y + (size_t)lo * NT;
            bpt_ok(bp_workspace_create_tangent(&ws, net, hi - lo));
            bpt_ok(bp_gradient_forces(net, ws, hi - lo, ds->x + (size_t)lo * N1, N1, Y, NT, Y + 1,
                                      NT, 0.7f, w_f, g, &l));
            bp_workspace_free(ws);
        }
        for (size_t i = 0; i < P; i++)
            grad[i] = w == 0 ? g[i] : grad[i] + g[i];
        *loss += l;
    }
    free(g);
}

/* The team's force gradient of the first b samples of ds into got (overwritten) and *loss. */
static void team_forces(bp_team *team, const bp_net *net, int b, const bp_dataset *ds, float w_f,
                        float *got, double *loss)
{
    bpt_ok(bp_team_gradient_forces(team, net, b, ds->x, N1, ds->y, NT, ds->y + 1, NT, 0.7f, w_f,
                                   got, loss));
}

static void check_team(bp_team *team, const bp_net *net, int N, const bp_dataset *ds, float w_f)
{
    static const int batches[] = {1, 2, 7, 23}; /* below, at, not a multiple of N */
    size_t P = bpt_num_params(net);
    float *got = bpt_grad(net), *ref = bpt_grad(net), *again = bpt_grad(net);
    for (size_t k = 0; k < sizeof batches / sizeof *batches; k++) {
        int b = batches[k];
        double l = -1, l_ref = -2, l_again = -3;
        for (size_t p = 0; p < P; p++) /* overwritten, not accumulated */
            got[p] = again[p] = 1e3f;
        team_forces(team, net, b, ds, w_f, got, &l);
        force_sum_of_shares(net, N, b, ds, w_f, ref, &l_ref);
        assert_memory_equal(got, ref, P * sizeof *got);
        assert_memory_equal(&l, &l_ref, sizeof l);
        team_forces(team, net, b, ds, w_f, again, &l_again);
        assert_memory_equal(again, got, P * sizeof *got);
        assert_memory_equal(&l_again, &l, sizeof l);
        if (N == 1) { /* one worker is one pass */
            force_sum_of_shares(net, 1, b, ds, w_f, ref, &l_ref);
            assert_memory_equal(got, ref, P * sizeof *got);
        }
    }
    team_forces(team, net, 7, ds, w_f, got, NULL); /* the loss may be NULL */
    free(got), free(ref), free(again);
}

static void team_forces_is_the_sum_of_the_shares(void **state)
{
    (void)state;
    fixture fx = fixture_make(MAXB, 17);
    static const int teams[] = {1, 2, 3, 5};
    for (size_t i = 0; i < sizeof teams / sizeof *teams; i++) {
        bp_team *team = NULL, *plain = NULL;
        int N = teams[i], workers = 0;
        bpt_ok(bp_team_create_tangent(&team, fx.net, N, MAXB));
        bpt_ok(bp_team_workers(team, &workers));
        assert_int_equal(workers, N);
        check_team(team, fx.net, N, &fx.ds, 1.3f);
        check_team(team, fx.net, N, &fx.ds, 0.0f);
        bpt_ok(bp_team_create(&plain, fx.net, N, MAXB)); /* w_F = 0 needs no tangent workspace */
        check_team(plain, fx.net, N, &fx.ds, 0.0f);
        bp_team_free(team), bp_team_free(plain);
    }
    fixture_free(&fx);
}

/* Negative twin of the above (its bit comparisons can fail): three shares are the whole batch's
 * gradient up to rounding, but not the bits of one pass. */
static void team_forces_is_not_one_pass(void **state)
{
    (void)state;
    fixture fx = fixture_make(MAXB, 19);
    float *got = bpt_grad(fx.net), *whole = bpt_grad(fx.net);
    double l, l_whole;
    bp_team *team = NULL;
    bpt_ok(bp_team_create_tangent(&team, fx.net, 3, MAXB));
    team_forces(team, fx.net, MAXB, &fx.ds, 1.3f, got, &l);
    force_sum_of_shares(fx.net, 1, MAXB, &fx.ds, 1.3f, whole, &l_whole);
    bpt_assert_close_vec("team vs one pass", got, whole, fx.P, 1e-5, 1e-5);
    bpt_assert_close_scalar("team vs one pass, loss", l, l_whole, 0, 1e-6);
    assert_true(memcmp(got, whole, fx.P * sizeof *got) != 0);
    bp_team_free(team);
    free(got), free(whole);
    fixture_free(&fx);
}

/* bp_team_create_tangent's refusals leave no team. */
static void create_tangent_errors(const bp_net *net)
{
    bp_team *team = (bp_team *)1;
    bpt_assert_status(bp_team_create_tangent(NULL, net, 2, 4), BP_ENULL, "out");
    bpt_assert_status(bp_team_create_tangent(&team, NULL, 2, 4), BP_ENULL, "net");
    assert_null(team);
    bpt_assert_status(bp_team_create_tangent(&team, net, 0, 4), BP_EDIM, "workers");
    bpt_assert_status(bp_team_create_tangent(&team, net, 2, 0), BP_EDIM, "max_batch");
    assert_null(team);
}

/* Every refused argument of bp_team_gradient_forces on the 4 samples of ds: team is a tangent
 * team for net, plain a plain one, two a network of another output width. */
static void gradient_forces_errors(bp_team *team, bp_team *plain, const bp_net *net,
                                   const bp_net *two, const bp_dataset *ds, float *g)
{
    const float *X = ds->x, *E = ds->y, *F = ds->y + 1;
    bpt_assert_status(bp_team_gradient_forces(plain, net, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_EMISMATCH, "bp_team_create_tangent");
    bpt_assert_status(bp_team_gradient_forces(NULL, net, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_ENULL, "team");
    bpt_assert_status(bp_team_gradient_forces(team, NULL, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_ENULL, "net");
    bpt_assert_status(bp_team_gradient_forces(team, two, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_EMISMATCH, "shape");
    bpt_assert_status(bp_team_gradient_forces(team, net, 0, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_EDIM, "batch");
    bpt_assert_status(bp_team_gradient_forces(team, net, 5, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_EBATCH, "max_batch");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1 - 1, E, NT, F, NT, 1, 1, g,
                                              NULL),
                      BP_ELD, "ldx");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, F, N1 - 1, 1, 1, g,
                                              NULL),
                      BP_ELD, "ldf");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, NULL, N1, E, NT, F, NT, 1, 1, g,
                                              NULL),
                      BP_ENULL, "X");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, NULL, NT, F, NT, 1, 1, g,
                                              NULL),
                      BP_ENULL, "E");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, NULL, NT, 1, 1, g,
                                              NULL),
                      BP_ENULL, "F");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, F, NT, 1, -1, g, NULL),
                      BP_EVALUE, "w_force");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, F, NT, NAN, 1, g,
                                              NULL),
                      BP_EVALUE, "w_energy");
    bpt_assert_status(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, F, NT, 1, 1, NULL,
                                              NULL),
                      BP_ENULL, "grad");
}

static void team_forces_errors(void **state)
{
    (void)state;
    fixture fx = fixture_make(4, 3);
    bp_net *net = fx.net;
    static const int two_sizes[] = {3, 8, 6, 2};
    bp_net *two = bpt_net(4, two_sizes, acts, BP_QUADRATIC);
    const float *X = fx.ds.x, *E = fx.ds.y, *F = fx.ds.y + 1;
    size_t P = fx.P;
    float *g = bpt_grad(net);
    for (size_t i = 0; i < P; i++)
        g[i] = 7.0f;
    create_tangent_errors(net);
    bp_team *team = NULL, *plain = NULL;
    bpt_ok(bp_team_create_tangent(&team, net, 2, 4));
    bpt_ok(bp_team_create(&plain, net, 2, 4));
    gradient_forces_errors(team, plain, net, two, &fx.ds, g);
    for (size_t i = 0; i < P; i++) /* no error wrote the gradient */
        assert_true(g[i] == 7.0f);
    static const bp_activation no_z_acts[] = {BP_TANH, BP_TANH, BP_IDENTITY};
    bp_net *no_z = bpt_net(4, sizes, no_z_acts, BP_QUADRATIC); /* layer 2 keeps no z */
    bpt_assert_status(bp_team_gradient_forces(team, no_z, 1, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_EMISMATCH, "keeps z"); /* checked before share 0 (empty) writes grad */
    bpt_assert_status(bp_team_gradient(team, no_z, 1, X, N1, E, NT, g, NULL), BP_EMISMATCH,
                      "keeps z");
    for (size_t i = 0; i < P; i++)
        assert_true(g[i] == 7.0f);
    bp_net_free(no_z);
    bp_team *twos = NULL; /* a network the force loss does not fit */
    bpt_ok(bp_team_create_tangent(&twos, two, 2, 4));
    bpt_assert_status(bp_team_gradient_forces(twos, two, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL),
                      BP_ECONFIG, "one output");
    bpt_ok(bp_team_gradient_forces(team, net, 4, X, N1, E, NT, F, NT, 1, 1, g, NULL)); /* usable */
    bpt_ok(bp_team_gradient(team, net, 4, X, N1, E, NT, g, NULL)); /* and for the plain loss */
    bp_team_free(team), bp_team_free(plain), bp_team_free(twos);
    free(g);
    bp_net_free(two);
    fixture_free(&fx);
}

/* A workspace (or team) is tied to a shape, not to one network: made for a tanh network, it serves
 * a sigmoid one of the same shape with that network's sigma' - the VJP, the force gradient and the
 * team's force gradient have the bits of the network's own workspace. */
static void workspace_of_another_network(void **state)
{
    (void)state;
    static const int shape[] = {3, 8, 6, 1};
    static const bp_activation tanh_acts[] = {BP_TANH, BP_TANH, BP_IDENTITY};
    static const bp_activation sig_acts[] = {BP_SIGMOID, BP_SIGMOID, BP_IDENTITY};
    bp_net *tanh_net = bpt_net(4, shape, tanh_acts, BP_QUADRATIC);
    bp_net *net = bpt_net(4, shape, sig_acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    bp_dataset ds = make_data(8, 29);
    size_t P = bpt_num_params(net);
    float *own = bpt_grad(net), *other = bpt_grad(net), V[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    float G_own[N1 * 8], G_other[N1 * 8];
    bp_workspace *ws_own = NULL, *ws_other = NULL;
    bp_team *team = NULL;
    bpt_ok(bp_workspace_create_tangent(&ws_own, net, 8));
    bpt_ok(bp_workspace_create_tangent(&ws_other, tanh_net, 8));
    bpt_ok(bp_team_create_tangent(&team, tanh_net, 2, 8));
    bpt_ok(bp_forward_batch(net, ws_own, 8, ds.x, N1));
    bpt_ok(bp_vjp_batch(net, ws_own, 8, V, 1, G_own, N1));
    bpt_ok(bp_forward_batch(net, ws_other, 8, ds.x, N1));
    bpt_ok(bp_vjp_batch(net, ws_other, 8, V, 1, G_other, N1));
    assert_memory_equal(G_own, G_other, sizeof G_own);
    const float *E = ds.y, *F = ds.y + 1;
    bpt_ok(bp_gradient_forces(net, ws_own, 8, ds.x, N1, E, NT, F, NT, 1, 1, own, NULL));
    bpt_ok(bp_gradient_forces(net, ws_other, 8, ds.x, N1, E, NT, F, NT, 1, 1, other, NULL));
    assert_memory_equal(own, other, P * sizeof *own);
    force_sum_of_shares(net, 2, 8, &ds, 1.0f, own, &(double){0});
    bpt_ok(bp_team_gradient_forces(team, net, 8, ds.x, N1, E, NT, F, NT, 0.7f, 1, other, NULL));
    assert_memory_equal(own, other, P * sizeof *own);
    bp_team_free(team);
    bp_workspace_free(ws_own), bp_workspace_free(ws_other);
    free(own), free(other);
    bpt_dataset_release(&ds);
    bp_net_free(net), bp_net_free(tanh_net);
}

/* ---------------------------------------------------------------- bp_train */

/* The last epoch's held-out loss; the run fails if an epoch reports an RMSE (the force loss has
 * none: NaN). */
static int keep_eval_loss(const bp_progress *p, void *user)
{
    if (p->epoch_done)
        *(double *)user = isnan(p->eval_rmse) ? p->eval_loss : -1.0;
    return 0;
}

/* make_net() trained on forces with workers (Adam, batch 16: a last batch of 5 of the 101);
 * *eval_loss the last held-out loss it reported. */
static bp_net *train_with(int workers, const bp_dataset *train, const bp_dataset *held,
                          int epochs, double *eval_loss)
{
    bp_net *net = make_net();
    bp_train_config cfg = {.epochs = epochs, .batch_size = 16, .seed = 9,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                           .progress = keep_eval_loss, .user = eval_loss, .workers = workers,
                           .forces = 1, .energy_weight = 1, .force_weight = 1};
    bpt_ok(bp_train(net, train, held, &cfg, NULL));
    return net;
}

/* The force loss per sample of ds on net, one pass in a tangent workspace. */
static double serial_loss(const bp_net *net, const bp_dataset *ds)
{
    bp_workspace *ws = NULL;
    float *g = bpt_grad(net);
    double loss;
    bpt_ok(bp_workspace_create_tangent(&ws, net, ds->count));
    bpt_ok(bp_gradient_forces(net, ws, ds->count, ds->x, N1, ds->y, NT, ds->y + 1, NT, 1, 1, g,
                              &loss));
    bp_workspace_free(ws);
    free(g);
    return loss / ds->count;
}

/* The reported held-out loss is summed in double from float terms computed in chunks of another
 * width than the one pass's: rtol 1e-6, float rounding of the terms. */
static void train_forces_with_workers(void **state)
{
    (void)state;
    bp_dataset train = make_data(101, 1), held = make_data(37, 2);
    double first, one_loss;
    bp_net *start = train_with(0, &train, &held, 1, &first);
    bp_net *one = train_with(0, &train, &held, 40, &one_loss);
    static const int counts[] = {2, 3};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        double la = NAN, lb = NAN;
        bp_net *a = train_with(counts[i], &train, &held, 40, &la);
        bp_net *b = train_with(counts[i], &train, &held, 40, &lb);
        size_t P = bpt_num_params(a);
        assert_memory_equal(bpt_params(a), bpt_params(b), P * sizeof(float));
        assert_memory_equal(&la, &lb, sizeof la);
        bpt_assert_close_scalar("held-out loss across workers", la, serial_loss(a, &held), 0,
                                1e-6);
        if (!(la < first / 5) || !(la < 1.5 * one_loss))
            fail_msg("%d workers: held-out loss %.4g after 40 epochs, %.4g after 1, one thread "
                     "%.4g",
                     counts[i], la, first, one_loss);
        /* the negative twin: another worker count sums in another order */
        assert_true(memcmp(bpt_params(a), bpt_params(one), P * sizeof(float)) != 0);
        bp_net_free(a), bp_net_free(b);
    }
    bp_net_free(start), bp_net_free(one);
    bpt_dataset_release(&train), bpt_dataset_release(&held);
}

/* A non-finite reference force in one sample: training across workers stops with BP_ENUMERIC at
 * the batch one thread names, with finite parameters (those before that batch). */
static void train_forces_nonfinite_on_workers(void **state)
{
    (void)state;
    bp_dataset train = make_data(101, 1);
    train.y[(size_t)57 * NT + 2] = NAN;
    char serial[256];
    for (int workers = 0; workers <= 3; workers += 3) {
        bp_net *net = make_net();
        bp_train_config cfg = {.epochs = 2, .batch_size = 16, .seed = 9,
                               .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}, .workers = workers,
                               .forces = 1, .energy_weight = 1, .force_weight = 1};
        bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_ENUMERIC, "epoch 0 batch");
        if (workers == 0)
            snprintf(serial, sizeof serial, "%s", bp_last_error());
        else if (strcmp(serial, bp_last_error()) != 0)
            fail_msg("one thread: \"%s\"; 3 workers: \"%s\"", serial, bp_last_error());
        const float *p = bpt_params(net);
        for (size_t i = 0; i < bpt_num_params(net); i++)
            assert_true(isfinite(p[i]));
        bp_net_free(net);
    }
    bpt_dataset_release(&train);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(team_forces_is_the_sum_of_the_shares),
        cmocka_unit_test(team_forces_is_not_one_pass),
        cmocka_unit_test(team_forces_errors),
        cmocka_unit_test(workspace_of_another_network),
        cmocka_unit_test(train_forces_with_workers),
        cmocka_unit_test(train_forces_nonfinite_on_workers),
    };
    return cmocka_run_group_tests_name("team_forces", tests, NULL, NULL);
}
