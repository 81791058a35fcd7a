"""The reference track in the core: it replaces the mix at the output, crossfaded, with
its own gain and loudness meter, while the mix keeps running and metering underneath."""

from __future__ import annotations

import numpy as np

from surfaced.mix.engine import Engine

RATE = 48000


def _tone(freq: float, db: float, seconds: float = 2.0, stereo: bool = False) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    x = (10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x], axis=1) if stereo else x


def _engine(block: int = 512) -> Engine:
    e = Engine(2, 1, RATE, block)
    e.set_source_buffer(1, _tone(440, -20))
    e.set_reference_buffer(_tone(997, -12, stereo=True))
    e.settle()
    return e


def test_the_reference_replaces_the_mix_and_the_master_meters_keep_measuring_the_mix() -> None:
    e = _engine()
    e.process(RATE)
    mix_lufs = e.meters().master.momentary_lufs
    ref = e.reference_meters()
    assert ref.source == "buffer" and not ref.on and ref.heard == 0.0
    assert abs(ref.momentary_lufs - (-12 + 3.01)) < 0.1  # stereo: both sides count
    e.set_reference(True, -6.0)
    out = e.process(RATE)
    tail = out[RATE // 2:]
    # what is heard is the reference, 6 dB down: its sine's peak at -12 + 3 - 6 dBFS
    assert abs(20 * np.log10(np.abs(tail).max()) - (-12 + 3.01 - 6)) < 0.05
    assert np.allclose(tail[:, 0], tail[:, 1])
    assert e.reference_meters().heard == 1.0
    # the mix runs on underneath: the master meter still reads it, not the reference
    assert abs(e.meters().master.momentary_lufs - mix_lufs) < 0.05
    e.set_reference(False)
    back = e.process(RATE)[RATE // 2:]
    assert abs(20 * np.log10(np.abs(back).max()) - (-20 + 3.01 - 3.01)) < 0.1  # the mix


def test_switching_is_a_short_crossfade_without_a_click() -> None:
    e = Engine(1, 0, RATE, 256)
    e.set_source_buffer(1, np.full(RATE, 0.5, np.float32))  # DC: a switch would step
    e.set_reference_buffer(np.full(RATE, -0.5, np.float32))
    e.settle()
    e.process(1000)
    e.set_reference(True)
    out = e.process(4800)[:, 0]
    fade = int(RATE * 0.020)
    assert abs(out[fade + 10] - (-0.5)) < 1e-6  # in 20 ms it is the reference
    # the mix (0.5 at centre: 0.354 a side) to the reference (-0.5, mono on both sides)
    # in equal steps over the fade: no jump anywhere
    steps = np.abs(np.diff(out))
    assert steps.max() < 1.01 * (0.5 * 0.70710678 + 0.5) / fade


def test_output_does_not_depend_on_the_block_size() -> None:
    outs = []
    for block in (64, 1000, 4096):
        e = _engine(block)
        a = e.process(3000)
        e.set_reference(True, -3.0)
        b = e.process(9000)
        e.set_reference(False)
        c = e.process(5000)
        outs.append(np.concatenate([a, b, c]))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_a_reference_full_of_nan_and_huge_values_stays_finite() -> None:
    e = Engine(1, 0, RATE, 512)
    bad = np.full(RATE, np.nan, np.float32)
    bad[::3] = 3e38
    bad[1::3] = np.inf
    e.set_reference_buffer(bad)
    e.set_reference(True, 40.0)
    out = e.process(RATE)
    assert np.all(np.isfinite(out))
    assert np.isfinite(e.reference_meters().momentary_lufs)


def test_the_reference_input_plays_a_device_input() -> None:
    e = Engine(1, 0, RATE, 512)
    e.set_reference_input(2, stereo=False)
    e.set_reference(True)
    e.settle()
    inp = np.zeros((4800, 4), np.float32)
    inp[:, 2] = 0.25
    out = np.zeros((4800, 2), np.float32)
    e.process_into(out, inp)
    assert np.allclose(out, 0.25)
    assert e.reference_meters().source == "input"


def test_no_reference_costs_nothing_and_changes_nothing() -> None:
    a, b = Engine(2, 1, RATE, 512), Engine(2, 1, RATE, 512)
    for e in (a, b):
        e.set_source_buffer(1, _tone(440, -20))
        e.settle()
    b.set_reference(False, -10.0)  # the switch off: the output is the mix, bit for bit
    assert np.array_equal(a.process(RATE), b.process(RATE))
