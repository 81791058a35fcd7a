/*
 * SLIP framing (RFC 1055) for OSC packets on a serial line.
 *
 * Framing is "double-END": every frame is sent as END <escaped bytes> END,
 * the convention of OSC 1.1 over serial lines. The leading END flushes any
 * line noise the receiver has collected (RFC 1055, "SLIP DRIVERS").
 *
 * The decoder is incremental (one byte at a time, no allocation) and never
 * delivers a damaged frame: garbage seen before the first END, a bad escape
 * and an over-long frame are each dropped and counted once, and the decoder
 * resynchronises at the next END. See firmware/PROTOCOL.md for the counters'
 * exact meaning, which the host decoder shares through tests/vectors.
 */
#ifndef SURF_SLIP_H
#define SURF_SLIP_H

#include <stddef.h>
#include <stdint.h>

/* Special bytes, RFC 1055 ("PROTOCOL" section), octal 300/333/334/335. */
#define SLIP_END 0xC0u
#define SLIP_ESC 0xDBu
#define SLIP_ESC_END 0xDCu
#define SLIP_ESC_ESC 0xDDu

/* Result of feeding one byte to the decoder. */
enum slip_result {
    SLIP_NONE = 0,   /* nothing to do yet */
    SLIP_PACKET = 1, /* a complete frame is in the buffer (slip_decoder.len) */
    SLIP_ERROR = 2   /* a frame was dropped; one error counter went up */
};

/* Error counters: each dropped frame increments exactly one of them. */
struct slip_counters {
    uint16_t packets;    /* frames delivered */
    uint16_t garbage;    /* bytes dropped before the first END (joined mid-frame) */
    uint16_t bad_escape; /* ESC followed by anything but ESC_END / ESC_ESC */
    uint16_t overflow;   /* frame longer than the buffer */
};

/* Incremental decoder state. Buffer is owned by the caller. */
struct slip_decoder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint8_t state; /* private: one of the SLIP_ST_* values in slip.c */
    struct slip_counters count;
};

/* Prepare a decoder writing frames into buf[0..cap). The decoder starts out
 * of sync: bytes before the first END are treated as a partial frame. */
void slip_decoder_init(struct slip_decoder *d, uint8_t *buf, size_t cap);

/* Forget any frame in flight and go back out of sync (e.g. after a reconnect). */
void slip_decoder_reset(struct slip_decoder *d);

/* Feed one byte. On SLIP_PACKET the frame is d->buf[0..d->len) and stays
 * valid until the next call. */
enum slip_result slip_decoder_feed(struct slip_decoder *d, uint8_t byte);

/* Number of bytes slip_encode() produces for an n-byte packet. */
size_t slip_encoded_size(const uint8_t *packet, size_t n);

/* Encode one packet as END <escaped> END into out[0..cap).
 * Returns the number of bytes written, or 0 if out is too small. */
size_t slip_encode(const uint8_t *packet, size_t n, uint8_t *out, size_t cap);

/* Byte sink used by slip_send(): lets a board stream a frame straight to its
 * UART without a second buffer (2 KiB of RAM on an Uno). */
typedef void (*slip_sink_fn)(void *ctx, const uint8_t *bytes, size_t n);

/* Stream one framed packet to sink, in small chunks. */
void slip_send(const uint8_t *packet, size_t n, slip_sink_fn sink, void *ctx);

#endif
