/*
 * test_kernels.c - the elementwise kernels of src/kernels.c against references in double: the
 * forward pass of every activation (bp__bias_activate) and sigma' (bp__mul_dsigma) within stated
 * ulps over a sweep of the whole float range, NaN in -> NaN out, +-inf and huge inputs, columns
 * whose length is no multiple of the kernels' 16-float block; and their bits, pinned by hashes
 * that hold on whichever target_clones clone the CPU runs (ReLU's, leaky ReLU's and identity's
 * are the bits of the code before it was vectorised).
 */
#include "bp_test.h"

#include "../src/kernels.h"

#include <float.h>

/* ---------------------------------------------------------------- inputs and measures */
enum { ROWS = 37, SWEEP_MAX = 150000 }; /* 37 rows: two whole blocks and a partial one */

/* z over the float range: signed zeros, the smallest and largest floats, +-inf, 64 values in every
 * binade of both signs, and 100000 points uniform in [-100, 100). No NaN (tested apart). */
static size_t sweep(float *z)
{
    const float special[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f, FLT_MAX,
                             -FLT_MAX, INFINITY, -INFINITY, 87.3f, -87.3f, 88.8f, -88.8f};
    size_t n = 0;
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        z[n++] = special[i];
    for (int k = -149 * 64; k < 128 * 64; k += 2) {
        z[n] = (float)ldexp(1.0 + (k % 64) / 64.0, k / 64); /* exact: no libm rounding */
        z[n + 1] = -z[n];
        n += 2;
    }
    bpt_rng r = bpt_rng_make(16);
    while (n < SWEEP_MAX)
        z[n++] = bpt_range(&r, -100.0f, 100.0f);
    return n;
}

/* |got - ref| in units of the float spacing at ref (2^-149 below the normal floats); 0 when both
 * are the same infinity or both NaN, infinite when only one is NaN or infinite. */
static double ulps(float got, double ref)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got) ? 0.0 : INFINITY;
    if ((double)got == ref)
        return 0.0;
    if (isinf(ref) || isinf(got))
        return INFINITY;
    int e = 0;
    if (ref != 0.0)
        frexp(ref, &e);
    double spacing = ref != 0.0 ? fmax(ldexp(1.0, e - 24), 0x1p-149) : 0x1p-149;
    return fabs((double)got - ref) / spacing;
}

/* FNV-1a over the bits of n floats. */
static uint64_t hash_bits(const float *v, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        for (int k = 0; k < 4; k++) {
            h ^= (u >> (8 * k)) & 0xffu;
            h *= 1099511628211u;
        }
    }
    return h;
}

static double sigmoid_ref(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* ---------------------------------------------------------------- forward passes */
/* The sweep as ROWS x cols pre-activations: a (what the product left) + b (the bias column, small
 * values so that the bias is tested too); z = fl(a + b), what the kernel sees. */
typedef struct inputs {
    float *a, *z, b[ROWS];
    size_t n;
} inputs;

static inputs make_inputs(void)
{
    inputs in;
    in.a = malloc(SWEEP_MAX * sizeof *in.a);
    in.z = malloc(SWEEP_MAX * sizeof *in.z);
    assert_non_null(in.a);
    assert_non_null(in.z);
    size_t n = sweep(in.z);
    in.n = n - n % ROWS;
    for (int i = 0; i < ROWS; i++)
        in.b[i] = (float)(i % 5) * 0.25f;
    for (size_t i = 0; i < in.n; i++) {
        in.a[i] = in.z[i] - in.b[i % ROWS];
        in.z[i] = in.a[i] + in.b[i % ROWS];
    }
    return in;
}

static void free_inputs(inputs *in)
{
    free(in->a);
    free(in->z);
}

typedef double ref_fn(double);
static double relu_ref(double z) { return z > 0 ? z : 0.0; }
static double leaky_ref(double z) { return z > 0 ? z : (double)BP_LEAKY_SLOPE * z; }
static double identity_ref(double z) { return z; }

/* sigma(a + b) over the sweep against ref(z) within bound ulps where z >= z_min, and the hash of
 * the outputs against want. Returns the outputs (caller frees). */
static float *check_forward(const char *name, bp_activation act, ref_fn *ref, double bound,
                            double z_min, uint64_t want)
{
    inputs in = make_inputs();
    float *out = malloc(in.n * sizeof *out);
    assert_non_null(out);
    memcpy(out, in.a, in.n * sizeof *out);
    bp__bias_activate(out, ROWS, (int)(in.n / ROWS), in.b, act);
    double worst = 0.0;
    for (size_t i = 0; i < in.n; i++) {
        if (in.z[i] < z_min)
            continue;
        double e = ulps(out[i], ref((double)in.z[i]));
        if (e > bound)
            fail_msg("%s(%.9g) = %.9g, reference %.17g: %.3g ulps (bound %g)", name,
                     (double)in.z[i], (double)out[i], ref((double)in.z[i]), e, bound);
        worst = e > worst ? e : worst;
    }
    uint64_t got = hash_bits(out, in.n);
    print_message("%s: worst %.4f ulps (bound %g) over %zu values; bits %#llx\n", name, worst,
                  bound, in.n, (unsigned long long)got);
    if (got != want)
        fail_msg("%s: output bits hash to %#llx, pinned %#llx", name, (unsigned long long)got,
                 (unsigned long long)want);
    free_inputs(&in);
    return out;
}

/* Pinned bits: a change of the kernels' arithmetic changes them (the test then says so); the
 * same values on every clone is what target_clones must keep. ReLU, leaky ReLU, identity and their
 * sigma' hash as the scalar code before vectorisation did. The sigmoid's did not survive a shorter
 * dependency chain (Estrin's scheme, one division: 2.09 ulps here, 2.12 before), nor the rational
 * form of e^m inside its division (2.15 ulps here; over every float 2.26, before 2.40), and with
 * it went its sigma's, computed from those activations; libm's tanhf (1 ulp here), the softmax on
 * libm's expf (4.2 ulps) and tanh's 1 - a^2 (4.4 ulps) failed the bounds of this file. */
#define HASH_SIGMOID 0xe13367bfd048204cu
#define HASH_TANH 0x2d9c1fcb2e1b4a90u
#define HASH_RELU 0xf7e67a0d87946bd6u
#define HASH_LEAKY 0x8559722e7d25c19u
#define HASH_IDENTITY 0x1175a1ebc98ac1fu
#define HASH_SOFTMAX 0xd078b8945e187f04u
#define HASH_DSIGMOID 0xef4e5bb6e162a11au
#define HASH_DTANH 0xf1454997238ea923u
#define HASH_DRELU 0x35be02e5f432f640u
#define HASH_DLEAKY 0xb50e968b61ec2b62u

/* Sigmoid: 4 ulps wherever sigma(z) is a normal float (z >= -87.3); below, e^z is clamped to
 * e^-87.3 and the output lies in (0, 1.25e-38]. */
static void test_sigmoid(void **state)
{
    (void)state;
    free(check_forward("sigmoid", BP_SIGMOID, sigmoid_ref, 4.0, -87.3, HASH_SIGMOID));
    inputs in = make_inputs();
    bp__bias_activate(in.a, ROWS, (int)(in.n / ROWS), in.b, BP_SIGMOID);
    for (size_t i = 0; i < in.n; i++)
        if (in.z[i] < -87.3f && !(in.a[i] > 0.0f && in.a[i] <= 1.25e-38f))
            fail_msg("sigmoid(%.9g) = %.9g, not in (0, 1.25e-38]", (double)in.z[i],
                     (double)in.a[i]);
    free_inputs(&in);
}

/* Tanh: rounded once from double, so within half an ulp but for a rare tie of that rounding. */
static void test_tanh(void **state)
{
    (void)state;
    free(check_forward("tanh", BP_TANH, tanh, 0.5001, -INFINITY, HASH_TANH));
}

/* ReLU, leaky ReLU, identity: exact (the one product of leaky ReLU rounded once). */
static void test_piecewise_linear(void **state)
{
    (void)state;
    free(check_forward("relu", BP_RELU, relu_ref, 0.0, -INFINITY, HASH_RELU));
    free(check_forward("leaky_relu", BP_LEAKY_RELU, leaky_ref, 0.5, -INFINITY, HASH_LEAKY));
    free(check_forward("identity", BP_IDENTITY, identity_ref, 0.0, -INFINITY, HASH_IDENTITY));
}

/* ---------------------------------------------------------------- softmax */
/* Columns of ROWS values: 400 uniform in [-20, 20), one spread over +-1e4 (all but the largest
 * underflow to 0), one with -inf entries (they get 0), one of FLT_MAX's; against e^(z_i - max) /
 * sum_k e^(z_k - max) in double within 3 ulps: e^x, 1/sum and the product rounded to float once
 * each (the sum is in double), each at most 2^-24 relative, at most 1 ulp. */
static void test_softmax(void **state)
{
    (void)state;
    enum { COLS = 404 };
    float *a = malloc(ROWS * COLS * sizeof *a), *z = malloc(ROWS * COLS * sizeof *z), b[ROWS];
    assert_non_null(a);
    assert_non_null(z);
    bpt_rng r = bpt_rng_make(5);
    bpt_fill(&r, a, ROWS * COLS, -20.0f, 20.0f);
    for (int i = 0; i < ROWS; i++) {
        b[i] = 0.0f;
        a[400 * ROWS + i] = (float)(i - ROWS / 2) * 1e4f / (ROWS / 2);
        a[401 * ROWS + i] = i % 3 ? -INFINITY : (float)i;
        a[402 * ROWS + i] = i % 2 ? FLT_MAX : -FLT_MAX;
        a[403 * ROWS + i] = (float)i * 1e-30f;
    }
    memcpy(z, a, ROWS * COLS * sizeof *a);
    bp__bias_activate(a, ROWS, COLS, b, BP_SOFTMAX);
    double worst = 0.0;
    for (int j = 0; j < COLS; j++) {
        const float *zj = z + j * ROWS, *aj = a + j * ROWS;
        double max = -INFINITY, sum = 0.0;
        for (int i = 0; i < ROWS; i++)
            max = fmax(max, zj[i]);
        for (int i = 0; i < ROWS; i++)
            sum += exp((double)zj[i] - max);
        for (int i = 0; i < ROWS; i++) {
            double ref = exp((double)zj[i] - max) / sum, e = ulps(aj[i], ref);
            if (e > 3.0)
                fail_msg("softmax column %d row %d: %.9g, reference %.17g: %.3g ulps", j, i,
                         (double)aj[i], ref, e);
            worst = e > worst ? e : worst;
        }
    }
    uint64_t got = hash_bits(a, ROWS * COLS);
    print_message("softmax: worst %.4f ulps (bound 3); bits %#llx\n", worst,
                  (unsigned long long)got);
    if (got != HASH_SOFTMAX)
        fail_msg("softmax: output bits hash to %#llx, pinned %#llx", (unsigned long long)got,
                 (unsigned long long)HASH_SOFTMAX);
    free(a);
    free(z);
}

/* ---------------------------------------------------------------- sigma' */
static double dsigmoid_ref(double a) { return a * (1.0 - a); }
static double dtanh_ref(double a) { return 1.0 - a * a; }
static double drelu_ref(double a) { return a > 0 ? 1.0 : 0.0; }
static double dleaky_ref(double a) { return a > 0 ? 1.0 : (double)BP_LEAKY_SLOPE; }

/* d (.) sigma' from the activations a = sigma(sweep) (an odd count: a partial last block),
 * d uniform in [-1, 1), against d sigma'(a) in double within bound ulps. */
static void check_dsigma(const char *name, bp_activation act, ref_fn *dref, double bound,
                         uint64_t want)
{
    inputs in = make_inputs();
    size_t n = in.n - 1;
    bp__bias_activate(in.a, ROWS, (int)(in.n / ROWS), in.b, act);
    float *d = malloc(n * sizeof *d);
    assert_non_null(d);
    bpt_rng r = bpt_rng_make(7);
    bpt_fill(&r, d, n, -1.0f, 1.0f);
    memcpy(in.z, d, n * sizeof *d);
    bp__mul_dsigma(d, in.a, n, act);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ref = (double)in.z[i] * dref((double)in.a[i]), e = ulps(d[i], ref);
        if (e > bound)
            fail_msg("%s' at a = %.9g, d = %.9g: %.9g, reference %.17g: %.3g ulps (bound %g)",
                     name, (double)in.a[i], (double)in.z[i], (double)d[i], ref, e, bound);
        worst = e > worst ? e : worst;
    }
    uint64_t got = hash_bits(d, n);
    print_message("%s': worst %.4f ulps (bound %g); bits %#llx\n", name, worst, bound,
                  (unsigned long long)got);
    if (got != want)
        fail_msg("%s': output bits hash to %#llx, pinned %#llx", name, (unsigned long long)got,
                 (unsigned long long)want);
    free(d);
    free_inputs(&in);
}

/* Each rounding adds at most 2^-24 relative, at most 1 ulp: sigmoid's d (a (1 - a)) rounds three
 * times, tanh's d ((1 - a)(1 + a)) four (1 - a is exact for |a| >= 1/2, where 1 - a^2 would lose
 * every digit as |a| -> 1). ReLU: exact; leaky ReLU: one product, half an ulp. */
static void test_dsigma(void **state)
{
    (void)state;
    check_dsigma("sigmoid", BP_SIGMOID, dsigmoid_ref, 3.0, HASH_DSIGMOID);
    check_dsigma("tanh", BP_TANH, dtanh_ref, 4.0, HASH_DTANH);
    check_dsigma("relu", BP_RELU, drelu_ref, 0.0, HASH_DRELU);
    check_dsigma("leaky_relu", BP_LEAKY_RELU, dleaky_ref, 0.5, HASH_DLEAKY);
}

/* ---------------------------------------------------------------- NaN */
/* A NaN pre-activation gives a NaN activation and leaves its neighbours as without it; softmax:
 * the whole column is NaN. A NaN activation gives a NaN delta. */
static void test_nan_propagates(void **state)
{
    (void)state;
    const bp_activation acts[] = {BP_SIGMOID, BP_TANH, BP_RELU, BP_LEAKY_RELU, BP_IDENTITY,
                                  BP_SOFTMAX};
    float b[ROWS] = {0};
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++) {
        float a[ROWS], clean[ROWS], d[ROWS];
        for (int i = 0; i < ROWS; i++)
            a[i] = clean[i] = (float)(i - 18) * 0.5f;
        a[3] = a[36] = NAN; /* in a whole block and in the padded last one */
        clean[3] = clean[36] = 0.0f;
        bp__bias_activate(a, ROWS, 1, b, acts[k]);
        bp__bias_activate(clean, ROWS, 1, b, acts[k]);
        for (int i = 0; i < ROWS; i++) {
            int want_nan = acts[k] == BP_SOFTMAX || i == 3 || i == 36;
            if (want_nan ? !isnan(a[i]) : a[i] != clean[i])
                fail_msg("%s: row %d is %.9g with NaN in rows 3 and 36",
                         bp_activation_name(acts[k]), i, (double)a[i]);
        }
        if (acts[k] == BP_IDENTITY || acts[k] == BP_SOFTMAX)
            continue; /* sigma' is not applied (identity: 1; softmax: in the output error) */
        for (int i = 0; i < ROWS; i++)
            d[i] = 1.0f;
        bp__mul_dsigma(d, a, ROWS, acts[k]);
        assert_true(isnan(d[3]) && isnan(d[36]));
        assert_false(isnan(d[4]));
    }
}

/* ---------------------------------------------------------------- column lengths */
/* An element's output bits do not depend on where its column puts it: in a whole block, in the
 * last partial block (computed from a copy of the block that ends the column, which overlaps the
 * whole blocks before it; the sigmoid's forward block is 40 floats, the others 16) or in a column
 * shorter than a block. The sweep with zero bias against the same values one a column. */
static const size_t LENGTHS[] = {1, 15, 16, 17, 37, 39, 40, 41, 63, 64, 65, 79, 80, 81, 101, 1000};

/* The first element of out (n floats) whose bits differ from ref's, or n. */
static size_t first_difference(const float *out, const float *ref, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&out[i], &ref[i], sizeof *out))
            return i;
    return n;
}

/* sigma or d (.) sigma' over the first n values of z, in columns of rows (sigma': rows values a
 * call), into out. */
static void run_columns(bp_activation act, int dsigma, const float *z, const float *a, size_t n,
                        size_t rows, float *out)
{
    static const float zero_bias[1000];
    memcpy(out, z, n * sizeof *out);
    if (!dsigma)
        bp__bias_activate(out, (int)rows, (int)(n / rows), zero_bias, act);
    else
        for (size_t j = 0; j + rows <= n; j += rows)
            bp__mul_dsigma(out + j, a + j, rows, act);
}

static void test_column_lengths(void **state)
{
    (void)state;
    const bp_activation acts[] = {BP_SIGMOID, BP_TANH, BP_RELU, BP_LEAKY_RELU, BP_IDENTITY};
    inputs in = make_inputs();
    size_t n = in.n - in.n % 1000; /* a multiple of every length above but 15, 17, 37, 63... */
    float *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out);
    float *a = malloc(n * sizeof *a);
    assert_non_null(ref);
    assert_non_null(out);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) /* activations for sigma', and deltas in [-1, 1] */
        a[i] = (float)(i % 1001) / 1001.0f, in.a[i] = (float)(i % 37) / 18.0f - 1.0f;
    for (size_t k = 0; k < 2 * sizeof acts / sizeof *acts; k++) {
        bp_activation act = acts[k / 2];
        int dsigma = (int)(k % 2);
        const float *x = dsigma ? in.a : in.z;
        run_columns(act, dsigma, x, a, n, 1, ref);
        for (size_t l = 0; l < sizeof LENGTHS / sizeof *LENGTHS; l++) {
            size_t rows = LENGTHS[l], m = n - n % rows;
            run_columns(act, dsigma, x, a, m, rows, out);
            size_t i = first_difference(out, ref, m);
            if (i < m)
                fail_msg("%s%s in columns of %zu: element %zu (row %zu) is %.9g, alone %.9g",
                         bp_activation_name(act), dsigma ? "'" : "", rows, i, i % rows,
                         (double)out[i], (double)ref[i]);
        }
    }
    /* The check sees the failure it guards against: the tail block run again in place. */
    run_columns(BP_SIGMOID, 0, in.z, a, 1000, 1, ref);
    run_columns(BP_SIGMOID, 0, in.z, a, 1000, 1000, out);
    bp__bias_activate(out + 1000 - 40, 40, 1, (const float[40]){0}, BP_SIGMOID);
    assert_true(first_difference(out, ref, 1000) == 1000 - 40);
    free(ref);
    free(out);
    free(a);
    free_inputs(&in);
}

/* ---------------------------------------------------------------- the measures themselves */
/* ulps() and the hash catch what the tests above rely on them to catch. */
static void test_measures_detect_errors(void **state)
{
    (void)state;
    float one_up2 = nextafterf(nextafterf(1.0f, 2.0f), 2.0f);
    assert_true(ulps(one_up2, 1.0) == 2.0);
    assert_true(ulps(1.0f, 1.0) == 0.0);
    assert_true(ulps(0x1p-149f, 0.0) == 1.0);
    assert_true(isinf(ulps(NAN, 1.0)) && isinf(ulps(1.0f, NAN)));
    assert_true(ulps(NAN, NAN) == 0.0);
    assert_true(isinf(ulps(INFINITY, FLT_MAX)) && isinf(ulps(FLT_MAX, INFINITY)));
    float v[3] = {1.0f, 2.0f, 3.0f}, w[3] = {1.0f, 2.0f, nextafterf(3.0f, 4.0f)};
    assert_true(hash_bits(v, 3) != hash_bits(w, 3));
    float neg0 = -0.0f, pos0 = 0.0f;
    assert_true(hash_bits(&neg0, 1) != hash_bits(&pos0, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid),
        cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_piecewise_linear),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_dsigma),
        cmocka_unit_test(test_nan_propagates),
        cmocka_unit_test(test_column_lengths),
        cmocka_unit_test(test_measures_detect_errors),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
