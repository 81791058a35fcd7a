/*
 * Master overs: where and how often the master went over 0 dBFS, so that
 * "did you clip the master?" has a straight answer (sf_master_meters:
 * first/last_clip_frame, tp_over_steps, first/last_tp_over_frame).
 *
 * Sample overs are counted per sample by the block kernels (clip_count);
 * here, only in a block that has some, their first and last frame. True
 * peak is computed over the master's 10 ms steps (fixed frame counts from
 * the engine's creation, whatever the block size): the interpolator is fed
 * piecewise at step ends, which gives the same values as one call (see
 * truepeak.h), and a step whose true peak passed 0 dBTP on either side is
 * one over. Counting steps rather than interpolated points keeps the
 * interpolator's kernels untouched and says "how often" at the resolution
 * a user reads a position anyway.
 *
 * Audio thread only; bounded by n (at most n / step + 1 interpolator calls
 * per side).
 */
#include <math.h>

#include "sf_internal.h"

void sf_overs_setup(sf_engine *e) {
    e->ov_hop = (int32_t)(e->rate / 100.0 + 0.5);
    if (e->ov_hop < 1) e->ov_hop = 1;
    e->ov_fill = 0;
    e->ov_step_start = 0;
    e->ov_step_max = 0.0f;
}

void sf_overs_clips(sf_engine *e, const float *x, int n) {
    /* scans from both ends: a block that clips a lot is done in a few steps */
    int first = 0, last = n - 1;
    while (first < n && !(fabsf(x[first]) > 1.0f)) first++;
    if (first == n) return;
    while (!(fabsf(x[last]) > 1.0f)) last--;
    const uint64_t f = e->now + (uint64_t)first, l = e->now + (uint64_t)last;
    if (!e->ov_clipped || f < e->ov_first_clip) e->ov_first_clip = f;
    if (!e->ov_clipped || l > e->ov_last_clip) e->ov_last_clip = l;
    e->ov_clipped = 1;
}

void sf_overs_truepeak(sf_engine *e, const float *left, const float *right, int n, float tp[2]) {
    tp[0] = tp[1] = 0.0f;
    int done = 0;
    while (done < n) {
        int take = e->ov_hop - e->ov_fill;
        if (take > n - done) take = n - done;
        float a = sf_truepeak_block(&e->tp[0], left + done, take);
        float b = sf_truepeak_block(&e->tp[1], right + done, take);
        if (a > tp[0]) tp[0] = a;
        if (b > tp[1]) tp[1] = b;
        if (b > a) a = b;
        if (a > e->ov_step_max) e->ov_step_max = a;
        e->ov_fill += take;
        done += take;
        if (e->ov_fill >= e->ov_hop) {
            if (e->ov_step_max > 1.0f) {
                if (!e->ov_tp_steps) e->ov_first_tp = e->ov_step_start;
                e->ov_last_tp = e->ov_step_start;
                e->ov_tp_steps++;
            }
            e->ov_step_start += (uint64_t)e->ov_hop;
            e->ov_fill = 0;
            e->ov_step_max = 0.0f;
        }
    }
}
