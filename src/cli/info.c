/* backprop info: what a model or checkpoint file holds (layers, activations, cost, parameter
 * count, size, scaling; a checkpoint's epoch and optimizer). */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* checkpoint: "after epoch 3, optimizer adam", or NULL for a model file. */
static void print_info(const char *path, const char *checkpoint, const bp_net_info *info,
                       long long bytes)
{
    char layers[1024];
    cli_format_layers(info->sizes, info->num_layers, layers, sizeof layers);
    if (checkpoint)
        printf("checkpoint   %s (%s; train --resume continues it)\n", path, checkpoint);
    else
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
    char checkpoint[128] = "";
    int rc = cli_parse(&cmd, argc, argv), epoch;
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (!model)
        return cli_usage_error(&cmd, "no model file: pass --model FILE or FILE");
    if (cli_input_check(self->name, model))
        return CLI_FAIL;
    bp_status st = bp_model_load(&net, model);
    if (st == BP_EFORMAT) { /* not a model: perhaps a checkpoint */
        char detail[512];
        bp_optimizer_kind optimizer;
        snprintf(detail, sizeof detail, "%s", bp_last_error());
        bp_status cst = bp_checkpoint_describe(model, &net, &epoch, &optimizer);
        if (cst == BP_OK)
            snprintf(checkpoint, sizeof checkpoint, "after epoch %d, optimizer %s", epoch,
                     cli_choice_name(cli_optimizers, optimizer));
        else if (!strstr(bp_last_error(), ": byte 0: ")) /* a checkpoint's magic, then damage */
            return cli_fail(self->name, cst, "cannot read checkpoint '%s'", model);
        else
            return cli_error(self->name, "cannot load model '%s': %s: %s", model,
                             bp_strerror(st), detail);
    } else if (st) {
        return cli_fail(self->name, st, "cannot load model '%s'", model);
    }
    bp_net_describe(net, &info);
    print_info(model, checkpoint[0] ? checkpoint : NULL, &info,
               stat(model, &sb) == 0 ? (long long)sb.st_size : -1LL);
    cli_print_scaling(net);
    bp_net_free(net);
    return CLI_OK;
}
