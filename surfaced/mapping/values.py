"""How a control's raw number becomes a parameter value, and back for feedback.

The path in is: raw value -> control position 0..1 (input range, invert,
curve) -> parameter value (the parameter's own taper over an optional
sub-range, or an explicit taper). Feedback walks the same path backwards, so a
fader sent back the value it just produced lands where the hand left it.

Also here: the button behaviours, the four relative encoder encodings with
acceleration, and the soft takeover rule; all pure functions and small specs
so they can be tested number by number.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from surfaced.mix import tapers
from surfaced.mix.params import ParamSpec

ENCODINGS = ("twos-complement", "sign-magnitude", "sign-magnitude-cw", "offset-64", "inc-dec",
             "delta")
BUTTONS = ("momentary", "toggle", "hold", "set")
TAPERS = ("param", "fader", "linear", "log", "bool", "int")


def clamp01(x: float) -> float:
    """`x` limited to 0..1 (NaN counts as 0)."""
    if x != x:  # NaN
        return 0.0
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


@dataclass(frozen=True)
class Curve:
    """A response curve on positions: a power (`power`) or a piecewise line through `points`."""

    power: float = 1.0
    points: tuple[tuple[float, float], ...] = ()

    def apply(self, x: float) -> float:
        """Control position -> shaped position."""
        if self.points:
            return _piecewise(self.points, x)
        return x if self.power == 1.0 else clamp01(x) ** self.power

    def invert(self, y: float) -> float:
        """Shaped position -> control position (for feedback)."""
        if self.points:
            return _piecewise(tuple((b, a) for a, b in self.points), y)
        return y if self.power == 1.0 else clamp01(y) ** (1.0 / self.power)


def _piecewise(points: tuple[tuple[float, float], ...], x: float) -> float:
    xs = [p[0] for p in points]
    x = clamp01(x)
    i = bisect.bisect_right(xs, x)
    if i <= 0:
        return points[0][1]
    if i >= len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class ValueScale:
    """Position <-> value conversion for one control (see the module docstring)."""

    invert: bool = False
    curve: Curve = Curve()
    taper: str = "param"
    range: tuple[float, float] | None = None  # in the parameter's unit

    def _bounds(self, spec: ParamSpec) -> tuple[float, float]:
        if self.range is None:
            return spec.minimum, spec.maximum
        lo, hi = self.range
        return max(lo, spec.minimum), min(hi, spec.maximum)

    def to_value(self, spec: ParamSpec, position: float) -> float:
        """A control position (0..1) as this parameter's value."""
        p = self.curve.apply(clamp01(1.0 - position if self.invert else position))
        lo, hi = self._bounds(spec)
        if self.taper != "param":
            if lo == -math.inf and self.taper != "fader":
                # A straight or log line has no start at -inf (it would give
                # NaN): such a taper runs from the fader law's lowest finite
                # step, and only the very bottom is -inf, as on a fader.
                if p <= 0.0:
                    return spec.minimum
                lo = tapers.FADER_LAW[1][1]
            v = tapers.position_to_value(self.taper, p, lo, hi)
        elif self.range is None:
            v = spec.from_position(p)
        else:
            plo, phi = spec.to_position(lo), spec.to_position(hi)
            v = spec.from_position(plo + (phi - plo) * p)
        if math.isinf(v) and v < 0 and spec.minimum != -math.inf:
            v = spec.minimum
        return min(max(v, spec.minimum), spec.maximum)

    def to_position(self, spec: ParamSpec, value: float) -> float:
        """A parameter value as this control's position (0..1), for feedback."""
        lo, hi = self._bounds(spec)
        if self.taper != "param":
            p = tapers.value_to_position(self.taper, value, lo, hi)
        elif self.range is None:
            p = spec.to_position(value)
        else:
            plo, phi = spec.to_position(lo), spec.to_position(hi)
            p = 0.0 if phi == plo else (spec.to_position(value) - plo) / (phi - plo)
        p = self.curve.invert(clamp01(p))
        return clamp01(1.0 - p if self.invert else p)


def raw_to_position(raw: float, lo: float, hi: float) -> float:
    """A raw input number within lo..hi as a 0..1 position."""
    return 0.0 if hi == lo else clamp01((raw - lo) / (hi - lo))


# ------------------------------------------------------------------ buttons
@dataclass(frozen=True)
class ButtonSpec:
    """A button's behaviour.

    momentary: on while held; toggle: each press flips; hold: a tap flips, a
    press held longer than `hold_time` returns on release (latching and
    momentary on one button); set: each press sets `values[1]`.
    """

    kind: str = "toggle"
    values: tuple[float, float] | None = None  # (off, on) in the parameter's unit
    hold_time: float = 0.4

    def on_off(self, spec: ParamSpec) -> tuple[float, float]:
        """The (off, on) values for this parameter."""
        if self.values is not None:
            return self.values
        return spec.minimum if spec.minimum != -math.inf else spec.default, spec.maximum


# ----------------------------------------------------------------- encoders
@dataclass(frozen=True)
class EncoderSpec:
    """A relative control: how its messages encode steps and how far a step moves.

    `step` is in position units (0..1 of the control's travel) per tick;
    `acceleration` >= 1 raises the tick count to that power, so a fast turn
    (more ticks per message, or messages closer than `fast` seconds) moves
    further; `fine` names a modifier that multiplies the step by `fine_factor`.
    """

    encoding: str = "twos-complement"
    step: float = 0.01
    acceleration: float = 1.0
    fine: str | None = None
    fine_factor: float = 0.1
    fast: float = 0.03
    wrap: bool = False


def decode_ticks(encoding: str, raw: int) -> int:
    """Signed ticks from one relative message's 7-bit value (0 = no movement).

    - two's complement: 1..63 up, 127..64 down (127 = -1);
    - sign-magnitude (Mackie V-Pot): bit 6 set = down, bits 0-5 = ticks;
    - sign-magnitude-cw (HUI V-Pot): bit 6 set = up, bits 0-5 = ticks;
    - offset-64 (binary offset): 65 = +1, 63 = -1.
    """
    raw &= 0x7F
    if encoding == "twos-complement":
        return raw - 128 if raw & 0x40 else raw
    if encoding == "sign-magnitude":
        return -(raw & 0x3F) if raw & 0x40 else raw & 0x3F
    if encoding == "sign-magnitude-cw":
        return raw & 0x3F if raw & 0x40 else -(raw & 0x3F)
    if encoding == "offset-64":
        return raw - 64
    raise ValueError(f"no 7-bit decoding for encoding {encoding!r}")


def accelerated(spec: EncoderSpec, ticks: float, dt: float | None, fine: bool) -> float:
    """The position change for `ticks` arriving `dt` seconds after the previous message."""
    if ticks == 0:
        return 0.0
    magnitude = abs(ticks)
    if spec.acceleration > 1.0:
        if dt is not None and 0.0 <= dt < spec.fast:
            # A turn that only ever reports single ticks shows its speed in timing.
            magnitude *= min(4.0, spec.fast / max(dt, spec.fast / 4.0))
        magnitude = magnitude ** spec.acceleration
    delta = math.copysign(magnitude * spec.step, ticks)
    return delta * spec.fine_factor if fine else delta


def apply_delta(position: float, delta: float, wrap: bool) -> float:
    """A relative move applied to a position: clamped, or wrapped around (endless)."""
    p = position + delta
    return p % 1.0 if wrap else clamp01(p)


# ---------------------------------------------------------------- takeover
def picks_up(threshold: float, control: float, previous: float | None, target: float) -> bool:
    """Soft takeover: has the control reached the parameter's position?

    True when the control is within `threshold` of it, or has just crossed it
    (it lies between the previous and the current control position).
    """
    if abs(control - target) <= threshold:
        return True
    if previous is None:
        return False
    return min(previous, control) <= target <= max(previous, control)
