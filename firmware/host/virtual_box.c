/*
 * The virtual box: the firmware core compiled for the host, playing the
 * reference box (8 motor faders with touch, 8 mute buttons, 4 encoders with
 * push, 8 LEDs, 8 meters) on a serial line, so the daemon and its tests can
 * talk to a real box protocol over a real pseudo-terminal.
 *
 *   virtual_box --device /dev/pts/N [--script FILE] [--timeout-ms MS] [--exit-after-script]
 *   virtual_box --stdio [...]        (protocol on stdin/stdout, log on stderr)
 *
 * The log (stdout with --device) has one line per event, for tests to read:
 *   ready | hello | led N V | target N V | meter N V | touch N V |
 *   arrived N POS | timeout N POS | bad_packet STATUS | done | exit REASON
 * (N is 1-based as on the wire; V and POS are 14-bit 0..16383.)
 *
 * Script: one command per line, '#' starts a comment. Faders are 1-based
 * positions 0.0..1.0; MS arguments are milliseconds of real time.
 *   wait MS                 wait_hello [MS]          print TEXT
 *   fader N POS [MS]        (glide to POS over MS)   touch N | untouch N
 *   press N | release N | tap N | bounce N           (bounce: contact chatter)
 *   turn N DETENTS [MS_PER_DETENT]                   push N | unpush N
 *   quit
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "box.h"
#include "osc.h"

#define N_FADERS 8
#define N_BUTTONS 8
#define N_ENCODERS 4
#define MAX_SCRIPT 512

/* Virtual pin numbers (the board's own numbering, see hw.h). */
#define PIN_BUTTON(i) (i)
#define PIN_ENC_A(i) (16 + 3 * (i))
#define PIN_ENC_B(i) (17 + 3 * (i))
#define PIN_ENC_PUSH(i) (18 + 3 * (i))
#define N_PINS 32

struct vbox {
    int in_fd, out_fd;
    FILE *log;
    struct timespec t0;
    double pos[N_FADERS];     /* fader positions, 14-bit counts (float for the motor model) */
    int16_t pwm[N_FADERS];
    uint8_t touched[N_FADERS];
    uint8_t pin[N_PINS];      /* levels as the board reads them (pull-ups: 1 = open) */
    uint8_t enc_phase[N_ENCODERS];
    double last_sim_ms;
    int hung_up;
};

static struct vbox V;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(V.log, fmt, ap);
    va_end(ap);
    fputc('\n', V.log);
    fflush(V.log); /* tests read the log line by line as it happens */
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - V.t0.tv_sec) * 1000.0 + (double)(t.tv_nsec - V.t0.tv_nsec) / 1e6;
}

/* ---- the hardware interface, simulated ---- */

static uint32_t hw_millis(void *ctx)
{
    (void)ctx;
    return (uint32_t)now_ms();
}

static uint16_t hw_adc(void *ctx, uint8_t ch)
{
    (void)ctx;
    /* A 10-bit ADC, as on an Arduino, so the same conditioning runs. */
    double p = V.pos[ch];
    return (uint16_t)(p * 1023.0 / 16383.0 + 0.5);
}

static uint8_t hw_pin(void *ctx, uint8_t pin)
{
    (void)ctx;
    return pin < N_PINS ? V.pin[pin] : 1;
}

static void hw_write(void *ctx, const uint8_t *bytes, size_t n)
{
    (void)ctx;
    while (n > 0 && !V.hung_up) {
        ssize_t w = write(V.out_fd, bytes, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = {V.out_fd, POLLOUT, 0};
                poll(&p, 1, 50);
                continue;
            }
            V.hung_up = 1;
            return;
        }
        bytes += w;
        n -= (size_t)w;
    }
}

static void hw_led(void *ctx, uint8_t led, uint8_t on)
{
    (void)ctx;
    (void)led;
    (void)on; /* reported through notify, where the core says why */
}

static void hw_motor(void *ctx, uint8_t fader, int16_t pwm)
{
    (void)ctx;
    V.pwm[fader] = pwm;
}

static uint8_t hw_touch(void *ctx, uint8_t fader)
{
    (void)ctx;
    return V.touched[fader];
}

static int hello_seen;

static void hw_notify(void *ctx, enum box_event ev, uint8_t i, int32_t value)
{
    (void)ctx;
    switch (ev) {
    case BOX_EV_HELLO:
        hello_seen = 1;
        logf_("hello");
        break;
    case BOX_EV_LED: logf_("led %u %ld", i + 1u, (long)value); break;
    case BOX_EV_TARGET: logf_("target %u %ld", i + 1u, (long)value); break;
    case BOX_EV_METER: logf_("meter %u %ld", i + 1u, (long)value); break;
    case BOX_EV_ARRIVED: logf_("arrived %u %ld", i + 1u, (long)value); break;
    case BOX_EV_TIMEOUT: logf_("timeout %u %ld", i + 1u, (long)value); break;
    case BOX_EV_TOUCH: logf_("touch %u %ld", i + 1u, (long)value); break;
    case BOX_EV_BAD_PACKET: logf_("bad_packet %s", osc_status_name((int)value)); break;
    }
}

static const struct box_hw HW = {hw_millis, hw_adc, hw_pin, hw_write, hw_led,
                                 hw_motor, hw_touch, hw_notify};

/* A motor fader, roughly: no motion below the friction duty, then speed
 * proportional to duty; full duty crosses the travel in about 150 ms. */
static void simulate_motors(void)
{
    double t = now_ms();
    double dt = t - V.last_sim_ms;
    V.last_sim_ms = t;
    if (dt > 20.0)
        dt = 20.0;
    for (int i = 0; i < N_FADERS; i++) {
        int p = V.pwm[i];
        if (V.touched[i] || (p > -40 && p < 40))
            continue;
        V.pos[i] += (p > 0 ? p - 40 : p + 40) * 0.5 * dt;
        if (V.pos[i] < 0)
            V.pos[i] = 0;
        if (V.pos[i] > 16383)
            V.pos[i] = 16383;
    }
}

/* ---- the script ---- */

struct glide {
    int active;
    double from, to, t_start, t_len;
};
static struct glide G[N_FADERS];

static struct box BOX;
static struct box_config CFG;

static void service(double until_ms);

static void set_ab(int enc, uint8_t ab)
{
    V.pin[PIN_ENC_A(enc)] = (ab >> 1) & 1u;
    V.pin[PIN_ENC_B(enc)] = ab & 1u;
}

static int parse_index(const char *s, int max, int *out)
{
    char *end;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || *end != '\0' || v < 1 || v > max)
        return 0;
    *out = (int)v - 1;
    return 1;
}

/* Run one script line. Returns 0 to stop the script. */
static int run_line(char *line, int lineno)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *argv[5] = {0};
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 5; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc == 0)
        return 1;
    const char *cmd = argv[0];
    int n = 0;
    if (strcmp(cmd, "wait") == 0 && argc == 2) {
        service(now_ms() + atof(argv[1]));
    } else if (strcmp(cmd, "wait_hello") == 0) {
        double limit = now_ms() + (argc > 1 ? atof(argv[1]) : 10000.0);
        while (!hello_seen && !V.hung_up && !stop_signal && now_ms() < limit)
            service(now_ms() + 5);
        if (!hello_seen)
            logf_("error line %d: no hello", lineno);
    } else if (strcmp(cmd, "print") == 0) {
        logf_("print %s", argc > 1 ? argv[1] : "");
    } else if (strcmp(cmd, "quit") == 0) {
        return 0;
    } else if (strcmp(cmd, "fader") == 0 && argc >= 3 && parse_index(argv[1], N_FADERS, &n)) {
        double to = atof(argv[2]);
        to = (to < 0 ? 0 : (to > 1 ? 1 : to)) * 16383.0;
        double len = argc > 3 ? atof(argv[3]) : 0.0;
        if (len <= 0) {
            V.pos[n] = to;
        } else {
            G[n] = (struct glide){1, V.pos[n], to, now_ms(), len};
        }
    } else if ((strcmp(cmd, "touch") == 0 || strcmp(cmd, "untouch") == 0) && argc == 2 &&
               parse_index(argv[1], N_FADERS, &n)) {
        V.touched[n] = cmd[0] == 't';
    } else if ((strcmp(cmd, "press") == 0 || strcmp(cmd, "release") == 0) && argc == 2 &&
               parse_index(argv[1], N_BUTTONS, &n)) {
        V.pin[PIN_BUTTON(n)] = cmd[0] == 'r'; /* active low */
    } else if (strcmp(cmd, "tap") == 0 && argc == 2 && parse_index(argv[1], N_BUTTONS, &n)) {
        V.pin[PIN_BUTTON(n)] = 0;
        service(now_ms() + 50);
        V.pin[PIN_BUTTON(n)] = 1;
    } else if (strcmp(cmd, "bounce") == 0 && argc == 2 && parse_index(argv[1], N_BUTTONS, &n)) {
        /* Contact chatter for ~4 ms, then held, as a real switch does. */
        for (int k = 0; k < 8; k++) {
            V.pin[PIN_BUTTON(n)] = (uint8_t)(k % 2);
            service(now_ms() + 0.5);
        }
        V.pin[PIN_BUTTON(n)] = 0;
    } else if ((strcmp(cmd, "push") == 0 || strcmp(cmd, "unpush") == 0) && argc == 2 &&
               parse_index(argv[1], N_ENCODERS, &n)) {
        V.pin[PIN_ENC_PUSH(n)] = cmd[0] == 'u';
    } else if (strcmp(cmd, "turn") == 0 && argc >= 3 && parse_index(argv[1], N_ENCODERS, &n)) {
        static const uint8_t cw[4] = {2, 0, 1, 3};
        static const uint8_t ccw[4] = {1, 0, 2, 3};
        long detents = strtol(argv[2], NULL, 10);
        double per = argc > 3 ? atof(argv[3]) : 100.0;
        long count = detents < 0 ? -detents : detents;
        for (long d = 0; d < count && !V.hung_up; d++) {
            for (int k = 0; k < 4; k++) {
                set_ab(n, detents > 0 ? cw[k] : ccw[k]);
                service(now_ms() + per / 4.0);
            }
        }
    } else {
        logf_("error line %d: cannot read '%s'", lineno, cmd);
    }
    return 1;
}

/* ---- main loop ---- */

static double deadline_ms;

static void service(double until_ms)
{
    do {
        if (stop_signal || V.hung_up || now_ms() > deadline_ms)
            return;
        struct pollfd p = {V.in_fd, POLLIN, 0};
        int r = poll(&p, 1, 1);
        if (r > 0 && (p.revents & POLLIN)) {
            uint8_t buf[256];
            ssize_t n = read(V.in_fd, buf, sizeof buf);
            if (n > 0) {
                for (ssize_t k = 0; k < n; k++)
                    box_rx_byte(&BOX, buf[k]);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                V.hung_up = 1; /* the other end closed the line */
            }
        } else if (r > 0 && (p.revents & (POLLHUP | POLLERR))) {
            V.hung_up = 1;
        }
        double t = now_ms();
        for (int i = 0; i < N_FADERS; i++) {
            if (!G[i].active)
                continue;
            double f = (t - G[i].t_start) / G[i].t_len;
            if (f >= 1.0) {
                f = 1.0;
                G[i].active = 0;
            }
            V.pos[i] = G[i].from + (G[i].to - G[i].from) * f;
        }
        simulate_motors();
        box_poll(&BOX);
    } while (now_ms() < until_ms);
}

/* Raw mode by hand (cfmakeraw is not POSIX): bytes pass untouched, no echo,
 * no line editing, no CR/LF translation. */
static int make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return -1;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &t);
}

static void reference_config(struct box_config *c, const char *name)
{
    box_config_defaults(c);
    c->name = name;
    c->n_faders = N_FADERS;
    c->n_motors = N_FADERS;
    c->n_buttons = N_BUTTONS;
    c->n_encoders = N_ENCODERS;
    c->n_leds = 8;
    c->n_meters = 8;
    for (uint8_t i = 0; i < N_FADERS; i++)
        c->fader_adc[i] = i;
    for (uint8_t i = 0; i < N_BUTTONS; i++)
        c->button_pin[i] = PIN_BUTTON(i);
    for (uint8_t i = 0; i < N_ENCODERS; i++) {
        c->enc_a_pin[i] = PIN_ENC_A(i);
        c->enc_b_pin[i] = PIN_ENC_B(i);
        c->enc_push_pin[i] = PIN_ENC_PUSH(i);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: virtual_box (--device PATH | --stdio) [--script FILE] "
                    "[--timeout-ms MS] [--name NAME] [--exit-after-script]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *device = NULL, *script = NULL, *name = "surfaced-virtual-box";
    int stdio_mode = 0, exit_after = 0;
    double timeout = 60000.0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--device") == 0 && a + 1 < argc)
            device = argv[++a];
        else if (strcmp(argv[a], "--stdio") == 0)
            stdio_mode = 1;
        else if (strcmp(argv[a], "--script") == 0 && a + 1 < argc)
            script = argv[++a];
        else if (strcmp(argv[a], "--timeout-ms") == 0 && a + 1 < argc)
            timeout = atof(argv[++a]);
        else if (strcmp(argv[a], "--name") == 0 && a + 1 < argc)
            name = argv[++a];
        else if (strcmp(argv[a], "--exit-after-script") == 0)
            exit_after = 1;
        else
            usage();
    }
    if (!device == !stdio_mode)
        usage();
    clock_gettime(CLOCK_MONOTONIC, &V.t0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (stdio_mode) {
        V.in_fd = 0;
        V.out_fd = 1;
        V.log = stderr;
    } else {
        int fd = open(device, O_RDWR | O_NOCTTY);
        if (fd < 0) {
            fprintf(stderr, "virtual_box: cannot open %s: %s\n", device, strerror(errno));
            return 1;
        }
        if (make_raw(fd) != 0) {
            fprintf(stderr, "virtual_box: %s is not a terminal: %s\n", device, strerror(errno));
            return 1;
        }
        V.in_fd = V.out_fd = fd;
        V.log = stdout;
    }
    FILE *sf = NULL;
    if (script && !(sf = fopen(script, "r"))) {
        fprintf(stderr, "virtual_box: cannot open script %s: %s\n", script, strerror(errno));
        return 1;
    }
    for (int i = 0; i < N_PINS; i++)
        V.pin[i] = 1; /* pull-ups: everything open */
    for (int e = 0; e < N_ENCODERS; e++)
        set_ab(e, 3);
    deadline_ms = timeout;
    reference_config(&CFG, name);
    box_init(&BOX, &HW, NULL, &CFG);
    box_announce(&BOX);
    logf_("ready");

    if (sf) {
        char line[MAX_SCRIPT];
        int lineno = 0;
        while (fgets(line, sizeof line, sf) && !V.hung_up && !stop_signal &&
               now_ms() < deadline_ms) {
            lineno++;
            if (!run_line(line, lineno)) {
                exit_after = 1; /* quit */
                break;
            }
        }
        fclose(sf);
        logf_("done");
    }
    if (!exit_after || !sf)
        service(deadline_ms);
    const char *why = stop_signal ? "signal" : V.hung_up ? "hangup" : "script";
    if (!stop_signal && !V.hung_up && now_ms() >= deadline_ms)
        why = "timeout";
    logf_("exit %s", why);
    return 0;
}
