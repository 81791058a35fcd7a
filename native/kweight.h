/*
 * Internal to the core: the K-weighting loop of loudness.c and chanmeter.c
 * (not part of loudness.h, which tests read as a cffi cdef).
 */
#ifndef SF_KWEIGHT_H
#define SF_KWEIGHT_H

#include <float.h>
#include <math.h>

#include "loudness.h"

/*
 * The K-weighting loop, shared by this meter and the per-channel meter
 * (chanmeter.c) so the two can never drift apart: n samples of one channel
 * through the pre-filter and the RLB high-pass (transposed direct form II,
 * double precision, states st[4] = shelf s1, s2, hp s1, s2), the squares of
 * the weighted output added to *kacc. Non-finite input reads as 0. When
 * acc / peak are not NULL (constants at each call site, so the unused work
 * compiles away), the plain square is added to *acc and the sample peak
 * kept in *peak as well. The arithmetic and its order do not depend on n.
 */
static inline __attribute__((always_inline)) void
sf_kweight_run(const sf_loudness_biquad *sh, const sf_loudness_biquad *hp, double st[4],
               const float *x, int n, double *kacc, double *acc, float *peak)
{
    const sf_loudness_biquad s = *sh, h = *hp;
    double s1 = st[0], s2 = st[1], h1 = st[2], h2 = st[3];
    double k = *kacc, a = acc ? *acc : 0.0;
    float p = peak ? *peak : 0.0f;
    int i;
    for (i = 0; i < n; i++) {
        const float v = x[i];
        /* NaN fails the comparison too: non-finite input reads as 0. */
        const double in = (fabsf(v) <= FLT_MAX) ? (double)v : 0.0;
        double y, z;
        y = s.b0 * in + s1;
        s1 = s.b1 * in - s.a1 * y + s2;
        s2 = s.b2 * in - s.a2 * y;
        z = h.b0 * y + h1;
        h1 = h.b1 * y - h.a1 * z + h2;
        h2 = h.b2 * y - h.a2 * z;
        k += z * z;
        if (acc)
            a += in * in;
        if (peak) {
            const float m = (float)fabs(in);
            p = m > p ? m : p;
        }
    }
    st[0] = s1;
    st[1] = s2;
    st[2] = h1;
    st[3] = h2;
    *kacc = k;
    if (acc)
        *acc = a;
    if (peak)
        *peak = p;
}

#endif
