"""Feedback encoding: LED rings, value text, meter levels, message bytes."""

from __future__ import annotations

import pytest

from surfaced.events import Event
from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Expr
from surfaced.mapping.model import OutSpec
from surfaced.mapping.render import build, format_text, meter_position, out_value, ring
from surfaced.mix.params import spec_for


@pytest.mark.parametrize(("mode", "centre", "position", "byte"), [
    ("dot", False, 0.5, 0x06),  # mode 0, LED 6 of 11: the centre
    ("boost-cut", False, 1.0, 0x1B),  # mode 1, position 11
    ("wrap", False, 0.0, 0x21),  # mode 2, position 1
    ("spread", False, 1.0, 0x36),  # mode 3 has 6 steps
    ("boost-cut", True, 0.5, 0x56),  # centre LED = bit 6
])
def test_mackie_ring_values(mode: str, centre: bool, position: float, byte: int) -> None:
    lo, hi, value = ring(mode, centre)
    out = OutSpec("cc", number=0x30, lo=lo, hi=hi, value=value)
    assert out_value(out, position, {}) == byte
    assert out_value(out, None, {}) == 0  # unbound strip: ring off


def test_text_formats() -> None:
    fader, pan = spec_for("ch/1/fader", 8, 2), spec_for("ch/1/pan", 8, 2)
    mute, freq = spec_for("ch/1/mute", 8, 2), spec_for("ch/1/hpf/freq", 8, 2)
    assert format_text("{value}", fader, -6.0, {}) == "-6.0dB"
    assert format_text("{number}", fader, float("-inf"), {}) == "-inf"
    assert format_text("{value}", pan, -0.3, {}) == "L30"
    assert format_text("{value}", pan, 0.0, {}) == "C"
    assert format_text("{value}", mute, 1.0, {}) == "on"
    assert format_text("{value}", freq, 1200.0, {}) == "1.2kHz"
    assert format_text("{number:.2f}", fader, -6.0, {}) == "-6.00"
    assert format_text("Ch {ch}", fader, 0.0, {"ch": 12}) == "Ch 12"


def test_meter_scale() -> None:
    assert meter_position(1.0, -60, 0) == 1.0
    assert meter_position(0.001, -60, 0) == pytest.approx(0.0)  # -60 dBFS
    assert meter_position(0.0, -60, 0) == 0.0
    assert meter_position(float("nan"), -60, 0) == 0.0


def test_message_bytes() -> None:
    def one(out: OutSpec, raw: int) -> list[str]:
        return [e.to_bytes().hex(" ") for e in build(out, raw, position=None, value=None,
                                                      text="", env={})]

    assert one(OutSpec("note", channel=1, number=0x10), 127) == ["91 10 7f"]
    assert one(OutSpec("pitchbend", channel=8), 16383) == ["e8 7f 7f"]
    assert one(OutSpec("cc14", number=7, lsb=39), 300) == ["b0 07 02", "b0 27 2c"]
    assert one(OutSpec("nrpn", number=300), 5) == ["b0 63 02", "b0 62 2c", "b0 06 00",
                                                   "b0 26 05"]
    assert one(OutSpec("pressure"), 0x1B) == ["d0 1b"]
    with pytest.raises(ExprError, match="does not fit"):
        one(OutSpec("cc", number=1), 128)
    meter = OutSpec("pressure", lo=0, hi=12, value=Expr.parse("strip * 16 + value"))
    assert out_value(meter, 1.0, {"strip": 3}) == 0x3C
    osc = OutSpec("osc", address="/x", args=("position", "value", "raw", "text", 7))
    assert build(osc, 64, position=0.5, value=-6.0, text="hi", env={}) == [
        Event("osc", address="/x", args=(0.5, -6.0, 64, "hi", 7))]
