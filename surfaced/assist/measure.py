"""Measuring an input: K-weighted loudness, true peak, sample peak and RMS.

Loudness follows ITU-R BS.1770-4: the K-weighting filter (a high shelf and
a high-pass, derived for any sample rate from the analogue prototypes behind
the standard's 48 kHz tables), mean squares over 100 ms steps, 400 ms blocks
stepped by 100 ms, and the gated integration of
surfaced.mix.ab (absolute gate -70 LUFS, relative -10 LU). A
stereo input is measured per side and the sides' mean squares are averaged,
so a stereo file that carries the same signal on both sides reads like its
mono version: the figure is a channel's level, "RMS equivalent" (a 1 kHz
sine at -18 dBFS RMS reads -18.0). True peak is the peak of the signal
oversampled four times (BS.1770-4 Annex 2).

The per-sample work is the core's own per-channel meter (native/chanmeter.c),
run offline over the buffer (`sf_measure_buffer`): the same code measures a
file here and a live input in the running daemon (surfaced.assist.live), in
one pass per stem (about 30 ms of C per mono stem-minute). Only the gating (a few thousand 100 ms
steps) is numpy.

Deterministic: the same samples give the same figures, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from surfaced._native import ffi, lib
from surfaced.mix.ab import ABS_GATE_LUFS, REL_GATE_LU

FloatArray = npt.NDArray[np.floating]
SILENCE = -200.0  # what a level reads when there is no signal (finite, for the wire)
_STEP_S = 0.1  # BS.1770 block step
_BLOCK_STEPS = 4  # 400 ms blocks


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


def _sides(audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Audio as (frames, sides) float32, mono as one side."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2):
        raise ValueError(f"expected mono or stereo audio, got shape {a.shape}")
    return a


def integrated_loudness(steps: npt.NDArray[np.float64]) -> float:
    """Gated loudness (LUFS) of 100 ms step energies; SILENCE when everything is gated.

    The gating of surfaced.mix.ab.gated_loudness, vectorised: 400 ms blocks
    every 100 ms, absolute gate -70 LUFS, relative gate -10 LU.
    """
    steps = np.asarray(steps, dtype=np.float64)
    if len(steps) < _BLOCK_STEPS:
        blocks = steps[:0] if not len(steps) else np.array([steps.mean()])
    else:
        c = np.concatenate(([0.0], np.cumsum(steps)))
        blocks = (c[_BLOCK_STEPS:] - c[:-_BLOCK_STEPS]) / _BLOCK_STEPS
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10.0 * np.log10(np.maximum(blocks, 0.0))
    keep = blocks[lufs > ABS_GATE_LUFS]
    if not len(keep):
        return SILENCE
    relative = -0.691 + 10.0 * math.log10(float(keep.mean())) + REL_GATE_LU
    kept = keep[-0.691 + 10.0 * np.log10(keep) > relative]
    return -0.691 + 10.0 * math.log10(float(kept.mean())) if len(kept) else SILENCE


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0.0 else SILENCE


def measure(audio: npt.ArrayLike, rate: int, start_s: float = 0.0,
            seconds: float | None = None) -> Levels:
    """Levels of `audio` (frames, or frames x 2) over a window (default: all of it)."""
    a = _sides(audio)
    lo = max(0, round(start_s * rate))
    hi = len(a) if seconds is None else min(len(a), lo + round(seconds * rate))
    a = np.ascontiguousarray(a[lo:hi])
    if len(a) == 0:
        return Levels(SILENCE, SILENCE, SILENCE, SILENCE, 0.0)
    step = round(rate * _STEP_S)
    kms = np.zeros(len(a) // step + 1, dtype=np.float64)
    sumsq = ffi.new("double *")
    peak = ffi.new("float *")
    tp = ffi.new("float *")
    n = lib.sf_measure_buffer(ffi.from_buffer("float[]", a), len(a), a.shape[1], float(rate),
                              ffi.from_buffer("double[]", kms), len(kms), sumsq, peak, tp)
    if n < 0:
        raise ValueError(f"cannot measure {a.shape} at {rate} Hz")
    return levels(kms[:n], sumsq[0] / a.size, float(peak[0]), float(tp[0]), len(a) / rate)


def levels(steps: npt.NDArray[np.float64], mean_square: float, peak: float, true_peak: float,
           seconds: float) -> Levels:
    """Levels from a measurement's parts: 100 ms K-weighted step energies, the plain mean
    square of every sample, and linear sample and true peaks."""
    return Levels(
        loudness=integrated_loudness(steps),
        true_peak=_db(max(true_peak, peak)),
        peak=_db(peak),
        rms=10.0 * math.log10(mean_square) if mean_square > 0.0 else SILENCE,
        seconds=seconds,
    )
