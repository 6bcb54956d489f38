/*
 * mono_clock.h - the monotonic clock the port measures with (timeouts,
 * spin windows, sync times): one definition for every file.
 */
#ifndef LSQ_MONO_CLOCK_H
#define LSQ_MONO_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in ns; the vDSO reads it without a system call. */
static inline long long lsq_mono_ns(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

#endif
