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

`send()` never waits for the box: it puts the frame on a queue of
`SEND_QUEUE` frames that a writer thread per open port writes, in order. A
box that stops reading fills it; later frames are then dropped and counted
(`stats.send_dropped`, a throttled warning), and whatever is queued when the
box is unplugged is dropped too. `close()` gives the queue `WRITE_TIMEOUT` to
drain.

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
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import serial
from serial.tools import list_ports

from surfaced.events import Event, OscArg
from surfaced.transports import EventSink, is_throttled, osc_codec, slip
from surfaced.transports.serial_codec import DEFAULT_MAX_FRAME as DEFAULT_MAX_FRAME
from surfaced.transports.serial_codec import HELLO as HELLO
from surfaced.transports.serial_codec import PROTOCOL_VERSION, SerialDecoder, encode_box_message
from surfaced.transports.serial_codec import SerialStats as SerialStats
from surfaced.transports.serial_codec import box_packet_error as box_packet_error

log = logging.getLogger(__name__)

BY_ID_DIR: Final = "/dev/serial/by-id"
READ_TIMEOUT: Final = 0.1  # how often an idle reader checks deadlines and the stop flag
SEND_QUEUE: Final = 256  # frames waiting for a box that reads slowly; more are dropped
WRITE_TIMEOUT: Final = 0.5  # how long close() lets queued frames go out
_WRITE_SLICE: Final = 0.05  # how often a writer waiting for the box checks for its stop
_GONE: Final = (errno.ENOENT, errno.ENODEV, errno.ENXIO)


class SerialTransportError(Exception):
    """A serial transport was configured wrongly; the message says how."""


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
        self._writer: _PortWriter | None = None  # writes for `_ser`; replaced with it
        self._full = 0  # frames refused because the writer's queue was full
        self._real: str | None = None  # what `device` resolved to when it was opened
        self._learned_serial: str | None = None
        self._ever_online = False
        self._open_error: str | None = None
        self._hello_due = math.inf
        self._unanswered = 0  # hellos since the last /identity
        self._errors = 0
        self._next_watch = 0.0
        self._lock = threading.Lock()  # guards _ser, _writer and send_dropped across threads
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
        return serial.Serial(device, self.baudrate, exclusive=True, timeout=READ_TIMEOUT)

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
            self._ser, self._writer = ser, _PortWriter(self, ser)
            self.device, self._real = device, os.path.realpath(device)
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

    def _drop_port(self, flush: bool = False) -> None:
        with self._lock:
            ser, writer, self._ser, self._writer = self._ser, self._writer, None, None
        if writer is not None:  # stopped (it is done with the port) before the port closes
            self._dropped(writer.stop(flush))
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
        self._drop_port(flush=True)  # only close() ends the loop: let the last frames go out

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
        if self._queue(self.hello, counted=False):
            self.stats.hellos += 1
            self._unanswered += 1

    def _queue(self, frame: bytes, counted: bool) -> bool:
        """Hand `frame` to the port's writer; never waits. `counted`: a send(), not a hello."""
        with self._lock:
            writer = self._writer
            if writer is not None and writer.put(frame, counted):
                return True
            if counted:
                self.stats.send_dropped += 1
            if writer is None:
                return False
            self._full += 1
            full = self._full
        if not is_throttled(full):
            log.warning("%s: %s is not reading; %d frames dropped so far (%d queued)",
                        self.source, self.device, full, SEND_QUEUE)
        return False

    def _dropped(self, count: int) -> None:
        if count:
            with self._lock:
                self.stats.send_dropped += count

    def send(self, event: Event) -> bool:
        """Queue one "osc" Event as a SLIP frame; False (counted) when it cannot go out.

        Returns at once: True means queued, in order behind earlier frames
        (`stats.sent` counts it once written). False: offline, the queue full,
        or an Event a box cannot read (see `encode_box_message`).
        """
        try:
            frame = slip.encode(encode_box_message(event, self.decoder.strict))
        except osc_codec.OscEncodeError as exc:
            self._dropped(1)
            self._note_error(f"cannot send {event.kind} {event.address}: {exc}")
            return False
        return self._queue(frame, counted=True)


class _PortWriter:
    """The frames queued for one open port, written in order on a thread of their own."""

    def __init__(self, transport: SerialTransport, ser: Any) -> None:
        self.transport, self.fd = transport, ser.fileno()
        self.frames: deque[tuple[bytes, bool]] = deque()  # (frame, counted: from send())
        self.cond = threading.Condition()
        self.closing = self.abort = False
        name = f"{transport.source} writer"
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, frame: bytes, counted: bool) -> bool:
        with self.cond:
            if self.closing or len(self.frames) >= SEND_QUEUE:
                return False
            self.frames.append((frame, counted))
            self.cond.notify()
        return True

    def stop(self, flush: bool) -> int:
        """End the thread, first writing what is queued (for up to WRITE_TIMEOUT) if `flush`;
        returns how many send() frames were left unwritten."""
        with self.cond:
            self.closing = True
            self.abort = not flush
            self.cond.notify()
        if flush:
            self.thread.join(WRITE_TIMEOUT)
        with self.cond:
            self.abort = True
            left = sum(counted for _, counted in self.frames)
            self.frames.clear()
        self.thread.join(5)  # at most a _WRITE_SLICE
        return left

    def _run(self) -> None:
        stats = self.transport.stats
        while True:
            with self.cond:
                while not self.frames and not self.closing:
                    self.cond.wait()
                if self.abort or not self.frames:
                    return
                frame, counted = self.frames.popleft()
            if self._write(frame):
                stats.sent += counted
            elif counted:
                self.transport._dropped(1)

    def _write(self, frame: bytes) -> bool:
        # os.write on pyserial's non-blocking descriptor, not Serial.write: that
        # spins on EAGAIN while the box does not read and may leave half a frame.
        data = memoryview(frame)
        while data:
            if self.abort:
                return False
            try:
                if select.select([], [self.fd], [], _WRITE_SLICE)[1]:
                    data = data[os.write(self.fd, data):]
                    continue
            except BlockingIOError:
                continue
            except OSError as exc:  # the box is gone: the reader notices and reports it
                self.transport._note_error(f"write to {self.transport.device} failed: {exc}")
                return False
        return True
