/* The monotonic clock in seconds: the one definition behind the library's progress figures
 * (bp_progress.seconds), the program's timings and the benchmark's. Header-only, so that the
 * program and the benchmark need no internal symbol of the library. */
#ifndef BP_CLOCK_H_INCLUDED
#define BP_CLOCK_H_INCLUDED

#include <time.h>

static inline double bp__seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
