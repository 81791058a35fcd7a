"""Where the mix goes in and out: the session's `connections:` (JACK) and `outputs:`
(a PortAudio device's channel map).

::

    connections:                  # JACK ports each of surfaced's ports connects to
      ch/1: system:capture_1      # a mono channel: a name or pattern, or a list
      ch/2: {L: system:capture_3, R: system:capture_4}   # a stereo channel: per side
      master: {L: system:playback_1, R: system:playback_2}
      bus/1: {L: "re:^wedges:in_[13]$", R: [wedges:in_2, wedges:in_4]}
      reference: {L: player:out_l, R: player:out_r}
    outputs:                      # a PortAudio device: its output channels (1-based)
      master: [1, 2]
      bus/1: [3, 4]

Patterns are globs over the whole port name (`system:capture_*`) or regular
expressions after `re:` (surfaced.jackclient.matches). A channel key names a
channel fed from device inputs (the others have no JACK port). A key left out
takes its default (surfaced.mix.jack_connections); an empty list connects
nothing. Internally every side is its own key: `ch/2/L`, `master/R`.
"""

from __future__ import annotations

import re
from typing import Any

from surfaced.transports.port_patterns import PortPatternError, port_matcher
from surfaced.yamlmarks import line_of

SIDES = ("L", "R")


class RoutingError(ValueError):
    """A connections: or outputs: entry that cannot be used (file:line: key: why)."""


def _fail(path: str, container: Any, key: Any, where: str, msg: str) -> RoutingError:
    return RoutingError(f"{path}:{line_of(container, key)}: {where}: {msg}")


def strip_stereo(session: Any, strip: str) -> bool | None:
    """Whether `strip`'s ports are a pair (True), one port (False), or it has none (None)."""
    if strip in ("master",) or re.fullmatch(r"bus/\d+", strip):
        n = int(strip.split("/")[1]) if strip != "master" else 0
        return True if strip == "master" or 1 <= n <= session.buses else None
    if strip == "reference":
        ref = session.reference
        return None if ref is None or ref.kind != "input" else ref.stereo
    m = re.fullmatch(r"ch/(\d+)", strip)
    if m and 1 <= int(m.group(1)) <= len(session.channels):
        src = session.channels[int(m.group(1)) - 1].source
        return None if src.kind != "input" else src.stereo
    return None


def _patterns(path: str, parent: Any, key: Any, value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise _fail(path, parent, key, where,
                        f"expected port names or patterns (text), got {item!r} at item {i + 1}")
        try:
            port_matcher(item)
        except PortPatternError as exc:
            raise _fail(path, parent, key, where, str(exc)) from None
        out.append(item)
    return out


def parse_connections(path: str, data: dict[Any, Any], session: Any) -> dict[str, list[str]]:
    """The top level's `connections:` as port key -> patterns (session sized already)."""
    raw = data.get("connections")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, data, "connections", "connections",
                    "expected a mapping of ch/N, bus/N, master or reference to ports")
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        strip = str(key)
        where = f"connections.{strip}"
        stereo = strip_stereo(session, strip)
        if stereo is None:
            raise _fail(path, raw, key, where,
                        "no such JACK port: expected master, bus/N (1..buses), reference (fed "
                        "from inputs) or ch/N of a channel fed from device inputs")
        if not stereo:
            if isinstance(value, dict):
                raise _fail(path, raw, key, where,
                            "a mono channel has one port: give its ports as a list, not L/R")
            out[strip] = _patterns(path, raw, key, value, where)
            continue
        if not isinstance(value, dict) or any(str(k) not in SIDES for k in value):
            raise _fail(path, raw, key, where,
                        "a stereo strip has two ports: expected {L: ports, R: ports}")
        for side_key, side_value in value.items():
            side = str(side_key)
            out[f"{strip}/{side}"] = _patterns(path, value, side_key, side_value,
                                               f"{where}.{side}")
    return out


def parse_outputs(path: str, data: dict[Any, Any], buses: int) -> dict[str, tuple[int, int]]:
    """The top level's `outputs:`: master / bus/N -> (left, right) device channels, 0-based."""
    raw = data.get("outputs")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, data, "outputs", "outputs",
                    "expected a mapping of master or bus/N to [left, right] device outputs")
    out: dict[str, tuple[int, int]] = {}
    used: dict[int, str] = {}
    for key, value in raw.items():
        strip = str(key)
        where = f"outputs.{strip}"
        m = re.fullmatch(r"bus/(\d+)", strip)
        if strip != "master" and not (m and 1 <= int(m.group(1)) <= buses):
            raise _fail(path, raw, key, where,
                        f"expected master or bus/N (1..{buses})")
        if not isinstance(value, list) or len(value) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 256 for v in value):
            raise _fail(path, raw, key, where,
                        "expected [left, right]: two device output numbers 1..256")
        for v in value:
            if v in used:
                raise _fail(path, raw, key, where,
                            f"device output {v} already carries {used[v]}")
            used[v] = strip
        out[strip] = (value[0] - 1, value[1] - 1)
    return out


def connections_tree(session: Any) -> dict[str, Any]:
    """session.connections in the file's shape: a list per mono key, {L, R} per stereo one,
    in the order ch/N, reference, master, bus/N."""
    tree: dict[str, Any] = {}
    for key, pats in session.connections.items():
        strip, _, side = key.rpartition("/")
        if side in SIDES and strip_stereo(session, strip):
            tree.setdefault(strip, {})[side] = list(pats)
        else:
            tree[key] = list(pats)

    def order(strip: str) -> tuple[int, int]:
        kind, _, n = strip.partition("/")
        return ({"ch": 0, "reference": 1, "master": 2, "bus": 3}.get(kind, 4),
                int(n) if n.isdigit() else 0)

    return {k: tree[k] for k in sorted(tree, key=order)}
