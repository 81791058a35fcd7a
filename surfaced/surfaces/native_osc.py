"""The native OSC namespace: every parameter path is an OSC address.

Any OSC app or script can drive and read the mixer without a mapping file:

- ``/ch/3/fader f -6.0``        set in the parameter's unit (dB, Hz, ...)
- ``/ch/3/mute i 1``            switches take 0/1 (or T/F)
- ``/ch/3/fader/norm f 0.5``    set by normalised position 0..1 (through the taper)
- ``/ch/3/name s Kick``         text parameters take a string
- ``/get s /ch/3/fader``        answered to the sender as ``/ch/3/fader f VALUE``
  (``/get s /ch/3/fader/norm`` answers the position)
- ``/subscribe [s PREFIX]``     the sender gets every later change (under PREFIX) as
  ``/PATH f VALUE``; ``/unsubscribe`` stops it
- ``/subscribe/meters [i HZ]``  the sender gets, at HZ (default 10), one bundle of
  ``/meters/ch f...`` (channel peaks, dBFS), ``/meters/master f L f R f LUFS-momentary``
  (sample peaks, dBFS), ``/meters/loudness f M f S f I f LRA`` (LUFS; loudness range
  in LU, EBU Tech 3342) and ``/meters/overs f TP-MAX i CLIPS i TP-OVERS f FIRST f LAST``
  (true-peak maximum in dBTP, master samples over 0 dBFS, 10 ms stretches with the
  true peak over 0 dBTP, and the first and last clipped sample in seconds, -1 when
  none)
- ``/get s /meters/master`` (or ``/meters/loudness``, ``/meters/overs``): one reading,
  answered to the sender as above, without a subscription
- ``/scene/recall s Verse``, ``/undo``, ``/session/save``, ...: the mix document's
  commands (surfaced.mix.commands.KNOWN), answered with the same address and
  the command's reply values (``/scene/list s Intro s Verse``)

A subscription is a lease of LEASE_S (10 s), as with a digital console's
``/xremote``: send ``/subscribe`` again before it runs out. UDP has no
connection to tell us a peer went away, and a forgotten peer would otherwise
be sent feedback and meters for ever; a TCP peer is dropped when its
connection closes.

Feedback to subscribers is coalesced (the latest value of each path, at most
`rate` times a second) and never echoed to the peer that made the change. It
travels in bundles of at most MAX_DATAGRAM bytes, as many as it takes.
Bad messages are counted and answered with ``/error s MESSAGE``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from surfaced.events import Event
from surfaced.mix.commands import KNOWN
from surfaced.mix.engine import MasterMeters, NativeError, to_db
from surfaced.mix.mixer import Change, Mixer
from surfaced.mix.params import ParamError
from surfaced.transports.osc_codec import encode_bundle, encode_message

Reply = Callable[[str, bytes], bool]  # (peer source, packet) -> sent


@dataclass
class NativeOscStats:
    """Counters of the native namespace."""

    received: int = 0
    applied: int = 0
    errors: int = 0
    replies: int = 0
    commands: int = 0
    feedback_sent: int = 0
    last_error: str = ""


LEASE_S = 10.0
# The master's readings, by OSC address (without the leading slash): sent in
# every meters bundle and answered to /get.
METER_READINGS = ("meters/master", "meters/loudness", "meters/overs")
# Feedback bundles fit one Ethernet frame (1500 bytes less IP and UDP
# headers, with room for options): nothing to fragment, nothing lost whole.
MAX_DATAGRAM = 1400
_BUNDLE_HEAD = 16  # "#bundle\0" and the timetag; each element adds a 4-byte size


@dataclass
class _Subscriber:
    prefix: str
    expires: float
    pending: dict[str, Change] = field(default_factory=dict)
    meters_hz: float = 0.0
    next_meters: float = 0.0


class NativeOsc:
    """Handles OSC Events addressed to parameter paths; see the module docstring."""

    SOURCE_PREFIX = ""  # changes carry the OSC peer's source id ("osc:udp:127.0.0.1:53000")

    def __init__(self, mixer: Mixer, reply: Reply, *, rate: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.mixer = mixer
        self.reply = reply
        self.wake = wake  # any thread: the next tick has work (see `due`)
        self.rate = rate
        self.clock = clock
        self.stats = NativeOscStats()
        # Changes arrive on transport threads, subscriptions and flushes on the
        # daemon's loop: one lock over the subscriber table and its pending maps.
        self._lock = threading.Lock()
        self._subs: dict[str, _Subscriber] = {}
        self._next_flush = 0.0
        self._unsubscribe = mixer.subscribe(self._on_change)

    def close(self) -> None:
        """Stop listening to the mixer."""
        self._unsubscribe()

    # ----------------------------------------------------------------- input
    def handle(self, event: Event) -> None:
        """One OSC message from a peer; never raises."""
        if event.kind != "osc":
            return
        self.stats.received += 1
        try:
            self._dispatch(event)
        except (ParamError, ValueError, TypeError, NativeError, OSError) as exc:
            self._error(event, str(exc))
        self.wake()  # a new subscription may want meters or a lease expiry

    def _dispatch(self, event: Event) -> None:
        addr, args, peer = event.address, event.args, event.source
        if addr == "/get":
            self._get(peer, str(_one(args, str, addr)))
        elif addr == "/subscribe":
            prefix = str(_one(args, str, addr)).strip("/") if args else ""
            with self._lock:
                sub = self._lease(peer, prefix)
                sub.prefix = prefix
        elif addr == "/unsubscribe":
            with self._lock:
                self._subs.pop(peer, None)
        elif addr == "/subscribe/meters":
            hz = float(str(_one(args, (int, float), addr))) if args else 10.0
            if not 0.0 <= hz <= 100.0:
                raise ValueError(f"{addr}: rate {hz} Hz out of range 0..100")
            with self._lock:
                self._lease(peer, "\x00").meters_hz = hz  # "\x00": no parameter changes
        elif addr.strip("/") in KNOWN:
            reply = self.mixer.commands.run(addr.strip("/"), tuple(args), peer)
            self._send(peer, encode_message("/" + addr.strip("/"), list(reply)))
            self.stats.commands += 1
        else:
            self._set(event)

    def _lease(self, peer: str, prefix: str) -> _Subscriber:
        sub = self._subs.get(peer)
        if sub is None:
            sub = self._subs[peer] = _Subscriber(prefix, 0.0)
        sub.expires = self.clock() + LEASE_S
        return sub

    def _set(self, event: Event) -> None:
        path = event.address.strip("/")
        norm = path.endswith("/norm")
        if norm:
            path = path[: -len("/norm")]
        spec = self.mixer.spec(path)  # ParamError names the path
        if len(event.args) != 1:
            raise ValueError(f"{event.address}: expected one argument, got {len(event.args)}")
        arg = event.args[0]
        if spec.is_text:
            if not isinstance(arg, str):
                raise ValueError(f"{event.address}: expected a string")
            self.mixer.set(spec.path, arg, event.source)
        elif norm:
            if isinstance(arg, bool) or not isinstance(arg, int | float):
                raise ValueError(f"{event.address}: expected a number 0..1")
            self.mixer.set_position(spec.path, float(arg), event.source)
        else:
            value: object = float(arg) if isinstance(arg, bool) else arg
            self.mixer.set(spec.path, value, event.source)
        self.stats.applied += 1

    def _get(self, peer: str, address: str) -> None:
        path = address.strip("/")
        if path in METER_READINGS:
            self._send(peer, encode_message("/" + path, self._master_readings()[path]))
            self.stats.replies += 1
            return
        norm = path.endswith("/norm")
        spec = self.mixer.spec(path[: -len("/norm")] if norm else path)
        value = self.mixer.get(spec.path)
        if norm:
            out: float | str = self.mixer.position(spec.path)
        else:
            out = value
        self._send(peer, encode_message("/" + path, [_wire(out)]))
        self.stats.replies += 1

    def _error(self, event: Event, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{event.source} {event.address}: {message}"
        self._send(event.source, encode_message("/error", [message]))

    def _send(self, peer: str, packet: bytes) -> bool:
        return self.reply(peer, packet)

    # -------------------------------------------------------------- feedback
    def _on_change(self, change: Change) -> None:
        woke = False
        with self._lock:
            for peer, sub in self._subs.items():
                if peer != change.source and change.path.startswith(sub.prefix):
                    sub.pending[change.path] = change  # latest wins
                    woke = True
        if woke:
            self.wake()

    def due(self, now: float) -> float:
        """When `tick` next has work with no wake before it (inf: no subscriber)."""
        with self._lock:
            due = math.inf
            for sub in self._subs.values():
                due = min(due, sub.expires)
                if sub.pending:
                    due = min(due, max(now, self._next_flush))
                if sub.meters_hz > 0:
                    due = min(due, sub.next_meters)
            return due

    def tick(self, now: float | None = None) -> None:
        """Flush coalesced feedback and due meters, drop lapsed leases (call when `due`)."""
        t = self.clock() if now is None else now
        flush = t >= self._next_flush
        if flush:
            self._next_flush = t + 1.0 / self.rate
        due: list[tuple[str, list[Change], bool]] = []
        with self._lock:
            for peer in [p for p, sub in self._subs.items() if sub.expires <= t]:
                del self._subs[peer]
            for peer, sub in self._subs.items():
                changes = []
                if flush and sub.pending:
                    changes, sub.pending = list(sub.pending.values()), {}
                meters = sub.meters_hz > 0 and t >= sub.next_meters
                if meters:
                    sub.next_meters = t + 1.0 / sub.meters_hz
                if changes or meters:
                    due.append((peer, changes, meters))
        for peer, changes, meters in due:  # sending happens outside the lock
            ok = True
            if changes:
                msgs = [encode_message("/" + c.path, [_wire(c.value)]) for c in changes]
                for packet in datagrams(msgs):
                    ok = self._send(peer, packet) and ok
                self.stats.feedback_sent += len(msgs)
            if meters:
                ok = self._send(peer, self._meters_packet()) and ok
            if not ok and peer.startswith("osc:tcp:"):
                with self._lock:  # its connection is gone: nobody left to lease for
                    self._subs.pop(peer, None)

    def _meters_packet(self) -> bytes:
        snap = self.mixer.engine.meters()
        chans = [_finite_db(to_db(float(x))) for x in snap.ch_peak]
        readings = self._master_readings(snap.master)
        return encode_bundle([encode_message("/meters/ch", chans)]
                             + [encode_message("/" + k, v) for k, v in readings.items()])

    def _master_readings(self, m: MasterMeters | None = None) -> dict[str, list[float | int]]:
        """The master's readings as OSC arguments, by address (METER_READINGS)."""
        if m is None:
            m = self.mixer.engine.meters().master
        rate = self.mixer.engine.rate

        def seconds(frame: int) -> float:
            return frame / rate if frame >= 0 else -1.0

        return {
            "meters/master": [_finite_db(to_db(m.peak[0])), _finite_db(to_db(m.peak[1])),
                              _finite_db(m.momentary_lufs)],
            "meters/loudness": [_finite_db(m.momentary_lufs), _finite_db(m.short_term_lufs),
                                _finite_db(m.integrated_lufs), float(m.loudness_range_lu)],
            "meters/overs": [_finite_db(to_db(max(m.true_peak_max))), _int32(m.clip_count),
                             _int32(m.tp_over_steps), seconds(m.first_clip_frame),
                             seconds(m.last_clip_frame)],
        }


def datagrams(msgs: list[bytes], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """Encoded messages packed, in order, into bundles of at most `limit` bytes each.

    A bundle too big for one datagram is lost whole, and with it every change
    it carried; a message that fits no bundle on its own travels bare.
    """
    out: list[bytes] = []
    batch: list[bytes] = []
    size = _BUNDLE_HEAD
    for msg in msgs:
        if batch and size + 4 + len(msg) > limit:
            out.append(batch[0] if size > limit else encode_bundle(batch))
            batch, size = [], _BUNDLE_HEAD
        batch.append(msg)
        size += 4 + len(msg)
    if batch:
        out.append(batch[0] if size > limit else encode_bundle(batch))
    return out


def _int32(n: int) -> int:
    """A count as an OSC int32 (saturating: a count never wraps negative)."""
    return min(int(n), 2**31 - 1)


def _finite_db(x: float) -> float:
    return max(-200.0, x) if math.isfinite(x) or x < 0 else 0.0


def _wire(value: float | str) -> float | str:
    """Values as OSC arguments: -inf travels as -200 dB (OSC apps choke on inf)."""
    if isinstance(value, str):
        return value
    return -200.0 if math.isinf(value) and value < 0 else float(value)


def _one(args: tuple[object, ...], kind: type | tuple[type, ...], address: str) -> object:
    if len(args) != 1 or not isinstance(args[0], kind) or isinstance(args[0], bool):
        raise ValueError(f"{address}: expected one argument of type "
                         f"{getattr(kind, '__name__', kind)}")
    return args[0]
