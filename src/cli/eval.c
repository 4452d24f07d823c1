/* backprop eval (accuracy, mean loss and confusion matrix of a saved model on a labelled set) and
 * backprop predict (CSV of the model's class and outputs for each sample). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flags of both commands: the model and where the samples come from. */
typedef struct model_data_opts {
    const char *model;
    cli_data_opts data;
    int outputs, classes; /* predict --outputs, --classes */
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
    int n_out = info.sizes[info.num_layers - 1], n = n_out == 1 ? 2 : n_out; /* classes */
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
    if (confusion && isfinite(loss))
        print_confusion(confusion, n);
    free(confusion);
    /* bp_evaluate's accuracy is NaN then: NaN outputs (NaN parameters) name no class */
    if (!isfinite(loss))
        return cli_error(name, "the model's outputs are not finite (loss %g): its parameters "
                         "hold a NaN or infinity; no accuracy", loss);
    return CLI_OK;
}

/* eval --targets: the number of samples, then the regression metrics. */
static int evaluate_regression(const char *name, const bp_net *net, const bp_dataset *ds)
{
    printf("samples %d\n", ds->count);
    return cli_print_regression(name, net, ds, "");
}

/* ---------------------------------------------------------------- predict */
/* Samples: x is n_inputs x count, owned by ds. */
typedef struct samples {
    bp_dataset ds;
    const float *x;
    int count;
} samples;

/* A CSV of n_in features per line, optionally followed by k more columns (a label, or k = --targets
 * targets; ignored). Read as features alone, so that any width reads (one column for a one-input
 * model); a line of n_in + k columns then keeps its first n_in, moved down in place. */
static int load_features_csv(const char *name, const cli_data_opts *o, int n_in, int k, samples *s)
{
    const char *path = o->test_csv;
    int rc = cli_csv_load(name, o, path, BP_CSV_FEATURES, 0, 0, &s->ds), nf;
    if (rc)
        return rc;
    nf = s->ds.n_features;
    s->count = s->ds.count;
    s->x = s->ds.x;
    if (nf != n_in && nf != n_in + k)
        return cli_error(name, "%s has %d columns but the model has %d inputs (expected %d "
                         "features per line, optionally followed by %d %s)", path, nf, n_in,
                         n_in, k, k > 1 ? "targets" : "label or target");
    for (size_t j = 1; nf != n_in && j < (size_t)s->count; j++) /* sample 0 is in place */
        memmove(s->ds.x + j * (size_t)n_in, s->ds.x + j * (size_t)nf,
                (size_t)n_in * sizeof *s->ds.x);
    return CLI_OK;
}

/* What predict prints per sample, after a header line naming the columns. */
typedef enum predict_columns {
    COLUMNS_CLASS_PROBS, /* class,p0,...,pK: the class, then each class's output */
    COLUMNS_CLASS,       /* class */
    COLUMNS_OUTPUTS      /* y0,...,yK: the raw outputs */
} predict_columns;

/* A model whose outputs are class probabilities (softmax, or sigmoid outputs) prints
 * class,p0,..,pK by default; any other (a regression) its outputs. */
static predict_columns choose_columns(const bp_net_info *info, const model_data_opts *o)
{
    bp_activation out = info->activations[info->num_layers - 2];
    if (o->outputs || o->data.targets > 0)
        return COLUMNS_OUTPUTS;
    if (o->classes)
        return COLUMNS_CLASS;
    return out == BP_SOFTMAX || out == BP_SIGMOID ? COLUMNS_CLASS_PROBS : COLUMNS_OUTPUTS;
}

static void print_header(predict_columns columns, int n_out)
{
    int probs = n_out == 1 ? 2 : n_out; /* one output: p0 = 1 - a, p1 = a */
    if (columns != COLUMNS_OUTPUTS)
        printf("class");
    for (int i = 0; columns == COLUMNS_CLASS_PROBS && i < probs; i++)
        printf(",p%d", i);
    for (int i = 0; columns == COLUMNS_OUTPUTS && i < n_out; i++)
        printf("%sy%d", i ? "," : "", i);
    printf("\n");
}

/* Whether the n outputs of a sample are all finite (a NaN or infinite one names no class). */
static int all_finite(const float *a, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

/* One sample's row; its class is "nan" when an output is not finite. */
static void print_row(predict_columns columns, int klass, const float *a, int n_out)
{
    if (columns != COLUMNS_OUTPUTS && all_finite(a, n_out))
        printf("%d", klass);
    else if (columns != COLUMNS_OUTPUTS)
        printf("nan");
    if (columns == COLUMNS_CLASS_PROBS && n_out == 1)
        printf(",%.6g,%.6g", 1.0 - (double)a[0], (double)a[0]);
    else if (columns == COLUMNS_CLASS_PROBS)
        for (int i = 0; i < n_out; i++)
            printf(",%.6g", (double)a[i]);
    for (int i = 0; columns == COLUMNS_OUTPUTS && i < n_out; i++)
        printf("%s%.6g", i ? "," : "", (double)a[i]);
    printf("\n");
}

/* Predict the samples in chunks (bp_predict: the outputs in the data's units, through the model's
 * scaling) and print the header, then one row per sample. */
static int predict(const char *name, const bp_net *net, const samples *s, predict_columns columns)
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
    print_header(columns, n_out);
    long not_finite = 0;
    for (int first = 0; first < s->count && !st; first += chunk) {
        int b = s->count - first < chunk ? s->count - first : chunk;
        if ((st = bp_predict(net, ws, b, s->x + (size_t)first * (size_t)n_in, n_in, a, ld)) ||
            (st = bp_workspace_classes(ws, classes)))
            break;
        for (int j = 0; j < b; j++) {
            not_finite += !all_finite(a + (size_t)j * (size_t)ld, n_out);
            print_row(columns, classes[j], a + (size_t)j * (size_t)ld, n_out);
        }
    }
    free(classes);
    free(a);
    bp_workspace_free(ws);
    if (st)
        return cli_fail(name, st, "forward pass failed");
    if (not_finite > 0)
        return cli_error(name, "the model's outputs are not finite for %ld of %d samples (its "
                         "parameters hold a NaN or infinity): no class printed for them",
                         not_finite, s->count);
    return CLI_OK;
}

/* ---------------------------------------------------------------- the commands */
/* The samples of the data flags: labelled (eval), the images of an IDX directory (predict), or
 * the features of a CSV file with or without its label column (predict --csv). */
static int load_samples(const char *name, const model_data_opts *o, const bp_net *net,
                        int predicting, samples *s)
{
    bp_net_info info;
    int rc;
    bp_net_describe(net, &info);
    if (predicting && o->data.test_csv)
        return load_features_csv(name, &o->data, info.sizes[0],
                                 o->data.targets > 0 ? o->data.targets : 1, s);
    if (predicting)
        rc = cli_images_load(name, &o->data, info.sizes[0], &s->ds);
    else
        rc = cli_data_load(name, &o->data, 0, info.sizes[0], info.sizes[info.num_layers - 1],
                           &s->ds);
    if (rc)
        return rc;
    s->x = s->ds.x;
    s->count = s->ds.count;
    return CLI_OK;
}

static const char EVAL_DESCRIPTION[] =
    "Prints the number of samples, the accuracy, the mean loss per sample and the confusion "
    "matrix. A model of one output is a binary classifier: class 1 when its output is above "
    "0.5. With no data flag it uses the Fashion-MNIST test set (see backprop train --help).";
static const char PREDICT_DESCRIPTION[] =
    "Prints CSV with a header line, one row per sample in the order of the input: for a "
    "classifier (softmax or sigmoid output) class,p0,...,pK, the predicted class (the largest "
    "output; for one output, 1 when it is above 0.5) and the output of each class (for one "
    "output p0 = 1 - y, p1 = y); with --classes the class alone; with --outputs, or for any other "
    "model, y0,...,yK, the outputs. With no data flag it uses the Fashion-MNIST test images.";

/* eval and predict take the same flags (predict adds --outputs, --classes) and load the same
 * way. */
static int run_model_command(const cli_subcommand *self, int argc, char **argv, int predicting)
{
    model_data_opts o = {.model = "model.bpn"};
    const cli_option options[] = {
        CLI_TEXT("model", &o.model, "FILE", "model file written by train (or give it as the "
                 "argument)"),
        CLI_DATA_DIR_OPTION(&o.data, "t10k-*"),
        CLI_TEXT("csv", &o.data.test_csv, "FILE",
                 predicting ? "CSV of features, one sample per line, optionally followed by a "
                              "label (ignored); - reads standard input"
                            : "CSV of features, then the class label; - reads standard input"),
        CLI_TARGETS_OPTION(&o.data),
        CLI_FLAG("header", &o.data.header, "the first line of the CSV file is a header (default: "
                 "detected, a first line with no number)"),
        CLI_FLAG("outputs", &o.outputs, "print the outputs y0,...,yK of every sample (in the "
                 "data's units; implied by --targets)"),
        CLI_FLAG("classes", &o.classes, "print the class of every sample only"),
    };
    const cli_command cmd = {
        .sub = self, .options = options, .positional = "MODEL", .positional_dest = &o.model,
        .num_options = sizeof options / sizeof options[0] - (predicting ? 0 : 2),
        .description = predicting ? PREDICT_DESCRIPTION : EVAL_DESCRIPTION};
    bp_net *net = NULL;
    bp_net_info info;
    samples s = {0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (o.outputs && o.classes)
        return cli_usage_error(&cmd, "--outputs and --classes exclude each other");
    if ((rc = cli_data_check(&cmd, &o.data)) || (rc = cli_model_load(self->name, o.model, &net)))
        return rc;
    bp_net_describe(net, &info);
    if ((rc = cli_targets_check(&cmd, &o.data, net))) {
        bp_net_free(net);
        return rc;
    }
    if (!(rc = load_samples(self->name, &o, net, predicting, &s)))
        rc = predicting ? predict(self->name, net, &s, choose_columns(&info, &o))
             : o.data.targets > 0 ? evaluate_regression(self->name, net, &s.ds)
                        : evaluate(self->name, net, &s.ds);
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
