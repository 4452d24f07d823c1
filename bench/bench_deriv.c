/* The cost of the derivatives with respect to the inputs against the passes they extend, at one
 * BLAS thread:
 *   forward  bp_forward_batch of B samples
 *   vjp      bp_vjp_batch after it (seeds V)
 *   step     bp_gradient_batch + bp_sgd_step: the ordinary training step of the quadratic cost
 *   forces   bp_gradient_forces (w_E = w_F = 1) + bp_sgd_step
 * on the default path (BP_PATH_AUTO), for the networks of the list (the force loss needs one
 * output: a network with n^L > 1 gets its step and forces rows on its layers with one output).
 *
 *   bench_deriv [--nets 2-64-64-1,784-256-128-10] [--batch B] [--reps R]
 *
 * Each repetition times every operation once, over enough calls for about 20 ms of CPU time,
 * starting one operation later than the previous repetition (forward, vjp, step, forces; vjp,
 * step, ...), so that a noisy machine slows all alike. Reported: the median CPU time per call, its
 * min-max, and the ratios vjp / forward and forces / step of the medians. */
#include "backprop.h"
#include "blas_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        bp_status st_ = (call);                                                                    \
        if (st_) {                                                                                 \
            fprintf(stderr, "bench_deriv: %s: %s (%s)\n", #call, bp_strerror(st_),               \
                    bp_last_error());                                                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { OPS = 4, MAX_REPS = 101 };
static const char *const OP_NAME[OPS] = {"forward", "vjp", "step", "forces"};

typedef struct bench {
    bp_net *net, *net1; /* net1: the same layers with one output, for the force rows */
    bp_workspace *ws, *ws1;
    int n1, nL, batch;
    float *X, *V, *G, *Y, *EF, *grad, *grad1;
} bench;

/* The process's CPU time, not the wall clock: on a machine shared with other jobs (a load above
 * the core count) a wall-clock window also holds the time this process waited for a core. With
 * one BLAS thread the process's CPU time is this thread's. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n, unsigned *seed)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_deriv: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

static bp_net *make_net(int L, const int *sizes)
{
    bp_activation acts[BP_MAX_LAYERS];
    for (int i = 0; i < L - 1; i++)
        acts[i] = i == L - 2 ? BP_IDENTITY : BP_SILU;
    bp_net *net = NULL;
    CHECK(bp_net_create(&net, L, sizes, acts, BP_QUADRATIC));
    CHECK(bp_net_init(net, BP_INIT_XAVIER, 1));
    return net;
}

static void bench_create(bench *b, int L, int *sizes, int batch)
{
    unsigned seed = 7;
    memset(b, 0, sizeof *b);
    b->n1 = sizes[0], b->nL = sizes[L - 1], b->batch = batch;
    b->net = make_net(L, sizes);
    int last = sizes[L - 1];
    sizes[L - 1] = 1;
    b->net1 = make_net(L, sizes);
    sizes[L - 1] = last;
    CHECK(bp_workspace_create(&b->ws, b->net, batch));
    CHECK(bp_workspace_create_tangent(&b->ws1, b->net1, batch));
    size_t B = (size_t)batch;
    b->X = filled((size_t)b->n1 * B, &seed);
    b->V = filled((size_t)b->nL * B, &seed);
    b->G = filled((size_t)b->n1 * B, &seed);
    b->Y = filled((size_t)b->nL * B, &seed);
    b->EF = filled((size_t)(b->n1 + 1) * B, &seed);
    bp_net_info info;
    CHECK(bp_net_describe(b->net, &info));
    b->grad = filled(info.num_params, &seed);
    CHECK(bp_net_describe(b->net1, &info));
    b->grad1 = filled(info.num_params, &seed);
    CHECK(bp_forward_batch(b->net, b->ws, batch, b->X, b->n1));
}

static void bench_free(bench *b)
{
    bp_workspace_free(b->ws), bp_workspace_free(b->ws1);
    bp_net_free(b->net), bp_net_free(b->net1);
    free(b->X), free(b->V), free(b->G), free(b->Y), free(b->EF), free(b->grad), free(b->grad1);
}

static void run_op(bench *b, int op)
{
    int B = b->batch, n1 = b->n1;
    switch (op) {
    case 0: CHECK(bp_forward_batch(b->net, b->ws, B, b->X, n1)); break;
    case 1: CHECK(bp_vjp_batch(b->net, b->ws, B, b->V, b->nL, b->G, n1)); break;
    case 2:
        CHECK(bp_gradient_batch(b->net1, b->ws1, B, b->X, n1, b->EF, n1 + 1, b->grad1, NULL));
        CHECK(bp_sgd_step(b->net1, b->grad1, 1e-6f, B));
        break;
    case 3:
        CHECK(bp_gradient_forces(b->net1, b->ws1, B, b->X, n1, b->EF, n1 + 1, b->EF + 1, n1 + 1,
                                 1.0f, 1.0f, b->grad1, NULL));
        CHECK(bp_sgd_step(b->net1, b->grad1, 1e-6f, B));
        break;
    }
}

/* Seconds per call of op over calls enough for about 20 ms (calls fixed after the first round). */
static double time_op(bench *b, int op, long *calls)
{
    if (*calls == 0) {
        double t0 = now();
        long n = 0;
        while (now() - t0 < 0.02)
            run_op(b, op), n++;
        *calls = n;
    }
    double t0 = now();
    for (long i = 0; i < *calls; i++)
        run_op(b, op);
    return (now() - t0) / (double)*calls;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static void measure(const char *layers, int L, int *sizes, int batch, int reps)
{
    bench b;
    bench_create(&b, L, sizes, batch);
    static double t[OPS][MAX_REPS];
    long calls[OPS] = {0};
    for (int op = 0; op < OPS; op++) /* warm-up, and the call counts */
        time_op(&b, op, &calls[op]);
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < OPS; k++) {
            int op = (r + k) % OPS;
            t[op][r] = time_op(&b, op, &calls[op]);
        }
    double med[OPS];
    for (int op = 0; op < OPS; op++) {
        qsort(t[op], (size_t)reps, sizeof t[op][0], cmp);
        med[op] = t[op][reps / 2];
        printf("%-16s B=%-4d %-8s %10.2f us  [%.2f, %.2f]%s\n", layers, batch, OP_NAME[op],
               1e6 * med[op], 1e6 * t[op][0], 1e6 * t[op][reps - 1],
               op >= 2 && b.nL != 1 ? "  (one output)" : "");
    }
    printf("%-16s B=%-4d vjp/forward %.2f   forces/step %.2f\n\n", layers, batch, med[1] / med[0],
           med[3] / med[2]);
    bench_free(&b);
}

int main(int argc, char **argv)
{
    blas_core_upgrade(argv);
    bp_blas_set_threads(1);
    const char *nets = "2-64-64-1,784-256-128-10";
    int batch = 128, reps = 11;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--nets"))
            nets = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (batch < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_deriv [--nets A,B] [--batch B >= 1] [--reps 1..%d]\n",
                MAX_REPS);
        return 2;
    }
    printf("BLAS kernels %s, 1 thread; CPU time, median of %d repetitions, SiLU hidden layers\n",
           blas_core_name(), reps);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", nets);
    char *outer = NULL, *inner = NULL;
    for (char *spec = strtok_r(buf, ",", &outer); spec; spec = strtok_r(NULL, ",", &outer)) {
        int sizes[BP_MAX_LAYERS], L = 0;
        char name[64];
        snprintf(name, sizeof name, "%s", spec);
        for (char *s = strtok_r(spec, "-", &inner); s && L < BP_MAX_LAYERS;
             s = strtok_r(NULL, "-", &inner))
            sizes[L++] = atoi(s);
        if (L < 2) {
            fprintf(stderr, "bench_deriv: bad network %s\n", name);
            return 2;
        }
        measure(name, L, sizes, batch, reps);
    }
    return 0;
}
