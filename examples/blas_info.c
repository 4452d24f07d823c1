/* What a host program logs at startup about the BLAS under backprop (README, "Speed"). */
#include <backprop.h>
#include <stdio.h>

int main(void)
{
    bp_blas_info blas;
    if (bp_blas_describe(&blas) != BP_OK)
        return 1;
    printf("BLAS %s, kernels %s, %d thread(s)\n", blas.library,
           *blas.kernels ? blas.kernels : "unknown", blas.threads);
    if (blas.narrow)
        fprintf(stderr, "warning: %s's %s kernels use %d-bit vectors, this CPU has %d-bit "
                "ones%s%s\n", blas.library, blas.kernels, blas.kernel_bits, blas.cpu_bits,
                *blas.cpu_kernels ? ": start the program with OPENBLAS_CORETYPE=" : "",
                blas.cpu_kernels);
    return 0;
}
