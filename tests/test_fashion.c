/* Slow: a short training on Fashion-MNIST (Debian package dataset-fashion-mnist, or the directory
 * in $BACKPROP_DATA) must reach >= 0.84 test accuracy. When the dataset is absent the program exits
 * 77, which ctest reports as skipped (not passed); CI installs it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backprop.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *data_dir(void)
{
    const char *d = getenv("BACKPROP_DATA");
    return d && *d ? d : "/usr/share/datasets/fashion-mnist";
}

/* dir/PREFIX-KIND-idxN-ubyte, gzip-compressed or plain, whichever exists; 0 if neither. */
static int find(char *path, size_t size, const char *prefix, const char *kind, int rank)
{
    static const char *const suffixes[] = {".gz", ""};
    for (int i = 0; i < 2; i++) {
        snprintf(path, size, "%s/%s-%s-idx%d-ubyte%s", data_dir(), prefix, kind, rank, suffixes[i]);
        if (access(path, R_OK) == 0)
            return 1;
    }
    return 0;
}

static int present(const char *prefix)
{
    char p[4096];
    return find(p, sizeof p, prefix, "images", 3) && find(p, sizeof p, prefix, "labels", 1);
}

static void load(bp_dataset *ds, const char *prefix)
{
    char images[4096], labels[4096];
    assert_true(find(images, sizeof images, prefix, "images", 3));
    assert_true(find(labels, sizeof labels, prefix, "labels", 1));
    bp_status st = bp_dataset_load_idx(ds, images, labels, 10);
    if (st)
        fail_msg("%s: %s", bp_strerror(st), bp_last_error());
}

static void short_training_reaches_084(void **state)
{
    (void)state;
    bp_dataset train = {0}, test = {0};
    load(&train, "train");
    load(&test, "t10k");
    assert_int_equal(train.count, 60000);
    assert_int_equal(test.count, 10000);
    assert_int_equal(train.n_features, 784);

    int sizes[] = {784, 100, 10};
    bp_activation acts[] = {BP_RELU, BP_SOFTMAX};
    bp_net *net = NULL;
    assert_int_equal(bp_net_create(&net, 3, sizes, acts, BP_NLL), BP_OK);
    assert_int_equal(bp_net_init(net, BP_INIT_HE, 1), BP_OK);
    bp_train_config cfg = {.epochs = 2, .batch_size = 64, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.001f}};
    assert_int_equal(bp_train(net, &train, NULL, &cfg, NULL), BP_OK);
    double loss, accuracy;
    assert_int_equal(bp_evaluate(net, &test, &loss, &accuracy, NULL), BP_OK);
    print_message("test accuracy after 2 epochs: %.4f (loss %.4f)\n", accuracy, loss);
    assert_true(accuracy >= 0.84);
    bp_net_free(net);
    bp_dataset_free(&train);
    bp_dataset_free(&test);
}

int main(void)
{
    if (!present("train") || !present("t10k")) {
        printf("Fashion-MNIST not found in %s: install dataset-fashion-mnist; skipped\n", data_dir());
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(short_training_reaches_084)};
    return cmocka_run_group_tests_name("fashion", tests, NULL, NULL);
}
