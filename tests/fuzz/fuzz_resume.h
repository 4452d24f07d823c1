/* The training run whose checkpoints fuzz_checkpoint_load resumes, shared with fuzz_corpus.c
 * (which writes its seeds by running it): a 3-4-2 tanh/softmax network under NLL on 6 fixed
 * samples, 3 epochs of batches of 2, for each optimizer, early stopping (patience 1, the same set
 * evaluated) on or off. Static functions: each program compiles its own copy of this header. */
#ifndef BP_FUZZ_RESUME_H_INCLUDED
#define BP_FUZZ_RESUME_H_INCLUDED

#include <backprop.h>
#include <string.h>

enum { RESUME_SAMPLES = 6, RESUME_EPOCHS = 3 };

static const int resume_sizes[] = {3, 4, 2};
static const bp_activation resume_acts[] = {BP_TANH, BP_SOFTMAX};

/* The network with its initial parameters; NULL if it cannot be made. */
static bp_net *resume_net(void)
{
    bp_net *net = NULL;
    if (bp_net_create(&net, 3, resume_sizes, resume_acts, BP_NLL) != BP_OK)
        return NULL;
    if (bp_net_init(net, BP_INIT_XAVIER, 1) != BP_OK) {
        bp_net_free(net);
        return NULL;
    }
    return net;
}

/* The samples, in the caller's arrays: x in [-1, 1], label i % 2, one-hot y. */
typedef struct resume_data {
    float x[3 * RESUME_SAMPLES], y[2 * RESUME_SAMPLES];
    int labels[RESUME_SAMPLES];
    bp_dataset ds;
} resume_data;

static void resume_data_make(resume_data *d)
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 3 * RESUME_SAMPLES; i++)
        d->x[i] = (float)((i * 7) % 11 - 5) / 5.0f;
    for (int j = 0; j < RESUME_SAMPLES; j++) {
        d->labels[j] = j % 2;
        d->y[2 * j + j % 2] = 1.0f;
    }
    d->ds = (bp_dataset){RESUME_SAMPLES, 3, 2, d->x, d->y, d->labels};
}

static bp_train_config resume_config(bp_optimizer_kind kind, int early_stopping)
{
    bp_train_config cfg = {.epochs = RESUME_EPOCHS, .batch_size = 2, .seed = 5,
                           .optim = {.kind = kind, .eta = kind == BP_OPT_ADAM ? 0.01f : 0.05f,
                                     .mu = 0.9f, .lambda = 0.01f},
                           .schedule = {.kind = BP_LR_COSINE},
                           .patience = early_stopping ? 1 : 0};
    return cfg;
}

#endif
