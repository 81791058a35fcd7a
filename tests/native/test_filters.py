"""The strip's high-pass and EQ against the textbook: response, transparency, error floor.

References are written here from Robert Bristow-Johnson's "Cookbook formulae
for audio EQ biquad filter coefficients" (peaking EQ, low/high shelf with the
Q form of alpha, high-pass), in float64, never from the core's code. The
core runs the filters the way a user hears them: an impulse or noise as a
channel's source, panned hard left (gain exactly 1), fader at 0 dB, the
master's left output read back.

- Response: the realised magnitude (FFT of a long impulse response, long
  enough for a 20 Hz, Q 10 bell to ring out) within 0.1 dB of the analytic
  RBJ magnitude at every FFT bin from 20 Hz to 20 kHz, for every kind of
  filter, Q up to 10, at 44.1, 48, 96 and 192 kHz. A float32 biquad misses
  20-50 Hz bells at high Q by up to a dB; the core runs them in double.
- Transparency: EQ on with every band at 0 dB leaves the signal bit for bit
  (a band at 0 dB is bypassed, not run as an identity filter).
- Error floor: white noise through the high-pass and four bands, against
  scipy's float64 sosfilt of the same cookbook sections: the difference is
  more than 120 dB under the output.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from surfaced.mix.engine import Engine

RATES = [44100, 48000, 96000, 192000]


def rbj(kind: str, f: float, q: float, gain_db: float,
        rate: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad (b, a), normalised (a0 = 1), float64."""
    big_a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f / rate
    cw, sw = np.cos(w), np.sin(w)
    al = sw / (2 * q)
    sa = 2 * np.sqrt(big_a) * al
    if kind == "peak":
        b = [1 + al * big_a, -2 * cw, 1 - al * big_a]
        a = [1 + al / big_a, -2 * cw, 1 - al / big_a]
    elif kind == "low":
        b = [big_a * ((big_a + 1) - (big_a - 1) * cw + sa),
             2 * big_a * ((big_a - 1) - (big_a + 1) * cw),
             big_a * ((big_a + 1) - (big_a - 1) * cw - sa)]
        a = [(big_a + 1) + (big_a - 1) * cw + sa, -2 * ((big_a - 1) + (big_a + 1) * cw),
             (big_a + 1) + (big_a - 1) * cw - sa]
    elif kind == "high":
        b = [big_a * ((big_a + 1) + (big_a - 1) * cw + sa),
             -2 * big_a * ((big_a - 1) + (big_a + 1) * cw),
             big_a * ((big_a + 1) + (big_a - 1) * cw - sa)]
        a = [(big_a + 1) - (big_a - 1) * cw + sa, 2 * ((big_a - 1) - (big_a + 1) * cw),
             (big_a + 1) - (big_a - 1) * cw - sa]
    else:  # high-pass
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + al, -2 * cw, 1 - al]
    return np.array(b) / a[0], np.array(a) / a[0]


def magnitude_db(b: np.ndarray, a: np.ndarray, freqs: np.ndarray, rate: float) -> np.ndarray:
    """Analytic |H(e^jw)| in dB."""
    _, h = signal.freqz(b, a, worN=freqs, fs=rate)
    return np.asarray(20 * np.log10(np.abs(h)), dtype=np.float64)


# Which band a kind lives in (1 low shelf, 2-3 peaking, 4 high shelf; 0 = HPF).
BAND = {"low": 1, "peak": 2, "high": 4}

CASES = [
    # the worst cases: bells at 20-50 Hz with Q 4-10
    ("peak", 20.0, 10.0, 12.0), ("peak", 20.0, 4.0, -12.0), ("peak", 31.5, 10.0, -18.0),
    ("peak", 50.0, 6.0, 18.0), ("peak", 35.0, 8.0, 6.0),
    # the rest of the range
    ("peak", 1000.0, 10.0, -9.0), ("peak", 12000.0, 2.0, 6.0), ("peak", 20000.0, 0.5, -6.0),
    ("low", 20.0, 0.707, 12.0), ("low", 120.0, 2.0, -10.0), ("low", 40.0, 10.0, 6.0),
    ("high", 9000.0, 0.707, -8.0), ("high", 3000.0, 4.0, 10.0), ("high", 20000.0, 0.3, 6.0),
    ("hp", 20.0, 0.0, 0.0), ("hp", 80.0, 0.0, 0.0), ("hp", 1000.0, 0.0, 0.0),
]


def run_impulse(rate: int, kind: str, f: float, q: float, gain: float, n: int) -> np.ndarray:
    """The core's impulse response of one filter (float64 copy of the float32 output)."""
    e = Engine(1, 0, rate, 1024)
    x = np.zeros(n, dtype=np.float32)
    x[0] = 1.0
    e.set_source_buffer(1, x)
    e.set("ch/1/pan", -1.0)
    if kind == "hp":
        e.set("ch/1/hpf/on", 1)
        e.set("ch/1/hpf/freq", f)
    else:
        band = BAND[kind]
        e.set("ch/1/eq/on", 1)
        e.set(f"ch/1/eq/{band}/freq", f)
        e.set(f"ch/1/eq/{band}/q", q)
        e.set(f"ch/1/eq/{band}/gain", gain)
    e.settle()
    return e.process(n)[:, 0].astype(np.float64)


@pytest.mark.parametrize("rate", RATES)
def test_every_filter_is_the_textbook_one_within_0_1_db(rate: int) -> None:
    """20 Hz-20 kHz, Q up to 10, at every rate: realised response vs analytic RBJ."""
    n = 1 << 20 if rate > 96000 else 1 << 19  # > 2.7 s: a 20 Hz, Q 10 bell rings out
    bins = np.fft.rfftfreq(n, 1.0 / rate)
    pick = (bins >= 20.0) & (bins <= min(20000.0, 0.45 * rate))
    freqs = bins[pick]
    worst = []
    for kind, f, q, gain in CASES:
        h = run_impulse(rate, kind, f, q, gain, n)
        got = 20 * np.log10(np.abs(np.fft.rfft(h))[pick])
        want = magnitude_db(*rbj(kind, f, q if kind != "hp" else 1 / np.sqrt(2), gain, rate),
                            freqs, rate)
        err = float(np.max(np.abs(got - want)))
        worst.append((err, kind, f, q, gain))
    bad = [w for w in worst if w[0] > 0.1]
    assert not bad, f"off the RBJ curve by more than 0.1 dB at {rate} Hz: {bad}"
    # and the filters are really there: the 20 Hz bell peaks at +12 dB
    h = run_impulse(rate, "peak", 20.0, 10.0, 12.0, n)
    at20 = np.argmin(np.abs(bins - 20.0))
    assert 20 * np.log10(np.abs(np.fft.rfft(h))[at20]) == pytest.approx(12.0, abs=0.1)


def test_flat_eq_bands_are_bit_transparent() -> None:
    """EQ on, every band at 0 dB (whatever freq/Q): the output is the input, bit for bit."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(48000) * 0.25).astype(np.float32)
    e = Engine(1, 0, 48000, 256)
    e.set_source_buffer(1, x)
    e.set("ch/1/pan", -1.0)
    e.set("ch/1/eq/on", 1)
    for band, (f, q) in enumerate([(25.0, 10.0), (300.0, 4.0), (5000.0, 0.3), (15000.0, 2.0)], 1):
        e.set(f"ch/1/eq/{band}/freq", f)
        e.set(f"ch/1/eq/{band}/q", q)
        e.set(f"ch/1/eq/{band}/gain", 0.0)
    e.settle()
    y = e.process(len(x))[:, 0]
    assert np.array_equal(y.view(np.uint32), x.view(np.uint32))
    # a band moved off 0 dB does filter (the bypass is not a dead switch)
    e.set("ch/1/eq/2/gain", 0.5)
    e.settle()
    assert not np.array_equal(e.process(len(x))[:, 0], x)


@pytest.mark.parametrize("rate", [48000, 96000])
@pytest.mark.parametrize("chain", ["bench", "extreme"])
def test_filter_chain_error_floor_is_below_minus_120_db(rate: int, chain: str) -> None:
    """High-pass + four bands on noise vs float64 sosfilt: error < -120 dB relative."""
    if chain == "bench":  # benchmarks/bench_core.py's full strip
        hpf = 80.0
        bands = [("low", 100.0, 0.707, 3.0), ("peak", 500.0, 0.707, -2.0),
                 ("peak", 2500.0, 0.707, 2.5), ("high", 8000.0, 0.707, 1.5)]
    else:  # low corners, high Q: where a float32 biquad is worst
        hpf = 20.0
        bands = [("low", 40.0, 2.0, 9.0), ("peak", 20.0, 10.0, 12.0),
                 ("peak", 50.0, 6.0, -12.0), ("high", 16000.0, 0.707, -6.0)]
    rng = np.random.default_rng(11)
    n = rate * 4
    x = (rng.standard_normal(n) * 0.1).astype(np.float32)
    e = Engine(1, 0, rate, 512)
    e.set_source_buffer(1, np.concatenate([x, np.zeros(1, dtype=np.float32)]))
    e.set("ch/1/pan", -1.0)
    e.set("ch/1/hpf/on", 1)
    e.set("ch/1/hpf/freq", hpf)
    e.set("ch/1/eq/on", 1)
    for (_kind, f, q, g), band in zip(bands, (1, 2, 3, 4), strict=True):
        e.set(f"ch/1/eq/{band}/freq", f)
        e.set(f"ch/1/eq/{band}/q", q)
        e.set(f"ch/1/eq/{band}/gain", g)
    e.settle()
    got = e.process(n)[:, 0].astype(np.float64)

    sos = [np.concatenate(rbj("hp", hpf, 1 / np.sqrt(2), 0.0, rate))]
    sos += [np.concatenate(rbj(kind, f, q, g, rate)) for kind, f, q, g in bands]
    want = signal.sosfilt(np.array(sos), x.astype(np.float64))
    skip = rate // 2  # compare once the filters carry a real signal (both start at rest)
    err = got[skip:] - want[skip:]
    rel_db = 10 * np.log10(np.mean(err**2) / np.mean(want[skip:] ** 2))
    assert rel_db < -120.0, f"error floor {rel_db:.1f} dB"
