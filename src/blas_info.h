/* blas_info.h - what the library asks of the BLAS beyond the CBLAS calls (src/blas_info.c): the one
 * file that knows which BLAS the build links (CMake's BACKPROP_BLAS: OpenBLAS, BLIS or a generic
 * CBLAS). The public half is bp_blas_describe and bp_blas_set_threads (backprop.h). */
#ifndef BP_BLAS_INFO_H_INCLUDED
#define BP_BLAS_INFO_H_INCLUDED

/* The BLAS's current thread count; 1 when it cannot say (a generic CBLAS). */
int bp__blas_threads(void);
/* BLAS at one thread for a call of the workers (src/workers.c), returning the count to restore:
 * the count is process-wide (OpenBLAS 0.3.21 has no per-call or per-thread one), and N workers
 * each splitting their products between BLAS threads would oversubscribe the cores. Changed only
 * when above 1. */
int bp__blas_threads_single(void);
/* Restore the count bp__blas_threads_single returned. */
void bp__blas_threads_restore(int threads);

#endif
