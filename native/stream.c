/*
 * The two real-time drivers of sf_process(): the PortAudio callback (live
 * audio through python-sounddevice, which is handed this C function pointer
 * so no Python ever runs in the audio thread) and a headless clock thread for
 * machines with no audio device.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jack_internal.h"
#include "sf_internal.h"

/* PortAudio's PaStreamCallbackFlags bits (portaudio.h, v19). */
#define PA_INPUT_UNDERFLOW 0x1ul
#define PA_INPUT_OVERFLOW 0x2ul
#define PA_OUTPUT_UNDERFLOW 0x4ul
#define PA_OUTPUT_OVERFLOW 0x8ul

uint64_t sf_timing_now_ns(void) {
    /* CLOCK_MONOTONIC is served from the vDSO on Linux: no system call. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void) {
    /* A system call (0.23 us here, CLOCK_MONOTONIC 0.03 us from the vDSO:
     * benchmarks/cpu_clock_cost.c): two per block, only while measuring. */
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(uint64_t *hist, uint64_t dt) {
    uint64_t bin = dt / 1000u;
    if (bin >= SF_TIMING_BINS) bin = SF_TIMING_BINS - 1;
    hist[bin]++;
}

void sf_timing_start(sf_timing_mark *mark) {
    /* The CPU clock's system call is read outside the wall-clock window, so
     * the wall-clock figures stay those of the block alone. */
    mark->cpu_ns = thread_cpu_ns();
    mark->wall_ns = sf_timing_now_ns();
}

void sf_timing_stop(sf_stream_ctx *ctx, const sf_timing_mark *mark, int frames) {
    uint64_t wall = sf_timing_now_ns() - mark->wall_ns;
    uint64_t cpu = thread_cpu_ns() - mark->cpu_ns;
    record(ctx->timing_hist, wall);
    record(ctx->cpu_hist, cpu);
    ctx->timing_count++;
    if (wall > ctx->timing_max_ns) ctx->timing_max_ns = wall;
    if (cpu > ctx->cpu_max_ns) ctx->cpu_max_ns = cpu;
    double rate = ctx->engine->rate;
    uint64_t period = rate > 0 ? (uint64_t)((double)frames * 1e9 / rate) : UINT64_MAX;
    if (cpu > period) ctx->cpu_over_period++;
    if (wall > period) ctx->wall_over_period++;
}

static void run_block(sf_stream_ctx *ctx, const float *in, float *out, int frames) {
    sf_timing_mark mark;
    if (ctx->measure) sf_timing_start(&mark);
    if (ctx->routed && out) {
        /* A device channel map: output c of the interleaved buffer carries
         * out_src[c] (master, a bus, or silence). */
        float *planes[SF_MAX_ROUTED];
        int n = ctx->out_channels < SF_MAX_ROUTED ? ctx->out_channels : SF_MAX_ROUTED;
        for (int c = 0; c < n; c++) planes[c] = (float *)out + c;
        sf_process_routed(ctx->engine, in, in ? ctx->in_channels : 0, planes, ctx->out_src, n,
                          ctx->out_channels, frames);
    } else {
        sf_process(ctx->engine, in, in ? ctx->in_channels : 0, out, ctx->out_channels, frames);
    }
    ctx->callbacks++;
    if (ctx->measure) sf_timing_stop(ctx, &mark, frames);
}

int sf_pa_callback(const void *input, void *output, unsigned long frames,
                   const sf_pa_time_info *time_info, unsigned long status_flags, void *userdata) {
    (void)time_info;
    sf_stream_ctx *ctx = userdata;
    if (status_flags & (PA_INPUT_UNDERFLOW | PA_INPUT_OVERFLOW | PA_OUTPUT_UNDERFLOW |
                        PA_OUTPUT_OVERFLOW))
        sf_count_xrun(ctx->engine);
    run_block(ctx, input, output, (int)frames);
    return 0; /* paContinue */
}

/* ---------------- headless clock ---------------- */

struct sf_clock {
    pthread_t thread;
    sf_stream_ctx *ctx;
    int block;
    uint64_t period_ns;
    atomic_int stop;
    atomic_uint_fast64_t late;
    float *out; /* block x 2, allocated before the thread starts */
};

static void *clock_main(void *arg) {
    sf_clock *c = arg;
    uint64_t next = sf_timing_now_ns();
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        run_block(c->ctx, NULL, c->out, c->block);
        next += c->period_ns;
        uint64_t now = sf_timing_now_ns();
        if (now > next + c->period_ns) {
            /* More than a period behind (machine busy, debugger): count it
             * and start again from now instead of racing to catch up. */
            atomic_fetch_add_explicit(&c->late, 1, memory_order_relaxed);
            sf_count_xrun(c->ctx->engine);
            next = now;
            continue;
        }
        struct timespec ts = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
    return NULL;
}

sf_clock *sf_clock_start(sf_stream_ctx *ctx, int block, double sample_rate) {
    if (!ctx || !ctx->engine || block < 1 || block > SF_MAX_BLOCK || !(sample_rate > 0)) return NULL;
    sf_clock *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->out = calloc((size_t)block * 2u, sizeof(float));
    if (!c->out) {
        free(c);
        return NULL;
    }
    c->ctx = ctx;
    c->ctx->out_channels = 2;
    c->block = block;
    c->period_ns = (uint64_t)((double)block / sample_rate * 1e9);
    atomic_init(&c->stop, 0);
    atomic_init(&c->late, 0);
    if (pthread_create(&c->thread, NULL, clock_main, c) != 0) {
        free(c->out);
        free(c);
        return NULL;
    }
    /* Ask for real-time priority; without the privilege it stays normal. */
    struct sched_param sp = {.sched_priority = 10};
    (void)pthread_setschedparam(c->thread, SCHED_FIFO, &sp);
    return c;
}

void sf_clock_stop(sf_clock *c) {
    if (!c) return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    free(c->out);
    free(c);
}

uint64_t sf_clock_late(const sf_clock *c) {
    return atomic_load(&((sf_clock *)c)->late);
}
