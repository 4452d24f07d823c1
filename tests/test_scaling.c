/* The scaling a network carries: standardisation statistics against a hand computation, set/get
 * and their refusals, bp_predict = scale_y (.) a^L(x') + mean_y, training through the scaling equal
 * bit for bit to training an unscaled network on data standardised by hand, model format version
 * 2 (round trip bit-exact, every new field validated), the version-1 fixture, the memory loader,
 * and a checkpoint refused by a network of another scaling. */
#define _GNU_SOURCE /* mkdtemp */
#include "bp_test.h"

#include <float.h>
#include <unistd.h>
#include <zlib.h>

#ifndef BPT_DATA_DIR
#error "BPT_DATA_DIR must name tests/data"
#endif

/* ---------------------------------------------------------------- statistics */
/* Inputs 2 x 4: row 0 = 1 2 3 6 (mean 3, population variance (4+1+0+9)/4 = 3.5), row 1 constant
 * 5 (scale 1); targets 1 x 4: -1 1 -1 1 (mean 0, sd 1). */
static float hand_x[] = {1, 5, 2, 5, 3, 5, 6, 5}, hand_y[] = {-1, 1, -1, 1};

/* Rows over 8 samples, taken as constant (scale 1) when the spread is negligible: 0 but one
 * 1e-37 (sd 3.3e-38, which would turn an input of 1 into 3e37); 1e6 but one ulp more (sd 0.022
 * <= 10 FLT_EPSILON 1e6); the same times 2^-40 (the rule does not depend on the units). Their
 * negatives keep their sd: 0 but one 1e-18 (sd 3.3e-19 >= 2^-63), 1e6 but one 1e6 + 16 (sd 5.3). */
static void negligible_spread_is_constant(void)
{
    const float ulp = 0.0625f, tiny = 0x1p-40f;
    const float odd[6] = {1e-37f, 1e6f + ulp, (1e6f + ulp) * tiny, 1e-18f, 1e6f + 16, 0};
    const float base[6] = {0, 1e6f, 1e6f * tiny, 0, 1e6f, 0};
    float x[8 * 6], mean[6], scale[6];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 6; i++)
            x[j * 6 + i] = j == 5 ? odd[i] : base[i];
    bp_dataset ds = {.count = 8, .n_features = 6, .n_targets = 0, .x = x};
    bpt_ok(bp_dataset_standardization(&ds, BP_SCALE_INPUTS, mean, scale));
    for (int i = 0; i < 3; i++)
        assert_true(scale[i] == 1.0f);
    double sd_small = 1e-18 * sqrt(7.0) / 8, sd_one = 16 * sqrt(7.0) / 8;
    assert_true(fabs(scale[3] - sd_small) <= 1e-6 * sd_small);
    assert_true(fabs(scale[4] - sd_one) <= 1e-6 * sd_one);
    assert_true(scale[5] == 1.0f && mean[5] == 0.0f); /* exactly constant */
    assert_true(mean[0] == (float)(1e-37f / 8.0)); /* centred still */
}

static void statistics_match_hand(void **state)
{
    (void)state;
    bp_dataset ds = {.count = 4, .n_features = 2, .n_targets = 1, .x = hand_x, .y = hand_y};
    float mean[2], scale[2];
    bpt_ok(bp_dataset_standardization(&ds, BP_SCALE_INPUTS, mean, scale));
    assert_true(mean[0] == 3.0f && scale[0] == (float)sqrt(3.5));
    assert_true(mean[1] == 5.0f && scale[1] == 1.0f); /* constant: centred only */
    bpt_ok(bp_dataset_standardization(&ds, BP_SCALE_TARGETS, mean, scale));
    assert_true(mean[0] == 0.0f && scale[0] == 1.0f);

    negligible_spread_is_constant();

    /* Refusals. */
    bpt_assert_status(bp_dataset_standardization(NULL, BP_SCALE_INPUTS, mean, scale), BP_ENULL,
                      "ds");
    bpt_assert_status(bp_dataset_standardization(&ds, (bp_scaling_side)2, mean, scale), BP_EDIM,
                      "side");
    bp_dataset empty = ds;
    empty.count = 0;
    bpt_assert_status(bp_dataset_standardization(&empty, BP_SCALE_INPUTS, mean, scale), BP_EDIM,
                      "empty");
    float huge[] = {FLT_MAX, 1, -FLT_MAX, 1, FLT_MAX, 1, -FLT_MAX, 1};
    bp_dataset big = ds;
    big.x = huge; /* sd = FLT_MAX exactly fits; a mean of inf would not: use inf directly */
    huge[2] = INFINITY;
    bpt_assert_status(bp_dataset_standardization(&big, BP_SCALE_INPUTS, mean, scale), BP_EVALUE,
                      "row 0");
}

/* ---------------------------------------------------------------- set, get */
static const int sizes[] = {3, 5, 2};
static const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
static const float in_mean[3] = {1000, -3, 0.5f}, in_scale[3] = {250, 0.125f, 1};
static const float out_mean[2] = {10, -1}, out_scale[2] = {4, 0.5f};

static bp_net *scaled_net(void)
{
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_fill_params(net, 3, -1, 1);
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, in_mean, in_scale));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, out_mean, out_scale));
    return net;
}

static void set_get_round_trip(void **state)
{
    (void)state;
    bp_net *net = scaled_net();
    const float *m, *s;
    bpt_ok(bp_net_get_scaling(net, BP_SCALE_INPUTS, &m, &s));
    assert_memory_equal(m, in_mean, sizeof in_mean);
    assert_memory_equal(s, in_scale, sizeof in_scale);
    bpt_ok(bp_net_get_scaling(net, BP_SCALE_TARGETS, &m, &s));
    assert_memory_equal(m, out_mean, sizeof out_mean);
    assert_memory_equal(s, out_scale, sizeof out_scale);
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, NULL, NULL)); /* removed */
    bpt_ok(bp_net_get_scaling(net, BP_SCALE_TARGETS, &m, &s));
    assert_null(m);
    assert_null(s);

    /* Refusals leave the scaling as it was. */
    const float zero[3] = {1, 0, 1}, nan_mean[3] = {NAN, 0, 0}, tiny[3] = {1, 1e-39f, 1};
    bpt_assert_status(bp_net_set_scaling(net, BP_SCALE_INPUTS, in_mean, zero), BP_EVALUE,
                      "scale[1]");
    bpt_assert_status(bp_net_set_scaling(net, BP_SCALE_INPUTS, in_mean, tiny), BP_EVALUE,
                      "scale[1]");
    bpt_assert_status(bp_net_set_scaling(net, BP_SCALE_INPUTS, nan_mean, in_scale), BP_EVALUE,
                      "mean[0]");
    bpt_assert_status(bp_net_set_scaling(net, BP_SCALE_INPUTS, in_mean, NULL), BP_ENULL, "scale");
    bpt_assert_status(bp_net_set_scaling(net, (bp_scaling_side)-1, NULL, NULL), BP_EDIM, "side");
    bpt_assert_status(bp_net_set_scaling(NULL, BP_SCALE_INPUTS, NULL, NULL), BP_ENULL, "net");
    bpt_assert_status(bp_net_get_scaling(net, BP_SCALE_INPUTS, &m, NULL), BP_ENULL, "scale");
    bpt_ok(bp_net_get_scaling(net, BP_SCALE_INPUTS, &m, &s));
    assert_memory_equal(s, in_scale, sizeof in_scale);
    bp_net_free(net);

    /* Target scaling needs the quadratic cost. */
    const int cs[] = {3, 2};
    const bp_activation sm[] = {BP_SOFTMAX};
    bp_net *cls = bpt_net(2, cs, sm, BP_NLL);
    bpt_assert_status(bp_net_set_scaling(cls, BP_SCALE_TARGETS, out_mean, out_scale), BP_ECONFIG,
                      "quadratic");
    bpt_ok(bp_net_set_scaling(cls, BP_SCALE_INPUTS, in_mean, in_scale)); /* inputs: any cost */
    bp_net_free(cls);
}

/* ---------------------------------------------------------------- prediction */
enum { B = 7 };

static void predict_applies_scaling(void **state)
{
    (void)state;
    bp_net *net = scaled_net();
    bp_workspace *ws = bpt_ws(net, B);
    bpt_rng r = bpt_rng_make(11);
    float X[3 * B], Xs[3 * B], Y[4 * B], want[2 * B];
    for (int j = 0; j < B; j++)
        for (int i = 0; i < 3; i++) {
            X[3 * j + i] = in_mean[i] + in_scale[i] * bpt_range(&r, -2, 2);
            Xs[3 * j + i] = (X[3 * j + i] - in_mean[i]) / in_scale[i];
        }
    /* The raw equations on the standardised inputs, then y = scale_y a + mean_y by hand. */
    const float *a;
    int ld;
    bpt_ok(bp_forward_batch(net, ws, B, Xs, 3));
    bpt_ok(bp_workspace_activations(ws, 3, &a, &ld));
    for (int j = 0; j < B; j++)
        for (int i = 0; i < 2; i++)
            want[2 * j + i] = out_scale[i] * a[(size_t)j * (size_t)ld + (size_t)i] + out_mean[i];
    for (int k = 0; k < 4 * B; k++)
        Y[k] = NAN; /* ldy 4: the padding rows must stay untouched */
    bpt_ok(bp_predict(net, ws, B, X, 3, Y, 4));
    for (int j = 0; j < B; j++) {
        assert_memory_equal(Y + 4 * j, want + 2 * j, 2 * sizeof *Y);
        assert_true(isnan(Y[4 * j + 2]) && isnan(Y[4 * j + 3]));
    }

    /* Without a scaling, bp_predict is the forward pass itself. */
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, NULL, NULL));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, NULL, NULL));
    bpt_ok(bp_predict(net, ws, B, Xs, 3, Y, 2));
    bpt_ok(bp_forward_batch(net, ws, B, Xs, 3));
    bpt_ok(bp_workspace_activations(ws, 3, &a, &ld));
    assert_memory_equal(Y, a, 2 * B * sizeof *Y);

    bpt_assert_status(bp_predict(net, ws, B + 1, X, 3, Y, 2), BP_EBATCH, "max_batch");
    bpt_assert_status(bp_predict(net, ws, B, X, 3, Y, 1), BP_ELD, "Y");
    bpt_assert_status(bp_predict(net, ws, B, X, 2, Y, 2), BP_ELD, "X");
    bpt_assert_status(bp_predict(net, ws, B, X, 3, NULL, 2), BP_ENULL, "Y");
    bpt_assert_status(bp_predict(net, NULL, B, X, 3, Y, 2), BP_ENULL, "ws");
    bpt_assert_status(bp_predict(net, ws, 0, X, 3, Y, 2), BP_EDIM, "batch");
    bp_workspace_free(ws);
    bp_net_free(net);
}

/* ---------------------------------------------------------------- training */
enum { N = 64 };

/* y = x0 / 1000 + 3 sin(x1), x0 in thousands: a set no unscaled tanh net fits. */
static void regression_set(bp_dataset *ds, float *x, float *y)
{
    bpt_rng r = bpt_rng_make(5);
    for (int j = 0; j < N; j++) {
        x[3 * j] = bpt_range(&r, 1000, 5000);
        x[3 * j + 1] = bpt_range(&r, -2, 2);
        x[3 * j + 2] = 7; /* constant input */
        y[2 * j] = x[3 * j] / 1000 + 3 * sinf(x[3 * j + 1]);
        y[2 * j + 1] = 100 * x[3 * j + 1];
    }
    *ds = (bp_dataset){.count = N, .n_features = 3, .n_targets = 2, .x = x, .y = y};
}

static void train_through_scaling_equals_by_hand(void **state)
{
    (void)state;
    float x[3 * N], y[2 * N], xs[3 * N], ys[2 * N];
    bp_dataset raw, hand;
    regression_set(&raw, x, y);
    float m[3], s[3], my[2], sy[2];
    bpt_ok(bp_dataset_standardization(&raw, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_dataset_standardization(&raw, BP_SCALE_TARGETS, my, sy));
    assert_true(s[2] == 1.0f && m[2] == 7.0f);
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < 3; i++)
            xs[3 * j + i] = (x[3 * j + i] - m[i]) / s[i];
        for (int i = 0; i < 2; i++)
            ys[2 * j + i] = (y[2 * j + i] - my[i]) / sy[i];
    }
    hand = (bp_dataset){.count = N, .n_features = 3, .n_targets = 2, .x = xs, .y = ys};

    bp_net *a = bpt_net(3, sizes, acts, BP_QUADRATIC), *b = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(a, BP_INIT_XAVIER, 9));
    bpt_ok(bp_net_init(b, BP_INIT_XAVIER, 9));
    bpt_ok(bp_net_set_scaling(a, BP_SCALE_INPUTS, m, s));
    bpt_ok(bp_net_set_scaling(a, BP_SCALE_TARGETS, my, sy));
    bp_train_config cfg = {.epochs = 30, .batch_size = 8, .seed = 2,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}};
    double la, lb, acc;
    bpt_ok(bp_train(a, &raw, &raw, &cfg, NULL));
    bpt_ok(bp_train(b, &hand, &hand, &cfg, NULL));
    const float *pa, *pb;
    bpt_ok(bp_net_params_const(a, &pa));
    bpt_ok(bp_net_params_const(b, &pb));
    assert_memory_equal(pa, pb, bpt_num_params(a) * sizeof *pa);
    /* bp_evaluate: the cost on the standardised targets, the same for both. */
    bpt_ok(bp_evaluate(a, &raw, &la, &acc, NULL));
    bpt_ok(bp_evaluate(b, &hand, &lb, &acc, NULL));
    assert_true(la == lb && isnan(acc));

    /* The metrics of a in the data's units are b's, unscaled by hand. */
    bp_regression_metrics ma, per[2], mb;
    bpt_ok(bp_evaluate_regression(a, &raw, &ma, per));
    bp_workspace *ws = bpt_ws(b, N);
    float pred[2 * N];
    bpt_ok(bp_predict(b, ws, N, xs, 3, pred, 2));
    for (int k = 0; k < 2 * N; k++)
        pred[k] = sy[k % 2] * pred[k] + my[k % 2];
    bpt_ok(bp_regression_metrics_compute(2, N, pred, 2, y, 2, &mb, NULL));
    assert_true(ma.rmse == mb.rmse && ma.mae == mb.mae && ma.r2 == mb.r2);
    assert_true(per[0].r2 > 0.9 && per[1].r2 > 0.9); /* it did learn */
    bp_workspace_free(ws);
    bp_net_free(a);
    bp_net_free(b);
}

/* ---------------------------------------------------------------- model files */
static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/bp_scaling.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_same_net(const bp_net *a, const bp_net *b)
{
    const float *pa, *pb, *ma, *sa, *mb, *sb;
    bpt_ok(bp_net_params_const(a, &pa));
    bpt_ok(bp_net_params_const(b, &pb));
    assert_memory_equal(pa, pb, bpt_num_params(a) * sizeof *pa);
    for (int side = BP_SCALE_INPUTS; side <= BP_SCALE_TARGETS; side++) {
        bp_net_info info;
        bpt_ok(bp_net_describe(a, &info));
        int n = side == BP_SCALE_INPUTS ? info.sizes[0] : info.sizes[info.num_layers - 1];
        bpt_ok(bp_net_get_scaling(a, (bp_scaling_side)side, &ma, &sa));
        bpt_ok(bp_net_get_scaling(b, (bp_scaling_side)side, &mb, &sb));
        assert_true((ma == NULL) == (mb == NULL));
        if (ma) {
            assert_memory_equal(ma, mb, (size_t)n * sizeof *ma);
            assert_memory_equal(sa, sb, (size_t)n * sizeof *sa);
        }
    }
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Rewrite the CRC of a modified file image, so that the field itself is what is checked. */
static void fix_crc(unsigned char *b, size_t len)
{
    put32(b + len - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(len - 4)));
}

static void version2_round_trip(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/v2.bpn", dir);
    bp_net *net = scaled_net(), *back = NULL, *mem = NULL;
    bpt_ok(bp_model_save(net, path));
    bpt_ok(bp_model_load(&back, path));
    assert_same_net(net, back);
    size_t len;
    unsigned char *b = bpt_file_bytes(path, &len);
    /* L = 3, P = 5*3+5 + 2*5+2 = 32, S = 2*3 + 2*2 = 10: 32 + 8L + 4P + 4S bytes. */
    assert_int_equal(len, 32 + 24 + 4 * 32 + 4 * 10);
    assert_int_equal(le32(b + 8), 2);
    assert_int_equal(le32(b + 16 + 8 * 3), 3); /* scaling flags: inputs | targets */
    bpt_ok(bp_model_load_memory(&mem, b, len));
    assert_same_net(net, mem);
    bp_net_free(mem);

    /* Each new field is validated (the CRC rewritten so that the field itself is refused). */
    const size_t flags_at = 16 + 24, scales_at = 32 + 24 + 4 * 32 + 4 * 3;
    put32(b + flags_at, 4);
    fix_crc(b, len);
    bpt_assert_status(bp_model_load_memory(&mem, b, len), BP_EFORMAT, "byte 40: scaling flags");
    assert_null(mem);
    put32(b + flags_at, 1); /* inputs only: the file is then 16 bytes too long */
    fix_crc(b, len);
    bpt_assert_status(bp_model_load_memory(&mem, b, len), BP_EFORMAT, "trailing");
    put32(b + flags_at, 3);
    put32(b + scales_at + 4, 0); /* scale[1] of the inputs = 0 */
    fix_crc(b, len);
    bpt_assert_status(bp_model_load_memory(&mem, b, len), BP_EFORMAT, "memory: byte|scale[1]");
    bpt_assert_status(bp_model_load_memory(&mem, b, len - 1), BP_EFORMAT, "truncated");
    bpt_assert_status(bp_model_load_memory(&mem, NULL, len), BP_ENULL, "data");
    bpt_assert_status(bp_model_load_memory(NULL, b, len), BP_ENULL, "out");
    free(b);

    /* A net with input scaling only: flags 1, and the classification costs accept it. */
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, NULL, NULL));
    bpt_ok(bp_model_save(net, path));
    b = bpt_file_bytes(path, &len);
    assert_int_equal(len, 32 + 24 + 4 * 32 + 4 * 6);
    assert_int_equal(le32(b + flags_at), 1);
    free(b);
    bp_net_free(back);
    bpt_ok(bp_model_load(&back, path));
    assert_same_net(net, back);
    bp_net_free(back);
    bp_net_free(net);
}

static void target_scaling_flag_needs_quadratic(void **state)
{
    (void)state;
    const int cs[] = {3, 2};
    const bp_activation sg[] = {BP_SIGMOID};
    bp_net *net = bpt_net(2, cs, sg, BP_CROSS_ENTROPY), *mem = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/ce.bpn", dir);
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, in_mean, in_scale));
    bpt_ok(bp_model_save(net, path));
    size_t len;
    unsigned char *b = bpt_file_bytes(path, &len);
    bpt_ok(bp_model_load_memory(&mem, b, len));
    bp_net_free(mem);
    put32(b + 16 + 16, 3); /* claims target scaling too (L = 2: flags at 16 + 8L) */
    fix_crc(b, len);
    bpt_assert_status(bp_model_load_memory(&mem, b, len), BP_EFORMAT, "only quadratic");
    free(b);
    bp_net_free(net);
}

static void version1_fixture_loads(void **state)
{
    (void)state;
    const char *path = BPT_DATA_DIR "/v1-4-3-3.bpn";
    bp_net *net = NULL, *mem = NULL;
    bp_net_info info;
    bpt_ok(bp_model_load(&net, path));
    bpt_ok(bp_net_describe(net, &info));
    assert_int_equal(info.num_layers, 3);
    assert_true(info.sizes[0] == 4 && info.sizes[1] == 3 && info.sizes[2] == 3);
    assert_true(info.activations[0] == BP_TANH && info.activations[1] == BP_IDENTITY);
    assert_int_equal(info.cost, BP_QUADRATIC);
    const float *m, *s, *p;
    for (int side = BP_SCALE_INPUTS; side <= BP_SCALE_TARGETS; side++) {
        bpt_ok(bp_net_get_scaling(net, (bp_scaling_side)side, &m, &s));
        assert_true(m == NULL && s == NULL); /* version 1: no scaling */
    }
    size_t len;
    unsigned char *b = bpt_file_bytes(path, &len);
    assert_int_equal(len, 28 + 8 * 3 + 4 * info.num_params);
    assert_int_equal(le32(b + 8), 1);
    bpt_ok(bp_net_params_const(net, &p));
    for (size_t i = 0; i < info.num_params; i++) {
        uint32_t bits;
        memcpy(&bits, &p[i], sizeof bits);
        assert_int_equal(bits, le32(b + 48 + 4 * i));
    }
    bpt_ok(bp_model_load_memory(&mem, b, len));
    assert_same_net(net, mem);

    /* Saved again, an unscaled network is the same version-1 bytes. */
    char again[128];
    snprintf(again, sizeof again, "%s/again.bpn", dir);
    bpt_ok(bp_model_save(mem, again));
    size_t len2;
    unsigned char *b2 = bpt_file_bytes(again, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(b2, b, len);
    /* Version 3 is refused. */
    bp_net *v3 = NULL;
    put32(b + 8, 3);
    bpt_assert_status(bp_model_load_memory(&v3, b, len), BP_EFORMAT, "version 3");
    assert_null(v3);
    free(b);
    free(b2);
    bp_net_free(mem);
    bp_net_free(net);
}

static void checkpoint_of_another_scaling_refused(void **state)
{
    (void)state;
    float x[3 * N], y[2 * N];
    bp_dataset ds;
    regression_set(&ds, x, y);
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    bp_net *net = scaled_net();
    bp_train_config cfg = {.epochs = 2, .batch_size = 16, .optim = {.kind = BP_OPT_SGD,
                           .eta = 0.01f}, .checkpoint_every = 1, .checkpoint_path = ckpt};
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    cfg.checkpoint_every = 0;
    cfg.resume_path = ckpt;
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL)); /* the same scaling: resumes (and is done) */
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, NULL, NULL));
    bpt_assert_status(bp_train(net, &ds, NULL, &cfg, NULL), BP_EMISMATCH, "scaling");
    bp_net_free(net);
}

/* A checkpoint of a scaled network (its model of version 2: the scaling follows the parameters)
 * with a NaN parameter and both CRCs resealed: refused, the message naming the parameter's own
 * byte (not one shifted by the scaling's floats). */
static void checkpoint_poisoned_parameter_named_at_its_byte(void **state)
{
    (void)state;
    float x[3 * N], y[2 * N];
    bp_dataset ds;
    regression_set(&ds, x, y);
    char ckpt[128], bad[128], want[64];
    snprintf(ckpt, sizeof ckpt, "%s/poison.ckpt", dir);
    snprintf(bad, sizeof bad, "%s/poison-bad.ckpt", dir);
    bp_net *net = scaled_net();
    bp_train_config cfg = {.epochs = 2, .batch_size = 16, .optim = {.kind = BP_OPT_SGD,
                           .eta = 0.01f}, .checkpoint_every = 1, .checkpoint_path = ckpt};
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    size_t len, P = bpt_num_params(net);
    unsigned char *b = bpt_file_bytes(ckpt, &len);
    size_t mlen = (size_t)b[12] | (size_t)b[13] << 8 | (size_t)b[14] << 16, L = b[20 + 12];
    assert_int_equal(b[20 + 8], 2); /* a version-2 model inside */
    size_t model_crc = 20 + mlen - 4, state_at = 20 + mlen;
    for (size_t k = 0; k < 2; k++) {
        size_t i = k ? P - 1 : 0, at = 20 + 24 + 8 * L + 4 + 4 * i;
        unsigned char saved[4];
        memcpy(saved, b + at, 4);
        bpt_put_le(b + at, 0x7fc00000u, 4); /* a quiet NaN */
        bpt_put_le(b + model_crc, bpt_crc32(b + 20, model_crc - 20), 4);
        bpt_put_le(b + len - 4, bpt_crc32(b + state_at, len - 4 - state_at), 4);
        FILE *f = fopen(bad, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        memcpy(b + at, saved, 4);
        cfg.checkpoint_every = 0;
        cfg.resume_path = bad;
        cfg.epochs = 3;
        snprintf(want, sizeof want, "byte %zu: parameter %zu is nan", at, i);
        bpt_assert_status(bp_train(net, &ds, NULL, &cfg, NULL), BP_EFORMAT, want);
    }
    free(b);
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statistics_match_hand),
        cmocka_unit_test(set_get_round_trip),
        cmocka_unit_test(predict_applies_scaling),
        cmocka_unit_test(train_through_scaling_equals_by_hand),
        cmocka_unit_test(version2_round_trip),
        cmocka_unit_test(target_scaling_flag_needs_quadratic),
        cmocka_unit_test(version1_fixture_loads),
        cmocka_unit_test(checkpoint_of_another_scaling_refused),
        cmocka_unit_test(checkpoint_poisoned_parameter_named_at_its_byte),
    };
    return cmocka_run_group_tests_name("scaling", tests, make_dir, remove_dir);
}
