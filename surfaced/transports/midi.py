"""MIDI ports over python-rtmidi, bound by name pattern and re-bound when they return.

A `MidiTransport` is one surface's pair of ports: an input it decodes (with
`midi_codec.MidiParser`) into Events for a sink, and an output that `send`
writes to. Ports are chosen by name pattern, never by index (indexes shift as
devices come and go):

- ``"nanoKONTROL2*"`` is a glob matched against the whole port name
  (case-sensitive, `fnmatch.fnmatchcase`);
- ``"re:^Mackie.*MIDI 1"`` is a regular expression searched in the name.

The first matching port, in the backend's order, is bound. Ports of
surfaced's own client (``<client_name>:``) never match, so a surface is never
bound to our own output.

A worker thread looks at the port lists every `watch_interval` seconds.
When a bound port disappears the transport goes offline (`on_status(False)`);
when a matching port appears it binds it and, once every configured
direction is bound, goes online: `on_status(True)` then `on_reconnect()`, so
the upper layer re-sends the surface's whole state. That happens on the first
bind too: "(re)connect" means "the device needs the full picture now". The
first bind happens inside `start()` (hooks run on the caller's thread), later
ones on the worker thread. Input is delivered by rtmidi's callback, on the
backend's own thread (ALSA's and CoreMIDI's are not real-time threads).

This transport serves ALSA, CoreMIDI and WinMM. On JACK the daemon reads
MIDI on its own client instead (`jack_midi.py`): RtMidi's JACK backend makes
a client per port, runs callbacks inside the JACK process cycle (where
waiting for Python's GIL stalls the audio graph), and holds every message
after a lone F0 until one ends with F7. The tests drive this transport on
JACK all the same, the only MIDI backend a CI machine has. RtMidi joins
SysEx chunks itself on every backend, so what reaches the parser here is
whole messages; the partial-SysEx rules of `midi_codec` act on JACK MIDI.

Backends are chosen by name ("jack", "alsa", "coremidi", "winmm"; None for
rtmidi's default) and python-rtmidi is imported only here.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import rtmidi

from surfaced.events import Event
from surfaced.transports import EventSink, is_throttled, port_patterns
from surfaced.transports.midi_codec import DEFAULT_MAX_SYSEX, MidiParser, MidiParserStats

log = logging.getLogger(__name__)

APIS: Final[dict[str, int]] = {
    "jack": rtmidi.API_UNIX_JACK,
    "alsa": rtmidi.API_LINUX_ALSA,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}

class MidiTransportError(Exception):
    """A MIDI backend or port could not be opened; the message says which and why."""


def resolve_api(name: str | None) -> int:
    """The rtmidi API constant for a backend name; None gives rtmidi's default choice."""
    if name is None:
        return int(rtmidi.API_UNSPECIFIED)
    api = APIS.get(name.lower())
    if api is None:
        raise MidiTransportError(f"unknown MIDI backend {name!r}; expected one of {sorted(APIS)}")
    if api not in rtmidi.get_compiled_api():
        compiled = [rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()]
        raise MidiTransportError(f"MIDI backend {name!r} not built into python-rtmidi: {compiled}")
    return api


def port_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate for port names (`port_patterns.port_matcher`); MidiTransportError if bad."""
    try:
        return port_patterns.port_matcher(pattern)
    except port_patterns.PortPatternError as exc:
        raise MidiTransportError(str(exc)) from None


def exact_pattern(name: str) -> str:
    """A pattern matching exactly one port name, even one with glob characters ("[20]")."""
    return f"re:^{re.escape(name)}$"


@dataclass(frozen=True)
class MidiPorts:
    """Port names a backend offers: `inputs` we can read from, `outputs` we can write to."""

    api: str
    inputs: list[str]
    outputs: list[str]


def list_ports(api: str | None = None, client_name: str = "surfaced-list") -> MidiPorts:
    """The MIDI ports of one backend, for `surfaced devices` and for writing patterns."""
    rtapi = resolve_api(api)
    try:
        midi_in = rtmidi.MidiIn(rtapi, client_name)
        midi_out = rtmidi.MidiOut(rtapi, client_name)
    except (SystemError, rtmidi.RtMidiError) as exc:
        raise MidiTransportError(f"cannot open MIDI backend {api or 'default'}: {exc}") from exc
    try:
        name = rtmidi.get_api_name(midi_in.get_current_api())
        return MidiPorts(name, list(midi_in.get_ports()), list(midi_out.get_ports()))
    finally:
        midi_in.delete()
        midi_out.delete()


@dataclass
class MidiTransportStats:
    """Counters of one transport: the parser's, plus sending and (re)binding."""

    parser: MidiParserStats = field(default_factory=MidiParserStats)
    sent: int = 0
    send_dropped: int = 0  # send() while the output was unbound, or the backend failed
    sink_errors: int = 0
    errors: int = 0  # everything else that went wrong: opening ports, hooks, sends
    binds: int = 0  # times the surface came online
    last_error: str | None = None


class MidiTransport:
    """One surface's MIDI input and/or output, bound by name pattern; see the module docstring."""

    def __init__(
        self,
        sink: EventSink,
        *,
        input: str | None = None,
        output: str | None = None,
        api: str | None = None,
        source: str | None = None,
        client_name: str = "surfaced",
        on_status: Callable[[bool], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        watch_interval: float = 0.5,
        max_sysex: int = DEFAULT_MAX_SYSEX,
        receive_clock: bool = False,
    ) -> None:
        if input is None and output is None:
            raise MidiTransportError("a MIDI transport needs an input or an output pattern")
        if watch_interval <= 0:
            raise MidiTransportError("watch_interval must be positive")
        self.sink = sink
        self.input_pattern = input
        self.output_pattern = output
        self.source = source or f"midi:{input or output}"
        self.client_name = client_name
        self.on_status = on_status
        self.on_reconnect = on_reconnect
        self.watch_interval = watch_interval
        self.stats = MidiTransportStats()
        self.parser = MidiParser(self.source, max_sysex=max_sysex)
        self.stats.parser = self.parser.stats
        self._rtapi = resolve_api(api)
        self._match_in = port_matcher(input) if input is not None else None
        self._match_out = port_matcher(output) if output is not None else None
        own = re.compile(rf"^{re.escape(client_name)}(-\d+)?:")
        self._is_own: Callable[[str], bool] = lambda name: own.match(name) is not None
        self._receive_clock = receive_clock
        self._in: Any = None
        self._out: Any = None
        self._in_port: str | None = None
        self._out_port: str | None = None
        self._online = False
        self._lock = threading.Lock()  # guards the output port against send() from other threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------

    @property
    def online(self) -> bool:
        """True while every configured direction is bound to a port."""
        return self._online

    @property
    def input_port(self) -> str | None:
        """Name of the bound input port, or None."""
        return self._in_port

    @property
    def output_port(self) -> str | None:
        """Name of the bound output port, or None."""
        return self._out_port

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Open the backend clients, bind what matches now, and start watching."""
        if self._thread is not None:
            raise MidiTransportError(f"{self.source}: already started")
        try:
            if self.input_pattern is not None:
                self._in = rtmidi.MidiIn(self._rtapi, self.client_name)
                # SysEx must reach us (surfaces answer handshakes with it);
                # clock and active sensing only when asked, they are floods.
                rc = self._receive_clock
                self._in.ignore_types(sysex=False, timing=not rc, active_sense=not rc)
            if self.output_pattern is not None:
                self._out = rtmidi.MidiOut(self._rtapi, self.client_name)
        except (SystemError, rtmidi.RtMidiError) as exc:
            self._delete_clients()
            raise MidiTransportError(f"{self.source}: cannot open MIDI backend: {exc}") from exc
        try:
            self._watch()
        except (SystemError, rtmidi.RtMidiError) as exc:
            self._delete_clients()
            raise MidiTransportError(f"{self.source}: cannot list MIDI ports: {exc}") from exc
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"midi {self.source}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the worker, close the ports and the backend clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._delete_clients()
        self._in_port = self._out_port = None
        self._online = False

    def _delete_clients(self) -> None:
        for client in (self._in, self._out):
            if client is not None:
                client.close_port()
                client.delete()  # free the backend client now, not whenever GC runs
        self._in = self._out = None

    def _run(self) -> None:
        while not self._stop.wait(self.watch_interval):
            try:
                self._watch()
            except Exception as exc:  # keep watching whatever one pass ran into
                self._note_error(f"port watch failed: {type(exc).__name__}: {exc}")

    # -- input ---------------------------------------------------------------

    def _on_message(self, item: tuple[list[int], float], data: object = None) -> None:
        self._deliver(item[0])

    def _deliver(self, message: list[int]) -> None:
        for event in self.parser.feed(message, time.monotonic()):
            try:
                self.sink(event)
            except Exception as exc:  # a faulty consumer must not kill the input
                self.stats.sink_errors += 1
                self.stats.last_error = f"{self.source}: sink raised {type(exc).__name__}: {exc}"
                if not is_throttled(self.stats.sink_errors):
                    log.warning("%s", self.stats.last_error)

    def _note_error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{self.source}: {message}"
        if not is_throttled(self.stats.errors):
            log.warning("%s", self.stats.last_error)

    # -- binding -------------------------------------------------------------

    def _candidates(self, client: Any, match: Callable[[str], bool]) -> list[tuple[int, str]]:
        ports = list(client.get_ports())
        return [(i, n) for i, n in enumerate(ports) if match(n) and not self._is_own(n)]

    def _port_name(self, label: str) -> str:
        # Our own port's name: JACK reserves ':' as the client separator.
        return re.sub(r"[^\w .-]", "_", f"{label} {self.source}")[:60]

    def _bind(self, client: Any, match: Callable[[str], bool], label: str) -> str | None:
        """Open the first matching port; None if there is none (or it vanished meanwhile)."""
        for index, name in self._candidates(client, match):
            if client is self._in:
                # Set before opening so nothing lands in the queue meanwhile;
                # python-rtmidi drops the callback whenever the port closes.
                client.set_callback(self._on_message)
            try:
                client.open_port(index, self._port_name(label))
            except (SystemError, rtmidi.RtMidiError) as exc:
                self._note_error(f"cannot open {label} port {name!r}: {exc}")
                continue
            # Indexes are only stable between two listings: check we got the
            # port we meant, or let go and try again on the next pass.
            ports = list(client.get_ports())
            if index < len(ports) and ports[index] == name:
                log.info("%s: %s bound to %r", self.source, label, name)
                return name
            client.close_port()
        return None

    def _watch(self) -> None:
        """One pass: let go of vanished ports, bind matching ones, report status changes."""
        if self._in is not None and self._match_in is not None:
            if self._in_port is not None and self._in_port not in self._in.get_ports():
                log.info("%s: input %r went away", self.source, self._in_port)
                self._in.close_port()
                self._in_port = None
                self.parser.reset()
            if self._in_port is None:
                self._in_port = self._bind(self._in, self._match_in, "in")
        if self._out is not None and self._match_out is not None:
            with self._lock:
                if self._out_port is not None and self._out_port not in self._out.get_ports():
                    log.info("%s: output %r went away", self.source, self._out_port)
                    self._out.close_port()
                    self._out_port = None
                if self._out_port is None:
                    self._out_port = self._bind(self._out, self._match_out, "out")
        online = (self._in is None or self._in_port is not None) and (
            self._out is None or self._out_port is not None
        )
        if online == self._online:
            return
        self._online = online
        if online:
            self.stats.binds += 1
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

    # -- output --------------------------------------------------------------

    def send(self, event: Event) -> bool:
        """Write one Event's MIDI bytes; False (and counted) when the output is unbound."""
        return self.send_bytes(event.to_bytes())

    def send_bytes(self, data: bytes) -> bool:
        """Write raw MIDI bytes (one or more whole messages); False when the output is unbound."""
        with self._lock:
            if self._out is None or self._out_port is None:
                self.stats.send_dropped += 1
                return False
            try:
                self._out.send_message(data)
            except (SystemError, ValueError, TypeError, rtmidi.RtMidiError) as exc:
                self.stats.send_dropped += 1
                self._note_error(f"send to {self._out_port!r} failed: {exc}")
                return False
        self.stats.sent += 1
        return True
