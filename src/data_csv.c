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
    if (ds->n_targets == 0) /* features alone (BP_CSV_FEATURES): y stays NULL */
        return BP_OK;
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

/* The field [s, e) as a message shows it, into buf: at most SHOWN characters, quoted, with the
 * bytes a terminal would not show visibly named (a NUL byte, a UTF-8 byte-order mark, \xNN). */
static const char *shown(const char *s, const char *e, char *buf, size_t size)
{
    size_t used = 0;
    if (memchr(s, '\0', (size_t)(e - s)))
        return "a NUL byte (is the file binary or UTF-16?)";
    if (e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        return "a UTF-8 byte-order mark (U+FEFF) inside the file";
    buf[used++] = '\'';
    for (; s < e && used + 6 < size && used < SHOWN; s++) {
        unsigned char c = (unsigned char)*s;
        if (isprint(c))
            buf[used++] = (char)c;
        else
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
    }
    if (s < e)
        used += (size_t)snprintf(buf + used, size - used, "...");
    snprintf(buf + used, size - used, "'");
    return buf;
}

/* A finite float in [s, e), which holds no surrounding whitespace. strtof alone would accept a
 * prefix ("1.5x"), an empty field (as 0 with no conversion) and "inf"/"nan". */
static bp_status parse_number(const csv_pos *at, const char *s, const char *e, float *v)
{
    char *end, buf[SHOWN + 16];
    if (s == e)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: empty field", at->path, at->line,
                        at->column);
    *v = strtof(s, &end);
    if (end != e)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: %s is not a number", at->path, at->line,
                        at->column, shown(s, e, buf, sizeof buf));
    if (!isfinite(*v))
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: %s is not finite as a float", at->path,
                        at->line, at->column, shown(s, e, buf, sizeof buf));
    return BP_OK;
}

/* A class index in [0, n) written as a whole number in [s, e): "3", or "3.0" as tools that write
 * every column as a float write it. */
static bp_status parse_label(const csv_pos *at, const char *s, const char *e, int n, int *label)
{
    char *end, buf[SHOWN + 16];
    double v;
    errno = 0;
    v = s == e || isspace((unsigned char)*s) ? NAN : strtod(s, &end);
    if (s == e || end != e || !isfinite(v) || v != floor(v))
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: label %s is not an integer", at->path,
                        at->line, at->column, shown(s, e, buf, sizeof buf));
    if (v < 0 || v >= n)
        return bp__fail(BP_EFORMAT, "%s:%ld: column %d: label %.*s is not in [0, %d)", at->path,
                        at->line, at->column, e - s < SHOWN ? (int)(e - s) : SHOWN, s, n);
    *label = (int)v;
    return BP_OK;
}

/* [*s, *e) without surrounding blanks and one pair of double quotes ("1.5", as spreadsheets quote
 * every field). */
static void trim_field(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
    if (*e - *s >= 2 && **s == '"' && (*e)[-1] == '"') {
        (*s)++;
        (*e)--;
        while (*s < *e && isspace((unsigned char)**s))
            (*s)++;
        while (*e > *s && isspace((unsigned char)(*e)[-1]))
            (*e)--;
    }
}

/* Parses the data line [s, end), whose column count is checked, into sample ds->count (for which
 * there is room). */
static bp_status parse_line(bp_dataset *ds, csv_pos *at, bp_csv_kind kind, const char *s,
                            const char *end)
{
    float *x = ds->x + (size_t)ds->count * (size_t)ds->n_features;
    float *y = ds->y ? ds->y + (size_t)ds->count * (size_t)ds->n_targets : NULL;
    bp_status st = BP_OK;
    int col, label = 0; /* set before use; the initialiser quiets -Wmaybe-uninitialized at -O3 */
    if (kind == BP_CSV_CLASSES)
        memset(y, 0, (size_t)ds->n_targets * sizeof *y);
    for (col = 0; st == BP_OK; col++) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        at->column = col + 1;
        trim_field(&s, &e);
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

/* The state of one read: where it is, what it expects. */
typedef struct csv_reader {
    csv_pos at;
    bp_csv_kind kind;
    int targets_columns; /* 1 (a label) or n (targets) */
    int want_features;   /* 0: any; else the first data line must have this many */
    bp_csv_header header;
    long first_line;     /* of the first data line, 0 before it */
    size_t cap;          /* samples ds has room for */
} csv_reader;

/* Checks the column count of a data line; the first data line sets the shape of ds. */
static bp_status check_columns(bp_dataset *ds, const csv_reader *r, size_t columns)
{
    const csv_pos *at = &r->at;
    size_t tc = (size_t)r->targets_columns, expected = (size_t)ds->n_features + tc;
    const char *what = r->kind == BP_CSV_CLASSES   ? ", then the label"
                       : r->kind == BP_CSV_TARGETS ? ", then the targets"
                                                   : "";
    if (r->first_line != at->line) {
        if (columns != expected)
            return bp__fail(BP_EFORMAT, "%s:%ld: %zu columns, expected %zu as on line %ld",
                            at->path, at->line, columns, expected, r->first_line);
        return BP_OK;
    }
    if (r->want_features > 0 && columns != (size_t)r->want_features + tc)
        return bp__fail(BP_EMISMATCH, "%s:%ld: %zu columns, expected %zu (%d features%s)",
                        at->path, at->line, columns, (size_t)r->want_features + tc,
                        r->want_features, what);
    if (columns <= tc)
        return bp__fail(BP_EFORMAT, "%s:%ld: %zu columns, need more than %zu", at->path, at->line,
                        columns, tc);
    if (columns - tc > INT_MAX)
        return bp__fail(BP_EOVERFLOW, "%s:%ld: %zu columns exceed INT_MAX", at->path, at->line,
                        columns);
    ds->n_features = (int)(columns - tc);
    return BP_OK;
}

/* Whether the first data line [s, end) is a header: always with BP_CSV_HEADER_PRESENT, never with
 * BP_CSV_HEADER_ABSENT; detected, when none of its fields is a number and one is a name
 * ("x1,x2,label"; a line of empty fields is data, and an error). */
static int is_header(bp_csv_header header, const char *s, const char *end)
{
    int names = 0;
    if (header != BP_CSV_HEADER_DETECT)
        return header == BP_CSV_HEADER_PRESENT;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s)), *e = comma ? comma : end, *f = s;
        char *stop;
        trim_field(&f, &e);
        if (f < e && !memchr(f, '\0', (size_t)(e - f)) && (strtof(f, &stop), stop == e))
            return 0;
        names += f < e;
        if (!comma)
            return names > 0;
        s = comma + 1;
    }
}

/* One line [line, end) of the file: skipped (blank, comment, header) or parsed into a sample. */
static bp_status read_line(bp_dataset *ds, csv_reader *r, const char *line, const char *end)
{
    const char *s = line;
    size_t columns = 1;
    bp_status st;
    if (r->at.line == 1 && end - line >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3, s = line; /* a UTF-8 byte-order mark, as Windows tools begin a file */
    while (s < end && isspace((unsigned char)*s))
        s++;
    if (s == end || *s == '#')
        return BP_OK;
    if (r->first_line == 0 && r->header != BP_CSV_HEADER_ABSENT) {
        int header = is_header(r->header, line, end);
        r->header = BP_CSV_HEADER_ABSENT; /* only the first line that is not blank */
        if (header)
            return BP_OK;
    }
    for (s = line; (s = memchr(s, ',', (size_t)(end - s))) != NULL; s++)
        columns++;
    if (r->first_line == 0)
        r->first_line = r->at.line;
    st = check_columns(ds, r, columns);
    if (st == BP_OK && (size_t)ds->count == r->cap)
        st = grow(ds, &r->cap, r->kind == BP_CSV_CLASSES, &r->at);
    if (st == BP_OK)
        st = parse_line(ds, &r->at, r->kind, line, end);
    if (st == BP_OK)
        ds->count++;
    return st;
}

/* kind is a bp_csv_kind and n fits it: at least 1 classes or targets, 0 for features alone. */
static bp_status check_kind(bp_csv_kind kind, int n)
{
    if (kind != BP_CSV_CLASSES && kind != BP_CSV_TARGETS && kind != BP_CSV_FEATURES)
        return bp__fail(BP_EDIM, "kind is %d, not a bp_csv_kind", (int)kind);
    if (kind == BP_CSV_FEATURES && n != 0)
        return bp__fail(BP_EDIM, "n is %d, expected 0 for features alone", n);
    if (kind != BP_CSV_FEATURES && n < 1)
        return bp__fail(BP_EDIM, "n is %d, expected at least 1", n);
    return BP_OK;
}

bp_status bp_dataset_read_csv(bp_dataset *out, FILE *f, const char *name, bp_csv_kind kind, int n,
                              bp_csv_header header, int n_features)
{
    csv_reader r = {.at = {name, 0, 0}, .kind = kind, .targets_columns = kind == BP_CSV_CLASSES ? 1 : n,
                    .want_features = n_features, .header = header};
    bp_status st;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    memset(out, 0, sizeof *out);
    if (!f || !name)
        return bp__fail(BP_ENULL, "%s is NULL", f ? "name" : "f");
    if ((st = check_kind(kind, n)))
        return st;
    if (n_features < 0)
        return bp__fail(BP_EDIM, "n_features is %d, expected 0 (any) or more", n_features);
    if (header < BP_CSV_HEADER_DETECT || header > BP_CSV_HEADER_ABSENT)
        return bp__fail(BP_EDIM, "header is %d, not a bp_csv_header", (int)header);
    out->n_targets = n;
    /* getline reads lines of any length, so a long line is never split into two samples. */
    while (st == BP_OK && (len = getline(&line, &line_cap, f)) != -1) {
        r.at.line++;
        st = read_line(out, &r, line, line + len);
    }
    if (st == BP_OK && ferror(f)) { /* with the system's reason: a directory is named as one */
        char what[64];
        snprintf(what, sizeof what, "cannot read after line %ld", r.at.line);
        st = bp__fail_errno(errno, name, what);
    }
    else if (st == BP_OK && !feof(f))
        st = bp__fail(BP_ENOMEM, "%s:%ld: line too long for memory", name, r.at.line + 1);
    else if (st == BP_OK && out->count == 0)
        st = bp__fail(BP_EFORMAT, "%s: empty: no data lines", name);
    if (st == BP_OK)
        st = resize(out, (size_t)out->count, kind == BP_CSV_CLASSES); /* give back the slack */
    free(line); /* getline allocated it with libc's malloc, not bp__malloc */
    if (st != BP_OK)
        bp_dataset_free(out);
    return st;
}

bp_status bp_dataset_load_csv(bp_dataset *out, const char *path, bp_csv_kind kind, int n)
{
    bp_status st;
    FILE *f;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return bp__fail(BP_ENULL, "path is NULL");
    if ((st = check_kind(kind, n)))
        return st;
    if (!(f = fopen(path, "r")))
        return bp__fail_errno(errno, path, "cannot open");
    st = bp_dataset_read_csv(out, f, path, kind, n, BP_CSV_HEADER_DETECT, 0);
    fclose(f);
    return st;
}
