/*
 * The box: controls sampled through the hardware interface, turned into OSC
 * messages framed with SLIP, and OSC feedback from the host applied to LEDs,
 * motor faders and meters. The address namespace is documented in
 * firmware/PROTOCOL.md; that file is the contract with the daemon's mapping.
 *
 * Sizes are compile-time maxima (no allocation); a board may lower them with
 * -D to fit its RAM, e.g. -DBOX_MAX_MOTORS=1 on an Uno without motors.
 */
#ifndef SURF_BOX_H
#define SURF_BOX_H

#include "analog.h"
#include "debounce.h"
#include "encoder.h"
#include "hw.h"
#include "motor.h"
#include "slip.h"

#ifndef BOX_MAX_FADERS
#define BOX_MAX_FADERS 8
#endif
#ifndef BOX_MAX_MOTORS
#define BOX_MAX_MOTORS BOX_MAX_FADERS
#endif
#ifndef BOX_MAX_BUTTONS
#define BOX_MAX_BUTTONS 8
#endif
#ifndef BOX_MAX_ENCODERS
#define BOX_MAX_ENCODERS 4
#endif
#ifndef BOX_MAX_LEDS
#define BOX_MAX_LEDS 8
#endif
#ifndef BOX_MAX_METERS
#define BOX_MAX_METERS 8
#endif
/* Largest frame the box accepts; feedback messages are under 32 bytes. */
#ifndef BOX_RX_MAX
#define BOX_RX_MAX 96
#endif
/* Largest message the box sends (the identity message). */
#ifndef BOX_TX_MAX
#define BOX_TX_MAX 160
#endif

#define BOX_PROTOCOL_VERSION 1
#define BOX_NO_PIN 0xFFu

struct box_config {
    const char *name;    /* shown by the daemon; also the mapping's match key */
    const char *version; /* firmware version, e.g. "0.1.0" */
    uint8_t n_faders, n_motors, n_buttons, n_encoders, n_leds, n_meters;
    uint8_t fader_adc[BOX_MAX_FADERS];
    uint8_t button_pin[BOX_MAX_BUTTONS];
    uint8_t enc_a_pin[BOX_MAX_ENCODERS];
    uint8_t enc_b_pin[BOX_MAX_ENCODERS];
    uint8_t enc_push_pin[BOX_MAX_ENCODERS]; /* BOX_NO_PIN: encoder without push */
    uint8_t active_low;      /* buttons close to ground against pull-ups */
    uint8_t faders_per_poll; /* 0 = all; fewer keeps the poll loop short on AVR */
    uint16_t debounce_ms;
    struct analog_config analog;
    struct encoder_config encoder;
    struct motor_config motor;
};

/* Counters the host can read with /stats (see PROTOCOL.md). */
struct box_stats {
    uint16_t osc_errors;   /* frames that were not valid OSC messages */
    uint16_t unknown;      /* valid messages to an address the box does not have */
    uint16_t tx_overflow;  /* messages too big for the send buffer (a bug if > 0) */
};

struct box {
    const struct box_hw *hw;
    void *ctx;
    const struct box_config *cfg;
    struct analog_in fader[BOX_MAX_FADERS];
    struct motor motor[BOX_MAX_MOTORS];
    struct debouncer touch[BOX_MAX_MOTORS];
    struct debouncer button[BOX_MAX_BUTTONS];
    struct encoder enc[BOX_MAX_ENCODERS];
    struct debouncer push[BOX_MAX_ENCODERS];
    uint8_t led[BOX_MAX_LEDS];
    uint16_t meter[BOX_MAX_METERS];
    struct slip_decoder rx;
    struct box_stats stats;
    uint8_t greeted;    /* a hello has been received: changes are sent */
    uint8_t next_fader; /* round-robin position when faders_per_poll > 0 */
    uint8_t rxbuf[BOX_RX_MAX];
    uint8_t txbuf[BOX_TX_MAX];
};

/* Set up the box and read the initial state of every control (so nothing
 * is reported as a change at power-on). Sends nothing. */
void box_init(struct box *b, const struct box_hw *hw, void *ctx, const struct box_config *cfg);

/* Send the boot announcement (/announce name version): a hint to a host
 * whose hello was lost while the board was resetting. */
void box_announce(struct box *b);

/* Feed one byte received from the host. Complete frames are handled at once. */
void box_rx_byte(struct box *b, uint8_t byte);

/* Sample every control once, run the motor loops and send what changed.
 * Call as often as possible from the main loop. */
void box_poll(struct box *b);

/* Send identity and full snapshot, as on /hello. */
void box_send_identity_and_snapshot(struct box *b);

/* Reference box configuration defaults (analog, encoder, motor tuning), for
 * boards to start from. */
void box_config_defaults(struct box_config *cfg);

#endif
