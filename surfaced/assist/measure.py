"""Measuring an input: K-weighted loudness, true peak, sample peak and RMS, with numpy.

Loudness follows ITU-R BS.1770-4: the K-weighting filter (a high shelf and
a high-pass, derived for any sample rate from the analogue prototypes, as
libebur128 does), mean squares over 400 ms blocks stepped by 100 ms, and the
gated integration of surfaced.mix.ab.gated_loudness (absolute gate -70 LUFS,
relative -10 LU). A stereo input is measured per side and the sides'
mean squares are averaged, so a stereo file that carries the same signal on
both sides reads like its mono version: the figure is a channel's level,
"RMS equivalent" (a 1 kHz sine at -18 dBFS RMS reads -18.0).

True peak is the peak of the signal oversampled four times (a polyphase
FIR from scipy), as BS.1770-4 Annex 2 asks. Only the stretches whose sample
peak is within 3.1 dB of the file's sample peak are oversampled: the peak
between two samples never exceeds the samples around it by more than that,
so the result is the same as oversampling everything, at a fraction of the
cost on program material.

Deterministic: the same samples give the same figures, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from surfaced.mix.ab import gated_loudness

FloatArray = npt.NDArray[np.floating]
SILENCE = -200.0  # what a level reads when there is no signal (finite, for the wire)
_STEP_S = 0.1  # BS.1770 block step
_BLOCK_STEPS = 4  # 400 ms blocks
_TP_MARGIN = 10.0 ** (-3.1 / 20.0)
_TP_CHUNK = 4096


@dataclass(frozen=True)
class Levels:
    """One input's levels over the measured window (dB figures; SILENCE when none)."""

    loudness: float  # gated K-weighted loudness, LUFS (RMS equivalent per side)
    true_peak: float  # dBTP, 4x oversampled
    peak: float  # dBFS, sample peak
    rms: float  # dBFS, plain RMS over the window
    seconds: float

    @property
    def silent(self) -> bool:
        """True when nothing passed the absolute gate (no program to stage)."""
        return self.loudness <= SILENCE


def k_weighting_sos(rate: int) -> npt.NDArray[np.float64]:
    """The BS.1770 K-weighting filter for `rate` as second-order sections (2 x 6)."""
    # Stage 1: the head's high shelf (+4 dB above ~1.7 kHz).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0,
             (vh - vb * k / q + k * k) / a0, 1.0, 2.0 * (k * k - 1.0) / a0,
             (1.0 - k / q + k * k) / a0]
    # Stage 2: the RLB high-pass (~38 Hz).
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    hp = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, hp], dtype=np.float64)


def _sides(audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Audio as (frames, sides) float32, mono as one side."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2):
        raise ValueError(f"expected mono or stereo audio, got shape {a.shape}")
    return a


def step_energies(audio: npt.ArrayLike, rate: int) -> npt.NDArray[np.float64]:
    """K-weighted mean square of each 100 ms step, averaged over the sides (steps,)."""
    from scipy.signal import sosfilt

    a = _sides(audio)
    step = round(rate * _STEP_S)
    n = len(a) // step
    if n == 0:
        return np.zeros(0)
    y = sosfilt(k_weighting_sos(rate), a[: n * step].astype(np.float64), axis=0)
    sq = np.square(y).reshape(n, step, a.shape[1]).mean(axis=1)
    return np.asarray(sq.mean(axis=1), dtype=np.float64)


def integrated_loudness(steps: npt.NDArray[np.float64]) -> float:
    """Gated loudness (LUFS) of 100 ms step energies; SILENCE when everything is gated."""
    if len(steps) < _BLOCK_STEPS:
        blocks = [float(steps.mean())] if len(steps) else []
    else:
        c = np.concatenate(([0.0], np.cumsum(steps)))
        blocks = list((c[_BLOCK_STEPS:] - c[:-_BLOCK_STEPS]) / _BLOCK_STEPS)
    momentary = [-0.691 + 10.0 * math.log10(b) if b > 0.0 else -math.inf for b in blocks]
    lufs = gated_loudness(momentary)
    return lufs if math.isfinite(lufs) else SILENCE


def true_peak(audio: npt.ArrayLike) -> float:
    """Peak of the 4x oversampled signal, linear (BS.1770-4 Annex 2)."""
    from scipy.signal import resample_poly

    a = _sides(audio)
    if len(a) == 0:
        return 0.0
    mag = np.abs(a).max(axis=1)
    n = -(-len(mag) // _TP_CHUNK)
    pad = np.zeros(n * _TP_CHUNK, dtype=np.float32)
    pad[: len(mag)] = mag
    chunk_peak = pad.reshape(n, _TP_CHUNK).max(axis=1)
    top = float(chunk_peak.max())
    if top <= 0.0:
        return 0.0
    best = top
    guard = 64  # the interpolation filter's reach, in input samples
    for i in np.flatnonzero(chunk_peak >= top * _TP_MARGIN):
        lo, hi = max(0, i * _TP_CHUNK - guard), min(len(a), (i + 1) * _TP_CHUNK + guard)
        up = resample_poly(a[lo:hi].astype(np.float64), 4, 1, axis=0)
        best = max(best, float(np.abs(up).max()))
    return best


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0.0 else SILENCE


def measure(audio: npt.ArrayLike, rate: int, start_s: float = 0.0,
            seconds: float | None = None) -> Levels:
    """Levels of `audio` (frames, or frames x 2) over a window (default: all of it)."""
    a = _sides(audio)
    lo = max(0, round(start_s * rate))
    hi = len(a) if seconds is None else min(len(a), lo + round(seconds * rate))
    a = a[lo:hi]
    if len(a) == 0:
        return Levels(SILENCE, SILENCE, SILENCE, SILENCE, 0.0)
    steps = step_energies(a, rate)
    ms = float(np.mean(np.square(a, dtype=np.float64)))
    return Levels(
        loudness=integrated_loudness(steps),
        true_peak=_db(true_peak(a)),
        peak=_db(float(np.abs(a).max())),
        rms=10.0 * math.log10(ms) if ms > 0.0 else SILENCE,
        seconds=len(a) / rate,
    )
