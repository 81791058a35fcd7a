/*
 * A minimal OSC 1.0 message codec: int32 'i', float32 'f', string 's' and
 * blob 'b' arguments, no bundles, no allocation.
 *
 * Facts from the OpenSound Control 1.0 specification ("OSC Specification
 * 1.0", opensoundcontrol.org, 2002): every atomic value is big-endian;
 * strings are ASCII terminated by one to four NUL bytes so the total is a
 * multiple of 4; a blob is an int32 byte count followed by the bytes and
 * zero padding to a multiple of 4; a message is an address pattern starting
 * with '/', a type tag string starting with ',' and the arguments; the size
 * of every packet is a multiple of 4.
 *
 * The decoder is strict (see PROTOCOL.md): it checks every length against
 * the packet's end before reading, requires NUL padding, rejects unknown type
 * tags and trailing bytes. One robustness rule from the 1.0 spec is kept: a
 * message that ends right after its address (no type tag string, as very old
 * senders do) is read as a message with no arguments.
 */
#ifndef SURF_OSC_H
#define SURF_OSC_H

#include <stddef.h>
#include <stdint.h>

enum osc_status {
    OSC_OK = 0,
    OSC_ERR_SIZE = -1,      /* packet empty or not a multiple of 4 */
    OSC_ERR_ADDRESS = -2,   /* address missing, not starting with '/', or bad string */
    OSC_ERR_TYPETAGS = -3,  /* type tag string malformed (no ',', unterminated) */
    OSC_ERR_TYPE = -4,      /* a type tag this codec does not support */
    OSC_ERR_TRUNCATED = -5, /* an argument runs past the end of the packet */
    OSC_ERR_PADDING = -6,   /* non-NUL padding byte */
    OSC_ERR_TRAILING = -7,  /* bytes left after the last argument */
    OSC_ERR_BLOB = -8,      /* negative blob size */
    OSC_ERR_BUNDLE = -9,    /* a '#bundle': not supported by this codec */
    OSC_ERR_SPACE = -10,    /* encoder: output buffer too small */
    OSC_ERR_ARGS = -11,     /* encoder: arguments do not match the type tags */
    OSC_ERR_RANGE = -12     /* reader: no such argument, or wrong type asked */
};

/* One decoded argument. Strings and blobs point into the packet buffer. */
struct osc_arg {
    char type; /* 'i', 'f', 's' or 'b' */
    int32_t i;
    float f;
    const char *s;    /* NUL-terminated, inside the packet */
    const uint8_t *b; /* blob bytes, inside the packet */
    int32_t blob_len;
};

/* A parsed, fully validated message. Points into the caller's buffer. */
struct osc_message {
    const uint8_t *packet;
    size_t len;
    const char *address;
    const char *types; /* type tags without the leading ',' ("" if none) */
    uint8_t argc;
    size_t args_at; /* offset of the first argument */
};

/* Parse and validate a whole packet. On OSC_OK, m describes it and every
 * argument can be read with osc_get() without further checks. */
int osc_parse(struct osc_message *m, const uint8_t *packet, size_t len);

/* Read argument index (0-based) of a parsed message.
 * Returns OSC_OK or OSC_ERR_RANGE. Walks from the first argument: messages
 * here carry a handful of arguments, so no index table is kept. */
int osc_get(const struct osc_message *m, uint8_t index, struct osc_arg *out);

/* Convenience: argument index as an int32 ('i') or a float ('f') in
 * whichever the caller asked for. Returns OSC_OK or OSC_ERR_RANGE. */
int osc_get_int(const struct osc_message *m, uint8_t index, int32_t *out);
int osc_get_float(const struct osc_message *m, uint8_t index, float *out);

/* Compare an address with a literal ("/hello"). */
int osc_address_is(const struct osc_message *m, const char *address);

/* Encoder: write one message into a caller buffer. Errors are sticky: the
 * first failure is kept and osc_writer_end() reports it. */
struct osc_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    const char *types; /* remaining type tags to be written */
    int status;
};

/* Start a message with its address and type tags (without ','). */
void osc_writer_begin(struct osc_writer *w, uint8_t *buf, size_t cap, const char *address,
                      const char *types);
void osc_put_int(struct osc_writer *w, int32_t v);
void osc_put_float(struct osc_writer *w, float v);
void osc_put_string(struct osc_writer *w, const char *s);
void osc_put_blob(struct osc_writer *w, const uint8_t *data, int32_t n);
/* Finish the message. Returns its length (> 0) or a negative osc_status. */
int32_t osc_writer_end(struct osc_writer *w);

/* Human-readable name of a status, for logs and test failures. */
const char *osc_status_name(int status);

#endif
