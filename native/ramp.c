/*
 * Crossfade ramps: faders, pans and sends that travel to a new value over a
 * given time (scene recall, A/B). See "Crossfade ramps" in sf_core.h for the
 * law.
 *
 * The audio side evaluates ramps on a grid of SF_RAMP_GRID_FRAMES frames
 * counted from the engine's first frame. At each grid point (and when a
 * change lands mid-segment) a ramping channel's parameters are set to their
 * ramp values at the *next* grid point, its gain targets are recomputed the
 * usual way (sf_channel_update: fader x mute x pan, sends), and every gain
 * gets a per-sample step that lands on its target at that grid point
 * (sf_gains_ramp). sf_process cuts blocks at grid points while a ramp runs,
 * so the points, and the output, are the same whatever the block size. Cost:
 * one exp (dB to gain) per ramping gain and one cos/sin per ramping pan per
 * grid point, never per sample.
 *
 * Everything here runs on the audio thread (from drain and sf_process) or
 * before audio starts (sf_settle); loops are bounded by the channel and bus
 * counts.
 */
#include <math.h>

#include "sf_internal.h"

static uint32_t ramp_frames(const sf_engine *e, float ramp_ms) {
    double f = (double)ramp_ms * 0.001 * e->rate + 0.5;
    return f >= 1.0 ? (uint32_t)f : 0u;
}

/* The ramp's value at frame t. Gains in dB move in equal dB steps between
 * endpoints floored at SF_RAMP_FLOOR_DB (a fade from -inf is not silent for
 * most of its time); the exact end value (-inf included) is reached at the
 * end. Pan (db == 0) is linear in position. */
static float ramp_value(const sf_ramp *r, uint64_t t, int db) {
    if (t >= r->start + r->len) return r->to;
    double x = t <= r->start ? 0.0 : (double)(t - r->start) / (double)r->len;
    double a = r->from, b = r->to;
    if (db) {
        if (!(a > SF_RAMP_FLOOR_DB)) a = SF_RAMP_FLOOR_DB;
        if (!(b > SF_RAMP_FLOOR_DB)) b = SF_RAMP_FLOOR_DB;
    }
    return (float)(a + (b - a) * x);
}

static void list_add(sf_engine *e, sf_channel *c) {
    if (c->ramp_listed) return;
    c->ramp_listed = 1;
    e->ramp_list[e->n_ramp++] = (int)(c - e->ch);
}

/* Start a ramp of a channel's fader, pan or send b; 0 when ramp_ms makes no
 * ramp (the caller then applies the value as a plain change). */
int sf_ramp_start_ch(sf_engine *e, sf_channel *c, int param, int sub, float value,
                     float ramp_ms) {
    uint32_t len = ramp_frames(e, ramp_ms);
    if (!len) return 0;
    sf_ramp *r;
    uint32_t bit;
    float *now;
    int db = 1;
    if (param == SF_P_FADER) {
        r = &c->r_fader, bit = SF_RAMP_FADER, now = &c->fader_db;
    } else if (param == SF_P_PAN) {
        r = &c->r_pan, bit = SF_RAMP_PAN, now = &c->pan, db = 0;
    } else {
        r = &c->r_send[sub], bit = SF_RAMP_SEND(sub), now = &c->send_db[sub];
    }
    /* from where it is: mid-ramp, the running ramp's value at this frame */
    float from = (c->ramp_bits & bit) ? ramp_value(r, e->now, db) : *now;
    if (!db) value = value < -1.0f ? -1.0f : value > 1.0f ? 1.0f : value;
    *r = (sf_ramp){.from = from, .to = value, .start = e->now, .len = len};
    c->ramp_bits |= bit;
    c->ramp_restep = 1;
    list_add(e, c);
    return 1;
}

void sf_ramp_cancel_ch(sf_engine *e, sf_channel *c, uint32_t bit) {
    (void)e;
    c->ramp_bits &= ~bit; /* the channel stays listed until its segment ends */
}

int sf_ramp_start_bus(sf_engine *e, sf_bus *b, float value, float ramp_ms) {
    uint32_t len = ramp_frames(e, ramp_ms);
    if (!len) {
        if (b->ramping && !b->ramp_lin) e->n_ramp_other--;
        b->ramping = 0; /* a segment in flight still finishes (tick) */
        return 0;
    }
    float from = b->ramping ? ramp_value(&b->r_fader, e->now, 1) : b->fader_db;
    b->r_fader = (sf_ramp){.from = from, .to = value, .start = e->now, .len = len};
    if (!b->ramping && !b->ramp_lin) e->n_ramp_other++;
    b->ramping = 1;
    b->ramp_restep = 1;
    return 1;
}

int sf_ramp_start_master(sf_engine *e, float value, float ramp_ms) {
    uint32_t len = ramp_frames(e, ramp_ms);
    if (!len) {
        if (e->m_ramping && !e->m_ramp_lin) e->n_ramp_other--;
        e->m_ramping = 0;
        return 0;
    }
    float from = e->m_ramping ? ramp_value(&e->m_ramp, e->now, 1) : e->master_db;
    e->m_ramp = (sf_ramp){.from = from, .to = value, .start = e->now, .len = len};
    if (!e->m_ramping && !e->m_ramp_lin) e->n_ramp_other++;
    e->m_ramping = 1;
    e->m_ramp_restep = 1;
    return 1;
}

int sf_ramp_active(const sf_engine *e) { return e->n_ramp || e->n_ramp_other; }

/* Parameters at frame t; finished ramps leave the exact end value. */
static void advance_ch(sf_channel *c, uint64_t t, int n_bus) {
    if (c->ramp_bits & SF_RAMP_FADER) {
        c->fader_db = ramp_value(&c->r_fader, t, 1);
        if (t >= c->r_fader.start + c->r_fader.len) c->ramp_bits &= ~SF_RAMP_FADER;
    }
    if (c->ramp_bits & SF_RAMP_PAN) {
        c->pan = ramp_value(&c->r_pan, t, 0);
        if (t >= c->r_pan.start + c->r_pan.len) c->ramp_bits &= ~SF_RAMP_PAN;
    }
    for (int b = 0; b < n_bus; b++) {
        if (!(c->ramp_bits & SF_RAMP_SEND(b))) continue;
        c->send_db[b] = ramp_value(&c->r_send[b], t, 1);
        if (t >= c->r_send[b].start + c->r_send[b].len) c->ramp_bits &= ~SF_RAMP_SEND(b);
    }
}

/* A bus or master gain at the end of a segment: linear stepping ends where
 * the gain is (on its target, or within rounding of it, which the glide's
 * snap closes; a target changed at this frame is glided to, not jumped to). */
static void end_segment(sf_gain *g) { g->step = 0.0f; }

/* Steps that land on the (new) target seg frames from now. */
static void step_gain(sf_gain *g, float seg) { g->step = (g->target - g->cur) / seg; }

void sf_ramp_tick(sf_engine *e) {
    const uint64_t p = e->now;
    const int grid = p % SF_RAMP_GRID_FRAMES == 0;
    const uint64_t t1 = (p / SF_RAMP_GRID_FRAMES + 1u) * SF_RAMP_GRID_FRAMES;
    const float seg = (float)(t1 - p);
    int touched = 0;

    /* channels: parameters and targets first (one lane commit for all),
     * then steps from where each gain is */
    for (int j = 0; j < e->n_ramp;) {
        sf_channel *c = &e->ch[e->ramp_list[j]];
        c->ramp_now = 0;
        if (grid && c->ramp_lin) {
            sf_gains_ramp(e, c, 0.0f); /* the segment ended */
            c->ramp_lin = 0;
        }
        if (!c->ramp_bits && !c->ramp_lin) {
            /* done: leave the list (swap with the last) */
            c->ramp_listed = 0;
            c->ramp_restep = 0;
            e->ramp_list[j] = e->ramp_list[--e->n_ramp];
            continue;
        }
        if (grid || c->ramp_restep) {
            advance_ch(c, t1, e->n_bus);
            c->dirty |= SF_DIRTY_GAINS;
            sf_channel_update(e, c);
            c->ramp_now = 1;
            c->ramp_restep = 0;
            touched = 1;
        }
        j++;
    }
    if (touched) {
        sf_lanes_commit(e); /* lane copies of the new targets */
        for (int j = 0; j < e->n_ramp; j++) {
            sf_channel *c = &e->ch[e->ramp_list[j]];
            if (!c->ramp_now) continue;
            sf_gains_ramp(e, c, seg);
            c->ramp_lin = 1;
        }
    }

    for (int i = 0; i < e->n_bus; i++) {
        sf_bus *b = &e->bus[i];
        if (!b->ramping && !b->ramp_lin) continue;
        if (grid && b->ramp_lin) {
            end_segment(&b->gain);
            b->ramp_lin = 0;
        }
        if (b->ramping && (grid || b->ramp_restep)) {
            b->fader_db = ramp_value(&b->r_fader, t1, 1);
            if (t1 >= b->r_fader.start + b->r_fader.len) b->ramping = 0;
            b->gain.target = b->mute ? 0.0f : sf_db_to_lin(b->fader_db);
            step_gain(&b->gain, seg);
            b->ramp_lin = 1;
        } else if (b->ramp_restep && b->ramp_lin) {
            step_gain(&b->gain, seg); /* mute or a plain move mid-segment */
        }
        b->ramp_restep = 0;
        if (!b->ramping && !b->ramp_lin) e->n_ramp_other--;
    }
    if (e->m_ramping || e->m_ramp_lin) {
        if (grid && e->m_ramp_lin) {
            end_segment(&e->master_gain);
            e->m_ramp_lin = 0;
        }
        if (e->m_ramping && (grid || e->m_ramp_restep)) {
            e->master_db = ramp_value(&e->m_ramp, t1, 1);
            if (t1 >= e->m_ramp.start + e->m_ramp.len) e->m_ramping = 0;
            e->master_gain.target = sf_master_target(e);
            step_gain(&e->master_gain, seg);
            e->m_ramp_lin = 1;
        } else if (e->m_ramp_restep && e->m_ramp_lin) {
            step_gain(&e->master_gain, seg); /* trim moved mid-segment */
        }
        e->m_ramp_restep = 0;
        if (!e->m_ramping && !e->m_ramp_lin) e->n_ramp_other--;
    }
}

/* Before audio starts (sf_settle): every ramp jumps to its end. */
void sf_ramp_settle(sf_engine *e) {
    for (int j = 0; j < e->n_ramp; j++) {
        sf_channel *c = &e->ch[e->ramp_list[j]];
        advance_ch(c, UINT64_MAX, e->n_bus);
        c->ramp_bits = 0;
        c->ramp_lin = c->ramp_restep = c->ramp_listed = 0;
        c->dirty |= SF_DIRTY_GAINS;
        sf_channel_update(e, c);
        sf_gains_ramp(e, c, 0.0f);
    }
    e->n_ramp = 0;
    for (int i = 0; i < e->n_bus; i++) {
        sf_bus *b = &e->bus[i];
        if (b->ramping) b->fader_db = b->r_fader.to;
        b->ramping = b->ramp_lin = b->ramp_restep = 0;
        b->gain.target = b->mute ? 0.0f : sf_db_to_lin(b->fader_db);
        b->gain.step = 0.0f;
    }
    if (e->m_ramping) e->master_db = e->m_ramp.to;
    e->m_ramping = e->m_ramp_lin = e->m_ramp_restep = 0;
    e->master_gain.target = sf_master_target(e);
    e->master_gain.step = 0.0f;
    e->n_ramp_other = 0;
    sf_lanes_commit(e);
}
