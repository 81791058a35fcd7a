"""Levels an engineer reads: loudness RMS-equivalent, true peak above sample peak."""

from __future__ import annotations

import numpy as np

from surfaced.assist.measure import measure


def test_a_sine_at_minus_18_rms_reads_minus_18() -> None:
    t = np.arange(48000 * 5) / 48000
    x = (10 ** (-18 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    lv = measure(x, 48000)
    assert abs(lv.loudness - (-18.0)) < 0.1
    assert abs(lv.rms - (-18.0)) < 0.01
    stereo = measure(np.stack([x, x], axis=1), 48000)  # the same on both sides: same level
    assert abs(stereo.loudness - lv.loudness) < 0.01


def test_true_peak_sees_the_peak_between_samples() -> None:
    n = np.arange(48000)
    x = (0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)  # samples at 0.354
    lv = measure(x, 48000)
    assert abs(lv.peak - 20 * np.log10(0.5 / np.sqrt(2))) < 0.05
    assert abs(lv.true_peak - 20 * np.log10(0.5)) < 0.3


def test_silence_is_silent_and_measuring_is_deterministic() -> None:
    assert measure(np.zeros(48000, np.float32), 48000).silent
    x = np.random.default_rng(1).standard_normal(96000).astype(np.float32) * 0.1
    assert measure(x, 48000) == measure(x.copy(), 48000)
