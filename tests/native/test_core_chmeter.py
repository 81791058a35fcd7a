"""The core's per-channel loudness meter: off by default, measures a channel's source
(buffer or device input) as BS.1770 asks, the same whatever the block size, and the
same as the offline measurement of the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from surfaced._native import lib

from surfaced.assist.measure import integrated_loudness, measure
from surfaced.mix.engine import Engine

RATE = 48000


def _sine(db: float, seconds: float = 3.0, freq: float = 997.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _steps(r: object) -> np.ndarray:
    ring = len(r.kms)  # type: ignore[attr-defined]
    n = r.steps  # type: ignore[attr-defined]
    return np.array([r.kms[s % ring] for s in range(max(0, n - ring), n)])  # type: ignore


def test_off_by_default_and_on_only_when_asked() -> None:
    e = Engine(2, 0, RATE, 512)
    e.set_source_buffer(1, _sine(-18))
    e.process(4800)
    assert e.chmeter_read(1) is None
    e.chmeter(1, True)
    e.process(4800 * 5)
    r = e.chmeter_read(1)
    assert r is not None and r.steps == 5 and r.frames == 4800 * 5
    e.chmeter(1, False)
    e.process(512)
    assert e.chmeter_read(1) is None


def test_it_measures_the_source_before_trim_and_fader() -> None:
    e = Engine(1, 0, RATE, 512)
    e.set_source_buffer(1, _sine(-24))
    e.set("ch/1/trim", 12.0)
    e.set("ch/1/fader", -30.0)
    e.chmeter(1, True)
    e.process(RATE * 2)
    r = e.chmeter_read(1)
    assert r is not None
    assert abs(integrated_loudness(_steps(r).astype(np.float64)) - (-24.0)) < 0.05
    assert abs(20 * np.log10(r.peak) - (-24 + 3.01)) < 0.01
    assert r.true_peak >= r.peak


def test_readings_do_not_depend_on_the_block_size_and_equal_the_offline_measurement() -> None:
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal((RATE * 2, 2))).astype(np.float32)
    readings = []
    for block in (64, 700, 4096):
        e = Engine(1, 0, RATE, block)
        e.set_source_buffer(1, x)
        e.chmeter(1, True)
        e.process(RATE * 2)
        r = e.chmeter_read(1)
        assert r is not None and r.stereo
        readings.append((_steps(r).tobytes(), r.peak, r.true_peak, r.steps))
    assert readings[0] == readings[1] == readings[2]
    offline = measure(x, RATE)
    e_steps = np.frombuffer(readings[0][0], np.float32)
    assert abs(integrated_loudness(e_steps.astype(np.float64)) - offline.loudness) < 0.01
    assert abs(20 * np.log10(readings[0][1]) - offline.peak) < 1e-4


def test_a_live_input_is_measured_from_the_device_buffer() -> None:
    e = Engine(2, 0, RATE, 256)
    e.set_source_input(2, 1, stereo=True)
    e.chmeter(2, True)
    x = _sine(-30, 1.0)
    inp = np.zeros((len(x), 3), np.float32)
    inp[:, 1] = x
    inp[:, 2] = x * 10 ** (6 / 20)  # the right side 6 dB up
    out = np.zeros((len(x), 2), np.float32)
    for k in range(0, len(x), 256):  # like an audio callback, block by block
        e.process_into(out[k:k + 256], inp[k:k + 256])
    r = e.chmeter_read(2)
    assert r is not None and r.steps == 10 and r.stereo
    want = 10 * np.log10((1 + 10 ** 0.6) / 2) - 30  # the mean of the sides' powers
    assert abs(integrated_loudness(_steps(r).astype(np.float64)) - want) < 0.05


def test_more_channels_than_slots_are_refused_and_counted() -> None:
    n = lib.SF_CHMETER_SLOTS + 2
    e = Engine(n, 0, RATE, 256)
    for c in range(1, n + 1):
        e.chmeter(c, True)
    e.process(256)
    assert e.chmeter_read(lib.SF_CHMETER_SLOTS) is not None
    none = e.chmeter_read(n)
    assert none is None
    r = e.chmeter_read(1)
    assert r is not None and r.refused == 2


@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e38])
def test_nonfinite_and_huge_sources_keep_the_meter_finite(bad: float) -> None:
    x = _sine(-20, 1.0)
    x[1000:1100] = bad
    e = Engine(1, 0, RATE, 512)
    e.set_source_buffer(1, x)
    e.chmeter(1, True)
    e.process(RATE * 2)
    r = e.chmeter_read(1)
    assert r is not None and np.all(np.isfinite(r.kms)) and np.isfinite(r.true_peak)
    # once the bad stretch is past, the steps read the sine again
    assert abs(10 * np.log10(float(r.kms[(r.steps - 1) % len(r.kms)])) - 0.691 - (-20)) < 0.1
