/*
 * Ceilings for the benchmarks in bench_core.py, timed inside C.
 *
 * bench_core.py compiles this file at benchmark time with the core's own
 * compiler flags: as is (baseline x86-64: SSE2), and on x86-64 also with
 * -DBARE_AVX2 / -DBARE_AVX512, which wrap the loops in the same target
 * regions as the core's run-time-selected kernels (native/kern_avx2.c,
 * kern_avx512.c; 512-bit vectors preferred so the ceiling is as high as
 * it goes). Timing inside C with clock_gettime over many repetitions keeps
 * call overhead out.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>

#if defined(BARE_AVX512)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512")
#pragma GCC optimize("fp-contract=fast")
#elif defined(BARE_AVX2)
#pragma GCC target("avx2,fma")
#pragma GCC optimize("fp-contract=fast")
#endif

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* dst += g * src: the bare loop the plain path is measured against. */
__attribute__((noinline)) static void acc_one(float *restrict dst, const float *restrict src,
                                              float g, int n) {
    for (int k = 0; k < n; k++) dst[k] += g * src[k];
}

/* A panned channel writes two outputs: dl += gl * src, dr += gr * src. */
__attribute__((noinline)) static void acc_two(float *restrict dl, float *restrict dr,
                                              const float *restrict src, float gl, float gr,
                                              int n) {
    for (int k = 0; k < n; k++) {
        dl[k] += gl * src[k];
        dr[k] += gr * src[k];
    }
}

/* channels sources of n frames each (src holds channels * n floats) summed
 * into dst (2 * n floats), `reps` passes per batch; writes each batch's ns
 * per channel-frame into out[batches]. outputs: 1 or 2. */
void bare_mix(const float *src, float *dst, const float *gains, int channels, int n, int outputs,
              int reps, int batches, double *out) {
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        for (int r = 0; r < reps; r++)
            for (int c = 0; c < channels; c++) {
                const float *s = src + (size_t)c * (size_t)n;
                if (outputs == 1) acc_one(dst, s, gains[c], n);
                else acc_two(dst, dst + n, s, gains[c], 1.0f - gains[c], n);
            }
        out[b] = (now_ns() - t0) / ((double)reps * (double)channels * (double)n);
    }
}

/* Direct-C timing of the core's block function, called through a pointer
 * exactly as the live callback calls it: ns per call for each batch. */
typedef int (*process_fn)(void *engine, const float *in, int in_channels, float *out,
                          int out_channels, int nframes);

void time_process(void *fn, void *engine, float *out, int frames, int reps, int batches,
                  double *out_ns) {
    process_fn f = (process_fn)(uintptr_t)fn;
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        for (int r = 0; r < reps; r++) f(engine, (const float *)0, 0, out, 2, frames);
        out_ns[b] = (now_ns() - t0) / (double)reps;
    }
}
