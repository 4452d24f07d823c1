/* Worker threads (bp_team, bp_train_config.workers). The tsan preset runs this suite under
 * ThreadSanitizer, which must report no race.
 *  - bp_team_gradient with N workers is, bit for bit, the sum in worker order of bp_gradient_batch
 *    over the columns [w*b/N, (w+1)*b/N) (b not a multiple of N; b < N leaves workers empty), and
 *    its cost the sum of theirs; N = 1 is bp_gradient_batch itself;
 *  - the same call repeated gives the same bits (no dependence on timing);
 *  - bp_train with W workers: the same parameter bits on every run; its per-epoch evaluation
 *    equals bp_evaluate on the parameters it ends with (accuracy exactly);
 *  - a BLAS thread count above one is restored after the call;
 *  - with dropout (bp_team_set_dropout, bp_team_gradient_dropout), N = 1, 2, 3, 5 and the batch
 *    at global column 0 or 11: bit for bit the sum in share order of bp_gradient_dropout over the
 *    shares, each at its own global column, and the same bits on a repeat; the masks those shares
 *    draw are, column for column, the masks of one pass over the whole batch (so the same for
 *    every N), and the gradients of every N agree to rounding, while another step's masks give
 *    another gradient; no rates: bp_team_gradient's bits;
 *  - every error of the team functions and of bp_train_config.workers.
 * The comparison with W ranks is tests/test_parallel.c's (it has the ranks). */
#include "bp_test.h"

#include <limits.h>


static const int sizes[] = {6, 9, 5, 4};
static const bp_activation acts[] = {BP_TANH, BP_RELU, BP_SOFTMAX};
enum { N1 = 6, NL = 4, MAXB = 23 };

static bp_net *make_net(void)
{
    bp_net *net = bpt_net(4, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 5));
    return net;
}

/* A network of make_net's inputs and another output width (a shape mismatch). */
static bp_net *make_other(void)
{
    static const int other_sizes[] = {6, 9, 5, 3};
    return bpt_net(4, other_sizes, acts, BP_NLL);
}

/* make_net(), cols columns of inputs X and targets Y drawn from seed, three gradient buffers g[]
 * that the tests name and, unless workers is 0, a team of that many for batches up to cols;
 * fixture_free frees them all. */
typedef struct fixture {
    bp_net *net;
    float *X, *Y, *g[3];
    size_t P;
    bp_team *team;
} fixture;

static fixture fixture_make(uint64_t seed, int cols, int workers)
{
    fixture fx = {make_net(), NULL, NULL, {NULL, NULL, NULL}, 0, NULL};
    bpt_rng r = bpt_rng_make(seed);
    fx.X = bpt_matrix(&r, N1, cols, N1, -1, 1, 0);
    fx.Y = bpt_targets(&r, BP_SOFTMAX, BP_NLL, NL, cols, NL, 0);
    fx.P = bpt_num_params(fx.net);
    for (int i = 0; i < 3; i++)
        fx.g[i] = bpt_grad(fx.net);
    if (workers > 0)
        bpt_ok(bp_team_create(&fx.team, fx.net, workers, cols));
    return fx;
}

static void fixture_free(fixture *fx)
{
    bp_team_free(fx->team);
    for (int i = 0; i < 3; i++)
        free(fx->g[i]);
    free(fx->X);
    free(fx->Y);
    bp_net_free(fx->net);
}

/* The batch the shares are cut from: its inputs and targets and, for dropout, its global column
 * and the workspace of one pass over it (whose masks each share's are checked against). */
typedef struct share_data {
    const float *X, *Y;
    int first;
    const bp_workspace *whole;
} share_data;

/* The gradient of the columns [lo, hi) of the batch into g (zeroed), their cost into *c. */
typedef void share_fn(const bp_net *net, const share_data *d, int lo, int hi, float *g,
                      double *c);

/* grad = sum over w in order of share's gradients of the columns [w*b/N, (w+1)*b/N) (an empty
 * share adds zeros); *cost the sum of their costs. */
static void sum_shares(const bp_net *net, int N, int b, share_fn *share, const share_data *d,
                       float *grad, double *cost)
{
    size_t P = bpt_num_params(net);
    float *g = bpt_grad(net);
    memset(grad, 0, P * sizeof *grad);
    *cost = 0;
    for (int w = 0; w < N; w++) {
        int lo = (int)((long)w * b / N), hi = (int)((long)(w + 1) * b / N);
        double c = 0;
        memset(g, 0, P * sizeof *g);
        if (hi > lo)
            share(net, d, lo, hi, g, &c);
        for (size_t i = 0; i < P; i++)
            grad[i] = w == 0 ? g[i] : grad[i] + g[i];
        *cost += c;
    }
    free(g);
}

/* A share through bp_gradient_batch, in a workspace of its own: bp_team_gradient with N workers
 * must give sum_shares of these. */
static void plain_share(const bp_net *net, const share_data *d, int lo, int hi, float *g,
                        double *c)
{
    bp_workspace *ws = bpt_ws(net, hi - lo);
    bpt_ok(bp_gradient_batch(net, ws, hi - lo, d->X + (size_t)lo * N1, N1, d->Y + (size_t)lo * NL,
                             NL, g, c));
    bp_workspace_free(ws);
}

/* One batch of b columns of team_gradient_is_the_sum_of_the_shares, with a team of N workers on
 * fx's network; fx->g[] are the team's gradient, the reference and the repeat. */
static void check_team_gradient(bp_team *team, const fixture *fx, int N, int b)
{
    const bp_net *net = fx->net;
    const float *X = fx->X, *Y = fx->Y;
    size_t P = fx->P;
    float *got = fx->g[0], *ref = fx->g[1], *again = fx->g[2];
    double c = -1, c_ref = -2, c_again = -3;
    share_data d = {X, Y, 0, NULL};
    for (size_t p = 0; p < P; p++) /* overwritten, not accumulated */
        got[p] = again[p] = 1e3f;
    bpt_ok(bp_team_gradient(team, net, b, X, N1, Y, NL, got, &c));
    sum_shares(net, N, b, plain_share, &d, ref, &c_ref);
    assert_memory_equal(got, ref, P * sizeof *got);
    assert_memory_equal(&c, &c_ref, sizeof c);
    bpt_ok(bp_team_gradient(team, net, b, X, N1, Y, NL, again, &c_again));
    assert_memory_equal(again, got, P * sizeof *got);
    assert_memory_equal(&c_again, &c, sizeof c);
    if (N == 1) { /* one worker is bp_gradient_batch */
        bp_workspace *ws = bpt_ws(net, b);
        bpt_ok(bp_gradient_batch(net, ws, b, X, N1, Y, NL, ref, &c_ref));
        assert_memory_equal(got, ref, P * sizeof *got);
        bp_workspace_free(ws);
    }
}

static void team_gradient_is_the_sum_of_the_shares(void **state)
{
    (void)state;
    fixture fx = fixture_make(17, MAXB, 0);
    static const int teams[] = {1, 2, 3, 5};
    static const int batches[] = {1, 2, 7, 23}; /* below, at, not a multiple of N */
    for (size_t i = 0; i < sizeof teams / sizeof *teams; i++) {
        bp_team *team = NULL;
        int N = teams[i], workers = 0;
        bpt_ok(bp_team_create(&team, fx.net, N, MAXB));
        bpt_ok(bp_team_workers(team, &workers));
        assert_int_equal(workers, N);
        for (size_t k = 0; k < sizeof batches / sizeof *batches; k++)
            check_team_gradient(team, &fx, N, batches[k]);
        /* the cost may be NULL */
        bpt_ok(bp_team_gradient(team, fx.net, 7, fx.X, N1, fx.Y, NL, fx.g[0], NULL));
        bp_team_free(team);
    }
    bp_team_free(NULL);
    fixture_free(&fx);
}

/* Negative twin of the above (the bit comparisons can fail): the team's sum of shares is the
 * gradient of the whole batch up to rounding, but not the bits of one pass over all columns. */
static void team_is_not_one_pass(void **state)
{
    (void)state;
    fixture fx = fixture_make(19, MAXB, 3);
    float *got = fx.g[0], *whole = fx.g[1];
    bpt_ok(bp_team_gradient(fx.team, fx.net, MAXB, fx.X, N1, fx.Y, NL, got, NULL));
    bp_workspace *ws = bpt_ws(fx.net, MAXB);
    bpt_ok(bp_gradient_batch(fx.net, ws, MAXB, fx.X, N1, fx.Y, NL, whole, NULL));
    /* the same gradient up to rounding, but not the same bits as one pass over all columns */
    bpt_assert_close_vec("team vs one pass", got, whole, fx.P, 1e-5, 1e-5);
    assert_true(memcmp(got, whole, fx.P * sizeof *got) != 0);
    bp_workspace_free(ws);
    fixture_free(&fx);
}

static void blas_thread_count_is_restored(void **state)
{
    (void)state;
    fixture fx = fixture_make(23, 8, 2);
    float *g = fx.g[0], *ref = fx.g[1];
    bpt_ok(bp_team_gradient(fx.team, fx.net, 8, fx.X, N1, fx.Y, NL, ref, NULL));
    bp_status settable = bp_blas_set_threads(2); /* BP_ECONFIG: a generic CBLAS, no control */
    bpt_ok(bp_team_gradient(fx.team, fx.net, 8, fx.X, N1, fx.Y, NL, g, NULL));
    bp_blas_info blas;
    bpt_ok(bp_blas_describe(&blas));
    assert_int_equal(blas.threads, settable == BP_OK ? 2 : 1);
    if (settable == BP_OK)
        bpt_ok(bp_blas_set_threads(1));
    assert_memory_equal(g, ref, fx.P * sizeof *g);
    fixture_free(&fx);
}

static void team_errors(void **state)
{
    (void)state;
    bp_net *net = make_net(), *other = make_other();
    float X[N1 * 4] = {0}, Y[NL * 4] = {0};
    float *g = bpt_grad(net);
    bp_team *team = (bp_team *)1;
    int n;
    bpt_assert_status(bp_team_create(NULL, net, 2, 4), BP_ENULL, "out");
    bpt_assert_status(bp_team_create(&team, NULL, 2, 4), BP_ENULL, "net");
    assert_null(team);
    bpt_assert_status(bp_team_create(&team, net, 0, 4), BP_EDIM, "workers");
    bpt_assert_status(bp_team_create(&team, net, BP_MAX_WORKERS + 1, 4), BP_EDIM, "workers");
    bpt_assert_status(bp_team_create(&team, net, 2, 0), BP_EDIM, "max_batch");
    assert_null(team);
    bpt_ok(bp_team_create(&team, net, 2, 4));
    bpt_assert_status(bp_team_workers(NULL, &n), BP_ENULL, "team");
    bpt_assert_status(bp_team_workers(team, NULL), BP_ENULL, "workers");
    bpt_assert_status(bp_team_gradient(NULL, net, 4, X, N1, Y, NL, g, NULL), BP_ENULL, "team");
    bpt_assert_status(bp_team_gradient(team, NULL, 4, X, N1, Y, NL, g, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_team_gradient(team, other, 4, X, N1, Y, 3, g, NULL), BP_EMISMATCH,
                      "shape");
    bpt_assert_status(bp_team_gradient(team, net, 0, X, N1, Y, NL, g, NULL), BP_EDIM, "batch");
    bpt_assert_status(bp_team_gradient(team, net, 5, X, N1, Y, NL, g, NULL), BP_EBATCH,
                      "max_batch");
    bpt_assert_status(bp_team_gradient(team, net, 4, X, N1 - 1, Y, NL, g, NULL), BP_ELD, "ldx");
    bpt_assert_status(bp_team_gradient(team, net, 4, X, N1, Y, NL - 1, g, NULL), BP_ELD, "ldy");
    bpt_assert_status(bp_team_gradient(team, net, 4, NULL, N1, Y, NL, g, NULL), BP_ENULL, "X");
    bpt_assert_status(bp_team_gradient(team, net, 4, X, N1, NULL, NL, g, NULL), BP_ENULL, "Y");
    bpt_assert_status(bp_team_gradient(team, net, 4, X, N1, Y, NL, NULL, NULL), BP_ENULL, "grad");
    bpt_ok(bp_team_gradient(team, net, 4, X, N1, Y, NL, g, NULL)); /* still usable */
    bp_team_free(team);
    free(g);
    bp_net_free(other);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- dropout */

static const float drop_rates[] = {0.2f, 0.5f, 0.3f}; /* the inputs and both hidden layers */
enum { KEY = 41, STEP = 6 };

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

/* What bp_team_gradient_dropout with N workers must give for the b columns at global column
 * first is sum_shares of these: bp_gradient_dropout over the share [lo, hi), in a workspace of
 * its own at its global column first + lo. Each share's masks are checked against whole's, the
 * masks of one pass over the same b columns. */
static void dropout_share(const bp_net *net, const share_data *d, int lo, int hi, float *g,
                          double *c)
{
    bp_workspace *ws = bpt_ws(net, hi - lo);
    bpt_ok(bp_workspace_set_dropout(ws, drop_rates));
    bpt_ok(bp_gradient_dropout(net, ws, KEY, STEP, d->first + lo, hi - lo, d->X + (size_t)lo * N1,
                               N1, d->Y + (size_t)lo * NL, NL, g, c));
    for (int l = 1; l <= 3; l++) { /* global column j has one mask whatever N is */
        const float *share, *all;
        size_t n = (size_t)sizes[l - 1];
        bpt_ok(bp_workspace_mask(ws, l, &share));
        bpt_ok(bp_workspace_mask(d->whole, l, &all));
        assert_memory_equal(share, all + n * (size_t)lo, n * (size_t)(hi - lo) * sizeof *all);
    }
    bp_workspace_free(ws);
}

typedef struct drop_case {
    const bp_net *net;
    const float *X, *Y;
    int N, first, b;
} drop_case;

/* One case of team_dropout_is_the_sum_of_the_shares; one_pass receives the gradient of one
 * bp_gradient_dropout over the whole batch, whose masks the shares' are checked against. */
static void check_team_dropout(bp_team *team, const drop_case *k, float *one_pass)
{
    const bp_net *net = k->net;
    size_t P = bpt_num_params(net);
    float *got = bpt_grad(net), *ref = bpt_grad(net), *again = bpt_grad(net);
    double c = -1, c_ref = -2, c_again = -3, c_one;
    for (size_t p = 0; p < P; p++) /* overwritten, not accumulated */
        got[p] = again[p] = 1e3f;
    bp_workspace *whole = bpt_ws(net, k->b);
    bpt_ok(bp_workspace_set_dropout(whole, drop_rates));
    bpt_ok(bp_gradient_dropout(net, whole, KEY, STEP, k->first, k->b, k->X, N1, k->Y, NL,
                               one_pass, &c_one));
    bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, k->first, k->b, k->X, N1, k->Y, NL, got,
                                    &c));
    share_data d = {k->X, k->Y, k->first, whole};
    sum_shares(net, k->N, k->b, dropout_share, &d, ref, &c_ref);
    assert_memory_equal(got, ref, P * sizeof *got);
    assert_memory_equal(&c, &c_ref, sizeof c);
    bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, k->first, k->b, k->X, N1, k->Y, NL,
                                    again, &c_again));
    assert_memory_equal(again, got, P * sizeof *got);
    assert_memory_equal(&c_again, &c, sizeof c);
    if (k->N == 1) { /* one worker is bp_gradient_dropout */
        assert_memory_equal(got, one_pass, P * sizeof *got);
        assert_memory_equal(&c, &c_one, sizeof c);
    }
    bp_workspace_free(whole);
    free(got);
    free(ref);
    free(again);
}

static void team_dropout_is_the_sum_of_the_shares(void **state)
{
    (void)state;
    fixture fx = fixture_make(29, MAXB, 0);
    static const int teams[] = {1, 2, 3, 5};
    static const int batches[] = {1, 2, 7, 23}; /* below, at, not a multiple of N */
    static const int firsts[] = {0, 11}; /* the team's batch as a rank's share of a larger one */
    for (size_t i = 0; i < sizeof teams / sizeof *teams; i++) {
        bp_team *team = NULL;
        bpt_ok(bp_team_create(&team, fx.net, teams[i], MAXB));
        bpt_ok(bp_team_set_dropout(team, drop_rates));
        for (size_t k = 0; k < sizeof batches / sizeof *batches; k++)
            for (size_t f = 0; f < sizeof firsts / sizeof *firsts; f++) {
                drop_case dc = {fx.net, fx.X, fx.Y, teams[i], firsts[f], batches[k]};
                check_team_dropout(team, &dc, fx.g[0]); /* one_pass */
            }
        bp_team_free(team);
    }
    fixture_free(&fx);
}

/* The gradients of every N agree with one pass over the batch to rounding (the same masks; only
 * the sum's order differs), and differ from it by far more with another step's masks (the
 * comparison can fail) or without dropout; with no rates the team's dropout gradient is
 * bp_team_gradient's bits. */
static void team_dropout_masks_independent_of_workers(void **state)
{
    (void)state;
    fixture fx = fixture_make(31, MAXB, 0);
    bp_net *net = fx.net;
    const float *X = fx.X, *Y = fx.Y;
    size_t P = fx.P;
    float *one = fx.g[0], *got = fx.g[1], *other = fx.g[2];
    bp_workspace *ws = bpt_ws(net, MAXB);
    bpt_ok(bp_workspace_set_dropout(ws, drop_rates));
    bpt_ok(bp_gradient_dropout(net, ws, KEY, STEP, 0, MAXB, X, N1, Y, NL, one, NULL));
    static const int teams[] = {2, 3, 5};
    for (size_t i = 0; i < sizeof teams / sizeof *teams; i++) {
        bp_team *team = NULL;
        bpt_ok(bp_team_create(&team, net, teams[i], MAXB));
        bpt_ok(bp_team_set_dropout(team, drop_rates));
        bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, 0, MAXB, X, N1, Y, NL, got, NULL));
        bpt_assert_close_vec("N workers vs one pass", got, one, P, 1e-5, 1e-5);
        bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP + 1, 0, MAXB, X, N1, Y, NL, other,
                                        NULL));
        assert_true(max_abs_diff(other, one, P) > 1e-2);
        bpt_ok(bp_team_gradient(team, net, MAXB, X, N1, Y, NL, other, NULL));
        assert_true(max_abs_diff(other, one, P) > 1e-2);
        bpt_ok(bp_team_set_dropout(team, NULL)); /* no rates: the plain gradient's bits */
        bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, 0, MAXB, X, N1, Y, NL, got, NULL));
        assert_memory_equal(got, other, P * sizeof *got);
        bp_team_free(team);
    }
    bp_workspace_free(ws);
    fixture_free(&fx);
}

/* Every error of the two functions; a refused set of rates leaves the team's own in place. */
static void team_dropout_errors(void **state)
{
    (void)state;
    fixture fx = fixture_make(37, 4, 2);
    bp_net *net = fx.net;
    bp_team *team = fx.team;
    const float *X = fx.X, *Y = fx.Y;
    float *g = fx.g[0], *ref = fx.g[1];
    const float one[] = {0, 1.0f, 0}, negative[] = {-0.1f, 0, 0}, nan[] = {0, 0, NAN};
    bpt_assert_status(bp_team_set_dropout(NULL, drop_rates), BP_ENULL, "team");
    bpt_ok(bp_team_set_dropout(team, drop_rates));
    bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, 0, 4, X, N1, Y, NL, ref, NULL));
    bpt_assert_status(bp_team_set_dropout(team, one), BP_EVALUE, "layer 2");
    bpt_assert_status(bp_team_set_dropout(team, negative), BP_EVALUE, "layer 1");
    bpt_assert_status(bp_team_set_dropout(team, nan), BP_EVALUE, "layer 3");
    bpt_ok(bp_team_gradient_dropout(team, net, KEY, STEP, 0, 4, X, N1, Y, NL, g, NULL));
    assert_memory_equal(g, ref, fx.P * sizeof *g); /* the rates set before */
    bp_net *other = make_other();
    bpt_assert_status(bp_team_gradient_dropout(NULL, net, 1, 1, 0, 4, X, N1, Y, NL, g, NULL),
                      BP_ENULL, "team");
    bpt_assert_status(bp_team_gradient_dropout(team, NULL, 1, 1, 0, 4, X, N1, Y, NL, g, NULL),
                      BP_ENULL, "net");
    bpt_assert_status(bp_team_gradient_dropout(team, other, 1, 1, 0, 4, X, N1, Y, 3, g, NULL),
                      BP_EMISMATCH, "shape");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, -1, 4, X, N1, Y, NL, g, NULL),
                      BP_EDIM, "first");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, INT_MAX - 3, 4, X, N1, Y, NL, g,
                                               NULL), BP_EDIM, "first");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 0, X, N1, Y, NL, g, NULL),
                      BP_EDIM, "batch");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 5, X, N1, Y, NL, g, NULL),
                      BP_EBATCH, "max_batch");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 4, X, N1 - 1, Y, NL, g, NULL),
                      BP_ELD, "ldx");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 4, X, N1, Y, NL - 1, g, NULL),
                      BP_ELD, "ldy");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 4, NULL, N1, Y, NL, g, NULL),
                      BP_ENULL, "X");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 4, X, N1, NULL, NL, g, NULL),
                      BP_ENULL, "Y");
    bpt_assert_status(bp_team_gradient_dropout(team, net, 1, 1, 0, 4, X, N1, Y, NL, NULL, NULL),
                      BP_ENULL, "grad");
    bpt_ok(bp_team_gradient_dropout(team, net, 1, 1, INT_MAX - 4, 4, X, N1, Y, NL, g, NULL));
    bp_net_free(other);
    fixture_free(&fx);
}

/* ---------------------------------------------------------------- bp_train */

static bp_dataset make_data(int count, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = {count, N1, NL, NULL, NULL, NULL};
    ds.x = malloc((size_t)count * N1 * sizeof *ds.x);
    ds.y = calloc((size_t)count * NL, sizeof *ds.y);
    ds.labels = malloc((size_t)count * sizeof *ds.labels);
    assert_true(ds.x && ds.y && ds.labels);
    for (int i = 0; i < count; i++) {
        float *x = ds.x + N1 * i;
        bpt_fill(&r, x, N1, -1.0f, 1.0f);
        int c = (x[0] > 0) + 2 * (x[1] + x[2] > 0);
        ds.y[NL * i + c] = 1.0f;
        ds.labels[i] = c;
    }
    return ds;
}

typedef struct last_eval {
    double loss, accuracy;
} last_eval;

static int keep_eval(const bp_progress *p, void *user)
{
    if (p->epoch_done)
        *(last_eval *)user = (last_eval){p->eval_loss, p->eval_accuracy};
    return 0;
}

/* A network trained by train_with, a copy of its final parameters, its last evaluation. */
typedef struct run {
    bp_net *net;
    float *params;
    last_eval ev;
} run;

/* Train make_net() with workers. */
static run train_with(int workers, const bp_dataset *train, const bp_dataset *eval)
{
    run out = {make_net(), NULL, {0, 0}};
    bp_train_config cfg = {.epochs = 3, .batch_size = 16, .seed = 9,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                           .progress = keep_eval, .user = &out.ev, .workers = workers};
    bpt_ok(bp_train(out.net, train, eval, &cfg, NULL));
    size_t P = bpt_num_params(out.net);
    out.params = malloc(P * sizeof *out.params);
    assert_non_null(out.params);
    memcpy(out.params, bpt_params(out.net), P * sizeof *out.params);
    return out;
}

static void run_free(run *r)
{
    free(r->params);
    bp_net_free(r->net);
}

static void train_with_workers_is_reproducible(void **state)
{
    (void)state;
    bp_dataset train = make_data(101, 1), eval = make_data(37, 2); /* last batch of 5 */
    static const int counts[] = {2, 3, 7};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        run a = train_with(counts[i], &train, &eval), b = train_with(counts[i], &train, &eval);
        size_t P = bpt_num_params(a.net);
        assert_memory_equal(a.params, b.params, P * sizeof *a.params);
        assert_memory_equal(&a.ev, &b.ev, sizeof a.ev);
        /* the evaluation across the workers is bp_evaluate's */
        double loss, accuracy;
        bpt_ok(bp_evaluate(a.net, &eval, &loss, &accuracy, NULL));
        assert_memory_equal(&a.ev.accuracy, &accuracy, sizeof accuracy);
        bpt_assert_close_scalar("eval loss", a.ev.loss, loss, 0, 1e-12);
        run_free(&a);
        run_free(&b);
    }
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* A scaled regression network trained with workers: the evaluation across them applies the
 * scaling as the single-workspace one does, so its RMSE (in the data's units) is that of
 * bp_evaluate_regression and its loss (on the standardised targets) that of bp_evaluate. */
static int keep_rmse(const bp_progress *p, void *user)
{
    if (p->epoch_done)
        ((double *)user)[0] = p->eval_rmse, ((double *)user)[1] = p->eval_loss;
    return 0;
}

static void workers_evaluate_scaled_regression(void **state)
{
    (void)state;
    enum { COUNT = 61 };
    bpt_rng r = bpt_rng_make(5);
    float x[N1 * COUNT], y[COUNT];
    bpt_fill(&r, x, N1 * COUNT, -1.0f, 1.0f);
    for (int i = 0; i < COUNT; i++) { /* inputs in thousands, a target far from 0 */
        for (int k = 0; k < N1; k++)
            x[N1 * i + k] *= 1000.0f;
        y[i] = 300.0f + 0.05f * x[N1 * i] - 0.02f * x[N1 * i + 1];
    }
    bp_dataset ds = {COUNT, N1, 1, x, y, NULL};
    int rsizes[] = {N1, 8, 1};
    bp_activation racts[] = {BP_TANH, BP_IDENTITY};
    float mean[N1], scale[N1], ym, ys;
    bp_net *net;
    bpt_ok(bp_net_create(&net, 3, rsizes, racts, BP_QUADRATIC));
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 3));
    bpt_ok(bp_dataset_standardization(&ds, BP_SCALE_INPUTS, mean, scale));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, mean, scale));
    bpt_ok(bp_dataset_standardization(&ds, BP_SCALE_TARGETS, &ym, &ys));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, &ym, &ys));
    double seen[2] = {NAN, NAN};
    bp_train_config cfg = {.epochs = 2, .batch_size = 20, .seed = 4,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                           .progress = keep_rmse, .user = seen, .workers = 3};
    bpt_ok(bp_train(net, &ds, &ds, &cfg, NULL));
    bp_regression_metrics m;
    double loss, accuracy;
    bpt_ok(bp_evaluate_regression(net, &ds, &m, NULL));
    bpt_ok(bp_evaluate(net, &ds, &loss, &accuracy, NULL));
    assert_true(m.rmse > 0.1); /* in the data's units: far from the standardised scale */
    bpt_assert_close_scalar("eval rmse", seen[0], m.rmse, 0, 1e-5);
    bpt_assert_close_scalar("eval loss", seen[1], loss, 0, 1e-5);
    bp_net_free(net);
}

/* Negative twin: another worker count is another sum, so other parameter bits (the check above
 * can fail), yet the same training up to rounding. */
static void other_workers_other_bits(void **state)
{
    (void)state;
    bp_dataset train = make_data(101, 1), eval = make_data(37, 2);
    run one = train_with(0, &train, &eval), three = train_with(3, &train, &eval);
    size_t P = bpt_num_params(one.net);
    assert_true(memcmp(one.params, three.params, P * sizeof *one.params) != 0);
    bpt_assert_close_vec("3 workers vs 1", three.params, one.params, P, 1e-4, 1e-4);
    run_free(&one);
    run_free(&three);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

static void train_workers_errors(void **state)
{
    (void)state;
    bp_dataset train = make_data(20, 1);
    bp_net *net = make_net();
    bp_train_config cfg = {.epochs = 1, .batch_size = 4, .optim = {.kind = BP_OPT_SGD, .eta = 0.1f},
                           .workers = -1};
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "workers");
    cfg.workers = BP_MAX_WORKERS + 1;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "workers");
    cfg.workers = 1; /* the calling thread alone, like 0 */
    bpt_ok(bp_train(net, &train, NULL, &cfg, NULL));
    bp_net_free(net);
    bpt_dataset_release(&train);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(team_gradient_is_the_sum_of_the_shares),
        cmocka_unit_test(team_is_not_one_pass),
        cmocka_unit_test(blas_thread_count_is_restored),
        cmocka_unit_test(team_errors),
        cmocka_unit_test(team_dropout_is_the_sum_of_the_shares),
        cmocka_unit_test(team_dropout_masks_independent_of_workers),
        cmocka_unit_test(team_dropout_errors),
        cmocka_unit_test(train_with_workers_is_reproducible),
        cmocka_unit_test(workers_evaluate_scaled_regression),
        cmocka_unit_test(other_workers_other_bits),
        cmocka_unit_test(train_workers_errors),
    };
    return cmocka_run_group_tests_name("workers", tests, NULL, NULL);
}
