/*
 * Filter design and small math helpers (control-rate: called when a
 * parameter changes, never per sample).
 *
 * Biquad formulas: Robert Bristow-Johnson, "Cookbook formulae for audio EQ
 * biquad filter coefficients" (peaking, shelves with the Q form of alpha,
 * high-pass). Coefficients are computed and stored in double, normalised:
 * the kernels run the filters in double (kern_body.h, chain()), so the
 * response is the cookbook's to rounding, even for a 20 Hz bell at Q 10.
 */
#include <math.h>

#include "sf_internal.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

float sf_db_to_lin(float db) {
    /* Anything at or under SF_DB_OFF is silence, so -inf faders are exact 0. */
    if (!(db > SF_DB_OFF)) return 0.0f;
    return (float)pow(10.0, (double)db / 20.0);
}

static void store(sf_biquad *b, double b0, double b1, double b2, double a0, double a1,
                  double a2) {
    b->b0 = b0 / a0;
    b->b1 = b1 / a0;
    b->b2 = b2 / a0;
    b->a1 = a1 / a0;
    b->a2 = a2 / a0;
}

/* Keep the design frequency strictly inside (0, Nyquist): at or past Nyquist
 * the bilinear warp is undefined and the filter would blow up. */
static double clamp_freq(double rate, double f) {
    double hi = 0.49 * rate;
    if (!(f > 1.0)) f = 1.0;
    if (f > hi) f = hi;
    return f;
}

static double clamp_q(double q) {
    if (!(q > 0.01)) return 0.01;
    return q > 100.0 ? 100.0 : q;
}

void sf_biquad_peaking(sf_biquad *b, double rate, double f, double q, double gain_db) {
    double A = pow(10.0, gain_db / 40.0);
    double w0 = 2.0 * M_PI * clamp_freq(rate, f) / rate;
    double cw = cos(w0), alpha = sin(w0) / (2.0 * clamp_q(q));
    store(b, 1.0 + alpha * A, -2.0 * cw, 1.0 - alpha * A, 1.0 + alpha / A, -2.0 * cw,
          1.0 - alpha / A);
}

void sf_biquad_lowshelf(sf_biquad *b, double rate, double f, double q, double gain_db) {
    double A = pow(10.0, gain_db / 40.0);
    double w0 = 2.0 * M_PI * clamp_freq(rate, f) / rate;
    double cw = cos(w0), alpha = sin(w0) / (2.0 * clamp_q(q));
    double sa = 2.0 * sqrt(A) * alpha;
    store(b, A * ((A + 1) - (A - 1) * cw + sa), 2 * A * ((A - 1) - (A + 1) * cw),
          A * ((A + 1) - (A - 1) * cw - sa), (A + 1) + (A - 1) * cw + sa,
          -2 * ((A - 1) + (A + 1) * cw), (A + 1) + (A - 1) * cw - sa);
}

void sf_biquad_highshelf(sf_biquad *b, double rate, double f, double q, double gain_db) {
    double A = pow(10.0, gain_db / 40.0);
    double w0 = 2.0 * M_PI * clamp_freq(rate, f) / rate;
    double cw = cos(w0), alpha = sin(w0) / (2.0 * clamp_q(q));
    double sa = 2.0 * sqrt(A) * alpha;
    store(b, A * ((A + 1) + (A - 1) * cw + sa), -2 * A * ((A - 1) + (A + 1) * cw),
          A * ((A + 1) + (A - 1) * cw - sa), (A + 1) - (A - 1) * cw + sa,
          2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - sa);
}

void sf_biquad_highpass(sf_biquad *b, double rate, double f, double q) {
    double w0 = 2.0 * M_PI * clamp_freq(rate, f) / rate;
    double cw = cos(w0), alpha = sin(w0) / (2.0 * clamp_q(q));
    store(b, (1 + cw) / 2, -(1 + cw), (1 + cw) / 2, 1 + alpha, -2 * cw, 1 - alpha);
}
