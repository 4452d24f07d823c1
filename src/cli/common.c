/* What several subcommands share: the names of the library's enums, building a network from the
 * network flags, finding and loading the data, loading a model, with their error messages. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The values are the library's enums; the names those of bp_activation_name and friends. */
const cli_choice cli_activations[] = {
    {"sigmoid", BP_SIGMOID}, {"tanh", BP_TANH}, {"relu", BP_RELU}, {"leaky-relu", BP_LEAKY_RELU},
    {"identity", BP_IDENTITY}, {"softmax", BP_SOFTMAX}, {"softplus", BP_SOFTPLUS},
    {"silu", BP_SILU}, {"gelu", BP_GELU}, {NULL, 0}};
const cli_choice cli_hidden_activations[] = {
    {"sigmoid", BP_SIGMOID}, {"tanh", BP_TANH}, {"relu", BP_RELU}, {"leaky-relu", BP_LEAKY_RELU},
    {"identity", BP_IDENTITY}, {"softplus", BP_SOFTPLUS}, {"silu", BP_SILU}, {"gelu", BP_GELU},
    {NULL, 0}};
const cli_choice cli_costs[] = {
    {"quadratic", BP_QUADRATIC}, {"cross-entropy", BP_CROSS_ENTROPY}, {"nll", BP_NLL}, {NULL, 0}};
const cli_choice cli_inits[] = {{"large", BP_INIT_LARGE}, {"scaled", BP_INIT_SCALED},
                                {"xavier", BP_INIT_XAVIER}, {"he", BP_INIT_HE}, {NULL, 0}};
const cli_choice cli_optimizers[] = {{"sgd", BP_OPT_SGD}, {"momentum", BP_OPT_MOMENTUM},
                                     {"nesterov", BP_OPT_NESTEROV}, {"adam", BP_OPT_ADAM},
                                     {NULL, 0}};
const cli_choice cli_schedules[] = {
    {"constant", BP_LR_CONSTANT}, {"step", BP_LR_STEP}, {"cosine", BP_LR_COSINE}, {NULL, 0}};

int cli_net_build(const cli_command *cmd, const cli_net_opts *o, bp_net **out)
{
    bp_activation acts[BP_MAX_LAYERS];
    int L = o->layers.count;
    char layers[1024];
    bp_status st;
    cli_format_layers(o->layers.sizes, L, layers, sizeof layers);
    for (int i = 0; i < L - 1; i++)
        acts[i] = (bp_activation)(i == L - 2 ? o->output : o->hidden);
    st = bp_net_create(out, L, o->layers.sizes, acts, (bp_cost)o->cost);
    if (st == BP_ECONFIG) /* a combination of flags the library refuses: the user's to fix */
        return cli_usage_error(cmd, "--layers %s --hidden %s --output %s --cost %s: %s", layers,
                               cli_choice_name(cli_activations, o->hidden),
                               cli_choice_name(cli_activations, o->output),
                               cli_choice_name(cli_costs, o->cost), bp_last_error());
    if (st)
        return cli_fail(cmd->sub->name, st, "cannot create the network %s", layers);
    if ((st = bp_net_init(*out, (bp_init)o->init, o->seed))) {
        int rc = cli_fail(cmd->sub->name, st, "cannot initialise the network");
        bp_net_free(*out);
        *out = NULL;
        return rc;
    }
    return CLI_OK;
}

int cli_input_check(const char *cmd, const char *path)
{
    struct stat sb;
    if (strcmp(path, "-") != 0 && stat(path, &sb) != 0)
        return cli_error(cmd, "%s: %s", path, strerror(errno));
    return CLI_OK;
}

int cli_model_load(const char *cmd, const char *path, bp_net **out)
{
    if (cli_input_check(cmd, path))
        return CLI_FAIL;
    bp_status st = bp_model_load(out, path);
    if (st)
        return cli_fail(cmd, st, "cannot load model '%s'", path);
    return CLI_OK;
}

/* ---------------------------------------------------------------- data */
int cli_data_check(const cli_command *cmd, const cli_data_opts *o)
{
    if (o->dir && (o->train_csv || o->test_csv))
        return cli_usage_error(cmd, "--data (IDX files) and CSV files cannot be combined");
    return CLI_OK;
}

/* Something is there under that name: a file, a device, a directory or a link, even a dangling
 * one (what it is, the load then says, instead of calling it missing). */
static int is_there(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* DIR/base, else DIR/base.gz, whichever is there: *path is malloc'ed, or NULL (*path) if neither.
 * Returns CLI_FAIL only when out of memory. */
static int find_idx(const char *cmd, const char *dir, const char *base, char **path)
{
    size_t size = strlen(dir) + strlen(base) + sizeof "/.gz";
    *path = malloc(size);
    if (!*path)
        return cli_error(cmd, "out of memory");
    snprintf(*path, size, "%s/%s", dir, base);
    if (is_there(*path))
        return CLI_OK;
    snprintf(*path, size, "%s/%s.gz", dir, base);
    if (is_there(*path))
        return CLI_OK;
    free(*path);
    *path = NULL;
    return CLI_OK;
}

const char *cli_data_dir(const cli_data_opts *o)
{
    const char *env = getenv("BACKPROP_DATA");
    return o->dir ? o->dir : env && env[0] ? env : CLI_DEFAULT_DATA_DIR;
}

/* Load DIR/prefix-images-idx3-ubyte[.gz] and DIR/prefix-labels-idx1-ubyte[.gz]; the images
 * alone when n_classes is 0. */
static int load_idx_dir(const char *cmd, const cli_data_opts *o, const char *prefix,
                        int n_classes, bp_dataset *ds)
{
    const char *dir = cli_data_dir(o);
    char base[2][64], *paths[2] = {NULL, NULL};
    int rc = CLI_OK, files = n_classes > 0 ? 2 : 1;
    snprintf(base[0], sizeof base[0], "%s-images-idx3-ubyte", prefix);
    snprintf(base[1], sizeof base[1], "%s-labels-idx1-ubyte", prefix);
    for (int k = 0; k < files && rc == CLI_OK; k++) {
        if ((rc = find_idx(cmd, dir, base[k], &paths[k])) || paths[k])
            continue;
        if (o->dir)
            rc = cli_error(cmd, "%s: found neither %s nor %s.gz (--data names a directory of "
                           "MNIST-format IDX files)", dir, base[k], base[k]);
        else
            rc = cli_error(cmd, "Fashion-MNIST not found in %s: install the Debian package "
                           "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
                           "--data DIR", dir);
    }
    for (int k = 0; k < files && rc == CLI_OK; k++) {
        struct stat sb;
        if (stat(paths[k], &sb) == 0 && !S_ISREG(sb.st_mode))
            rc = cli_error(cmd, "%s: not a regular file (%s)", paths[k],
                           S_ISDIR(sb.st_mode) ? "a directory" : "a device, FIFO or socket");
    }
    if (rc == CLI_OK) {
        cli_status("reading %s", paths[0]);
        bp_status st = files == 2 ? bp_dataset_load_idx(ds, paths[0], paths[1], n_classes)
                                  : bp_dataset_load_idx_images(ds, paths[0]);
        cli_status_clear();
        if (st)
            rc = cli_fail(cmd, st, "cannot load %s%s%s", paths[0], files == 2 ? " and " : "",
                          files == 2 ? paths[1] : "");
    }
    free(paths[0]);
    free(paths[1]);
    return rc;
}

/* The message of a CSV file whose first data line has not the network's n_features inputs. */
static int misfit(const char *cmd, const char *path, int n_features)
{
    return cli_error(cmd, "%s does not fit the network's %d inputs: %s", path, n_features,
                     bp_last_error());
}

/* The first lines of f up to and including its second that is not blank nor a comment (a header,
 * then a data line), at most 1000 lines, into a memory stream opened for reading; NULL if none
 * (or out of memory). *text holds the stream's buffer (the caller frees it after closing). */
static FILE *csv_head(FILE *f, char **text)
{
    size_t size = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    FILE *head = open_memstream(text, &size);
    for (int kept = 0, lines = 0; head && kept < 2 && lines < 1000 &&
                                  (len = getline(&line, &cap, f)) > 0; lines++) {
        const char *c = line;
        fwrite(line, 1, (size_t)len, head);
        while (isspace((unsigned char)*c))
            c++;
        kept += *c && *c != '#';
    }
    free(line);
    if (!head || fclose(head) != 0 || size == 0)
        return NULL;
    return fmemopen(*text, size, "r");
}

int cli_csv_width_check(const char *cmd, const cli_data_opts *o, const char *path,
                        bp_csv_kind kind, int n, int n_features)
{
    struct stat sb;
    char *text = NULL;
    /* a pipe would lose what is read here; a file that cannot be read is the load's to report */
    if (strcmp(path, "-") == 0 || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return CLI_OK;
    FILE *f = fopen(path, "r"), *head = f ? csv_head(f, &text) : NULL;
    bp_dataset ds;
    bp_status st = BP_OK;
    if (f)
        fclose(f);
    if (head) {
        st = bp_dataset_read_csv(&ds, head, path, kind, n,
                                 o->header ? BP_CSV_HEADER_PRESENT : BP_CSV_HEADER_DETECT,
                                 n_features);
        fclose(head);
        if (st == BP_OK)
            bp_dataset_free(&ds);
    }
    free(text);
    return st == BP_EMISMATCH ? misfit(cmd, path, n_features) : CLI_OK; /* others: the load's */
}

/* The CSV file path ("-": standard input) read with the header rule of o; n_features 0 = any. */
int cli_csv_load(const char *cmd, const cli_data_opts *o, const char *path, bp_csv_kind kind,
                 int n, int n_features, bp_dataset *ds)
{
    int stdin_ = strcmp(path, "-") == 0;
    FILE *f = stdin_ ? stdin : fopen(path, "r");
    bp_status st;
    memset(ds, 0, sizeof *ds);
    if (!f)
        return cli_error(cmd, "%s: %s", path, strerror(errno));
    cli_status("reading %s", stdin_ ? "standard input" : path);
    st = bp_dataset_read_csv(ds, f, stdin_ ? "<stdin>" : path, kind, n,
                             o->header ? BP_CSV_HEADER_PRESENT : BP_CSV_HEADER_DETECT, n_features);
    cli_status_clear();
    if (!stdin_)
        fclose(f);
    if (st == BP_EMISMATCH)
        return misfit(cmd, path, n_features);
    if (st)
        return cli_fail(cmd, st, "cannot load %s", path);
    return CLI_OK;
}

/* A network of one output classifies two classes: its target is the label itself (0 or 1), not
 * a one-hot pair. ds was loaded with two classes; its y becomes one row. */
static void to_binary_targets(bp_dataset *ds)
{
    for (int j = 0; j < ds->count; j++)
        ds->y[j] = (float)ds->labels[j]; /* from the labels: y is only written, in place */
    ds->n_targets = 1;
}

int cli_images_load(const char *cmd, const cli_data_opts *o, int n_inputs, bp_dataset *ds)
{
    int rc = load_idx_dir(cmd, o, "t10k", 0, ds);
    if (rc == CLI_OK && ds->n_features != n_inputs) {
        rc = cli_error(cmd, "the test images of %s have %d pixels but the network has %d inputs",
                       cli_data_dir(o), ds->n_features, n_inputs);
        bp_dataset_free(ds);
    }
    return rc;
}

/* What the last columns of o's CSV files hold for a network of n_outputs outputs: targets (--forces:
 * the energy and the forces follow the features; --targets), else a label of *n classes. */
static bp_csv_kind csv_kind(const cli_data_opts *o, int n_outputs, int *n)
{
    int targets = o->forces > 0 ? 1 + o->forces : o->targets;
    *n = targets ? targets : n_outputs == 1 ? 2 : n_outputs;
    return targets ? BP_CSV_TARGETS : BP_CSV_CLASSES;
}

int cli_data_width_check(const char *cmd, const cli_data_opts *o, int n_inputs, int n_outputs)
{
    int n, rc = CLI_OK;
    bp_csv_kind kind = csv_kind(o, n_outputs, &n);
    if (o->train_csv)
        rc = cli_csv_width_check(cmd, o, o->train_csv, kind, n, n_inputs);
    if (!rc && o->test_csv)
        rc = cli_csv_width_check(cmd, o, o->test_csv, kind, n, n_inputs);
    return rc;
}

int cli_data_load(const char *cmd, const cli_data_opts *o, int train_part, int n_inputs,
                  int n_outputs, bp_dataset *ds)
{
    const char *csv = train_part ? o->train_csv : o->test_csv;
    int classes = n_outputs == 1 ? 2 : n_outputs, rc, n;
    memset(ds, 0, sizeof *ds);
    if (csv) {
        bp_csv_kind kind = csv_kind(o, n_outputs, &n);
        if ((rc = cli_csv_load(cmd, o, csv, kind, n, n_inputs, ds)))
            return rc;
    } else if ((rc = load_idx_dir(cmd, o, train_part ? "train" : "t10k", classes, ds))) {
        return rc;
    }
    if (ds->n_features != n_inputs) {
        rc = cli_error(cmd, "%s data (%s) has %d features per sample but the network has %d "
                       "inputs", train_part ? "training" : "test", csv ? csv : cli_data_dir(o),
                       ds->n_features, n_inputs);
        bp_dataset_free(ds);
        return rc;
    }
    if (n_outputs == 1 && ds->labels) /* not a regression's targets (--targets, --forces) */
        to_binary_targets(ds);
    return CLI_OK;
}
