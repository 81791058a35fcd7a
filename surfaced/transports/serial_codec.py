"""The DIY box codec: SLIP-framed OSC as firmware/PROTOCOL.md speaks it, without I/O.

`SerialDecoder` turns a byte stream into Events (every drop counted),
`box_packet_error` holds packets to the box protocol's strict OSC rules,
`encode_box_message` writes an Event the way a box reads it and `HELLO` is
the host's greeting. The transport (`surfaced.transports.serial`) uses them;
tests can too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from surfaced.events import Event
from surfaced.transports import osc_codec, slip

HELLO: Final = slip.encode(osc_codec.encode_message("/hello", ["surfaced"]))
PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_FRAME: Final = 1024  # a box's longest message (its identity) is a few hundred bytes
_BOX_TAGS: Final = {int: "i", bool: "i", float: "f", str: "s", bytes: "b"}


@dataclass
class SerialStats:
    """Counters of one transport (its decoder's and its own), kept across reconnects."""

    bytes_in: int = 0  # read by the transport, counted once its Events were delivered
    frames: int = 0  # SLIP frames decoded, valid OSC or not
    events: int = 0  # Events handed to the sink
    garbage: int = 0  # runs of bytes before a first END (joined mid-frame, line noise)
    bad_escape: int = 0
    overflow: int = 0  # frames longer than max_frame
    osc_errors: int = 0  # frames that are not a valid (strict) OSC message
    sink_errors: int = 0
    sent: int = 0  # frames written to the port by send()
    # send() refused (offline, unencodable, the queue full) or a frame it queued
    # that was not written (a failed write, the box unplugged meanwhile)
    send_dropped: int = 0
    hellos: int = 0  # hellos queued
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
        # Every drop the decoder counts sets a new last_error, so comparing it
        # tells whether the drop counters moved without summing them per read.
        last_error = dec.last_error
        frames = dec.feed(data)
        if not frames and dec.last_error is last_error:
            return frames  # most reads: the middle of a frame, nothing to count
        s, b, st = dec.stats, self._base, self.stats
        if frames:
            st.frames = b[0] + s.frames
        if dec.last_error is not last_error:
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
        frames = self.frames(data)
        if not frames:
            return []
        events: list[Event] = []
        for frame in frames:
            events += self.parse(frame, now)
        return events


def encode_box_message(event: Event, strict: bool = True) -> bytes:
    """The OSC packet for one "osc" Event, as a box reads it (OscEncodeError if it cannot).

    Strict (box protocol): ints and bools go as i, floats f, str s, bytes b;
    other arguments are refused and a timetag is ignored (no bundles).
    Without `strict`, whatever osc_codec can encode.
    """
    if not strict:
        return osc_codec.encode_event(event)
    tags = "".join(_BOX_TAGS.get(type(a), "?") for a in event.args)
    if event.kind != "osc" or "?" in tags:
        raise osc_codec.OscEncodeError("a box takes OSC int, float, str and bytes arguments")
    # Tags forced: python-osc would send -2**31 as an int64 and a bool as
    # T/F, neither of which a box can read.
    return osc_codec.encode_message(event.address, event.args, tags)
