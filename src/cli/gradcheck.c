/* backprop gradcheck: compare the library's backpropagated gradient with central finite
 * differences (bp_gradcheck) on a network built from the flags and a random batch. */
#include "cli.h"

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct gradcheck_opts {
    cli_net_opts net;
    int batch, per_layer;
    double tolerance, step;
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
static int report(const gradcheck_opts *o, const double *err)
{
    int bad = 0;
    for (int i = 0; i < o->net.layers.count - 1; i++) {
        printf("layer %d: max relative error %.1e%s\n", i + 2, err[i],
               err[i] < o->tolerance ? "" : " FAILED");
        bad += !(err[i] < o->tolerance);
    }
    if (bad) {
        printf("gradient check failed: %d layers at or above the tolerance %g\n", bad,
               o->tolerance);
        return CLI_FAIL;
    }
    printf("gradient check passed (tolerance %g)\n", o->tolerance);
    return CLI_OK;
}

int cli_gradcheck(const cli_subcommand *self, int argc, char **argv)
{
    gradcheck_opts o = GRADCHECK_DEFAULTS;
    const cli_option options[] = {
        CLI_NET_OPTIONS(&o.net),
        CLI_INTEGER("batch", &o.batch, "N", 1, 1 << 16, "samples in the random batch"),
        CLI_INTEGER("per-layer", &o.per_layer, "N", 0, INT_MAX,
                    "parameters checked per layer, drawn at random (0 = all)"),
        CLI_DOUBLE("tolerance", &o.tolerance, "X", 0, DBL_MAX, CLI_OPEN_MIN,
                   "largest accepted relative error"),
        CLI_DOUBLE("step", &o.step, "H", 0, 1, CLI_OPEN_MIN, "central-difference step"),
    };
    const cli_command cmd = {
        .sub = self, .options = options, .num_options = sizeof options / sizeof options[0],
        .description = "Builds the network, draws a random batch (inputs in [-1,1), targets "
                       "one-hot for nll, in (0,1)\notherwise) and compares the backpropagated "
                       "gradient with (C(w+h) - C(w-h)) / 2h per parameter.\nPrints the largest "
                       "relative error of each layer; exits 0 if all are below --tolerance, else "
                       "1.\nOn a large network pass --per-layer: every checked parameter costs two "
                       "forward passes."};
    bp_net *net = NULL;
    float *X = NULL, *Y = NULL;
    double err[BP_MAX_LAYERS];
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = cli_net_build(&cmd, &o.net, &net)))
        return rc;
    int n1 = o.net.layers.sizes[0], nL = o.net.layers.sizes[o.net.layers.count - 1];
    X = calloc((size_t)n1 * (size_t)o.batch, sizeof *X);
    Y = calloc((size_t)nL * (size_t)o.batch, sizeof *Y);
    if (!X || !Y) {
        rc = cli_error(self->name, "out of memory for a batch of %d samples", o.batch);
    } else {
        bp_gradcheck_options go = {.step = o.step, .per_layer = o.per_layer, .seed = o.net.seed};
        bp_status st;
        fill_batch(&o, X, Y);
        st = bp_gradcheck(net, o.batch, X, n1, Y, nL, &go, err);
        rc = st ? cli_fail(self->name, st, "gradient check could not run") : report(&o, err);
    }
    free(X);
    free(Y);
    bp_net_free(net);
    return rc;
}
