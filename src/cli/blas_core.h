/* blas_core.h - give OpenBLAS the kernels of the CPU it runs on (src/cli/blas_core.c). Shared by
 * the backprop program and the benchmarks: programs may re-execute themselves, the library may not. */
#ifndef BP_BLAS_CORE_H_INCLUDED
#define BP_BLAS_CORE_H_INCLUDED

#include "backprop.h"

/* If OpenBLAS fell back to its generic x86-64 kernels ("Prescott", SSE3) on a CPU that runs AVX-512
 * or AVX2, and the user has not chosen a core with OPENBLAS_CORETYPE, execute the program again
 * (argv, same process) with OPENBLAS_CORETYPE naming the matching kernels. Returns only when
 * nothing is to be done or the exec failed; the program then runs on the kernels it has. */
void blas_core_upgrade(char **argv);

/* The threads of a training run of net with mini-batches of batch samples: OpenBLAS's count is
 * set to requested if > 0; returned are the worker threads (bp_train_config.workers): workers if
 * > 0. With neither given and OPENBLAS_NUM_THREADS unset, the step's size decides (measured with
 * bench/bench_backprop and bench/bench_workers): a small step runs on one thread; a mid-sized one
 * on one worker per core (at most 8), BLAS at one thread; a large one on OpenBLAS's threads. */
int blas_threads_choose(int requested, int workers, const bp_net *net, int batch);

/* The kernels OpenBLAS runs ("SkylakeX", "Haswell", ...). */
const char *blas_core_name(void);

#endif
