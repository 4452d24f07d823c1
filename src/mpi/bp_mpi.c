/* The MPI component: bp_parallel's sum over the ranks of a communicator (backprop_mpi.h). */
#include "backprop_mpi.h"
#include "../internal.h" /* bp__fail, bp__clear_error: the core's error detail */

#include <limits.h>

/* In-place MPI_Allreduce(MPI_SUM) of count elements, in pieces that fit MPI's int count. */
static bp_status mpi_sum(void *data, size_t count, bp_reduce_type type, void *ctx)
{
    MPI_Comm comm = *(MPI_Comm *)ctx;
    MPI_Datatype dt = type == BP_REDUCE_DOUBLE ? MPI_DOUBLE : MPI_FLOAT;
    size_t size = type == BP_REDUCE_DOUBLE ? sizeof(double) : sizeof(float);
    for (size_t done = 0; done < count;) {
        int n = count - done < (size_t)INT_MAX ? (int)(count - done) : INT_MAX;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)data + done * size, n, dt, MPI_SUM, comm) !=
            MPI_SUCCESS)
            return bp__fail(BP_EIO, "MPI_Allreduce of %d elements failed", n);
        done += (size_t)n;
    }
    return BP_OK;
}

bp_status bp_mpi_parallel(bp_parallel *out, MPI_Comm *comm)
{
    int initialized = 0, rank, ranks;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    if (!comm)
        return bp__fail(BP_ENULL, "comm is NULL");
    if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized)
        return bp__fail(BP_EIO, "MPI is not initialised (MPI_Init first)");
    if (MPI_Comm_rank(*comm, &rank) != MPI_SUCCESS || MPI_Comm_size(*comm, &ranks) != MPI_SUCCESS)
        return bp__fail(BP_EIO, "MPI_Comm_rank or MPI_Comm_size failed on comm");
    out->rank = rank;
    out->ranks = ranks;
    out->sum = mpi_sum;
    out->ctx = comm;
    return BP_OK;
}
