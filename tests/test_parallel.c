/* The core's data parallelism (bp_train_config.parallel, bp_evaluate_parallel) without MPI: R
 * threads stand for R ranks, joined by a sum over ranks made of two barriers (publish, add in rank
 * order, copy back), so that every "rank" receives the same bits as MPI_Allreduce gives. This runs
 * wherever the library builds; tests/mpi/ runs the same logic over real MPI processes.
 *
 *  - R = 2 and 3 ranks with global batch B (B = 8 and 9: R divides it or not; 61 samples leave a
 *    last batch of 5 or 7 split unevenly) against one process with batch B: parameters within
 *    atol 1e-5 + rtol 1e-5 (the reasoning is tests/mpi/test_mpi.c's: the same sums in another
 *    association), identical bits on every rank;
 *  - R = 1 through the hook is bit for bit the single process;
 *  - sharded evaluation: accuracy and confusion exact, loss 1e-6 relative;
 *  - W worker threads in one process (bp_train_config.workers) against W ranks: the same bits,
 *    also when training on forces;
 *  - the configuration errors of the hook: rank out of range, no sum, and a sum that fails. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier */

#include "bp_test.h"

#include <pthread.h>

/* ---------------------------------------------------------------- threads as ranks */

typedef struct world {
    int ranks;
    pthread_barrier_t barrier;
    void *bufs[8]; /* each rank's buffer of the sum in progress */
} world;

typedef struct rank_ctx {
    world *w;
    int rank;
} rank_ctx;

/* Sum over the threads of w, in place: everyone publishes its buffer; everyone adds them in rank
 * order into its own scratch (so all get the same bits); after a second barrier (no one reads any
 * more) everyone copies its scratch back. */
static bp_status thread_sum(void *data, size_t count, bp_reduce_type type, void *ctx)
{
    rank_ctx *c = ctx;
    world *w = c->w;
    size_t size = type == BP_REDUCE_DOUBLE ? sizeof(double) : sizeof(float);
    void *acc = calloc(count ? count : 1, size);
    if (!acc)
        return BP_ENOMEM;
    w->bufs[c->rank] = data;
    pthread_barrier_wait(&w->barrier);
    for (int r = 0; r < w->ranks; r++)
        for (size_t i = 0; i < count; i++) {
            if (type == BP_REDUCE_DOUBLE)
                ((double *)acc)[i] += ((const double *)w->bufs[r])[i];
            else
                ((float *)acc)[i] += ((const float *)w->bufs[r])[i];
        }
    pthread_barrier_wait(&w->barrier);
    memcpy(data, acc, count * size);
    free(acc);
    return BP_OK;
}

/* ---------------------------------------------------------------- data */

/* The label of a sample of 4 features: where x1 + x2 > x3 - x4, 0 or 1 by the sign of x1; else 2. */
static int rule_label(const float *x)
{
    return x[0] + x[1] > x[2] - x[3] ? (x[0] > 0 ? 0 : 1) : 2;
}

/* count samples of 4 features, uniform in [-1,1), labelled by rule_label, one-hot y. */
static bp_dataset make_data(int count, uint64_t seed)
{
    return bpt_dataset_classes(count, 4, 3, seed, rule_label);
}

static bp_net *make_net(void)
{
    static const int sizes[] = {4, 7, 3};
    static const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 3));
    return net;
}

/* ---------------------------------------------------------------- one rank's work */

typedef struct job {
    rank_ctx ctx;
    bp_parallel par;
    const bp_dataset *train, *eval;
    bp_train_config cfg;
    bp_net *net;
    bp_status train_st, eval_st;
    char error[256]; /* bp_last_error() after bp_train, on this rank's thread */
    double loss, accuracy;
    long confusion[9];
} job;

static void *run_rank(void *arg)
{
    job *j = arg;
    j->train_st = bp_train(j->net, j->train, j->eval, &j->cfg, NULL);
    snprintf(j->error, sizeof j->error, "%s", bp_last_error());
    j->eval_st = bp_evaluate_parallel(j->net, j->eval, &j->par, &j->loss, &j->accuracy,
                                      j->confusion);
    return NULL;
}

/* Train a network of make() on each of R threads, rank r with cfgs[r] and the hook; jobs[r] holds
 * rank r. */
static void run_ranks(int R, const bp_train_config *cfgs, bp_net *(*make)(void),
                      const bp_dataset *train, const bp_dataset *eval, job *jobs)
{
    world w = {.ranks = R};
    pthread_t th[8];
    assert_int_equal(pthread_barrier_init(&w.barrier, NULL, (unsigned)R), 0);
    for (int r = 0; r < R; r++) {
        jobs[r] = (job){.ctx = {&w, r}, .train = train, .eval = eval, .cfg = cfgs[r],
                        .net = make()};
        jobs[r].par = (bp_parallel){.rank = r, .ranks = R, .sum = thread_sum, .ctx = &jobs[r].ctx};
        jobs[r].cfg.parallel = &jobs[r].par;
    }
    for (int r = 0; r < R; r++)
        assert_int_equal(pthread_create(&th[r], NULL, run_rank, &jobs[r]), 0);
    for (int r = 0; r < R; r++)
        assert_int_equal(pthread_join(th[r], NULL), 0);
    pthread_barrier_destroy(&w.barrier);
}

/* Train a copy of make_net() on each of R threads with cfg and the hook; jobs[r] holds rank r. */
static void run_world(int R, const bp_train_config *cfg, const bp_dataset *train,
                      const bp_dataset *eval, job *jobs)
{
    bp_train_config cfgs[3] = {*cfg, *cfg, *cfg};
    run_ranks(R, cfgs, make_net, train, eval, jobs);
}

static const float *params_of(const bp_net *net)
{
    const float *p = NULL;
    bpt_ok(bp_net_params_const(net, &p));
    return p;
}

/* ---------------------------------------------------------------- tests */

static void ranks_equal_one_process(void **state)
{
    (void)state;
    bp_dataset train = make_data(61, 1), eval = make_data(23, 2);
    job jobs[3];
    for (int R = 1; R <= 3; R++)
        for (int B = 8; B <= 9; B++)
            for (int run = 0; run < 3; run++) { /* SGD, Adam, Adam with dropout */
                int adam = run > 0, drop = run == 2;
                bp_train_config cfg = {.epochs = 3, .batch_size = B, .seed = 5,
                                       .optim = {.kind = adam ? BP_OPT_ADAM : BP_OPT_SGD,
                                                 .eta = adam ? 0.01f : 0.5f},
                                       .dropout = {drop ? 0.1f : 0, drop ? 0.3f : 0}};
                bp_net *one = make_net();
                size_t P = bpt_num_params(one);
                bpt_ok(bp_train(one, &train, &eval, &cfg, NULL));
                double loss, acc;
                long conf[9];
                bpt_ok(bp_evaluate(one, &eval, &loss, &acc, conf));
                run_world(R, &cfg, &train, &eval, jobs);
                for (int r = 0; r < R; r++) {
                    bpt_ok(jobs[r].train_st);
                    bpt_ok(jobs[r].eval_st);
                    if (R == 1)
                        assert_memory_equal(params_of(jobs[r].net), params_of(one),
                                            P * sizeof(float));
                    bpt_assert_close_vec("R ranks vs one process", params_of(jobs[r].net),
                                         params_of(one), P, 1e-5, 1e-5);
                    assert_memory_equal(params_of(jobs[r].net), params_of(jobs[0].net),
                                        P * sizeof(float));
                }
                /* the evaluation of the (identical) ranks' network, sharded, against one pass */
                bpt_ok(bp_evaluate(jobs[0].net, &eval, &loss, &acc, conf));
                for (int r = 0; r < R; r++) {
                    assert_true(jobs[r].accuracy == acc);
                    assert_memory_equal(jobs[r].confusion, conf, sizeof conf);
                    bpt_assert_close_scalar("sharded loss", jobs[r].loss, loss, 0, 1e-6);
                }
                for (int r = 0; r < R; r++)
                    bp_net_free(jobs[r].net);
                bp_net_free(one);
            }
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* cfg trained on W ranks (each evaluating rank_eval) against one process of W workers: the same
 * bits on every rank; and the negative twin, W ranks of 2 workers each (each rank's share split
 * again): the same training up to rounding but other bits. */
static void check_workers_are_ranks(int W, const bp_train_config *cfg, bp_net *(*make)(void),
                                    const bp_dataset *train, const bp_dataset *rank_eval,
                                    const bp_dataset *eval)
{
    job jobs[3];
    bp_train_config cfgs[3] = {*cfg, *cfg, *cfg}, one_cfg = *cfg;
    run_ranks(W, cfgs, make, train, rank_eval, jobs);
    one_cfg.workers = W;
    bp_net *one = make();
    size_t P = bpt_num_params(one);
    bpt_ok(bp_train(one, train, eval, &one_cfg, NULL));
    for (int r = 0; r < W; r++) {
        bpt_ok(jobs[r].train_st);
        assert_memory_equal(params_of(jobs[r].net), params_of(one), P * sizeof(float));
        bp_net_free(jobs[r].net);
    }
    for (int r = 0; r < W; r++)
        cfgs[r].workers = 2;
    run_ranks(W, cfgs, make, train, rank_eval, jobs);
    for (int r = 0; r < W; r++) {
        bpt_ok(jobs[r].train_st);
        assert_true(memcmp(params_of(jobs[r].net), params_of(one), P * sizeof(float)));
        bpt_assert_close_vec("ranks of workers", params_of(jobs[r].net), params_of(one), P, 1e-5,
                             1e-5);
        bp_net_free(jobs[r].net);
    }
    bp_net_free(one);
}

/* W workers in one process are W ranks (whose sum adds the blocks in rank order) bit for bit, for
 * SGD and Adam, a batch W divides or not, without and with dropout (each worker, as each rank,
 * draws the masks of its own columns of the batch); W ranks of 2 workers each (each rank's share
 * split again) are the same training up to rounding but other bits. */
static void workers_equal_ranks(void **state)
{
    (void)state;
    bp_dataset train = make_data(61, 1), eval = make_data(23, 2);
    for (int W = 2; W <= 3; W++)
        for (int B = 8; B <= 9; B++)
            for (int run = 0; run < 3; run++) { /* SGD, Adam, Adam with dropout */
                int adam = run > 0, drop = run == 2;
                bp_train_config cfg = {.epochs = 3, .batch_size = B, .seed = 5,
                                       .optim = {.kind = adam ? BP_OPT_ADAM : BP_OPT_SGD,
                                                 .eta = adam ? 0.01f : 0.5f},
                                       .dropout = {drop ? 0.1f : 0, drop ? 0.3f : 0}};
                check_workers_are_ranks(W, &cfg, make_net, &train, &eval, &eval);
            }
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

/* A one-output network for the force loss, and E = |x|^2 / 2, F = -x on count samples of
 * [-1, 1)^4 (targets [E; F]). */
static bp_net *make_energy_net(void)
{
    static const int sizes[] = {4, 6, 1};
    static const bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    bp_net *net = bpt_net(3, sizes, acts, BP_QUADRATIC);
    bpt_ok(bp_net_init(net, BP_INIT_XAVIER, 3));
    return net;
}

static bp_dataset make_energy_data(int count, uint64_t seed)
{
    bpt_rng r = bpt_rng_make(seed);
    bp_dataset ds = {count, 4, 5, bpt_matrix(&r, 4, count, 4, -1, 1, 0),
                     malloc((size_t)count * 5 * sizeof(float)), NULL};
    assert_non_null(ds.y);
    for (int j = 0; j < count; j++) {
        const float *x = ds.x + (size_t)j * 4;
        float *y = ds.y + (size_t)j * 5;
        y[0] = 0.5f * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3]);
        for (int i = 0; i < 4; i++)
            y[1 + i] = -x[i];
    }
    return ds;
}

/* Training on forces (targets [E; F] of make_energy_data): W workers in one process are W ranks
 * bit for bit, for SGD and Adam, a batch W divides or not, as for the plain loss above; W ranks
 * of 2 workers each are the same training up to rounding but other bits. */
static void force_workers_equal_ranks(void **state)
{
    (void)state;
    bp_dataset train = make_energy_data(61, 1), eval = make_energy_data(23, 2);
    for (int W = 2; W <= 3; W++)
        for (int B = 8; B <= 9; B++)
            for (int adam = 0; adam <= 1; adam++) {
                bp_train_config cfg = {.epochs = 3, .batch_size = B, .seed = 5,
                                       .optim = {.kind = adam ? BP_OPT_ADAM : BP_OPT_SGD,
                                                 .eta = adam ? 0.01f : 0.1f},
                                       .forces = 1, .energy_weight = 1, .force_weight = 0.5f};
                check_workers_are_ranks(W, &cfg, make_energy_net, &train, NULL, &eval);
            }
    bpt_dataset_release(&train);
    bpt_dataset_release(&eval);
}

static int never_stop(const bp_progress *p, void *user)
{
    (void)p, (void)user;
    return 0;
}

/* Two ranks, rank 1 with a config of its own, and whether each returned want with the parameters
 * it started from (refused before the first epoch) and a message naming the configuration. */
static void two_ranks_refuse(const bp_train_config *cfgs, bp_net *(*make)(void),
                             const bp_dataset *train, const bp_dataset *eval, const char *what)
{
    job jobs[2];
    bp_net *fresh = make();
    size_t P = bpt_num_params(fresh);
    run_ranks(2, cfgs, make, train, eval, jobs);
    for (int r = 0; r < 2; r++) {
        if (jobs[r].train_st != BP_EMISMATCH || !strstr(jobs[r].error, "training configuration"))
            fail_msg("ranks differing in %s: rank %d returned %s: %s", what, r,
                     bp_strerror(jobs[r].train_st), jobs[r].error);
        assert_memory_equal(params_of(jobs[r].net), params_of(fresh), P * sizeof(float));
        bp_net_free(jobs[r].net);
    }
    bp_net_free(fresh);
}

/* Ranks that differ in any field of the training's configuration (the optimizer's, the schedule's,
 * patience, the dropout rates, the force weights) are refused at epoch 0, before any step: the
 * gradient is summed over them, so the parameters would never diverge to show it. Ranks that
 * differ only in what is each rank's own (workers, the progress callback) train. */
static void ranks_of_other_configs_refused(void **state)
{
    (void)state;
    bp_dataset train = make_data(40, 1), eval = make_data(12, 2);
    bp_dataset energy = make_energy_data(24, 3);
    const bp_train_config base = {.epochs = 2, .batch_size = 8, .seed = 5,
                                  .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                                  .schedule = {.kind = BP_LR_STEP, .step_epochs = 1,
                                               .gamma = 0.5f}};
    enum { FIELDS = 15 };
    for (int f = 0; f < FIELDS; f++) {
        bp_train_config cfgs[2] = {base, base}, *c = &cfgs[1];
        bp_optim_config *o = &c->optim;
        const char *what[FIELDS] = {"kind",  "eta",      "lambda",   "mu",       "beta1",
                                    "beta2", "epsilon",  "clip",     "decay",    "schedule",
                                    "steps", "gamma",    "patience", "dropout",  "eta_min"};
        switch (f) {
        case 0: o->kind = BP_OPT_MOMENTUM; break;
        case 1: o->eta = 0.02f; break;
        case 2: o->lambda = 0.1f; break;
        case 3: o->mu = 0.5f; break;
        case 4: o->beta1 = 0.8f; break;
        case 5: o->beta2 = 0.99f; break;
        case 6: o->epsilon = 1e-6f; break;
        case 7: o->clip_norm = 1; break;
        case 8: o->weight_decay = 0.01f; break;
        case 9: c->schedule.kind = BP_LR_CONSTANT; break;
        case 10: c->schedule.step_epochs = 2; break;
        case 11: c->schedule.gamma = 0.25f; break;
        case 12: c->patience = 3; break;
        case 13: c->dropout[1] = 0.3f, cfgs[0].dropout[1] = 0.1f; break;
        default: cfgs[0].schedule.kind = c->schedule.kind = BP_LR_COSINE, c->schedule.eta_min =
                     1e-4f;
        }
        two_ranks_refuse(cfgs, make_net, &train, &eval, what[f]);
    }
    for (int f = 0; f < 2; f++) { /* forces: the weight of either term */
        bp_train_config cfgs[2] = {base, base};
        for (int r = 0; r < 2; r++)
            cfgs[r].forces = 1, cfgs[r].energy_weight = 1, cfgs[r].force_weight = 1;
        *(f ? &cfgs[1].force_weight : &cfgs[1].energy_weight) = 2;
        two_ranks_refuse(cfgs, make_energy_net, &energy, NULL, f ? "w_F" : "w_E");
    }
    /* the negative twin: workers and the callback are each rank's own */
    bp_train_config cfgs[2] = {base, base};
    cfgs[1].workers = 2, cfgs[1].progress = never_stop;
    job jobs[2];
    run_ranks(2, cfgs, make_net, &train, &eval, jobs);
    for (int r = 0; r < 2; r++) {
        bpt_ok(jobs[r].train_st);
        bp_net_free(jobs[r].net);
    }
    bpt_dataset_release(&train), bpt_dataset_release(&eval), bpt_dataset_release(&energy);
}

static bp_status failing_sum(void *data, size_t count, bp_reduce_type type, void *ctx)
{
    (void)data, (void)count, (void)type, (void)ctx;
    return BP_EIO;
}

static void hook_errors(void **state)
{
    (void)state;
    bp_dataset train = make_data(20, 3);
    bp_net *net = make_net();
    rank_ctx unused = {NULL, 0};
    bp_parallel par = {.rank = 0, .ranks = 1, .sum = thread_sum, .ctx = &unused};
    bp_train_config cfg = {.epochs = 1, .batch_size = 4, .seed = 1,
                           .optim = {.kind = BP_OPT_SGD, .eta = 0.1f}, .parallel = &par};
    double loss, acc;
    par.rank = 1;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "rank");
    bpt_assert_status(bp_evaluate_parallel(net, &train, &par, &loss, &acc, NULL), BP_EDIM, "rank");
    par.rank = 0;
    par.ranks = 0;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EDIM, "ranks");
    par.ranks = 1;
    par.sum = NULL;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_ENULL, "sum");
    par.sum = failing_sum;
    bpt_assert_status(bp_train(net, &train, NULL, &cfg, NULL), BP_EIO, "sum over ranks");
    bpt_assert_status(bp_evaluate_parallel(net, &train, &par, &loss, &acc, NULL), BP_EIO,
                      "sum over ranks");
    bp_net_free(net);
    bpt_dataset_release(&train);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranks_equal_one_process),
        cmocka_unit_test(workers_equal_ranks),
        cmocka_unit_test(force_workers_equal_ranks),
        cmocka_unit_test(ranks_of_other_configs_refused),
        cmocka_unit_test(hook_errors),
    };
    return cmocka_run_group_tests_name("parallel", tests, NULL, NULL);
}
