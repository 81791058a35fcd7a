"""The X32 console's value laws: fader/send level and pan as 0..1 floats.

Source: Patrick-Gilles Maillot, "Unofficial X32/M32 OSC Remote Protocol"
(versions 1.01 .. 4.06, 2012-2022; hosted on the Behringer wiki as "OSC
Remote Protocol"), section on level values, which gives the X32's
four-segment, piecewise-linear dB law for faders and send levels::

    float f [0.0 .. 1.0] -> dB:           dB -> float f:
    f >= 0.5     dB = f * 40  - 30        -10 <= dB <= +10   f = (dB + 30) / 40
    f >= 0.25    dB = f * 80  - 50        -30 <= dB <  -10   f = (dB + 50) / 80
    f >= 0.0625  dB = f * 160 - 70        -60 <= dB <  -30   f = (dB + 70) / 160
    f >= 0       dB = f * 480 - 90        -90 <= dB <  -60   f = (dB + 90) / 480

with 0.0 meaning -inf (off). Its breakpoints are the ones the issue names:
1.0 = +10 dB, 0.75 = 0 dB, 0.5 = -10 dB, 0.25 = -30 dB, 0.0625 = -60 dB.

The console quantises a level to 1024 steps (so it answers 0.7498 after
being sent 0.75); surfaced's faders are continuous, so no quantisation is
applied here and 0.75 is exactly 0 dB both ways. Below -90 dB (which the
console cannot show, but surfaced's -inf..+10 dB faders can hold) a level
reads as 0.0.

Pan is linear: 0.0 = hard left, 0.5 = centre, 1.0 = hard right (the
console's -100..+100), which is surfaced's -1..+1.
"""

from __future__ import annotations

import math

NEG_INF = float("-inf")
LEVEL_MAX_DB = 10.0
LEVEL_MIN_DB = -90.0  # the bottom of the law's lowest segment (f = 0 is -inf)

# (lowest f of the segment, slope dB per unit f, dB at f = 0): top segment first.
_SEGMENTS: tuple[tuple[float, float, float], ...] = (
    (0.5, 40.0, -30.0),
    (0.25, 80.0, -50.0),
    (0.0625, 160.0, -70.0),
    (0.0, 480.0, -90.0),
)


def level_to_db(f: float) -> float:
    """An X32 level (0..1) as dB; 0 is -inf. ValueError outside 0..1 or NaN."""
    if not (isinstance(f, int | float) and math.isfinite(f) and 0.0 <= f <= 1.0):
        raise ValueError(f"X32 level {f!r} is not a number 0..1")
    if f == 0.0:
        return NEG_INF
    for low, slope, offset in _SEGMENTS:
        if f >= low:
            return f * slope + offset
    raise AssertionError("unreachable: the last segment starts at 0")  # pragma: no cover


def db_to_level(db: float) -> float:
    """dB as an X32 level 0..1 (the inverse of level_to_db); -inf, NaN and < -90 dB are 0."""
    if math.isnan(db) or db <= LEVEL_MIN_DB:
        return 0.0
    if db >= LEVEL_MAX_DB:
        return 1.0
    for low, slope, offset in _SEGMENTS:
        if db >= low * slope + offset:
            return (db - offset) / slope
    return 0.0  # pragma: no cover - the last segment's floor is LEVEL_MIN_DB


def pan_to_surfaced(f: float) -> float:
    """An X32 pan (0..1, 0.5 centre) as surfaced's -1..+1. ValueError outside 0..1 or NaN."""
    if not (isinstance(f, int | float) and math.isfinite(f) and 0.0 <= f <= 1.0):
        raise ValueError(f"X32 pan {f!r} is not a number 0..1")
    return 2.0 * f - 1.0


def pan_to_x32(pan: float) -> float:
    """surfaced's pan (-1..+1) as an X32 pan 0..1."""
    if math.isnan(pan):
        return 0.5
    return min(1.0, max(0.0, (pan + 1.0) / 2.0))
