/*
 * Loudness meter for the master bus: ITU-R BS.1770-4 K-weighted loudness
 * with the EBU R 128 / EBU Tech 3341 time scales (momentary 400 ms,
 * short-term 3 s, gated integrated) and the loudness range of EBU Tech 3342.
 *
 * C11, libc + libm only. The caller embeds an sf_loudness (fixed size, no
 * heap pointers); nothing allocates after sf_loudness_init, and
 * sf_loudness_process is bounded by the number of frames it is given, so it
 * is safe on the audio thread.
 *
 * Threading: init/reset/process/getters all belong to the thread that owns
 * the struct (the audio thread in the engine). The getters only read cached
 * floats, so the engine can copy them into its meter snapshot every block.
 */
#ifndef SF_LOUDNESS_H
#define SF_LOUDNESS_H

#include <stdint.h>

/* Readings move on in steps of 10 ms (SF_LOUDNESS_STEPS_PER_S a second),
 * counted from the last reset: fixed positions in the stream, whatever the
 * block size. */
#define SF_LOUDNESS_STEPS_PER_S 100
/* Short-term window in steps (EBU Tech 3341: 3 s). */
#define SF_LOUDNESS_SUBBLOCKS 300
/* Momentary window / gating block in steps (BS.1770-4: 400 ms). */
#define SF_LOUDNESS_GATE_SUBBLOCKS 40
/* Steps between gating blocks (BS.1770-4: 100 ms, 75 % overlap) and between
 * the short-term values the loudness range collects (Tech 3342: >= 10 Hz). */
#define SF_LOUDNESS_GATE_HOP 10
/* Gating histogram: 0.02 LU bins from -70 LUFS (the absolute gate) up to
 * +30 LUFS; louder blocks (only reachable with an over-full-scale master)
 * share the top bin, which still keeps their exact energy. */
#define SF_LOUDNESS_HIST_BINS 5000
#define SF_LOUDNESS_HIST_MIN_LUFS -70.0
#define SF_LOUDNESS_HIST_STEP_LU 0.02
/* Reading for "no signal": momentary/short-term of pure silence, integrated
 * before any block passed the absolute gate. Any lower value is floored to
 * this, so the meter never shows -inf or NaN. */
#define SF_LOUDNESS_SILENCE_LUFS -200.0f
/* Gating blocks kept for a caller that collects them after every
 * sf_loudness_process call (the engine's A/B history, gateblocks.c). One
 * call completes at most n / (rate / 10) + 1 blocks: 6 for SF_MAX_BLOCK
 * (4096) frames at 8 kHz, so 8 is enough at every supported rate. */
#define SF_LOUDNESS_RECENT_BLOCKS 8

/* One biquad: y = b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2 (a0 normalised to 1). */
typedef struct sf_loudness_biquad {
    double b0, b1, b2, a1, a2;
} sf_loudness_biquad;

typedef struct sf_loudness {
    /* Gating histogram (see SF_LOUDNESS_HIST_*): per-bin summed block
     * mean-square and block count. Energies are summed exactly; only the
     * relative-gate decision is quantised to one bin. */
    double hist_energy[SF_LOUDNESS_HIST_BINS];
    uint32_t hist_count[SF_LOUDNESS_HIST_BINS];
    /* Loudness range (EBU Tech 3342): short-term values above the absolute
     * gate, counted per bin of the same scale (the relative gate and the
     * percentiles are decided to one bin, 0.02 LU), and their summed
     * energy for the relative gate. */
    uint32_t lra_count[SF_LOUDNESS_HIST_BINS];
    double lra_energy;
    uint64_t lra_n;

    /* K-weighting for this rate: pre-filter (high shelf) then RLB high-pass. */
    sf_loudness_biquad shelf;
    sf_loudness_biquad highpass;
    /* Transposed direct form II states: [channel][shelf s1, s2, hp s1, s2]. */
    double state[2][4];

    /* Current 10 ms step: K-weighted sum of squares per channel.
     * Kept per channel so the summation order, and so the result, does not
     * depend on how the stream is cut into blocks. */
    double acc[2];
    /* Completed steps: channel-summed mean square, ring of the last 3 s. */
    double sub[SF_LOUDNESS_SUBBLOCKS];

    /* Absolute-gated totals (all blocks above -70 LUFS): set the relative gate. */
    double abs_energy;
    uint64_t abs_count;
    uint64_t sub_count; /* steps completed since reset */

    double sample_rate;
    int32_t hop;      /* frames per 10 ms step, round(rate / 100) */
    int32_t hop_fill; /* frames already in the current step */
    int32_t sub_pos;  /* next slot in sub[] */
    int32_t hist_top; /* highest histogram bin in use, -1 when empty */
    int32_t dirty;    /* a gating block arrived; integrated needs recomputing */
    int32_t lra_dirty; /* a short-term value arrived; the range needs recomputing */
    int32_t lra_top;   /* highest lra_count bin in use, -1 when empty */

    /* Filter states found non-finite and cleared since init (diagnostics
     * for sf_master_meters.state_resets; sf_loudness_reset keeps it). */
    uint32_t state_resets;

    /* Cached readings (LUFS; range in LU), updated every completed step. */
    float momentary;
    float short_term;
    float integrated;
    float range;

    /* The gating blocks completed lately (see SF_LOUDNESS_RECENT_BLOCKS):
     * block k, counted from init and never reset, is at
     * [k % SF_LOUDNESS_RECENT_BLOCKS]: its mean square (channel-summed,
     * before the absolute gate) and sub_count at its end (steps since the
     * last reset). Only whole blocks count, as for the integrated value. */
    uint64_t blocks_done;
    double recent_z[SF_LOUDNESS_RECENT_BLOCKS];
    uint64_t recent_step[SF_LOUDNESS_RECENT_BLOCKS];
} sf_loudness;

/*
 * Set up a meter for sample_rate (Hz) and reset it.
 *
 * The two K-weighting biquads are derived for this rate from the analog
 * prototypes behind the 48 kHz coefficients of ITU-R BS.1770-4, Annex 1,
 * Tables 1 and 2 (inverse bilinear transform at 48 kHz, then the bilinear
 * transform prewarped at each filter's corner for the new rate), so 48 kHz
 * reproduces the tables and other rates get the same frequency response.
 * Rates outside 8 kHz..768 kHz are clamped into that range (non-finite or
 * non-positive means 48 kHz). Does not allocate, but calls tan/atan/sqrt and
 * clears ~85 KB: call it when the engine is created or the rate changes.
 */
void sf_loudness_init(sf_loudness *l, double sample_rate);

/*
 * Forget all history: filter states, the 3 s ring, the gating and range
 * histograms, the integrated value and the range (what "reset meters" means
 * to a user). Keeps the coefficients and the state_resets count. Bounded
 * (clears the fixed-size struct, ~85 KB, a few microseconds); safe on the
 * audio thread.
 */
void sf_loudness_reset(sf_loudness *l);

/*
 * Feed n frames of the deinterleaved stereo programme (n >= 0, any block
 * size; n <= 0 does nothing). right may be NULL for a mono programme.
 * Channel weights are 1.0 (BS.1770-4 for L/R). Non-finite samples are read
 * as 0. Readings change only when a 10 ms step completes, at fixed
 * positions in the stream, so results are bit-identical whatever the block
 * sizes. Cost: two double-precision biquads per sample and channel, 340
 * adds per 10 ms step, plus, in a call that completes a 100 ms gating hop,
 * one pass over the used part of the gating histogram and three over the
 * range's (at most 4 * SF_LOUDNESS_HIST_BINS steps, a few microseconds;
 * benchmarks/bench_meters.py measures the whole meter).
 */
void sf_loudness_process(sf_loudness *l, const float *left, const float *right, int n);

/*
 * Momentary loudness (LUFS): the last 400 ms, ungated, updated every 10 ms
 * (so a 400 ms burst anywhere in the stream reads within 0.055 LU of its
 * level at the step nearest its end; see loudness.c).
 * Time before the last reset counts as silence. SF_LOUDNESS_SILENCE_LUFS
 * (-200) when silent.
 */
float sf_loudness_momentary(const sf_loudness *l);

/*
 * Short-term loudness (LUFS): the last 3 s, ungated, updated every 10 ms.
 * Time before the last reset counts as silence. -200 when silent.
 */
float sf_loudness_short_term(const sf_loudness *l);

/*
 * Integrated (programme) loudness since the last reset (LUFS), gated per
 * ITU-R BS.1770-4: 400 ms blocks every 100 ms, absolute gate -70 LUFS,
 * relative gate -10 LU below the absolute-gated loudness. -200 while no
 * block has passed the gates. O(1): the value is cached by process().
 */
float sf_loudness_integrated(const sf_loudness *l);

/*
 * Loudness range (LU) since the last reset, EBU Tech 3342: the short-term
 * loudness sampled every 100 ms (once a whole 3 s window has passed), values
 * above -70 LUFS, then above 20 LU under their power mean; the range is the
 * 95th minus the 10th percentile of those (nearest rank, to 0.02 LU). 0
 * while no value has passed the gates. O(1): cached by process().
 */
float sf_loudness_range(const sf_loudness *l);

#endif
