/*
 * The per-block DSP: channel strips, aux buses, master and its meters.
 *
 * A block runs in two passes over the channels so that a compressor can be
 * keyed from any other channel (sidechain), whatever their order:
 *   pass 1: source -> sanitise -> trim/polarity -> high-pass + EQ -> detector
 *   pass 2: compressor (detector of self or key) -> meter -> fader/mute/pan
 *           into the master, sends into the aux buses
 * then the buses into the master, master fader, clip count and meters.
 *
 * Everything here is real-time safe: no allocation, locks or system calls;
 * every loop is bounded by the block length, the channel count or a
 * compile-time constant.
 */
#include <math.h>
#include <string.h>

#include "sf_internal.h"

#ifndef M_SQRT2
#define M_SQRT2 1.41421356237309504880
#define M_SQRT1_2 0.70710678118654752440
#endif
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define RESTRICT restrict

/* ---------------- parameter -> derived state (control rate) ---------------- */

void sf_channel_defaults(sf_channel *c, int n_bus) {
    memset(c, 0, sizeof *c);
    c->lanes = 1;
    c->trim_db = 0.0f;
    c->hpf_freq = 80.0f;
    static const float f[SF_EQ_BANDS] = {100.0f, 500.0f, 2500.0f, 8000.0f};
    for (int b = 0; b < SF_EQ_BANDS; b++) {
        c->eq_freq[b] = f[b];
        c->eq_gain[b] = 0.0f;
        c->eq_q[b] = 0.707f;
    }
    c->comp_thr = -18.0f;
    c->comp_ratio = 4.0f;
    c->comp_knee = 6.0f;
    c->comp_attack = 10.0f;
    c->comp_release = 120.0f;
    c->comp_makeup = 0.0f;
    c->comp_key = -1;
    c->fader_db = 0.0f; /* unity, as the parameter vocabulary says (params.py) */
    c->pan = 0.0f;
    for (int b = 0; b < n_bus && b < SF_MAX_BUSES; b++) c->send_db[b] = SF_DB_OFF;
    c->makeup_lin = 1.0f;
    c->dirty = 1;
}

/* Constant-power pan: mono sources -3 dB at centre (cos/sin law); stereo
 * sources use the same law as a balance scaled so centre is unity. */
static void pan_gains(float pan, int lanes, float *gl, float *gr) {
    if (!(pan >= -1.0f)) pan = -1.0f;
    if (pan > 1.0f) pan = 1.0f;
    double th = (pan + 1.0) * M_PI / 4.0;
    double l = cos(th), r = sin(th);
    if (lanes == 2) {
        l *= M_SQRT2;
        r *= M_SQRT2;
        if (l > 1.0) l = 1.0;
        if (r > 1.0) r = 1.0;
    }
    *gl = (float)l;
    *gr = (float)r;
}

void sf_channel_update(sf_engine *e, sf_channel *c) {
    c->dirty = 0;
    /* filters: the active stages in signal order */
    int ns = 0;
    if (c->hpf_on) sf_biquad_highpass(&c->stage[ns++], e->rate, c->hpf_freq, M_SQRT1_2);
    if (c->eq_on) {
        for (int b = 0; b < SF_EQ_BANDS; b++) {
            sf_biquad *q = &c->stage[ns++];
            if (b == 0) sf_biquad_lowshelf(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
            else if (b == SF_EQ_BANDS - 1)
                sf_biquad_highshelf(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
            else sf_biquad_peaking(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
        }
    }
    if (ns != c->n_stages) {
        /* The stage list changed shape: states no longer belong to the same
         * filters, start them from rest rather than from a mismatched past. */
        memset(c->z, 0, sizeof c->z);
        c->n_stages = ns;
    }
    /* compressor time constants (one-pole, per sample) */
    double att = c->comp_attack > 0.01f ? c->comp_attack : 0.01;
    double rel = c->comp_release > 0.1f ? c->comp_release : 0.1;
    c->att_coef = (float)exp(-1.0 / (att * 0.001 * e->rate));
    c->rel_coef = (float)exp(-1.0 / (rel * 0.001 * e->rate));
    c->makeup_lin = c->comp_on ? sf_db_to_lin(c->comp_makeup) : 1.0f;
    if (!c->comp_on) c->comp_gr_db = 0.0f;

    /* gains */
    float in = sf_db_to_lin(c->trim_db);
    c->in_gain.target = c->phase ? -in : in;
    int muted = c->mute || (e->any_solo > 0 && !c->solo);
    float mg = muted ? 0.0f : 1.0f;
    float gl, gr;
    pan_gains(c->pan, c->lanes, &gl, &gr);
    float fader = sf_db_to_lin(c->fader_db);
    c->out_gain[0].target = fader * mg * gl;
    c->out_gain[1].target = fader * mg * gr;
    for (int b = 0; b < e->n_bus; b++) {
        float s = sf_db_to_lin(c->send_db[b]) * mg * (c->send_pre[b] ? 1.0f : fader);
        c->send_gain[b][0].target = s * gl;
        c->send_gain[b][1].target = s * gr;
    }
}

/* ---------------- sample-rate kernels ---------------- */

/* y[k] *= g, gliding g towards its target; returns with the fast path
 * (constant gain) as soon as the glide has snapped. */
static void gain_inplace(sf_gain *g, float coef, float *RESTRICT x, int n) {
    int k = 0;
    float cur = g->cur, t = g->target;
    for (; k < n && cur != t; k++) {
        float next = cur + (t - cur) * coef;
        /* Snap when close, or when float precision stalls the glide short of
         * its target (the step rounds to nothing near large gains). */
        cur = (next == cur || fabsf(t - next) < SF_SNAP) ? t : next;
        x[k] *= cur;
    }
    g->cur = cur;
    if (k < n && cur != 1.0f)
        for (; k < n; k++) x[k] *= cur;
}

/* The same glide applied to both sides of a stereo signal (b may be NULL). */
static void gain_inplace_lanes(sf_gain *g, float coef, float *a, float *b, int n) {
    sf_gain start = *g;
    gain_inplace(g, coef, a, n);
    if (b) gain_inplace(&start, coef, b, n);
}

/* acc[k] += g * x[k], with the same glide/snap/fast-path behaviour. A gain
 * that is and stays 0 costs nothing. */
static void gain_accumulate(sf_gain *g, float coef, const float *RESTRICT x, float *RESTRICT acc,
                            int n) {
    int k = 0;
    float cur = g->cur, t = g->target;
    for (; k < n && cur != t; k++) {
        float next = cur + (t - cur) * coef;
        /* Snap when close, or when float precision stalls the glide short of
         * its target (the step rounds to nothing near large gains). */
        cur = (next == cur || fabsf(t - next) < SF_SNAP) ? t : next;
        acc[k] += cur * x[k];
    }
    g->cur = cur;
    if (k < n && cur != 0.0f)
        for (; k < n; k++) acc[k] += cur * x[k];
}

/* Up to SF_MAX_STAGES biquads run per sample in one loop so the out-of-order
 * core overlaps their recurrences; NS is a compile-time constant at each call
 * site, so the states stay in registers. */
static inline __attribute__((always_inline)) void chain(const sf_biquad *RESTRICT st,
                                                         float (*RESTRICT z)[2],
                                                         float *RESTRICT x, int n, const int NS) {
    float s0[SF_MAX_STAGES], s1[SF_MAX_STAGES];
    for (int s = 0; s < NS; s++) {
        s0[s] = z[s][0];
        s1[s] = z[s][1];
    }
    for (int k = 0; k < n; k++) {
        float v = x[k];
        for (int s = 0; s < NS; s++) {
            float y = st[s].b0 * v + s0[s];
            s0[s] = st[s].b1 * v - st[s].a1 * y + s1[s];
            s1[s] = st[s].b2 * v - st[s].a2 * y;
            v = y;
        }
        x[k] = v;
    }
    for (int s = 0; s < NS; s++) {
        z[s][0] = s0[s];
        z[s][1] = s1[s];
    }
}

static void run_chain(sf_channel *c, int lane, float *x, int n) {
    switch (c->n_stages) {
        case 1: chain(c->stage, c->z[lane], x, n, 1); break;
        case 2: chain(c->stage, c->z[lane], x, n, 2); break;
        case 3: chain(c->stage, c->z[lane], x, n, 3); break;
        case 4: chain(c->stage, c->z[lane], x, n, 4); break;
        case 5: chain(c->stage, c->z[lane], x, n, 5); break;
        default: break;
    }
}

/* Replace non-finite samples by 0 and count them. The common case (all
 * finite) is one vectorisable pass over the exponent bits. */
static uint64_t sanitise(float *x, int n) {
    uint32_t bad = 0;
    for (int k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, &x[k], 4);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    if (!bad) return 0;
    uint64_t count = 0;
    for (int k = 0; k < n; k++) {
        if (!isfinite(x[k])) {
            x[k] = 0.0f;
            count++;
        }
    }
    return count;
}

/* Fast log2/exp2 for the compressor's per-sample gain computer: ~1e-5 dB
 * error, a few multiply-adds instead of a libm call. */
static inline float fast_log2(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    float e = (float)((int)((u >> 23) & 0xff) - 127);
    u = (u & 0x007fffffu) | 0x3f800000u; /* mantissa in [1,2) */
    float m;
    memcpy(&m, &u, 4);
    float t = (m - 1.0f) / (m + 1.0f); /* log2(m) = 2/ln2 * atanh(t) */
    float t2 = t * t;
    float p = t * (2.8853900818f + t2 * (0.9617966939f + t2 * (0.5770780164f +
                                                                t2 * 0.4121985232f)));
    return e + p;
}

static inline float fast_exp2(float x) {
    if (x < -126.0f) return 0.0f;
    if (x > 126.0f) x = 126.0f;
    float fi = floorf(x);
    float f = x - fi;
    /* 2^f on [0,1): degree-6 minimax-like polynomial (Taylor of e^(f ln2)
     * with refitted tail), relative error < 2e-7. */
    float p = 1.0f + f * (0.6931471806f +
                          f * (0.2402265070f +
                               f * (0.0555041087f +
                                    f * (0.0096181291f + f * (0.0013333558f + f * 0.0001540353f)))));
    int32_t i = (int32_t)fi + 127;
    uint32_t u = (uint32_t)i << 23;
    float s;
    memcpy(&s, &u, 4);
    return p * s;
}

#define DB_PER_LOG2 6.0205999133f /* 20*log10(2) */

/* Feed-forward compressor, log-domain gain computer with a quadratic soft
 * knee and branching attack/release smoothing of the gain reduction
 * (Giannoulis, Massberg & Reiss, JAES 2012). Writes the linear gain for each
 * sample into g[]. */
static void compressor_gain(sf_channel *c, const float *RESTRICT det, float *RESTRICT g, int n) {
    const float T = c->comp_thr, W = c->comp_knee;
    const float slope = 1.0f / (c->comp_ratio >= 1.0f ? c->comp_ratio : 1.0f) - 1.0f; /* <= 0 */
    const float att = c->att_coef, rel = c->rel_coef;
    const float mk = c->makeup_lin;
    float gr = c->comp_gr_db; /* smoothed reduction, dB >= 0 */
    for (int k = 0; k < n; k++) {
        float lvl = det[k] > 1e-9f ? fast_log2(det[k]) * DB_PER_LOG2 : -180.0f;
        float over = lvl - T;
        float red; /* static reduction in dB (>= 0) */
        if (2.0f * over < -W) red = 0.0f;
        else if (2.0f * fabsf(over) <= W) {
            float d = over + 0.5f * W;
            red = -slope * d * d / (2.0f * W);
        } else red = -slope * over;
        float a = red > gr ? att : rel;
        gr = red + a * (gr - red);
        g[k] = mk * fast_exp2(-gr * (1.0f / DB_PER_LOG2));
    }
    c->comp_gr_db = isfinite(gr) ? gr : 0.0f;
}

/* Block peak and mean square of a signal in one pass. */
static void block_stats(const float *RESTRICT x, int n, float *peak, float *sumsq) {
    float p = 0.0f, s = 0.0f;
    for (int k = 0; k < n; k++) {
        float a = fabsf(x[k]);
        p = a > p ? a : p;
        s += x[k] * x[k];
    }
    *peak = p;
    *sumsq = s;
}

/* Peak hold with fall-back and a block-wise exponential mean square: cheap
 * and independent of how often the control side reads them. */
static void meter_update(sf_engine *e, float *peak, float *ms, float bpeak, float bsumsq, int n) {
    float fall = powf(e->meter_fall, (float)n);
    float held = *peak * fall;
    *peak = bpeak > held ? bpeak : held;
    float a = powf(e->ms_coef, (float)n);
    *ms = a * *ms + (1.0f - a) * (bsumsq / (float)n);
    if (!isfinite(*ms)) *ms = 0.0f;
    if (!isfinite(*peak)) *peak = 0.0f;
}

/* ---------------- sources ---------------- */

static void fetch_source(sf_engine *e, sf_channel *c, const float *in, int in_ch, float *L,
                         float *R, int n) {
    if (c->src_kind == SF_SRC_BUFFER && c->src_data) {
        uint32_t len = c->src_frames;
        uint32_t pos = (uint32_t)(e->src_pos % len);
        const float *d = c->src_data;
        for (int k = 0; k < n; k++) {
            if (c->src_nch == 1) L[k] = d[pos];
            else {
                L[k] = d[2u * pos];
                R[k] = d[2u * pos + 1u];
            }
            if (++pos == len) pos = 0;
        }
    } else if (c->src_kind == SF_SRC_INPUT && in && c->src_input < in_ch) {
        int i0 = c->src_input;
        int i1 = (c->lanes == 2 && i0 + 1 < in_ch) ? i0 + 1 : i0;
        for (int k = 0; k < n; k++) {
            L[k] = in[(size_t)k * (size_t)in_ch + (size_t)i0];
            if (c->lanes == 2) R[k] = in[(size_t)k * (size_t)in_ch + (size_t)i1];
        }
    } else {
        memset(L, 0, sizeof(float) * (size_t)n);
        if (c->lanes == 2) memset(R, 0, sizeof(float) * (size_t)n);
    }
}

/* ---------------- the block ---------------- */

static int state_finite(const sf_channel *c) {
    float acc = c->comp_gr_db;
    for (int l = 0; l < c->lanes; l++)
        for (int s = 0; s < c->n_stages; s++) acc += c->z[l][s][0] + c->z[l][s][1];
    return isfinite(acc);
}

void sf_process_block(sf_engine *e, const float *in, int in_ch, int n) {
    const int mb = e->max_block;
    const float coef = e->smooth_coef;
    float *mixL = e->mix_buf, *mixR = e->mix_buf + mb;
    memset(mixL, 0, sizeof(float) * (size_t)n);
    memset(mixR, 0, sizeof(float) * (size_t)n);
    for (int b = 0; b < e->n_bus; b++)
        memset(e->bus_buf + (size_t)b * 2 * (size_t)mb, 0, sizeof(float) * 2 * (size_t)mb);

    uint64_t nonfinite = 0, resets = 0;

    /* pass 1: source, trim, filters, detector */
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        float *L = e->lane_buf + (size_t)i * 2 * (size_t)mb;
        float *R = L + mb;
        fetch_source(e, c, in, in_ch, L, R, n);
        nonfinite += sanitise(L, n);
        if (c->lanes == 2) nonfinite += sanitise(R, n);
        gain_inplace_lanes(&c->in_gain, coef, L, c->lanes == 2 ? R : NULL, n);
        for (int l = 0; l < c->lanes; l++) run_chain(c, l, l ? R : L, n);
        if (!state_finite(c)) {
            /* An unstable moment (absurd coefficients, overflow) must not
             * poison the channel forever: restart its filters from rest. */
            memset(c->z, 0, sizeof c->z);
            c->comp_gr_db = 0.0f;
            memset(L, 0, sizeof(float) * (size_t)n);
            memset(R, 0, sizeof(float) * (size_t)n);
            resets++;
        }
        if (c->comp_on || c->is_key) {
            float *d = e->det_buf + (size_t)i * (size_t)mb;
            if (c->lanes == 2)
                for (int k = 0; k < n; k++) {
                    float a = fabsf(L[k]), b = fabsf(R[k]);
                    d[k] = a > b ? a : b;
                }
            else
                for (int k = 0; k < n; k++) d[k] = fabsf(L[k]);
        }
    }

    /* pass 2: dynamics, meters, fader/pan into master and sends */
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        float *L = e->lane_buf + (size_t)i * 2 * (size_t)mb;
        float *R = L + mb;
        if (c->comp_on) {
            int key = (c->comp_key >= 0 && c->comp_key < e->n_ch) ? c->comp_key : i;
            compressor_gain(c, e->det_buf + (size_t)key * (size_t)mb, e->gain_buf, n);
            for (int l = 0; l < c->lanes; l++) {
                float *x = l ? R : L;
                for (int k = 0; k < n; k++) x[k] *= e->gain_buf[k];
            }
        }
        float bp, bs;
        block_stats(L, n, &bp, &bs);
        if (c->lanes == 2) {
            float rp, rs;
            block_stats(R, n, &rp, &rs);
            bp = rp > bp ? rp : bp;
            bs = 0.5f * (bs + rs);
        }
        meter_update(e, &c->peak, &c->ms, bp, bs, n);

        const float *xl = L, *xr = c->lanes == 2 ? R : L;
        gain_accumulate(&c->out_gain[0], coef, xl, mixL, n);
        gain_accumulate(&c->out_gain[1], coef, xr, mixR, n);
        for (int b = 0; b < e->n_bus; b++) {
            float *bl = e->bus_buf + (size_t)b * 2 * (size_t)mb;
            gain_accumulate(&c->send_gain[b][0], coef, xl, bl, n);
            gain_accumulate(&c->send_gain[b][1], coef, xr, bl + mb, n);
        }
    }

    /* buses into the master */
    for (int b = 0; b < e->n_bus; b++) {
        sf_bus *bus = &e->bus[b];
        float *bl = e->bus_buf + (size_t)b * 2 * (size_t)mb, *br = bl + mb;
        gain_inplace_lanes(&bus->gain, coef, bl, br, n);
        float lp, ls, rp, rs;
        block_stats(bl, n, &lp, &ls);
        block_stats(br, n, &rp, &rs);
        meter_update(e, &bus->peak, &bus->ms, lp > rp ? lp : rp, 0.5f * (ls + rs), n);
        for (int k = 0; k < n; k++) {
            mixL[k] += bl[k];
            mixR[k] += br[k];
        }
    }

    /* master */
    gain_inplace_lanes(&e->master_gain, coef, mixL, mixR, n);
    uint64_t clips = 0;
    for (int side = 0; side < 2; side++) {
        float *x = side ? mixR : mixL;
        for (int k = 0; k < n; k++) clips += fabsf(x[k]) > 1.0f;
        float p, s;
        block_stats(x, n, &p, &s);
        meter_update(e, &e->m_peak[side], &e->m_ms[side], p, s, n);
        float tp = sf_truepeak_block(&e->tp[side], x, n);
        float held = e->m_tp[side] * powf(e->meter_fall, (float)n);
        e->m_tp[side] = tp > held ? tp : held;
        if (tp > e->m_tp_max[side]) e->m_tp_max[side] = tp;
    }
    sf_loudness_process(&e->loud, mixL, mixR, n);

    e->src_pos += (uint64_t)n;
    if (clips) atomic_fetch_add_explicit(&e->clip_count, clips, memory_order_relaxed);
    if (nonfinite) atomic_fetch_add_explicit(&e->nonfinite_count, nonfinite, memory_order_relaxed);
    if (resets) atomic_fetch_add_explicit(&e->state_resets, resets, memory_order_relaxed);
}
