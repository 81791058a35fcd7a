"""The rough's bus compressor: its static curve, fitted to the gain it applied frame by frame.

rough.py reads, for every frame, the gain c(t) the rough's bus applied to the
stems' sum and the level that sum had before it. A compressor without makeup
gain leaves quiet frames alone (c = 1) and turns louder ones down by a
reduction that grows with their level. The stems' fitted gains carry an
unknown common factor (the compressor's average reduction is
indistinguishable from quieter stems), so c(t) is only known up to that same
factor: c_hat(t) = c(t) / s. What pins s down is the curve's shape: in dB,

    gain(t) = G0 - k * knee(level(t) - T, W)

with knee() the soft-knee curve the core's compressor uses (0 below the
knee, linear with slope 1 above it, a quadratic between), k = 1 - 1/ratio,
T the threshold and W the knee's width, both in the model's level units
(frame energy rather than the compressor's sample peak: they differ by the
material's crest factor, which is why T is a fitted nuisance and is not
reported as a dBFS setting). G0 is the gain of the frames below the knee,
which the assumption of no makeup gain makes unity: 1 / s.

The fit is least absolute deviations (a few iteratively reweighted least
squares steps) over a grid of thresholds and knee widths, keeping the one
that fits best: frames below the threshold sit exactly on G0, while the
loud frames scatter (peak detector, attack and release against a frame's
energy), so a median-like fit locks on the quiet stretch. If the best
threshold leaves fewer than MIN_UNITY frames below the knee, the compressor
never let go and G0 is the gain of the quietest frames (their reduction is
charged to the stems: the absolute level comes out low, the balance right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MIN_UNITY = 8  # frames below the knee needed to call their gain unity (~0.7 s)
MIN_SLOPE = 0.05  # 1 - 1/ratio below this (ratio < 1.05:1) is no compression
SPAN_DB = 60.0  # frames quieter than the loudest by more than this are left out
_KNEES_DB = (0.0, 6.0, 12.0)
_THRESHOLD_QUANTILES = np.linspace(0.02, 0.9, 45)
_IRLS_STEPS = 8

_F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BusCurve:
    """The fitted static curve: the unity gain (linear), the ratio, and the share of
    frames that sat below the knee (0: the compressor never let go)."""

    unity: float
    ratio: float
    below: float


def knee(over: _F64, width: float) -> _F64:
    """The soft-knee reduction per unit slope (dB): 0 below the knee, over above it."""
    if width <= 0.0:
        return np.maximum(over, 0.0)
    inside = np.maximum(over + width / 2.0, 0.0) ** 2 / (2.0 * width)
    return np.where(over > width / 2.0, over, inside)


def _lad(h: _F64, g: _F64) -> tuple[float, float, float]:
    """(G0, k, sum of |residuals|) of g ~= G0 - k h, least absolute deviations, k in [0, 1]."""
    w = np.ones_like(g)
    g0, k = float(np.median(g)), 0.0
    for _ in range(_IRLS_STEPS):
        sw, sh, sg = w.sum(), (w * h).sum(), (w * g).sum()
        shh, shg = (w * h * h).sum(), (w * h * g).sum()
        det = sw * shh - sh * sh
        if det <= 1e-12 * max(sw * shh, 1e-300):
            k = 0.0
            g0 = float(sg / sw)
        else:
            k = float(-(sw * shg - sh * sg) / det)
            k = min(max(k, 0.0), 1.0)
            g0 = float((sg + k * sh) / sw)
        w = 1.0 / np.maximum(np.abs(g - (g0 - k * h)), 1e-3)
    return g0, k, float(np.abs(g - (g0 - k * h)).sum())


def fit(level: _F64, gain: _F64) -> BusCurve:
    """Fit the bus compressor's static curve to per-frame `gain` (linear, c_hat(t))
    against the un-compressed `level` (frame energy, linear, any common scale)."""
    ok = (level > 0) & (gain > 0) & np.isfinite(level) & np.isfinite(gain)
    if np.any(ok):
        ok &= level >= level[ok].max() * 10.0 ** (-SPAN_DB / 10.0)
    if np.count_nonzero(ok) < 2 * MIN_UNITY:
        return BusCurve(float(np.median(gain[ok])) if np.any(ok) else 1.0, 1.0, 0.0)
    lev = 10.0 * np.log10(level[ok])
    g = 20.0 * np.log10(gain[ok])
    best: tuple[float, float, float, float, float] | None = None  # cost, g0, k, T, W
    for width in _KNEES_DB:
        for thr in np.quantile(lev, _THRESHOLD_QUANTILES):
            g0, k, cost = _lad(knee(lev - thr, width), g)
            if best is None or cost < best[0] - 1e-9:
                best = (cost, g0, k, float(thr), width)
    assert best is not None
    _, g0, k, thr, width = best
    quiet = lev < thr - width / 2.0
    below = float(np.count_nonzero(quiet)) / len(lev)
    if k < MIN_SLOPE:
        # no compression seen (the gain does not fall with the level): one gain throughout
        return BusCurve(10.0 ** (float(np.median(g)) / 20.0), 1.0, 1.0)
    if np.count_nonzero(quiet) < MIN_UNITY:
        # it never let go: the quietest frames' gain counts as unity (their reduction is
        # charged to the stems)
        g0 = float(np.median(g[lev <= np.quantile(lev, 0.1)]))
        below = 0.0
    ratio = 1.0 / (1.0 - k) if k < 0.999 else 1000.0
    return BusCurve(10.0 ** (g0 / 20.0), ratio, below)
