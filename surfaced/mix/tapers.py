"""Tapers: how a surface's normalised position (0..1) maps to a value and back.

- ``fader``: the dB law of a console fader: 0 dB at 75% travel, +10 dB at the
  top, -inf at the bottom, piecewise linear in dB between breakpoints so that
  the working range (-30..+10 dB) gets most of the travel.
- ``linear``: straight line between the range's ends (pan, trim, EQ gain).
- ``log``: equal travel per ratio (frequencies, times, ratios).
- ``bool``: off below half travel, on above.
- ``int``: linear, rounded to a whole number.
"""

from __future__ import annotations

import itertools
import math

# (position, dB) breakpoints of the fader law, bottom to top.
FADER_LAW: tuple[tuple[float, float], ...] = (
    (0.0, float("-inf")),
    (0.0625, -60.0),
    (0.25, -30.0),
    (0.5, -10.0),
    (0.75, 0.0),
    (1.0, 10.0),
)


def _clamp01(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def fader_db(position: float) -> float:
    """Position 0..1 to dB along the fader law (-inf at 0)."""
    p = _clamp01(position)
    if p <= 0.0:
        return float("-inf")
    for (p0, d0), (p1, d1) in itertools.pairwise(FADER_LAW[1:]):
        if p <= p1:
            return d0 + (d1 - d0) * (p - p0) / (p1 - p0) if p >= p0 else _bottom(p)
    return FADER_LAW[-1][1]


def _bottom(p: float) -> float:
    # Between 0 and the first finite breakpoint the law falls steeply to
    # -inf; a 1/p shape keeps it monotonic and invertible.
    p0, d0 = FADER_LAW[1]
    return d0 + 20.0 * math.log10(p / p0) * 3.0


def fader_position(db: float) -> float:
    """dB to position 0..1 along the fader law (inverse of fader_db)."""
    if db == float("-inf") or math.isnan(db):
        return 0.0
    p_first, d_first = FADER_LAW[1]
    if db < d_first:
        p = p_first * 10.0 ** ((db - d_first) / 60.0)
        return _clamp01(p)
    for (p0, d0), (p1, d1) in itertools.pairwise(FADER_LAW[1:]):
        if db <= d1:
            return p0 + (p1 - p0) * (db - d0) / (d1 - d0)
    return 1.0


def position_to_value(taper: str, position: float, lo: float, hi: float) -> float:
    """A normalised position as a value of a parameter with range lo..hi."""
    p = _clamp01(position)
    if taper == "fader":
        return min(fader_db(p), hi)
    if taper == "bool":
        return 1.0 if p >= 0.5 else 0.0
    if taper == "log" and lo > 0.0:
        return float(lo * (hi / lo) ** p)
    v = lo + (hi - lo) * p
    return float(round(v)) if taper == "int" else v


def value_to_position(taper: str, value: float, lo: float, hi: float) -> float:
    """A value of a parameter with range lo..hi as a normalised position."""
    if taper == "fader":
        return fader_position(value)
    if taper == "bool":
        return 1.0 if value >= 0.5 else 0.0
    if taper == "log" and lo > 0.0 and value > 0.0:
        return _clamp01(math.log(value / lo) / math.log(hi / lo))
    if hi == lo:
        return 0.0
    return _clamp01((value - lo) / (hi - lo))
