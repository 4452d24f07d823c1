/* A damped driven harmonic oscillator, m x'' + c x' + k x = F cos(w t), settles into oscillating at
 * the driving frequency w with the amplitude
 *     A = F / sqrt((k - m w^2)^2 + (c w)^2).
 * With m = 1, F = k (a static deflection of 1) and the damping ratio zeta = c / (2 sqrt(k m)), its
 * gain in decibels, G = 20 log10 A, is the magnitude of the oscillator's Bode plot: 0 dB far below
 * resonance, a peak of about -20 log10(2 zeta) dB near w = sqrt(k), then a fall of 40 dB per
 * decade.
 *
 * This program samples G over w in [0.2, 3], k in [0.5, 4] and zeta in [0.15, 1], writes
 * oscillator-train.csv (2000 samples, G with Gaussian noise of 0.05 dB, as from a measurement) and
 * oscillator-test.csv (500 other samples, the noiseless G), fits a 3-32-32-1 tanh network through
 * the library with the data's standardisation stored in the model (bp_dataset_standardization,
 * bp_net_set_scaling), saves it as oscillator.bpn, and prints the test RMSE and R^2 against the
 * true function. The same files fitted through the program:
 *     backprop train --train-csv oscillator-train.csv --test-csv oscillator-test.csv --targets 1 \
 *         --normalize --layers 3-32-32-1 --hidden tanh --output identity --cost quadratic \
 *         --init xavier --eta 0.005 --batch 32 --epochs 300 --schedule cosine
 * (ctest runs both). Exits 1 unless the library's fit reaches R^2 >= 0.99. */
#include <backprop.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { TRAIN = 2000, TEST = 500, IN = 3 };

static const double PI = 3.14159265358979323846;

/* The gain in dB of the oscillator of stiffness k and damping ratio zeta driven at w (m = 1). */
static double gain_db(double w, double k, double zeta)
{
    double c = 2 * zeta * sqrt(k), d = k - w * w;
    return 20 * log10(k / sqrt(d * d + c * w * c * w));
}

/* A seeded generator of the example's own (64-bit LCG, the top 53 bits): uniform in [0, 1). */
static double uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (double)(*s >> 11) * 0x1.0p-53;
}

/* n samples (x: IN x n, y: n) of the gain, with Gaussian noise of standard deviation sd (dB). */
static void sample(uint64_t *s, int n, double sd, float *x, float *y)
{
    for (int j = 0; j < n; j++) {
        double w = 0.2 + 2.8 * uniform(s), k = 0.5 + 3.5 * uniform(s);
        double zeta = 0.15 + 0.85 * uniform(s);
        double u1 = uniform(s), u2 = uniform(s); /* Box-Muller */
        double noise = sd * sqrt(-2 * log(1 - u1)) * cos(2 * PI * u2);
        x[IN * j] = (float)w;
        x[IN * j + 1] = (float)k;
        x[IN * j + 2] = (float)zeta;
        y[j] = (float)(gain_db(w, k, zeta) + noise);
    }
}

static int write_csv(const char *path, int n, const float *x, const float *y)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    for (int j = 0; j < n; j++)
        fprintf(f, "%.6g,%.6g,%.6g,%.7g\n", x[IN * j], x[IN * j + 1], x[IN * j + 2], y[j]);
    return fclose(f) == 0;
}

/* The network, its scaling from the training set, trained; metrics on the test set. */
static bp_status fit(const bp_dataset *train, const bp_dataset *test, bp_regression_metrics *m)
{
    int sizes[] = {IN, 32, 32, 1};
    bp_activation acts[] = {BP_TANH, BP_TANH, BP_IDENTITY};
    bp_train_config cfg = {.epochs = 300, .batch_size = 32, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 0.005f},
                           .schedule = {.kind = BP_LR_COSINE}};
    float mean[IN], scale[IN], ymean, yscale;
    bp_net *net = NULL;
    bp_status st = bp_net_create(&net, 4, sizes, acts, BP_QUADRATIC);
    if (!st) st = bp_net_init(net, BP_INIT_XAVIER, 1);
    if (!st) st = bp_dataset_standardization(train, BP_SCALE_INPUTS, mean, scale);
    if (!st) st = bp_dataset_standardization(train, BP_SCALE_TARGETS, &ymean, &yscale);
    if (!st) st = bp_net_set_scaling(net, BP_SCALE_INPUTS, mean, scale);
    if (!st) st = bp_net_set_scaling(net, BP_SCALE_TARGETS, &ymean, &yscale);
    if (!st) st = bp_train(net, train, NULL, &cfg, NULL);
    if (!st) st = bp_evaluate_regression(net, test, m, NULL);
    if (!st) st = bp_model_save(net, "oscillator.bpn");
    bp_net_free(net);
    return st;
}

int main(void)
{
    static float xtr[IN * TRAIN], ytr[TRAIN], xte[IN * TEST], yte[TEST];
    uint64_t s = 2024;
    sample(&s, TRAIN, 0.05, xtr, ytr);
    sample(&s, TEST, 0.0, xte, yte);
    if (!write_csv("oscillator-train.csv", TRAIN, xtr, ytr) ||
        !write_csv("oscillator-test.csv", TEST, xte, yte)) {
        fprintf(stderr, "oscillator: cannot write the CSV files\n");
        return 1;
    }
    bp_dataset train = {.count = TRAIN, .n_features = IN, .n_targets = 1, .x = xtr, .y = ytr};
    bp_dataset test = {.count = TEST, .n_features = IN, .n_targets = 1, .x = xte, .y = yte};
    bp_regression_metrics m;
    bp_status st = fit(&train, &test, &m);
    if (st) {
        fprintf(stderr, "oscillator: %s: %s\n", bp_strerror(st), bp_last_error());
        return 1;
    }
    printf("oscillator gain (dB) over w, k, zeta: library fit, test rmse %.4f dB, r2 %.5f\n",
           m.rmse, m.r2);
    return m.r2 >= 0.99 ? 0 : 1;
}
