/*
 * surfaced's own JACK client, libjack loaded at run time.
 *
 * Why not a Python JACK binding: the process callback must be C (no Python in
 * the audio thread), and a binding that only takes Python callbacks would
 * still need this file's dlopen table for the C side; and PortAudio's JACK
 * host API names the client "PortAudio" and its ports in_N/out_N, and cannot
 * be closed once its server has gone.
 *
 * The process callback runs the installed hooks (see jack_internal.h). Hooks
 * are swapped by the control thread with release/acquire atomics; removing
 * one waits for a cycle that might still use it (an "in cycle" flag), so the
 * caller may free the hook's state afterwards. Notification callbacks
 * (shutdown, ports, connections, xruns) run on JACK's non-real-time thread:
 * they count, then wake sf_jack_wait through a condition variable.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jack_internal.h"

/* JackOptions and port type strings, as <jack/types.h> defines them. */
#define JACK_NO_START_SERVER 0x01
#define JACK_SERVER_NAME 0x04
#define JACK_AUDIO_TYPE "32 bit float mono audio"
#define JACK_MIDI_TYPE "8 bit raw midi"

typedef void jclient;
typedef void jport;

static struct {
    jclient *(*client_open)(const char *, int, int *, ...);
    int (*client_close)(jclient *);
    char *(*get_client_name)(jclient *);
    int (*activate)(jclient *);
    int (*deactivate)(jclient *);
    int (*set_process_callback)(jclient *, int (*)(uint32_t, void *), void *);
    void (*on_info_shutdown)(jclient *, void (*)(int, const char *, void *), void *);
    int (*set_port_registration_callback)(jclient *, void (*)(uint32_t, int, void *), void *);
    int (*set_port_connect_callback)(jclient *, void (*)(uint32_t, uint32_t, int, void *), void *);
    int (*set_xrun_callback)(jclient *, int (*)(void *), void *);
    uint32_t (*get_sample_rate)(jclient *);
    uint32_t (*get_buffer_size)(jclient *);
    float (*cpu_load)(jclient *);
    jport *(*port_register)(jclient *, const char *, const char *, unsigned long, unsigned long);
    int (*port_unregister)(jclient *, jport *);
    int (*port_rename)(jclient *, jport *, const char *);
    int (*port_set_name)(jport *, const char *);
    const char *(*port_name)(const jport *);
    int (*port_flags)(const jport *);
    jport *(*port_by_name)(jclient *, const char *);
    int (*connect)(jclient *, const char *, const char *);
    int (*disconnect)(jclient *, const char *, const char *);
    const char **(*get_ports)(jclient *, const char *, const char *, unsigned long);
    const char **(*port_get_all_connections)(const jclient *, const jport *);
    void (*free)(void *);
    void (*set_error_function)(void (*)(const char *));
    void (*set_info_function)(void (*)(const char *));
} J;

sf_jack_rt_api sf_jack_rt;

struct sf_jack {
    jclient *client;
    _Atomic(sf_jack_hook_fn) hook_fn[SF_JACK_HOOKS];
    _Atomic(void *) hook_arg[SF_JACK_HOOKS];
    atomic_int in_cycle;
    atomic_int shutdown;
    atomic_uint port_registrations;
    atomic_uint connections;
    atomic_uint xruns;
    atomic_ullong cycles;
    pthread_mutex_t lock;   /* notification thread <-> sf_jack_wait only */
    pthread_cond_t cond;
    unsigned events;
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state; /* 0 not tried, 1 loaded, -1 unavailable */

/* libjack prints every failed connect and unknown server to stderr; the
 * daemon reports what matters itself, in one line. */
static void quiet(const char *msg) { (void)msg; }

int sf_jack_load(void) {
    pthread_mutex_lock(&load_lock);
    if (load_state == 0) {
        void *h = dlopen("libjack.so.0", RTLD_NOW | RTLD_LOCAL);
        int ok = h != NULL;
#define SYM(field, name) \
        do { if (ok) { *(void **)(&J.field) = dlsym(h, name); ok = J.field != NULL; } } while (0)
#define OPT(field, name) do { if (ok) *(void **)(&J.field) = dlsym(h, name); } while (0)
#define RT(field, name) \
        do { if (ok) { *(void **)(&sf_jack_rt.field) = dlsym(h, name); ok = sf_jack_rt.field != NULL; } } while (0)
        SYM(client_open, "jack_client_open");
        SYM(client_close, "jack_client_close");
        SYM(get_client_name, "jack_get_client_name");
        SYM(activate, "jack_activate");
        SYM(deactivate, "jack_deactivate");
        SYM(set_process_callback, "jack_set_process_callback");
        SYM(on_info_shutdown, "jack_on_info_shutdown");
        SYM(set_port_registration_callback, "jack_set_port_registration_callback");
        SYM(set_port_connect_callback, "jack_set_port_connect_callback");
        SYM(set_xrun_callback, "jack_set_xrun_callback");
        SYM(get_sample_rate, "jack_get_sample_rate");
        SYM(get_buffer_size, "jack_get_buffer_size");
        SYM(cpu_load, "jack_cpu_load");
        SYM(port_register, "jack_port_register");
        SYM(port_unregister, "jack_port_unregister");
        OPT(port_rename, "jack_port_rename");       /* jackd2 >= 1.9.11, PipeWire */
        OPT(port_set_name, "jack_port_set_name");   /* older servers */
        SYM(port_name, "jack_port_name");
        SYM(port_flags, "jack_port_flags");
        SYM(port_by_name, "jack_port_by_name");
        SYM(connect, "jack_connect");
        SYM(disconnect, "jack_disconnect");
        SYM(get_ports, "jack_get_ports");
        SYM(port_get_all_connections, "jack_port_get_all_connections");
        SYM(free, "jack_free");
        SYM(set_error_function, "jack_set_error_function");
        SYM(set_info_function, "jack_set_info_function");
        RT(port_get_buffer, "jack_port_get_buffer");
        RT(midi_get_event_count, "jack_midi_get_event_count");
        RT(midi_event_get, "jack_midi_event_get");
        RT(midi_clear_buffer, "jack_midi_clear_buffer");
        RT(midi_event_write, "jack_midi_event_write");
#undef SYM
#undef OPT
#undef RT
        if (ok) {
            J.set_error_function(quiet);
            J.set_info_function(quiet);
        } else if (h) {
            dlclose(h);
        }
        load_state = ok ? 1 : -1;
    }
    int r = load_state == 1 ? SF_OK : SF_EUNAVAILABLE;
    pthread_mutex_unlock(&load_lock);
    return r;
}

static int process(uint32_t nframes, void *arg) {
    sf_jack *j = arg;
    atomic_store_explicit(&j->in_cycle, 1, memory_order_seq_cst);
    for (int s = 0; s < SF_JACK_HOOKS; s++) {
        sf_jack_hook_fn fn = atomic_load_explicit(&j->hook_fn[s], memory_order_acquire);
        if (fn) fn(atomic_load_explicit(&j->hook_arg[s], memory_order_acquire), nframes);
    }
    atomic_fetch_add_explicit(&j->cycles, 1, memory_order_relaxed);
    atomic_store_explicit(&j->in_cycle, 0, memory_order_release);
    return 0;
}

static void notify(sf_jack *j) {
    pthread_mutex_lock(&j->lock);
    j->events++;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void on_shutdown(int code, const char *reason, void *arg) {
    (void)code;
    (void)reason;
    sf_jack *j = arg;
    atomic_store(&j->shutdown, 1);
    notify(j);
}

static void on_port_registration(uint32_t port, int reg, void *arg) {
    (void)port;
    (void)reg;
    sf_jack *j = arg;
    atomic_fetch_add(&j->port_registrations, 1);
    notify(j);
}

static void on_connect(uint32_t a, uint32_t b, int connect, void *arg) {
    (void)a;
    (void)b;
    (void)connect;
    sf_jack *j = arg;
    atomic_fetch_add(&j->connections, 1);
    notify(j);
}

static int on_xrun(void *arg) {
    sf_jack *j = arg;
    atomic_fetch_add(&j->xruns, 1);
    notify(j);
    return 0;
}

sf_jack *sf_jack_open(const char *name, const char *server, int *status) {
    int st = 0;
    if (status) *status = 0;
    if (sf_jack_load() != SF_OK || !name) return NULL;
    sf_jack *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    if (server)
        j->client = J.client_open(name, JACK_NO_START_SERVER | JACK_SERVER_NAME, &st, server);
    else
        j->client = J.client_open(name, JACK_NO_START_SERVER, &st);
    if (status) *status = st;
    if (!j->client) goto fail;
    J.set_process_callback(j->client, process, j);
    J.on_info_shutdown(j->client, on_shutdown, j);
    J.set_port_registration_callback(j->client, on_port_registration, j);
    J.set_port_connect_callback(j->client, on_connect, j);
    J.set_xrun_callback(j->client, on_xrun, j);
    if (J.activate(j->client) != 0) {
        J.client_close(j->client);
        goto fail;
    }
    return j;
fail:
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    free(j);
    return NULL;
}

void sf_jack_close(sf_jack *j) {
    if (!j) return;
    /* After a server shutdown the client is a zombie: deactivate would wait
     * for a server that is gone; close only frees the local side. */
    if (!atomic_load(&j->shutdown)) J.deactivate(j->client);
    J.client_close(j->client);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

const char *sf_jack_name(sf_jack *j) { return J.get_client_name(j->client); }

int sf_jack_read_status(sf_jack *j, sf_jack_status *out) {
    if (!j || !out) return SF_EINVAL;
    out->shutdown = atomic_load(&j->shutdown);
    out->port_registrations = atomic_load(&j->port_registrations);
    out->connections = atomic_load(&j->connections);
    out->xruns = atomic_load(&j->xruns);
    out->cycles = atomic_load(&j->cycles);
    if (out->shutdown) {
        out->sample_rate = out->buffer_size = 0;
        out->cpu_load = 0.0f;
    } else {
        out->sample_rate = J.get_sample_rate(j->client);
        out->buffer_size = J.get_buffer_size(j->client);
        out->cpu_load = J.cpu_load(j->client);
    }
    return SF_OK;
}

int sf_jack_wait_since(sf_jack *j, unsigned *seen, int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->lock);
    int rc = 0;
    while (j->events == *seen && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&j->cond, &j->lock, &until);
    int woke = j->events != *seen;
    *seen = j->events;
    pthread_mutex_unlock(&j->lock);
    return woke;
}

int sf_jack_wait(sf_jack *j, int timeout_ms) {
    pthread_mutex_lock(&j->lock);
    unsigned seen = j->events;
    pthread_mutex_unlock(&j->lock);
    return sf_jack_wait_since(j, &seen, timeout_ms);
}

void sf_jack_wake(sf_jack *j) {
    if (j) notify(j);
}

uint32_t sf_jack_xrun_count(sf_jack *j) { return atomic_load_explicit(&j->xruns, memory_order_relaxed); }

int sf_jack_set_hook(sf_jack *j, int slot, sf_jack_hook_fn fn, void *arg) {
    if (!j || slot < 0 || slot >= SF_JACK_HOOKS) return SF_EINVAL;
    if (fn) {
        atomic_store_explicit(&j->hook_arg[slot], arg, memory_order_release);
        atomic_store_explicit(&j->hook_fn[slot], fn, memory_order_release);
        return SF_OK;
    }
    atomic_store_explicit(&j->hook_fn[slot], NULL, memory_order_seq_cst);
    /* A cycle that loaded the old hook before the store above still has
     * in_cycle set; wait it out (a cycle is a few ms at most). A dead server
     * runs no cycles. */
    struct timespec nap = {0, 200000};
    while (atomic_load_explicit(&j->in_cycle, memory_order_seq_cst) && !atomic_load(&j->shutdown))
        nanosleep(&nap, NULL);
    atomic_store_explicit(&j->hook_arg[slot], NULL, memory_order_release);
    return SF_OK;
}

void *sf_jack_port_register(sf_jack *j, const char *short_name, int type, int flags) {
    if (!j || !short_name || (type != SF_JACK_PORT_AUDIO && type != SF_JACK_PORT_MIDI)) return NULL;
    return J.port_register(j->client, short_name, type == SF_JACK_PORT_MIDI ? JACK_MIDI_TYPE : JACK_AUDIO_TYPE,
                           (unsigned long)flags, 0);
}

int sf_jack_port_unregister(sf_jack *j, void *port) {
    if (!j || !port) return SF_EINVAL;
    return J.port_unregister(j->client, port) == 0 ? SF_OK : SF_EINVAL;
}

int sf_jack_port_rename(sf_jack *j, void *port, const char *short_name) {
    if (!j || !port || !short_name) return SF_EINVAL;
    int rc = J.port_rename ? J.port_rename(j->client, port, short_name)
           : J.port_set_name ? J.port_set_name(port, short_name) : -1;
    return rc == 0 ? SF_OK : SF_EINVAL;
}

const char *sf_jack_port_name(void *port) { return port ? J.port_name(port) : NULL; }

int sf_jack_connect(sf_jack *j, const char *source, const char *destination) {
    if (!j || !source || !destination) return SF_EINVAL;
    int rc = J.connect(j->client, source, destination);
    return rc == 0 || rc == EEXIST ? SF_OK : SF_EINVAL;
}

int sf_jack_disconnect(sf_jack *j, const char *source, const char *destination) {
    if (!j || !source || !destination) return SF_EINVAL;
    return J.disconnect(j->client, source, destination) == 0 ? SF_OK : SF_EINVAL;
}

const char **sf_jack_get_ports(sf_jack *j, const char *pattern, int type, int flags) {
    if (!j) return NULL;
    const char *t = type == SF_JACK_PORT_AUDIO ? JACK_AUDIO_TYPE : type == SF_JACK_PORT_MIDI ? JACK_MIDI_TYPE : NULL;
    return J.get_ports(j->client, pattern, t, (unsigned long)flags);
}

const char **sf_jack_port_connections(sf_jack *j, const char *port_name) {
    if (!j || !port_name) return NULL;
    jport *p = J.port_by_name(j->client, port_name);
    return p ? J.port_get_all_connections(j->client, p) : NULL;
}

int sf_jack_port_flags(sf_jack *j, const char *port_name) {
    if (!j || !port_name) return -1;
    jport *p = J.port_by_name(j->client, port_name);
    return p ? J.port_flags(p) : -1;
}

void sf_jack_free(void *names) {
    if (names) J.free(names);
}
