/*
 * Time-based switch debouncing: a new level counts only after it has held,
 * unchanged, for a set time. A bouncing contact therefore gives exactly one
 * press, and a single-sample spike gives none. Costs one sample per poll and
 * no interrupts.
 */
#ifndef SURF_DEBOUNCE_H
#define SURF_DEBOUNCE_H

#include <stdint.h>

struct debouncer {
    uint32_t since; /* millis() when raw last changed */
    uint8_t raw;    /* last sampled level (1 = active) */
    uint8_t stable; /* debounced level reported to the host */
};

/* Start with a known level (the level read at boot, so a button held at
 * power-on is not reported as a press). */
void debounce_init(struct debouncer *d, uint8_t level, uint32_t now);

/* Feed one sample (1 = active). Returns 1 when the debounced level changed;
 * d->stable holds the new level. Survives millis() wrap-around. */
uint8_t debounce_update(struct debouncer *d, uint8_t level, uint32_t now, uint16_t hold_ms);

#endif
