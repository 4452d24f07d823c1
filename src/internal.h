/* Internal declarations shared between the library's source files (hidden from the shared library). */
#ifndef BP_INTERNAL_H_INCLUDED
#define BP_INTERNAL_H_INCLUDED

#include "backprop.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define BP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BP__PRINTF(f, a)
#endif

/* On x86-64 Linux with GCC the hot loops are also compiled for AVX2 and AVX-512 and the loader
 * picks the widest the CPU runs (target_clones). A function so marked must be static (an exported
 * ifunc would escape the library's hidden visibility); a plain bp__ function calls it. Results are
 * the same bits on each: the vector width changes how many lanes run at once, not the order of any
 * sum (and ISO C mode contracts no a*b+c into an FMA). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) &&      \
    !defined(__SANITIZE_THREAD__) /* TSan instruments the resolver, which runs before TSan is up */
#define BP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BP_CLONES
#endif

struct bp_net {
    int num_layers;             /* L */
    int sizes[BP_MAX_LAYERS];   /* n^1..n^L */
    bp_activation acts[BP_MAX_LAYERS]; /* acts[l-2] for layer l = 2..L */
    bp_cost cost;
    size_t w_off[BP_MAX_LAYERS + 1]; /* offsets of w^l, b^l in the block, indexed by l (2..L) */
    size_t b_off[BP_MAX_LAYERS + 1];
    size_t num_params;
    int max_width;              /* max over l >= 2 of n^l */
    float *params;
    /* Standardisation (src/scaling.c), each NULL or its own allocation [mean | scale]:
     * in_scaling 2 n^1 floats (x' = (x - mean) / scale enters layer 1), out_scaling 2 n^L floats
     * (the network fits y' = (y - mean) / scale; a prediction is scale a^L + mean). */
    float *in_scaling;
    float *out_scaling;
};

/* The MPI component (src/mpi, a library of its own on top of this one) reports its failures
 * through the same thread-local detail, so the shared library exports the two functions below for
 * it; no other internal symbol leaves the library (tests/install/symbols.cmake). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define BP__COMPONENT_API __attribute__((visibility("default")))
#else
#define BP__COMPONENT_API
#endif

/* Record status and a printf-style detail for bp_last_error(); returns status. */
BP__COMPONENT_API bp_status bp__fail(bp_status status, const char *fmt, ...) BP__PRINTF(2, 3);
/* Clear the detail message (called on entry by functions that may fail). */
BP__COMPONENT_API void bp__clear_error(void);

/* BP_EIO (BP_ENOMEM if err is ENOMEM) with the detail "path: what: <system message for err>". */
bp_status bp__fail_errno(int err, const char *path, const char *what);

/* Every allocation of the library goes through these four (src/alloc.c), never malloc & co.
 * directly. They never request 0 bytes: NULL means out of memory. */
void *bp__malloc(size_t bytes);
void *bp__calloc(size_t count, size_t size); /* count * size checked by calloc */
void *bp__realloc(void *p, size_t bytes);
void bp__free(void *p);
/* bp__realloc(p) to rows * cols elements of elem bytes with the size product checked; on failure
 * NULL, *st set (BP_EOVERFLOW or BP_ENOMEM) and p untouched. */
void *bp__realloc_array(void *p, size_t rows, size_t cols, size_t elem, bp_status *st);
/* a * b into *out; 0 if it overflows size_t. */
int bp__mul_size(size_t a, size_t b, size_t *out);
/* Checks common to every BLAS-facing function. */
bp_status bp__check_matrix(const char *name, const void *p, int rows, int ld);

/* The project's generator: xoshiro256** seeded through splitmix64. */
typedef struct bp__rng {
    uint64_t s[4];
} bp__rng;
void bp__rng_seed(bp__rng *rng, uint64_t seed);
uint64_t bp__rng_next(bp__rng *rng);
/* Uniform in [0,1) with 53 random bits. */
double bp__rng_uniform(bp__rng *rng);
/* Standard normal by Box-Muller (one pair of uniforms per value, so the sequence depends only
 * on the seed and the number of draws). */
double bp__rng_normal(bp__rng *rng);
/* Uniform integer in [0, n) without modulo bias, n >= 1. */
uint64_t bp__rng_below(bp__rng *rng, uint64_t n);
/* perm[0..n-1] permuted in place by Fisher-Yates on rng: an epoch's reshuffle (src/train.c),
 * shared by every training loop so that the same seed visits the same batches. */
void bp__shuffle(int *perm, int n, bp__rng *rng);
/* bp_train's argument checks, shared by every training loop (src/train.c): a dataset against
 * the network (name for the detail), and a run's configuration. */
bp_status bp__check_dataset(const bp_net *net, const bp_dataset *ds, const char *name);
bp_status bp__check_train_config(const bp_train_config *cfg, const bp_dataset *eval);


/* ---------------------------------------------------------------- dropout (src/dropout.c)
 * rates[l-1] is the dropout rate of layer l = 1 (the inputs) .. L-1 (num_layers - 1 floats); 0 =
 * that layer is never dropped. A mask is 0 or 1/(1-p) per unit and column. */
/* BP_EVALUE unless every rate (rates may be NULL: none) is in [0, 1). */
bp_status bp__check_dropout(int num_layers, const float *rates);
/* The key of the masks of a run seeded with seed. */
uint64_t bp__dropout_key(uint64_t seed);
/* mask[l] (n^l x batch, contiguous) for every layer l whose rate is > 0, columns first ..
 * first+batch-1 of step: each column from its own generator seeded by (key, step, column). */
void bp__dropout_draw(int num_layers, const int *sizes, const float *rates, uint64_t key,
                      uint64_t step, int first, int batch, float *const *mask);
/* out = a (.) mask: a is rows x batch with leading dimension lda, mask and out contiguous. */
void bp__dropout_apply(int rows, int batch, const float *a, int lda, const float *mask, float *out);
/* d <- d (.) mask over n floats: the same mask on the backward pass's delta. */
void bp__dropout_mask_delta(float *d, const float *mask, size_t n);
/* The two steps of bp_workspace_set_dropout (src/blas.c), apart so that a team sets the rates of
 * all its workspaces or of none: *block = the masks' allocation for rates (checked) in ws, NULL
 * when no rate is > 0 (BP_ENOMEM); then install hands block to ws with the rates, releasing the
 * old one (it cannot fail). */
bp_status bp__dropout_alloc(const bp_workspace *ws, const float *rates, float **block);
void bp__dropout_install(bp_workspace *ws, const float *rates, float *block);

/* Validity of an activation sequence and cost; detail via bp__fail. */
bp_status bp__check_config(int num_layers, const int *sizes, const bp_activation *acts, bp_cost cost);

/* The naive reference in double with parameters params (the network's layout, in double):
 * out (may be NULL) = a^L; with Y: *cost = summed cost and, if grad, grad += dC/dtheta. */
bp_status bp__naive_run(const bp_net *net, const double *params, int batch, const float *X, int ldx,
                        const float *Y, int ldy, float *out, int ldo, double *grad, double *cost);
/* A malloc'ed double copy of net's parameters. */
bp_status bp__params_to_double(const bp_net *net, double **out);
/* net, batch >= 1, X (n^1 x batch, ldx) and the n^L x batch matrix yname (Y or an output, ldy)
 * present and well shaped. */
bp_status bp__check_io(const bp_net *net, int batch, const float *X, int ldx, const char *yname,
                       const float *Y, int ldy);

/* ---------------------------------------------------------------- derivatives (deriv.c, naive.c)
 * A batch of the energy + force loss: X (n^1 x batch, ldx), energies E* (1 x batch: E[j lde]),
 * reference forces F* (n^1 x batch, ldf), the weights w_E and w_F. */
typedef struct bp__force_batch {
    int batch;
    const float *X;
    int ldx;
    const float *E;
    int lde;
    const float *F;
    int ldf;
    float w_energy, w_force;
} bp__force_batch;
/* The network's part of bp__check_forces: one output, the quadratic cost, an elementwise output
 * activation (BP_ECONFIG otherwise). net must not be NULL. */
bp_status bp__check_force_net(const bp_net *net);
/* net fit for the force loss (one output, not softmax, quadratic cost) and fb well formed. */
bp_status bp__check_forces(const bp_net *net, const bp__force_batch *fb);
/* The summed force loss of fb (checked) on net in the tangent workspace ws: forward, VJP, no
 * gradient. Errors: BP_EMISMATCH (ws not a tangent workspace). */
bp_status bp__force_loss(const bp_net *net, bp_workspace *ws, const bp__force_batch *fb,
                         double *loss);
/* The naive force loss in double with parameters params: *loss = the summed loss and, if grad,
 * grad += its parameter gradient. */
bp_status bp__naive_forces(const bp_net *net, const double *params, const bp__force_batch *fb,
                           double *grad, double *loss);
/* out (n^L doubles) = a^L at the input x (n^1 doubles), parameters params: the function whose
 * central differences check the VJP and the JVP. */
bp_status bp__naive_outputs_at(const bp_net *net, const double *params, const double *x,
                               double *out);

/* ---------------------------------------------------------------- binary files (src/binfile.c)
 * Shared by model files and checkpoints: little-endian fields, CRC-32, atomic save, and a reader
 * that checks the file's real length before each field and folds every byte into a CRC. */
/* Bytes a format encodes in one buffer: the writers' and readers' chunk. */
#define BP__IO_CHUNK 4096
/* Bytes of a format's signature (its magic), followed in the file by a 4-byte format version. */
#define BP__MAGIC_BYTES 8
/* Little-endian integer of width bytes (4 or 8) at p; put returns p + width. */
unsigned char *bp__put_le(unsigned char *p, uint64_t v, int width);
uint64_t bp__get_le(const unsigned char *p, int width);
/* The magic, then version as 4 bytes, at p; returns p + BP__MAGIC_BYTES + 4. */
unsigned char *bp__put_signature(unsigned char *p, const unsigned char magic[BP__MAGIC_BYTES],
                                 uint32_t version);
/* fwrite n bytes (n <= BP__IO_CHUNK) and fold them into *crc (zlib's crc32). 0 on a short write. */
int bp__emit(FILE *f, unsigned long *crc, const unsigned char *p, size_t n);
/* The same for n floats as little-endian binary32. */
int bp__emit_floats(FILE *f, unsigned long *crc, const float *v, size_t n);
/* The one safe way to write a file (every output of the library and, through bp_file, of the
 * program). bp__out_check: path may be written: not empty, no trailing '/', nothing there or a
 * regular file (a link to one counts; to anything else, or to nothing, is refused); *exists and
 * (old non-NULL) *old say what is there. Whether its directory takes a new file is proven by
 * creating one (bp_file_check's probe, or the temporary file itself). BP_EIO. */
struct stat;
bp_status bp__out_check(const char *path, struct stat *old, int *exists);
/* An output being written: f is the temporary file beside path, tmp its name. */
typedef struct bp__out {
    FILE *f;
    char *tmp;  /* one allocation holding tmp, then path's copy */
    char *path;
} bp__out;
/* Check path, then create the temporary file: the target's directory and name cut to fit
 * NAME_MAX, ".tmp.PID.N", with O_CREAT|O_EXCL|O_NOFOLLOW and the mode of the file it will replace
 * (0666 less the umask for a new one). On failure o holds nothing. BP_EIO, BP_ENOMEM. */
bp_status bp__out_open(bp__out *o, const char *path);
/* fflush, fsync, close, check path again, rename over it, sync the directory; on failure the
 * temporary file is removed and path untouched. o holds nothing afterwards. BP_EIO. */
bp_status bp__out_commit(bp__out *o);
/* Close and remove the temporary file (a no-op on an empty o). */
void bp__out_discard(bp__out *o);
/* Write path safely: bp__out_open, write(f, ctx) (returns 0 on failure with errno set),
 * bp__out_commit. Errors: BP_ENOMEM, BP_EIO. */
bp_status bp__save_atomic(const char *path, int (*write)(FILE *f, const void *ctx),
                          const void *ctx);
typedef struct bp__reader {
    FILE *f;           /* the file, or NULL when the bytes are in memory (mem) */
    const char *path;
    uint64_t len;      /* where the data to read ends: the file's real length (fstat) */
    uint64_t off;      /* bytes read so far */
    unsigned long crc; /* CRC-32 of the bytes read since it was last reset */
    const unsigned char *mem; /* with f NULL: the len bytes to read */
} bp__reader;
/* Run read on the size bytes at data as if they were a file named name (for messages). */
bp_status bp__load_memory(const void *data, size_t size, const char *name,
                          bp_status (*read)(bp__reader *r, void *ctx), void *ctx);
/* Open path (a regular file; a FIFO is refused without blocking) and run read on it. */
bp_status bp__load_file(const char *path, bp_status (*read)(bp__reader *r, void *ctx), void *ctx);
/* BP_EFORMAT with the detail "path: byte off: message". */
bp_status bp__bad(const bp__reader *r, uint64_t off, const char *fmt, ...) BP__PRINTF(3, 4);
/* The next n bytes (n <= 4096) as field what; BP_EFORMAT "truncated in the <what>" if they are
 * not there, BP_EIO on a read error. */
bp_status bp__read_bytes(bp__reader *r, unsigned char *buf, size_t n, const char *what);
/* The next little-endian integer of width bytes; *at = its offset. */
bp_status bp__read_uint(bp__reader *r, int width, const char *what, uint64_t *v, uint64_t *at);
/* The next n little-endian binary32 values. */
bp_status bp__read_floats(bp__reader *r, float *dst, size_t n, const char *what);
/* The signature: BP_EFORMAT "bad magic: not a backprop <kind>" unless it is magic, "format
 * version N not supported" unless a version in 1..newest follows; *version = that version. */
bp_status bp__read_signature(bp__reader *r, const unsigned char magic[BP__MAGIC_BYTES],
                             uint32_t newest, const char *kind, uint32_t *version);
/* BP_EFORMAT unless the data ends exactly at total (r->len): "truncated" or "trailing bytes". */
bp_status bp__check_length(const bp__reader *r, uint64_t total);
/* The next 4 bytes as the CRC-32 of everything read since r->crc was reset; BP_EFORMAT "CRC-32
 * checksum mismatch" unless they are. */
bp_status bp__read_checksum(bp__reader *r);

/* ---------------------------------------------------------------- model files (src/model_io.c) */
/* Bytes of the model file (docs/model-format.md) of net, as bp_model_save writes it. */
uint64_t bp__model_bytes(const bp_net *net);
/* A whole model file (docs/model-format.md, magic to CRC) of net (a const bp_net *) to f. */
int bp__write_model(FILE *f, const void *net);
/* A model (docs/model-format.md) starting at r->off and ending exactly at r->len, its CRC
 * computed from r->crc (reset it first): every field validated before the network is created. */
bp_status bp__read_model(bp__reader *r, bp_net **out);

/* ---------------------------------------------------------------- checkpoints (checkpoint.c) */
/* The state of a training run between two epochs. */
typedef struct bp__train_state {
    int epoch;          /* epochs done */
    int epochs;         /* of the whole run (a checkpoint after more is refused) */
    bp__rng rng;        /* the shuffling generator after them */
    int *perm;          /* count ints: the permutation the next epoch's shuffle starts from */
    int count;          /* training-set size */
    double best;        /* best evaluation accuracy so far, -1 if none */
    int since_best;     /* epochs since the best one */
    float *best_params; /* the best epoch's parameters (num_params floats), NULL: no early stop */
    bp_optim *opt;
    const float *dropout; /* num_layers - 1 rates (bp_train_config.dropout), NULL: no dropout */
    uint64_t dropout_key; /* the key of the masks */
} bp__train_state;
/* A step of bp_optim_step prepared for passes over parts of the parameters (src/optim.c), so
 * that threads can share it: bp__optim_begin, then bp__optim_refuses on parts that tile
 * [0, num_params) (and bp__optim_grad_finite on them without p.norm_done), then either
 * bp__optim_refused or bp__optim_apply on the same parts; the bits are those of bp_optim_step. */
typedef struct bp__optim_plan {
    float scale, decay, keep, eta; /* the gradient's factor (1/m, or the clipping's), L2's
                                      lambda/n, the decoupled decay's 1 - eta weight_decay, eta */
    int norm_done;                 /* the gradient's norm was computed: it is finite */
    long t_before;                 /* the optimizer's step count before this step */
} bp__optim_plan;
/* bp_optim_step's checks, its constants into *p and the step counted. The gradient's squared norm
 * over all parameters (BP_ENUMERIC if not finite) is computed when whole or when opt clips (the
 * clipping needs it); otherwise the caller checks each part with bp__optim_grad_finite. Errors:
 * those of bp_optim_step before its dry run; on failure the count is unchanged. */
bp_status bp__optim_begin(bp_optim *opt, const bp_net *net, const float *grad, int m, long n,
                          float eta, int whole, bp__optim_plan *p);
/* Whether grad[lo..hi-1] is all finite. */
int bp__optim_grad_finite(const float *grad, size_t lo, size_t hi);
/* The dry run of the step over the parameters [lo, hi): the first layer (2..L) whose new
 * parameters or state would not all be finite, or 0. Writes nothing. */
int bp__optim_refuses(bp_optim *opt, bp_net *net, const float *grad, size_t lo, size_t hi,
                      const bp__optim_plan *p);
/* The step's update of the parameters [lo, hi) and their state. */
void bp__optim_apply(bp_optim *opt, bp_net *net, const float *grad, size_t lo, size_t hi,
                     const bp__optim_plan *p);
/* A refused step: the count restored (p may be NULL: not counted yet) and BP_ENUMERIC, for a
 * non-finite gradient (layer 0) or the first refused layer. */
bp_status bp__optim_refused(bp_optim *opt, const bp__optim_plan *p, int layer);
/* Optimizer state, for checkpoints: kind, step count and moments (v, m; NULL when the kind has
 * none). */
void bp__optim_state(bp_optim *opt, bp_optimizer_kind *kind, long **t, float **v, float **m);
/* Moment vectors of num_params floats an optimizer of kind keeps: 2 (Adam: m, v), 1 (momentum,
 * Nesterov: v), 0 (SGD). */
int bp__optim_moments(bp_optimizer_kind kind);
/* Write net and s to path atomically (docs/checkpoint-format.md). Errors: BP_ENOMEM, BP_EIO. */
bp_status bp__checkpoint_save(const char *path, const bp_net *net, const bp__train_state *s);
/* Read a checkpoint into s (its perm, best_params and opt, already allocated for net and
 * s->count) and net's parameters; net's parameters are changed only if everything was valid.
 * Errors: BP_EIO, BP_EFORMAT (malformed, truncated, CRC), BP_EMISMATCH (another network shape,
 * optimizer kind or training-set size; no best parameters while s->best_params is needed),
 * BP_ENOMEM. */
bp_status bp__checkpoint_load(const char *path, bp_net *net, bp__train_state *s);

/* ---------------------------------------------------------------- scaling (src/scaling.c) */
/* dst = (src - mean) / scale column by column (rows x cols; ms = [mean | scale], rows each), or a
 * plain copy when ms is NULL. dst may be src when ldd = lds. */
void bp__standardize(const float *ms, int rows, int cols, const float *src, int lds, float *dst,
                     int ldd);
/* dst = scale src + mean column by column, or a plain copy when ms is NULL. */
void bp__unstandardize(const float *ms, int rows, int cols, const float *src, int lds, float *dst,
                       int ldd);
/* Both sides' scaling of a and b hold the same bits (or are both absent). */
int bp__same_scaling(const bp_net *a, const bp_net *b);
/* BP_EVALUE unless every mean[0..n-1] is finite and every scale finite and >= FLT_MIN. */
bp_status bp__scaling_check(int n, const float *mean, const float *scale, const char *side);
/* Check and copy a side's [mean | scale] (n floats each) into a new allocation *dst (replacing
 * the old one), or free it when mean and scale are NULL. Errors: BP_ENULL, BP_EVALUE, BP_ENOMEM. */
bp_status bp__scaling_copy(float **dst, int n, const float *mean, const float *scale,
                           const char *side);
/* Where bp_predict and the evaluations keep standardised columns in ws (src/blas.c): x' (n^1 x
 * max_batch, ld n^1) and y' (n^L x max_batch, ld n^L). */
void bp__workspace_scratch(bp_workspace *ws, float **x, float **y);
/* The checks of the batched passes (src/blas.c): net and ws of one shape, 1 <= batch <=
 * max_batch, X present with ldx >= n^1. */
bp_status bp__check_batch(const bp_net *net, const bp_workspace *ws, int batch, const float *X,
                          int ldx);
/* The forward pass (eq. 15) of the raw batch X: X is standardised into the workspace's scratch
 * first when net has an input scaling. Errors: those of bp_forward_batch. */
bp_status bp__forward_raw(const bp_net *net, bp_workspace *ws, int batch, const float *X, int ldx);
/* Per output i of a batch of predictions P against targets Y (rows x cols):
 * sums[3i] += sum_j (p_ij - y_ij)^2, sums[3i+1] += sum_j |p_ij - y_ij|,
 * sums[3i+2] += sum_j (y_ij - ymean_i)^2. */
void bp__regression_sums(int rows, int cols, const float *P, int ldp, const float *Y, int ldy,
                         const double *ymean, double *sums);

/* ---------------------------------------------------------------- ranks (src/ranks.c)
 * A data-parallel run (bp_parallel): par NULL means training alone, where every sum is the identity
 * and every agreement is the rank's own status. */
/* This rank's share [*lo, *hi) of n items: [r*n/R, (r+1)*n/R), in 64 bits (r*n may exceed int).
 * Shares differ by at most one item; with n < R some are empty. Alone: all of them. */
void bp__share(int n, const bp_parallel *par, int *lo, int *hi);
/* par NULL, or with a sum and 0 <= rank < ranks. Errors: BP_ENULL, BP_EDIM. */
bp_status bp__check_parallel(const bp_parallel *par);
/* data[0..n-1] summed over the ranks, in place (nothing to do alone). Errors: the sum's status,
 * with the detail naming the rank. */
bp_status bp__sum_ranks(const bp_parallel *par, void *data, size_t n, bp_reduce_type type);
/* One rank's failure st made every rank's, so that all leave together instead of some waiting in
 * a sum the others never join. A rank that failed keeps its own status and detail, the others take
 * the lowest failing status with the detail "<what> failed on N of R ranks". */
bp_status bp__agree(const bp_parallel *par, bp_status st, const char *what);
/* FNV-1a, 64 bits, of n bytes, continuing from h (start from BP__FNV_OFFSET). */
#define BP__FNV_OFFSET 0xcbf29ce484222325u
uint64_t bp__fnv1a(uint64_t h, const void *data, size_t n);
/* BP_EMISMATCH on every rank ("<what> differ across ranks at epoch <epoch>") unless every rank
 * holds the same hash h. */
bp_status bp__check_same(const bp_parallel *par, uint64_t h, const char *what, int epoch);

/* ---------------------------------------------------------------- worker threads (workers.c) */
/* The summed cost and, with labels, the correct predictions (and, if sse, the squared error in
 * the data's units, added to *sse) of net on ds's samples [first, first + n) (n >= 0), split
 * across t's workers as a batch is and each share run in chunks of its workspace through
 * bp__evaluate_chunk, or with forces (a bp_train config; t a tangent team, ds's targets [E*; F*])
 * bp__force_loss of its weights; sums in worker order. Arguments checked by the caller. Errors:
 * those of bp_forward_batch (or bp__force_loss), prefixed by the worker. */
bp_status bp__team_evaluate(bp_team *t, const bp_net *net, const bp_dataset *ds, int first, int n,
                            const bp_train_config *forces, double *cost, long *correct,
                            double *sse);
/* The forward pass of b evaluation samples (X, Y with ld n^1 and n^L) scaled as bp_train scales
 * its batches (src/train.c): *c = the summed cost against the standardised targets and, if sse,
 * *sse += the squared error of the predictions in the data's units. */
bp_status bp__evaluate_chunk(const bp_net *net, bp_workspace *ws, int b, const float *X,
                             const float *Y, double *c, double *sse);
/* Writes columns [lo, hi) of the X and Y of the team's gradient call in progress (and what else
 * the caller keeps of those columns), on the thread that then computes their share. */
typedef void (*bp__team_filler)(void *ctx, int lo, int hi);
/* From now on every share of t's gradients (bp_team_gradient, bp_team_gradient_dropout,
 * bp_team_gradient_forces) with columns first runs fill(ctx, lo, hi) for them, so that the
 * shares' data are gathered in parallel too; fill NULL: none. Evaluations do not call it. */
void bp__team_fill(bp_team *t, bp__team_filler fill, void *ctx);
/* Worker w's workspace after a gradient of the team (bp_team_gradient, bp_team_gradient_dropout,
 * bp_team_gradient_forces), and its columns [*lo, *hi) of that call. */
const bp_workspace *bp__team_lane(const bp_team *t, int w, int *lo, int *hi);

/* ---------------------------------------------------------------- the step on the team, fused */
/* Whether opt clips the gradient's norm (clip_norm > 0): its step needs the whole gradient's norm
 * before any part's dry run. */
int bp__optim_clips(const bp_optim *opt);
/* A step begun (bp__optim_begin) that will not be taken: the count restored, no message. */
void bp__optim_cancel(bp_optim *opt, const bp__optim_plan *p);
/* The masks of a team's dropout gradient (bp_team_gradient_dropout's key, step, first). */
typedef struct bp__team_masks {
    uint64_t key, step;
    int first;
} bp__team_masks;
/* bp_team_gradient (masks NULL) or bp_team_gradient_dropout (their bits, into grad and *cost),
 * or with forces (X, batch and ldx its own) bp_team_gradient_forces (masks NULL),
 * then the dry run of bp_team_optim_step(team, opt, net, grad, batch, n, eta), kept by the team
 * until bp__team_step_finish (no other call of the team in between): opt's step count, advanced
 * for the dry run, is restored unless the step is taken; net is unchanged until then, but with
 * plain SGD and N >= 2, whose slices are updated as they pass their dry runs (the old values kept
 * in share 1's block), and restored if the step is refused or dropped. A
 * non-finite gradient element makes its slice refuse, so the gradient is checked only after a
 * refusal (the serial step names it first). Without clipping the
 * step's checks come first (its errors before anything is computed) and each thread adds up a
 * slice of the blocks and dry-runs that slice while it is in cache: a round and a pass over the
 * gradient fewer. With clipping (the norm of the whole sum comes first) the gradient is
 * bp_team_gradient's and the step is all bp__team_step_finish's. On an error nothing is kept and
 * the optimizer's count is unchanged. Errors: bp_team_gradient's (or the dropout or force one's),
 * those of bp_optim_step before its dry run. */
bp_status bp__team_gradient_checked(bp_team *team, bp_net *net, const bp__team_masks *masks,
                                    const bp__force_batch *forces, int batch, const float *X,
                                    int ldx, const float *Y, int ldy, float *grad, double *cost,
                                    bp_optim *opt, long n, float eta);
/* The step kept by the last bp__team_gradient_checked: with take, bp_team_optim_step's outcome
 * (BP_ENUMERIC and its message, nothing changed, or the update by slices on the team); without,
 * dropped (the count restored). Either way nothing is kept after it. No step kept: BP_OK. */
bp_status bp__team_step_finish(bp_team *team, int take);

#endif
