/* The training loop (epochs, seeded reshuffling, mini-batches through the batched BLAS path,
 * evaluation, progress, early stopping) and evaluation. */
#include "kernels.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bp_status check_dataset(const bp_net *net, const bp_dataset *ds, const char *name)
{
    if (!ds)
        return bp__fail(BP_ENULL, "%s is NULL", name);
    if (ds->count < 1 || !ds->x || !ds->y)
        return bp__fail(BP_EDIM, "%s is empty (count %d) or lacks x/y", name, ds->count);
    int nL = net->sizes[net->num_layers - 1];
    if (ds->n_features != net->sizes[0] || ds->n_targets != nL)
        return bp__fail(BP_EMISMATCH, "%s has %d features and %d targets, network has %d inputs "
                        "and %d outputs", name, ds->n_features, ds->n_targets, net->sizes[0], nL);
    int classes = bp__num_classes(nL);
    for (int j = 0; ds->labels && j < ds->count; j++) /* they index the confusion matrix */
        if (ds->labels[j] < 0 || ds->labels[j] >= classes)
            return bp__fail(BP_EDIM, "%s->labels[%d] is %d, not a class in 0..%d", name, j,
                            ds->labels[j], classes - 1);
    return BP_OK;
}

/* Add the predictions (bp__class_of) of the last forward (batch columns) for samples whose labels are
 * given to *correct and, if confusion, to the confusion matrix. */
static void score(const bp_net *net, const bp_workspace *ws, int batch, const int *labels,
                  long *correct, long *confusion)
{
    int L = net->num_layers, nL = net->sizes[L - 1], classes = bp__num_classes(nL), ld;
    const float *a;
    bp_workspace_activations(ws, L, &a, &ld);
    for (int j = 0; j < batch; j++) {
        int p = bp__class_of(a + (size_t)j * (size_t)ld, nL);
        *correct += p == labels[j];
        if (confusion)
            confusion[(size_t)labels[j] * (size_t)classes + (size_t)p]++;
    }
}

/* ---------------------------------------------------------------- ranks */

/* This rank's share [*lo, *hi) of n items: [r*n/R, (r+1)*n/R), in 64 bits (r*n may exceed int).
 * Shares differ by at most one item; with n < R some are empty. Alone: all of them. */
static void share(int n, const bp_parallel *par, int *lo, int *hi)
{
    *lo = par ? (int)((int64_t)par->rank * n / par->ranks) : 0;
    *hi = par ? (int)((int64_t)(par->rank + 1) * n / par->ranks) : n;
}

static bp_status check_parallel(const bp_parallel *par)
{
    if (par && !par->sum)
        return bp__fail(BP_ENULL, "parallel->sum is NULL");
    if (par && (par->ranks < 1 || par->rank < 0 || par->rank >= par->ranks))
        return bp__fail(BP_EDIM, "parallel: rank %d of %d ranks, need 0 <= rank < ranks >= 1",
                        par->rank, par->ranks);
    return BP_OK;
}

/* data[0..n-1] summed over the ranks, in place (nothing to do alone). */
static bp_status sum_ranks(const bp_parallel *par, void *data, size_t n, bp_reduce_type type)
{
    bp_status st = par ? par->sum(data, n, type, par->ctx) : BP_OK;
    return st ? bp__fail(st, "the sum over ranks failed on rank %d of %d", par->rank, par->ranks)
              : BP_OK;
}

/* One rank's failure made every rank's, so that all leave together instead of some waiting in a
 * sum the others never join: the sum of one-hot status vectors tells each rank which statuses
 * occurred. A rank that failed keeps its own status and detail, the others take the lowest
 * failing status. */
static bp_status agree(const bp_parallel *par, bp_status st, const char *what)
{
    double v[BP_EMISMATCH + 1] = {0};
    if (!par)
        return st;
    v[st >= 0 && st <= BP_EMISMATCH ? st : BP_EMISMATCH] = st != BP_OK;
    bp_status rs = sum_ranks(par, v + 1, BP_EMISMATCH, BP_REDUCE_DOUBLE);
    if (rs || st)
        return st ? st : rs;
    for (int k = 1; k <= BP_EMISMATCH; k++)
        if (v[k] > 0)
            return bp__fail((bp_status)k, "%s failed on %.0f of %d ranks", what, v[k], par->ranks);
    return BP_OK;
}

/* FNV-1a, 64 bits, of n bytes, continuing from h (start from FNV_OFFSET). */
#define FNV_OFFSET 0xcbf29ce484222325u
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* BP_EMISMATCH on every rank unless every rank holds the same hash h. With only a sum over ranks:
 * for each byte x of h, sum(x)^2 = ranks * sum(x^2) exactly when all ranks hold the same x (the
 * Cauchy-Schwarz equality case: zero variance), and with x <= 255 these sums are integers exact in
 * double up to 2^18 ranks. */
static bp_status check_same(const bp_parallel *par, uint64_t h, const char *what, int epoch)
{
    double v[16];
    if (!par)
        return BP_OK;
    for (int i = 0; i < 8; i++) {
        double x = (double)((h >> (8 * i)) & 0xff);
        v[i] = x;
        v[8 + i] = x * x;
    }
    bp_status st = sum_ranks(par, v, 16, BP_REDUCE_DOUBLE);
    for (int i = 0; i < 8 && !st; i++)
        if (v[i] * v[i] != par->ranks * v[8 + i])
            st = bp__fail(BP_EMISMATCH, "%s differ across ranks at epoch %d (hash on rank %d: "
                          "%016" PRIx64 ")", what, epoch, par->rank, h);
    return st;
}

/* ---------------------------------------------------------------- evaluation */

/* Mean loss and accuracy (and, if confusion, the confusion matrix) of net on this rank's share of
 * ds, in chunks of the workspace's batch (ws made for net with max_batch chunk), the sums added
 * over the ranks. scratch: 2 + C x C doubles (C = bp__num_classes(n^L)) when par and confusion,
 * else unused. A failure
 * here cannot differ between ranks (the shapes were checked before), so no rank is left waiting. */
static bp_status evaluate_ws(const bp_net *net, bp_workspace *ws, int chunk, const bp_dataset *ds,
                             const bp_parallel *par, double *scratch, double *loss,
                             double *accuracy, long *confusion)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1], lo, hi;
    size_t classes = (size_t)bp__num_classes(nL), cells = confusion ? classes * classes : 0;
    double total = 0, local[2], *sums = cells ? scratch : local;
    long correct = 0;
    if (confusion)
        memset(confusion, 0, cells * sizeof *confusion);
    share(ds->count, par, &lo, &hi);
    for (int first = lo, b; first < hi; first += b) {
        b = hi - first < chunk ? hi - first : chunk;
        const float *X = ds->x + (size_t)first * (size_t)n1, *Y = ds->y + (size_t)first * (size_t)nL;
        double c;
        bp_status st = bp_forward_batch(net, ws, b, X, n1);
        if (!st)
            st = bp_cost_value(net, ws, Y, nL, &c);
        if (st)
            return st;
        total += c;
        if (ds->labels)
            score(net, ws, b, ds->labels + first, &correct, confusion);
    }
    if (par) { /* counts travel as doubles: exact below 2^53 */
        sums[0] = total;
        sums[1] = (double)correct;
        for (size_t i = 0; i < cells; i++)
            sums[2 + i] = (double)confusion[i];
        bp_status st = sum_ranks(par, sums, 2 + cells, BP_REDUCE_DOUBLE);
        if (st)
            return st;
        total = sums[0];
        correct = (long)sums[1];
        for (size_t i = 0; i < cells; i++)
            confusion[i] = (long)sums[2 + i];
    }
    *loss = total / ds->count;
    *accuracy = ds->labels ? (double)correct / ds->count : NAN;
    return BP_OK;
}

bp_status bp_evaluate(const bp_net *net, const bp_dataset *ds, double *loss, double *accuracy,
                      long *confusion)
{
    return bp_evaluate_parallel(net, ds, NULL, loss, accuracy, confusion);
}

bp_status bp_evaluate_parallel(const bp_net *net, const bp_dataset *ds, const bp_parallel *parallel,
                               double *loss, double *accuracy, long *confusion)
{
    bp__clear_error();
    if (!net || !loss || !accuracy)
        return bp__fail(BP_ENULL, "%s is NULL", !net ? "net" : !loss ? "loss" : "accuracy");
    bp_status st = check_dataset(net, ds, "ds");
    if (!st)
        st = check_parallel(parallel);
    if (st)
        return st;
    enum { CHUNK = 256 };
    int chunk = ds->count < CHUNK ? ds->count : CHUNK;
    size_t classes = (size_t)bp__num_classes(net->sizes[net->num_layers - 1]);
    double *scratch = NULL;
    if (parallel && confusion && !(scratch = bp__calloc(2 + classes * classes, sizeof *scratch)))
        return bp__fail(BP_ENOMEM, "the confusion matrix's sum over ranks");
    bp_workspace *ws;
    if (!(st = bp_workspace_create(&ws, net, chunk)))
        st = evaluate_ws(net, ws, chunk, ds, parallel, scratch, loss, accuracy, confusion);
    bp_workspace_free(ws);
    bp__free(scratch);
    return st;
}

/* ---------------------------------------------------------------- training */

/* Everything a training run allocates, once. */
typedef struct trainer {
    bp_workspace *ws;
    bp_optim *opt;
    float *grad; /* num_params + FLAGS floats: the gradient, then flags summed with it */
    float *xb, *yb, *best;
    float *before; /* parameters before the current step, restored if the step overflows */
    int *perm, *lb;
} trainer;

/* Slots after the gradient, summed over the ranks with it in the step's one reduction, so that
 * every rank takes the same decision: how many ranks saw a non-finite loss, how many were asked
 * by their progress callback to stop. Small integers: exact in float. */
enum { FLAG_NONFINITE, FLAG_STOP, FLAGS };

static void trainer_free(trainer *t)
{
    bp_workspace_free(t->ws);
    bp_optim_free(t->opt);
    bp__free(t->grad);
    bp__free(t->xb);
    bp__free(t->yb);
    bp__free(t->best);
    bp__free(t->before);
    bp__free(t->perm);
    bp__free(t->lb);
}

/* bs: the largest share of a batch on one rank, at most the training set's size. */
static bp_status trainer_create(trainer *t, const bp_net *net, const bp_dataset *train,
                                const bp_train_config *cfg, int bs)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    bp_status st = bp_workspace_create(&t->ws, net, bs);
    if (!st)
        st = bp_optim_create(&t->opt, net, &cfg->optim);
    if (st)
        return st;
    t->grad = bp__calloc(net->num_params + FLAGS, sizeof *t->grad); /* calloc checks count * size */
    t->xb = bp__calloc((size_t)n1 * (size_t)bs, sizeof *t->xb);
    t->yb = bp__calloc((size_t)nL * (size_t)bs, sizeof *t->yb);
    t->lb = bp__calloc((size_t)bs, sizeof *t->lb);
    t->perm = bp__calloc((size_t)train->count, sizeof *t->perm);
    t->best = cfg->patience > 0 ? bp__calloc(net->num_params, sizeof *t->best) : NULL;
    t->before = bp__calloc(net->num_params, sizeof *t->before);
    if (!t->grad || !t->xb || !t->yb || !t->lb || !t->perm || !t->before ||
        (cfg->patience > 0 && !t->best))
        return bp__fail(BP_ENOMEM, "training buffers");
    for (int i = 0; i < train->count; i++)
        t->perm[i] = i;
    return BP_OK;
}

/* 0 * x is NaN exactly when x is inf or NaN; sixteen partial sums, not one, so that the pass
 * vectorises instead of waiting on each addition (it runs after every step). */
BP_CLONES static int all_finite(const float *p, size_t n)
{
    float part[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            part[k] += 0.0f * p[i + k];
    float acc = 0;
    for (; i < n; i++)
        acc += 0.0f * p[i];
    for (int k = 0; k < 16; k++)
        acc += part[k];
    return acc == 0;
}

static void shuffle(int *perm, int n, bp__rng *rng)
{
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)bp__rng_below(rng, (uint64_t)i + 1);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Copy the samples perm[0..b-1] of ds into contiguous batch buffers. */
static void gather(const bp_dataset *ds, const int *perm, int b, float *xb, float *yb, int *lb)
{
    size_t nf = (size_t)ds->n_features, nt = (size_t)ds->n_targets;
    for (int j = 0; j < b; j++) {
        size_t s = (size_t)perm[j];
        memcpy(xb + (size_t)j * nf, ds->x + s * nf, nf * sizeof *xb);
        memcpy(yb + (size_t)j * nt, ds->y + s * nt, nt * sizeof *yb);
        if (ds->labels)
            lb[j] = ds->labels[s];
    }
}

static bp_status check_train_config(const bp_train_config *cfg, const bp_dataset *eval)
{
    if (cfg->epochs < 1)
        return bp__fail(BP_EDIM, "epochs is %d, must be >= 1", cfg->epochs);
    if (cfg->batch_size < 1)
        return bp__fail(BP_EDIM, "batch_size is %d, must be >= 1", cfg->batch_size);
    if (cfg->patience < 0)
        return bp__fail(BP_EDIM, "patience is %d, must be >= 0", cfg->patience);
    if (cfg->patience > 0 && (!eval || !eval->labels))
        return bp__fail(BP_EVALUE, "early stopping (patience %d) needs a labelled eval set",
                        cfg->patience);
    if (cfg->checkpoint_every < 0)
        return bp__fail(BP_EDIM, "checkpoint_every is %d, must be >= 0", cfg->checkpoint_every);
    if (cfg->checkpoint_every > 0 && !cfg->checkpoint_path)
        return bp__fail(BP_ENULL, "checkpoint_path is NULL with checkpoint_every %d",
                        cfg->checkpoint_every);
    bp_status st = check_parallel(cfg->parallel);
    if (st)
        return st;
    float eta; /* validates the schedule once, so that no epoch can fail on it */
    return bp_schedule_eta(&cfg->schedule, cfg->optim.eta, 0, cfg->epochs, &eta);
}

/* Where a run starts: afresh, or from cfg->resume_path, on every rank alike. */
static bp_status start_state(bp_net *net, const bp_dataset *train, const bp_train_config *cfg,
                             int bs, bp__train_state *s)
{
    bp_status st = BP_OK;
    bp__rng_seed(&s->rng, cfg->seed);
    if (cfg->resume_path)
        st = bp__checkpoint_load(cfg->resume_path, net, s);
    if ((st = agree(cfg->parallel, st, "reading the checkpoint")))
        return st;
    /* Every rank must run the same training: the same data size, batch, seed, epochs, starting
     * point and parameters. */
    int64_t run[] = {train->count, bs, (int64_t)cfg->seed, cfg->epochs, s->epoch};
    uint64_t h = fnv1a(fnv1a(FNV_OFFSET, run, sizeof run), net->params,
                       net->num_params * sizeof *net->params);
    return check_same(cfg->parallel, h, "the starting parameters or the run (data size, batch, "
                      "seed, epochs, start)", s->epoch);
}

bp_status bp_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                   const bp_train_config *cfg, double *best_accuracy)
{
    bp__clear_error();
    if (!net || !cfg)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "cfg" : "net");
    const bp_parallel *par = check_parallel(cfg->parallel) ? NULL : cfg->parallel;
    bp_status st = check_dataset(net, train, "train");
    if (!st && eval)
        st = check_dataset(net, eval, "eval");
    if (!st)
        st = check_train_config(cfg, eval);
    /* A rank that refuses its arguments leaves now; the others must not wait for it. */
    if ((st = agree(par, st, "checking the arguments")))
        return st;

    const size_t P = net->num_params;
    /* A batch larger than the set is the whole set; this also keeps k * bs below INT_MAX. */
    int bs = cfg->batch_size < train->count ? cfg->batch_size : train->count;
    int batches = train->count / bs + (train->count % bs != 0);
    int ranks = par ? par->ranks : 1, most = (bs + ranks - 1) / ranks; /* largest share */
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1], stop = 0;
    trainer t = {0};
    bp__train_state s = {.epochs = cfg->epochs, .count = train->count, .best = -1};
    if (!(st = agree(par, trainer_create(&t, net, train, cfg, most), "allocating"))) {
        s.perm = t.perm;
        s.best_params = t.best;
        s.opt = t.opt;
        st = start_state(net, train, cfg, bs, &s);
    }
    if (st) {
        trainer_free(&t);
        return st;
    }
    /* A run resumed from the checkpoint of the epoch where early stopping ended it is over. */
    int early = cfg->patience > 0 && s.since_best >= cfg->patience;
    for (int e = s.epoch; e < cfg->epochs && !st && !early; e++) {
        float eta;
        bp_schedule_eta(&cfg->schedule, cfg->optim.eta, e, cfg->epochs, &eta);
        shuffle(t.perm, train->count, &s.rng);
        bp_progress p = {.epoch = e, .epochs = cfg->epochs, .batches = batches,
                         .eval_loss = NAN, .eval_accuracy = NAN};
        double start = now_seconds(), loss = 0;
        long correct = 0, seen = 0, seen_all = 0;
        for (int k = 0; k < batches && !st; k++) {
            int first = k * bs, b = train->count - first < bs ? train->count - first : bs, lo, hi;
            double c = 0;
            share(b, par, &lo, &hi);
            t.grad[P + FLAG_NONFINITE] = 0;
            t.grad[P + FLAG_STOP] = (float)stop;
            if (hi > lo) { /* the gradient overwrites the block: no zeroing pass */
                gather(train, t.perm + first + lo, hi - lo, t.xb, t.yb, t.lb);
                if ((st = bp_gradient_batch(net, t.ws, hi - lo, t.xb, n1, t.yb, nL, t.grad, &c)))
                    break;
                if (!isfinite(c))
                    t.grad[P + FLAG_NONFINITE] = 1;
                else if (train->labels)
                    score(net, t.ws, hi - lo, t.lb, &correct, NULL);
            } else { /* a rank without a share of this batch adds zeros to the sum */
                bp_grad_zero(net, t.grad);
            }
            if ((st = sum_ranks(par, t.grad, P + FLAGS, BP_REDUCE_FLOAT)))
                break;
            if (t.grad[P + FLAG_NONFINITE] != 0) {
                st = bp__fail(BP_ENUMERIC, "epoch %d batch %d: loss is not finite", e, k);
                break;
            }
            if (t.grad[P + FLAG_STOP] != 0) { /* asked on some rank after the previous batch */
                st = bp__fail(BP_ESTOPPED, "stopped by the progress callback at epoch %d", e);
                break;
            }
            memcpy(t.before, net->params, P * sizeof *t.before);
            if ((st = bp_optim_step(t.opt, net, t.grad, b, train->count, eta)))
                break;
            if (!all_finite(net->params, P)) { /* a finite eta * g can overflow */
                memcpy(net->params, t.before, P * sizeof *t.before);
                st = bp__fail(BP_ENUMERIC, "epoch %d batch %d: the step made a parameter non-finite",
                              e, k);
                break;
            }
            loss += c;
            seen += hi - lo;
            seen_all += b;
            p.batch = k + 1;
            p.loss = seen > 0 ? loss / (double)seen : NAN; /* this rank's share so far */
            p.accuracy = train->labels && seen > 0 ? (double)correct / (double)seen : NAN;
            p.seconds = now_seconds() - start;
            p.samples_per_s = p.seconds > 0 ? (double)seen_all / p.seconds : 0;
            if (cfg->progress && cfg->progress(&p, cfg->user)) {
                if (par) /* every rank stops together, before the next step */
                    stop = 1;
                else
                    st = bp__fail(BP_ESTOPPED, "stopped by the progress callback at epoch %d", e);
            }
        }
        if (st)
            break;
        if (par) { /* the epoch's sums over all ranks, and a stop asked after its last batch */
            double v[3] = {loss, (double)correct, stop};
            if ((st = sum_ranks(par, v, 3, BP_REDUCE_DOUBLE)))
                break;
            if (v[2] != 0) {
                st = bp__fail(BP_ESTOPPED, "stopped by the progress callback at epoch %d", e);
                break;
            }
            p.loss = v[0] / train->count;
            p.accuracy = train->labels ? v[1] / train->count : NAN;
            if ((st = check_same(par, fnv1a(FNV_OFFSET, net->params, P * sizeof *net->params),
                                 "the parameters", e + 1)))
                break;
        }
        if (eval && (st = evaluate_ws(net, t.ws, most, eval, par, NULL, &p.eval_loss,
                                      &p.eval_accuracy, NULL)))
            break;
        p.epoch_done = 1;
        if (eval && eval->labels && p.eval_accuracy > s.best) {
            s.best = p.eval_accuracy;
            s.since_best = 0;
            if (t.best)
                memcpy(t.best, net->params, P * sizeof *t.best);
        } else if (cfg->patience > 0 && ++s.since_best >= cfg->patience) {
            early = 1;
        }
        s.epoch = e + 1;
        if (cfg->checkpoint_every > 0 && s.epoch % cfg->checkpoint_every == 0) {
            bp_status w = !par || par->rank == 0
                              ? bp__checkpoint_save(cfg->checkpoint_path, net, &s) : BP_OK;
            if ((st = agree(par, w, "writing the checkpoint on rank 0")))
                break;
        }
        if (cfg->progress && cfg->progress(&p, cfg->user)) {
            if (par)
                stop = 1;
            else
                st = bp__fail(BP_ESTOPPED, "stopped by the progress callback after epoch %d", e);
        }
    }
    if (par && !st) { /* a stop asked after the last epoch run: every rank returns it */
        double v = stop;
        if (!(st = sum_ranks(par, &v, 1, BP_REDUCE_DOUBLE)) && v != 0)
            st = bp__fail(BP_ESTOPPED, "stopped by the progress callback after epoch %d",
                          s.epoch - 1);
    }
    if (t.best && s.best >= 0 && st != BP_ENUMERIC)
        memcpy(net->params, t.best, P * sizeof *t.best);
    if (best_accuracy)
        *best_accuracy = s.best >= 0 ? s.best : NAN;
    trainer_free(&t);
    return st;
}
