/* Training and inference from several threads of the application, the recipe of the README:
 *  - one network, shared: forward and backward only read it;
 *  - one workspace and one gradient block per thread: each thread backpropagates its slice of the
 *    batch, the main thread sums the slices' gradients and takes the step (no thread is running);
 *  - BLAS threads are the application's choice, set before any work: here one per user thread, so
 *    that THREADS threads use THREADS cores and the results do not depend on the BLAS's threading.
 * The program trains twice from the same initial parameters, once with the slices run one after the
 * other on the main thread and once on THREADS threads, and exits non-zero unless both trainings
 * and both inferences give the same bits. */
#include <backprop.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 4, SLICE = 64, SAMPLES = THREADS * SLICE, EPOCHS = 300 };

/* One thread's share: its slice of the data, its own workspace and gradient block. */
typedef struct worker {
    const bp_net *net;
    bp_workspace *ws;
    const float *x, *y; /* the slice: columns [t*SLICE, (t+1)*SLICE) */
    float *grad;
    int *classes;       /* inference only: SLICE predicted classes */
    bp_status status;
} worker;

/* Gradient of the slice, or with classes set its predictions (one forward). */
static void *work(void *arg)
{
    worker *w = arg;
    w->status = bp_forward_batch(w->net, w->ws, SLICE, w->x, 2);
    if (!w->status && w->classes)
        w->status = bp_workspace_classes(w->ws, w->classes);
    else if (!w->status) {
        w->status = bp_grad_zero(w->net, w->grad);
        if (!w->status)
            w->status = bp_backward_batch(w->net, w->ws, SLICE, w->x, 2, w->y, 2, w->grad);
    }
    return NULL;
}

/* Run every worker, on its own thread or one after the other on this one. */
static bp_status run_all(worker *w, int threaded)
{
    pthread_t tid[THREADS];
    int created[THREADS];
    for (int t = 0; t < THREADS; t++) {
        created[t] = threaded && pthread_create(&tid[t], NULL, work, &w[t]) == 0;
        if (!created[t])
            work(&w[t]); /* sequential run, or no thread could be created: the same result */
    }
    for (int t = 0; t < THREADS; t++)
        if (created[t])
            pthread_join(tid[t], NULL);
    for (int t = 0; t < THREADS; t++)
        if (w[t].status)
            return w[t].status;
    return BP_OK;
}

/* EPOCHS full-batch SGD steps on net, then the predicted class of every sample. */
static bp_status train_and_classify(bp_net *net, const float *x, const float *y, size_t num_params,
                                    int threaded, int *classes)
{
    worker w[THREADS] = {{0}};
    float *sum = calloc(num_params, sizeof *sum);
    bp_status st = sum ? BP_OK : BP_ENOMEM;
    for (int t = 0; t < THREADS && !st; t++) {
        w[t] = (worker){.net = net, .x = x + (size_t)t * SLICE * 2, .y = y + (size_t)t * SLICE * 2};
        w[t].grad = malloc(num_params * sizeof *w[t].grad);
        st = w[t].grad ? bp_workspace_create(&w[t].ws, net, SLICE) : BP_ENOMEM;
    }
    for (int epoch = 0; epoch < EPOCHS && !st; epoch++) {
        st = run_all(w, threaded);
        /* Summed in thread order on one thread: the same sum whichever thread finished first. */
        memset(sum, 0, num_params * sizeof *sum);
        for (int t = 0; t < THREADS && !st; t++)
            for (size_t i = 0; i < num_params; i++)
                sum[i] += w[t].grad[i];
        if (!st)
            st = bp_sgd_step(net, sum, 0.5f, SAMPLES);
    }
    for (int t = 0; t < THREADS; t++)
        w[t].classes = classes + t * SLICE;
    if (!st)
        st = run_all(w, threaded);
    for (int t = 0; t < THREADS; t++) {
        bp_workspace_free(w[t].ws);
        free(w[t].grad);
    }
    free(sum);
    return st;
}

int main(void)
{
    (void)bp_blas_set_threads(1); /* BP_ECONFIG on a generic CBLAS: it keeps its own count */
    /* SAMPLES points of [-1,1]^2 as columns; class 1 where x0 * x1 > 0 (a smooth XOR). */
    static float x[SAMPLES * 2], y[SAMPLES * 2];
    unsigned lcg = 12345;
    for (int j = 0; j < SAMPLES; j++) {
        for (int i = 0; i < 2; i++) {
            lcg = lcg * 1103515245u + 12345u;
            x[2 * j + i] = (float)((lcg >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        int positive = x[2 * j] * x[2 * j + 1] > 0;
        y[2 * j] = (float)!positive;
        y[2 * j + 1] = (float)positive;
    }
    const int sizes[] = {2, 16, 2};
    const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *one = NULL, *many = NULL;
    bp_net_info info;
    float *params_one, *params_many;
    static int classes_one[SAMPLES], classes_many[SAMPLES];

    bp_status st = bp_net_create(&one, 3, sizes, acts, BP_NLL);
    if (!st) st = bp_net_create(&many, 3, sizes, acts, BP_NLL);
    if (!st) st = bp_net_init(one, BP_INIT_XAVIER, 5);
    if (!st) st = bp_net_init(many, BP_INIT_XAVIER, 5);
    if (!st) st = bp_net_describe(one, &info);
    if (!st) st = train_and_classify(one, x, y, info.num_params, 0, classes_one);
    if (!st) st = train_and_classify(many, x, y, info.num_params, 1, classes_many);
    if (!st) st = bp_net_params(one, &params_one);
    if (!st) st = bp_net_params(many, &params_many);
    int status = 1;
    if (st) {
        fprintf(stderr, "threads: %s: %s\n", bp_strerror(st), bp_last_error());
    } else {
        int correct = 0;
        for (int j = 0; j < SAMPLES; j++)
            correct += classes_many[j] == (y[2 * j + 1] > 0.5f);
        int same_params = !memcmp(params_one, params_many, info.num_params * sizeof(float));
        int same_classes = !memcmp(classes_one, classes_many, sizeof classes_one);
        printf("threads: %d threads, parameters %s, classes %s, accuracy %.3f\n", THREADS,
               same_params ? "identical" : "DIFFER", same_classes ? "identical" : "DIFFER",
               (double)correct / SAMPLES);
        status = same_params && same_classes && correct >= SAMPLES * 9 / 10 ? 0 : 1;
    }
    bp_net_free(one);
    bp_net_free(many);
    return status;
}
