"""Raw MIDI bytes <-> Events, written directly for the hot path (no mido).

`MidiParser` is a byte-stream tokenizer following the MIDI 1.0 rules:

- running status: data bytes after a channel message reuse its status byte;
  system common messages and SysEx cancel it;
- SysEx is accumulated up to `max_sysex` bytes and delivered whole (F0 .. F7);
  any status byte but real-time ends it (the partial SysEx is dropped and
  counted), and so does `expire` when no byte of it came for `timeout`
  seconds (a device that sent F0 and hung must not swallow what follows);
- real-time bytes (F8..FF) are delivered the moment they arrive, even in the
  middle of a SysEx or between the data bytes of a channel message, and
  change no state;
- an undefined status byte (F4, F5) resets the parser; the undefined
  real-time bytes (F9, FD) are dropped without touching the state;
- a data byte with no status to belong to is dropped.

Every malformed input ends in a `MidiParseError` that is counted in
`MidiParser.stats`, remembered in `last_error` and handed to `on_error`; none
escapes from `feed`. Offsets in errors count bytes since the parser was
created or last reset, so a log line points at the byte that was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from surfaced.events import KINDS, Event, decoded_event

DEFAULT_MAX_SYSEX: Final = 65536
SYSEX_TIMEOUT_S: Final = 1.0  # a partial SysEx with no byte for this long is dropped

# Data bytes that follow each status byte (channel kinds by high nibble).
_CHANNEL_LENGTH: Final = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_COMMON_LENGTH: Final = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_KIND_BY_STATUS: Final = {
    spec.status: kind for kind, spec in KINDS.items() if spec.status is not None
}
_UNDEFINED_REALTIME: Final = frozenset((0xF9, 0xFD))
# Splits a stream into runs of data bytes and the status bytes between them.
_STATUS_BYTE: Final = re.compile(rb"([\x80-\xff])")


class MidiError(StrEnum):
    """Why a byte or message was dropped; each value names a `MidiParserStats` counter."""

    STRAY_DATA = "stray_data"  # data byte with no status byte to belong to
    TRUNCATED = "truncated"  # message cut short by a new status byte
    UNDEFINED_STATUS = "undefined_status"  # F4, F5, F9, FD
    STRAY_EOX = "stray_eox"  # F7 outside a SysEx
    SYSEX_INTERRUPTED = "sysex_interrupted"  # status byte inside a SysEx before its F7
    SYSEX_OVERFLOW = "sysex_overflow"  # SysEx longer than max_sysex
    SYSEX_TIMEOUT = "sysex_timeout"  # SysEx with no byte for SYSEX_TIMEOUT_S before its F7


class MidiParseError(Exception):
    """A malformed MIDI input: what was wrong (`reason`) and where (`offset`, `byte`)."""

    def __init__(self, reason: MidiError, offset: int, byte: int | None, detail: str) -> None:
        at = f" 0x{byte:02X}" if byte is not None else ""
        super().__init__(f"MIDI {reason.value}: byte{at} at stream offset {offset}: {detail}")
        self.reason = reason
        self.offset = offset
        self.byte = byte


@dataclass
class MidiParserStats:
    """Counters of one parser: bytes fed, events produced, and drops by reason."""

    bytes: int = 0
    events: int = 0
    stray_data: int = 0
    truncated: int = 0
    undefined_status: int = 0
    stray_eox: int = 0
    sysex_interrupted: int = 0
    sysex_overflow: int = 0
    sysex_timeout: int = 0

    @property
    def errors(self) -> int:
        """All counted parse errors together."""
        return sum(getattr(self, reason.value) for reason in MidiError)


def data_length(status: int) -> int | None:
    """How many data bytes follow `status`; None for SysEx, F7, undefined and non-status bytes."""
    if 0x80 <= status < 0xF0:
        return _CHANNEL_LENGTH[status & 0xF0]
    if status in _COMMON_LENGTH:
        return _COMMON_LENGTH[status]
    if status >= 0xF8 and status not in _UNDEFINED_REALTIME:
        return 0
    return None


def join14(lsb: int, msb: int) -> int:
    """A 14-bit value (pitch bend, song position, 14-bit CC) from its two 7-bit halves."""
    return (msb << 7) | lsb


def split14(value: int) -> tuple[int, int]:
    """The (lsb, msb) 7-bit halves of a 14-bit value."""
    return value & 0x7F, value >> 7


def encode(event: Event) -> bytes:
    """The MIDI bytes of `event` (same as `event.to_bytes()`; ValueError for OSC events)."""
    return event.to_bytes()


def _make_event(status: int, d1: int, d2: int, source: str, time: float) -> Event:
    """An Event from a complete non-SysEx message; the bytes are known to be in range."""
    if status < 0xF0:
        kind = _KIND_BY_STATUS[status & 0xF0]
        channel = status & 0x0F
        if _CHANNEL_LENGTH[status & 0xF0] == 1:
            return decoded_event(kind, source, channel, None, d1, time=time)
        if kind == "pitchbend":
            return decoded_event(kind, source, channel, None, join14(d1, d2), time=time)
        return decoded_event(kind, source, channel, d1, d2, time=time)
    kind = _KIND_BY_STATUS[status]
    length = _COMMON_LENGTH.get(status, 0)
    if length == 0:
        return decoded_event(kind, source, time=time)
    value = join14(d1, d2) if length == 2 else d1
    return decoded_event(kind, source, value=value, time=time)


class MidiParser:
    """Incremental MIDI byte-stream decoder: feed it chunks, get Events back.

    One parser per input port (running status and SysEx span chunks). Not
    thread-safe: feed it from one thread.
    """

    def __init__(
        self,
        source: str = "",
        *,
        max_sysex: int = DEFAULT_MAX_SYSEX,
        on_error: Callable[[MidiParseError], None] | None = None,
    ) -> None:
        if max_sysex < 2:
            raise ValueError(f"max_sysex must be at least 2 (F0 F7), got {max_sysex}")
        self.source = source
        self.max_sysex = max_sysex
        self.on_error = on_error
        self.stats = MidiParserStats()
        self.last_error: MidiParseError | None = None
        self.reset()

    def reset(self) -> None:
        """Forget running status and any partial message (e.g. after a port is re-bound)."""
        self._status = 0  # running status, or the system common message in progress
        self._need = 0  # data bytes the message in progress needs
        self._data: list[int] = []
        self._sysex: bytearray | None = None  # None: not inside a SysEx
        self._sysex_dropping = False  # SysEx too long: drop the rest of it
        self._sysex_time = 0.0  # when the SysEx in progress last got a byte
        self._offset = 0

    @property
    def pending(self) -> bool:
        """True while a message or SysEx is incomplete."""
        return bool(self._data) or self._sysex is not None

    def _error(self, reason: MidiError, offset: int, byte: int | None, detail: str) -> None:
        err = MidiParseError(reason, offset, byte, detail)
        setattr(self.stats, reason.value, getattr(self.stats, reason.value) + 1)
        self.last_error = err
        if self.on_error is not None:
            self.on_error(err)

    def feed(self, data: bytes | bytearray | Sequence[int], time: float = 0.0) -> list[Event]:
        """Decode a chunk of the stream; returns the Events it completes, in order.

        `time` (monotonic arrival time) is stamped on every Event. Malformed
        bytes are counted and dropped; nothing is raised for them.
        """
        if not isinstance(data, bytes | bytearray):
            data = bytes(data)  # rtmidi hands over lists of ints
        n = len(data)
        stats = self.stats
        stats.bytes += n
        # Fast path: one whole channel message while idle, which is what
        # rtmidi delivers nearly every time.
        if 2 <= n <= 3 and self._sysex is None and not self._data:
            status = data[0]
            if 0x80 <= status < 0xF0 and data[1] < 0x80:
                length = _CHANNEL_LENGTH[status & 0xF0]
                if n == length + 1 and (n == 2 or data[2] < 0x80):
                    self._status, self._need = status, length
                    self._offset += n
                    stats.events += 1
                    d2 = data[2] if n == 3 else 0
                    return [_make_event(status, data[1], d2, self.source, time)]
        return self._feed_bytes(data, time)

    def _feed_bytes(self, data: bytes | bytearray, time: float) -> list[Event]:
        # The stream is taken as runs of data bytes between status bytes:
        # splitting on status bytes is one C call, and a run (a SysEx body, a
        # burst of running-status messages) is then handled by slices, not a
        # Python step per byte. `parts` alternates: run, status byte, run, ...
        events: list[Event] = []
        offset = self._offset
        self._offset += len(data)
        parts = _STATUS_BYTE.split(data)
        run = parts[0]
        if run:
            self._data_run(run, offset, events, time)
            offset += len(run)
        for k in range(1, len(parts), 2):
            byte = parts[k][0]
            if byte >= 0xF8:  # real-time: delivered at once, no state touched
                if byte in _UNDEFINED_REALTIME:
                    self._error(MidiError.UNDEFINED_STATUS, offset, byte, "undefined real-time")
                else:
                    events.append(decoded_event(_KIND_BY_STATUS[byte], self.source, time=time))
            else:
                self._status_byte(byte, offset, events, time)
            offset += 1
            run = parts[k + 1]
            if run:
                self._data_run(run, offset, events, time)
                offset += len(run)
        self.stats.events += len(events)
        if self._sysex is not None:
            self._sysex_time = time
        return events

    def sysex_due(self, timeout: float = SYSEX_TIMEOUT_S) -> float | None:
        """When a partial SysEx in progress expires (on the clock of `feed`), or None."""
        return None if self._sysex is None else self._sysex_time + timeout

    def expire(self, now: float, timeout: float = SYSEX_TIMEOUT_S) -> bool:
        """Drop a partial SysEx that got no byte for `timeout` seconds (counted); True if so.

        `now` is on the clock of the `time` given to `feed`. Call it every
        so often: a SysEx start with no end must not make a surface deaf.
        """
        if self._sysex is None or now - self._sysex_time < timeout:
            return False
        if not self._sysex_dropping:
            self._error(MidiError.SYSEX_TIMEOUT, self._offset, None,
                        f"SysEx of {len(self._sysex)} bytes got no F7 within {timeout:g} s; "
                        "dropped")
        self._sysex = None
        self._sysex_dropping = False
        return True

    def _data_run(
        self, run: bytes | bytearray, offset: int, events: list[Event], time: float
    ) -> None:
        """A run of data bytes (< 0x80) starting at stream `offset`, with no status byte in it."""
        sysex = self._sysex
        if sysex is not None:
            if self._sysex_dropping:
                return
            room = self.max_sysex - 1 - len(sysex)  # bytes that fit, leaving room for the F7
            if len(run) <= room:
                sysex += run
                return
            sysex += run[:room]
            self._sysex_dropping = True
            self._error(
                MidiError.SYSEX_OVERFLOW, offset + room, run[room],
                f"SysEx longer than {self.max_sysex}",
            )
            return
        status, need, n = self._status, self._need, len(run)
        i = 0
        pending = self._data
        if status and pending:  # complete the message in progress first
            take = need - len(pending)
            if n < take:
                pending.extend(run)
                return
            pending.extend(run[:take])
            d2 = pending[1] if need == 2 else 0
            events.append(_make_event(status, pending[0], d2, self.source, time))
            self._data = []
            i = take
            if status >= 0xF0:
                self._status = status = 0  # system common: not repeated by running status
        if status:
            source = self.source
            if status >= 0xF0:  # system common: one message, then no status
                if n - i < need:
                    self._data = list(run[i:])
                    return
                d2 = run[i + 1] if need == 2 else 0
                events.append(_make_event(status, run[i], d2, source, time))
                i += need
                self._status = status = 0
            else:  # running status: as many whole messages as the run holds
                whole = i + (n - i) // need * need
                # What _make_event would decide per message, decided once per run.
                kind, channel = _KIND_BY_STATUS[status & 0xF0], status & 0x0F
                append = events.append
                if need == 1:
                    for j in range(i, whole):
                        append(decoded_event(kind, source, channel, None, run[j], time=time))
                elif kind == "pitchbend":
                    for j in range(i, whole, 2):
                        value = join14(run[j], run[j + 1])
                        append(decoded_event(kind, source, channel, None, value, time=time))
                else:
                    for j in range(i, whole, 2):
                        append(decoded_event(kind, source, channel, run[j], run[j + 1], time=time))
                if whole < n:
                    self._data = list(run[whole:])
                return
        if i < n:
            self._stray_data(run, i, offset)

    def _stray_data(self, run: bytes | bytearray, start: int, offset: int) -> None:
        """Count run[start:] as data bytes with no status to belong to, one error each."""
        if self.on_error is None:
            # Nobody sees the errors one by one: count them all, keep the last
            # (what a byte at a time would leave), and skip building the others.
            self.stats.stray_data += len(run) - start - 1
            start = len(run) - 1
        for j in range(start, len(run)):
            self._error(
                MidiError.STRAY_DATA, offset + j, run[j], "no status byte (no running status)"
            )

    def _status_byte(self, byte: int, offset: int, events: list[Event], time: float) -> None:
        sysex = self._sysex
        if byte == 0xF7:
            if sysex is not None:
                if not self._sysex_dropping:
                    sysex.append(0xF7)
                    events.append(decoded_event("sysex", self.source, data=bytes(sysex), time=time))
                self._sysex = None
                self._sysex_dropping = False
            else:
                self._abandon(offset, byte)
                self._error(MidiError.STRAY_EOX, offset, byte, "F7 outside a SysEx")
            return
        if sysex is not None:
            if not self._sysex_dropping:
                self._error(
                    MidiError.SYSEX_INTERRUPTED,
                    offset,
                    byte,
                    f"status byte inside a SysEx after {len(sysex)} bytes; SysEx dropped",
                )
            self._sysex = None
            self._sysex_dropping = False
        self._abandon(offset, byte)
        if byte == 0xF0:
            self._sysex = bytearray(b"\xf0")
        elif byte < 0xF0:
            self._status, self._need = byte, _CHANNEL_LENGTH[byte & 0xF0]
        elif byte in _COMMON_LENGTH:
            need = _COMMON_LENGTH[byte]
            if need == 0:
                events.append(decoded_event(_KIND_BY_STATUS[byte], self.source, time=time))
            else:
                self._status, self._need = byte, need
        else:
            self._error(MidiError.UNDEFINED_STATUS, offset, byte, "undefined status; parser reset")

    def _abandon(self, offset: int, byte: int) -> None:
        """A non-real-time status byte arrived: drop any partial message and running status."""
        if self._data:
            self._error(
                MidiError.TRUNCATED,
                offset,
                byte,
                f"message 0x{self._status:02X} had {len(self._data)} of {self._need} data bytes",
            )
            self._data = []
        self._status = 0


def decode_stream(
    data: bytes | bytearray | Sequence[int],
    source: str = "",
    *,
    max_sysex: int = DEFAULT_MAX_SYSEX,
) -> tuple[list[Event], list[MidiParseError]]:
    """Decode a complete byte string with a fresh parser: (events, errors) in order.

    A message still incomplete at the end is reported as a TRUNCATED error.
    """
    errors: list[MidiParseError] = []
    parser = MidiParser(source, max_sysex=max_sysex, on_error=errors.append)
    events = parser.feed(data)
    if parser.pending:
        errors.append(
            MidiParseError(
                MidiError.TRUNCATED, parser.stats.bytes, None, "stream ended mid-message"
            )
        )
    return events, errors


def decode_message(
    message: bytes | bytearray | Sequence[int], source: str = "", time: float = 0.0
) -> Event:
    """Decode exactly one complete MIDI message; MidiParseError if it is anything else."""
    parser = MidiParser(source)
    events = parser.feed(message, time)
    if parser.last_error is not None:
        raise parser.last_error
    if len(events) != 1 or parser.pending:
        raise MidiParseError(
            MidiError.TRUNCATED,
            parser.stats.bytes,
            None,
            f"expected one complete message, got {len(events)} from {bytes(message)[:16].hex()}",
        )
    return events[0]
