/*
 * JACK MIDI on surfaced's own client: raw events in, raw bytes out.
 *
 * Why not RtMidi's JACK backend: it joins every event after one that starts
 * with F0 and does not end with F7 into that "SysEx" until an event ends with
 * F7, in state that survives closing and reopening the port (issue 8: a lone
 * F0 makes a surface deaf), and it costs a JACK client per port and a polling
 * thread per surface (issue 9). Here the MIDI hook copies every event as it
 * came, and the one byte parser on the control side (midi_codec.MidiParser)
 * applies MIDI 1.0's rules.
 *
 * Ports are registered by the control side (surfaced/jackclient.py) and handed
 * to this file by slot: SF_JACK_MIDI_SLOTS inputs and as many outputs. A slot
 * is published with a release store and read with an acquire load in the
 * cycle; unpublishing waits out a cycle that may still hold the old port
 * (`seq`, odd while the hook runs), so the caller may unregister it then.
 * A bit mask per direction says which slots hold a port, so each cycle
 * visits only those (a surface or two: not all 128 slots; issue 9).
 *
 * Input: every event of every published input, each cycle, into ONE
 * single-producer single-consumer byte ring (allocated here, at creation):
 * a 16-byte header (slot, size, CLOCK_MONOTONIC time of the cycle) and the
 * event's bytes, padded to 8. A full ring drops the event and counts it; the
 * hook never waits. After a cycle that wrote anything the hook posts a POSIX
 * semaphore once: sem_post never blocks and takes no lock (an atomic
 * increment, plus a futex wake system call only while the reader sleeps), so
 * the wake-up costs the real-time thread a bounded few microseconds, once per
 * cycle with input and never otherwise; the reader (one thread for every
 * port) sleeps in sf_jack_midi_wait and polls nothing.
 *
 * Output: one SPSC ring from the control side (records of slot, size,
 * bytes; producers serialised by a mutex that only control threads take).
 * Each cycle the hook clears every published output buffer, then writes the
 * queued messages at frame 0 in order; one that does not fit in this cycle's
 * buffer stays queued, with what follows it, for the next (counted as
 * deferred); one for a slot that is no longer published, or too large for an
 * empty buffer, is dropped (counted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jack_internal.h"

#define HEADER ((uint32_t)SF_JACK_MIDI_HEADER)
_Static_assert(SF_JACK_MIDI_SLOTS <= 64, "a slot is a bit of a uint64_t mask");

struct ring {
    unsigned char *buf;
    uint32_t cap;                 /* power of two */
    _Alignas(64) atomic_uint head; /* written by the producer: bytes ever written */
    _Alignas(64) atomic_uint tail; /* written by the consumer: bytes ever read */
};

struct sf_jack_midi {
    sf_jack *jack;                 /* attached client, or NULL */
    _Atomic(void *) in_port[SF_JACK_MIDI_SLOTS];
    _Atomic(void *) out_port[SF_JACK_MIDI_SLOTS];
    /* Bit s: slot s holds a port (set after the port is stored, cleared
     * before it is taken away; the cycle still checks the pointer). */
    _Atomic(uint64_t) in_mask, out_mask;
    struct ring in, out;
    unsigned char *bounce;         /* the hook's copy of an output message that wraps */
    sem_t wake;
    pthread_mutex_t send_lock;     /* control-side producers of `out` only */
    atomic_uint seq;               /* odd while the hook runs */
    atomic_ullong in_events, in_bytes, in_dropped, wakeups, cycles;
    atomic_ullong out_events, out_dropped, out_deferred;
};

static uint32_t pow2_at_least(uint32_t n) {
    uint32_t c = 4096;
    while (c < n && c < (1u << 30)) c <<= 1;
    return c;
}

static int ring_init(struct ring *r, uint32_t bytes) {
    r->cap = pow2_at_least(bytes);
    r->buf = calloc(1, r->cap);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r->buf ? 0 : -1;
}

/* Copy n bytes in at position pos (wrapping). */
static void ring_put(struct ring *r, uint32_t pos, const void *src, uint32_t n) {
    uint32_t at = pos & (r->cap - 1), first = r->cap - at;
    if (first > n) first = n;
    memcpy(r->buf + at, src, first);
    memcpy(r->buf, (const unsigned char *)src + first, n - first);
}

static void ring_get(const struct ring *r, uint32_t pos, void *dst, uint32_t n) {
    uint32_t at = pos & (r->cap - 1), first = r->cap - at;
    if (first > n) first = n;
    memcpy(dst, r->buf + at, first);
    memcpy((unsigned char *)dst + first, r->buf, n - first);
}

static uint32_t padded(uint32_t n) { return (n + 7u) & ~7u; }

/* Producer side: room for a record of `size` bytes, or 0. */
static int ring_room(struct ring *r, uint32_t head, uint32_t need) {
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->cap - (head - tail) >= need;
}

static void input_cycle(sf_jack_midi *m, uint32_t nframes, uint64_t now_ns) {
    struct ring *r = &m->in;
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t start = head;
    unsigned long long events = 0, bytes = 0, dropped = 0;
    for (uint64_t live = atomic_load_explicit(&m->in_mask, memory_order_acquire); live;
         live &= live - 1) {
        const int s = __builtin_ctzll(live);
        void *port = atomic_load_explicit(&m->in_port[s], memory_order_acquire);
        if (!port) continue;
        void *pbuf = sf_jack_rt.port_get_buffer(port, nframes);
        if (!pbuf) continue;
        uint32_t n = sf_jack_rt.midi_get_event_count(pbuf);
        for (uint32_t i = 0; i < n; i++) {
            sf_jack_midi_event ev;
            if (sf_jack_rt.midi_event_get(&ev, pbuf, i) != 0 || ev.size == 0) continue;
            uint32_t need = HEADER + padded((uint32_t)ev.size);
            if (ev.size > r->cap / 2 || !ring_room(r, head, need)) {
                dropped++;
                continue;
            }
            unsigned char h[HEADER];
            uint16_t slot = (uint16_t)s, flags = 0;
            uint32_t size = (uint32_t)ev.size;
            memcpy(h, &slot, 2);
            memcpy(h + 2, &flags, 2);
            memcpy(h + 4, &size, 4);
            memcpy(h + 8, &now_ns, 8);
            ring_put(r, head, h, HEADER);
            ring_put(r, head + HEADER, ev.buffer, size);
            head += need;
            events++;
            bytes += size;
        }
    }
    if (dropped) atomic_fetch_add_explicit(&m->in_dropped, dropped, memory_order_relaxed);
    if (head != start) {
        atomic_store_explicit(&r->head, head, memory_order_release);
        atomic_fetch_add_explicit(&m->in_events, events, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->in_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->wakeups, 1, memory_order_relaxed);
        sem_post(&m->wake);
    }
}

static void output_cycle(sf_jack_midi *m, uint32_t nframes) {
    void *bufs[SF_JACK_MIDI_SLOTS]; /* only the slots in `have` are set */
    uint64_t have = 0, wrote = 0;
    for (uint64_t live = atomic_load_explicit(&m->out_mask, memory_order_acquire); live;
         live &= live - 1) {
        const int s = __builtin_ctzll(live);
        void *port = atomic_load_explicit(&m->out_port[s], memory_order_acquire);
        bufs[s] = port ? sf_jack_rt.port_get_buffer(port, nframes) : NULL;
        if (bufs[s]) {
            /* JACK does not clear an output buffer: stale events would repeat. */
            sf_jack_rt.midi_clear_buffer(bufs[s]);
            have |= 1ull << s;
        }
    }
    struct ring *r = &m->out;
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    unsigned long long written = 0, dropped = 0;
    while (tail != head) {
        unsigned char h[HEADER];
        ring_get(r, tail, h, HEADER);
        uint16_t slot;
        uint32_t size;
        memcpy(&slot, h, 2);
        memcpy(&size, h + 4, 4);
        void *pbuf = slot < SF_JACK_MIDI_SLOTS && (have >> slot & 1u) ? bufs[slot] : NULL;
        if (pbuf) {
            /* Bytes that wrap round the ring's end go through the bounce buffer. */
            uint32_t at = (tail + HEADER) & (r->cap - 1);
            const unsigned char *bytes = r->buf + at;
            if (at + size > r->cap) {
                ring_get(r, tail + HEADER, m->bounce, size);
                bytes = m->bounce;
            }
            int rc = sf_jack_rt.midi_event_write(pbuf, 0, bytes, size);
            if (rc != 0 && (wrote >> slot & 1u)) {
                /* This cycle's buffer is full: keep it, and what follows, for the next. */
                atomic_fetch_add_explicit(&m->out_deferred, 1, memory_order_relaxed);
                break;
            }
            if (rc != 0) {
                dropped++; /* larger than an empty port buffer: it never fits */
            } else {
                written++;
                wrote |= 1ull << slot;
            }
        } else {
            dropped++;
        }
        tail += HEADER + padded(size);
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    if (written) atomic_fetch_add_explicit(&m->out_events, written, memory_order_relaxed);
    if (dropped) atomic_fetch_add_explicit(&m->out_dropped, dropped, memory_order_relaxed);
}

static void hook(void *arg, uint32_t nframes) {
    sf_jack_midi *m = arg;
    atomic_fetch_add_explicit(&m->seq, 1, memory_order_seq_cst);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
    uint64_t now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    input_cycle(m, nframes, now_ns);
    output_cycle(m, nframes);
    atomic_fetch_add_explicit(&m->cycles, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->seq, 1, memory_order_seq_cst);
}

sf_jack_midi *sf_jack_midi_new(uint32_t in_bytes, uint32_t out_bytes) {
    sf_jack_midi *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (ring_init(&m->in, in_bytes) || ring_init(&m->out, out_bytes) ||
        !(m->bounce = malloc(m->out.cap / 4)) || sem_init(&m->wake, 0, 0)) {
        free(m->in.buf);
        free(m->out.buf);
        free(m->bounce);
        free(m);
        return NULL;
    }
    atomic_init(&m->in_mask, 0);
    atomic_init(&m->out_mask, 0);
    pthread_mutex_init(&m->send_lock, NULL);
    return m;
}

void sf_jack_midi_free(sf_jack_midi *m) {
    if (!m) return;
    sem_destroy(&m->wake);
    pthread_mutex_destroy(&m->send_lock);
    free(m->in.buf);
    free(m->out.buf);
    free(m->bounce);
    free(m);
}

/* Wait until a hook run that may have loaded an old port pointer is over. */
static void wait_out_cycle(sf_jack_midi *m) {
    unsigned s = atomic_load_explicit(&m->seq, memory_order_seq_cst);
    if (!(s & 1u) || !m->jack) return;
    struct timespec nap = {0, 100000};
    /* A cycle lasts a period (ms); a server that died mid-cycle runs no more
     * of them, so give up after a second rather than wait forever. */
    for (int i = 0; i < 10000 && atomic_load_explicit(&m->seq, memory_order_seq_cst) == s; i++)
        nanosleep(&nap, NULL);
}

int sf_jack_midi_attach(sf_jack_midi *m, sf_jack *j) {
    if (!m || !j || m->jack) return SF_EINVAL;
    m->jack = j;
    return sf_jack_set_hook(j, SF_JACK_HOOK_MIDI, hook, m);
}

void sf_jack_midi_detach(sf_jack_midi *m) {
    if (!m || !m->jack) return;
    sf_jack_set_hook(m->jack, SF_JACK_HOOK_MIDI, NULL, NULL); /* waits out the cycle */
    atomic_store(&m->in_mask, 0);
    atomic_store(&m->out_mask, 0);
    for (int s = 0; s < SF_JACK_MIDI_SLOTS; s++) {
        atomic_store(&m->in_port[s], NULL);
        atomic_store(&m->out_port[s], NULL);
    }
    m->jack = NULL;
    /* Output queued for the old client's ports means nothing to a new one. */
    pthread_mutex_lock(&m->send_lock);
    atomic_store(&m->out.tail, atomic_load(&m->out.head));
    pthread_mutex_unlock(&m->send_lock);
}

int sf_jack_midi_set_port(sf_jack_midi *m, int slot, int output, void *port) {
    if (!m || slot < 0 || slot >= SF_JACK_MIDI_SLOTS) return SF_EINVAL;
    _Atomic(void *) *cell = output ? &m->out_port[slot] : &m->in_port[slot];
    _Atomic(uint64_t) *mask = output ? &m->out_mask : &m->in_mask;
    const uint64_t bit = 1ull << slot;
    if (port) {
        atomic_store_explicit(cell, port, memory_order_seq_cst);
        atomic_fetch_or_explicit(mask, bit, memory_order_seq_cst);
    } else {
        atomic_fetch_and_explicit(mask, ~bit, memory_order_seq_cst);
        atomic_store_explicit(cell, port, memory_order_seq_cst);
        wait_out_cycle(m);
    }
    return SF_OK;
}

int sf_jack_midi_send(sf_jack_midi *m, int slot, const unsigned char *data, uint32_t size) {
    if (!m || !data || size == 0 || slot < 0 || slot >= SF_JACK_MIDI_SLOTS) return SF_EINVAL;
    struct ring *r = &m->out;
    if (size > r->cap / 4) return SF_EINVAL;
    pthread_mutex_lock(&m->send_lock);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    int rc = SF_OK;
    if (!ring_room(r, head, HEADER + padded(size))) {
        rc = SF_EQUEUE_FULL;
    } else {
        unsigned char h[HEADER] = {0};
        uint16_t s = (uint16_t)slot;
        memcpy(h, &s, 2);
        memcpy(h + 4, &size, 4);
        ring_put(r, head, h, HEADER);
        ring_put(r, head + HEADER, data, size);
        atomic_store_explicit(&r->head, head + HEADER + padded(size), memory_order_release);
    }
    pthread_mutex_unlock(&m->send_lock);
    return rc;
}

int sf_jack_midi_wait(sf_jack_midi *m, int timeout_ms) {
    if (!m) return SF_EINVAL;
    if (atomic_load_explicit(&m->in.head, memory_order_acquire) !=
        atomic_load_explicit(&m->in.tail, memory_order_relaxed))
        return 1;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc;
    while ((rc = sem_timedwait(&m->wake, &until)) != 0 && errno == EINTR) {
    }
    if (rc != 0) return 0;
    /* One wake-up drains everything: forget the posts of cycles already in the ring. */
    while (sem_trywait(&m->wake) == 0) {
    }
    return 1;
}

void sf_jack_midi_wake(sf_jack_midi *m) {
    if (m) sem_post(&m->wake);
}

uint32_t sf_jack_midi_read(sf_jack_midi *m, unsigned char *out, uint32_t cap) {
    if (!m || !out) return 0;
    struct ring *r = &m->in;
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t copied = 0;
    while (tail != head) {
        unsigned char h[HEADER];
        ring_get(r, tail, h, HEADER);
        uint32_t size;
        memcpy(&size, h + 4, 4);
        uint32_t rec = HEADER + padded(size);
        if (copied + rec > cap) break;
        ring_get(r, tail, out + copied, rec);
        copied += rec;
        tail += rec;
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return copied;
}

int sf_jack_midi_read_stats(sf_jack_midi *m, sf_jack_midi_stats *out) {
    if (!m || !out) return SF_EINVAL;
    out->in_events = atomic_load(&m->in_events);
    out->in_bytes = atomic_load(&m->in_bytes);
    out->in_dropped = atomic_load(&m->in_dropped);
    out->wakeups = atomic_load(&m->wakeups);
    out->cycles = atomic_load(&m->cycles);
    out->out_events = atomic_load(&m->out_events);
    out->out_dropped = atomic_load(&m->out_dropped);
    out->out_deferred = atomic_load(&m->out_deferred);
    out->in_capacity = m->in.cap;
    return SF_OK;
}
