/* Status names, the thread-local detail message, and checks shared by every entry point. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for two file names of NAME_MAX bytes and the reason: a message is cut, never its cause. */
static _Thread_local char detail[1024];

int bp_version_number(void) { return BP_VERSION_NUMBER; }

const char *bp_strerror(bp_status status)
{
    switch (status) {
    case BP_OK: return "success";
    case BP_ENULL: return "required pointer is NULL";
    case BP_EDIM: return "invalid size, count or index";
    case BP_EOVERFLOW: return "size product overflows";
    case BP_ELD: return "leading dimension smaller than rows";
    case BP_EBATCH: return "batch does not fit the workspace";
    case BP_EVALUE: return "scalar out of its domain";
    case BP_ECONFIG: return "invalid network configuration";
    case BP_ENOMEM: return "out of memory";
    case BP_EIO: return "input/output error";
    case BP_EFORMAT: return "malformed file";
    case BP_ENUMERIC: return "non-finite loss or gradient";
    case BP_ESTOPPED: return "stopped by the progress callback";
    case BP_EMISMATCH: return "objects of different shapes";
    }
    return "unknown status";
}

const char *bp_last_error(void) { return detail; }

void bp__clear_error(void) { detail[0] = '\0'; }

bp_status bp__fail(bp_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return status;
}

int bp__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

bp_status bp__fail_errno(int err, const char *path, const char *what)
{
    char why[128];
    bp_status status = err == ENOMEM ? BP_ENOMEM : BP_EIO; /* fopen, gzopen, fdopen allocate */
    if (strerror_r(err, why, sizeof why) != 0) /* strerror is not thread-safe; the XSI _r is */
        snprintf(why, sizeof why, "error %d", err);
    return bp__fail(status, "%s: %s: %s", path, what, why);
}

bp_status bp__check_matrix(const char *name, const void *p, int rows, int ld)
{
    if (!p)
        return bp__fail(BP_ENULL, "%s is NULL", name);
    if (ld < rows)
        return bp__fail(BP_ELD, "leading dimension of %s is %d, smaller than its %d rows", name, ld,
                        rows);
    return BP_OK;
}
