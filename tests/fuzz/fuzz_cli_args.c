/* Fuzz target: the backprop program's option parser (src/cli/args.c) on any argument list.
 * Input: the arguments, separated by NUL bytes. The table below has an option of every kind the
 * parser knows, including the shared network and data groups (CLI_NET_OPTIONS: the layer spec).
 * Promise checked: cli_parse returns CLI_OK, CLI_USAGE (message on stderr) or -1 (--help printed),
 * never exits or crashes, and after CLI_OK every value lies in its option's documented domain. */
#include "fuzz.h"
#include "cli.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    cli_net_opts net;
    cli_data_opts data;
    int epochs, shift, optimizer, schedule, outputs;
    double eta, mu;
    const char *out, *model;
} opts;

static const opts defaults = {
    .net = {.layers = {3, {784, 256, 10}}, .hidden = BP_RELU, .output = BP_SOFTMAX, .cost = BP_NLL,
            .init = BP_INIT_HE, .seed = 1},
    .epochs = 10, .optimizer = BP_OPT_ADAM, .schedule = BP_LR_COSINE, .eta = 0.001, .mu = 0.9};
static opts o;

static const cli_option options[] = {
    CLI_NET_OPTIONS(&o.net),
    CLI_DATA_DIR_OPTION(&o.data, "t10k-*"),
    CLI_TEXT("csv", &o.data.test_csv, "FILE", "samples as CSV"),
    CLI_INTEGER("epochs", &o.epochs, "N", 1, INT_MAX, "passes over the data"),
    CLI_INTEGER("shift", &o.shift, "N", -5, 5, "a range with negative values"),
    CLI_NUMBER("eta", &o.eta, "X", 0, FLT_MAX, CLI_OPEN_MIN, "learning rate"),
    CLI_NUMBER("mu", &o.mu, "X", 0, 1, CLI_OPEN_MAX, "momentum"),
    CLI_ENUM("optimizer", &o.optimizer, "OPT", cli_optimizers, "optimizer"),
    CLI_ENUM("schedule", &o.schedule, "SCHED", cli_schedules, "learning-rate schedule"),
    CLI_FLAG("outputs", &o.outputs, "print every output"),
    CLI_TEXT("out", &o.out, "FILE", "model file"),
};

static const cli_subcommand sub = {"fuzz", "Parse the fuzzed arguments", NULL};
static const cli_command cmd = {&sub, "Every kind of flag.", "MODEL", &o.model, options,
                                sizeof options / sizeof options[0]};

/* Whether the value behind option p lies in its domain. */
static int valid(const cli_option *p)
{
    switch (p->type) {
    case CLI_BOOL:
        return *(const int *)p->dest == 0 || *(const int *)p->dest == 1;
    case CLI_INT:
        return *(const int *)p->dest >= p->min && *(const int *)p->dest <= p->max;
    case CLI_U64:
        return 1;
    case CLI_REAL: {
        const double v = *(const double *)p->dest;
        return isfinite(v) && v >= p->min && v <= p->max &&
               !(v == p->min && (p->open & CLI_OPEN_MIN)) &&
               !(v == p->max && (p->open & CLI_OPEN_MAX));
    }
    case CLI_STRING:
        return !*(const char *const *)p->dest || **(const char *const *)p->dest;
    case CLI_CHOICE:
        return strcmp(cli_choice_name(p->choices, *(const int *)p->dest), "?") != 0;
    case CLI_LAYERS: {
        const cli_layers *l = p->dest;
        int ok = l->count >= 2 && l->count <= BP_MAX_LAYERS;
        for (int i = 0; ok && i < l->count; i++)
            ok = l->sizes[i] >= 1 && l->sizes[i] <= BP_MAX_WIDTH;
        return ok;
    }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The arguments are the NUL-separated pieces of a terminated copy (argv[0] is the command). */
    char *text = malloc(size + 1), **argv = malloc((size + 3) * sizeof *argv);
    int argc = 0;
    FUZZ_CHECK(text && argv);
    memcpy(text, data, size);
    text[size] = '\0';
    argv[argc++] = "fuzz";
    for (char *p = text; p <= text + size; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    o = defaults;
    int rc = cli_parse(&cmd, argc, argv);
    FUZZ_CHECK(rc == CLI_OK || rc == CLI_USAGE || rc == -1);
    for (size_t i = 0; rc == CLI_OK && i < cmd.num_options; i++)
        FUZZ_CHECK(valid(&options[i]));
    if (rc == CLI_OK)
        FUZZ_CHECK(cli_data_check(&cmd, &o.data) == (o.data.dir && o.data.test_csv ? CLI_USAGE
                                                                                   : CLI_OK));
    free(argv);
    free(text);
    return 0;
}
