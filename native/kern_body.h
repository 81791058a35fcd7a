/*
 * The block kernels: everything the core does per sample. Included once per
 * instruction set, by strip.c (KW = 4: SSE2 on x86-64, NEON on aarch64),
 * kern_avx2.c (KW = 8: AVX2 + FMA) and kern_avx512.c (KW = 16), which define
 *   KW   lanes per vector (a group of SF_LANES lanes is SF_LANES/KW vectors)
 *   KFN  the name of the block function they export.
 *
 * Every set contracts a*b+c into fused multiply-adds where the target has
 * them (no -ffast-math otherwise: NaN/Inf detection relies on IEEE
 * semantics). Every per-sample result depends only on the sample history, never
 * on where a block starts or ends: glides, filters and compressors carry
 * their state sample by sample, and the order of every sum is fixed by the
 * lane layout. The process picks one kernel set for every engine, so a live
 * stream and an offline render give the same bits.
 *
 * Real-time rules: no allocation, locks or system calls; every loop is
 * bounded by the block length, the channel count or a constant.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lanes.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h> /* max/movemask; usable in a target("avx2") region too */
#endif

#if !defined(KW) || !defined(KFN)
#error "define KW and KFN before including kern_body.h"
#endif

typedef float vf __attribute__((vector_size(KW * 4)));
typedef int32_t vi __attribute__((vector_size(KW * 4)));
/* Views of float memory as vectors: aligned (lane arrays) and unaligned
 * (caller buffers). may_alias: they read and write float arrays. */
typedef float vfa __attribute__((vector_size(KW * 4), may_alias));
typedef float vfu __attribute__((vector_size(KW * 4), may_alias, aligned(4)));
typedef int32_t via __attribute__((vector_size(KW * 4), may_alias));

/* Fixed-width views for the transposes and reductions, whatever KW is. */
typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), may_alias, aligned(4)));
typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), may_alias, aligned(4)));

#define NSL (SF_LANES / KW) /* vectors per group */
#define INLINE static inline __attribute__((always_inline))
#define RESTRICT restrict

/* ---------------- vector helpers ---------------- */

static inline vf vld(const float *p) { return *(const vfa *)p; }
static inline void vst(float *p, vf v) { *(vfa *)p = v; }
static inline vf vldu(const float *p) { return *(const vfu *)p; }
static inline void vstu(float *p, vf v) { *(vfu *)p = v; }
static inline vi vldi(const int32_t *p) { return *(const via *)p; }

static inline vf vsplat(float x) {
    vf v;
    for (int i = 0; i < KW; i++) v[i] = x;
    return v;
}

static inline vf vsel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

/* a > b ? a : b lane by lane (NaN in a gives b: detector floors rely on it). */
static inline vf vmax(vf a, vf b) {
#if KW == 16 && defined(__AVX512F__)
    return (vf)_mm512_max_ps((__m512)a, (__m512)b);
#elif KW == 8 && defined(__AVX__)
    return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#elif KW == 4 && defined(__SSE__)
    return (vf)_mm_max_ps((__m128)a, (__m128)b);
#else
    return vsel(a > b, a, b);
#endif
}

/* a where the sign bit of m is set, else b (no compare needed). */
static inline vf vsel_sign(vf m, vf a, vf b) {
#if KW == 16 && defined(__AVX512DQ__)
    return (vf)_mm512_mask_blend_ps(_mm512_movepi32_mask((__m512i)m), (__m512)b, (__m512)a);
#elif KW == 8 && defined(__AVX__)
    return (vf)_mm256_blendv_ps((__m256)b, (__m256)a, (__m256)m);
#else
    return vsel((vi)m >> 31, a, b);
#endif
}

static inline vf vabs(vf a) { return (vf)((vi)a & 0x7fffffff); }

static inline int vany(vi m) {
#if KW == 16 && defined(__AVX512DQ__)
    return _mm512_movepi32_mask((__m512i)m) != 0;
#elif KW == 8 && defined(__AVX__)
    return _mm256_movemask_ps((__m256)m) != 0;
#elif KW == 4 && defined(__SSE__)
    return _mm_movemask_ps((__m128)m) != 0;
#else
    int32_t r = 0;
    for (int i = 0; i < KW; i++) r |= m[i];
    return r != 0;
#endif
}

static inline vi vnonfinite(vf a) { return ((vi)a & 0x7f800000) == 0x7f800000; }

/* log2 for positive normal x, no division: x = 2^e * m with m in
 * [sqrt(1/2), sqrt(2)), log2(m) = u * Q(u), u = m - 1, Q a degree-4 fit
 * (max error 1.5e-5, i.e. under 1e-4 dB: a five-hundredth of the
 * compressor's tolerance, and the level passes through the gain smoothing
 * before it is heard). +Inf gives 128, never NaN. Estrin's scheme: a third
 * of Horner's dependency chain, so the out-of-order core overlaps many
 * frames. */
static inline vf vlog2(vf x) {
    vi bits = (vi)x;
    vi e = (bits - 0x3f3504f3) >> 23;
    vf m = (vf)(bits - (e << 23));
    vf u = m - 1.0f;
    vf u2 = u * u;
    vf p01 = u * -0.7202417850494385f + 1.4425779581069946f;
    vf p23 = u * -0.3945755064487457f + 0.48668619990348816f;
    vf q = u2 * (u2 * 0.25266021490097046f + p23) + p01;
    return __builtin_convertvector(e, vf) + u * q;
}

/* 2^y for y <= 127, no floorf: round to nearest with the 1.5*2^23 trick, a
 * degree-5 fit of 2^f on [-1/2, 1/2] (relative error 1.1e-7, about one
 * float rounding; exact 1 at 0) and the integer part added to the
 * exponent. Below -126 it bottoms out at the smallest normal, which
 * flush-to-zero makes 0. */
static inline vf vexp2(vf y) {
    y = vmax(y, vsplat(-126.0f));
    vf t = y + 12582912.0f;
    vf n = t - 12582912.0f;
    vf f = y - n;
    vf f2 = f * f;
    vf p01 = f * 0.6931470036506653f + 1.0f;
    vf p23 = f * 0.05550733581185341f + 0.24022242426872253f;
    vf p45 = f * 0.001326472731307149f + 0.009671512991189957f;
    vf p = f2 * (f2 * p45 + p23) + p01; /* Estrin, as in vlog2 */
    vi ni = (vi)t - 0x4b400000; /* bits of t minus bits of 1.5*2^23 = n */
    return p * (vf)((ni + 127) << 23);
}

/* One step of a gain glide (sf_gain): a one-pole in the linear domain that
 * snaps to its target when close, or when float precision stalls it short
 * of the target (near large gains the step rounds to nothing). */
static inline float glide_step(float cur, float t, float coef) {
    float next = cur + (t - cur) * coef;
    return (next == cur || fabsf(t - next) < SF_SNAP) ? t : next;
}

static inline vf vglide_step(vf cur, vf t, float coef) {
    vf next = cur + (t - cur) * coef;
    return vsel((next == cur) | (vabs(t - next) < SF_SNAP), t, next);
}

/* One step of a ramp segment (ramp.c): linear, never past the segment's
 * target (float rounding of the summed steps must not overshoot and then
 * snap back: ramps stay monotonic). */
static inline float ramp_step(float cur, float t, float d) {
    float next = cur + d;
    return (d > 0.0f ? next > t : next < t) ? t : next;
}

static inline vf vramp_step(vf cur, vf t, vf d) {
    vf next = cur + d;
    vi up = d > 0.0f;
    vi past = (up & (next > t)) | (~up & (next < t));
    return vsel(past, t, next);
}

/* ---------------- lane groups: gather and scatter ---------------- */

static const float zero_row[SF_CHUNK] __attribute__((aligned(64)));

/* One lane's source for frames [off, off+m) of the block: a pointer into a
 * mono buffer when the whole tile range is contiguous there (the transpose
 * reads whole tiles), else a copy in row[]. */
static const float *fetch_row(const sf_channel *c, int side, const sf_input *in, int off,
                              int m, float *RESTRICT row) {
    if (c->src_kind == SF_SRC_BUFFER && c->src_data) {
        const uint32_t len = c->src_frames;
        uint32_t pos = c->src_cur + (uint32_t)off;
        if (pos >= len) pos -= len; /* a loop shorter than a block wraps more than once: */
        if (pos >= len) pos %= len; /* rare, so the division is too */
        const float *d = c->src_data;
        const uint32_t tiles = ((uint32_t)m + SF_LANES - 1u) & ~(uint32_t)(SF_LANES - 1);
        if (c->src_nch == 1 && pos + tiles <= len) return d + pos;
        int k = 0;
        while (k < m) { /* bounded: each segment ends at m or at the loop point */
            uint32_t seg = len - pos;
            if (seg > (uint32_t)(m - k)) seg = (uint32_t)(m - k);
            if (c->src_nch == 1) memcpy(row + k, d + pos, sizeof(float) * seg);
            else
                for (uint32_t j = 0; j < seg; j++) row[k + (int)j] = d[2u * (pos + j) + (uint32_t)side];
            k += (int)seg;
            pos += seg;
            if (pos == len) pos = 0;
        }
    } else if (c->src_kind == SF_SRC_INPUT && in && c->src_input < in->n) {
        int i0 = c->src_input;
        sf_input_read(in, (side && i0 + 1 < in->n) ? i0 + 1 : i0, off, m, row);
    } else {
        return zero_row;
    }
    return row;
}

/* src[lane][frame] -> X[frame][lane], whole tiles (X and the rows hold
 * SF_CHUNK frames, and fetch_row hands out a direct pointer only when whole
 * tiles are readable, so a partial last tile stays inside memory). */
static void transpose_in(const float *const src[SF_LANES], float *RESTRICT X, int m) {
#if KW >= 8
    const v8i lo2 = {0, 8, 1, 9, 4, 12, 5, 13}, hi2 = {2, 10, 3, 11, 6, 14, 7, 15};
    const v8i lo4 = {0, 1, 8, 9, 4, 5, 12, 13}, hi4 = {2, 3, 10, 11, 6, 7, 14, 15};
    const v8i lo8 = {0, 1, 2, 3, 8, 9, 10, 11}, hi8 = {4, 5, 6, 7, 12, 13, 14, 15};
    for (int tl = 0; tl < SF_LANES; tl += 8) /* 8x8 tiles */
        for (int k0 = 0; k0 < m; k0 += 8) {
            v8 r[8], t[8], u[8];
            for (int l = 0; l < 8; l++) r[l] = *(const v8u *)(src[tl + l] + k0);
            for (int p = 0; p < 4; p++) {
                t[2 * p] = __builtin_shuffle(r[2 * p], r[2 * p + 1], lo2);
                t[2 * p + 1] = __builtin_shuffle(r[2 * p], r[2 * p + 1], hi2);
            }
            for (int q = 0; q < 2; q++) {
                u[4 * q + 0] = __builtin_shuffle(t[4 * q], t[4 * q + 2], lo4);
                u[4 * q + 1] = __builtin_shuffle(t[4 * q], t[4 * q + 2], hi4);
                u[4 * q + 2] = __builtin_shuffle(t[4 * q + 1], t[4 * q + 3], lo4);
                u[4 * q + 3] = __builtin_shuffle(t[4 * q + 1], t[4 * q + 3], hi4);
            }
            for (int j = 0; j < 4; j++) {
                *(v8u *)(X + (k0 + j) * SF_LANES + tl) = __builtin_shuffle(u[j], u[j + 4], lo8);
                *(v8u *)(X + (k0 + j + 4) * SF_LANES + tl) =
                    __builtin_shuffle(u[j], u[j + 4], hi8);
            }
        }
#else
    const v4i a = {0, 4, 1, 5}, b = {2, 6, 3, 7}, lo = {0, 1, 4, 5}, hi = {2, 3, 6, 7};
    for (int tl = 0; tl < SF_LANES; tl += 4) { /* 4x4 tiles */
        const float *const *R = src + tl;
        for (int k0 = 0; k0 < m; k0 += 4) {
            v4 r0 = *(const v4u *)(R[0] + k0), r1 = *(const v4u *)(R[1] + k0);
            v4 r2 = *(const v4u *)(R[2] + k0), r3 = *(const v4u *)(R[3] + k0);
            v4 t0 = __builtin_shuffle(r0, r1, a), t1 = __builtin_shuffle(r0, r1, b);
            v4 t2 = __builtin_shuffle(r2, r3, a), t3 = __builtin_shuffle(r2, r3, b);
            float *x = X + tl;
            *(v4u *)(x + (k0 + 0) * SF_LANES) = __builtin_shuffle(t0, t2, lo);
            *(v4u *)(x + (k0 + 1) * SF_LANES) = __builtin_shuffle(t0, t2, hi);
            *(v4u *)(x + (k0 + 2) * SF_LANES) = __builtin_shuffle(t1, t3, lo);
            *(v4u *)(x + (k0 + 3) * SF_LANES) = __builtin_shuffle(t1, t3, hi);
        }
    }
#endif
}

/* dst[k] += sum over the 16 lanes of A[k][.], always in the same order
 * whatever k's position in a tile: lanes l and l+8 first, then the tree
 * ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)). */
#if SF_LANES != 16
#error "reduce_out sums 16 lanes"
#endif
static inline float hsum16(const float *a) {
    float s[8];
    for (int l = 0; l < 8; l++) s[l] = a[l] + a[l + 8];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void reduce_out(const float *RESTRICT A, float *RESTRICT dst, int m) {
    int k = 0;
#if KW >= 8
    const v8i ev = {0, 2, 8, 10, 4, 6, 12, 14}, od = {1, 3, 9, 11, 5, 7, 13, 15};
    const v8i lo8 = {0, 1, 2, 3, 8, 9, 10, 11}, hi8 = {4, 5, 6, 7, 12, 13, 14, 15};
    for (; k + 8 <= m; k += 8) {
        v8 a[8];
        for (int j = 0; j < 8; j++)
            a[j] = *(const v8u *)(A + (k + j) * SF_LANES) + *(const v8u *)(A + (k + j) * SF_LANES + 8);
        v8 h01 = __builtin_shuffle(a[0], a[1], ev) + __builtin_shuffle(a[0], a[1], od);
        v8 h23 = __builtin_shuffle(a[2], a[3], ev) + __builtin_shuffle(a[2], a[3], od);
        v8 h45 = __builtin_shuffle(a[4], a[5], ev) + __builtin_shuffle(a[4], a[5], od);
        v8 h67 = __builtin_shuffle(a[6], a[7], ev) + __builtin_shuffle(a[6], a[7], od);
        v8 q0 = __builtin_shuffle(h01, h23, ev) + __builtin_shuffle(h01, h23, od);
        v8 q1 = __builtin_shuffle(h45, h67, ev) + __builtin_shuffle(h45, h67, od);
        v8 s = __builtin_shuffle(q0, q1, lo8) + __builtin_shuffle(q0, q1, hi8);
        *(v8u *)(dst + k) = *(const v8u *)(dst + k) + s;
    }
#else
    const v4i ev = {0, 2, 4, 6}, od = {1, 3, 5, 7};
    for (; k + 4 <= m; k += 4) {
        v4 s[2];
        for (int h = 0; h < 2; h++) {
            v4 a[4];
            for (int j = 0; j < 4; j++) {
                const float *r = A + (k + j) * SF_LANES + 4 * h;
                a[j] = *(const v4u *)r + *(const v4u *)(r + 8);
            }
            v4 h01 = __builtin_shuffle(a[0], a[1], ev) + __builtin_shuffle(a[0], a[1], od);
            v4 h23 = __builtin_shuffle(a[2], a[3], ev) + __builtin_shuffle(a[2], a[3], od);
            s[h] = __builtin_shuffle(h01, h23, ev) + __builtin_shuffle(h01, h23, od);
        }
        *(v4u *)(dst + k) = *(const v4u *)(dst + k) + (s[0] + s[1]);
    }
#endif
    for (; k < m; k++) dst[k] += hsum16(A + k * SF_LANES);
}

/* ---------------- lane groups: the strip ---------------- */

/* High-pass and EQ slots in use, in double precision: coefficients and
 * states are doubles (lanes.h), the signal is widened once on the way in
 * and rounded to float once on the way out, DW lanes per vector (half a
 * float vector). Why double: a bell at 20 Hz, Q 10 has poles within 1e-3 of
 * z = 1, where float coefficients move the resonance (1 dB off the RBJ
 * curve at 44.1-96 kHz, 8 dB at 192 kHz) and float states leave an error
 * floor 40-85 dB under the signal; in double the realised response is the
 * textbook one to under 0.001 dB and the floor is the float output's
 * rounding, -152 dB (tests/native/test_filters.py). Transposed DF-II with
 * every section divided by its b0 (the product of the b0s applied once at
 * the end, strip.c): the input reaches the output in one add per section,
 * and a section costs four multiply-adds. Unnormalised it costs five; a
 * normalised direct form I has the same four but a four-deep chain from
 * input to output, and measured slower; a float state-variable form does
 * as much work and misses -120 dB at 20 Hz corners (benchmarks/RESULTS.md,
 * "Meters and filters"). NS is known at compile time so the states stay in
 * registers; coefficients are memory operands. */
#define DW (KW / 2)
typedef double vd __attribute__((vector_size(DW * 8)));
typedef double vda __attribute__((vector_size(DW * 8), may_alias));
typedef float vfh __attribute__((vector_size(DW * 4)));
/* X rows are 64-byte aligned and o a multiple of DW: whole-vector aligned,
 * so the widening load is one instruction */
typedef float vfhu __attribute__((vector_size(DW * 4), may_alias, aligned(DW * 4)));

static inline vd vldd(const double *p) { return *(const vda *)p; }
static inline void vstd(double *p, vd v) { *(vda *)p = v; }

/* DW floats at p (aligned) widened to doubles, and back: one instruction each
 * where the target has it (gcc's generic conversion goes through the stack
 * for some widths). */
static inline vd vld_widen(const float *p) {
#if KW == 16 && defined(__AVX512F__)
    return (vd)_mm512_cvtps_pd(_mm256_load_ps(p));
#elif KW == 8 && defined(__AVX__)
    return (vd)_mm256_cvtps_pd(_mm_load_ps(p));
#elif KW == 4 && defined(__SSE2__)
    return (vd)_mm_cvtps_pd(_mm_castpd_ps(_mm_load_sd((const double *)(const void *)p)));
#else
    return __builtin_convertvector(*(const vfhu *)p, vd);
#endif
}

static inline void vst_narrow(float *p, vd v) {
#if KW == 16 && defined(__AVX512F__)
    _mm256_store_ps(p, _mm512_cvtpd_ps((__m512d)v));
#elif KW == 8 && defined(__AVX__)
    _mm_store_ps(p, _mm256_cvtpd_ps((__m256d)v));
#elif KW == 4 && defined(__SSE2__)
    _mm_store_sd((double *)(void *)p, _mm_castps_pd(_mm_cvtpd_ps((__m128d)v)));
#else
    *(vfhu *)p = __builtin_convertvector(v, vfh);
#endif
}

static inline __attribute__((always_inline)) void chain(sf_group *g, int q, float *RESTRICT X,
                                                         int m, const int NS) {
    vd b1[SF_MAX_STAGES], b2[SF_MAX_STAGES], na1[SF_MAX_STAGES], na2[SF_MAX_STAGES],
        s0[SF_MAX_STAGES], s1[SF_MAX_STAGES];
    const int o = q * DW;
    const vd gain = vldd(&g->gain[o]);
    for (int s = 0; s < NS; s++) {
        int sl = g->slot_list[s];
        b1[s] = vldd(&g->b1[sl][o]);
        b2[s] = vldd(&g->b2[sl][o]);
        na1[s] = vldd(&g->na1[sl][o]);
        na2[s] = vldd(&g->na2[sl][o]);
        s0[s] = vldd(&g->z0[sl][o]);
        s1[s] = vldd(&g->z1[sl][o]);
    }
    for (int k = 0; k < m; k++) {
        vd v = vld_widen(X + k * SF_LANES + o);
        for (int s = 0; s < NS; s++) {
            /* b0 = 1: the input reaches the output in one add */
            vd y = v + s0[s];
            /* the y-dependent product last: it is the recurrence's critical path */
            s0[s] = (b1[s] * v + s1[s]) + na1[s] * y;
            s1[s] = b2[s] * v + na2[s] * y;
            v = y;
        }
        vst_narrow(X + k * SF_LANES + o, gain * v);
    }
    for (int s = 0; s < NS; s++) {
        int sl = g->slot_list[s];
        vstd(&g->z0[sl][o], s0[s]);
        vstd(&g->z1[sl][o], s1[s]);
    }
}

static void run_chain(sf_group *g, float *X, int m) {
    for (int q = 0; q < SF_LANES / DW; q++) {
        switch (g->n_slots) {
            case 1: chain(g, q, X, m, 1); break;
            case 2: chain(g, q, X, m, 2); break;
            case 3: chain(g, q, X, m, 3); break;
            case 4: chain(g, q, X, m, 4); break;
            case 5: chain(g, q, X, m, 5); break;
            default: break;
        }
    }
}

/* The filter states of lanes [h*KW, h*KW + KW) summed over the slots in
 * use, as floats (a double state past the float range shows as Inf: such
 * a state is as broken as a non-finite one). */
static vf chain_state_sum(const sf_group *g, int h) {
    SF_ALIGN float out[KW];
    for (int p = 0; p < 2; p++) {
        const int o = h * KW + p * DW;
        vd acc = {0};
        for (int s = 0; s < g->n_slots; s++) {
            int sl = g->slot_list[s];
            acc += vldd(&g->z0[sl][o]) + vldd(&g->z1[sl][o]);
        }
        *(vfhu *)(out + p * DW) = __builtin_convertvector(acc, vfh);
    }
    return vld(out);
}

/* x *= g per lane, g gliding to its target with the sf_gain rule (one-pole
 * in the linear domain, snap within SF_SNAP); constant gain 1 costs nothing. */
static void lane_gain_inplace(float *RESTRICT cur, const float *RESTRICT tgt, float coef,
                              float *RESTRICT X, int m) {
    for (int h = 0; h < NSL; h++) {
        const int o = h * KW;
        vf c = vld(cur + o), t = vld(tgt + o);
        if (!vany(c != t)) {
            if (!vany(c != 1.0f))
                continue;
            for (int k = 0; k < m; k++) vst(X + k * SF_LANES + o, vld(X + k * SF_LANES + o) * c);
            continue;
        }
        for (int k = 0; k < m; k++) {
            c = vglide_step(c, t, coef);
            vst(X + k * SF_LANES + o, vld(X + k * SF_LANES + o) * c);
        }
        vst(cur + o, c);
    }
}

/* Restart the lanes flagged in b (and their stereo partners) from rest and
 * silence them for this chunk; counts one reset per channel. */
static void reset_lanes(sf_group *g, int h, vi b, float *RESTRICT X, int m, uint64_t *resets) {
    for (int i = 0; i < KW; i++) {
        int l = h * KW + i;
        if (!b[i] && !(g->pair[l] && b[i ^ 1])) continue;
        for (int s = 0; s < SF_MAX_STAGES; s++) g->z0[s][l] = g->z1[s][l] = 0.0;
        g->gr[l] = 0.0f;
        g->peak[l] = g->ss[l] = 0.0f;
        for (int k = 0; k < m; k++) X[k * SF_LANES + l] = 0.0f;
        if (g->first[l]) (*resets)++;
    }
}

/* Detector of frame k, lanes [h*KW, h*KW + KW): |x|, linked across a stereo
 * pair (max of both sides). */
static inline vf detect(const sf_group *g, const float *RESTRICT X, int k, int h) {
#if KW == 16
    const vi sw = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
#elif KW == 8
    const vi sw = {1, 0, 3, 2, 5, 4, 7, 6};
#else
    const vi sw = {1, 0, 3, 2};
#endif
    vf a = vabs(vld(X + k * SF_LANES + h * KW));
    vf b = (vf)((vi)__builtin_shuffle(a, sw) & vldi(g->pair + h * KW));
    return vmax(a, b);
}

/* Source, sanitise, trim/polarity, filters (and the detector, for a
 * two-pass layout): one group, one chunk. */
static void front(sf_engine *e, sf_group *g, float *RESTRICT X, float *RESTRICT D,
                  const sf_input *in, int off, int m, uint64_t *nonfinite,
                  uint64_t *resets) {
    sf_lanes *L = e->simd;
    const float *src[SF_LANES];
    for (int l = 0; l < SF_LANES; l++)
        src[l] = g->ch[l] >= 0 ? fetch_row(&e->ch[g->ch[l]], g->side[l], in, off, m,
                                           L->rows + l * SF_CHUNK)
                               : zero_row;
    transpose_in(src, X, m);

    /* NaN/Inf in: the common case is one pass of exponent tests. */
    vi bad = {0};
    for (int k = 0; k < m; k++)
        for (int h = 0; h < NSL; h++) bad |= vnonfinite(vld(X + k * SF_LANES + h * KW));
    if (vany(bad)) {
        for (int i = 0; i < m * SF_LANES; i++)
            if (!isfinite(X[i])) {
                X[i] = 0.0f;
                (*nonfinite)++;
            }
    }

    lane_gain_inplace(g->in_c, g->in_t, e->smooth_coef, X, m);
    if (g->n_slots) run_chain(g, X, m);

    /* An unstable moment (absurd coefficients, overflow) must not poison a
     * channel forever: restart its filters and compressor from rest. The
     * signal itself is checked after the compressor (back()). */
    for (int h = 0; h < NSL; h++) {
        vf acc = vld(g->gr + h * KW);
        if (g->n_slots) acc += chain_state_sum(g, h);
        vi b = vnonfinite(acc);
        if (vany(b)) reset_lanes(g, h, b, X, m, resets);
    }

    if (g->det && L->two_pass) /* else back() computes it where it uses it */
        for (int k = 0; k < m; k++)
            for (int h = 0; h < NSL; h++) vst(D + k * SF_LANES + h * KW, detect(g, X, k, h));
}

/* Compressor (feed-forward, log domain, soft knee, branch-free attack /
 * release) and meters (outputs() then adds the lanes into the outputs). */
static void back(sf_engine *e, sf_group *g, float *RESTRICT X, const float *RESTRICT D,
                 const float *RESTRICT Dall, int m, uint64_t *resets) {
    sf_lanes *L = e->simd;
    /* The halves of the group (NSL vectors) run side by side in every loop
     * below: each lane's arithmetic and its order are unchanged, but the
     * recurrences of the halves (gain smoothing, peak, sum of squares) are
     * independent chains the core overlaps instead of waiting on one. */
    vf pk[NSL], ss[NSL];
    for (int h = 0; h < NSL; h++) {
        pk[h] = vld(g->peak + h * KW);
        ss[h] = vld(g->ss + h * KW);
    }
    if (g->comp) {
        const vf tiny = vsplat(1e-9f), zero = vsplat(0.0f);
        size_t ko[SF_LANES] = {0};
        if (g->ext_key)
            for (int l = 0; l < SF_LANES; l++) {
                int ks = g->key_src[l];
                ko[l] = (size_t)(ks / SF_LANES) * SF_CHUNK * SF_LANES + (size_t)(ks % SF_LANES);
            }
        /* Two loops: the static curve has no recurrence (frames run in
         * parallel); the smoothing recurrence is kept a few operations
         * long so the out-of-order core overlaps the gain of earlier
         * frames with it. */
        vf T[SF_CHUNK][NSL];
        for (int k = 0; k < m; k++)
            for (int h = 0; h < NSL; h++) {
                const int o = h * KW;
                vf d;
                if (g->ext_key)
                    for (int i = 0; i < KW; i++) d[i] = Dall[ko[o + i] + (size_t)k * SF_LANES];
                else if (L->two_pass) d = vld(D + k * SF_LANES + o);
                else d = detect(g, X, k, h); /* one pass fewer over the chunk */
                /* everything in log2 units: level, threshold, knee, reduction */
                vf over = vlog2(vmax(d, tiny)) - vld(g->thr + o);
                const vf halfw = vld(g->halfw + o);
                vf dc = vmax(over + halfw, zero);
                T[k][h] = vsel(over > halfw, vld(g->nslope + o) * over, vld(g->kq + o) * dc * dc);
            }
        vf gr[NSL];
        for (int h = 0; h < NSL; h++) gr[h] = vld(g->gr + h * KW);
        for (int k = 0; k < m; k++)
            for (int h = 0; h < NSL; h++) {
                const int o = h * KW;
                const vf att = vld(g->att + o), rel = vld(g->rel + o);
                const vf catt = 1.0f - att, crel = 1.0f - rel; /* exact: att, rel >= 1/2 */
                const vf red = T[k][h];
                /* gr' = a*gr + (1-a)*red, a = attack while the reduction grows
                 * (red > gr), else release: both candidates are computed and
                 * the sign of gr - red picks one, so the sample-to-sample
                 * chain is one multiply-add and a blend. */
                const vf ra = catt * red, rr = crel * red;
                vf ga = att * gr[h] + ra;
                vf gb = rel * gr[h] + rr;
                gr[h] = vsel_sign(gr[h] - red, ga, gb);
                /* the meters see the compressed signal, in the same pass */
                vf x = vld(X + k * SF_LANES + o) * vexp2(vld(g->mk + o) - gr[h]);
                vst(X + k * SF_LANES + o, x);
                pk[h] = vmax(vabs(x), pk[h]);
                ss[h] += x * x;
            }
        for (int h = 0; h < NSL; h++) vst(g->gr + h * KW, vsel(vnonfinite(gr[h]), zero, gr[h]));
    } else {
        for (int k = 0; k < m; k++)
            for (int h = 0; h < NSL; h++) {
                vf x = vld(X + k * SF_LANES + h * KW);
                pk[h] = vmax(vabs(x), pk[h]);
                ss[h] += x * x;
            }
    }
    for (int h = 0; h < NSL; h++) {
        vst(g->peak + h * KW, pk[h]);
        vst(g->ss + h * KW, ss[h]);
        /* a non-finite sum of squares means a non-finite sample got through */
        vi b = vnonfinite(ss[h]);
        if (vany(b)) reset_lanes(g, h, b, X, m, resets);
    }

}

/* Whether a group's gains into output `out` are constant and some lane is
 * heard there (then it adds c * x, frame after frame). */
static int out_steady(const sf_group *g, int out) {
    vi moving = {0}, live = {0};
    for (int h = 0; h < NSL; h++) {
        vf c = vld(g->out_c[out] + h * KW), t = vld(g->out_t[out] + h * KW);
        moving |= c != t;
        live |= c != 0.0f;
    }
    return !vany(moving) && vany(live);
}

/* One group's lanes into output `out`'s chunk accumulator: gains constant,
 * gliding or on a ramp. */
static void out_one(sf_engine *e, sf_group *g, const float *RESTRICT X, int m, int out,
                    uint64_t *used) {
    sf_lanes *L = e->simd;
    const float coef = e->smooth_coef;
    vf c[NSL], t[NSL];
    vi moving = {0}, live = {0};
    for (int h = 0; h < NSL; h++) {
        c[h] = vld(g->out_c[out] + h * KW);
        t[h] = vld(g->out_t[out] + h * KW);
        moving |= c[h] != t[h];
        live |= (c[h] != 0.0f) | (t[h] != 0.0f);
    }
    if (!vany(live)) return;
    float *A = L->acc + (size_t)out * SF_CHUNK * SF_LANES;
    if (!(*used & (1ull << out))) {
        memset(A, 0, sizeof(float) * (size_t)m * SF_LANES);
        *used |= 1ull << out;
    }
    if (!vany(moving)) {
        for (int k = 0; k < m; k++)
            for (int h = 0; h < NSL; h++) {
                float *a = A + k * SF_LANES + h * KW;
                vst(a, vld(a) + c[h] * vld(X + k * SF_LANES + h * KW));
            }
        return;
    }
    for (int h = 0; h < NSL; h++) {
        vf cc = c[h], tt = t[h];
        const vf ss = vld(g->out_s[out] + h * KW);
        const vi lin = ss != 0.0f;
        if (__builtin_expect(vany(lin), 0)) {
            /* ramp segment on some lanes (ramp.c): linear steps there */
            for (int k = 0; k < m; k++) {
                cc = vsel(lin, vramp_step(cc, tt, ss), vglide_step(cc, tt, coef));
                float *a = A + k * SF_LANES + h * KW;
                vst(a, vld(a) + cc * vld(X + k * SF_LANES + h * KW));
            }
            vst(g->out_c[out] + h * KW, cc);
            continue;
        }
        for (int k = 0; k < m; k++) {
            cc = vglide_step(cc, tt, coef);
            float *a = A + k * SF_LANES + h * KW;
            vst(a, vld(a) + cc * vld(X + k * SF_LANES + h * KW));
        }
        vst(g->out_c[out] + h * KW, cc);
    }
}

/* Groups ga and then gb (NULL: ga alone) into every output's chunk
 * accumulator. Where both add constant gains, one pass does both, the
 * accumulator read and written once instead of twice: the same operations
 * in the same order as one group after the other, so the same bits. */
static void outputs(sf_engine *e, sf_group *ga, const float *RESTRICT Xa, sf_group *gb,
                    const float *RESTRICT Xb, int m, uint64_t *used) {
    sf_lanes *L = e->simd;
    const int n_out = 2 + 2 * e->n_bus;
    for (int out = 0; out < n_out; out++) {
        if (gb && out_steady(ga, out) && out_steady(gb, out)) {
            float *A = L->acc + (size_t)out * SF_CHUNK * SF_LANES;
            if (!(*used & (1ull << out))) {
                memset(A, 0, sizeof(float) * (size_t)m * SF_LANES);
                *used |= 1ull << out;
            }
            vf ca[NSL], cb[NSL];
            for (int h = 0; h < NSL; h++) {
                ca[h] = vld(ga->out_c[out] + h * KW);
                cb[h] = vld(gb->out_c[out] + h * KW);
            }
            for (int k = 0; k < m; k++)
                for (int h = 0; h < NSL; h++) {
                    float *a = A + k * SF_LANES + h * KW;
                    const int x = k * SF_LANES + h * KW;
                    vst(a, (vld(a) + ca[h] * vld(Xa + x)) + cb[h] * vld(Xb + x));
                }
            continue;
        }
        out_one(e, ga, Xa, m, out, used);
        if (gb) out_one(e, gb, Xb, m, out, used);
    }
}

/* ---------------- plain path: one channel, fused loops ---------------- */

/* Peak and sum of squares in one pass; a non-finite sum flags NaN/Inf
 * (x*x of a NaN or an infinity never gives back a finite sum). */
INLINE void stats(const float *RESTRICT x, int n, float *peak, float *sumsq) {
    /* four independent accumulators hide the max/FMA latency */
    vf p0 = {0}, p1 = {0}, p2 = {0}, p3 = {0}, s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int k = 0;
    for (; k + 4 * KW <= n; k += 4 * KW) {
        vf a = vldu(x + k), b = vldu(x + k + KW), c = vldu(x + k + 2 * KW),
           d = vldu(x + k + 3 * KW);
        p0 = vmax(vabs(a), p0);
        p1 = vmax(vabs(b), p1);
        p2 = vmax(vabs(c), p2);
        p3 = vmax(vabs(d), p3);
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
    }
    for (; k + KW <= n; k += KW) {
        vf a = vldu(x + k);
        p0 = vmax(vabs(a), p0);
        s0 += a * a;
    }
    /* horizontal max and sum as trees: short dependency chains */
    p0 = vmax(vmax(p0, p1), vmax(p2, p3));
    s0 = (s0 + s1) + (s2 + s3);
#if KW == 16
    const vi h8 = {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7};
    const vi h4 = {4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11};
    p0 = vmax(p0, __builtin_shuffle(p0, h8));
    s0 += __builtin_shuffle(s0, h8);
    p0 = vmax(p0, __builtin_shuffle(p0, h4));
    s0 += __builtin_shuffle(s0, h4);
    const vi h2 = {2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13};
    const vi h1 = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
#elif KW == 8
    const vi h4 = {4, 5, 6, 7, 0, 1, 2, 3};
    p0 = vmax(p0, __builtin_shuffle(p0, h4));
    s0 += __builtin_shuffle(s0, h4);
    const vi h2 = {2, 3, 0, 1, 6, 7, 4, 5}, h1 = {1, 0, 3, 2, 5, 4, 7, 6};
#else
    const vi h2 = {2, 3, 0, 1}, h1 = {1, 0, 3, 2};
#endif
    p0 = vmax(p0, __builtin_shuffle(p0, h2));
    s0 += __builtin_shuffle(s0, h2);
    p0 = vmax(p0, __builtin_shuffle(p0, h1));
    s0 += __builtin_shuffle(s0, h1);
    float p = p0[0], s = s0[0];
    for (; k < n; k++) {
        float a = fabsf(x[k]);
        p = a > p ? a : p;
        s += x[k] * x[k];
    }
    *peak = p;
    *sumsq = s;
}

static uint64_t sanitise(float *x, int n) {
    uint64_t count = 0;
    for (int k = 0; k < n; k++)
        if (!isfinite(x[k])) {
            x[k] = 0.0f;
            count++;
        }
    return count;
}

/* One output glide, sample by sample until it snaps (sf_gain rule); during a
 * ramp segment, linear steps (ramp.c snaps at the segment's end). */
static void glide_acc(sf_gain *g, float coef, const float *RESTRICT x, float *RESTRICT acc,
                      int n) {
    int k = 0;
    float cur = g->cur, t = g->target;
    if (__builtin_expect(g->step != 0.0f, 0)) {
        const float d = g->step;
        for (; k < n; k++) {
            cur = ramp_step(cur, t, d);
            acc[k] += cur * x[k];
        }
        g->cur = cur;
        return;
    }
    for (; k < n && cur != t; k++) {
        cur = glide_step(cur, t, coef);
        acc[k] += cur * x[k];
    }
    g->cur = cur;
    if (k < n && cur != 0.0f)
        for (; k < n; k++) acc[k] += cur * x[k];
}

/* Both sides of one output pair: dl += gl*xl, dr += gr*xr. The constant case
 * is the two-output bare loop; the per-sample formula is the same in both. */
INLINE void acc_pair(sf_gain *gl, sf_gain *gr, float coef, const float *RESTRICT xl,
                     const float *RESTRICT xr, float *RESTRICT dl, float *RESTRICT dr, int n) {
    if (__builtin_expect(gl->cur == gl->target && gr->cur == gr->target, 1)) {
        const float a = gl->cur, b = gr->cur;
        if (a == 0.0f && b == 0.0f) return;
        for (int k = 0; k < n; k++) {
            dl[k] += a * xl[k];
            dr[k] += b * xr[k];
        }
        return;
    }
    glide_acc(gl, coef, xl, dl, n);
    glide_acc(gr, coef, xr, dr, n);
}

static void glide_idle(sf_gain *g, float coef, int n) {
    float cur = g->cur, t = g->target;
    if (__builtin_expect(g->step != 0.0f, 0)) {
        for (int k = 0; k < n; k++) cur = ramp_step(cur, t, g->step); /* as glide_acc */
        g->cur = cur;
        return;
    }
    for (int k = 0; k < n && cur != t; k++) cur = glide_step(cur, t, coef);
    g->cur = cur;
}

static void gain_inplace(sf_gain *g, float coef, float *RESTRICT x, int n) {
    int k = 0;
    float cur = g->cur, t = g->target;
    if (__builtin_expect(g->step != 0.0f, 0)) { /* a ramp segment (ramp.c) */
        const float d = g->step;
        for (; k < n; k++) {
            cur = ramp_step(cur, t, d);
            x[k] *= cur;
        }
        g->cur = cur;
        return;
    }
    for (; k < n && cur != t; k++) {
        cur = glide_step(cur, t, coef);
        x[k] *= cur;
    }
    g->cur = cur;
    if (k < n && cur != 1.0f)
        for (; k < n; k++) x[k] *= cur;
}

/* Peak hold with fall-back and a block-wise exponential mean square, from
 * factors computed once per block length. */
INLINE void meter_update(const sf_lanes *L, float *peak, float *ms, float bpeak, float bsumsq) {
    float held = *peak * L->meter_fall_n;
    *peak = bpeak > held ? bpeak : held;
    *ms = L->meter_ms_n * *ms + L->meter_ms_w * bsumsq;
    if (!isfinite(*ms)) *ms = 0.0f;
    if (!isfinite(*peak)) *peak = 0.0f;
}

/* Copy frames [src_cur, src_cur+n) of a looped buffer (one side) into dst. */
static void copy_looped(const sf_channel *c, int side, float *RESTRICT dst, int n) {
    const uint32_t len = c->src_frames;
    uint32_t pos = c->src_cur;
    const float *d = c->src_data;
    int k = 0;
    while (k < n) {
        uint32_t seg = len - pos;
        if (seg > (uint32_t)(n - k)) seg = (uint32_t)(n - k);
        if (c->src_nch == 1) memcpy(dst + k, d + pos, sizeof(float) * seg);
        else
            for (uint32_t j = 0; j < seg; j++) dst[k + (int)j] = d[2u * (pos + j) + (uint32_t)side];
        k += (int)seg;
        pos += seg;
        if (pos == len) pos = 0;
    }
}

INLINE void advance_source(sf_channel *c, int n) {
    if (c->src_kind != SF_SRC_BUFFER || !c->src_data) return;
    uint32_t p = c->src_cur + (uint32_t)n;
    if (p >= c->src_frames) p -= c->src_frames;
    c->src_cur = p >= c->src_frames ? p % c->src_frames : p; /* loops shorter than a block */
}

/* A channel with no filter, compressor or sidechain role: source, sanitise,
 * trim/polarity, meter, fader/pan into the master and sends into the buses.
 * The common case (mono buffer, constant gains) reads the source in place:
 * one statistics pass, then one two-output pass per live output pair. */
static void plain_channel(sf_engine *e, sf_channel *c, const sf_input *in, int n,
                          uint64_t *nonfinite) {
    sf_lanes *L = e->simd;
    const int mb = e->max_block;
    const float coef = e->smooth_coef;
    float *S0 = L->scratch, *S1 = L->scratch + mb;
    const int st = c->lanes == 2;
    const float *x0 = NULL, *x1;
    int own = 0; /* x0/x1 point at the scratch (writable) */

    if (c->src_kind == SF_SRC_BUFFER && c->src_data) {
        if (!st && c->src_nch == 1 && c->src_cur + (uint32_t)n <= c->src_frames) {
            x0 = c->src_data + c->src_cur; /* contiguous: read in place */
        } else {
            copy_looped(c, 0, S0, n);
            if (st) copy_looped(c, 1, S1, n);
            x0 = S0;
            own = 1;
        }
        advance_source(c, n);
    } else if (c->src_kind == SF_SRC_INPUT && in && c->src_input < in->n) {
        int i0 = c->src_input;
        sf_input_read(in, i0, 0, n, S0);
        if (st) sf_input_read(in, i0 + 1 < in->n ? i0 + 1 : i0, 0, n, S1);
        x0 = S0;
        own = 1;
    }

    if (!x0) {
        /* Silent source: nothing to add, but glides keep their timeline. */
        glide_idle(&c->in_gain, coef, n);
        for (int s = 0; s < 2; s++) glide_idle(&c->out_gain[s], coef, n);
        for (uint32_t live = c->send_live; live; live &= live - 1u)
            for (int s = 0; s < 2; s++) glide_idle(&c->send_gain[__builtin_ctz(live)][s], coef, n);
        meter_update(L, &e->ch_peak[c - e->ch], &e->ch_ms[c - e->ch], 0.0f, 0.0f);
        return;
    }
    x1 = st ? S1 : x0;

    if (__builtin_expect(!(c->in_gain.cur == 1.0f && c->in_gain.target == 1.0f), 0)) {
        if (!own) {
            memcpy(S0, x0, sizeof(float) * (size_t)n);
            x0 = x1 = S0;
            own = 1;
        }
        sf_gain start = c->in_gain;
        gain_inplace(&c->in_gain, coef, S0, n);
        if (st) gain_inplace(&start, coef, S1, n);
    }

    float p0, s0, p1 = 0.0f, s1 = 0.0f;
    stats(x0, n, &p0, &s0);
    if (st) stats(x1, n, &p1, &s1);
    if (__builtin_expect(!isfinite(s0) || !isfinite(s1), 0)) {
        if (!own) {
            memcpy(S0, x0, sizeof(float) * (size_t)n);
            x0 = x1 = S0;
            own = 1;
        }
        *nonfinite += sanitise(S0, n);
        if (st) *nonfinite += sanitise(S1, n);
        stats(x0, n, &p0, &s0);
        if (st) stats(x1, n, &p1, &s1);
    }
    if (st) {
        p0 = p1 > p0 ? p1 : p0;
        s0 = 0.5f * (s0 + s1);
    }
    meter_update(L, &e->ch_peak[c - e->ch], &e->ch_ms[c - e->ch], p0, s0);

    acc_pair(&c->out_gain[0], &c->out_gain[1], coef, x0, x1, e->mix_buf, e->mix_buf + mb, n);
    for (uint32_t live = c->send_live; live; live &= live - 1u) {
        const int b = __builtin_ctz(live);
        sf_gain *g = c->send_gain[b];
        float *bl = e->bus_buf + (size_t)b * 2 * (size_t)mb;
        acc_pair(&g[0], &g[1], coef, x0, x1, bl, bl + mb, n);
        if (g[0].cur == 0.0f && g[0].target == 0.0f && g[1].cur == 0.0f && g[1].target == 0.0f)
            c->send_live &= ~(1u << b); /* silent and settled: skip from now on */
    }
}

/* The common plain channel: mono, read in place, no trim, constant gains,
 * audible. Several of them in a row share one pass over the master pair. */
INLINE int plain_simple(const sf_channel *c, int n) {
    return c->src_kind == SF_SRC_BUFFER && c->src_data && c->lanes == 1 && c->src_nch == 1 &&
           c->src_cur + (uint32_t)n <= c->src_frames && c->in_gain.cur == 1.0f &&
           c->in_gain.target == 1.0f && c->out_gain[0].cur == c->out_gain[0].target &&
           c->out_gain[1].cur == c->out_gain[1].target &&
           (c->out_gain[0].cur != 0.0f || c->out_gain[1].cur != 0.0f);
}

/* dl += sum_i a_i x_i, dr += sum_i b_i x_i, channel after channel in each
 * frame: the same operations, in the same order, as K separate passes (so
 * the same bits), with a K-th of the loads and stores of the outputs. */
INLINE void acc_group(float *RESTRICT dl, float *RESTRICT dr, const float *const *x,
                      const float *a, const float *b, int n, const int K) {
    const float *RESTRICT x0 = x[0], *RESTRICT x1 = x[1 % K], *RESTRICT x2 = x[2 % K],
                          *RESTRICT x3 = x[3 % K];
    for (int k = 0; k < n; k++) {
        float l = dl[k], r = dr[k];
        l += a[0] * x0[k];
        r += b[0] * x0[k];
        if (K > 1) {
            l += a[1] * x1[k];
            r += b[1] * x1[k];
        }
        if (K > 2) {
            l += a[2] * x2[k];
            r += b[2] * x2[k];
        }
        if (K > 3) {
            l += a[3] * x3[k];
            r += b[3] * x3[k];
        }
        dl[k] = l;
        dr[k] = r;
    }
}

/* K (2..4) simple plain channels. Returns 0, having changed nothing, when
 * one of them carries NaN/Inf: the caller then takes them one by one. */
static int plain_group(sf_engine *e, sf_channel *const *cs, int K, int n) {
    sf_lanes *L = e->simd;
    const int mb = e->max_block;
    const float *x[4];
    float a[4], b[4], p[4], s[4];
    for (int i = 0; i < K; i++) {
        x[i] = cs[i]->src_data + cs[i]->src_cur;
        stats(x[i], n, &p[i], &s[i]);
        if (!isfinite(s[i])) return 0;
        a[i] = cs[i]->out_gain[0].cur;
        b[i] = cs[i]->out_gain[1].cur;
    }
    float *dl = e->mix_buf, *dr = e->mix_buf + mb;
    switch (K) {
        case 2: acc_group(dl, dr, x, a, b, n, 2); break;
        case 3: acc_group(dl, dr, x, a, b, n, 3); break;
        default: acc_group(dl, dr, x, a, b, n, 4); break;
    }
    for (int i = 0; i < K; i++) {
        sf_channel *c = cs[i];
        meter_update(L, &e->ch_peak[c - e->ch], &e->ch_ms[c - e->ch], p[i], s[i]);
        for (uint32_t live = c->send_live; live; live &= live - 1u) {
            const int bus = __builtin_ctz(live);
            sf_gain *g = c->send_gain[bus];
            float *bl = e->bus_buf + (size_t)bus * 2 * (size_t)mb;
            acc_pair(&g[0], &g[1], e->smooth_coef, x[i], x[i], bl, bl + mb, n);
            if (g[0].cur == 0.0f && g[0].target == 0.0f && g[1].cur == 0.0f &&
                g[1].target == 0.0f)
                c->send_live &= ~(1u << bus);
        }
        advance_source(c, n);
    }
    return 1;
}

/* ---------------- overflow at the sums ---------------- */

/* Bits of SF_OVER_CEILING (2^20): |x| above it, Inf and NaN all have larger
 * magnitude bits, so one integer compare per sample finds every overflow. */
#define OVER_BITS 0x49800000

/* Clamp a bus or master sum (see SF_OVER_CEILING in sf_core.h). Returns the
 * samples changed; *nan gets those that were NaN (they had no magnitude to
 * keep, so they become 0). The common case is the vectorised test alone. */
static uint64_t over_fix(float *RESTRICT x, int n, uint64_t *nan) {
    vi bad = {0};
    int k = 0;
    for (; k + KW <= n; k += KW) bad |= ((vi)vldu(x + k) & 0x7fffffff) > OVER_BITS;
    int tail = 0;
    for (; k < n; k++) {
        union { float f; int32_t i; } u = {x[k]};
        tail |= (u.i & 0x7fffffff) > OVER_BITS;
    }
    if (__builtin_expect(!vany(bad) && !tail, 1)) return 0;
    uint64_t count = 0;
    for (k = 0; k < n; k++) {
        float v = x[k];
        if (isnan(v)) {
            x[k] = 0.0f;
            (*nan)++;
            count++;
        } else if (fabsf(v) > (float)SF_OVER_CEILING) {
            x[k] = v > 0.0f ? (float)SF_OVER_CEILING : -(float)SF_OVER_CEILING;
            count++;
        }
    }
    return count;
}

/* ---------------- the block ---------------- */

static void block_stats(const float *RESTRICT x, int n, float *peak, float *sumsq) {
    stats(x, n, peak, sumsq);
}

void KFN(sf_engine *e, const sf_input *in, int n) {
    sf_lanes *L = e->simd;
    const int mb = e->max_block;
    const float coef = e->smooth_coef;
    float *mixL = e->mix_buf, *mixR = e->mix_buf + mb;
    memset(mixL, 0, sizeof(float) * (size_t)n);
    memset(mixR, 0, sizeof(float) * (size_t)n);
    for (int b = 0; b < e->n_bus; b++) {
        float *bl = e->bus_buf + (size_t)b * 2 * (size_t)mb;
        memset(bl, 0, sizeof(float) * (size_t)n);
        memset(bl + mb, 0, sizeof(float) * (size_t)n);
    }
    if (L->meter_n != n) {
        L->meter_n = n;
        L->meter_fall_n = powf(e->meter_fall, (float)n);
        L->meter_ms_n = powf(e->ms_coef, (float)n);
        L->meter_ms_w = (1.0f - L->meter_ms_n) / (float)n;
    }

    uint64_t nonfinite = 0, resets = 0;

    /* lane groups, chunk by chunk */
    for (int gi = 0; gi < L->n_groups; gi++) {
        memset(L->groups[gi].peak, 0, sizeof L->groups[gi].peak);
        memset(L->groups[gi].ss, 0, sizeof L->groups[gi].ss);
    }
    const size_t gstride = (size_t)SF_CHUNK * SF_LANES;
    for (int off = 0; off < n && L->n_groups; off += SF_CHUNK) {
        int m = n - off < SF_CHUNK ? n - off : SF_CHUNK;
        uint64_t used = 0;
        if (L->two_pass) {
            for (int gi = 0; gi < L->n_groups; gi++) {
                front(e, &L->groups[gi], L->x + gi * gstride, L->det + gi * gstride, in,
                      off, m, &nonfinite, &resets);
            }
            for (int gi = 0; gi < L->n_groups; gi++)
                back(e, &L->groups[gi], L->x + gi * gstride, L->det + gi * gstride, L->det, m,
                     &resets);
            for (int gi = 0; gi < L->n_groups; gi += 2) {
                const int two = gi + 1 < L->n_groups;
                outputs(e, &L->groups[gi], L->x + gi * gstride, two ? &L->groups[gi + 1] : NULL,
                        L->x + (gi + two) * gstride, m, &used);
            }
        } else {
            /* groups in pairs, each in its own buffer, for outputs() */
            for (int gi = 0; gi < L->n_groups; gi++) {
                float *X = L->x + (gi & 1) * gstride;
                front(e, &L->groups[gi], X, L->det, in, off, m, &nonfinite, &resets);
                back(e, &L->groups[gi], X, L->det, L->det, m, &resets);
                if (gi & 1)
                    outputs(e, &L->groups[gi - 1], L->x, &L->groups[gi], X, m, &used);
                else if (gi + 1 == L->n_groups)
                    outputs(e, &L->groups[gi], X, NULL, X, m, &used);
            }
        }
        for (int out = 0; out < 2 + 2 * e->n_bus; out++) {
            if (!(used & (1ull << out))) continue;
            float *dst = out < 2 ? e->mix_buf + (size_t)out * (size_t)mb
                                 : e->bus_buf + (size_t)(out - 2) * (size_t)mb;
            reduce_out(L->acc + (size_t)out * gstride, dst + off, m);
        }
    }
    for (int gi = 0; gi < L->n_groups; gi++) {
        const sf_group *g = &L->groups[gi];
        for (int l = 0; l < SF_LANES; l++) {
            if (g->ch[l] < 0 || !g->first[l]) continue;
            sf_channel *c = &e->ch[g->ch[l]];
            float bp = g->peak[l], bs = g->ss[l];
            if (c->lanes == 2 && l + 1 < SF_LANES) {
                bp = g->peak[l + 1] > bp ? g->peak[l + 1] : bp;
                bs = 0.5f * (bs + g->ss[l + 1]);
            }
            meter_update(L, &e->ch_peak[g->ch[l]], &e->ch_ms[g->ch[l]], bp, bs);
            advance_source(c, n);
        }
    }

    /* plain channels */
    for (int j = 0; j < L->n_plain;) {
        sf_channel *cs[4];
        int K = 0;
        while (K < 4 && j + K < L->n_plain && plain_simple(&e->ch[L->plain[j + K]], n)) {
            cs[K] = &e->ch[L->plain[j + K]];
            K++;
        }
        if (K >= 2 && plain_group(e, cs, K, n)) {
            j += K;
            continue;
        }
        plain_channel(e, &e->ch[L->plain[j]], in, n, &nonfinite);
        j++;
    }

    /* buses into the master; sums sanitised first (overflow cannot reach
     * the bus meters or the master) */
    uint64_t over = 0, over_nan = 0, bus_nan = 0;
    for (int b = 0; b < e->n_bus; b++) {
        sf_bus *bus = &e->bus[b];
        float *bl = e->bus_buf + (size_t)b * 2 * (size_t)mb, *br = bl + mb;
        uint64_t bo = over_fix(bl, n, &bus_nan) + over_fix(br, n, &bus_nan);
        over += bo;
        sf_gain start = bus->gain;
        gain_inplace(&bus->gain, coef, bl, n);
        gain_inplace(&start, coef, br, n);
        float lp, ls, rp, rs;
        block_stats(bl, n, &lp, &ls);
        block_stats(br, n, &rp, &rs);
        lp = lp > rp ? lp : rp;
        if (bo && lp < (float)SF_OVER_CEILING) lp = (float)SF_OVER_CEILING; /* show it */
        meter_update(L, &bus->peak, &bus->ms, lp, 0.5f * (ls + rs));
        for (int k = 0; k < n; k++) {
            mixL[k] += bl[k];
            mixR[k] += br[k];
        }
    }

    /* master: the sum sanitised, then fader and monitor trim (one gain),
     * then checked again (an absurd master gain must not overflow either) */
    uint64_t side_over[2];
    side_over[0] = over_fix(mixL, n, &over_nan);
    side_over[1] = over_fix(mixR, n, &over_nan);
    {
        sf_gain start = e->master_gain;
        gain_inplace(&e->master_gain, coef, mixL, n);
        gain_inplace(&start, coef, mixR, n);
    }
    side_over[0] += over_fix(mixL, n, &over_nan);
    side_over[1] += over_fix(mixR, n, &over_nan);
    over += side_over[0] + side_over[1];
    uint64_t clips = over_nan; /* a NaN at the master was an overflow too: a clip */
    float tps[2];
    sf_overs_truepeak(e, mixL, mixR, n, tps);
    for (int side = 0; side < 2; side++) {
        float *x = side ? mixR : mixL;
        uint32_t cl = 0;
        for (int k = 0; k < n; k++) cl += fabsf(x[k]) > 1.0f;
        clips += cl;
        if (cl) sf_overs_clips(e, x, n);
        float p, s;
        block_stats(x, n, &p, &s);
        if (side_over[side] && p < (float)SF_OVER_CEILING) p = (float)SF_OVER_CEILING;
        meter_update(L, &e->m_peak[side], &e->m_ms[side], p, s);
        float tp = tps[side];
        float held = e->m_tp[side] * L->meter_fall_n;
        e->m_tp[side] = tp > held ? tp : held;
        if (tp > e->m_tp_max[side]) e->m_tp_max[side] = tp;
    }
    sf_loudness_process(&e->loud, mixL, mixR, n);

    e->src_pos += (uint64_t)n;
    if (clips) atomic_fetch_add_explicit(&e->clip_count, clips, memory_order_relaxed);
    if (nonfinite) atomic_fetch_add_explicit(&e->nonfinite_count, nonfinite, memory_order_relaxed);
    if (resets) atomic_fetch_add_explicit(&e->state_resets, resets, memory_order_relaxed);
    if (over) atomic_fetch_add_explicit(&e->overflow_count, over, memory_order_relaxed);
}
