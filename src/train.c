/* The training loop and evaluation. bp_train runs train_epoch for each epoch: the epoch's
 * learning rate and a seeded reshuffle, train_batch for each mini-batch (this rank's share of the
 * gradient through the batched BLAS path, its sum over the ranks, the optimizer's step, the
 * progress callback), then end_epoch (the epoch's sums over the ranks, the evaluation, the best
 * epoch and early stopping, the checkpoint, the progress callback). A stop the callback asks for
 * is decided in one place, agree_stop, where the ranks meet. The rank machinery (shares, sums,
 * agreements) is src/ranks.c. */
#include "kernels.h"
#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cfg: bp_train's (NULL for bp_evaluate), whose forces field makes the targets [E*; F*]. */
static bp_status check_dataset(const bp_net *net, const bp_dataset *ds, const char *name,
                               const bp_train_config *cfg)
{
    if (!ds)
        return bp__fail(BP_ENULL, "%s is NULL", name);
    if (ds->count < 1 || !ds->x || !ds->y)
        return bp__fail(BP_EDIM, "%s is empty (count %d) or lacks x/y", name, ds->count);
    int nL = net->sizes[net->num_layers - 1], forces = cfg && cfg->forces;
    int targets = forces ? 1 + net->sizes[0] : nL;
    if (ds->n_features != net->sizes[0] || ds->n_targets != targets)
        return bp__fail(BP_EMISMATCH, "%s has %d features and %d targets, network has %d inputs "
                        "and %d outputs%s", name, ds->n_features, ds->n_targets, net->sizes[0], nL,
                        forces ? " (with forces: 1 + inputs targets, [E*; F*])" : "");
    int classes = bp__num_classes(nL);
    for (int j = 0; ds->labels && j < ds->count; j++) /* they index the confusion matrix */
        if (ds->labels[j] < 0 || ds->labels[j] >= classes)
            return bp__fail(BP_EDIM, "%s->labels[%d] is %d, not a class in 0..%d", name, j,
                            ds->labels[j], classes - 1);
    return BP_OK;
}

bp_status bp__check_dataset(const bp_net *net, const bp_dataset *ds, const char *name)
{
    return check_dataset(net, ds, name, NULL);
}

/* Add the predictions (bp__class_of) of the last forward (batch columns) for samples whose labels
 * are given to *correct and, if confusion, to the confusion matrix. */
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

/* ---------------------------------------------------------------- evaluation */

/* The forward pass of one chunk of an evaluation set (X, Y: b samples with their ld), scaled as
 * bp_train scales its batches: *c = the summed cost against the standardised targets and, when
 * sse, *sse += the summed squared error of the predictions in the data's units. */
bp_status bp__evaluate_chunk(const bp_net *net, bp_workspace *ws, int b, const float *X,
                             const float *Y, double *c, double *sse)
{
    int L = net->num_layers, nL = net->sizes[L - 1], ld;
    float *xs, *ys;
    const float *a;
    bp_status st = bp__forward_raw(net, ws, b, X, net->sizes[0]);
    if (st)
        return st;
    bp__workspace_scratch(ws, &xs, &ys);
    if (net->out_scaling)
        bp__standardize(net->out_scaling, nL, b, Y, nL, ys, nL);
    if ((st = bp_cost_value(net, ws, net->out_scaling ? ys : Y, nL, c)) || !sse)
        return st;
    bp_workspace_activations(ws, L, &a, &ld);
    bp__unstandardize(net->out_scaling, nL, b, a, ld, ys, nL);
    for (size_t k = 0; k < (size_t)nL * (size_t)b; k++) {
        double e = (double)ys[k] - Y[k];
        *sse += e * e;
    }
    return BP_OK;
}

/* The evaluation's sums over the ranks: total cost, correct count, squared error, confusion. */
static bp_status sum_evaluation(const bp_parallel *par, double *sums, size_t cells, double *total,
                                long *correct, double *sse, long *confusion)
{
    sums[0] = *total; /* counts travel as doubles: exact below 2^53 */
    sums[1] = (double)*correct;
    sums[2] = *sse;
    for (size_t i = 0; i < cells; i++)
        sums[3 + i] = (double)confusion[i];
    bp_status st = bp__sum_ranks(par, sums, 3 + cells, BP_REDUCE_DOUBLE);
    *total = sums[0];
    *correct = (long)sums[1];
    *sse = sums[2];
    for (size_t i = 0; i < cells; i++)
        confusion[i] = (long)sums[3 + i];
    return st;
}

/* What scores the samples of an evaluation: a workspace made for chunk samples, or a team of
 * workers (which keeps no confusion matrix); with forces (a bp_train config whose forces field
 * is set; ws or the team's workspaces are then tangent ones), the energy + force loss. */
typedef struct scorer {
    bp_workspace *ws;
    int chunk;
    bp_team *team;
    const bp_train_config *forces;
} scorer;

/* The summed cost and correct predictions (and, if confusion, the confusion matrix, added to; if
 * sse, the squared error in the data's units, added to) of net on the samples [lo, hi) of ds, in
 * chunks of the scorer's batch or across its workers. */
static bp_status score_samples(const bp_net *net, const scorer *sc, const bp_dataset *ds, int lo,
                               int hi, double *sum, long *correct, long *confusion, double *sse)
{
    if (sc->team)
        return bp__team_evaluate(sc->team, net, ds, lo, hi - lo, sc->forces, sum, correct, sse);
    int n1 = net->sizes[0], nt = ds->n_targets;
    bp_workspace *ws = sc->ws;
    double total = 0;
    for (int first = lo, b; first < hi; first += b) {
        b = hi - first < sc->chunk ? hi - first : sc->chunk;
        const float *X = ds->x + (size_t)first * (size_t)n1;
        const float *Y = ds->y + (size_t)first * (size_t)nt;
        double c;
        bp_status st;
        if (sc->forces) {
            bp__force_batch fb = {b, X, n1, Y, nt, Y + 1, nt, sc->forces->energy_weight,
                                  sc->forces->force_weight};
            st = bp__force_loss(net, ws, &fb, &c);
        } else {
            st = bp__evaluate_chunk(net, ws, b, X, Y, &c, sse);
        }
        if (st)
            return st;
        total += c;
        if (ds->labels)
            score(net, ws, b, ds->labels + first, correct, confusion);
    }
    *sum = total;
    return BP_OK;
}

/* Mean loss and accuracy (and, if confusion, the confusion matrix; if rmse, the RMSE of the
 * predictions of a set without labels) of net on this rank's share of ds, the sums added over
 * the ranks. scratch: 3 + C x C doubles (C = bp__num_classes(n^L)) when par and confusion, else
 * unused. A failure here cannot differ between ranks (the shapes were checked before), so no rank
 * is left waiting. */
static bp_status evaluate_ws(const bp_net *net, const scorer *sc, const bp_dataset *ds,
                             const bp_parallel *par, double *scratch, double *loss,
                             double *accuracy, long *confusion, double *rmse)
{
    int nL = net->sizes[net->num_layers - 1], lo, hi;
    size_t classes = (size_t)bp__num_classes(nL), cells = confusion ? classes * classes : 0;
    double total = 0, sse = 0, local[3], *sums = cells ? scratch : local;
    int regression = rmse && !ds->labels && !sc->forces; /* the force loss keeps no RMSE */
    long correct = 0;
    if (confusion)
        memset(confusion, 0, cells * sizeof *confusion);
    bp__share(ds->count, par, &lo, &hi);
    bp_status st = score_samples(net, sc, ds, lo, hi, &total, &correct, confusion,
                                 regression ? &sse : NULL);
    if (!st && par)
        st = sum_evaluation(par, sums, cells, &total, &correct, &sse, confusion);
    if (st)
        return st;
    *loss = total / ds->count;
    /* a NaN or infinite output (NaN parameters) classifies nothing: its loss is not finite */
    *accuracy = ds->labels && isfinite(*loss) ? (double)correct / ds->count : NAN;
    if (rmse)
        *rmse = regression ? sqrt(sse / ((double)ds->count * nL)) : NAN;
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
    bp_status st = bp__check_dataset(net, ds, "ds");
    if (!st)
        st = bp__check_parallel(parallel);
    if (st)
        return st;
    enum { CHUNK = 256 };
    int chunk = ds->count < CHUNK ? ds->count : CHUNK;
    size_t classes = (size_t)bp__num_classes(net->sizes[net->num_layers - 1]);
    double *scratch = NULL;
    if (parallel && confusion && !(scratch = bp__calloc(3 + classes * classes, sizeof *scratch)))
        return bp__fail(BP_ENOMEM, "the confusion matrix's sum over ranks");
    bp_workspace *ws;
    if (!(st = bp_workspace_create(&ws, net, chunk)))
        st = evaluate_ws(net, &(scorer){.ws = ws, .chunk = chunk}, ds, parallel, scratch, loss,
                         accuracy, confusion, NULL);
    bp_workspace_free(ws);
    bp__free(scratch);
    return st;
}

/* ---------------------------------------------------------------- training */

/* One training run: its arguments, everything it allocates (once) and where it stands. */
typedef struct trainer {
    bp_net *net;
    const bp_dataset *train, *eval;
    const bp_train_config *cfg;
    const bp_parallel *par; /* NULL when training alone */
    int bs;                 /* the batch, at most the training set */
    int batches;            /* per epoch */
    int most;               /* the largest share of a batch on one rank */
    int online; /* batches of one sample, plain SGD, alone, no forces: the fused step */
    int stop;  /* the progress callback asked to stop: pending until the ranks meet (agree_stop) */
    int early; /* early stopping ended the run */
    bp__train_state s; /* what a checkpoint saves; it owns perm, best_params and opt */
    bp_workspace *ws; /* alone (workers 0 or 1) */
    bp_team *team;    /* with workers > 1: their workspaces instead */
    int gathering;    /* the team's batch share starts at perm[gathering] (gather_columns) */
    int fused;        /* a team alone: its gradient dry-runs the step (bp__team_gradient_checked) */
    float eta;        /* the rate of the batch in progress */
    float *grad; /* num_params + FLAGS floats: the gradient, then flags summed with it */
    float *xb, *yb; /* this rank's share of a batch: inputs and targets, contiguous */
    int *lb;        /* and its labels */
} trainer;

/* Slots after the gradient, summed over the ranks with it in the batch's one reduction, so that
 * every rank takes the same decision: how many ranks saw a non-finite loss, how many have a
 * pending request to stop. Small integers: exact in float. */
enum { FLAG_NONFINITE, FLAG_STOP, FLAGS };

/* This rank's sums over the batches of an epoch so far. */
typedef struct tally {
    double start; /* when the epoch started */
    double loss;  /* summed cost of this rank's shares */
    long correct; /* correct predictions among them */
    long seen;    /* their samples */
    long seen_all; /* the samples of the batches done, on all ranks */
} tally;

static void trainer_free(trainer *t)
{
    bp_workspace_free(t->ws);
    bp_team_free(t->team);
    bp_optim_free(t->s.opt);
    bp__free(t->grad);
    bp__free(t->xb);
    bp__free(t->yb);
    bp__free(t->s.best_params);
    bp__free(t->s.perm);
    bp__free(t->lb);
}

/* Buffers for batch shares of up to t->most samples, at most the training set's size. */
static bp_status trainer_alloc(trainer *t)
{
    const bp_net *net = t->net;
    const bp_train_config *cfg = t->cfg;
    int n1 = net->sizes[0], nt = t->train->n_targets, bs = t->most;
    bp_status st = cfg->workers > 1 ? (cfg->forces ? bp_team_create_tangent : bp_team_create)(
                                          &t->team, net, cfg->workers, bs)
                   : cfg->forces    ? bp_workspace_create_tangent(&t->ws, net, bs)
                                    : bp_workspace_create(&t->ws, net, bs);
    if (!st)
        st = bp_optim_create(&t->s.opt, net, &cfg->optim);
    if (st)
        return st;
    t->grad = bp__calloc(net->num_params + FLAGS, sizeof *t->grad); /* calloc checks count * size */
    t->xb = bp__calloc((size_t)n1 * (size_t)bs, sizeof *t->xb);
    t->yb = bp__calloc((size_t)nt * (size_t)bs, sizeof *t->yb);
    t->lb = bp__calloc((size_t)bs, sizeof *t->lb);
    t->s.perm = bp__calloc((size_t)t->train->count, sizeof *t->s.perm);
    t->s.best_params = cfg->patience > 0 ? bp__calloc(net->num_params, sizeof *t->s.best_params)
                                         : NULL;
    if (t->s.dropout && (st = t->team ? bp_team_set_dropout(t->team, t->s.dropout)
                                      : bp_workspace_set_dropout(t->ws, t->s.dropout)))
        return st;
    if (!t->grad || !t->xb || !t->yb || !t->lb || !t->s.perm ||
        (cfg->patience > 0 && !t->s.best_params))
        return bp__fail(BP_ENOMEM, "training buffers");
    for (int i = 0; i < t->train->count; i++)
        t->s.perm[i] = i;
    return BP_OK;
}

void bp__shuffle(int *perm, int n, bp__rng *rng)
{
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)bp__rng_below(rng, (uint64_t)i + 1);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Copy the samples perm[0..b-1] of ds into contiguous batch buffers, standardised by net's
 * scaling unless raw (the force loss, bp_gradient_forces, takes raw data and scales it itself). */
static void gather(const bp_net *net, const bp_dataset *ds, const int *perm, int b, int raw,
                   float *xb, float *yb, int *lb)
{
    size_t nf = (size_t)ds->n_features, nt = (size_t)ds->n_targets;
    for (int j = 0; j < b; j++) {
        size_t s = (size_t)perm[j];
        memcpy(xb + (size_t)j * nf, ds->x + s * nf, nf * sizeof *xb);
        memcpy(yb + (size_t)j * nt, ds->y + s * nt, nt * sizeof *yb);
        if (ds->labels)
            lb[j] = ds->labels[s];
    }
    if (net->in_scaling && !raw)
        bp__standardize(net->in_scaling, (int)nf, b, xb, (int)nf, xb, (int)nf);
    if (net->out_scaling && !raw)
        bp__standardize(net->out_scaling, (int)nt, b, yb, (int)nt, yb, (int)nt);
}

/* The team's filler (bp__team_fill): columns [lo, hi) of the share being gathered, samples
 * perm[gathering + lo ..], on the worker that computes them; the same bits as one gather of all. */
static void gather_columns(void *ctx, int lo, int hi)
{
    trainer *t = ctx;
    size_t nf = (size_t)t->train->n_features, nt = (size_t)t->train->n_targets;
    gather(t->net, t->train, t->s.perm + t->gathering + lo, hi - lo, t->cfg->forces,
           t->xb + (size_t)lo * nf, t->yb + (size_t)lo * nt, t->lb + lo);
}

bp_status bp__check_train_config(const bp_train_config *cfg, const bp_dataset *eval)
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
    if (cfg->workers < 0 || cfg->workers > BP_MAX_WORKERS)
        return bp__fail(BP_EDIM, "workers is %d, not in 0..%d", cfg->workers, BP_MAX_WORKERS);
    if (cfg->checkpoint_every < 0)
        return bp__fail(BP_EDIM, "checkpoint_every is %d, must be >= 0", cfg->checkpoint_every);
    if (cfg->checkpoint_every > 0 && !cfg->checkpoint_path)
        return bp__fail(BP_ENULL, "checkpoint_path is NULL with checkpoint_every %d",
                        cfg->checkpoint_every);
    bp_status st = bp__check_parallel(cfg->parallel);
    if (st)
        return st;
    /* The schedule of every epoch, before the first, so that none can fail on it: each schedule
     * is non-increasing, so the first epoch's rate is its largest and the last one's its least
     * (an eta that gamma^k or the cosine takes below the smallest float fails here). */
    float eta;
    if ((st = bp_schedule_eta(&cfg->schedule, cfg->optim.eta, 0, cfg->epochs, &eta)))
        return st;
    return bp_schedule_eta(&cfg->schedule, cfg->optim.eta, cfg->epochs - 1, cfg->epochs, &eta);
}

/* Rates in [0, 1) for the inputs and hidden layers of net, none for the output layer and beyond. */
static bp_status check_dropout(const bp_net *net, const float *rates)
{
    bp_status st = bp__check_dropout(net->num_layers, rates);
    for (int i = net->num_layers - 1; !st && i < BP_MAX_LAYERS; i++)
        if (rates[i] != 0)
            return bp__fail(BP_EVALUE, "dropout[%d] is %g: layer %d is %s, never dropped", i,
                            (double)rates[i], i + 1,
                            i + 1 == net->num_layers ? "the output layer" : "beyond the output");
    return st;
}

static int has_dropout(const bp_train_config *cfg)
{
    for (int i = 0; i < BP_MAX_LAYERS; i++)
        if (cfg->dropout[i] > 0)
            return 1;
    return 0;
}

/* What bp_train refuses beyond each field's own checks: dropout rates for the layers that have
 * units to drop; forces on a one-output quadratic network and without dropout (the force
 * gradient has no masks). */
static bp_status check_combination(const bp_net *net, const bp_dataset *train,
                                   const bp_train_config *cfg)
{
    bp_status st = check_dropout(net, cfg->dropout);
    if (st || !cfg->forces)
        return st;
    int nt = train->n_targets;
    bp__force_batch fb = {1, train->x, net->sizes[0], train->y, nt, train->y + 1, nt,
                          cfg->energy_weight, cfg->force_weight};
    if ((st = bp__check_forces(net, &fb)))
        return st;
    if (has_dropout(cfg))
        return bp__fail(BP_ECONFIG, "training on forces takes no dropout");
    return BP_OK;
}

/* A hash of every field of cfg that shapes the training beside the run's sizes (the optimizer's,
 * the schedule's, patience, the dropout rates, the force loss and its weights), as given; the
 * rank's own fields (workers, the callback, the paths) are left out. A zero is hashed as +0. */
static uint64_t config_hash(const bp_train_config *cfg)
{
    const bp_optim_config *o = &cfg->optim;
    const bp_schedule *s = &cfg->schedule;
    int64_t ints[] = {o->kind, s->kind, s->step_epochs, cfg->patience, cfg->forces != 0};
    float reals[12 + BP_MAX_LAYERS] = {o->eta, o->lambda, o->mu, o->beta1, o->beta2, o->epsilon,
                                       o->clip_norm, o->weight_decay, s->gamma, s->eta_min,
                                       cfg->energy_weight, cfg->force_weight};
    memcpy(reals + 12, cfg->dropout, sizeof cfg->dropout);
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        reals[i] += 0.0f; /* -0 + 0 is +0 */
    return bp__fnv1a(bp__fnv1a(BP__FNV_OFFSET, ints, sizeof ints), reals, sizeof reals);
}

/* Where a run starts: afresh, or from cfg->resume_path, on every rank alike. */
static bp_status start_state(trainer *t)
{
    const bp_train_config *cfg = t->cfg;
    const bp_net *net = t->net;
    bp_status st = BP_OK;
    bp__rng_seed(&t->s.rng, cfg->seed);
    t->s.dropout_key = bp__dropout_key(cfg->seed);
    if (cfg->resume_path)
        st = bp__checkpoint_load(cfg->resume_path, t->net, &t->s);
    if ((st = bp__agree(t->par, st, "reading the checkpoint")))
        return st;
    /* Every rank must run the same training: the same data size, batch, seed, epochs, starting
     * point and parameters. */
    int64_t run[] = {t->train->count, t->bs, (int64_t)cfg->seed, cfg->epochs, t->s.epoch};
    uint64_t h = bp__fnv1a(bp__fnv1a(BP__FNV_OFFSET, run, sizeof run), net->params,
                           net->num_params * sizeof *net->params);
    if ((st = bp__check_same(t->par, h, "the starting parameters or the run (data size, batch, "
                             "seed, epochs, start)", t->s.epoch)))
        return st;
    /* The gradient is summed over the ranks, so ranks that step by other rules or drop at other
     * rates keep equal parameters: no later check would see it. */
    return bp__check_same(t->par, config_hash(cfg), "the training configurations (optimizer, "
                          "schedule, patience, dropout, forces and their weights)", t->s.epoch);
}

/* The sizes, buffers and starting point of the run t, whose arguments are set and checked. */
static bp_status trainer_start(trainer *t)
{
    const bp_train_config *cfg = t->cfg;
    int count = t->train->count, ranks = t->par ? t->par->ranks : 1;
    /* A batch larger than the set is the whole set; this also keeps k * bs below INT_MAX. */
    t->bs = cfg->batch_size < count ? cfg->batch_size : count;
    t->batches = count / t->bs + (count % t->bs != 0);
    t->most = (t->bs + ranks - 1) / ranks;
    const bp_optim_config *o = &cfg->optim;
    t->s = (bp__train_state){.epochs = cfg->epochs, .count = count, .best = -1,
                             .dropout = has_dropout(cfg) ? cfg->dropout : NULL};
    /* the fused step knows the plain cost alone: no forces, no masks, no decay, no clipping */
    t->online = t->bs == 1 && !t->par && cfg->workers <= 1 && !cfg->forces &&
                o->kind == BP_OPT_SGD && o->lambda == 0 && o->clip_norm == 0 &&
                o->weight_decay == 0 && !t->s.dropout;
    bp_status st = bp__agree(t->par, trainer_alloc(t), "allocating");
    if (!st && t->team)
        bp__team_fill(t->team, gather_columns, t);
    t->fused = t->team && !t->par; /* with ranks their sum comes between the gradient and step */
    if (!st)
        st = start_state(t);
    /* A run resumed from the checkpoint of the epoch where early stopping ended it is over. */
    t->early = cfg->patience > 0 && t->s.since_best >= cfg->patience;
    return st;
}

/* ---------------------------------------------------------------- stopping */

/* The progress callback's request to stop (report) is pending in t->stop until the ranks meet,
 * where agree_stop, the one place the run stops for it, sees how many ranks asked. Alone, the
 * meeting is at once. With ranks the request rides on the next sum over them: the next batch's
 * gradient sum (FLAG_STOP), the epoch's sums, or the run's last sum; so every rank stops after
 * the same step. The message places the stop: "at epoch e" (before a step or the end of epoch
 * e), "after epoch e" (after its end). */
static bp_status agree_stop(double asked, const char *when, int epoch)
{
    if (asked == 0)
        return BP_OK;
    return bp__fail(BP_ESTOPPED, "stopped by the progress callback %s epoch %d", when, epoch);
}

/* A meeting of the ranks outside a batch: v[0..n-1] and, in v[n], the pending requests to stop,
 * summed over the ranks in one reduction (alone: as they are). */
static bp_status meet(const trainer *t, double *v, size_t n, const char *when, int epoch)
{
    v[n] = t->stop;
    bp_status st = bp__sum_ranks(t->par, v, n + 1, BP_REDUCE_DOUBLE);
    return st ? st : agree_stop(v[n], when, epoch);
}

/* The progress callback, after a batch or (p->epoch_done) after an epoch's end. A request to stop
 * waits for the ranks' next meeting; alone, that is now. */
static bp_status report(trainer *t, const bp_progress *p)
{
    const bp_train_config *cfg = t->cfg;
    if (cfg->progress && cfg->progress(p, cfg->user))
        t->stop = 1;
    double v[1];
    return t->par ? BP_OK : meet(t, v, 0, p->epoch_done ? "after" : "at", p->epoch);
}

/* ---------------------------------------------------------------- a batch */

/* The correct predictions of the share of n samples just backpropagated (labels in t->lb), into
 * ep: from the workspace alone, or from each worker's for its columns. */
static void score_share(trainer *t, int n, tally *ep)
{
    int lo = 0, hi = n;
    for (int w = 0; w < (t->team ? t->cfg->workers : 1); w++) {
        const bp_workspace *ws = t->team ? bp__team_lane(t->team, w, &lo, &hi) : t->ws;
        if (hi > lo)
            score(t->net, ws, hi - lo, t->lb + lo, &ep->correct, NULL);
    }
}

/* The gradient of the n samples gathered into t->xb and t->yb (by the team's workers as they
 * reach them, or before; columns col.. of the batch numbered
 * step since training began, which key its dropout masks) into t->grad, overwritten (no zeroing
 * pass), by the run's path: the batched passes, or with forces the force loss's, of the workers
 * (alone, with the dry run of the step at rate t->eta, which step takes or drop_step drops) or of
 * this thread, with or without dropout; *c their summed cost. */
static bp_status gathered_gradient(trainer *t, int n, uint64_t step, int col, double *c)
{
    const bp_train_config *cfg = t->cfg;
    bp_net *net = t->net;
    int n1 = net->sizes[0], nt = t->train->n_targets;
    uint64_t key = t->s.dropout_key;
    const float *X = t->xb, *Y = t->yb;
    float *g = t->grad;
    bp__team_masks masks = {key, step, col};
    bp__force_batch fb = {n, X, n1, Y, nt, Y + 1, nt, cfg->energy_weight, cfg->force_weight};
    if (t->fused)
        return bp__team_gradient_checked(t->team, net, t->s.dropout ? &masks : NULL,
                                         cfg->forces ? &fb : NULL, n, X, n1, Y, nt, g, c,
                                         t->s.opt, t->train->count, t->eta);
    if (cfg->forces && t->team)
        return bp_team_gradient_forces(t->team, net, n, X, n1, Y, nt, Y + 1, nt,
                                       cfg->energy_weight, cfg->force_weight, g, c);
    if (cfg->forces)
        return bp_gradient_forces(net, t->ws, n, X, n1, Y, nt, Y + 1, nt, cfg->energy_weight,
                                  cfg->force_weight, g, c);
    if (t->team && t->s.dropout)
        return bp_team_gradient_dropout(t->team, net, key, step, col, n, X, n1, Y, nt, g, c);
    if (t->team)
        return bp_team_gradient(t->team, net, n, X, n1, Y, nt, g, c);
    if (t->s.dropout)
        return bp_gradient_dropout(net, t->ws, key, step, col, n, X, n1, Y, nt, g, c);
    return bp_gradient_batch(net, t->ws, n, X, n1, Y, nt, g, c);
}

/* This rank's share of a batch, the samples perm[first..first+n-1] (columns col.. of the batch
 * numbered step since training began): its gradient into t->grad (zeros for an empty share), its
 * summed cost into *c, its correct predictions into ep, and the flags the ranks sum with the
 * gradient. */
static bp_status share_gradient(trainer *t, int first, int n, uint64_t step, int col, double *c,
                                 tally *ep)
{
    bp_net *net = t->net;
    size_t P = net->num_params;
    t->grad[P + FLAG_NONFINITE] = 0;
    t->grad[P + FLAG_STOP] = (float)t->stop;
    if (n == 0) { /* a rank without a share of this batch adds zeros to the sum */
        bp_grad_zero(net, t->grad);
        return BP_OK;
    }
    t->gathering = first;
    if (!t->team) /* the team's workers gather their own columns */
        gather(t->net, t->train, t->s.perm + first, n, t->cfg->forces, t->xb, t->yb, t->lb);
    bp_status st = gathered_gradient(t, n, step, col, c);
    if (st)
        return st;
    if (!isfinite(*c))
        t->grad[P + FLAG_NONFINITE] = 1;
    else if (t->train->labels)
        score_share(t, n, ep);
    return BP_OK;
}

/* A numeric failure's detail, placed at batch k of epoch e. */
static bp_status placed(bp_status st, int e, int k)
{
    char why[160];
    snprintf(why, sizeof why, "%s", bp_last_error());
    return bp__fail(st, "epoch %d batch %d: %s", e, k, why);
}

/* The optimizer's step by the summed gradient of a batch of b samples (batch k of epoch e). A step
 * that would make a parameter non-finite (a finite eta * g can overflow) is refused by the
 * optimizer with nothing changed, so the last finite parameters stay without a copy. */
static bp_status step(trainer *t, int b, float eta, int e, int k)
{
    bp_status st = t->fused  ? bp__team_step_finish(t->team, 1)
                   : t->team ? bp_team_optim_step(t->team, t->s.opt, t->net, t->grad, b,
                                                t->train->count, eta)
                             : bp_optim_step(t->s.opt, t->net, t->grad, b, t->train->count, eta);
    return st == BP_ENUMERIC ? placed(st, e, k) : st;
}

/* A batch that ends before its step: the step the fused gradient dry-ran is not taken. */
static bp_status drop_step(trainer *t, bp_status st)
{
    if (t->fused)
        bp__team_step_finish(t->team, 0);
    return st;
}

/* Batch k of epoch e, the sample perm[k], in one fused online step; it counts as a step of the
 * optimizer (whose checkpointed step count it advances). Alone: no rank to meet. */
static bp_status online_batch(trainer *t, int e, int k, float eta, double *c, tally *ep)
{
    const bp_dataset *ds = t->train;
    size_t s = (size_t)t->s.perm[k];
    bp_net *net = t->net;
    bp_status st = bp_online_step(net, t->ws, ds->x + s * (size_t)ds->n_features,
                                  ds->y + s * (size_t)ds->n_targets, eta, c);
    if (st == BP_ENUMERIC)
        return placed(st, e, k);
    if (st)
        return st;
    bp_optimizer_kind kind;
    long *steps;
    float *v, *m;
    bp__optim_state(t->s.opt, &kind, &steps, &v, &m);
    ++*steps;
    if (ds->labels)
        score(net, t->ws, 1, ds->labels + s, &ep->correct, NULL);
    return BP_OK;
}

/* Every rank's share of batch k of epoch e (samples [first, first + b)) into the gradient, summed
 * over the ranks with the flags (a meeting), then the step. */
static bp_status batch_step(trainer *t, int e, int k, int b, float eta, double *c, tally *ep)
{
    int first = k * t->bs, lo, hi;
    size_t P = t->net->num_params;
    bp__share(b, t->par, &lo, &hi);
    uint64_t number = (uint64_t)e * (uint64_t)t->batches + (uint64_t)k; /* since training began */
    t->eta = eta;
    bp_status st = share_gradient(t, first + lo, hi - lo, number, lo, c, ep);
    if (!st)
        st = bp__sum_ranks(t->par, t->grad, P + FLAGS, BP_REDUCE_FLOAT);
    if (st)
        return st;
    if (t->grad[P + FLAG_NONFINITE] != 0)
        return drop_step(t, bp__fail(BP_ENUMERIC, "epoch %d batch %d: loss is not finite", e, k));
    if ((st = agree_stop(t->grad[P + FLAG_STOP], "at", e)))
        return drop_step(t, st);
    return step(t, b, eta, e, k);
}

/* Batch k of epoch e: the step (fused online, or through the gradient block and the ranks), then
 * the progress so far. */
static bp_status train_batch(trainer *t, int e, int k, float eta, tally *ep, bp_progress *p)
{
    int count = t->train->count, first = k * t->bs, lo, hi;
    int b = count - first < t->bs ? count - first : t->bs;
    double c = 0;
    bp__share(b, t->par, &lo, &hi);
    bp_status st = t->online ? online_batch(t, e, k, eta, &c, ep)
                             : batch_step(t, e, k, b, eta, &c, ep);
    if (st)
        return st;
    ep->loss += c;
    ep->seen += hi - lo;
    ep->seen_all += b;
    p->batch = k + 1;
    p->loss = ep->seen > 0 ? ep->loss / (double)ep->seen : NAN; /* this rank's share so far */
    p->accuracy = t->train->labels && ep->seen > 0 ? (double)ep->correct / (double)ep->seen : NAN;
    p->seconds = bp__seconds() - ep->start;
    p->samples_per_s = p->seconds > 0 ? (double)ep->seen_all / p->seconds : 0;
    return report(t, p);
}

/* ---------------------------------------------------------------- an epoch's end */

/* With ranks: the epoch's loss and accuracy summed over them (a meeting, which also sees a stop
 * asked after the epoch's last batch), and the parameters checked equal on every rank. */
static bp_status epoch_sums(trainer *t, int e, const tally *ep, bp_progress *p)
{
    const bp_net *net = t->net;
    const bp_dataset *train = t->train;
    double v[3] = {ep->loss, (double)ep->correct};
    bp_status st = meet(t, v, 2, "at", e);
    if (st)
        return st;
    p->loss = v[0] / train->count;
    p->accuracy = train->labels ? v[1] / train->count : NAN;
    return bp__check_same(t->par, bp__fnv1a(BP__FNV_OFFSET, net->params,
                                            net->num_params * sizeof *net->params),
                          "the parameters", e + 1);
}

/* The best epoch so far by evaluation accuracy, its parameters kept for early stopping; or one
 * more epoch without a better one, and patience of them end the run. */
static void track_best(trainer *t, const bp_progress *p)
{
    const bp_train_config *cfg = t->cfg;
    if (t->eval && t->eval->labels && p->eval_accuracy > t->s.best) {
        t->s.best = p->eval_accuracy;
        t->s.since_best = 0;
        if (t->s.best_params)
            memcpy(t->s.best_params, t->net->params,
                   t->net->num_params * sizeof *t->s.best_params);
    } else if (cfg->patience > 0 && ++t->s.since_best >= cfg->patience) {
        t->early = 1;
    }
}

/* Every checkpoint_every epochs, the checkpoint, written by rank 0. */
static bp_status checkpoint(const trainer *t)
{
    const bp_train_config *cfg = t->cfg;
    const bp_parallel *par = t->par;
    if (cfg->checkpoint_every <= 0 || t->s.epoch % cfg->checkpoint_every != 0)
        return BP_OK;
    bp_status w = !par || par->rank == 0 ? bp__checkpoint_save(cfg->checkpoint_path, t->net, &t->s)
                                         : BP_OK;
    return bp__agree(par, w, "writing the checkpoint on rank 0");
}

/* After the last batch of epoch e: the sums over the ranks, the evaluation, the best epoch, the
 * checkpoint, the progress callback. */
static bp_status end_epoch(trainer *t, int e, const tally *ep, bp_progress *p)
{
    bp_status st = t->par ? epoch_sums(t, e, ep, p) : BP_OK;
    if (!st && t->eval)
        st = evaluate_ws(t->net,
                         &(scorer){.ws = t->ws, .chunk = t->most, .team = t->team,
                                   .forces = t->cfg->forces ? t->cfg : NULL},
                         t->eval, t->par, NULL, &p->eval_loss, &p->eval_accuracy, NULL,
                         &p->eval_rmse);
    if (st)
        return st;
    p->epoch_done = 1;
    track_best(t, p);
    t->s.epoch = e + 1;
    if ((st = checkpoint(t)))
        return st;
    return report(t, p);
}

/* ---------------------------------------------------------------- the run */

/* Epoch e: the learning rate of the schedule, a reshuffle, the batches, the epoch's end. */
static bp_status train_epoch(trainer *t, int e)
{
    const bp_train_config *cfg = t->cfg;
    float eta; /* the schedule was validated: no epoch fails on it */
    bp_schedule_eta(&cfg->schedule, cfg->optim.eta, e, cfg->epochs, &eta);
    bp__shuffle(t->s.perm, t->train->count, &t->s.rng);
    bp_progress p = {.epoch = e, .epochs = cfg->epochs, .batches = t->batches,
                     .eval_loss = NAN, .eval_accuracy = NAN, .eval_rmse = NAN};
    tally ep = {.start = bp__seconds()};
    bp_status st = BP_OK;
    for (int k = 0; k < t->batches && !st; k++)
        st = train_batch(t, e, k, eta, &ep, &p);
    return st ? st : end_epoch(t, e, &ep, &p);
}

bp_status bp_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                   const bp_train_config *cfg, double *best_accuracy)
{
    bp__clear_error();
    if (!net || !cfg)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "cfg" : "net");
    const bp_parallel *par = bp__check_parallel(cfg->parallel) ? NULL : cfg->parallel;
    /* the force loss's network first: its dataset shape [E*; F*] presumes one output */
    bp_status st = cfg->forces < 0 ? bp__fail(BP_EDIM, "forces is %d: 0 (off) or 1 (on)",
                                              cfg->forces)
                   : cfg->forces ? bp__check_force_net(net)
                                 : BP_OK;
    if (!st)
        st = check_dataset(net, train, "train", cfg);
    if (!st && eval)
        st = check_dataset(net, eval, "eval", cfg);
    if (!st)
        st = bp__check_train_config(cfg, eval);
    if (!st)
        st = check_combination(net, train, cfg);
    /* A rank that refuses its arguments leaves now; the others must not wait for it. */
    if ((st = bp__agree(par, st, "checking the arguments")))
        return st;
    trainer t = {.net = net, .train = train, .eval = eval, .cfg = cfg, .par = par};
    if ((st = trainer_start(&t))) {
        trainer_free(&t);
        return st;
    }
    for (int e = t.s.epoch; e < cfg->epochs && !st && !t.early; e++)
        st = train_epoch(&t, e);
    double v[1];
    if (!st) /* the run's last meeting: a stop asked after the last epoch run */
        st = meet(&t, v, 0, "after", t.s.epoch - 1);
    if (t.s.best_params && t.s.best >= 0 && st != BP_ENUMERIC)
        memcpy(net->params, t.s.best_params, net->num_params * sizeof *net->params);
    if (best_accuracy)
        *best_accuracy = t.s.best >= 0 ? t.s.best : NAN;
    trainer_free(&t);
    return st;
}
