/*
 * SIMD lane groups: how channel strips are laid out for the block kernels.
 * Internal to the core (strip.c, kern_body.h, kern_avx2.c).
 *
 * A lane is one mono signal. Channels that need per-sample processing
 * (high-pass, EQ, compressor, or being a sidechain key) get one lane (mono)
 * or two adjacent lanes starting on an even lane (stereo: both sides carry
 * identical coefficients). Lanes are grouped SF_LANES at a time and stored
 * structure-of-arrays ([slot][lane], [frame][lane]), so one vector
 * instruction runs the same filter step on up to sixteen channels. Every other
 * channel takes the plain path: fused per-channel loops (source, sanitise,
 * meter, gain and pan into the outputs), no transposition.
 *
 * The layout is a pure function of the channel configuration (channel order,
 * mono/stereo, which channels need lanes), so the order in which signals are
 * summed is too: a block cut into different lengths gives the same bits.
 */
#ifndef SF_LANES_H
#define SF_LANES_H

#include <stdint.h>

#include "sf_internal.h"

#define SF_LANES 16 /* one AVX-512 vector, two AVX2 vectors, four SSE2/NEON ones */
#define SF_CHUNK 64 /* frames per pass of the lane kernels (L1-sized buffers) */
#define SF_OUTS_MAX (2 + 2 * SF_MAX_BUSES) /* master L/R, then bus b L/R */

#define SF_ALIGN _Alignas(64)

typedef struct sf_group {
    /* lane map */
    int32_t ch[SF_LANES];    /* channel index, -1 for an idle lane */
    uint8_t side[SF_LANES];  /* 0 mono/left, 1 right */
    uint8_t first[SF_LANES]; /* 1 on a channel's first lane */
    int32_t key_src[SF_LANES]; /* global lane whose detector feeds this lane */
    int32_t slot_list[SF_MAX_STAGES]; /* slots some lane uses, in order */
    int32_t n_slots;
    int32_t comp;    /* some lane compresses */
    int32_t det;     /* some lane compresses or is a sidechain key */
    int32_t ext_key; /* some lane's detector is another channel's */
    SF_ALIGN int32_t pair[SF_LANES]; /* -1 where the lane is half of a stereo pair */

    /* filters, transposed DF-II in double precision (see chain() in
     * kern_body.h), per slot and lane: each section divided by its b0 (so
     * b1 and b2 here are b1/b0 and b2/b0; a1/a2 stored negated), the b0s'
     * product applied once after the last section (gain, per lane) */
    SF_ALIGN double gain[SF_LANES];
    SF_ALIGN double b1[SF_MAX_STAGES][SF_LANES];
    SF_ALIGN double b2[SF_MAX_STAGES][SF_LANES];
    SF_ALIGN double na1[SF_MAX_STAGES][SF_LANES];
    SF_ALIGN double na2[SF_MAX_STAGES][SF_LANES];
    SF_ALIGN double z0[SF_MAX_STAGES][SF_LANES];
    SF_ALIGN double z1[SF_MAX_STAGES][SF_LANES];

    /* compressor, log2 units (lanes with it off: all 0, a curve of exactly
     * 0 dB) */
    SF_ALIGN float thr[SF_LANES];
    SF_ALIGN float halfw[SF_LANES];
    SF_ALIGN float kq[SF_LANES];
    SF_ALIGN float nslope[SF_LANES];
    SF_ALIGN float att[SF_LANES];
    SF_ALIGN float rel[SF_LANES];
    SF_ALIGN float mk[SF_LANES];
    SF_ALIGN float gr[SF_LANES];

    /* gains: current value and target per lane (sf_gain semantics) */
    SF_ALIGN float in_c[SF_LANES];
    SF_ALIGN float in_t[SF_LANES];
    SF_ALIGN float out_c[SF_OUTS_MAX][SF_LANES]; /* indexed like the outputs */
    SF_ALIGN float out_t[SF_OUTS_MAX][SF_LANES];
    SF_ALIGN float out_s[SF_OUTS_MAX][SF_LANES]; /* ramp steps (sf_gain.step), 0 = glide */

    /* meters over the current block */
    SF_ALIGN float peak[SF_LANES];
    SF_ALIGN float ss[SF_LANES];
} sf_group;

typedef void (*sf_block_fn)(sf_engine *e, const sf_input *in, int n);

typedef struct sf_lanes {
    sf_group *groups; /* cap groups, n in use */
    int n_groups, cap_groups;
    int two_pass;     /* some compressor is keyed from another channel */
    int relayout;     /* the layout must be rebuilt before the next block */
    int pending;      /* some channel's lane copy is stale */
    int *plain;       /* channels on the plain path, in order */
    int n_plain;
    /* per-chunk buffers, [frame][lane] */
    float *x;      /* signal: one group (fused) or every group (two-pass) */
    float *det;    /* detector, same shape */
    float *acc;    /* SF_OUTS_MAX outputs x SF_CHUNK x SF_LANES */
    float *rows;   /* SF_LANES x SF_CHUNK: sources before transposition */
    float *scratch; /* 2 x max_block: plain-path copies */
    /* per-block meter factors, cached for the last block length */
    int meter_n;
    float meter_fall_n, meter_ms_n, meter_ms_w; /* fall^n, a^n, (1-a^n)/n */
    sf_block_fn block;
    const char *kernel; /* name of the kernel set in use */
} sf_lanes;

/* kernel sets (strip.c, kern_avx2.c, kern_avx512.c) */
void sf_block_generic(sf_engine *e, const sf_input *in, int n);
#if defined(__x86_64__) || defined(__i386__)
void sf_block_avx2(sf_engine *e, const sf_input *in, int n);
void sf_block_avx512(sf_engine *e, const sf_input *in, int n);
#endif

#endif
