/* The box protocol. See box.h and firmware/PROTOCOL.md. */
#include "box.h"

#include <string.h>

#include "osc.h"

/* ---- small helpers (no printf: it would cost ~1.5 KiB of AVR flash) ---- */

/* Append the decimal form of v to s (which holds a NUL-terminated string). */
static void append_uint(char *s, uint16_t v)
{
    char tmp[6];
    uint8_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0 && n < sizeof tmp);
    size_t at = strlen(s);
    while (n > 0)
        s[at++] = tmp[--n];
    s[at] = '\0';
}

/* Build "<prefix><index+1><suffix>" into out (addresses are 1-based). */
static const char *addr(char *out, const char *prefix, uint8_t index, const char *suffix)
{
    strcpy(out, prefix);
    append_uint(out, (uint16_t)(index + 1u));
    strcat(out, suffix);
    return out;
}

/* If address is "<prefix>N<rest>" with N a decimal 1..255, store N-1 and
 * return a pointer to rest; else NULL. Leading zeros and signs are refused,
 * so every control has exactly one address. */
static const char *match_indexed(const char *address, const char *prefix, uint8_t *index)
{
    size_t n = strlen(prefix);
    if (strncmp(address, prefix, n) != 0)
        return NULL;
    const char *p = address + n;
    if (*p < '1' || *p > '9')
        return NULL;
    uint16_t v = 0;
    while (*p >= '0' && *p <= '9') {
        v = (uint16_t)(v * 10u + (uint16_t)(*p - '0'));
        if (v > 255u)
            return NULL;
        p++;
    }
    *index = (uint8_t)(v - 1u);
    return p;
}

static void notify(struct box *b, enum box_event ev, uint8_t index, int32_t value)
{
    if (b->hw->notify)
        b->hw->notify(b->ctx, ev, index, value);
}

static void send_writer(struct box *b, struct osc_writer *w)
{
    int32_t n = osc_writer_end(w);
    if (n < 0) {
        if (b->stats.tx_overflow != UINT16_MAX)
            b->stats.tx_overflow++;
        return;
    }
    slip_send(b->txbuf, (size_t)n, b->hw->serial_write, b->ctx);
}

static void send_int(struct box *b, const char *address, int32_t v)
{
    struct osc_writer w;
    osc_writer_begin(&w, b->txbuf, sizeof b->txbuf, address, "i");
    osc_put_int(&w, v);
    send_writer(b, &w);
}

static uint8_t read_level(struct box *b, uint8_t pin)
{
    uint8_t v = b->hw->read_pin(b->ctx, pin) ? 1 : 0;
    return b->cfg->active_low ? (uint8_t)!v : v;
}

static uint8_t read_ab(struct box *b, uint8_t i)
{
    /* Encoder contacts are read as raw levels: the table only cares about
     * changes, and the rest state is configured in the same raw terms. */
    return (uint8_t)((b->hw->read_pin(b->ctx, b->cfg->enc_a_pin[i]) ? 2u : 0u) |
                     (b->hw->read_pin(b->ctx, b->cfg->enc_b_pin[i]) ? 1u : 0u));
}

static uint8_t has_motor(const struct box *b, uint8_t fader)
{
    return fader < b->cfg->n_motors && fader < BOX_MAX_MOTORS && b->hw->motor_drive != NULL;
}

static uint8_t touch_level(struct box *b, uint8_t fader)
{
    return b->hw->read_touch ? (b->hw->read_touch(b->ctx, fader) ? 1u : 0u) : 0u;
}

/* ---- setup ---- */

void box_config_defaults(struct box_config *c)
{
    memset(c, 0, sizeof *c);
    c->name = "surfaced-box";
    c->version = "0.1.0";
    c->active_low = 1;
    c->debounce_ms = 5; /* typical tactile switches settle in 1-5 ms */
    c->analog.adc_bits = 10;
    c->analog.ema_shift = 3;
    c->analog.deadband = 24;  /* ~1.5 LSB of a 10-bit ADC in 14-bit counts */
    c->analog.hysteresis = 16;
    c->analog.snap = 48;
    c->encoder.steps_per_detent = 4;
    c->encoder.rest_state = 3; /* EC11 with pull-ups: both contacts open at a detent */
    c->encoder.accel_ms[0] = 15;
    c->encoder.accel_mult[0] = 8;
    c->encoder.accel_ms[1] = 35;
    c->encoder.accel_mult[1] = 4;
    c->encoder.accel_ms[2] = 70;
    c->encoder.accel_mult[2] = 2;
    c->motor.kp = 24;
    c->motor.ki = 64;
    c->motor.kd = 128;
    c->motor.pwm_max = 255;
    c->motor.pwm_min = 60;
    c->motor.tolerance = 48;
    c->motor.timeout_ms = 1000;
    c->motor.integ_max = 2000000L;
}

void box_init(struct box *b, const struct box_hw *hw, void *ctx, const struct box_config *cfg)
{
    memset(b, 0, sizeof *b);
    b->hw = hw;
    b->ctx = ctx;
    b->cfg = cfg;
    slip_decoder_init(&b->rx, b->rxbuf, sizeof b->rxbuf);
    uint32_t now = hw->millis(ctx);
    for (uint8_t i = 0; i < cfg->n_faders && i < BOX_MAX_FADERS; i++) {
        analog_init(&b->fader[i]);
        analog_update(&b->fader[i], &cfg->analog, hw->read_adc(ctx, cfg->fader_adc[i]));
    }
    for (uint8_t i = 0; i < BOX_MAX_MOTORS; i++) {
        motor_init(&b->motor[i]);
        debounce_init(&b->touch[i], has_motor(b, i) ? touch_level(b, i) : 0, now);
    }
    for (uint8_t i = 0; i < cfg->n_buttons && i < BOX_MAX_BUTTONS; i++)
        debounce_init(&b->button[i], read_level(b, cfg->button_pin[i]), now);
    for (uint8_t i = 0; i < cfg->n_encoders && i < BOX_MAX_ENCODERS; i++) {
        encoder_init(&b->enc[i], read_ab(b, i));
        uint8_t pin = cfg->enc_push_pin[i];
        debounce_init(&b->push[i], pin == BOX_NO_PIN ? 0 : read_level(b, pin), now);
    }
    for (uint8_t i = 0; i < cfg->n_leds && i < BOX_MAX_LEDS; i++)
        if (hw->set_led)
            hw->set_led(ctx, i, 0);
}

/* ---- outgoing: identity, snapshot, changes ---- */

void box_announce(struct box *b)
{
    struct osc_writer w;
    osc_writer_begin(&w, b->txbuf, sizeof b->txbuf, "/announce", "ss");
    osc_put_string(&w, b->cfg->name);
    osc_put_string(&w, b->cfg->version);
    send_writer(b, &w);
}

static void put_group(struct osc_writer *w, const char *kind, uint8_t count)
{
    char s[16];
    strcpy(s, kind);
    strcat(s, ":");
    append_uint(s, count);
    osc_put_string(w, s);
}

void box_send_identity_and_snapshot(struct box *b)
{
    const struct box_config *c = b->cfg;
    uint8_t motors = b->hw->motor_drive ? c->n_motors : 0;
    /* Identity: name, version, protocol, then one "kind:count" per control
     * group the box has. Empty groups are left out. */
    const char *kinds[6] = {"fader", "button", "encoder", "led", "meter", "motor"};
    uint8_t counts[6] = {c->n_faders, c->n_buttons, c->n_encoders, c->n_leds, c->n_meters, motors};
    char types[4 + 6] = "ssi";
    for (uint8_t k = 0; k < 6; k++)
        if (counts[k])
            strcat(types, "s");
    struct osc_writer w;
    osc_writer_begin(&w, b->txbuf, sizeof b->txbuf, "/identity", types);
    osc_put_string(&w, c->name);
    osc_put_string(&w, c->version);
    osc_put_int(&w, BOX_PROTOCOL_VERSION);
    for (uint8_t k = 0; k < 6; k++)
        if (counts[k])
            put_group(&w, kinds[k], counts[k]);
    send_writer(b, &w);

    /* Snapshot: the position of every absolute control, so the host is right
     * after any (re)connect. Encoders are relative and have none. */
    char a[24];
    uint16_t sent = 0;
    for (uint8_t i = 0; i < c->n_faders; i++) {
        analog_resync(&b->fader[i]);
        send_int(b, addr(a, "/fader/", i, ""), b->fader[i].reported);
        sent++;
    }
    for (uint8_t i = 0; i < c->n_faders; i++) {
        if (!has_motor(b, i))
            continue;
        send_int(b, addr(a, "/fader/", i, "/touch"), b->touch[i].stable);
        sent++;
    }
    for (uint8_t i = 0; i < c->n_buttons; i++) {
        send_int(b, addr(a, "/button/", i, ""), b->button[i].stable);
        sent++;
    }
    for (uint8_t i = 0; i < c->n_encoders; i++) {
        encoder_take(&b->enc[i]); /* turns before the hello are stale */
        if (c->enc_push_pin[i] == BOX_NO_PIN)
            continue;
        send_int(b, addr(a, "/encoder/", i, "/push"), b->push[i].stable);
        sent++;
    }
    send_int(b, "/snapshot/done", (int32_t)sent);
}

static void poll_fader(struct box *b, uint8_t i, uint32_t now)
{
    const struct box_config *c = b->cfg;
    char a[24];
    uint16_t raw = b->hw->read_adc(b->ctx, c->fader_adc[i]);
    uint8_t moved = analog_update(&b->fader[i], &c->analog, raw);
    if (has_motor(b, i)) {
        struct motor *m = &b->motor[i];
        if (debounce_update(&b->touch[i], touch_level(b, i), now, c->debounce_ms)) {
            notify(b, BOX_EV_TOUCH, i, b->touch[i].stable);
            if (b->greeted)
                send_int(b, addr(a, "/fader/", i, "/touch"), b->touch[i].stable);
        }
        /* The loop runs on the unsmoothed position: the average's lag would
         * make the PID overshoot. */
        uint16_t pos = analog_scale14(raw, c->analog.adc_bits);
        int16_t pwm = motor_update(m, &c->motor, pos, b->touch[i].stable, now);
        b->hw->motor_drive(b->ctx, i, pwm);
        if (m->events & (MOTOR_EV_ARRIVED | MOTOR_EV_TIMEOUT)) {
            /* The host set this position itself: do not echo it back. */
            analog_settle(&b->fader[i], &c->analog, raw);
            notify(b, (m->events & MOTOR_EV_ARRIVED) ? BOX_EV_ARRIVED : BOX_EV_TIMEOUT, i,
                   b->fader[i].value);
            return;
        }
        if (m->state == MOTOR_MOVING)
            return; /* positions caused by the motor are not the user's */
    }
    if (moved && b->greeted)
        send_int(b, addr(a, "/fader/", i, ""), b->fader[i].reported);
}

void box_poll(struct box *b)
{
    const struct box_config *c = b->cfg;
    uint32_t now = b->hw->millis(b->ctx);
    char a[24];

    /* Encoders first and every poll: they are the most timing-sensitive. */
    for (uint8_t i = 0; i < c->n_encoders; i++) {
        encoder_update(&b->enc[i], &c->encoder, read_ab(b, i), now);
        uint8_t pin = c->enc_push_pin[i];
        if (pin != BOX_NO_PIN &&
            debounce_update(&b->push[i], read_level(b, pin), now, c->debounce_ms) && b->greeted)
            send_int(b, addr(a, "/encoder/", i, "/push"), b->push[i].stable);
        if (b->enc[i].pending != 0) {
            int16_t steps = encoder_take(&b->enc[i]);
            if (b->greeted)
                send_int(b, addr(a, "/encoder/", i, ""), steps);
        }
    }
    for (uint8_t i = 0; i < c->n_buttons; i++)
        if (debounce_update(&b->button[i], read_level(b, c->button_pin[i]), now, c->debounce_ms) &&
            b->greeted)
            send_int(b, addr(a, "/button/", i, ""), b->button[i].stable);

    uint8_t n = (c->faders_per_poll == 0 || c->faders_per_poll > c->n_faders) ? c->n_faders
                                                                              : c->faders_per_poll;
    for (uint8_t k = 0; k < n; k++) {
        if (b->next_fader >= c->n_faders)
            b->next_fader = 0;
        poll_fader(b, b->next_fader++, now);
    }
}

/* ---- incoming: hello and feedback ---- */

static void send_stats(struct box *b)
{
    struct osc_writer w;
    osc_writer_begin(&w, b->txbuf, sizeof b->txbuf, "/stats", "iiiiii");
    osc_put_int(&w, b->rx.count.packets);
    osc_put_int(&w, b->rx.count.garbage);
    osc_put_int(&w, b->rx.count.bad_escape);
    osc_put_int(&w, b->rx.count.overflow);
    osc_put_int(&w, b->stats.osc_errors);
    osc_put_int(&w, b->stats.unknown);
    send_writer(b, &w);
}

/* A 14-bit position from an int (0..16383) or a float (0.0..1.0), clamped.
 * Returns 0 if the message has no usable first argument. */
static uint8_t arg_position(const struct osc_message *m, uint16_t *out)
{
    struct osc_arg v;
    if (osc_get(m, 0, &v) != OSC_OK)
        return 0;
    if (v.type == 'i') {
        *out = (uint16_t)(v.i < 0 ? 0 : (v.i > (int32_t)ANALOG_MAX ? (int32_t)ANALOG_MAX : v.i));
        return 1;
    }
    if (v.type == 'f') {
        float f = v.f;
        if (!(f >= 0.0f)) /* also catches NaN */
            f = 0.0f;
        if (f > 1.0f)
            f = 1.0f;
        *out = (uint16_t)(f * (float)ANALOG_MAX + 0.5f);
        return 1;
    }
    return 0;
}

static void bump(uint16_t *c)
{
    if (*c != UINT16_MAX)
        (*c)++;
}

static void handle_packet(struct box *b, const uint8_t *p, size_t len)
{
    struct osc_message m;
    int st = osc_parse(&m, p, len);
    if (st != OSC_OK) {
        bump(&b->stats.osc_errors);
        notify(b, BOX_EV_BAD_PACKET, 0, st);
        return;
    }
    const struct box_config *c = b->cfg;
    uint8_t i;
    uint16_t v;
    const char *rest;
    if (osc_address_is(&m, "/hello")) {
        b->greeted = 1;
        box_send_identity_and_snapshot(b);
        notify(b, BOX_EV_HELLO, 0, 0);
        return;
    }
    if (osc_address_is(&m, "/ping")) {
        int32_t token = 0;
        osc_get_int(&m, 0, &token);
        send_int(b, "/pong", token);
        return;
    }
    if (osc_address_is(&m, "/stats")) {
        send_stats(b);
        return;
    }
    if ((rest = match_indexed(m.address, "/led/", &i)) != NULL && *rest == '\0' &&
        i < c->n_leds && arg_position(&m, &v)) {
        /* Any non-zero int, or a float above 0, lights the LED. */
        b->led[i] = v ? 1 : 0;
        if (b->hw->set_led)
            b->hw->set_led(b->ctx, i, b->led[i]);
        notify(b, BOX_EV_LED, i, b->led[i]);
        return;
    }
    if ((rest = match_indexed(m.address, "/fader/", &i)) != NULL && strcmp(rest, "/target") == 0 &&
        i < c->n_faders && arg_position(&m, &v)) {
        if (has_motor(b, i))
            motor_set_target(&b->motor[i], v, b->hw->millis(b->ctx));
        notify(b, BOX_EV_TARGET, i, v);
        return;
    }
    if ((rest = match_indexed(m.address, "/meter/", &i)) != NULL && *rest == '\0' &&
        i < c->n_meters && arg_position(&m, &v)) {
        b->meter[i] = v;
        notify(b, BOX_EV_METER, i, v);
        return;
    }
    bump(&b->stats.unknown);
}

void box_rx_byte(struct box *b, uint8_t byte)
{
    if (slip_decoder_feed(&b->rx, byte) == SLIP_PACKET)
        handle_packet(b, b->rx.buf, b->rx.len);
}
