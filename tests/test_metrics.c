/* Regression metrics (RMSE, MAE, R^2 per output and overall) against values computed by hand,
 * including an R^2 below 0 and the undefined R^2 of a constant target; bp_evaluate_regression on a
 * hand-made network with a scaling, in the data's units. */
#include "bp_test.h"

#define near(got, ref, atol, rtol) bpt_assert_close_scalar(#got, got, ref, atol, rtol)

/* Output 0: y = 1 2 3 4 (mean 2.5, SS_tot 5), p = 1 2 3 5: SS_res 1, |e| sum 1:
 *   rmse sqrt(1/4) = 0.5, mae 0.25, r2 1 - 1/5 = 0.8.
 * Output 1: y = 0 0 2 2 (mean 1, SS_tot 4), p = 2 2 0 0: SS_res 16, |e| sum 8:
 *   rmse 2, mae 2, r2 1 - 16/4 = -3 (worse than predicting the mean).
 * Overall: rmse sqrt(17/8), mae 9/8, r2 (0.8 - 3)/2 = -1.1.
 * P has leading dimension 3, its padding row NaN: it must not be read. */
static const float Y[] = {1, 0, 2, 0, 3, 2, 4, 2};
static const float P[] = {1, 2, NAN, 2, 2, NAN, 3, 0, NAN, 5, 0, NAN};

static void metrics_match_hand(void **state)
{
    (void)state;
    bp_regression_metrics all, per[2];
    bpt_ok(bp_regression_metrics_compute(2, 4, P, 3, Y, 2, &all, per));
    near(per[0].rmse, 0.5, 1e-15, 0);
    near(per[0].mae, 0.25, 1e-15, 0);
    near(per[0].r2, 0.8, 1e-15, 0);
    near(per[1].rmse, 2, 1e-15, 0);
    near(per[1].mae, 2, 1e-15, 0);
    near(per[1].r2, -3, 1e-15, 0);
    near(all.rmse, sqrt(17.0 / 8), 1e-15, 0);
    near(all.mae, 9.0 / 8, 1e-15, 0);
    near(all.r2, -1.1, 1e-15, 0);
    /* Either output argument may be NULL. */
    bp_regression_metrics again;
    bpt_ok(bp_regression_metrics_compute(2, 4, P, 3, Y, 2, &again, NULL));
    assert_true(again.rmse == all.rmse && again.r2 == all.r2);
    bpt_ok(bp_regression_metrics_compute(2, 4, P, 3, Y, 2, NULL, per));
}

static void constant_target_has_no_r2(void **state)
{
    (void)state;
    const float y[] = {3, 3, 3}, p[] = {3, 3, 4};
    bp_regression_metrics m;
    bpt_ok(bp_regression_metrics_compute(1, 3, p, 1, y, 1, &m, NULL));
    assert_true(isnan(m.r2));
    near(m.rmse, sqrt(1.0 / 3), 1e-15, 0);
}

static void metrics_refuse_bad_arguments(void **state)
{
    (void)state;
    bp_regression_metrics m;
    bpt_assert_status(bp_regression_metrics_compute(0, 4, P, 3, Y, 2, &m, NULL), BP_EDIM,
                      "n_outputs");
    bpt_assert_status(bp_regression_metrics_compute(2, 0, P, 3, Y, 2, &m, NULL), BP_EDIM, "count");
    bpt_assert_status(bp_regression_metrics_compute(2, 4, P, 1, Y, 2, &m, NULL), BP_ELD, "P");
    bpt_assert_status(bp_regression_metrics_compute(2, 4, NULL, 3, Y, 2, &m, NULL), BP_ENULL, "P");
    bpt_assert_status(bp_regression_metrics_compute(2, 4, P, 3, Y, 1, &m, NULL), BP_ELD, "Y");
}

/* A 1-1 identity network a = 2 x' + 1 with x' = (x - 1)/2 and y = 2 a + 10: for x = 0 1 2 3 it
 * predicts 10 12 14 16; against y = 10 12 14 20 (mean 14, SS_tot 16+4+0+36 = 56) the errors are
 * 0 0 0 -4: rmse 2, mae 1, r2 1 - 16/56. */
static void evaluate_regression_in_data_units(void **state)
{
    (void)state;
    const int sizes[] = {1, 1};
    const bp_activation acts[] = {BP_IDENTITY};
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    float *w = bpt_params(net), one = 1, two = 2, ten = 10;
    w[0] = 2;
    w[1] = 1;
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_INPUTS, &one, &two));
    bpt_ok(bp_net_set_scaling(net, BP_SCALE_TARGETS, &ten, &two));
    float x[] = {0, 1, 2, 3}, y[] = {10, 12, 14, 20};
    bp_dataset ds = {.count = 4, .n_features = 1, .n_targets = 1, .x = x, .y = y};
    bp_regression_metrics m, per;
    bpt_ok(bp_evaluate_regression(net, &ds, &m, &per));
    near(m.rmse, 2, 1e-12, 0);
    near(m.mae, 1, 1e-12, 0);
    near(m.r2, 1 - 16.0 / 56, 1e-12, 0);
    assert_true(per.rmse == m.rmse && per.r2 == m.r2);

    bp_dataset wrong = ds;
    wrong.n_features = 2;
    bpt_assert_status(bp_evaluate_regression(net, &wrong, &m, NULL), BP_EMISMATCH, "features");
    wrong = ds;
    wrong.count = 0;
    bpt_assert_status(bp_evaluate_regression(net, &wrong, &m, NULL), BP_EDIM, "empty");
    bpt_assert_status(bp_evaluate_regression(NULL, &ds, &m, NULL), BP_ENULL, "net");
    bp_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_match_hand),
        cmocka_unit_test(constant_target_has_no_r2),
        cmocka_unit_test(metrics_refuse_bad_arguments),
        cmocka_unit_test(evaluate_regression_in_data_units),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
