/*
 * The reference track (see SF_P_REF_ON in sf_core.h): a source outside the
 * mix that replaces it at the output, with its own gain and loudness meter.
 *
 * It runs after the block's DSP and the master meters, on the master pair
 * in place: out = mix * (1 - x) + ref * gain * x, x the crossfade position.
 * Everything is sample-sequential (the crossfade steps, the gain glide, the
 * reference's read position and its meter), so the output does not depend
 * on block sizes. With no reference set and x == 0 nothing runs.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "sf_internal.h"

void sf_reference_setup(sf_engine *e) {
    sf_reference *r = &e->ref;
    r->kind = SF_SRC_NONE;
    r->gain.cur = r->gain.target = 1.0f;
    double fade = SF_REF_FADE_MS * 0.001 * e->rate;
    r->xstep = (float)(1.0 / (fade < 1.0 ? 1.0 : fade));
    sf_loudness_init(&r->loud, e->rate);
}

/* Sanitised like a channel source, and bounded (see SF_OVER_CEILING): the
 * reference gain cannot take it past finite floats. */
static inline float clean(float v) {
    if (!(fabsf(v) <= (float)SF_OVER_CEILING)) {
        if (!(fabsf(v) <= FLT_MAX)) return 0.0f; /* NaN, Inf */
        return v > 0.0f ? (float)SF_OVER_CEILING : -(float)SF_OVER_CEILING;
    }
    return v;
}

/* The reference's n frames into L/R (mono feeds both). */
static void fetch(sf_engine *e, const sf_input *in, float *L, float *R, int n) {
    sf_reference *r = &e->ref;
    if (r->kind == SF_SRC_BUFFER && r->data) {
        const uint32_t len = r->frames;
        uint32_t pos = r->cur;
        for (int k = 0; k < n; k++) { /* bounded by n */
            if (r->nch == 2) {
                L[k] = clean(r->data[2u * pos]);
                R[k] = clean(r->data[2u * pos + 1u]);
            } else {
                L[k] = R[k] = clean(r->data[pos]);
            }
            if (++pos == len) pos = 0;
        }
        r->cur = pos;
    } else if (r->kind == SF_SRC_INPUT && in && r->input < in->n) {
        int i0 = r->input;
        sf_input_read(in, i0, 0, n, L);
        sf_input_read(in, (r->stereo && i0 + 1 < in->n) ? i0 + 1 : i0, 0, n, R);
        for (int k = 0; k < n; k++) {
            L[k] = clean(L[k]);
            R[k] = clean(R[k]);
        }
    } else {
        memset(L, 0, sizeof(float) * (size_t)n);
        memset(R, 0, sizeof(float) * (size_t)n);
    }
}

/* The sf_gain glide (kern_body.h's glide_step, scalar). */
static inline float glide(float cur, float t, float coef) {
    float next = cur + (t - cur) * coef;
    return (next == cur || fabsf(t - next) < SF_SNAP) ? t : next;
}

void sf_reference_run(sf_engine *e, const sf_input *in, int n) {
    sf_reference *r = &e->ref;
    if (r->kind == SF_SRC_NONE && r->x == 0.0f) return;
    float *L = e->ref_buf, *R = e->ref_buf + e->max_block;
    fetch(e, in, L, R, n);
    if (r->kind != SF_SRC_NONE) {
        sf_loudness_process(&r->loud, L, R, n);
        for (int k = 0; k < n; k++) {
            float a = fabsf(L[k]), b = fabsf(R[k]);
            if (a > r->peak[0]) r->peak[0] = a;
            if (b > r->peak[1]) r->peak[1] = b;
        }
    }
    const float want = r->on ? 1.0f : 0.0f;
    if (!r->on && r->x == 0.0f) return; /* the mix is heard: leave it */
    float *mL = e->mix_buf, *mR = e->mix_buf + e->max_block;
    const float coef = e->smooth_coef;
    if (r->x == 1.0f && r->on && r->gain.cur == r->gain.target) {
        const float g = r->gain.cur; /* the reference alone, constant gain */
        for (int k = 0; k < n; k++) {
            mL[k] = L[k] * g;
            mR[k] = R[k] * g;
        }
        return;
    }
    float x = r->x, g = r->gain.cur;
    const float t = r->gain.target, d = r->xstep;
    for (int k = 0; k < n; k++) {
        if (x != want) {
            x = r->on ? x + d : x - d;
            if (x > 1.0f) x = 1.0f;
            if (x < 0.0f) x = 0.0f;
        }
        g = glide(g, t, coef);
        mL[k] = mL[k] * (1.0f - x) + L[k] * g * x;
        mR[k] = mR[k] * (1.0f - x) + R[k] * g * x;
    }
    r->x = x;
    r->gain.cur = g;
}

void sf_reference_settle(sf_engine *e) {
    e->ref.gain.cur = e->ref.gain.target;
    e->ref.x = e->ref.on ? 1.0f : 0.0f;
}

void sf_reference_publish(const sf_engine *e, sf_reference_meters *out) {
    const sf_reference *r = &e->ref;
    out->source = r->kind;
    out->on = r->on;
    out->heard = r->x;
    out->gain_db = r->gain_db;
    out->momentary_lufs = sf_loudness_momentary(&r->loud);
    out->short_term_lufs = sf_loudness_short_term(&r->loud);
    out->integrated_lufs = sf_loudness_integrated(&r->loud);
    out->peak[0] = r->peak[0];
    out->peak[1] = r->peak[1];
}

int sf_push_reference_buffer(sf_engine *e, const float *data, uint32_t frames,
                             int n_src_channels) {
    if (!e || !data || frames == 0 || (n_src_channels != 1 && n_src_channels != 2))
        return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_REF_BUFFER, .ptr = data, .frames = frames,
                .n_src = n_src_channels};
    return sf_push_msg(e, &m);
}

int sf_push_reference_input(sf_engine *e, int first_input, int stereo) {
    if (!e || first_input < 0) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_REF_INPUT, .sub = first_input, .n_src = stereo ? 2 : 1};
    return sf_push_msg(e, &m);
}

int sf_push_reference_none(sf_engine *e) {
    if (!e) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_REF_NONE};
    return sf_push_msg(e, &m);
}

int sf_read_reference(sf_engine *e, sf_reference_meters *out) {
    if (!e || !out) return SF_EINVAL;
    sf_snapshot *s = &e->snap;
    for (int tries = 0; tries < 10000; tries++) {
        unsigned a = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (a & 1u) continue;
        sf_reference_meters copy = s->ref;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == a) {
            *out = copy;
            return SF_OK;
        }
    }
    return SF_EBUSY;
}
