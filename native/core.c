/*
 * surfaced native core: engine lifecycle, the parameter queue, the meter
 * snapshot and the block function's outer shell (denormal mode, chunking).
 * The per-block DSP lives in strip.c.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sf_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

/* Gain glide: ~10 ms to 63% -- long enough to remove zipper noise from a
 * fader ridden on a 7-bit controller, short enough that a mute feels
 * immediate. */
#define SF_GAIN_SMOOTH_MS 10.0
#define SF_METER_FALL_DB_PER_S 20.0 /* IEC 60268-18 style peak fall-back */
#define SF_RMS_MS 300.0

const char *sf_strerror(int code) {
    switch (code) {
        case SF_OK: return "ok";
        case SF_EINVAL: return "invalid argument";
        case SF_EQUEUE_FULL: return "parameter queue full";
        case SF_ENOMEM: return "out of memory";
        case SF_EBUSY: return "meter snapshot busy";
        case SF_ERANGE: return "value is not finite";
        case SF_EUNAVAILABLE: return "JACK is not available";
        default: return "unknown error";
    }
}

void *sf_zalloc(size_t n) {
    /* 64-byte alignment keeps vector loads aligned and channels off each
     * other's cache lines. */
    size_t sz = (n + 63u) & ~(size_t)63u;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (p) memset(p, 0, sz ? sz : 64);
    return p;
}

static void publish(sf_engine *e);

sf_engine *sf_engine_new(int n_channels, int n_buses, double sample_rate, int max_block) {
    if (n_channels < 1 || n_channels > SF_MAX_CHANNELS) return NULL;
    if (n_buses < 0 || n_buses > SF_MAX_BUSES) return NULL;
    if (!(sample_rate >= 8000.0 && sample_rate <= 384000.0)) return NULL;
    if (max_block < 1 || max_block > SF_MAX_BLOCK) return NULL;

    sf_engine *e = sf_zalloc(sizeof *e);
    if (!e) return NULL;
    e->n_ch = n_channels;
    e->n_bus = n_buses;
    e->rate = sample_rate;
    e->max_block = max_block;
    e->smooth_coef = (float)(1.0 - exp(-1.0 / (SF_GAIN_SMOOTH_MS * 0.001 * sample_rate)));
    e->meter_fall = (float)pow(10.0, -SF_METER_FALL_DB_PER_S / 20.0 / sample_rate);
    e->ms_coef = (float)exp(-1.0 / (SF_RMS_MS * 0.001 * sample_rate));

    size_t mb = (size_t)max_block;
    e->queue = sf_zalloc(sizeof *e->queue);
    e->ch = sf_zalloc(sizeof(sf_channel) * (size_t)n_channels);
    e->bus_buf = sf_zalloc(sizeof(float) * (size_t)(n_buses ? n_buses : 1) * 2 * mb);
    e->mix_buf = sf_zalloc(sizeof(float) * 2 * mb);
    e->ch_peak = sf_zalloc(sizeof(float) * (size_t)n_channels);
    e->ch_ms = sf_zalloc(sizeof(float) * (size_t)n_channels);
    e->snap.ch_peak = sf_zalloc(sizeof(float) * (size_t)n_channels);
    e->snap.ch_rms = sf_zalloc(sizeof(float) * (size_t)n_channels);
    e->ramp_list = sf_zalloc(sizeof(int) * (size_t)n_channels);
    e->ref_buf = sf_zalloc(sizeof(float) * 2 * mb);
    e->chm = sf_zalloc(sizeof(sf_chmeter) * SF_CHMETER_SLOTS);
    e->chm_buf = sf_zalloc(sizeof(float) * 2 * mb);
    e->chm_pub = sf_zalloc(sizeof(sf_chmeter_reading) * SF_CHMETER_SLOTS);
    if (!e->ref_buf || !e->chm || !e->chm_buf || !e->chm_pub || !e->ramp_list || !e->queue || !e->ch || !e->bus_buf || !e->mix_buf || !e->ch_peak || !e->ch_ms ||
        !e->snap.ch_peak ||
        !e->snap.ch_rms || sf_lanes_alloc(e) != SF_OK) {
        sf_engine_free(e);
        return NULL;
    }
    atomic_init(&e->queue->head, 0);
    atomic_init(&e->queue->tail, 0);
    atomic_init(&e->gb_count, 0);
    for (int i = 0; i < n_channels; i++) {
        sf_channel_defaults(&e->ch[i], n_buses);
        sf_channel_update(e, &e->ch[i]);
    }
    for (int b = 0; b < n_buses; b++) {
        e->bus[b].fader_db = 0.0f;
        e->bus[b].gain.cur = e->bus[b].gain.target = 1.0f;
    }
    e->master_db = 0.0f;
    e->master_gain.cur = e->master_gain.target = 1.0f;
    sf_loudness_init(&e->loud, sample_rate);
    sf_truepeak_init(&e->tp[0]);
    sf_truepeak_init(&e->tp[1]);
    sf_overs_setup(e);
    sf_reference_setup(e);
    sf_chmeter_setup(e);
    sf_settle(e);
    publish(e); /* readers see "silent" (-200 LUFS), not zeros, before the first block */
    return e;
}

void sf_engine_free(sf_engine *e) {
    if (!e) return;
    free(e->queue);
    free(e->ch);
    sf_lanes_free(e);
    free(e->bus_buf);
    free(e->mix_buf);
    free(e->ch_peak);
    free(e->ch_ms);
    free(e->snap.ch_peak);
    free(e->snap.ch_rms);
    free(e->ramp_list);
    free(e->ref_buf);
    free(e->chm);
    free(e->chm_buf);
    free(e->chm_pub);
    free(e);
}

int sf_engine_channels(const sf_engine *e) { return e->n_ch; }
int sf_engine_buses(const sf_engine *e) { return e->n_bus; }
double sf_engine_rate(const sf_engine *e) { return e->rate; }
uint32_t sf_queue_capacity(const sf_engine *e) {
    (void)e;
    return SF_QUEUE_CAP - 1u;
}

/* ---------------- producer side ---------------- */

/* Free slots, as the producer sees them (the consumer only ever frees more). */
static uint32_t queue_free(sf_queue *q) {
    uint_fast32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint_fast32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    return (uint32_t)((SF_QUEUE_CAP - 1u) - ((head - tail) & (SF_QUEUE_CAP - 1u)));
}

int sf_push_msg(sf_engine *e, const sf_msg *m) {
    sf_queue *q = e->queue;
    uint_fast32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint_fast32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (((head + 1u) & (SF_QUEUE_CAP - 1u)) == tail) {
        atomic_fetch_add_explicit(&e->dropped, 1, memory_order_relaxed);
        return SF_EQUEUE_FULL;
    }
    q->slots[head] = *m;
    /* release: the slot's contents are visible before the new head. */
    atomic_store_explicit(&q->head, (head + 1u) & (SF_QUEUE_CAP - 1u), memory_order_release);
    return SF_OK;
}

/* One change, checked without touching the queue (single and batched pushes
 * share it, so a batch is refused for exactly what a single push would be). */
static int check_param(const sf_engine *e, int scope, int index, int param, int sub,
                       float value) {
    if (!isfinite(value) && !(param == SF_P_FADER || param == SF_P_SEND)) return SF_ERANGE;
    if (isnan(value)) return SF_ERANGE;
    if (param == SF_P_REF_ON || param == SF_P_REF_GAIN) /* the master scope's own */
        return scope == SF_SCOPE_MASTER ? SF_OK : SF_EINVAL;
    if (param < 0 || param >= SF_P_COUNT) return SF_EINVAL;
    switch (scope) {
        case SF_SCOPE_CH:
            if (index < 0 || index >= e->n_ch) return SF_EINVAL;
            if (param == SF_P_SEND || param == SF_P_SEND_PRE) {
                if (sub < 0 || sub >= e->n_bus) return SF_EINVAL;
            } else if (param == SF_P_EQ_FREQ || param == SF_P_EQ_GAIN || param == SF_P_EQ_Q) {
                if (sub < 0 || sub >= SF_EQ_BANDS) return SF_EINVAL;
            }
            break;
        case SF_SCOPE_BUS:
            if (index < 0 || index >= e->n_bus) return SF_EINVAL;
            if (param != SF_P_FADER && param != SF_P_MUTE) return SF_EINVAL;
            break;
        case SF_SCOPE_MASTER:
            if (param != SF_P_FADER && param != SF_P_TRIM) return SF_EINVAL;
            break;
        default: return SF_EINVAL;
    }
    return SF_OK;
}

int sf_push_param(sf_engine *e, int scope, int index, int param, int sub, float value) {
    int err = check_param(e, scope, index, param, sub, value);
    if (err) return err;
    sf_msg m = {.kind = SF_MSG_PARAM, .scope = scope, .index = index, .param = param,
                .sub = sub, .value = value};
    return sf_push_msg(e, &m);
}

int sf_push_params(sf_engine *e, const sf_param_change *changes, uint32_t n, uint32_t txn_id) {
    if (!e || (n && !changes) || n > SF_QUEUE_CAP - 1u) return SF_EINVAL;
    for (uint32_t i = 0; i < n; i++) { /* everything checked before anything is queued */
        const sf_param_change *c = &changes[i];
        int err = check_param(e, c->scope, c->index, c->param, c->sub, c->value);
        if (err) return err;
        if (!(c->ramp_ms >= 0.0f && c->ramp_ms <= (float)SF_RAMP_MAX_MS)) return SF_ERANGE;
    }
    sf_queue *q = e->queue;
    uint32_t need = n ? n : 1u;
    if (queue_free(q) < need) {
        atomic_fetch_add_explicit(&e->dropped, need, memory_order_relaxed);
        return SF_EQUEUE_FULL;
    }
    uint_fast32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (!n) {
        q->slots[head] = (sf_msg){.kind = SF_MSG_TXN, .txn = txn_id,
                                  .txn_flags = SF_TXN_FIRST | SF_TXN_LAST};
        head = (head + 1u) & (SF_QUEUE_CAP - 1u);
    }
    for (uint32_t i = 0; i < n; i++) {
        const sf_param_change *c = &changes[i];
        q->slots[head] = (sf_msg){.kind = SF_MSG_PARAM, .scope = c->scope, .index = c->index,
                                  .param = c->param, .sub = c->sub, .value = c->value,
                                  .ramp_ms = c->ramp_ms, .txn = txn_id,
                                  .txn_flags = (i == 0 ? SF_TXN_FIRST : 0) |
                                               (i == n - 1u ? SF_TXN_LAST : 0)};
        head = (head + 1u) & (SF_QUEUE_CAP - 1u);
    }
    /* One release store publishes the whole batch: the consumer, which reads
     * head once per block, sees all of it or none. */
    atomic_store_explicit(&q->head, head, memory_order_release);
    return SF_OK;
}

int sf_txn_read(sf_engine *e, sf_txn_status *out) {
    if (!e || !out) return SF_EINVAL;
    for (int tries = 0; tries < 10000; tries++) { /* the writer holds it for nanoseconds */
        unsigned a = atomic_load_explicit(&e->txn_seq, memory_order_acquire);
        if (a & 1u) continue;
        sf_txn_status s = {
            .txn_id = atomic_load_explicit(&e->txn_id, memory_order_relaxed),
            .first_frame = atomic_load_explicit(&e->txn_first, memory_order_relaxed),
            .last_frame = atomic_load_explicit(&e->txn_last, memory_order_relaxed),
            .applied = atomic_load_explicit(&e->txn_applied, memory_order_relaxed),
            .split = atomic_load_explicit(&e->txn_split, memory_order_relaxed),
            .block_ns = atomic_load_explicit(&e->txn_ns, memory_order_relaxed),
        };
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->txn_seq, memory_order_relaxed) == a) {
            *out = s;
            return SF_OK;
        }
    }
    return SF_EBUSY;
}

int sf_push_source_buffer(sf_engine *e, int ch, const float *data, uint32_t frames,
                          int n_src_channels) {
    if (ch < 0 || ch >= e->n_ch || !data || frames == 0) return SF_EINVAL;
    if (n_src_channels != 1 && n_src_channels != 2) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_SOURCE_BUFFER, .index = ch, .ptr = data, .frames = frames,
                .n_src = n_src_channels};
    return sf_push_msg(e, &m);
}

int sf_push_source_input(sf_engine *e, int ch, int first_input, int stereo) {
    if (ch < 0 || ch >= e->n_ch || first_input < 0) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_SOURCE_INPUT, .index = ch, .sub = first_input,
                .n_src = stereo ? 2 : 1};
    return sf_push_msg(e, &m);
}

int sf_push_source_none(sf_engine *e, int ch) {
    if (ch < 0 || ch >= e->n_ch) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_SOURCE_NONE, .index = ch};
    return sf_push_msg(e, &m);
}

int sf_push_rewind(sf_engine *e) {
    sf_msg m = {.kind = SF_MSG_REWIND};
    return sf_push_msg(e, &m);
}

int sf_push_capture(sf_engine *e, float *buf, uint32_t frames) {
    if (!buf && frames) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_CAPTURE, .ptr = buf, .frames = frames};
    return sf_push_msg(e, &m);
}

int sf_push_probe(sf_engine *e, uint32_t id) {
    sf_msg m = {.kind = SF_MSG_PROBE, .frames = id};
    return sf_push_msg(e, &m);
}

uint32_t sf_probe_read(sf_engine *e, uint64_t *applied_ns) {
    uint32_t id = atomic_load_explicit(&e->probe_id, memory_order_acquire);
    if (applied_ns) *applied_ns = atomic_load_explicit(&e->probe_ns, memory_order_relaxed);
    return id;
}

int sf_push_reset_meters(sf_engine *e) {
    sf_msg m = {.kind = SF_MSG_RESET_METERS};
    return sf_push_msg(e, &m);
}

/* ---------------- consumer side ---------------- */

float sf_master_target(const sf_engine *e) {
    return sf_db_to_lin(e->master_db) * sf_db_to_lin(e->master_trim_db);
}

static void apply_param(sf_engine *e, const sf_msg *m) {
    float v = m->value;
    if (m->scope == SF_SCOPE_MASTER) {
        if (m->param == SF_P_REF_ON) {
            e->ref.on = v >= 0.5f;
            return;
        }
        if (m->param == SF_P_REF_GAIN) {
            float g = v < SF_REF_GAIN_MIN_DB ? SF_REF_GAIN_MIN_DB : v;
            e->ref.gain_db = g > SF_REF_GAIN_MAX_DB ? SF_REF_GAIN_MAX_DB : g;
            e->ref.gain.target = sf_db_to_lin(e->ref.gain_db);
            return;
        }
        if (m->param == SF_P_TRIM) {
            float t = v < SF_TRIM_MASTER_MIN_DB ? SF_TRIM_MASTER_MIN_DB : v;
            e->master_trim_db = t > SF_TRIM_MASTER_MAX_DB ? SF_TRIM_MASTER_MAX_DB : t;
        } else if (sf_ramp_start_master(e, v, m->ramp_ms)) {
            return; /* the ramp moves the fader from the next tick on */
        } else {
            e->master_db = v;
        }
        e->master_gain.target = sf_master_target(e);
        e->m_ramp_restep = 1;
        return;
    }
    if (m->scope == SF_SCOPE_BUS) {
        sf_bus *b = &e->bus[m->index];
        if (m->param == SF_P_FADER) {
            if (sf_ramp_start_bus(e, b, v, m->ramp_ms)) return;
            b->fader_db = v;
        } else {
            b->mute = v >= 0.5f;
        }
        b->gain.target = b->mute ? 0.0f : sf_db_to_lin(b->fader_db);
        b->ramp_restep = 1;
        return;
    }
    sf_channel *c = &e->ch[m->index];
    if (m->param == SF_P_FADER || m->param == SF_P_PAN || m->param == SF_P_SEND) {
        if (sf_ramp_start_ch(e, c, m->param, m->sub, v, m->ramp_ms)) return;
        /* a plain change replaces a ramp of the same parameter */
        sf_ramp_cancel_ch(e, c, m->param == SF_P_FADER ? SF_RAMP_FADER
                                : m->param == SF_P_PAN ? SF_RAMP_PAN
                                                       : SF_RAMP_SEND(m->sub));
    }
    int flag = v >= 0.5f;
    switch (m->param) {
        case SF_P_TRIM: c->trim_db = v; break;
        case SF_P_PHASE: c->phase = flag; break;
        case SF_P_HPF_ON: c->hpf_on = flag; break;
        case SF_P_HPF_FREQ: c->hpf_freq = v; break;
        case SF_P_EQ_ON: c->eq_on = flag; break;
        case SF_P_EQ_FREQ: c->eq_freq[m->sub] = v; break;
        case SF_P_EQ_GAIN: c->eq_gain[m->sub] = v; break;
        case SF_P_EQ_Q: c->eq_q[m->sub] = v; break;
        case SF_P_COMP_ON: c->comp_on = flag; break;
        case SF_P_COMP_THRESHOLD: c->comp_thr = v; break;
        case SF_P_COMP_RATIO: c->comp_ratio = v; break;
        case SF_P_COMP_KNEE: c->comp_knee = v; break;
        case SF_P_COMP_ATTACK: c->comp_attack = v; break;
        case SF_P_COMP_RELEASE: c->comp_release = v; break;
        case SF_P_COMP_MAKEUP: c->comp_makeup = v; break;
        case SF_P_COMP_KEY: c->comp_key = (int)v; break;
        case SF_P_FADER: c->fader_db = v; break;
        case SF_P_PAN: c->pan = v; break;
        case SF_P_MUTE: c->mute = flag; break;
        case SF_P_SOLO: c->solo = flag; break;
        case SF_P_SEND: c->send_db[m->sub] = v; break;
        case SF_P_SEND_PRE: c->send_pre[m->sub] = (uint8_t)flag; break;
        default: return;
    }
    switch (m->param) {
        case SF_P_TRIM: case SF_P_PHASE: case SF_P_FADER: case SF_P_PAN: case SF_P_MUTE:
        case SF_P_SOLO: case SF_P_SEND: case SF_P_SEND_PRE:
            c->dirty |= SF_DIRTY_GAINS;
            c->ramp_restep = 1; /* matters only while the channel ramps */
            break;
        default: c->dirty = SF_DIRTY_ALL;
    }
    if (m->param == SF_P_SOLO || m->param == SF_P_COMP_KEY) e->any_solo = -1; /* recount */
}

/* A transaction's first and last messages bracket it: both must be drained
 * by the same block, which the single head store in sf_push_params
 * guarantees; recording where each landed proves it. */
/* When the current block began (CLOCK_MONOTONIC ns), read at most once per
 * block and only by blocks that carry a probe or end a transaction (vDSO, no
 * system call). */
static uint64_t block_clock(sf_engine *e) {
    if (!e->block_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        e->block_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    return e->block_ns;
}

static void txn_mark(sf_engine *e, const sf_msg *m) {
    if (m->txn_flags & SF_TXN_FIRST) {
        e->txn_open = m->txn;
        e->txn_is_open = 1;
        e->txn_open_frame = e->block_frame;
    }
    if (!(m->txn_flags & SF_TXN_LAST)) return;
    int whole = e->txn_is_open && e->txn_open == m->txn && e->txn_open_frame == e->block_frame;
    uint64_t first = e->txn_is_open && e->txn_open == m->txn ? e->txn_open_frame : UINT64_MAX;
    e->txn_is_open = 0;
    unsigned seq = atomic_load_explicit(&e->txn_seq, memory_order_relaxed);
    atomic_store_explicit(&e->txn_seq, seq + 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->txn_id, m->txn, memory_order_relaxed);
    atomic_store_explicit(&e->txn_first, first, memory_order_relaxed);
    atomic_store_explicit(&e->txn_last, e->block_frame, memory_order_relaxed);
    atomic_store_explicit(&e->txn_ns, block_clock(e), memory_order_relaxed);
    atomic_store_explicit(&e->txn_applied,
                          atomic_load_explicit(&e->txn_applied, memory_order_relaxed) + 1u,
                          memory_order_relaxed);
    if (!whole)
        atomic_store_explicit(&e->txn_split,
                              atomic_load_explicit(&e->txn_split, memory_order_relaxed) + 1u,
                              memory_order_relaxed);
    atomic_store_explicit(&e->txn_seq, seq + 2u, memory_order_release);
}

static void apply_msg(sf_engine *e, const sf_msg *m) {
    sf_channel *c;
    switch (m->kind) {
        case SF_MSG_PARAM: apply_param(e, m); break;
        case SF_MSG_TXN: break;
        case SF_MSG_SOURCE_BUFFER:
            c = &e->ch[m->index];
            c->src_kind = SF_SRC_BUFFER;
            c->src_data = m->ptr;
            c->src_frames = m->frames;
            c->src_nch = m->n_src;
            c->src_cur = (uint32_t)(e->src_pos % m->frames); /* buffers share one timeline */
            c->lanes = m->n_src;
            c->dirty = SF_DIRTY_ALL; /* pan law and filter lanes differ for mono/stereo */
            break;
        case SF_MSG_SOURCE_INPUT:
            c = &e->ch[m->index];
            c->src_kind = SF_SRC_INPUT;
            c->src_input = m->sub;
            c->lanes = m->n_src;
            c->dirty = SF_DIRTY_ALL;
            break;
        case SF_MSG_SOURCE_NONE:
            c = &e->ch[m->index];
            c->src_kind = SF_SRC_NONE;
            c->src_data = NULL;
            break;
        case SF_MSG_REF_BUFFER:
            e->ref.kind = SF_SRC_BUFFER;
            e->ref.data = m->ptr;
            e->ref.frames = m->frames;
            e->ref.nch = m->n_src;
            e->ref.cur = (uint32_t)(e->src_pos % m->frames); /* the sources' timeline */
            sf_loudness_reset(&e->ref.loud); /* a new reference: its own loudness */
            e->ref.peak[0] = e->ref.peak[1] = 0.0f;
            break;
        case SF_MSG_REF_INPUT:
            e->ref.kind = SF_SRC_INPUT;
            e->ref.data = NULL;
            e->ref.input = m->sub;
            e->ref.stereo = m->n_src == 2;
            sf_loudness_reset(&e->ref.loud);
            e->ref.peak[0] = e->ref.peak[1] = 0.0f;
            break;
        case SF_MSG_REF_NONE:
            e->ref.kind = SF_SRC_NONE;
            e->ref.data = NULL;
            break;
        case SF_MSG_CHMETER: sf_chmeter_switch(e, m->index, m->sub); break;
        case SF_MSG_REWIND:
            e->ref.cur = 0;
            e->src_pos = 0;
            for (int i = 0; i < e->n_ch; i++) e->ch[i].src_cur = 0;
            break;
        case SF_MSG_CAPTURE:
            e->cap_buf = (float *)m->ptr;
            e->cap_len = m->frames;
            atomic_store_explicit(&e->cap_pos, 0, memory_order_release);
            break;
        case SF_MSG_PROBE:
            atomic_store_explicit(&e->probe_ns, block_clock(e), memory_order_relaxed);
            atomic_store_explicit(&e->probe_id, m->frames, memory_order_release);
            break;
        case SF_MSG_RESET_METERS:
            sf_loudness_reset(&e->loud);
            e->gb_origin = e->now; /* its 10 ms steps count from here now */
            sf_truepeak_reset(&e->tp[0]);
            sf_truepeak_reset(&e->tp[1]);
            e->m_tp_max[0] = e->m_tp_max[1] = 0.0f;
            e->m_peak[0] = e->m_peak[1] = 0.0f;
            sf_loudness_reset(&e->ref.loud);
            e->ref.peak[0] = e->ref.peak[1] = 0.0f;
            memset(e->ch_peak, 0, sizeof(float) * (size_t)e->n_ch);
            break;
        default: break;
    }
    if (m->txn_flags) txn_mark(e, m);
}

/* Drain everything queued so far: bounded by the queue's capacity. */
static void drain(sf_engine *e) {
    sf_queue *q = e->queue;
    uint_fast32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint_fast32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    e->block_ns = 0;
    e->block_frame = e->now;
    int changed = tail != head; /* only messages (and the recount) dirty channels */
    while (tail != head) {
        apply_msg(e, &q->slots[tail]);
        tail = (tail + 1u) & (SF_QUEUE_CAP - 1u);
    }
    atomic_store_explicit(&q->tail, tail, memory_order_release);

    if (e->any_solo < 0) {
        /* Solo or a sidechain key changed: recount once, then every
         * channel's mute gain and key flag follow (bounded by n_ch). */
        int solo = 0;
        for (int i = 0; i < e->n_ch; i++) {
            solo |= e->ch[i].solo;
            e->ch[i].is_key = 0;
        }
        for (int i = 0; i < e->n_ch; i++) {
            int k = e->ch[i].comp_key;
            if (k >= 0 && k < e->n_ch) e->ch[k].is_key = 1;
            e->ch[i].dirty |= SF_DIRTY_GAINS;
        }
        e->any_solo = solo;
        changed = 1;
    }
    if (changed)
        for (int i = 0; i < e->n_ch; i++)
            if (e->ch[i].dirty) sf_channel_update(e, &e->ch[i]);
    sf_lanes_commit(e); /* lane layout and coefficients follow the channels */
}

void sf_settle(sf_engine *e) {
    drain(e);
    sf_ramp_settle(e); /* ramps jump to their ends */
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        c->in_gain.cur = c->in_gain.target;
        c->out_gain[0].cur = c->out_gain[0].target;
        c->out_gain[1].cur = c->out_gain[1].target;
        for (int b = 0; b < e->n_bus; b++) {
            c->send_gain[b][0].cur = c->send_gain[b][0].target;
            c->send_gain[b][1].cur = c->send_gain[b][1].target;
            c->send_gain[b][0].step = c->send_gain[b][1].step = 0.0f;
        }
        c->out_gain[0].step = c->out_gain[1].step = 0.0f;
    }
    for (int b = 0; b < e->n_bus; b++) {
        e->bus[b].gain.cur = e->bus[b].gain.target;
        e->bus[b].gain.step = 0.0f;
    }
    e->master_gain.cur = e->master_gain.target;
    e->master_gain.step = 0.0f;
    sf_reference_settle(e);
    sf_lanes_settle(e);
}

/* ---------------- denormals ---------------- */

typedef struct { unsigned long saved; } fp_mode;

/* Flush denormals to zero for the duration of a block: recursive filters
 * decaying towards silence otherwise fall into denormals that cost 100x. The
 * caller's mode is restored so offline renders don't change numpy's maths. */
static fp_mode fp_enter(void) {
    fp_mode m = {0};
#if defined(__x86_64__) || defined(__i386__)
    m.saved = _mm_getcsr();
    _mm_setcsr((unsigned)m.saved | 0x8040u); /* FTZ | DAZ */
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    m.saved = fpcr;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1ul << 24))); /* FZ */
#endif
    return m;
}

static void fp_leave(fp_mode m) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr((unsigned)m.saved);
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" : : "r"(m.saved));
#else
    (void)m;
#endif
}

/* ---------------- the block function ---------------- */

static void publish(sf_engine *e) {
    sf_snapshot *s = &e->snap;
    unsigned seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    sf_master_meters *m = &s->master;
    for (int k = 0; k < 2; k++) {
        m->peak[k] = e->m_peak[k];
        m->rms[k] = sqrtf(e->m_ms[k]);
        m->true_peak[k] = e->m_tp[k];
        m->true_peak_max[k] = e->m_tp_max[k];
    }
    m->momentary_lufs = sf_loudness_momentary(&e->loud);
    m->short_term_lufs = sf_loudness_short_term(&e->loud);
    m->integrated_lufs = sf_loudness_integrated(&e->loud);
    m->loudness_range_lu = sf_loudness_range(&e->loud);
    m->first_clip_frame = e->ov_clipped ? e->ov_first_clip : UINT64_MAX;
    m->last_clip_frame = e->ov_clipped ? e->ov_last_clip : UINT64_MAX;
    m->tp_over_steps = e->ov_tp_steps;
    m->first_tp_over_frame = e->ov_first_tp;
    m->last_tp_over_frame = e->ov_last_tp;
    for (int b = 0; b < e->n_bus; b++) {
        m->bus_peak[b] = e->bus[b].peak;
        m->bus_rms[b] = sqrtf(e->bus[b].ms);
    }
    memcpy(s->ch_peak, e->ch_peak, sizeof(float) * (size_t)e->n_ch);
    for (int i = 0; i < e->n_ch; i++) s->ch_rms[i] = sqrtf(e->ch_ms[i]);
    sf_reference_publish(e, &s->ref);
    atomic_store_explicit(&s->seq, seq + 2u, memory_order_release);
    sf_chmeter_publish(e); /* its own seqlock; only while a channel is metered */
}

/* One piece of a block: the DSP, the output and the capture. */
/* Where run_piece writes: interleaved (out, out_channels: master on 0/1, the
 * rest zeroed, as sf_process documents) or routed (sf_process_routed). */
typedef struct out_route {
    float *const *out;
    const int *src;
    int n_out;
    int stride;
} out_route;

/* One output of a routed block: the master side or bus side `src` names. */
static const float *route_source(const sf_engine *e, int src) {
    if (src == SF_OUT_MASTER_L || src == SF_OUT_MASTER_R)
        return e->mix_buf + (size_t)src * (size_t)e->max_block;
    int b = (src - SF_OUT_BUS) / 2;
    if (src < SF_OUT_BUS || b >= e->n_bus) return NULL;
    return e->bus_buf + ((size_t)b * 2u + (size_t)((src - SF_OUT_BUS) & 1)) * (size_t)e->max_block;
}

static void run_piece(sf_engine *e, const sf_input *in, float *out, int out_channels,
                      const out_route *route, int done, int n) {
    sf_input piece, *pin = NULL;
    if (in) {
        piece = *in;
        piece.off = done;
        pin = &piece;
    }
    sf_chmeter_run(e, pin, n); /* sources before the DSP moves them on */
    sf_process_block(e, pin, n);
    sf_gate_collect(e); /* the gating blocks it completed, for A/B */
    sf_reference_run(e, pin, n); /* after the master meters */
    const float *L = e->mix_buf, *R = e->mix_buf + e->max_block;
    if (route) {
        for (int c = 0; c < route->n_out; c++) {
            if (!route->out[c]) continue;
            float *o = route->out[c] + (size_t)done * (size_t)route->stride;
            const float *s = route_source(e, route->src[c]);
            if (route->stride == 1) {
                if (s) memcpy(o, s, sizeof(float) * (size_t)n);
                else memset(o, 0, sizeof(float) * (size_t)n);
            } else {
                for (int k = 0; k < n; k++) o[(size_t)k * (size_t)route->stride] = s ? s[k] : 0.0f;
            }
        }
    } else if (out && out_channels > 0) {
        float *o = out + (size_t)done * (size_t)out_channels;
        if (out_channels == 1) {
            for (int k = 0; k < n; k++) o[k] = 0.5f * (L[k] + R[k]);
        } else {
            for (int k = 0; k < n; k++) {
                float *f = o + (size_t)k * (size_t)out_channels;
                f[0] = L[k];
                f[1] = R[k];
                for (int c = 2; c < out_channels; c++) f[c] = 0.0f;
            }
        }
    }
    if (e->cap_buf) {
        uint32_t pos = atomic_load_explicit(&e->cap_pos, memory_order_relaxed);
        for (int k = 0; k < n && pos < e->cap_len; k++, pos++) {
            e->cap_buf[2u * pos] = L[k];
            e->cap_buf[2u * pos + 1u] = R[k];
        }
        atomic_store_explicit(&e->cap_pos, pos, memory_order_release);
    }
    atomic_fetch_add_explicit(&e->frames, (uint64_t)n, memory_order_relaxed);
    e->now += (uint64_t)n;
}

static int process(sf_engine *e, const sf_input *in, float *out, int out_channels,
                   const out_route *route, int nframes) {
    if (!e || nframes < 0 || out_channels < 0) return SF_EINVAL;
    fp_mode mode = fp_enter();
    int done = 0;
    while (done < nframes) { /* bounded: nframes / max_block iterations */
        int n = nframes - done;
        if (n > e->max_block) n = e->max_block;
        drain(e);
        int end = done + n;
        while (done < end) {
            /* While a ramp runs, pieces end on the ramp grid (absolute frame
             * multiples of SF_RAMP_GRID), where its next values are set:
             * the same points whatever the block size. Bounded: at most
             * n / SF_RAMP_GRID + 1 pieces. */
            int m = end - done;
            if (sf_ramp_active(e)) {
                sf_ramp_tick(e);
                int to_grid = SF_RAMP_GRID_FRAMES - (int)(e->now % SF_RAMP_GRID_FRAMES);
                if (m > to_grid) m = to_grid;
            }
            run_piece(e, in, out, out_channels, route, done, m);
            done += m;
        }
        publish(e);
    }
    fp_leave(mode);
    return SF_OK;
}

/* Interleaved device inputs as the core reads them (NULL: none). */
static const sf_input *interleaved(sf_input *v, const float *in, int in_channels) {
    if (!in || in_channels <= 0) return NULL;
    *v = (sf_input){in, NULL, in_channels, 0};
    return v;
}

int sf_process(sf_engine *e, const float *in, int in_channels, float *out, int out_channels,
               int nframes) {
    if (in_channels < 0) return SF_EINVAL;
    sf_input v;
    return process(e, interleaved(&v, in, in_channels), out, out_channels, NULL, nframes);
}

int sf_process_routed(sf_engine *e, const float *in, int in_channels, float *const *out,
                      const int *out_src, int n_out, int out_stride, int nframes) {
    if (in_channels < 0 || n_out < 0 || (n_out > 0 && (!out || !out_src)) || out_stride < 1)
        return SF_EINVAL;
    out_route route = {out, out_src, n_out, out_stride};
    sf_input v;
    return process(e, interleaved(&v, in, in_channels), NULL, 0, &route, nframes);
}

int sf_process_planar(sf_engine *e, const float *const *in, int n_in, float *const *out,
                      const int *out_src, int n_out, int out_stride, int nframes) {
    if (n_in < 0 || (n_in > 0 && !in) || n_out < 0 || (n_out > 0 && (!out || !out_src)) ||
        out_stride < 1)
        return SF_EINVAL;
    out_route route = {out, out_src, n_out, out_stride};
    sf_input v = {NULL, in, n_in, 0};
    return process(e, n_in > 0 ? &v : NULL, NULL, 0, &route, nframes);
}

int sf_read_meters(sf_engine *e, float *ch_peak, float *ch_rms, sf_master_meters *m) {
    sf_snapshot *s = &e->snap;
    /* Bounded retries: the writer holds the odd state for microseconds. */
    for (int tries = 0; tries < 10000; tries++) {
        unsigned a = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (a & 1u) continue;
        if (m) *m = s->master;
        if (ch_peak) memcpy(ch_peak, s->ch_peak, sizeof(float) * (size_t)e->n_ch);
        if (ch_rms) memcpy(ch_rms, s->ch_rms, sizeof(float) * (size_t)e->n_ch);
        atomic_thread_fence(memory_order_acquire);
        unsigned b = atomic_load_explicit(&s->seq, memory_order_relaxed);
        if (a == b) {
            if (m) {
                m->clip_count = atomic_load(&e->clip_count);
                m->nonfinite_count = atomic_load(&e->nonfinite_count);
                m->state_resets = atomic_load(&e->state_resets);
                m->xruns = atomic_load(&e->xruns);
                m->frames = atomic_load(&e->frames);
                m->dropped_params = atomic_load(&e->dropped);
                m->overflow_count = atomic_load(&e->overflow_count);
            }
            return SF_OK;
        }
    }
    return SF_EBUSY;
}

uint32_t sf_capture_frames(sf_engine *e) {
    return atomic_load_explicit(&e->cap_pos, memory_order_acquire);
}

void sf_count_xrun(sf_engine *e) { atomic_fetch_add_explicit(&e->xruns, 1, memory_order_relaxed); }
