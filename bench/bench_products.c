/* The floor of a training step under any memory layout: every matrix product of one step of a
 * network at batch B, timed as the library calls it and in every other form the same product can
 * take, so that a peer that stores its operands otherwise (PyTorch's row-major x w^T) is measured
 * against the fastest form, not against ours.
 *
 *   bench_products [--nets 784-100-10,784-256-128-10] [--batch 1024] [--rounds R] [--threads T]
 *
 * The products of one step (n^l the widths, B the batch):
 *   forward, l = 2..L   z^l = w^l a^{l-1}          M = n^l,     N = B,       K = n^{l-1}  (NN)
 *   eq. B,   l = L..3   w^l^T delta^l              M = n^{l-1}, N = B,       K = n^l      (TN)
 *   eq. C,   l = 2..L   delta^l a^{l-1}^T          M = n^l,     N = n^{l-1}, K = B        (NT)
 * in brackets the transpositions of the library's cblas_sgemm call (src/blas.c). A product C = AB
 * of M x N from K can also be formed as C^T = B^T A^T (N x M), and each operand can be stored
 * either way round: eight sgemm calls, each of 2 M N K flops, which differ only in how OpenBLAS
 * packs and blocks them. Each round times all eight of every product once, in an order rotated
 * one place per round, so that a loaded machine slows all of them alike; reported per product is
 * the median over the rounds of the library's form and of the fastest form, and their sums over
 * the step: "ours", the step's products as the library runs them, and "floor", what the products
 * take whatever the layout (each product in its own best form, which no single layout may allow:
 * a lower bound). B / floor is then the most samples/s any implementation of the step on this
 * BLAS, at this thread count, can reach: the elementwise passes, the bias sums and the update
 * only add to it. The BLAS runs at T threads (default 1: bp_blas_set_threads, which a generic CBLAS
 * ignores). beta = 0 in every call
 * (the library's eq. C accumulates with beta = 1 into a zeroed block: a little more traffic). */
#include "backprop.h"
#include "../src/clock.h"
#include "blas_core.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LAYERS = 8, MAX_PRODUCTS = 3 * MAX_LAYERS, FORMS = 8, MAX_ROUNDS = 101 };

typedef struct product {
    char name[32];
    int m, n, k;        /* C (m x n) = op(A) (m x k) op(B) (k x n) */
    int library_form;   /* the form of the library's call, an index into the eight */
    double t[FORMS][MAX_ROUNDS];
} product;

/* Form f of product p: bit 2 set forms C^T (n x m) = B^T A^T; bits 0 and 1 transpose the stored
 * left and right operands of that call. */
static double time_form(const product *p, int f, const float *a, const float *b, float *c)
{
    int swap = f >> 2 & 1, ta = f & 1, tb = f >> 1 & 1;
    int m = swap ? p->n : p->m, n = swap ? p->m : p->n, k = p->k;
    double t0 = bp__seconds();
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, 1.0f, a, ta ? k : m, b, tb ? n : k, 0.0f, c, m);
    return bp__seconds() - t0;
}

static int parse_layers(const char *s, int *sizes)
{
    int L = 0;
    for (char *end; *s && L < MAX_LAYERS; s = *end ? end + 1 : end) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 16 || (*end && *end != '-'))
            return 0;
        sizes[L++] = (int)v;
    }
    return *s || L < 2 ? 0 : L;
}

static void add(product *ps, int *np, const char *name, int l, int m, int n, int k, int form)
{
    product *p = &ps[(*np)++];
    snprintf(p->name, sizeof p->name, "%s l=%d", name, l);
    p->m = m, p->n = n, p->k = k, p->library_form = form;
}

/* The step's products (the table in the header comment); the library's forms: NN, TN, NT. */
static int step_products(const int *n, int L, int B, product *ps)
{
    int np = 0;
    for (int l = 2; l <= L; l++)
        add(ps, &np, "forward", l, n[l - 1], B, n[l - 2], 0);
    for (int l = L; l >= 3; l--)
        add(ps, &np, "eq. B", l, n[l - 2], B, n[l - 1], 1);
    for (int l = 2; l <= L; l++)
        add(ps, &np, "eq. C", l, n[l - 1], n[l - 2], B, 2);
    return np;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

static const char *form_name(int f)
{
    static const char *names[FORMS] = {"C=AB NN", "C=AB TN", "C=AB NT", "C=AB TT",
                                       "C^T NN",  "C^T TN",  "C^T NT",  "C^T TT"};
    return names[f];
}

static void *xcalloc(size_t n)
{
    void *p = calloc(n, sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_products: out of memory\n");
        exit(1);
    }
    return p;
}

static void run_net(const char *layers, int B, int rounds)
{
    int sizes[MAX_LAYERS], L = parse_layers(layers, sizes);
    static product ps[MAX_PRODUCTS];
    if (!L) {
        fprintf(stderr, "bench_products: bad network %s\n", layers);
        exit(2);
    }
    int np = step_products(sizes, L, B, ps);
    size_t most = 0;
    for (int i = 0; i < np; i++) {
        size_t mk = (size_t)ps[i].m * (size_t)ps[i].k, kn = (size_t)ps[i].k * (size_t)ps[i].n,
               mn = (size_t)ps[i].m * (size_t)ps[i].n;
        most = mk > most ? mk : most, most = kn > most ? kn : most, most = mn > most ? mn : most;
    }
    float *a = xcalloc(most), *b = xcalloc(most), *c = xcalloc(most);
    for (size_t i = 0; i < most; i++)
        a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    for (int r = -1; r < rounds; r++) /* round -1: warm-up, untimed */
        for (int u = 0; u < np * FORMS; u++) {
            int j = (u + (r < 0 ? 0 : r)) % (np * FORMS);
            double t = time_form(&ps[j / FORMS], j % FORMS, a, b, c);
            if (r >= 0)
                ps[j / FORMS].t[j % FORMS][r] = t;
        }
    printf("| %s, B = %d | M x N x K | library's form, ms | fastest form, ms "
           "| library / fastest |\n"
           "|---|---|--:|--:|--:|\n", layers, B);
    double ours = 0, floor = 0;
    for (int i = 0; i < np; i++) {
        product *p = &ps[i];
        double med[FORMS];
        int best = 0;
        for (int f = 0; f < FORMS; f++) {
            med[f] = median(p->t[f], rounds);
            best = med[f] < med[best] ? f : best;
        }
        ours += med[p->library_form], floor += med[best];
        printf("| %s | %d x %d x %d | %.3f (%s) | %.3f (%s) | %.2f |\n", p->name, p->m, p->n, p->k,
               med[p->library_form] * 1e3, form_name(p->library_form), med[best] * 1e3,
               form_name(best), med[p->library_form] / med[best]);
    }
    printf("| **the step's products** | | **%.3f** = %.0f samples/s | **%.3f** = %.0f samples/s "
           "| %.2f |\n\n", ours * 1e3, B / ours, floor * 1e3, B / floor, ours / floor);
    free(a), free(b), free(c);
}

int main(int argc, char **argv)
{
    const char *nets = "784-100-10,784-256-128-10";
    int batch = 1024, rounds = 11, threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--nets"))
            nets = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else
            argc = 0; /* unknown flag: usage below */
    }
    if (argc % 2 == 0 || batch < 1 || batch > 1 << 16 || rounds < 1 || rounds > MAX_ROUNDS ||
        threads < 1 || threads > 256) {
        fprintf(stderr, "usage: bench_products [--nets A,B,..] [--batch B] [--rounds 1..%d] "
                        "[--threads T]\n", MAX_ROUNDS);
        return 2;
    }
    blas_core_upgrade(argv);
    if (bp_blas_set_threads(threads) && threads > 1)
        fprintf(stderr, "bench_products: %s: %d threads asked\n", bp_last_error(), threads);
    bp_blas_info blas;
    bp_blas_describe(&blas);
    printf("BLAS: %s, kernels %s, %d thread%s; median of %d alternated rounds per form\n\n",
           blas_library_name(), blas_core_name(), blas.threads, blas.threads == 1 ? "" : "s",
           rounds);
    char list[256];
    snprintf(list, sizeof list, "%s", nets);
    char *save = NULL;
    for (char *net = strtok_r(list, ",", &save); net; net = strtok_r(NULL, ",", &save))
        run_net(net, batch, rounds);
    return 0;
}
