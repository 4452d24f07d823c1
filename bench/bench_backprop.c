/* Training-step throughput of every path of the library against the naive loops, a lower bound
 * of the step (its bare products and kernel calls) and, when built with FANN, FANN's incremental
 * training.
 *
 *   bench_backprop [--nets A,B,..] [--batches 1,10,..] [--threads 1,2] [--budget SECONDS]
 *                  [--csv FILE] [--plot FILE.png] [--plot-net LAYERS] [--kernels 0|1]
 *                  [--clock wall|cpu]
 *
 * First (unless --kernels 0, or the library is a shared one, whose kernels are hidden) a table of
 * the elementwise kernels alone: G elements/s of each activation's forward pass and of each sigma'
 * beside a plain copy of the same 1000 x 256 block (kernel_table below). Its CSV rows have
 * network "kernels-1000x256", the kernel as impl and elements/s in the samples_per_s column.
 *
 * A step is forward + backward + SGD update of one mini-batch of B samples:
 *   naive    bp_naive_backward (double index loops, no BLAS) and a loop update
 *   sample   bp_forward + bp_backward per sample (sgemv, sger, saxpy), then bp_sgd_step
 *   batch    bp_gradient_batch (forward + backward, gradient written with beta = 0) forced onto
 *            sgemm (BP_PATH_GEMM), then bp_sgd_step
 *   loops    the same calls on the project's own loops (BP_PATH_LOOPS): no BLAS, one thread
 *   default  the same calls with the workspace's default choice of kernels (BP_PATH_AUTO)
 *   fann     B calls of fann_train (FANN's incremental training: one update per sample)
 *   bound    a lower bound of the step: what it must compute, with nothing between the calls -
 *            each matrix product (eqs. 15, B and C) in its fastest bare form at this point
 *            (sgemm, the library's loops, at B = 1 sgemv/sger: timed alone first), the
 *            elementwise passes (bias + sigma, the output error, sigma', the bias sums of eq. D)
 *            as single calls of the library's kernels, and the update by bp_sgd_step; the same
 *            threads (see "the bound" below for exactly what, and the shared-library build)
 *   infer    bp_forward_batch alone, default path (inference)
 *   online   B calls of bp_online_step (one fused plain-SGD update per sample, as fann makes)
 * For every grid point (network, B, BLAS threads) each path first runs once (warm-up: pages,
 * BLAS threads), then the paths run interleaved REPS times, each repetition in a new (seeded,
 * shuffled) order, so that a noisy machine slows all of them alike and no path always runs on the
 * caches the same other path leaves; REPS
 * fits the time budget, at least 3. The naive loops and FANN, which call no BLAS, run at the first
 * thread count only; the other rows repeat their figures. Reported: median samples/s
 * (B / step time) with min-max, default step time / bound, and GFLOP/s of the default path with
 * flops = 2 B sum_l n^l n^{l-1} (forward) + 2 B sum_l n^l n^{l-1} (eq. C) +
 * 2 B sum_{l>=3} n^l n^{l-1} (eq. B), the multiply-adds of the matrix products only. */
#include "backprop.h"
#include "../src/clock.h"
#include "blas_core.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BP_BENCH_FANN
#include <floatfann.h>
#endif
#ifdef BP_BENCH_KERNELS
#include "../src/kernels.h" /* the elementwise kernels: hidden symbols of the static library */
#endif

#define CHECK(call)                                                                                \
    do {                                                                                           \
        bp_status st_ = (call);                                                                    \
        if (st_) {                                                                                 \
            fprintf(stderr, "bench: %s: %s (%s)\n", #call, bp_strerror(st_), bp_last_error());    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* What a step's time is: wall time (bp__seconds), or with --clock cpu the processor time of the
 * process (all its threads), which a loaded machine changes far less (one-thread rows: the step's
 * own work). */
static clockid_t step_clock = CLOCK_MONOTONIC;

static double step_seconds(void)
{
    if (step_clock == CLOCK_MONOTONIC)
        return bp__seconds();
    struct timespec ts;
    clock_gettime(step_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------------------------- the grid */
typedef struct net_spec {
    const char *layers;
    bp_activation hidden, output;
    bp_cost cost;
} net_spec;

static const net_spec NETS[] = {
    {"2-16-1", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {"784-30-10", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {"784-100-10", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {"784-256-128-10", BP_RELU, BP_SOFTMAX, BP_NLL},
    {"1024-1024-1024-10", BP_RELU, BP_SOFTMAX, BP_NLL},
};
enum { NUM_NETS = sizeof NETS / sizeof NETS[0], MAX_LIST = 16 };

enum { NAIVE, SAMPLE, BATCH, LOOPS, DEFAULT, FANN, BOUND, INFER, ONLINE, BOUND_PATH, IMPLS };
static const char *const IMPL_NAME[IMPLS] = {"naive", "sample", "batch", "loops", "default",
                                             "fann", "bound", "infer", "online", "bound-path"};

static int parse_layers(const char *spec, int *sizes)
{
    int n = 0;
    char *end;
    for (const char *p = spec; n < BP_MAX_LAYERS; p = end + 1) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1 << 20)
            return 0;
        sizes[n++] = (int)v;
        if (*end != '-')
            return *end == '\0' && n >= 2 ? n : 0;
    }
    return 0;
}

/* ----------------------------------------------------------------- one grid point's state */
typedef struct point {
    bp_net *net;
    bp_workspace *ws_default, *ws_gemm, *ws_loops;
    int L, sizes[BP_MAX_LAYERS], batch;
    size_t P;
    float *X, *Y, *grad;
    /* the bound's activations and two deltas; its gradient and update are grad's and the
     * network's, the blocks every path uses, so that none runs on colder caches than another */
    float *act[BP_MAX_LAYERS + 1], *delta[2];
    bp_layer_view view[BP_MAX_LAYERS + 1];
    const net_spec *spec;
    unsigned char form[BP_MAX_LAYERS + 1][3]; /* the bound's form of each product (bound_forms) */
    unsigned char path_form[BP_MAX_LAYERS + 1][3]; /* the default path's kernels (path_forms) */
#ifdef BP_BENCH_FANN
    struct fann *ann;
#endif
} point;

static const float ETA = 1e-3f; /* small: a thousand steps must not drive the net anywhere odd */

static void point_create(point *pt, const net_spec *spec, int batch)
{
    memset(pt, 0, sizeof *pt);
    pt->L = parse_layers(spec->layers, pt->sizes);
    pt->batch = batch;
    pt->spec = spec;
    bp_activation acts[BP_MAX_LAYERS];
    for (int i = 0; i < pt->L - 1; i++)
        acts[i] = i == pt->L - 2 ? spec->output : spec->hidden;
    CHECK(bp_net_create(&pt->net, pt->L, pt->sizes, acts, spec->cost));
    CHECK(bp_net_init(pt->net, spec->hidden == BP_RELU ? BP_INIT_HE : BP_INIT_XAVIER, 1));
    CHECK(bp_workspace_create(&pt->ws_default, pt->net, batch));
    CHECK(bp_workspace_create(&pt->ws_gemm, pt->net, batch));
    CHECK(bp_workspace_set_path(pt->ws_gemm, BP_PATH_GEMM));
    CHECK(bp_workspace_create(&pt->ws_loops, pt->net, batch));
    CHECK(bp_workspace_set_path(pt->ws_loops, BP_PATH_LOOPS));
    bp_net_info info;
    CHECK(bp_net_describe(pt->net, &info));
    pt->P = info.num_params;
    int n1 = pt->sizes[0], nL = pt->sizes[pt->L - 1], maxw = 0;
    pt->X = xmalloc(sizeof(float) * (size_t)n1 * (size_t)batch);
    pt->Y = xmalloc(sizeof(float) * (size_t)nL * (size_t)batch);
    for (size_t i = 0; i < (size_t)n1 * (size_t)batch; i++)
        pt->X[i] = (float)(0.5 + 0.5 * sin(0.1 * (double)i));
    for (int j = 0; j < batch; j++) /* one-hot targets (a single output: 0 or 1) */
        pt->Y[(size_t)j * (size_t)nL + (size_t)(j % nL)] = nL == 1 ? (float)(j % 2) : 1.0f;
    pt->grad = xmalloc(sizeof(float) * pt->P);
    for (int l = 2; l <= pt->L; l++) {
        CHECK(bp_net_layer(pt->net, l, &pt->view[l]));
        pt->act[l] = xmalloc(sizeof(float) * (size_t)pt->sizes[l - 1] * (size_t)batch);
        if (pt->sizes[l - 1] > maxw)
            maxw = pt->sizes[l - 1];
    }
    for (int k = 0; k < 2; k++)
        pt->delta[k] = xmalloc(sizeof(float) * (size_t)maxw * (size_t)batch);
#ifdef BP_BENCH_FANN
    unsigned layers[BP_MAX_LAYERS];
    for (int i = 0; i < pt->L; i++)
        layers[i] = (unsigned)pt->sizes[i];
    pt->ann = fann_create_standard_array((unsigned)pt->L, layers);
    if (!pt->ann) {
        fprintf(stderr, "bench: fann_create_standard_array failed\n");
        exit(1);
    }
    fann_set_activation_function_hidden(pt->ann, FANN_SIGMOID);
    fann_set_activation_function_output(pt->ann, FANN_SIGMOID);
    fann_set_training_algorithm(pt->ann, FANN_TRAIN_INCREMENTAL);
    fann_set_learning_rate(pt->ann, ETA);
#endif
}

static void point_free(point *pt)
{
    bp_workspace_free(pt->ws_default);
    bp_workspace_free(pt->ws_gemm);
    bp_workspace_free(pt->ws_loops);
    bp_net_free(pt->net);
    free(pt->X);
    free(pt->Y);
    free(pt->grad);
    for (int l = 2; l <= pt->L; l++)
        free(pt->act[l]);
    free(pt->delta[0]);
    free(pt->delta[1]);
#ifdef BP_BENCH_FANN
    fann_destroy(pt->ann);
#endif
}

/* ------------------------------------------------------------------------------ the bound
 * A lower bound of the step: what it must compute, each part in its fastest bare form at this
 * point, with nothing between the calls (no argument checks, no dispatch, no copy). Per layer,
 * forward: eq. 15's product w a, then bias + sigma (bp__bias_activate); the output error (A)
 * (bp__output_delta, and sigma' in one pass over the block for the quadratic cost); backward:
 * (C)'s product delta a^T into the gradient, (D)'s row sums (bp__loops_bias_grad), and below the
 * output layer (B)'s product w^T delta, then sigma' (bp__mul_dsigma); then the update,
 * bp_sgd_step (one pass, the default path's). The elementwise passes are in because every path
 * must make them; they are the library's own kernels (their speed alone is the kernel table's).
 * Each product takes the fastest of its bare forms (bound_forms: timed alone at the point's start,
 * then the close ones inside whole bound steps), so that default/bound >= 1 up to noise whatever
 * kernel the default path picks. As a form fastest in such trials can still lose in the grid's
 * interleaved runs, a second set of forms runs there too when it differs (bound-path): the
 * default path's own kernels (path_forms); the bound is the faster of the two, by median. Forms:
 *  - sgemm; the products that overwrite (eq. 15, B) zero their output, then beta = 1 (OpenBLAS's
 *    beta = 0 is a slower pass of its own); (C) adds into the gradient, beta = 1, no zeroing;
 *  - the library's loops, (C) overwriting the gradient (no zeroing pass);
 *  - at B = 1, sgemv and sger (adding into the gradient).
 * The elementwise kernels and the loops are hidden symbols of the library: a build on the shared
 * library (no BP_BENCH_KERNELS) leaves the elementwise passes out and times sgemm and sgemv only,
 * a looser bound. */
enum { F_GEMM, F_LOOPS, F_GEMV, FORMS };
/* The products of layer l: eq. 15's z = w a, (C)'s grad += delta a^T, (B)'s w^T delta. */
enum { P_FORWARD, P_WGRAD, P_DELTA, PRODUCTS };

static int form_available(const point *pt, int form)
{
#ifdef BP_BENCH_KERNELS
    return form != F_GEMV || pt->batch == 1;
#else
    return form == F_GEMM || (form == F_GEMV && pt->batch == 1);
#endif
}

/* Product p of layer l in one form (only an available one is ever asked). */
static void bare_product(point *pt, int l, int p, int form)
{
    const bp_layer_view *v = &pt->view[l];
    float *params;
    CHECK(bp_net_params(pt->net, &params));
    const float *w = params + v->w_offset, *aprev = l == 2 ? pt->X : pt->act[l - 1];
    float *d = pt->delta[l % 2], *dprev = pt->delta[(l + 1) % 2], *gw = pt->grad + v->w_offset;
    int r = v->rows, c = v->cols, B = pt->batch;
    if (p == P_FORWARD && form == F_GEMM) { /* zeros and beta = 1: OpenBLAS's beta = 0 is slower */
        memset(pt->act[l], 0, sizeof(float) * (size_t)r * (size_t)B);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, r, B, c, 1.0f, w, r, aprev, c, 1.0f,
                    pt->act[l], r);
    }
    else if (p == P_FORWARD && form == F_GEMV)
        cblas_sgemv(CblasColMajor, CblasNoTrans, r, c, 1.0f, w, r, aprev, 1, 0.0f, pt->act[l], 1);
    else if (p == P_WGRAD && form == F_GEMM)
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, r, c, B, 1.0f, d, r, aprev, c, 1.0f,
                    gw, r);
    else if (p == P_WGRAD && form == F_GEMV)
        cblas_sger(CblasColMajor, r, c, 1.0f, d, 1, aprev, 1, gw, r);
    else if (p == P_DELTA && form == F_GEMM) {
        memset(dprev, 0, sizeof(float) * (size_t)c * (size_t)B);
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, c, B, r, 1.0f, w, r, d, r, 1.0f, dprev,
                    c);
    }
    else if (p == P_DELTA && form == F_GEMV)
        cblas_sgemv(CblasColMajor, CblasTrans, r, c, 1.0f, w, r, d, 1, 0.0f, dprev, 1);
#ifdef BP_BENCH_KERNELS
    else if (p == P_FORWARD)
        bp__loops_forward(r, c, B, w, aprev, c, pt->act[l]);
    else if (p == P_WGRAD)
        bp__loops_weight_grad(r, c, B, d, aprev, c, gw, 1); /* overwriting: no zeroing */
    else
        bp__loops_delta(r, c, B, w, d, dprev);
#endif
}

/* Seconds per call of product p of layer l in form f: calls in a row, doubling their count
 * until they take 100 us (a product of a few hundred multiply-adds is shorter than the clock's
 * own resolution and cost). */
static double form_seconds(point *pt, int l, int p, int f)
{
    for (long calls = 1;; calls *= 2) {
        double t0 = step_seconds();
        for (long k = 0; k < calls; k++)
            bare_product(pt, l, p, f);
        double t = step_seconds() - t0;
        if (t >= 1e-4 || calls >= 1L << 20)
            return t / (double)calls;
    }
}

#ifdef BP_BENCH_KERNELS
static bp_activation layer_act(const point *pt, int l)
{
    return l == pt->L ? pt->spec->output : pt->spec->hidden;
}

/* (A) into d from the bound's outputs, in the fewest bare passes. */
static void bound_output_error(point *pt, float *d)
{
    int nL = pt->sizes[pt->L - 1], B = pt->batch;
    bp_activation act = pt->spec->output;
    if (pt->spec->cost != BP_QUADRATIC || act == BP_SOFTMAX) {
        bp__output_delta(pt->spec->cost, act, pt->act[pt->L], pt->Y, nL, nL, B, d);
        return;
    }
    bp__output_delta(BP_QUADRATIC, BP_IDENTITY, pt->act[pt->L], pt->Y, nL, nL, B, d);
    bp__mul_dsigma(d, pt->act[pt->L], (size_t)nL * (size_t)B, act);
}
#endif

/* One bound step on pt's forms, or with path on the default path's (path_forms). */
static void bound_step(point *pt, int path)
{
    unsigned char(*form)[3] = path ? pt->path_form : pt->form;
    int B = pt->batch, L = pt->L;
#ifdef BP_BENCH_KERNELS
    float *params;
    CHECK(bp_net_params(pt->net, &params));
#endif
    for (int l = 2; l <= L; l++) {
        bare_product(pt, l, P_FORWARD, form[l][P_FORWARD]);
#ifdef BP_BENCH_KERNELS
        bp__bias_activate(pt->act[l], pt->view[l].rows, B, params + pt->view[l].b_offset,
                          layer_act(pt, l));
#endif
    }
#ifdef BP_BENCH_KERNELS
    bound_output_error(pt, pt->delta[L % 2]);
#endif
    for (int l = L; l >= 2; l--) {
        bare_product(pt, l, P_WGRAD, form[l][P_WGRAD]);
#ifdef BP_BENCH_KERNELS
        const bp_layer_view *v = &pt->view[l];
        bp__loops_bias_grad(v->rows, B, pt->delta[l % 2], pt->grad + v->b_offset);
#endif
        if (l == 2)
            break;
        bare_product(pt, l, P_DELTA, form[l][P_DELTA]);
#ifdef BP_BENCH_KERNELS
        bp__mul_dsigma(pt->delta[(l + 1) % 2], pt->act[l - 1], (size_t)v->cols * (size_t)B,
                       layer_act(pt, l - 1));
#endif
    }
    CHECK(bp_sgd_step(pt->net, pt->grad, ETA, B));
}

/* The kernels the default path (BP_PATH_AUTO) runs each product on: sgemm from two columns on;
 * at one column the loops, or sgemv / sger on a layer over 2^18 weights when the BLAS has more
 * than one thread (src/blas.c, choose). Without the loops (a shared build): sgemv / sger. */
static void path_forms(point *pt, int threads)
{
    for (int l = 2; l <= pt->L; l++) {
        double weights = (double)pt->view[l].rows * pt->view[l].cols;
        int f = pt->batch > 1                                ? F_GEMM
                : (weights > (1 << 18) && threads > 1) || !form_available(pt, F_LOOPS) ? F_GEMV
                                                             : F_LOOPS;
        memset(pt->path_form[l], f, sizeof pt->path_form[l]);
    }
}

/* Seconds of one bound step with the forms set, the least of seven, each from a zeroed gradient
 * (untimed, so that the products adding into it never pile up). */
static double bound_step_seconds(point *pt)
{
    double best = INFINITY;
    for (int k = 0; k < 7; k++) {
        CHECK(bp_grad_zero(pt->net, pt->grad));
        double t0 = bp__seconds();
        bound_step(pt, 0);
        double t = bp__seconds() - t0;
        best = t < best ? t : best;
    }
    return best;
}

/* The fastest form of every product of pt. First each form timed alone (the least of three
 * timings, or of one when it is already twice the best's); then every form within 1.5 times the
 * fastest alone is tried inside whole bound steps, product by product, and the one of the fastest
 * step kept: inside the step the caches hold what its other passes left, and a form that wins
 * alone can lose there (sgemv against the loops at B = 1). The gradient is left zeroed. */
static void bound_forms(point *pt)
{
    double alone[BP_MAX_LAYERS + 1][PRODUCTS][FORMS];
    for (int l = 2; l <= pt->L; l++)
        for (int p = 0; p < PRODUCTS && (p != P_DELTA || l > 2); p++) {
            double best = INFINITY;
            for (int f = 0; f < FORMS; f++) {
                alone[l][p][f] = INFINITY;
                for (int k = 0; k < 3 && form_available(pt, f); k++) {
                    double t = form_seconds(pt, l, p, f);
                    alone[l][p][f] = fmin(alone[l][p][f], t);
                    if (t < best) {
                        best = t;
                        pt->form[l][p] = (unsigned char)f;
                    } else if (t > 2 * best) {
                        break;
                    }
                }
            }
        }
    for (int l = 2; l <= pt->L; l++)
        for (int p = 0; p < PRODUCTS && (p != P_DELTA || l > 2); p++) {
            int start = pt->form[l][p], best_f = start;
            double best = -1; /* timed only where another form is close */
            for (int f = 0; f < FORMS; f++) {
                if (f == start || !(alone[l][p][f] < 1.5 * alone[l][p][start]))
                    continue;
                if (best < 0)
                    best = bound_step_seconds(pt);
                pt->form[l][p] = (unsigned char)f;
                double t = bound_step_seconds(pt);
                if (t < best) {
                    best = t;
                    best_f = f;
                }
            }
            pt->form[l][p] = (unsigned char)best_f;
        }
    CHECK(bp_grad_zero(pt->net, pt->grad));
}

static void sgd(point *pt)
{
    CHECK(bp_sgd_step(pt->net, pt->grad, ETA, pt->batch));
}

static void run_impl(int impl, point *pt)
{
    int B = pt->batch, n1 = pt->sizes[0], nL = pt->sizes[pt->L - 1];
    switch (impl) {
    case NAIVE: {
        float *w;
        CHECK(bp_grad_zero(pt->net, pt->grad));
        CHECK(bp_naive_backward(pt->net, B, pt->X, n1, pt->Y, nL, pt->grad, NULL));
        CHECK(bp_net_params(pt->net, &w));
        for (size_t i = 0; i < pt->P; i++)
            w[i] -= ETA / (float)B * pt->grad[i];
        break;
    }
    case SAMPLE:
        CHECK(bp_grad_zero(pt->net, pt->grad));
        for (int j = 0; j < B; j++) {
            const float *x = pt->X + (size_t)j * (size_t)n1, *y = pt->Y + (size_t)j * (size_t)nL;
            CHECK(bp_forward(pt->net, pt->ws_default, x));
            CHECK(bp_backward(pt->net, pt->ws_default, x, y, pt->grad));
        }
        sgd(pt);
        break;
    case BATCH:
    case LOOPS:
    case DEFAULT: {
        bp_workspace *ws = impl == BATCH   ? pt->ws_gemm
                           : impl == LOOPS ? pt->ws_loops
                                           : pt->ws_default;
        CHECK(bp_gradient_batch(pt->net, ws, B, pt->X, n1, pt->Y, nL, pt->grad, NULL));
        sgd(pt);
        break;
    }
    case FANN:
#ifdef BP_BENCH_FANN
        for (int j = 0; j < B; j++)
            fann_train(pt->ann, pt->X + (size_t)j * (size_t)n1, pt->Y + (size_t)j * (size_t)nL);
#endif
        break;
    case BOUND: bound_step(pt, 0); break;
    case BOUND_PATH: bound_step(pt, 1); break;
    case INFER: CHECK(bp_forward_batch(pt->net, pt->ws_default, B, pt->X, n1)); break;
    case ONLINE:
        for (int j = 0; j < B; j++)
            CHECK(bp_online_step(pt->net, pt->ws_default, pt->X + (size_t)j * (size_t)n1,
                                 pt->Y + (size_t)j * (size_t)nL, ETA, NULL));
        break;
    }
}

/* -------------------------------------------------------------------------------- results */
typedef struct result {
    double med[IMPLS], min[IMPLS], max[IMPLS]; /* seconds per step */
    int reps;
} result;

static int impl_enabled(int impl)
{
#ifdef BP_BENCH_FANN
    (void)impl;
    return 1;
#else
    return impl != FANN;
#endif
}

/* The paths in the table, the CSV and the plot: bound-path is folded into the bound (measure). */
static int impl_listed(int impl) { return impl_enabled(impl) && impl != BOUND_PATH; }

/* Naive loops and FANN call no BLAS: the thread count cannot change their time. */
static int uses_blas(int impl) { return impl != NAIVE && impl != FANN; }

/* Time every enabled path on pt; with reuse (the same point at another BLAS thread count), the
 * paths that use no BLAS take reuse's figures instead of running again (they are the slowest). */
static void measure(point *pt, double budget, const result *reuse, result *res)
{
    int run[IMPLS];
    double once = 0, t0;
    for (int i = 0; i < IMPLS; i++) {
        run[i] = impl_enabled(i) && (!reuse || uses_blas(i)) &&
                 (i != BOUND_PATH || memcmp(pt->form, pt->path_form, sizeof pt->form));
        if (run[i]) { /* warm-up, and the time of one step */
            t0 = step_seconds();
            run_impl(i, pt);
            once += step_seconds() - t0;
        }
    }
    int reps = (int)(budget / once);
    reps = reps < 3 ? 3 : reps > 31 ? 31 : reps;
    double *t = xmalloc(sizeof *t * IMPLS * (size_t)reps);
    unsigned long long lcg = 1;
    for (int r = 0; r < reps; r++) {
        /* a new order every repetition (a seeded shuffle): a rotation would keep every path after
         * the same one, on the caches that one leaves (the bound after FANN's passes, cold) */
        int order[IMPLS];
        for (int u = 0; u < IMPLS; u++)
            order[u] = u;
        for (int u = IMPLS - 1; u > 0; u--) {
            lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
            int v = (int)((lcg >> 33) % (unsigned long long)(u + 1)), tmp = order[u];
            order[u] = order[v];
            order[v] = tmp;
        }
        for (int u = 0; u < IMPLS; u++) {
            int i = order[u];
            if (run[i]) {
                t0 = step_seconds();
                run_impl(i, pt);
                t[i * reps + r] = step_seconds() - t0;
            }
        }
    }
    *res = reuse ? *reuse : (result){0};
    res->reps = reps;
    for (int i = 0; i < IMPLS; i++) {
        if (!run[i])
            continue;
        double *v = t + i * reps;
        qsort(v, (size_t)reps, sizeof *v, cmp_double);
        res->min[i] = v[0];
        res->max[i] = v[reps - 1];
        res->med[i] = reps % 2 ? v[reps / 2] : 0.5 * (v[reps / 2 - 1] + v[reps / 2]);
    }
    if (run[BOUND_PATH] && res->med[BOUND_PATH] < res->med[BOUND]) { /* the faster set of forms */
        res->med[BOUND] = res->med[BOUND_PATH];
        res->min[BOUND] = res->min[BOUND_PATH];
        res->max[BOUND] = res->max[BOUND_PATH];
    }
    free(t);
}

static double step_flops(const point *pt)
{
    double f = 0;
    for (int l = 2; l <= pt->L; l++)
        f += 2.0 * (l == 2 ? 2.0 : 3.0) * pt->sizes[l - 1] * pt->sizes[l - 2] * pt->batch;
    return f;
}

/* samples/s as a short string: 812, 12.3k, 4.56M */
static const char *rate(char *buf, double samples_per_s)
{
    if (samples_per_s >= 1e6)
        snprintf(buf, 16, "%.2fM", samples_per_s * 1e-6);
    else if (samples_per_s >= 1e3)
        snprintf(buf, 16, "%.1fk", samples_per_s * 1e-3);
    else
        snprintf(buf, 16, "%.0f", samples_per_s);
    return buf;
}

static void print_header(void)
{
    printf("| network | B | thr |");
    for (int i = 0; i < IMPLS; i++)
        if (impl_listed(i) && i != BOUND)
            printf(" %s |", IMPL_NAME[i]);
    printf(" default/bound | batch/naive | default/best | GFLOP/s |\n|---|--:|--:|");
    for (int i = 0; i < IMPLS; i++)
        if (impl_listed(i) && i != BOUND)
            printf("--:|");
    printf("--:|--:|--:|--:|\n");
}

static void print_row(const point *pt, const char *layers, int threads, const result *r)
{
    char a[16], b[16], c[16];
    int B = pt->batch;
    printf("| %s | %d | %d |", layers, B, threads);
    for (int i = 0; i < IMPLS; i++)
        if (impl_listed(i) && i != BOUND) {
            if (i == DEFAULT)
                printf(" **%s** (%s-%s) |", rate(a, B / r->med[i]), rate(b, B / r->max[i]),
                       rate(c, B / r->min[i]));
            else
                printf(" %s |", rate(a, B / r->med[i]));
        }
    double best = fmin(fmin(r->med[SAMPLE], r->med[LOOPS]), fmin(r->med[BATCH], r->med[DEFAULT]));
    printf(" %.2f | %.1f | %.2f | %.1f |\n", r->med[DEFAULT] / r->med[BOUND],
           r->med[NAIVE] / r->med[BATCH], r->med[DEFAULT] / best,
           step_flops(pt) / r->med[DEFAULT] * 1e-9);
    fflush(stdout);
}

/* A formatted line appended to f (the library's safe writer: the CSV appears whole at the end). */
static int put_line(bp_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put_line(bp_file *f, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof line || bp_file_write(f, line, (size_t)n) != BP_OK;
}

/* blas: the library and its kernels, so that the CSVs of two builds (OpenBLAS, BLIS) concatenate
 * into one table. Returns nonzero if the row could not be written. */
static int csv_row(bp_file *csv, const point *pt, const char *layers, int threads,
                   const result *r, const char *blas)
{
    int failed = 0;
    for (int i = 0; i < IMPLS; i++)
        if (impl_listed(i))
            failed |= put_line(csv, "%s,%d,%d,%s,%d,%.9g,%.9g,%.9g,%.6g,%.6g,%s\n", layers,
                               pt->batch, threads, IMPL_NAME[i], r->reps, r->med[i], r->min[i],
                               r->max[i], pt->batch / r->med[i],
                               step_flops(pt) / r->med[i] * 1e-9, blas);
    return failed;
}

/* The plotted network's results, by thread count and batch size. */
typedef struct plot_data {
    int count, batch[MAX_LIST], threads[MAX_LIST];
    result res[MAX_LIST][MAX_LIST]; /* [batch index][thread index] */
} plot_data;

/* gnuplot: median samples/s against B for one network, one line per path at the first thread
 * count, and the default path at the others. */
static int plot(const plot_data *pd, int nt, const char *png, const char *layers)
{
    FILE *gp = popen("gnuplot", "w");
    if (!gp)
        return -1;
    fprintf(gp,
            "set terminal pngcairo size 1000,560\nset output '%s'\nset logscale xy\n"
            "set key outside right\nset grid\nset xlabel 'batch size B'\n"
            "set ylabel 'training samples/s (median)'\nset title 'backprop %s: one training step "
            "(forward + backward + SGD update)'\nplot ",
            png, layers);
    const char *sep = "";
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < IMPLS; i++)
            if (impl_listed(i) && i != INFER && (t == 0 || i == DEFAULT)) {
                fprintf(gp, "%s'-' using 1:2 with linespoints lw 2 title '%s, %d BLAS thread%s'",
                        sep, IMPL_NAME[i], pd->threads[t], pd->threads[t] > 1 ? "s" : "");
                sep = ", ";
            }
    fprintf(gp, "\n");
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < IMPLS; i++)
            if (impl_listed(i) && i != INFER && (t == 0 || i == DEFAULT)) {
                for (int b = 0; b < pd->count; b++)
                    fprintf(gp, "%d %.6g\n", pd->batch[b], pd->batch[b] / pd->res[b][t].med[i]);
                fprintf(gp, "e\n");
            }
    return pclose(gp);
}

/* Draw the plot into png_file's temporary file and commit it (png NULL: no plot). */
static int finish_plot(const plot_data *pd, int nt, const char *png, bp_file *png_file,
                       const char *plot_net)
{
    if (!png)
        return 0;
    if (!pd->count) {
        fprintf(stderr, "bench: --plot-net %s was not measured; %s not written\n", plot_net, png);
        bp_file_discard(png_file);
        return 1;
    }
    if (plot(pd, nt, bp_file_temp_path(png_file), plot_net)) {
        fprintf(stderr, "bench: gnuplot failed or is not installed; %s not written\n", png);
        bp_file_discard(png_file);
        return 1;
    }
    if (bp_file_commit(png_file)) {
        fprintf(stderr, "bench: %s\n", bp_last_error());
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ kernel table */
#ifdef BP_BENCH_KERNELS
/* The elementwise kernels alone on one 1000 x 256 block (a layer of 1000 units at B = 256, 1 MB)
 * beside a plain copy of the same block: each forward activation (bias + sigma, in place; the
 * smooth ones, which keep z, write a into a second block), sigma' (d <- d (.) sigma'(a), or
 * sigma'(z) for the smooth ones), and memcpy into a second block. Before each timed call its
 * buffer is reset from the same inputs (untimed), so every call sees the same values, in cache:
 * pre-activations uniform in [-8, 8] plus a bias in [-1, 1], activations sigma of those, deltas
 * in [-1, 1]. The kernels run interleaved, each repetition starting one later, as in the grid. */
enum { KROWS = 1000, KCOLS = 256 };
typedef struct kernel_case {
    const char *name;
    int dsigma; /* 0: forward pass, 1: sigma', -1: the copy */
    bp_activation act;
} kernel_case;
static const kernel_case KERNELS[] = {
    {"copy (memcpy)", -1, BP_IDENTITY},  {"identity", 0, BP_IDENTITY},
    {"relu", 0, BP_RELU},                {"leaky relu", 0, BP_LEAKY_RELU},
    {"sigmoid", 0, BP_SIGMOID},          {"tanh", 0, BP_TANH},
    {"softmax (1000 rows)", 0, BP_SOFTMAX}, {"sigmoid'", 1, BP_SIGMOID},
    {"tanh'", 1, BP_TANH},               {"relu'", 1, BP_RELU},
    {"leaky relu'", 1, BP_LEAKY_RELU},   {"softplus", 0, BP_SOFTPLUS},
    {"silu", 0, BP_SILU},                {"gelu", 0, BP_GELU},
    {"softplus'", 1, BP_SOFTPLUS},       {"silu'", 1, BP_SILU},
    {"gelu'", 1, BP_GELU},
};
enum { NUM_KERNELS = sizeof KERNELS / sizeof KERNELS[0] };

typedef struct kernel_bufs {
    float *z0, *b, *act0[BP_SOFTMAX + 1], *d0, *work, *copy;
} kernel_bufs;

static void kernel_bufs_create(kernel_bufs *kb)
{
    size_t n = (size_t)KROWS * KCOLS;
    kb->z0 = xmalloc(n * sizeof(float));
    kb->d0 = xmalloc(n * sizeof(float));
    kb->work = xmalloc(n * sizeof(float));
    kb->copy = xmalloc(n * sizeof(float));
    kb->b = xmalloc(KROWS * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        kb->z0[i] = (float)(8.0 * sin(0.37 * (double)i));
        kb->d0[i] = (float)cos(0.11 * (double)i);
    }
    for (int i = 0; i < KROWS; i++)
        kb->b[i] = (float)sin(1.3 * i);
    for (int k = 0; k <= BP_SOFTMAX; k++) { /* a = sigma(z0 + b), what sigma' reads */
        kb->act0[k] = xmalloc(n * sizeof(float));
        memcpy(kb->act0[k], kb->z0, n * sizeof(float));
        bp__bias_activate(kb->act0[k], KROWS, KCOLS, kb->b, (bp_activation)k);
    }
}

static void kernel_bufs_free(kernel_bufs *kb)
{
    free(kb->z0);
    free(kb->d0);
    free(kb->work);
    free(kb->copy);
    free(kb->b);
    for (int k = 0; k <= BP_SOFTMAX; k++)
        free(kb->act0[k]);
}

/* Softplus, SiLU and GELU: sigma' needs z, so their layers keep it (bp__bias_activate_z). */
static int keeps_z(bp_activation act)
{
    return act == BP_SOFTPLUS || act == BP_SILU || act == BP_GELU;
}

/* One timed call of kernel k (its buffer reset first, untimed); seconds. */
static double kernel_run(const kernel_bufs *kb, int k)
{
    const kernel_case *kc = &KERNELS[k];
    size_t n = (size_t)KROWS * KCOLS, bytes = n * sizeof(float);
    memcpy(kb->work, kc->dsigma == 1 ? kb->d0 : kb->z0, bytes);
    double t0 = bp__seconds();
    if (kc->dsigma < 0)
        memcpy(kb->copy, kb->work, bytes);
    else if (kc->dsigma && keeps_z(kc->act))
        bp__mul_dsigma_z(kb->work, kb->z0, n, kc->act);
    else if (kc->dsigma)
        bp__mul_dsigma(kb->work, kb->act0[kc->act], n, kc->act);
    else if (keeps_z(kc->act))
        bp__bias_activate_z(kb->work, kb->copy, KROWS, KCOLS, kb->b, kc->act);
    else
        bp__bias_activate(kb->work, KROWS, KCOLS, kb->b, kc->act);
    return bp__seconds() - t0;
}

static int kernel_table(double budget, bp_file *csv, const char *blas_name)
{
    enum { REPS = 201 };
    static double t[NUM_KERNELS][REPS];
    kernel_bufs kb;
    kernel_bufs_create(&kb);
    double n = (double)KROWS * KCOLS, med[NUM_KERNELS];
    int reps = 0, failed = 0;
    for (double start = bp__seconds(); reps < REPS && (reps < 11 || bp__seconds() - start < budget);
         reps++)
        for (int u = 0; u < NUM_KERNELS; u++) {
            int k = (reps + u) % NUM_KERNELS;
            t[k][reps] = kernel_run(&kb, k);
        }
    printf("| kernel, %d x %d floats | G elements/s | ns/element (min-max) | time / copy |\n"
           "|---|--:|--:|--:|\n", KROWS, KCOLS);
    for (int k = 0; k < NUM_KERNELS; k++) {
        qsort(t[k], (size_t)reps, sizeof(double), cmp_double);
        med[k] = t[k][reps / 2];
        printf("| %s | %.2f | %.3f (%.3f-%.3f) | %.2f |\n", KERNELS[k].name, n / med[k] * 1e-9,
               med[k] / n * 1e9, t[k][0] / n * 1e9, t[k][reps - 1] / n * 1e9, med[k] / med[0]);
        failed |= put_line(csv, "kernels-%dx%d,%d,1,%s,%d,%.9g,%.9g,%.9g,%.6g,0,%s\n", KROWS,
                           KCOLS, KCOLS, KERNELS[k].name, reps, med[k], t[k][0], t[k][reps - 1],
                           n / med[k], blas_name);
    }
    printf("\nsigmoid forward - identity forward: %.3f ns/element (median of %d repetitions)\n\n",
           (med[4] - med[1]) / n * 1e9, reps);
    kernel_bufs_free(&kb);
    return failed;
}
#endif

static int parse_list(const char *s, int *out)
{
    int n = 0;
    for (char *end; *s && n < MAX_LIST; s = *end ? end + 1 : end) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || (*end && *end != ','))
            return 0;
        out[n++] = (int)v;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_backprop [--nets A,B,..] [--batches 1,10,..] [--threads 1,2] "
                    "[--budget SECONDS] [--csv FILE] [--plot FILE.png] [--plot-net LAYERS] "
                    "[--kernels 0|1] [--clock wall|cpu]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *nets = NULL, *csv_path = "bench.csv", *png = NULL, *plot_net = "784-100-10";
    int batches[MAX_LIST] = {1, 10, 32, 128, 1024}, nb = 5, threads[MAX_LIST] = {1, 2}, nt = 2;
    double budget = 1.0;
    int kernels = 1;
    static plot_data pd;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            usage();
        i++;
        if (!strcmp(arg, "--nets"))
            nets = val;
        else if (!strcmp(arg, "--batches"))
            nb = parse_list(val, batches);
        else if (!strcmp(arg, "--threads"))
            nt = parse_list(val, threads);
        else if (!strcmp(arg, "--budget"))
            budget = atof(val);
        else if (!strcmp(arg, "--csv"))
            csv_path = val;
        else if (!strcmp(arg, "--plot"))
            png = val;
        else if (!strcmp(arg, "--plot-net"))
            plot_net = val;
        else if (!strcmp(arg, "--kernels"))
            kernels = atoi(val);
        else if (!strcmp(arg, "--clock") && (!strcmp(val, "wall") || !strcmp(val, "cpu")))
            step_clock = !strcmp(val, "cpu") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        else
            usage();
        if (!nb || !nt || !(budget > 0))
            usage();
    }
    blas_core_upgrade(argv);
    /* Both outputs are created (and so checked) before the long measurement: temporary files
     * beside them, committed only when complete; gnuplot writes into the PNG's. */
    bp_file *csv = NULL, *png_file = NULL;
    if (bp_file_create(&csv, csv_path) || (png && bp_file_create(&png_file, png))) {
        fprintf(stderr, "bench: %s\n", bp_last_error());
        bp_file_discard(csv);
        return 1;
    }
    bp_blas_info blas;
    bp_blas_describe(&blas);
    char blas_name[128];
    snprintf(blas_name, sizeof blas_name, "%s %s", blas.library, blas_core_name());
    int failed = put_line(csv, "network,batch,threads,impl,reps,median_s,min_s,max_s,"
                               "samples_per_s,gflops,blas\n");
    printf("BLAS: %s, kernels %s%s\n\n", blas.library, blas_core_name(),
           blas.narrow ? " (narrower than the CPU's vectors)" : "");
#ifdef BP_BENCH_KERNELS
    if (kernels)
        failed |= kernel_table(budget, csv, blas_name);
#else
    (void)kernels;
#endif
    print_header();
    for (int n = 0; n < NUM_NETS; n++) {
        if (nets && !strstr(nets, NETS[n].layers))
            continue;
        for (int b = 0; b < nb; b++) {
            point pt;
            result res[MAX_LIST];
            point_create(&pt, &NETS[n], batches[b]);
            for (int t = 0; t < nt; t++) {
                if (bp_blas_set_threads(threads[t]) && threads[t] > 1)
                    fprintf(stderr, "bench: %s: %d threads asked\n", bp_last_error(), threads[t]);
                bound_forms(&pt); /* at this thread count */
                path_forms(&pt, threads[t]);
                measure(&pt, budget, t ? &res[0] : NULL, &res[t]);
                print_row(&pt, NETS[n].layers, threads[t], &res[t]);
                failed |= csv_row(csv, &pt, NETS[n].layers, threads[t], &res[t], blas_name);
                if (!strcmp(NETS[n].layers, plot_net)) {
                    pd.batch[b] = batches[b];
                    pd.threads[t] = threads[t];
                    pd.res[b][t] = res[t];
                    pd.count = b + 1;
                }
            }
            point_free(&pt);
        }
    }
    if (failed || bp_file_commit(csv)) {
        fprintf(stderr, "bench: %s: %s\n", csv_path, failed ? "a row too long" : bp_last_error());
        bp_file_discard(png_file);
        return 1;
    }
    return finish_plot(&pd, nt, png, png_file, plot_net);
}
