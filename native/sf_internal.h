/*
 * surfaced native core: internal structures shared by the core's C files.
 * Not part of the public API (sf_core.h is).
 */
#ifndef SF_INTERNAL_H
#define SF_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loudness.h"
#include "sf_core.h"
#include "truepeak.h"

/* ---- parameter queue (SPSC ring, power-of-two capacity) ---- */
enum sf_msg_kind {
    SF_MSG_PARAM = 0,
    SF_MSG_SOURCE_BUFFER,
    SF_MSG_SOURCE_INPUT,
    SF_MSG_SOURCE_NONE,
    SF_MSG_REWIND,
    SF_MSG_CAPTURE,
    SF_MSG_RESET_METERS,
    SF_MSG_PROBE,
    SF_MSG_TXN, /* an empty transaction: only marks its block */
    SF_MSG_REF_BUFFER,
    SF_MSG_REF_INPUT,
    SF_MSG_REF_NONE,
    SF_MSG_CHMETER /* index = channel, sub = on */
};

/* sf_msg.txn_flags: the first and last message of a transaction. */
#define SF_TXN_FIRST 1
#define SF_TXN_LAST 2

typedef struct sf_msg {
    int32_t kind;
    int32_t scope;
    int32_t index;
    int32_t param;
    int32_t sub;
    float value;
    const float *ptr; /* SOURCE_BUFFER data, CAPTURE destination */
    uint32_t frames;
    int32_t n_src;
    float ramp_ms;     /* PARAM: crossfade time, 0 = the usual smoothing */
    uint32_t txn;      /* transaction id (sf_push_params) */
    int32_t txn_flags; /* SF_TXN_* bits; 0 outside a transaction */
} sf_msg;

#define SF_QUEUE_CAP 8192u /* messages; a 1000-change burst fits eight times */

typedef struct sf_queue {
    /* head: written by the producer only; tail: written by the consumer only.
     * Kept on separate cache lines so the two sides never false-share. */
    _Alignas(64) atomic_uint_fast32_t head;
    _Alignas(64) atomic_uint_fast32_t tail;
    _Alignas(64) sf_msg slots[SF_QUEUE_CAP];
} sf_queue;

/* ---- DSP building blocks ---- */
typedef struct sf_biquad {
    double b0, b1, b2, a1, a2; /* normalised: a0 == 1; run in double (kern_body.h) */
} sf_biquad;

/* A gain that glides to its target with a one-pole in the linear domain and
 * snaps once it is within SF_SNAP of it, after which the constant-gain fast
 * path is used again. */
typedef struct sf_gain {
    float cur;
    float target;
    /* Nonzero while a crossfade ramp drives the gain: the kernels add it per
     * sample, never past target, instead of gliding (ramp.c sets it at each
     * grid point so cur lands on the ramp's value at the next one). */
    float step;
} sf_gain;

/* A parameter crossfade (ramp.c): the value travels from 'from' to 'to'
 * over frames [start, start + len). */
typedef struct sf_ramp {
    float from, to;
    uint64_t start;
    uint32_t len;
} sf_ramp;

/* ramp bits of a channel: fader, pan, then send b at bit 2 + b */
#define SF_RAMP_FADER 1u
#define SF_RAMP_PAN 2u
#define SF_RAMP_SEND(b) (4u << (b))

#define SF_SNAP 1e-6f
#define SF_MAX_STAGES 5 /* high-pass + four EQ bands */

enum sf_source_kind { SF_SRC_NONE = 0, SF_SRC_BUFFER, SF_SRC_INPUT };

/* What a parameter change makes stale: gains are a few multiplies; filter
 * and compressor design costs trigonometry, so a solo (which touches every
 * channel's gains) must not redesign every filter inside the block. */
#define SF_DIRTY_GAINS 1
#define SF_DIRTY_DSP 2
#define SF_DIRTY_ALL (SF_DIRTY_GAINS | SF_DIRTY_DSP)

typedef struct sf_channel {
    /* Hot: what the plain path touches per block fills the first cache line
     * (the struct is 64-byte aligned). */
    _Alignas(64) int src_kind;
    int lanes;     /* 1 = mono, 2 = stereo */
    const float *src_data;
    uint32_t src_frames;
    uint32_t src_cur;   /* read position in a buffer source */
    int src_nch;        /* 1 or 2 */
    uint32_t send_live; /* plain path: bit b, send b is nonzero or gliding */
    /* Canonical gains. For a channel in lanes the live copy is in its group
     * and these are written back only when the layout changes. */
    sf_gain in_gain;     /* trim x polarity */
    sf_gain out_gain[2]; /* fader x mute x pan, per side */
    int src_input;       /* first device input channel */
    int dirty;           /* SF_DIRTY_* bits: which derived state is stale */
    /* Where the channel runs: lane >= 0 is its first lane (group * SF_LANES +
     * lane) in the SIMD lane groups (filters, compressor or sidechain key);
     * -1 is the plain per-channel path. */
    int lane;
    sf_gain send_gain[SF_MAX_BUSES][2];

    /* parameters in engineering units, as last received */
    float trim_db, hpf_freq, comp_thr, comp_ratio, comp_knee, comp_attack, comp_release,
        comp_makeup, fader_db, pan;
    float eq_freq[SF_EQ_BANDS], eq_gain[SF_EQ_BANDS], eq_q[SF_EQ_BANDS];
    float send_db[SF_MAX_BUSES];
    uint8_t send_pre[SF_MAX_BUSES];
    int phase, hpf_on, eq_on, comp_on, comp_key, mute, solo;

    /* derived, recomputed by the consumer when a parameter changed */
    /* Fixed filter slots in signal order: 0 high-pass, 1..4 EQ bands. A slot
     * that is off holds identity coefficients. */
    sf_biquad stage[SF_MAX_STAGES];
    uint8_t slot_on;    /* bit s: slot s is on */
    uint8_t slot_reset; /* slots whose state must restart from rest (lane sync) */
    uint8_t comp_reset; /* compressor turned off: its smoothed reduction restarts */
    uint8_t sync;       /* lane copy of coefficients/targets is stale */
    /* compressor, derived, in log2 units (1 = 6.02 dB): threshold, half
     * knee width, knee curvature, 1 - 1/ratio, makeup */
    float comp_thr2, comp_halfw, comp_kq, comp_nslope, comp_mk2;
    float att_coef, rel_coef;
    int is_key;        /* some compressor listens to this channel */
    int lay_lanes, lay_need; /* what the lane layout was built from */

    /* canonical filter and compressor state (see the gains above) */
    double z[2][SF_MAX_STAGES][2]; /* [lane][slot][state] transposed DF-II */
    float comp_gr;     /* smoothed gain reduction (log2 units, >= 0) */

    /* crossfade ramps (ramp.c), cold: touched only while one runs */
    uint32_t ramp_bits; /* SF_RAMP_* of the parameters ramping now */
    uint8_t ramp_lin;   /* gains step linearly towards the next grid point */
    uint8_t ramp_restep; /* gains changed mid-segment: new steps needed */
    uint8_t ramp_listed; /* in e->ramp_list */
    uint8_t ramp_now;   /* scratch for one tick */
    sf_ramp r_fader, r_pan, r_send[SF_MAX_BUSES];
} sf_channel;

typedef struct sf_bus {
    float fader_db;
    int mute;
    sf_gain gain;
    float peak, ms;
    int ramping, ramp_lin, ramp_restep; /* as in sf_channel */
    sf_ramp r_fader;
} sf_bus;

/* One slot of the per-channel loudness meter (chanmeter.c). */
typedef struct sf_chmeter {
    int32_t ch;   /* channel index, -1 when the slot is free */
    int32_t fill; /* frames in the current step */
    int32_t stereo;
    uint64_t steps, frames;
    double st[2][4];      /* K-weighting states per side, as in sf_loudness */
    double kacc[2], acc[2];
    float peak, tp;
    float kms[SF_CHMETER_RING], ms[SF_CHMETER_RING];
    sf_truepeak tpm[2];
} sf_chmeter;

/* The reference track (reference.c), audio side. */
typedef struct sf_reference {
    int kind;              /* SF_SRC_* */
    const float *data;
    uint32_t frames, cur;
    int nch;               /* buffer: 1 or 2 */
    int input, stereo;     /* device inputs */
    int on;                /* the switch */
    float x;               /* crossfade position 0..1 */
    float xstep;           /* per frame */
    float gain_db;
    sf_gain gain;
    float peak[2];
    sf_loudness loud;      /* the reference's own loudness, before its gain */
} sf_reference;

/* Seqlock-protected meter snapshot. */
typedef struct sf_snapshot {
    atomic_uint seq; /* odd while the audio side writes */
    sf_master_meters master;
    float *ch_peak; /* n_channels */
    float *ch_rms;
    sf_reference_meters ref;
} sf_snapshot;

struct sf_engine {
    int n_ch, n_bus, max_block;
    double rate;
    float smooth_coef;  /* per-sample one-pole coefficient for gains */
    float meter_fall;   /* per-sample peak fall-back factor (20 dB/s) */
    float ms_coef;      /* per-sample RMS averaging coefficient (300 ms) */

    sf_queue *queue;
    sf_channel *ch;
    sf_bus bus[SF_MAX_BUSES];
    float master_db;
    float master_trim_db; /* monitor trim, after the fader (folded into master_gain) */
    sf_gain master_gain;
    int m_ramping, m_ramp_lin, m_ramp_restep;
    sf_ramp m_ramp;

    /* crossfade ramps (ramp.c): channels with a ramp or a last linear
     * segment, in no particular order; plus a count of bus/master ramps */
    int *ramp_list;
    int n_ramp;
    int n_ramp_other;
    uint64_t now; /* frames processed (audio side's own copy of 'frames') */
    int any_solo;

    uint64_t src_pos; /* frames since rewind: position of buffer sources */

    /* channel meters (audio side): decaying peak and mean square for RMS,
     * contiguous so publishing them is one vectorised pass */
    float *ch_peak, *ch_ms;

    /* scratch: bus sums and master L/R, max_block each */
    float *bus_buf;   /* n_bus * 2 * max_block */
    float *mix_buf;   /* 2 * max_block master L/R */

    /* SIMD lane groups and the plain-path channel list (lanes.h) */
    struct sf_lanes *simd;

    /* master meters */
    sf_loudness loud;
    sf_truepeak tp[2];
    float m_peak[2], m_ms[2], m_tp[2], m_tp_max[2];
    /* master overs (overs.c): the 10 ms true-peak step in progress, and
     * where the overs were */
    int32_t ov_hop, ov_fill;
    float ov_step_max;
    int ov_clipped;
    uint64_t ov_step_start, ov_tp_steps, ov_first_tp, ov_last_tp, ov_first_clip, ov_last_clip;

    /* counters (audio side writes, anyone reads) */
    atomic_uint_fast64_t clip_count, nonfinite_count, state_resets, xruns, frames, dropped,
        overflow_count;

    /* transactions (sf_push_params): the consumer's open one, and the last
     * one applied, published through a seqlock of atomics */
    uint32_t txn_open;
    int txn_is_open;
    uint64_t txn_open_frame;
    uint64_t block_frame; /* first frame of the block being drained */
    atomic_uint txn_seq;
    atomic_uint txn_id;
    atomic_uint_fast64_t txn_first, txn_last, txn_applied, txn_split, txn_ns;

    /* capture of the master output (tests: live == offline) */
    float *cap_buf;
    uint32_t cap_len;
    atomic_uint cap_pos;

    /* latency probe: the id of the last probe drained and when its block began */
    atomic_uint probe_id;
    atomic_uint_fast64_t probe_ns;
    uint64_t block_ns; /* start of the block being drained, 0 = not read yet */

    sf_snapshot snap;

    /* reference track (reference.c): its state and scratch (2 * max_block) */
    sf_reference ref;
    float *ref_buf;

    /* per-channel loudness meters (chanmeter.c): slots, how many are in
     * use, the K-weighting for this rate, scratch (max_block), and the
     * published copy behind its own seqlock */
    sf_chmeter *chm;
    int n_chm;
    int chm_publish; /* slots changed since the last publish */
    sf_loudness_biquad kshelf, khp;
    int32_t khop;
    float *chm_buf;
    atomic_uint chm_seq;
    sf_chmeter_reading *chm_pub;
    atomic_uint_fast64_t chm_refused;

    /* the master's gating blocks for A/B (gateblocks.c): blocks of `loud`
     * copied so far, the frame at which `loud` was last reset (its steps
     * count from there), and the published ring with its write count */
    uint64_t gb_seen;
    uint64_t gb_origin;
    atomic_uint_fast64_t gb_count;
    sf_gate_block gb_ring[SF_GATE_RING];
};

/* Device inputs for one piece of a block, as the core reads them:
 * interleaved (planes NULL: input i of frame k at base[(off + k) * n + i],
 * sf_process) or planar (planes[i][off + k], a NULL plane is silence:
 * sf_process_planar, the JACK client's port buffers). */
typedef struct sf_input {
    const float *base;
    const float *const *planes;
    int n;   /* device inputs */
    int off; /* frames into the caller's buffers where this piece starts */
} sf_input;

/* Frames [off, off + m) of the piece from device input i (0 <= i < in->n). */
static inline void sf_input_read(const sf_input *in, int i, int off, int m, float *dst) {
    off += in->off;
    if (in->planes) {
        const float *p = in->planes[i];
        if (p) memcpy(dst, p + off, sizeof(float) * (size_t)m);
        else memset(dst, 0, sizeof(float) * (size_t)m);
        return;
    }
    const size_t w = (size_t)in->n;
    const float *p = in->base + (size_t)off * w + (size_t)i;
    for (int k = 0; k < m; k++) dst[k] = p[(size_t)k * w];
}

/* core.c: zeroed, 64-byte aligned (vector loads, no false sharing) */
void *sf_zalloc(size_t n);
/* core.c: queue one message (producer side); SF_EQUEUE_FULL when full */
int sf_push_msg(sf_engine *e, const sf_msg *m);

/* strip.c */
void sf_channel_defaults(sf_channel *c, int n_bus);
void sf_channel_update(sf_engine *e, sf_channel *c);
void sf_process_block(sf_engine *e, const sf_input *in, int n); /* in NULL: no inputs */
/* strip.c: creation/teardown of the lane groups (control thread), the
 * layout commit after parameter changes (audio thread, bounded by n_ch) and
 * settling every glide in the lanes. */
int sf_lanes_alloc(sf_engine *e);
void sf_lanes_free(sf_engine *e);
void sf_lanes_commit(sf_engine *e);
void sf_lanes_settle(sf_engine *e);

/* strip.c: a ramping channel's gains, where they live (lanes or canonical):
 * seg > 0 sets steps that reach the targets in seg frames; seg == 0 ends
 * linear stepping (the gains glide from there, as usual). */
void sf_gains_ramp(sf_engine *e, sf_channel *c, float seg);

/* ramp.c */
#define SF_RAMP_GRID_FRAMES 64 /* keep equal to SF_RAMP_GRID in sf_core.h */
int sf_ramp_start_ch(sf_engine *e, sf_channel *c, int param, int sub, float value,
                     float ramp_ms);
int sf_ramp_start_bus(sf_engine *e, sf_bus *b, float value, float ramp_ms);
int sf_ramp_start_master(sf_engine *e, float value, float ramp_ms);
void sf_ramp_cancel_ch(sf_engine *e, sf_channel *c, uint32_t bit);
int sf_ramp_active(const sf_engine *e);
void sf_ramp_tick(sf_engine *e);
void sf_ramp_settle(sf_engine *e);
float sf_master_target(const sf_engine *e);

/* chanmeter.c */
void sf_chmeter_setup(sf_engine *e);
/* gateblocks.c: audio side, after each piece's master meters */
void sf_gate_collect(sf_engine *e);
void sf_chmeter_switch(sf_engine *e, int ch, int on);
void sf_chmeter_run(sf_engine *e, const sf_input *in, int n);
void sf_chmeter_publish(sf_engine *e);

/* overs.c */
void sf_overs_setup(sf_engine *e);
void sf_overs_clips(sf_engine *e, const float *x, int n);
void sf_overs_truepeak(sf_engine *e, const float *left, const float *right, int n, float tp[2]);

/* reference.c */
void sf_reference_setup(sf_engine *e);
void sf_reference_run(sf_engine *e, const sf_input *in, int n);
void sf_reference_publish(const sf_engine *e, sf_reference_meters *out);
void sf_reference_settle(sf_engine *e);

/* dsp helpers (dsp.c) */
float sf_db_to_lin(float db);
void sf_biquad_peaking(sf_biquad *b, double rate, double f, double q, double gain_db);
void sf_biquad_lowshelf(sf_biquad *b, double rate, double f, double s, double gain_db);
void sf_biquad_highshelf(sf_biquad *b, double rate, double f, double s, double gain_db);
void sf_biquad_highpass(sf_biquad *b, double rate, double f, double q);

#endif
