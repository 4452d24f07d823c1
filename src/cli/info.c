/* backprop info: what a model file holds (layers, activations, cost, parameter count, size,
 * scaling). */
#include "cli.h"

#include <stdio.h>
#include <sys/stat.h>

static void print_info(const char *path, const bp_net_info *info, long long bytes)
{
    char layers[1024];
    cli_format_layers(info->sizes, info->num_layers, layers, sizeof layers);
    printf("model        %s\n", path);
    printf("file size    %lld bytes\n", bytes);
    printf("layers       %s (%d layers: %d inputs, %d outputs)\n", layers, info->num_layers,
           info->sizes[0], info->sizes[info->num_layers - 1]);
    printf("activations ");
    for (int l = 2; l <= info->num_layers; l++)
        printf(" %s", cli_choice_name(cli_activations, info->activations[l - 2]));
    printf(" (layers 2..%d)\n", info->num_layers);
    printf("cost         %s\n", cli_choice_name(cli_costs, info->cost));
    printf("parameters   %zu\n", info->num_params);
}

int cli_info(const cli_subcommand *self, int argc, char **argv)
{
    const char *model = NULL;
    const cli_option options[] = {
        CLI_TEXT("model", &model, "FILE", "model file (or give it as the argument)"),
    };
    const cli_command cmd = {.sub = self, .options = options, .positional = "FILE",
                             .positional_dest = &model,
                             .num_options = sizeof options / sizeof options[0]};
    bp_net *net = NULL;
    bp_net_info info;
    struct stat sb;
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (!model)
        return cli_usage_error(&cmd, "no model file: pass --model FILE or FILE");
    if ((rc = cli_model_load(self->name, model, &net)))
        return rc;
    bp_net_describe(net, &info);
    print_info(model, &info, stat(model, &sb) == 0 ? (long long)sb.st_size : -1LL);
    cli_print_scaling(net);
    bp_net_free(net);
    return CLI_OK;
}
