"""MIDI surfaces on surfaced's own JACK client: raw JACK MIDI events, parsed by us.

A `JackMidiTransport` is one surface's pair of JACK MIDI ports, with the same
face as `midi.MidiTransport` (a sink for Events, `on_status`,
`on_reconnect`, `send`, `online`, `stats`), on the one client the daemon
owns (`surfaced.jackclient.JackClient`), not a client per port as RtMidi's
JACK backend makes. Why not RtMidi on JACK: it joins every event after a
lone F0 into one "SysEx" until an event ends with F7, even across a replug,
so the surface goes deaf and the swallowed messages are applied late
(issue 8); and every port costs a JACK client and a polling thread
(issue 9).

How it works:

- `JackMidiHub` (one per daemon) owns the native MIDI hook
  (native/jack_midi.c), a table of port slots, ONE reader thread for every
  port and ONE port watcher. `set_client` is the observer the daemon's JACK
  session calls with each new client, and with None when the client is lost.
- Ports are registered only while a device port matches: the input
  ``<client>:<surface> in`` when a MIDI output port (a device's capture side)
  matches the `input` pattern, the output ``<client>:<surface> out`` when a
  MIDI input port matches `output`; each is connected to the device port it
  serves. Ports of our own client never match. Patterns are those of
  `midi.port_matcher`: ``re:REGEX`` is searched, anything else is a glob
  over the whole ``client:port`` name.
- The watcher sleeps in `JackClient.wait` until JACK reports a port
  registered or gone (it wakes once a second only to notice it should stop),
  then re-checks every surface: a vanished device port takes the surface
  offline (`on_status(False)`) and unregisters our port; a matching one
  binds, and once every configured direction is bound, `on_status(True)` and
  `on_reconnect()` let the upper layer re-send the whole state. The first
  bind happens inside `start()` when the device is already there.
- The hook copies every event of every input port into one ring and posts a
  semaphore once per cycle that had input; the reader sleeps on it (no
  polling), parses each port's bytes with its own `MidiParser` (MIDI 1.0:
  any status byte but real-time ends a SysEx; a SysEx with no byte for
  `SYSEX_TIMEOUT_S` is dropped) and calls the sink on the reader thread.
  The reader wakes on its own only when a partial SysEx is due to expire; it
  runs at a low real-time priority where the system allows it, so an event
  reaches the core before the next audio block even on a busy machine.
- `send` queues bytes for the hook, which writes them at the start of the
  next cycle (one JACK period later at most).

Slots are handed out in turn (not lowest-free first), so events of a port
that was just let go, still in the ring, never reach the surface that takes
its slot next.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from surfaced._native import ffi, lib
from surfaced.events import Event
from surfaced.jackclient import IS_INPUT, IS_OUTPUT, MIDI, JackClient, JackError, matches
from surfaced.transports import EventSink, is_throttled
from surfaced.transports.midi import MidiPorts, MidiTransportStats
from surfaced.transports.midi_codec import (
    DEFAULT_MAX_SYSEX,
    SYSEX_TIMEOUT_S,
    MidiError,
    MidiParseError,
    MidiParser,
)
from surfaced.transports.port_patterns import PortPatternError, port_matcher

log = logging.getLogger(__name__)

SLOTS: Final = int(lib.SF_JACK_MIDI_SLOTS)
_HEADER: Final = struct.Struct("<HHIQ")  # slot, 0, size, CLOCK_MONOTONIC ns of the cycle
IN_RING_BYTES: Final = 1 << 20  # a few seconds of a busy surface's input, or a 256 KiB dump
OUT_RING_BYTES: Final = 1 << 18
IDLE_WAIT_S: Final = 3600.0  # the reader's wait with nothing due: it is woken for everything
READER_PRIORITY: Final = 1  # SCHED_FIFO, below JACK's threads (see _realtime_priority)
WATCH_WAIT_S: Final = 1.0  # the watcher's wait: how long stopping it may take
# Clock and active sensing are floods a surface has no use for (as rtmidi's ignore_types).
_FLOODS: Final = frozenset(("clock", "active_sensing", "mtc_quarter"))


class JackMidiError(Exception):
    """A JACK MIDI transport was misconfigured; the message says which and why."""


def check_pattern(pattern: str) -> str:
    """`pattern` if it is usable (a glob, or ``re:`` and a valid regex); JackMidiError if not."""
    try:
        port_matcher(pattern)
    except PortPatternError as exc:
        raise JackMidiError(str(exc)) from None
    return pattern


def port_label(name: str) -> str:
    """A JACK-safe short port name stem (':' separates client and port in JACK)."""
    return re.sub(r"[^\w .+-]", "_", name)[:60] or "surface"


class JackMidiHub:
    """Every JACK MIDI transport of a daemon on one client: slots, reader, watcher."""

    def __init__(self, *, in_ring: int = IN_RING_BYTES, out_ring: int = OUT_RING_BYTES,
                 watch: bool = True, realtime: bool = True) -> None:
        """`watch`: run a port watcher of our own; False when `follow` gives the
        JACK session's thread that job (`on_graph`). `realtime`: ask for
        real-time priority for the reader (see `_realtime_priority`)."""
        native = lib.sf_jack_midi_new(in_ring, out_ring)
        if native == ffi.NULL:
            raise MemoryError("cannot allocate the JACK MIDI rings")
        self._native = native
        stats = ffi.new("sf_jack_midi_stats *")
        lib.sf_jack_midi_read_stats(native, stats)
        self._buf = ffi.new("unsigned char[]", int(stats.in_capacity))
        self._view = ffi.buffer(self._buf)
        self._client: JackClient | None = None
        self._transports: list[JackMidiTransport] = []
        self._inputs: list[JackMidiTransport | None] = [None] * SLOTS
        self._outputs: list[JackMidiTransport | None] = [None] * SLOTS
        self._next_in = self._next_out = 0
        self._lock = threading.RLock()  # client, slots, transports, binding
        self._stop = threading.Event()
        self._closed = False
        self.reader_wakeups = 0  # times the reader returned from its wait
        self.realtime = False  # the reader got real-time priority (set by the reader)
        self._want_realtime = realtime
        self.watch_passes = 0  # times the watcher re-checked the ports
        self.dropped_notes = 0  # times the reader found input dropped (a full ring)
        self._reader = threading.Thread(target=self._read_loop, name="jack-midi reader",
                                        daemon=True)
        self._reader.start()
        self._watch = watch
        self._watcher: threading.Thread | None = None

    # -- the client ----------------------------------------------------------

    @property
    def client(self) -> JackClient | None:
        return self._client

    def set_client(self, client: JackClient | None) -> None:
        """Use `client` (None: the client is lost or about to close): the JACK session's observer.

        Returns once nothing of ours uses the previous client any more (hook
        removed, watcher stopped), so its owner may close it afterwards: the
        owner must call this before closing a client it handed over.
        """
        with self._lock:
            if client is self._client:
                return
            old = self._client
            self._client = None
        self._stop_watcher()
        if old is not None:
            self._let_go(old)
        if client is None or self._closed:
            return
        with self._lock:
            self._client = client
            if lib.sf_jack_midi_attach(self._native, client.native) != lib.SF_OK:
                self._client = None
                raise JackError(f"cannot install the MIDI hook on JACK client {client.name!r}")
            if self._watch:
                self._stop.clear()
                self._watcher = threading.Thread(target=self._watch_loop, args=(client,),
                                                 name="jack-midi ports", daemon=True)
                self._watcher.start()
        self.rebind()

    def follow(self, session: Any) -> None:
        """Take the client from a JACK session (surfaced.mix.jack_session.JackSession):
        its observers hand over each (re)opened client, take it back before it
        closes, and re-check the ports whenever the graph changed (on its thread,
        which sleeps until JACK reports something: no watcher of our own). A
        session that already has a client hands it over on its thread soon."""
        self._watch = False
        session.on_client(self.set_client)
        session.on_graph(lambda _client: self.rebind())
        if session.client is not None:  # already running (the audio's client): join it there
            session.call(self.set_client)

    def _stop_watcher(self) -> None:
        self._stop.set()
        w = self._watcher
        if w is not None and w is not threading.current_thread():
            w.join(timeout=WATCH_WAIT_S * 5)
        self._watcher = None

    def _let_go(self, old: JackClient) -> None:
        """Take every surface offline and forget the ports of a client that is going."""
        changed: list[JackMidiTransport] = []
        with self._lock:
            lib.sf_jack_midi_detach(self._native)  # also forgets every slot
            # A client the server shut down is a zombie: its ports went with it,
            # and asking the server to unregister them would wait for nobody.
            alive = not old.closed and not old.status().shutdown
            for t in self._transports:
                for port in t._our_ports():
                    if alive:
                        old.unregister_port(port)
                t._forget_ports()
                if t._set_online(False):
                    changed.append(t)
            self._inputs = [None] * SLOTS
            self._outputs = [None] * SLOTS
        for t in changed:
            t._announce()

    def close(self) -> None:
        """Stop the threads and free the hook (transports should be removed first)."""
        self._closed = True
        self.set_client(None)
        self._stop.set()
        lib.sf_jack_midi_wake(self._native)
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            lib.sf_jack_midi_free(self._native)
            self._native = ffi.NULL

    def stats(self) -> dict[str, int]:
        """The hook's counters (events in, dropped, wake-ups, ...) and the reader's."""
        out = ffi.new("sf_jack_midi_stats *")
        lib.sf_jack_midi_read_stats(self._native, out)
        names = ("in_events", "in_bytes", "in_dropped", "wakeups", "cycles", "out_events",
                 "out_dropped", "out_deferred")
        got = {n: int(getattr(out, n)) for n in names}
        got["reader_wakeups"] = self.reader_wakeups
        got["watch_passes"] = self.watch_passes
        return got

    # -- transports ----------------------------------------------------------

    def add(self, t: JackMidiTransport) -> None:
        with self._lock:
            if t not in self._transports:
                self._transports.append(t)
        self.rebind()

    def remove(self, t: JackMidiTransport) -> None:
        with self._lock:
            if t in self._transports:
                self._transports.remove(t)
            client = self._client
            if client is not None:
                self._unbind_in(client, t)
                self._unbind_out(client, t)
            t._set_online(False)

    def send(self, t: JackMidiTransport, data: bytes) -> int:
        """Queue `data` for t's output slot: SF_OK, SF_EQUEUE_FULL or SF_EINVAL (unbound)."""
        slot = t._out_slot
        if slot is None:
            return int(lib.SF_EINVAL)
        return int(lib.sf_jack_midi_send(self._native, slot, data, len(data)))

    # -- binding -------------------------------------------------------------

    def rebind(self) -> None:
        """One pass over every surface: let go of vanished ports, bind matching ones."""
        changed: list[JackMidiTransport] = []
        with self._lock:
            client = self._client
            if client is None:
                return
            self.watch_passes += 1
            try:
                outs = client.ports(None, MIDI, IS_OUTPUT)
                ins = client.ports(None, MIDI, IS_INPUT)
            except JackError as exc:  # the client closed under us: the session will tell
                log.debug("JACK MIDI port listing failed: %s", exc)
                return
            own = f"{client.name}:"
            outs = [p for p in outs if not p.startswith(own)]
            ins = [p for p in ins if not p.startswith(own)]
            for t in list(self._transports):
                try:
                    self._bind_one(client, t, outs, ins)
                except JackError as exc:
                    t._note_error(str(exc))
                if t._set_online(t._bound()):
                    changed.append(t)
        for t in changed:  # outside the lock: the upper layer sends its state from here
            t._announce()

    def _bind_one(self, client: JackClient, t: JackMidiTransport, outs: list[str],
                  ins: list[str]) -> None:
        if t.input_pattern is not None:
            if t._in_device is not None and t._in_device not in outs:
                log.info("%s: input %r went away", t.source, t._in_device)
                self._unbind_in(client, t)
            if t._in_device is None:
                found = next((p for p in outs if matches(t.input_pattern, p)), None)
                if found is not None:
                    self._bind_in(client, t, found)
        if t.output_pattern is not None:
            if t._out_device is not None and t._out_device not in ins:
                log.info("%s: output %r went away", t.source, t._out_device)
                self._unbind_out(client, t)
            if t._out_device is None:
                found = next((p for p in ins if matches(t.output_pattern, p)), None)
                if found is not None:
                    self._bind_out(client, t, found)

    def _free_slot(self, table: list[JackMidiTransport | None], start: int) -> int:
        for i in range(SLOTS):
            slot = (start + i) % SLOTS
            if table[slot] is None:
                return slot
        raise JackError(f"all {SLOTS} JACK MIDI port slots are in use")

    def _bind_in(self, client: JackClient, t: JackMidiTransport, device: str) -> None:
        slot = self._free_slot(self._inputs, self._next_in)
        name = f"{t.label} in"
        port = client.register_port(name, MIDI, IS_INPUT)
        try:
            client.connect(device, f"{client.name}:{name}")
        except JackError:
            client.unregister_port(name)
            raise
        t._reset_parser()
        self._inputs[slot] = t
        self._next_in = (slot + 1) % SLOTS
        t._in_slot, t._in_device = slot, device
        lib.sf_jack_midi_set_port(self._native, slot, 0, port)
        log.info("%s: in bound to %r", t.source, device)

    def _bind_out(self, client: JackClient, t: JackMidiTransport, device: str) -> None:
        slot = self._free_slot(self._outputs, self._next_out)
        name = f"{t.label} out"
        port = client.register_port(name, MIDI, IS_OUTPUT)
        try:
            client.connect(f"{client.name}:{name}", device)
        except JackError:
            client.unregister_port(name)
            raise
        self._outputs[slot] = t
        self._next_out = (slot + 1) % SLOTS
        lib.sf_jack_midi_set_port(self._native, slot, 1, port)
        t._out_slot, t._out_device = slot, device
        log.info("%s: out bound to %r", t.source, device)

    def _unbind_in(self, client: JackClient, t: JackMidiTransport) -> None:
        if t._in_slot is not None:
            lib.sf_jack_midi_set_port(self._native, t._in_slot, 0, ffi.NULL)  # waits out a cycle
            self._inputs[t._in_slot] = None
        if f"{t.label} in" in client.own_ports():
            client.unregister_port(f"{t.label} in")
        t._in_slot = t._in_device = None

    def _unbind_out(self, client: JackClient, t: JackMidiTransport) -> None:
        if t._out_slot is not None:
            lib.sf_jack_midi_set_port(self._native, t._out_slot, 1, ffi.NULL)
            self._outputs[t._out_slot] = None
        if f"{t.label} out" in client.own_ports():
            client.unregister_port(f"{t.label} out")
        t._out_slot = t._out_device = None

    # -- threads -------------------------------------------------------------

    def _watch_loop(self, client: JackClient) -> None:
        seen = -1
        while not self._stop.is_set():
            try:
                status = client.status()
            except JackError:
                return
            if status.shutdown:
                return  # the session notices too, and hands over a new client
            if status.port_registrations != seen:
                seen = status.port_registrations
                try:
                    self.rebind()
                except Exception as exc:  # keep watching whatever one pass ran into
                    log.warning("JACK MIDI port watch failed: %s: %s", type(exc).__name__, exc)
            if self._stop.is_set() or client.closed:
                return
            client.wait(WATCH_WAIT_S)

    def _read_loop(self) -> None:
        self.realtime = self._want_realtime and _realtime_priority()
        native, buf, view = self._native, self._buf, self._view
        cap = len(view)
        unpack = _HEADER.unpack_from
        hsize = _HEADER.size
        counters = ffi.new("sf_jack_midi_stats *")
        dropped = 0
        while not self._closed:
            due = self._next_expiry()
            wait = IDLE_WAIT_S if due is None else max(0.0, due - time.monotonic())
            lib.sf_jack_midi_wait(native, int(wait * 1000) + 1)
            self.reader_wakeups += 1
            while n := lib.sf_jack_midi_read(native, buf, cap):
                pos = 0
                while pos < n:
                    slot, _flags, size, ns = unpack(view, pos)
                    data = view[pos + hsize:pos + hsize + size]
                    pos += hsize + ((size + 7) & ~7)
                    t = self._inputs[slot]
                    if t is not None:
                        t._deliver(data, ns / 1e9)
            if due is not None:
                now = time.monotonic()
                for t in list(self._transports):
                    t._expire(now)
            lib.sf_jack_midi_read_stats(native, counters)
            if counters.in_dropped != dropped:  # the ring was full: said, throttled
                self.dropped_notes += 1
                if not is_throttled(self.dropped_notes):
                    log.warning("JACK MIDI: %d input events dropped so far (the reader fell "
                                "behind a flood of input)", counters.in_dropped)
                dropped = counters.in_dropped

    def _next_expiry(self) -> float | None:
        due = [d for t in list(self._transports) if (d := t._sysex_due()) is not None]
        return min(due) if due else None


def _realtime_priority() -> bool:
    """Put the calling thread (the reader) at SCHED_FIFO priority READER_PRIORITY if allowed.

    Why a Python thread at real-time priority: on a busy machine a normal
    thread often wakes too late to hand an event to the core before the next
    audio block (measured on the 2-core test VM under load: the 99th
    percentile from the cycle that read an event to the surface getting it
    fell from 0.53 ms to 0.11 ms). It is safe because the reader sleeps on the
    semaphore unless input came, does a bounded amount of work per event,
    and sits below JACK's own threads (priority 10 and up), so it never
    delays audio; the kernel's real-time throttling bounds a MIDI flood.
    Without the privilege (no rtprio limit) it stays a normal thread.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(READER_PRIORITY))
    except (AttributeError, OSError):  # not Linux, or not allowed
        return False
    return True


class JackMidiTransport:
    """One surface's JACK MIDI input and/or output on the shared client; see the module doc."""

    def __init__(
        self,
        sink: EventSink,
        *,
        hub: JackMidiHub,
        input: str | None = None,
        output: str | None = None,
        source: str | None = None,
        name: str | None = None,
        on_status: Callable[[bool], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        max_sysex: int = DEFAULT_MAX_SYSEX,
        sysex_timeout: float = SYSEX_TIMEOUT_S,
        receive_clock: bool = False,
    ) -> None:
        if input is None and output is None:
            raise JackMidiError("a MIDI transport needs an input or an output pattern")
        self.sink = sink
        self.hub = hub
        self.input_pattern = check_pattern(input) if input is not None else None
        self.output_pattern = check_pattern(output) if output is not None else None
        self.source = source or f"midi:{input or output}"
        self.label = port_label(name or self.source.removeprefix("surface:"))
        self.on_status = on_status
        self.on_reconnect = on_reconnect
        self.sysex_timeout = sysex_timeout
        self.stats = MidiTransportStats()
        self.parser = MidiParser(self.source, max_sysex=max_sysex, on_error=self._parse_error)
        self.stats.parser = self.parser.stats
        self._receive_clock = receive_clock
        self._parse_lock = threading.Lock()  # reader (feed, expire) vs watcher (reset)
        self._said: set[MidiError] = set()
        self._in_slot: int | None = None
        self._out_slot: int | None = None
        self._in_device: str | None = None
        self._out_device: str | None = None
        self._online = False
        self._announced = False
        self._started = False

    # -- state ---------------------------------------------------------------

    @property
    def online(self) -> bool:
        """True while every configured direction is bound to a device port."""
        return self._online

    @property
    def input_port(self) -> str | None:
        """The device port our input reads, or None."""
        return self._in_device

    @property
    def output_port(self) -> str | None:
        """The device port our output feeds, or None."""
        return self._out_device

    def start(self) -> None:
        """Join the hub; binds at once (hooks on this thread) when the device is there."""
        if self._started:
            raise JackMidiError(f"{self.source}: already started")
        self._started = True
        self.hub.add(self)

    def close(self) -> None:
        """Let go of the ports; the surface is offline afterwards (no hook is called)."""
        if self._started:
            self.hub.remove(self)
            self._started = False
        self._online = self._announced = False

    # -- hub side ------------------------------------------------------------

    def _our_ports(self) -> list[str]:
        return [n for n, slot in ((f"{self.label} in", self._in_slot),
                                  (f"{self.label} out", self._out_slot)) if slot is not None]

    def _forget_ports(self) -> None:
        self._in_slot = self._out_slot = None
        self._in_device = self._out_device = None

    def _bound(self) -> bool:
        return ((self.input_pattern is None or self._in_slot is not None)
                and (self.output_pattern is None or self._out_slot is not None))

    def _set_online(self, online: bool) -> bool:
        """Record the state; True when it changed and hooks are due."""
        if online == self._online:
            return False
        self._online = online
        if online:
            self.stats.binds += 1
        return True

    def _announce(self) -> None:
        """Tell the upper layer the current state (once per change)."""
        online = self._online
        if online == self._announced:
            return
        self._announced = online
        self._call_hook(self.on_status, online)
        if online:
            self._call_hook(self.on_reconnect)

    def _call_hook(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception as exc:  # the upper layer's bug must not stop the watcher
            self._note_error(f"hook {getattr(hook, '__name__', hook)} raised: {exc!r}")

    def _note_error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{self.source}: {message}"
        if not is_throttled(self.stats.errors):
            log.warning("%s", self.stats.last_error)

    # -- input (the hub's reader thread) ---------------------------------------

    def _reset_parser(self) -> None:
        with self._parse_lock:
            self.parser.reset()

    def _parse_error(self, err: MidiParseError) -> None:
        if err.reason in (MidiError.SYSEX_INTERRUPTED, MidiError.SYSEX_TIMEOUT):
            self.stats.last_error = f"{self.source}: {err}"
            if err.reason not in self._said:  # once per surface; the rest are counted
                self._said.add(err.reason)
                log.warning("%s: %s (further ones are counted, not logged)", self.source, err)

    def _deliver(self, data: bytes, when: float) -> None:
        with self._parse_lock:
            events = self.parser.feed(data, when)
        for event in events:
            if event.kind in _FLOODS and not self._receive_clock:
                continue
            try:
                self.sink(event)
            except Exception as exc:  # a faulty consumer must not kill the input
                self.stats.sink_errors += 1
                self.stats.last_error = f"{self.source}: sink raised {type(exc).__name__}: {exc}"
                if not is_throttled(self.stats.sink_errors):
                    log.warning("%s", self.stats.last_error)

    def _sysex_due(self) -> float | None:
        """When the partial SysEx in progress expires (monotonic), or None."""
        return self.parser.sysex_due(self.sysex_timeout)

    def _expire(self, now: float) -> None:
        with self._parse_lock:
            self.parser.expire(now, self.sysex_timeout)

    # -- output --------------------------------------------------------------

    def send(self, event: Event) -> bool:
        """Queue one Event's MIDI bytes; False (and counted) when the output is unbound."""
        return self.send_bytes(event.to_bytes())

    def send_bytes(self, data: bytes) -> bool:
        """Queue raw MIDI bytes (whole messages) for the next JACK cycle; False if not queued."""
        rc = self.hub.send(self, data)
        if rc == lib.SF_OK:
            self.stats.sent += 1
            return True
        self.stats.send_dropped += 1
        if rc == lib.SF_EQUEUE_FULL:
            self._note_error("JACK MIDI output queue full; message dropped")
        elif self._out_slot is not None and data:
            self._note_error(f"message of {len(data)} bytes too long for JACK MIDI; dropped")
        return False


def use_jack(api: str | None) -> bool:
    """Whether MIDI backend `api` (None: the default) means surfaced's own JACK client."""
    from surfaced.jackclient import available

    return (api or "jack").lower() == "jack" and available()


def list_ports(client_name: str = "surfaced-list") -> MidiPorts:
    """The JACK MIDI ports a surface can bind (`inputs` it reads, `outputs` it writes).

    JackUnavailable when no JACK server answers.
    """
    with JackClient.open(client_name) as client:
        return MidiPorts("jack", client.ports(None, MIDI, IS_OUTPUT),
                         client.ports(None, MIDI, IS_INPUT))


class JackMidiInputs:
    """Every JACK MIDI port matching a pattern, read on a client of its own (monitor, learn)."""

    def __init__(self, pattern: str, sink: EventSink, client_name: str = "surfaced-monitor"):
        check_pattern(pattern)
        self.client = JackClient.open(client_name)
        self.hub = JackMidiHub()
        self.transports: list[JackMidiTransport] = []
        try:
            self.hub.set_client(self.client)
            for i, name in enumerate(self.client.matching([pattern], MIDI, IS_OUTPUT)):
                if name.startswith(("surfaced", f"{self.client.name}:")):
                    continue  # a daemon's own ports: what they carry is already ours
                t = JackMidiTransport(sink, hub=self.hub, input=f"re:^{re.escape(name)}$",
                                      source=f"midi:{name}", name=f"in {i + 1}")
                t.start()
                self.transports.append(t)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for t in self.transports:
            t.close()
        self.hub.close()
        self.client.close()
