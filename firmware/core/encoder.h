/*
 * Quadrature (incremental) rotary encoder decoding with a transition table,
 * plus speed-dependent acceleration.
 *
 * Each poll reads the two contacts as ab = (A << 1) | B. A valid move changes
 * exactly one bit (Gray code); a change of both bits means a missed sample
 * and is counted, not guessed. Mechanical encoders such as the Alps EC11
 * give four transitions per detent and rest with both contacts in the same
 * state, so the decoder emits one step per detent on reaching the rest
 * state, which also absorbs contact bounce within a detent.
 */
#ifndef SURF_ENCODER_H
#define SURF_ENCODER_H

#include <stdint.h>

#define ENCODER_ACCEL_STEPS 3

struct encoder_config {
    uint8_t steps_per_detent; /* 4 (EC11-style), 2 or 1 */
    uint8_t rest_state;       /* ab at a detent when steps_per_detent is 4 (usually 3) */
    /* Acceleration: a detent that comes within accel_ms[k] of the previous
     * one in the same direction counts accel_mult[k] steps. Checked from the
     * fastest (k = 0) outwards; slower turns count 1. */
    uint16_t accel_ms[ENCODER_ACCEL_STEPS];
    uint8_t accel_mult[ENCODER_ACCEL_STEPS];
};

struct encoder {
    uint32_t last_detent; /* millis() of the previous detent */
    int16_t pending;      /* accelerated steps not yet sent */
    uint16_t invalid;     /* double transitions seen (polling too slow) */
    uint8_t ab;           /* last contact state */
    int8_t sub;           /* transitions since the last detent */
    int8_t last_dir;      /* direction of the previous detent, 0 if none yet */
};

/* Start from the contact state read at boot. */
void encoder_init(struct encoder *e, uint8_t ab);

/* Feed one sample of the contacts. Returns the (accelerated) steps this
 * sample produced, also added to e->pending. */
int8_t encoder_update(struct encoder *e, const struct encoder_config *c, uint8_t ab, uint32_t now);

/* Return and clear the steps accumulated since the last call. */
int16_t encoder_take(struct encoder *e);

#endif
