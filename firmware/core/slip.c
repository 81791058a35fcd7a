/* SLIP framing, RFC 1055. See slip.h for the framing and counting rules. */
#include "slip.h"

enum {
    SLIP_ST_UNSYNCED = 0,  /* no END seen yet: whatever arrives is a partial frame */
    SLIP_ST_UNSYNCED_DIRTY, /* as above, and some bytes were already dropped */
    SLIP_ST_FRAME,          /* inside a frame (possibly empty) */
    SLIP_ST_ESCAPE,         /* inside a frame, after ESC */
    SLIP_ST_DISCARD,        /* frame already counted as bad: skip to next END */
    SLIP_ST_DELIVERED       /* a frame was just returned; buf holds it until the next byte */
};

void slip_decoder_init(struct slip_decoder *d, uint8_t *buf, size_t cap)
{
    d->buf = buf;
    d->cap = cap;
    d->count.packets = 0;
    d->count.garbage = 0;
    d->count.bad_escape = 0;
    d->count.overflow = 0;
    slip_decoder_reset(d);
}

void slip_decoder_reset(struct slip_decoder *d)
{
    d->len = 0;
    d->state = SLIP_ST_UNSYNCED;
}

/* Counters saturate rather than wrap: a counter that wrapped to 0 would tell
 * the host the line is clean. */
static void bump(uint16_t *c)
{
    if (*c != UINT16_MAX)
        (*c)++;
}

static enum slip_result store(struct slip_decoder *d, uint8_t byte)
{
    if (d->len >= d->cap) {
        bump(&d->count.overflow);
        d->state = SLIP_ST_DISCARD;
        return SLIP_ERROR;
    }
    d->buf[d->len++] = byte;
    d->state = SLIP_ST_FRAME;
    return SLIP_NONE;
}

enum slip_result slip_decoder_feed(struct slip_decoder *d, uint8_t byte)
{
    switch (d->state) {
    case SLIP_ST_UNSYNCED:
    case SLIP_ST_UNSYNCED_DIRTY:
        if (byte == SLIP_END) {
            enum slip_result r = SLIP_NONE;
            if (d->state == SLIP_ST_UNSYNCED_DIRTY) {
                bump(&d->count.garbage);
                r = SLIP_ERROR;
            }
            d->state = SLIP_ST_FRAME;
            d->len = 0;
            return r;
        }
        d->state = SLIP_ST_UNSYNCED_DIRTY;
        return SLIP_NONE;
    case SLIP_ST_DISCARD:
        if (byte == SLIP_END) {
            d->state = SLIP_ST_FRAME;
            d->len = 0;
        }
        return SLIP_NONE;
    case SLIP_ST_ESCAPE:
        if (byte == SLIP_ESC_END)
            return store(d, SLIP_END);
        if (byte == SLIP_ESC_ESC)
            return store(d, SLIP_ESC);
        bump(&d->count.bad_escape);
        d->len = 0;
        /* An END right after ESC both ends the bad frame and starts the next
         * one; anything else leaves us skipping to the next END. */
        d->state = (byte == SLIP_END) ? SLIP_ST_FRAME : SLIP_ST_DISCARD;
        return SLIP_ERROR;
    case SLIP_ST_DELIVERED:
        d->len = 0;
        d->state = SLIP_ST_FRAME;
        /* fall through */
    default: /* SLIP_ST_FRAME */
        if (byte == SLIP_END) {
            if (d->len == 0)
                return SLIP_NONE; /* back-to-back ENDs: an empty frame, not an error */
            bump(&d->count.packets);
            /* len is kept so the caller can read the frame; the next byte
             * starts a new one. */
            d->state = SLIP_ST_DELIVERED;
            return SLIP_PACKET;
        }
        if (byte == SLIP_ESC) {
            d->state = SLIP_ST_ESCAPE;
            return SLIP_NONE;
        }
        return store(d, byte);
    }
}

size_t slip_encoded_size(const uint8_t *packet, size_t n)
{
    size_t size = n + 2;
    for (size_t i = 0; i < n; i++)
        if (packet[i] == SLIP_END || packet[i] == SLIP_ESC)
            size++;
    return size;
}

size_t slip_encode(const uint8_t *packet, size_t n, uint8_t *out, size_t cap)
{
    if (slip_encoded_size(packet, n) > cap)
        return 0;
    size_t o = 0;
    out[o++] = SLIP_END;
    for (size_t i = 0; i < n; i++) {
        if (packet[i] == SLIP_END) {
            out[o++] = SLIP_ESC;
            out[o++] = SLIP_ESC_END;
        } else if (packet[i] == SLIP_ESC) {
            out[o++] = SLIP_ESC;
            out[o++] = SLIP_ESC_ESC;
        } else {
            out[o++] = packet[i];
        }
    }
    out[o++] = SLIP_END;
    return o;
}

void slip_send(const uint8_t *packet, size_t n, slip_sink_fn sink, void *ctx)
{
    /* A small stack chunk keeps RAM use bounded while still handing the UART
     * more than one byte per call. */
    uint8_t chunk[16];
    size_t o = 0;
    chunk[o++] = SLIP_END;
    for (size_t i = 0; i < n; i++) {
        if (o + 2 > sizeof chunk) {
            sink(ctx, chunk, o);
            o = 0;
        }
        if (packet[i] == SLIP_END) {
            chunk[o++] = SLIP_ESC;
            chunk[o++] = SLIP_ESC_END;
        } else if (packet[i] == SLIP_ESC) {
            chunk[o++] = SLIP_ESC;
            chunk[o++] = SLIP_ESC_ESC;
        } else {
            chunk[o++] = packet[i];
        }
    }
    if (o + 1 > sizeof chunk) {
        sink(ctx, chunk, o);
        o = 0;
    }
    chunk[o++] = SLIP_END;
    sink(ctx, chunk, o);
}
