/* --device of `backprop train`: where the training runs (src/cli/device.c). */
#ifndef BP_CLI_DEVICE_H_INCLUDED
#define BP_CLI_DEVICE_H_INCLUDED

#include "cli.h"

enum { CLI_DEVICE_CPU = 0, CLI_DEVICE_CUDA = 1 };
extern const cli_choice cli_devices[]; /* "cpu", "cuda" */

/* CLI_OK when device can train in this process; otherwise the message on stderr and CLI_USAGE
 * (a program built without CUDA: the choice does not exist here) or CLI_FAIL (no usable GPU). */
int cli_device_check(const char *cmd, int device);

/* bp_train, or bp_cuda_train for CLI_DEVICE_CUDA (checked by cli_device_check). */
bp_status cli_device_train(int device, bp_net *net, const bp_dataset *train,
                           const bp_dataset *eval, const bp_train_config *cfg, double *best);

#endif
