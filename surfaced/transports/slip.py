"""SLIP framing (RFC 1055) with double-END delimiters, as OSC 1.1 uses on streams.

A frame on the wire is ``END escaped-payload END``; inside the payload END
(0xC0) is sent as ``ESC ESC_END`` and ESC (0xDB) as ``ESC ESC_ESC``. The
leading END flushes line noise at the receiver, so back-to-back frames carry
two ENDs between them; an empty frame (END END) is not a frame.

`SlipDecoder` is incremental and pure: feeding a stream in one chunk or
byte by byte yields the same frames and the same counters. Whatever cannot be
a frame is dropped and counted, and the decoder resynchronizes at the next
END:

- garbage: bytes heard before the first END of an unsynchronized stream (a
  serial line opened mid-frame);
- bad_escape: a frame with ESC followed by anything but ESC_END / ESC_ESC;
- oversize: a frame longer than `max_frame` decoded bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

END: Final = 0xC0
ESC: Final = 0xDB
ESC_END: Final = 0xDC
ESC_ESC: Final = 0xDD

DEFAULT_MAX_FRAME: Final = 65536

_END = b"\xc0"
_ESC = b"\xdb"
_ESC_END_SEQ = b"\xdb\xdc"
_ESC_ESC_SEQ = b"\xdb\xdd"


class SlipError(Exception):
    """A SLIP frame that cannot be decoded (bad escape, oversize)."""


@dataclass
class SlipStats:
    """Counters of one decoder: good frames, dropped frames by reason, dropped bytes."""

    frames: int = 0
    garbage: int = 0  # runs of bytes before a first END
    bad_escape: int = 0
    oversize: int = 0
    dropped_bytes: int = 0

    @property
    def errors(self) -> int:
        """Every dropped run or frame together."""
        return self.garbage + self.bad_escape + self.oversize


def encode(packet: bytes) -> bytes:
    """One double-END SLIP frame carrying `packet`."""
    # ESC first: escaping END inserts ESC bytes that must not be escaped again.
    body = packet.replace(_ESC, _ESC_ESC_SEQ).replace(_END, _ESC_END_SEQ)
    return _END + body + _END


def unescape(body: bytes) -> bytes:
    """The payload of one frame body (the bytes between two ENDs); SlipError on a bad escape."""
    if ESC not in body:  # the int, as in SlipDecoder.feed
        return body
    # Every ESC must start one of the two escape sequences; the sequences
    # cannot overlap, so counting them proves it without a byte loop.
    if body.count(_ESC) != body.count(_ESC_END_SEQ) + body.count(_ESC_ESC_SEQ):
        at = _first_bad_escape(body)
        after = body[at + 1 : at + 2].hex() or "END"
        raise SlipError(f"bad SLIP escape at frame offset {at}: ESC followed by {after}")
    # ESC_END first: undoing ESC_ESC first would forge new pairs (DB DD DC -> DB DC -> C0).
    return body.replace(_ESC_END_SEQ, _END).replace(_ESC_ESC_SEQ, _ESC)


def _first_bad_escape(body: bytes) -> int:
    i = body.find(_ESC)
    while i != -1:
        if body[i + 1 : i + 2] not in (b"\xdc", b"\xdd"):
            return i
        i = body.find(_ESC, i + 2)
    return -1


class SlipDecoder:
    """Incremental double-END SLIP decoder: feed stream bytes, get whole frames back.

    `synced=True` (the default) trusts the first byte to start a frame, as on
    a fresh TCP connection; `synced=False` drops everything up to the first
    END, as on a serial line that may be opened mid-frame.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, synced: bool = True) -> None:
        if max_frame < 1:
            raise ValueError(f"max_frame must be positive, got {max_frame}")
        self.max_frame = max_frame
        self.stats = SlipStats()
        self.last_error: SlipError | None = None
        self._buf = bytearray()
        self._synced = synced
        self._skipped = 0  # bytes dropped in the current unsynced stretch
        self._skip_counted = False  # the stretch is already counted (oversize)

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held so far (escaped form)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Decode a chunk of the stream; returns the frames it completes, in order."""
        if type(data) is not bytes:
            data = bytes(data)  # a copy: the caller may reuse its buffer
        # The int: `b"\xc0" in data` takes the buffer protocol, 10x the time.
        if END not in data:
            # Nothing ends here (a read in the middle of a frame, the usual
            # case for small serial reads): hold the bytes without the split
            # and the loop (what _add does, written out: this is per read).
            if not self._synced:
                self._skipped += len(data)
            else:
                buf = self._buf
                buf += data
                if len(buf) > 2 * self.max_frame:
                    self._overflow()
            return []
        pieces = data.split(_END)
        frames: list[bytes] = []
        for piece in pieces[:-1]:  # each of these is closed by an END
            self._add(piece)
            self._end(frames)
        self._add(pieces[-1])
        return frames

    def _add(self, piece: bytes) -> None:
        if not piece:
            return
        if not self._synced:
            self._skipped += len(piece)
            return
        self._buf += piece
        # An escaped body is at most twice its payload, so past that it is
        # certainly too long; stop buffering rather than hold it all.
        if len(self._buf) > 2 * self.max_frame:
            self._overflow()

    def _overflow(self) -> None:
        """The frame being buffered is certainly too long: drop it, skip to the next END."""
        self._drop_oversize(len(self._buf))
        self._skipped = len(self._buf)
        self._buf.clear()
        self._synced = False
        self._skip_counted = True

    def _drop_oversize(self, size: int) -> None:
        self.stats.oversize += 1
        self.last_error = SlipError(f"SLIP frame of {size}+ bytes exceeds {self.max_frame}")

    def _end(self, frames: list[bytes]) -> None:
        stats = self.stats
        if not self._synced:
            if self._skipped and not self._skip_counted:
                stats.garbage += 1
                self.last_error = SlipError(f"{self._skipped} bytes before the first SLIP END")
            stats.dropped_bytes += self._skipped
            self._synced, self._skipped, self._skip_counted = True, 0, False
            return
        if not self._buf:
            return  # END END: the double-END separator, not an empty frame
        body = bytes(self._buf)
        self._buf.clear()
        try:
            frame = unescape(body)
        except SlipError as err:
            stats.bad_escape += 1
            stats.dropped_bytes += len(body)
            # Kept without its traceback: that holds the reading frames, whose
            # locals hold the previous last_error (serial_codec compares them),
            # so every bad escape a stream ever sent would stay in memory.
            self.last_error = err.with_traceback(None)
            return
        if len(frame) > self.max_frame:
            self._drop_oversize(len(frame))
            stats.dropped_bytes += len(body)
            return
        stats.frames += 1
        frames.append(frame)
