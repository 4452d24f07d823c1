/* Fuzz target: bp_train on a small network, data and configuration all taken from the input.
 * Input, byte by byte (0 once used up): L - 2 (mod 3); L widths (1 + b mod 5); the activations
 * (hidden b mod 5, never softmax; output b mod 6); the cost (b mod 3, quadratic when refused); the
 * optimizer kind, schedule kind and sample count (b mod 4, b mod 4 - 3 is not a schedule - and
 * 1 + b mod 8); epochs (1 + b mod 3), batch (1 + b mod 8), patience (b mod 3), step epochs
 * (b mod 3: 0 is refused) and a labels flag; then eta, lambda, mu, clip, beta1, beta2, epsilon,
 * gamma, eta_min and every feature and target as a number: a byte below 224 picks one of the
 * values of `picks` (ordinary ones, 0, subnormals, the float limits, 1e30, infinities, NaN), a
 * byte from 224 on is followed by four bytes of raw float bits.
 * Promise checked: a status the library documents, with a detail when not BP_OK; refused
 * arguments (BP_EVALUE, BP_EDIM) leave the parameters bit for bit; whatever happens the network
 * ends with finite parameters (it starts with them); and bp_evaluate of a network with one NaN
 * parameter reaching every output never reports a finite loss. */
#include "fuzz.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned take(input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static const float picks[] = {0.0f, 1.0f, -1.0f, 0.5f, 0.01f, 0.9f, 0.999f, 2.0f, 1e-8f, 1e-45f,
                              FLT_MIN, FLT_MAX, -FLT_MAX, 1e30f, -1e30f, 1e15f, INFINITY,
                              -INFINITY, NAN, 0.99999994f, 3.0f, 1e-3f, 100.0f, -0.25f};

static float number(input *in)
{
    unsigned b = take(in);
    if (b < 224)
        return picks[b % (sizeof picks / sizeof picks[0])];
    uint32_t bits = 0;
    for (int i = 0; i < 4; i++)
        bits |= (uint32_t)take(in) << (8 * i);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static bp_net *build(input *in)
{
    int sizes[4];
    bp_activation acts[3];
    bp_net *net = NULL;
    const int L = 2 + (int)(take(in) % 3);
    for (int i = 0; i < L; i++)
        sizes[i] = 1 + (int)(take(in) % 5);
    for (int i = 0; i < L - 1; i++)
        acts[i] = (bp_activation)(take(in) % (i == L - 2 ? 6 : 5));
    bp_cost cost = (bp_cost)(take(in) % 3);
    if (bp_net_create(&net, L, sizes, acts, cost) == BP_ECONFIG)
        FUZZ_CHECK(bp_net_create(&net, L, sizes, acts, BP_QUADRATIC) == BP_OK);
    FUZZ_CHECK(net != NULL && bp_net_init(net, BP_INIT_XAVIER, 7) == BP_OK);
    return net;
}

/* The data set of count samples for net: features, and either labels with one-hot targets or
 * raw targets. Arrays malloc'ed. */
static bp_dataset make_data(input *in, const bp_net_info *info, int count, int labelled)
{
    int n1 = info->sizes[0], nL = info->sizes[info->num_layers - 1];
    bp_dataset ds = {count, n1, nL, malloc(sizeof(float) * (size_t)(n1 * count)),
                     calloc((size_t)(nL * count), sizeof(float)),
                     labelled ? malloc(sizeof(int) * (size_t)count) : NULL};
    FUZZ_CHECK(ds.x && ds.y && (!labelled || ds.labels));
    for (int i = 0; i < n1 * count; i++)
        ds.x[i] = number(in);
    for (int j = 0; j < count; j++) {
        if (labelled) {
            ds.labels[j] = (int)(take(in) % (unsigned)nL);
            ds.y[j * nL + ds.labels[j]] = 1.0f;
        } else {
            for (int i = 0; i < nL; i++)
                ds.y[j * nL + i] = number(in);
        }
    }
    return ds;
}

static bp_train_config make_config(input *in, int *count, int *labelled)
{
    bp_train_config cfg = {0};
    cfg.optim.kind = (bp_optimizer_kind)(take(in) % 4);
    cfg.schedule.kind = (bp_schedule_kind)(take(in) % 4);
    *count = 1 + (int)(take(in) % 8);
    cfg.epochs = 1 + (int)(take(in) % 3);
    cfg.batch_size = 1 + (int)(take(in) % 8);
    cfg.patience = (int)(take(in) % 3);
    cfg.schedule.step_epochs = (int)(take(in) % 3);
    *labelled = (int)(take(in) % 2) || cfg.patience > 0;
    cfg.seed = 3;
    cfg.optim.eta = number(in);
    cfg.optim.lambda = number(in);
    cfg.optim.mu = number(in);
    cfg.optim.clip_norm = number(in);
    cfg.optim.beta1 = number(in);
    cfg.optim.beta2 = number(in);
    cfg.optim.epsilon = number(in);
    cfg.schedule.gamma = number(in);
    cfg.schedule.eta_min = number(in);
    return cfg;
}

static int all_finite(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return 0;
    return 1;
}

/* One NaN weight into the output layer's first neuron: its output, and so the loss of every
 * sample, is NaN (softmax spreads it to every output). */
static void check_nan_evaluation(bp_net *net, const bp_dataset *ds, const bp_net_info *info)
{
    bp_layer_view v;
    double loss = 0, acc = 0;
    FUZZ_CHECK(bp_net_layer(net, info->num_layers, &v) == BP_OK);
    float *params;
    FUZZ_CHECK(bp_net_params(net, &params) == BP_OK);
    params[v.b_offset] = NAN;
    bp_status st = bp_evaluate(net, ds, &loss, &acc, NULL);
    FUZZ_CHECK(st == BP_ENUMERIC || (st == BP_OK && !isfinite(loss)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    bp_net *net = build(&in);
    bp_net_info info;
    float *params;
    int count, labelled;
    FUZZ_CHECK(bp_net_describe(net, &info) == BP_OK && bp_net_params(net, &params) == BP_OK);
    bp_train_config cfg = make_config(&in, &count, &labelled);
    bp_dataset ds = make_data(&in, &info, count, labelled);
    float *before = malloc(info.num_params * sizeof *before);
    FUZZ_CHECK(before != NULL);
    memcpy(before, params, info.num_params * sizeof *before);
    bp_status st = bp_train(net, &ds, cfg.patience > 0 ? &ds : NULL, &cfg, NULL);
    FUZZ_CHECK(st == BP_OK || st == BP_EVALUE || st == BP_EDIM || st == BP_ENUMERIC);
    FUZZ_CHECK(st == BP_OK || bp_last_error()[0] != '\0');
    if (st == BP_EVALUE || st == BP_EDIM)
        FUZZ_CHECK(memcmp(params, before, info.num_params * sizeof *before) == 0);
    FUZZ_CHECK(all_finite(params, info.num_params));
    check_nan_evaluation(net, &ds, &info);
    free(before);
    free(ds.x);
    free(ds.y);
    free(ds.labels);
    bp_net_free(net);
    return 0;
}
