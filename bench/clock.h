/* clock.h - the one monotonic clock of the benchmarks (nanoseconds), so
 * every figure in bench/RESULTS.md is timed the same way. */
#ifndef DS_BENCH_CLOCK_H
#define DS_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
