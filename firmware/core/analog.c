/* Fader conditioning. See analog.h. */
#include "analog.h"

uint16_t analog_scale14(uint16_t raw, uint8_t bits)
{
    if (bits == 0 || bits > 16)
        return 0;
    uint32_t max = ((uint32_t)1 << bits) - 1u;
    if (raw > max)
        raw = (uint16_t)max;
    /* Rounded, so mid-scale stays mid-scale. */
    return (uint16_t)(((uint32_t)raw * ANALOG_MAX + max / 2u) / max);
}

void analog_init(struct analog_in *a)
{
    a->acc = 0;
    a->value = 0;
    a->reported = 0;
    a->dir = 0;
    a->primed = 0;
}

static uint16_t snap(uint16_t v, uint16_t margin)
{
    if (v <= margin)
        return 0;
    if (v >= ANALOG_MAX - margin)
        return ANALOG_MAX;
    return v;
}

uint8_t analog_update(struct analog_in *a, const struct analog_config *c, uint16_t raw)
{
    uint16_t x = analog_scale14(raw, c->adc_bits);
    if (!a->primed) {
        /* Start the average at the first reading instead of ramping up from
         * zero, or every fader would glide up at power-on. */
        a->acc = (uint32_t)x << c->ema_shift;
        a->primed = 1;
        a->value = snap(x, c->snap);
        a->reported = a->value;
        return 0;
    }
    /* acc/2^k is the average; acc - acc/2^k + x is the usual shift-only EMA
     * and settles exactly on a constant input. */
    a->acc = a->acc - (a->acc >> c->ema_shift) + x;
    a->value = snap((uint16_t)(a->acc >> c->ema_shift), c->snap);

    int32_t diff = (int32_t)a->value - (int32_t)a->reported;
    if (diff == 0)
        return 0;
    int8_t dir = diff > 0 ? 1 : -1;
    /* An end stop always reaches the host, or a fader pulled to the bottom
     * could stay a few counts above -inf. */
    uint8_t at_end = (a->value == 0 || a->value == ANALOG_MAX);
    uint32_t threshold = c->deadband;
    if (a->dir != 0 && dir != a->dir)
        threshold += c->hysteresis; /* a resting fader dithering by one count stays quiet */
    uint32_t mag = (uint32_t)(diff > 0 ? diff : -diff);
    if (!at_end && mag < threshold)
        return 0;
    a->reported = a->value;
    a->dir = dir;
    return 1;
}

void analog_resync(struct analog_in *a)
{
    a->reported = a->value;
    a->dir = 0;
}

void analog_settle(struct analog_in *a, const struct analog_config *c, uint16_t raw)
{
    a->primed = 0;
    analog_update(a, c, raw);
    a->dir = 0;
}
