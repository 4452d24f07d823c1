/* The ranks of a data-parallel run (bp_parallel): each rank's share of the samples, the sum over
 * ranks, and the agreements built on it, so that every rank takes the same decisions and no rank is
 * left waiting in a sum the others never join. */
#include "internal.h"

#include <inttypes.h>

void bp__share(int n, const bp_parallel *par, int *lo, int *hi)
{
    *lo = par ? (int)((int64_t)par->rank * n / par->ranks) : 0;
    *hi = par ? (int)((int64_t)(par->rank + 1) * n / par->ranks) : n;
}

bp_status bp__check_parallel(const bp_parallel *par)
{
    if (par && !par->sum)
        return bp__fail(BP_ENULL, "parallel->sum is NULL");
    if (par && (par->ranks < 1 || par->rank < 0 || par->rank >= par->ranks))
        return bp__fail(BP_EDIM, "parallel: rank %d of %d ranks, need 0 <= rank < ranks >= 1",
                        par->rank, par->ranks);
    return BP_OK;
}

bp_status bp__sum_ranks(const bp_parallel *par, void *data, size_t n, bp_reduce_type type)
{
    bp_status st = par ? par->sum(data, n, type, par->ctx) : BP_OK;
    return st ? bp__fail(st, "the sum over ranks failed on rank %d of %d", par->rank, par->ranks)
              : BP_OK;
}

/* The sum of one-hot status vectors tells each rank which statuses occurred. */
bp_status bp__agree(const bp_parallel *par, bp_status st, const char *what)
{
    double v[BP_EMISMATCH + 1] = {0};
    if (!par)
        return st;
    v[st >= 0 && st <= BP_EMISMATCH ? st : BP_EMISMATCH] = st != BP_OK;
    bp_status rs = bp__sum_ranks(par, v + 1, BP_EMISMATCH, BP_REDUCE_DOUBLE);
    if (rs || st)
        return st ? st : rs;
    for (int k = 1; k <= BP_EMISMATCH; k++)
        if (v[k] > 0)
            return bp__fail((bp_status)k, "%s failed on %.0f of %d ranks", what, v[k], par->ranks);
    return BP_OK;
}

uint64_t bp__fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* With only a sum over ranks: for each byte x of h, sum(x)^2 = ranks * sum(x^2) exactly when all
 * ranks hold the same x (the Cauchy-Schwarz equality case: zero variance), and with x <= 255 these
 * sums are integers exact in double up to 2^18 ranks. */
bp_status bp__check_same(const bp_parallel *par, uint64_t h, const char *what, int epoch)
{
    double v[16];
    if (!par)
        return BP_OK;
    for (int i = 0; i < 8; i++) {
        double x = (double)((h >> (8 * i)) & 0xff);
        v[i] = x;
        v[8 + i] = x * x;
    }
    bp_status st = bp__sum_ranks(par, v, 16, BP_REDUCE_DOUBLE);
    for (int i = 0; i < 8 && !st; i++)
        if (v[i] * v[i] != par->ranks * v[8 + i])
            st = bp__fail(BP_EMISMATCH, "%s differ across ranks at epoch %d (hash on rank %d: "
                          "%016" PRIx64 ")", what, epoch, par->rank, h);
    return st;
}
