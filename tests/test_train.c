/* Training loop and evaluation: convergence on tiny synthetic problems (XOR, noisy linear
 * regression, three Gaussian blobs), bp_evaluate's confusion matrix, bit-exact determinism
 * (parameters and model files), the progress callback's sequence and stop request, early stopping
 * restoring the best epoch, non-finite training, and the errors of bp_train.
 *
 * Every data set comes from the test generator of bp_test.h (bpt_rng) and every network from
 * bp_net_init with a fixed seed, so each run is the same computation; the convergence thresholds
 * (cost < 0.05, MSE < 2 x noise variance, accuracy >= 0.95) were chosen with a wide margin over
 * what the runs reach (printed with BPT_VERBOSE=1). Model files go to one mkdtemp directory. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "bp_test.h"

#include <unistd.h>

static char tmpdir[64];

/* ---------------------------------------------------------------- data */

/* Standard normal from two uniforms (Box-Muller); 1 - u keeps the log finite. */
static double gauss(bpt_rng *r)
{
    double u1 = 1.0 - bpt_uniform(r), u2 = bpt_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Three Gaussian blobs in 2-D (centres 120 degrees apart at radius 1.5), label i % 3, one-hot y. */
static bp_dataset blobs(int count, double sigma, uint64_t seed)
{
    static const double cx[3] = {0.0, -1.299, 1.299}, cy[3] = {1.5, -0.75, -0.75};
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = bpt_dataset_alloc(count, 2, 3, 1);
    for (int i = 0; i < count; i++) {
        int c = i % 3;
        ds.x[2 * i] = (float)(cx[c] + sigma * gauss(&r));
        ds.x[2 * i + 1] = (float)(cy[c] + sigma * gauss(&r));
        ds.y[3 * i + c] = 1.0f;
        ds.labels[i] = c;
    }
    return ds;
}

/* y = a.x + b (+ noise of standard deviation sigma), x uniform in [-1,1)^3. *noise_var (may be
 * NULL) receives the mean square of the noise actually drawn. */
static const double lin_a[3] = {0.7, -1.3, 0.4}, lin_b = 0.25;
static bp_dataset linear(int count, double sigma, uint64_t seed, double *noise_var)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = bpt_dataset_alloc(count, 3, 1, 0);
    double sq = 0;
    for (int i = 0; i < count; i++) {
        double y = lin_b;
        for (int j = 0; j < 3; j++) {
            ds.x[3 * i + j] = bpt_range(&r, -1.0f, 1.0f);
            y += lin_a[j] * ds.x[3 * i + j];
        }
        double e = sigma * gauss(&r);
        sq += e * e;
        ds.y[i] = (float)(y + e);
    }
    if (noise_var)
        *noise_var = sq / count;
    return ds;
}

static bp_net *init_net(int num_layers, const int *sizes, const bp_activation *acts, bp_cost cost,
                        uint64_t seed)
{
    bp_net *net = bpt_net(num_layers, sizes, acts, cost);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, seed));
    return net;
}

static const float *cparams(const bp_net *net)
{
    const float *p = NULL;
    bpt_ok(bp_net_params_const(net, &p));
    assert_non_null(p);
    return p;
}

static void verbose(const char *fmt, double a, double b)
{
    const char *v = getenv("BPT_VERBOSE");
    if (v && *v && *v != '0')
        printf(fmt, a, b);
}

/* ---------------------------------------------------------------- convergence */

/* XOR with 2-4-1 tanh/sigmoid, cross-entropy, momentum, full batch. */
static void xor_converges(void **state)
{
    (void)state;
    static const int sizes[] = {2, 4, 1};
    static const bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    static const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, Y[4] = {0, 1, 1, 0};
    bp_dataset ds = bpt_dataset_alloc(4, 2, 1, 0);
    memcpy(ds.x, X, sizeof X);
    memcpy(ds.y, Y, sizeof Y);
    bp_net *net = init_net(3, sizes, acts, BP_CROSS_ENTROPY, 7);

    double loss0, loss, acc;
    bpt_ok(bp_evaluate(net, &ds, &loss0, &acc, NULL));
    bp_train_config cfg = {.epochs = 600, .batch_size = 4, .seed = 1,
                           .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.5f, .mu = 0.9f}};
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    bpt_ok(bp_evaluate(net, &ds, &loss, &acc, NULL));
    verbose("  xor: mean cost %.4g -> %.4g\n", loss0, loss);
    assert_true(loss0 > 0.5); /* it did start far from a solution */
    assert_true(loss < 0.05);
    assert_true(isnan(acc)); /* no labels: regression-style data */

    bp_workspace *ws = bpt_ws(net, 4);
    const float *a;
    int ld;
    bpt_ok(bp_forward_batch(net, ws, 4, X, 2));
    bpt_ok(bp_workspace_activations(ws, 3, &a, &ld));
    for (int j = 0; j < 4; j++) {
        if (Y[j] > 0.5f)
            assert_true(a[(size_t)j * (size_t)ld] > 0.5f);
        else
            assert_true(a[(size_t)j * (size_t)ld] < 0.5f);
    }
    bp_workspace_free(ws);
    bp_net_free(net);
    bpt_dataset_release(&ds);
}

/* 3 -> 1 identity, quadratic, Adam with a cosine schedule, 256 noisy samples. */
static void linear_regression_converges(void **state)
{
    (void)state;
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    const double sigma = 0.05;
    double noise_var, loss, acc;
    bp_dataset ds = linear(256, sigma, 11, &noise_var);
    bp_net *net = init_net(2, sizes, acts, BP_QUADRATIC, 3);
    bp_train_config cfg = {.epochs = 60, .batch_size = 16, .seed = 5,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.05f},
                           .schedule = {.kind = BP_LR_COSINE, .eta_min = 0.0f}};
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    bpt_ok(bp_evaluate(net, &ds, &loss, &acc, NULL));
    double mse = 2.0 * loss; /* the cost is 1/2 (y - a)^2 per sample */
    verbose("  linear: mse %.4g, noise variance %.4g\n", mse, noise_var);
    assert_true(noise_var > 0.5 * sigma * sigma && noise_var < 2.0 * sigma * sigma);
    assert_true(mse < 2.0 * noise_var);

    bp_layer_view v;
    bpt_ok(bp_net_layer(net, 2, &v));
    const float *p = cparams(net);
    for (int j = 0; j < 3; j++)
        bpt_assert_close_scalar("weight vs a", p[v.w_offset + (size_t)j], lin_a[j], 0.05, 0.0);
    bpt_assert_close_scalar("bias vs b", p[v.b_offset], lin_b, 0.05, 0.0);
    bp_net_free(net);
    bpt_dataset_release(&ds);
}

/* Three blobs, 2-8-3 tanh/softmax NLL; bp_evaluate's accuracy and confusion matrix. */
static void blobs_classify(void **state)
{
    (void)state;
    static const int sizes[] = {2, 8, 3};
    static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_dataset train = blobs(300, 0.3, 21), eval = blobs(150, 0.3, 22);
    bp_net *net = init_net(3, sizes, acts, BP_NLL, 4);
    double loss, acc, best = -1;
    bp_train_config cfg = {.epochs = 15, .batch_size = 10, .seed = 9,
                           .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.1f, .mu = 0.9f}};
    bpt_ok(bp_train(net, &train, &eval, &cfg, &best));
    long conf[9];
    memset(conf, 0xff, sizeof conf); /* overwritten, not accumulated */
    bpt_ok(bp_evaluate(net, &eval, &loss, &acc, conf));
    verbose("  blobs: eval accuracy %.4g, loss %.4g\n", acc, loss);
    assert_true(acc >= 0.95);
    assert_true(isfinite(loss) && loss > 0 && loss < 0.5);
    assert_true(best >= acc); /* the best epoch's accuracy is at least the last one's */

    long total = 0, diag = 0, row[3] = {0, 0, 0}, per_class[3] = {0, 0, 0};
    for (int t = 0; t < 3; t++)
        for (int q = 0; q < 3; q++) {
            assert_true(conf[t * 3 + q] >= 0);
            total += conf[t * 3 + q];
            row[t] += conf[t * 3 + q];
            diag += t == q ? conf[t * 3 + q] : 0;
        }
    for (int i = 0; i < eval.count; i++)
        per_class[eval.labels[i]]++;
    assert_int_equal(total, eval.count);
    for (int t = 0; t < 3; t++)
        assert_int_equal(row[t], per_class[t]); /* rows are the true classes */
    assert_int_equal(diag, lround(acc * eval.count));
    bpt_assert_close_scalar("diagonal = accuracy x count", (double)diag, acc * eval.count, 1e-9, 0);

    /* An untrained net is much worse: the test above is not trivially passed. Its confusion
     * matrix has off-diagonal entries, checked entry by entry against argmax of the naive
     * reference forward (row = true class, column = predicted). */
    bp_net *fresh = init_net(3, sizes, acts, BP_NLL, 8);
    double acc0;
    bpt_ok(bp_evaluate(fresh, &eval, &loss, &acc0, conf));
    /* The mean cost is the naive oracle's summed cost / count (float activations vs double:
     * 1e-5 relative). */
    float *gscratch = bpt_grad(fresh);
    double naive_cost;
    bpt_ok(bp_naive_backward(fresh, eval.count, eval.x, 2, eval.y, 3, gscratch, &naive_cost));
    free(gscratch);
    bpt_assert_close_scalar("evaluate loss = mean cost", loss, naive_cost / eval.count, 0, 1e-5);
    assert_true(acc0 < 0.9);
    float *out = malloc((size_t)3 * (size_t)eval.count * sizeof *out);
    assert_non_null(out);
    bpt_ok(bp_naive_forward(fresh, eval.count, eval.x, 2, out, 3));
    long ref[9] = {0};
    for (int i = 0; i < eval.count; i++) {
        const float *o = out + 3 * i;
        int pred = o[1] > o[0] ? 1 : 0;
        pred = o[2] > o[pred] ? 2 : pred;
        ref[eval.labels[i] * 3 + pred]++;
    }
    free(out);
    long off_diagonal = 0;
    for (int t = 0; t < 3; t++)
        for (int q = 0; q < 3; q++) {
            assert_int_equal(conf[t * 3 + q], ref[t * 3 + q]);
            off_diagonal += t != q ? ref[t * 3 + q] : 0;
        }
    assert_true(off_diagonal > 0);
    int symmetric = 1; /* (this net's matrix is not: a transposed one would show) */
    for (int t = 0; t < 3; t++)
        for (int q = 0; q < t; q++)
            symmetric &= ref[t * 3 + q] == ref[q * 3 + t];
    assert_false(symmetric);
    bpt_assert_close_scalar("untrained accuracy", acc0,
                            (double)(eval.count - off_diagonal) / eval.count, 1e-12, 0);
    bp_net_free(fresh);
    bp_net_free(net);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* ---------------------------------------------------------------- determinism */

static bp_net *train_blobs(const bp_dataset *train, uint64_t train_seed)
{
    static const int sizes[] = {2, 5, 3};
    static const bp_activation acts[] = {BP_SIGMOID, BP_SOFTMAX};
    bp_net *net = init_net(3, sizes, acts, BP_NLL, 12);
    bp_train_config cfg = {.epochs = 3, .batch_size = 7, .seed = train_seed,
                           .optim = {.kind = BP_OPT_NESTEROV, .eta = 0.2f, .mu = 0.8f,
                                     .lambda = 0.5f}};
    bpt_ok(bp_train(net, train, NULL, &cfg, NULL));
    return net;
}

static void determinism(void **state)
{
    (void)state;
    bp_dataset train = blobs(60, 0.5, 31);
    bp_net *a = train_blobs(&train, 77), *b = train_blobs(&train, 77), *c = train_blobs(&train, 78);
    size_t P = bpt_num_params(a);
    assert_memory_equal(cparams(a), cparams(b), P * sizeof(float));
    assert_memory_not_equal(cparams(a), cparams(c), P * sizeof(float));

    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.bpm", tmpdir);
    snprintf(pb, sizeof pb, "%s/b.bpm", tmpdir);
    bpt_ok(bp_model_save(a, pa));
    bpt_ok(bp_model_save(b, pb));
    size_t la, lb;
    unsigned char *ba = bpt_file_bytes(pa, &la), *bb = bpt_file_bytes(pb, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
    unlink(pa);
    unlink(pb);
    bp_net_free(a);
    bp_net_free(b);
    bp_net_free(c);
    bpt_dataset_release(&train);
}

/* ---------------------------------------------------------------- progress callback */

typedef struct event {
    int epoch, epochs, batch, batches, epoch_done;
    double loss, eval_loss, eval_accuracy;
} event;

typedef struct recorder {
    event ev[64];
    int n;
    int stop_epoch, stop_batch, stop_done; /* return 1 at this call; stop_epoch -1: never */
} recorder;

static int record(const bp_progress *p, void *user)
{
    recorder *r = user;
    if (r->n < 64)
        r->ev[r->n++] = (event){p->epoch, p->epochs, p->batch, p->batches, p->epoch_done, p->loss,
                                p->eval_loss, p->eval_accuracy};
    return p->epoch == r->stop_epoch && p->batch == r->stop_batch &&
           p->epoch_done == r->stop_done;
}

static void progress_sequence(void **state)
{
    (void)state;
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    bp_dataset train = linear(10, 0.05, 41, NULL), eval = linear(6, 0.05, 42, NULL);
    bp_net *net = init_net(2, sizes, acts, BP_QUADRATIC, 1);
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->stop_epoch = -1;
    bp_train_config cfg = {.epochs = 3, .batch_size = 4, .seed = 2,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .progress = record,
                           .user = r};
    bpt_ok(bp_train(net, &train, NULL, &cfg, NULL));
    /* 10 samples in batches of 4: 3 batches (4, 4, 2), then epoch_done, for each epoch. */
    assert_int_equal(r->n, 3 * 4);
    for (int e = 0, k = 0; e < 3; e++) {
        for (int b = 1; b <= 3; b++, k++) {
            assert_int_equal(r->ev[k].epoch, e);
            assert_int_equal(r->ev[k].epochs, 3);
            assert_int_equal(r->ev[k].batch, b);
            assert_int_equal(r->ev[k].batches, 3);
            assert_int_equal(r->ev[k].epoch_done, 0);
            assert_true(isfinite(r->ev[k].loss) && r->ev[k].loss >= 0);
        }
        assert_int_equal(r->ev[k].epoch, e);
        assert_int_equal(r->ev[k].epoch_done, 1);
        assert_true(isnan(r->ev[k].eval_loss)); /* no eval set */
        assert_true(isnan(r->ev[k].eval_accuracy));
        k++;
    }

    /* With an eval set (regression: no accuracy), the epoch_done calls carry its loss. */
    r->n = 0;
    bpt_ok(bp_train(net, &train, &eval, &cfg, NULL));
    assert_int_equal(r->n, 12);
    for (int k = 3; k < 12; k += 4) {
        assert_int_equal(r->ev[k].epoch_done, 1);
        assert_true(isfinite(r->ev[k].eval_loss) && r->ev[k].eval_loss >= 0);
        assert_true(isnan(r->ev[k].eval_accuracy));
    }
    bp_net_free(net);
    free(r);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

static void progress_stop(void **state)
{
    (void)state;
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    bp_dataset train = linear(10, 0.05, 41, NULL);
    bp_net *net = init_net(2, sizes, acts, BP_QUADRATIC, 1);
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    bp_train_config cfg = {.epochs = 3, .batch_size = 4, .seed = 2,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .progress = record,
                           .user = r};
    /* Stop inside epoch 1 after its second batch: 3 + 1 + 2 calls, then nothing. */
    r->stop_epoch = 1;
    r->stop_batch = 2;
    r->stop_done = 0;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_ESTOPPED, "stop|callback");
    assert_int_equal(r->n, 6);
    assert_int_equal(r->ev[5].epoch, 1);
    assert_int_equal(r->ev[5].batch, 2);
    /* Stop at the end of epoch 0. */
    r->n = 0;
    r->stop_epoch = 0;
    r->stop_batch = 3;
    r->stop_done = 1;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_ESTOPPED, "stop|callback");
    assert_int_equal(r->n, 4);
    assert_int_equal(r->ev[3].epoch_done, 1);
    bp_net_free(net);
    free(r);
    bpt_dataset_release(&train);
}

/* With eta = 1e-30 no update changes any parameter (all |theta| >= 0.1, so eta x g is far below
 * half an ulp), so the per-batch losses show which samples each batch held: every epoch's mean
 * loss is the whole set's (each sample exactly once), and the first batch differs between
 * epochs (reshuffled every epoch). */
static void epochs_reshuffle_and_cover(void **state)
{
    (void)state;
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    bp_dataset train = linear(20, 0.3, 45, NULL);
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    float *p = bpt_params(net);
    bpt_fill_params(net, 46, 0.1f, 1.0f);
    float init[4];
    memcpy(init, p, sizeof init);
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->stop_epoch = -1;
    bp_train_config cfg = {.epochs = 4, .batch_size = 3, .seed = 8,
                           .optim = {.kind = BP_OPT_SGD, .eta = 1e-30f}, .progress = record,
                           .user = r};
    bpt_ok(bp_train(net, &train, NULL, &cfg, NULL));
    assert_memory_equal(p, init, sizeof init);
    double whole, acc;
    bpt_ok(bp_evaluate(net, &train, &whole, &acc, NULL));
    assert_int_equal(r->n, 4 * 8); /* 7 batches (6 x 3 + 2) and epoch_done */
    int first_batches_differ = 0;
    for (int e = 0; e < 4; e++) {
        const event *done = &r->ev[e * 8 + 7];
        assert_int_equal(done->epoch_done, 1);
        bpt_assert_close_scalar("epoch mean loss = whole set's", done->loss, whole, 0, 1e-6);
        if (r->ev[e * 8].loss != r->ev[0].loss)
            first_batches_differ = 1;
    }
    assert_true(first_batches_differ);
    bp_net_free(net);
    free(r);
    bpt_dataset_release(&train);
}

/* ---------------------------------------------------------------- early stopping */

#define ES_EPOCHS 40

typedef struct snapshots {
    const bp_net *net;
    size_t num_params;
    float params[ES_EPOCHS][64];
    double acc[ES_EPOCHS];
    int n;
} snapshots;

static int snapshot(const bp_progress *p, void *user)
{
    snapshots *s = user;
    if (p->epoch_done && s->n < ES_EPOCHS) {
        const float *q = NULL;
        if (bp_net_params_const(s->net, &q) != BP_OK || s->num_params > 64)
            return 1;
        memcpy(s->params[s->n], q, s->num_params * sizeof *q);
        s->acc[s->n] = p->eval_accuracy;
        s->n++;
    }
    return 0;
}

/* First epoch with the largest accuracy. */
static int best_epoch(const snapshots *s)
{
    int best = 0;
    for (int i = 1; i < s->n; i++)
        if (s->acc[i] > s->acc[best])
            best = i;
    return best;
}

static void early_stopping(void **state)
{
    (void)state;
    static const int sizes[] = {2, 6, 3};
    static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    /* Overlapping blobs and a small eval set (30 samples): the accuracy climbs for an epoch or
     * three and then repeats itself (ties: the first of equal epochs is the best). With these
     * seeds, patience 1 runs 3 epochs (best 1, tie at 2), patience 2 runs 6 (best 3, ties at 4
     * and 5). */
    bp_dataset train = blobs(90, 0.6, 51), eval = blobs(30, 0.6, 52);
    snapshots *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (int patience = 1; patience <= 2; patience++) {
        bp_net *net = init_net(3, sizes, acts, BP_NLL, 6);
        s->net = net;
        s->num_params = bpt_num_params(net);
        s->n = 0;
        double best_acc = -1;
        bp_train_config cfg = {.epochs = ES_EPOCHS, .batch_size = 5, .seed = 3,
                               .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.01f, .mu = 0.9f},
                               .patience = patience, .progress = snapshot, .user = s};
        bpt_ok(bp_train(net, &train, &eval, &cfg, &best_acc));
        int b = best_epoch(s);
        verbose("  early stopping: %g epochs run, best epoch %g\n", s->n, b);
        /* It stopped early, exactly patience epochs after the best one, so the last epoch's
         * parameters are not the best and restoring them matters. */
        assert_true(s->n < ES_EPOCHS);
        assert_int_equal(s->n, b + 1 + patience);
        assert_memory_not_equal(s->params[s->n - 1], s->params[b],
                                s->num_params * sizeof(float));
        assert_memory_equal(cparams(net), s->params[b], s->num_params * sizeof(float));
        assert_true(best_acc == s->acc[b]);
        bp_net_free(net);
    }

    /* patience 0 with an eval set: no restoring, the last epoch's parameters are returned, and
     * best_accuracy is still the best evaluation accuracy seen. */
    bp_net *net = init_net(3, sizes, acts, BP_NLL, 6);
    s->net = net;
    s->n = 0;
    double best_acc = -1;
    bp_train_config cfg = {.epochs = 8, .batch_size = 5, .seed = 3,
                           .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.01f, .mu = 0.9f},
                           .progress = snapshot, .user = s};
    bpt_ok(bp_train(net, &train, &eval, &cfg, &best_acc));
    assert_int_equal(s->n, 8);
    assert_memory_equal(cparams(net), s->params[7], s->num_params * sizeof(float));
    assert_true(best_acc == s->acc[best_epoch(s)]);
    bp_net_free(net);
    free(s);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* ---------------------------------------------------------------- non-finite */

typedef struct last_params {
    const bp_net *net;
    float p[4];
    int calls;
} last_params;

static int keep_params(const bp_progress *p, void *user)
{
    last_params *k = user;
    const float *q = NULL;
    (void)p;
    if (bp_net_params_const(k->net, &q) != BP_OK)
        return 1;
    memcpy(k->p, q, sizeof k->p);
    k->calls++;
    return 0;
}

static void assert_all_finite(const float *p, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= !isfinite(p[i]);
    if (bad)
        for (size_t i = 0; i < n; i++)
            print_error("parameter %zu is %g\n", i, (double)p[i]);
    assert_false(bad);
}

/* A diverging run stops with BP_ENUMERIC; the parameters are those before the failing batch (the
 * ones the last progress call saw, or the initial ones), all finite. Both tests keep what they
 * allocate in a fixture, so that a failed assertion leaks nothing under valgrind. */
typedef struct nf_fixture {
    bp_dataset train;
    bp_net *net;
    last_params k;
} nf_fixture;

static int nf_setup(void **state)
{
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    nf_fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    fx->train = linear(64, 0.05, 61, NULL);
    if (bp_net_create(&fx->net, 2, sizes, acts, BP_QUADRATIC) != BP_OK ||
        bp_net_init(fx->net, BP_INIT_XAVIER, 1) != BP_OK)
        return -1;
    fx->k.net = fx->net;
    return 0;
}

static int nf_teardown(void **state)
{
    nf_fixture *fx = *state;
    bp_net_free(fx->net);
    bpt_dataset_release(&fx->train);
    free(fx);
    return 0;
}

/* Data values 1e30: the first gradient overflows float, so no step is taken at all. */
static void nonfinite_huge_data(void **state)
{
    nf_fixture *fx = *state;
    for (int i = 0; i < fx->train.count * 3; i++)
        fx->train.x[i] *= 1e30f;
    assert_int_equal(bpt_num_params(fx->net), 4);
    float init[4];
    memcpy(init, cparams(fx->net), sizeof init);
    bp_train_config cfg = {.epochs = 5, .batch_size = 8, .seed = 2,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .progress = keep_params,
                           .user = &fx->k};
    bpt_assert_status(bp_train(fx->net, &fx->train, NULL, &cfg, NULL), BP_ENUMERIC, "finite");
    assert_int_equal(fx->k.calls, 0);
    assert_memory_equal(cparams(fx->net), init, sizeof init);
}

/* A learning rate of 1e30 on ordinary data: the first step is finite (parameters ~1e29), the
 * second batch's gradient is finite too (~1e30) but eta x gradient overflows the parameters to
 * +-inf. The optimizer refuses that step with nothing changed, for every kind, so the parameters
 * returned are the finite ones of before it (those the last progress call saw). */
static void nonfinite_huge_eta(void **state)
{
    nf_fixture *fx = *state;
    float init[4];
    memcpy(init, cparams(fx->net), sizeof init);
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++) {
        bp_train_config cfg = {.epochs = 5, .batch_size = 8, .seed = 2,
                               .optim = {.kind = (bp_optimizer_kind)kind, .eta = 1e30f,
                                         .mu = 0.9f},
                               .progress = keep_params, .user = &fx->k};
        fx->k.calls = 0;
        bpt_assert_status(bp_train(fx->net, &fx->train, NULL, &cfg, NULL), BP_ENUMERIC,
                          "batch 1: the step would make a parameter or the optimizer's state "
                          "non-finite");
        const float *p = cparams(fx->net);
        assert_all_finite(p, 4);
        assert_int_equal(fx->k.calls, 1); /* the first batch trained, the second was refused */
        assert_memory_equal(p, fx->k.p, sizeof fx->k.p);
        memcpy(bpt_params(fx->net), init, sizeof init);
    }
}

/* bp_train with cfg on the fixture stops with BP_ENUMERIC, and the parameters are those the last
 * progress call saw (before any: the initial ones init), all finite. Returns the number of
 * batches that trained before the failure. */
static int assert_stopped_finite(nf_fixture *fx, const bp_train_config *cfg, const float *init)
{
    fx->k.calls = 0;
    bpt_assert_status(bp_train(fx->net, &fx->train, NULL, cfg, NULL), BP_ENUMERIC, "finite");
    const float *p = cparams(fx->net);
    assert_all_finite(p, 4);
    assert_memory_equal(p, fx->k.calls > 0 ? fx->k.p : init, sizeof fx->k.p);
    return fx->k.calls;
}

/* A NaN or an infinity in one input or one target (a caller's own arrays; the loaders refuse
 * them): the batch that holds it has a non-finite loss, training stops there and keeps the
 * parameters of before that batch. Each case starts from the same parameters and clean data. */
static void nonfinite_inputs_and_targets(void **state)
{
    nf_fixture *fx = *state;
    float init[4];
    memcpy(init, cparams(fx->net), sizeof init);
    const struct {
        int in_x, index;
        float value;
    } cases[] = {{1, 3 * 40 + 1, NAN}, {1, 3 * 7, INFINITY}, {0, 50, NAN}, {0, 12, -INFINITY}};
    bp_train_config cfg = {.epochs = 2, .batch_size = 8, .seed = 2,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .progress = keep_params,
                           .user = &fx->k};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float *v = cases[i].in_x ? &fx->train.x[cases[i].index] : &fx->train.y[cases[i].index];
        float saved = *v;
        *v = cases[i].value;
        assert_true(assert_stopped_finite(fx, &cfg, init) < 8); /* within the first epoch */
        *v = saved;
        memcpy(bpt_params(fx->net), init, sizeof init);
    }
}

/* A learning rate far too large: plain SGD with eta = 1e6 on ordinary data multiplies the error by
 * about 1e6 a step, so within a few batches the loss overflows float; training stops with
 * BP_ENUMERIC after at least one good batch, keeping the last finite parameters. */
static void diverging_eta_1e6(void **state)
{
    nf_fixture *fx = *state;
    float init[4];
    memcpy(init, cparams(fx->net), sizeof init);
    bp_train_config cfg = {.epochs = 5, .batch_size = 8, .seed = 2,
                           .optim = {.kind = BP_OPT_SGD, .eta = 1e6f}, .progress = keep_params,
                           .user = &fx->k};
    assert_true(assert_stopped_finite(fx, &cfg, init) >= 1);
}

/* ---------------------------------------------------------------- errors */

static void train_errors(void **state)
{
    (void)state;
    static const int sizes[] = {3, 1};
    static const bp_activation acts[] = {BP_IDENTITY};
    bp_dataset train = linear(10, 0.05, 71, NULL);
    bp_dataset wrong = bpt_dataset_alloc(10, 2, 1, 0); /* 2 features, the net has 3 inputs */
    bp_dataset labelled = blobs(6, 0.1, 72);  /* 2 features, 3 targets */
    bp_dataset two_targets = bpt_dataset_alloc(10, 3, 2, 0); /* 3 features, 2 targets: the net has 1 */
    bp_net *net = init_net(2, sizes, acts, BP_QUADRATIC, 1);
    float init[4];
    memcpy(init, cparams(net), sizeof init);
    const bp_train_config ok = {.epochs = 2, .batch_size = 4, .seed = 1,
                                .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}};
    bp_train_config cfg;

    bpt_assert_status(bp_train(NULL, &train, NULL, &ok, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_train(net, NULL, NULL, &ok, NULL), BP_ENULL, "train");
    bpt_assert_status(bp_train(net, &train, NULL, NULL, NULL), BP_ENULL, "cfg");
    cfg = ok;
    cfg.epochs = 0;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "epochs");
    cfg = ok;
    cfg.batch_size = 0;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "batch_size");
    cfg = ok;
    cfg.patience = -1;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "patience");
    bpt_assert_status(bp_train(net, &wrong, NULL, &ok, NULL), BP_EMISMATCH, "features");
    bpt_assert_status(bp_train(net, &train, &wrong, &ok, NULL), BP_EMISMATCH, "eval");
    bpt_assert_status(bp_train(net, &labelled, NULL, &ok, NULL), BP_EMISMATCH, "features");
    bpt_assert_status(bp_train(net, &two_targets, NULL, &ok, NULL), BP_EMISMATCH, "targets");
    cfg = ok;
    cfg.patience = 2;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EVALUE, "patience|eval");
    /* an eval set without labels cannot drive early stopping either */
    bp_dataset unlabelled = linear(5, 0.05, 73, NULL);
    bpt_assert_status(bp_train(net, &train, &unlabelled, &cfg, NULL), BP_EVALUE, "patience|eval");
    cfg = ok;
    cfg.optim.eta = 0.0f;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EVALUE, "eta");
    cfg = ok;
    cfg.schedule.kind = (bp_schedule_kind)42;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "kind");
    bp_dataset empty = train;
    empty.count = 0;
    bpt_assert_status(bp_train(net, &empty, NULL, &ok, NULL), BP_EDIM, "empty|count");
    assert_memory_equal(cparams(net), init, sizeof init); /* no failed call trained */

    double loss, acc;
    bpt_assert_status(bp_evaluate(NULL, &train, &loss, &acc, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_evaluate(net, NULL, &loss, &acc, NULL), BP_ENULL, "ds");
    bpt_assert_status(bp_evaluate(net, &train, NULL, &acc, NULL), BP_ENULL, "loss");
    bpt_assert_status(bp_evaluate(net, &wrong, &loss, &acc, NULL), BP_EMISMATCH, "features");

    /* Labels index the confusion matrix: one outside 0..n^L-1 is refused, not written through. */
    static const int sizes3[] = {2, 3};
    static const bp_activation soft[] = {BP_SOFTMAX};
    bp_net *net3 = init_net(2, sizes3, soft, BP_NLL, 1);
    long confusion[9];
    labelled.labels[4] = 3;
    bpt_assert_status(bp_evaluate(net3, &labelled, &loss, &acc, confusion), BP_EDIM, "labels[4]");
    labelled.labels[4] = -1;
    bpt_assert_status(bp_train(net3, &labelled, NULL, &ok, NULL), BP_EDIM, "labels[4]");
    bp_net_free(net3);

    bp_net_free(net);
    bpt_dataset_release(&train);
    bpt_dataset_release(&wrong);
    bpt_dataset_release(&labelled);
    bpt_dataset_release(&two_targets);
    bpt_dataset_release(&unlabelled);
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bp_test_train_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return rmdir(tmpdir); /* determinism removes its two files */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xor_converges),
        cmocka_unit_test(linear_regression_converges),
        cmocka_unit_test(blobs_classify),
        cmocka_unit_test(determinism),
        cmocka_unit_test(progress_sequence),
        cmocka_unit_test(progress_stop),
        cmocka_unit_test(epochs_reshuffle_and_cover),
        cmocka_unit_test(early_stopping),
        cmocka_unit_test_setup_teardown(nonfinite_huge_data, nf_setup, nf_teardown),
        cmocka_unit_test_setup_teardown(nonfinite_huge_eta, nf_setup, nf_teardown),
        cmocka_unit_test_setup_teardown(nonfinite_inputs_and_targets, nf_setup, nf_teardown),
        cmocka_unit_test_setup_teardown(diverging_eta_1e6, nf_setup, nf_teardown),
        cmocka_unit_test(train_errors),
    };
    return cmocka_run_group_tests_name("train", tests, make_tmpdir, remove_tmpdir);
}
