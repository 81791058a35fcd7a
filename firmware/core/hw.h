/*
 * The hardware interface the portable core runs on: everything the core
 * needs from a board, as a table of functions. A board (Arduino, the host's
 * virtual box, tests) fills one in; the core never includes a board header.
 *
 * Pin and channel numbers are the board's own: the core passes through the
 * numbers it finds in its box_config, so a board may give numbers to
 * multiplexer channels or shift-register bits as well as to real pins.
 */
#ifndef SURF_HW_H
#define SURF_HW_H

#include <stddef.h>
#include <stdint.h>

/* What the core tells the board about (feedback applied, moves finished),
 * for boards that show or log it. */
enum box_event {
    BOX_EV_HELLO = 1,    /* host said hello; identity and snapshot sent */
    BOX_EV_LED = 2,      /* LED index set to value (0 or 1) */
    BOX_EV_TARGET = 3,   /* motor target for fader index: value 0..16383 */
    BOX_EV_METER = 4,    /* meter index: value 0..16383 (0.0..1.0) */
    BOX_EV_ARRIVED = 5,  /* motor fader index reached its target; value = position */
    BOX_EV_TIMEOUT = 6,  /* motor fader index gave up; value = position */
    BOX_EV_TOUCH = 7,    /* touch on fader index: value 1 touched, 0 released */
    BOX_EV_BAD_PACKET = 8 /* a frame arrived that was not a valid OSC message; value = osc_status */
};

struct box_hw {
    /* Milliseconds since boot; may wrap (all uses are wrap-safe). Required. */
    uint32_t (*millis)(void *ctx);
    /* Raw ADC reading of a fader channel, 0..2^adc_bits-1. Required if faders. */
    uint16_t (*read_adc)(void *ctx, uint8_t channel);
    /* Logic level of an input pin, 0 or 1. Required if buttons or encoders. */
    uint8_t (*read_pin)(void *ctx, uint8_t pin);
    /* Queue bytes for the host. Required. May block until there is room. */
    void (*serial_write)(void *ctx, const uint8_t *bytes, size_t n);
    /* Switch an LED. Optional (NULL: no LEDs). */
    void (*set_led)(void *ctx, uint8_t led, uint8_t on);
    /* Drive a fader motor: -pwm_max..pwm_max, 0 = off. Optional (NULL: no motors). */
    void (*motor_drive)(void *ctx, uint8_t fader, int16_t pwm);
    /* 1 while a finger touches the fader's touch track. Optional. */
    uint8_t (*read_touch)(void *ctx, uint8_t fader);
    /* Told about feedback and motor events. Optional. */
    void (*notify)(void *ctx, enum box_event ev, uint8_t index, int32_t value);
};

#endif
