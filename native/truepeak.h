/*
 * True-peak meter for one channel, after ITU-R BS.1770-4 Annex 2: the
 * signal is oversampled 4x with a polyphase FIR interpolator and the
 * largest absolute value of the oversampled signal is the true peak.
 *
 * C11, libc + libm only. The caller embeds an sf_truepeak (fixed size, no
 * heap pointers); sf_truepeak_block never allocates and is bounded by n, so
 * it is safe on the audio thread. One instance per channel.
 */
#ifndef SF_TRUEPEAK_H
#define SF_TRUEPEAK_H

#include <stdint.h>

/* Oversampling factor (BS.1770-4 Annex 2: 4x for 48 kHz material). */
#define SF_TRUEPEAK_FACTOR 4
/* Taps per polyphase branch (the prototype low-pass has 4x as many). The
 * Annex 2 example uses 12; 32 keeps the interpolation error under ~0.2 %
 * of full scale for content up to 0.45 fs (21.6 kHz at 48 kHz) where 12
 * taps err by several percent. Must be a multiple of 4 (even, so that one
 * branch is a pure delay; see truepeak.c). */
#define SF_TRUEPEAK_TAPS 32

typedef struct sf_truepeak {
    /* Interpolating branches for the 1/4, 2/4 and 3/4 sample positions,
     * stored in time order against the history window (oldest first). The
     * 0/4 branch is the input itself, delayed, and needs no filter. */
    float coef[SF_TRUEPEAK_FACTOR - 1][SF_TRUEPEAK_TAPS];
    /* Input history: the last TAPS samples, oldest first, are
     * hist[pos .. pos + TAPS - 1], every sample stored twice (at i and
     * i + TAPS) so that window is contiguous for any pos in [0, TAPS).
     * Blocks of 4 or more samples leave pos = 0; shorter ones advance it. */
    float hist[2 * SF_TRUEPEAK_TAPS];
    int32_t pos;
} sf_truepeak;

/*
 * Design the interpolator (a Kaiser-windowed sinc low-pass at the original
 * Nyquist frequency, split into polyphase branches, each normalised to unity
 * gain at DC) and reset the history. The design depends only on the
 * oversampling factor, not on the sample rate. Calls sin/sqrt; does not
 * allocate. Also (re)chooses the process-wide block kernel, from the CPU and
 * the SURFACED_KERNEL environment variable (=generic or =avx2 caps it, as
 * for the core's own kernels); every kernel gives bit-identical readings.
 */
void sf_truepeak_init(sf_truepeak *t);

/*
 * Clear the history (as if preceded by silence). Keeps the coefficients.
 * Safe on the audio thread.
 */
void sf_truepeak_reset(sf_truepeak *t);

/*
 * Feed n samples of one channel (n <= 0 or x == NULL returns 0 and changes
 * nothing) and return the largest |value| among these n input samples and
 * the 4x-oversampled points computed in this call, as a linear amplitude
 * (so the result is never below the sample peak of x). The interpolated
 * points lag the input by SF_TRUEPEAK_TAPS / 2 samples (0.33 ms at 48 kHz):
 * a peak between the last samples of a block is reported by the next call,
 * which is what a meter with any fall-back wants. Non-finite samples are
 * read as 0; the result is always finite (capped at FLT_MAX). Every
 * oversampled point is computed in one fixed order of float operations, so
 * the values (and so the running maximum over a stream) do not depend on
 * how the stream is cut into blocks. Uses under 3 KiB of stack.
 */
float sf_truepeak_block(sf_truepeak *t, const float *x, int n);

/*
 * The block kernel sf_truepeak_block runs now: "avx512", "avx2", "generic"
 * (4-lane vectors: SSE2, NEON) or "plain" (scalar C). For tests and
 * benchmarks.
 */
const char *sf_truepeak_kernel(void);

#endif
