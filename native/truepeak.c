/*
 * True-peak metering after ITU-R BS.1770-4 Annex 2 (and the EBU Tech 3341
 * true-peak requirements): 4x oversampling by a polyphase FIR interpolator,
 * then the peak of the absolute value.
 *
 * The interpolator is our own design, made once at init:
 *  - prototype: ideal low-pass at the original Nyquist frequency (a sinc
 *    with zeros every 4 output samples), 4 * SF_TRUEPEAK_TAPS taps centred
 *    on tap 2 * TAPS, Kaiser window (beta 5.5, about 60 dB of image
 *    rejection; a larger beta widens the transition band and costs more
 *    accuracy near 20 kHz than it gains in rejection at this length);
 *  - because the centre sits on a multiple of 4 (TAPS even), branch 0 of the
 *    polyphase split is exactly a delay of TAPS / 2 samples: those output
 *    points are input samples, which the sample peak already covers, so
 *    only branches 1..3 are filtered (3 * TAPS multiply-adds per sample);
 *  - each branch is normalised to unity DC gain, so DC and slow signals read
 *    exactly their level instead of a window-dependent ripple.
 * FIR filters have no feedback, so a bad value leaves the history after
 * TAPS samples; no state can get stuck.
 */
#include "truepeak.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SF_PI 3.14159265358979323846
#define KAISER_BETA 5.5

/* Even: branch 0 is a pure delay. Multiple of 4: branch() unrolls by 4. */
#if SF_TRUEPEAK_TAPS % 4 != 0
#error "SF_TRUEPEAK_TAPS must be a multiple of 4"
#endif

/* Modified Bessel function of the first kind, order 0, by its power series
 * sum ((x/2)^k / k!)^2; for x <= 10 it converges to double precision well
 * within 60 terms. Init time only. */
static double bessel_i0(double x)
{
    const double q = 0.25 * x * x;
    double sum = 1.0, term = 1.0;
    int k;
    for (k = 1; k < 60; k++) {
        term *= q / ((double)k * (double)k);
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return sum;
}

/* Prototype tap at offset d = n - centre (in output samples). */
static double prototype_tap(int d)
{
    const double half = 2.0 * SF_TRUEPEAK_TAPS; /* half-length of the window */
    const double r = (double)d / half;
    double sinc, window;

    if (d == 0)
        sinc = 1.0;
    else if (d % SF_TRUEPEAK_FACTOR == 0)
        sinc = 0.0; /* exact zeros keep branch 0 a pure delay */
    else {
        const double a = SF_PI * (double)d / SF_TRUEPEAK_FACTOR;
        sinc = sin(a) / a;
    }
    window = r * r < 1.0 ? bessel_i0(KAISER_BETA * sqrt(1.0 - r * r)) / bessel_i0(KAISER_BETA)
                         : 0.0;
    return sinc * window;
}

void sf_truepeak_init(sf_truepeak *t)
{
    const int centre = 2 * SF_TRUEPEAK_TAPS;
    int p, j;

    for (p = 1; p < SF_TRUEPEAK_FACTOR; p++) {
        double taps[SF_TRUEPEAK_TAPS];
        double sum = 0.0;
        /* Branch p, newest input x[m] weighted by prototype tap p, x[m-k]
         * by tap 4k + p; stored oldest first to match the history window. */
        for (j = 0; j < SF_TRUEPEAK_TAPS; j++) {
            const int k = SF_TRUEPEAK_TAPS - 1 - j;
            taps[j] = prototype_tap(SF_TRUEPEAK_FACTOR * k + p - centre);
            sum += taps[j];
        }
        for (j = 0; j < SF_TRUEPEAK_TAPS; j++)
            t->coef[p - 1][j] = (float)(taps[j] / sum);
    }
    sf_truepeak_reset(t);
}

void sf_truepeak_reset(sf_truepeak *t)
{
    memset(t->hist, 0, sizeof t->hist);
    t->pos = 0;
}

/* One branch against the history window. Four partial sums break the
 * add-latency chain (and let the compiler use SIMD) while keeping a fixed
 * summation order, so results do not depend on block boundaries. */
static float branch(const float *c, const float *w)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int j;
    for (j = 0; j < SF_TRUEPEAK_TAPS; j += 4) {
        s0 += c[j] * w[j];
        s1 += c[j + 1] * w[j + 1];
        s2 += c[j + 2] * w[j + 2];
        s3 += c[j + 3] * w[j + 3];
    }
    return (s0 + s1) + (s2 + s3);
}

float sf_truepeak_block(sf_truepeak *t, const float *x, int n)
{
    float peak = 0.0f;
    int32_t pos = t->pos;
    int i, p;

    if (x == NULL || n <= 0)
        return 0.0f;
    /* A corrupted index would write outside hist; start over instead. */
    if (pos < 0 || pos >= SF_TRUEPEAK_TAPS)
        pos = 0;

    for (i = 0; i < n; i++) {
        float v = x[i];
        const float *w;
        float a;

        /* NaN fails the comparison too: non-finite input reads as 0. */
        if (!(fabsf(v) <= FLT_MAX))
            v = 0.0f;
        t->hist[pos] = v;
        t->hist[pos + SF_TRUEPEAK_TAPS] = v;
        w = &t->hist[pos + 1]; /* the last TAPS samples, oldest first */

        a = fabsf(v);
        if (a > peak)
            peak = a;
        for (p = 0; p < SF_TRUEPEAK_FACTOR - 1; p++) {
            /* A NaN here (possible only from a poked history, or inf - inf
             * with absurd 1e38 inputs) fails the comparison and is skipped. */
            a = fabsf(branch(t->coef[p], w));
            if (a > peak)
                peak = a;
        }
        pos = (pos + 1 == SF_TRUEPEAK_TAPS) ? 0 : pos + 1;
    }
    t->pos = pos;
    if (!(peak <= FLT_MAX))
        peak = FLT_MAX;
    return peak;
}
