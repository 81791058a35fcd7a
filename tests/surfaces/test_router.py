"""Decoding Events into keyed inputs: the stateful 14-bit and NRPN cases, OSC arguments."""

from __future__ import annotations

import pytest

from surfaced.events import Event
from surfaced.mapping.model import InputSpec
from surfaced.surfaces.router import InputValueError, Router, Step, osc_value


def cc(n: int, v: int, ch: int = 0) -> Event:
    return Event("cc", channel=ch, number=n, value=v)


def test_plain_events() -> None:
    r = Router([])
    assert r.decode(Event("note_on", channel=1, number=60, value=0), 0) == [(("note", 1, 60), 0)]
    assert r.decode(Event("note_off", channel=1, number=60, value=64), 0) == [(("note", 1, 60), 0)]
    assert r.decode(Event("pitchbend", channel=8, value=9), 0) == [(("pitchbend", 8), 9)]
    assert r.decode(Event("channel_pressure", channel=0, value=3), 0) == [(("pressure", 0), 3)]
    assert r.decode(Event("clock"), 0) == []


def test_cc14_waits_for_lsb_and_flushes_a_lonely_msb() -> None:
    r = Router([InputSpec("cc14", channel=0, number=7, lsb=39)])
    assert r.decode(cc(7, 100), 0.0) == [] and r.consumed
    assert r.decode(cc(39, 5), 0.001) == [(("cc14", 0, 7), 100 << 7 | 5)]
    assert r.decode(cc(8, 5), 0.001) == [(("cc", 0, 8), 5)] and not r.consumed
    r.decode(cc(7, 101), 0.1)
    assert r.flush(0.105) == []
    assert r.flush(0.2) == [(("cc14", 0, 7), 101 << 7)]
    assert r.decode(cc(39, 9), 0.3)[0] == (("cc14", 0, 7), 101 << 7 | 9)  # LSB alone refines


def test_nrpn_and_rpn() -> None:
    r = Router([InputSpec("nrpn", channel=3, number=300), InputSpec("rpn", channel=3, number=0)])
    assert r.decode(cc(99, 2, 3), 0) == [] and r.decode(cc(98, 44, 3), 0) == []
    assert r.decode(cc(6, 64, 3), 0) == []
    assert r.decode(cc(38, 1, 3), 0) == [(("nrpn", 3, 300), 64 << 7 | 1)]
    assert r.decode(cc(96, 0, 3), 0) == [(("nrpn", 3, 300), Step(1))]
    assert r.decode(cc(97, 0, 3), 0) == [(("nrpn", 3, 300), Step(-1))]
    r.decode(cc(101, 0, 3), 0), r.decode(cc(100, 0, 3), 0)
    r.decode(cc(6, 2, 3), 1.0)
    assert r.flush(1.1) == [(("rpn", 3, 0), 2 << 7)]
    r.decode(cc(101, 127, 3), 2), r.decode(cc(100, 127, 3), 2)  # RPN null: deselect
    assert r.decode(cc(38, 1, 3), 2) == []
    assert r.decode(cc(6, 1, 0), 2) == [(("cc", 0, 6), 1)]  # other channels untouched


def test_osc_values() -> None:
    spec = InputSpec("osc", address="/a", types="f", raw_hi=1.0)
    assert osc_value(spec, (0.25,)) == 0.25
    assert osc_value(InputSpec("osc", address="/a", types="d"), (0.5,)) == 0.5
    assert osc_value(InputSpec("osc", address="/a"), (True,)) == 1.0
    assert osc_value(InputSpec("osc", address="/a", arg=1), (1, "x")) == "x"
    for args in [(1, 2), ("x",), ()]:
        with pytest.raises(InputValueError):
            osc_value(spec, args)  # type: ignore[arg-type]
    with pytest.raises(InputValueError, match="finite"):
        osc_value(InputSpec("osc", address="/a"), (float("nan"),))
