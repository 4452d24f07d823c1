/* Datasets, however they were filled (the IDX and CSV readers or the caller): freeing one,
 * splitting off its last samples, and a seeded random, stratified hold-out (a validation split
 * that does not depend on the order of the file). */
#include "internal.h"

#include <stdint.h>
#include <string.h>

void bp_dataset_free(bp_dataset *ds)
{
    if (!ds)
        return;
    bp__free(ds->x);
    bp__free(ds->y);
    bp__free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* Gives back the unused end of a block; a failed shrink keeps the larger block, still valid. */
static void *shrink(void *p, size_t rows, size_t cols, size_t elem)
{
    void *q = bp__realloc(p, rows * cols * elem);
    return q ? q : p;
}

bp_status bp_dataset_split(bp_dataset *ds, int tail_count, bp_dataset *tail)
{
    bp_status st = BP_OK;
    size_t head, nt, nf, k;
    bp__clear_error();
    if (tail)
        memset(tail, 0, sizeof *tail);
    if (!ds || !tail)
        return bp__fail(BP_ENULL, "%s is NULL", ds ? "tail" : "ds");
    if (!ds->x || !ds->y)
        return bp__fail(BP_ENULL, "ds->%s is NULL", ds->x ? "y" : "x");
    if (ds->n_features < 1 || ds->n_targets < 1)
        return bp__fail(BP_EDIM, "ds has %d features and %d targets, expected at least 1 each",
                        ds->n_features, ds->n_targets);
    if (tail_count < 1 || tail_count >= ds->count)
        return bp__fail(BP_EDIM, "tail_count is %d, expected 1..%d", tail_count, ds->count - 1);
    head = (size_t)(ds->count - tail_count);
    k = (size_t)tail_count;
    nf = (size_t)ds->n_features;
    nt = (size_t)ds->n_targets;
    if (!(tail->x = bp__realloc_array(NULL, k, nf, sizeof *tail->x, &st)) ||
        !(tail->y = bp__realloc_array(NULL, k, nt, sizeof *tail->y, &st)) ||
        (ds->labels &&
         !(tail->labels = bp__realloc_array(NULL, k, 1, sizeof *tail->labels, &st)))) {
        bp_dataset_free(tail);
        return st;
    }
    /* Samples are contiguous columns, so the tail is one block at the end of each array, and the
     * products below are no larger than those of the arrays ds already holds. */
    memcpy(tail->x, ds->x + head * nf, k * nf * sizeof *tail->x);
    memcpy(tail->y, ds->y + head * nt, k * nt * sizeof *tail->y);
    if (ds->labels)
        memcpy(tail->labels, ds->labels + head, k * sizeof *tail->labels);
    tail->count = tail_count;
    tail->n_features = ds->n_features;
    tail->n_targets = ds->n_targets;
    ds->x = shrink(ds->x, head, nf, sizeof *ds->x);
    ds->y = shrink(ds->y, head, nt, sizeof *ds->y);
    if (ds->labels)
        ds->labels = shrink(ds->labels, head, 1, sizeof *ds->labels);
    ds->count = (int)head;
    return BP_OK;
}

/* How many of each class to hold out: quota[c] = floor(count * n_c / N), then one more for the
 * classes of the largest remainders (ties: the smaller class) until they add up to count.
 * members[c] = n_c on entry. */
static void quotas(const int *members, int classes, int total, int count, int *quota,
                   int64_t *remainder)
{
    int given = 0;
    for (int c = 0; c < classes; c++) {
        int64_t share = (int64_t)count * members[c];
        quota[c] = (int)(share / total);
        remainder[c] = share % total;
        given += quota[c];
    }
    for (; given < count; given++) { /* at most one class per round; remainder > 0 so n_c > quota */
        int best = -1;
        for (int c = 0; c < classes; c++)
            if (remainder[c] > 0 && (best < 0 || remainder[c] > remainder[best]))
                best = c;
        quota[best]++;
        remainder[best] = 0;
    }
}

/* held[j] = 1 for the samples drawn: quota[c] of the members of each class c, uniformly (a partial
 * Fisher-Yates shuffle of the class's sample indices). order: N ints of scratch. */
static void draw(const bp_dataset *ds, int classes, const int *members, const int *quota,
                 uint64_t seed, int *order, unsigned char *held)
{
    bp__rng rng;
    int start = 0;
    bp__rng_seed(&rng, seed);
    for (int c = 0; c < classes; c++) { /* order: the samples grouped by class, in file order */
        for (int j = 0; j < ds->count; j++)
            if ((ds->labels ? ds->labels[j] : 0) == c)
                order[start++] = j;
    }
    start = 0;
    for (int c = 0; c < classes; c++) {
        int *group = order + start;
        for (int k = 0; k < quota[c]; k++) {
            int pick = k + (int)bp__rng_below(&rng, (uint64_t)(members[c] - k)), t = group[k];
            group[k] = group[pick];
            group[pick] = t;
            held[group[k]] = 1;
        }
        start += members[c];
    }
}

/* Copies the held samples into *out (allocated) and moves the others to the front of ds. */
static bp_status move_held(bp_dataset *ds, const unsigned char *held, int count, bp_dataset *out)
{
    size_t nf = (size_t)ds->n_features, nt = (size_t)ds->n_targets, k = 0, kept = 0;
    bp_status st = BP_OK;
    if (!(out->x = bp__realloc_array(NULL, (size_t)count, nf, sizeof *out->x, &st)) ||
        !(out->y = bp__realloc_array(NULL, (size_t)count, nt, sizeof *out->y, &st)) ||
        (ds->labels &&
         !(out->labels = bp__realloc_array(NULL, (size_t)count, 1, sizeof *out->labels, &st)))) {
        bp_dataset_free(out);
        return st;
    }
    for (size_t j = 0; j < (size_t)ds->count; j++) {
        size_t to = held[j] ? k++ : kept++;
        float *x = held[j] ? out->x : ds->x, *y = held[j] ? out->y : ds->y;
        int *labels = held[j] ? out->labels : ds->labels;
        memmove(x + to * nf, ds->x + j * nf, nf * sizeof *x); /* to <= j: never ahead of j */
        memmove(y + to * nt, ds->y + j * nt, nt * sizeof *y);
        if (labels)
            labels[to] = ds->labels[j];
    }
    out->count = count;
    out->n_features = ds->n_features;
    out->n_targets = ds->n_targets;
    ds->count -= count;
    return BP_OK;
}

bp_status bp_dataset_split_random(bp_dataset *ds, int count, uint64_t seed, bp_dataset *held)
{
    bp_status st = BP_OK;
    int classes = 1, *members = NULL, *quota = NULL, *order = NULL;
    int64_t *remainder = NULL;
    unsigned char *mark = NULL;
    bp__clear_error();
    if (held)
        memset(held, 0, sizeof *held);
    if (!ds || !held)
        return bp__fail(BP_ENULL, "%s is NULL", ds ? "held" : "ds");
    if (!ds->x || !ds->y)
        return bp__fail(BP_ENULL, "ds->%s is NULL", ds->x ? "y" : "x");
    if (count < 1 || count >= ds->count)
        return bp__fail(BP_EDIM, "count is %d, expected 1..%d", count, ds->count - 1);
    for (int j = 0; ds->labels && j < ds->count; j++) {
        if (ds->labels[j] < 0)
            return bp__fail(BP_EDIM, "ds->labels[%d] is %d, not a class", j, ds->labels[j]);
        classes = ds->labels[j] >= classes ? ds->labels[j] + 1 : classes;
    }
    if (!(members = bp__calloc((size_t)classes, sizeof *members)) ||
        !(quota = bp__calloc((size_t)classes, sizeof *quota)) ||
        !(remainder = bp__calloc((size_t)classes, sizeof *remainder)) ||
        !(order = bp__calloc((size_t)ds->count, sizeof *order)) ||
        !(mark = bp__calloc((size_t)ds->count, sizeof *mark)))
        st = bp__fail(BP_ENOMEM, "the split's tables for %d samples of %d classes", ds->count,
                      classes);
    if (!st) {
        for (int j = 0; j < ds->count; j++)
            members[ds->labels ? ds->labels[j] : 0]++;
        quotas(members, classes, ds->count, count, quota, remainder);
        draw(ds, classes, members, quota, seed, order, mark);
        st = move_held(ds, mark, count, held);
    }
    bp__free(members);
    bp__free(quota);
    bp__free(remainder);
    bp__free(order);
    bp__free(mark);
    return st;
}
