"""OSC 1.0 / 1.1 packets <-> Events, with every malformed packet contained.

Parsing uses python-osc's typed readers (`pythonosc.parsing.osc_types`) for
each argument, but walks messages and bundles here, iteratively and within
limits, because python-osc's own `OscMessage` / `OscBundle` are not safe on
hostile input: a bundle element with a negative size makes `OscBundle` loop
forever (logging a warning per turn), ~3000 nested bundles raise
RecursionError, a non-UTF-8 string raises UnicodeDecodeError, an unknown type
tag logs a warning per tag and misreads the arguments after it, and a
negative blob size returns garbage instead of failing.

Here every packet either yields Events or raises `OscParseError`, which says
what was wrong and at which byte offset:

- packets larger than `max_size` bytes are refused before any parsing;
- bundles nest at most `max_depth` deep (the top-level bundle is depth 1);
- arrays nest at most `MAX_ARG_DEPTH` deep;
- a bundle is all or nothing: one bad element rejects the whole packet;
- a bundle's timetag is reported on its Events (`Event.timetag`, Unix
  seconds; None for "immediately") and never waited for.

Argument types: i h r -> int; f d t -> float; s S c -> str; b -> bytes;
T F -> bool; N I -> None; [ ] -> tuple; m -> 4-tuple of ints.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from surfaced.events import MAX_ARG_DEPTH, Event, OscArg

DEFAULT_MAX_SIZE: Final = 65536
DEFAULT_MAX_DEPTH: Final = 8

_BUNDLE_TAG: Final = b"#bundle\x00"

Reader = Callable[[bytes, int], tuple[Any, int]]


class OscParseError(Exception):
    """A packet that is not valid OSC; the message names the reason and byte offset."""


class OscEncodeError(ValueError):
    """Arguments that cannot be encoded as OSC (unsupported type, value out of range)."""


def _get_blob(dgram: bytes, index: int) -> tuple[bytes, int]:
    # python-osc accepts a negative size and returns a slice of whatever follows.
    size, start = osc_types.get_int(dgram, index)
    if size < 0 or start + size > len(dgram):
        raise OscParseError(f"blob size {size} does not fit in the message at byte {index}")
    return osc_types.get_blob(dgram, index)


def _get_char(dgram: bytes, index: int) -> tuple[str, int]:
    code, end = osc_types.get_int(dgram, index)
    return chr(code & 0xFF), end


def _get_timetag(dgram: bytes, index: int) -> tuple[float, int]:
    return osc_types.get_date(dgram, index)


_READERS: Final[dict[str, Reader]] = {
    "i": osc_types.get_int,
    "h": osc_types.get_int64,
    "f": osc_types.get_float,
    "d": osc_types.get_double,
    "s": osc_types.get_string,
    "S": osc_types.get_string,
    "c": _get_char,
    "b": _get_blob,
    "r": osc_types.get_rgba,
    "m": osc_types.get_midi,
    "t": _get_timetag,
}
_CONSTANTS: Final[dict[str, OscArg]] = {"T": True, "F": False, "N": None, "I": None}


def parse_message(
    dgram: bytes, *, source: str = "", time: float = 0.0, timetag: float | None = None
) -> Event:
    """One OSC message (address, type tags, arguments) as an "osc" Event; OscParseError if bad."""
    try:
        return _parse_message(dgram, 0, source, time, timetag)
    except OscParseError:
        raise
    except Exception as exc:  # python-osc's readers raise more than their ParseError
        raise OscParseError(f"malformed OSC message: {exc}") from exc


def _parse_message(
    dgram: bytes, base: int, source: str, time: float, timetag: float | None
) -> Event:
    index = 0
    try:
        address, index = osc_types.get_string(dgram, 0)
        if not address.startswith("/"):
            raise OscParseError(f"address {address[:40]!r} does not start with '/'")
        args: list[OscArg] = []
        if index < len(dgram):  # OSC 1.0 lets very old senders omit the type tags
            tags, index = osc_types.get_string(dgram, index)
            if not tags.startswith(","):
                raise OscParseError(f"type tags {tags[:20]!r} do not start with ','")
            args = _read_args(dgram, index, tags)
    except OscParseError as err:
        raise OscParseError(f"{err} (message at byte {base})") from None
    except Exception as exc:
        raise OscParseError(f"malformed OSC message at byte {base + index}: {exc}") from exc
    return Event("osc", source, address=address, args=tuple(args), timetag=timetag, time=time)


def _read_args(dgram: bytes, index: int, tags: str) -> list[OscArg]:
    stack: list[list[OscArg]] = [[]]
    for tag in tags[1:]:
        reader = _READERS.get(tag)
        if reader is not None:
            try:
                value, index = reader(dgram, index)
            except osc_types.ParseError as exc:
                raise OscParseError(f"argument '{tag}' at byte {index}: {exc}") from None
            stack[-1].append(value)
        elif tag in _CONSTANTS:
            stack[-1].append(_CONSTANTS[tag])
        elif tag == "[":
            if len(stack) > MAX_ARG_DEPTH:
                raise OscParseError(f"arrays nested deeper than {MAX_ARG_DEPTH}")
            stack.append([])
        elif tag == "]":
            if len(stack) == 1:
                raise OscParseError(f"']' without '[' in type tags {tags[:40]!r}")
            inner = tuple(stack.pop())
            stack[-1].append(inner)
        else:
            raise OscParseError(f"unsupported type tag {tag!r} in {tags[:40]!r}")
    if len(stack) != 1:
        raise OscParseError(f"'[' without ']' in type tags {tags[:40]!r}")
    return stack[0]


def parse_packet(
    dgram: bytes,
    *,
    source: str = "",
    time: float = 0.0,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Event]:
    """All messages of one OSC packet (a message or a bundle), in order, as Events.

    Raises OscParseError for anything malformed; never anything else.
    """
    if len(dgram) > max_size:
        raise OscParseError(f"packet of {len(dgram)} bytes exceeds the {max_size}-byte limit")
    try:
        return _parse_packet(bytes(dgram), source, time, max_depth)
    except OscParseError:
        raise
    except Exception as exc:  # the last net: no parser surprise may reach a listener
        raise OscParseError(f"malformed OSC packet: {type(exc).__name__}: {exc}") from exc


def _parse_packet(dgram: bytes, source: str, time: float, max_depth: int) -> list[Event]:
    if dgram.startswith(b"/"):
        return [_parse_message(dgram, 0, source, time, None)]
    if not dgram.startswith(_BUNDLE_TAG):
        raise OscParseError(f"packet starts with {dgram[:8]!r}: neither '/' nor '#bundle'")
    events: list[Event] = []
    # One entry per open bundle: [next element offset, end, timetag, depth].
    # An explicit stack keeps hostile nesting from reaching Python's recursion limit.
    stack: list[list[Any]] = [_open_bundle(dgram, 0, len(dgram), None, 1)]
    while stack:
        top = stack[-1]
        pos, end, timetag, depth = top
        if pos >= end:
            stack.pop()
            continue
        if pos + 4 > end:
            raise OscParseError(f"bundle element size at byte {pos} is cut short")
        size = int.from_bytes(dgram[pos : pos + 4], "big", signed=True)
        start = pos + 4
        if size <= 0 or start + size > end:
            raise OscParseError(
                f"bundle element at byte {pos} claims {size} bytes; {end - start} remain"
            )
        top[0] = start + size
        element = dgram[start : start + size]
        if element.startswith(b"/"):
            events.append(_parse_message(element, start, source, time, timetag))
        elif element.startswith(_BUNDLE_TAG):
            if depth >= max_depth:
                raise OscParseError(f"bundles nested deeper than {max_depth} at byte {start}")
            stack.append(_open_bundle(dgram, start, start + size, timetag, depth + 1))
        else:
            raise OscParseError(f"bundle element at byte {start} is neither a message nor a bundle")
    return events


def _open_bundle(dgram: bytes, start: int, end: int, outer: float | None, depth: int) -> list[Any]:
    if end - start < 16:
        raise OscParseError(f"bundle at byte {start} is {end - start} bytes, shorter than 16")
    stamp, _ = osc_types.get_date(dgram, start + 8)
    # osc_types.IMMEDIATELY (0) stands for the timetag 1: "as soon as possible".
    timetag = outer if stamp == osc_types.IMMEDIATELY else float(stamp)
    return [start + 16, end, timetag, depth]


def encode_message(address: str, args: Sequence[OscArg] = (), types: str | None = None) -> bytes:
    """One OSC message as bytes; `types` optionally forces one type tag per top-level argument.

    Without `types` the tags follow the Python types (bool T/F, int i or h,
    float f, str s, bytes b, None N, tuple or list: array). Pass e.g.
    ``types="d"`` to send a double. Raises OscEncodeError for what OSC cannot carry.
    """
    if types is not None and len(types) != len(args):
        raise OscEncodeError(f"{address}: {len(types)} type tags for {len(args)} arguments")
    if not address.startswith("/"):
        raise OscEncodeError(f"OSC address {address!r} must start with '/'")
    try:
        tags: list[str] = [","]
        body: list[bytes] = []
        for i, arg in enumerate(args):
            _encode_arg(arg, types[i] if types is not None else None, tags, body)
        return _osc_string(address) + _osc_string("".join(tags)) + b"".join(body)
    except OscEncodeError as exc:
        raise OscEncodeError(f"cannot encode OSC message {address!r}: {exc}") from None
    except (UnicodeEncodeError, struct.error, OverflowError) as exc:
        raise OscEncodeError(f"cannot encode OSC message {address!r}: {exc}") from None


def _osc_string(text: str) -> bytes:
    raw = text.encode("ascii") if text.isascii() else text.encode("utf-8")
    if b"\0" in raw:
        raise OscEncodeError(f"string {text!r} contains a NUL byte")
    return raw + b"\0" * (4 - len(raw) % 4)


def _encode_arg(arg: OscArg, tag: str | None, tags: list[str], body: list[bytes]) -> None:
    """Append one argument's type tag and bytes (OSC 1.0 encoding, big-endian, padded)."""
    if tag is None:
        if isinstance(arg, bool):
            tag = "T" if arg else "F"
        elif arg is None:
            tag = "N"
        elif isinstance(arg, int):
            tag = "i" if -(2**31) <= arg < 2**31 else "h"
        elif isinstance(arg, float):
            tag = "f"
        elif isinstance(arg, str):
            tag = "s"
        elif isinstance(arg, bytes):
            tag = "b"
        elif isinstance(arg, tuple | list):
            tags.append("[")
            for item in arg:
                _encode_arg(item, None, tags, body)
            tags.append("]")
            return
        else:
            raise OscEncodeError(f"no OSC type for {type(arg).__name__}")
    tags.append(tag)
    if tag in "TFNI":
        return
    # A forced numeric tag takes any number (a bool as 0/1: boxes want 'i' for LEDs).
    if tag == "i" and isinstance(arg, int):
        body.append(struct.pack(">i", int(arg)))
    elif tag == "h" and isinstance(arg, int):
        body.append(struct.pack(">q", int(arg)))
    elif tag == "f" and isinstance(arg, int | float):
        body.append(struct.pack(">f", float(arg)))
    elif tag == "d" and isinstance(arg, int | float):
        body.append(struct.pack(">d", float(arg)))
    elif tag in "sS" and isinstance(arg, str):
        body.append(_osc_string(arg))
    elif tag == "b" and isinstance(arg, bytes):
        # OSC 1.0: int32 size, the bytes, zero padding to 4 (an empty blob is size 0).
        body.append(struct.pack(">i", len(arg)) + arg + b"\0" * (-len(arg) % 4))
    elif tag == "c" and isinstance(arg, str) and len(arg) == 1:
        body.append(struct.pack(">I", ord(arg)))
    elif tag == "m" and isinstance(arg, tuple) and len(arg) == 4:
        body.append(bytes(int(x) & 0xFF for x in arg))  # type: ignore[arg-type]
    else:
        raise OscEncodeError(f"{arg!r} cannot be sent with type tag {tag!r}")


def _as_builder_arg(arg: OscArg) -> Any:
    # python-osc reads a 4-tuple as a MIDI argument and a list as an array;
    # our arrays are tuples.
    if isinstance(arg, tuple):
        return [_as_builder_arg(item) for item in arg]
    return arg


def encode_bundle(packets: Sequence[bytes], timetag: float | None = None) -> bytes:
    """An OSC bundle of already encoded messages or bundles; timetag None = immediately."""
    builder = OscBundleBuilder(IMMEDIATELY if timetag is None else timetag)  # type: ignore[arg-type]
    try:
        for packet in packets:
            if packet.startswith(_BUNDLE_TAG):
                builder.add_content(OscBundle(packet))
            else:
                builder.add_content(OscMessage(packet))
        return bytes(builder.build().dgram)
    except Exception as exc:
        raise OscEncodeError(f"cannot encode OSC bundle: {exc}") from exc


def encode_event(event: Event) -> bytes:
    """The OSC bytes of an "osc" Event (a bundle when it carries a timetag)."""
    if event.kind != "osc":
        raise OscEncodeError(f"{event.kind} event has no OSC encoding; send it over MIDI")
    message = encode_message(event.address, event.args)
    if event.timetag is None:
        return message
    return encode_bundle([message], event.timetag)
