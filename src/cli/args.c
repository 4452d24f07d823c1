/* The option-table-driven parser shared by every subcommand, its --help, and usage errors.
 * Numbers are parsed strictly: the whole argument must be the number (no blanks, no trailing
 * characters), it must fit its type and lie in the option's range. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vreport(const char *cmd, const char *fmt, va_list ap)
{
    cli_status_clear();
    fprintf(stderr, "backprop%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd->sub->name, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Run 'backprop %s --help' for its flags.\n", cmd->sub->name);
    return CLI_USAGE;
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_fail(const char *cmd, bp_status st, const char *fmt, ...)
{
    char detail[512], context[512];
    va_list ap;
    /* Copy the detail first: it is only valid until the next library call. */
    snprintf(detail, sizeof detail, "%s", bp_last_error());
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    return cli_error(cmd, "%s: %s%s%s", context, bp_strerror(st), detail[0] ? ": " : "", detail);
}

const char *cli_choice_name(const cli_choice *choices, int value)
{
    for (const cli_choice *c = choices; c->name; c++)
        if (c->value == value)
            return c->name;
    return "?";
}

void cli_format_layers(const int *sizes, int count, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%d", i ? "-" : "", sizes[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* "sigmoid|tanh|..." of a choice table into buf. A run of choices longer than a help line can
 * hold gets a newline after a '|' every 40 characters or so, where print_wrapped may break it. */
static void format_choices(const cli_choice *choices, char *buf, size_t size)
{
    size_t used = 0, run = 0;
    buf[0] = '\0';
    for (const cli_choice *c = choices; c->name && used < size; c++) {
        const char *sep = c == choices ? "" : run > 40 ? "|\n" : "|";
        int n = snprintf(buf + used, size - used, "%s%s", sep, c->name);
        if (n < 0)
            break;
        run = sep[0] && sep[1] ? strlen(c->name) : run + (size_t)n;
        used += (size_t)n;
    }
}

/* Whether an option's upper bound is only the limit of its type (not worth showing). */
static int unbounded(const cli_option *o)
{
    return o->max >= (o->type == CLI_INT ? (double)INT_MAX : (double)FLT_MAX);
}

/* "in [0, 1)", "at least 1", "greater than 0" of an option's range into buf. */
static void format_range(const cli_option *o, char *buf, size_t size)
{
    const char *lo = o->open & CLI_OPEN_MIN ? "greater than" : "at least";
    if (unbounded(o))
        snprintf(buf, size, "%s %.10g", lo, o->min);
    else
        snprintf(buf, size, "in %c%.10g, %.10g%c", o->open & CLI_OPEN_MIN ? '(' : '[', o->min,
                 o->max, o->open & CLI_OPEN_MAX ? ')' : ']');
}

/* The current value of an option (its default before parsing) into buf; "" if none. */
static void format_value(const cli_option *o, char *buf, size_t size)
{
    buf[0] = '\0';
    switch (o->type) {
    case CLI_BOOL:
        break;
    case CLI_INT:
        snprintf(buf, size, "%d", *(const int *)o->dest);
        break;
    case CLI_U64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)o->dest);
        break;
    case CLI_REAL:
        snprintf(buf, size, "%g", *(const double *)o->dest);
        break;
    case CLI_STRING:
        if (*(const char *const *)o->dest)
            snprintf(buf, size, "%s", *(const char *const *)o->dest);
        break;
    case CLI_CHOICE:
        snprintf(buf, size, "%s", cli_choice_name(o->choices, *(const int *)o->dest));
        break;
    case CLI_LAYERS: {
        const cli_layers *l = o->dest;
        cli_format_layers(l->sizes, l->count, buf, size);
        break;
    }
    }
}

/* Print text from column indent, wrapped at HELP_WIDTH columns; the cursor is at column col. A
 * newline in text is a blank like any other, two are a paragraph break. */
#define HELP_WIDTH 80
static void print_wrapped(const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        const char *end = strpbrk(p, " \n");
        if (p[0] == '\n' && p[1] == '\n') {
            printf("\n\n%*s", indent, "");
            col = indent;
            p += 2;
            continue;
        }
        int len = end ? (int)(end - p) : (int)strlen(p);
        if (col > indent && col + 1 + len > HELP_WIDTH) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        printf("%.*s", len, p);
        col += len;
        p += len;
        while (*p == ' ' || (*p == '\n' && p[1] != '\n'))
            p++;
    }
    putchar('\n');
}

void cli_print_help(const cli_command *cmd)
{
    printf("usage: backprop %s [flags]%s%s%s\n\n%s.\n", cmd->sub->name,
           cmd->positional ? " [" : "", cmd->positional ? cmd->positional : "",
           cmd->positional ? "]" : "", cmd->sub->summary);
    if (cmd->description) {
        putchar('\n');
        print_wrapped(cmd->description, 0, 0);
    }
    printf("\nflags:\n");
    for (size_t i = 0; i < cmd->num_options; i++) {
        const cli_option *o = &cmd->options[i];
        char head[64], text[1024], value[256], extra[256] = "";
        snprintf(head, sizeof head, "--%s%s%s%s%s", o->name, o->alias ? ", --" : "",
                 o->alias ? o->alias : "", o->meta ? " " : "", o->meta ? o->meta : "");
        if (o->type == CLI_CHOICE)
            format_choices(o->choices, extra, sizeof extra);
        else if ((o->type == CLI_INT || o->type == CLI_REAL) && !unbounded(o))
            format_range(o, extra, sizeof extra);
        format_value(o, value, sizeof value);
        snprintf(text, sizeof text, "%s%s%s%s%s%s", o->help, extra[0] ? ": " : "", extra,
                 value[0] ? " (default " : "", value, value[0] ? ")" : "");
        if (strlen(head) > 22) { /* the text starts on the next line */
            printf("  %s\n%25s", head, "");
        } else {
            printf("  %-22s ", head);
        }
        print_wrapped(text, 25, 25);
    }
    printf("  %-22s %s\n", "-h, --help", "show this help");
}

/* ---------------------------------------------------------------- values */
/* The whole of s is a decimal integer in [min, max]. */
static int parse_int(const cli_command *cmd, const cli_option *o, const char *s, int *out)
{
    char *end, range[128];
    long v;
    if (!isdigit((unsigned char)s[0]) && !((s[0] == '-' || s[0] == '+') &&
                                           isdigit((unsigned char)s[1])))
        return cli_usage_error(cmd, "--%s: '%s' is not an integer", o->name, s);
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end)
        return cli_usage_error(cmd, "--%s: '%s' is not an integer", o->name, s);
    format_range(o, range, sizeof range);
    if (errno == ERANGE || (double)v < o->min || (double)v > o->max)
        return cli_usage_error(cmd, "--%s: %s is out of range: must be an integer %s", o->name, s,
                               range);
    *out = (int)v;
    return CLI_OK;
}

static int parse_u64(const cli_command *cmd, const cli_option *o, const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!isdigit((unsigned char)s[0])) /* strtoull would accept blanks and a minus sign */
        return cli_usage_error(cmd, "--%s: '%s' is not a non-negative integer", o->name, s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end)
        return cli_usage_error(cmd, "--%s: '%s' is not a non-negative integer", o->name, s);
    if (errno == ERANGE)
        return cli_usage_error(cmd, "--%s: %s is out of range: must be at most %" PRIu64, o->name,
                               s, UINT64_MAX);
    *out = (uint64_t)v;
    return CLI_OK;
}

/* v within o's range, its open ends excluded. */
static int in_range(const cli_option *o, double v)
{
    return !(v < o->min || v > o->max || (v == o->min && (o->open & CLI_OPEN_MIN)) ||
             (v == o->max && (o->open & CLI_OPEN_MAX)));
}

static int parse_real(const cli_command *cmd, const cli_option *o, const char *s, double *out)
{
    char *end, range[128];
    double v;
    if (!s[0] || isspace((unsigned char)s[0]))
        return cli_usage_error(cmd, "--%s: '%s' is not a number", o->name, s);
    errno = 0;
    v = strtod(s, &end);
    if (*end)
        return cli_usage_error(cmd, "--%s: '%s' is not a number", o->name, s);
    format_range(o, range, sizeof range);
    if (!isfinite(v) || errno == ERANGE)
        return cli_usage_error(cmd, "--%s: %s is not a finite number of a usable size", o->name,
                               s);
    if (!in_range(o, v))
        return cli_usage_error(cmd, "--%s: %s is out of range: must be %s", o->name, s, range);
    /* The library takes a float: 0.99999999999 is 1 there, 1e-46 is 0 (which may mean "off") */
    if (!o->as_double && v != 0 && (float)v == 0)
        return cli_usage_error(cmd, "--%s: %s rounds to 0 as a float (the smallest above 0 is "
                               "%g): give 0 itself or a larger value", o->name, s,
                               (double)nextafterf(0.0f, 1.0f));
    if (!o->as_double && !in_range(o, (double)(float)v))
        return cli_usage_error(cmd, "--%s: %s is %g as a float, out of range: must be %s", o->name,
                               s, (double)(float)v, range);
    *out = v;
    return CLI_OK;
}

static int parse_choice(const cli_command *cmd, const cli_option *o, const char *s, int *out)
{
    char names[256];
    for (const cli_choice *c = o->choices; c->name; c++)
        if (strcmp(c->name, s) == 0) {
            *out = c->value;
            return CLI_OK;
        }
    format_choices(o->choices, names, sizeof names);
    return cli_usage_error(cmd, "--%s: unknown value '%s' (expected %s)", o->name, s, names);
}

/* "784-512-10": 2..BP_MAX_LAYERS widths, each a decimal integer in 1..BP_MAX_WIDTH. */
static int parse_layers(const cli_command *cmd, const cli_option *o, const char *s, cli_layers *out)
{
    cli_layers l = {0};
    const char *p = s;
    for (;;) {
        char *end = (char *)p;
        long v = -1;
        if (l.count == BP_MAX_LAYERS)
            return cli_usage_error(cmd, "--%s: '%s' has more than %d layers", o->name, s,
                                   BP_MAX_LAYERS);
        errno = 0;
        if (isdigit((unsigned char)*p)) /* strtol would accept blanks and signs */
            v = strtol(p, &end, 10);
        if (v < 0 || (*end != '-' && *end != '\0'))
            return cli_usage_error(cmd, "--%s: '%s': layer %d is not a positive integer (expected "
                                   "widths joined by '-', e.g. 784-512-10)", o->name, s,
                                   l.count + 1);
        if (errno == ERANGE || v < 1 || v > BP_MAX_WIDTH)
            return cli_usage_error(cmd, "--%s: '%s': layer %d has width %.*s, must be in 1..%d",
                                   o->name, s, l.count + 1, (int)(end - p), p, BP_MAX_WIDTH);
        l.sizes[l.count++] = (int)v;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    if (l.count < 2)
        return cli_usage_error(cmd, "--%s: '%s' has %d layer; a network needs at least 2 (input "
                               "and output)", o->name, s, l.count);
    *out = l;
    return CLI_OK;
}

static int set_value(const cli_command *cmd, const cli_option *o, const char *value)
{
    if (o->given)
        *o->given = 1;
    switch (o->type) {
    case CLI_INT:
        return parse_int(cmd, o, value, o->dest);
    case CLI_U64:
        return parse_u64(cmd, o, value, o->dest);
    case CLI_REAL:
        return parse_real(cmd, o, value, o->dest);
    case CLI_CHOICE:
        return parse_choice(cmd, o, value, o->dest);
    case CLI_LAYERS:
        return parse_layers(cmd, o, value, o->dest);
    case CLI_STRING:
        if (!value[0])
            return cli_usage_error(cmd, "--%s: the value is empty", o->name);
        *(const char **)o->dest = value;
        return CLI_OK;
    case CLI_BOOL:
        break;
    }
    *(int *)o->dest = 1;
    return CLI_OK;
}

/* ---------------------------------------------------------------- argv */
static int same(const char *a, const char *word, size_t len)
{
    return a && strlen(a) == len && strncmp(a, word, len) == 0;
}

static const cli_option *find_option(const cli_command *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < cmd->num_options; i++)
        if (same(cmd->options[i].name, name, len) || same(cmd->options[i].alias, name, len))
            return &cmd->options[i];
    return NULL;
}

/* Edit distance (insertions, deletions, substitutions, transpositions of neighbours) between
 * a[0..n) and b, or 99 when either is longer than the table. */
static int distance(const char *a, size_t n, const char *b)
{
    enum { MAX = 40 };
    size_t m = strlen(b);
    int d[MAX + 1][MAX + 1];
    if (n > MAX || m > MAX)
        return 99;
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= m; j++) {
            int best = i == 0 ? (int)j : j == 0 ? (int)i : d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (i > 0 && j > 0) {
                best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
                best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *cli_suggest(const char *word, size_t len, const char *const *names, size_t count)
{
    const char *best = NULL;
    int best_d = len <= 3 ? 1 : 2; /* farther is a guess, not a typo */
    for (size_t i = 0; i < count; i++) {
        int d = names[i] ? distance(word, len, names[i]) : 99;
        if (names[i] && len >= 3 && strncmp(names[i], word, len) == 0 && d > best_d)
            d = best_d; /* a prefix: --epoch for --epochs, --valid for --validation */
        if (d < best_d || (d == best_d && !best)) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* "unknown flag '--epoch'; did you mean '--epochs'?" */
static int unknown_flag(const cli_command *cmd, const char *name, size_t len)
{
    const char *names[2 * 64];
    size_t count = 0;
    for (size_t i = 0; i < cmd->num_options && count + 2 <= sizeof names / sizeof names[0]; i++) {
        names[count++] = cmd->options[i].name;
        names[count++] = cmd->options[i].alias;
    }
    const char *near = cli_suggest(name, len, names, count);
    if (near)
        return cli_usage_error(cmd, "unknown flag '--%.*s'; did you mean '--%s'?", (int)len, name,
                               near);
    return cli_usage_error(cmd, "unknown flag '--%.*s'", (int)len, name);
}

/* One "--name", "--name=value" or "--name value" at argv[*i]; advances *i past a value taken from
 * the next argument. */
static int parse_flag(const cli_command *cmd, int argc, char **argv, int *i)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '='), *value;
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_option *o = find_option(cmd, name, len);
    if (!o)
        return unknown_flag(cmd, name, len);
    if (o->type == CLI_BOOL) {
        if (eq)
            return cli_usage_error(cmd, "--%s takes no value", o->name);
        return set_value(cmd, o, NULL);
    }
    if (eq) {
        value = eq + 1;
    } else {
        if (*i + 1 >= argc)
            return cli_usage_error(cmd, "--%s needs a value (%s)", o->name, o->meta);
        value = argv[++*i];
        if (strncmp(value, "--", 2) == 0)
            return cli_usage_error(cmd, "--%s needs a value (%s), got the flag '%s'", o->name,
                                   o->meta, value);
    }
    return set_value(cmd, o, value);
}

int cli_parse(const cli_command *cmd, int argc, char **argv)
{
    int positional_seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(cmd);
            return -1;
        }
        if (strncmp(arg, "--", 2) == 0 && arg[2]) {
            if ((rc = parse_flag(cmd, argc, argv, &i)))
                return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return cli_usage_error(cmd, "unknown flag '%s' (flags start with --)", arg);
        } else if (cmd->positional && !positional_seen) {
            *cmd->positional_dest = arg;
            positional_seen = 1;
        } else {
            return cli_usage_error(cmd, "unexpected argument '%s'", arg);
        }
    }
    return CLI_OK;
}
