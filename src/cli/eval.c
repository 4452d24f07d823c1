/* backprop eval (accuracy, mean loss and confusion matrix of a saved model on a labelled set) and
 * backprop predict (the model's class, or all its outputs, for each sample). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flags of both commands: the model and where the samples come from. */
typedef struct model_data_opts {
    const char *model;
    cli_data_opts data;
    int outputs; /* predict --outputs */
} model_data_opts;

/* ---------------------------------------------------------------- eval */
static int digits(long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void print_confusion(const long *confusion, int n)
{
    long most = n - 1;
    for (size_t i = 0; i < (size_t)n * (size_t)n; i++)
        most = confusion[i] > most ? confusion[i] : most;
    int w = digits(most) + 1;
    printf("confusion matrix (rows = true class, columns = predicted):\n%*s", w, "");
    for (int j = 0; j < n; j++)
        printf("%*d", w, j);
    printf("\n");
    for (int i = 0; i < n; i++) {
        printf("%*d", w, i);
        for (int j = 0; j < n; j++)
            printf("%*ld", w, confusion[(size_t)i * (size_t)n + (size_t)j]);
        printf("\n");
    }
}

/* Classes above this many are scored without printing a confusion matrix. */
#define MAX_CONFUSION 1000

static int evaluate(const char *name, const bp_net *net, const bp_dataset *ds)
{
    bp_net_info info;
    bp_net_describe(net, &info);
    int n = info.sizes[info.num_layers - 1];
    long *confusion = NULL;
    double loss, acc;
    bp_status st;
    if (n <= MAX_CONFUSION && !(confusion = calloc((size_t)n * (size_t)n, sizeof *confusion)))
        return cli_error(name, "out of memory for a %d x %d confusion matrix", n, n);
    if ((st = bp_evaluate(net, ds, &loss, &acc, confusion))) {
        free(confusion);
        return cli_fail(name, st, "cannot evaluate");
    }
    printf("samples %d\naccuracy %.4f\nloss %.4f\n", ds->count, acc, loss);
    if (confusion)
        print_confusion(confusion, n);
    free(confusion);
    return CLI_OK;
}

/* ---------------------------------------------------------------- predict */
/* Samples: x is n_inputs x count, owned by ds or by own. */
typedef struct samples {
    bp_dataset ds;
    float *own;
    const float *x;
    int count;
} samples;

/* A CSV of n_in features per line, optionally followed by k more columns (a label, or k = --targets
 * targets; ignored). Read as regression data with k targets, the last columns: n_in + k columns
 * give the features directly, n_in columns give n_in - k features plus the k targets, put back
 * together here. */
static int load_features_csv(const char *name, const char *path, int n_in, int k, samples *s)
{
    bp_status st = bp_dataset_load_csv(&s->ds, path, BP_CSV_TARGETS, k);
    int nf;
    if (st)
        return cli_fail(name, st, "cannot load %s", path);
    nf = s->ds.n_features;
    s->count = s->ds.count;
    if (nf == n_in) {
        s->x = s->ds.x;
        return CLI_OK;
    }
    if (nf + k != n_in)
        return cli_error(name, "%s has %d columns but the model has %d inputs (expected %d "
                         "features per line, optionally followed by %d %s)", path, nf + k, n_in,
                         n_in, k, k > 1 ? "targets" : "label or target");
    if (!(s->own = calloc((size_t)n_in * (size_t)s->count, sizeof *s->own)))
        return cli_error(name, "out of memory");
    for (size_t j = 0; j < (size_t)s->count; j++) {
        memcpy(s->own + j * (size_t)n_in, s->ds.x + j * (size_t)nf, (size_t)nf * sizeof *s->own);
        memcpy(s->own + j * (size_t)n_in + (size_t)nf, s->ds.y + j * (size_t)k,
               (size_t)k * sizeof *s->own);
    }
    s->x = s->own;
    return CLI_OK;
}

/* Predict the samples in chunks (bp_predict: the outputs in the data's units, through the model's
 * scaling) and print one line per sample. */
static int predict(const char *name, const bp_net *net, const samples *s, int outputs)
{
    enum { CHUNK = 256 };
    bp_net_info info;
    bp_net_describe(net, &info);
    int n_in = info.sizes[0], n_out = info.sizes[info.num_layers - 1];
    int chunk = s->count < CHUNK ? s->count : CHUNK;
    bp_workspace *ws;
    bp_status st = bp_workspace_create(&ws, net, chunk);
    if (st)
        return cli_fail(name, st, "cannot create a workspace");
    int *classes = malloc((size_t)chunk * sizeof *classes), ld = n_out;
    float *a = malloc((size_t)chunk * (size_t)n_out * sizeof *a);
    if (!classes || !a) {
        free(classes);
        free(a);
        bp_workspace_free(ws);
        return cli_fail(name, BP_ENOMEM, "cannot allocate the predictions");
    }
    for (int first = 0; first < s->count && !st; first += chunk) {
        int b = s->count - first < chunk ? s->count - first : chunk;
        if ((st = bp_predict(net, ws, b, s->x + (size_t)first * (size_t)n_in, n_in, a, ld)) ||
            (st = bp_workspace_classes(ws, classes)))
            break;
        for (int j = 0; j < b; j++) {
            const float *col = a + (size_t)j * (size_t)ld;
            if (!outputs) {
                printf("%d\n", classes[j]);
                continue;
            }
            for (int i = 0; i < n_out; i++)
                printf("%s%.6g", i ? "," : "", col[i]);
            printf("\n");
        }
    }
    free(classes);
    free(a);
    bp_workspace_free(ws);
    if (st)
        return cli_fail(name, st, "forward pass failed");
    return CLI_OK;
}

/* ---------------------------------------------------------------- the commands */
/* eval and predict take the same flags (predict adds --outputs) and load the same way. */
static int run_model_command(const cli_subcommand *self, int argc, char **argv, int predicting)
{
    model_data_opts o = {.model = "model.bpn"};
    const cli_option options[] = {
        CLI_TEXT("model", &o.model, "FILE", "model file written by train"),
        CLI_DATA_DIR_OPTION(&o.data, "t10k-*"),
        CLI_TEXT("csv", &o.data.test_csv, "FILE",
                 predicting ? "CSV of features, one sample per line, optionally followed by a "
                              "label (ignored)"
                            : "CSV of features, then the class label"),
        CLI_TARGETS_OPTION(&o.data),
        CLI_FLAG("outputs", &o.outputs, "print all outputs (in the data's units), comma "
                 "separated, instead of the class; implied by --targets"), /* predict only: last */
    };
    const cli_command cmd = {
        .sub = self, .options = options,
        .num_options = sizeof options / sizeof options[0] - (predicting ? 0 : 1),
        .description = predicting
            ? "Prints one line per sample: the predicted class (the index of the largest "
              "output),\nor with --outputs all output activations. With no data flag it uses the "
              "Fashion-MNIST\ntest images."
            : "Prints the number of samples, the accuracy, the mean loss per sample and the "
              "confusion matrix.\nWith no data flag it uses the Fashion-MNIST test set (see "
              "backprop train --help)."};
    bp_net *net = NULL;
    bp_net_info info;
    samples s = {0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = cli_data_check(&cmd, &o.data)) || (rc = cli_model_load(self->name, o.model, &net)))
        return rc;
    bp_net_describe(net, &info);
    if ((rc = cli_targets_check(&cmd, &o.data, net))) {
        bp_net_free(net);
        return rc;
    }
    if (predicting && o.data.test_csv) {
        rc = load_features_csv(self->name, o.data.test_csv, info.sizes[0],
                               o.data.targets > 0 ? o.data.targets : 1, &s);
    } else if (!(rc = cli_data_load(self->name, &o.data, 0, info.sizes[0],
                                    info.sizes[info.num_layers - 1], &s.ds))) {
        s.x = s.ds.x;
        s.count = s.ds.count;
    }
    if (!rc && !predicting && o.data.targets > 0) {
        printf("samples %d\n", s.ds.count);
        rc = cli_print_regression(self->name, net, &s.ds, "");
    } else if (!rc) {
        rc = predicting ? predict(self->name, net, &s, o.outputs || o.data.targets > 0)
                        : evaluate(self->name, net, &s.ds);
    }
    free(s.own);
    bp_dataset_free(&s.ds);
    bp_net_free(net);
    return rc;
}

int cli_eval(const cli_subcommand *self, int argc, char **argv)
{
    return run_model_command(self, argc, argv, 0);
}

int cli_predict(const cli_subcommand *self, int argc, char **argv)
{
    return run_model_command(self, argc, argv, 1);
}
