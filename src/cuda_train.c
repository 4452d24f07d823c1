/* bp_cuda_train: bp_train's epochs on the device. The datasets go up once, each epoch's order
 * once per epoch; a batch's columns are gathered on the device, and per batch only two doubles
 * (its cost and its gradient's squared norm) come down, for bp_train's non-finite checks. */
#include "clock.h"
#include "cuda_internal.h"
#include "cuda_kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A dataset on the device: x (n^1 x count), y (n^L x count), labels (count, or NULL). */
typedef struct device_set {
    const bp_dataset *host;
    float *x, *y;
    int *labels;
} device_set;

typedef struct gpu_run {
    bp_cuda *cu;
    const bp_train_config *cfg;
    device_set train, eval;
    int bs, batches;
    int *perm;       /* host: the order of this epoch */
    int *perm_dev;   /* device: the same */
    unsigned long long *correct; /* device: correct predictions counted by a pass */
    bp__rng rng;
    double best;     /* best evaluation accuracy, -1 if none */
} gpu_run;

/* What this backend refuses of a bp_train configuration. */
static bp_status check_supported(const bp_train_config *cfg)
{
    const char *what = cfg->parallel           ? "parallel (ranks)"
                       : cfg->checkpoint_every ? "checkpoint_every"
                       : cfg->resume_path      ? "resume_path"
                       : cfg->patience         ? "patience (early stopping)"
                       : cfg->optim.clip_norm > 0 ? "optim.clip_norm"
                                                  : NULL;
    return what ? bp__fail(BP_ECONFIG, "%s is not supported by the CUDA backend", what) : BP_OK;
}

static bp_status set_up(cudaStream_t s, device_set *d, const bp_dataset *ds)
{
    size_t n = (size_t)ds->count;
    size_t nx = (size_t)ds->n_features * n * sizeof(float);
    size_t ny = (size_t)ds->n_targets * n * sizeof(float);
    d->host = ds;
    CU(cudaMalloc((void **)&d->x, nx), "cudaMalloc (dataset x)");
    CU(cudaMalloc((void **)&d->y, ny), "cudaMalloc (dataset y)");
    CU(cudaMemcpyAsync(d->x, ds->x, nx, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (x up)");
    CU(cudaMemcpyAsync(d->y, ds->y, ny, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (y up)");
    if (ds->labels) {
        CU(cudaMalloc((void **)&d->labels, n * sizeof(int)), "cudaMalloc (labels)");
        CU(cudaMemcpyAsync(d->labels, ds->labels, n * sizeof(int), cudaMemcpyHostToDevice, s),
           "cudaMemcpyAsync (labels up)");
    }
    return BP_OK;
}

static void set_free(device_set *d)
{
    cudaFree(d->x);
    cudaFree(d->y);
    cudaFree(d->labels);
}

static void run_free(gpu_run *r)
{
    set_free(&r->train);
    set_free(&r->eval);
    cudaFree(r->perm_dev);
    cudaFree(r->correct);
    bp__free(r->perm);
    bp_cuda_free(r->cu);
}

static bp_status run_start(gpu_run *r, const bp_net *net, const bp_dataset *train,
                           const bp_dataset *eval)
{
    const bp_train_config *cfg = r->cfg;
    int count = train->count;
    r->bs = cfg->batch_size < count ? cfg->batch_size : count;
    r->batches = count / r->bs + (count % r->bs != 0);
    r->best = -1;
    bp__rng_seed(&r->rng, cfg->seed);
    if (!(r->perm = bp__calloc((size_t)count, sizeof *r->perm)))
        return bp__fail(BP_ENOMEM, "the order of %d samples", count);
    for (int i = 0; i < count; i++)
        r->perm[i] = i;
    bp_status st = bp_cuda_create(&r->cu, net, r->bs, &cfg->optim);
    if (st)
        return st;
    cudaStream_t s = r->cu->stream;
    CU(cudaMalloc((void **)&r->perm_dev, (size_t)count * sizeof(int)), "cudaMalloc (order)");
    CU(cudaMalloc((void **)&r->correct, sizeof *r->correct), "cudaMalloc (count)");
    if ((st = set_up(s, &r->train, train)) || (eval && (st = set_up(s, &r->eval, eval))))
        return st;
    CU(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    return BP_OK;
}

/* The cost and the correct predictions of the last forward (b columns) into the run's sums:
 * scalars[slot] and *correct. labels/perm as bp__cu_count_correct. */
static bp_status score(gpu_run *r, const float *Y, int slot, int accumulate, const int *labels,
                       const int *perm)
{
    bp_cuda *cu = r->cu;
    bp_status st = bp__cuda_cost(cu, Y, slot, accumulate);
    if (!st && labels)
        CU(bp__cu_count_correct(cu->stream, cu->act[cu->shape.num_layers],
                                cu->shape.sizes[cu->shape.num_layers - 1], cu->batch, labels, perm,
                                r->correct), "accuracy kernel");
    return st;
}

/* Batch k of epoch e: gather, gradient, cost and squared norm down, the step. *loss += cost. */
static bp_status train_batch(gpu_run *r, int e, int k, float eta, double *loss)
{
    bp_cuda *cu = r->cu;
    const bp_net *s = &cu->shape;
    int count = r->train.host->count, first = k * r->bs;
    int b = count - first < r->bs ? count - first : r->bs;
    int n1 = s->sizes[0], nL = s->sizes[s->num_layers - 1];
    const int *order = r->perm_dev + first;
    double sums[2];
    CU(bp__cu_gather(cu->stream, r->train.x, n1, order, b, cu->x), "gather kernel (x)");
    CU(bp__cu_gather(cu->stream, r->train.y, nL, order, b, cu->y), "gather kernel (y)");
    bp_status st = bp__cuda_forward(cu, b, cu->x);
    if (!st)
        st = score(r, cu->y, BP__CU_BATCH_COST, 0, r->train.labels, order);
    if (!st)
        st = bp__cuda_backward(cu, cu->x, cu->y);
    if (!st)
        st = bp__cuda_grad_sumsq(cu);
    if (!st) /* BATCH_COST and SUMSQ are adjacent */
        st = bp__cuda_download(cu, sums, cu->scalars + BP__CU_BATCH_COST, sizeof sums);
    if (st)
        return st;
    if (!isfinite(sums[0]))
        return bp__fail(BP_ENUMERIC, "epoch %d batch %d: loss is not finite", e, k);
    if (!isfinite(sums[1]))
        return bp__fail(BP_ENUMERIC, "epoch %d batch %d: gradient is not finite", e, k);
    *loss += sums[0];
    return bp__cuda_update(cu, b, count, eta);
}

/* Mean cost and accuracy of the evaluation set, in chunks of the batch. */
static bp_status evaluate(gpu_run *r, double *loss, double *accuracy)
{
    bp_cuda *cu = r->cu;
    const bp_dataset *ds = r->eval.host;
    int n1 = ds->n_features, nL = ds->n_targets;
    bp_status st = BP_OK;
    CU(cudaMemsetAsync(r->correct, 0, sizeof *r->correct, cu->stream), "cudaMemsetAsync");
    for (int first = 0; first < ds->count && !st; first += r->bs) {
        int b = ds->count - first < r->bs ? ds->count - first : r->bs;
        st = bp__cuda_forward(cu, b, r->eval.x + (size_t)first * (size_t)n1);
        if (!st)
            st = score(r, r->eval.y + (size_t)first * (size_t)nL, BP__CU_EVAL_COST, first > 0,
                       r->eval.labels ? r->eval.labels + first : NULL, NULL);
    }
    double sum;
    unsigned long long correct = 0;
    if (!st && ds->labels)
        st = bp__cuda_download(cu, &correct, r->correct, sizeof correct);
    if (!st)
        st = bp__cuda_download(cu, &sum, cu->scalars + BP__CU_EVAL_COST, sizeof sum);
    if (st)
        return st;
    *loss = sum / ds->count;
    *accuracy = ds->labels ? (double)correct / ds->count : NAN;
    return BP_OK;
}

static bp_status report(const gpu_run *r, const bp_progress *p)
{
    const bp_train_config *cfg = r->cfg;
    if (cfg->progress && cfg->progress(p, cfg->user))
        return bp__fail(BP_ESTOPPED, "the progress callback asked to stop after epoch %d",
                        p->epoch);
    return BP_OK;
}

/* Epoch e: its rate, the reshuffle (bp_train's), the batches, the evaluation, the progress. */
static bp_status train_epoch(gpu_run *r, int e)
{
    const bp_train_config *cfg = r->cfg;
    bp_cuda *cu = r->cu;
    int count = r->train.host->count;
    float eta;
    bp_schedule_eta(&cfg->schedule, cfg->optim.eta, e, cfg->epochs, &eta);
    bp__shuffle(r->perm, count, &r->rng);
    bp_progress p = {.epoch = e, .epochs = cfg->epochs, .batches = r->batches,
                     .batch = r->batches, .eval_loss = NAN, .eval_accuracy = NAN};
    double start = bp__seconds(), loss = 0;
    unsigned long long correct = 0;
    CU(cudaMemcpyAsync(r->perm_dev, r->perm, (size_t)count * sizeof(int), cudaMemcpyHostToDevice,
                       cu->stream), "cudaMemcpyAsync (order up)");
    CU(cudaMemsetAsync(r->correct, 0, sizeof *r->correct, cu->stream), "cudaMemsetAsync");
    bp_status st = BP_OK;
    for (int k = 0; k < r->batches && !st; k++)
        st = train_batch(r, e, k, eta, &loss);
    if (!st && r->train.labels)
        st = bp__cuda_download(cu, &correct, r->correct, sizeof correct);
    if (st)
        return st;
    p.loss = loss / count;
    p.accuracy = r->train.labels ? (double)correct / count : NAN;
    p.seconds = bp__seconds() - start;
    p.samples_per_s = p.seconds > 0 ? count / p.seconds : 0;
    if ((st = report(r, &p)) ||
        (r->eval.host && (st = evaluate(r, &p.eval_loss, &p.eval_accuracy))))
        return st;
    if (r->eval.labels && p.eval_accuracy > r->best)
        r->best = p.eval_accuracy;
    p.epoch_done = 1;
    return report(r, &p);
}

bp_status bp_cuda_train(bp_net *net, const bp_dataset *train, const bp_dataset *eval,
                        const bp_train_config *cfg, double *best_accuracy)
{
    bp__clear_error();
    if (!net || !cfg)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "cfg" : "net");
    bp_status st = bp__check_dataset(net, train, "train");
    if (!st && eval)
        st = bp__check_dataset(net, eval, "eval");
    if (!st)
        st = bp__check_train_config(cfg, eval);
    if (!st)
        st = check_supported(cfg);
    if (!st && (net->in_scaling || net->out_scaling)) /* the device gathers raw columns */
        st = bp__fail(BP_ECONFIG, "a network with a scaling (bp_net_set_scaling) is not supported "
                      "by the CUDA backend");
    if (st)
        return st;
    gpu_run r = {.cfg = cfg};
    st = run_start(&r, net, train, eval);
    for (int e = 0; e < cfg->epochs && !st; e++)
        st = train_epoch(&r, e);
    if (r.cu) { /* the parameters come down also after a failure: those of the last step */
        char why[512]; /* a failed copy must not replace the detail of the first failure */
        snprintf(why, sizeof why, "%s", bp_last_error());
        bp_status down = bp__cuda_download(r.cu, net->params, r.cu->params,
                                           net->num_params * sizeof *net->params);
        if (st)
            bp__fail(st, "%s", why);
        st = st ? st : down;
    }
    if (best_accuracy)
        *best_accuracy = r.best >= 0 ? r.best : NAN;
    run_free(&r);
    return st;
}
