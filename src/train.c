/* The training loop (epochs, seeded reshuffling, mini-batches through the batched BLAS path,
 * evaluation, progress, early stopping) and evaluation. */
#include "kernels.h"

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
    for (int j = 0; ds->labels && j < ds->count; j++) /* they index the confusion matrix */
        if (ds->labels[j] < 0 || ds->labels[j] >= nL)
            return bp__fail(BP_EDIM, "%s->labels[%d] is %d, not a class in 0..%d", name, j,
                            ds->labels[j], nL - 1);
    return BP_OK;
}

/* Add the argmax predictions of the last forward (batch columns) for samples whose labels are
 * given to *correct and, if confusion, to the confusion matrix. */
static void score(const bp_net *net, const bp_workspace *ws, int batch, const int *labels,
                  long *correct, long *confusion)
{
    int L = net->num_layers, nL = net->sizes[L - 1], ld;
    const float *a;
    bp_workspace_activations(ws, L, &a, &ld);
    for (int j = 0; j < batch; j++) {
        int p = bp__argmax(a + (size_t)j * (size_t)ld, nL);
        *correct += p == labels[j];
        if (confusion)
            confusion[(size_t)labels[j] * (size_t)nL + (size_t)p]++;
    }
}

/* Evaluation in chunks of the workspace's batch; ws made for net with max_batch chunk. */
static bp_status evaluate_ws(const bp_net *net, bp_workspace *ws, int chunk, const bp_dataset *ds,
                             double *loss, double *accuracy, long *confusion)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    double total = 0;
    long correct = 0;
    if (confusion)
        memset(confusion, 0, (size_t)nL * (size_t)nL * sizeof *confusion);
    for (int first = 0, b; first < ds->count; first += b) {
        b = ds->count - first < chunk ? ds->count - first : chunk;
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
    *loss = total / ds->count;
    *accuracy = ds->labels ? (double)correct / ds->count : NAN;
    return BP_OK;
}

bp_status bp_evaluate(const bp_net *net, const bp_dataset *ds, double *loss, double *accuracy,
                      long *confusion)
{
    bp__clear_error();
    if (!net || !loss || !accuracy)
        return bp__fail(BP_ENULL, "%s is NULL", !net ? "net" : !loss ? "loss" : "accuracy");
    bp_status st = check_dataset(net, ds, "ds");
    if (st)
        return st;
    enum { CHUNK = 256 };
    bp_workspace *ws;
    if ((st = bp_workspace_create(&ws, net, ds->count < CHUNK ? ds->count : CHUNK)))
        return st;
    st = evaluate_ws(net, ws, ds->count < CHUNK ? ds->count : CHUNK, ds, loss, accuracy, confusion);
    bp_workspace_free(ws);
    return st;
}

/* Everything a training run allocates, once. */
typedef struct trainer {
    bp_workspace *ws;
    bp_optim *opt;
    float *grad, *xb, *yb, *best;
    float *before; /* parameters before the current step, restored if the step overflows */
    int *perm, *lb;
} trainer;

static void trainer_free(trainer *t)
{
    bp_workspace_free(t->ws);
    bp_optim_free(t->opt);
    free(t->grad);
    free(t->xb);
    free(t->yb);
    free(t->best);
    free(t->before);
    free(t->perm);
    free(t->lb);
}

/* bs: the batch size, at most the training set's size. */
static bp_status trainer_create(trainer *t, const bp_net *net, const bp_dataset *train,
                                const bp_train_config *cfg, int bs)
{
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    bp_status st = bp_workspace_create(&t->ws, net, bs);
    if (!st)
        st = bp_optim_create(&t->opt, net, &cfg->optim);
    if (st)
        return st;
    t->grad = calloc(net->num_params, sizeof *t->grad); /* calloc checks count * size */
    t->xb = calloc((size_t)n1 * (size_t)bs, sizeof *t->xb);
    t->yb = calloc((size_t)nL * (size_t)bs, sizeof *t->yb);
    t->lb = calloc((size_t)bs, sizeof *t->lb);
    t->perm = calloc((size_t)train->count, sizeof *t->perm);
    t->best = cfg->patience > 0 ? calloc(net->num_params, sizeof *t->best) : NULL;
    t->before = calloc(net->num_params, sizeof *t->before);
    if (!t->grad || !t->xb || !t->yb || !t->lb || !t->perm || !t->before ||
        (cfg->patience > 0 && !t->best))
        return bp__fail(BP_ENOMEM, "training buffers");
    for (int i = 0; i < train->count; i++)
        t->perm[i] = i;
    return BP_OK;
}

static int all_finite(const float *p, size_t n)
{
    float acc = 0; /* 0 * x is NaN exactly when x is inf or NaN */
    for (size_t i = 0; i < n; i++)
        acc += 0.0f * p[i];
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
    float eta; /* validates the schedule once, so that no epoch can fail on it */
    return bp_schedule_eta(&cfg->schedule, cfg->optim.eta, 0, cfg->epochs, &eta);
}

bp_status bp_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                   const bp_train_config *cfg, double *best_accuracy)
{
    bp__clear_error();
    if (!net || !cfg)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "cfg" : "net");
    bp_status st = check_dataset(net, train, "train");
    if (!st && eval)
        st = check_dataset(net, eval, "eval");
    if (!st)
        st = check_train_config(cfg, eval);
    if (st)
        return st;

    /* A batch larger than the set is the whole set; this also keeps k * bs below INT_MAX. */
    int bs = cfg->batch_size < train->count ? cfg->batch_size : train->count;
    int batches = train->count / bs + (train->count % bs != 0), since_best = 0;
    int n1 = net->sizes[0], nL = net->sizes[net->num_layers - 1];
    trainer t = {0};
    if ((st = trainer_create(&t, net, train, cfg, bs))) {
        trainer_free(&t);
        return st;
    }
    double best = -1;
    bp__rng rng;
    bp__rng_seed(&rng, cfg->seed);
    for (int e = 0; e < cfg->epochs && !st; e++) {
        float eta;
        bp_schedule_eta(&cfg->schedule, cfg->optim.eta, e, cfg->epochs, &eta);
        shuffle(t.perm, train->count, &rng);
        bp_progress p = {.epoch = e, .epochs = cfg->epochs, .batches = batches,
                         .eval_loss = NAN, .eval_accuracy = NAN};
        double start = now_seconds(), loss = 0;
        long correct = 0, seen = 0;
        for (int k = 0; k < batches && !st; k++) {
            int first = k * bs, b = train->count - first < bs ? train->count - first : bs;
            double c;
            gather(train, t.perm + first, b, t.xb, t.yb, t.lb);
            if ((st = bp_forward_batch(net, t.ws, b, t.xb, n1)) ||
                (st = bp_cost_value(net, t.ws, t.yb, nL, &c)))
                break;
            if (!isfinite(c)) {
                st = bp__fail(BP_ENUMERIC, "epoch %d batch %d: loss is not finite", e, k);
                break;
            }
            if (train->labels)
                score(net, t.ws, b, t.lb, &correct, NULL);
            bp_grad_zero(net, t.grad);
            if ((st = bp_backward_batch(net, t.ws, b, t.xb, n1, t.yb, nL, t.grad)))
                break;
            memcpy(t.before, net->params, net->num_params * sizeof *t.before);
            if ((st = bp_optim_step(t.opt, net, t.grad, b, train->count, eta)))
                break;
            if (!all_finite(net->params, net->num_params)) { /* a finite eta * g can overflow */
                memcpy(net->params, t.before, net->num_params * sizeof *t.before);
                st = bp__fail(BP_ENUMERIC, "epoch %d batch %d: the step made a parameter non-finite",
                              e, k);
                break;
            }
            loss += c;
            seen += b;
            p.batch = k + 1;
            p.loss = loss / (double)seen;
            p.accuracy = train->labels ? (double)correct / (double)seen : NAN;
            p.seconds = now_seconds() - start;
            p.samples_per_s = p.seconds > 0 ? (double)seen / p.seconds : 0;
            if (cfg->progress && cfg->progress(&p, cfg->user))
                st = bp__fail(BP_ESTOPPED, "stopped by the progress callback at epoch %d", e);
        }
        if (st)
            break;
        if (eval && (st = evaluate_ws(net, t.ws, bs, eval, &p.eval_loss, &p.eval_accuracy, NULL)))
            break;
        p.epoch_done = 1;
        if (cfg->progress && cfg->progress(&p, cfg->user))
            st = bp__fail(BP_ESTOPPED, "stopped by the progress callback after epoch %d", e);
        if (eval && eval->labels && p.eval_accuracy > best) {
            best = p.eval_accuracy;
            since_best = 0;
            if (t.best)
                memcpy(t.best, net->params, net->num_params * sizeof *t.best);
        } else if (cfg->patience > 0 && ++since_best >= cfg->patience) {
            break;
        }
    }
    if (t.best && best >= 0 && st != BP_ENUMERIC)
        memcpy(net->params, t.best, net->num_params * sizeof *t.best);
    if (best_accuracy)
        *best_accuracy = best >= 0 ? best : NAN;
    trainer_free(&t);
    return st;
}
