/*
 * surfaced native mixing core: public API.
 *
 * C11, libc + libm only (and dlopen, to load libjack at run time when it is
 * there). The control side (Python through cffi) talks to the audio side
 * only through a lock-free single-producer single-consumer queue
 * (parameters in) and a seqlock snapshot (meters out). sf_process() is the
 * one block function used by the live PortAudio callback, the headless clock
 * and offline rendering.
 *
 * Threading contract:
 *   - sf_engine_new / sf_engine_free: control thread, never while audio runs.
 *   - sf_push_* : ONE producer thread at a time (the Python side serialises
 *     its producers with a lock).
 *   - sf_process: ONE consumer (the audio thread).
 *   - sf_read_meters / sf_capture_frames / counters: any thread, any time.
 */
#ifndef SF_CORE_H
#define SF_CORE_H

#include <stdint.h>

#define SF_MAX_CHANNELS 1024
#define SF_MAX_BUSES 16
#define SF_EQ_BANDS 4
#define SF_MAX_BLOCK 4096

/* Return codes: 0 is success, negatives are errors (see sf_strerror). */
#define SF_OK 0
#define SF_EINVAL -1      /* argument out of range (index, param, block) */
#define SF_EQUEUE_FULL -2 /* parameter queue full: retry after a block */
#define SF_ENOMEM -3      /* allocation failed at creation */
#define SF_EBUSY -4       /* snapshot kept changing while being read */
#define SF_ERANGE -5      /* non-finite value */

/* Parameter scopes. */
enum sf_scope { SF_SCOPE_CH = 0, SF_SCOPE_BUS = 1, SF_SCOPE_MASTER = 2 };

/*
 * Parameters. Values travel in engineering units; the core converts.
 * Gains are dB (<= SF_DB_OFF means silence), frequencies Hz, times ms,
 * booleans 0/1, pan -1..+1. 'sub' is the EQ band (0..3) or bus (0..n-1).
 */
enum sf_param {
    /* channel */
    SF_P_TRIM = 0,       /* dB -20..+20 ; SF_SCOPE_MASTER: monitor trim, see below */
    SF_P_PHASE,          /* bool: polarity invert */
    SF_P_HPF_ON,         /* bool */
    SF_P_HPF_FREQ,       /* Hz 20..1000, 12 dB/oct Butterworth */
    SF_P_EQ_ON,          /* bool */
    SF_P_EQ_FREQ,        /* sub=band; Hz 20..20000 */
    SF_P_EQ_GAIN,        /* sub=band; dB -18..+18 */
    SF_P_EQ_Q,           /* sub=band; 0.1..10 (shelves: slope S 0.1..1) */
    SF_P_COMP_ON,        /* bool */
    SF_P_COMP_THRESHOLD, /* dB -60..0 */
    SF_P_COMP_RATIO,     /* 1..20 */
    SF_P_COMP_KNEE,      /* dB 0..24 (full width) */
    SF_P_COMP_ATTACK,    /* ms 0.1..200 */
    SF_P_COMP_RELEASE,   /* ms 5..2000 */
    SF_P_COMP_MAKEUP,    /* dB 0..24 */
    SF_P_COMP_KEY,       /* channel index used as detector, -1 = self */
    SF_P_FADER,          /* dB -inf..+10 ; also SF_SCOPE_BUS, SF_SCOPE_MASTER; rampable */
    SF_P_PAN,            /* -1..+1 constant power; rampable */
    SF_P_MUTE,           /* bool ; also SF_SCOPE_BUS */
    SF_P_SOLO,           /* bool: solo in place */
    SF_P_SEND,           /* sub=bus; dB -inf..+10; rampable */
    SF_P_SEND_PRE,       /* sub=bus; bool: 1 = pre-fader */
    SF_P_COUNT
};

#define SF_DB_OFF -144.0f

/*
 * Monitor trim: SF_SCOPE_MASTER + SF_P_TRIM (index and sub ignored), dB,
 * clamped to -40..+40, default 0. A gain on the master output after the
 * master fader and before the master meters (the meters show what is
 * heard), smoothed like the faders, for loudness-matched A/B comparison
 * (trim the louder version down). It does not change what channels and buses
 * send or meter. ramp_ms is ignored for it.
 */
#define SF_TRIM_MASTER_MIN_DB -40
#define SF_TRIM_MASTER_MAX_DB 40

/*
 * Crossfade ramps. A change of SF_P_FADER (channel, bus, master), SF_P_PAN or
 * SF_P_SEND with ramp_ms > 0 (sf_push_params) makes the parameter travel
 * from where it is when the change is applied (mid-ramp: wherever that ramp
 * is) to the new value in ramp_ms milliseconds (0..SF_RAMP_MAX_MS; rounded
 * to whole frames). Law:
 *   - gains (fader, send): equal steps in dB between the endpoints, each
 *     endpoint floored at SF_RAMP_FLOOR_DB (-80 dB), so a fade from -inf is
 *     audible for most of its time: from -inf to 0 dB over T, the level is
 *     -40 dB at T/2 and -20 dB at 3T/4. A ramp to -inf (<= SF_DB_OFF) reaches
 *     -80 dB at T and is silence from there.
 *   - pan: linear in position (-1..+1); the constant-power law applies to
 *     every intermediate position.
 * The ramp's value is computed on a fixed grid of SF_RAMP_GRID frames
 * counted from the engine's first frame (one exp per ramping gain per grid
 * point, never per sample) and every gain moves linearly from one grid point
 * to the next, so renders are identical whatever the block size. The target
 * is reached exactly at the first grid point at or after start + ramp_ms
 * (at most SF_RAMP_GRID - 1 frames late). A ramped change starts at the
 * block that applies it; while a channel ramps, its other gain changes
 * (mute, solo, a plain fader move) move linearly to the next grid point
 * instead of gliding. A later change to the same parameter (ramped or not)
 * replaces the ramp from where it is. ramp_ms is ignored for every other
 * parameter (they switch, or glide, as always), so a scene recall may give
 * one ramp time to every change.
 */
#define SF_RAMP_MAX_MS 60000
#define SF_RAMP_GRID 64
#define SF_RAMP_FLOOR_DB -80

/*
 * Overflow. Every aux bus sum and the master sum are sanitised after the
 * channels are summed, before bus/master gain, metering and output: NaN
 * becomes 0, +-Inf and finite magnitudes above SF_OVER_CEILING become
 * +-SF_OVER_CEILING (2^20, +120.4 dBFS). The ceiling is far above any
 * legitimate mix (nothing real is ever clamped), and low enough that every
 * later stage stays finite: bus fader, master fader (+10 dB each) and monitor
 * trim (+40 dB) give at most ~2^33, whose square summed over SF_MAX_BLOCK
 * frames (~2^78) is far from FLT_MAX (~2^128), so meters, true peak and
 * loudness stay finite. The master output is checked once more after its
 * gain. Each replaced sample is counted in sf_master_meters.overflow_count;
 * it shows as a clip (a master block with an overflow meters at least the
 * ceiling, and NaNs replaced at the master count in clip_count like overs).
 * The test costs one integer compare per sample (vectorised) when nothing
 * overflows.
 */
#define SF_OVER_CEILING 1048576

/*
 * Reference track. A reference source (a looped buffer or device inputs,
 * like a channel's) plays to the master output IN PLACE of the mix when
 * switched on: SF_SCOPE_MASTER + SF_P_REF_ON (1 = hear the reference, 0 =
 * the mix; index and sub ignored). The switch is a linear crossfade of
 * SF_REF_FADE_MS (no click), counted in frames from the block that applies
 * it. The mix keeps running and metering under it: the master meters, the
 * bus meters and the master loudness always measure the MIX (so A/B
 * matching and the engineer's meters keep their meaning, and switching
 * back is instant); the reference has its own meter (sf_read_reference),
 * which measures the reference before its gain. SF_SCOPE_MASTER +
 * SF_P_REF_GAIN is the reference's gain in dB (clamped to
 * SF_REF_GAIN_MIN_DB..SF_REF_GAIN_MAX_DB, default 0, smoothed like a
 * fader): the loudness match. The reference advances whenever it is set
 * (heard or not), restarts with sf_push_rewind, and is sanitised like a
 * channel source (NaN/Inf read as 0, magnitudes clamped to SF_OVER_CEILING).
 * What is captured (sf_push_capture) and sent out is what is heard. With no
 * reference set and the switch off, it costs one branch per block.
 * These two parameter numbers are outside enum sf_param on purpose: they
 * exist only in the master scope.
 */
#define SF_P_REF_ON 100
#define SF_P_REF_GAIN 101
#define SF_REF_GAIN_MIN_DB -40
#define SF_REF_GAIN_MAX_DB 40
#define SF_REF_FADE_MS 20

/*
 * Per-channel loudness meter (for the assistant's gain staging of live
 * inputs). Off by default and free when off; switched on per channel with
 * sf_push_chmeter (at most SF_CHMETER_SLOTS channels at once; a further
 * request is refused and counted in chmeter_refused). It measures the
 * channel's SOURCE as the channel reads it (buffer or device inputs, before
 * trim and everything else): ITU-R BS.1770-4 K-weighting (the master
 * loudness meter's two double-precision biquads), mean squares per 100 ms
 * step (round(rate / 10) frames, counted from the block that switched it
 * on, so readings do not depend on block sizes), a stereo source as the
 * mean of its sides; plus the plain mean square per step, the sample peak
 * and the 4x true peak (BS.1770-4 Annex 2) since it was switched on. The
 * last SF_CHMETER_RING steps are kept: a reader that comes back at least
 * every SF_CHMETER_RING / 10 seconds sees every step (step s is at
 * [s % SF_CHMETER_RING]). Switching on a channel already metered restarts
 * its measurement.
 */
#define SF_CHMETER_SLOTS 64
#define SF_CHMETER_RING 32

typedef struct sf_engine sf_engine;

/* Master meter snapshot (linear amplitudes unless stated). */
typedef struct sf_master_meters {
    float peak[2];          /* sample peak with 20 dB/s fall-back */
    float rms[2];           /* 300 ms RMS */
    float true_peak[2];     /* 4x oversampled, with 20 dB/s fall-back */
    float true_peak_max[2]; /* highest true peak since sf_reset_meters */
    float momentary_lufs;   /* 400 ms, -inf when silent (reported as -200) */
    float short_term_lufs;  /* 3 s */
    float integrated_lufs;  /* gated (EBU R128), since sf_reset_meters */
    float bus_peak[SF_MAX_BUSES];
    float bus_rms[SF_MAX_BUSES];
    uint64_t clip_count;      /* master samples with |x| > 1.0, and NaNs replaced at its sum */
    uint64_t nonfinite_count; /* NaN/Inf input samples replaced by 0 */
    uint64_t state_resets;    /* filter states reset after going non-finite */
    uint64_t xruns;           /* from the live stream's status flags */
    uint64_t frames;          /* frames processed since creation */
    uint64_t dropped_params;  /* messages the queue refused (full) */
    uint64_t overflow_count;  /* bus/master samples sanitised (see SF_OVER_CEILING) */
    /* Loudness range (LU, EBU Tech 3342) since sf_reset_meters; 0 until a
     * short-term value passed the gates. */
    float loudness_range_lu;
    float reserved;
    /* Overs of the master since the engine was created (like clip_count):
     * frames (counted as `frames`) of the first and last sample over
     * 0 dBFS, UINT64_MAX while there was none (NaNs replaced at the sum
     * count in clip_count but have no position); and the 10 ms steps (fixed frame
     * counts from creation, round(rate / 100) frames each) in which the
     * true peak of either side exceeded 0 dBTP, with the first frames of
     * the first and last such step. The interpolated points lag the input
     * by SF_TRUEPEAK_TAPS / 2 frames, so a true-peak over in the last 16
     * frames of a step is counted in the next. */
    uint64_t first_clip_frame;
    uint64_t last_clip_frame;
    uint64_t tp_over_steps;
    uint64_t first_tp_over_frame;
    uint64_t last_tp_over_frame;
} sf_master_meters;

/* One parameter change of a transaction (sf_push_params). scope, index,
 * param, sub and value are those of sf_push_param; ramp_ms is the crossfade
 * time in milliseconds (0..SF_RAMP_MAX_MS, 0 = the usual ~10 ms smoothing;
 * ignored by parameters that do not ramp, see "Crossfade ramps"). */
typedef struct sf_param_change {
    int32_t scope;
    int32_t index;
    int32_t param;
    int32_t sub;
    float value;
    float ramp_ms;
} sf_param_change;

/* What the audio side last recorded about transactions (sf_txn_read).
 * Frames count from the engine's creation (sf_master_meters.frames): a
 * block's frame is the number of frames processed before it. */
typedef struct sf_txn_status {
    uint32_t txn_id;      /* id of the last transaction applied */
    uint32_t reserved;
    uint64_t first_frame; /* block that applied its first change */
    uint64_t last_frame;  /* block that applied its last change (== first_frame) */
    uint64_t applied;     /* transactions applied since creation */
    uint64_t split;       /* transactions whose changes spanned blocks: always 0 */
    uint64_t block_ns;    /* CLOCK_MONOTONIC ns at which that block began */
} sf_txn_status;

/* The reference's own meters (sf_read_reference). */
typedef struct sf_reference_meters {
    int32_t source;          /* 0 none, 1 buffer, 2 device inputs */
    int32_t on;              /* the switch: 1 = the reference is (being faded) in */
    float heard;             /* crossfade position: 0 the mix .. 1 the reference */
    float gain_db;           /* the reference gain (target) */
    float momentary_lufs;    /* of the reference before its gain; -200 when silent */
    float short_term_lufs;
    float integrated_lufs;   /* since it was set or sf_reset_meters */
    float peak[2];           /* sample peak since then, before its gain, linear */
} sf_reference_meters;

/*
 * The master's loudness history for A/B comparison (gateblocks.c): every
 * 400 ms gating block of ITU-R BS.1770-4 the master loudness meter
 * completes (one each 100 ms, the blocks its integrated value gates) goes
 * into a ring, of which the newest SF_GATE_RING - 1 (51.1 s) can be read
 * (the oldest slot is the next to be rewritten), with the frame at its end
 * and its mean square with the monitor trim taken out, so a reader can
 * attribute blocks to whatever was heard between two frames and measure
 * the mix itself, not as trimmed. The trim is taken out as it was when the
 * block ended: a block during which the trim moved is off by that move.
 * Blocks restart 400 ms after sf_reset_meters (whole blocks only).
 */
#define SF_GATE_RING 512

typedef struct sf_gate_block {
    uint64_t seq;       /* blocks before this one since the engine was created */
    uint64_t end_frame; /* frames (as sf_master_meters.frames) at its end: it
                         * covers [end_frame - 0.4 s worth, end_frame) */
    double energy;      /* channel-summed K-weighted mean square, before the trim */
    float trim_db;      /* the monitor trim when it ended */
    float reserved;
} sf_gate_block;

/* One channel's loudness measurement (sf_read_chmeter). */
typedef struct sf_chmeter_reading {
    int32_t channel;  /* 0-based; -1 when the channel is not metered */
    uint32_t stereo;  /* 1: the mean of two sides */
    uint64_t steps;   /* 100 ms steps completed since switched on */
    uint64_t frames;  /* frames measured since switched on */
    uint64_t refused; /* sf_push_chmeter requests refused (no free slot), engine-wide */
    float kms[SF_CHMETER_RING]; /* K-weighted mean square of step s at [s % RING] */
    float ms[SF_CHMETER_RING];  /* plain mean square of step s */
    float peak;       /* sample peak since switched on, linear */
    float true_peak;  /* 4x oversampled peak since switched on, linear */
} sf_chmeter_reading;

/* Creation. n_channels 1..SF_MAX_CHANNELS, n_buses 0..SF_MAX_BUSES. */
sf_engine *sf_engine_new(int n_channels, int n_buses, double sample_rate, int max_block);
void sf_engine_free(sf_engine *e);
int sf_engine_channels(const sf_engine *e);
int sf_engine_buses(const sf_engine *e);
double sf_engine_rate(const sf_engine *e);

/* Control side -> audio side (single producer). */
int sf_push_param(sf_engine *e, int scope, int index, int param, int sub, float value);
/*
 * A transaction: n changes applied together by exactly one audio block (the
 * audio side drains everything visible when a block starts, and the n
 * messages become visible at once). All or nothing: every change is checked
 * first (SF_EINVAL: scope, index, param or sub out of range, or n >
 * sf_queue_capacity(), or changes == NULL with n > 0; SF_ERANGE: value NaN,
 * or infinite where the parameter is not a gain, or ramp_ms not in
 * 0..SF_RAMP_MAX_MS) and SF_EQUEUE_FULL is returned, with nothing queued,
 * when the queue has room for fewer than n messages (n refused messages are
 * added to dropped_params; retry after a block). n == 0 queues one marker
 * (a transaction with no change, which still records its block). txn_id is
 * the caller's; sf_txn_read reports it once applied. Changes apply in array
 * order (a later change of the same parameter wins).
 */
int sf_push_params(sf_engine *e, const sf_param_change *changes, uint32_t n, uint32_t txn_id);
/* The last transaction applied, and the counts (any thread, any time; a
 * bounded seqlock read). Returns SF_OK, or SF_EBUSY if the audio side kept
 * writing it (retry). */
int sf_txn_read(sf_engine *e, sf_txn_status *out);
/* Source of a channel: a looped interleaved buffer the caller keeps alive
 * (n_src_channels 1 or 2), input channels of the device (stereo 0/1), or
 * silence. */
int sf_push_source_buffer(sf_engine *e, int ch, const float *data, uint32_t frames,
                          int n_src_channels);
int sf_push_source_input(sf_engine *e, int ch, int first_input, int stereo);
int sf_push_source_none(sf_engine *e, int ch);
/* Restart every buffer source from frame 0 (a transport "rewind"). */
int sf_push_rewind(sf_engine *e);
/* Record the master output (interleaved stereo) into buf, up to frames. */
int sf_push_capture(sf_engine *e, float *buf, uint32_t frames);
/* Reset peak holds, true-peak max and integrated loudness. */
int sf_push_reset_meters(sf_engine *e);
/* Latency probe (benchmarks): the block that drains it records its start time
 * (CLOCK_MONOTONIC ns), readable with sf_probe_read. Pushed right after a
 * parameter change, it marks the block in which that change took effect. */
int sf_push_probe(sf_engine *e, uint32_t id);
uint32_t sf_probe_read(sf_engine *e, uint64_t *applied_ns);

/* Settle every smoothed value at its target now (before audio starts:
 * offline renders and tests that want the first sample exact). */
void sf_settle(sf_engine *e);

/* The block function. in: interleaved, in_channels wide (may be NULL when
 * in_channels == 0). out: interleaved, out_channels wide; master L/R go to
 * out channels 0/1, the rest are zeroed. nframes may exceed max_block (it is
 * processed in chunks). Returns SF_OK or SF_EINVAL. */
int sf_process(sf_engine *e, const float *in, int in_channels, float *out, int out_channels,
               int nframes);

/* The block function with routed outputs (the JACK client's ports, a device's
 * channel map): output c is written at out[c][k * out_stride] for frame k
 * (out_stride 1: planar buffers; W with out[c] = base + c: a W-wide
 * interleaved buffer; out[c] NULL: skipped) and carries out_src[c]: the
 * master side SF_OUT_MASTER_L/R, bus b's side SF_OUT_BUS + 2b (+1 for R),
 * post bus fader (what the bus meters show), or silence for anything else
 * (SF_OUT_NONE, a bus the engine does not have). Input as sf_process. */
#define SF_OUT_NONE -1
#define SF_OUT_MASTER_L 0
#define SF_OUT_MASTER_R 1
#define SF_OUT_BUS 2
int sf_process_routed(sf_engine *e, const float *in, int in_channels, float *const *out,
                      const int *out_src, int n_out, int out_stride, int nframes);
/* The same with planar inputs: device input i is in[i][0..nframes) (NULL:
 * silence), so a caller holding one buffer per input (the JACK client's
 * ports) hands them over as they are, without interleaving them first. */
int sf_process_planar(sf_engine *e, const float *const *in, int n_in, float *const *out,
                      const int *out_src, int n_out, int out_stride, int nframes);

/* Meters: any thread. Arrays may be NULL; otherwise they hold
 * sf_engine_channels() floats. */
int sf_read_meters(sf_engine *e, float *ch_peak, float *ch_rms, sf_master_meters *m);
uint32_t sf_capture_frames(sf_engine *e);
void sf_count_xrun(sf_engine *e);

/* Reference track (see SF_P_REF_ON): its source. The buffer is kept alive
 * by the caller, as for sf_push_source_buffer. */
int sf_push_reference_buffer(sf_engine *e, const float *data, uint32_t frames,
                             int n_src_channels);
int sf_push_reference_input(sf_engine *e, int first_input, int stereo);
int sf_push_reference_none(sf_engine *e);
/* The reference meters: any thread, seqlock like sf_read_meters. */
int sf_read_reference(sf_engine *e, sf_reference_meters *out);

/* The gating blocks (see SF_GATE_RING) numbered `from` on, oldest first,
 * at most `max` of them, into out (any thread, without tearing, never
 * waiting on the audio side). Returns how many were copied (0 when none is
 * newer); out[0].seq > from when older ones were overwritten meanwhile.
 * SF_EBUSY when the writer kept overtaking the copy (retry), SF_EINVAL
 * for bad arguments. */
int sf_read_gate_blocks(sf_engine *e, uint64_t from, sf_gate_block *out, int max);

/* Per-channel loudness meter (see SF_CHMETER_SLOTS): on = 1 starts (or
 * restarts) measuring channel ch, 0 stops and frees its slot. */
int sf_push_chmeter(sf_engine *e, int ch, int on);
/* Channel ch's measurement (any thread, without tearing). SF_OK with
 * out->channel == -1 when it is not metered. */
int sf_read_chmeter(sf_engine *e, int ch, sf_chmeter_reading *out);
/*
 * The same measurement, offline, over a whole buffer (control thread; the
 * audio side is not involved): data is `frames` frames of n_src_channels
 * (1 or 2) interleaved. Writes the K-weighted mean square of each complete
 * 100 ms step (at most max_steps) to kms, the sum of squares of every sample
 * (all sides) to *sumsq, the sample peak to *peak and the 4x true peak to
 * *true_peak. Returns the number of steps written, or SF_EINVAL.
 */
int sf_measure_buffer(const float *data, uint32_t frames, int n_src_channels, double rate,
                      double *kms, uint32_t max_steps, double *sumsq, float *peak,
                      float *true_peak);

/* Queue introspection (tests). */
uint32_t sf_queue_capacity(const sf_engine *e);

const char *sf_strerror(int code);

/* ---------------- live audio: a PortAudio callback in C ---------------- */
/* Mirrors PaStreamCallbackTimeInfo without including portaudio.h (the core
 * depends on libc and libm only). */
typedef struct sf_pa_time_info {
    double inputBufferAdcTime;
    double currentTime;
    double outputBufferDacTime;
} sf_pa_time_info;

#define SF_TIMING_BINS 2048 /* 1 us bins; the last bin collects overflow */
#define SF_MAX_ROUTED 256   /* device output channels a channel map can name */

/* Userdata of the live callback and of the headless clock. */
typedef struct sf_stream_ctx {
    sf_engine *engine;
    int in_channels;
    int out_channels;
    int routed;           /* 1: out_src maps each device output (sf_process_routed) */
    int out_src[SF_MAX_ROUTED];
    int measure;          /* 1: record each block's durations in the histograms */
    uint64_t timing_hist[SF_TIMING_BINS]; /* wall-clock durations, 1 us bins */
    uint64_t timing_count;
    uint64_t timing_max_ns;
    uint64_t callbacks;
    /* The audio thread's CPU time per block (CLOCK_THREAD_CPUTIME_ID): the
     * block's work without the time the thread waited for a CPU (a block
     * over its period only in wall-clock time was held up by the machine).
     * A kernel without IRQ_TIME_ACCOUNTING also charges it the interrupts
     * handled while it ran. */
    uint64_t cpu_hist[SF_TIMING_BINS]; /* 1 us bins */
    uint64_t cpu_max_ns;
    uint64_t cpu_over_period;  /* blocks whose CPU time exceeded their period */
    uint64_t wall_over_period; /* blocks whose wall-clock duration exceeded it */
} sf_stream_ctx;

/* Has the PortAudio PaStreamCallback signature. */
int sf_pa_callback(const void *input, void *output, unsigned long frames,
                   const sf_pa_time_info *time_info, unsigned long status_flags, void *userdata);

/* Headless real-time clock: a C thread that calls sf_process every block
 * period against an absolute monotonic deadline. */
typedef struct sf_clock sf_clock;
sf_clock *sf_clock_start(sf_stream_ctx *ctx, int block, double sample_rate);
void sf_clock_stop(sf_clock *c); /* joins and frees */
uint64_t sf_clock_late(const sf_clock *c); /* periods that started late */

/* ---------------- JACK: surfaced's own client ---------------- */
/* libjack is loaded at run time (sf_jack_load), so nothing here needs JACK
 * installed to build. One client per daemon; its process callback runs the
 * hooks installed by the audio and MIDI parts (SF_JACK_HOOK_*), MIDI first so
 * that events read in a cycle reach the control side before audio runs. */
#define SF_EUNAVAILABLE -6 /* libjack not installed, or no JACK server */
#define SF_JACK_HOOK_MIDI 0
#define SF_JACK_HOOK_AUDIO 1
#define SF_JACK_HOOKS 2
#define SF_JACK_PORT_AUDIO 0
#define SF_JACK_PORT_MIDI 1
/* JackPortFlags, as <jack/types.h> defines them. */
#define SF_JACK_IS_INPUT 1
#define SF_JACK_IS_OUTPUT 2
#define SF_JACK_IS_PHYSICAL 4

typedef struct sf_jack sf_jack;

/* What the client's notification callbacks have counted (any thread). */
typedef struct sf_jack_status {
    int shutdown;                 /* 1 once the server has closed the client */
    uint32_t port_registrations;  /* ports registered or unregistered, anywhere */
    uint32_t connections;         /* connections made or broken, anywhere */
    uint32_t xruns;
    uint64_t cycles;              /* process cycles run */
    uint32_t sample_rate;
    uint32_t buffer_size;
    float cpu_load;               /* the server's DSP load, percent */
} sf_jack_status;

/* dlopen libjack.so.0 once per process: SF_OK or SF_EUNAVAILABLE. */
int sf_jack_load(void);
/* Open client `name` (server NULL: the default one, $JACK_DEFAULT_SERVER);
 * never starts a server. NULL on failure, with JACK's status bits in *status.
 * The client is active on return (its process callback runs the hooks). */
sf_jack *sf_jack_open(const char *name, const char *server, int *status);
/* Deactivate, close and free (hooks must have been removed). */
void sf_jack_close(sf_jack *j);
/* The name JACK gave the client (unique: "surfaced-01" if "surfaced" was taken). */
const char *sf_jack_name(sf_jack *j);
int sf_jack_read_status(sf_jack *j, sf_jack_status *out);
/* Block until a notification (port, connection, shutdown, xrun) arrives or
 * timeout_ms passes: 1 if one did, 0 on timeout. Not for the process thread. */
int sf_jack_wait(sf_jack *j, int timeout_ms);
/* sf_jack_wait without the gap between two calls: returns at once when
 * notifications arrived since *seen (the count this caller saw last; start
 * from 0) and stores the new count there. Each waiting thread keeps its own. */
int sf_jack_wait_since(sf_jack *j, unsigned *seen, int timeout_ms);
/* Wake sf_jack_wait as a notification would (control threads: work queued). */
void sf_jack_wake(sf_jack *j);
/* Ports of this client. Returns an opaque port, NULL on failure. */
void *sf_jack_port_register(sf_jack *j, const char *short_name, int type, int flags);
int sf_jack_port_unregister(sf_jack *j, void *port);
int sf_jack_port_rename(sf_jack *j, void *port, const char *short_name);
const char *sf_jack_port_name(void *port);
/* Connections by full port name. Connecting an existing connection is SF_OK. */
int sf_jack_connect(sf_jack *j, const char *source, const char *destination);
int sf_jack_disconnect(sf_jack *j, const char *source, const char *destination);
/* NULL-terminated name lists, owned by JACK: free with sf_jack_free. pattern
 * is a POSIX extended regex (NULL: all), type -1 for any, flags 0 for any. */
const char **sf_jack_get_ports(sf_jack *j, const char *pattern, int type, int flags);
const char **sf_jack_port_connections(sf_jack *j, const char *port_name);
int sf_jack_port_flags(sf_jack *j, const char *port_name); /* -1: no such port */
void sf_jack_free(void *names);

/* ---------------- JACK MIDI: raw events through the client's MIDI hook ---------------- */
/* Ports are registered with sf_jack_port_register and handed over by slot;
 * every input event goes, raw, into one ring the control side reads after
 * sf_jack_midi_wait; output bytes queued with sf_jack_midi_send are written
 * at frame 0 of the next cycle. See native/jack_midi.c. */
#define SF_JACK_MIDI_SLOTS 64     /* inputs, and as many outputs */
#define SF_JACK_MIDI_HEADER 16    /* per input record: u16 slot, u16 0, u32 size, u64 ns */

typedef struct sf_jack_midi sf_jack_midi;

typedef struct sf_jack_midi_stats {
    uint64_t in_events;     /* events copied into the ring */
    uint64_t in_bytes;
    uint64_t in_dropped;    /* events lost: the ring was full (the reader fell behind) */
    uint64_t wakeups;       /* cycles that woke the reader (had input) */
    uint64_t cycles;        /* cycles the hook ran */
    uint64_t out_events;    /* messages written to output ports */
    uint64_t out_dropped;   /* messages for an unpublished slot, or too large for a cycle */
    uint64_t out_deferred;  /* times a cycle's buffer was full and output waited */
    uint32_t in_capacity;   /* bytes of the input ring (the reader's buffer size) */
} sf_jack_midi_stats;

/* Rings of at least in_bytes/out_bytes (rounded up to a power of two). */
sf_jack_midi *sf_jack_midi_new(uint32_t in_bytes, uint32_t out_bytes);
void sf_jack_midi_free(sf_jack_midi *m);   /* detach first */
/* Install the MIDI hook on client j; detach removes it (waiting out a cycle),
 * forgets every slot and drops queued output. Control thread only. */
int sf_jack_midi_attach(sf_jack_midi *m, sf_jack *j);
void sf_jack_midi_detach(sf_jack_midi *m);
/* Publish port (from sf_jack_port_register) as input (output 0) or output
 * slot `slot`; NULL unpublishes it and returns once no cycle uses the old
 * port, so it may be unregistered then. */
int sf_jack_midi_set_port(sf_jack_midi *m, int slot, int output, void *port);
/* Queue one or more whole messages for output slot `slot` (any control
 * thread): SF_OK, SF_EQUEUE_FULL, or SF_EINVAL (bad slot, empty, too long). */
int sf_jack_midi_send(sf_jack_midi *m, int slot, const unsigned char *data, uint32_t size);
/* Block until a cycle delivered input (1) or timeout_ms passed (0); wake
 * makes it return 1 at once (to stop the reader). One reader thread only. */
int sf_jack_midi_wait(sf_jack_midi *m, int timeout_ms);
void sf_jack_midi_wake(sf_jack_midi *m);
/* Move whole input records (SF_JACK_MIDI_HEADER bytes, then the event's
 * bytes padded to 8) into out, up to cap bytes; returns the bytes moved. */
uint32_t sf_jack_midi_read(sf_jack_midi *m, unsigned char *out, uint32_t cap);
int sf_jack_midi_read_stats(sf_jack_midi *m, sf_jack_midi_stats *out);

/* The engine inside the client's process cycle (native/jack_audio.c): the
 * audio hook. in_ports[i] (registered input ports) feeds device input
 * in_cols[i] of the engine (what sf_push_source_input names); out_ports[c]
 * carries out_src[c] (SF_OUT_*, as sf_process_routed). Every buffer is
 * allocated here; ctx (kept alive by the caller until detach) gets the
 * channel counts and, with ctx->measure, the callback durations; the
 * client's xrun notifications are counted into the engine. Returns NULL on
 * a bad argument or no memory. Control thread; the engine must have no
 * other driver while attached. */
typedef struct sf_jack_audio sf_jack_audio;
sf_jack_audio *sf_jack_audio_attach(sf_jack *j, sf_stream_ctx *ctx, void *const *in_ports,
                                    const int *in_cols, int n_in, void *const *out_ports,
                                    const int *out_src, int n_out);
/* Remove the hook (after the cycle that may be running) and free. Any
 * period length works: the core runs a long one in pieces of its max_block. */
void sf_jack_audio_detach(sf_jack_audio *a);

#endif
