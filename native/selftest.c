/*
 * A small self-test of the core in plain C, for targets where Python is not
 * at hand: the test suite cross-compiles it for aarch64 (Raspberry Pi 4/5)
 * and runs it under qemu-user. Prints one line per check, exits non-zero on
 * the first failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sf_core.h"

#define RATE 48000
#define PI_F 3.14159265f
#define CHECK(cond, ...)                        \
    do {                                        \
        printf(cond ? "ok   " : "FAIL ");       \
        printf(__VA_ARGS__);                    \
        printf("\n");                           \
        if (!(cond)) return 1;                  \
    } while (0)

static float sine[RATE * 2];
static float out[RATE * 2];

int main(void) {
    /* EBU Tech 3341 case 1: 1 kHz at -23 dBFS on both channels reads -23 LUFS. */
    float a = powf(10.0f, -23.0f / 20.0f);
    for (int k = 0; k < RATE; k++) {
        float s = a * sinf(2.0f * PI_F * 1000.0f * (float)k / RATE);
        sine[2 * k] = s;
        sine[2 * k + 1] = s;
    }
    sf_engine *e = sf_engine_new(2, 2, RATE, 256);
    CHECK(e != NULL, "engine created");
    CHECK(sf_push_source_buffer(e, 0, sine, RATE, 2) == SF_OK, "stereo source queued");
    sf_settle(e);
    for (int i = 0; i < 10; i++) sf_process(e, NULL, 0, out, 2, RATE);
    sf_master_meters m;
    CHECK(sf_read_meters(e, NULL, NULL, &m) == SF_OK, "meters read");
    CHECK(fabsf(m.integrated_lufs + 23.0f) < 0.1f, "integrated %.2f LUFS (want -23.0)",
          m.integrated_lufs);
    CHECK(fabsf(m.momentary_lufs + 23.0f) < 0.1f, "momentary %.2f LUFS", m.momentary_lufs);

    /* Pan law: a mono DC source at centre sits at -3 dB on each side. */
    static float dc[480];
    for (int k = 0; k < 480; k++) dc[k] = 1.0f;
    sf_push_source_buffer(e, 1, dc, 480, 1);
    sf_push_source_none(e, 0);
    sf_settle(e);
    sf_process(e, NULL, 0, out, 2, 64);
    CHECK(fabsf(out[2 * 63] - 0.70710678f) < 1e-5f, "centre pan %.6f (want 0.707107)",
          out[2 * 63]);

    /* NaN input is replaced and counted; the output stays finite. */
    dc[5] = NAN;
    sf_push_param(e, SF_SCOPE_CH, 1, SF_P_EQ_ON, 0, 1.0f);
    sf_push_param(e, SF_SCOPE_CH, 1, SF_P_EQ_GAIN, 1, 6.0f);
    sf_process(e, NULL, 0, out, 2, 960);
    int finite = 1;
    for (int k = 0; k < 2 * 960; k++) finite &= isfinite(out[k]);
    sf_read_meters(e, NULL, NULL, &m);
    CHECK(finite && m.nonfinite_count == 2, "NaN contained (%llu counted)",
          (unsigned long long)m.nonfinite_count);

    /* Out-of-range requests are refused with an error code. */
    CHECK(sf_push_param(e, SF_SCOPE_CH, 7, SF_P_FADER, 0, 0.0f) == SF_EINVAL, "bad channel refused");

    /* A transaction lands in one block; a fader ramp reaches its target on the grid. */
    dc[5] = 1.0f;
    sf_push_param(e, SF_SCOPE_CH, 1, SF_P_EQ_ON, 0, 0.0f);
    sf_push_param(e, SF_SCOPE_CH, 1, SF_P_PAN, 0, -1.0f);
    sf_settle(e);
    sf_param_change ch[2] = {{SF_SCOPE_CH, 1, SF_P_FADER, 0, -20.0f, 100.0f},
                             {SF_SCOPE_MASTER, 0, SF_P_TRIM, 0, 6.0f, 0.0f}};
    CHECK(sf_push_params(e, ch, 2, 7) == SF_OK, "transaction queued");
    sf_process(e, NULL, 0, out, 2, 4800 + SF_RAMP_GRID);
    sf_process(e, NULL, 0, out, 2, 4800);
    sf_txn_status ts;
    CHECK(sf_txn_read(e, &ts) == SF_OK && ts.txn_id == 7 && ts.first_frame == ts.last_frame &&
              ts.split == 0, "transaction applied by one block");
    float want = 0.1f * powf(10.0f, 6.0f / 20.0f);
    CHECK(fabsf(out[2 * 4799] - want) < 1e-5f, "ramp + trim landed: %.6f (want %.6f)",
          out[2 * 4799], want);

    /* Overflow at the sum: finite output, counted. */
    static float big[480];
    for (int k = 0; k < 480; k++) big[k] = 3e38f;
    sf_push_source_buffer(e, 0, big, 480, 1);
    sf_push_param(e, SF_SCOPE_CH, 0, SF_P_FADER, 0, 10.0f);
    sf_process(e, NULL, 0, out, 2, 960);
    finite = 1;
    for (int k = 0; k < 2 * 960; k++) finite &= isfinite(out[k]);
    sf_read_meters(e, NULL, NULL, &m);
    CHECK(finite && m.overflow_count > 0 && isfinite(m.momentary_lufs) && isfinite(m.rms[0]),
          "overflow contained (%llu samples)", (unsigned long long)m.overflow_count);
    sf_engine_free(e);

    /* The per-channel loudness meter reads the source (before trim) as BS.1770 asks,
     * and the reference track replaces the mix at the output with its gain. */
    e = sf_engine_new(2, 0, RATE, 256);
    sf_push_source_buffer(e, 0, sine, RATE, 2);
    sf_push_param(e, SF_SCOPE_CH, 0, SF_P_TRIM, 0, 12.0f);
    sf_push_chmeter(e, 0, 1);
    sf_push_reference_buffer(e, dc, 480, 1);
    sf_settle(e);
    sf_process(e, NULL, 0, out, 2, RATE / 2);
    sf_chmeter_reading r;
    CHECK(sf_read_chmeter(e, 0, &r) == SF_OK && r.channel == 0 && r.steps == 5,
          "channel meter on (%llu steps)", (unsigned long long)r.steps);
    double z = 0.0;
    for (int k = 1; k < 5; k++) z += r.kms[k] / 4.0; /* steps 1..4: a gating block */
    float lufs = (float)(-0.691 + 10.0 * log10(z));
    /* a sine peaking at -23 dBFS is -26 dBFS RMS; the sides are averaged, not summed */
    CHECK(fabsf(lufs + 26.0f) < 0.1f, "channel loudness %.2f LUFS (want -26.0)", lufs);
    sf_push_param(e, SF_SCOPE_MASTER, 0, SF_P_REF_GAIN, 0, -6.0f);
    sf_push_param(e, SF_SCOPE_MASTER, 0, SF_P_REF_ON, 0, 1.0f);
    sf_process(e, NULL, 0, out, 2, 9600); /* the gain glides like a fader: 200 ms */
    want = powf(10.0f, -6.0f / 20.0f);
    CHECK(fabsf(out[2 * 9599] - want) < 1e-5f && fabsf(out[2 * 9599 + 1] - want) < 1e-5f,
          "reference heard: %.6f (want %.6f)", out[2 * 9599], want);
    sf_reference_meters rm;
    CHECK(sf_read_reference(e, &rm) == SF_OK && rm.heard == 1.0f && rm.source == 1,
          "reference meters read");
    sf_engine_free(e);
    printf("selftest passed\n");
    return 0;
}
