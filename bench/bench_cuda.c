/* GPU rows of the benchmark (built with BACKPROP_CUDA): training-step throughput of the cuBLAS
 * backend against the GPU's own bare cublasSgemm bound, on the grid networks of bench_backprop.
 *
 *   bench_cuda [--budget SECONDS]     (per grid point; default 0.5)
 *
 * For each network and B = 128, 1024, 8192:
 *   step   bp_cuda_gradient_batch (the batch's X and Y go up, forward, eqs. A-D on the device)
 *          then bp_cuda_step (SGD; its squared-norm check brings one double down): what one
 *          training step costs with the batch on the host;
 *   infer  bp_cuda_forward_batch (X up, A^L down);
 *   bound  the step's matrix products alone as bare cublasSgemm calls on device memory, same
 *          shapes (eq. 15 per layer, eq. B for l >= 3, eq. C per layer), no kernel between them,
 *          no copy, one synchronisation at the end.
 * Each runs once to warm up, then REPS times (as many as fit the budget, at least 5, alternating
 * the three), and the median samples/s (B / time) is printed with step/bound, the fraction of the
 * bound the step reaches. Without a usable GPU it says so and exits 77. */
#include "backprop.h"
#include "backprop_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        bp_status st_ = (call);                                                                    \
        if (st_) {                                                                                 \
            fprintf(stderr, "bench_cuda: %s: %s (%s)\n", #call, bp_strerror(st_),                  \
                    bp_last_error());                                                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_CUDA(ok, what)                                                                       \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            fprintf(stderr, "bench_cuda: %s failed\n", what);                                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct net_spec {
    int num_layers;
    int sizes[4];
    const char *layers;
    bp_activation hidden, output;
    bp_cost cost;
} net_spec;

/* The grid of bench_backprop. */
static const net_spec NETS[] = {
    {3, {2, 16, 1}, "2-16-1", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {3, {784, 30, 10}, "784-30-10", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {3, {784, 100, 10}, "784-100-10", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC},
    {4, {784, 256, 128, 10}, "784-256-128-10", BP_RELU, BP_SOFTMAX, BP_NLL},
    {4, {1024, 1024, 1024, 10}, "1024-1024-1024-10", BP_RELU, BP_SOFTMAX, BP_NLL},
};
static const int BATCHES[] = {128, 1024, 8192};
enum { IMPLS = 3, MAX_REPS = 1000 };
static const char *const IMPL_NAME[IMPLS] = {"step", "infer", "bound"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One grid point: the network, its device copy, a batch on the host, and the bound's device
 * buffers (weights, activations, deltas, gradients, each as large as the largest layer needs). */
typedef struct point {
    const net_spec *spec;
    int batch;
    bp_net *net;
    bp_cuda *cu;
    float *X, *Y, *out;
    cublasHandle_t handle;
    float *dw, *da, *dd, *dg;
} point;

static void *host_alloc(size_t n)
{
    void *p = calloc(n, sizeof(float));
    CHECK_CUDA(p != NULL, "calloc");
    return p;
}

static void point_create(point *pt, const net_spec *spec, int batch)
{
    bp_activation acts[3];
    for (int l = 0; l < spec->num_layers - 2; l++)
        acts[l] = spec->hidden;
    acts[spec->num_layers - 2] = spec->output;
    memset(pt, 0, sizeof *pt);
    pt->spec = spec;
    pt->batch = batch;
    CHECK(bp_net_create(&pt->net, spec->num_layers, spec->sizes, acts, spec->cost));
    CHECK(bp_net_init(pt->net, BP_INIT_SCALED, 1));
    bp_optim_config sgd = {.kind = BP_OPT_SGD, .eta = 1e-3f};
    CHECK(bp_cuda_create(&pt->cu, pt->net, batch, &sgd));
    int n1 = spec->sizes[0], nL = spec->sizes[spec->num_layers - 1], wide = 0;
    pt->X = host_alloc((size_t)n1 * (size_t)batch);
    pt->Y = host_alloc((size_t)nL * (size_t)batch);
    pt->out = host_alloc((size_t)nL * (size_t)batch);
    for (size_t i = 0; i < (size_t)n1 * (size_t)batch; i++)
        pt->X[i] = (float)(i % 17) / 17.0f;
    for (int j = 0; j < batch; j++)
        pt->Y[(size_t)j * (size_t)nL + (size_t)(j % nL)] = 1.0f;
    for (int l = 0; l < spec->num_layers; l++)
        wide = spec->sizes[l] > wide ? spec->sizes[l] : wide;
    size_t w = (size_t)wide * (size_t)wide, a = (size_t)wide * (size_t)batch;
    CHECK_CUDA(cublasCreate(&pt->handle) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    CHECK_CUDA(cudaMalloc((void **)&pt->dw, w * sizeof(float)) == cudaSuccess &&
                   cudaMalloc((void **)&pt->dg, w * sizeof(float)) == cudaSuccess &&
                   cudaMalloc((void **)&pt->da, a * sizeof(float)) == cudaSuccess &&
                   cudaMalloc((void **)&pt->dd, a * sizeof(float)) == cudaSuccess,
               "cudaMalloc");
    CHECK_CUDA(cudaMemset(pt->dw, 0, w * sizeof(float)) == cudaSuccess &&
                   cudaMemset(pt->da, 0, a * sizeof(float)) == cudaSuccess &&
                   cudaMemset(pt->dd, 0, a * sizeof(float)) == cudaSuccess,
               "cudaMemset");
}

static void point_free(point *pt)
{
    cudaFree(pt->dw);
    cudaFree(pt->dg);
    cudaFree(pt->da);
    cudaFree(pt->dd);
    cublasDestroy(pt->handle);
    bp_cuda_free(pt->cu);
    bp_net_free(pt->net);
    free(pt->X);
    free(pt->Y);
    free(pt->out);
}

/* The step's products, bare: eq. 15, eq. B (l >= 3) and eq. C for every layer. */
static void bound_step(point *pt)
{
    const float one = 1.0f, zero = 0.0f;
    const int *n = pt->spec->sizes, B = pt->batch;
    int ok = 1;
    for (int l = 1; l < pt->spec->num_layers; l++)
        ok &= cublasSgemm(pt->handle, CUBLAS_OP_N, CUBLAS_OP_N, n[l], B, n[l - 1], &one, pt->dw,
                          n[l], pt->da, n[l - 1], &zero, pt->dd, n[l]) == CUBLAS_STATUS_SUCCESS;
    for (int l = pt->spec->num_layers - 1; l >= 1; l--) {
        ok &= cublasSgemm(pt->handle, CUBLAS_OP_N, CUBLAS_OP_T, n[l], n[l - 1], B, &one, pt->dd,
                          n[l], pt->da, n[l - 1], &zero, pt->dg, n[l]) == CUBLAS_STATUS_SUCCESS;
        if (l >= 2)
            ok &= cublasSgemm(pt->handle, CUBLAS_OP_T, CUBLAS_OP_N, n[l - 1], B, n[l], &one,
                              pt->dw, n[l], pt->dd, n[l], &zero, pt->da, n[l - 1]) ==
                  CUBLAS_STATUS_SUCCESS;
    }
    CHECK_CUDA(ok && cudaDeviceSynchronize() == cudaSuccess, "the bound's cublasSgemm");
}

/* Seconds of one run of impl on pt. */
static double run_impl(int impl, point *pt)
{
    int n1 = pt->spec->sizes[0], nL = pt->spec->sizes[pt->spec->num_layers - 1];
    double t0 = now();
    switch (impl) {
    case 0:
        CHECK(bp_cuda_gradient_batch(pt->cu, pt->batch, pt->X, n1, pt->Y, nL, NULL, NULL));
        CHECK(bp_cuda_step(pt->cu, pt->batch, pt->batch, 1e-3f));
        break;
    case 1: CHECK(bp_cuda_forward_batch(pt->cu, pt->batch, pt->X, n1, pt->out, nL)); break;
    default: bound_step(pt); break;
    }
    return now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median samples/s of each impl at pt, alternating them, within budget seconds. */
static void measure(point *pt, double budget, double rate[IMPLS])
{
    static double t[IMPLS][MAX_REPS];
    int reps = 0;
    double start;
    for (int i = 0; i < IMPLS; i++)
        run_impl(i, pt); /* warm-up */
    start = now();
    while (reps < MAX_REPS && (reps < 5 || now() - start < budget)) {
        for (int i = 0; i < IMPLS; i++)
            t[(i + reps) % IMPLS][reps] = run_impl((i + reps) % IMPLS, pt);
        reps++;
    }
    for (int i = 0; i < IMPLS; i++) {
        qsort(t[i], (size_t)reps, sizeof(double), cmp_double);
        rate[i] = pt->batch / t[i][reps / 2];
    }
}

int main(int argc, char **argv)
{
    double budget = 0.5;
    if (argc == 3 && strcmp(argv[1], "--budget") == 0)
        budget = atof(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: bench_cuda [--budget SECONDS]\n");
        return 2;
    }
    int count = 0;
    struct cudaDeviceProp prop;
    bp_cuda_device_count(&count);
    if (count < 1 || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        printf("bench_cuda: no usable CUDA device (%s): no GPU rows\n", bp_last_error());
        return 77;
    }
    printf("GPU: %s (%d SMs), CUDA runtime %d\n", prop.name, prop.multiProcessorCount,
           CUDART_VERSION);
    printf("%-20s %6s %14s %14s %14s %10s\n", "network", "B", IMPL_NAME[0], IMPL_NAME[1],
           IMPL_NAME[2], "step/bound");
    for (size_t k = 0; k < sizeof NETS / sizeof NETS[0]; k++)
        for (size_t b = 0; b < sizeof BATCHES / sizeof BATCHES[0]; b++) {
            point pt;
            double rate[IMPLS];
            point_create(&pt, &NETS[k], BATCHES[b]);
            measure(&pt, budget, rate);
            printf("%-20s %6d %14.4g %14.4g %14.4g %10.2f\n", NETS[k].layers, BATCHES[b], rate[0],
                   rate[1], rate[2], rate[0] / rate[2]);
            fflush(stdout);
            point_free(&pt);
        }
    return 0;
}
