/* Dropout (bp_workspace_set_dropout, bp_gradient_dropout, bp_workspace_mask, bp_train_config.dropout):
 *  - the masks: every entry 0 or exactly 1/(1-p), the dropped fraction and the mean within 5
 *    standard deviations of p and 1, fresh masks per column and per step, the same masks for the
 *    same (key, step, column) however the batch is split into column ranges;
 *  - the expectation identity: through a linear hidden layer the mean output over many masks is
 *    the output without dropout, within 5 standard errors (computed from the data);
 *  - the gradient with the masks fixed against central differences of the cost evaluated here in
 *    double with the same masks (a gradient that ignored the masks is far off: checked too);
 *  - rates all zero: the bits of bp_gradient_batch; training: two seeded runs give the same bits, a
 *    run interrupted and resumed from its checkpoint (format version 2) ends with the bits of the
 *    uninterrupted one, a run without dropout still writes version 1, and a checkpoint of other
 *    rates, or of a run without dropout, is refused by a run with dropout (BP_EMISMATCH); every bit
 *    flipped in a version-2 checkpoint is refused;
 *  - training with 2 and 3 workers (bp_team_gradient_dropout): the same bits on every run, the
 *    same training as one worker up to rounding (the same masks) but other bits, another training
 *    than without dropout, and a run interrupted and resumed with the same workers ends with the
 *    uninterrupted run's bits;
 *  - every error of the three functions and of bp_train's rates. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "bp_test.h"

#include <limits.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the masks */

/* One dropout pass of net (inputs X: n^1 x batch, targets Y) with rates, in a fresh workspace. */
static bp_workspace *dropout_pass(const bp_net *net, const float *rates, uint64_t key,
                                  uint64_t step, int first, int batch, const float *X,
                                  const float *Y, float *grad)
{
    bp_net_info info;
    bpt_ok(bp_net_describe(net, &info));
    bp_workspace *ws = bpt_ws(net, batch);
    bpt_ok(bp_workspace_set_dropout(ws, rates));
    bpt_ok(bp_gradient_dropout(net, ws, key, step, first, batch, X, info.sizes[0], Y,
                               info.sizes[info.num_layers - 1], grad, NULL));
    return ws;
}

static const int stat_sizes[] = {300, 400, 200, 4};
static const bp_activation stat_acts[] = {BP_RELU, BP_TANH, BP_SOFTMAX};

/* Every entry 0 or 1/(1-p) (the float of it); the dropped count within 5 sd of the binomial mean,
 * the mask's mean within 5 sd of 1 (sd of an entry: sqrt(p/(1-p))). */
static void check_mask_stats(const float *m, size_t n, float p)
{
    float keep = (float)(1.0 / (1.0 - (double)p));
    double dropped = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(m[i] == 0.0f || m[i] == keep);
        dropped += m[i] == 0.0f;
        sum += m[i];
    }
    double sd_count = sqrt((double)n * p * (1 - p));
    if (fabs(dropped - (double)n * p) > 5 * sd_count)
        fail_msg("rate %g: %g of %zu dropped, expected %g +- %g", (double)p, dropped, n,
                 (double)n * p, 5 * sd_count);
    double sd_mean = sqrt((double)p / (1 - p) / (double)n);
    if (fabs(sum / (double)n - 1) > 5 * sd_mean)
        fail_msg("rate %g: mask mean %g, expected 1 +- %g", (double)p, sum / (double)n,
                 5 * sd_mean);
}

static void mask_statistics(void **state)
{
    (void)state;
    enum { B = 64 };
    bp_net *net = bpt_net(4, stat_sizes, stat_acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 1));
    bpt_rng r = bpt_rng_make(2);
    float *X = bpt_matrix(&r, 300, B, 300, 0, 1, 0), *Y = calloc(4 * B, sizeof *Y);
    float *g = bpt_grad(net);
    const float rates[] = {0.1f, 0.5f, 0.3f};
    bp_workspace *ws = dropout_pass(net, rates, 7, 0, 0, B, X, Y, g);
    const float *m[3];
    for (int l = 1; l <= 3; l++) {
        bpt_ok(bp_workspace_mask(ws, l, &m[l - 1]));
        check_mask_stats(m[l - 1], (size_t)stat_sizes[l - 1] * B, rates[l - 1]);
    }
    /* Each column its own mask: no two columns of layer 2 alike. */
    for (int j = 1; j < B; j++)
        assert_memory_not_equal(m[1], m[1] + (size_t)j * 400, 400 * sizeof(float));
    float first_step[400];
    memcpy(first_step, m[1], sizeof first_step);
    /* The next step, and another key: other masks; the same (key, step): the same bits. */
    bpt_ok(bp_gradient_dropout(net, ws, 7, 1, 0, B, X, 300, Y, 4, g, NULL));
    assert_memory_not_equal(first_step, m[1], sizeof first_step);
    bpt_ok(bp_gradient_dropout(net, ws, 8, 0, 0, B, X, 300, Y, 4, g, NULL));
    assert_memory_not_equal(first_step, m[1], sizeof first_step);
    bpt_ok(bp_gradient_dropout(net, ws, 7, 0, 0, B, X, 300, Y, 4, g, NULL));
    assert_memory_equal(first_step, m[1], sizeof first_step);
    bp_workspace_free(ws);
    free(X);
    free(Y);
    free(g);
    bp_net_free(net);
}

/* The batch in one pass, and split into columns [0, 13) and [13, B) (as worker threads or ranks
 * split it, each with its own first): the same masks bit for bit, the summed gradient the same up
 * to the order of the float sums. */
static void masks_independent_of_split(void **state)
{
    (void)state;
    enum { B = 40, CUT = 13 };
    bp_net *net = bpt_net(4, stat_sizes, stat_acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, 3));
    size_t P = bpt_num_params(net);
    bpt_rng r = bpt_rng_make(4);
    float *X = bpt_matrix(&r, 300, B, 300, 0, 1, 0), *Y = calloc(4 * B, sizeof *Y);
    for (int j = 0; j < B; j++)
        Y[4 * j + j % 4] = 1;
    float *whole = bpt_grad(net), *part = bpt_grad(net), *sum = bpt_grad(net);
    const float rates[] = {0.2f, 0.5f, 0.25f};
    bp_workspace *a = dropout_pass(net, rates, 11, 5, 0, B, X, Y, whole);
    bp_workspace *b = dropout_pass(net, rates, 11, 5, 0, CUT, X, Y, sum);
    bp_workspace *c = dropout_pass(net, rates, 11, 5, CUT, B - CUT, X + 300 * CUT, Y + 4 * CUT,
                                   part);
    for (size_t i = 0; i < P; i++)
        sum[i] += part[i];
    for (int l = 1; l <= 3; l++) {
        const float *ma, *mb, *mc;
        size_t n = (size_t)stat_sizes[l - 1];
        bpt_ok(bp_workspace_mask(a, l, &ma));
        bpt_ok(bp_workspace_mask(b, l, &mb));
        bpt_ok(bp_workspace_mask(c, l, &mc));
        assert_memory_equal(ma, mb, n * CUT * sizeof *ma);
        assert_memory_equal(ma + n * CUT, mc, n * (B - CUT) * sizeof *ma);
    }
    bpt_assert_close_vec("split gradient", sum, whole, P, 1e-5, 1e-4);
    bp_workspace_free(a);
    bp_workspace_free(b);
    bp_workspace_free(c);
    free(X);
    free(Y);
    free(whole);
    free(part);
    free(sum);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- the expectation identity */

/* 6-200-3, identity layers: out = w3 (m (.) (w2 x + b2)) + b3 is linear in the mask, so its mean
 * over masks is the output without dropout (what evaluation computes). One input repeated in
 * B columns for S steps: N = B S independent masks. The standard error of output i is sqrt(sum_k
 * w3_ik^2 h_k^2 p/(1-p) / N), h = w2 x + b2 computed here in double. */
static void expectation_identity(void **state)
{
    (void)state;
    enum { B = 256, S = 40, H = 200 };
    const int sizes[] = {6, H, 3};
    const bp_activation acts[] = {BP_IDENTITY, BP_IDENTITY};
    const float p = 0.4f, rates[] = {0.0f, p};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_fill_params(net, 5, -0.5f, 0.5f);
    bpt_rng r = bpt_rng_make(6);
    float x[6], *X = malloc(6 * B * sizeof *X), *Y = calloc(3 * B, sizeof *Y);
    float *g = bpt_grad(net);
    bpt_fill(&r, x, 6, -1, 1);
    for (int j = 0; j < B; j++)
        memcpy(X + 6 * j, x, sizeof x);
    bp_workspace *ws = bpt_ws(net, B);
    bpt_ok(bp_workspace_set_dropout(ws, rates));
    double mean[3] = {0};
    for (int s = 0; s < S; s++) {
        const float *a;
        int ld;
        bpt_ok(bp_gradient_dropout(net, ws, 1, (uint64_t)s, 0, B, X, 6, Y, 3, g, NULL));
        bpt_ok(bp_workspace_activations(ws, 2 + 1, &a, &ld));
        for (int j = 0; j < B; j++)
            for (int i = 0; i < 3; i++)
                mean[i] += a[(size_t)j * ld + i] / (double)(B * S);
    }
    const float *out, *theta = bpt_params(net);
    int ld;
    bpt_ok(bp_forward_batch(net, ws, 1, x, 6)); /* no dropout outside bp_gradient_dropout */
    bpt_ok(bp_workspace_activations(ws, 3, &out, &ld));
    bp_layer_view v2, v3;
    bpt_ok(bp_net_layer(net, 2, &v2));
    bpt_ok(bp_net_layer(net, 3, &v3));
    for (int i = 0; i < 3; i++) {
        double var = 0;
        for (int k = 0; k < H; k++) {
            double h = theta[v2.b_offset + k];
            for (int c = 0; c < 6; c++)
                h += (double)theta[v2.w_offset + (size_t)c * H + k] * x[c];
            double w = theta[v3.w_offset + (size_t)k * 3 + i];
            var += w * w * h * h * p / (1 - p);
        }
        double se = sqrt(var / (B * S));
        if (fabs(mean[i] - out[i]) > 5 * se)
            fail_msg("output %d: mean over masks %g, without dropout %g, 5 se %g", i, mean[i],
                     (double)out[i], 5 * se);
        assert_true(se > 1e-3); /* the masks really vary the output */
    }
    bp_workspace_free(ws);
    free(X);
    free(Y);
    free(g);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- gradient, masks fixed */

static const int fd_sizes[] = {5, 7, 6, 3};
static const bp_activation fd_acts[] = {BP_SIGMOID, BP_TANH, BP_SOFTMAX};
enum { FD_B = 4 };

/* The summed NLL of the batch in double with the masks m[l] (NULL: none) of layers 1, 2, 3, the
 * parameters theta in double (the network's layout, from bp_net_layer's views v[l]). */
static double cost_masked(const double *theta, const bp_layer_view *v, const float *X,
                          const float *Y, const float *const *m)
{
    double total = 0;
    for (int j = 0; j < FD_B; j++) {
        double in[8], out[8];
        for (int i = 0; i < 5; i++)
            in[i] = X[5 * j + i] * (m[1] ? m[1][5 * j + i] : 1.0);
        for (int l = 2; l <= 4; l++) {
            int rows = fd_sizes[l - 1], cols = fd_sizes[l - 2];
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < rows; i++) {
                double z = theta[v[l].b_offset + i];
                for (int c = 0; c < cols; c++)
                    z += theta[v[l].w_offset + (size_t)c * rows + i] * in[c];
                out[i] = l == 2 ? 1 / (1 + exp(-z)) : l == 3 ? tanh(z) : z;
                mx = out[i] > mx ? out[i] : mx;
            }
            if (l == 4) {
                for (int i = 0; i < rows; i++)
                    sum += exp(out[i] - mx);
                for (int i = 0; i < rows; i++)
                    total -= Y[3 * j + i] * (out[i] - mx - log(sum));
                break;
            }
            for (int i = 0; i < rows; i++)
                in[i] = out[i] * (m[l] ? m[l][rows * j + i] : 1.0);
        }
    }
    return total;
}

/* Worst |g - fd| / max(|g|, |fd|, 1e-3) over all parameters, central differences with h = 1e-6. */
static double worst_fd_error(const bp_net *net, const float *g, const float *X, const float *Y,
                             const float *const *m)
{
    size_t P = bpt_num_params(net);
    const float *p;
    bpt_ok(bp_net_params_const(net, &p));
    double *theta = malloc(P * sizeof *theta), worst = 0;
    bp_layer_view v[5];
    for (int l = 2; l <= 4; l++)
        bpt_ok(bp_net_layer(net, l, &v[l]));
    for (size_t i = 0; i < P; i++)
        theta[i] = p[i];
    for (size_t i = 0; i < P; i++) {
        const double h = 1e-6;
        theta[i] = p[i] + h;
        double up = cost_masked(theta, v, X, Y, m);
        theta[i] = p[i] - h;
        double down = cost_masked(theta, v, X, Y, m);
        theta[i] = p[i];
        double fd = (up - down) / (2 * h), den = fmax(fmax(fabs(g[i]), fabs(fd)), 1e-3);
        worst = fmax(worst, fabs(g[i] - fd) / den);
    }
    free(theta);
    return worst;
}

/* Inputs and both hidden layers dropped at 0.3: the analytic gradient of bp_gradient_dropout
 * matches the finite differences of the cost with the same masks held fixed (relative 1e-4: float
 * arithmetic against double); the same gradient against the cost without masks is off by far
 * more. */
static void gradient_fixed_mask(void **state)
{
    (void)state;
    bp_net *net = bpt_net(4, fd_sizes, fd_acts, BP_NLL);
    bpt_fill_params(net, 8, -1, 1);
    bpt_rng r = bpt_rng_make(9);
    float *X = bpt_matrix(&r, 5, FD_B, 5, -1, 1, 0), *Y = calloc(3 * FD_B, sizeof *Y);
    for (int j = 0; j < FD_B; j++)
        Y[3 * j + (j + 1) % 3] = 1;
    float *g = bpt_grad(net);
    const float rates[] = {0.3f, 0.3f, 0.3f};
    bp_workspace *ws = dropout_pass(net, rates, 2, 3, 0, FD_B, X, Y, g);
    const float *m[4] = {NULL, NULL, NULL, NULL};
    int zeros = 0;
    for (int l = 1; l <= 3; l++) {
        bpt_ok(bp_workspace_mask(ws, l, &m[l]));
        for (int i = 0; i < fd_sizes[l - 1] * FD_B; i++)
            zeros += m[l][i] == 0;
    }
    assert_true(zeros > 0); /* some units are dropped: the masks matter */
    double err = worst_fd_error(net, g, X, Y, m);
    bpt_report_margin("dropout gradient vs central differences", err / 1e-4);
    assert_true(err < 1e-4);
    const float *none[4] = {NULL, NULL, NULL, NULL};
    assert_true(worst_fd_error(net, g, X, Y, none) > 1e-1);
    bp_workspace_free(ws);
    free(X);
    free(Y);
    free(g);
    bp_net_free(net);
}

/* All rates zero (or NULL): bp_gradient_dropout is bp_gradient_batch, bit for bit; no masks. */
static void zero_rates_are_plain(void **state)
{
    (void)state;
    bp_net *net = bpt_net(4, fd_sizes, fd_acts, BP_NLL);
    bpt_fill_params(net, 8, -1, 1);
    size_t P = bpt_num_params(net);
    bpt_rng r = bpt_rng_make(9);
    float *X = bpt_matrix(&r, 5, FD_B, 5, -1, 1, 0), *Y = calloc(3 * FD_B, sizeof *Y);
    float *g0 = bpt_grad(net), *g1 = bpt_grad(net);
    const float zeros[3] = {0};
    bp_workspace *ws = dropout_pass(net, zeros, 1, 1, 0, FD_B, X, Y, g1);
    bpt_ok(bp_gradient_batch(net, ws, FD_B, X, 5, Y, 3, g0, NULL));
    assert_memory_equal(g0, g1, P * sizeof *g0);
    const float *m = (const float *)g0;
    bpt_ok(bp_workspace_mask(ws, 2, &m));
    assert_null(m);
    bpt_ok(bp_workspace_set_dropout(ws, NULL));
    bpt_ok(bp_gradient_dropout(net, ws, 1, 1, 0, FD_B, X, 5, Y, 3, g1, NULL));
    assert_memory_equal(g0, g1, P * sizeof *g0);
    bp_workspace_free(ws);
    free(X);
    free(Y);
    free(g0);
    free(g1);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- training */

static char tmpdir[64];
static const int tr_sizes[] = {3, 16, 12, 3};
static const bp_activation tr_acts[] = {BP_RELU, BP_RELU, BP_SOFTMAX};

/* count samples uniform in [-1,1)^3, class = argmax of (x1 + x2, x2 - x3, -x1), one-hot y. */
static bp_dataset make_data(int count, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = {count, 3, 3, malloc((size_t)count * 3 * sizeof(float)),
                     calloc((size_t)count * 3, sizeof(float)), malloc((size_t)count * sizeof(int))};
    assert_true(ds.x && ds.y && ds.labels);
    for (int i = 0; i < count; i++) {
        float *x = ds.x + 3 * i, f[3];
        bpt_fill(&r, x, 3, -1, 1);
        f[0] = x[0] + x[1];
        f[1] = x[1] - x[2];
        f[2] = -x[0];
        int c = f[1] > f[0] ? 1 : 0;
        c = f[2] > f[c] ? 2 : c;
        ds.y[3 * i + c] = 1;
        ds.labels[i] = c;
    }
    return ds;
}

static bp_net *train_net(uint64_t seed)
{
    bp_net *net = bpt_net(4, tr_sizes, tr_acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_HE, seed));
    return net;
}

static bp_train_config train_config(void)
{
    bp_train_config cfg = {.epochs = 4, .batch_size = 8, .seed = 3,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f, .weight_decay = 0.01f},
                           .dropout = {0.1f, 0.3f, 0.2f}};
    return cfg;
}

static int stop_after_epoch_2(const bp_progress *p, void *user)
{
    (void)user;
    return p->epoch_done && p->epoch == 1;
}

static const float *params_of(const bp_net *net)
{
    const float *p;
    bpt_ok(bp_net_params_const(net, &p));
    return p;
}

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Two seeded runs: the same bits; another seed: other masks, other bits; no dropout: other bits. */
static void training_deterministic(void **state)
{
    (void)state;
    bp_dataset train = make_data(50, 1);
    bp_train_config cfg = train_config();
    bp_net *a = train_net(5), *b = train_net(5), *c = train_net(5), *d = train_net(5);
    size_t P = bpt_num_params(a);
    bpt_ok(bp_train(a, &train, NULL, &cfg, NULL));
    bpt_ok(bp_train(b, &train, NULL, &cfg, NULL));
    assert_memory_equal(params_of(a), params_of(b), P * sizeof(float));
    bp_train_config plain = cfg;
    memset(plain.dropout, 0, sizeof plain.dropout);
    bpt_ok(bp_train(c, &train, NULL, &plain, NULL));
    assert_memory_not_equal(params_of(a), params_of(c), P * sizeof(float));
    bp_train_config other = cfg;
    other.seed = 4;
    bpt_ok(bp_train(d, &train, NULL, &other, NULL));
    assert_memory_not_equal(params_of(a), params_of(d), P * sizeof(float));
    bp_net_free(a);
    bp_net_free(b);
    bp_net_free(c);
    bp_net_free(d);
    bpt_dataset_release(&train);
}

/* 4 epochs in one go; the same run interrupted after epoch 2 (its checkpoint, format version 2)
 * and resumed into another network: the same bits. The masks' key comes from the checkpoint, like
 * the shuffle's state, so a resume given another seed ends with the same bits too. */
static void resume_equals_uninterrupted(void **state)
{
    (void)state;
    bp_dataset train = make_data(50, 1);
    char path[128];
    path_in_tmp(path, sizeof path, "drop.bpc");
    bp_train_config cfg = train_config();
    bp_net *a = train_net(5), *b = train_net(5), *c = train_net(77), *d = train_net(78);
    size_t P = bpt_num_params(a);
    bpt_ok(bp_train(a, &train, NULL, &cfg, NULL));
    bp_train_config cut = cfg;
    cut.checkpoint_every = 2;
    cut.checkpoint_path = path;
    cut.progress = stop_after_epoch_2;
    bpt_assert_status(bp_train(b, &train, NULL, &cut, NULL), BP_ESTOPPED, "callback");
    size_t len;
    unsigned char *bytes = bpt_file_bytes(path, &len);
    assert_int_equal(bytes[8], 2); /* format version 2: the dropout state */
    free(bytes);
    bp_train_config resume = cfg;
    resume.resume_path = path;
    bpt_ok(bp_train(c, &train, NULL, &resume, NULL));
    assert_memory_equal(params_of(c), params_of(a), P * sizeof(float));
    resume.seed = 99; /* the key and the shuffle come from the checkpoint */
    bpt_ok(bp_train(d, &train, NULL, &resume, NULL));
    assert_memory_equal(params_of(d), params_of(a), P * sizeof(float));
    bp_net_free(a);
    bp_net_free(b);
    bp_net_free(c);
    bp_net_free(d);
    bpt_dataset_release(&train);
}

/* Train train_net(5) with cfg and workers into a new network. */
static bp_net *trained_with(bp_train_config cfg, int workers, const bp_dataset *train)
{
    bp_net *net = train_net(5);
    cfg.workers = workers;
    bpt_ok(bp_train(net, train, NULL, &cfg, NULL));
    return net;
}

/* 50 samples in batches of 8: the last batch of 2 leaves one of 3 workers without a column. */
static void training_with_workers(void **state)
{
    (void)state;
    bp_dataset train = make_data(50, 1);
    char path[128];
    path_in_tmp(path, sizeof path, "workers.bpc");
    bp_train_config cfg = train_config(), plain = train_config();
    memset(plain.dropout, 0, sizeof plain.dropout);
    bp_net *one = trained_with(cfg, 1, &train);
    size_t P = bpt_num_params(one);
    for (int W = 2; W <= 3; W++) {
        bp_net *a = trained_with(cfg, W, &train), *b = trained_with(cfg, W, &train);
        assert_memory_equal(params_of(a), params_of(b), P * sizeof(float));
        assert_memory_not_equal(params_of(a), params_of(one), P * sizeof(float));
        bpt_assert_close_vec("W workers vs 1", params_of(a), params_of(one), P, 1e-4, 1e-4);
        bp_net *c = trained_with(plain, W, &train);
        double far = 0;
        for (size_t i = 0; i < P; i++)
            far = fmax(far, fabs((double)params_of(c)[i] - (double)params_of(a)[i]));
        assert_true(far > 1e-2); /* the masks changed the training */
        bp_train_config cut = cfg;
        cut.checkpoint_every = 2;
        cut.checkpoint_path = path;
        cut.progress = stop_after_epoch_2;
        cut.workers = W;
        bp_net *e = train_net(5);
        bpt_assert_status(bp_train(e, &train, NULL, &cut, NULL), BP_ESTOPPED, "callback");
        bp_net_free(e);
        bp_train_config resume = cfg;
        resume.resume_path = path;
        bp_net *d = trained_with(resume, W, &train); /* from the checkpoint's parameters */
        assert_memory_equal(params_of(d), params_of(a), P * sizeof(float));
        bp_net_free(a);
        bp_net_free(b);
        bp_net_free(c);
        bp_net_free(d);
    }
    bp_net_free(one);
    bpt_dataset_release(&train);
}

/* A run without dropout writes version 1; a dropout run refuses it, and a checkpoint of other
 * rates (BP_EMISMATCH naming the layer); the network is left untouched. */
static void resume_refuses_other_dropout(void **state)
{
    (void)state;
    bp_dataset train = make_data(50, 1);
    char v1[128], v2[128];
    path_in_tmp(v1, sizeof v1, "plain.bpc");
    path_in_tmp(v2, sizeof v2, "rates.bpc");
    bp_train_config plain = train_config(), cfg = train_config();
    memset(plain.dropout, 0, sizeof plain.dropout);
    plain.checkpoint_every = 2;
    plain.checkpoint_path = v1;
    bp_net *a = train_net(5);
    size_t P = bpt_num_params(a), len;
    bpt_ok(bp_train(a, &train, NULL, &plain, NULL));
    unsigned char *bytes = bpt_file_bytes(v1, &len);
    assert_int_equal(bytes[8], 1);
    free(bytes);
    float *before = malloc(P * sizeof *before);
    memcpy(before, params_of(a), P * sizeof *before);
    cfg.resume_path = v1;
    bpt_assert_status(bp_train(a, &train, NULL, &cfg, NULL), BP_EMISMATCH, "without dropout");
    assert_memory_equal(before, params_of(a), P * sizeof *before);

    bp_train_config writer = train_config();
    writer.checkpoint_every = 4;
    writer.checkpoint_path = v2;
    bpt_ok(bp_train(a, &train, NULL, &writer, NULL));
    memcpy(before, params_of(a), P * sizeof *before);
    cfg.resume_path = v2;
    cfg.dropout[2] = 0.25f;
    bpt_assert_status(bp_train(a, &train, NULL, &cfg, NULL), BP_EMISMATCH, "rate of layer 3");
    plain.checkpoint_every = 0;
    plain.resume_path = v2;
    bpt_assert_status(bp_train(a, &train, NULL, &plain, NULL), BP_EMISMATCH, "dropout rate");
    assert_memory_equal(before, params_of(a), P * sizeof *before);
    free(before);
    bp_net_free(a);
    bpt_dataset_release(&train);
}

/* Each byte i of a version-2 checkpoint with its bit i mod 8 flipped: refused with BP_EFORMAT (the
 * header's fields are checked, the model and the state, dropout fields included, are under their
 * CRCs) and the network untouched. */
static void flipped_bits_refused(void **state)
{
    (void)state;
    bp_dataset train = make_data(20, 1);
    char path[128], bad[128];
    path_in_tmp(path, sizeof path, "flip.bpc");
    path_in_tmp(bad, sizeof bad, "flipped.bpc");
    bp_train_config cfg = train_config();
    cfg.epochs = 1;
    cfg.checkpoint_every = 1;
    cfg.checkpoint_path = path;
    bp_net *a = train_net(5);
    size_t P = bpt_num_params(a), len;
    bpt_ok(bp_train(a, &train, NULL, &cfg, NULL));
    unsigned char *bytes = bpt_file_bytes(path, &len);
    float *before = malloc(P * sizeof *before);
    memcpy(before, params_of(a), P * sizeof *before);
    bp_train_config resume = train_config();
    resume.resume_path = bad;
    for (size_t i = 0; i < len; i++) {
        int bit = (int)(i % 8);
        bytes[i] ^= (unsigned char)(1u << bit);
        FILE *f = fopen(bad, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, len, f), len);
        fclose(f);
        bp_status st = bp_train(a, &train, NULL, &resume, NULL);
        if (st != BP_EFORMAT)
            fail_msg("byte %zu bit %d: status %s (%s)", i, bit, bp_strerror(st), bp_last_error());
        bytes[i] ^= (unsigned char)(1u << bit);
    }
    assert_memory_equal(before, params_of(a), P * sizeof *before);
    free(before);
    free(bytes);
    bp_net_free(a);
    bpt_dataset_release(&train);
}

/* ---------------------------------------------------------------- errors */

static void errors(void **state)
{
    (void)state;
    bp_net *net = bpt_net(4, fd_sizes, fd_acts, BP_NLL);
    bp_workspace *ws = bpt_ws(net, FD_B);
    float X[5 * FD_B] = {0}, Y[3 * FD_B] = {0}, *g = bpt_grad(net);
    const float *m;
    const float ok[] = {0.5f, 0, 0.2f};
    bpt_assert_status(bp_workspace_set_dropout(NULL, ok), BP_ENULL, "ws");
    const float one[] = {0, 1.0f, 0}, negative[] = {-0.1f, 0, 0}, nan[] = {0, 0, NAN};
    bpt_assert_status(bp_workspace_set_dropout(ws, one), BP_EVALUE, "layer 2");
    bpt_assert_status(bp_workspace_set_dropout(ws, negative), BP_EVALUE, "layer 1");
    bpt_assert_status(bp_workspace_set_dropout(ws, nan), BP_EVALUE, "layer 3");
    bpt_ok(bp_workspace_set_dropout(ws, ok));
    bpt_assert_status(bp_workspace_mask(ws, 1, &m), BP_EBATCH, "no dropout pass");
    bpt_assert_status(bp_workspace_mask(NULL, 1, &m), BP_ENULL, "ws");
    bpt_assert_status(bp_workspace_mask(ws, 1, NULL), BP_ENULL, "mask");
    bpt_assert_status(bp_gradient_dropout(net, ws, 1, 1, -1, FD_B, X, 5, Y, 3, g, NULL), BP_EDIM,
                      "first");
    bpt_assert_status(bp_gradient_dropout(net, ws, 1, 1, INT_MAX - 1, FD_B, X, 5, Y, 3, g, NULL),
                      BP_EDIM, "first");
    bpt_assert_status(bp_gradient_dropout(net, ws, 1, 1, 0, FD_B + 1, X, 5, Y, 3, g, NULL),
                      BP_EBATCH, "max_batch");
    bpt_assert_status(bp_gradient_dropout(net, ws, 1, 1, 0, FD_B, X, 5, Y, 3, NULL, NULL),
                      BP_ENULL, "grad");
    bpt_assert_status(bp_gradient_dropout(net, ws, 1, 1, 0, FD_B, X, 4, Y, 3, g, NULL), BP_ELD,
                      "ldx");
    bpt_ok(bp_gradient_dropout(net, ws, 1, 1, 0, FD_B, X, 5, Y, 3, g, NULL));
    bpt_assert_status(bp_workspace_mask(ws, 0, &m), BP_EDIM, "layer");
    bpt_assert_status(bp_workspace_mask(ws, 4, &m), BP_EDIM, "layer");
    bpt_ok(bp_workspace_mask(ws, 3, &m));
    assert_non_null(m);
    bp_workspace_free(ws);
    free(g);
    bp_net_free(net);

    bp_dataset train = make_data(20, 1);
    bp_net *t = train_net(5);
    bp_train_config cfg = train_config();
    cfg.dropout[3] = 0.1f; /* the output layer of 4 */
    bpt_assert_status(bp_train(t, &train, NULL, &cfg, NULL), BP_EVALUE, "output layer");
    cfg = train_config();
    cfg.dropout[10] = 0.1f;
    bpt_assert_status(bp_train(t, &train, NULL, &cfg, NULL), BP_EVALUE, "beyond the output");
    cfg = train_config();
    cfg.dropout[1] = 1.0f;
    bpt_assert_status(bp_train(t, &train, NULL, &cfg, NULL), BP_EVALUE, "[0, 1)");
    bp_net_free(t);
    bpt_dataset_release(&train);
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bp_dropout_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    const char *names[] = {"drop.bpc", "plain.bpc", "rates.bpc", "flip.bpc", "flipped.bpc", "workers.bpc"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        path_in_tmp(p, sizeof p, names[i]);
        unlink(p);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mask_statistics),
        cmocka_unit_test(masks_independent_of_split),
        cmocka_unit_test(expectation_identity),
        cmocka_unit_test(gradient_fixed_mask),
        cmocka_unit_test(zero_rates_are_plain),
        cmocka_unit_test(training_deterministic),
        cmocka_unit_test(resume_equals_uninterrupted),
        cmocka_unit_test(training_with_workers),
        cmocka_unit_test(resume_refuses_other_dropout),
        cmocka_unit_test(flipped_bits_refused),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests_name("dropout", tests, make_tmpdir, remove_tmpdir);
}
