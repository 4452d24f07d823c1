/* Worker threads of the library's own (bp_team): a call splits a mini-batch's columns into N
 * shares exactly as the ranks of a data-parallel run split theirs (bp__share: share w is
 * [w*b/N, (w+1)*b/N)), each share with its own workspace and gradient block, and sums the blocks
 * in share order, so the result depends on N, never on timing nor on which thread ran which
 * share. The N - 1 threads are started once by bp_team_create and wait on a condition variable
 * between calls (after a watch of at most WATCH_NS: the machine may be shared). A call wakes them
 * and the calling thread and the workers claim the shares one at a time until none is left; the
 * call returns when
 * all are done. So a worker the scheduler keeps off the cores (a loaded machine) costs the call
 * at most the share it claimed: its unclaimed shares are run by the threads that are running.
 * BLAS runs at one thread inside a call (bp__blas_threads_single). With dropout each share draws
 * the masks of its own global columns (bp_gradient_dropout's first), so the masks do not depend
 * on N either. The sum of the blocks and the optimizer's step (bp_team_optim_step) run in rounds
 * of their own, the threads claiming N fixed slices of the parameter block as they claim shares:
 * every element is added (or updated) as one pass over the whole block would, so the bits are
 * those of the calling thread alone doing it; the step's dry runs form one round and its updates
 * the next, so a refused step changes no slice. For bp_train (bp__team_gradient_checked) the sum
 * and the dry run share a round: each thread adds up a slice of the blocks and dry-runs it while
 * it is in cache; with plain SGD it also updates each chunk that passes, keeping the old values
 * to restore them all if any chunk is refused. */
#include "blas_info.h"
#include "kernels.h"
#include "workspace.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

/* One share's own state: its workspace and block, its columns of the call in progress and what
 * was found. Only the thread that claimed the share writes it during a call; the caller reads it
 * after the call. */
typedef struct lane {
    int index;      /* which share: its columns are those of rank index of workers ranks */
    bp_workspace *ws;
    float *grad;    /* its gradient block (share 0 writes the caller's block instead) */
    int lo, hi;     /* its columns of the call in progress */
    double cost;    /* summed cost of its columns */
    long correct;   /* evaluation: correct predictions among them */
    double sse;     /* evaluation: squared error of their predictions in the data's units */
    float *masks;   /* bp_team_set_dropout: its workspace's new masks until all are allocated */
    int refused;    /* the optimizer's step: the first layer its slice would make non-finite */
    size_t taken;   /* sum_take_task: its slice's parameters updated up to here */
    bp_status status;
    char why[192];  /* bp_last_error() of its failure (the message is thread-local) */
} lane;

typedef void (*team_task)(bp_team *team, lane *me);

struct bp_team {
    int workers;
    int max_batch;
    int share_max;              /* the largest share of max_batch: the workspaces' batch */
    int num_layers, sizes[BP_MAX_LAYERS]; /* the network shape it was made for */
    size_t num_params;
    lane *lanes;
    pthread_t *threads;         /* workers - 1 of them: the caller is the other */
    int started;                /* threads running */
    int synced;                 /* lock, go and done initialised */
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    unsigned long round;        /* calls so far */
    int next;                   /* the next share of this round to claim; workers: none left */
    unsigned long finished;     /* shares of this round done */
    int quit;
    team_task task;
    /* the call in progress */
    const bp_net *net;
    int batch, ldx, ldy;
    const float *X, *Y;
    float *out; /* the caller's gradient block, share 0's */
    const bp_dataset *ds;
    int first; /* the first sample (evaluation) or column (dropout) of what the workers split */
    int sse;   /* evaluation: whether the lanes add up their squared errors */
    const bp_train_config *eval_forces; /* evaluation: the force loss of these weights, or NULL */
    int tangent;         /* the workspaces are tangent ones (bp_team_create_tangent) */
    const bp__force_batch *forces; /* the call's force loss (its E, F and weights), or NULL */
    int dropout;         /* the gradient applies the workspaces' dropout rates ... */
    uint64_t key, step;  /* ... with the masks of this key and step */
    bp__team_filler fill; /* bp__team_fill: what writes a share's columns of X and Y first */
    void *fill_ctx;
    bp_optim *opt;       /* the optimizer's step: its optimizer, network, gradient and plan */
    bp_net *step_net;
    const float *step_grad;
    bp__optim_plan plan;
    int kept;            /* bp__team_gradient_checked: STEP_CHECKED, STEP_UNCHECKED, or 0 */
    int taken;           /* STEP_CHECKED: the slices were updated as they passed (sum_take_task) */
    int step_m;          /* STEP_UNCHECKED: the batch, set size and rate of the step to take */
    long step_n;
    float step_eta;
};

/* What bp__team_gradient_checked kept: a step whose slices are dry-run (the plan begun), or, with
 * clipping, a step still to run whole. */
enum { STEP_CHECKED = 1, STEP_UNCHECKED };

/* How long a thread that waits for the next round (a worker) or for the others' shares (the
 * caller) watches for it before it sleeps on the condition variable. A step is several rounds
 * (the gradient, the sum, the dry run, the update) a few hundred microseconds apart or less, and
 * waking a sleeping thread costs tens of microseconds on a virtual machine, on the critical path
 * at every round; a short watch spares that within a step and between steps, and an idle team
 * still sleeps after it (the machine may be shared). */
#define WATCH_NS 100000L

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* Watch *v, without the lock, for at most WATCH_NS until done(value) holds; called and returning
 * with t->lock held (the caller rechecks under it, and sleeps if it still must). The counters are
 * written under the lock with atomic stores, so these atomic loads race with nothing. */
static void watch(bp_team *t, const unsigned long *v, unsigned long until_not, int until_equal)
{
    pthread_mutex_unlock(&t->lock);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int spins = 1;; spins++) {
        unsigned long x = __atomic_load_n(v, __ATOMIC_ACQUIRE);
        if (until_equal ? x == until_not : x != until_not)
            break;
        if (__atomic_load_n(&t->quit, __ATOMIC_ACQUIRE) ||
            (spins % 64 == 0 && elapsed_ns(&start) > WATCH_NS))
            break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&t->lock);
}

/* Run the round's task on the shares still unclaimed, one at a time, until none is left; called
 * and returning with t->lock held. Returns whether this thread finished the round's last share. */
static int claim_shares(bp_team *t)
{
    int last = 0;
    while (t->next < t->workers) {
        lane *share = &t->lanes[t->next++];
        team_task task = t->task;
        pthread_mutex_unlock(&t->lock);
        task(t, share);
        pthread_mutex_lock(&t->lock);
        __atomic_store_n(&t->finished, t->finished + 1, __ATOMIC_RELEASE);
        last = t->finished == (unsigned long)t->workers;
    }
    return last;
}

static void *worker_main(void *arg)
{
    bp_team *t = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        if (t->round == seen && !t->quit)
            watch(t, &t->round, seen, 0);
        while (t->round == seen && !t->quit)
            pthread_cond_wait(&t->go, &t->lock);
        if (t->quit)
            break;
        seen = t->round;
        if (claim_shares(t))
            pthread_cond_signal(&t->done);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* task on every share, by this thread and the workers; returns when all shares are done. */
static void team_run(bp_team *t, team_task task)
{
    pthread_mutex_lock(&t->lock);
    t->task = task;
    t->next = 0;
    __atomic_store_n(&t->finished, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&t->round, t->round + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&t->go);
    claim_shares(t);
    if (t->finished < (unsigned long)t->workers)
        watch(t, &t->finished, (unsigned long)t->workers, 1);
    while (t->finished < (unsigned long)t->workers)
        pthread_cond_wait(&t->done, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

/* Start the N - 1 worker threads with every signal blocked, so that the application's handlers
 * run on its own threads and no system call of the caller is interrupted on their account. */
static bp_status team_start(bp_team *t)
{
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return bp__fail(BP_ENOMEM, "cannot create the workers' mutex");
    if (pthread_cond_init(&t->go, NULL) != 0) {
        pthread_mutex_destroy(&t->lock);
        return bp__fail(BP_ENOMEM, "cannot create the workers' condition variable");
    }
    if (pthread_cond_init(&t->done, NULL) != 0) {
        pthread_cond_destroy(&t->go);
        pthread_mutex_destroy(&t->lock);
        return bp__fail(BP_ENOMEM, "cannot create the workers' condition variable");
    }
    t->synced = 1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    while (t->started < t->workers - 1 && !err)
        if (!(err = pthread_create(&t->threads[t->started], NULL, worker_main, t)))
            t->started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err ? bp__fail(BP_ENOMEM, "cannot start worker thread %d of %d: %s", t->started + 1,
                          t->workers - 1, strerror(err))
               : BP_OK;
}

void bp_team_free(bp_team *t)
{
    if (!t)
        return;
    if (t->synced) {
        pthread_mutex_lock(&t->lock);
        __atomic_store_n(&t->quit, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&t->go);
        pthread_mutex_unlock(&t->lock);
        for (int i = 0; i < t->started; i++)
            pthread_join(t->threads[i], NULL);
        pthread_cond_destroy(&t->done);
        pthread_cond_destroy(&t->go);
        pthread_mutex_destroy(&t->lock);
    }
    for (int w = 0; t->lanes && w < t->workers; w++) {
        bp_workspace_free(t->lanes[w].ws);
        bp__free(t->lanes[w].grad);
    }
    bp__free(t->lanes);
    bp__free(t->threads);
    bp__free(t);
}

/* The workspaces and gradient blocks of t (shape and sizes set). */
static bp_status team_alloc(bp_team *t, const bp_net *net)
{
    t->lanes = bp__calloc((size_t)t->workers, sizeof *t->lanes);
    t->threads = bp__calloc((size_t)t->workers, sizeof *t->threads);
    if (!t->lanes || !t->threads)
        return bp__fail(BP_ENOMEM, "the workers' table");
    t->share_max = t->max_batch / t->workers + (t->max_batch % t->workers != 0);
    for (int w = 0; w < t->workers; w++) {
        lane *ln = &t->lanes[w];
        *ln = (lane){.index = w};
        bp_status st = t->tangent ? bp_workspace_create_tangent(&ln->ws, net, t->share_max)
                                  : bp_workspace_create(&ln->ws, net, t->share_max);
        if (st)
            return st;
        if (w > 0 && !(ln->grad = bp__calloc(net->num_params, sizeof *ln->grad)))
            return bp__fail(BP_ENOMEM, "the gradient block of share %d", w);
    }
    return BP_OK;
}

static bp_status team_create(bp_team **out, const bp_net *net, int workers, int max_batch,
                             int tangent)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (workers < 1 || workers > BP_MAX_WORKERS)
        return bp__fail(BP_EDIM, "workers is %d, not in 1..%d", workers, BP_MAX_WORKERS);
    if (max_batch < 1)
        return bp__fail(BP_EDIM, "max_batch is %d, must be >= 1", max_batch);
    bp_team *t = bp__calloc(1, sizeof *t);
    if (!t)
        return bp__fail(BP_ENOMEM, "team");
    t->workers = workers;
    t->max_batch = max_batch;
    t->tangent = tangent;
    t->num_layers = net->num_layers;
    memcpy(t->sizes, net->sizes, sizeof t->sizes);
    t->num_params = net->num_params;
    bp_status st = team_alloc(t, net);
    if (!st)
        st = team_start(t);
    if (st) {
        bp_team_free(t);
        return st;
    }
    *out = t;
    return BP_OK;
}

bp_status bp_team_create(bp_team **out, const bp_net *net, int workers, int max_batch)
{
    return team_create(out, net, workers, max_batch, 0);
}

bp_status bp_team_create_tangent(bp_team **out, const bp_net *net, int workers, int max_batch)
{
    return team_create(out, net, workers, max_batch, 1);
}

bp_status bp_team_workers(const bp_team *team, int *workers)
{
    bp__clear_error();
    if (!team || !workers)
        return bp__fail(BP_ENULL, "%s is NULL", team ? "workers" : "team");
    *workers = team->workers;
    return BP_OK;
}

/* team and net present, of one shape, and net's layers keeping z where the team's workspaces do
 * (bp__check_pair): checked here, before any share runs and writes its block. */
static bp_status check_team(const bp_team *t, const bp_net *net)
{
    if (!t || !net)
        return bp__fail(BP_ENULL, "%s is NULL", t ? "net" : "team");
    if (t->num_layers != net->num_layers ||
        memcmp(t->sizes, net->sizes, (size_t)net->num_layers * sizeof *net->sizes) != 0)
        return bp__fail(BP_EMISMATCH, "the team was made for a network of another shape");
    return bp__check_pair(net, t->lanes[0].ws);
}

/* Share me's columns [lo, hi) of n, as bp__share gives rank me->index of workers ranks. */
static void lane_share(const bp_team *t, lane *me, int n)
{
    bp_parallel as_ranks = {.rank = me->index, .ranks = t->workers};
    bp__share(n, &as_ranks, &me->lo, &me->hi);
    me->cost = 0;
    me->correct = 0;
    me->sse = 0;
    me->status = BP_OK;
}

static void lane_failed(lane *me, bp_status st)
{
    me->status = st;
    snprintf(me->why, sizeof me->why, "%s", bp_last_error());
}

/* The first failure among the shares, in share order, made the caller's. */
static bp_status team_status(const bp_team *t)
{
    for (int w = 0; w < t->workers; w++)
        if (t->lanes[w].status)
            return bp__fail(t->lanes[w].status, "share %d of the workers: %s", w, t->lanes[w].why);
    return BP_OK;
}

/* ---------------------------------------------------------------- the gradient */

/* The force loss's gradient of share me (bp_gradient_forces on its columns, X its first). */
static bp_status share_forces(const bp_team *t, lane *me, const float *X, float *g)
{
    const bp__force_batch *f = t->forces;
    size_t lo = (size_t)me->lo;
    return bp_gradient_forces(t->net, me->ws, me->hi - me->lo, X, t->ldx,
                              f->E + lo * (size_t)f->lde, f->lde, f->F + lo * (size_t)f->ldf,
                              f->ldf, f->w_energy, f->w_force, g, &me->cost);
}

static void gradient_task(bp_team *t, lane *me)
{
    lane_share(t, me, t->batch);
    float *g = me->index == 0 ? t->out : me->grad;
    int n = me->hi - me->lo;
    if (n == 0) { /* a share without columns adds zeros, as a rank without one does */
        memset(g, 0, t->num_params * sizeof *g);
        return;
    }
    if (t->fill)
        t->fill(t->fill_ctx, me->lo, me->hi);
    const float *X = t->X + (size_t)me->lo * (size_t)t->ldx;
    const float *Y = t->Y + (size_t)me->lo * (size_t)t->ldy;
    bp_status st = t->forces    ? share_forces(t, me, X, g)
                   : t->dropout ? bp_gradient_dropout(t->net, me->ws, t->key, t->step,
                                                      t->first + me->lo, n, X, t->ldx, Y, t->ldy,
                                                      g, &me->cost)
                                : bp_gradient_batch(t->net, me->ws, n, X, t->ldx, Y, t->ldy, g,
                                                    &me->cost);
    if (st)
        lane_failed(me, st);
}

/* Slice w's first parameter: w floor(num_params / N) rounded down to 16 floats (a 64-byte line,
 * so that no two slices share one), num_params for w = N. The slices tile the parameters. */
static size_t slice_edge(const bp_team *t, int w)
{
    if (w == t->workers)
        return t->num_params;
    return t->num_params / (size_t)t->workers * (size_t)w & ~(size_t)15;
}

/* Elements [lo, hi) of the gradient: the caller's block (share 0's) plus the other shares'
 * blocks, added in share order, as one pass over the whole block adds them: the same bits. */
static void add_blocks(bp_team *t, size_t lo, size_t hi)
{
    for (int w = 1; w < t->workers; w++)
        bp__loops_axpy(hi - lo, 1.0f, t->lanes[w].grad + lo, t->out + lo);
}

static void sum_task(bp_team *t, lane *me)
{
    add_blocks(t, slice_edge(t, me->index), slice_edge(t, me->index + 1));
}

/* The elements a thread adds up, then dry-runs (with plain SGD: and updates), before it moves on:
 * 2048 floats of each block, of the parameters and of the optimizer's state or the copy stay in
 * the first-level cache meanwhile (8 KiB each; 32 KiB on the machines measured). Measured on
 * 784-256-128-10 at B = 128, 2 workers, SGD: the round took 10-15 % less processor time in chunks
 * of 2048 to 16384 floats (alike within the noise) than in passes over the whole slice. */
#define FUSED_CHUNK ((size_t)2048)

/* Slice me->index of the gradient summed as sum_task sums it, and the step's dry run of that
 * slice, chunk by chunk in order: the first chunk refused holds the slice's lowest refused layer
 * (the layers are in order), and the sum is completed regardless, for the caller's block. */
static void sum_check_task(bp_team *t, lane *me)
{
    size_t lo = slice_edge(t, me->index), hi = slice_edge(t, me->index + 1);
    me->refused = 0;
    for (size_t c = lo, e; c < hi; c = e) {
        e = hi - c > FUSED_CHUNK ? c + FUSED_CHUNK : hi;
        add_blocks(t, c, e);
        if (!me->refused)
            me->refused = bp__optim_refuses(t->opt, t->step_net, t->out, c, e, &t->plan);
    }
}

/* sum_check_task that also takes plain SGD's step (which keeps no state) chunk by chunk as each
 * passes its dry run, while the chunk is in cache, the old parameters first copied into share 1's
 * block, whose chunk is summed and free: one round for the sum, the check and the update. A slice
 * stops updating at its first refused chunk; a refused (or dropped) step then restores the
 * updated part of every slice from the copy (undo_task): the same outcome as a dry run of all
 * slices before any update. Needs N >= 2 (share 1's block). */
static void sum_take_task(bp_team *t, lane *me)
{
    size_t lo = slice_edge(t, me->index), hi = slice_edge(t, me->index + 1);
    float *theta = t->step_net->params, *copy = t->lanes[1].grad;
    me->refused = 0;
    me->taken = lo;
    for (size_t c = lo, e; c < hi; c = e) {
        e = hi - c > FUSED_CHUNK ? c + FUSED_CHUNK : hi;
        add_blocks(t, c, e);
        if (me->refused ||
            (me->refused = bp__optim_refuses(t->opt, t->step_net, t->out, c, e, &t->plan)))
            continue;
        memcpy(copy + c, theta + c, (e - c) * sizeof *theta);
        bp__optim_apply(t->opt, t->step_net, t->out, c, e, &t->plan);
        me->taken = e;
    }
}

static void undo_task(bp_team *t, lane *me)
{
    size_t lo = slice_edge(t, me->index);
    memcpy(t->step_net->params + lo, t->lanes[1].grad + lo,
           (me->taken - lo) * sizeof *t->step_net->params);
}

/* The arguments of the team's gradients (drop: those of bp_team_gradient_dropout, or NULL). */
static bp_status check_gradient(const bp_team *team, const bp__team_masks *drop, const bp_net *net,
                                int batch, const float *X, int ldx, const float *Y, int ldy,
                                const float *grad)
{
    bp_status st = check_team(team, net);
    if (st)
        return st;
    if (batch < 1)
        return bp__fail(BP_EDIM, "batch is %d, must be >= 1", batch);
    if (batch > team->max_batch)
        return bp__fail(BP_EBATCH, "batch %d exceeds the team's max_batch %d", batch,
                        team->max_batch);
    if ((st = bp__check_matrix("X (ldx)", X, net->sizes[0], ldx)) ||
        (st = bp__check_matrix("Y (ldy)", Y, net->sizes[net->num_layers - 1], ldy)))
        return st;
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    if (drop && (drop->first < 0 || drop->first > INT_MAX - batch))
        return bp__fail(BP_EDIM, "first column %d: must be >= 0, first + batch <= INT_MAX",
                        drop->first);
    return BP_OK;
}

/* The gradient of checked arguments (with drop, bp_team_gradient_dropout's), then, if the
 * shares' gradients are all computed, the round of sum (NULL: none) over the slices. */
static bp_status run_gradient(bp_team *team, const bp__team_masks *drop, const bp_net *net,
                              int batch, const float *X, int ldx, const float *Y, int ldy,
                              float *grad, double *cost, team_task sum)
{
    bp_status st;
    team->net = net;
    team->batch = batch;
    team->X = X;
    team->ldx = ldx;
    team->Y = Y;
    team->ldy = ldy;
    team->out = grad;
    team->dropout = drop != NULL;
    if (drop) {
        team->key = drop->key;
        team->step = drop->step;
        team->first = drop->first;
    }
    int threads = bp__blas_threads_single();
    team_run(team, gradient_task);
    bp__blas_threads_restore(threads);
    team->forces = NULL; /* set by the call that wanted it, for that call alone */
    if ((st = team_status(team)))
        return st;
    if (sum)
        team_run(team, sum);
    double total = team->lanes[0].cost;
    for (int w = 1; w < team->workers; w++) /* in share order: the same bits on every run */
        total += team->lanes[w].cost;
    if (cost)
        *cost = total;
    return BP_OK;
}

/* bp_team_gradient, or with drop bp_team_gradient_dropout. */
static bp_status team_gradient(bp_team *team, const bp__team_masks *drop, const bp_net *net,
                               int batch, const float *X, int ldx, const float *Y, int ldy,
                               float *grad, double *cost)
{
    bp__clear_error();
    bp_status st = check_gradient(team, drop, net, batch, X, ldx, Y, ldy, grad);
    if (st)
        return st;
    team->kept = 0;
    return run_gradient(team, drop, net, batch, X, ldx, Y, ldy, grad, cost,
                        team->workers > 1 ? sum_task : NULL);
}

bp_status bp_team_gradient(bp_team *team, const bp_net *net, int batch, const float *X, int ldx,
                           const float *Y, int ldy, float *grad, double *cost)
{
    return team_gradient(team, NULL, net, batch, X, ldx, Y, ldy, grad, cost);
}

bp_status bp_team_gradient_dropout(bp_team *team, const bp_net *net, uint64_t key, uint64_t step,
                                   int first, int batch, const float *X, int ldx, const float *Y,
                                   int ldy, float *grad, double *cost)
{
    bp__team_masks drop = {key, step, first};
    return team_gradient(team, &drop, net, batch, X, ldx, Y, ldy, grad, cost);
}

/* The arguments of bp_team_gradient_forces: fb's as bp_gradient_forces checks them, the team's
 * as bp_team_gradient checks them. */
static bp_status check_forces(const bp_team *team, const bp_net *net, const bp__force_batch *fb,
                              const float *grad)
{
    bp_status st = check_team(team, net);
    if (st || (st = bp__check_forces(net, fb)))
        return st;
    if (fb->batch > team->max_batch)
        return bp__fail(BP_EBATCH, "batch %d exceeds the team's max_batch %d", fb->batch,
                        team->max_batch);
    if (!grad)
        return bp__fail(BP_ENULL, "grad is NULL");
    if (fb->w_force > 0 && !team->tangent)
        return bp__fail(BP_EMISMATCH, "w_force > 0 needs a team made by bp_team_create_tangent");
    return BP_OK;
}

bp_status bp_team_gradient_forces(bp_team *team, const bp_net *net, int batch, const float *X,
                                  int ldx, const float *E, int lde, const float *F, int ldf,
                                  float w_energy, float w_force, float *grad, double *loss)
{
    bp__clear_error();
    bp__force_batch fb = {batch, X, ldx, E, lde, F, ldf, w_energy, w_force};
    bp_status st = check_forces(team, net, &fb, grad);
    if (st)
        return st;
    team->kept = 0;
    team->forces = &fb;
    return run_gradient(team, NULL, net, batch, X, ldx, E, lde, grad, loss,
                        team->workers > 1 ? sum_task : NULL);
}

/* Every workspace's masks are allocated before any is replaced: the rates of all or of none. */
bp_status bp_team_set_dropout(bp_team *team, const float *rates)
{
    bp__clear_error();
    if (!team)
        return bp__fail(BP_ENULL, "team is NULL");
    bp_status st = bp__check_dropout(team->num_layers, rates);
    for (int w = 0; w < team->workers && !st; w++)
        st = bp__dropout_alloc(team->lanes[w].ws, rates, &team->lanes[w].masks);
    for (int w = 0; w < team->workers; w++) {
        if (st)
            bp__free(team->lanes[w].masks);
        else
            bp__dropout_install(team->lanes[w].ws, rates, team->lanes[w].masks);
        team->lanes[w].masks = NULL;
    }
    return st;
}

void bp__team_fill(bp_team *t, bp__team_filler fill, void *ctx)
{
    t->fill = fill;
    t->fill_ctx = ctx;
}

const bp_workspace *bp__team_lane(const bp_team *t, int w, int *lo, int *hi)
{
    *lo = t->lanes[w].lo;
    *hi = t->lanes[w].hi;
    return t->lanes[w].ws;
}

/* ---------------------------------------------------------------- evaluation */

/* The summed cost of b samples of t's evaluation (X, Y: their first), on me's workspace: the
 * force loss of t->eval_forces' weights (raw data, its targets [E*; F*]), else bp__evaluate_chunk
 * (scaled as bp_train scales) with, if t->sse, the squared error in the data's units. */
static bp_status evaluate_chunk(const bp_team *t, lane *me, int b, const float *X, const float *Y,
                                double *c)
{
    const bp_train_config *f = t->eval_forces;
    int n1 = t->ds->n_features, nt = t->ds->n_targets;
    if (f)
        return bp__force_loss(t->net, me->ws,
                              &(bp__force_batch){b, X, n1, Y, nt, Y + 1, nt, f->energy_weight,
                                                 f->force_weight},
                              c);
    return bp__evaluate_chunk(t->net, me->ws, b, X, Y, c, t->sse ? &me->sse : NULL);
}

/* Share me of the samples [t->first, t->first + t->batch) of t->ds in chunks of its workspace's
 * batch (evaluate_chunk): the summed cost and, with labels, the correct predictions. */
static void evaluate_task(bp_team *t, lane *me)
{
    lane_share(t, me, t->batch);
    const bp_dataset *ds = t->ds;
    int n1 = ds->n_features, nL = ds->n_targets, L = t->num_layers, ld;
    for (int first = t->first + me->lo, end = t->first + me->hi, b; first < end; first += b) {
        b = end - first < t->share_max ? end - first : t->share_max;
        double c;
        const float *a;
        bp_status st = evaluate_chunk(t, me, b, ds->x + (size_t)first * (size_t)n1,
                                      ds->y + (size_t)first * (size_t)nL, &c);
        if (!st)
            st = bp_workspace_activations(me->ws, L, &a, &ld);
        if (st) {
            lane_failed(me, st);
            return;
        }
        me->cost += c;
        for (int j = 0; ds->labels && j < b; j++)
            me->correct += bp__class_of(a + (size_t)j * (size_t)ld, nL) == ds->labels[first + j];
    }
}

bp_status bp__team_evaluate(bp_team *t, const bp_net *net, const bp_dataset *ds, int first, int n,
                            const bp_train_config *forces, double *cost, long *correct, double *sse)
{
    t->net = net;
    t->ds = ds;
    t->eval_forces = forces;
    t->sse = sse != NULL;
    t->first = first;
    t->batch = n;
    int threads = bp__blas_threads_single();
    team_run(t, evaluate_task);
    bp__blas_threads_restore(threads);
    bp_status st = team_status(t);
    *cost = 0;
    *correct = 0;
    for (int w = 0; w < t->workers && !st; w++) { /* in share order */
        *cost += t->lanes[w].cost;
        *correct += t->lanes[w].correct;
        if (sse)
            *sse += t->lanes[w].sse;
    }
    return st;
}

/* ---------------------------------------------------------------- the optimizer's step */

/* The dry run of the step over slice me->index: the first layer it would make non-finite, or 0.
 * Writes only me. */
static void check_step_task(bp_team *t, lane *me)
{
    size_t lo = slice_edge(t, me->index), hi = slice_edge(t, me->index + 1);
    me->refused = bp__optim_refuses(t->opt, t->step_net, t->step_grad, lo, hi, &t->plan);
}

static void apply_step_task(bp_team *t, lane *me)
{
    size_t lo = slice_edge(t, me->index), hi = slice_edge(t, me->index + 1);
    bp__optim_apply(t->opt, t->step_net, t->step_grad, lo, hi, &t->plan);
}

/* The step whose slices are dry-run: refused (the count restored) as the serial step refuses, or
 * taken, by slices. A non-finite gradient element makes its new parameter non-finite (an
 * addition, subtraction or multiplication by a non-zero factor, the rule's only operations on
 * it, keeps a NaN or an infinity non-finite), so its slice refuses: the gradient, whose check
 * comes first in the serial step, needs checking only when a slice refuses (unless the plan
 * checked its whole norm). Else the lowest layer refused (the slices are in the order of the
 * layers). */
static bp_status take_checked_step(bp_team *team)
{
    int layer = 0;
    for (int w = 0; w < team->workers && !layer; w++)
        layer = team->lanes[w].refused;
    if (layer) {
        if (team->taken)
            team_run(team, undo_task);
        int finite = team->plan.norm_done ||
                     bp__optim_grad_finite(team->step_grad, 0, team->num_params);
        return bp__optim_refused(team->opt, &team->plan, finite ? layer : 0);
    }
    if (!team->taken)
        team_run(team, apply_step_task);
    return BP_OK;
}

/* Two rounds: every slice's dry run, then, if none refuses, every slice's update; so a refused
 * step changes no slice. */
bp_status bp_team_optim_step(bp_team *team, bp_optim *opt, bp_net *net, const float *grad, int m,
                             long n, float eta)
{
    bp__clear_error();
    bp_status st = check_team(team, net);
    if (!st)
        st = bp__optim_begin(opt, net, grad, m, n, eta, 0, &team->plan);
    if (st)
        return st;
    team->kept = 0;
    team->taken = 0;
    team->opt = opt;
    team->step_net = net;
    team->step_grad = grad;
    team_run(team, check_step_task);
    return take_checked_step(team);
}

/* Without clipping: the step begun first, then the gradient whose sum round dry-runs it. */
bp_status bp__team_gradient_checked(bp_team *team, bp_net *net, const bp__team_masks *masks,
                                    const bp__force_batch *forces, int batch, const float *X,
                                    int ldx, const float *Y, int ldy, float *grad, double *cost,
                                    bp_optim *opt, long n, float eta)
{
    bp__clear_error();
    bp_status st = forces ? check_forces(team, net, forces, grad)
                          : check_gradient(team, masks, net, batch, X, ldx, Y, ldy, grad);
    if (st)
        return st;
    team->kept = 0;
    team->opt = opt;
    team->step_net = net;
    team->step_grad = grad;
    if (opt && bp__optim_clips(opt)) {
        team->forces = forces;
        if ((st = run_gradient(team, masks, net, batch, X, ldx, Y, ldy, grad, cost,
                               team->workers > 1 ? sum_task : NULL)))
            return st;
        team->step_m = batch;
        team->step_n = n;
        team->step_eta = eta;
        team->kept = STEP_UNCHECKED;
        return BP_OK;
    }
    if ((st = bp__optim_begin(opt, net, grad, batch, n, eta, 0, &team->plan)))
        return st;
    bp_optimizer_kind kind;
    long *count;
    float *v, *m;
    bp__optim_state(opt, &kind, &count, &v, &m);
    team->taken = kind == BP_OPT_SGD && team->workers > 1;
    team->forces = forces;
    if ((st = run_gradient(team, masks, net, batch, X, ldx, Y, ldy, grad, cost,
                           team->taken ? sum_take_task : sum_check_task))) {
        bp__optim_cancel(opt, &team->plan);
        return st;
    }
    team->kept = STEP_CHECKED;
    return BP_OK;
}

bp_status bp__team_step_finish(bp_team *team, int take)
{
    int kept = team->kept;
    team->kept = 0;
    if (kept == STEP_UNCHECKED && take)
        return bp_team_optim_step(team, team->opt, team->step_net, team->step_grad, team->step_m,
                                  team->step_n, team->step_eta);
    if (kept == STEP_CHECKED && !take) {
        if (team->taken)
            team_run(team, undo_task);
        bp__optim_cancel(team->opt, &team->plan);
    }
    return kept == STEP_CHECKED && take ? take_checked_step(team) : BP_OK;
}
