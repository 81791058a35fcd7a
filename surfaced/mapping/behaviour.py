"""How a control behaves: value handling, buttons, encoders and soft takeover, read from a stanza.

These are the keys that shape values between the hardware and the
parameter: ``taper``, ``invert``, ``range``, ``curve`` (absolute controls),
``button``/``values``/``hold_time``, ``encoder`` and ``takeover``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from surfaced.mapping.model import TakeoverSpec
from surfaced.mapping.schema import Node
from surfaced.mapping.values import BUTTONS, ENCODINGS, TAPERS, ButtonSpec, Curve, EncoderSpec
from surfaced.mapping.values import ValueScale as _Scale
from surfaced.mix.params import ParamError, ParamSpec


def number(node: Node, key: str, item: Any, spec: ParamSpec | None) -> float:
    """A value in a parameter's unit: a number, ``-inf``, or ``off``.

    YAML 1.1 reads a bare ``off`` (and ``no``, ``false``) as false and ``on``
    as true. ``off`` means what a console means by it: -inf for a level that
    can be switched off (a fader, a send), 0 for an on/off parameter; on a
    parameter with no "off" (trim, pan, a frequency) it is an error, never a
    silent 0. ``on``/true is 1 for on/off parameters only.
    """
    if isinstance(item, bool) or (isinstance(item, str) and item.strip().lower() == "off"):
        if spec is not None and spec.is_bool:
            return 1.0 if item is True else 0.0
        if item is not True and (spec is None or spec.minimum == -math.inf):
            return -math.inf
        word = "on/true" if item is True else "off/false"
        raise node.error(key, f"{word} has no meaning for "
                              f"{spec.path if spec else 'this parameter'}"
                              f"{f' ({spec.range_text()})' if spec else ''}; write a number")
    if isinstance(item, str) and item.strip().lower() == "-inf":
        return -math.inf
    return node.check_float(key, item, -1e9, 1e9, "a value in the parameter's unit")


def read_scale(node: Node, spec: ParamSpec | None) -> _Scale:
    """range / curve / taper / invert."""
    rng = None
    if "range" in node:
        raw = node.raw("range")
        if not isinstance(raw, list) or len(raw) != 2:
            raise node.error("range", "expected [low, high] in the parameter's unit")
        lo, hi = number(node, "range", raw[0], spec), number(node, "range", raw[1], spec)
        if spec is not None and not (spec.minimum <= lo < hi <= spec.maximum):
            raise node.error("range", f"expected low < high within {spec.range_text()}")
        rng = (lo, hi)
    curve = Curve()
    if "curve" in node:
        raw = node.raw("curve")
        if isinstance(raw, list):
            pts = []
            for item in raw:
                if not isinstance(item, list) or len(item) != 2:
                    raise node.error("curve", "expected points like [[0, 0], [0.5, 0.2], [1, 1]]")
                pts.append((node.check_float("curve", item[0], 0, 1, "a position 0..1"),
                            node.check_float("curve", item[1], 0, 1, "a position 0..1")))
            if len(pts) < 2 or any(b[0] <= a[0] or b[1] <= a[1]
                                   for a, b in itertools.pairwise(pts)):
                raise node.error("curve", "points must rise in both x and y")
            curve = Curve(points=tuple(pts))
        else:
            curve = Curve(power=node.float_("curve", lo=0.1, hi=10.0, what="a power"))
    taper = node.choice("taper", TAPERS, "param")
    if taper == "log" and spec is not None and spec.minimum <= 0 and rng is None:
        raise node.error("taper", f"a log taper needs a positive range; {spec.path} is "
                                  f"{spec.range_text()}")
    return _Scale(invert=node.bool_("invert", False), curve=curve, taper=taper, range=rng)


def read_button(node: Node, mode: str, spec: ParamSpec | None) -> ButtonSpec | None:
    """button / values / hold_time (None unless the control is a button)."""
    for key in ("values", "hold_time"):
        if key in node and mode != "button":
            raise node.error(key, f"{key}: is for buttons; this control is {mode}")
    if mode != "button":
        return None
    kind = node.choice("button", BUTTONS, "toggle")
    values = None
    if "values" in node:
        raw = node.raw("values")
        if not isinstance(raw, list) or len(raw) != 2:
            raise node.error("values", "expected [off, on] in the parameter's unit")
        values = (number(node, "values", raw[0], spec), number(node, "values", raw[1], spec))
        if spec is not None:
            for v in values:
                try:
                    spec.validate(v)
                except ParamError as exc:
                    raise node.error("values", str(exc)) from None
    elif spec is not None and not spec.is_bool:
        raise node.error("button", f"{spec.path} is not on/off; give values: [off, on] "
                                   f"({spec.range_text()})")
    return ButtonSpec(kind, values, node.float_("hold_time", 0.4, lo=0.05, hi=10.0,
                                                what="seconds"))


def read_encoder(node: Node, mode: str, incdec: bool,
                 modifiers: tuple[str, ...]) -> EncoderSpec | None:
    """encoder: an encoding name or {encoding, step, acceleration, fine, ...}."""
    if mode != "relative":
        return None
    raw = node.raw("encoder", {} if incdec else None)
    if raw is None:
        raise node.error("encoder", "expected an encoding or {encoding: ..., step: ...}")
    if isinstance(raw, str):
        raw = {"encoding": raw}
        enc = Node(raw, node.file, node.key_path("encoder"), node.line_of("encoder"))
    else:
        enc = node.child("encoder") or Node({}, node.file, "encoder", node.line)
    enc.check_keys(("encoding", "step", "acceleration", "fine", "fine_factor", "wrap"),
                   "encoder")
    encoding = enc.choice("encoding", ENCODINGS, "inc-dec" if incdec else "twos-complement")
    if (encoding == "inc-dec") != incdec:
        raise enc.error("encoding", "inc-dec needs inc: and dec: messages (and they need "
                                    "encoding inc-dec)")
    fine = enc.raw("fine", None)
    if fine is not None and fine not in modifiers:
        raise enc.error("fine", f"expected a modifier declared under modifiers: "
                                f"({', '.join(modifiers) or 'none declared'})")
    return EncoderSpec(
        encoding=encoding, step=enc.float_("step", 0.01, lo=1e-6, hi=1.0, what="a position step"),
        acceleration=enc.float_("acceleration", 1.0, lo=1.0, hi=4.0, what="an exponent"),
        fine=fine, fine_factor=enc.float_("fine_factor", 0.1, lo=0.001, hi=1.0, what="a factor"),
        wrap=enc.bool_("wrap", False),
    )


def read_takeover(node: Node, mode: str, d: Node) -> TakeoverSpec:
    """takeover: jump, pickup or {mode, threshold}; defaults from the file's defaults:."""
    default_mode = d.choice("takeover", ("jump", "pickup"), "jump")
    default_threshold = d.float_("threshold", 0.03, lo=0.0, hi=1.0, what="a position distance")
    if "takeover" in node and mode != "absolute":
        raise node.error("takeover", f"soft takeover is for absolute controls; this is {mode}")
    raw = node.raw("takeover", default_mode)
    if isinstance(raw, dict):
        sub = node.child("takeover")
        assert sub is not None
        sub.check_keys(("mode", "threshold"), "takeover")
        return TakeoverSpec(sub.choice("mode", ("jump", "pickup"), "pickup"),
                            sub.float_("threshold", default_threshold, lo=0.0, hi=1.0))
    if raw not in ("jump", "pickup"):
        raise node.error("takeover", f"expected jump, pickup or {{mode:, threshold:}}, got {raw!r}")
    return TakeoverSpec(str(raw), default_threshold)
