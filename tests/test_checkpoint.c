/* Checkpoint and resume (bp_train_config.checkpoint_every / checkpoint_path / resume_path,
 * docs/checkpoint-format.md): a run interrupted after epoch k and resumed from its checkpoint ends
 * with the same parameter bits as the run that was never interrupted, for every optimizer and with
 * early stopping; the file's layout is the documented one (the model section is byte for byte a
 * model file); a checkpoint that does not fit the run, is truncated anywhere or has any bit
 * flipped is refused (BP_EFORMAT or BP_EMISMATCH) and leaves the network untouched.
 *
 * The data: points uniform in [-1,1)^3 labelled by the largest of three fixed linear functions,
 * from the test generator, so every run is the same computation. Files go to one mkdtemp
 * directory. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "bp_test.h"

#include <unistd.h>

static char tmpdir[64];

static const int sizes[] = {3, 6, 3};
static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};

/* The label: argmax of (x1 + x2, x2 - x3, -x1 + 0.5 x3). */
static int argmax_label(const float *x)
{
    float f[3] = {x[0] + x[1], x[1] - x[2], -x[0] + 0.5f * x[2]};
    int c = f[1] > f[0] ? 1 : 0;
    return f[2] > f[c] ? 2 : c;
}

/* count samples of 3 features, uniform in [-1,1), labelled by argmax_label, one-hot y. */
static bp_dataset make_data(int count, uint64_t seed)
{
    return bpt_dataset_classes(count, 3, 3, seed, argmax_label);
}

static bp_net *make_net(uint64_t seed)
{
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, seed));
    return net;
}

static const float *params_of(const bp_net *net)
{
    const float *p = NULL;
    bpt_ok(bp_net_params_const(net, &p));
    return p;
}

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Progress callback: stop at the epoch_done call of epoch index stop_after (-1: never); count the
 * epochs seen. */
typedef struct stopper {
    int stop_after, epochs_done;
} stopper;

static int stop_at(const bp_progress *p, void *user)
{
    stopper *s = user;
    if (!p->epoch_done)
        return 0;
    s->epochs_done++;
    return p->epoch == s->stop_after;
}

static bp_train_config base_config(bp_optimizer_kind kind, stopper *s)
{
    bp_train_config cfg = {.epochs = 5, .batch_size = 7, .seed = 3,
                           .optim = {.kind = kind, .eta = kind == BP_OPT_ADAM ? 0.01f : 0.1f,
                                     .mu = 0.9f, .lambda = 0.1f},
                           .schedule = {.kind = BP_LR_COSINE},
                           .progress = stop_at, .user = s};
    return cfg;
}

/* ---------------------------------------------------------------- resume = uninterrupted */

/* For every optimizer: 5 epochs in one go; the same run interrupted after epoch 2 (a checkpoint
 * every 2 epochs) and resumed into a network initialised differently; and the uninterrupted run
 * with a checkpoint after every epoch (writing one changes nothing): all three end bit for bit
 * equal. Resuming the checkpoint of the last epoch trains nothing more and gives the same bits. */
static void resume_equals_uninterrupted(void **state)
{
    (void)state;
    bp_dataset train = make_data(40, 1), eval = make_data(20, 2);
    char path[128], last[128];
    path_in_tmp(path, sizeof path, "run.bpc");
    path_in_tmp(last, sizeof last, "last.bpc");
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind++) {
        stopper s = {-1, 0};
        bp_train_config cfg = base_config((bp_optimizer_kind)kind, &s);
        bp_net *a = make_net(5), *b = make_net(5), *c = make_net(99), *d = make_net(5);
        size_t P = bpt_num_params(a);
        bpt_ok(bp_train(a, &train, &eval, &cfg, NULL));
        assert_int_equal(s.epochs_done, 5);

        bp_train_config cut = cfg;
        cut.checkpoint_every = 2;
        cut.checkpoint_path = path;
        s = (stopper){1, 0}; /* stop after epoch index 1: the checkpoint of epoch 2 is written */
        bpt_assert_status(bp_train(b, &train, &eval, &cut, NULL), BP_ESTOPPED, "callback");
        assert_memory_not_equal(params_of(b), params_of(a), P * sizeof(float));

        bp_train_config resume = cfg;
        resume.resume_path = path;
        s = (stopper){-1, 0};
        assert_memory_not_equal(params_of(c), params_of(a), P * sizeof(float));
        bpt_ok(bp_train(c, &train, &eval, &resume, NULL));
        assert_int_equal(s.epochs_done, 3); /* epochs 3, 4, 5 */
        assert_memory_equal(params_of(c), params_of(a), P * sizeof(float));

        bp_train_config every = cfg;
        every.checkpoint_every = 1;
        every.checkpoint_path = last;
        s = (stopper){-1, 0};
        bpt_ok(bp_train(d, &train, &eval, &every, NULL));
        assert_memory_equal(params_of(d), params_of(a), P * sizeof(float));

        bp_net *e = make_net(77);
        resume.resume_path = last; /* after epoch 5 of 5 */
        s = (stopper){-1, 0};
        bpt_ok(bp_train(e, &train, &eval, &resume, NULL));
        assert_int_equal(s.epochs_done, 0);
        assert_memory_equal(params_of(e), params_of(a), P * sizeof(float));
        bp_net_free(a);
        bp_net_free(b);
        bp_net_free(c);
        bp_net_free(d);
        bp_net_free(e);
    }
    unlink(path);
    unlink(last);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* Early stopping (patience 2, the best epoch restored at the end): the run interrupted after any
 * of its epochs, the one where it stopped early included, and resumed ends with the same bits and
 * best accuracy as the uninterrupted run, and runs the epochs that run had left. */
static void resume_with_early_stopping(void **state)
{
    (void)state;
    /* A small, noisy eval set: the accuracy stalls after a few epochs and patience stops it. */
    bp_dataset train = make_data(60, 11), eval = make_data(15, 12);
    char path[128];
    path_in_tmp(path, sizeof path, "early.bpc");
    stopper s = {-1, 0};
    bp_train_config cfg = base_config(BP_OPT_MOMENTUM, &s);
    cfg.epochs = 60;
    cfg.patience = 2;
    cfg.optim.eta = 0.02f;
    bp_net *a = make_net(5);
    size_t P = bpt_num_params(a);
    double best_a, best_c;
    bpt_ok(bp_train(a, &train, &eval, &cfg, &best_a));
    int total = s.epochs_done;
    assert_true(total > 2 && total < cfg.epochs); /* it did stop early */
    for (int k = 1; k <= total; k++) {
        bp_net *b = make_net(5), *c = make_net(6);
        bp_train_config cut = cfg;
        cut.checkpoint_every = 1;
        cut.checkpoint_path = path;
        s = (stopper){k - 1, 0};
        bpt_assert_status(bp_train(b, &train, &eval, &cut, NULL), BP_ESTOPPED, "callback");
        bp_train_config resume = cfg;
        resume.resume_path = path;
        s = (stopper){-1, 0};
        bpt_ok(bp_train(c, &train, &eval, &resume, &best_c));
        assert_int_equal(s.epochs_done, total - k);
        assert_memory_equal(params_of(c), params_of(a), P * sizeof(float));
        assert_true(best_c == best_a);
        bp_net_free(b);
        bp_net_free(c);
    }
    unlink(path);
    bp_net_free(a);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* ---------------------------------------------------------------- the file */

static void spill(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint64_t le(const unsigned char *p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Everything the file tests share: a checkpoint of epoch 2 (Adam, early stopping on) and the
 * network it was taken from. */
typedef struct fixture {
    bp_dataset train, eval;
    bp_net *net; /* the parameters of epoch 2 */
    char path[128], model[128], bad[128];
    unsigned char *bytes;
    size_t len;
} fixture;

static bp_train_config fixture_config(void)
{
    bp_train_config cfg = base_config(BP_OPT_ADAM, NULL);
    cfg.progress = NULL;
    cfg.patience = 3;
    cfg.epochs = 2;
    return cfg;
}

static int fixture_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    fx->train = make_data(30, 21);
    fx->eval = make_data(10, 22);
    path_in_tmp(fx->path, sizeof fx->path, "fx.bpc");
    path_in_tmp(fx->model, sizeof fx->model, "fx.bpn");
    path_in_tmp(fx->bad, sizeof fx->bad, "bad.bpc");
    bp_train_config cfg = fixture_config();
    cfg.checkpoint_every = 2;
    cfg.checkpoint_path = fx->path;
    cfg.patience = 0; /* so that the network returned is epoch 2's, not the best epoch's */
    if (bp_net_create(&fx->net, 3, sizes, acts, BP_NLL) ||
        bp_net_init(fx->net, BP_INIT_XAVIER, 5) ||
        bp_train(fx->net, &fx->train, &fx->eval, &cfg, NULL))
        return -1;
    return 0;
}

/* The same checkpoint with early stopping on, as the file tests read it. */
static int fixture_setup_best(void **state)
{
    if (fixture_setup(state))
        return -1;
    fixture *fx = *state;
    bp_train_config cfg = fixture_config();
    cfg.checkpoint_every = 2;
    cfg.checkpoint_path = fx->path;
    bp_net *tmp = NULL;
    if (bp_net_create(&tmp, 3, sizes, acts, BP_NLL) || bp_net_init(tmp, BP_INIT_XAVIER, 5) ||
        bp_train(tmp, &fx->train, &fx->eval, &cfg, NULL)) {
        bp_net_free(tmp);
        return -1;
    }
    bp_net_free(tmp);
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture *fx = *state;
    unlink(fx->path);
    unlink(fx->model);
    unlink(fx->bad);
    free(fx->bytes);
    bp_net_free(fx->net);
    bpt_dataset_release(&fx->train);
    bpt_dataset_release(&fx->eval);
    free(fx);
    return 0;
}

/* docs/checkpoint-format.md: magic, version, model length; the model section is exactly the
 * model file of the network at that epoch; then the state section's fixed fields, Adam's two
 * moment vectors, the best parameters, the permutation, the CRC. */
static void layout(void **state)
{
    fixture *fx = *state;
    size_t len, mlen, P = bpt_num_params(fx->net);
    unsigned char *b = bpt_file_bytes(fx->path, &len);
    bpt_ok(bp_model_save(fx->net, fx->model));
    unsigned char *m = bpt_file_bytes(fx->model, &mlen);
    static const unsigned char magic[8] = {0x89, 'B', 'P', 'C', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(b, magic, 8);
    assert_int_equal(le(b + 8, 4), 1);
    assert_int_equal(le(b + 12, 8), mlen);
    assert_memory_equal(b + 20, m, mlen);
    const unsigned char *st = b + 20 + mlen;
    assert_int_equal(le(st, 4), BP_OPT_ADAM);
    assert_int_equal(le(st + 4, 8), 2 * 5); /* steps: 2 epochs of ceil(30 / 7) = 5 batches */
    assert_int_equal(le(st + 12, 4), 2);    /* epochs done */
    assert_int_equal(le(st + 60, 4), 0);    /* early stopping off: no best parameters */
    assert_int_equal(le(st + 64, 4), 30);   /* training-set size */
    assert_int_equal(len, 20 + mlen + 68 + 2 * 4 * P + 4 * 30 + 4);
    free(b);
    free(m);
}

/* The network keeps its parameters when a resume fails. */
static void assert_refused(fixture *fx, const bp_train_config *cfg, bp_status expected,
                           const char *keywords)
{
    size_t P = bpt_num_params(fx->net);
    bp_net *net = make_net(8);
    float *before = malloc(P * sizeof *before);
    assert_non_null(before);
    memcpy(before, params_of(net), P * sizeof *before);
    bpt_assert_status(bp_train(net, &fx->train, &fx->eval, cfg, NULL), expected, keywords);
    assert_memory_equal(params_of(net), before, P * sizeof *before);
    free(before);
    bp_net_free(net);
}

/* Every way a checkpoint can fail to fit the run, and the configuration errors. */
static void refused(void **state)
{
    fixture *fx = *state;
    bp_train_config cfg = fixture_config();
    cfg.epochs = 4;
    cfg.resume_path = fx->path;
    bp_net *net = make_net(8);
    bp_train_config c = cfg;

    c.checkpoint_every = -1;
    bpt_assert_status(bp_train(net, &fx->train, &fx->eval, &c, NULL), BP_EDIM, "checkpoint_every");
    c = cfg;
    c.checkpoint_every = 1;
    bpt_assert_status(bp_train(net, &fx->train, &fx->eval, &c, NULL), BP_ENULL, "checkpoint_path");
    c = cfg;
    c.checkpoint_every = 1;
    c.checkpoint_path = "/nonexistent-dir/x.bpc";
    c.resume_path = NULL;
    bpt_assert_status(bp_train(net, &fx->train, &fx->eval, &c, NULL), BP_EIO, "nonexistent-dir");
    bp_net_free(net);

    c = cfg;
    c.resume_path = "/nonexistent-dir/x.bpc";
    assert_refused(fx, &c, BP_EIO, "nonexistent-dir");
    bpt_ok(bp_model_save(fx->net, fx->model)); /* a model file is not a checkpoint */
    c.resume_path = fx->model;
    assert_refused(fx, &c, BP_EFORMAT, "magic");
    c = cfg;
    c.optim.kind = BP_OPT_MOMENTUM;
    assert_refused(fx, &c, BP_EMISMATCH, "optimizer");
    c = cfg;
    c.patience = 0; /* the checkpoint holds best parameters this run has no use for */
    assert_refused(fx, &c, BP_EMISMATCH, "best");
    c = cfg;
    c.epochs = 1; /* the checkpoint is after epoch 2 */
    assert_refused(fx, &c, BP_EMISMATCH, "epoch");

    /* another training-set size */
    bp_dataset smaller = fx->train;
    smaller.count = 29;
    net = make_net(8);
    bpt_assert_status(bp_train(net, &smaller, &fx->eval, &cfg, NULL), BP_EMISMATCH,
                      "training set");
    bp_net_free(net);

    /* another network: the same sizes with another activation, then other sizes */
    static const bp_activation other_acts[] = {BP_SIGMOID, BP_SOFTMAX};
    static const int other_sizes[] = {3, 7, 3};
    for (int n = 0; n < 2; n++) {
        net = bpt_net(3, n ? other_sizes : sizes, n ? acts : other_acts, BP_NLL);
        bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 1));
        bpt_assert_status(bp_train(net, &fx->train, &fx->eval, &cfg, NULL), BP_EMISMATCH,
                          "network");
        bp_net_free(net);
    }
}

/* Every truncation and every single-bit flip (one bit per byte, cycling through the bit
 * positions) is refused with BP_EFORMAT: the checksums are verified before any field is compared
 * with the run, so a damaged file is never reported as one of another run. The network is left
 * untouched. */
static void damaged(void **state)
{
    fixture *fx = *state;
    bp_train_config cfg = fixture_config();
    cfg.epochs = 4;
    cfg.resume_path = fx->bad;
    fx->bytes = bpt_file_bytes(fx->path, &fx->len);
    for (size_t cut = 0; cut < fx->len; cut++) {
        spill(fx->bad, fx->bytes, cut);
        assert_refused(fx, &cfg, BP_EFORMAT, "truncated|magic");
    }
    for (size_t i = 0; i < fx->len; i++) {
        fx->bytes[i] ^= (unsigned char)(1u << (i % 8));
        spill(fx->bad, fx->bytes, fx->len);
        fx->bytes[i] ^= (unsigned char)(1u << (i % 8));
        assert_refused(fx, &cfg, BP_EFORMAT, "byte");
    }
    spill(fx->bad, fx->bytes, fx->len); /* and the undamaged copy resumes */
    bp_net *net = make_net(8);
    bpt_ok(bp_train(net, &fx->train, &fx->eval, &cfg, NULL));
    bp_net_free(net);
}

/* ---------------------------------------------------------------- poison under valid CRCs */
/* Offsets in the fixture's checkpoint (Adam, early stopping: best parameters present). */
typedef struct layout_at {
    size_t model, model_params, model_crc, state, m, v, best, crc;
} layout_at;

static layout_at locate(const fixture *fx)
{
    size_t P = bpt_num_params(fx->net), mlen = (size_t)le(fx->bytes + 12, 8);
    layout_at a;
    a.model = 20;
    a.model_crc = 20 + mlen - 4;
    a.model_params = a.model_crc - 4 * P;
    a.state = 20 + mlen;
    a.m = a.state + 68;
    a.v = a.m + 4 * P;
    a.best = a.v + 4 * P;
    a.crc = fx->len - 4;
    return a;
}

/* Both CRCs recomputed after an edit, so that only the state checks can refuse the file. */
static void reseal(fixture *fx, const layout_at *a)
{
    bpt_put_le(fx->bytes + a->model_crc, bpt_crc32(fx->bytes + a->model, a->model_crc - a->model),
               4);
    bpt_put_le(fx->bytes + a->crc, bpt_crc32(fx->bytes + a->state, a->crc - a->state), 4);
}

/* The checkpoint with the 4 bytes at off set to x (or, width 8, the field to bits), resealed,
 * must be refused with BP_EFORMAT naming keywords (NULL: must resume). */
static void poison(fixture *fx, const bp_train_config *cfg, size_t off, int width, uint64_t bits,
                   const char *keywords)
{
    const layout_at a = locate(fx);
    unsigned char saved[8];
    memcpy(saved, fx->bytes + off, (size_t)width);
    bpt_put_le(fx->bytes + off, bits, width);
    reseal(fx, &a);
    spill(fx->bad, fx->bytes, fx->len);
    memcpy(fx->bytes + off, saved, (size_t)width);
    reseal(fx, &a);
    if (keywords) {
        assert_refused(fx, cfg, BP_EFORMAT, keywords);
        return;
    }
    bp_net *net = make_net(8);
    bpt_ok(bp_train(net, &fx->train, &fx->eval, cfg, NULL));
    bp_net_free(net);
}

static uint64_t float_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Every float of the state finite (Adam's second moment >= 0), the step count bounded by one step
 * per sample of each epoch: else BP_EFORMAT and the network untouched, though both CRCs are
 * right. Beside each, a finite edit at the same place resumes (the forging itself is sound). */
static void poisoned(void **state)
{
    fixture *fx = *state;
    bp_train_config cfg = fixture_config();
    cfg.epochs = 4;
    cfg.resume_path = fx->bad;
    fx->bytes = bpt_file_bytes(fx->path, &fx->len);
    const layout_at a = locate(fx);
    size_t P = bpt_num_params(fx->net);
    const float *p = params_of(fx->net);
    uint32_t first = (uint32_t)le(fx->bytes + a.model_params, 4);
    assert_memory_equal(&first, &p[0], 4); /* the layout is understood */
    poison(fx, &cfg, a.model_params + 4 * (P - 1), 4, float_bits(NAN), "parameter");
    poison(fx, &cfg, a.model_params, 4, float_bits(INFINITY), "parameter");
    poison(fx, &cfg, a.model_params, 4, float_bits(0.25f), NULL);
    poison(fx, &cfg, a.m + 4, 4, float_bits(-INFINITY), "first moment");
    poison(fx, &cfg, a.m + 4, 4, float_bits(-0.5f), NULL);
    poison(fx, &cfg, a.v, 4, float_bits(NAN), "second moment");
    poison(fx, &cfg, a.v + 8, 4, float_bits(-1e-3f), "second moment");
    poison(fx, &cfg, a.v + 8, 4, float_bits(1e-3f), NULL);
    poison(fx, &cfg, a.best + 4 * (P - 1), 4, float_bits(NAN), "best parameter");
    poison(fx, &cfg, a.best, 4, float_bits(1.0f), NULL);
    double nan = NAN, half = 0.5;
    uint64_t nan_bits, half_bits;
    memcpy(&nan_bits, &nan, 8);
    memcpy(&half_bits, &half, 8);
    poison(fx, &cfg, a.state + 48, 8, nan_bits, "best accuracy");
    poison(fx, &cfg, a.state + 48, 8, half_bits, NULL);
    poison(fx, &cfg, a.state + 4, 8, INT64_MAX, "step count");
    poison(fx, &cfg, a.state + 4, 8, 2 * 30 + 1, "step count"); /* 2 epochs of 30 samples */
    poison(fx, &cfg, a.state + 4, 8, 2 * 30, NULL);
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bp_test_checkpoint_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_equals_uninterrupted),
        cmocka_unit_test(resume_with_early_stopping),
        cmocka_unit_test_setup_teardown(layout, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(refused, fixture_setup_best, fixture_teardown),
        cmocka_unit_test_setup_teardown(damaged, fixture_setup_best, fixture_teardown),
        cmocka_unit_test_setup_teardown(poisoned, fixture_setup_best, fixture_teardown),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, make_tmpdir, remove_tmpdir);
}
