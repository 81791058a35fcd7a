"""Matching the producer's rough mix: each stem's gain and pan that best reproduce it.

Stems and rough are cut into time-frequency cells: Hann-windowed frames of
4096 samples, side by side, and bands a third of an octave wide from 40 Hz
up. On each side and in each band the rough is modelled as

    R(t, f) ~= c(t) * sum_i a_i(b) * X_i(t, f)

where X_i is stem i's spectrum on that side (a mono stem feeds both sides, a
stereo stem its own), a_i(b) its complex gain in band b and c(t) the gain
a bus compressor applied to frame t (1 for a plain sum). The gains are the
least-squares solution over every cell of the band (normal equations,
stems x stems, accumulated frame chunk by chunk so memory stays bounded).
The fit runs twice: the first pass with c = 1; then each frame's c(t) is
read off the first pass's model and the fit is made again on the stems
scaled by it. c's 95th percentile counts as unity gain (the rough's loud
but uncompressed moments), so a compressor's gain reduction is not charged
to the stems.

Why complex amplitudes rather than energies alone: an energy fit assumes
the stems' cross terms average out, but stems that play the same notes
(keys, pad and bass on one chord) are correlated, and on our synthetic song
an energy-only non-negative fit missed the pad by 3 dB; the complex fit is
exact for a plain sum. Energies are still what is reported and combined:
each stem's fitted power gain |a_i(b)|^2 in each band is split into a gain
per stem and side and a bus EQ per band, power[s, b, i] ~= w[s, i] * q[b],
by alternating ratio estimates weighted by the stem's energy in the band
(so a band where a stem barely speaks says little about its gain), with
q's energy-weighted geometric mean held at 1 so the level belongs to the
stems. A gain is non-negative by construction.

From the side gains: a mono stem's gain g and pan p follow from
w_L = g^2 cos^2(th), w_R = g^2 sin^2(th), th = (p + 1) pi / 4 (the core's
constant-power law); a stereo stem's from the core's balance law (centre
unity, the far side cut).

The residual per band is the share of the rough's energy in that band the
least-squares fit leaves unexplained, in dB: -20 dB means 1 %. A band with a
high residual holds something the stems do not (a part missing from the
stems, a reverb return, heavy bus processing).

The rough must start where the stems start (bounced from the same session
start); only the length all of them have is used. Deterministic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FRAME = 4096
HOP = 4096  # frames side by side: every sample counts once, half the work of overlap
LOW_HZ = 40.0
ITERATIONS = 12
_Energy = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoughMatch:
    """The fit: per stem gain (dB) and pan, per band residual and bus EQ (dB)."""

    gains_db: tuple[float, ...]
    pans: tuple[float, ...]
    band_hz: tuple[float, ...]  # each band's centre
    residual_db: tuple[float, ...]
    bus_eq_db: tuple[float, ...]
    seconds: float
    bus_dynamics_db: float  # spread of the rough's bus gain over time (5th..95th percentile)


def band_edges(rate: int) -> npt.NDArray[np.float64]:
    """Third-octave band edges (Hz) from LOW_HZ to just under Nyquist."""
    edges = [LOW_HZ]
    while edges[-1] * 2 ** (1 / 3) < rate / 2 * 0.95:
        edges.append(edges[-1] * 2 ** (1 / 3))
    return np.array(edges)


def _bands(rate: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Band edges, and the first rfft bin of each band (bands are contiguous bin ranges;
    the last entry ends the last band)."""
    edges = band_edges(rate)
    bins = np.fft.rfftfreq(FRAME, 1.0 / rate)
    return edges, np.searchsorted(bins, edges, side="left").astype(np.intp)


def _frames(a: npt.NDArray[np.float32], lo: int, hi: int) -> npt.NDArray[np.complex64]:
    """The Hann-windowed spectra of frames lo..hi of one side, as (bins, frames)."""
    seg = a[lo * HOP: (hi - 1) * HOP + FRAME]
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(hi - lo)[:, None]
    spec = np.fft.rfft(seg[idx] * _WINDOW, axis=1)
    return np.ascontiguousarray(spec.T, dtype=np.complex64)


_WINDOW = np.hanning(FRAME).astype(np.float32)
_CHUNK = 128  # frames per pass: bounded memory on long files


def _side(a: npt.NDArray[np.float32], side: int) -> npt.NDArray[np.float32]:
    """What a stem feeds to one side: a mono stem feeds both, a stereo stem its own side."""
    if a.ndim == 1:
        return a
    return np.ascontiguousarray(a[:, min(side, a.shape[1] - 1)])


def _pan_from_sides(wl: float, wr: float, stereo: bool) -> tuple[float, float]:
    """(gain dB, pan) of a stem from its power gains to the left and right."""
    if wl <= 0.0 and wr <= 0.0:
        return -200.0, 0.0
    if not stereo:
        th = math.atan2(math.sqrt(max(wr, 0.0)), math.sqrt(max(wl, 0.0)))
        return 10.0 * math.log10(wl + wr), 4.0 * th / math.pi - 1.0
    # balance: the louder side is at g, the other at g * sqrt(2) * cos/sin(th)
    g2 = max(wl, wr)
    ratio = min(wl, wr) / g2
    th = math.acos(min(1.0, math.sqrt(ratio / 2.0)))  # th for the quieter side's cosine
    pan = 4.0 * th / math.pi - 1.0  # >= 0: the right is the louder side
    return 10.0 * math.log10(g2), pan if wr >= wl else -pan


def match(stems: Sequence[npt.ArrayLike], rough: npt.ArrayLike, rate: int) -> RoughMatch:
    """Estimate each stem's gain and pan from the stereo `rough` (see module docstring)."""
    r = np.asarray(rough, dtype=np.float32)
    if r.ndim != 2 or r.shape[1] != 2:
        raise ValueError(f"the rough mix must be stereo, got shape {r.shape}")
    arrays = [np.asarray(x, dtype=np.float32) for x in stems]
    if not arrays:
        raise ValueError("no stems to match")
    for i, a in enumerate(arrays, start=1):
        if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] not in (1, 2)):
            raise ValueError(f"stem {i}: expected mono or stereo audio, got shape {a.shape}")
    frames = min(len(r), *(len(a) for a in arrays))
    count = max(0, (frames - FRAME) // HOP + 1)
    if count < 8:
        raise ValueError(f"{frames / rate:.2f} s in common between the stems and the rough: "
                         "too short to match (need a few seconds)")
    n = len(arrays)
    stereo = [a.ndim == 2 and a.shape[1] == 2 for a in arrays]
    edges, starts = _bands(rate)
    nb = len(starts) - 1
    first, last = int(starts[0]), int(starts[-1])
    # Pass 1: a plain fit. Pass 2: each frame's bus gain c(t) (a compressor riding the
    # rough) read off pass 1's model, and the fit again with the stems scaled by it.
    coef: npt.NDArray[np.complex128] | None = None
    for _pass in range(2):
        gram = np.zeros((2, nb, n, n), dtype=np.complex128)
        cross = np.zeros((2, nb, n), dtype=np.complex128)
        rough_e = np.zeros((2, nb))
        gains: list[npt.NDArray[np.float64]] = []
        for side in range(2):
            cols = [_side(a, side) for a in arrays]
            per_bin_coef = None if coef is None else np.repeat(coef[side], np.diff(starts), axis=0)
            for lo in range(0, count, _CHUNK):
                hi = min(count, lo + _CHUNK)
                y = _frames(r[:, side], lo, hi)[first:last]  # (bins, frames)
                x = np.stack([_frames(c, lo, hi)[first:last] for c in cols], axis=1)  # (bins,N,T)
                if per_bin_coef is not None:
                    model = np.einsum("kn,knt->kt", per_bin_coef.astype(np.complex64), x)
                    num = np.einsum("kt,kt->t", model.conj(), y).real
                    den = np.einsum("kt,kt->t", model.conj(), model).real
                    c_t = np.where(den > 0, num / np.maximum(den, 1e-30), 0.0)
                    gains.append(c_t)
                    x = x * c_t.astype(np.float32)[None, None, :]
                per_bin = np.matmul(x, x.conj().transpose(0, 2, 1))  # (bins, N, N)
                xy = np.matmul(x, y.conj()[:, :, None])[:, :, 0]  # (bins, N)
                yy = np.einsum("kt,kt->k", y, y.conj()).real
                cuts = starts[:-1] - first
                gram[side] += np.add.reduceat(per_bin, cuts, axis=0)
                cross[side] += np.add.reduceat(xy, cuts, axis=0)
                rough_e[side] += np.add.reduceat(yy, cuts, axis=0)
        # Per side and band: the complex gains that best rebuild the rough from the stems
        # (normal equations, stems x stems). gram and cross were summed as X X^H and X y^*,
        # the conjugates of the usual form, so the solution is conjugated back.
        coef = np.zeros((2, nb, n), dtype=np.complex128)
        power = np.zeros((2, nb, n))  # |a|^2: each stem's fitted power gain in each band
        stem_e = np.zeros((2, nb, n))  # each stem's own energy in each band
        resid = np.zeros(nb)
        for side in range(2):
            for b in range(nb):
                g = gram[side, b]
                scale = max(float(np.trace(g).real) / n, 1e-30)
                a = np.linalg.solve(g + 1e-9 * scale * np.eye(n), cross[side, b]).conj()
                coef[side, b] = a
                power[side, b] = np.abs(a) ** 2
                stem_e[side, b] = np.real(np.diag(g))
                explained = float(np.real(np.sum(cross[side, b] * a)))
                resid[b] += max(rough_e[side, b] - explained, 0.0)
    # c(t) scales the stems in pass 2: its loud-but-uncompressed value (95th percentile)
    # is unity gain, so a compressor's reduction does not count against the stems.
    c_all = np.concatenate(gains) if gains else np.ones(1)
    c_ref = float(np.percentile(c_all[c_all > 0], 95)) if np.any(c_all > 0) else 1.0
    dynamics = float(20.0 * np.log10(c_ref / max(float(np.percentile(c_all[c_all > 0], 5)),
                                                 1e-12))) if np.any(c_all > 0) else 0.0
    power = power * c_ref ** 2
    stem_e = stem_e / c_ref ** 2
    return _summarise(power, stem_e, rough_e, resid, stereo, edges, frames / rate, dynamics)


def _summarise(power: _Energy, stem_e: _Energy, rough_e: _Energy, resid: _Energy,
               stereo: list[bool], edges: _Energy, seconds: float,
               dynamics: float) -> RoughMatch:
    """Split the per-band power gains into a gain per stem and side and an EQ per band.

    power[s, b, i] ~= w[s, i] * q[b]: alternating ratio estimates (each stem's fitted
    energy over what its gain and the EQ predict), the EQ's energy-weighted
    geometric mean held at 1 so the level belongs to the stems.
    """
    nb = power.shape[1]
    fitted = power * stem_e  # the energy each stem brings to each band, as fitted
    band_w = rough_e.sum(axis=0) + 1e-300
    q = np.ones(nb)
    w = np.zeros((2, power.shape[2]))
    for _ in range(ITERATIONS):
        predicted = (stem_e * q[None, :, None]).sum(axis=1)
        w = np.where(predicted > 0, fitted.sum(axis=1) / np.maximum(predicted, 1e-300), 0.0)
        model = (stem_e * w[:, None, :]).sum(axis=(0, 2))
        q = np.where(model > 0, fitted.sum(axis=(0, 2)) / np.maximum(model, 1e-300), 1.0)
        q = np.maximum(q, 1e-12)
        level = float(np.exp((np.log(q) * band_w).sum() / band_w.sum()))
        q /= level
    gains, pans = zip(*(_pan_from_sides(float(w[0, i]), float(w[1, i]), stereo[i])
                        for i in range(w.shape[1])), strict=True)
    return RoughMatch(
        gains_db=tuple(round(g, 2) for g in gains),
        pans=tuple(round(max(-1.0, min(1.0, p)), 3) for p in pans),
        band_hz=tuple(float(math.sqrt(lo * hi)) for lo, hi in itertools.pairwise(edges)),
        residual_db=tuple(round(10.0 * math.log10(max(x / e, 1e-12)), 1)
                          for x, e in zip(resid, band_w, strict=True)),
        bus_eq_db=tuple(round(10.0 * math.log10(x), 2) for x in q),
        seconds=seconds,
        bus_dynamics_db=round(dynamics, 2),
    )
