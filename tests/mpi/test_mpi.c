/* Data-parallel training over MPI (backprop_mpi.h), run by ctest through mpirun with 1, 2 and 3
 * ranks. Every rank runs every check; rank 0 prints one line per check and the program exits 1
 * if any check failed on any rank.
 *
 *  - equivalence: R ranks with the global batch B (each rank b = B/R, or B/R and B/R + 1 when R
 *    does not divide B, and no sample at all for some ranks in the last batch of 1) end within a
 *    stated tolerance of one process with batch B, for SGD and Adam; with R = 1 bit for bit.
 *  - identical: after training, every rank holds the same parameter bits as rank 0.
 *  - workers: R worker threads in one process (bp_train_config.workers) against R ranks: the same
 *    shares, summed by MPI instead of in share order; two floats add the same in either order, so
 *    with R <= 2 the bits must be equal; with more, the MPI library's reduction order decides
 *    (printed), and the parameters must be within the tolerance below.
 *  - evaluation sharded over the ranks equals bp_evaluate: accuracy and confusion exactly, the
 *    mean loss to 1e-6 relative (the shards' forward runs on other batch shapes, which BLAS, or
 *    the loops the library picks for small shapes, may round differently in the last float bit;
 *    measured: 6e-10).
 *  - resume: 2 epochs, a checkpoint, then 2 more from it, across the ranks, equal bit for bit 4
 *    epochs in one go.
 *  - a rank whose starting parameters differ by one ulp, or whose seed differs, makes every rank
 *    fail with BP_EMISMATCH; arguments one rank refuses make every rank fail; a stop request of
 *    one rank's callback stops every rank at the same step.
 *
 * Tolerance of the equivalence: the ranks' gradient is the same sum as the single process's in
 * another association (each rank sums its share in its GEMM, then MPI adds the shares), so each
 * gradient entry differs by a few float rounding errors of the sum of |terms| (~1e-7 relative to
 * it), and 2 epochs (up to 26 steps of eta 0.5) accumulate that into the parameters (|theta| ~
 * 0.01 .. 1): the largest difference measured is 3.4e-7 absolute (2 ranks, SGD; BPT_VERBOSE=1
 * prints it). atol 1e-5 + rtol 1e-5 bounds it with a margin of about 30 ("worst" is printed as a
 * fraction of the tolerance). A wrong share (a sample dropped or counted twice, a wrong m) changes
 * a step by 1/B of a sample's gradient, orders of magnitude more, and fails it. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "backprop_mpi.h"
#include "bp_test.h" /* the data builder (its CMocka assertions end the rank if one fails) */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, ranks, failures;
static MPI_Comm comm = MPI_COMM_WORLD;
static bp_parallel par;

/* One check, decided on every rank: it passes only if it passed on all of them. */
static void check(const char *name, int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm);
    if (!all)
        failures++;
    if (rank == 0)
        printf("%s %s (%d ranks)\n", all ? "ok    " : "FAILED", name, ranks);
    if (!ok)
        fprintf(stderr, "rank %d: %s failed; last error: %s\n", rank, name, bp_last_error());
}

/* The label: the largest of three fixed linear functions of the 5 inputs. */
static int argmax_label(const float *x)
{
    float f[3] = {x[0] + x[1] - x[4], x[2] - x[3], 0.5f * x[4] - x[0]};
    int c = f[1] > f[0] ? 1 : 0;
    return f[2] > f[c] ? 2 : c;
}

/* Deterministic data, the same on every rank: x uniform in [-1,1)^5 (the test generator of
 * bp_test.h), labelled by argmax_label, one-hot y. */
static bp_dataset make_data(int count, uint64_t seed)
{
    return bpt_dataset_classes(count, 5, 3, seed, argmax_label);
}

static bp_net *make_net(uint64_t seed)
{
    static const int sizes[] = {5, 8, 3};
    static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *net = NULL;
    if (bp_net_create(&net, 3, sizes, acts, BP_NLL) || bp_net_init(net, BP_INIT_XAVIER, seed))
        MPI_Abort(comm, 2);
    return net;
}

static float *params(bp_net *net, size_t *P)
{
    float *p;
    bp_net_info info;
    bp_net_describe(net, &info);
    bp_net_params(net, &p);
    if (P)
        *P = info.num_params;
    return p;
}

/* Whether every rank holds rank 0's parameter bits. */
static int same_as_rank0(bp_net *net)
{
    size_t P;
    float *p = params(net, &P), *p0 = malloc(P * sizeof *p0);
    if (!p0)
        MPI_Abort(comm, 2);
    memcpy(p0, p, P * sizeof *p0);
    MPI_Bcast(p0, (int)P, MPI_FLOAT, 0, comm);
    int same = memcmp(p0, p, P * sizeof *p0) == 0;
    free(p0);
    return same;
}

/* |got - ref| <= atol + rtol |ref| everywhere; *worst = the largest ratio of the error to that. */
static int close_all(const float *got, const float *ref, size_t n, double atol, double rtol,
                     double *worst)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(ref[i]), err = fabs((double)got[i] - ref[i]);
        if (err / tol > *worst) {
            *worst = err / tol;
            if (getenv("BPT_VERBOSE"))
                printf("  [%zu] got %.9g ref %.9g err %.3g\n", i, got[i], ref[i], err);
        }
        ok &= err <= tol;
    }
    return ok;
}

/* ---------------------------------------------------------------- checks */

static void equivalence(void)
{
    bp_dataset train = make_data(97, 1), eval = make_data(31, 2);
    const double atol = 1e-5, rtol = 1e-5;
    double worst = 0;
    int ok = 1, identical = 1, bitwise = 1;
    /* B = 4R (R divides it) and 4R + 1 (it does not); 97 samples leave a last batch of 1 or 97 mod
     * B, so that some ranks get nothing in it. */
    for (int extra = 0; extra <= 1; extra++)
        for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind += BP_OPT_ADAM) {
            bp_train_config cfg = {.epochs = 2, .batch_size = 4 * ranks + extra, .seed = 7,
                                   .optim = {.kind = (bp_optimizer_kind)kind,
                                             .eta = kind == BP_OPT_ADAM ? 0.01f : 0.5f}};
            bp_net *one = make_net(3), *many = make_net(3);
            size_t P;
            ok &= bp_train(one, &train, &eval, &cfg, NULL) == BP_OK;
            cfg.parallel = &par;
            ok &= bp_train(many, &train, &eval, &cfg, NULL) == BP_OK;
            float *a = params(one, &P), *b = params(many, NULL);
            ok &= close_all(b, a, P, atol, rtol, &worst);
            ok &= memcmp(a, b, P * sizeof *a) != 0 || ranks == 1; /* it did train apart */
            bitwise &= ranks > 1 || memcmp(a, b, P * sizeof *a) == 0;
            identical &= same_as_rank0(many);
            bp_net_free(one);
            bp_net_free(many);
        }
    if (rank == 0)
        printf("       worst |error| / (%g + %g |ref|) = %.3g\n", atol, rtol, worst);
    check("R ranks with global batch B = 1 process with batch B (SGD, Adam; B = 4R, 4R + 1)", ok);
    check("1 rank is bit for bit the single process", bitwise);
    check("every rank holds the same parameter bits", identical);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

static void workers(void)
{
    bp_dataset train = make_data(97, 1), eval = make_data(31, 2);
    double worst = 0;
    int ok = 1, bitwise = 1;
    for (int kind = BP_OPT_SGD; kind <= BP_OPT_ADAM; kind += BP_OPT_ADAM) {
        bp_train_config cfg = {.epochs = 2, .batch_size = 4 * ranks + 1, .seed = 7,
                               .optim = {.kind = (bp_optimizer_kind)kind,
                                         .eta = kind == BP_OPT_ADAM ? 0.01f : 0.5f},
                               .workers = ranks};
        bp_net *threads = make_net(3), *mpi = make_net(3);
        size_t P;
        ok &= bp_train(threads, &train, &eval, &cfg, NULL) == BP_OK;
        cfg.workers = 0;
        cfg.parallel = &par;
        ok &= bp_train(mpi, &train, &eval, &cfg, NULL) == BP_OK;
        float *a = params(threads, &P), *b = params(mpi, NULL);
        ok &= close_all(b, a, P, 1e-5, 1e-5, &worst);
        bitwise &= memcmp(a, b, P * sizeof *a) == 0;
        bp_net_free(threads);
        bp_net_free(mpi);
    }
    if (rank == 0)
        printf("       %d worker threads %s the bits of %d MPI ranks\n", ranks,
               bitwise ? "give" : "do not give", ranks);
    check("R worker threads in one process = R ranks (within the tolerance)", ok);
    check("R worker threads = R ranks bit for bit when R <= 2", ranks > 2 || bitwise);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

static void evaluation(void)
{
    bp_dataset eval = make_data(103, 5);
    bp_net *net = make_net(4);
    double l1, a1, l2, a2;
    long c1[9], c2[9];
    int ok = bp_evaluate(net, &eval, &l1, &a1, c1) == BP_OK &&
             bp_evaluate_parallel(net, &eval, &par, &l2, &a2, c2) == BP_OK;
    if (rank == 0)
        printf("       loss %.17g vs %.17g, accuracy %.17g vs %.17g\n", l1, l2, a1, a2);
    ok = ok && a1 == a2 && memcmp(c1, c2, sizeof c1) == 0 && fabs(l1 - l2) <= 1e-6 * fabs(l1);
    check("sharded evaluation = bp_evaluate (accuracy, confusion exact; loss 1e-6)", ok);
    bp_net_free(net);
    bpt_dataset_release(&eval);
}

static int stop_after_epoch(const bp_progress *p, void *user)
{
    return p->epoch_done && p->epoch == *(int *)user;
}

static void resume(void)
{
    bp_dataset train = make_data(50, 8), eval = make_data(20, 9);
    char dir[64] = "/tmp/bp_test_mpi_XXXXXX", path[96];
    if (rank == 0 && !mkdtemp(dir))
        MPI_Abort(comm, 2);
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, comm);
    snprintf(path, sizeof path, "%s/run.bpc", dir);
    int stop_epoch = 1;
    bp_train_config cfg = {.epochs = 4, .batch_size = 6, .seed = 2, .patience = 3,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                           .schedule = {.kind = BP_LR_COSINE}, .parallel = &par};
    bp_net *whole = make_net(1), *cut = make_net(1), *resumed = make_net(2);
    size_t P;
    int ok = bp_train(whole, &train, &eval, &cfg, NULL) == BP_OK;
    bp_train_config c = cfg;
    c.checkpoint_every = 2;
    c.checkpoint_path = path;
    c.progress = stop_after_epoch;
    c.user = &stop_epoch;
    ok &= bp_train(cut, &train, &eval, &c, NULL) == BP_ESTOPPED;
    c = cfg;
    c.resume_path = path;
    ok &= bp_train(resumed, &train, &eval, &c, NULL) == BP_OK;
    const float *a = params(whole, &P);
    ok &= memcmp(a, params(resumed, NULL), P * sizeof(float)) == 0;
    check("2 epochs + checkpoint + resume 2 = 4 epochs, bit for bit, across the ranks", ok);
    MPI_Barrier(comm); /* every rank has read the checkpoint */
    if (rank == 0) {
        unlink(path);
        rmdir(dir);
    }
    bp_net_free(whole);
    bp_net_free(cut);
    bp_net_free(resumed);
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* Return 1 on the last rank only, after batch 2 of epoch 0. */
static int last_rank_stops(const bp_progress *p, void *user)
{
    (void)user;
    return rank == ranks - 1 && !p->epoch_done && p->epoch == 0 && p->batch == 2;
}

static int stop_after_batch_2(const bp_progress *p, void *user)
{
    (void)user;
    return !p->epoch_done && p->epoch == 0 && p->batch == 2;
}

static void disagreement(void)
{
    bp_dataset train = make_data(40, 3);
    bp_train_config cfg = {.epochs = 2, .batch_size = 8, .seed = 4,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .parallel = &par};
    if (ranks > 1) {
        bp_net *net = make_net(5);
        float *p = params(net, NULL);
        if (rank == ranks - 1)
            p[0] = nextafterf(p[0], INFINITY);
        check("one ulp of difference in the starting parameters fails every rank",
              bp_train(net, &train, NULL, &cfg, NULL) == BP_EMISMATCH);
        bp_net_free(net);
        net = make_net(5);
        bp_train_config other = cfg;
        other.seed += rank == ranks - 1;
        check("another seed on one rank fails every rank",
              bp_train(net, &train, NULL, &other, NULL) == BP_EMISMATCH);
        other = cfg;
        other.dropout[1] = rank == ranks - 1 ? 0.3f : 0.1f; /* the parameters would stay equal */
        check("another dropout rate on one rank fails every rank at epoch 0, naming the "
              "configuration",
              bp_train(net, &train, NULL, &other, NULL) == BP_EMISMATCH &&
                  strstr(bp_last_error(), "training configurations") &&
                  strstr(bp_last_error(), "epoch 0"));
        other = cfg;
        other.batch_size = rank == ranks - 1 ? 0 : 8; /* refused by that rank's own checks */
        check("arguments one rank refuses fail every rank (none left waiting)",
              bp_train(net, &train, NULL, &other, NULL) == BP_EDIM);
        bp_net_free(net);
    }
    /* A stop request on one rank after batch 2: every rank stops before the step of batch 3,
     * holding the parameters of one process stopped after 2 steps (within the tolerance of the
     * equivalence check). */
    bp_net *stopped = make_net(5), *alone = make_net(5);
    bp_train_config c = cfg;
    c.progress = last_rank_stops;
    int ok = bp_train(stopped, &train, NULL, &c, NULL) == BP_ESTOPPED;
    c.parallel = NULL;
    c.progress = stop_after_batch_2;
    ok &= bp_train(alone, &train, NULL, &c, NULL) == BP_ESTOPPED;
    size_t P;
    double worst = 0;
    const float *a = params(stopped, &P);
    ok &= close_all(a, params(alone, NULL), P, 1e-5, 1e-5, &worst);
    ok &= same_as_rank0(stopped);
    check("a stop request of one rank's callback stops every rank at the same step", ok);
    bp_net_free(stopped);
    bp_net_free(alone);
    bpt_dataset_release(&train);
}

/* The error contract: a failure's detail names its cause, and a success leaves the detail empty
 * (cleared on entry, even after an earlier failure). before_init is the status of a call made
 * before MPI_Init, and before_init_named whether its detail said so. */
static void error_contract(bp_status before_init, int before_init_named)
{
    bp_parallel p;
    check("bp_mpi_parallel before MPI_Init: BP_EIO, the detail says MPI is not initialised",
          before_init == BP_EIO && before_init_named);
    int out_named = bp_mpi_parallel(NULL, &comm) == BP_ENULL && strstr(bp_last_error(), "out");
    check("bp_mpi_parallel(NULL, comm): BP_ENULL, the detail names out", out_named);
    int comm_named = bp_mpi_parallel(&p, NULL) == BP_ENULL && strstr(bp_last_error(), "comm");
    check("bp_mpi_parallel(out, NULL): BP_ENULL, the detail names comm", comm_named);
    int failed = bp_net_describe(NULL, NULL) == BP_ENULL && bp_last_error()[0] != '\0';
    int cleared = failed && bp_mpi_parallel(&p, &comm) == BP_OK && bp_last_error()[0] == '\0';
    check("bp_mpi_parallel clears the detail of an earlier failure on success", cleared);
}

int main(int argc, char **argv)
{
    bp_parallel unused;
    bp_status before_init = bp_mpi_parallel(&unused, &comm);
    int before_init_named = strstr(bp_last_error(), "not initialised") != NULL;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    if (bp_mpi_parallel(&par, &comm) != BP_OK || par.rank != rank || par.ranks != ranks) {
        fprintf(stderr, "bp_mpi_parallel failed\n");
        MPI_Abort(comm, 2);
    }
    check("bp_mpi_parallel refuses NULL", bp_mpi_parallel(NULL, &comm) == BP_ENULL &&
                                              bp_mpi_parallel(&par, NULL) == BP_ENULL);
    error_contract(before_init, before_init_named);
    equivalence();
    workers();
    evaluation();
    resume();
    disagreement();
    if (rank == 0)
        printf("%s\n", failures ? "FAILED" : "all passed");
    MPI_Finalize();
    return failures ? 1 : 0;
}
