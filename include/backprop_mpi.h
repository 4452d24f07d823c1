/*
 * backprop_mpi.h - data-parallel training across processes over MPI (target backprop::mpi, built
 * when CMake finds MPI; the core library, backprop.h, stays free of MPI).
 *
 * It supplies the one thing the core needs for bp_train_config.parallel and bp_evaluate_parallel:
 * a sum over the ranks of a communicator, as MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM). The
 * training itself (the shared shuffled permutation, each rank's share of every mini-batch, one
 * reduction of the gradient block per step, the identical optimizer step, the per-epoch check that
 * the parameters are bitwise identical on every rank) is the core's, described in backprop.h.
 *
 *     MPI_Init(&argc, &argv);
 *     MPI_Comm comm = MPI_COMM_WORLD;
 *     bp_parallel par;
 *     bp_mpi_parallel(&par, &comm);
 *     bp_train_config cfg = {..., .parallel = &par};
 *     bp_train(net, &train, &test, &cfg, NULL);   // on every rank, same arguments
 *     if (par.rank == 0) bp_model_save(net, "model.bpn");
 *     MPI_Finalize();
 *
 * Every rank must receive the same bits from MPI_Allreduce (the MPI standard advises it; Open
 * MPI's algorithms on one communicator do it): that is what keeps the ranks' parameters identical,
 * and the core's per-epoch hash check fails with BP_EMISMATCH if they ever differ.
 */
#ifndef BACKPROP_MPI_H_INCLUDED
#define BACKPROP_MPI_H_INCLUDED

#include <mpi.h>

#include "backprop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill *out for the calling process in *comm: rank and ranks from MPI_Comm_rank / MPI_Comm_size,
 * sum = an MPI_Allreduce over *comm (in place, MPI_SUM; MPI_FLOAT or MPI_DOUBLE; counts above
 * INT_MAX in several calls), ctx = comm. MPI must be initialised. comm is borrowed: it must stay
 * valid, at the same address, as long as out is used. The sum returns BP_EIO if MPI reports an
 * error (only when the communicator's error handler returns errors; MPI's default aborts).
 * Errors: BP_ENULL (out or comm NULL), BP_EIO (MPI not initialised, or an MPI call failed). */
BP_API bp_status bp_mpi_parallel(bp_parallel *out, MPI_Comm *comm);

#ifdef __cplusplus
}
#endif
#endif /* BACKPROP_MPI_H_INCLUDED */
