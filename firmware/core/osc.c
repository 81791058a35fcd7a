/* Minimal OSC 1.0 codec. See osc.h for the rules and their source. */
#include "osc.h"

#include <string.h>

static uint32_t read_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Length of an OSC-string starting at off, padding included, or a negative
 * status. The string must hold its NUL inside the packet, and every padding
 * byte must be NUL (strict: a non-NUL pad means the sender miscounted). */
static long string_span(const uint8_t *p, size_t len, size_t off, int err)
{
    size_t i = off;
    while (i < len && p[i] != 0)
        i++;
    if (i >= len)
        return err;
    size_t end = off + ((i - off) / 4 + 1) * 4;
    if (end > len)
        return OSC_ERR_TRUNCATED;
    for (size_t k = i; k < end; k++)
        if (p[k] != 0)
            return OSC_ERR_PADDING;
    return (long)(end - off);
}

/* Size of one argument of the given type at off, or a negative status. */
static long arg_span(const uint8_t *p, size_t len, size_t off, char type)
{
    switch (type) {
    case 'i':
    case 'f':
        return (off + 4 <= len) ? 4 : OSC_ERR_TRUNCATED;
    case 's':
        return string_span(p, len, off, OSC_ERR_TRUNCATED);
    case 'b': {
        if (off + 4 > len)
            return OSC_ERR_TRUNCATED;
        uint32_t n = read_u32(p + off);
        if (n > 0x7FFFFFFFu)
            return OSC_ERR_BLOB;
        /* Compare in 32 bits: size_t is 16 bits on AVR, so a large count
         * must not be narrowed before it is checked against the packet. */
        uint32_t room = (uint32_t)(len - off - 4);
        uint32_t padded = (n + 3u) & ~(uint32_t)3u;
        if (n > room || padded > room)
            return OSC_ERR_TRUNCATED;
        for (size_t k = off + 4 + (size_t)n; k < off + 4 + (size_t)padded; k++)
            if (p[k] != 0)
                return OSC_ERR_PADDING;
        return (long)(4 + padded);
    }
    default:
        return OSC_ERR_TYPE;
    }
}

int osc_parse(struct osc_message *m, const uint8_t *p, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len == 0 || len % 4 != 0)
        return OSC_ERR_SIZE;
    if (p[0] == '#')
        return OSC_ERR_BUNDLE;
    if (p[0] != '/')
        return OSC_ERR_ADDRESS;
    long span = string_span(p, len, 0, OSC_ERR_ADDRESS);
    if (span < 0)
        return (int)span;
    size_t off = (size_t)span;
    m->packet = p;
    m->len = len;
    m->address = (const char *)p;
    if (off == len) {
        /* OSC 1.0: tolerate a missing type tag string (no arguments). */
        m->types = (const char *)p + off - 1; /* the address's NUL: "" */
        m->args_at = off;
        return OSC_OK;
    }
    if (p[off] != ',')
        return OSC_ERR_TYPETAGS;
    span = string_span(p, len, off, OSC_ERR_TYPETAGS);
    if (span < 0)
        return (int)(span == OSC_ERR_TRUNCATED ? OSC_ERR_TYPETAGS : span);
    m->types = (const char *)p + off + 1;
    size_t argc = strlen(m->types);
    if (argc > 255)
        return OSC_ERR_TYPETAGS;
    off += (size_t)span;
    m->args_at = off;
    for (size_t a = 0; a < argc; a++) {
        long n = arg_span(p, len, off, m->types[a]);
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    if (off != len)
        return OSC_ERR_TRAILING;
    m->argc = (uint8_t)argc;
    return OSC_OK;
}

int osc_get(const struct osc_message *m, uint8_t index, struct osc_arg *out)
{
    if (index >= m->argc)
        return OSC_ERR_RANGE;
    size_t off = m->args_at;
    for (uint8_t a = 0; a < index; a++)
        off += (size_t)arg_span(m->packet, m->len, off, m->types[a]);
    const uint8_t *p = m->packet + off;
    memset(out, 0, sizeof *out);
    out->type = m->types[index];
    switch (out->type) {
    case 'i':
        out->i = (int32_t)read_u32(p);
        break;
    case 'f': {
        uint32_t bits = read_u32(p);
        memcpy(&out->f, &bits, sizeof out->f); /* IEEE 754 binary32 on all targets */
        break;
    }
    case 's':
        out->s = (const char *)p;
        break;
    default: /* 'b' */
        out->blob_len = (int32_t)read_u32(p);
        out->b = p + 4;
        break;
    }
    return OSC_OK;
}

int osc_get_int(const struct osc_message *m, uint8_t index, int32_t *out)
{
    struct osc_arg a;
    if (osc_get(m, index, &a) != OSC_OK)
        return OSC_ERR_RANGE;
    if (a.type == 'i') {
        *out = a.i;
        return OSC_OK;
    }
    if (a.type == 'f' && a.f == a.f && a.f > -2147483648.0f && a.f < 2147483648.0f) {
        *out = (int32_t)a.f;
        return OSC_OK;
    }
    return OSC_ERR_RANGE;
}

int osc_get_float(const struct osc_message *m, uint8_t index, float *out)
{
    struct osc_arg a;
    if (osc_get(m, index, &a) != OSC_OK)
        return OSC_ERR_RANGE;
    if (a.type == 'f') {
        *out = a.f;
        return OSC_OK;
    }
    if (a.type == 'i') {
        *out = (float)a.i;
        return OSC_OK;
    }
    return OSC_ERR_RANGE;
}

int osc_address_is(const struct osc_message *m, const char *address)
{
    return m->address != NULL && strcmp(m->address, address) == 0;
}

static void put_bytes(struct osc_writer *w, const void *src, size_t n)
{
    if (w->status != OSC_OK)
        return;
    if (n > w->cap - w->len) {
        w->status = OSC_ERR_SPACE;
        return;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void put_padded_string(struct osc_writer *w, const char *s, size_t n)
{
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    put_bytes(w, s, n);
    put_bytes(w, zeros, 4 - (n % 4)); /* always 1..4 NULs */
}

static void put_u32(struct osc_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put_bytes(w, b, 4);
}

/* Check that the next argument written has the expected type tag. */
static int next_type(struct osc_writer *w, char type)
{
    if (w->status != OSC_OK)
        return 0;
    if (*w->types != type) {
        w->status = OSC_ERR_ARGS;
        return 0;
    }
    w->types++;
    return 1;
}

void osc_writer_begin(struct osc_writer *w, uint8_t *buf, size_t cap, const char *address,
                      const char *types)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->types = types;
    w->status = OSC_OK;
    if (address[0] != '/') {
        w->status = OSC_ERR_ADDRESS;
        return;
    }
    put_padded_string(w, address, strlen(address));
    uint8_t comma = ',';
    size_t nt = strlen(types);
    put_bytes(w, &comma, 1);
    put_bytes(w, types, nt);
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    put_bytes(w, zeros, 4 - ((nt + 1) % 4));
    for (size_t k = 0; k < nt; k++)
        if (types[k] != 'i' && types[k] != 'f' && types[k] != 's' && types[k] != 'b')
            w->status = OSC_ERR_TYPE;
}

void osc_put_int(struct osc_writer *w, int32_t v)
{
    if (next_type(w, 'i'))
        put_u32(w, (uint32_t)v);
}

void osc_put_float(struct osc_writer *w, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (next_type(w, 'f'))
        put_u32(w, bits);
}

void osc_put_string(struct osc_writer *w, const char *s)
{
    if (next_type(w, 's'))
        put_padded_string(w, s, strlen(s));
}

void osc_put_blob(struct osc_writer *w, const uint8_t *data, int32_t n)
{
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    if (!next_type(w, 'b'))
        return;
    if (n < 0) {
        w->status = OSC_ERR_BLOB;
        return;
    }
    put_u32(w, (uint32_t)n);
    put_bytes(w, data, (size_t)n);
    put_bytes(w, zeros, (4 - ((size_t)n % 4)) % 4);
}

int32_t osc_writer_end(struct osc_writer *w)
{
    if (w->status == OSC_OK && *w->types != '\0')
        w->status = OSC_ERR_ARGS;
    if (w->status != OSC_OK)
        return w->status;
    return (int32_t)w->len;
}

const char *osc_status_name(int status)
{
    switch (status) {
    case OSC_OK: return "ok";
    case OSC_ERR_SIZE: return "size";
    case OSC_ERR_ADDRESS: return "address";
    case OSC_ERR_TYPETAGS: return "typetags";
    case OSC_ERR_TYPE: return "type";
    case OSC_ERR_TRUNCATED: return "truncated";
    case OSC_ERR_PADDING: return "padding";
    case OSC_ERR_TRAILING: return "trailing";
    case OSC_ERR_BLOB: return "blob";
    case OSC_ERR_BUNDLE: return "bundle";
    case OSC_ERR_SPACE: return "space";
    case OSC_ERR_ARGS: return "args";
    case OSC_ERR_RANGE: return "range";
    default: return "unknown";
    }
}
