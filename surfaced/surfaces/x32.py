"""An X32-compatible OSC namespace, so console remote apps can drive surfaced.

Live sound techs carry apps made for the Behringer X32 / Midas M32 (X32-Mix,
Mixing Station, TouchOSC X32 layouts, Open Stage Control X32 sessions). They
speak the console's OSC dialect on UDP port 10023; this module answers in it,
over the mixer's own API. The protocol follows Patrick-Gilles Maillot's
"Unofficial X32/M32 OSC Remote Protocol" (the document Behringer's wiki
hosts); the level law is in `surfaced.surfaces.x32_law`.

What is understood (NN: two digits, as the console prints them):

===============================  =====  ====================================
address                          type   surfaced parameter
===============================  =====  ====================================
/ch/NN/mix/fader  (NN 01..32)    f 0..1 ch/N/fader through the X32 level law
/ch/NN/mix/on                    i 0/1  ch/N/mute inverted (1 = on = unmuted)
/ch/NN/mix/pan                   f 0..1 ch/N/pan (0 left, 0.5 centre, 1 right)
/ch/NN/mix/MM/level (MM 01..16)  f 0..1 ch/N/send/M through the level law
/ch/NN/config/name               s      ch/N/name
/bus/NN/mix/fader (NN 01..16)    f 0..1 bus/N/fader
/bus/NN/mix/on                   i 0/1  bus/N/mute inverted
/main/st/mix/fader               f 0..1 master/fader
/main/st/mix/on                  i 0/1  none: surfaced's master has no mute;
                                        it reads 1 (on), a 1 is accepted and
                                        a 0 is refused (counted as an error)
===============================  =====  ====================================

- A message with an argument sets; the same address with no argument is a
  query, answered to the sender's address and port with the current value
  (``/ch/01/mix/fader ,f 0.75``).
- ``/xremote`` subscribes the sender for 10 s (the console's lease; apps
  renew it every few seconds): changes made by anyone else (another app, a
  MIDI surface, a scene recall, the CLI) are pushed to it as the same
  addresses, coalesced to at most `rate` per second per address, and never
  echoed back to the peer that made them. At most MAX_CLIENTS peers hold a
  lease at once. ``/unsubscribe`` ends the sender's lease.
- ``/info`` is answered ``/info ,ssss V2.05 osc-server X32 4.06``,
  ``/xinfo`` ``/xinfo ,ssss IP NAME X32 4.06`` and ``/status``
  ``/status ,sss active IP NAME``, as the console does (server version,
  server name, console model, firmware version; the firmware named is the
  one the protocol document describes). IP is this machine's address on the
  route to the asking peer; NAME is surfaced's name (configurable).

Numbers inside the console's ranges that this mix does not have (channel 12
of an 8-channel session, send 3 with 2 buses) are ignored and counted as
errors. Everything else the console would not understand either (an unknown
address, /ch/33, /ch/1 without its leading zero) is ignored, as the console
ignores it, and counted in `stats.unknown`. Bad values (a string for a
fader, NaN, a level outside 0..1, an ``on`` that is not 0 or 1) are ignored
and counted in `stats.errors`. Nothing is answered for either: X32 apps do
not expect errors back. Each is logged (throttled).
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from surfaced.events import Event
from surfaced.mix.engine import NativeError
from surfaced.mix.mixer import Change, Mixer
from surfaced.mix.params import ParamError
from surfaced.surfaces import x32_law
from surfaced.transports import is_throttled
from surfaced.transports.osc import parse_source
from surfaced.transports.osc_codec import OscEncodeError, encode_message

log = logging.getLogger(__name__)

Reply = Callable[[str, bytes], bool]  # (peer source, packet) -> sent

LEASE_S = 10.0
MAX_CLIENTS = 16  # /xremote leases held at once (the X32 itself keeps a handful)
CHANNELS = 32  # the console's ranges: addresses outside them are unknown to it
BUSES = 16
SERVER_VERSION = "V2.05"
SERVER_NAME = "osc-server"
CONSOLE_MODEL = "X32"
CONSOLE_VERSION = "4.06"

# The value kinds of the namespace.
LEVEL, ON, PAN, NAME = "level", "on", "pan", "name"

_ADDRESS = re.compile(
    r"^/(?:ch/(?P<ch>\d\d)/(?:mix/(?:(?P<cleaf>fader|on|pan)|(?P<send>\d\d)/level)"
    r"|config/(?P<name>name))"
    r"|bus/(?P<bus>\d\d)/mix/(?P<bleaf>fader|on)"
    r"|main/st/mix/(?P<mleaf>fader|on))$"
)


@dataclass(frozen=True)
class Route:
    """Where an X32 address lands: a surfaced path (None: the master's missing mute)."""

    address: str
    path: str | None
    kind: str


class OutOfRange(ValueError):
    """An address the console knows, for a channel, bus or send this mix lacks."""


def route(address: str, channels: int, buses: int) -> Route | None:
    """The Route of an X32 address; None if the console would not know it.

    Raises OutOfRange for a console address this mix has no parameter for.
    """
    m = _ADDRESS.match(address)
    if m is None:
        return None
    if m["mleaf"] is not None:
        if m["mleaf"] == "fader":
            return Route(address, "master/fader", LEVEL)
        return Route(address, None, ON)
    if m["bus"] is not None:
        b = int(m["bus"])
        if not 1 <= b <= BUSES:
            return None
        if b > buses:
            raise OutOfRange(f"{address}: bus {b} does not exist; this mix has buses 1..{buses}")
        return Route(address, f"bus/{b}/{'fader' if m['bleaf'] == 'fader' else 'mute'}",
                     LEVEL if m["bleaf"] == "fader" else ON)
    c = int(m["ch"])
    send = int(m["send"]) if m["send"] is not None else None
    if not 1 <= c <= CHANNELS or (send is not None and not 1 <= send <= BUSES):
        return None
    if c > channels:
        raise OutOfRange(f"{address}: channel {c} does not exist; this mix has channels "
                         f"1..{channels}")
    if send is not None:
        if send > buses:
            raise OutOfRange(f"{address}: send {send} does not exist; this mix has buses "
                             f"1..{buses}")
        return Route(address, f"ch/{c}/send/{send}", LEVEL)
    if m["name"] is not None:
        return Route(address, f"ch/{c}/name", NAME)
    leaf = m["cleaf"]
    if leaf == "fader":
        return Route(address, f"ch/{c}/fader", LEVEL)
    if leaf == "pan":
        return Route(address, f"ch/{c}/pan", PAN)
    return Route(address, f"ch/{c}/mute", ON)


_PATH = re.compile(
    r"^(?:ch/(?P<ch>\d+)/(?:(?P<leaf>fader|mute|pan|name)|send/(?P<send>\d+))"
    r"|bus/(?P<bus>\d+)/(?P<bleaf>fader|mute)|(?P<master>master/fader))$"
)


def address_of(path: str) -> Route | None:
    """The X32 address showing a surfaced parameter path; None if the console has none."""
    m = _PATH.match(path)
    if m is None:
        return None
    if m["master"] is not None:
        return Route("/main/st/mix/fader", path, LEVEL)
    if m["bus"] is not None:
        b = int(m["bus"])
        if not 1 <= b <= BUSES:
            return None
        leaf = "fader" if m["bleaf"] == "fader" else "on"
        return Route(f"/bus/{b:02d}/mix/{leaf}", path, LEVEL if leaf == "fader" else ON)
    c = int(m["ch"])
    if not 1 <= c <= CHANNELS:
        return None
    if m["send"] is not None:
        s = int(m["send"])
        return Route(f"/ch/{c:02d}/mix/{s:02d}/level", path, LEVEL) if 1 <= s <= BUSES else None
    leaf = m["leaf"]
    if leaf == "name":
        return Route(f"/ch/{c:02d}/config/name", path, NAME)
    if leaf == "mute":
        return Route(f"/ch/{c:02d}/mix/on", path, ON)
    return Route(f"/ch/{c:02d}/mix/{leaf}", path, LEVEL if leaf == "fader" else PAN)


def to_wire(kind: str, value: float | str) -> float | int | str:
    """A surfaced value as the console would send it for this kind of address."""
    if kind == NAME:
        return value if isinstance(value, str) else ""
    v = 0.0 if isinstance(value, str) else float(value)
    if kind == LEVEL:
        return x32_law.db_to_level(v)
    if kind == PAN:
        return x32_law.pan_to_x32(v)
    return 0 if v >= 0.5 else 1  # ON: a muted channel is "off"


def from_wire(route: Route, arg: object) -> float | str:
    """The argument of a set as a surfaced value; ValueError (saying why) if it is bad."""
    where = route.address
    if route.kind == NAME:
        if not isinstance(arg, str):
            raise ValueError(f"{where}: expected a string, got {type(arg).__name__}")
        return arg
    if isinstance(arg, bool):
        arg = int(arg)
    if not isinstance(arg, int | float):
        raise ValueError(f"{where}: expected a number, got {type(arg).__name__}")
    if route.kind == ON:
        if arg not in (0, 1):
            raise ValueError(f"{where}: expected 0 (off) or 1 (on), got {arg!r}")
        return 0.0 if arg == 1 else 1.0  # on = unmuted
    f = float(arg)
    if route.kind == PAN:
        return x32_law.pan_to_surfaced(f)
    return x32_law.level_to_db(f)


@dataclass
class X32Stats:
    """Counters of the X32 namespace."""

    received: int = 0
    applied: int = 0
    queries: int = 0
    replies: int = 0
    unknown: int = 0  # addresses the console would not know either
    errors: int = 0  # bad values, out-of-range channels/buses, refused sets
    refused_leases: int = 0
    feedback_sent: int = 0
    last_error: str = ""


@dataclass
class _Lease:
    expires: float
    pending: dict[str, Change] = field(default_factory=dict)


class X32Osc:
    """Handles OSC Events in the X32 dialect; see the module docstring.

    `handle` runs on the listener's loop or any thread; `tick` on the daemon's
    loop. `reply(peer, packet)` sends to a peer source ("osc:udp:HOST:PORT").
    """

    def __init__(self, mixer: Mixer, reply: Reply, *, name: str = "surfaced",
                 rate: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.mixer = mixer
        self.reply = reply
        self.wake = wake  # any thread: the next tick has work (see `due`)
        self.name = name
        self.rate = rate
        self.clock = clock
        self.stats = X32Stats()
        # Changes arrive on any thread, leases and flushes on the loop.
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._next_flush = 0.0
        self._unsubscribe = mixer.subscribe(self._on_change)

    def close(self) -> None:
        """Stop listening to the mixer and forget every lease."""
        self._unsubscribe()
        with self._lock:
            self._leases.clear()

    def subscribers(self) -> list[str]:
        """The peers holding an /xremote lease now."""
        with self._lock:
            return list(self._leases)

    # ----------------------------------------------------------------- input
    def handle(self, event: Event) -> None:
        """One OSC message from a peer; never raises."""
        if event.kind != "osc":
            return
        self.stats.received += 1
        try:
            self._dispatch(event)
        except OutOfRange as exc:
            self._error(event, str(exc))
        except (ParamError, ValueError, TypeError, NativeError, OSError, OscEncodeError) as exc:
            self._error(event, str(exc))
        except Exception as exc:  # a bug here must not take the listener's packet down
            self._error(event, f"{type(exc).__name__}: {exc}")
            log.exception("X32 namespace failed on %s", event.address)
        self.wake()  # a new lease: its expiry is the next tick's business

    def _dispatch(self, event: Event) -> None:
        addr, args, peer = event.address, event.args, event.source
        if addr == "/xremote":
            self._lease(peer)
            return
        if addr == "/unsubscribe":
            with self._lock:
                self._leases.pop(peer, None)
            return
        if addr in ("/info", "/xinfo", "/status"):
            self._send(peer, self._identity(addr, peer))
            return
        r = route(addr, self.mixer.channels, self.mixer.buses)
        if r is None:
            self.stats.unknown += 1
            self.stats.last_error = f"{peer} {addr}: unknown address (ignored)"
            if not is_throttled(self.stats.unknown):
                log.info("X32: ignoring unknown address %s from %s (%d so far)",
                         addr[:80], peer, self.stats.unknown)
            return
        if not args:
            self._send(peer, encode_message(addr, [self._value(r)]))
            self.stats.queries += 1
            return
        if len(args) != 1:
            raise ValueError(f"{addr}: expected one argument, got {len(args)}")
        value = from_wire(r, args[0])
        if r.path is None:  # /main/st/mix/on: the master is always on here
            if value != 0.0:
                raise ValueError(f"{addr}: surfaced's master has no mute; only 1 (on) is "
                                 "accepted")
            self.stats.applied += 1
            return
        self.mixer.set(r.path, value, peer)
        self.stats.applied += 1

    def _value(self, r: Route) -> float | int | str:
        if r.path is None:
            return 1
        return to_wire(r.kind, self.mixer.get(r.path))

    def _identity(self, addr: str, peer: str) -> bytes:
        ip = _local_ip_towards(peer)
        if addr == "/info":
            return encode_message(addr, [SERVER_VERSION, SERVER_NAME, CONSOLE_MODEL,
                                         CONSOLE_VERSION])
        if addr == "/xinfo":
            return encode_message(addr, [ip, self.name, CONSOLE_MODEL, CONSOLE_VERSION])
        return encode_message(addr, ["active", ip, self.name])

    def _lease(self, peer: str) -> None:
        with self._lock:
            lease = self._leases.get(peer)
            if lease is None:
                self._expire(self.clock())
                if len(self._leases) >= MAX_CLIENTS:
                    self.stats.refused_leases += 1
                    raise ValueError(f"/xremote: {MAX_CLIENTS} peers already subscribed")
                lease = self._leases[peer] = _Lease(0.0)
            lease.expires = self.clock() + LEASE_S

    def _error(self, event: Event, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{event.source} {event.address}: {message}"
        if not is_throttled(self.stats.errors):
            log.warning("X32: %s (%d errors so far)", self.stats.last_error, self.stats.errors)

    def _send(self, peer: str, packet: bytes) -> bool:
        sent = self.reply(peer, packet)
        if sent:
            self.stats.replies += 1
        return sent

    # -------------------------------------------------------------- feedback
    def _on_change(self, change: Change) -> None:
        with self._lock:
            if not self._leases:
                return
            if address_of(change.path) is None:
                return  # nothing on the console shows it
            for peer, lease in self._leases.items():
                if peer != change.source:  # no echo to the peer that made it
                    lease.pending[change.path] = change  # latest wins
        self.wake()

    def due(self, now: float) -> float:
        """When `tick` next has work with no wake before it (inf: no lease)."""
        with self._lock:
            due = math.inf
            for lease in self._leases.values():
                due = min(due, lease.expires)
                if lease.pending:
                    due = min(due, max(now, self._next_flush))
            return due

    def _expire(self, now: float) -> None:
        for peer in [p for p, lease in self._leases.items() if lease.expires <= now]:
            del self._leases[peer]

    def tick(self, now: float | None = None) -> None:
        """Drop lapsed leases and flush coalesced feedback (call when `due`)."""
        t = self.clock() if now is None else now
        due: list[tuple[str, list[Change]]] = []
        with self._lock:
            self._expire(t)
            if t < self._next_flush:
                return
            self._next_flush = t + 1.0 / self.rate
            for peer, lease in self._leases.items():
                if lease.pending:
                    due.append((peer, list(lease.pending.values())))
                    lease.pending = {}
        for peer, changes in due:  # sending happens outside the lock
            for change in changes:
                r = address_of(change.path)
                if r is None:
                    continue
                # One message per datagram, as the console sends them: not
                # every X32 app unpacks bundles.
                if self._send(peer, encode_message(r.address, [to_wire(r.kind, change.value)])):
                    self.stats.feedback_sent += 1


def _local_ip_towards(peer: str) -> str:
    """This machine's address on the route to `peer` (what the console reports as its IP).

    Connecting a UDP socket only picks a route; nothing is sent.
    """
    try:
        _proto, host, port = parse_source(peer)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return str(s.getsockname()[0])
    except (OSError, ValueError):
        return "0.0.0.0"

