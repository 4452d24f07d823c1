/* Checkpoints of a training run (docs/checkpoint-format.md): a header, the network as a complete
 * model file (docs/model-format.md, with its own CRC), then the training state (optimizer moments
 * and step count, epoch, shuffling generator and permutation, early-stopping state) under a CRC of
 * its own. Written through the atomic save of binfile.c, read through its length-checked reader and
 * the model parser of model_io.c, so that a checkpoint is validated exactly as strictly as a model
 * file. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

/* The model files' signature with 'C' for 'N': the same protections (see model_io.c), and a
 * checkpoint is never taken for a model or the other way round. */
static const unsigned char magic[BP__MAGIC_BYTES] = {0x89, 'B', 'P', 'C', '\r', '\n', 0x1a, '\n'};
/* Version 2 adds the dropout key and rates; a run without dropout writes version 1, as before. */
#define FORMAT_VERSION 2
#define FORMAT_NO_DROPOUT 1
#define CHUNK BP__IO_CHUNK

/* ---------------------------------------------------------------- save */

typedef struct save_ctx {
    const bp_net *net;
    const bp__train_state *s;
} save_ctx;

static int write_checkpoint(FILE *f, const void *vctx)
{
    const save_ctx *c = vctx;
    const bp__train_state *s = c->s;
    unsigned char buf[CHUNK], *p;
    bp_optimizer_kind kind;
    long *t;
    float *moment[2];
    uint64_t bits;
    bp__optim_state(s->opt, &kind, &t, &moment[1], &moment[0]); /* written m, then v */
    int k = bp__optim_moments(kind);

    p = bp__put_signature(buf, magic, s->dropout ? FORMAT_VERSION : FORMAT_NO_DROPOUT);
    p = bp__put_le(p, bp__model_bytes(c->net), 8);
    if (fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf) || !bp__write_model(f, c->net))
        return 0;

    unsigned long crc = crc32(0L, Z_NULL, 0);
    p = bp__put_le(buf, (uint64_t)kind, 4);
    p = bp__put_le(p, (uint64_t)*t, 8);
    p = bp__put_le(p, (uint64_t)s->epoch, 4);
    for (int i = 0; i < 4; i++)
        p = bp__put_le(p, s->rng.s[i], 8);
    memcpy(&bits, &s->best, sizeof bits);
    p = bp__put_le(p, bits, 8);
    p = bp__put_le(p, (uint64_t)s->since_best, 4);
    p = bp__put_le(p, s->best_params != NULL, 4);
    p = bp__put_le(p, (uint64_t)s->count, 4);
    if (s->dropout) { /* c->net->num_layers <= 64: 8 + 4 * 63 more bytes fit the chunk */
        p = bp__put_le(p, s->dropout_key, 8);
        for (int l = 1; l < c->net->num_layers; l++) {
            uint32_t rate;
            memcpy(&rate, &s->dropout[l - 1], sizeof rate);
            p = bp__put_le(p, rate, 4);
        }
    }
    if (!bp__emit(f, &crc, buf, (size_t)(p - buf)))
        return 0;
    for (int i = 2 - k; i < 2; i++) /* Adam: m then v; momentum, Nesterov: v */
        if (!bp__emit_floats(f, &crc, moment[i], c->net->num_params))
            return 0;
    if (s->best_params && !bp__emit_floats(f, &crc, s->best_params, c->net->num_params))
        return 0;
    for (int i = 0; i < s->count;) {
        for (p = buf; i < s->count && p < buf + CHUNK; i++)
            p = bp__put_le(p, (uint64_t)s->perm[i], 4);
        if (!bp__emit(f, &crc, buf, (size_t)(p - buf)))
            return 0;
    }
    bp__put_le(buf, crc, 4);
    return fwrite(buf, 1, 4, f) == 4;
}

bp_status bp__checkpoint_save(const char *path, const bp_net *net, const bp__train_state *s)
{
    save_ctx c = {net, s};
    return bp__save_atomic(path, write_checkpoint, &c);
}

/* ---------------------------------------------------------------- load */

typedef struct load_ctx {
    bp_net *net;
    bp__train_state *s;
} load_ctx;

/* Whether a and b have the same layers, activations and cost. */
static int same_shape(const bp_net *a, const bp_net *b)
{
    if (a->num_layers != b->num_layers || a->cost != b->cost)
        return 0;
    for (int i = 0; i < a->num_layers; i++)
        if (a->sizes[i] != b->sizes[i] || (i > 0 && a->acts[i - 1] != b->acts[i - 1]))
            return 0;
    return 1;
}

/* BP_EMISMATCH naming the layer sizes of the checkpoint's network got and the trained one want. */
static bp_status shape_mismatch(const char *path, const bp_net *got, const bp_net *want)
{
    char text[2][256];
    const bp_net *nets[2] = {got, want};
    for (int n = 0; n < 2; n++) {
        size_t used = 0;
        for (int i = 0; i < nets[n]->num_layers && used < sizeof text[n]; i++)
            used += (size_t)snprintf(text[n] + used, sizeof text[n] - used, "%s%d", i ? "-" : "",
                                     nets[n]->sizes[i]);
    }
    return bp__fail(BP_EMISMATCH, "%s: the checkpoint is of another network (%s, its activations "
                    "and cost) than the one trained (%s)", path, text[0], text[1]);
}

/* perm[0..n-1] is a permutation of 0..n-1: values in range, each once. Duplicates are found
 * without scratch memory by marking perm[v] += n for each value v seen, then undoing the marks. */
static int is_permutation(int *perm, int n)
{
    int ok = 1, i;
    for (i = 0; i < n && ok; i++) {
        int v = perm[i] >= n ? perm[i] - n : perm[i];
        if (v < 0 || v >= n || perm[v] >= n)
            ok = 0;
        else
            perm[v] += n;
    }
    for (int j = 0; j < n; j++)
        if (perm[j] >= n)
            perm[j] -= n;
    return ok;
}

/* The fields of the state section before its vectors. */
typedef struct state_head {
    uint64_t kind, steps, epoch, best_bits, since_best, has_best, count;
    uint64_t kind_at, epoch_at, has_best_at, count_at;
    bp__rng rng;
    uint32_t version;
    uint64_t dropout_key, dropout_at;   /* version 2; dropout_at: where the rates start */
    float dropout[BP_MAX_LAYERS];       /* rates of layers 1..L-1; all zero in version 1 */
} state_head;

/* The fixed fields, each checked for what a valid file can hold (BP_EFORMAT). */
static bp_status read_head(bp__reader *r, state_head *h)
{
    uint64_t at;
    bp_status st;
    if ((st = bp__read_uint(r, 4, "optimizer kind", &h->kind, &h->kind_at)))
        return st;
    if (h->kind > BP_OPT_ADAM)
        return bp__bad(r, h->kind_at, "optimizer kind %" PRIu64 " is not a bp_optimizer_kind",
                       h->kind);
    if ((st = bp__read_uint(r, 8, "step count", &h->steps, &at)))
        return st;
    if (h->steps > LONG_MAX)
        return bp__bad(r, at, "step count %" PRIu64 " out of range", h->steps);
    if ((st = bp__read_uint(r, 4, "epoch", &h->epoch, &h->epoch_at)))
        return st;
    if (h->epoch > INT_MAX)
        return bp__bad(r, h->epoch_at, "epoch %" PRIu64 " out of range", h->epoch);
    uint64_t rng_at = r->off;
    for (int i = 0; i < 4; i++)
        if ((st = bp__read_uint(r, 8, "generator state", &h->rng.s[i], &at)))
            return st;
    if ((h->rng.s[0] | h->rng.s[1] | h->rng.s[2] | h->rng.s[3]) == 0) /* xoshiro's one invalid */
        return bp__bad(r, rng_at, "generator state is all zero");
    if ((st = bp__read_uint(r, 8, "best accuracy", &h->best_bits, &at)))
        return st;
    double best;
    memcpy(&best, &h->best_bits, sizeof best);
    if (!(best == -1 || (best >= 0 && best <= 1)))
        return bp__bad(r, at, "best accuracy %g is neither -1 nor in [0, 1]", best);
    if ((st = bp__read_uint(r, 4, "epochs since the best", &h->since_best, &at)))
        return st;
    if (h->since_best > h->epoch)
        return bp__bad(r, at, "%" PRIu64 " epochs since the best, after %" PRIu64 " epochs",
                       h->since_best, h->epoch);
    if ((st = bp__read_uint(r, 4, "best-parameters flag", &h->has_best, &h->has_best_at)))
        return st;
    if (h->has_best > 1)
        return bp__bad(r, h->has_best_at, "best-parameters flag %" PRIu64 " is neither 0 nor 1",
                       h->has_best);
    if ((st = bp__read_uint(r, 4, "training-set size", &h->count, &h->count_at)))
        return st;
    if (h->count < 1 || h->count > INT_MAX)
        return bp__bad(r, h->count_at, "training-set size %" PRIu64 " not in 1..%d", h->count,
                       INT_MAX);
    /* An epoch takes at most one step per sample (batches of one): both factors are below 2^31. */
    if (h->steps > h->epoch * h->count)
        return bp__bad(r, h->kind_at + 4, "step count %" PRIu64 " after %" PRIu64 " epochs of %"
                       PRIu64 " samples: more than one step per sample", h->steps, h->epoch,
                       h->count);
    return BP_OK;
}

/* The rest of the section up to the checksum, read once for its CRC and the stored checksum
 * compared, so that a damaged file is reported as damaged (BP_EFORMAT), never as one of another
 * run; then the reader is back at the first vector. */
static bp_status check_crc(bp__reader *r)
{
    uint64_t start = r->off;
    unsigned long crc_start = r->crc;
    unsigned char buf[CHUNK];
    bp_status st = BP_OK;
    while (!st && r->len - r->off > 4) {
        uint64_t left = r->len - r->off - 4;
        st = bp__read_bytes(r, buf, left < CHUNK ? (size_t)left : CHUNK, "state");
    }
    if (!st)
        st = bp__read_checksum(r);
    if (!st && fseeko(r->f, (off_t)start, SEEK_SET) != 0)
        st = bp__fail_errno(errno, r->path, "cannot seek back to the state vectors");
    r->off = start;
    r->crc = crc_start;
    return st;
}

/* Version 2's dropout key and num_layers - 1 rates, each in [0, 1) (BP_EFORMAT). */
static bp_status read_dropout(bp__reader *r, int num_layers, state_head *h)
{
    uint64_t v, at;
    bp_status st;
    if ((st = bp__read_uint(r, 8, "dropout key", &h->dropout_key, &at)))
        return st;
    h->dropout_at = r->off;
    for (int l = 1; l < num_layers; l++) {
        if ((st = bp__read_uint(r, 4, "dropout rate", &v, &at)))
            return st;
        uint32_t bits = (uint32_t)v;
        memcpy(&h->dropout[l - 1], &bits, sizeof bits);
        if (!(h->dropout[l - 1] >= 0 && h->dropout[l - 1] < 1))
            return bp__bad(r, at, "dropout rate of layer %d is %g, not in [0, 1)", l,
                           (double)h->dropout[l - 1]);
    }
    return BP_OK;
}

/* The checkpoint's dropout rates against the run's (NULL: none), layer by layer: BP_EMISMATCH. */
static bp_status check_dropout_run(const bp__reader *r, const state_head *h, int num_layers,
                                   const float *run)
{
    for (int l = 1; l < num_layers; l++) {
        float want = run ? run[l - 1] : 0.0f;
        if (h->dropout[l - 1] == want)
            continue;
        if (h->version == FORMAT_NO_DROPOUT)
            return bp__fail(BP_EMISMATCH, "%s: the checkpoint (format version 1) is of a run "
                            "without dropout, this run drops layer %d at rate %g", r->path, l,
                            (double)want);
        return bp__fail(BP_EMISMATCH, "%s: byte %" PRIu64 ": the checkpoint's dropout rate of "
                        "layer %d is %g, the run's is %g", r->path, h->dropout_at + 4 * (l - 1),
                        l, (double)h->dropout[l - 1], (double)want);
    }
    return BP_OK;
}

/* The checkpoint's fields h against the run s (its optimizer of kind kind): BP_EMISMATCH. */
static bp_status check_run(const bp__reader *r, const state_head *h, bp_optimizer_kind kind,
                           const bp__train_state *s)
{
    static const char *const optimizers[] = {"sgd", "momentum", "nesterov", "adam"};
    if (h->kind != (uint64_t)kind) /* both are known kinds, checked before */
        return bp__fail(BP_EMISMATCH, "%s: byte %" PRIu64 ": optimizer %s in the checkpoint, %s in "
                        "this run", r->path, h->kind_at, optimizers[h->kind], optimizers[kind]);
    if (h->epoch > (uint64_t)s->epochs)
        return bp__fail(BP_EMISMATCH, "%s: byte %" PRIu64 ": the checkpoint is after epoch %"
                        PRIu64 ", this run has only %d epochs", r->path, h->epoch_at, h->epoch,
                        s->epochs);
    if ((h->has_best == 1) != (s->best_params != NULL))
        return bp__fail(BP_EMISMATCH, "%s: byte %" PRIu64 ": the checkpoint %s the best epoch's "
                        "parameters, the run %s them (early stopping %s)", r->path, h->has_best_at,
                        h->has_best ? "holds" : "lacks",
                        s->best_params ? "needs" : "has no use for", s->best_params ? "on" : "off");
    if (h->count != (uint64_t)s->count)
        return bp__fail(BP_EMISMATCH, "%s: byte %" PRIu64 ": a training set of %" PRIu64 " samples "
                        "in the checkpoint, %d in this run", r->path, h->count_at, h->count,
                        s->count);
    return BP_OK;
}

/* BP_EFORMAT unless each of the n values v, read from byte at on, is finite (and, nonneg, >= 0):
 * a state that passed its CRC can still be poison, and resuming it would train on NaN. */
static bp_status check_values(const bp__reader *r, uint64_t at, const float *v, size_t n,
                              int nonneg, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonneg && v[i] < 0))
            return bp__bad(r, at + 4 * (uint64_t)i, "%s %zu is %g: %s", what, i, (double)v[i],
                           nonneg ? "not finite and >= 0" : "not finite");
    return BP_OK;
}

/* The next n floats as field what into dst, each checked by check_values. */
static bp_status read_values(bp__reader *r, float *dst, size_t n, int nonneg, const char *what)
{
    uint64_t at = r->off;
    bp_status st = bp__read_floats(r, dst, n, what);
    return st ? st : check_values(r, at, dst, n, nonneg, what);
}

/* The shuffling permutation into s->perm (s->count ints), checked to be one of 0..count-1. */
static bp_status read_perm(bp__reader *r, bp__train_state *s)
{
    bp_status st;
    uint64_t perm_at = r->off;
    for (int i = 0; i < s->count;) {
        unsigned char buf[CHUNK];
        int n = s->count - i < CHUNK / 4 ? s->count - i : CHUNK / 4;
        if ((st = bp__read_bytes(r, buf, 4 * (size_t)n, "permutation")))
            return st;
        for (int j = 0; j < n; j++, i++) {
            uint64_t x = bp__get_le(buf + 4 * j, 4);
            s->perm[i] = x < (uint64_t)s->count ? (int)x : -1; /* -1: refused just below */
        }
    }
    if (!is_permutation(s->perm, s->count))
        return bp__bad(r, perm_at, "the permutation is not one of 0..%d", s->count - 1);
    return BP_OK;
}

/* The state section, after the model (net, just read from the file): fields valid, exact length,
 * checksum; then compared with the run s (BP_EMISMATCH); then the vectors, into s. */
static bp_status read_state(bp__reader *r, const bp_net *net, uint32_t version,
                            bp__train_state *s)
{
    bp_optimizer_kind kind;
    long *t;
    float *moment[2];
    state_head h;
    bp_status st;
    bp__optim_state(s->opt, &kind, &t, &moment[1], &moment[0]);
    h.version = version;
    memset(h.dropout, 0, sizeof h.dropout);
    if ((st = read_head(r, &h)) ||
        (version > FORMAT_NO_DROPOUT && (st = read_dropout(r, net->num_layers, &h))))
        return st;
    size_t P = net->num_params;
    uint64_t total = r->off + 4 * (uint64_t)P * (bp__optim_moments((bp_optimizer_kind)h.kind) +
                                                 h.has_best) + 4 * h.count + 4;
    if ((st = bp__check_length(r, total)) || (st = check_crc(r)) ||
        (st = check_run(r, &h, kind, s)) ||
        (st = check_dropout_run(r, &h, net->num_layers, s->dropout)))
        return st;

    int k = bp__optim_moments(kind);
    for (int i = 2 - k; i < 2; i++) /* Adam's second moment is a mean of squares: never < 0 */
        if ((st = read_values(r, moment[i], P, kind == BP_OPT_ADAM && i == 1,
                              i ? "second moment" : "first moment")))
            return st;
    if (s->best_params && (st = read_values(r, s->best_params, P, 0, "best parameter")))
        return st;
    if ((st = read_perm(r, s)))
        return st;
    *t = (long)h.steps;
    s->epoch = (int)h.epoch;
    s->rng = h.rng;
    memcpy(&s->best, &h.best_bits, sizeof s->best);
    s->since_best = (int)h.since_best;
    if (version > FORMAT_NO_DROPOUT)
        s->dropout_key = h.dropout_key;
    return BP_OK;
}

/* The signature (*version), then the embedded model (*model, new), leaving r at the state
 * section. */
static bp_status read_model_section(bp__reader *r, bp_net **model, uint32_t *version)
{
    uint64_t v, at, file_len = r->len;
    bp_status st;
    *model = NULL;
    if ((st = bp__read_signature(r, magic, FORMAT_VERSION, "checkpoint", version)))
        return st;
    if ((st = bp__read_uint(r, 8, "model length", &v, &at)))
        return st;
    if (v > file_len - r->off)
        return bp__bad(r, at, "truncated: model length %" PRIu64 " but only %" PRIu64 " bytes "
                       "follow", v, file_len - r->off);
    /* The model section is read as a model file that ends where the header says. */
    r->len = r->off + v;
    r->crc = crc32(0L, Z_NULL, 0);
    if ((st = bp__read_model(r, model)))
        return st;
    /* the model section ends with the parameters, the scaling's floats (version 2) and the CRC */
    const bp_net *m = *model;
    uint64_t n1 = (uint64_t)m->sizes[0], nL = (uint64_t)m->sizes[m->num_layers - 1];
    uint64_t after = (m->in_scaling ? 2 * n1 : 0) + (m->out_scaling ? 2 * nL : 0);
    if ((st = check_values(r, r->off - 4 - 4 * ((uint64_t)m->num_params + after), m->params,
                           m->num_params, 0, "parameter"))) {
        bp_net_free(*model);
        *model = NULL;
        return st;
    }
    r->len = file_len;
    r->crc = crc32(0L, Z_NULL, 0);
    return BP_OK;
}

static bp_status read_checkpoint(bp__reader *r, void *vctx)
{
    load_ctx *c = vctx;
    bp_net *model;
    uint32_t version;
    bp_status st = read_model_section(r, &model, &version);
    if (!st && !same_shape(model, c->net))
        st = shape_mismatch(r->path, model, c->net);
    else if (!st && !bp__same_scaling(model, c->net))
        st = bp__fail(BP_EMISMATCH, "%s: the checkpoint's model has another scaling (mean and "
                      "scale of the inputs or targets) than the network", r->path);
    if (!st)
        st = read_state(r, model, version, c->s);
    if (!st) /* everything was valid: only now the caller's network changes */
        memcpy(c->net->params, model->params, model->num_params * sizeof *model->params);
    bp_net_free(model);
    return st;
}

bp_status bp__checkpoint_load(const char *path, bp_net *net, bp__train_state *s)
{
    load_ctx c = {net, s};
    return bp__load_file(path, read_checkpoint, &c);
}

/* ---------------------------------------------------------------- bp_checkpoint_describe */
typedef struct describe_ctx {
    bp_net *net;
    state_head h;
} describe_ctx;

/* The model and the state's fixed fields, with the file's length and the state's CRC checked
 * (the vectors are not read: only their length matters here). */
static bp_status describe_checkpoint(bp__reader *r, void *vctx)
{
    describe_ctx *c = vctx;
    uint32_t version;
    bp_status st = read_model_section(r, &c->net, &version);
    if (!st)
        st = read_head(r, &c->h);
    if (!st && version > FORMAT_NO_DROPOUT) /* the key and rates precede the vectors */
        st = read_dropout(r, c->net->num_layers, &c->h);
    if (!st) {
        uint64_t P = c->net->num_params, vectors = bp__optim_moments((bp_optimizer_kind)c->h.kind);
        st = bp__check_length(r, r->off + 4 * P * (vectors + c->h.has_best) + 4 * c->h.count + 4);
    }
    if (!st)
        st = check_crc(r);
    if (st) {
        bp_net_free(c->net);
        c->net = NULL;
    }
    return st;
}

bp_status bp_checkpoint_describe(const char *path, bp_net **net, int *epoch,
                                 bp_optimizer_kind *optimizer)
{
    describe_ctx c = {0};
    bp__clear_error();
    if (net)
        *net = NULL;
    if (!path || !net || !epoch || !optimizer)
        return bp__fail(BP_ENULL, "%s is NULL", !path ? "path" : !net ? "net" : !epoch ? "epoch"
                        : "optimizer");
    bp_status st = bp__load_file(path, describe_checkpoint, &c);
    if (st)
        return st;
    *net = c.net;
    *epoch = (int)c.h.epoch;
    *optimizer = (bp_optimizer_kind)c.h.kind;
    return BP_OK;
}
