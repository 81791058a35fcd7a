/*
 * Fader (potentiometer) conditioning: ADC counts in, 14-bit positions out,
 * and a decision whether the change is worth sending.
 *
 * Pipeline, per sample: scale 10/12-bit to 14-bit -> exponential moving
 * average -> endpoint snapping -> deadband with hysteresis on reversal.
 * All integer arithmetic, so it costs the same on an AVR as on the host.
 */
#ifndef SURF_ANALOG_H
#define SURF_ANALOG_H

#include <stdint.h>

#define ANALOG_MAX 16383u /* 14-bit full scale, the protocol's fader range */

struct analog_config {
    uint8_t adc_bits;    /* 10 on AVR, 12 on the RP2040 (read_u16 >> 4) */
    uint8_t ema_shift;   /* EMA weight 1/2^shift; 0 disables smoothing */
    uint16_t deadband;   /* a change smaller than this (14-bit counts) is noise */
    uint16_t hysteresis; /* extra counts needed to reverse direction */
    uint16_t snap;       /* within this of an end, report the exact end */
};

struct analog_in {
    uint32_t acc;      /* EMA accumulator: value << ema_shift */
    uint16_t value;    /* conditioned position (smoothed, snapped) */
    uint16_t reported; /* last position sent to the host */
    int8_t dir;        /* direction of the last reported move: -1, 0, +1 */
    uint8_t primed;    /* first sample seen */
};

/* Scale an n-bit ADC reading to 0..16383 so that full scale maps to full
 * scale (a plain shift would top out at 16368 for 10 bits). */
uint16_t analog_scale14(uint16_t raw, uint8_t bits);

/* Reset to "no sample yet". */
void analog_init(struct analog_in *a);

/* Feed one raw ADC reading. Returns 1 when the conditioned position moved
 * enough to be reported (a->reported then holds it), else 0. The first
 * sample only primes the filter: the snapshot reports initial positions. */
uint8_t analog_update(struct analog_in *a, const struct analog_config *c, uint16_t raw);

/* Take the current position as already known by the host, without sending
 * it (after a motor move the host set the position itself). */
void analog_resync(struct analog_in *a);

/* Restart the average at this reading and take it as known by the host: after
 * a motor move the average lags the wiper, and catching up would be sent as
 * a user move (an echo of the host's own target). */
void analog_settle(struct analog_in *a, const struct analog_config *c, uint16_t raw);

#endif
