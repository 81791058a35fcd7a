/*
 * Host unit tests of the portable firmware core: conditioning, debouncing,
 * encoder decoding, motor control, the codec edges and the box protocol on a
 * fake board. Run one test by name, or all (see check.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "analog.h"
#include "box.h"
#include "check.h"
#include "debounce.h"
#include "encoder.h"
#include "motor.h"
#include "osc.h"
#include "slip.h"

/* Deterministic pseudo-random numbers (a 32-bit LCG, Numerical Recipes
 * constants) so failures reproduce. */
static uint32_t rng_state = 12345u;
static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static struct box_config ref_config(void)
{
    struct box_config c;
    box_config_defaults(&c);
    c.name = "test-box";
    c.n_faders = 2;
    c.n_motors = 2;
    c.n_buttons = 3;
    c.n_encoders = 1;
    c.n_leds = 3;
    c.n_meters = 2;
    c.fader_adc[0] = 0;
    c.fader_adc[1] = 1;
    c.button_pin[0] = 10;
    c.button_pin[1] = 11;
    c.button_pin[2] = 12;
    c.enc_a_pin[0] = 20;
    c.enc_b_pin[0] = 21;
    c.enc_push_pin[0] = 22;
    return c;
}

/* ------------------------------------------------------------- analog */

static const struct analog_config ACFG = {10, 3, 24, 16, 48};

static void analog_scale_full_range(void)
{
    CHECK_EQ(analog_scale14(0, 10), 0);
    CHECK_EQ(analog_scale14(1023, 10), 16383);
    CHECK_EQ(analog_scale14(4095, 12), 16383);
    CHECK_EQ(analog_scale14(2048, 12), 8194);
    CHECK_EQ(analog_scale14(5000, 10), 16383); /* out of range clamps */
    uint16_t prev = 0;
    for (uint16_t r = 1; r < 1024; r++) {
        uint16_t v = analog_scale14(r, 10);
        CHECK(v > prev); /* strictly monotonic: no two readings collapse */
        prev = v;
    }
}

static void analog_wiggle_in_deadband_sends_nothing(void)
{
    struct analog_in a;
    analog_init(&a);
    CHECK_EQ(analog_update(&a, &ACFG, 512), 0); /* priming is not a change */
    for (int i = 0; i < 2000; i++) {
        uint16_t raw = (uint16_t)(511 + (rng() % 3)); /* +-1 LSB of noise */
        CHECK_EQ(analog_update(&a, &ACFG, raw), 0);
    }
}

static void analog_move_reports_and_reaches_ends(void)
{
    struct analog_in a;
    analog_init(&a);
    analog_update(&a, &ACFG, 0);
    int reports = 0;
    uint16_t last = 0;
    for (uint16_t raw = 0; raw <= 1023; raw++) {
        for (int k = 0; k < 4; k++) {
            if (analog_update(&a, &ACFG, raw)) {
                CHECK(a.reported > last); /* a steady upward move only goes up */
                last = a.reported;
                reports++;
            }
        }
    }
    for (int k = 0; k < 64; k++)
        analog_update(&a, &ACFG, 1023);
    CHECK_EQ(a.reported, 16383); /* the top is exact, not "almost" */
    CHECK(reports > 100);
    for (int k = 0; k < 200; k++)
        analog_update(&a, &ACFG, 1);
    CHECK_EQ(a.reported, 0); /* one count of noise at the bottom still reads 0 */
}

static void analog_reversal_needs_hysteresis(void)
{
    struct analog_in a;
    analog_init(&a);
    analog_update(&a, &ACFG, 500);
    for (int k = 0; k < 64; k++)
        analog_update(&a, &ACFG, 520); /* move up and settle */
    uint16_t top = a.reported;
    CHECK(top > analog_scale14(515, 10));
    /* Back down by about 2 raw LSB (32 counts): above the deadband alone
     * but below deadband + hysteresis, so it stays quiet. */
    int sent = 0;
    for (int k = 0; k < 64; k++)
        sent += analog_update(&a, &ACFG, 518);
    CHECK_EQ(sent, 0);
    for (int k = 0; k < 64; k++)
        sent += analog_update(&a, &ACFG, 515);
    CHECK(sent > 0);
    CHECK(a.reported < top);
}

static void analog_single_spike_is_smoothed(void)
{
    struct analog_in a;
    analog_init(&a);
    analog_update(&a, &ACFG, 300);
    analog_update(&a, &ACFG, 1000); /* one wild sample */
    CHECK(a.value < analog_scale14(400, 10));
}

/* ----------------------------------------------------------- debounce */

static void debounce_bouncing_press_is_one_press(void)
{
    struct debouncer d;
    debounce_init(&d, 0, 1000);
    int presses = 0, releases = 0;
    uint32_t t = 1000;
    /* Contact bounce: toggling every millisecond for 4 ms, then closed. */
    static const uint8_t press[] = {1, 0, 1, 1, 0, 1, 0, 1};
    for (size_t i = 0; i < sizeof press; i++, t++)
        if (debounce_update(&d, press[i], t, 5))
            presses += d.stable;
    for (int i = 0; i < 50; i++, t++)
        if (debounce_update(&d, 1, t, 5))
            presses += d.stable;
    static const uint8_t release[] = {0, 1, 0, 0, 1, 0};
    for (size_t i = 0; i < sizeof release; i++, t++)
        if (debounce_update(&d, release[i], t, 5))
            releases += !d.stable;
    for (int i = 0; i < 50; i++, t++)
        if (debounce_update(&d, 0, t, 5))
            releases += !d.stable;
    CHECK_EQ(presses, 1);
    CHECK_EQ(releases, 1);
}

static void debounce_short_spike_is_ignored(void)
{
    struct debouncer d;
    debounce_init(&d, 0, 0);
    int events = 0;
    for (uint32_t t = 0; t < 100; t++)
        events += debounce_update(&d, t == 40 || t == 41, t, 5);
    CHECK_EQ(events, 0);
}

static void debounce_survives_millis_wrap(void)
{
    struct debouncer d;
    uint32_t t = UINT32_MAX - 2u;
    debounce_init(&d, 0, t);
    int events = 0;
    for (int i = 0; i < 20; i++, t++)
        events += debounce_update(&d, 1, t, 5);
    CHECK_EQ(events, 1);
    CHECK_EQ(d.stable, 1);
}

/* ------------------------------------------------------------ encoder */

static struct encoder_config enc_cfg(void)
{
    struct box_config c;
    box_config_defaults(&c);
    return c.encoder;
}

/* Turn by whole detents, each detent's four transitions spread over
 * gap_ms milliseconds of time. */
static int turn(struct encoder *e, const struct encoder_config *c, int detents, uint32_t *t,
                uint32_t gap_ms)
{
    static const uint8_t cw[4] = {2, 0, 1, 3}; /* from rest 11: 10 00 01 11 */
    static const uint8_t ccw[4] = {1, 0, 2, 3};
    int total = 0;
    int n = detents < 0 ? -detents : detents;
    for (int d = 0; d < n; d++) {
        for (int k = 0; k < 4; k++) {
            *t += gap_ms / 4u;
            total += encoder_update(e, c, detents > 0 ? cw[k] : ccw[k], *t);
        }
    }
    return total;
}

static void encoder_one_detent_each_way(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    uint32_t t = 0;
    encoder_init(&e, 3);
    CHECK_EQ(turn(&e, &c, 1, &t, 400), 1);
    CHECK_EQ(turn(&e, &c, -1, &t, 400), -1);
    CHECK_EQ(encoder_take(&e), 0);
}

static void encoder_slow_turn_counts_detents(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    uint32_t t = 0;
    encoder_init(&e, 3);
    CHECK_EQ(turn(&e, &c, 10, &t, 200), 10);
    CHECK_EQ(encoder_take(&e), 10);
    CHECK_EQ(turn(&e, &c, -7, &t, 200), -7);
    CHECK_EQ(encoder_take(&e), -7);
}

static void encoder_fast_turn_accelerates(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    uint32_t t = 0;
    encoder_init(&e, 3);
    int fast = turn(&e, &c, 10, &t, 8); /* 8 ms per detent: a quick spin */
    CHECK(fast > 10 * 4);                /* far more than one step per detent */
    t += 1000;
    int medium = turn(&e, &c, 10, &t, 48);
    CHECK(medium > 10 && medium < fast);
}

static void encoder_reversal_starts_slow(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    uint32_t t = 0;
    encoder_init(&e, 3);
    turn(&e, &c, 5, &t, 8);
    CHECK_EQ(turn(&e, &c, -1, &t, 8), -1); /* no accelerated jump backwards */
}

static void encoder_bounce_at_detent_is_nothing(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    encoder_init(&e, 3);
    int total = 0;
    for (uint32_t t = 0; t < 40; t++)
        total += encoder_update(&e, &c, (t % 2) ? 2 : 3, t); /* A chattering at rest */
    CHECK_EQ(total, 0);
    CHECK_EQ(e.invalid, 0);
}

static void encoder_missed_sample_is_counted(void)
{
    struct encoder_config c = enc_cfg();
    struct encoder e;
    encoder_init(&e, 3);
    encoder_update(&e, &c, 0, 1); /* 11 -> 00 skips a state */
    CHECK_EQ(e.invalid, 1);
}

/* -------------------------------------------------------------- motor */

/* A crude fader: speed proportional to duty above a friction threshold. */
struct plant {
    int32_t pos; /* 14-bit counts << 8 */
    int stuck;
};

static uint16_t plant_step(struct plant *p, int16_t pwm)
{
    if (!p->stuck && (pwm > 40 || pwm < -40)) {
        p->pos += (int32_t)(pwm > 0 ? pwm - 40 : pwm + 40) * 24;
        if (p->pos < 0)
            p->pos = 0;
        if (p->pos > (16383 << 8))
            p->pos = 16383 << 8;
    }
    return (uint16_t)(p->pos >> 8);
}

static struct motor_config mcfg(void)
{
    struct box_config c;
    box_config_defaults(&c);
    return c.motor;
}

static void motor_reaches_target(void)
{
    struct motor_config c = mcfg();
    struct motor m;
    struct plant p = {2000 << 8, 0};
    motor_init(&m);
    motor_set_target(&m, 12000, 0);
    uint8_t events = 0;
    uint32_t t = 0;
    int16_t pwm = 0;
    for (; t < 2000 && !(events & MOTOR_EV_ARRIVED); t++) {
        pwm = motor_update(&m, &c, plant_step(&p, pwm), 0, t);
        events |= m.events;
        if (t == 1)
            CHECK(pwm > 0); /* target above: drives up */
    }
    CHECK(events & MOTOR_EV_ARRIVED);
    CHECK(!(events & MOTOR_EV_TIMEOUT));
    CHECK_EQ(pwm, 0);
    int32_t err = (int32_t)(p.pos >> 8) - 12000;
    CHECK(err <= (int32_t)c.tolerance + 200 && err >= -(int32_t)c.tolerance - 200);
    CHECK_EQ(m.state, MOTOR_IDLE);
}

static void motor_stops_after_timeout(void)
{
    struct motor_config c = mcfg();
    struct motor m;
    struct plant p = {1000 << 8, 1}; /* blocked fader */
    motor_init(&m);
    motor_set_target(&m, 9000, 100);
    int16_t pwm = 0;
    uint8_t events = 0;
    uint32_t t;
    for (t = 100; t < 100u + c.timeout_ms - 1u; t++) {
        pwm = motor_update(&m, &c, plant_step(&p, pwm), 0, t);
        CHECK(pwm != 0); /* still trying before the limit */
    }
    for (; t < 100u + c.timeout_ms + 500u; t++) {
        pwm = motor_update(&m, &c, plant_step(&p, pwm), 0, t);
        events |= m.events;
        if (events & MOTOR_EV_TIMEOUT)
            CHECK_EQ(pwm, 0);
    }
    CHECK(events & MOTOR_EV_TIMEOUT);
    CHECK_EQ(m.state, MOTOR_TIMEOUT);
    motor_set_target(&m, 500, t); /* a new target is a new attempt */
    CHECK(motor_update(&m, &c, plant_step(&p, 0), 0, t + 1) < 0);
}

static void motor_touch_stops_motor(void)
{
    struct motor_config c = mcfg();
    struct motor m;
    struct plant p = {0, 0};
    motor_init(&m);
    motor_set_target(&m, 16000, 0);
    int16_t pwm = 0;
    for (uint32_t t = 0; t < 20; t++)
        pwm = motor_update(&m, &c, plant_step(&p, pwm), 0, t);
    CHECK(pwm > 0);
    pwm = motor_update(&m, &c, plant_step(&p, pwm), 1, 20);
    CHECK_EQ(pwm, 0);
    CHECK(m.events & MOTOR_EV_TOUCH);
    motor_set_target(&m, 3000, 21); /* host targets lose to the hand */
    for (uint32_t t = 22; t < 200; t++)
        CHECK_EQ(motor_update(&m, &c, plant_step(&p, 0), 1, t), 0);
    CHECK_EQ(motor_update(&m, &c, plant_step(&p, 0), 0, 200), 0); /* release: stays put */
    CHECK(m.events & MOTOR_EV_RELEASE);
    CHECK_EQ(m.state, MOTOR_IDLE);
}

/* -------------------------------------------------------- codec edges */

static void slip_roundtrip_every_byte(void)
{
    uint8_t packet[256], framed[600], buf[256];
    for (int i = 0; i < 256; i++)
        packet[i] = (uint8_t)i;
    size_t n = slip_encode(packet, sizeof packet, framed, sizeof framed);
    CHECK_EQ(n, 256 + 2 + 2);
    CHECK_EQ(slip_encode(packet, sizeof packet, framed, n - 1), 0); /* too small: refused */
    struct slip_decoder d;
    slip_decoder_init(&d, buf, sizeof buf);
    int packets = 0;
    for (size_t i = 0; i < n; i++)
        if (slip_decoder_feed(&d, framed[i]) == SLIP_PACKET) {
            CHECK_EQ(d.len, 256);
            CHECK(memcmp(d.buf, packet, 256) == 0);
            packets++;
        }
    CHECK_EQ(packets, 1);
}

static uint8_t sink_buf[1024];
static size_t sink_len;
static void sink(void *ctx, const uint8_t *bytes, size_t n)
{
    (void)ctx;
    if (sink_len + n > sizeof sink_buf)
        abort();
    memcpy(sink_buf + sink_len, bytes, n);
    sink_len += n;
}

static void slip_send_matches_encode(void)
{
    uint8_t packet[200], framed[420];
    for (int round = 0; round < 200; round++) {
        size_t n = rng() % sizeof packet;
        for (size_t i = 0; i < n; i++)
            packet[i] = (uint8_t)((rng() % 4) ? rng() : (rng() % 2 ? SLIP_END : SLIP_ESC));
        sink_len = 0;
        slip_send(packet, n, sink, NULL);
        size_t m = slip_encode(packet, n, framed, sizeof framed);
        CHECK_EQ(sink_len, m);
        CHECK(memcmp(sink_buf, framed, m) == 0);
    }
}

static void slip_any_bytes_any_cut(void)
{
    /* Random streams with frames mixed in: the decoder never delivers more
     * than its buffer, and every valid frame after an END is recovered. */
    uint8_t buf[32];
    struct slip_decoder d;
    slip_decoder_init(&d, buf, sizeof buf);
    for (int i = 0; i < 200000; i++) {
        uint8_t b = (uint8_t)rng();
        if (rng() % 8 == 0)
            b = (rng() % 2) ? SLIP_END : SLIP_ESC;
        if (slip_decoder_feed(&d, b) == SLIP_PACKET)
            CHECK(d.len >= 1 && d.len <= sizeof buf);
    }
    uint8_t good[8] = {'/', 'o', 'k', 0, ',', 0, 0, 0}, framed[20];
    size_t n = slip_encode(good, sizeof good, framed, sizeof framed);
    int got = 0;
    for (size_t i = 0; i < n; i++)
        if (slip_decoder_feed(&d, framed[i]) == SLIP_PACKET)
            got = d.len == sizeof good && memcmp(d.buf, good, sizeof good) == 0;
    CHECK(got);
}

static void osc_random_input_is_safe(void)
{
    /* Mutations of a valid message and pure noise, parsed from exactly-sized
     * heap copies so the sanitizer build catches any read past the end. */
    uint8_t base[64];
    struct osc_writer w;
    osc_writer_begin(&w, base, sizeof base, "/x/y", "isfb");
    osc_put_int(&w, 5);
    osc_put_string(&w, "hey");
    osc_put_float(&w, 0.25f);
    osc_put_blob(&w, (const uint8_t *)"abcde", 5);
    int32_t n = osc_writer_end(&w);
    CHECK(n > 0);
    int ok = 0;
    for (int round = 0; round < 50000; round++) {
        size_t len = (round % 2) ? (size_t)n : (size_t)(rng() % 64) + 1;
        uint8_t *p = malloc(len);
        CHECK(p != NULL);
        for (size_t i = 0; i < len; i++)
            p[i] = (round % 2) ? base[i] : (uint8_t)rng();
        if (round % 2) {
            int flips = 1 + (int)(rng() % 3);
            for (int f = 0; f < flips; f++)
                p[rng() % len] = (uint8_t)rng();
        }
        struct osc_message m;
        if (osc_parse(&m, p, len) == OSC_OK) {
            ok++;
            for (uint8_t k = 0; k < m.argc; k++) {
                struct osc_arg a;
                if (osc_get(&m, k, &a) != OSC_OK) {
                    free(p);
                    CHECK(0);
                }
            }
        }
        free(p);
    }
    CHECK(ok > 0);
}

static void osc_writer_refuses_overrun(void)
{
    uint8_t *small = malloc(12);
    CHECK(small != NULL);
    struct osc_writer w;
    osc_writer_begin(&w, small, 12, "/fader/1", "i");
    osc_put_int(&w, 1);
    int32_t r = osc_writer_end(&w);
    free(small);
    CHECK_EQ(r, OSC_ERR_SPACE);
    uint8_t buf[64];
    osc_writer_begin(&w, buf, sizeof buf, "/a", "ii");
    osc_put_int(&w, 1);
    CHECK_EQ(osc_writer_end(&w), OSC_ERR_ARGS); /* one argument missing */
    osc_writer_begin(&w, buf, sizeof buf, "/a", "i");
    osc_put_float(&w, 1.0f);
    CHECK_EQ(osc_writer_end(&w), OSC_ERR_ARGS); /* wrong type */
}

/* ---------------------------------------------------------- box (fake board) */

struct fake {
    uint32_t now;
    uint16_t adc[4];
    uint8_t pin[32];
    uint8_t touch[2];
    int16_t pwm[2];
    uint8_t led[3];
    struct plant plant[2];
    uint8_t out[8192];
    size_t out_len;
};

static uint32_t f_millis(void *c) { return ((struct fake *)c)->now; }
static uint16_t f_adc(void *c, uint8_t ch) { return ((struct fake *)c)->adc[ch]; }
static uint8_t f_pin(void *c, uint8_t pin) { return ((struct fake *)c)->pin[pin]; }
static uint8_t f_touch(void *c, uint8_t i) { return ((struct fake *)c)->touch[i]; }
static void f_led(void *c, uint8_t i, uint8_t on) { ((struct fake *)c)->led[i] = on; }
static void f_motor(void *c, uint8_t i, int16_t pwm) { ((struct fake *)c)->pwm[i] = pwm; }
static void f_write(void *c, const uint8_t *b, size_t n)
{
    struct fake *f = c;
    if (f->out_len + n > sizeof f->out)
        abort();
    memcpy(f->out + f->out_len, b, n);
    f->out_len += n;
}

static const struct box_hw FAKE_HW = {f_millis, f_adc, f_pin, f_write, f_led, f_motor, f_touch, NULL};

static struct fake F;
static struct box_config CFG;
static struct box B;

static void fake_boot(void)
{
    memset(&F, 0, sizeof F);
    F.now = 1000;
    F.adc[0] = 512;
    F.adc[1] = 0;
    for (int i = 0; i < 32; i++)
        F.pin[i] = 1; /* pull-ups: idle high */
    F.plant[0].pos = (int32_t)analog_scale14(512, 10) << 8;
    CFG = ref_config();
    box_init(&B, &FAKE_HW, &F, &CFG);
}

/* Advance time one millisecond per poll; motors move the fake faders. */
static void run_ms(uint32_t ms)
{
    for (uint32_t i = 0; i < ms; i++) {
        F.now++;
        for (int m = 0; m < 2; m++) {
            if (F.pwm[m] != 0) {
                uint16_t pos = plant_step(&F.plant[m], F.pwm[m]);
                F.adc[m] = (uint16_t)((pos * 1023u + 8191u) / 16383u);
            }
        }
        box_poll(&B);
    }
}

static void host_send(const char *address, const char *types, ...);

/* Messages the box sent, decoded. */
struct sent {
    char address[32];
    char types[12];
    int32_t i[10];
    char s[10][24];
    float f;
};
static struct sent SENT[256];
static int n_sent;

static void decode_output(void)
{
    static uint8_t buf[BOX_TX_MAX];
    struct slip_decoder d;
    slip_decoder_init(&d, buf, sizeof buf);
    n_sent = 0;
    for (size_t k = 0; k < F.out_len; k++) {
        if (slip_decoder_feed(&d, F.out[k]) != SLIP_PACKET)
            continue;
        struct osc_message m;
        if (osc_parse(&m, d.buf, d.len) != OSC_OK || n_sent >= 256)
            abort();
        struct sent *s = &SENT[n_sent++];
        memset(s, 0, sizeof *s);
        strncpy(s->address, m.address, sizeof s->address - 1);
        strncpy(s->types, m.types, sizeof s->types - 1);
        for (uint8_t a = 0; a < m.argc && a < 10; a++) {
            struct osc_arg v;
            osc_get(&m, a, &v);
            if (v.type == 'i')
                s->i[a] = v.i;
            if (v.type == 's')
                strncpy(s->s[a], v.s, sizeof s->s[a] - 1);
            if (v.type == 'f')
                s->f = v.f;
        }
    }
    if (d.count.garbage || d.count.bad_escape || d.count.overflow)
        abort();
}

static int count_sent(const char *address)
{
    int n = 0;
    for (int k = 0; k < n_sent; k++)
        n += strcmp(SENT[k].address, address) == 0;
    return n;
}

static const struct sent *last_sent(const char *address)
{
    for (int k = n_sent - 1; k >= 0; k--)
        if (strcmp(SENT[k].address, address) == 0)
            return &SENT[k];
    return NULL;
}

#include <stdarg.h>
static void host_send(const char *address, const char *types, ...)
{
    uint8_t packet[128], framed[300];
    struct osc_writer w;
    va_list ap;
    va_start(ap, types);
    osc_writer_begin(&w, packet, sizeof packet, address, types);
    for (const char *t = types; *t; t++) {
        if (*t == 'i')
            osc_put_int(&w, va_arg(ap, int));
        else if (*t == 'f')
            osc_put_float(&w, (float)va_arg(ap, double));
        else if (*t == 's')
            osc_put_string(&w, va_arg(ap, const char *));
    }
    va_end(ap);
    int32_t n = osc_writer_end(&w);
    if (n < 0)
        abort();
    size_t m = slip_encode(packet, (size_t)n, framed, sizeof framed);
    for (size_t k = 0; k < m; k++)
        box_rx_byte(&B, framed[k]);
}

static void box_silent_until_hello(void)
{
    fake_boot();
    F.pin[10] = 0; /* a press and a fader move before any host is there */
    F.adc[1] = 800;
    run_ms(100);
    CHECK_EQ(F.out_len, 0);
}

static void box_hello_gives_identity_then_snapshot(void)
{
    fake_boot();
    F.pin[11] = 0; /* button 2 held down since boot */
    F.pin[22] = 0; /* encoder push held */
    fake_boot();
    F.pin[11] = 0;
    box_init(&B, &FAKE_HW, &F, &CFG);
    run_ms(3);
    host_send("/hello", "s", "surfaced");
    decode_output();
    CHECK(n_sent >= 2);
    CHECK(strcmp(SENT[0].address, "/identity") == 0);
    CHECK(strcmp(SENT[0].types, "ssissssss") == 0);
    CHECK(strcmp(SENT[0].s[0], "test-box") == 0);
    CHECK(strcmp(SENT[0].s[1], "0.1.0") == 0);
    CHECK_EQ(SENT[0].i[2], BOX_PROTOCOL_VERSION);
    CHECK(strcmp(SENT[0].s[3], "fader:2") == 0);
    CHECK(strcmp(SENT[0].s[4], "button:3") == 0);
    CHECK(strcmp(SENT[0].s[5], "encoder:1") == 0);
    CHECK(strcmp(SENT[0].s[8], "motor:2") == 0);
    const struct sent *done = last_sent("/snapshot/done");
    CHECK(done != NULL && done == &SENT[n_sent - 1]);
    CHECK_EQ(done->i[0], n_sent - 2); /* every message between identity and done */
    CHECK_EQ(last_sent("/fader/1")->i[0], analog_scale14(512, 10));
    CHECK_EQ(last_sent("/fader/2")->i[0], 0);
    CHECK_EQ(last_sent("/button/1")->i[0], 0);
    CHECK_EQ(last_sent("/button/2")->i[0], 1);
    CHECK_EQ(last_sent("/encoder/1/push")->i[0], 0);
    CHECK_EQ(last_sent("/fader/1/touch")->i[0], 0);
    /* A second hello (daemon restarted) gives the whole picture again. */
    F.out_len = 0;
    host_send("/hello", "");
    decode_output();
    CHECK_EQ(count_sent("/identity"), 1);
    CHECK_EQ(count_sent("/snapshot/done"), 1);
}

static void box_bouncing_button_sends_one_press(void)
{
    fake_boot();
    host_send("/hello", "");
    F.out_len = 0;
    static const uint8_t bounce[] = {0, 1, 0, 1, 1, 0, 1, 0};
    for (size_t k = 0; k < sizeof bounce; k++) {
        F.pin[12] = bounce[k];
        run_ms(1);
    }
    run_ms(30);
    F.pin[12] = 1;
    run_ms(30);
    decode_output();
    CHECK_EQ(count_sent("/button/3"), 2);
    CHECK_EQ(SENT[0].i[0], 1);
    CHECK_EQ(last_sent("/button/3")->i[0], 0);
}

static void box_fader_move_and_deadband(void)
{
    fake_boot();
    host_send("/hello", "");
    F.out_len = 0;
    for (int k = 0; k < 300; k++) {
        F.adc[1] = (uint16_t)(rng() % 2); /* resting at the bottom, noisy */
        run_ms(1);
    }
    decode_output();
    CHECK_EQ(count_sent("/fader/2"), 0);
    F.adc[1] = 1023;
    run_ms(100);
    decode_output();
    CHECK(count_sent("/fader/2") >= 1);
    CHECK_EQ(last_sent("/fader/2")->i[0], 16383);
}

static void box_encoder_sends_deltas(void)
{
    fake_boot();
    host_send("/hello", "");
    F.out_len = 0;
    static const uint8_t cw[4] = {2, 0, 1, 3};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) {
            F.pin[20] = (cw[k] >> 1) & 1;
            F.pin[21] = cw[k] & 1;
            run_ms(60);
        }
    decode_output();
    int total = 0;
    for (int k = 0; k < n_sent; k++)
        if (strcmp(SENT[k].address, "/encoder/1") == 0)
            total += SENT[k].i[0];
    CHECK_EQ(total, 3);
}

static void box_feedback_led_meter_target(void)
{
    fake_boot();
    host_send("/hello", "");
    host_send("/led/3", "i", 1);
    CHECK_EQ(F.led[2], 1);
    host_send("/led/3", "f", 0.0);
    CHECK_EQ(F.led[2], 0);
    host_send("/meter/2", "f", 0.5);
    CHECK_EQ(B.meter[1], 8192);
    host_send("/led/9", "i", 1); /* no such LED */
    host_send("/nothing/here", "");
    CHECK_EQ(B.stats.unknown, 2);
}

static void box_motor_follows_target_without_echo(void)
{
    fake_boot();
    host_send("/hello", "");
    F.out_len = 0;
    host_send("/fader/1/target", "i", 14000);
    run_ms(1500);
    decode_output();
    uint16_t pos = analog_scale14(F.adc[0], 10);
    CHECK(pos > 14000 - 300 && pos < 14000 + 300);
    CHECK_EQ(F.pwm[0], 0);
    CHECK_EQ(count_sent("/fader/1"), 0); /* the host's own move is not echoed */
    CHECK_EQ(B.motor[0].state, MOTOR_IDLE);
}

static void box_touch_stops_motor_and_is_reported(void)
{
    fake_boot();
    host_send("/hello", "");
    F.out_len = 0;
    host_send("/fader/1/target", "f", 1.0);
    run_ms(10);
    CHECK(F.pwm[0] > 0);
    F.touch[0] = 1;
    run_ms(20);
    CHECK_EQ(F.pwm[0], 0);
    decode_output();
    CHECK_EQ(last_sent("/fader/1/touch")->i[0], 1);
    F.touch[0] = 0;
    run_ms(20);
    decode_output();
    CHECK_EQ(last_sent("/fader/1/touch")->i[0], 0);
    CHECK_EQ(F.pwm[0], 0);
}

static void box_counts_bad_input_and_reports_stats(void)
{
    fake_boot();
    static const uint8_t junk[] = {0x01, 0x02, 0x03};
    for (size_t k = 0; k < sizeof junk; k++)
        box_rx_byte(&B, junk[k]);
    /* a valid SLIP frame that is not OSC */
    static const uint8_t not_osc[] = {SLIP_END, 'a', 'b', 'c', SLIP_END};
    for (size_t k = 0; k < sizeof not_osc; k++)
        box_rx_byte(&B, not_osc[k]);
    host_send("/hello", "");
    host_send("/stats", "");
    host_send("/ping", "i", 42);
    decode_output();
    const struct sent *s = last_sent("/stats");
    CHECK(s != NULL);
    CHECK_EQ(s->i[0], 3); /* frames: "abc", /hello, /stats */
    CHECK_EQ(s->i[1], 1); /* garbage */
    CHECK_EQ(s->i[2], 0);
    CHECK_EQ(s->i[3], 0);
    CHECK_EQ(s->i[4], 1); /* osc errors */
    CHECK_EQ(last_sent("/pong")->i[0], 42);
}

static void box_announce_names_the_box(void)
{
    fake_boot();
    box_announce(&B);
    decode_output();
    CHECK_EQ(n_sent, 1);
    CHECK(strcmp(SENT[0].address, "/announce") == 0);
    CHECK(strcmp(SENT[0].s[0], "test-box") == 0);
}

static const struct test_case TESTS[] = {
    {"analog_scale_full_range", analog_scale_full_range},
    {"analog_wiggle_in_deadband_sends_nothing", analog_wiggle_in_deadband_sends_nothing},
    {"analog_move_reports_and_reaches_ends", analog_move_reports_and_reaches_ends},
    {"analog_reversal_needs_hysteresis", analog_reversal_needs_hysteresis},
    {"analog_single_spike_is_smoothed", analog_single_spike_is_smoothed},
    {"debounce_bouncing_press_is_one_press", debounce_bouncing_press_is_one_press},
    {"debounce_short_spike_is_ignored", debounce_short_spike_is_ignored},
    {"debounce_survives_millis_wrap", debounce_survives_millis_wrap},
    {"encoder_one_detent_each_way", encoder_one_detent_each_way},
    {"encoder_slow_turn_counts_detents", encoder_slow_turn_counts_detents},
    {"encoder_fast_turn_accelerates", encoder_fast_turn_accelerates},
    {"encoder_reversal_starts_slow", encoder_reversal_starts_slow},
    {"encoder_bounce_at_detent_is_nothing", encoder_bounce_at_detent_is_nothing},
    {"encoder_missed_sample_is_counted", encoder_missed_sample_is_counted},
    {"motor_reaches_target", motor_reaches_target},
    {"motor_stops_after_timeout", motor_stops_after_timeout},
    {"motor_touch_stops_motor", motor_touch_stops_motor},
    {"slip_roundtrip_every_byte", slip_roundtrip_every_byte},
    {"slip_send_matches_encode", slip_send_matches_encode},
    {"slip_any_bytes_any_cut", slip_any_bytes_any_cut},
    {"osc_random_input_is_safe", osc_random_input_is_safe},
    {"osc_writer_refuses_overrun", osc_writer_refuses_overrun},
    {"box_silent_until_hello", box_silent_until_hello},
    {"box_hello_gives_identity_then_snapshot", box_hello_gives_identity_then_snapshot},
    {"box_bouncing_button_sends_one_press", box_bouncing_button_sends_one_press},
    {"box_fader_move_and_deadband", box_fader_move_and_deadband},
    {"box_encoder_sends_deltas", box_encoder_sends_deltas},
    {"box_feedback_led_meter_target", box_feedback_led_meter_target},
    {"box_motor_follows_target_without_echo", box_motor_follows_target_without_echo},
    {"box_touch_stops_motor_and_is_reported", box_touch_stops_motor_and_is_reported},
    {"box_counts_bad_input_and_reports_stats", box_counts_bad_input_and_reports_stats},
    {"box_announce_names_the_box", box_announce_names_the_box},
};

int main(int argc, char **argv)
{
    return run_tests(TESTS, sizeof TESTS / sizeof TESTS[0], argc, argv);
}
