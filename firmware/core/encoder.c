/* Quadrature decoding with acceleration. See encoder.h. */
#include "encoder.h"

/* Index (previous ab << 2) | current ab. +1 for the sequence 00 01 11 10
 * (clockwise with B leading A on most encoders), -1 for the reverse, 0 for no
 * change or an impossible double change. */
static const int8_t transition[16] = {
    0, +1, -1, 0,  /* from 00 */
    -1, 0, 0, +1,  /* from 01 */
    +1, 0, 0, -1,  /* from 10 */
    0, -1, +1, 0,  /* from 11 */
};

void encoder_init(struct encoder *e, uint8_t ab)
{
    e->last_detent = 0;
    e->pending = 0;
    e->invalid = 0;
    e->ab = ab & 3u;
    e->sub = 0;
    e->last_dir = 0;
}

static int8_t accelerate(struct encoder *e, const struct encoder_config *c, int8_t dir, uint32_t now)
{
    uint8_t mult = 1;
    if (dir == e->last_dir) {
        uint32_t gap = now - e->last_detent;
        for (uint8_t k = 0; k < ENCODER_ACCEL_STEPS; k++) {
            if (c->accel_mult[k] > 1 && gap <= c->accel_ms[k]) {
                mult = c->accel_mult[k];
                break;
            }
        }
    }
    /* A reversal starts slow again: fine adjustment after overshooting. */
    e->last_dir = dir;
    e->last_detent = now;
    return (int8_t)(dir * (int8_t)mult);
}

int8_t encoder_update(struct encoder *e, const struct encoder_config *c, uint8_t ab, uint32_t now)
{
    ab &= 3u;
    if (ab == e->ab)
        return 0;
    int8_t t = transition[(e->ab << 2) | ab];
    e->ab = ab;
    if (t == 0) {
        if (e->invalid != UINT16_MAX)
            e->invalid++;
        return 0;
    }
    e->sub = (int8_t)(e->sub + t);
    int8_t dir = 0;
    if (c->steps_per_detent >= 4) {
        if (ab != c->rest_state)
            return 0;
        /* At the detent: half a cycle or more in one direction is a step;
         * less is bounce around the detent. Either way start afresh. */
        if (e->sub >= 2)
            dir = 1;
        else if (e->sub <= -2)
            dir = -1;
        e->sub = 0;
    } else {
        int8_t spd = (int8_t)(c->steps_per_detent ? c->steps_per_detent : 1);
        if (e->sub >= spd) {
            dir = 1;
            e->sub = (int8_t)(e->sub - spd);
        } else if (e->sub <= -spd) {
            dir = -1;
            e->sub = (int8_t)(e->sub + spd);
        }
    }
    if (dir == 0)
        return 0;
    int8_t steps = accelerate(e, c, dir, now);
    int16_t p = (int16_t)(e->pending + steps);
    /* Clamp rather than wrap if the host is not reading for a long time. */
    if (p > 16000)
        p = 16000;
    if (p < -16000)
        p = -16000;
    e->pending = p;
    return steps;
}

int16_t encoder_take(struct encoder *e)
{
    int16_t p = e->pending;
    e->pending = 0;
    return p;
}
