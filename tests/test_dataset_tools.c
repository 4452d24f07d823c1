/* Data sets as tools write them and what the program needs around them: bp_dataset_read_csv
 * (streams, headers, byte-order marks, quotes, float labels, the width checked first, features
 * alone),
 * bp_dataset_split_random (seeded, stratified), bp_dataset_load_idx_images, bp_checkpoint_describe,
 * and the one-output (binary) rule of bp_evaluate and bp_workspace_classes. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backprop.h"
#include "bp_test.h"

/* A stream holding the n bytes of text (tmpfile: removed when closed). */
static FILE *stream_of(const char *text, size_t n)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    rewind(f);
    return f;
}

/* bp_dataset_read_csv of text; returns the status, *ds filled on success. */
static bp_status read_text(const char *text, size_t n, bp_csv_kind kind, int k,
                           bp_csv_header header, int n_features, bp_dataset *ds)
{
    FILE *f = stream_of(text, n);
    bp_status st = bp_dataset_read_csv(ds, f, "t.csv", kind, k, header, n_features);
    fclose(f);
    return st;
}

#define READ(text, kind, k, header, nf, ds) read_text(text, sizeof text - 1, kind, k, header, nf, ds)

static void csv_as_tools_write_it(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbf\"x1\",\"x2\",\"label\"\r\n"
                               "\"1.5\", -2 ,1.0\r\n"
                               "# a comment\r\n"
                               "3,\"4\",0\r\n";
    bp_dataset ds;
    bpt_ok(READ(text, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 0, &ds));
    assert_int_equal(ds.count, 2);
    assert_int_equal(ds.n_features, 2);
    assert_true(ds.x[0] == 1.5f && ds.x[1] == -2.0f && ds.x[2] == 3.0f && ds.x[3] == 4.0f);
    assert_int_equal(ds.labels[0], 1);
    assert_int_equal(ds.labels[1], 0);
    assert_true(ds.y[0] == 0.0f && ds.y[1] == 1.0f && ds.y[2] == 1.0f && ds.y[3] == 0.0f);
    bp_dataset_free(&ds);
}

static void csv_header_rules(void **state)
{
    (void)state;
    static const char numbers[] = "1,2,3\n4,5,0\n";
    static const char names[] = "a,b,c\n4,5,0\n";
    static const char empty[] = ",,\n4,5,0\n";
    bp_dataset ds;
    bpt_ok(READ(numbers, BP_CSV_CLASSES, 4, BP_CSV_HEADER_DETECT, 0, &ds));
    assert_int_equal(ds.count, 2); /* a first line of numbers is data */
    bp_dataset_free(&ds);
    bpt_ok(READ(numbers, BP_CSV_CLASSES, 4, BP_CSV_HEADER_PRESENT, 0, &ds));
    assert_int_equal(ds.count, 1);
    assert_true(ds.x[0] == 4.0f);
    bp_dataset_free(&ds);
    bpt_assert_status(READ(names, BP_CSV_CLASSES, 4, BP_CSV_HEADER_ABSENT, 0, &ds), BP_EFORMAT,
                      "t.csv:1: column 1: 'a' is not a number");
    bpt_assert_status(READ(empty, BP_CSV_CLASSES, 4, BP_CSV_HEADER_DETECT, 0, &ds), BP_EFORMAT,
                      "t.csv:1: column 1: empty field");
    bpt_assert_status(READ(numbers, BP_CSV_CLASSES, 4, (bp_csv_header)3, 0, &ds), BP_EDIM,
                      "header");
}

static void csv_width_named_first(void **state)
{
    (void)state;
    static const char wide[] = "1,2,3,9\n";
    bp_dataset ds;
    /* label 9 is out of range too: the width comes first */
    bpt_assert_status(READ(wide, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 2, &ds), BP_EMISMATCH,
                      "t.csv:1: 4 columns, expected 3 (2 features, then the label)");
    bpt_assert_status(READ(wide, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 0, &ds), BP_EFORMAT,
                      "label 9 is not in [0, 2)");
    bpt_ok(READ(wide, BP_CSV_TARGETS, 1, BP_CSV_HEADER_DETECT, 3, &ds));
    bp_dataset_free(&ds);
}

/* Features alone: any width reads, one column included, with no targets; n must be 0. */
static void csv_features_alone(void **state)
{
    (void)state;
    static const char one[] = "x\n0.5\n-1\n";
    static const char two[] = "1,2\n3,4\n";
    static const char ragged[] = "1\n3,4\n";
    bp_dataset ds;
    bpt_ok(READ(one, BP_CSV_FEATURES, 0, BP_CSV_HEADER_DETECT, 0, &ds));
    assert_int_equal(ds.count, 2);
    assert_int_equal(ds.n_features, 1);
    assert_int_equal(ds.n_targets, 0);
    assert_true(ds.x[0] == 0.5f && ds.x[1] == -1.0f && !ds.y && !ds.labels);
    bp_dataset_free(&ds);
    bpt_ok(READ(two, BP_CSV_FEATURES, 0, BP_CSV_HEADER_ABSENT, 2, &ds));
    assert_true(ds.n_features == 2 && ds.count == 2 && ds.x[3] == 4.0f && !ds.y);
    bp_dataset_free(&ds);
    bpt_assert_status(READ(two, BP_CSV_FEATURES, 0, BP_CSV_HEADER_ABSENT, 1, &ds), BP_EMISMATCH,
                      "t.csv:1: 2 columns, expected 1 (1 features)");
    bpt_assert_status(READ(ragged, BP_CSV_FEATURES, 0, BP_CSV_HEADER_ABSENT, 0, &ds), BP_EFORMAT,
                      "t.csv:2: 2 columns, expected 1 as on line 1");
    bpt_assert_status(READ(one, BP_CSV_FEATURES, 1, BP_CSV_HEADER_DETECT, 0, &ds), BP_EDIM,
                      "n is 1, expected 0 for features alone");
    bpt_assert_status(READ(one, BP_CSV_TARGETS, 0, BP_CSV_HEADER_DETECT, 0, &ds), BP_EDIM,
                      "n is 0, expected at least 1");
    bpt_assert_status(READ(one, (bp_csv_kind)3, 0, BP_CSV_HEADER_DETECT, 0, &ds), BP_EDIM,
                      "kind is 3");
    assert_true(!ds.x && ds.count == 0);
    bpt_assert_status(bp_dataset_load_csv(&ds, "t.csv", BP_CSV_FEATURES, 2), BP_EDIM, "n is 2");
}

static void csv_invisible_bytes_named(void **state)
{
    (void)state;
    static const char nul[] = "1,2,0\n1,2\0,1\n";
    static const char bom[] = "1,2,0\n\xef\xbb\xbf" "1,2,1\n";
    static const char ctrl[] = "1,\x01,0\n";
    bp_dataset ds;
    bpt_assert_status(READ(nul, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 0, &ds), BP_EFORMAT,
                      "t.csv:2: column 2: a NUL byte");
    bpt_assert_status(READ(bom, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 0, &ds), BP_EFORMAT,
                      "t.csv:2: column 1: a UTF-8 byte-order mark");
    bpt_assert_status(READ(ctrl, BP_CSV_CLASSES, 2, BP_CSV_HEADER_DETECT, 0, &ds), BP_EFORMAT,
                      "'\\x01' is not a number");
    FILE *f = stream_of("1,0\n", 4);
    bpt_assert_status(bp_dataset_read_csv(&ds, NULL, "t", BP_CSV_CLASSES, 2, 0, 0), BP_ENULL, "f");
    bpt_assert_status(bp_dataset_read_csv(&ds, f, NULL, BP_CSV_CLASSES, 2, 0, 0), BP_ENULL, "name");
    bpt_assert_status(bp_dataset_read_csv(&ds, f, "t", BP_CSV_CLASSES, 2, 0, -1), BP_EDIM,
                      "n_features");
    fclose(f);
}

/* 60 samples of class 0 then 20 of class 1 (sorted by class); x = the sample's index. */
static void sorted_classes(bp_dataset *ds)
{
    char *text = malloc(80 * 16);
    size_t used = 0;
    assert_non_null(text);
    for (int j = 0; j < 80; j++)
        used += (size_t)snprintf(text + used, 16, "%d,%d\n", j, j >= 60);
    bpt_ok(read_text(text, used, BP_CSV_CLASSES, 2, BP_CSV_HEADER_ABSENT, 0, ds));
    free(text);
}

static void split_stratified_and_seeded(void **state)
{
    (void)state;
    bp_dataset a, b, held_a, held_b;
    sorted_classes(&a);
    sorted_classes(&b);
    bpt_ok(bp_dataset_split_random(&a, 20, 7, &held_a));
    bpt_ok(bp_dataset_split_random(&b, 20, 7, &held_b));
    assert_int_equal(held_a.count, 20);
    assert_int_equal(a.count, 60);
    int ones = 0, seen[80] = {0};
    for (int j = 0; j < 20; j++) {
        ones += held_a.labels[j];
        assert_true(held_a.x[j] == held_b.x[j]); /* the same seed, the same draw */
        assert_true(j == 0 || held_a.x[j] > held_a.x[j - 1]); /* the order of the file */
        assert_int_equal(held_a.labels[j], held_a.x[j] >= 60);
        seen[(int)held_a.x[j]]++;
    }
    assert_int_equal(ones, 5); /* 20 x 20/80 of class 1, 15 of class 0 */
    for (int j = 0; j < 60; j++) {
        assert_true(j == 0 || a.x[j] > a.x[j - 1]);
        assert_int_equal(a.labels[j], a.x[j] >= 60);
        seen[(int)a.x[j]]++;
    }
    for (int j = 0; j < 80; j++)
        assert_int_equal(seen[j], 1); /* every sample in exactly one part */
    bp_dataset_free(&b);
    bp_dataset_free(&held_b);
    sorted_classes(&b);
    bpt_ok(bp_dataset_split_random(&b, 20, 8, &held_b));
    assert_memory_not_equal(held_a.x, held_b.x, 20 * sizeof *held_a.x); /* another seed */
    bp_dataset_free(&a);
    bp_dataset_free(&b);
    bp_dataset_free(&held_a);
    bp_dataset_free(&held_b);
}

static void split_errors_and_regression(void **state)
{
    (void)state;
    bp_dataset ds, held;
    sorted_classes(&ds);
    bpt_assert_status(bp_dataset_split_random(&ds, 0, 1, &held), BP_EDIM, "count");
    bpt_assert_status(bp_dataset_split_random(&ds, 80, 1, &held), BP_EDIM, "count");
    bpt_assert_status(bp_dataset_split_random(NULL, 1, 1, &held), BP_ENULL, "ds");
    bpt_assert_status(bp_dataset_split_random(&ds, 1, 1, NULL), BP_ENULL, "held");
    ds.labels[3] = -1;
    bpt_assert_status(bp_dataset_split_random(&ds, 1, 1, &held), BP_EDIM, "labels[3]");
    assert_int_equal(ds.count, 80); /* unchanged on failure */
    free(ds.labels);              /* regression data: a uniform draw */
    ds.labels = NULL;
    bpt_ok(bp_dataset_split_random(&ds, 30, 1, &held));
    assert_int_equal(held.count, 30);
    assert_int_equal(ds.count, 50);
    assert_null(held.labels);
    bp_dataset_free(&ds);
    bp_dataset_free(&held);
}

/* A 1-1 network with a sigmoid output: a = sigmoid(x), so x = -2, 2, 0.1 give 0.12, 0.88, 0.52. */
static void binary_rule(void **state)
{
    (void)state;
    int sizes[] = {1, 1};
    bp_activation acts[] = {BP_SIGMOID};
    bp_net *net = bpt_net(2, sizes, acts, BP_CROSS_ENTROPY);
    float *p = bpt_params(net);
    p[0] = 1.0f; /* w */
    p[1] = 0.0f; /* b */
    float x[] = {-2.0f, 2.0f, 0.1f}, y[] = {0, 1, 0};
    int labels[] = {0, 1, 0}, classes[3];
    long confusion[4];
    double loss, acc;
    bp_dataset ds = {.count = 3, .n_features = 1, .n_targets = 1, .x = x, .y = y,
                     .labels = labels};
    bp_workspace *ws = bpt_ws(net, 3);
    bpt_ok(bp_forward_batch(net, ws, 3, x, 1));
    bpt_ok(bp_workspace_classes(ws, classes));
    assert_true(classes[0] == 0 && classes[1] == 1 && classes[2] == 1);
    bpt_ok(bp_evaluate(net, &ds, &loss, &acc, confusion));
    bpt_assert_close_scalar("accuracy", acc, 2.0 / 3.0, 1e-12, 0);
    assert_true(confusion[0] == 1 && confusion[1] == 1 && confusion[2] == 0 && confusion[3] == 1);
    labels[2] = 2;
    bpt_assert_status(bp_evaluate(net, &ds, &loss, &acc, confusion), BP_EDIM, "0..1");
    bp_workspace_free(ws);
    bp_net_free(net);
}

static void idx_images_alone(void **state)
{
    (void)state;
    static const unsigned char idx[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2,
                                        0, 255, 51, 102};
    char path[] = "/tmp/bp_images_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, idx, sizeof idx), (ssize_t)sizeof idx);
    close(fd);
    bp_dataset ds;
    bpt_ok(bp_dataset_load_idx_images(&ds, path));
    assert_int_equal(ds.count, 2);
    assert_int_equal(ds.n_features, 2);
    assert_null(ds.y);
    assert_null(ds.labels);
    assert_true(ds.x[0] == 0.0f && ds.x[1] == 1.0f && ds.x[2] == 0.2f && ds.x[3] == 0.4f);
    bp_dataset_free(&ds);
    unlink(path);
    bpt_assert_status(bp_dataset_load_idx_images(&ds, path), BP_EIO, "bp_images_");
    bpt_assert_status(bp_dataset_load_idx_images(&ds, NULL), BP_ENULL, "images_path");
    bpt_assert_status(bp_dataset_load_idx_images(NULL, path), BP_ENULL, "out");
}

static void checkpoint_described(void **state)
{
    (void)state;
    int sizes[] = {2, 3, 2};
    bp_activation acts[] = {BP_TANH, BP_SOFTMAX};
    bp_net *net = bpt_net(3, sizes, acts, BP_NLL), *got = NULL;
    float x[] = {0, 1, 1, 0}, y[] = {1, 0, 0, 1};
    int labels[] = {0, 1}, epoch = -1;
    bp_optimizer_kind kind = BP_OPT_SGD;
    char dir[] = "/tmp/bp_ckpt_XXXXXX", path[64], model[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/c.ckpt", dir);
    snprintf(model, sizeof model, "%s/m.bpn", dir);
    bp_dataset ds = {.count = 2, .n_features = 2, .n_targets = 2, .x = x, .y = y,
                     .labels = labels};
    bp_train_config cfg = {.epochs = 3, .batch_size = 2, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.01f},
                           .checkpoint_every = 3, .checkpoint_path = path};
    bpt_ok(bp_train(net, &ds, NULL, &cfg, NULL));
    bpt_ok(bp_checkpoint_describe(path, &got, &epoch, &kind));
    assert_int_equal(epoch, 3);
    assert_int_equal(kind, BP_OPT_ADAM);
    assert_memory_equal(bpt_params(got), bpt_params(net), bpt_num_params(net) * sizeof(float));
    bp_net_free(got);
    bpt_ok(bp_model_save(net, model));
    bpt_assert_status(bp_checkpoint_describe(model, &got, &epoch, &kind), BP_EFORMAT, "magic");
    assert_null(got);
    bpt_assert_status(bp_checkpoint_describe(NULL, &got, &epoch, &kind), BP_ENULL, "path");
    bpt_assert_status(bp_checkpoint_describe(path, &got, NULL, &kind), BP_ENULL, "epoch");
    unlink(path);
    unlink(model);
    rmdir(dir);
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_as_tools_write_it),
        cmocka_unit_test(csv_header_rules),
        cmocka_unit_test(csv_width_named_first),
        cmocka_unit_test(csv_features_alone),
        cmocka_unit_test(csv_invisible_bytes_named),
        cmocka_unit_test(split_stratified_and_seeded),
        cmocka_unit_test(split_errors_and_regression),
        cmocka_unit_test(binary_rule),
        cmocka_unit_test(idx_images_alone),
        cmocka_unit_test(checkpoint_described),
    };
    return cmocka_run_group_tests_name("dataset_tools", tests, NULL, NULL);
}
