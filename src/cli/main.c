/* backprop: the command-line program. Dispatches to a subcommand; `backprop --help` lists them. */
#include "blas_core.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const cli_subcommand SUBCOMMANDS[] = {
    {"train", "Train a network (by default on Fashion-MNIST) and save the model", cli_train},
    {"eval", "Accuracy, mean loss and confusion matrix of a model on a labelled data set",
     cli_eval},
    {"predict", "Predicted class (or all outputs) of a model for each sample", cli_predict},
    {"gradcheck", "Check backpropagation against finite differences on a random batch",
     cli_gradcheck},
    {"info", "Layers, activations, cost and size of a model file", cli_info},
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
    fprintf(f, "\nRun 'backprop COMMAND --help' for the flags of a command.\n"
               "Exit status: 0 success, 1 failure (file missing or corrupt, training failed), "
               "2 usage error,\n130 train interrupted by Ctrl-C.\n");
}

static const cli_subcommand *find(const char *name)
{
    for (size_t i = 0; i < NUM_SUBCOMMANDS; i++)
        if (strcmp(SUBCOMMANDS[i].name, name) == 0)
            return &SUBCOMMANDS[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const cli_subcommand *sub;
    blas_core_upgrade(argv);
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("backprop %d.%d.%d\nBLAS %s\nBLAS kernels %s\n", BP_VERSION_MAJOR, BP_VERSION_MINOR,
               BP_VERSION_PATCH, blas_library_name(), blas_core_name());
        return CLI_OK;
    }
    if (strcmp(argv[1], "help") == 0 && argc == 3 && (sub = find(argv[2]))) {
        char *help_argv[] = {argv[2], "--help", NULL};
        return sub->run(sub, 2, help_argv);
    }
    if (!(sub = find(argv[1]))) {
        fprintf(stderr, "backprop: unknown command '%s'\nRun 'backprop --help' for the commands.\n",
                argv[1]);
        return CLI_USAGE;
    }
    return sub->run(sub, argc - 1, argv + 1);
}
