/* Clocks for the benchmarks. Wall time is what a user waits; CPU time is reported
 * next to it because on a busy machine wall time also measures the scheduler. */
#ifndef OMNI_BENCH_CLOCK_H
#define OMNI_BENCH_CLOCK_H
#include <time.h>

static inline double bench_clock(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
/* seconds: wall, CPU of the whole process (all threads), CPU of the calling thread */
static inline double bench_wall_s(void) { return bench_clock(CLOCK_MONOTONIC); }
static inline double bench_cpu_s(void) { return bench_clock(CLOCK_PROCESS_CPUTIME_ID); }
static inline double bench_thread_cpu_s(void) { return bench_clock(CLOCK_THREAD_CPUTIME_ID); }

#endif
