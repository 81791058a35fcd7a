"""Value handling: tapers, ranges, invert, curves, relative encodings, takeover."""

from __future__ import annotations

import math

import pytest

from surfaced.mapping.values import (
    Curve,
    EncoderSpec,
    ValueScale,
    accelerated,
    apply_delta,
    decode_ticks,
    picks_up,
    raw_to_position,
)
from surfaced.mix.params import spec_for

FADER = spec_for("ch/1/fader", 8, 2)
PAN = spec_for("ch/1/pan", 8, 2)
FREQ = spec_for("ch/1/eq/1/freq", 8, 2)


def test_param_taper_by_default() -> None:
    s = ValueScale()
    assert s.to_value(FADER, 0.75) == pytest.approx(0.0)  # console fader law: 0 dB at 75 %
    assert s.to_value(FADER, 0.0) == -math.inf
    assert s.to_value(FREQ, 0.5) == pytest.approx(math.sqrt(20 * 20000))  # log frequency
    assert s.to_value(PAN, 0.25) == pytest.approx(-0.5)
    for p in (0.0, 0.1, 0.5, 0.75, 0.9, 1.0):
        assert s.to_position(FADER, s.to_value(FADER, p)) == pytest.approx(p)


def test_invert_range_and_explicit_taper() -> None:
    assert ValueScale(invert=True).to_value(PAN, 0.0) == 1.0
    sub = ValueScale(range=(-0.5, 0.5))
    assert sub.to_value(PAN, 0.0) == pytest.approx(-0.5) and sub.to_value(PAN, 1.0) == 0.5
    assert sub.to_position(PAN, 0.25) == pytest.approx(0.75)
    db = ValueScale(range=(-30.0, 0.0))  # a fader confined to -30..0 dB, still fader law
    assert db.to_value(FADER, 1.0) == pytest.approx(0.0)
    assert db.to_value(FADER, 0.0) == pytest.approx(-30.0)
    lin = ValueScale(taper="linear", range=(-60.0, 10.0))
    assert lin.to_value(FADER, 0.5) == pytest.approx(-25.0)


def test_curves() -> None:
    square = ValueScale(curve=Curve(power=2.0))
    assert square.to_value(PAN, 0.5) == pytest.approx(-0.5)  # 0.25 of travel
    assert square.to_position(PAN, -0.5) == pytest.approx(0.5)
    points = Curve(points=((0.0, 0.0), (0.5, 0.2), (1.0, 1.0)))
    assert points.apply(0.25) == pytest.approx(0.1) and points.invert(0.1) == pytest.approx(0.25)


def test_raw_positions() -> None:
    assert raw_to_position(64, 0, 127) == pytest.approx(64 / 127)
    assert raw_to_position(200, 0, 127) == 1.0 and raw_to_position(5, 10, 20) == 0.0


@pytest.mark.parametrize(("encoding", "raw", "ticks"), [
    ("twos-complement", 0x01, 1), ("twos-complement", 0x3F, 63), ("twos-complement", 0x7F, -1),
    ("twos-complement", 0x40, -64),
    ("sign-magnitude", 0x01, 1), ("sign-magnitude", 0x0F, 15), ("sign-magnitude", 0x41, -1),
    ("sign-magnitude", 0x7F, -63), ("sign-magnitude", 0x40, 0),
    ("offset-64", 0x41, 1), ("offset-64", 0x40, 0), ("offset-64", 0x3F, -1),
    ("offset-64", 0x00, -64),
])
def test_relative_decodings(encoding: str, raw: int, ticks: int) -> None:
    assert decode_ticks(encoding, raw) == ticks


def test_acceleration_and_fine() -> None:
    plain = EncoderSpec(step=0.01)
    assert accelerated(plain, 5, None, False) == pytest.approx(0.05)
    fast = EncoderSpec(step=0.01, acceleration=2.0)
    assert accelerated(fast, 5, None, False) == pytest.approx(0.25)  # 5 ticks -> 25 steps
    assert accelerated(fast, -1, 1.0, False) == pytest.approx(-0.01)  # slow: one step
    assert accelerated(fast, 1, 0.005, False) > 0.01  # messages close together: faster
    assert accelerated(plain, 1, None, True) == pytest.approx(0.001)  # fine: a tenth


def test_apply_delta_clamps_or_wraps() -> None:
    assert apply_delta(0.95, 0.1, False) == 1.0
    assert apply_delta(0.95, 0.1, True) == pytest.approx(0.05)


def test_soft_takeover_pick_up() -> None:
    assert picks_up(0.03, 0.74, None, 0.75)  # close enough
    assert not picks_up(0.03, 0.2, None, 0.75)
    assert picks_up(0.03, 0.9, 0.5, 0.75)  # swept across the value
    assert not picks_up(0.03, 0.6, 0.5, 0.75)
