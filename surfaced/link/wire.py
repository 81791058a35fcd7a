"""The link's topics and payloads on the broker.

Everything of one mix lives under ``surfaced/<mix>/``:

- ``mix/<path>`` (retained): the latest write of a parameter, e.g.
  ``surfaced/studio/mix/ch/3/fader`` ->
  ``{"n": -6.5, "t": [1767225600123, 0, "tokyo"], "b": [..] | null, "s": "surface:x-touch"}``
  ("n": a number, "-inf"/"inf" for infinite ones; "x" instead for text;
  "t": the write's stamp; "b": the stamp its writer had seen for that
  parameter before, which is how a conflict is told from a plain sequence;
  "s": the surface or person's source, for the conflict log).
- ``touch/<daemon>/<path>`` (retained): that daemon's person holds the
  control: ``{"t": stamp, "s": source}``; an empty payload lets go.
- ``daemon/<id>`` (retained, and the connection's last will):
  ``{"state": "online"}`` or ``{"state": "offline"}``.
- ``sync/<id>`` (not retained): a daemon's own marker, sent after it
  subscribes; when it comes back, every retained value has arrived before it.

Every malformed payload ends in WireError, whatever was wrong with it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from surfaced.link.hlc import Stamp

ROOT = "surfaced"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_PAYLOAD = 65536


class WireError(ValueError):
    """A topic or payload that is not the link's."""


Value = float | str


@dataclass(frozen=True)
class Write:
    """One parameter write as it travels."""

    path: str
    value: Value
    stamp: Stamp
    base: Stamp | None
    source: str = ""


@dataclass(frozen=True)
class Claim:
    """A daemon's person holds a control (released: `stamp` is None)."""

    daemon: str
    path: str
    stamp: Stamp | None
    source: str = ""


@dataclass(frozen=True)
class Presence:
    """A daemon came online or went offline."""

    daemon: str
    online: bool


@dataclass(frozen=True)
class Marker:
    """A daemon's sync marker came back."""

    daemon: str
    token: str


Message = Write | Claim | Presence | Marker


def check_name(kind: str, name: str) -> str:
    """A mix name or daemon id usable as one topic level, or ValueError saying why."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{kind} {name!r}: use 1..64 letters, digits, '_', '.' or '-'")
    return name


class Topics:
    """The topic names of one mix, for one daemon."""

    def __init__(self, mix: str, daemon: str) -> None:
        self.mix = check_name("mix name", mix)
        self.daemon = check_name("daemon id", daemon)
        self.prefix = f"{ROOT}/{mix}/"
        self.all = self.prefix + "#"

    def param(self, path: str) -> str:
        """Where a parameter's latest write is retained."""
        return f"{self.prefix}mix/{path}"

    def claim(self, path: str, daemon: str | None = None) -> str:
        """Where a daemon's hold on a control is retained."""
        return f"{self.prefix}touch/{daemon or self.daemon}/{path}"

    def presence(self, daemon: str | None = None) -> str:
        """A daemon's online/offline state (its last will)."""
        return f"{self.prefix}daemon/{daemon or self.daemon}"

    def marker(self) -> str:
        """This daemon's sync marker topic."""
        return f"{self.prefix}sync/{self.daemon}"

    def parse(self, topic: str, payload: bytes) -> Message:
        """Decode one received message; WireError for anything not the link's."""
        if not topic.startswith(self.prefix):
            raise WireError(f"{topic}: not under {self.prefix}")
        if len(payload) > MAX_PAYLOAD:
            raise WireError(f"{topic}: payload of {len(payload)} bytes is too large")
        rest = topic[len(self.prefix):]
        kind, _, tail = rest.partition("/")
        if not tail:
            raise WireError(f"{topic}: unknown topic")
        if kind == "mix":
            return _write(tail, _json(topic, payload))
        if kind == "touch":
            daemon, _, path = tail.partition("/")
            if not NAME_RE.match(daemon) or not path:
                raise WireError(f"{topic}: expected touch/<daemon>/<path>")
            if not payload:
                return Claim(daemon, path, None)
            data = _json(topic, payload)
            return Claim(daemon, path, _stamp(data.get("t"), topic), _text(data, "s", topic))
        if kind == "daemon" and NAME_RE.match(tail):
            if not payload:
                return Presence(tail, False)
            state = _json(topic, payload).get("state")
            if state not in ("online", "offline"):
                raise WireError(f"{topic}: state must be online or offline, got {state!r}")
            return Presence(tail, state == "online")
        if kind == "sync" and NAME_RE.match(tail):
            try:
                return Marker(tail, payload.decode("ascii"))
            except UnicodeDecodeError:
                raise WireError(f"{topic}: marker is not ASCII") from None
        raise WireError(f"{topic}: unknown topic")


def encode_write(w: Write) -> bytes:
    """A write's payload."""
    data: dict[str, Any] = {"t": list(w.stamp), "b": list(w.base) if w.base else None}
    if isinstance(w.value, str):
        data["x"] = w.value
    elif math.isfinite(w.value):
        data["n"] = w.value
    else:  # JSON has no infinities: -inf dB faders travel as text
        data["n"] = "-inf" if w.value < 0 else "inf"
    if w.source:
        data["s"] = w.source
    return json.dumps(data, separators=(",", ":")).encode()


def encode_claim(stamp: Stamp, source: str) -> bytes:
    """A hold's payload (release: publish an empty payload instead)."""
    return json.dumps({"t": list(stamp), "s": source}, separators=(",", ":")).encode()


def encode_presence(online: bool) -> bytes:
    """An online/offline payload."""
    return json.dumps({"state": "online" if online else "offline"}).encode()


def _json(topic: str, payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"{topic}: payload is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WireError(f"{topic}: payload must be a JSON object")
    return data


def _stamp(raw: object, topic: str) -> Stamp:
    if not isinstance(raw, list) or len(raw) != 3:
        raise WireError(f"{topic}: stamp must be [wall_ms, count, daemon]")
    wall, count, origin = raw
    for part in (wall, count):
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < 2**63:
            raise WireError(f"{topic}: stamp parts must be whole numbers >= 0")
    if not isinstance(origin, str) or not NAME_RE.match(origin):
        raise WireError(f"{topic}: stamp names no valid daemon")
    return Stamp(wall, count, origin)


def _text(data: dict[str, Any], key: str, topic: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > 200:
        raise WireError(f"{topic}: {key!r} must be short text")
    return value


def _write(path: str, data: dict[str, Any]) -> Write:
    topic = f"mix/{path}"
    stamp = _stamp(data.get("t"), topic)
    base = None if data.get("b") is None else _stamp(data.get("b"), topic)
    value: Value
    if "x" in data:
        if not isinstance(data["x"], str):
            raise WireError(f"{topic}: 'x' must be text")
        value = data["x"]
    elif "n" in data:
        n = data["n"]
        if n in ("-inf", "inf"):
            value = float(n)
        elif isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n):
            raise WireError(f"{topic}: 'n' must be a number")
        else:
            value = float(n)
    else:
        raise WireError(f"{topic}: no value ('n' or 'x')")
    return Write(path, value, stamp, base, _text(data, "s", topic))
