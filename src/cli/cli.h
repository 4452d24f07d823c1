/*
 * cli.h - declarations shared by the files of the `backprop` command-line program.
 *
 * One option-table-driven parser (args.c) serves every subcommand: a subcommand describes its
 * flags as a table of cli_option pointing into its own options struct, whose fields already hold
 * the defaults (so that --help can print them). Groups of flags used by several subcommands (the
 * network description, the data directory) are table entries produced by the CLI_NET_OPTIONS and
 * CLI_DATA_DIR_OPTION macros below, never written twice.
 *
 * Exit codes: 0 success, 1 runtime failure (missing or corrupt file, training diverged),
 * 2 usage error (unknown command or flag, missing or malformed value), 130 interrupted.
 */
#ifndef BP_CLI_H_INCLUDED
#define BP_CLI_H_INCLUDED

#include "backprop.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* ---------------------------------------------------------------- option tables */
typedef enum cli_type {
    CLI_BOOL,   /* int *: set to 1 by the flag, takes no value */
    CLI_INT,    /* int *: strict decimal integer in [min, max] */
    CLI_U64,    /* uint64_t *: strict unsigned decimal integer */
    CLI_REAL,   /* double *: finite number in [min, max], used as a float (see single) */
    CLI_STRING, /* const char **: the argument itself (points into argv) */
    CLI_CHOICE, /* int *: one of the names of choices */
    CLI_LAYERS  /* cli_layers *: widths joined by '-', e.g. 784-512-10 */
} cli_type;

typedef struct cli_choice {
    const char *name;
    int value;
} cli_choice; /* tables end with {NULL, 0} */

typedef struct cli_option {
    const char *name;          /* without the leading "--" */
    cli_type type;
    void *dest;
    const char *meta;          /* placeholder of the value in --help ("N", "FILE") */
    const char *help;
    double min, max;           /* CLI_INT, CLI_REAL: accepted range, inclusive unless open says */
    int open;                  /* CLI_REAL: CLI_OPEN_MIN and/or CLI_OPEN_MAX excludes that bound */
    int as_double;             /* CLI_REAL: the value is used as a double; else as a float, and
                                  its float rounding must be in range too (and not 0 unless 0
                                  was given) */
    const cli_choice *choices; /* CLI_CHOICE */
    const char *alias;         /* another name of the flag ("lr" for "eta"), or NULL */
    int *given;                /* if not NULL, set to 1 when the flag is given (a flag that
                                  only another flag uses is refused without it) */
} cli_option;

enum { CLI_OPEN_MIN = 1, CLI_OPEN_MAX = 2 };

typedef struct cli_layers {
    int count;                 /* L */
    int sizes[BP_MAX_LAYERS];  /* n^1..n^L */
} cli_layers;

/* A subcommand as main.c lists and runs it; run receives its own entry (for its name). */
typedef struct cli_subcommand {
    const char *name;    /* "train" */
    const char *summary; /* one line, for `backprop --help` and the first line of its own --help */
    int (*run)(const struct cli_subcommand *self, int argc, char **argv);
} cli_subcommand;

/* What the parser needs to know of a subcommand. */
typedef struct cli_command {
    const cli_subcommand *sub;
    const char *description;   /* paragraph for `backprop NAME --help` (may be NULL) */
    const char *positional;    /* placeholder of one optional positional argument, or NULL */
    const char **positional_dest;
    const cli_option *options;
    size_t num_options;
} cli_command;

/* Table entries, one per flag (designated initialisers: the fields a kind does not use are 0). */
#define CLI_FLAG(n, d, h) {.name = n, .type = CLI_BOOL, .dest = d, .help = h}
#define CLI_INTEGER(n, d, m, lo, hi, h)                                                            \
    {.name = n, .type = CLI_INT, .dest = d, .meta = m, .help = h, .min = lo, .max = hi}
#define CLI_NUMBER(n, d, m, lo, hi, op, h)                                                         \
    {.name = n, .type = CLI_REAL, .dest = d, .meta = m, .help = h, .min = lo, .max = hi, .open = op}
#define CLI_DOUBLE(n, d, m, lo, hi, op, h)                                                         \
    {.name = n, .type = CLI_REAL, .dest = d, .meta = m, .help = h, .min = lo, .max = hi,           \
     .open = op, .as_double = 1}
#define CLI_SEED(n, d, h) {.name = n, .type = CLI_U64, .dest = d, .meta = "N", .help = h}
#define CLI_TEXT(n, d, m, h) {.name = n, .type = CLI_STRING, .dest = d, .meta = m, .help = h}
#define CLI_ENUM(n, d, m, c, h)                                                                    \
    {.name = n, .type = CLI_CHOICE, .dest = d, .meta = m, .help = h, .choices = c}
#define CLI_LAYER_SPEC(n, d, h)                                                                    \
    {.name = n, .type = CLI_LAYERS, .dest = d, .meta = "N-N-..", .help = h}

/* Parse argv[1..argc-1] (argv[0] is the subcommand name) against cmd's table.
 * Returns CLI_OK, CLI_USAGE (message on stderr naming the flag and the problem), or -1 when --help
 * was given and printed (the caller exits 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv);

/* The name of names (count entries, NULLs skipped) that word[0..len) is most likely a typo of
 * (edit distance at most 1 for short words, 2 otherwise, or word a prefix of it), or NULL. */
const char *cli_suggest(const char *word, size_t len, const char *const *names, size_t count);

/* Print cmd's help (usage, description, flags with their defaults) to stdout. */
void cli_print_help(const cli_command *cmd);

/* A usage error of cmd: "backprop CMD: message" and a hint on stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* A runtime failure after a library call returned st: "backprop CMD: context: <bp_strerror>:
 * <bp_last_error>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *cmd, bp_status st, const char *fmt, ...) CLI_PRINTF(3, 4);

/* A runtime failure without a library status: "backprop CMD: message"; returns CLI_FAIL. */
int cli_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* "784-512-10" of a layer list into buf (always terminated). */
void cli_format_layers(const int *sizes, int count, char *buf, size_t size);

/* Name of value in choices, "?" if absent. */
const char *cli_choice_name(const cli_choice *choices, int value);

extern const cli_choice cli_activations[], cli_costs[], cli_inits[], cli_optimizers[],
    cli_schedules[];
/* The activations a hidden layer may have (all but softmax). */
extern const cli_choice cli_hidden_activations[];

/* ---------------------------------------------------------------- network flags */
typedef struct cli_net_opts {
    cli_layers layers;
    int hidden, output, cost, init; /* bp_activation, bp_activation, bp_cost, bp_init */
    uint64_t seed;
} cli_net_opts;

/* Table entries for --layers --hidden --output --cost --init --seed writing into *(o). */
#define CLI_NET_OPTIONS(o)                                                                         \
    CLI_LAYER_SPEC("layers", &(o)->layers, "layer widths joined by '-', input layer first"),       \
    CLI_ENUM("hidden", &(o)->hidden, "ACT", cli_hidden_activations,                                \
             "activation of the hidden layers"),                                                   \
    CLI_ENUM("output", &(o)->output, "ACT", cli_activations, "activation of the output layer"),    \
    CLI_ENUM("cost", &(o)->cost, "COST", cli_costs, "cost function"),                              \
    CLI_ENUM("init", &(o)->init, "INIT", cli_inits, "weight initialisation"),                      \
    CLI_SEED("seed", &(o)->seed, "random seed")

/* Create and initialise the network the flags describe. A configuration the library refuses
 * (softmax on a hidden layer, nll without softmax) is a usage error: returns CLI_USAGE with a
 * message. Returns CLI_OK with *out set, or CLI_FAIL (out of memory). */
int cli_net_build(const cli_command *cmd, const cli_net_opts *o, bp_net **out);

/* ---------------------------------------------------------------- data flags */
/* Where samples come from: an IDX directory (MNIST layout) or CSV files. NULL = not given. */
typedef struct cli_data_opts {
    const char *dir;       /* --data */
    const char *train_csv; /* --train-csv (train only) */
    const char *test_csv;  /* --test-csv (train) or --csv (eval, predict) */
    int forces;            /* --forces K: CSV targets are the energy and K forces (0: a label) */
    int header;            /* --header: the first line of a CSV file is a header */
    int targets;           /* --targets N: the last N CSV columns are regression targets */
} cli_data_opts;

#define CLI_TARGETS_OPTION(o)                                                                      \
    CLI_INTEGER("targets", &(o)->targets, "N", 0, 1000000,                                       \
                "regression: the last N CSV columns are real-valued targets (0 = a class label)")
#define CLI_NORMALIZE_OPTION(d)                                                                    \
    CLI_FLAG("normalize", d, "standardise the inputs (and with --targets the targets) by the "     \
             "training set's mean and standard deviation, stored in the model")

#define CLI_DATA_DIR_OPTION(o, what)                                                               \
    CLI_TEXT("data", &(o)->dir, "DIR", "directory of MNIST-format IDX files (" what "), .gz or "   \
             "plain; default $BACKPROP_DATA, else " CLI_DEFAULT_DATA_DIR)

#define CLI_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/* The directory IDX files are read from: --data, else $BACKPROP_DATA if set and not empty, else
 * CLI_DEFAULT_DATA_DIR. */
const char *cli_data_dir(const cli_data_opts *o);

/* Check that at most one source is named; CLI_USAGE with a message if --data and a CSV flag are
 * both given. */
int cli_data_check(const cli_command *cmd, const cli_data_opts *o);

/* Read the CSV file path ("-": standard input) as bp_dataset_read_csv does, with the header rule
 * of o (--header, else detected); n_features 0 accepts any width, otherwise a file of another width
 * fails first with a message naming both. CLI_OK or CLI_FAIL (message printed). */
int cli_csv_load(const char *cmd, const cli_data_opts *o, const char *path, bp_csv_kind kind,
                 int n, int n_features, bp_dataset *ds);
/* cli_csv_load's width check alone, on the first lines of a regular file (stdin and pipes are
 * skipped: they read once), before a network of n_features inputs is made. CLI_OK (also when the
 * file cannot be read: the load reports it) or CLI_FAIL with cli_csv_load's message. */
int cli_csv_width_check(const char *cmd, const cli_data_opts *o, const char *path,
                        bp_csv_kind kind, int n, int n_features);

/* Load the test part (t10k-* of the directory, or o->test_csv) or the training part (train-*, or
 * o->train_csv) of the data for a network with n_inputs inputs and n_outputs outputs: classes
 * 0..n_outputs-1, or 0 and 1 with the label itself as the target for one output (binary).
 * Checks the feature count. Returns CLI_OK or CLI_FAIL (message printed); ds is zeroed on
 * failure. */
int cli_data_load(const char *cmd, const cli_data_opts *o, int train_part, int n_inputs,
                  int n_outputs, bp_dataset *ds);
/* cli_csv_width_check of o's CSV files (--train-csv, --test-csv/--csv) for a network of n_inputs
 * inputs and n_outputs outputs, the columns as cli_data_load reads them: before the network is
 * made, so that a --layers that does not fit costs no allocation. CLI_OK or CLI_FAIL. */
int cli_data_width_check(const char *cmd, const cli_data_opts *o, int n_inputs, int n_outputs);

/* The test images (t10k-images-idx3-ubyte[.gz]) of the IDX directory alone, for predict: no
 * labels file needed. Checks the pixel count. CLI_OK or CLI_FAIL (message printed). */
int cli_images_load(const char *cmd, const cli_data_opts *o, int n_inputs, bp_dataset *ds);

/* ---------------------------------------------------------------- the terminal (progress.c) */
/* Columns of the terminal on stderr (TIOCGWINSZ), else $COLUMNS, else 80. */
int cli_term_width(void);
/* Whether stderr is a terminal (where transient status lines are drawn). */
int cli_term_is_tty(void);
/* Draw a transient status line on stderr when it is a terminal: the line is cut to the
 * terminal's width (it never wraps) and replaces the previous one; elsewhere nothing. */
void cli_status(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Erase the status line, if one is drawn (every message on stderr calls this first). */
void cli_status_clear(void);

/* ---------------------------------------------------------------- regression (regression.c) */
/* With --targets N (o->targets > 0): CSV data, an output layer of N neurons and no softmax/nll
 * (refused with the reason). CLI_OK or CLI_USAGE (message printed). */
int cli_targets_check(const cli_command *cmd, const cli_data_opts *o, const bp_net *net);
/* cli_targets_check for a network not made yet: its output activation, cost and n_out outputs. */
int cli_targets_fit(const cli_command *cmd, const cli_data_opts *o, bp_activation out,
                    bp_cost cost, int n_out);
/* --normalize: store train's input standardisation in net, and its targets' when targets and the
 * cost is quadratic (those of the first n^L target rows: with --forces, the energy's). CLI_OK or
 * CLI_FAIL (message printed). */
int cli_normalize(const char *cmd, bp_net *net, const bp_dataset *train, int targets);
/* Print "<prefix>rmse X", "<prefix>mae X", "<prefix>r2 X" of net on ds, then the same per output
 * ("rmse[1] X" ...) when there are several. CLI_OK or CLI_FAIL (message printed). */
int cli_print_regression(const char *cmd, const bp_net *net, const bp_dataset *ds,
                         const char *prefix);

/* "scaling      inputs and targets standardised ..." or "none", for info. */
void cli_print_scaling(const bp_net *net);

/* ---------------------------------------------------------------- model files */
/* CLI_OK if path exists ("-", standard input, always does), else CLI_FAIL with the system's
 * reason ("m.bpn: No such file or directory"). */
int cli_input_check(const char *cmd, const char *path);

/* bp_model_load with a message on failure (a missing file named as such). CLI_OK or CLI_FAIL. */
int cli_model_load(const char *cmd, const char *path, bp_net **out);

/* ---------------------------------------------------------------- outputs (outputs.c) */
/* A file a command reads or writes and the flag that names it (path NULL: not given). may_be: the
 * one output flag this input may name the same file as (an input read whole before that output is
 * first written, like --resume and --checkpoint), or NULL. */
typedef struct cli_path {
    const char *flag;
    const char *path;
    const char *may_be;
} cli_path;

/* Outputs cli_outputs_check takes at most. */
#define CLI_MAX_OUTPUTS 8

/* The pre-flight of a command, before it loads any data: every output given must be writable
 * (bp_file_check) and name a file (by device and inode, or resolved directory and name for one
 * not there yet) that no other output names and that none of the inputs names, nor (data non-NULL)
 * the files the data flags would read. Returns CLI_OK, or CLI_USAGE with a message naming both
 * flags of a clash or the output and the reason it cannot be written. */
int cli_outputs_check(const cli_command *cmd, const cli_path *outputs, int n_out,
                      const cli_path *inputs, int n_in, const cli_data_opts *data);

/* ---------------------------------------------------------------- ranks (ranks.c) */
/* The processes of one `mpirun -np N backprop train` (rank 0 of 1 without mpirun). */
typedef struct cli_ranks {
    int rank, ranks;
    bp_parallel par;
    const bp_parallel *parallel; /* &par with more than one rank, else NULL */
    int mpi;                     /* MPI was initialised (cli_ranks_stop finalises it) */
} cli_ranks;

/* Join MPI when started by an MPI launcher and the program was built with the MPI component;
 * ranks other than 0 have their stdout sent to /dev/null. CLI_OK or CLI_FAIL (message printed). */
int cli_ranks_start(cli_ranks *r, const char *cmd);
/* Called by every rank with its own exit code so far: returns it if it failed, else CLI_FAIL if
 * another rank failed (so that no rank goes on to wait for the failed one), else CLI_OK. */
int cli_ranks_agree(const cli_ranks *r, int rc);
/* Leave MPI (a no-op without it). */
void cli_ranks_stop(cli_ranks *r);

/* ---------------------------------------------------------------- subcommands */
/* Each returns the exit code; argv[0] is the subcommand's name. */
int cli_train(const cli_subcommand *self, int argc, char **argv);
int cli_eval(const cli_subcommand *self, int argc, char **argv);
int cli_predict(const cli_subcommand *self, int argc, char **argv);
int cli_gradcheck(const cli_subcommand *self, int argc, char **argv);
int cli_info(const cli_subcommand *self, int argc, char **argv);
int cli_plot(const cli_subcommand *self, int argc, char **argv);

/* ---------------------------------------------------------------- plots (plot.c) */
/* Whether gnuplot is on $PATH. */
int cli_plot_available(void);
/* Whether path (NULL: none) can be named in a gnuplot script, given by flag: no control character
 * (a line break would end the script's quoted string and run the rest as gnuplot commands, and
 * gnuplot's `system` runs a shell). CLI_OK, or a usage error (printed). */
int cli_plot_name_check(const cli_command *cmd, const char *flag, const char *path);
/* Draw the curves of the --log file log into png (through the safe writer's temporary file,
 * renamed when complete), title above them. CLI_OK or CLI_FAIL (message printed, also when
 * gnuplot is missing). */
int cli_plot_log(const char *cmd, const char *log, const char *title, const char *png);

#endif
