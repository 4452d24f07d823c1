/* One training step (gradient + SGD update of a mini-batch) on N worker threads (bp_team) against
 * the calling thread alone, and against the BLAS's own threads, in alternated rounds.
 *
 *   bench_workers [--nets A,B,..] [--batches 128,1024] [--workers 2,..] [--rounds R]
 *                 [--round-seconds S] [--update optim|sgd|adam] [--team train|public]
 *
 * For each network and batch B the configurations are: "1 thread" (bp_gradient_batch, BLAS at
 * one thread), "BLAS T" (the same calls with the BLAS at T = the largest worker count) and
 * "N workers" for each N. The update is bp_train's, bp_optim_step with plain SGD (its norm, dry
 * run and update passes); --update adam the same with Adam; --update sgd times bp_sgd_step (one
 * pass) on the calling thread in every configuration instead. "N workers" is the step bp_train takes with N workers (--team
 * train, the default with the static library): bp_train's internal bp__team_gradient_checked,
 * the shares' gradients, then a round that sums the blocks and dry-runs the step by slices, then
 * bp__team_step_finish, the update by slices; --team public (and every build with the shared
 * library) times the public calls instead, bp_team_gradient then bp_team_optim_step (a round of
 * the sum, one of the dry run). Each round times every configuration for about S seconds of
 * steps, the order rotated one place per round, so that a loaded machine slows all of them alike
 * (after "BLAS T", untimed, a pause lets OpenBLAS's threads stop spinning, which they do for a
 * while after their last product). Reported: the median over R rounds of the time per step, as
 * samples/s, with the min-max, and the ratio of medians against "1 thread"; and the median
 * processor time of the process per step (CLOCK_PROCESS_CPUTIME_ID, all its threads) against
 * "1 thread"'s: the work the threads add, which a loaded machine changes far less than wall time
 * (on an idle machine N threads could at best give N times "1 thread" divided by that ratio). The
 * load average (/proc/loadavg) is printed before and after: the wall-time figures are under that
 * load. The potentials 2-64-64-1, 30-128-128-1 and 192-256-256-1 (SiLU, one output), run only
 * when --nets names them, take the force loss's step instead (bp_gradient_forces, w_E = w_F = 1;
 * the teams bp_team_gradient_forces, or bp_train's step with forces). */
#include "backprop.h"
#include "blas_core.h"
#ifdef BP_STATIC_DEFINE
#include "../src/internal.h" /* bp_train's fused team step: hidden symbols of the static library */
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        bp_status st_ = (call);                                                                    \
        if (st_) {                                                                                 \
            fprintf(stderr, "bench: %s: %s (%s)\n", #call, bp_strerror(st_), bp_last_error());    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { MAX_LIST = 8, MAX_CONFIGS = MAX_LIST + 2, MAX_ROUNDS = 63 };

/* The optimizer of bp_optim_step: plain SGD, or with --update adam Adam (whose state the team's
 * step keeps too). */
static bp_optimizer_kind optim_kind = BP_OPT_SGD;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_load(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            strcpy(buf, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, buf);
}

typedef struct net_spec {
    const char *layers;
    bp_activation hidden, output;
    bp_cost cost;
    int forces; /* a potential: the step is the force loss's (only when named in --nets) */
} net_spec;

static const net_spec NETS[] = {
    {"784-100-10", BP_SIGMOID, BP_SIGMOID, BP_QUADRATIC, 0},
    {"784-256-128-10", BP_RELU, BP_SOFTMAX, BP_NLL, 0},
    {"1024-1024-1024-10", BP_RELU, BP_SOFTMAX, BP_NLL, 0},
    {"2-64-64-1", BP_SILU, BP_IDENTITY, BP_QUADRATIC, 1},
    {"30-128-128-1", BP_SILU, BP_IDENTITY, BP_QUADRATIC, 1},
    {"192-256-256-1", BP_SILU, BP_IDENTITY, BP_QUADRATIC, 1},
};

typedef struct bench {
    bp_net *net;
    bp_workspace *ws;
    bp_team *team[MAX_LIST];
    int batch, n1, nL, nw, workers[MAX_LIST], blas_threads;
    float *X, *Y, *grad; /* with forces Y is [E*; F*], 1 + n1 rows per sample */
    int forces;
    int plain_sgd; /* --update sgd: bp_sgd_step instead of opt */
    int public_team; /* --team public: the teams' public calls instead of bp_train's step */
    bp_optim *opt;
} bench;

static void bench_create(bench *b, const net_spec *spec, int batch, const int *workers, int nw,
                         int plain_sgd, int public_team)
{
    int sizes[BP_MAX_LAYERS], L = 0;
    for (const char *p = spec->layers; *p; p += *p == '-')
        sizes[L++] = (int)strtol(p, (char **)&p, 10);
    bp_activation acts[BP_MAX_LAYERS];
    for (int i = 0; i < L - 1; i++)
        acts[i] = i == L - 2 ? spec->output : spec->hidden;
    memset(b, 0, sizeof *b);
    CHECK(bp_net_create(&b->net, L, sizes, acts, spec->cost));
    CHECK(bp_net_init(b->net, spec->hidden == BP_RELU ? BP_INIT_HE : BP_INIT_XAVIER, 1));
    b->forces = spec->forces;
    CHECK((b->forces ? bp_workspace_create_tangent : bp_workspace_create)(&b->ws, b->net, batch));
    CHECK(bp_optim_create(&b->opt, b->net, &(bp_optim_config){.kind = optim_kind, .eta = 1e-3f}));
    b->plain_sgd = plain_sgd;
    b->public_team = public_team;
    b->batch = batch;
    b->n1 = sizes[0];
    b->nL = b->forces ? 1 + sizes[0] : sizes[L - 1]; /* the rows of Y */
    b->nw = nw;
    for (int i = 0; i < nw; i++) {
        b->workers[i] = workers[i];
        CHECK((b->forces ? bp_team_create_tangent : bp_team_create)(&b->team[i], b->net,
                                                                  workers[i], batch));
        b->blas_threads = workers[i] > b->blas_threads ? workers[i] : b->blas_threads;
    }
    bp_net_info info;
    CHECK(bp_net_describe(b->net, &info));
    b->X = malloc(sizeof(float) * (size_t)b->n1 * (size_t)batch);
    b->Y = calloc((size_t)b->nL * (size_t)batch, sizeof(float));
    b->grad = malloc(sizeof(float) * info.num_params);
    if (!b->X || !b->Y || !b->grad) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)b->n1 * (size_t)batch; i++)
        b->X[i] = (float)(0.5 + 0.5 * sin(0.1 * (double)i));
    for (int j = 0; j < batch; j++)
        b->Y[(size_t)j * (size_t)b->nL + (size_t)(j % b->nL)] = 1.0f;
}

static void bench_free(bench *b)
{
    for (int i = 0; i < b->nw; i++)
        bp_team_free(b->team[i]);
    bp_workspace_free(b->ws);
    bp_optim_free(b->opt);
    bp_net_free(b->net);
    free(b->X);
    free(b->Y);
    free(b->grad);
}

/* The gradient of configuration c (0 = one thread, 1 = BLAS threads, 2.. = the teams): the
 * plain loss's, or with forces the force loss's (w_E = w_F = 1, E* = Y, F* = Y + 1). */
static void gradient(bench *b, int c)
{
    const float *Y = b->Y;
    int B = b->batch, ld = b->nL;
    if (b->forces && c < 2)
        CHECK(bp_gradient_forces(b->net, b->ws, B, b->X, b->n1, Y, ld, Y + 1, ld, 1, 1, b->grad,
                                 NULL));
    else if (b->forces)
        CHECK(bp_team_gradient_forces(b->team[c - 2], b->net, B, b->X, b->n1, Y, ld, Y + 1, ld, 1,
                                      1, b->grad, NULL));
    else if (c < 2)
        CHECK(bp_gradient_batch(b->net, b->ws, B, b->X, b->n1, Y, ld, b->grad, NULL));
    else
        CHECK(bp_team_gradient(b->team[c - 2], b->net, B, b->X, b->n1, Y, ld, b->grad, NULL));
}

/* Configuration c's step (as gradient's). */
static void step(bench *b, int c)
{
#ifdef BP_STATIC_DEFINE
    if (c >= 2 && !b->plain_sgd && !b->public_team) {
        bp_team *team = b->team[c - 2];
        bp__force_batch fb = {b->batch, b->X, b->n1, b->Y, b->nL, b->Y + 1, b->nL, 1, 1};
        CHECK(bp__team_gradient_checked(team, b->net, NULL, b->forces ? &fb : NULL, b->batch,
                                        b->X, b->n1, b->Y, b->nL, b->grad, NULL, b->opt, b->batch,
                                        1e-3f));
        CHECK(bp__team_step_finish(team, 1));
        return;
    }
#endif
    gradient(b, c);
    if (b->plain_sgd)
        CHECK(bp_sgd_step(b->net, b->grad, 1e-3f, b->batch));
    else if (c < 2)
        CHECK(bp_optim_step(b->opt, b->net, b->grad, b->batch, b->batch, 1e-3f));
    else
        CHECK(bp_team_optim_step(b->team[c - 2], b->opt, b->net, b->grad, b->batch, b->batch,
                                 1e-3f));
}

/* Seconds per step of configuration c over about seconds of steps (at least 3); *cpu = processor
 * seconds of the process per step. */
static double time_steps(bench *b, int c, double seconds, double *cpu)
{
    (void)bp_blas_set_threads(c == 1 ? b->blas_threads : 1); /* a generic CBLAS: its own */
    int steps = 0;
    double t0 = now(), c0 = cpu_now(), t;
    do {
        step(b, c);
        steps++;
        t = now() - t0;
    } while (t < seconds || steps < 3);
    *cpu = (cpu_now() - c0) / steps;
    if (c == 1) { /* OpenBLAS's idle threads spin a while before they sleep: not on the next one */
        (void)bp_blas_set_threads(1);
        nanosleep(&(struct timespec){0, 300000000}, NULL);
    }
    return t / steps;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void run(bench *b, const char *layers, int rounds, double seconds)
{
    int nc = 2 + b->nw;
    static double t[MAX_CONFIGS][MAX_ROUNDS], cpu[MAX_CONFIGS][MAX_ROUNDS];
    for (int c = 0; c < nc; c++) /* warm-up: pages, threads */
        time_steps(b, c, 0.05, &cpu[c][0]);
    for (int r = 0; r < rounds; r++)
        for (int u = 0; u < nc; u++) {
            int c = (r + u) % nc;
            t[c][r] = time_steps(b, c, seconds, &cpu[c][r]);
        }
    double med[MAX_CONFIGS], cmed[MAX_CONFIGS];
    for (int c = 0; c < nc; c++) {
        med[c] = median(t[c], rounds);
        cmed[c] = median(cpu[c], rounds);
    }
    for (int c = 0; c < nc; c++) {
        char name[32];
        if (c == 0)
            snprintf(name, sizeof name, "1 thread");
        else if (c == 1)
            snprintf(name, sizeof name, "BLAS %d threads", b->blas_threads);
        else
            snprintf(name, sizeof name, "%d workers", b->workers[c - 2]);
        printf("| %s | %d | %s | %.0f | %.0f-%.0f | %.2f | %.2f |\n", layers, b->batch, name,
               b->batch / med[c], b->batch / t[c][rounds - 1], b->batch / t[c][0],
               med[0] / med[c], cmed[c] / cmed[0]);
    }
    fflush(stdout);
}

static int parse_list(const char *s, int *out)
{
    int n = 0;
    for (char *end; *s && n < MAX_LIST; s = *end ? end + 1 : end) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || (*end && *end != ','))
            return 0;
        out[n++] = (int)v;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_workers [--nets A,B,..] [--batches 128,1024] [--workers 2,..] "
                    "[--rounds R] [--round-seconds S] [--update optim|sgd|adam] "
                    "[--team train|public]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *nets = NULL;
    int batches[MAX_LIST] = {10, 32, 128, 1024}, nb = 4, workers[MAX_LIST] = {2}, nw = 1;
    int rounds = 7, plain_sgd = 0, public_team = 0;
    double seconds = 0.2;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            usage();
        i++;
        if (!strcmp(arg, "--nets"))
            nets = val;
        else if (!strcmp(arg, "--batches"))
            nb = parse_list(val, batches);
        else if (!strcmp(arg, "--workers"))
            nw = parse_list(val, workers);
        else if (!strcmp(arg, "--rounds"))
            rounds = atoi(val);
        else if (!strcmp(arg, "--round-seconds"))
            seconds = atof(val);
        else if (!strcmp(arg, "--update") &&
                 (!strcmp(val, "optim") || !strcmp(val, "sgd") || !strcmp(val, "adam"))) {
            plain_sgd = !strcmp(val, "sgd");
            optim_kind = !strcmp(val, "adam") ? BP_OPT_ADAM : BP_OPT_SGD;
        }
        else if (!strcmp(arg, "--team") && (!strcmp(val, "train") || !strcmp(val, "public")))
            public_team = !strcmp(val, "public");
        else
            usage();
        if (!nb || !nw || rounds < 1 || rounds > MAX_ROUNDS || !(seconds > 0))
            usage();
    }
    blas_core_upgrade(argv);
#ifndef BP_STATIC_DEFINE
    public_team = 1;
#endif
    printf("BLAS: %s, kernels %s; update %s; workers: %s\n", blas_library_name(),
           blas_core_name(),
           plain_sgd                  ? "bp_sgd_step on the calling thread"
           : optim_kind == BP_OPT_ADAM ? "bp_optim_step (Adam), on the team's threads for workers"
                                       : "bp_optim_step (SGD), on the team's threads for workers",
           public_team ? "bp_team_gradient, bp_team_optim_step"
                       : "bp_train's step (the sum and the dry run in one round)");
    print_load("before");
    printf("\n| network | B | threads | samples/s (median) | min-max | vs 1 thread | cpu/step vs "
           "1 thread |\n|---|--:|---|--:|--:|--:|--:|\n");
    for (size_t n = 0; n < sizeof NETS / sizeof NETS[0]; n++) {
        if (nets ? !strstr(nets, NETS[n].layers) : NETS[n].forces)
            continue;
        for (int k = 0; k < nb; k++) {
            bench b;
            bench_create(&b, &NETS[n], batches[k], workers, nw, plain_sgd, public_team);
            run(&b, NETS[n].layers, rounds, seconds);
            bench_free(&b);
        }
    }
    print_load("after");
    return 0;
}
