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


def _scipy_reference(x: np.ndarray, rate: int) -> tuple[float, float]:
    """BS.1770 loudness and 4x true peak by an independent route (scipy, float64, the
    K-weighting derived as libebur128 does, every sample oversampled)."""
    import math

    from scipy.signal import resample_poly, sosfilt

    from surfaced.assist.measure import integrated_loudness

    f0, g, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (g / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    hp = [1, -2, 1, 1, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    a = x[:, None] if x.ndim == 1 else x
    step = rate // 10
    n = len(a) // step
    y = sosfilt(np.array([shelf, hp]), a[: n * step].astype(np.float64), axis=0)
    steps = np.square(y).reshape(n, step, a.shape[1]).mean(axis=1).mean(axis=1)
    tp = float(np.abs(resample_poly(a.astype(np.float64), 4, 1, axis=0)).max())
    return integrated_loudness(steps), 20 * np.log10(tp)


def test_the_core_measurement_agrees_with_an_independent_bs1770_implementation() -> None:
    from surfaced.session import generators

    for name in ("kick", "bass", "pad", "vocal"):
        x = generators.generate(name, 44100, 8.0)
        lv = measure(x, 44100)
        lufs, tp = _scipy_reference(x, 44100)
        assert abs(lv.loudness - lufs) < 0.02, name
        assert abs(lv.true_peak - tp) < 0.1, name
        assert lv.true_peak >= lv.peak
