/* blas_core.c - OpenBLAS with DYNAMIC_ARCH (Debian's build) picks its kernels from the CPU model in
 * a constructor that runs before main. A model newer than the release (Debian 12's 0.3.21 does not
 * know Sapphire Rapids) gets the generic "Prescott" SSE3 kernels: sgemm then runs 3 to 6 times
 * slower than the AVX-512 kernels the CPU executes (bench/bench_backprop, README "Benchmarks").
 * The choice cannot be changed after load, only through OPENBLAS_CORETYPE in the environment of a
 * new process image - hence the exec. The CPU's own feature bits decide (bp_blas_describe), so a
 * machine (or valgrind, which hides AVX-512) without the instructions never gets the kernels.
 * Everything BLAS-specific comes from the library (bp_blas_describe, bp_blas_set_threads), so the
 * programs build on any BLAS the library does; only OpenBLAS names kernels to exec with. */
#include "blas_core.h"

#include <stdlib.h>
#include <unistd.h>

/* Multiply-adds of one training step (forward, eq. C, and eq. B but for the first layer) below
 * which one BLAS thread is faster than two on the README's benchmark grid. */
static const double SMALL_STEP_MACS = 1e9;
/* Multiply-adds of a step from which worker threads (bp_team) pay: two workers cost 1.2 times
 * one thread's processor time per step at 6e7 (784-256-128-10, B = 128) and about 1.0 from 1.6e8
 * (B = 1024), but 1.3 at 1.6e7-2e7 (B = 32 on 784-256-128-10, B = 128 on 784-100-10) and 1.8 at
 * B = 10: there waking the other thread and splitting the products (each share packs w again) cost
 * about as much as the second core saves (bench/bench_workers). */
static const double WORKER_STEP_MACS = 5e7;
/* The same for a step of the force loss (bp_gradient_forces), counted as the plain step: its
 * passes are twice as wide plus the tangent ones, and many more of them are elementwise, so two
 * workers pay from smaller steps. bench_workers --nets 2-64-64-1,30-128-128-1 (bp_train's step
 * with forces, median of 9 alternated rounds): 0.53 times one thread's speed at 1e5 (2-64-64-1,
 * B = 8), 1.18 at 2e5 (B = 16), 1.24 at 4.6e5 (30-128-128-1, B = 8), 1.4-1.6 from 8e5. */
static const double FORCE_WORKER_STEP_MACS = 3e5;
/* Workers chosen by default, at most: one per core beyond gains little for these steps. */
enum { DEFAULT_WORKERS_MAX = 8 };

static double step_macs(const bp_net *net, int batch)
{
    bp_net_info info;
    double macs = 0;
    if (bp_net_describe(net, &info))
        return 0;
    for (int l = 1; l < info.num_layers; l++)
        macs += (l == 1 ? 2.0 : 3.0) * info.sizes[l] * info.sizes[l - 1] * batch;
    return macs;
}

int blas_threads_choose(int requested, int workers, const bp_net *net, int batch, int forces)
{
    bp_blas_info blas;
    if (requested > 0)
        (void)bp_blas_set_threads(requested); /* a generic CBLAS has no thread control */
    if (workers > 0 || requested > 0 || bp_blas_describe(&blas) ||
        (*blas.threads_env && getenv(blas.threads_env)))
        return workers > 0 ? workers : 1; /* the user chose the threading */
    double macs = step_macs(net, batch);
    if (macs >= SMALL_STEP_MACS)
        return 1; /* the BLAS's own threads */
    (void)bp_blas_set_threads(1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (macs < (forces ? FORCE_WORKER_STEP_MACS : WORKER_STEP_MACS) || cores < 2)
        return 1;
    int most = cores < DEFAULT_WORKERS_MAX ? (int)cores : DEFAULT_WORKERS_MAX;
    /* the force step's crossover was measured with two workers: no more than keep each share at
     * half of it (a small step on many cores would split into shares that cost more than they
     * save) */
    double shares = macs / (FORCE_WORKER_STEP_MACS / 2);
    return forces && shares < most ? (int)shares : most;
}

const char *blas_core_name(void)
{
    bp_blas_info blas;
    return bp_blas_describe(&blas) || !*blas.kernels ? "unknown" : blas.kernels;
}

const char *blas_library_name(void)
{
    bp_blas_info blas;
    return bp_blas_describe(&blas) ? "unknown" : blas.library;
}

void blas_print_narrow(FILE *out)
{
    bp_blas_info blas;
    if (bp_blas_describe(&blas) || !blas.narrow)
        return;
    const char *chosen = getenv("OPENBLAS_CORETYPE");
    fprintf(out, "BLAS kernels use %d-bit vectors, this CPU has %d-bit ones", blas.kernel_bits,
            blas.cpu_bits);
    if (chosen && *chosen)
        fprintf(out, " (OPENBLAS_CORETYPE=%s is set)", chosen);
    if (*blas.cpu_kernels)
        fprintf(out, ": OPENBLAS_CORETYPE=%s uses them", blas.cpu_kernels);
    fputc('\n', out);
}

void blas_core_upgrade(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) /* the user's choice, or this is the re-executed image */
        return;
    bp_blas_info blas;
    if (bp_blas_describe(&blas) || !blas.narrow || !*blas.cpu_kernels)
        return;
    if (setenv("OPENBLAS_CORETYPE", blas.cpu_kernels, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the kernels loaded */
}
