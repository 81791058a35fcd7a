/*
 * ITU-R BS.1770-4 loudness (K-weighting, mean square, gating) with the
 * EBU R 128 time scales described in EBU Tech 3341 (momentary 400 ms,
 * short-term 3 s, integrated) and the loudness range of EBU Tech 3342.
 *
 * How it works, and why:
 *  - Each channel runs the two K-weighting biquads in double precision
 *    (the high-pass sits at 38 Hz, where float states lose the low end).
 *  - Squared output is summed per channel over 10 ms steps, and every
 *    reading is a mean of whole steps: momentary = last 40, short-term =
 *    last 300, gating block = last 40 taken every 10th step (the 100 ms
 *    hop of the BS.1770-4 gating blocks). A fixed ring of 300 step
 *    energies is all the history needed.
 *  - Why 10 ms: a reading can only change at a step end, so a 400 ms burst
 *    [t0, t0 + 400 ms] of constant power P is seen whole only if a step
 *    ends exactly at t0 + 400 ms. Step ends lie every h = 10 ms, so one of
 *    them is within h/2 of the burst's end, and the momentary window
 *    ending there still holds at least 400 - h/2 = 395 ms of the burst:
 *    the maximum momentary reading is at least 10 log10(395/400) = -0.055
 *    LU from P (EBU Tech 3341 case 13 allows +-0.1 LU), and the same
 *    argument gives -0.0072 LU for 3 s bursts (case 10). With 100 ms steps
 *    the bound was 10 log10(350/400) = -0.58 LU. The steps sit at fixed
 *    frame counts from the last reset, not at block edges, so readings
 *    stay bit-identical for any block size. Cost of the finer grid: 340
 *    adds per 10 ms (the sums are redone from the ring, so nothing drifts
 *    over hours), against ~2000 multiply-adds of filtering in those 10 ms.
 *  - Integrated loudness keeps no list of blocks (which would grow without
 *    bound): each gating block lands in a histogram bin by its loudness,
 *    and the bin keeps the exact summed energy and count. The relative gate
 *    is then decided per bin, so the result is exact except that blocks
 *    within one bin (0.02 LU) of the relative gate are taken or left
 *    together. This is the approach of x42's meters, written afresh here.
 *  - The loudness range (EBU Tech 3342) counts the short-term values in a
 *    second histogram of the same bins, every 100 ms once a whole 3 s
 *    window has passed; the relative gate (-20 LU) and the 10th and 95th
 *    percentiles are found by one walk over the bins in use.
 *  - All state hygiene (non-finite and tiny-value flushing) happens at
 *    step ends, which sit at fixed positions in the stream, so cutting the
 *    stream into different block sizes gives bit-identical readings.
 */
#include "loudness.h"
#include "kweight.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SF_PI 3.14159265358979323846

/* BS.1770-4: loudness = -0.691 + 10 log10(sum of weighted mean squares). The
 * offset cancels the K-weighting gain at 1 kHz. */
#define LUFS_OFFSET -0.691
/* BS.1770-4 gates. */
#define ABSOLUTE_GATE_LUFS -70.0
#define RELATIVE_GATE_FACTOR 0.1 /* -10 LU as an energy ratio */
/* EBU Tech 3342: the loudness range's relative gate, -20 LU, and its
 * percentiles. */
#define LRA_GATE_FACTOR 0.01
#define LRA_LOW_PERCENTILE 0.10
#define LRA_HIGH_PERCENTILE 0.95
/* States below this are flushed to zero at step ends: far below
 * anything audible (-600 dB) and far above the denormal range (1e-308), so
 * a decaying tail never turns into slow denormal arithmetic. */
#define STATE_FLUSH 1e-30

/* ITU-R BS.1770-4, Annex 1, Table 1: stage 1 pre-filter (high shelf)
 * at 48 kHz. */
static const sf_loudness_biquad bs1770_shelf_48k = {
    1.53512485958697, -2.69169618940638, 1.19839281085285,
    -1.69065929318241, 0.73248077421585,
};
/* ITU-R BS.1770-4, Annex 1, Table 2: stage 2 RLB high-pass at 48 kHz
 * (numerator 1, -2, 1 as printed, i.e. not normalised). */
static const sf_loudness_biquad bs1770_highpass_48k = {
    1.0, -2.0, 1.0,
    -1.99004745483398, 0.99007225036621,
};

/*
 * Analog second-order prototype
 *   H(s) = (g_hi s^2 + g_mid (w0/Q) s + g_lo w0^2) / (s^2 + (w0/Q) s + w0^2)
 * A shelf, a high-pass or a low-pass are choices of (g_hi, g_mid, g_lo).
 * The bilinear transform prewarped at f0 (K = tan(pi f0 / fs)) maps it to
 *   b = [g_hi + g_mid K/Q + g_lo K^2, 2 (g_lo K^2 - g_hi), g_hi - g_mid K/Q + g_lo K^2] / a0
 *   a = [1, 2 (K^2 - 1) / a0, (1 - K/Q + K^2) / a0],  a0 = 1 + K/Q + K^2
 * (the form libebur128 uses). Inverting the two ITU tables through it gives
 * g_lo = 1 for the pre-filter (a clean high shelf: f0 1681.97 Hz, Q 0.7072,
 * +4.0 dB) and g_mid = g_lo = 0 for the RLB stage (a clean high-pass:
 * f0 38.135 Hz, Q 0.5003, passband gain 1.005 as the table's unnormalised
 * numerator implies), which is what makes re-deriving other rates sound.
 */
typedef struct analog_biquad {
    double f0, q, g_hi, g_mid, g_lo;
} analog_biquad;

/* Invert the mapping above for a digital biquad designed at fs: sums at
 * z = 1 and z = -1 and the odd part separate K^2, K/Q and the three gains. */
static analog_biquad prototype_of(const sf_loudness_biquad *d, double fs)
{
    analog_biquad p;
    const double den = 1.0 - d->a1 + d->a2; /* = 4 / a0 */
    const double a0 = 4.0 / den;
    const double k2 = (1.0 + d->a1 + d->a2) / den;
    const double kq = 2.0 * (1.0 - d->a2) / den;
    const double k = sqrt(k2);

    p.f0 = fs * atan(k) / SF_PI;
    p.q = k / kq;
    p.g_hi = (d->b0 - d->b1 + d->b2) * a0 / 4.0;
    p.g_mid = (d->b0 - d->b2) * a0 / (2.0 * kq);
    p.g_lo = (d->b0 + d->b1 + d->b2) * a0 / (4.0 * k2);
    return p;
}

static sf_loudness_biquad bilinear(const analog_biquad *p, double fs)
{
    sf_loudness_biquad d;
    const double k = tan(SF_PI * p->f0 / fs);
    const double k2 = k * k;
    const double kq = k / p->q;
    const double a0 = 1.0 + kq + k2;

    d.b0 = (p->g_hi + p->g_mid * kq + p->g_lo * k2) / a0;
    d.b1 = 2.0 * (p->g_lo * k2 - p->g_hi) / a0;
    d.b2 = (p->g_hi - p->g_mid * kq + p->g_lo * k2) / a0;
    d.a1 = 2.0 * (k2 - 1.0) / a0;
    d.a2 = (1.0 - kq + k2) / a0;
    return d;
}

/* Mean square -> LUFS, floored at the silence reading so callers never see
 * -inf or NaN. */
static float to_lufs(double z)
{
    double lufs;
    if (!(z > 0.0))
        return SF_LOUDNESS_SILENCE_LUFS;
    lufs = LUFS_OFFSET + 10.0 * log10(z);
    if (!(lufs > (double)SF_LOUDNESS_SILENCE_LUFS))
        return SF_LOUDNESS_SILENCE_LUFS;
    return (float)lufs;
}

/* Histogram bin of a loudness value (>= -70 LUFS; louder than the top edge
 * shares the top bin). */
static int bin_of(double lufs)
{
    const double pos = (lufs - SF_LOUDNESS_HIST_MIN_LUFS) / SF_LOUDNESS_HIST_STEP_LU;
    if (!(pos > 0.0))
        return 0;
    if (pos >= (double)(SF_LOUDNESS_HIST_BINS - 1))
        return SF_LOUDNESS_HIST_BINS - 1;
    return (int)pos;
}

void sf_loudness_init(sf_loudness *l, double sample_rate)
{
    analog_biquad shelf, highpass;
    double hop;

    /* The shelf's 1.68 kHz corner needs fs well above 3.4 kHz for the
     * prewarp; 8 kHz..768 kHz covers every real interface. */
    if (!(sample_rate >= 8000.0))
        sample_rate = sample_rate > 0.0 ? 8000.0 : 48000.0; /* NaN -> 48 k */
    if (sample_rate > 768000.0)
        sample_rate = 768000.0;

    shelf = prototype_of(&bs1770_shelf_48k, 48000.0);
    highpass = prototype_of(&bs1770_highpass_48k, 48000.0);
    l->shelf = bilinear(&shelf, sample_rate);
    l->highpass = bilinear(&highpass, sample_rate);
    l->sample_rate = sample_rate;

    /* 10 ms rounded to whole frames (exact at 8/16/32/44.1/48/88.2/96 kHz...;
     * e.g. 22.05 kHz gets 221 frames = 10.02 ms). */
    hop = floor(sample_rate / (double)SF_LOUDNESS_STEPS_PER_S + 0.5);
    l->hop = (int32_t)hop;
    l->state_resets = 0;
    l->blocks_done = 0; /* not reset by sf_loudness_reset: a collector counts on it */
    sf_loudness_reset(l);
}

void sf_loudness_reset(sf_loudness *l)
{
    memset(l->hist_energy, 0, sizeof l->hist_energy);
    memset(l->hist_count, 0, sizeof l->hist_count);
    memset(l->lra_count, 0, sizeof l->lra_count);
    l->lra_energy = 0.0;
    l->lra_n = 0;
    l->lra_dirty = 0;
    l->lra_top = -1;
    l->range = 0.0f;
    memset(l->state, 0, sizeof l->state);
    memset(l->acc, 0, sizeof l->acc);
    memset(l->sub, 0, sizeof l->sub);
    l->abs_energy = 0.0;
    l->abs_count = 0;
    l->sub_count = 0;
    l->hop_fill = 0;
    l->sub_pos = 0;
    l->hist_top = -1;
    l->dirty = 0;
    l->momentary = SF_LOUDNESS_SILENCE_LUFS;
    l->short_term = SF_LOUDNESS_SILENCE_LUFS;
    l->integrated = SF_LOUDNESS_SILENCE_LUFS;
}

/* K-weight n samples of one channel and add their squares to acc[ch]
 * (the shared loop in loudness.h). */
static void weigh_channel(sf_loudness *l, int ch, const float *x, int n)
{
    sf_kweight_run(&l->shelf, &l->highpass, l->state[ch], x, n, &l->acc[ch], NULL, NULL);
}

/* Clear a channel's states if any went non-finite (they would stay NaN
 * forever in a recursive filter) and flush tiny ones (see STATE_FLUSH).
 * Returns 1 when the channel had to be reset. */
static int sanitize_states(double st[4])
{
    int k, bad = 0;
    for (k = 0; k < 4; k++) {
        if (!(fabs(st[k]) <= DBL_MAX))
            bad = 1;
        else if (fabs(st[k]) < STATE_FLUSH)
            st[k] = 0.0;
    }
    if (bad) {
        for (k = 0; k < 4; k++)
            st[k] = 0.0;
    }
    return bad;
}

/* The histogram bin of mean square z, or -1 when it fails the absolute gate
 * (-70 LUFS, which BS.1770-4 and Tech 3342 share). */
static int gated_bin(double z)
{
    double lufs;

    if (!(z > 0.0))
        return -1;
    lufs = LUFS_OFFSET + 10.0 * log10(z);
    return lufs > ABSOLUTE_GATE_LUFS ? bin_of(lufs) : -1;
}

/* Add one 400 ms gating block (mean square z) to the histogram if it passes
 * the absolute gate. BS.1770-4 keeps blocks with l_j > -70 LUFS. */
static void add_gating_block(sf_loudness *l, double z)
{
    const int b = gated_bin(z);

    if (b < 0)
        return;
    l->hist_energy[b] += z;
    l->hist_count[b] += 1u;
    if (b > l->hist_top)
        l->hist_top = b;
    l->abs_energy += z;
    l->abs_count += 1u;
    l->dirty = 1;
}

/* Recompute the integrated reading from the histogram: bounded by the number
 * of bins, and run at most once per process() call. */
static void update_integrated(sf_loudness *l)
{
    double z_abs, z_rel, gate_lufs, gate_pos, energy = 0.0;
    uint64_t count = 0;
    int first, b;

    l->dirty = 0;
    if (l->abs_count == 0) {
        l->integrated = SF_LOUDNESS_SILENCE_LUFS;
        return;
    }
    /* Relative gate: 10 LU below the loudness of the absolute-gated blocks. */
    z_abs = l->abs_energy / (double)l->abs_count;
    z_rel = RELATIVE_GATE_FACTOR * z_abs;
    gate_lufs = LUFS_OFFSET + 10.0 * log10(z_rel);
    gate_pos = (gate_lufs - SF_LOUDNESS_HIST_MIN_LUFS) / SF_LOUDNESS_HIST_STEP_LU;
    first = bin_of(gate_lufs);

    for (b = first; b <= l->hist_top; b++) {
        const uint32_t c = l->hist_count[b];
        if (c == 0)
            continue;
        /* The bin holding the gate: take it whole if its blocks are, on
         * average, above the gate (BS.1770-4 keeps l_j > gate). Below the
         * histogram floor the gate is under -70 and every bin passes. */
        if (b == first && gate_pos >= 0.0 && !(l->hist_energy[b] > z_rel * (double)c))
            continue;
        energy += l->hist_energy[b];
        count += c;
    }
    /* Only possible when every block shares the gate's bin, i.e. they are
     * all within 0.02 LU of each other: their plain mean is the answer. */
    if (count == 0) {
        energy = l->abs_energy;
        count = l->abs_count;
    }
    l->integrated = to_lufs(energy / (double)count);
}

/* Add one short-term value (mean square z) to the range histogram if it
 * passes the absolute gate (Tech 3342: -70 LUFS). */
static void add_range_value(sf_loudness *l, double z)
{
    const int b = gated_bin(z);

    if (b < 0)
        return;
    l->lra_count[b] += 1u;
    if (b > l->lra_top)
        l->lra_top = b;
    l->lra_energy += z;
    l->lra_n += 1u;
    l->lra_dirty = 1;
}

/* Loudness (bin centre) of the value of rank `rank` (0-based, ascending)
 * among the bins from `first` up. */
static double range_rank(const sf_loudness *l, int first, uint64_t rank)
{
    uint64_t seen = 0;
    int b;
    for (b = first; b <= l->lra_top; b++) {
        seen += l->lra_count[b];
        if (seen > rank)
            break;
    }
    return SF_LOUDNESS_HIST_MIN_LUFS + ((double)b + 0.5) * SF_LOUDNESS_HIST_STEP_LU;
}

/* Recompute the loudness range from its histogram: two walks over the
 * bins in use, run at most once per process() call. */
static void update_range(sf_loudness *l)
{
    double gate_lufs, lo, hi;
    uint64_t n = 0;
    int first, b;

    l->lra_dirty = 0;
    if (l->lra_n == 0) {
        l->range = 0.0f;
        return;
    }
    /* Relative gate: 20 LU below the power mean of the absolute-gated
     * values; a bin is kept when its centre is above the gate. */
    gate_lufs = LUFS_OFFSET + 10.0 * log10(LRA_GATE_FACTOR * l->lra_energy / (double)l->lra_n);
    first = bin_of(gate_lufs);
    if (SF_LOUDNESS_HIST_MIN_LUFS + ((double)first + 0.5) * SF_LOUDNESS_HIST_STEP_LU <= gate_lufs)
        first++;
    for (b = first; b <= l->lra_top; b++)
        n += l->lra_count[b];
    if (n == 0) {
        l->range = 0.0f;
        return;
    }
    /* Nearest rank, as libebur128 and the Tech 3342 reference code. */
    lo = range_rank(l, first, (uint64_t)((double)(n - 1) * LRA_LOW_PERCENTILE + 0.5));
    hi = range_rank(l, first, (uint64_t)((double)(n - 1) * LRA_HIGH_PERCENTILE + 0.5));
    l->range = (float)(hi - lo);
}

/* Close the current 10 ms step: push it into the ring, refresh the
 * momentary and short-term readings and, every 10th step, emit a gating
 * block and a short-term value for the range. */
static void finish_subblock(sf_loudness *l)
{
    double e, zm = 0.0, zs = 0.0;
    int k, pos;

    if (sanitize_states(l->state[0]))
        l->state_resets++;
    if (sanitize_states(l->state[1]))
        l->state_resets++;

    /* A step that went through a non-finite state has no meaningful
     * energy: count it as silence rather than poisoning 3 s of readings and
     * the integrated value. */
    e = l->acc[0] + l->acc[1];
    if (!(e >= 0.0 && e <= DBL_MAX))
        e = 0.0;
    l->acc[0] = 0.0;
    l->acc[1] = 0.0;
    l->hop_fill = 0;

    l->sub[l->sub_pos] = e / (double)l->hop;
    l->sub_pos = (l->sub_pos + 1) % SF_LOUDNESS_SUBBLOCKS;
    l->sub_count++;

    /* Sum in a fixed order (oldest first) from the ring; no running sums, so
     * nothing drifts over hours. 300 + 40 adds per 10 ms. */
    pos = l->sub_pos;
    for (k = SF_LOUDNESS_SUBBLOCKS; k > 0; k--) {
        zs += l->sub[pos];
        if (k <= SF_LOUDNESS_GATE_SUBBLOCKS)
            zm += l->sub[pos];
        pos = pos + 1 == SF_LOUDNESS_SUBBLOCKS ? 0 : pos + 1;
    }
    zm /= (double)SF_LOUDNESS_GATE_SUBBLOCKS;
    zs /= (double)SF_LOUDNESS_SUBBLOCKS;
    l->momentary = to_lufs(zm);
    l->short_term = to_lufs(zs);

    if (l->sub_count % SF_LOUDNESS_GATE_HOP != 0)
        return;
    /* The first gating block is complete 400 ms after reset; earlier
     * momentary windows include the zeros before the start and are not
     * programme blocks. Likewise the range takes short-term values from
     * the first whole 3 s on. */
    if (l->sub_count >= SF_LOUDNESS_GATE_SUBBLOCKS) {
        const int r = (int)(l->blocks_done % SF_LOUDNESS_RECENT_BLOCKS);
        add_gating_block(l, zm);
        l->recent_z[r] = zm;
        l->recent_step[r] = l->sub_count;
        l->blocks_done++;
    }
    if (l->sub_count >= SF_LOUDNESS_SUBBLOCKS)
        add_range_value(l, zs);
}

void sf_loudness_process(sf_loudness *l, const float *left, const float *right, int n)
{
    int done = 0;

    if (l == NULL || left == NULL || n <= 0)
        return;
    /* At most n / hop + 1 passes (hop is 10 ms). */
    while (done < n) {
        int take = l->hop - l->hop_fill;
        if (take > n - done)
            take = n - done;
        weigh_channel(l, 0, left + done, take);
        if (right != NULL)
            weigh_channel(l, 1, right + done, take);
        l->hop_fill += take;
        done += take;
        if (l->hop_fill >= l->hop)
            finish_subblock(l);
    }
    if (l->dirty)
        update_integrated(l);
    if (l->lra_dirty)
        update_range(l);
}

float sf_loudness_momentary(const sf_loudness *l)
{
    return l->momentary;
}

float sf_loudness_short_term(const sf_loudness *l)
{
    return l->short_term;
}

float sf_loudness_integrated(const sf_loudness *l)
{
    return l->integrated;
}

float sf_loudness_range(const sf_loudness *l)
{
    return l->range;
}
