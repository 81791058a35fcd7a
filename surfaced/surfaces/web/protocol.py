"""The web page's messages: JSON text frames, parsed strictly, encoded finite.

From the page (every one may carry `"id": INT`, echoed in an error reply):

- ``{"t": "set", "path": "ch/3/fader", "pos": 0.62}``   by normalised position 0..1
- ``{"t": "set", "path": "ch/3/mute", "value": 1}``     in the parameter's unit (text for names)
- ``{"t": "touch", "path": "ch/3/fader", "on": true}``  a finger (or the mouse) holds a control
- ``{"t": "cmd", "name": "undo", "args": []}``          a mix document command

To the page: ``init`` (role, mix size, fader law, every visible value), ``set``
(changed values, coalesced), ``meters``, ``reply`` (a command's answer) and
``error`` (what was wrong). A value travels as ``[value, position]``; -inf dB
travels as null, and text has a null position.

Every malformed input ends in WebProtocolError: bad JSON, NaN and infinities
(JSON has neither, but Python's parser would accept them), wrong types,
unknown fields, deep nesting and oversized frames.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

MAX_TEXT = 4096  # characters in one frame from a page; a real message is < 200
MAX_PATH = 64
MAX_NAME = 64  # characters in a channel name
MAX_ARGS = 4

Wire = list[float | str | None]


class WebProtocolError(ValueError):
    """A message from a page that cannot be used; says what was wrong."""


@dataclass(frozen=True)
class SetMsg:
    """Set one parameter, by position (`pos`) or by value."""

    path: str
    pos: float | None = None
    value: float | str | None = None
    id: int | None = None


@dataclass(frozen=True)
class TouchMsg:
    """A control held (`on`) or let go of."""

    path: str
    on: bool
    id: int | None = None


@dataclass(frozen=True)
class CmdMsg:
    """Run a mix document command."""

    name: str
    args: tuple[int | float | str, ...]
    id: int | None = None


Message = SetMsg | TouchMsg | CmdMsg


def _no_constant(name: str) -> float:
    raise WebProtocolError(f"{name} is not a number here")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise WebProtocolError(f"{text[:20]} is out of range")
    return value


def parse(text: str) -> Message:
    """One text frame from a page as a Message, or WebProtocolError."""
    if len(text) > MAX_TEXT:
        raise WebProtocolError(f"message of {len(text)} characters; at most {MAX_TEXT}")
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except WebProtocolError:
        raise
    except (ValueError, RecursionError) as exc:
        raise WebProtocolError(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise WebProtocolError("expected a JSON object with a field t")
    kind = data.get("t")
    ref = data.get("id")
    if ref is not None and (not isinstance(ref, int) or isinstance(ref, bool)
                            or not 0 <= ref < 2**53):
        raise WebProtocolError("id: expected a whole number")
    if kind == "set":
        _fields(data, {"t", "path", "pos", "value", "id"})
        path = _path(data)
        if ("pos" in data) == ("value" in data):
            raise WebProtocolError(f"set {path}: give pos (0..1) or value, not both or neither")
        if "pos" in data:
            pos = data["pos"]
            if isinstance(pos, bool) or not isinstance(pos, int | float) or not 0 <= pos <= 1:
                raise WebProtocolError(f"set {path}: pos must be a number 0..1")
            return SetMsg(path, pos=float(pos), id=ref)
        value = data["value"]
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, str):
            if len(value) > MAX_NAME:
                raise WebProtocolError(f"set {path}: text of at most {MAX_NAME} characters")
        elif not isinstance(value, int | float):
            raise WebProtocolError(f"set {path}: value must be a number, true/false or text")
        if isinstance(value, int) and abs(value) > 10**300:  # float() would overflow
            raise WebProtocolError(f"set {path}: value out of range")
        return SetMsg(path, value=value if isinstance(value, str) else float(value), id=ref)
    if kind == "touch":
        _fields(data, {"t", "path", "on", "id"})
        on = data.get("on")
        if not isinstance(on, bool):
            raise WebProtocolError("touch: on must be true or false")
        return TouchMsg(_path(data), on, id=ref)
    if kind == "cmd":
        _fields(data, {"t", "name", "args", "id"})
        name = data.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_PATH:
            raise WebProtocolError("cmd: name must be a command name (undo, scene/recall, ...)")
        args = data.get("args", [])
        if not isinstance(args, list) or len(args) > MAX_ARGS or not all(
                isinstance(a, int | float | str) and not isinstance(a, bool) for a in args) \
                or any(isinstance(a, str) and len(a) > MAX_NAME for a in args):
            raise WebProtocolError(f"cmd {name}: args must be a list of at most {MAX_ARGS} "
                                   "numbers or short texts")
        return CmdMsg(name, tuple(args), id=ref)
    raise WebProtocolError(f"unknown message type {str(kind)[:20]!r}; expected set, touch or cmd")


def _fields(data: dict[str, object], allowed: set[str]) -> None:
    extra = set(data) - allowed
    if extra:
        raise WebProtocolError(f"{data['t']}: unknown field(s) "
                               f"{', '.join(sorted(str(k)[:20] for k in extra))}")


def _path(data: dict[str, object]) -> str:
    path = data.get("path")
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH:
        raise WebProtocolError(f"{data['t']}: path must be a parameter path (ch/3/fader)")
    return path


def wire(value: float | str, position: float | None) -> Wire:
    """A value as the page gets it: [value, position]; -inf as null, text has no position."""
    if isinstance(value, str):
        return [value, None]
    v = None if math.isinf(value) and value < 0 else round(value, 4)
    return [v, None if position is None else round(position, 5)]


def dumps(message: dict[str, object]) -> str:
    """A message to a page: compact JSON, never NaN or Infinity (refused loudly here)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)
