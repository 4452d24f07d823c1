/* The ranks of `backprop train` under mpirun. Built with the MPI component (BACKPROP_CLI_MPI),
 * the program joins MPI only when a launcher started it (mpirun sets OMPI_COMM_WORLD_SIZE, PMIx
 * and PMI launchers PMIX_RANK or PMI_RANK), so that a plain `backprop train` never initialises
 * MPI; otherwise, and without MPI, it is rank 0 of 1. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef BACKPROP_CLI_MPI
#include "backprop_mpi.h"

static MPI_Comm world; /* bp_parallel borrows it: it must outlive training */

static int launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int cli_ranks_start(cli_ranks *r, const char *cmd)
{
    r->rank = 0;
    r->ranks = 1;
    r->parallel = NULL;
    r->mpi = 0;
    if (!launched_by_mpirun())
        return CLI_OK;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return cli_error(cmd, "cannot initialise MPI");
    r->mpi = 1;
    world = MPI_COMM_WORLD;
    if (bp_mpi_parallel(&r->par, &world) != BP_OK)
        return cli_error(cmd, "cannot set up the MPI ranks");
    r->rank = r->par.rank;
    r->ranks = r->par.ranks;
    if (r->ranks > 1)
        r->parallel = &r->par;
    /* Rank 0 alone prints progress and results; errors still reach stderr from every rank. */
    if (r->rank > 0 && !freopen("/dev/null", "w", stdout))
        return cli_error(cmd, "rank %d: cannot silence stdout", r->rank);
    return CLI_OK;
}

int cli_ranks_agree(const cli_ranks *r, int rc)
{
    int failed = rc != CLI_OK, any = failed;
    if (r->mpi && r->ranks > 1)
        MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return failed ? rc : any ? CLI_FAIL : CLI_OK;
}

void cli_ranks_stop(cli_ranks *r)
{
    if (r->mpi)
        MPI_Finalize();
    r->mpi = 0;
}

#else

int cli_ranks_start(cli_ranks *r, const char *cmd)
{
    (void)cmd;
    r->rank = 0;
    r->ranks = 1;
    r->parallel = NULL;
    r->mpi = 0;
    return CLI_OK;
}

int cli_ranks_agree(const cli_ranks *r, int rc)
{
    (void)r;
    return rc;
}

void cli_ranks_stop(cli_ranks *r) { (void)r; }

#endif
