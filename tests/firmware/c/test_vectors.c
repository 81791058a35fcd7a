/*
 * The shared SLIP/OSC vectors (tests/vectors/slip_osc.json) run through the
 * firmware core. vectors.h is generated from the JSON at test time by
 * tests/firmware/conftest.py, so the JSON stays the single source.
 * One test per vector case, named after it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "osc.h"
#include "slip.h"

struct vec_arg {
    char type;
    long long i;
    double f;
    const char *s; /* string, or hex for a blob */
};
struct vec_osc {
    const char *error; /* NULL for a valid message */
    const char *address;
    const char *types;
    const struct vec_arg *args;
    int reencodes;
};
struct vec_case {
    const char *name;
    const char *stream_hex;
    unsigned max_packet;
    int npackets;
    const char *const *packets_hex;
    const struct vec_osc *osc;
    unsigned garbage, bad_escape, overflow, osc_errors;
    int canonical;
};

#include "vectors.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    if (n > cap)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static const struct vec_case *current_case;

static void check_osc(const struct vec_osc *o, const uint8_t *p, size_t len, unsigned *osc_errors)
{
    struct osc_message m;
    int st = osc_parse(&m, p, len);
    if (o->error) {
        CHECK(st != OSC_OK);
        if (strcmp(o->error, osc_status_name(st)) != 0) {
            printf("FAIL %s: expected OSC error %s, got %s\n", check_current, o->error,
                   osc_status_name(st));
            check_failed = 1;
            return;
        }
        (*osc_errors)++;
        return;
    }
    if (st != OSC_OK) {
        printf("FAIL %s: OSC parse failed: %s\n", check_current, osc_status_name(st));
        check_failed = 1;
        return;
    }
    CHECK(strcmp(m.address, o->address) == 0);
    CHECK(strcmp(m.types, o->types) == 0);
    CHECK_EQ(m.argc, strlen(o->types));
    uint8_t blob[64];
    uint8_t again[512];
    struct osc_writer w;
    osc_writer_begin(&w, again, sizeof again, o->address, o->types);
    for (uint8_t k = 0; k < m.argc; k++) {
        struct osc_arg a;
        CHECK_EQ(osc_get(&m, k, &a), OSC_OK);
        CHECK_EQ(a.type, o->args[k].type);
        switch (a.type) {
        case 'i':
            CHECK_EQ(a.i, o->args[k].i);
            osc_put_int(&w, a.i);
            break;
        case 'f':
            CHECK(a.f == (float)o->args[k].f);
            osc_put_float(&w, a.f);
            break;
        case 's':
            CHECK(strcmp(a.s, o->args[k].s) == 0);
            osc_put_string(&w, a.s);
            break;
        default: {
            size_t n = unhex(o->args[k].s, blob, sizeof blob);
            CHECK_EQ(a.blob_len, n);
            CHECK(memcmp(a.b, blob, n) == 0);
            osc_put_blob(&w, a.b, a.blob_len);
        }
        }
    }
    int32_t n = osc_writer_end(&w);
    if (o->reencodes) {
        CHECK_EQ(n, len);
        CHECK(memcmp(again, p, len) == 0);
    }
}

static void run_case(void)
{
    const struct vec_case *c = current_case;
    static uint8_t stream[4096], expect[512];
    size_t n = unhex(c->stream_hex, stream, sizeof stream);
    uint8_t *buf = malloc(c->max_packet); /* exact size: ASan catches any write past it */
    CHECK(buf != NULL);
    struct slip_decoder d;
    slip_decoder_init(&d, buf, c->max_packet);
    int got = 0;
    unsigned osc_errors = 0;
    for (size_t i = 0; i < n && !check_failed; i++) {
        if (slip_decoder_feed(&d, stream[i]) != SLIP_PACKET)
            continue;
        if (got >= c->npackets) {
            printf("FAIL %s: more packets than expected\n", check_current);
            check_failed = 1;
            break;
        }
        size_t en = unhex(c->packets_hex[got], expect, sizeof expect);
        if (d.len != en || memcmp(d.buf, expect, en) != 0) {
            printf("FAIL %s: packet %d differs\n", check_current, got);
            check_failed = 1;
            break;
        }
        check_osc(&c->osc[got], d.buf, d.len, &osc_errors);
        got++;
    }
    free(buf);
    if (check_failed)
        return;
    CHECK_EQ(got, c->npackets);
    CHECK_EQ(d.count.packets, c->npackets);
    CHECK_EQ(d.count.garbage, c->garbage);
    CHECK_EQ(d.count.bad_escape, c->bad_escape);
    CHECK_EQ(d.count.overflow, c->overflow);
    CHECK_EQ(osc_errors, c->osc_errors);
    if (c->canonical) {
        uint8_t out[1024];
        size_t pn = unhex(c->packets_hex[0], expect, sizeof expect);
        size_t on = slip_encode(expect, pn, out, sizeof out);
        CHECK_EQ(on, n);
        CHECK(memcmp(out, stream, n) == 0);
        CHECK_EQ(slip_encoded_size(expect, pn), n);
    }
}

int main(int argc, char **argv)
{
    size_t count = sizeof VECTORS / sizeof VECTORS[0];
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], VECTORS[i].name) == 0)
                wanted = 1;
        if (!wanted)
            continue;
        current_case = &VECTORS[i];
        check_current = VECTORS[i].name;
        check_failed = 0;
        run_case();
        if (check_failed) {
            failed++;
        } else {
            passed++;
            printf("PASS %s\n", VECTORS[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 2);
}
