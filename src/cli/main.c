/* backprop: the command-line program. Dispatches to a subcommand; `backprop --help` lists them. */
#include "blas_core.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

static const cli_subcommand SUBCOMMANDS[] = {
    {"train", "Train a network (by default on Fashion-MNIST) and save the model", cli_train},
    {"eval", "Accuracy, loss and confusion matrix of a model on labelled data",
     cli_eval},
    {"predict", "Class and outputs of a model for each sample, as CSV", cli_predict},
    {"gradcheck", "Check gradients by finite differences (random or saved network)",
     cli_gradcheck},
    {"info", "Layers, activations, cost and size of a model or checkpoint file", cli_info},
    {"plot", "Draw a --log file's loss and accuracy per epoch as a PNG (gnuplot)", cli_plot},
};
#define NUM_SUBCOMMANDS (sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0])

static void print_usage(FILE *f)
{
    fprintf(f, "usage: backprop COMMAND [flags]\n\nFully-connected neural networks trained by "
               "backpropagation (library %d.%d.%d).\n\ncommands:\n",
            bp_version_number() / 10000, bp_version_number() / 100 % 100,
            bp_version_number() % 100);
    for (size_t i = 0; i < NUM_SUBCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", SUBCOMMANDS[i].name, SUBCOMMANDS[i].summary);
    fprintf(f, "\nRun 'backprop help COMMAND' or 'backprop COMMAND --help' for the flags of a\n"
               "command, 'backprop --version' (-V) for the version.\n"
               "Exit status: 0 success, 1 failure (file missing or corrupt, training failed),\n"
               "2 usage error, 130 train interrupted by Ctrl-C.\n");
}

static const cli_subcommand *find(const char *name)
{
    for (size_t i = 0; i < NUM_SUBCOMMANDS; i++)
        if (strcmp(SUBCOMMANDS[i].name, name) == 0)
            return &SUBCOMMANDS[i];
    return NULL;
}

/* "unknown command 'trian'; did you mean 'train'?" */
static int unknown_command(const char *name)
{
    const char *names[NUM_SUBCOMMANDS + 1];
    for (size_t i = 0; i < NUM_SUBCOMMANDS; i++)
        names[i] = SUBCOMMANDS[i].name;
    names[NUM_SUBCOMMANDS] = "help";
    const char *near = cli_suggest(name, strlen(name), names, NUM_SUBCOMMANDS + 1);
    fprintf(stderr, "backprop: unknown command '%s'%s%s%s\nRun 'backprop --help' for the "
            "commands.\n", name, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    return CLI_USAGE;
}

static int is(const char *arg, const char *a, const char *b)
{
    return strcmp(arg, a) == 0 || strcmp(arg, b) == 0;
}

static int run_command(int argc, char **argv)
{
    const cli_subcommand *sub;
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    if (is(argv[1], "--help", "-h") || (strcmp(argv[1], "help") == 0 && argc == 2)) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (is(argv[1], "--version", "-V")) {
        printf("backprop %d.%d.%d\nBLAS %s\nBLAS kernels %s\n", BP_VERSION_MAJOR, BP_VERSION_MINOR,
               BP_VERSION_PATCH, blas_library_name(), blas_core_name());
        blas_print_narrow(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "help") == 0) { /* backprop help CMD: CMD --help */
        char *help_argv[] = {argv[2], "--help", NULL};
        if (argc > 3) {
            fprintf(stderr, "backprop help: one command at most, got '%s' after '%s'\n", argv[3],
                    argv[2]);
            return CLI_USAGE;
        }
        return (sub = find(argv[2])) ? sub->run(sub, 2, help_argv) : unknown_command(argv[2]);
    }
    if (!(sub = find(argv[1])))
        return unknown_command(argv[1]);
    return sub->run(sub, argc - 1, argv + 1);
}

/* Descriptors 0, 1 and 2 open, on /dev/null where the caller left one closed (`backprop train
 * >&-`): else the next file opened (the log, the model's temporary file) would take that number
 * and receive what the program prints. 0 if /dev/null cannot be opened. */
static int reserve_std_descriptors(void)
{
    for (int fd = 0; fd <= 2; fd++) /* the lowest free number: fd itself, those below are open */
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
            return 0;
    return 1;
}

/* What a command printed must have reached its file: `backprop predict > out.csv` on a full disk
 * (or > /dev/full) fails rather than exit 0 with the predictions cut short. */
int main(int argc, char **argv)
{
    if (!reserve_std_descriptors())
        return CLI_FAIL;
    blas_core_upgrade(argv);
    int rc = run_command(argc, argv);
    int flushed = fflush(stdout) == 0;
    if (!flushed || ferror(stdout)) { /* after a failed flush errno says why; else an earlier write */
        fprintf(stderr, "backprop: cannot write the standard output: %s\n",
                flushed ? "a write failed" : strerror(errno));
        if (rc == CLI_OK)
            rc = CLI_FAIL;
    }
    return rc;
}
