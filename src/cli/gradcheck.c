/* backprop gradcheck: compare the library's backpropagated gradient with central finite
 * differences (bp_gradcheck) on a network built from the flags and a random batch, or on a saved
 * model and the first samples of a data set. */
#include "cli.h"

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gradcheck_opts {
    cli_net_opts net;
    int batch, per_layer;
    double tolerance, step;
    const char *model; /* --model: check this network on real samples */
    cli_data_opts data;
} gradcheck_opts;

static const gradcheck_opts GRADCHECK_DEFAULTS = {
    .net = {.layers = {.count = 3, .sizes = {4, 5, 3}},
            .hidden = BP_SIGMOID, .output = BP_SOFTMAX, .cost = BP_NLL, .init = BP_INIT_XAVIER,
            .seed = 1},
    .batch = 4,
    .per_layer = 0,
    .tolerance = 1e-2,
    .step = 1e-6,
};

/* splitmix64: uniform doubles in [0,1) for the inputs and targets (not the library's generator,
 * which is internal; any fixed sequence will do). */
static double uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* X uniform in [-1,1); Y valid targets for the cost: one-hot for nll, in (0,1) otherwise. */
static void fill_batch(const gradcheck_opts *o, float *X, float *Y)
{
    int n1 = o->net.layers.sizes[0], nL = o->net.layers.sizes[o->net.layers.count - 1];
    uint64_t state = o->net.seed ^ 0x5851f42d4c957f2du;
    for (size_t i = 0; i < (size_t)n1 * (size_t)o->batch; i++)
        X[i] = (float)(2.0 * uniform(&state) - 1.0);
    for (size_t j = 0; j < (size_t)o->batch; j++) {
        float *y = Y + j * (size_t)nL;
        if (o->net.cost == BP_NLL) {
            int k = (int)(uniform(&state) * nL);
            for (int i = 0; i < nL; i++)
                y[i] = i == k ? 1.0f : 0.0f;
        } else {
            for (int i = 0; i < nL; i++)
                y[i] = (float)(0.05 + 0.9 * uniform(&state));
        }
    }
}

/* Print one line per layer; CLI_OK if every error is below the tolerance, else CLI_FAIL. */
static int report(const gradcheck_opts *o, int layers, const double *err)
{
    int bad = 0;
    for (int i = 0; i < layers - 1; i++) {
        printf("layer %d: max relative error %.1e%s\n", i + 2, err[i],
               err[i] < o->tolerance ? "" : " FAILED");
        bad += !(err[i] < o->tolerance);
    }
    if (bad) {
        printf("gradient check failed: %d layer%s at or above the tolerance %g\n", bad,
               bad == 1 ? "" : "s", o->tolerance);
        return CLI_FAIL;
    }
    printf("gradient check passed (tolerance %g)\n", o->tolerance);
    return CLI_OK;
}

/* The saved model and its first --batch samples of the data flags (X, Y point into ds). */
static int load_real(const char *name, gradcheck_opts *o, bp_net **net, bp_dataset *ds)
{
    bp_net_info info;
    int rc;
    if ((rc = cli_model_load(name, o->model, net)))
        return rc;
    bp_net_describe(*net, &info);
    if ((rc = cli_data_load(name, &o->data, 0, info.sizes[0], info.sizes[info.num_layers - 1],
                            ds)))
        return rc;
    if (o->batch > ds->count)
        o->batch = ds->count;
    printf("model %s, the first %d samples\n", o->model, o->batch);
    return CLI_OK;
}

static int check(const char *name, gradcheck_opts *o, const cli_command *cmd)
{
    bp_net *net = NULL;
    bp_dataset ds = {0};
    float *X = NULL, *Y = NULL;
    double err[BP_MAX_LAYERS];
    int rc = o->model ? load_real(name, o, &net, &ds) : cli_net_build(cmd, &o->net, &net);
    if (rc) {
        bp_net_free(net);
        return rc;
    }
    bp_net_info info;
    bp_net_describe(net, &info);
    int n1 = info.sizes[0], nL = info.sizes[info.num_layers - 1];
    if (!o->model) {
        X = calloc((size_t)n1 * (size_t)o->batch, sizeof *X);
        Y = calloc((size_t)nL * (size_t)o->batch, sizeof *Y);
        if (X && Y)
            fill_batch(o, X, Y);
    }
    if (!o->model && (!X || !Y)) {
        rc = cli_error(name, "out of memory for a batch of %d samples", o->batch);
    } else {
        bp_gradcheck_options go = {.step = o->step, .per_layer = o->per_layer, .seed = o->net.seed};
        bp_status st = bp_gradcheck(net, o->batch, o->model ? ds.x : X, n1, o->model ? ds.y : Y,
                                    nL, &go, err);
        rc = st ? cli_fail(name, st, "gradient check could not run")
                : report(o, info.num_layers, err);
    }
    free(X);
    free(Y);
    bp_dataset_free(&ds);
    bp_net_free(net);
    return rc;
}

/* Whether a network flag was given (they describe the random network, not a saved model's). */
static int net_flags_given(const gradcheck_opts *o)
{
    const cli_net_opts *d = &GRADCHECK_DEFAULTS.net, *n = &o->net;
    return memcmp(&d->layers, &n->layers, sizeof d->layers) != 0 || d->hidden != n->hidden ||
           d->output != n->output || d->cost != n->cost || d->init != n->init;
}

int cli_gradcheck(const cli_subcommand *self, int argc, char **argv)
{
    gradcheck_opts o = GRADCHECK_DEFAULTS;
    const cli_option options[] = {
        CLI_NET_OPTIONS(&o.net),
        CLI_INTEGER("batch", &o.batch, "N", 1, 1 << 16, "samples in the batch"),
        CLI_INTEGER("per-layer", &o.per_layer, "N", 0, INT_MAX,
                    "parameters checked per layer, drawn at random (0 = all)"),
        CLI_DOUBLE("tolerance", &o.tolerance, "X", 0, DBL_MAX, CLI_OPEN_MIN,
                   "largest accepted relative error"),
        CLI_DOUBLE("step", &o.step, "H", 0, 1, CLI_OPEN_MIN, "central-difference step"),
        CLI_TEXT("model", &o.model, "FILE", "check this saved model on the first --batch samples "
                 "of --csv or --data instead of a random network"),
        CLI_DATA_DIR_OPTION(&o.data, "t10k-*; with --model"),
        CLI_TEXT("csv", &o.data.test_csv, "FILE", "CSV of features, then the label (with "
                 "--model; - = standard input)"),
        CLI_FLAG("header", &o.data.header, "the first line of the CSV file is a header"),
    };
    const cli_command cmd = {
        .sub = self, .options = options, .num_options = sizeof options / sizeof options[0],
        .description = "Builds the network, draws a random batch (inputs in [-1,1), targets "
                       "one-hot for nll, in (0,1) otherwise) and compares the backpropagated "
                       "gradient with (C(w+h) - C(w-h)) / 2h per parameter. With --model it checks "
                       "a saved model on the first --batch samples of --csv FILE or --data DIR "
                       "(the Fashion-MNIST test set without either). Prints the largest relative "
                       "error of each layer; exits 0 if all are below --tolerance, else 1. On a "
                       "large network pass --per-layer: every checked parameter costs two forward "
                       "passes."};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (o.model && net_flags_given(&o))
        return cli_usage_error(&cmd, "--model checks the saved network: --layers, --hidden, "
                               "--output, --cost and --init describe a random one");
    if (!o.model && (o.data.dir || o.data.test_csv))
        return cli_usage_error(&cmd, "--csv and --data need --model (the random network gets a "
                               "random batch)");
    if ((rc = cli_data_check(&cmd, &o.data)))
        return rc;
    return check(self->name, &o, &cmd);
}
