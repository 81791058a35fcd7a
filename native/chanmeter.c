/*
 * Per-channel loudness meter (see SF_CHMETER_SLOTS in sf_core.h): what the
 * assistant's gain staging reads from a live input, and, run offline over a
 * buffer (sf_measure_buffer), from a file.
 *
 * The K-weighting is the master loudness meter's (loudness.c): the same two
 * double-precision biquads for this rate, the same order of operations, the
 * same state hygiene at step ends. Steps are 100 ms (the BS.1770-4 gating
 * hop); the control side does the gating over as many steps as it wants.
 *
 * Cost: nothing while no channel is metered (one compare per block piece);
 * per metered channel and sample, two biquads per side and the 4x true-peak
 * interpolator. Slots are a fixed pool allocated with the engine; switching
 * on or off happens in the drain, bounded by SF_CHMETER_SLOTS.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kweight.h"
#include "sf_internal.h"

#define STATE_FLUSH 1e-30 /* as in loudness.c */

/* Frames per 100 ms step (the master meter steps every 10 ms; the control
 * side's gating here wants the BS.1770-4 hop). */
static int32_t chmeter_hop(double rate) { return (int32_t)floor(rate / 10.0 + 0.5); }

void sf_chmeter_setup(sf_engine *e) {
    /* the master loudness meter's K-weighting (initialised before this) */
    e->kshelf = e->loud.shelf;
    e->khp = e->loud.highpass;
    e->khop = chmeter_hop(e->loud.sample_rate);
    for (int s = 0; s < SF_CHMETER_SLOTS; s++) {
        e->chm[s].ch = -1;
        sf_truepeak_init(&e->chm[s].tpm[0]);
        sf_truepeak_init(&e->chm[s].tpm[1]);
        e->chm_pub[s].channel = -1;
    }
}

static void slot_reset(sf_chmeter *m, int ch, int stereo) {
    m->ch = ch;
    m->fill = 0;
    m->stereo = stereo;
    m->steps = m->frames = 0;
    memset(m->st, 0, sizeof m->st);
    m->kacc[0] = m->kacc[1] = m->acc[0] = m->acc[1] = 0.0;
    m->peak = m->tp = 0.0f;
    memset(m->kms, 0, sizeof m->kms);
    memset(m->ms, 0, sizeof m->ms);
    sf_truepeak_reset(&m->tpm[0]);
    sf_truepeak_reset(&m->tpm[1]);
}

/* Audio side (drain): bounded by the slot count. */
void sf_chmeter_switch(sf_engine *e, int ch, int on) {
    int found = -1, free_slot = -1;
    for (int s = 0; s < SF_CHMETER_SLOTS; s++) {
        if (e->chm[s].ch == ch) found = s;
        else if (e->chm[s].ch < 0 && free_slot < 0) free_slot = s;
    }
    if (!on) {
        if (found >= 0) {
            e->chm[found].ch = -1;
            e->n_chm--;
            e->chm_publish = 1;
        }
        return;
    }
    if (found < 0) {
        if (free_slot < 0) {
            atomic_fetch_add_explicit(&e->chm_refused, 1, memory_order_relaxed);
            return;
        }
        found = free_slot;
        e->n_chm++;
    }
    slot_reset(&e->chm[found], ch, e->ch[ch].lanes == 2);
    e->chm_publish = 1;
}

/* K-weight n contiguous samples into one side's states and sums: the
 * master meter's loop (loudness.h), plus the plain square and the peak. */
static void weigh(const sf_loudness_biquad *sh, const sf_loudness_biquad *hp, double st[4],
                  const float *x, int n, double *kacc, double *acc, float *peak) {
    sf_kweight_run(sh, hp, st, x, n, kacc, acc, peak);
}

static void sanitize(double st[4]) {
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        if (!(fabs(st[k]) <= DBL_MAX)) bad = 1;
        else if (fabs(st[k]) < STATE_FLUSH) st[k] = 0.0;
    }
    if (bad)
        for (int k = 0; k < 4; k++) st[k] = 0.0;
}

/* Feed one slot n frames: side 0 in x0, side 1 in x1 (NULL when mono).
 * Steps end at fixed frame counts from the start, whatever n is. */
static void feed(const sf_loudness_biquad *sh, const sf_loudness_biquad *hp, int32_t hop,
                 sf_chmeter *m, const float *x0, const float *x1, int n) {
    const int sides = x1 ? 2 : 1;
    int done = 0;
    while (done < n) { /* at most n / hop + 1 passes */
        int take = hop - m->fill;
        if (take > n - done) take = n - done;
        weigh(sh, hp, m->st[0], x0 + done, take, &m->kacc[0], &m->acc[0], &m->peak);
        if (x1) weigh(sh, hp, m->st[1], x1 + done, take, &m->kacc[1], &m->acc[1], &m->peak);
        m->fill += take;
        done += take;
        if (m->fill >= hop) {
            sanitize(m->st[0]);
            sanitize(m->st[1]);
            double k = (m->kacc[0] + m->kacc[1]) / ((double)hop * sides);
            double a = (m->acc[0] + m->acc[1]) / ((double)hop * sides);
            if (!(k >= 0.0 && k <= DBL_MAX)) k = 0.0;
            if (!(a >= 0.0 && a <= DBL_MAX)) a = 0.0;
            if (k > FLT_MAX) k = FLT_MAX; /* published as floats: stay finite */
            if (a > FLT_MAX) a = FLT_MAX;
            int at = (int)(m->steps % SF_CHMETER_RING);
            m->kms[at] = (float)k;
            m->ms[at] = (float)a;
            m->steps++;
            m->kacc[0] = m->kacc[1] = m->acc[0] = m->acc[1] = 0.0;
            m->fill = 0;
        }
    }
    float t0 = sf_truepeak_block(&m->tpm[0], x0, n);
    float t1 = x1 ? sf_truepeak_block(&m->tpm[1], x1, n) : 0.0f;
    t0 = t1 > t0 ? t1 : t0;
    if (t0 > m->tp) m->tp = t0;
    m->frames += (uint64_t)n;
}

/* One side of a channel's source for this piece, as the kernels read it:
 * a pointer to contiguous samples (the buffer itself or dst). */
static const float *source_side(const sf_channel *c, int side, const sf_input *in, int n,
                                float *dst) {
    if (c->src_kind == SF_SRC_BUFFER && c->src_data) {
        const uint32_t len = c->src_frames;
        uint32_t pos = c->src_cur;
        if (c->src_nch == 1 && pos + (uint32_t)n <= len) return c->src_data + pos;
        int k = 0;
        while (k < n) { /* bounded: each segment ends at n or at the loop point */
            uint32_t seg = len - pos;
            if (seg > (uint32_t)(n - k)) seg = (uint32_t)(n - k);
            if (c->src_nch == 1) memcpy(dst + k, c->src_data + pos, sizeof(float) * seg);
            else
                for (uint32_t j = 0; j < seg; j++)
                    dst[k + (int)j] = c->src_data[2u * (pos + j) + (uint32_t)(side && c->src_nch == 2)];
            k += (int)seg;
            pos += seg;
            if (pos == len) pos = 0;
        }
        return dst;
    }
    if (c->src_kind == SF_SRC_INPUT && in && c->src_input < in->n) {
        int i0 = c->src_input;
        sf_input_read(in, (side && i0 + 1 < in->n) ? i0 + 1 : i0, 0, n, dst);
        return dst;
    }
    memset(dst, 0, sizeof(float) * (size_t)n);
    return dst;
}

/* Audio side, before the block's DSP (the sources' read positions are
 * those of this piece's first frame). Bounded by the slot count. */
void sf_chmeter_run(sf_engine *e, const sf_input *in, int n) {
    if (!e->n_chm) return;
    float *b0 = e->chm_buf, *b1 = e->chm_buf + e->max_block;
    for (int s = 0; s < SF_CHMETER_SLOTS; s++) {
        sf_chmeter *m = &e->chm[s];
        if (m->ch < 0) continue;
        const sf_channel *c = &e->ch[m->ch];
        const float *x0 = source_side(c, 0, in, n, b0);
        const float *x1 = m->stereo ? source_side(c, 1, in, n, b1) : NULL;
        feed(&e->kshelf, &e->khp, e->khop, m, x0, x1, n);
    }
    e->chm_publish = 1;
}

/* Audio side, end of block: the metered slots to their published copies. */
void sf_chmeter_publish(sf_engine *e) {
    if (!e->chm_publish) return;
    e->chm_publish = 0;
    unsigned seq = atomic_load_explicit(&e->chm_seq, memory_order_relaxed);
    atomic_store_explicit(&e->chm_seq, seq + 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int s = 0; s < SF_CHMETER_SLOTS; s++) {
        const sf_chmeter *m = &e->chm[s];
        sf_chmeter_reading *r = &e->chm_pub[s];
        if (m->ch < 0) {
            r->channel = -1;
            continue;
        }
        r->channel = m->ch;
        r->stereo = (uint32_t)m->stereo;
        r->steps = m->steps;
        r->frames = m->frames;
        memcpy(r->kms, m->kms, sizeof r->kms);
        memcpy(r->ms, m->ms, sizeof r->ms);
        r->peak = m->peak;
        r->true_peak = m->tp;
    }
    atomic_store_explicit(&e->chm_seq, seq + 2u, memory_order_release);
}

int sf_push_chmeter(sf_engine *e, int ch, int on) {
    if (!e || ch < 0 || ch >= e->n_ch) return SF_EINVAL;
    sf_msg m = {.kind = SF_MSG_CHMETER, .index = ch, .sub = on ? 1 : 0};
    return sf_push_msg(e, &m);
}

int sf_read_chmeter(sf_engine *e, int ch, sf_chmeter_reading *out) {
    if (!e || !out || ch < 0 || ch >= e->n_ch) return SF_EINVAL;
    for (int tries = 0; tries < 10000; tries++) { /* the writer holds it for microseconds */
        unsigned a = atomic_load_explicit(&e->chm_seq, memory_order_acquire);
        if (a & 1u) continue;
        int found = 0;
        for (int s = 0; s < SF_CHMETER_SLOTS && !found; s++) {
            if (e->chm_pub[s].channel == ch) {
                *out = e->chm_pub[s];
                found = 1;
            }
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->chm_seq, memory_order_relaxed) != a) continue;
        if (!found) {
            memset(out, 0, sizeof *out);
            out->channel = -1;
        }
        out->refused = atomic_load_explicit(&e->chm_refused, memory_order_relaxed);
        return SF_OK;
    }
    return SF_EBUSY;
}

int sf_measure_buffer(const float *data, uint32_t frames, int n_src_channels, double rate,
                      double *kms, uint32_t max_steps, double *sumsq, float *peak,
                      float *true_peak) {
    if (!data || (n_src_channels != 1 && n_src_channels != 2) || (max_steps && !kms) ||
        !(rate >= 8000.0 && rate <= 384000.0))
        return SF_EINVAL;
    sf_loudness *l = malloc(sizeof *l); /* control thread: ~60 KB, once */
    sf_chmeter *m = malloc(sizeof *m);
    if (!l || !m) {
        free(l);
        free(m);
        return SF_ENOMEM;
    }
    sf_loudness_init(l, rate);
    sf_truepeak_init(&m->tpm[0]);
    sf_truepeak_init(&m->tpm[1]);
    slot_reset(m, 0, n_src_channels == 2);
    enum { CHUNK = 4096 };
    float b0[CHUNK], b1[CHUNK];
    uint32_t written = 0;
    double sq = 0.0;
    for (uint32_t done = 0; done < frames;) {
        int n = frames - done < CHUNK ? (int)(frames - done) : CHUNK;
        const float *x0 = data + done, *x1 = NULL;
        if (n_src_channels == 2) {
            const float *d = data + 2u * done;
            for (int k = 0; k < n; k++) {
                b0[k] = d[2 * k];
                b1[k] = d[2 * k + 1];
            }
            x0 = b0;
            x1 = b1;
        }
        uint64_t before = m->steps;
        feed(&l->shelf, &l->highpass, chmeter_hop(l->sample_rate), m, x0, x1, n);
        for (uint64_t s = before; s < m->steps && written < max_steps; s++)
            kms[written++] = (double)m->kms[s % SF_CHMETER_RING];
        for (int k = 0; k < n; k++)
            if (fabsf(x0[k]) <= FLT_MAX) sq += (double)x0[k] * (double)x0[k];
        if (x1)
            for (int k = 0; k < n; k++)
                if (fabsf(x1[k]) <= FLT_MAX) sq += (double)x1[k] * (double)x1[k];
        done += (uint32_t)n;
    }
    /* the interpolator lags by TAPS / 2 samples: flush it with silence */
    static const float zeros[SF_TRUEPEAK_TAPS];
    float t0 = sf_truepeak_block(&m->tpm[0], zeros, SF_TRUEPEAK_TAPS);
    float t1 = n_src_channels == 2 ? sf_truepeak_block(&m->tpm[1], zeros, SF_TRUEPEAK_TAPS) : 0.0f;
    t0 = t1 > t0 ? t1 : t0;
    if (t0 > m->tp) m->tp = t0;
    if (sumsq) *sumsq = sq;
    if (peak) *peak = m->peak;
    if (true_peak) *true_peak = m->tp;
    free(l);
    free(m);
    return (int)written;
}
