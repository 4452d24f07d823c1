/* Train a 2-4-1 network on XOR with the library's training loop, report its cost, save it. */
#include <backprop.h>
#include <stdio.h>

int main(void)
{
    float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0}; /* 4 samples as columns */
    bp_dataset data = {.count = 4, .n_features = 2, .n_targets = 1, .x = x, .y = y};
    int sizes[] = {2, 4, 1};
    bp_activation acts[] = {BP_TANH, BP_SIGMOID};
    bp_train_config cfg = {.epochs = 2000, .batch_size = 4, .seed = 7,
                           .optim = {.kind = BP_OPT_MOMENTUM, .eta = 0.5f, .mu = 0.9f}};
    bp_net *net = NULL;
    double loss, accuracy;
    bp_status st = bp_net_create(&net, 3, sizes, acts, BP_CROSS_ENTROPY);
    if (!st) st = bp_net_init(net, BP_INIT_XAVIER, 42);
    if (!st) st = bp_train(net, &data, NULL, &cfg, NULL);
    if (!st) st = bp_evaluate(net, &data, &loss, &accuracy, NULL);
    if (!st) st = bp_model_save(net, "xor.bpn");
    if (st) fprintf(stderr, "xor: %s: %s\n", bp_strerror(st), bp_last_error());
    else printf("mean cross-entropy %.4f, saved xor.bpn\n", loss);
    bp_net_free(net);
    return st ? 1 : 0;
}
