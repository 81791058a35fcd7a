"""DIY boxes on a USB serial line: SLIP-framed OSC over pyserial, found again after a replug.

The wire contract is firmware/PROTOCOL.md. A `SerialTransport` is one box,
found by its USB ``serial_number``, a ``by_id`` path or glob
(/dev/serial/by-id/...; first match, sorted) or a plain ``port`` path. For a
plain path the USB serial number behind it is remembered once opened and used
from then on, so a box that returns as ttyACM1 is still found: a ttyACM number
alone is never trusted.

One thread per transport opens the port, reads it and, while the box is away,
looks for it every `watch_interval`. A read error or a vanished (or
re-pointed) device node is an unplug: `on_status(False)`. On opening,
`on_status(True)` and the hello; the box answers /identity and a snapshot. The
hello is repeated on /announce (an Uno resets when the port opens and loses a
hello sent during its bootloader) and whenever no /identity came within
`identity_timeout`. `on_reconnect()` runs after each /identity reached the
sink (at once on opening when `hello` is None): only then is the box
listening, so re-sent state is not lost, and a box that rebooted by itself
gets its LEDs and motor targets back too. Hooks and the sink run on the
transport's thread (`start()` runs the first opening on the caller's).

A port that is there but will not open (permissions, in use) is reported with
what to do in `stats.last_error`, the log and `on_status(False)`, and retried.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import serial
from serial.tools import list_ports

from surfaced.events import Event, OscArg
from surfaced.transports import EventSink, is_throttled, osc_codec, slip

log = logging.getLogger(__name__)

BY_ID_DIR: Final = "/dev/serial/by-id"
DEFAULT_MAX_FRAME: Final = 1024  # a box's longest message (its identity) is a few hundred bytes
HELLO: Final = slip.encode(osc_codec.encode_message("/hello", ["surfaced"]))
PROTOCOL_VERSION: Final = 1
READ_TIMEOUT: Final = 0.1  # how often an idle reader checks deadlines and the stop flag
WRITE_TIMEOUT: Final = 0.5  # a box that stopped reading must not stall the sender for ever
_BOX_TAGS: Final = {int: "i", bool: "i", float: "f", str: "s", bytes: "b"}
_GONE: Final = (errno.ENOENT, errno.ENODEV, errno.ENXIO)


class SerialTransportError(Exception):
    """A serial transport was configured wrongly; the message says how."""


@dataclass
class SerialStats:
    """Counters of one transport, kept across reconnects."""

    bytes_in: int = 0  # read by the transport, counted once its Events were delivered
    frames: int = 0  # SLIP frames decoded, valid OSC or not
    events: int = 0  # Events handed to the sink
    garbage: int = 0  # runs of bytes before a first END (joined mid-frame, line noise)
    bad_escape: int = 0
    overflow: int = 0  # frames longer than max_frame
    osc_errors: int = 0  # frames that are not a valid (strict) OSC message
    sink_errors: int = 0
    sent: int = 0
    send_dropped: int = 0  # send() while offline, an unencodable Event, or a failed write
    hellos: int = 0
    reconnects: int = 0  # times the box came back after it was lost
    last_error: str | None = None


def _string_end(packet: bytes, start: int, missing: str) -> int | str:
    # Strings start 4-aligned in a packet whose size is a multiple of 4, so
    # the padded end never passes the packet's end.
    nul = packet.find(b"\0", start)
    if nul < 0:
        return missing
    end = (nul & ~3) + 4
    return end if packet.count(0, nul, end) == end - nul else "padding"


def _blob_end(packet: bytes, start: int) -> int | str:
    length = int.from_bytes(packet[start : start + 4], "big")
    data, padded = start + 4, (length + 3) & ~3
    if data > len(packet):
        return "truncated"
    if length > 0x7FFFFFFF:
        return "blob"
    if data + padded > len(packet):
        return "truncated"
    pad_ok = packet.count(0, data + length, data + padded) == padded - length
    return data + padded if pad_ok else "padding"


def box_packet_error(packet: bytes) -> str | None:
    """Why `packet` breaks the box protocol's strict OSC rules, or None if it keeps them.

    Kinds as in tests/vectors/slip_osc.json (size address typetags type
    truncated padding trailing blob) plus "bundle": one message per frame,
    arguments i f s b only, NUL padding, no trailing bytes.
    """
    size = len(packet)
    if size == 0 or size % 4:
        return "size"
    if packet[0] != 0x2F:  # '/'
        return "bundle" if packet[0] == 0x23 else "address"
    pos = _string_end(packet, 0, "address")
    if pos == size:
        return None  # no type tags: no arguments (OSC 1.0)
    if isinstance(pos, int):
        if packet[pos] != 0x2C:  # ','
            return "typetags"
        tags = packet[pos + 1 : packet.find(0, pos)]
        pos = _string_end(packet, pos, "typetags")
        if isinstance(pos, int) and len(tags) > 255:  # the firmware keeps argc in a byte
            return "typetags"
        for tag in tags:
            if isinstance(pos, str):
                break
            if tag in b"if":
                pos = pos + 4 if pos + 4 <= size else "truncated"
            elif tag == 0x73:  # s
                pos = _string_end(packet, pos, "truncated")
            elif tag == 0x62:  # b
                pos = _blob_end(packet, pos)
            else:
                pos = "type"
    if isinstance(pos, str):
        return pos
    return None if pos == size else "trailing"


class SerialDecoder:
    """Stream bytes -> Events: SLIP frames, then OSC; every drop is counted in `stats`.

    Pure (no I/O): the transport's reader feeds it, and tests can too. With
    `strict` (the default) packets must keep the box protocol's rules
    (`box_packet_error`); without, anything osc_codec parses is accepted,
    bundles included, for other OSC-over-SLIP devices.
    """

    def __init__(self, source: str, *, max_frame: int = DEFAULT_MAX_FRAME, strict: bool = True):
        self.source, self.max_frame, self.strict = source, max_frame, strict
        self.stats = SerialStats()
        self._slip = slip.SlipDecoder(max_frame, synced=False)
        self._base = (0, 0, 0, 0)  # counts of the SLIP decoders before the last reset()

    def reset(self) -> None:
        """Start a new connection: drop the frame in flight and wait for the next END."""
        s, b = self._slip.stats, self._base
        self._base = (b[0] + s.frames, b[1] + s.garbage, b[2] + s.bad_escape, b[3] + s.oversize)
        self._slip = slip.SlipDecoder(self.max_frame, synced=False)

    def frames(self, data: bytes) -> list[bytes]:
        """The SLIP layer alone: the frames these bytes complete (counts updated)."""
        dec = self._slip
        errors = dec.stats.errors
        frames = dec.feed(data)
        s, b, st = dec.stats, self._base, self.stats
        st.frames = b[0] + s.frames
        if s.errors != errors:
            st.garbage, st.bad_escape = b[1] + s.garbage, b[2] + s.bad_escape
            st.overflow = b[3] + s.oversize
            st.last_error = f"{self.source}: {dec.last_error}"
        return frames

    def parse(self, frame: bytes, now: float = 0.0) -> list[Event]:
        """The OSC layer alone: the Events of one frame, or [] (counted) if it is not valid."""
        kind = box_packet_error(frame) if self.strict else None
        if kind is None:
            try:
                return osc_codec.parse_packet(frame, source=self.source, time=now)
            except osc_codec.OscParseError as exc:  # e.g. a string that is not UTF-8
                kind = str(exc)
        self.stats.osc_errors += 1
        self.stats.last_error = f"{self.source}: dropped a frame that is not valid OSC ({kind})"
        return []

    def feed(self, data: bytes, now: float = 0.0) -> list[Event]:
        """Decode a chunk of the stream; `now` becomes the Events' time."""
        events: list[Event] = []
        for frame in self.frames(data):
            events += self.parse(frame, now)
        return events


def explain_open_error(exc: BaseException, device: str) -> str:
    """A message for a port that would not open, saying what to do about it."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied opening {device}: serial ports belong to the 'dialout' group. "
            "Add your user to it with `sudo usermod -aG dialout $USER`, then log out and back "
            "in (`groups` should list dialout); surfaced retries on its own."
        )
    if code in (errno.EBUSY, errno.EAGAIN):
        return (
            f"{device} is in use by another program (a serial monitor, the Arduino IDE, "
            "ModemManager or another surfaced); close it and the box is picked up again."
        )
    return f"cannot open {device}: {exc}"


@dataclass(frozen=True)
class SerialPortInfo:
    """One serial port as `surfaced devices` shows it."""

    device: str
    description: str
    serial_number: str | None
    by_id: tuple[str, ...]  # /dev/serial/by-id links to this device
    vid: int | None = None
    pid: int | None = None

    @property
    def locator(self) -> str:
        """What to put in a config to find this box again after a replug."""
        if self.serial_number:
            return f"serial_number: {self.serial_number}"
        if self.by_id:
            return f"by_id: {self.by_id[0]}"
        return f"port: {self.device}"


def list_serial_ports(by_id_dir: str = BY_ID_DIR) -> list[SerialPortInfo]:
    """Every serial port pyserial sees, with its USB serial number and by-id links."""
    links: dict[str, list[str]] = {}
    for link in sorted(glob.glob(os.path.join(glob.escape(by_id_dir), "*"))):
        links.setdefault(os.path.realpath(link), []).append(link)
    return [
        SerialPortInfo(
            p.device, p.description, p.serial_number,
            tuple(links.get(os.path.realpath(p.device), ())), p.vid, p.pid,
        )
        for p in sorted(list_ports.comports(), key=lambda p: p.device)
    ]


def _serial_number_at(device: str) -> str | None:
    real = os.path.realpath(device)
    for info in list_ports.comports():
        if os.path.realpath(info.device) == real:
            return str(info.serial_number) if info.serial_number else None
    return None


class SerialTransport:
    """One DIY box on a serial line; see the module docstring."""

    def __init__(
        self,
        sink: EventSink,
        *,
        port: str | None = None,
        serial_number: str | None = None,
        by_id: str | None = None,
        baudrate: int = 115200,
        source: str | None = None,
        on_status: Callable[[bool], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        hello: bytes | None = HELLO,
        identity_timeout: float = 2.0,
        watch_interval: float = 0.5,
        max_frame: int = DEFAULT_MAX_FRAME,
        strict: bool = True,
    ) -> None:
        if sum(x is not None for x in (port, serial_number, by_id)) != 1:
            raise SerialTransportError("give exactly one of port, serial_number or by_id")
        if identity_timeout <= 0 or watch_interval <= 0:
            raise SerialTransportError("identity_timeout and watch_interval must be positive")
        self.sink = sink
        self.port, self.serial_number, self.by_id = port, serial_number, by_id
        self.baudrate = baudrate
        name = serial_number or (os.path.basename(by_id) if by_id else port)
        self.source = source or f"serial:{name}"
        self.on_status, self.on_reconnect = on_status, on_reconnect
        self.hello = hello
        self.identity_timeout, self.watch_interval = identity_timeout, watch_interval
        self.decoder = SerialDecoder(self.source, max_frame=max_frame, strict=strict)
        self.stats = self.decoder.stats
        self.identity: tuple[OscArg, ...] | None = None  # args of the last /identity
        self.device: str | None = None  # the path opened last
        self._ser: Any = None
        self._real: str | None = None  # what `device` resolved to when it was opened
        self._learned_serial: str | None = None
        self._ever_online = False
        self._open_error: str | None = None
        self._hello_due = math.inf
        self._unanswered = 0  # hellos since the last /identity
        self._errors = 0
        self._next_watch = 0.0
        self._lock = threading.Lock()  # guards _ser between send() and the reader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def online(self) -> bool:
        """True while the port is open."""
        return self._ser is not None

    def start(self) -> None:
        """Open the box if it is there now (hooks run on this thread), then start the reader."""
        if self._thread is not None:
            raise SerialTransportError(f"{self.source}: already started")
        self._stop.clear()
        self._try_open()
        self._thread = threading.Thread(target=self._run, name=self.source, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the reader and close the port."""
        self._stop.set()
        with self._lock:
            if self._ser is not None:
                self._ser.cancel_read()  # wake the reader now, not at its next timeout
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._drop_port()

    def __enter__(self) -> SerialTransport:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding and opening -------------------------------------------------

    def find(self) -> str | None:
        """The device path the box is at now, or None."""
        serial_number = self.serial_number or self._learned_serial
        if serial_number is not None:
            for info in list_ports.comports():
                if info.serial_number == serial_number:
                    return str(info.device)
            return None
        if self.by_id is not None:
            found = sorted(p for p in glob.glob(self.by_id) if os.path.exists(p))
            return found[0] if found else None
        return self.port if self.port and os.path.exists(self.port) else None

    def _open(self, device: str) -> Any:
        # exclusive: a second surfaced (or anything else using flock) fails
        # loudly instead of stealing half of the box's bytes.
        timeouts = {"timeout": READ_TIMEOUT, "write_timeout": WRITE_TIMEOUT}
        return serial.Serial(device, self.baudrate, exclusive=True, **timeouts)

    def _try_open(self) -> bool:
        device = self.find()
        if device is None:
            return False
        try:
            ser = self._open(device)
        except (OSError, ValueError) as exc:  # SerialException is an OSError
            if getattr(exc, "errno", None) in _GONE:
                return False  # unplugged between find() and open: simply not there yet
            message = f"{self.source}: {explain_open_error(exc, device)}"
            self.stats.last_error = message
            if message != self._open_error:  # say it once per distinct problem
                self._open_error = message
                log.warning("%s", message)
                self._call_hook(self.on_status, False)
            return False
        if self.port is not None and self._learned_serial is None:
            self._learned_serial = _serial_number_at(device)
        self.decoder.reset()
        with self._lock:
            self._ser, self.device, self._real = ser, device, os.path.realpath(device)
        self._open_error, self.identity = None, None
        self.stats.reconnects += self._ever_online
        self._ever_online = True
        self._next_watch = time.monotonic() + self.watch_interval
        log.info("%s: opened %s", self.source, device)
        self._call_hook(self.on_status, True)
        if self.hello is None:
            self._call_hook(self.on_reconnect)
        else:
            self._send_hello()
        return True

    def _drop_port(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(OSError, ValueError):  # the device may be gone already
                ser.close()
        self._hello_due = math.inf

    def _lost(self, why: object) -> None:
        self.stats.last_error = f"{self.source}: lost {self.device}: {why}"
        log.warning("%s", self.stats.last_error)
        self._drop_port()
        self.identity = None
        self._call_hook(self.on_status, False)

    # -- reading -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                if not self._stop.wait(self.watch_interval):
                    self._try_open()
                continue
            try:
                data = ser.read(ser.in_waiting or 1)
                now = time.monotonic()
                if data:
                    for event in self.decoder.feed(data, now):
                        self._deliver(event)
                    self.stats.bytes_in += len(data)  # after delivery: tests wait on it
                self._check(now)
            except OSError as exc:  # SerialException included: the box is gone
                if not self._stop.is_set():
                    self._lost(exc)
            except Exception as exc:  # a bug here must not kill the reader
                self._note_error(f"reader: {type(exc).__name__}: {exc}")
        self._drop_port()

    def _check(self, now: float) -> None:
        if now >= self._hello_due:
            self._send_hello()
            if not is_throttled(self._unanswered - 1):
                log.warning(
                    "%s: no /identity after %d hellos; is a surfaced box on %s?",
                    self.source, self._unanswered - 1, self.device,
                )
        if now >= self._next_watch and self.device is not None:
            self._next_watch = now + self.watch_interval
            # A USB unplug usually fails the read first; a by-id link re-pointed
            # at another device does not, so look at the node too.
            if not os.path.exists(self.device) or os.path.realpath(self.device) != self._real:
                raise serial.SerialException(f"{self.device} vanished or now points elsewhere")

    def _deliver(self, event: Event) -> None:
        address = event.address
        if address == "/identity":
            self.identity, self._hello_due, self._unanswered = event.args, math.inf, 0
            if event.args[2:3] != (PROTOCOL_VERSION,):
                log.warning("%s: box speaks protocol %r, expected %d", self.source,
                            event.args[2:3], PROTOCOL_VERSION)
        elif address == "/announce" and self.hello is not None:
            self.identity = None
            self._send_hello()  # the box has just booted and missed any earlier hello
        self.stats.events += 1
        try:
            self.sink(event)
        except Exception as exc:  # a faulty consumer must not kill the reader
            self.stats.sink_errors += 1
            self.stats.last_error = f"{self.source}: sink raised {type(exc).__name__}: {exc}"
            if not is_throttled(self.stats.sink_errors):
                log.warning("%s", self.stats.last_error)
        if address == "/identity":
            self._call_hook(self.on_reconnect)

    def _note_error(self, message: str) -> None:
        self.stats.last_error = f"{self.source}: {message}"
        self._errors += 1
        if not is_throttled(self._errors):  # a mapping sending junk on every change
            log.warning("%s", self.stats.last_error)

    def _call_hook(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception as exc:  # the upper layer's bug must not stop the reader
            self._note_error(f"hook {getattr(hook, '__name__', hook)} raised: {exc!r}")

    # -- writing -------------------------------------------------------------

    def _send_hello(self) -> None:
        assert self.hello is not None
        self._hello_due = time.monotonic() + self.identity_timeout
        if self._write(self.hello):
            self.stats.hellos += 1
            self._unanswered += 1

    def _write(self, frame: bytes) -> bool:
        with self._lock:
            ser = self._ser
            if ser is None:
                return False
            try:
                ser.write(frame)
                return True
            except OSError as exc:  # SerialException and its write timeout included
                self._note_error(f"write to {self.device} failed: {exc}")
                return False

    def send(self, event: Event) -> bool:
        """Write one "osc" Event as a SLIP frame; False (counted) when it could not go out.

        Strict (box protocol): ints and bools go as i, floats f, str s, bytes
        b; other arguments are refused and a timetag is ignored (no bundles).
        """
        try:
            frame = slip.encode(self._encode(event))
        except osc_codec.OscEncodeError as exc:
            self.stats.send_dropped += 1
            self._note_error(f"cannot send {event.kind} {event.address}: {exc}")
            return False
        if self._write(frame):
            self.stats.sent += 1
            return True
        self.stats.send_dropped += 1
        return False

    def _encode(self, event: Event) -> bytes:
        if not self.decoder.strict:
            return osc_codec.encode_event(event)
        tags = "".join(_BOX_TAGS.get(type(a), "?") for a in event.args)
        if event.kind != "osc" or "?" in tags:
            raise osc_codec.OscEncodeError("a box takes OSC int, float, str and bytes arguments")
        # Tags forced: python-osc would send -2**31 as an int64 and a bool as
        # T/F, neither of which a box can read.
        return osc_codec.encode_message(event.address, event.args, tags)
