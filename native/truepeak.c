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
 *
 * The block loop (see "Block processing" below) computes many outputs at
 * once, one per vector lane, each in one fixed order of float operations,
 * so every reading is bit-identical however the stream is cut into blocks
 * and whichever kernel (plain C, 4-, 8- or 16-lane vectors) runs it.
 */
#include "truepeak.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Every product is rounded before it is added (see "Block processing"):
 * never fuse them into FMAs, even where the compiler's default would (gcc
 * in gnu11 mode, clang on some targets). gcc implements no STDC pragma but
 * reads -std=c11 as -ffp-contract=off; this says so in the source too. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SF_PI 3.14159265358979323846
#define KAISER_BETA 5.5

/* Even: branch 0 is a pure delay. Multiple of 4: each sum runs as four
 * interleaved partial sums (see "Block processing"). */
#if SF_TRUEPEAK_TAPS % 4 != 0
#error "SF_TRUEPEAK_TAPS must be a multiple of 4"
#endif
/* The kernels below are written out for three filtered branches. */
#if SF_TRUEPEAK_FACTOR != 4
#error "the block kernels assume SF_TRUEPEAK_FACTOR == 4"
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


/* ------------------------------------------------------------------------
 * Block processing
 *
 * Each interpolated point is the dot product of a branch's TAPS
 * coefficients c[t] with the window w[t] of the last TAPS inputs (oldest
 * first), computed in one fixed order, the order of the original
 * one-point-at-a-time loop (so no reading changed):
 *
 *     s_q = ((c[q] w[q] + c[q+4] w[q+4]) + c[q+8] w[q+8]) + ...  (q = 0..3,
 *           each from 0.0f, every product and sum rounded to float)
 *     y   = (s_0 + s_1) + (s_2 + s_3)
 *
 * Input is staged in a linear buffer on the stack,
 *
 *     buf[0 .. TAPS-1]        the TAPS samples before this pass,
 *     buf[TAPS .. TAPS+m-1]   this pass's m inputs (non-finite read as 0),
 *
 * so the window of input k is buf[k+1 .. k+TAPS]: contiguous, no index
 * wraps. The vector kernels compute VL consecutive inputs' points at once,
 * one per lane: for each tap they multiply a splat of c[t] by the VL samples
 * at buf[k+1+t ..], which is w[t] of each lane's own window, and add it to
 * that lane's s_q. So every lane performs exactly the scalar operations
 * above; nothing is reassociated (no -ffast-math) or fused (no FMA: -std=c11
 * means -ffp-contract=off in gcc, and the x86 kernels do not enable FMA). A
 * point's value depends on its window alone -- not on its lane, pass, block
 * or kernel -- and readings are bit-identical however the stream is cut. A
 * short last group runs over zero padding, its extra lanes masked off.
 */
#define CHUNK 256 /* inputs per pass: buf is ~1.2 KiB of stack */
#define VL_MAX 16 /* widest kernel; buf is padded for its last group */
#define TINY 4    /* blocks shorter than this skip the staging */

/* The peak over one input's points: |sample| (w[TAPS-1], the input itself,
 * which covers the delayed 0/4 branch) and |y| of the three filtered
 * branches. Plain C, one window at a time: the tiny-block path, the
 * fallback for compilers without GNU vector extensions, and the reference
 * every vector kernel matches bit for bit (tests build it alone, with
 * -DSF_TRUEPEAK_PLAIN_C). */
static float window_peak(const float (*c)[SF_TRUEPEAK_TAPS], const float *w)
{
    float peak = fabsf(w[SF_TRUEPEAK_TAPS - 1]), a;
    int p, t;
    for (p = 0; p < SF_TRUEPEAK_FACTOR - 1; p++) {
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        for (t = 0; t < SF_TRUEPEAK_TAPS; t += 4) {
            s0 += c[p][t] * w[t];
            s1 += c[p][t + 1] * w[t + 1];
            s2 += c[p][t + 2] * w[t + 2];
            s3 += c[p][t + 3] * w[t + 3];
        }
        /* A NaN here (possible only from a poked history, or inf - inf with
         * absurd 1e38 inputs) fails the comparison and is skipped. */
        a = fabsf((s0 + s1) + (s2 + s3));
        peak = a > peak ? a : peak;
    }
    return peak;
}

/* The largest window_peak over inputs 0..m-1 of a staged pass. */
static float pass_plain(const float (*c)[SF_TRUEPEAK_TAPS], const float *buf, int m)
{
    float peak = 0.0f, a;
    int k;
    for (k = 0; k < m; k++) {
        a = window_peak(c, buf + k + 1);
        peak = a > peak ? a : peak;
    }
    return peak;
}

#if (defined(__GNUC__) || defined(__clang__)) && !defined(SF_TRUEPEAK_PLAIN_C)
#define TP_VECTOR 1
#include <stdint.h>

/* Vector helpers for the kernels (GNU C vector extensions, which gcc and
 * clang lower to SSE/AVX/NEON). Macros, not functions, so that no vector is
 * passed by value outside the kernels' own target attributes.
 *  TP_LOAD: an unaligned load of sizeof(v) bytes.
 *  TP_ABS:  |x| by clearing the sign bit.
 *  TP_MAX:  p = a > p ? a : p per lane, as a mask select: a NaN in a fails
 *           the comparison and never replaces p (see window_peak). */
#define TP_LOAD(v, ptr) memcpy(&(v), (ptr), sizeof(v))
#define TP_ABS(VF, VI, x) ((VF)((VI)(x) & 0x7fffffff))
#define TP_MAX(VF, VI, a, p)                                                           \
    do {                                                                               \
        const VF a_ = (a);                                                             \
        const VI take_ = a_ > (p);                                                     \
        (p) = (VF)(((VI)a_ & take_) | ((VI)(p) & ~take_));                             \
    } while (0)

/* How a kernel reads coefficient c[p][t] as cs[p][t]: a scalar that the
 * multiply broadcasts (a free broadcast load on AVX, a by-element multiply
 * on NEON), or, on plain SSE2 where each broadcast is a shuffle, a table of
 * splats built once per pass (1.5 KiB of stack, 96 vector stores). */
#define TP_COEFS_SCALAR(VF, VL) const float (*const cs)[SF_TRUEPEAK_TAPS] = c
#define TP_COEFS_SPLAT(VF, VL)                                                         \
    VF cs[SF_TRUEPEAK_FACTOR - 1][SF_TRUEPEAK_TAPS];                                   \
    {                                                                                  \
        int p_, t_, j_;                                                                \
        for (p_ = 0; p_ < SF_TRUEPEAK_FACTOR - 1; p_++)                                \
            for (t_ = 0; t_ < SF_TRUEPEAK_TAPS; t_++)                                  \
                for (j_ = 0; j_ < (VL); j_++)                                          \
                    cs[p_][t_][j_] = c[p_][t_];                                        \
    }

/*
 * A kernel NAME of VL lanes with the function attributes ATTR: the largest
 * window_peak over inputs 0..m-1 of a staged pass (buf padded with at least
 * VL - 1 readable floats after the last input). Twelve accumulators, three
 * branches (a, b, d) by four partial sums, keep the multiply and add units
 * busy with no dependency chain in the way. Lanes past m are zeroed before
 * they reach the running peak.
 */
#define TP_DEFINE_KERNEL(NAME, VL, ATTR, COEFS)                                        \
    typedef float NAME##_vf __attribute__((vector_size(4 * (VL))));                    \
    typedef int32_t NAME##_vi __attribute__((vector_size(4 * (VL))));                  \
    ATTR static float NAME(const float (*c)[SF_TRUEPEAK_TAPS], const float *buf, int m) \
    {                                                                                  \
        NAME##_vf peak = {0.0f};                                                       \
        NAME##_vi lane;                                                                \
        float out = 0.0f;                                                              \
        int j, k, t;                                                                   \
        COEFS(NAME##_vf, VL);                                                          \
        for (j = 0; j < (VL); j++)                                                     \
            lane[j] = j;                                                               \
        for (k = 0; k < m; k += (VL)) {                                                \
            const float *w = buf + k + 1;                                              \
            NAME##_vf a0 = {0.0f}, a1 = {0.0f}, a2 = {0.0f}, a3 = {0.0f};              \
            NAME##_vf b0 = {0.0f}, b1 = {0.0f}, b2 = {0.0f}, b3 = {0.0f};              \
            NAME##_vf d0 = {0.0f}, d1 = {0.0f}, d2 = {0.0f}, d3 = {0.0f};              \
            NAME##_vf v, g;                                                            \
            for (t = 0; t < SF_TRUEPEAK_TAPS; t += 4) {                                \
                TP_LOAD(v, w + t);                                                     \
                a0 += cs[0][t] * v;                                                    \
                b0 += cs[1][t] * v;                                                    \
                d0 += cs[2][t] * v;                                                    \
                TP_LOAD(v, w + t + 1);                                                 \
                a1 += cs[0][t + 1] * v;                                                \
                b1 += cs[1][t + 1] * v;                                                \
                d1 += cs[2][t + 1] * v;                                                \
                TP_LOAD(v, w + t + 2);                                                 \
                a2 += cs[0][t + 2] * v;                                                \
                b2 += cs[1][t + 2] * v;                                                \
                d2 += cs[2][t + 2] * v;                                                \
                TP_LOAD(v, w + t + 3);                                                 \
                a3 += cs[0][t + 3] * v;                                                \
                b3 += cs[1][t + 3] * v;                                                \
                d3 += cs[2][t + 3] * v;                                                \
            }                                                                          \
            TP_LOAD(v, w + SF_TRUEPEAK_TAPS - 1); /* the inputs themselves */          \
            g = TP_ABS(NAME##_vf, NAME##_vi, v);                                       \
            TP_MAX(NAME##_vf, NAME##_vi, TP_ABS(NAME##_vf, NAME##_vi, (a0 + a1) + (a2 + a3)), g); \
            TP_MAX(NAME##_vf, NAME##_vi, TP_ABS(NAME##_vf, NAME##_vi, (b0 + b1) + (b2 + b3)), g); \
            TP_MAX(NAME##_vf, NAME##_vi, TP_ABS(NAME##_vf, NAME##_vi, (d0 + d1) + (d2 + d3)), g); \
            g = (NAME##_vf)((NAME##_vi)g & (lane < m - k));                            \
            TP_MAX(NAME##_vf, NAME##_vi, g, peak);                                     \
        }                                                                              \
        for (j = 0; j < (VL); j++)                                                     \
            out = peak[j] > out ? peak[j] : out;                                       \
        return out;                                                                    \
    }

/* 4 lanes: SSE2 (the x86-64 baseline), NEON, or whatever the target has. */
#if defined(__SSE2__) && !defined(__AVX__)
TP_DEFINE_KERNEL(pass_v4, 4, , TP_COEFS_SPLAT)
#else
TP_DEFINE_KERNEL(pass_v4, 4, , TP_COEFS_SCALAR)
#endif

#if defined(__x86_64__) || defined(__i386__)
#define TP_X86 1
/* AVX2 (8 lanes) and AVX-512F (16 lanes), used when the CPU has them. */
TP_DEFINE_KERNEL(pass_v8, 8, __attribute__((target("avx2"))), TP_COEFS_SCALAR)
TP_DEFINE_KERNEL(pass_v16, 16, __attribute__((target("avx512f"))), TP_COEFS_SCALAR)
#endif
#endif /* TP_VECTOR */

/* The kernel in use: 0 plain C, 1 four lanes, 2 AVX2, 3 AVX-512F. */
enum { TP_PLAIN, TP_V4, TP_V8, TP_V16 };
static _Atomic int tp_kernel;

/* Chosen by every sf_truepeak_init, i.e. off the audio thread: the widest
 * the CPU runs, capped like the core's own kernel set by SURFACED_KERNEL
 * (=generic: 4 lanes; =avx2: at most AVX2). Every kernel gives the same
 * readings bit for bit, so the choice changes speed only. */
static void pick_kernel(void)
{
    int k = TP_PLAIN;
#if defined(TP_VECTOR)
    k = TP_V4;
#if defined(TP_X86)
    {
        const char *want = getenv("SURFACED_KERNEL");
        int cap = TP_V16;
        if (want && strcmp(want, "generic") == 0)
            cap = TP_V4;
        if (want && strcmp(want, "avx2") == 0)
            cap = TP_V8;
        __builtin_cpu_init();
        if (cap >= TP_V8 && __builtin_cpu_supports("avx2"))
            k = TP_V8;
        if (cap >= TP_V16 && k == TP_V8 && __builtin_cpu_supports("avx512f"))
            k = TP_V16;
    }
#endif
#endif
    atomic_store_explicit(&tp_kernel, k, memory_order_relaxed);
}

const char *sf_truepeak_kernel(void)
{
    switch (atomic_load_explicit(&tp_kernel, memory_order_relaxed)) {
    case TP_V16:
        return "avx512";
    case TP_V8:
        return "avx2";
    case TP_V4:
        return "generic";
    default:
        return "plain";
    }
}

static float run_pass(int kernel, const float (*c)[SF_TRUEPEAK_TAPS], const float *buf, int m)
{
    switch (kernel) {
#if defined(TP_X86)
    case TP_V16:
        return pass_v16(c, buf, m);
    case TP_V8:
        return pass_v8(c, buf, m);
#endif
#if defined(TP_VECTOR)
    case TP_V4:
        return pass_v4(c, buf, m);
#endif
    default:
        return pass_plain(c, buf, m);
    }
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
    pick_kernel();
}

void sf_truepeak_reset(sf_truepeak *t)
{
    memset(t->hist, 0, sizeof t->hist);
    t->pos = 0;
}

float sf_truepeak_block(sf_truepeak *t, const float *x, int n)
{
    const float (*c)[SF_TRUEPEAK_TAPS] = (const float (*)[SF_TRUEPEAK_TAPS])t->coef;
    float buf[SF_TRUEPEAK_TAPS + CHUNK + VL_MAX];
    float peak = 0.0f;
    int32_t pos = t->pos;
    int kernel, done, k;

    if (x == NULL || n <= 0)
        return 0.0f;
    /* A corrupted index would reach outside hist; start over instead. */
    if (pos < 0 || pos >= SF_TRUEPEAK_TAPS)
        pos = 0;

    if (n < TINY) {
        /* A few samples: straight into the mirrored history, one window at
         * a time (staging, and a vector group's unused lanes, would cost
         * more than the arithmetic). Same values as the staged path. */
        for (k = 0; k < n; k++) {
            float v = x[k], a;
            /* NaN fails the comparison too: non-finite input reads as 0. */
            if (!(fabsf(v) <= FLT_MAX))
                v = 0.0f;
            t->hist[pos] = v;
            t->hist[pos + SF_TRUEPEAK_TAPS] = v;
            a = window_peak(c, &t->hist[pos + 1]);
            peak = a > peak ? a : peak;
            pos = pos + 1 == SF_TRUEPEAK_TAPS ? 0 : pos + 1;
        }
        t->pos = pos;
        return peak <= FLT_MAX ? peak : FLT_MAX;
    }

    kernel = atomic_load_explicit(&tp_kernel, memory_order_relaxed);
    memcpy(buf, &t->hist[pos], SF_TRUEPEAK_TAPS * sizeof buf[0]);
    for (done = 0; done < n; done += CHUNK) {
        const int m = n - done < CHUNK ? n - done : CHUNK;
        const float *in = x + done;
        float *dst = buf + SF_TRUEPEAK_TAPS;
        float a;

        for (k = 0; k < m; k++) {
            const float v = in[k];
            dst[k] = fabsf(v) <= FLT_MAX ? v : 0.0f; /* NaN, +-inf -> 0 */
        }
        memset(dst + m, 0, VL_MAX * sizeof buf[0]); /* the masked lanes' reads */
        a = run_pass(kernel, c, buf, m);
        peak = a > peak ? a : peak;
        /* The last TAPS samples are the next pass's history. */
        memmove(buf, buf + m, SF_TRUEPEAK_TAPS * sizeof buf[0]);
    }

    /* History back at hist[0 ..], mirrored at hist[TAPS ..], and pos = 0:
     * the tiny-block path needs the mirror, and hist[p .. p + TAPS - 1] is
     * the same window for every p in range. */
    memcpy(t->hist, buf, SF_TRUEPEAK_TAPS * sizeof buf[0]);
    memcpy(t->hist + SF_TRUEPEAK_TAPS, buf, SF_TRUEPEAK_TAPS * sizeof buf[0]);
    t->pos = 0;
    return peak <= FLT_MAX ? peak : FLT_MAX;
}
