/* Datasets, however they were filled (the IDX and CSV readers or the caller): freeing one and
 * splitting off its last samples. */
#include "internal.h"

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
