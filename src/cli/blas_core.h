/* blas_core.h - give OpenBLAS the kernels of the CPU it runs on (src/cli/blas_core.c). Shared by
 * the backprop program and the benchmarks: programs may re-execute themselves, the library may not. */
#ifndef BP_BLAS_CORE_H_INCLUDED
#define BP_BLAS_CORE_H_INCLUDED

#include "backprop.h"

#include <stdio.h>

/* If OpenBLAS runs kernels narrower than the CPU (bp_blas_describe: its generic x86-64 "Prescott",
 * SSE3, on a CPU that runs AVX-512 or AVX2), and the user has not chosen a core with
 * OPENBLAS_CORETYPE, execute the program again (argv, same process) with OPENBLAS_CORETYPE naming
 * the CPU's kernels. Returns only when nothing is to be done (also on any other BLAS) or the exec
 * failed; the program then runs on the kernels it has. */
void blas_core_upgrade(char **argv);

/* The threads of a training run of net with mini-batches of batch samples: the BLAS's count is
 * set to requested if > 0; returned are the worker threads (bp_train_config.workers): workers if
 * > 0. With neither given and the BLAS's variable unset (OPENBLAS_NUM_THREADS, BLIS_NUM_THREADS),
 * the step's size decides (measured with bench/bench_backprop and bench/bench_workers): a small
 * step runs on one thread; a mid-sized one on one worker per core (at most 8), BLAS at one
 * thread; a large one on the BLAS's threads; forces: the step is the force loss's, whose workers
 * pay from smaller steps. A generic CBLAS keeps its own count
 * (bp_blas_set_threads cannot change it). */
int blas_threads_choose(int requested, int workers, const bp_net *net, int batch, int forces);

/* The kernels the BLAS runs ("SkylakeX", "Haswell", ... on OpenBLAS), or "unknown". */
const char *blas_core_name(void);

/* The BLAS the library runs on ("OpenBLAS", "BLIS", "CBLAS"). */
const char *blas_library_name(void);

/* Writes to out one line saying that the BLAS's kernels are narrower than the CPU, when they are
 * (bp_blas_describe's narrow): their vector width, the CPU's, the OPENBLAS_CORETYPE that chose them
 * if one is set, and the kernels that would use the CPU's width. Nothing otherwise. */
void blas_print_narrow(FILE *out);

#endif
