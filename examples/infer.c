/* Regression with the data's scaling stored in the model, then inference as an embedding code does
 * it: the model comes from a memory buffer (its own file, an MPI message), one workspace is made
 * once, and bp_predict maps raw inputs to raw outputs. Built and run by the test suite; the README
 * quotes it. */
#include <backprop.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 200 };

int main(void)
{
    static float x[2 * N], y[N];
    for (int j = 0; j < N; j++) { /* y = 2 x0/1000 - x1^2, x0 in thousands, x1 in [-1, 1] */
        x[2 * j] = 1000.0f + 10.0f * j;
        x[2 * j + 1] = (float)((j * 37) % N) / N * 2 - 1;
        y[j] = 2 * x[2 * j] / 1000 - x[2 * j + 1] * x[2 * j + 1];
    }
    bp_dataset data = {.count = N, .n_features = 2, .n_targets = 1, .x = x, .y = y};
    int sizes[] = {2, 16, 1};
    bp_activation acts[] = {BP_TANH, BP_IDENTITY};
    bp_train_config cfg = {.epochs = 300, .batch_size = 20, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f}};
    float m[2], s[2], my, sy, X[2] = {1500, 0.5f}, Y;
    bp_regression_metrics fit;
    bp_net *net = NULL, *loaded = NULL;
    bp_workspace *ws = NULL;
    bp_status st = bp_net_create(&net, 3, sizes, acts, BP_QUADRATIC);
    if (!st) st = bp_net_init(net, BP_INIT_XAVIER, 3);
    if (!st) st = bp_dataset_standardization(&data, BP_SCALE_INPUTS, m, s);
    if (!st) st = bp_dataset_standardization(&data, BP_SCALE_TARGETS, &my, &sy);
    if (!st) st = bp_net_set_scaling(net, BP_SCALE_INPUTS, m, s);
    if (!st) st = bp_net_set_scaling(net, BP_SCALE_TARGETS, &my, &sy);
    if (!st) st = bp_train(net, &data, NULL, &cfg, NULL);
    if (!st) st = bp_evaluate_regression(net, &data, &fit, NULL);
    if (!st) st = bp_model_save(net, "infer.bpn");
    /* The embedding code: the model's bytes from wherever they live, then load, workspace,
     * predict (the last two allocate nothing per call and may run on many threads). */
    FILE *f = st ? NULL : fopen("infer.bpn", "rb");
    static unsigned char bytes[4096];
    size_t len = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    if (!st) st = bp_model_load_memory(&loaded, bytes, len);
    if (!st) st = bp_workspace_create(&ws, loaded, 1);
    if (!st) st = bp_predict(loaded, ws, 1, X, 2, &Y, 1);
    if (st) fprintf(stderr, "infer: %s: %s\n", bp_strerror(st), bp_last_error());
    else printf("fit: rmse %.4f r2 %.4f; f(1500, 0.5) = %.3f (true %.3f)\n", fit.rmse, fit.r2,
                Y, 2 * 1.5 - 0.25);
    bp_workspace_free(ws);
    bp_net_free(loaded);
    bp_net_free(net);
    return st || !(fit.r2 > 0.99 && fabsf(Y - 2.75f) < 0.05f);
}
