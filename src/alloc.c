/* The library's only calls to malloc, calloc and realloc: every allocation of the library (src/,
 * not the CLI) goes through these, so that there is one place to change the allocator and one list
 * of allocation sites. tests/test_faults.c makes each site fail in turn; tests/check_alloc.cmake
 * refuses a direct call anywhere else. None of them asks for 0 bytes, so NULL always means out of
 * memory. */
#include "internal.h"

#include <stdlib.h>

void *bp__malloc(size_t bytes) { return malloc(bytes ? bytes : 1); }

void *bp__calloc(size_t count, size_t size)
{
    return count && size ? calloc(count, size) : calloc(1, 1); /* calloc checks count * size */
}

void *bp__realloc(void *p, size_t bytes) { return realloc(p, bytes ? bytes : 1); }

void bp__free(void *p) { free(p); }

void *bp__realloc_array(void *p, size_t rows, size_t cols, size_t elem, bp_status *st)
{
    size_t n, bytes;
    if (!bp__mul_size(rows, cols, &n) || !bp__mul_size(n, elem, &bytes)) {
        *st = bp__fail(BP_EOVERFLOW, "%zu x %zu elements of %zu bytes overflow size_t", rows, cols,
                       elem);
        return NULL;
    }
    void *q = bp__realloc(p, bytes);
    if (!q)
        *st = bp__fail(BP_ENOMEM, "cannot allocate %zu bytes", bytes);
    return q;
}
