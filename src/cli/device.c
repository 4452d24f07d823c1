/* --device: bp_train on the CPU, or bp_cuda_train on a GPU when the library has the cuBLAS
 * backend (BP_HAVE_CUDA, from -DBACKPROP_CUDA=ON). */
#include "device.h"

#include <stdio.h>

#ifdef BP_HAVE_CUDA
#include "backprop_cuda.h"
#endif

const cli_choice cli_devices[] = {{"cpu", CLI_DEVICE_CPU}, {"cuda", CLI_DEVICE_CUDA}, {NULL, 0}};

int cli_device_check(const char *cmd, int device)
{
    if (device != CLI_DEVICE_CUDA)
        return CLI_OK;
#ifdef BP_HAVE_CUDA
    int count = 0;
    bp_cuda_device_count(&count);
    if (count < 1)
        return cli_error(cmd, "--device cuda: no usable CUDA device (%s)", bp_last_error());
    return CLI_OK;
#else
    fprintf(stderr, "backprop %s: --device cuda: this program was built without CUDA (configure "
            "with -DBACKPROP_CUDA=ON)\n", cmd);
    return CLI_USAGE;
#endif
}

bp_status cli_device_train(int device, bp_net *net, const bp_dataset *train,
                           const bp_dataset *eval, const bp_train_config *cfg, double *best)
{
#ifdef BP_HAVE_CUDA
    if (device == CLI_DEVICE_CUDA)
        return bp_cuda_train(net, train, eval, cfg, best);
#else
    (void)device;
#endif
    return bp_train(net, train, eval, cfg, best);
}
