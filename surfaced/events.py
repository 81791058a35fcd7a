"""The `Event`: what every transport produces and every mapping consumes.

An Event is one decoded message from (or for) a surface: a MIDI channel or
system message, a complete SysEx, or one OSC message. It is frozen, hashable
and validated when constructed, through one table of per-kind rules
(`KINDS`): a wrong type raises TypeError, a value out of range ValueError, so a
bad Event never travels further than the line that made it.

Which fields a kind uses:

==================  =======  ======  ======================  ==========================
kind                channel  number  value                   other
==================  =======  ======  ======================  ==========================
note_off, note_on   0..15    0..127  velocity 0..127
poly_pressure       0..15    0..127  pressure 0..127
cc                  0..15    0..127  0..127
program             0..15            program 0..127
channel_pressure    0..15            pressure 0..127
pitchbend           0..15            0..16383 (8192 = centre)
sysex                                                        data = F0 .. F7 (whole message)
mtc_quarter                          0..127
song_position                        0..16383
song_select                          0..127
tune_request, clock, start, continue, stop, active_sensing, reset: no fields
osc                                                          address, args, timetag
==================  =======  ======  ======================  ==========================

Unused fields must stay at their defaults (None, b"", "", ()). `note_on` with
velocity 0 is kept as sent (many surfaces, Mackie Control among them, send it
for a release); mappings treat it as a note-off.

`time` is the monotonic arrival time (`time.monotonic()`) and is left out of
equality and hashing, so an Event compares equal to the same message received
at another moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeAlias

# An OSC argument as decoded by osc_codec: int (i, h, r), float (f, d, t),
# str (s, S, c), bytes (b), bool (T, F), None (N, I) or a tuple (an array, or
# the 4 bytes of an 'm' MIDI argument).
OscArg: TypeAlias = "int | float | str | bytes | bool | tuple[OscArg, ...] | None"

MAX_ARG_DEPTH: Final = 8
"""Deepest nesting of OSC arrays an Event accepts (and osc_codec decodes)."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What one event kind carries: its MIDI status byte and which fields it uses."""

    status: int | None  # status byte (channel kinds: high nibble, channel 0); None for osc
    channel: bool = False
    number: bool = False
    value_max: int | None = None  # None: the kind has no value
    data: bool = False
    osc: bool = False


KINDS: Final[dict[str, KindSpec]] = {
    "note_off": KindSpec(0x80, channel=True, number=True, value_max=127),
    "note_on": KindSpec(0x90, channel=True, number=True, value_max=127),
    "poly_pressure": KindSpec(0xA0, channel=True, number=True, value_max=127),
    "cc": KindSpec(0xB0, channel=True, number=True, value_max=127),
    "program": KindSpec(0xC0, channel=True, value_max=127),
    "channel_pressure": KindSpec(0xD0, channel=True, value_max=127),
    "pitchbend": KindSpec(0xE0, channel=True, value_max=16383),
    "sysex": KindSpec(0xF0, data=True),
    "mtc_quarter": KindSpec(0xF1, value_max=127),
    "song_position": KindSpec(0xF2, value_max=16383),
    "song_select": KindSpec(0xF3, value_max=127),
    "tune_request": KindSpec(0xF6),
    "clock": KindSpec(0xF8),
    "start": KindSpec(0xFA),
    "continue": KindSpec(0xFB),
    "stop": KindSpec(0xFC),
    "active_sensing": KindSpec(0xFE),
    "reset": KindSpec(0xFF),
    "osc": KindSpec(None, osc=True),
}

_OSC_SCALARS: Final = (int, float, str, bytes, bool, type(None))
_OSC_SCALAR_TYPES: Final = frozenset(_OSC_SCALARS)


def _check_int(name: str, value: object, high: int, kind: str) -> None:
    # bool is an int subclass; a True velocity is a bug, not a 1.
    if type(value) is not int:
        raise TypeError(f"{kind}: {name} must be int, got {type(value).__name__}")
    if not 0 <= value <= high:
        raise ValueError(f"{kind}: {name} {value} out of range 0..{high}")


def _check_sysex(data: object) -> None:
    if type(data) is not bytes:
        raise TypeError(f"sysex: data must be bytes, got {type(data).__name__}")
    if len(data) < 2 or data[0] != 0xF0 or data[-1] != 0xF7:
        raise ValueError(f"sysex: data must start with F0 and end with F7, got {data[:8].hex()}")
    if max(data[1:-1], default=0) > 0x7F:
        i = next(i for i in range(1, len(data) - 1) if data[i] > 0x7F)
        raise ValueError(f"sysex: byte {i} is 0x{data[i]:02X}; SysEx data bytes are 0..0x7F")


def _check_osc_args(args: object) -> None:
    if type(args) is not tuple:
        raise TypeError(f"osc: args must be a tuple, got {type(args).__name__}")
    if all(type(item) in _OSC_SCALAR_TYPES for item in args):
        return  # the usual case: no arrays, exact builtin types
    # An explicit stack, not recursion: args come from the network.
    stack: list[tuple[tuple[Any, ...], int]] = [(args, 0)]
    while stack:
        items, depth = stack.pop()
        if depth > MAX_ARG_DEPTH:
            raise ValueError(f"osc: arrays nested deeper than {MAX_ARG_DEPTH}")
        for item in items:
            if type(item) is tuple:
                stack.append((item, depth + 1))
            elif not isinstance(item, _OSC_SCALARS):
                raise TypeError(f"osc: unsupported argument type {type(item).__name__}")


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One message from or for a surface; see the module docstring for the fields per kind.

    Build one with keywords, e.g. ``Event("cc", channel=0, number=7, value=100)``
    or ``Event("osc", address="/ch/3/fader", args=(-6.0,))``; `source` names
    the transport and peer it came from ("midi:nanoKONTROL2",
    "osc:udp:127.0.0.1:53000") and may stay empty for events to be sent.
    """

    kind: str
    source: str = ""
    channel: int | None = None
    number: int | None = None
    value: int | None = None
    data: bytes = b""
    address: str = ""
    args: tuple[OscArg, ...] = ()
    timetag: float | None = None  # OSC bundle time (Unix seconds); None = immediately
    time: float = field(default=0.0, compare=False)

    def __init__(
        self,
        kind: str,
        source: str = "",
        channel: int | None = None,
        number: int | None = None,
        value: int | None = None,
        data: bytes = b"",
        address: str = "",
        args: tuple[OscArg, ...] = (),
        timetag: float | None = None,
        time: float = 0.0,
    ) -> None:
        # Written by hand because a frozen dataclass's generated __init__ sets
        # each field through object.__setattr__, which was 1.7 us of the 2.1 us
        # an Event cost; the slot descriptors do the same store directly.
        # test_events checks this signature against the fields.
        _set_kind(self, kind)
        _set_source(self, source)
        _set_channel(self, channel)
        _set_number(self, number)
        _set_value(self, value)
        _set_data(self, data)
        _set_address(self, address)
        _set_args(self, args)
        _set_timetag(self, timetag)
        _set_time(self, time)
        self._validate()

    def _validate(self) -> None:
        # Written out rather than looped over KINDS' flags: this runs for every
        # decoded message, and the loop cost more than the rest of decoding.
        kind = self.kind
        spec = KINDS.get(kind) if type(kind) is str else None
        if spec is None:
            if type(kind) is not str:
                raise TypeError(f"kind must be str, got {type(kind).__name__}")
            raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")
        if type(self.source) is not str:
            raise TypeError(f"{kind}: source must be str, got {type(self.source).__name__}")
        if type(self.time) is not float and type(self.time) is not int:
            raise TypeError(f"{kind}: time must be float, got {type(self.time).__name__}")
        channel, number, value = self.channel, self.number, self.value
        if spec.channel:
            if type(channel) is not int or not 0 <= channel <= 15:
                _check_int("channel", channel, 15, kind)
        elif channel is not None:
            raise TypeError(f"{kind}: takes no channel (got {channel!r})")
        if spec.number:
            if type(number) is not int or not 0 <= number <= 127:
                _check_int("number", number, 127, kind)
        elif number is not None:
            raise TypeError(f"{kind}: takes no number (got {number!r})")
        if spec.value_max is not None:
            if type(value) is not int or not 0 <= value <= spec.value_max:
                _check_int("value", value, spec.value_max, kind)
        elif value is not None:
            raise TypeError(f"{kind}: takes no value (got {value!r})")
        if spec.data:
            _check_sysex(self.data)
        elif self.data or type(self.data) is not bytes:
            raise TypeError(f"{kind}: takes no data (got {self.data!r:.40})")
        if spec.osc:
            if type(self.address) is not str:
                raise TypeError(f"osc: address must be str, got {type(self.address).__name__}")
            if not self.address.startswith("/"):
                raise ValueError(f"osc: address must start with '/', got {self.address[:40]!r}")
            _check_osc_args(self.args)
            if self.timetag is not None and type(self.timetag) is not float:
                raise TypeError(f"osc: timetag must be float or None, got {self.timetag!r}")
        elif self.address or self.args or self.timetag is not None:
            raise TypeError(f"{kind}: takes no OSC address, args or timetag")
        elif type(self.address) is not str or type(self.args) is not tuple:
            raise TypeError(f"{kind}: address must be str and args a tuple")

    @property
    def is_midi(self) -> bool:
        """True for every kind that has a MIDI byte encoding (all but "osc")."""
        return self.kind != "osc"

    def to_bytes(self) -> bytes:
        """The MIDI bytes of this event (status byte first, no running status).

        Raises ValueError for an "osc" event, which has no MIDI encoding
        (use `surfaced.transports.osc_codec.encode_event`).
        """
        spec = KINDS[self.kind]
        status = spec.status
        if status is None:
            raise ValueError(f"{self.kind} event has no MIDI bytes (address {self.address!r})")
        if spec.data:
            return self.data
        if spec.channel:
            status |= self.channel or 0
        if spec.value_max is None:
            return bytes((status,))
        value = self.value or 0
        if spec.number:
            return bytes((status, self.number or 0, value))
        if spec.value_max == 16383:
            return bytes((status, value & 0x7F, value >> 7))
        return bytes((status, value))


(
    _set_kind,
    _set_source,
    _set_channel,
    _set_number,
    _set_value,
    _set_data,
    _set_address,
    _set_args,
    _set_timetag,
    _set_time,
) = (Event.__dict__[f.name].__set__ for f in fields(Event))


_new_event = object.__new__


def decoded_event(
    kind: str,
    source: str,
    channel: int | None = None,
    number: int | None = None,
    value: int | None = None,
    data: bytes = b"",
    time: float = 0.0,
) -> Event:
    """A MIDI Event built without `Event`'s checks, for a decoder whose output is valid
    by construction.

    Only for `surfaced.transports.midi_codec.MidiParser`: it takes the channel
    from a status byte's low nibble and every value from bytes below 0x80, so
    the checks on those could never fail there; skipping them makes an Event
    1.4 us instead of 2.1-2.8 (a third of decoding a message), and many fewer
    branches under the fuzzer's instrumentation. The fuzz target
    (tests/fuzz/targets.py, midi) runs the full checks on everything the
    parser returns, so a decoder bug still shows.
    """
    # source and time come from the parser's caller, not from the bytes:
    # checked as Event() checks them.
    if type(source) is not str:
        raise TypeError(f"{kind}: source must be str, got {type(source).__name__}")
    if type(time) is not float and type(time) is not int:
        raise TypeError(f"{kind}: time must be float, got {type(time).__name__}")
    event: Event = _new_event(Event)
    _set_kind(event, kind)
    _set_source(event, source)
    _set_channel(event, channel)
    _set_number(event, number)
    _set_value(event, value)
    _set_data(event, data)
    _set_address(event, "")
    _set_args(event, ())
    _set_timetag(event, None)
    _set_time(event, time)
    return event
