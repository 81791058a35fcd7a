/*
 * What `surfaced run --audio-timing` adds to each audio block: two reads of
 * the thread's CPU clock (native/stream.c, sf_timing_start/stop), which on
 * Linux is a system call, unlike CLOCK_MONOTONIC (served from the vDSO).
 *
 *     cc -O2 benchmarks/cpu_clock_cost.c -o /tmp/cpu_clock_cost && /tmp/cpu_clock_cost
 *
 * Prints the mean time of one call of each clock over 10^6 calls, best of 5.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double per_call_ns(clockid_t clock) {
    enum { CALLS = 1000000 };
    double best = 1e300;
    for (int round = 0; round < 5; round++) {
        struct timespec ts;
        double t0 = now_ns();
        for (int i = 0; i < CALLS; i++) clock_gettime(clock, &ts);
        double per = (now_ns() - t0) / CALLS;
        if (per < best) best = per;
    }
    return best;
}

int main(void) {
    printf("CLOCK_THREAD_CPUTIME_ID: %.0f ns a call\n", per_call_ns(CLOCK_THREAD_CPUTIME_ID));
    printf("CLOCK_MONOTONIC:         %.0f ns a call\n", per_call_ns(CLOCK_MONOTONIC));
    return 0;
}
