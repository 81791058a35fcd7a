/*
 * Channel strips at control rate: parameter values -> coefficients, gain
 * targets and compressor constants, and the block function's entry point.
 *
 * The sample-rate code is in kern_body.h, compiled once per instruction set
 * (the portable set at the end of this file, the AVX2 set in kern_avx2.c)
 * and picked once per process (pick_kernel). Per block and per channel it
 * runs:
 *   source -> sanitise -> trim/polarity -> high-pass + EQ -> detector
 *   -> compressor (detector of self or of a key channel: sidechain)
 *   -> meter -> fader/mute/pan into the master, sends into the aux buses
 * then the buses into the master, master fader, clip count and meters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lanes.h"

#ifndef M_SQRT2
#define M_SQRT2 1.41421356237309504880
#define M_SQRT1_2 0.70710678118654752440
#endif
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---------------- parameter -> derived state (control rate) ---------------- */

void sf_channel_defaults(sf_channel *c, int n_bus) {
    memset(c, 0, sizeof *c);
    c->lanes = 1;
    c->lane = -1; /* plain path until the first layout */
    c->lay_lanes = 1;
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
    c->dirty = SF_DIRTY_ALL;
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

static void identity(sf_biquad *b) {
    b->b0 = 1.0;
    b->b1 = b->b2 = b->a1 = b->a2 = 0.0;
}

static void update_dsp(sf_engine *e, sf_channel *c);
static void update_gains(sf_engine *e, sf_channel *c);

void sf_channel_update(sf_engine *e, sf_channel *c) {
    int stale = c->dirty;
    c->dirty = 0;
    if (stale & SF_DIRTY_DSP) update_dsp(e, c);
    update_gains(e, c);
}

/* Filters and compressor: the costly part, only when one of theirs changed. */
static void update_dsp(sf_engine *e, sf_channel *c) {
    /* filters: fixed slots, identity when off. An EQ band at exactly 0 dB
     * is off too (its cookbook filter is the identity, but running it would
     * still round): EQ on with every band flat passes the signal bit for bit.
     * A slot that turns on or off restarts from rest; the others keep their
     * state. */
    unsigned on = 0;
    if (c->hpf_on) {
        sf_biquad_highpass(&c->stage[0], e->rate, c->hpf_freq, M_SQRT1_2);
        on |= 1u;
    } else identity(&c->stage[0]);
    for (int b = 0; b < SF_EQ_BANDS; b++) {
        sf_biquad *q = &c->stage[1 + b];
        const int band_on = c->eq_on && c->eq_gain[b] != 0.0f;
        if (!band_on) identity(q);
        else if (b == 0) sf_biquad_lowshelf(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
        else if (b == SF_EQ_BANDS - 1)
            sf_biquad_highshelf(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
        else sf_biquad_peaking(q, e->rate, c->eq_freq[b], c->eq_q[b], c->eq_gain[b]);
        if (band_on) on |= 1u << (1 + b);
    }
    c->slot_reset |= (uint8_t)(on ^ c->slot_on);
    if (c->lanes != c->lay_lanes) c->slot_reset = (1u << SF_MAX_STAGES) - 1u;
    c->slot_on = (uint8_t)on;

    /* compressor: time constants (one-pole, per sample) and the static
     * curve in the form the kernels use, in log2 units (one unit is
     * 20*log10(2) = 6.02 dB, so the kernels never scale by dB): reduction
     * nslope * over above the knee, kq * (over + W/2)^2 inside it
     * (Giannoulis, Massberg & Reiss, JAES 2012). */
    const double db = 20.0 * log10(2.0);
    double att = c->comp_attack > 0.01f ? c->comp_attack : 0.01;
    double rel = c->comp_release > 0.1f ? c->comp_release : 0.1;
    c->att_coef = (float)exp(-1.0 / (att * 0.001 * e->rate));
    c->rel_coef = (float)exp(-1.0 / (rel * 0.001 * e->rate));
    double ratio = c->comp_ratio >= 1.0f ? c->comp_ratio : 1.0;
    double knee = (c->comp_knee > 0.0f ? c->comp_knee : 0.0) / db;
    double nslope = 1.0 - 1.0 / ratio;
    c->comp_thr2 = (float)(c->comp_thr / db);
    c->comp_nslope = (float)nslope;
    c->comp_halfw = (float)(0.5 * knee);
    c->comp_kq = knee > 0.0 ? (float)(nslope / (2.0 * knee)) : 0.0f;
    c->comp_mk2 = c->comp_on ? (float)(c->comp_makeup / db) : 0.0f;
    if (!c->comp_on) {
        c->comp_gr = 0.0f;
        c->comp_reset = 1;
    }
}

/* Trim, polarity, fader, mute/solo, pan and sends: a few multiplies. */
static void update_gains(sf_engine *e, sf_channel *c) {
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
    c->sync = 1;
    e->simd->pending = 1;
}

/* ---------------- the lane layout (lanes.h) ----------------
 *
 * Which channels run in SIMD lane groups, where, and the copy of their
 * coefficients, targets and state kept there. Runs on the consumer side at
 * the start of a block (sf_lanes_commit, from drain) or before audio starts
 * (alloc, settle). Bounded by the channel count; allocates nothing after
 * sf_lanes_alloc.
 */


/* The kernel set for this process, chosen once, when the first engine is
 * created: every engine (live stream and offline render alike) runs the
 * same code, so their outputs match bit for bit. SURFACED_KERNEL=generic or
 * =avx2 in the environment caps the choice (tests, benchmarks). */
static _Atomic int kernel_choice; /* 0 undecided, 1 generic, 2 avx2, 3 avx512 */

static sf_block_fn pick_kernel(const char **name) {
    int k = atomic_load(&kernel_choice);
    if (!k) {
        const char *want = getenv("SURFACED_KERNEL");
        int cap = 3;
        if (want && strcmp(want, "generic") == 0) cap = 1;
        if (want && strcmp(want, "avx2") == 0) cap = 2;
        k = 1;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k = 2;
        if (cap >= 3 && k == 2 && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
            k = 3;
#else
        (void)cap;
#endif
        int expected = 0;
        if (!atomic_compare_exchange_strong(&kernel_choice, &expected, k)) k = expected;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (k == 3) {
        *name = "avx512";
        return sf_block_avx512;
    }
    if (k == 2) {
        *name = "avx2";
        return sf_block_avx2;
    }
#endif
    *name = "generic";
    return sf_block_generic;
}

int sf_lanes_alloc(sf_engine *e) {
    sf_lanes *L = sf_zalloc(sizeof *L);
    if (!L) return SF_ENOMEM;
    e->simd = L;
    /* Worst case two lanes per channel (stereo, or mono followed by a
     * stereo channel that must start on an even lane). */
    L->cap_groups = (2 * e->n_ch + SF_LANES - 1) / SF_LANES;
    size_t per_group = (size_t)SF_CHUNK * SF_LANES;
    L->groups = sf_zalloc(sizeof(sf_group) * (size_t)L->cap_groups);
    L->plain = sf_zalloc(sizeof(int) * (size_t)e->n_ch);
    L->x = sf_zalloc(sizeof(float) * per_group * (size_t)L->cap_groups);
    L->det = sf_zalloc(sizeof(float) * per_group * (size_t)L->cap_groups);
    L->acc = sf_zalloc(sizeof(float) * per_group * SF_OUTS_MAX);
    L->rows = sf_zalloc(sizeof(float) * per_group);
    L->scratch = sf_zalloc(sizeof(float) * 2 * (size_t)e->max_block);
    if (!L->groups || !L->plain || !L->x || !L->det || !L->acc || !L->rows || !L->scratch)
        return SF_ENOMEM;
    L->block = pick_kernel(&L->kernel);
    L->relayout = 1;
    L->meter_n = -1;
    return SF_OK;
}

void sf_lanes_free(sf_engine *e) {
    sf_lanes *L = e->simd;
    if (!L) return;
    free(L->groups);
    free(L->plain);
    free(L->x);
    free(L->det);
    free(L->acc);
    free(L->rows);
    free(L->scratch);
    free(L);
    e->simd = NULL;
}

static int needs_lanes(const sf_channel *c) {
    return c->hpf_on || c->eq_on || c->comp_on || c->is_key;
}

/* Output o of a lane: master L/R (o = 0/1), bus b L/R (o = 2 + 2b + side). A
 * mono lane feeds both sides; each side of a stereo pair feeds its own. */
static sf_gain *lane_gain(sf_channel *c, int lanes, int side, int o, sf_gain *zero) {
    int out_side = o & 1;
    if (lanes == 2 && out_side != side) return zero;
    return o < 2 ? &c->out_gain[out_side] : &c->send_gain[(o - 2) >> 1][out_side];
}

static int n_outs(const sf_engine *e) { return 2 + 2 * e->n_bus; }

static void identity_lane(sf_group *g, int l) {
    for (int s = 0; s < SF_MAX_STAGES; s++) {
        g->b1[s][l] = g->b2[s][l] = g->na1[s][l] = g->na2[s][l] = 0.0;
        g->z0[s][l] = g->z1[s][l] = 0.0;
    }
    g->gain[l] = 1.0;
    g->thr[l] = g->halfw[l] = g->kq[l] = g->nslope[l] = g->mk[l] = g->gr[l] = 0.0f;
    g->att[l] = g->rel[l] = 0.0f;
    g->in_c[l] = g->in_t[l] = 1.0f; /* idle lanes must not force a gain pass */
    for (int o = 0; o < SF_OUTS_MAX; o++) g->out_c[o][l] = g->out_t[o][l] = g->out_s[o][l] = 0.0f;
    g->peak[l] = g->ss[l] = 0.0f;
    g->ch[l] = -1;
    g->side[l] = g->first[l] = 0;
    g->pair[l] = 0;
}

/* Lane state -> the channel's canonical copy (before the layout changes). */
static void park(sf_engine *e, sf_channel *c) {
    sf_lanes *L = e->simd;
    sf_gain zero;
    for (int side = 0; side < c->lay_lanes; side++) {
        int gl = c->lane + side;
        sf_group *g = &L->groups[gl / SF_LANES];
        int l = gl % SF_LANES;
        for (int s = 0; s < SF_MAX_STAGES; s++) {
            c->z[side][s][0] = g->z0[s][l];
            c->z[side][s][1] = g->z1[s][l];
        }
        if (side == 0) {
            c->comp_gr = g->gr[l];
            c->in_gain.cur = g->in_c[l];
        }
        for (int o = 0; o < n_outs(e); o++) {
            sf_gain *q = lane_gain(c, c->lay_lanes, side, o, &zero);
            q->cur = g->out_c[o][l];
            q->step = g->out_s[o][l]; /* a ramp segment in flight goes on */
        }
    }
}

/* The channel's canonical state -> its lanes (after the layout changed). */
static void unpark(sf_engine *e, sf_channel *c) {
    sf_lanes *L = e->simd;
    sf_gain zero = {0.0f, 0.0f, 0.0f};
    for (int side = 0; side < c->lanes; side++) {
        int gl = c->lane + side;
        sf_group *g = &L->groups[gl / SF_LANES];
        int l = gl % SF_LANES;
        for (int s = 0; s < SF_MAX_STAGES; s++) {
            g->z0[s][l] = c->z[side][s][0];
            g->z1[s][l] = c->z[side][s][1];
        }
        g->gr[l] = c->comp_gr;
        g->in_c[l] = c->in_gain.cur;
        for (int o = 0; o < n_outs(e); o++) {
            const sf_gain *q = lane_gain(c, c->lanes, side, o, &zero);
            g->out_c[o][l] = q->cur;
            g->out_s[o][l] = q->step;
        }
    }
}

/* Coefficients, targets and pending resets of one lane channel. */
static void sync_lanes(sf_engine *e, int i) {
    sf_lanes *L = e->simd;
    sf_channel *c = &e->ch[i];
    sf_gain zero = {0.0f, 0.0f, 0.0f};
    int key = c->comp_key;
    int key_lane = -1;
    if (c->comp_on && key >= 0 && key < e->n_ch && key != i && e->ch[key].lane >= 0)
        key_lane = e->ch[key].lane;
    for (int side = 0; side < c->lanes; side++) {
        int gl = c->lane + side;
        sf_group *g = &L->groups[gl / SF_LANES];
        int l = gl % SF_LANES;
        g->ch[l] = i;
        g->side[l] = (uint8_t)side;
        g->first[l] = side == 0;
        g->pair[l] = c->lanes == 2 ? -1 : 0;
        g->key_src[l] = key_lane >= 0 ? key_lane : gl;
        /* Each section divided by its b0 (never 0 for the cookbook designs;
         * identity stages have b0 = 1) and the product applied once: one
         * multiply per section fewer in the kernel's cascade. */
        double gain = 1.0;
        for (int s = 0; s < SF_MAX_STAGES; s++) {
            const sf_biquad *q = &c->stage[s];
            gain *= q->b0;
            g->b1[s][l] = q->b1 / q->b0;
            g->b2[s][l] = q->b2 / q->b0;
            g->na1[s][l] = -q->a1;
            g->na2[s][l] = -q->a2;
            if (c->slot_reset & (1u << s)) g->z0[s][l] = g->z1[s][l] = 0.0;
        }
        g->gain[l] = gain;
        /* A lane without a compressor gets a curve that is exactly 0 dB:
         * its gain computes to exactly 1 (no select needed per sample). */
        g->thr[l] = c->comp_on ? c->comp_thr2 : 0.0f;
        g->halfw[l] = c->comp_on ? c->comp_halfw : 0.0f;
        g->kq[l] = c->comp_on ? c->comp_kq : 0.0f;
        g->nslope[l] = c->comp_on ? c->comp_nslope : 0.0f;
        g->mk[l] = c->comp_mk2;
        g->att[l] = c->att_coef;
        g->rel[l] = c->rel_coef;
        if (c->comp_reset) g->gr[l] = 0.0f;
        g->in_t[l] = c->in_gain.target;
        for (int o = 0; o < n_outs(e); o++) g->out_t[o][l] = lane_gain(c, c->lanes, side, o, &zero)->target;
    }
}

/* Group summaries the kernels branch on (which slots, compressor, keys). */
static void summarise(sf_engine *e, sf_group *g) {
    unsigned slots = 0;
    g->comp = g->det = g->ext_key = 0;
    for (int l = 0; l < SF_LANES; l++) {
        if (g->ch[l] < 0) continue;
        const sf_channel *c = &e->ch[g->ch[l]];
        slots |= c->slot_on;
        if (c->comp_on) g->comp = g->det = 1;
        if (c->is_key) g->det = 1;
        if (g->key_src[l] != (int32_t)((g - e->simd->groups) * SF_LANES + l)) g->ext_key = 1;
    }
    g->n_slots = 0;
    for (int s = 0; s < SF_MAX_STAGES; s++)
        if (slots & (1u << s)) g->slot_list[g->n_slots++] = s;
}

static void rebuild(sf_engine *e) {
    sf_lanes *L = e->simd;
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        if (c->lane >= 0) park(e, c);
    }
    int lane = 0;
    L->n_plain = 0;
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        c->lay_lanes = c->lanes;
        c->lay_need = needs_lanes(c);
        if (!c->lay_need) {
            c->lane = -1;
            L->plain[L->n_plain++] = i;
            continue;
        }
        if (c->lanes == 2 && (lane & 1)) lane++; /* a stereo pair shares one vector half */
        c->lane = lane;
        lane += c->lanes;
    }
    L->n_groups = (lane + SF_LANES - 1) / SF_LANES;
    for (int gi = 0; gi < L->n_groups; gi++)
        for (int l = 0; l < SF_LANES; l++) identity_lane(&L->groups[gi], l);
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        if (c->lane >= 0) {
            unpark(e, c);
            c->sync = 1; /* key positions may have moved with the layout */
        }
    }
    L->relayout = 0;
    L->pending = 1;
}

void sf_lanes_commit(sf_engine *e) {
    sf_lanes *L = e->simd;
    if (!L->relayout) {
        /* Only a layout-relevant change forces a rebuild. */
        for (int i = 0; i < e->n_ch && L->pending; i++) {
            const sf_channel *c = &e->ch[i];
            if (c->sync && (c->lanes != c->lay_lanes || needs_lanes(c) != c->lay_need))
                L->relayout = 1;
        }
    }
    if (L->relayout) rebuild(e);
    if (!L->pending) return;
    for (int i = 0; i < e->n_ch; i++) {
        sf_channel *c = &e->ch[i];
        if (!c->sync) continue;
        if (c->lane >= 0) {
            sync_lanes(e, i);
        } else {
            /* The plain path keeps no filter or compressor state, and skips
             * sends that are silent and settled. */
            memset(c->z, 0, sizeof c->z);
            c->comp_gr = 0.0f;
            c->send_live = 0;
            for (int b = 0; b < e->n_bus; b++)
                for (int s = 0; s < 2; s++) {
                    const sf_gain *q = &c->send_gain[b][s];
                    if (q->cur != 0.0f || q->target != 0.0f) c->send_live |= 1u << b;
                }
        }
        c->sync = 0;
        c->slot_reset = 0;
        c->comp_reset = 0;
    }
    int two = 0;
    for (int gi = 0; gi < L->n_groups; gi++) {
        summarise(e, &L->groups[gi]);
        two |= L->groups[gi].comp && L->groups[gi].ext_key;
    }
    L->two_pass = two;
    L->pending = 0;
}

void sf_lanes_settle(sf_engine *e) {
    sf_lanes *L = e->simd;
    for (int gi = 0; gi < L->n_groups; gi++) {
        sf_group *g = &L->groups[gi];
        memcpy(g->in_c, g->in_t, sizeof g->in_c);
        memcpy(g->out_c, g->out_t, sizeof g->out_c);
        memset(g->out_s, 0, sizeof g->out_s);
    }
}

/* A ramping channel's output and send gains, wherever they live now: in its
 * lanes (the live copy) or in the channel (plain path). seg == 0 ends a
 * segment without moving the gains: the steps never pass their targets, so a
 * gain is on its target or within rounding of it (the glide's snap takes
 * that last step), and a target the drain changed at this very frame is
 * glided to, not jumped to. */
void sf_gains_ramp(sf_engine *e, sf_channel *c, float seg) {
    sf_lanes *L = e->simd;
    if (c->lane >= 0) {
        for (int side = 0; side < c->lanes; side++) {
            int gl = c->lane + side;
            sf_group *g = &L->groups[gl / SF_LANES];
            int l = gl % SF_LANES;
            for (int o = 0; o < n_outs(e); o++) {
                g->out_s[o][l] = seg > 0.0f ? (g->out_t[o][l] - g->out_c[o][l]) / seg : 0.0f;
            }
        }
        return;
    }
    sf_gain *q[2 + 2 * SF_MAX_BUSES];
    int nq = 0;
    q[nq++] = &c->out_gain[0];
    q[nq++] = &c->out_gain[1];
    for (int b = 0; b < e->n_bus; b++) {
        q[nq++] = &c->send_gain[b][0];
        q[nq++] = &c->send_gain[b][1];
    }
    for (int i = 0; i < nq; i++) {
        q[i]->step = seg > 0.0f ? (q[i]->target - q[i]->cur) / seg : 0.0f;
    }
}

/* The block: the kernel set picked for this process. */
void sf_process_block(sf_engine *e, const sf_input *in, int n) {
    e->simd->block(e, in, n);
}

/* ---------------- the portable kernel set ----------------
 * Every build has it: 4-lane vectors (SSE2 on x86-64, NEON on aarch64,
 * plain C elsewhere). kern_avx2.c adds the AVX2 set on x86-64. Fused
 * multiply-adds where the target has them (NEON; baseline x86-64 has none);
 * IEEE semantics otherwise intact (no -ffast-math). Keep this last: the
 * pragma applies to everything after it. */
#pragma GCC optimize("fp-contract=fast")
#define KW 4
#define KFN sf_block_generic
#include "kern_body.h"
