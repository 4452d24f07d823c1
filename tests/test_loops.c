/*
 * test_loops.c - the project's own loops (src/loops.c) against plain references, bit for bit:
 *  - the forward product, four columns of w per pass over z, has the sums of one column at a time
 *    (k = 0, 1, 2, ...), for column counts on both sides of multiples of four, several batch
 *    columns and a leading dimension above the rows;
 *  - (B)'s short columns (fewer than 32 rows), four dots at a time, are the dot summed in order;
 *    longer ones are the dot within rounding;
 *  - (C)'s overwriting pass has the bits of zeroing the gradient then adding: +0 where the product
 *    is -0;
 *  - the online step's rank-one update is w + (alpha a_k) d_i.
 * Negative twins: the same sums taken in the reverse order differ from the loops' bits (so the
 * comparisons tell orders apart), and a plain d a without the 0 + keeps the -0.
 */
#include "bp_test.h"

#include "../src/kernels.h"

/* z[:,j] = sum_k w[:,k] a[k,j], k ascending (reverse: descending), one product at a time. */
static void ref_forward(int rows, int cols, int batch, const float *w, const float *a, int lda,
                        float *z, int reverse)
{
    for (int j = 0; j < batch; j++)
        for (int i = 0; i < rows; i++) {
            float s = 0.0f;
            for (int t = 0; t < cols; t++) {
                int k = reverse ? cols - 1 - t : t;
                s += w[(size_t)k * (size_t)rows + (size_t)i] * a[(size_t)j * (size_t)lda + (size_t)k];
            }
            z[(size_t)j * (size_t)rows + (size_t)i] = s;
        }
}

static void forward_is_the_one_column_order(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(41);
    int reordered = 0;
    for (int rows = 1; rows <= 21; rows += 4)
        for (int cols = 1; cols <= 13; cols++)
            for (int batch = 1; batch <= 3; batch++) {
                int lda = cols + 2;
                float *w = bpt_matrix(&r, rows, cols, rows, -1, 1, 0);
                float *a = bpt_matrix(&r, cols, batch, lda, -1, 1, 7.0f);
                float *z = calloc((size_t)rows * (size_t)batch, sizeof *z);
                float *ref = calloc((size_t)rows * (size_t)batch, sizeof *ref);
                assert_non_null(z);
                assert_non_null(ref);
                bp__loops_forward(rows, cols, batch, w, a, lda, z);
                ref_forward(rows, cols, batch, w, a, lda, ref, 0);
                assert_memory_equal(z, ref, (size_t)rows * (size_t)batch * sizeof *z);
                ref_forward(rows, cols, batch, w, a, lda, ref, 1);
                reordered |= memcmp(z, ref, (size_t)rows * (size_t)batch * sizeof *z) != 0;
                free(w);
                free(a);
                free(z);
                free(ref);
            }
    assert_true(reordered); /* negative twin: another order gives other bits somewhere */
}

static void delta_short_columns_are_the_ordered_dot(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(43);
    int reordered = 0;
    for (int rows = 1; rows <= 40; rows += 3)
        for (int cols = 1; cols <= 11; cols++) {
            int batch = 2;
            float *w = bpt_matrix(&r, rows, cols, rows, -1, 1, 0);
            float *d = bpt_matrix(&r, rows, batch, rows, -1, 1, 0);
            float *y = calloc((size_t)cols * (size_t)batch, sizeof *y);
            assert_non_null(y);
            bp__loops_delta(rows, cols, batch, w, d, y);
            for (int j = 0; j < batch; j++)
                for (int k = 0; k < cols; k++) {
                    float s = 0.0f, back = 0.0f;
                    const float *wk = w + (size_t)k * (size_t)rows, *dj = d + (size_t)j * (size_t)rows;
                    for (int i = 0; i < rows; i++)
                        s += wk[i] * dj[i];
                    for (int i = rows - 1; i >= 0; i--)
                        back += wk[i] * dj[i];
                    float got = y[(size_t)j * (size_t)cols + (size_t)k];
                    if (rows < 32) {
                        assert_memory_equal(&got, &s, sizeof s);
                        reordered |= memcmp(&got, &back, sizeof back) != 0;
                    } else { /* sixteen partial sums: the same dot within rounding */
                        bpt_assert_close_scalar("long column", got, s, 1e-5, 1e-5);
                    }
                }
            free(w);
            free(d);
            free(y);
        }
    assert_true(reordered);
}

static void weight_gradient_overwrite_has_the_zeroed_bits(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(47);
    enum { ROWS = 9, COLS = 6, LDA = 8 };
    for (int batch = 1; batch <= 3; batch++) {
        float *d = bpt_matrix(&r, ROWS, batch, ROWS, -1, 1, 0);
        float *a = bpt_matrix(&r, COLS, batch, LDA, 0.5f, 1, 3.0f);
        d[2] = -0.0f; /* with a > 0: the product is -0 in the first sample's pass */
        float got[ROWS * COLS], ref[ROWS * COLS];
        for (int i = 0; i < ROWS * COLS; i++)
            got[i] = 123.0f; /* overwritten, whatever was there */
        memset(ref, 0, sizeof ref);
        bp__loops_weight_grad(ROWS, COLS, batch, d, a, LDA, got, 1);
        bp__loops_weight_grad(ROWS, COLS, batch, d, a, LDA, ref, 0);
        assert_memory_equal(got, ref, sizeof got);
        if (batch == 1) {
            assert_false(signbit(got[2])); /* 0 + -0 = +0 */
            float plain = d[2] * a[0];
            assert_true(signbit(plain)); /* negative twin: the product alone is -0 */
        }
        /* accumulating adds onto what is there */
        float twice[ROWS * COLS];
        memcpy(twice, got, sizeof twice);
        bp__loops_weight_grad(ROWS, COLS, batch, d, a, LDA, twice, 0);
        for (int i = 0; i < ROWS * COLS; i++)
            bpt_assert_close_scalar("accumulated", twice[i], 2.0 * got[i], 1e-6, 1e-6);
        free(d);
        free(a);
    }
}

static void rank_one_update(void **state)
{
    (void)state;
    bpt_rng r = bpt_rng_make(53);
    enum { ROWS = 13, COLS = 7 };
    const float alpha = -0.37f;
    float *w = bpt_matrix(&r, ROWS, COLS, ROWS, -1, 1, 0);
    float *d = bpt_matrix(&r, ROWS, 1, ROWS, -1, 1, 0);
    float *a = bpt_matrix(&r, COLS, 1, COLS, -1, 1, 0);
    float ref[ROWS * COLS], other[ROWS * COLS];
    for (int k = 0; k < COLS; k++)
        for (int i = 0; i < ROWS; i++) {
            float s = alpha * a[k];
            ref[k * ROWS + i] = w[k * ROWS + i] + s * d[i];
            other[k * ROWS + i] = w[k * ROWS + i] + alpha * (d[i] * a[k]);
        }
    bp__loops_rank1(ROWS, COLS, alpha, d, a, w);
    assert_memory_equal(w, ref, sizeof ref);
    /* negative twin: eta (d a), the gradient path's rounding, differs somewhere */
    assert_true(memcmp(w, other, sizeof other) != 0);
    bpt_assert_close_vec("the other rounding", w, other, ROWS * COLS, 1e-6, 1e-6);
    free(w);
    free(d);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_is_the_one_column_order),
        cmocka_unit_test(delta_short_columns_are_the_ordered_dot),
        cmocka_unit_test(weight_gradient_overwrite_has_the_zeroed_bits),
        cmocka_unit_test(rank_one_update),
    };
    return cmocka_run_group_tests_name("loops", tests, NULL, NULL);
}
