/*
 * The master's gating blocks for A/B loudness matching (sf_read_gate_blocks,
 * see SF_GATE_RING in sf_core.h).
 *
 * Why here and not in Python: A/B needs the loudness of the last N seconds
 * each mix was heard. Sampling the momentary meter ten times a second from
 * the control loop kept the daemon awake ten times a second for nothing
 * while nobody compared. The loudness meter already computes every 400 ms
 * gating block (loudness.c); this keeps the last SF_GATE_RING of them with
 * the frame at their end, so the control side reads them only when it needs
 * a slot's loudness, and attributes them to slots by the frames at which it
 * switched.
 *
 * Audio side (sf_gate_collect, after each piece of a block): copies the
 * blocks the meter completed, takes the monitor trim out (the meter reads
 * after it), and publishes each with a release store of the write count.
 * Fixed-size ring, no allocation, no lock; one pow() per 100 ms block.
 *
 * Reader (sf_read_gate_blocks, any thread): copies entries, then checks
 * that the writer did not reach them meanwhile (a seqlock whose sequence is
 * the write count: block k lives at [k % SF_GATE_RING] and is overwritten
 * by block k + SF_GATE_RING).
 */
#include "sf_internal.h"

#include <math.h>

void sf_gate_collect(sf_engine *e) {
    const sf_loudness *l = &e->loud;
    if (e->gb_seen == l->blocks_done) return; /* the usual case: 9 pieces in 10 at 48 kHz/4800 */
    /* Only if blocks were never collected for a while (cannot happen when
     * called after every piece): keep the ones the meter still holds. */
    if (l->blocks_done - e->gb_seen > SF_LOUDNESS_RECENT_BLOCKS)
        e->gb_seen = l->blocks_done - SF_LOUDNESS_RECENT_BLOCKS;
    uint64_t count = atomic_load_explicit(&e->gb_count, memory_order_relaxed);
    /* The trim the audio side applies now; the meter summed trimmed
     * samples, so dividing by its power gain gives the mix's own. */
    const float trim = e->master_trim_db;
    const double unpower = pow(10.0, -(double)trim / 10.0);
    for (; e->gb_seen < l->blocks_done; e->gb_seen++) {
        const int r = (int)(e->gb_seen % SF_LOUDNESS_RECENT_BLOCKS);
        sf_gate_block *b = &e->gb_ring[count % SF_GATE_RING];
        b->seq = count;
        b->end_frame = e->gb_origin + l->recent_step[r] * (uint64_t)l->hop;
        b->energy = l->recent_z[r] * unpower;
        b->trim_db = trim;
        b->reserved = 0.0f;
        count++;
        atomic_store_explicit(&e->gb_count, count, memory_order_release);
    }
}

int sf_read_gate_blocks(sf_engine *e, uint64_t from, sf_gate_block *out, int max) {
    if (!e || (!out && max > 0) || max < 0) return SF_EINVAL;
    /* Bounded retries: the writer adds one block per 100 ms, so a copy of at
     * most SF_GATE_RING entries is overtaken only by a reader that stalls. */
    for (int tries = 0; tries < 100; tries++) {
        const uint64_t c1 = atomic_load_explicit(&e->gb_count, memory_order_acquire);
        uint64_t first = from < c1 ? from : c1;
        /* The slot after the newest block may be being rewritten right
         * now (the next block, before the count says so): the newest
         * SF_GATE_RING - 1 are readable. */
        if (c1 >= SF_GATE_RING && first < c1 - (SF_GATE_RING - 1)) first = c1 - (SF_GATE_RING - 1);
        uint64_t n = c1 - first;
        if (n > (uint64_t)max) n = (uint64_t)max;
        for (uint64_t i = 0; i < n; i++) out[i] = e->gb_ring[(first + i) % SF_GATE_RING];
        atomic_thread_fence(memory_order_acquire);
        const uint64_t c2 = atomic_load_explicit(&e->gb_count, memory_order_relaxed);
        /* While the count is c2 the writer may be filling block c2, over
         * block c2 - SF_GATE_RING: everything copied must be newer. */
        if (n == 0 || c2 < SF_GATE_RING || first > c2 - SF_GATE_RING) return (int)n;
    }
    return SF_EBUSY;
}
