/* A network potential for the Mueller-Brown surface, the two-dimensional test landscape of
 * reaction-path methods (K. Mueller and L. D. Brown, Theor. Chim. Acta 53, 75 (1979)):
 *   V(x, y) = sum_k A_k exp(a_k (x - x0_k)^2 + b_k (x - x0_k)(y - y0_k) + c_k (y - y0_k)^2).
 * The program fits a 2-64-64-1 SiLU network to V on the same 400 points twice, from the energies
 * alone (bp_train) and from the energies and forces F = -grad V (bp_train with forces: the loss
 * w_E 1/2 (E - E*)^2 + w_F 1/2 ||grad_x E + F*||^2, bp_gradient_forces), and reports for both the
 * energy RMSE and the force RMSE on 2000 other points, the network's forces coming from the VJP
 * (bp_vjp_batch with V = 1). Then a particle of mass 1 moves by velocity Verlet for STEPS steps on
 * the fitted surface and on the true one from the same start: how long the two trajectories stay
 * within TOLERANCE of each other, for each fit.
 *
 * The network works on scaled quantities, x' = (x - centre) / half-width (the box becomes
 * [-1, 1]^2) and E' = (V - E0) / ES, so the forces it fits are F' = F h / ES per coordinate. The
 * forces model and its dynamics (steps within TOLERANCE, last position) are written to
 * muller_brown.bpn and muller_brown.txt, which the Fortran version of the dynamics
 * (muller_brown_md.f90) reads.
 * Exits non-zero unless the forces fit's force RMSE is at least 3 times below the energy-only
 * one. */
#include <backprop.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { TRAIN = 400, TEST = 2000, STEPS = 4000 };
static const double DT = 1e-3, TOLERANCE = 0.05;
/* the box [-1.5, 1.2] x [-0.2, 2] */
static const double CENTRE[2] = {-0.15, 0.9}, HALF[2] = {1.35, 1.1};
static const double E0 = -50.0, ES = 100.0, VMAX = 100.0; /* points with V > VMAX are left out */
static const double START[2] = {-0.56, 1.44}, VELOCITY[2] = {6.0, 2.0};

/* V at (x, y); f (may be NULL) = the force -grad V. */
static double mueller_brown(const double *r, double *f)
{
    static const double A[4] = {-200, -100, -170, 15}, a[4] = {-1, -1, -6.5, 0.7};
    static const double b[4] = {0, 0, 11, 0.6}, c[4] = {-10, -10, -6.5, 0.7};
    static const double x0[4] = {1, 0, -0.5, -1}, y0[4] = {0, 0.5, 1.5, 1};
    double v = 0, gx = 0, gy = 0;
    for (int k = 0; k < 4; k++) {
        double dx = r[0] - x0[k], dy = r[1] - y0[k];
        double e = A[k] * exp(a[k] * dx * dx + b[k] * dx * dy + c[k] * dy * dy);
        v += e;
        gx += e * (2 * a[k] * dx + b[k] * dy);
        gy += e * (b[k] * dx + 2 * c[k] * dy);
    }
    if (f)
        f[0] = -gx, f[1] = -gy;
    return v;
}

/* n points uniform in the box with V <= VMAX (a fixed linear congruential sequence): x' in X
 * (2 x n), and the targets [E'; F'] (3 x n) of each. */
static void sample(int n, unsigned long seed, float *X, float *EF)
{
    for (int j = 0; j < n;) {
        double r[2], f[2];
        for (int i = 0; i < 2; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            r[i] = CENTRE[i] + HALF[i] * (2.0 * (double)(seed >> 11) / 9007199254740992.0 - 1.0);
        }
        double v = mueller_brown(r, f);
        if (v > VMAX)
            continue;
        for (int i = 0; i < 2; i++) {
            X[2 * j + i] = (float)((r[i] - CENTRE[i]) / HALF[i]);
            EF[3 * j + 1 + i] = (float)(f[i] * HALF[i] / ES);
        }
        EF[3 * j] = (float)((v - E0) / ES);
        j++;
    }
}

/* Train a fresh network on the samples: with forces, on [E'; F'], else on E' alone. */
static bp_status fit(bp_net **net, const float *X, float *EF, int with_forces)
{
    static float energies[TRAIN];
    const int sizes[] = {2, 64, 64, 1};
    const bp_activation acts[] = {BP_SILU, BP_SILU, BP_IDENTITY};
    for (int j = 0; j < TRAIN; j++)
        energies[j] = EF[3 * j];
    bp_dataset ds = {TRAIN, 2, with_forces ? 3 : 1, (float *)X, with_forces ? EF : energies, NULL};
    bp_train_config cfg = {.epochs = 1000, .batch_size = 20, .seed = 1,
                           .optim = {.kind = BP_OPT_ADAM, .eta = 3e-3f},
                           .schedule = {.kind = BP_LR_COSINE, .eta_min = 1e-5f},
                           .forces = with_forces, .energy_weight = 1, .force_weight = 1};
    bp_status st = bp_net_create(net, 4, sizes, acts, BP_QUADRATIC);
    if (!st)
        st = bp_net_init(*net, BP_INIT_XAVIER, 7);
    return st ? st : bp_train(*net, &ds, NULL, &cfg, NULL);
}

/* Energy and force RMSE (in V's units) of net on the n points X with targets EF, the forces by the
 * VJP of the batch with seeds 1: grad_x' E', unscaled as F = -grad_x' E' ES / h. */
static bp_status errors(const bp_net *net, int n, const float *X, const float *EF, double *rmse_e,
                        double *rmse_f)
{
    bp_workspace *ws = NULL;
    float *ones = malloc(n * sizeof *ones), *G = malloc(2 * (size_t)n * sizeof *G);
    const float *a;
    int ld;
    bp_status st = ones && G ? bp_workspace_create(&ws, net, n) : BP_ENOMEM;
    for (int j = 0; ones && j < n; j++)
        ones[j] = 1.0f;
    if (!st && !(st = bp_forward_batch(net, ws, n, X, 2)) &&
        !(st = bp_workspace_activations(ws, 4, &a, &ld)) &&
        !(st = bp_vjp_batch(net, ws, n, ones, 1, G, 2))) {
        double se = 0, sf = 0;
        for (int j = 0; j < n; j++) {
            double de = (a[j] - EF[3 * j]) * ES;
            se += de * de;
            for (int i = 0; i < 2; i++) {
                double df = (-G[2 * j + i] - EF[3 * j + 1 + i]) * ES / HALF[i];
                sf += df * df;
            }
        }
        *rmse_e = sqrt(se / n);
        *rmse_f = sqrt(sf / (2.0 * n));
    }
    bp_workspace_free(ws);
    free(ones);
    free(G);
    return st;
}

/* The force of the fitted surface at r: one forward and one VJP of a single sample. */
static bp_status net_force(const bp_net *net, bp_workspace *ws, const double *r, double *f)
{
    float x[2], one = 1.0f, g[2];
    for (int i = 0; i < 2; i++)
        x[i] = (float)((r[i] - CENTRE[i]) / HALF[i]);
    bp_status st = bp_forward(net, ws, x);
    if (!st)
        st = bp_vjp_batch(net, ws, 1, &one, 1, g, 2);
    for (int i = 0; i < 2; i++)
        f[i] = -(double)g[i] * ES / HALF[i];
    return st;
}

/* Velocity Verlet on the true surface and on net's, side by side from START with VELOCITY: the
 * number of steps before the positions first differ by more than TOLERANCE (STEPS if never), and
 * the last position on net's surface. */
static bp_status dynamics(const bp_net *net, int *steps_within, double *last)
{
    double r[2][2], v[2][2], f[2][2];
    bp_workspace *ws = NULL;
    bp_status st = bp_workspace_create(&ws, net, 1);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 2; i++)
            r[s][i] = START[i], v[s][i] = VELOCITY[i];
    mueller_brown(r[0], f[0]);
    if (!st)
        st = net_force(net, ws, r[1], f[1]);
    *steps_within = STEPS;
    for (int n = 0; n < STEPS && !st; n++) {
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 2; i++) {
                v[s][i] += 0.5 * DT * f[s][i];
                r[s][i] += DT * v[s][i];
            }
        mueller_brown(r[0], f[0]);
        st = net_force(net, ws, r[1], f[1]);
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 2; i++)
                v[s][i] += 0.5 * DT * f[s][i];
        if (hypot(r[0][0] - r[1][0], r[0][1] - r[1][1]) > TOLERANCE && *steps_within == STEPS)
            *steps_within = n + 1;
    }
    last[0] = r[1][0], last[1] = r[1][1];
    bp_workspace_free(ws);
    return st;
}

int main(void)
{
    static float X[2 * TRAIN], EF[3 * TRAIN], Xt[2 * TEST], EFt[3 * TEST];
    bp_net *net[2] = {NULL, NULL};
    double e[2], f[2], last[2][2];
    int within[2];
    bp_status st = BP_OK;
    sample(TRAIN, 1, X, EF);
    sample(TEST, 2, Xt, EFt);
    for (int k = 0; k < 2 && !st; k++)
        if (!(st = fit(&net[k], X, EF, k)) && !(st = errors(net[k], TEST, Xt, EFt, &e[k], &f[k])))
            st = dynamics(net[k], &within[k], last[k]);
    if (!st)
        st = bp_model_save(net[1], "muller_brown.bpn");
    FILE *out = st ? NULL : fopen("muller_brown.txt", "w");
    if (st || !out || fprintf(out, "%d %.17g %.17g\n", within[1], last[1][0], last[1][1]) < 0 ||
        fclose(out) != 0) {
        fprintf(stderr, "muller_brown: %s: %s\n", bp_strerror(st ? st : BP_EIO), bp_last_error());
        return 1;
    }
    for (int k = 0; k < 2; k++)
        printf("%-19s energy RMSE %7.3f  force RMSE %7.3f  trajectory within %.2f for t = %.4f "
               "(%d of %d steps)\n", k ? "energies + forces:" : "energies only:", e[k], f[k],
               TOLERANCE, within[k] * DT, within[k], STEPS);
    printf("force RMSE ratio (energies only / with forces): %.1f\n", f[0] / f[1]);
    bp_net_free(net[0]);
    bp_net_free(net[1]);
    return f[0] >= 3 * f[1] ? 0 : 1;
}
