/* blas_core.c - OpenBLAS with DYNAMIC_ARCH (Debian's build) picks its kernels from the CPU model in
 * a constructor that runs before main. A model newer than the release (Debian 12's 0.3.21 does not
 * know Sapphire Rapids) gets the generic "Prescott" SSE3 kernels: sgemm then runs 3 to 6 times
 * slower than the AVX-512 kernels the CPU executes (bench/bench_backprop, README "Benchmarks").
 * The choice cannot be changed after load, only through OPENBLAS_CORETYPE in the environment of a
 * new process image - hence the exec. The CPU's own feature bits decide, so a machine (or valgrind,
 * which hides AVX-512) without the instructions never gets the kernels. */
#include "blas_core.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *blas_core_name(void) { return openblas_get_corename(); }

/* The OpenBLAS core whose instructions this CPU has, best first; NULL if none above SSE3. */
static const char *supported_core(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

void blas_core_upgrade(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) /* the user's choice, or this is the re-executed image */
        return;
    const char *core = supported_core();
    if (!core || strcmp(openblas_get_corename(), "Prescott") != 0)
        return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the kernels loaded */
}
