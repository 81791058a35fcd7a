/*
 * The audio hook of surfaced's JACK client: the engine runs inside the
 * client's process callback (native/jack.c), reading one JACK input port per
 * device input the session uses and writing the master and bus ports.
 *
 * Everything the cycle needs is allocated by sf_jack_audio_attach: the
 * arrays of port buffer pointers, one per device input the engine reads
 * (NULL where no port feeds one: silence) and one per output. The core reads
 * the input ports' buffers as they are and writes the outputs straight into
 * theirs (sf_process_planar); copying the inputs into an interleaved buffer
 * first cost 2-3 us per cycle at 64 ports, 6-8 us at 128 (benchmarks/RESULTS.md,
 * "JACK client (issue 9)"). Nothing depends on the period length: a server
 * whose buffer size changes (even past the engine's max_block, which the core
 * then runs in pieces) needs no notice.
 */
#include <stdlib.h>
#include <string.h>

#include "jack_internal.h"

struct sf_jack_audio {
    sf_jack *jack;
    sf_stream_ctx *ctx;      /* the engine, its channel counts and the timing histogram */
    int n_in;                /* input ports */
    void **in_ports;
    int *in_col;             /* input port i feeds device input in_col[i] */
    int in_width;            /* device inputs the engine reads: 0..in_width-1 */
    const float **in_buf;    /* this cycle's buffer per device input (NULL: no port) */
    int n_out;
    void **out_ports;
    int *out_src;            /* SF_OUT_* per output port */
    float **out_buf;         /* this cycle's output port buffers */
    uint32_t xruns_seen;
};

static void hook(void *arg, uint32_t nframes) {
    sf_jack_audio *a = arg;
    sf_stream_ctx *ctx = a->ctx;
    /* The server's xrun notifications arrive on another thread: each one is
     * counted into the engine at the next cycle. */
    uint32_t x = sf_jack_xrun_count(a->jack);
    while (a->xruns_seen != x) {
        sf_count_xrun(ctx->engine);
        a->xruns_seen++;
    }
    for (int c = 0; c < a->n_out; c++)
        a->out_buf[c] = sf_jack_rt.port_get_buffer(a->out_ports[c], nframes);
    for (int i = 0; i < a->n_in; i++)
        a->in_buf[a->in_col[i]] = sf_jack_rt.port_get_buffer(a->in_ports[i], nframes);
    /* Timed like the PortAudio callback: the core's block, not libjack's
     * buffer look-ups (PortAudio makes those outside its callback too; the
     * server's DSP load counts both). */
    sf_timing_mark mark;
    if (ctx->measure) sf_timing_start(&mark);
    sf_process_planar(ctx->engine, (const float *const *)a->in_buf, a->in_width, a->out_buf,
                      a->out_src, a->n_out, 1, (int)nframes);
    ctx->callbacks++;
    if (ctx->measure) sf_timing_stop(ctx, &mark, (int)nframes);
}

static void sf_jack_audio_free(sf_jack_audio *a) {
    if (!a) return;
    free(a->in_ports);
    free(a->in_col);
    free(a->in_buf);
    free(a->out_ports);
    free(a->out_src);
    free(a->out_buf);
    free(a);
}

sf_jack_audio *sf_jack_audio_attach(sf_jack *j, sf_stream_ctx *ctx, void *const *in_ports,
                                    const int *in_cols, int n_in, void *const *out_ports,
                                    const int *out_src, int n_out) {
    if (!j || !ctx || !ctx->engine || n_in < 0 || n_out < 0 || (n_in && (!in_ports || !in_cols)) ||
        (n_out && (!out_ports || !out_src)))
        return NULL;
    sf_jack_audio *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->jack = j;
    a->ctx = ctx;
    a->n_in = n_in;
    a->n_out = n_out;
    int width = 0;
    for (int i = 0; i < n_in; i++) {
        if (in_cols[i] < 0 || in_cols[i] >= SF_MAX_CHANNELS * 2) {
            sf_jack_audio_free(a);
            return NULL;
        }
        if (in_cols[i] + 1 > width) width = in_cols[i] + 1;
    }
    a->in_width = width;
    size_t ni = n_in ? (size_t)n_in : 1u, no = n_out ? (size_t)n_out : 1u;
    a->in_ports = calloc(ni, sizeof(void *));
    a->in_col = calloc(ni, sizeof(int));
    a->in_buf = calloc(width ? (size_t)width : 1u, sizeof(float *)); /* NULL: silence */
    a->out_ports = calloc(no, sizeof(void *));
    a->out_src = calloc(no, sizeof(int));
    a->out_buf = calloc(no, sizeof(float *));
    if (!a->in_ports || !a->in_col || !a->in_buf || !a->out_ports || !a->out_src || !a->out_buf) {
        sf_jack_audio_free(a);
        return NULL;
    }
    if (n_in) {
        memcpy(a->in_ports, in_ports, sizeof(void *) * (size_t)n_in);
        memcpy(a->in_col, in_cols, sizeof(int) * (size_t)n_in);
    }
    if (n_out) {
        memcpy(a->out_ports, out_ports, sizeof(void *) * (size_t)n_out);
        memcpy(a->out_src, out_src, sizeof(int) * (size_t)n_out);
    }
    ctx->in_channels = width;
    ctx->out_channels = n_out;
    a->xruns_seen = sf_jack_xrun_count(j);
    if (sf_jack_set_hook(j, SF_JACK_HOOK_AUDIO, hook, a) != SF_OK) {
        sf_jack_audio_free(a);
        return NULL;
    }
    return a;
}

void sf_jack_audio_detach(sf_jack_audio *a) {
    if (!a) return;
    sf_jack_set_hook(a->jack, SF_JACK_HOOK_AUDIO, NULL, NULL); /* waits out a running cycle */
    sf_jack_audio_free(a);
}
