/* Time-based debouncing. See debounce.h. */
#include "debounce.h"

void debounce_init(struct debouncer *d, uint8_t level, uint32_t now)
{
    d->since = now;
    d->raw = level ? 1 : 0;
    d->stable = d->raw;
}

uint8_t debounce_update(struct debouncer *d, uint8_t level, uint32_t now, uint16_t hold_ms)
{
    level = level ? 1 : 0;
    if (level != d->raw) {
        d->raw = level;
        d->since = now; /* every bounce restarts the hold time */
        return 0;
    }
    /* Unsigned subtraction is wrap-safe across the 49.7-day millis() roll. */
    if (d->raw != d->stable && (uint32_t)(now - d->since) >= hold_ms) {
        d->stable = d->raw;
        return 1;
    }
    return 0;
}
