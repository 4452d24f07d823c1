/* Slow: a short training on Fashion-MNIST (Debian package dataset-fashion-mnist, or the directory
 * in $BACKPROP_DATA) must reach >= 0.84 test accuracy. Skipped when the dataset is absent; CI
 * installs it. */
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

static int load(bp_dataset *ds, const char *prefix)
{
    char images[4096], labels[4096];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", data_dir(), prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", data_dir(), prefix);
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        return 0;
    bp_status st = bp_dataset_load_idx(ds, images, labels, 10);
    if (st)
        fail_msg("%s: %s", bp_strerror(st), bp_last_error());
    return 1;
}

static void short_training_reaches_084(void **state)
{
    (void)state;
    bp_dataset train = {0}, test = {0};
    if (!load(&train, "train") || !load(&test, "t10k")) {
        bp_dataset_free(&train);
        print_message("Fashion-MNIST not found in %s: install dataset-fashion-mnist\n", data_dir());
        skip();
    }
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(short_training_reaches_084)};
    return cmocka_run_group_tests_name("fashion", tests, NULL, NULL);
}
