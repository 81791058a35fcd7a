"""Crossfade ramps (sf_param_change.ramp_ms) on faders, pans and sends: the documented
law, on time, monotonic, and the same output whatever the block size."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from surfaced._native import lib
from test_core_txn_raw import BUS, CH, MASTER, RATE, Raw, db, render

P = lib
GRID = lib.SF_RAMP_GRID


def one_dc(level: float = 0.5, lanes: bool = False, **params: float) -> Raw:
    """One mono DC channel panned hard left (left output = level x fader gain)."""
    e = Raw(1, 1)
    e.source(0, np.full(4800, level, np.float32))
    e.set(CH, 0, P.SF_P_PAN, -1.0)
    if lanes:  # a flat EQ puts the channel on the SIMD lane path
        e.set(CH, 0, P.SF_P_EQ_ON, 1.0)
    for name, v in params.items():
        e.set(CH, 0, getattr(P, name), v)
    e.settle()
    return e


def law_db(a: float, b: float, x: np.ndarray) -> np.ndarray:
    a, b = max(a, lib.SF_RAMP_FLOOR_DB), max(b, lib.SF_RAMP_FLOOR_DB)
    return np.asarray(a + (b - a) * np.clip(x, 0, 1), dtype=np.float64)


@pytest.mark.parametrize("lanes", [False, True])
def test_fader_ramp_follows_the_db_law_and_lands_on_time(lanes: bool) -> None:
    e = one_dc(lanes=lanes)
    ramp = 4800  # 100 ms
    assert e.push([(CH, 0, P.SF_P_FADER, 0, -30.0, 100.0)]) == lib.SF_OK
    y = e.process(3 * ramp, block=256)[:, 0].astype(np.float64)
    g = db(y / 0.5)
    k = np.arange(len(y))
    # equal dB steps: on the grid exactly, between grid points within a hair
    on_grid = k[(k + 1) % GRID == 0][: ramp // GRID]
    want = law_db(0.0, -30.0, (on_grid + 1) / ramp)
    assert np.max(np.abs(g[on_grid] - want)) < 0.002
    assert np.max(np.abs(g[:ramp] - law_db(0.0, -30.0, (k[:ramp] + 1) / ramp))) < 0.02
    assert g[ramp // 2] == pytest.approx(-15.0, abs=0.02)  # midpoint: half the dB
    assert np.all(np.diff(y) <= 1e-7)  # monotonic
    assert y[ramp - GRID - 1] > 0.5 * 10 ** (-30 / 20) * 1.01  # not there early
    end = ramp + GRID  # on target within one grid step ...
    assert np.all(y[end:] == y[-1]) and y[-1] == pytest.approx(0.5 * 10 ** (-1.5), rel=2e-6)


def test_fade_in_from_minus_inf_is_audible_for_most_of_its_time() -> None:
    e = one_dc(SF_P_FADER=float("-inf"))
    assert e.process(64)[-1, 0] == 0.0
    assert e.push([(CH, 0, P.SF_P_FADER, 0, 0.0, 1000.0)]) == lib.SF_OK
    y = e.process(2 * RATE, block=512)[:, 0]
    g = db(y / 0.5)
    assert g[RATE // 2] == pytest.approx(-40.0, abs=0.05)  # floor -80 dB: half way is -40
    assert g[3 * RATE // 4] == pytest.approx(-20.0, abs=0.05)
    assert g[RATE // 4] == pytest.approx(-60.0, abs=0.05)
    assert np.all(np.diff(y.astype(np.float64)) >= -1e-9)
    assert y[RATE + GRID] == np.float32(0.5) and np.all(y[RATE + GRID:] == np.float32(0.5))


def test_fade_out_to_minus_inf_ends_in_silence() -> None:
    e = one_dc()
    assert e.push([(CH, 0, P.SF_P_FADER, 0, float("-inf"), 500.0)]) == lib.SF_OK
    y = e.process(RATE, block=64)[:, 0]
    n = RATE // 2
    assert db(y[n // 2] / 0.5) == pytest.approx(-40.0, abs=0.05)
    assert db(y[n - 2 * GRID] / 0.5) > -81.0 and y[n - 2 * GRID] > 0
    assert np.all(y[n + GRID:] == 0.0)


def test_pan_ramp_is_linear_in_position_and_constant_power() -> None:
    e = Raw(1)
    e.source(0, np.full(4800, 0.5, np.float32))
    e.set(CH, 0, P.SF_P_PAN, -1.0)
    e.settle()
    ramp = 9600
    assert e.push([(CH, 0, P.SF_P_PAN, 0, 1.0, 200.0)]) == lib.SF_OK
    y = e.process(2 * ramp, block=100).astype(np.float64) / 0.5
    k = np.arange(ramp)
    pos = -1 + 2 * (k + 1) / ramp
    th = (pos + 1) * np.pi / 4
    assert np.max(np.abs(y[:ramp, 0] - np.cos(th))) < 2e-4
    assert np.max(np.abs(y[:ramp, 1] - np.sin(th))) < 2e-4
    mid = ramp // 2 - 1
    assert y[mid, 0] == pytest.approx(np.sqrt(0.5), abs=1e-5)  # centre at the midpoint
    assert y[mid, 1] == pytest.approx(np.sqrt(0.5), abs=1e-5)
    assert np.max(np.abs(y[:ramp, 0] ** 2 + y[:ramp, 1] ** 2 - 1)) < 1e-3  # constant power
    assert np.all(np.diff(y[:, 0]) <= 1e-9) and np.all(np.diff(y[:, 1]) >= -1e-9)
    assert np.all(y[ramp + GRID:, 1] == 1.0) and np.all(y[ramp + GRID:, 0] < 1e-7)


def test_send_and_bus_and_master_ramps() -> None:
    e = Raw(1, 1)
    e.source(0, np.full(4800, 0.5, np.float32))
    e.set(CH, 0, P.SF_P_PAN, -1.0)
    e.set(CH, 0, P.SF_P_FADER, float("-inf"))
    e.set(CH, 0, P.SF_P_SEND, 0.0, sub=0)
    e.set(CH, 0, P.SF_P_SEND_PRE, 1.0, sub=0)
    e.settle()
    assert e.push([(CH, 0, P.SF_P_SEND, 0, -20.0, 100.0), (BUS, 0, P.SF_P_FADER, 0, -10.0, 50.0),
                   (MASTER, 0, P.SF_P_FADER, 0, -6.0, 200.0)]) == lib.SF_OK
    y = e.process(RATE // 2, block=128)[:, 0]
    k = np.arange(len(y))
    want = (law_db(0, -20, (k + 1) / 4800) + law_db(0, -10, (k + 1) / 2400)
            + law_db(0, -6, (k + 1) / 9600))
    # the bus ramp (50 ms) ends mid-grid-segment: it lands at the next grid point
    assert np.max(np.abs(db(y / 0.5)[:9600] - want[:9600])) < 0.08
    assert y[-1] == pytest.approx(0.5 * 10 ** (-36 / 20), rel=1e-5)
    assert np.all(np.diff(y.astype(np.float64)) <= 1e-9)


def test_a_second_change_mid_ramp_starts_from_where_the_ramp_is() -> None:
    e = one_dc()
    assert e.push([(CH, 0, P.SF_P_FADER, 0, -40.0, 200.0)]) == lib.SF_OK
    a = e.process(4800, block=64)[:, 0]  # half way: -20 dB
    assert db(a[-1] / 0.5) == pytest.approx(-20.0, abs=0.01)
    assert e.push([(CH, 0, P.SF_P_FADER, 0, 0.0, 100.0)]) == lib.SF_OK
    b = e.process(9600, block=64)[:, 0]
    y = np.concatenate([a, b]).astype(np.float64)
    assert np.max(np.abs(np.diff(db(y / 0.5)))) < 0.03  # no jump where it turned round
    k = np.arange(4800)
    assert np.max(np.abs(db(b[:4800] / 0.5) - law_db(-20.0, 0.0, (k + 1) / 4800))) < 0.02
    assert np.all(np.diff(b[:4800 + GRID]) >= 0)
    assert b[-1] == np.float32(0.5)
    # a plain change mid-ramp replaces the ramp and glides from where it is
    assert e.push([(CH, 0, P.SF_P_FADER, 0, -60.0, 1000.0)]) == lib.SF_OK
    c = e.process(24000, block=64)[:, 0]
    assert db(c[-1] / 0.5) == pytest.approx(-30.0, abs=0.05)
    e.set(CH, 0, P.SF_P_FADER, -6.0)
    d = e.process(RATE, block=64)[:, 0]
    # the usual ~10 ms glide from where the ramp was: first step a fraction of a dB
    assert abs(db(d[0] / 0.5) + 30.0) < 0.5
    assert np.max(np.abs(np.diff(d))) < 0.5 * (10 ** (-6 / 20) - 10 ** (-30 / 20)) / 400
    assert d[-1] == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-6) and np.all(d[-100:] == d[-1])


def test_mute_during_a_ramp_and_settle() -> None:
    e = one_dc()
    assert e.push([(CH, 0, P.SF_P_FADER, 0, -40.0, 1000.0)]) == lib.SF_OK
    y0 = e.process(1000, block=100)[:, 0]
    e.set(CH, 0, P.SF_P_MUTE, 1.0)
    y1 = e.process(1000, block=100)[:, 0]
    assert np.all(y1[GRID:] == 0.0) and np.all(np.isfinite(y1))
    assert np.max(np.abs(np.diff(np.concatenate([y0, y1])))) < 0.5 / 20  # a fade, no click
    e.set(CH, 0, P.SF_P_MUTE, 0.0)
    e.settle()  # ramps jump to their ends
    assert e.process(64)[0, 0] == pytest.approx(0.5 * 10 ** (-2), rel=1e-6)


def make_mix() -> Raw:
    rng = np.random.default_rng(5)
    e = Raw(4, 2)
    for c in range(4):
        e.source(c, rng.standard_normal(7001 + c).astype(np.float32) * 0.2)
    e.set(CH, 0, P.SF_P_EQ_ON, 1.0)
    e.set(CH, 0, P.SF_P_EQ_GAIN, 4.0, sub=1)
    e.set(CH, 1, P.SF_P_COMP_ON, 1.0)
    e.set(CH, 2, P.SF_P_SEND, -3.0, sub=0)
    e.set(CH, 3, P.SF_P_FADER, float("-inf"))
    e.settle()
    return e


def scene_b(e: Raw, ms: float) -> None:
    assert e.push([(CH, c, P.SF_P_FADER, 0, -12.0 + 4 * c, ms) for c in range(4)]
                  + [(CH, c, P.SF_P_PAN, 0, 0.8 - 0.5 * c, ms) for c in range(4)]
                  + [(CH, c, P.SF_P_SEND, b, -6.0 * b - c, ms) for c in range(4) for b in range(2)]
                  + [(BUS, 1, P.SF_P_FADER, 0, -4.0, ms), (MASTER, 0, P.SF_P_FADER, 0, -2.0, ms)],
                  txn=1) == lib.SF_OK


def scene_c(e: Raw) -> None:
    assert e.push([(CH, 0, P.SF_P_FADER, 0, 3.0, 40.0), (CH, 2, P.SF_P_PAN, 0, -1.0, 0.0),
                   (CH, 1, P.SF_P_MUTE, 0, 1.0, 0.0), (CH, 3, P.SF_P_SEND, 1, 0.0, 300.0)],
                  txn=2) == lib.SF_OK


def test_output_with_ramps_in_flight_does_not_depend_on_block_size() -> None:
    outs = []
    for block in (512, 64, 37, 1, 200):
        e = make_mix()
        events = {1000: partial(scene_b, e, 250.0), 7777: partial(scene_c, e)}
        outs.append(render(e, 24000, block, events))
    for o in outs[1:]:
        assert np.array_equal(outs[0], o)
    assert np.all(np.isfinite(outs[0])) and np.abs(outs[0]).max() > 0.01


def test_ramp_of_a_lane_channel_matches_the_plain_path() -> None:
    outs = []
    for lanes in (False, True):
        e = one_dc(lanes=lanes)
        scene = [(CH, 0, P.SF_P_FADER, 0, -25.0, 120.0), (CH, 0, P.SF_P_PAN, 0, 0.3, 80.0)]
        assert e.push(scene) == lib.SF_OK
        outs.append(e.process(12000, block=333))
    assert np.max(np.abs(outs[0] - outs[1])) < 1e-6
