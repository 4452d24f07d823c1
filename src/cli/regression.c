/* Regression in the program: the checks of --targets against a network, --normalize (the
 * training set's standardisation stored in the model), and the metrics eval and train print. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

/* Why an output layer cannot fit real-valued targets, or NULL if it can. */
static const char *not_regression(bp_activation out, bp_cost cost)
{
    if (out == BP_SOFTMAX || cost == BP_NLL)
        return "a softmax output with the nll cost models the probabilities of classes, which sum "
               "to 1";
    return NULL;
}

int cli_targets_check(const cli_command *cmd, const cli_data_opts *o, const bp_net *net)
{
    bp_net_info info;
    if (o->targets == 0)
        return CLI_OK;
    bp_net_describe(net, &info);
    return cli_targets_fit(cmd, o, info.activations[info.num_layers - 2], info.cost,
                           info.sizes[info.num_layers - 1]);
}

int cli_targets_fit(const cli_command *cmd, const cli_data_opts *o, bp_activation out,
                    bp_cost cost, int n_out)
{
    const char *why = not_regression(out, cost);
    if (o->targets == 0)
        return CLI_OK;
    if (o->dir || (!o->train_csv && !o->test_csv))
        return cli_usage_error(cmd, "--targets %d reads CSV files (--train-csv/--test-csv, "
                               "--csv), not IDX images", o->targets);
    if (why)
        return cli_usage_error(cmd, "--targets %d: regression targets are real values, but %s "
                               "(use --output identity --cost quadratic)", o->targets, why);
    if (o->targets != n_out)
        return cli_usage_error(cmd, "--targets %d but the output layer has %d neurons (one per "
                               "target)", o->targets, n_out);
    return CLI_OK;
}

int cli_normalize(const char *cmd, bp_net *net, const bp_dataset *train, int targets)
{
    bp_net_info info;
    bp_net_describe(net, &info);
    targets = targets && info.cost == BP_QUADRATIC; /* cross-entropy targets stay in [0,1] */
    float *v = malloc(2 * (size_t)(train->n_features > train->n_targets ? train->n_features
                                                                         : train->n_targets) *
                      sizeof *v);
    int n = train->n_features;
    bp_status st = v ? BP_OK : BP_ENOMEM;
    if (!st && !(st = bp_dataset_standardization(train, BP_SCALE_INPUTS, v, v + n)))
        st = bp_net_set_scaling(net, BP_SCALE_INPUTS, v, v + n);
    n = train->n_targets; /* the network's n^L outputs are the first rows ([E*; F*]: the energy) */
    if (!st && targets && !(st = bp_dataset_standardization(train, BP_SCALE_TARGETS, v, v + n)))
        st = bp_net_set_scaling(net, BP_SCALE_TARGETS, v, v + n);
    free(v);
    return st ? cli_fail(cmd, st, "--normalize: cannot standardise the training set") : CLI_OK;
}

int cli_print_regression(const char *cmd, const bp_net *net, const bp_dataset *ds,
                         const char *prefix)
{
    int n = ds->n_targets;
    bp_regression_metrics all, *per = malloc((size_t)n * sizeof *per);
    if (!per)
        return cli_error(cmd, "out of memory");
    bp_status st = bp_evaluate_regression(net, ds, &all, per);
    if (st) {
        free(per);
        return cli_fail(cmd, st, "cannot evaluate");
    }
    printf("%srmse %.6g\n%smae %.6g\n%sr2 %.6g\n", prefix, all.rmse, prefix, all.mae, prefix,
           all.r2);
    for (int i = 0; n > 1 && i < n; i++)
        printf("%srmse[%d] %.6g\n%smae[%d] %.6g\n%sr2[%d] %.6g\n", prefix, i + 1, per[i].rmse,
               prefix, i + 1, per[i].mae, prefix, i + 1, per[i].r2);
    free(per);
    return CLI_OK;
}

void cli_print_scaling(const bp_net *net)
{
    const float *mi, *si, *mt, *st;
    bp_net_get_scaling(net, BP_SCALE_INPUTS, &mi, &si);
    bp_net_get_scaling(net, BP_SCALE_TARGETS, &mt, &st);
    printf("scaling      %s\n", mi && mt ? "inputs and targets standardised (format version 2)"
                                : mi    ? "inputs standardised (format version 2)"
                                : mt    ? "targets standardised (format version 2)"
                                        : "none");
}
