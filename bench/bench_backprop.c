/* Naive loops vs CBLAS, per sample (sgemv/sger) vs per batch (sgemm), on the same gradient.
 *
 *   bench_backprop [LAYERS [BATCH [REPS]]]      e.g. bench_backprop 784-100-10 64 9
 *
 * Without arguments it runs a fixed set of shapes. For each shape the three paths compute the
 * summed gradient of one batch; they run interleaved (naive, per-sample, batch, naive, ...) REPS
 * times and the table gives medians and the ratios naive/batch and per-sample/batch, so that a noisy
 * shared machine slows all three alike. Set OPENBLAS_NUM_THREADS to choose BLAS threads. */
#include "backprop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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

#define CHECK(call)                                                                                \
    do {                                                                                           \
        bp_status st_ = (call);                                                                    \
        if (st_) {                                                                                 \
            fprintf(stderr, "bench: %s: %s (%s)\n", #call, bp_strerror(st_), bp_last_error());    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { NAIVE, SAMPLE, BATCH, PATHS };

/* One timed gradient of the batch through path p. */
static void run_path(int p, const bp_net *net, bp_workspace *ws, int n1, int nL, int batch,
                     const float *X, const float *Y, float *grad)
{
    CHECK(bp_grad_zero(net, grad));
    switch (p) {
    case NAIVE: CHECK(bp_naive_backward(net, batch, X, n1, Y, nL, grad, NULL)); break;
    case SAMPLE:
        for (int j = 0; j < batch; j++) {
            const float *x = X + (size_t)j * (size_t)n1, *y = Y + (size_t)j * (size_t)nL;
            CHECK(bp_forward(net, ws, x));
            CHECK(bp_backward(net, ws, x, y, grad));
        }
        break;
    case BATCH:
        CHECK(bp_forward_batch(net, ws, batch, X, n1));
        CHECK(bp_backward_batch(net, ws, batch, X, n1, Y, nL, grad));
        break;
    }
}

static void bench(const char *spec, int batch, int reps)
{
    int sizes[BP_MAX_LAYERS], L = parse_layers(spec, sizes);
    if (!L || batch < 1 || reps < 1) {
        fprintf(stderr, "bench: bad arguments '%s' %d %d\n", spec, batch, reps);
        exit(2);
    }
    bp_activation acts[BP_MAX_LAYERS];
    for (int i = 0; i < L - 1; i++)
        acts[i] = i == L - 2 ? BP_SOFTMAX : BP_RELU;
    bp_net *net;
    bp_workspace *ws;
    CHECK(bp_net_create(&net, L, sizes, acts, BP_NLL));
    CHECK(bp_net_init(net, BP_INIT_HE, 1));
    CHECK(bp_workspace_create(&ws, net, batch));
    bp_net_info info;
    CHECK(bp_net_describe(net, &info));
    int n1 = sizes[0], nL = sizes[L - 1];
    float *X = malloc(sizeof *X * (size_t)n1 * (size_t)batch);
    float *Y = calloc((size_t)nL * (size_t)batch, sizeof *Y);
    float *grad = malloc(sizeof *grad * info.num_params);
    double *t = malloc(sizeof *t * PATHS * (size_t)reps);
    if (!X || !Y || !grad || !t) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)n1 * (size_t)batch; i++)
        X[i] = (float)(0.5 + 0.5 * sin(0.1 * (double)i));
    for (int j = 0; j < batch; j++)
        Y[(size_t)j * (size_t)nL + (size_t)(j % nL)] = 1.0f;

    for (int p = 0; p < PATHS; p++) /* warm-up: page in buffers, start BLAS threads */
        run_path(p, net, ws, n1, nL, batch, X, Y, grad);
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < PATHS; p++) {
            double t0 = now();
            run_path(p, net, ws, n1, nL, batch, X, Y, grad);
            t[p * reps + r] = now() - t0;
        }
    double med[PATHS];
    for (int p = 0; p < PATHS; p++)
        med[p] = median(t + p * reps, reps);
    double flops = 0; /* 2 x multiply-adds of forward and (C) for every layer, (B) but for l = 2 */
    for (int l = 1; l < L; l++)
        flops += 2.0 * (l == 1 ? 2.0 : 3.0) * sizes[l] * sizes[l - 1] * batch;
    printf("%-18s %6d %12.3f %12.3f %12.3f %10.1f %10.1f %10.2f\n", spec, batch, 1e3 * med[NAIVE],
           1e3 * med[SAMPLE], 1e3 * med[BATCH], med[NAIVE] / med[BATCH], med[SAMPLE] / med[BATCH],
           flops / med[BATCH] * 1e-9);
    free(X);
    free(Y);
    free(grad);
    free(t);
    bp_workspace_free(ws);
    bp_net_free(net);
}

int main(int argc, char **argv)
{
    printf("%-18s %6s %12s %12s %12s %10s %10s %10s\n", "layers", "batch", "naive ms",
           "sample ms", "batch ms", "naive/bat", "sample/bat", "GFLOP/s");
    if (argc > 1) {
        bench(argv[1], argc > 2 ? atoi(argv[2]) : 64, argc > 3 ? atoi(argv[3]) : 9);
        return 0;
    }
    static const struct {
        const char *layers;
        int batch;
    } cases[] = {{"784-30-10", 10}, {"784-30-10", 64}, {"784-100-10", 64},
                 {"784-512-10", 64}, {"784-256-128-10", 128}, {"1000-1000-1000", 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bench(cases[i].layers, cases[i].batch, 9);
    return 0;
}
