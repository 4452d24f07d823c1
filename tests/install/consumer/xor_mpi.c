/* The installed MPI component as an embedder uses it (tests/install, CONSUMER=mpi): XOR trained
 * data-parallel over MPI_COMM_WORLD through bp_mpi_parallel, evaluated sharded, on a singleton
 * run (no mpirun) and under mpirun with 2 ranks. Rank 0 prints the rank count and the loss; the
 * exit status is non-zero on any rank unless every rank learnt XOR. */
#include <backprop_mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm comm = MPI_COMM_WORLD;
    int world = 0;
    MPI_Comm_size(comm, &world);
    float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    bp_dataset data = {.count = 4, .n_features = 2, .n_targets = 1, .x = x, .y = y};
    int sizes[] = {2, 4, 1};
    bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    bp_parallel par = {0};
    bp_train_config cfg = {.epochs = 2000, .batch_size = 4, .seed = 7, .parallel = &par,
                           .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.5f, .mu = 0.9f}};
    bp_net *net = NULL;
    double loss = 1, accuracy; /* NaN: XOR's data has no labels */
    bp_status st = bp_mpi_parallel(&par, &comm);
    if (!st && par.ranks != world) {
        fprintf(stderr, "xor_mpi: bp_mpi_parallel says %d ranks, MPI %d\n", par.ranks, world);
        st = BP_EVALUE;
    }
    if (!st) st = bp_net_create(&net, 3, sizes, acts, BP_CROSS_ENTROPY);
    if (!st) st = bp_net_init(net, BP_INIT_XAVIER, 42);
    if (!st) st = bp_train(net, &data, NULL, &cfg, NULL);
    if (!st) st = bp_evaluate_parallel(net, &data, &par, &loss, &accuracy, NULL);
    if (st) fprintf(stderr, "xor_mpi: %s: %s\n", bp_strerror(st), bp_last_error());
    int ok = !st && loss < 0.1, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm);
    if (par.rank == 0 && all)
        printf("xor_mpi: %d ranks, mean cross-entropy %.4f\n", par.ranks, loss);
    bp_net_free(net);
    MPI_Finalize();
    return all ? 0 : 1;
}
