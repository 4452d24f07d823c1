/* CSV datasets: one sample per line, comma-separated numbers, features first. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define FIRST_CAPACITY 64 /* samples at most; the capacity then doubles */
#define FIRST_FLOATS 4096 /* floats (x and y) of the first room, unless one sample needs more */
#define SHOWN 40          /* at most this many characters of a bad field are quoted in a message */

/* Where a field comes from, for messages. */
typedef struct csv_pos {
    const char *path;
    long line;
    int column; /* 1-based */
} csv_pos;

/* Gives ds room for exactly cap samples (growing or shrinking); ds stays valid on failure. */
static bp_status resize(bp_dataset *ds, size_t cap, int with_labels)
{
    bp_status st = BP_OK;
    float *x, *y;
    int *labels;
    if (!(x = bp__realloc_array(ds->x, cap, (size_t)ds->n_features, sizeof *x, &st)))
        return st;
    ds->x = x;
    if (!(y = bp__realloc_array(ds->y, cap, (size_t)ds->n_targets, sizeof *y, &st)))
        return st;
    ds->y = y;
    if (with_labels) {
        if (!(labels = bp__realloc_array(ds->labels, cap, 1, sizeof *labels, &st)))
            return st;
        ds->labels = labels;
    }
    return BP_OK;
}

/* Doubles the room for samples, so that the copies stay linear in the file size. */
static bp_status grow(bp_dataset *ds, size_t *cap, int with_labels, const csv_pos *at)
{
    /* The first room is for fewer samples when they are wide: FIRST_CAPACITY rows of one long line
     * cost 128 times the file (fuzzing found 2 MB for a line of 16 KB). Memory then stays within
     * FIRST_FLOATS, or twice what the samples already read need. */
    size_t first = FIRST_FLOATS / ((size_t)ds->n_features + (size_t)ds->n_targets);
    if (first > FIRST_CAPACITY)
        first = FIRST_CAPACITY;
    size_t next = *cap == 0 ? (first ? first : 1) : *cap > INT_MAX / 2 ? INT_MAX : 2 * *cap;
    bp_status st;
    if (*cap == INT_MAX)
        return bp__fail(BP_EOVERFLOW, "%s:%ld: more than INT_MAX samples", at->path, at->line);
    st = resize(ds, next, with_labels);
    if (st == BP_OK)
        *cap = next;
    return st;
}

/* The field [s, e) as a message quotes it: at most SHOWN bytes, each byte that is not printable
 * ASCII written \xNN, so that a NUL, a byte-order mark or a control character is named instead of
 * being cut off or printed invisibly. */
static const char *shown(char out[4 * SHOWN + 4], const char *s, const char *e)
{
    char *o = out;
    for (; s < e && o < out + 4 * (SHOWN - 1); s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f)
            *o++ = (char)c;
        else
            o += sprintf(o, "\\x%02x", c);
    }
    if (s < e)
        o += sprintf(o, "...");
    *o = '\0';
    return out;
}

/* A finite float in [s, e), which holds no surrounding whitespace. strtof alone would accept a
 * prefix ("1.5x"), an empty field (as 0 with no conversion) and "inf"/"nan". */
static bp_status parse_number(const csv_pos *at, const char *s, const char *e, float *v)
{
    char *end, text[4 * SHOWN + 4];
    if (s == e)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: empty field", at->path, at->line,
                        at->column);
    *v = strtof(s, &end);
    if (end != e)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: '%s' is not a number", at->path,
                        at->line, at->column, shown(text, s, e));
    if (!isfinite(*v))
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: '%s' is not finite as a float",
                        at->path, at->line, at->column, shown(text, s, e));
    return BP_OK;
}

/* A class index in [0, n) written as a decimal integer in [s, e). */
static bp_status parse_label(const csv_pos *at, const char *s, const char *e, int n, int *label)
{
    char *end, text[4 * SHOWN + 4];
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (s == e || end != e)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: label '%s' is not an integer", at->path,
                        at->line, at->column, shown(text, s, e));
    if (errno == ERANGE || v < 0 || v >= n)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: label %s is not in [0, %d)", at->path,
                        at->line, at->column, shown(text, s, e), n);
    *label = (int)v;
    return BP_OK;
}

/* Parses the data line [s, end), whose column count is checked, into sample ds->count (for which
 * there is room). */
static bp_status parse_line(bp_dataset *ds, csv_pos *at, bp_csv_kind kind, const char *s,
                            const char *end)
{
    float *x = ds->x + (size_t)ds->count * (size_t)ds->n_features;
    float *y = ds->y + (size_t)ds->count * (size_t)ds->n_targets;
    bp_status st = BP_OK;
    int col, label = 0; /* set before use; the initialiser quiets -Wmaybe-uninitialized at -O3 */
    if (kind == BP_CSV_CLASSES)
        memset(y, 0, (size_t)ds->n_targets * sizeof *y);
    for (col = 0; st == BP_OK; col++) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        at->column = col + 1;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (col < ds->n_features)
            st = parse_number(at, s, e, &x[col]);
        else if (kind == BP_CSV_TARGETS)
            st = parse_number(at, s, e, &y[col - ds->n_features]);
        else if ((st = parse_label(at, s, e, ds->n_targets, &label)) == BP_OK) {
            ds->labels[ds->count] = label;
            y[label] = 1.0f;
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    return st;
}

/* Checks the column count of a data line; the first data line sets the shape of ds. */
static bp_status check_columns(bp_dataset *ds, const csv_pos *at, size_t columns, long first_line,
                               int n_targets_columns)
{
    size_t expected = (size_t)ds->n_features + (size_t)n_targets_columns;
    if (first_line != at->line) {
        if (columns != expected)
            return bp__fail(BP_EFORMAT, "%s:%ld: %zu columns, expected %zu as on line %ld",
                            at->path, at->line, columns, expected, first_line);
        return BP_OK;
    }
    if (columns <= (size_t)n_targets_columns)
        return bp__fail(BP_EFORMAT, "%s:%ld: %zu columns, need more than %d", at->path, at->line,
                        columns, n_targets_columns);
    if (columns - (size_t)n_targets_columns > INT_MAX)
        return bp__fail(BP_EOVERFLOW, "%s:%ld: %zu columns exceed INT_MAX", at->path, at->line,
                        columns);
    ds->n_features = (int)(columns - (size_t)n_targets_columns);
    return BP_OK;
}

bp_status bp_dataset_load_csv(bp_dataset *out, const char *path, bp_csv_kind kind, int n)
{
    csv_pos at = {path, 0, 0};
    char *line = NULL;
    size_t line_cap = 0, cap = 0;
    long first_line = 0;
    ssize_t len;
    bp_status st = BP_OK;
    FILE *f;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return bp__fail(BP_ENULL, "path is NULL");
    if (kind != BP_CSV_CLASSES && kind != BP_CSV_TARGETS)
        return bp__fail(BP_EDIM, "kind is %d, not a bp_csv_kind", (int)kind);
    if (n < 1)
        return bp__fail(BP_EDIM, "n is %d, expected at least 1", n);
    f = fopen(path, "r");
    if (!f)
        return bp__fail_errno(errno, path, "cannot open");
    out->n_targets = n;
    /* getline reads lines of any length, so a long line is never split into two samples. */
    while (st == BP_OK && (len = getline(&line, &line_cap, f)) != -1) {
        const char *start = line, *s, *end = line + len;
        size_t columns = 1;
        /* the UTF-8 byte-order mark some spreadsheets put first is no part of the data */
        if (++at.line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            start += 3;
        for (s = start; s < end && isspace((unsigned char)*s);)
            s++;
        if (s == end || *s == '#')
            continue;
        for (s = start; (s = memchr(s, ',', (size_t)(end - s))) != NULL; s++)
            columns++;
        if (first_line == 0)
            first_line = at.line;
        st = check_columns(out, &at, columns, first_line, kind == BP_CSV_CLASSES ? 1 : n);
        if (st == BP_OK && (size_t)out->count == cap)
            st = grow(out, &cap, kind == BP_CSV_CLASSES, &at);
        if (st == BP_OK)
            st = parse_line(out, &at, kind, start, end);
        if (st == BP_OK)
            out->count++;
    }
    if (st == BP_OK && ferror(f)) { /* with the system's reason: a directory is named as one */
        char what[64];
        snprintf(what, sizeof what, "cannot read after line %ld", at.line);
        st = bp__fail_errno(errno, path, what);
    }
    else if (st == BP_OK && !feof(f))
        st = bp__fail(BP_ENOMEM, "%s:%ld: line too long for memory", path, at.line + 1);
    else if (st == BP_OK && out->count == 0)
        st = bp__fail(BP_EFORMAT, "%s: empty: no data lines", path);
    if (st == BP_OK)
        st = resize(out, (size_t)out->count, kind == BP_CSV_CLASSES); /* give back the slack */
    free(line); /* getline allocated it with libc's malloc, not bp__malloc */
    fclose(f);
    if (st != BP_OK)
        bp_dataset_free(out);
    return st;
}
