/* Scaling measurements for docs/scaling.md (not a test):
 *
 *   mpirun -np P bench_mpi [global_batch [steps]]
 *
 * 1. The all-reduce cost model alpha + beta * bytes: MPI_Allreduce(MPI_SUM, in place) of 4 bytes
 *    to 16 MiB of floats, the median of many calls; alpha is the median time of 4 bytes, beta the
 *    slope to 16 MiB. (Meaningful with P >= 2; with 1 rank it is a copy.)
 * 2. One training step of each network of the benchmark grid through bp_train (1 epoch of `steps`
 *    global mini-batches of synthetic data; the median over 5 epochs, divided by steps), with its
 *    gradient all-reduce timed alone, so that step = compute + all-reduce.
 * Rank 0 prints; OPENBLAS_NUM_THREADS sets the BLAS threads of each rank. */
#include "backprop_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, ranks;
static MPI_Comm comm = MPI_COMM_WORLD;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds of one in-place MPI_Allreduce of n floats (the same on every rank: rank 0's). */
static double allreduce_seconds(float *buf, int n, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t)
        MPI_Abort(comm, 2);
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, comm); /* warm up */
    for (int i = 0; i < reps; i++) {
        MPI_Barrier(comm);
        double start = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, comm);
        t[i] = MPI_Wtime() - start;
    }
    double m = median(t, reps);
    free(t);
    MPI_Bcast(&m, 1, MPI_DOUBLE, 0, comm);
    return m;
}

static void alpha_beta(void)
{
    enum { MAX_FLOATS = 4 << 20 }; /* 16 MiB */
    float *buf = calloc(MAX_FLOATS, sizeof *buf);
    if (!buf)
        MPI_Abort(comm, 2);
    double t_small = 0, t_large = 0;
    if (rank == 0)
        printf("all-reduce (MPI_SUM, in place), %d ranks, median:\n%12s %12s %12s\n", ranks,
               "bytes", "us", "GB/s");
    for (int n = 1; n <= MAX_FLOATS; n *= 16) {
        double t = allreduce_seconds(buf, n, n < 65536 ? 2001 : 21);
        if (n == 1)
            t_small = t;
        t_large = t;
        if (rank == 0)
            printf("%12d %12.2f %12.3f\n", 4 * n, 1e6 * t, 4.0 * n / t / 1e9);
    }
    double t = allreduce_seconds(buf, MAX_FLOATS, 21); /* 4^11 is not a power of 16: add 16 MiB */
    t_large = t;
    if (rank == 0) {
        printf("%12d %12.2f %12.3f\n", 4 * MAX_FLOATS, 1e6 * t, 4.0 * MAX_FLOATS / t / 1e9);
        printf("alpha = %.2f us, beta = %.3f ns/byte (%.2f GB/s)\n\n", 1e6 * t_small,
               1e9 * (t_large - t_small) / (4.0 * MAX_FLOATS),
               4.0 * MAX_FLOATS / (t_large - t_small) / 1e9);
    }
    free(buf);
}

/* Synthetic data: features uniform in [0,1) from a 64-bit LCG, a random class, one-hot y. */
static bp_dataset make_data(int count, int nf, int nt)
{
    bp_dataset ds = {count, nf, nt, malloc((size_t)count * (size_t)nf * sizeof(float)),
                     calloc((size_t)count * (size_t)nt, sizeof(float)),
                     malloc((size_t)count * sizeof(int))};
    if (!ds.x || !ds.y || !ds.labels)
        MPI_Abort(comm, 2);
    uint64_t s = 42;
    for (size_t i = 0; i < (size_t)count * (size_t)nf; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        ds.x[i] = (float)((double)(s >> 40) * 0x1.0p-24);
    }
    for (int i = 0; i < count; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        ds.labels[i] = nt > 1 ? (int)((s >> 33) % (uint64_t)nt) : 0;
        ds.y[(size_t)i * (size_t)nt + (size_t)ds.labels[i]] = 1.0f;
    }
    if (nt == 1) { /* regression-style data: no classes */
        free(ds.labels);
        ds.labels = NULL;
    }
    return ds;
}

static void steps(int batch, int nsteps)
{
    static const struct {
        int L, sizes[5];
    } grid[] = {{3, {2, 16, 1}}, {3, {784, 30, 10}}, {3, {784, 100, 10}},
                {4, {784, 256, 128, 10}}, {4, {1024, 1024, 1024, 10}}};
    MPI_Comm world = comm;
    bp_parallel par;
    if (bp_mpi_parallel(&par, &world) != BP_OK)
        MPI_Abort(comm, 2);
    bp_blas_info blas = {0};
    (void)bp_blas_describe(&blas);
    if (rank == 0)
        printf("training step through bp_train, global batch %d, %d ranks x %d BLAS threads, "
               "median of 5 epochs of %d steps:\n%-22s %9s %10s %12s %12s %12s\n", batch, ranks,
               blas.threads, nsteps, "layers", "params", "step ms",
               "allreduce ms", "compute ms", "samples/s");
    for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
        int L = grid[g].L, nL = grid[g].sizes[L - 1];
        bp_activation acts[4];
        for (int l = 0; l < L - 1; l++)
            acts[l] = l == L - 2 ? (nL == 1 ? BP_SIGMOID : BP_SOFTMAX) : BP_RELU;
        bp_net *net = NULL;
        if (bp_net_create(&net, L, grid[g].sizes, acts, nL == 1 ? BP_CROSS_ENTROPY : BP_NLL) ||
            bp_net_init(net, BP_INIT_HE, 1))
            MPI_Abort(comm, 2);
        bp_net_info info;
        bp_net_describe(net, &info);
        bp_dataset ds = make_data(batch * nsteps, grid[g].sizes[0], nL);
        bp_train_config cfg = {.epochs = 1, .batch_size = batch, .seed = 1,
                               .optim = {.kind = BP_OPT_SGD, .eta = 1e-4f},
                               .parallel = ranks > 1 ? &par : NULL};
        double t[5];
        for (int r = 0; r < 5; r++) {
            MPI_Barrier(comm);
            double start = MPI_Wtime();
            if (bp_train(net, &ds, NULL, &cfg, NULL) != BP_OK)
                MPI_Abort(comm, 3);
            t[r] = (MPI_Wtime() - start) / nsteps;
        }
        double step = median(t, 5), ar = 0;
        MPI_Bcast(&step, 1, MPI_DOUBLE, 0, comm);
        if (ranks > 1) { /* the gradient block plus bp_train's two flag slots */
            float *buf = calloc(info.num_params + 2, sizeof *buf);
            if (!buf)
                MPI_Abort(comm, 2);
            ar = allreduce_seconds(buf, (int)info.num_params + 2,
                                   info.num_params < 100000 ? 201 : 21);
            free(buf);
        }
        if (rank == 0) {
            char name[64];
            int used = 0;
            for (int l = 0; l < L; l++)
                used += snprintf(name + used, sizeof name - (size_t)used, "%s%d", l ? "-" : "",
                                 grid[g].sizes[l]);
            printf("%-22s %9zu %10.3f %12.3f %12.3f %12.0f\n", name, info.num_params, 1e3 * step,
                   1e3 * ar, 1e3 * (step - ar), batch / step);
        }
        free(ds.x);
        free(ds.y);
        free(ds.labels);
        bp_net_free(net);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    int batch = argc > 1 ? atoi(argv[1]) : 128, nsteps = argc > 2 ? atoi(argv[2]) : 8;
    if (batch < 1 || nsteps < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np P bench_mpi [global_batch [steps]]\n");
        MPI_Finalize();
        return 2;
    }
    if (ranks > 1)
        alpha_beta();
    steps(batch, nsteps);
    MPI_Finalize();
    return 0;
}
