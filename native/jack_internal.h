/*
 * surfaced's own JACK client: what the other native files that run inside its
 * process cycle (the audio and MIDI hooks) need from libjack.
 *
 * libjack is loaded at run time (dlopen), so the core builds and runs on a
 * machine without JACK; these types mirror the few of <jack/jack.h> and
 * <jack/midiport.h> that surfaced uses (JACK's ABI has kept them stable since
 * JACK 0.100 and in every jackd2 and PipeWire-JACK release).
 */
#ifndef SF_JACK_INTERNAL_H
#define SF_JACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sf_core.h"

typedef struct sf_jack_midi_event {
    uint32_t time;          /* frame offset in this cycle */
    size_t size;
    unsigned char *buffer;
} sf_jack_midi_event;

/* The libjack functions a process hook may call (all real-time safe). */
typedef struct sf_jack_rt_api {
    void *(*port_get_buffer)(void *port, uint32_t nframes);
    uint32_t (*midi_get_event_count)(void *port_buffer);
    int (*midi_event_get)(sf_jack_midi_event *event, void *port_buffer, uint32_t index);
    void (*midi_clear_buffer)(void *port_buffer);
    int (*midi_event_write)(void *port_buffer, uint32_t time, const unsigned char *data, size_t size);
} sf_jack_rt_api;

/* Filled by sf_jack_load(); valid once it returned SF_OK. */
extern sf_jack_rt_api sf_jack_rt;

/* A process hook: runs inside the JACK process cycle, C only, no locks,
 * allocation or I/O. Returns nothing: a hook that has nothing to do returns. */
typedef void (*sf_jack_hook_fn)(void *arg, uint32_t nframes);

/* Install (fn non-NULL) or remove (fn NULL) the hook of `slot`. The process
 * callback sees the change from its next cycle; removing waits until the
 * current cycle, if any, has finished with the old hook, so its arg can be
 * freed afterwards. Control thread only. */
int sf_jack_set_hook(sf_jack *j, int slot, sf_jack_hook_fn fn, void *arg);

/* xruns the client has been told of so far (real-time safe: one atomic load). */
uint32_t sf_jack_xrun_count(sf_jack *j);

/* The block timing of sf_stream_ctx (native/stream.c), shared by the JACK
 * audio hook so CallbackTiming reads every driver alike: sf_timing_start
 * before the core's block, sf_timing_stop after it (both only when
 * ctx->measure is set). */
typedef struct sf_timing_mark {
    uint64_t wall_ns, cpu_ns;
} sf_timing_mark;
uint64_t sf_timing_now_ns(void);
void sf_timing_start(sf_timing_mark *mark);
void sf_timing_stop(sf_stream_ctx *ctx, const sf_timing_mark *mark, int frames);

#endif
