"""Overflow at the sums: absurd (finite) sources at full gain never leave Inf/NaN on a
bus or the master, never poison a meter, show as clips, and the mix recovers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from surfaced._native import lib
from test_core_txn_raw import BUS, CH, MASTER, RATE, Raw

P = lib
FMAX = float(np.finfo(np.float32).max)
CEIL = float(lib.SF_OVER_CEILING)


def huge(kind: str, frames: int = 4800) -> np.ndarray:
    if kind == "3e38":
        return np.full(frames, 3e38, np.float32)
    if kind == "-flt_max":
        return np.full(frames, -FMAX, np.float32)
    x = np.full(frames, FMAX, np.float32)  # alternating signs
    x[1::2] = -FMAX
    return x


def master_meters_finite(m: Any, buses: int) -> None:
    vals = [*m.peak, *m.rms, *m.true_peak, *m.true_peak_max, m.momentary_lufs,
            m.short_term_lufs, m.integrated_lufs, *list(m.bus_peak)[:buses],
            *list(m.bus_rms)[:buses]]
    assert np.all(np.isfinite(np.array(vals, dtype=np.float64))), vals


@pytest.mark.parametrize("kind", ["3e38", "-flt_max", "alternating"])
@pytest.mark.parametrize("lanes", [False, True])
def test_overflowing_sources_stay_finite_show_as_clips_and_recover(kind: str, lanes: bool) -> None:
    buses = 2
    e = Raw(4, buses)
    sources = [huge(kind), np.full(4800, 3e38, np.float32), -huge(kind),
               np.zeros(4800, np.float32)]
    for c, x in enumerate(sources):
        e.source(c, x)
        e.set(CH, c, P.SF_P_FADER, 10.0)
        e.set(CH, c, P.SF_P_PAN, [-1.0, 0.0, 1.0, 0.0][c])
        for b in range(buses):
            e.set(CH, c, P.SF_P_SEND, 10.0, sub=b)
        if lanes and c == 1:  # one of them through the SIMD lanes (a compressor)
            e.set(CH, c, P.SF_P_COMP_ON, 1.0)
    for b in range(buses):
        e.set(BUS, b, P.SF_P_FADER, 10.0)
    e.set(MASTER, 0, P.SF_P_FADER, 10.0)
    e.settle()
    y = e.process(RATE // 2, block=256)
    assert np.all(np.isfinite(y))
    _pk, _rms, m = e.meters()
    master_meters_finite(m, buses)
    assert m.overflow_count > 0 and m.clip_count > 0
    assert min(m.peak) > 1.0 and max(list(m.bus_peak)[:buses]) > 1.0  # shows as over 0 dBFS
    assert max(m.true_peak_max) > 1.0
    # every master sample is within the ceiling times the gains after the sum
    assert np.abs(y).max() <= CEIL * 10 ** (10 / 20) * 1.0001
    # back to a normal signal: meters recover (the true-peak max may hold the clamp)
    for c in range(4):
        e.source(c, np.full(4800, 0.01, np.float32))
    over = m.overflow_count
    y = e.process(RATE * 12, block=512)
    _pk, _rms, m = e.meters()
    master_meters_finite(m, buses)
    assert m.overflow_count == over
    assert np.all(np.isfinite(y)) and np.abs(y[-RATE:]).max() < 10
    assert max(m.peak) < 10 and max(m.rms) < 10 and m.momentary_lufs < 40
    assert max(list(m.bus_peak)[:buses]) < 10
    assert lib.sf_push_reset_meters(e.e) == lib.SF_OK
    e.process(RATE * 2)
    _pk, _rms, m = e.meters()
    master_meters_finite(m, buses)
    assert max(m.true_peak_max) < 10 and m.integrated_lufs < 40


def test_normal_signals_are_never_touched() -> None:
    e = Raw(2, 1)
    x = (np.random.default_rng(2).standard_normal(9600) * 30).astype(np.float32)  # +30 dBFS
    e.source(0, x)
    e.source(1, x[::-1].copy())
    e.set(CH, 0, P.SF_P_SEND, 0.0, sub=0)
    e.settle()
    y = e.process(RATE)
    _pk, _rms, m = e.meters()
    assert m.overflow_count == 0 and m.clip_count > 0  # loud, clipping, but no overflow
    assert np.abs(y).max() > 30


def test_opposite_infinities_at_the_sum_count_as_clips() -> None:
    """+Inf + -Inf is NaN where the sum rounds each product (the portable kernel) and
    +Inf where it fuses them (FMA kernels): either way a sanitised, counted clip."""
    e = Raw(2)
    e.source(0, np.full(480, FMAX, np.float32))
    e.source(1, np.full(480, -FMAX, np.float32))
    for c in range(2):
        e.set(CH, c, P.SF_P_FADER, 10.0)
    e.settle()
    y = e.process(480)
    assert np.all(y == 0.0) or np.all(np.abs(y) == np.float32(CEIL))  # NaN has no magnitude
    _pk, _rms, m = e.meters()
    assert m.overflow_count == 960 and m.clip_count >= 960
    assert min(m.peak) >= CEIL  # the meters show the overflow
