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
The first pass fits with c = 1; each later pass reads every frame's c(t)
off the last pass's model (one gain for both sides: a bus compressor is
linked) and fits again on the stems scaled by it. When stems play in
sections of different loudness this alternation settles slowly (about half
the error per pass), so the passes run on every STRIDE-th frame, with the
step stretched by the rate measured from pass to pass, until c(t) moves by
less than SETTLED_DB; a last pass takes every frame.

c(t) is known only up to a factor the stems' gains carry the other way (a
compressor's reduction, if it is the same all song long, cannot be told
from quieter stems). What fixes it is the compressor's static curve: the
reduction grows with the un-compressed level and is nil below the knee.
buscomp.py fits that curve to c(t) against the model's level, and the gain
of the frames below the knee is unity: the rough's bus compressor is assumed
to have NO MAKEUP GAIN. With makeup, every gain comes out high by it (the
balance stays right); if the rough never falls below the threshold, the
quietest frames' reduction is charged to every stem alike
(`bus_unity_share` is then 0).

Why complex amplitudes rather than energies alone: an energy fit assumes
the stems' cross terms average out, but stems that play the same notes
(keys, pad and bass on one chord) are correlated, and on our synthetic song
an energy-only non-negative fit missed the pad by 3 dB; the complex fit is
exact for a plain sum. Energies are still what is reported and combined:
each stem's fitted power gain |a_i(b)|^2 in each band is split into a gain
per stem and side and a bus EQ per band, power[s, b, i] ~= w[s, i] * q[b],
by alternating ratio estimates weighted by the stem's energy in the band
(so a band where a stem barely speaks says little about its gain), run
until they settle. Their product fixes the level of neither: q's median
over the bands the rough has material in is held at 0 dB (a little bus EQ
leaves the typical band alone), so a bus EQ that lifts or cuts most of the
spectrum reads as stem level. A gain is non-negative by construction.

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

from surfaced.assist import buscomp

FRAME = 4096
HOP = 4096  # frames side by side: every sample counts once, half the work of overlap
LOW_HZ = 40.0
MAX_ITERATIONS = 2000  # the EQ/gain split's alternating steps (it stops once settled)
MATERIAL = 1e-6  # a band with 60 dB less energy than the rough's loudest counts as empty
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
    # share of the frames below the compressor's knee, whose gain was taken as unity;
    # 0: it never let go, and the gains carry its reduction (the balance is still right)
    bus_unity_share: float


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


def _frames(a: npt.NDArray[np.float32], idx: npt.NDArray[np.intp]) -> npt.NDArray[np.complex64]:
    """The Hann-windowed spectra of frames `idx` of one side, as (bins, frames)."""
    spec = np.fft.rfft(a[idx[:, None] * HOP + np.arange(FRAME)[None, :]] * _WINDOW, axis=1)
    return np.ascontiguousarray(spec.T, dtype=np.complex64)


_WINDOW = np.hanning(FRAME).astype(np.float32)
_CHUNK = 128  # frames per pass: bounded memory on long files
MAX_PASSES = 12  # passes on every STRIDE-th frame before the last, at most
STRIDE = 4
MAX_STEP = 4.0  # the most a pass may stretch its step
SETTLED_DB = 0.05  # c(t) has settled when a pass moves it less than this (rms, dB)


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


@dataclass
class _Sums:
    """What one pass over the frames accumulates, per side and band (and per frame)."""

    gram: npt.NDArray[np.complex128]  # (2, bands, N, N): sum of X X^H
    cross: npt.NDArray[np.complex128]  # (2, bands, N): sum of X y^*
    rough_e: _Energy  # (2, bands): the rough's energy
    num: _Energy | None  # (frames,): <model, rough> over both sides; None in pass 1
    den: _Energy | None  # (frames,): the model's energy over both sides
    used: _Energy | None  # (frames,): the log gain the stems were scaled by


def _pass(r: npt.NDArray[np.float32], arrays: list[npt.NDArray[np.float32]],
          idx: npt.NDArray[np.intp], coef: npt.NDArray[np.complex128] | None,
          starts: npt.NDArray[np.intp], was: _Energy | None = None,
          step: float = 1.0) -> _Sums:
    """One pass over frames `idx`: the normal equations' sums, the stems scaled by each
    frame's bus gain read off `coef` (the last pass's gains; None: unscaled).

    `was`: the log gains the last pass scaled these frames by; the gains used move from
    them `step` times as far as the fresh reading (step > 1 extrapolates)."""
    n, nb = len(arrays), len(starts) - 1
    first, last = int(starts[0]), int(starts[-1])
    cuts = starts[:-1] - first
    gram = np.zeros((2, nb, n, n), dtype=np.complex128)
    cross = np.zeros((2, nb, n), dtype=np.complex128)
    rough_e = np.zeros((2, nb))
    num = None if coef is None else np.zeros(len(idx))
    den = None if coef is None else np.zeros(len(idx))
    used = None if coef is None else np.zeros(len(idx))
    per_bin = None if coef is None else [
        np.repeat(coef[side], np.diff(starts), axis=0).astype(np.complex64) for side in range(2)]
    for lo in range(0, len(idx), _CHUNK):
        ix = idx[lo:lo + _CHUNK]
        ys = [_frames(r[:, side], ix)[first:last] for side in range(2)]  # (bins, frames)
        specs = [[_frames(a[:, s] if a.ndim == 2 else a, ix)[first:last]
                  for s in range(a.shape[1] if a.ndim == 2 else 1)] for a in arrays]
        # a mono stem feeds both sides with the same spectrum: transformed once
        xs = [np.stack([sp[min(side, len(sp) - 1)] for sp in specs], axis=1)  # (bins, N, T)
              for side in range(2)]
        if per_bin is not None and num is not None and den is not None and used is not None:
            # the stereo bus compressor is linked: one gain per frame for both sides
            models = [np.einsum("kn,knt->kt", per_bin[side], xs[side]) for side in range(2)]
            fn = sum(np.einsum("kt,kt->t", m.conj(), y).real for m, y in zip(models, ys,
                                                                               strict=True))
            fd = sum(np.einsum("kt,kt->t", m.conj(), m).real for m in models)
            c_t = np.where(fd > 0, fn / np.maximum(fd, 1e-30), 0.0)
            num[lo:lo + len(ix)] = fn
            den[lo:lo + len(ix)] = fd
            if was is not None and step != 1.0:
                u = was[lo:lo + len(ix)]
                c_t = np.exp(u + step * (np.log(np.maximum(c_t, 1e-6)) - u))
            used[lo:lo + len(ix)] = np.log(np.maximum(c_t, 1e-6))
            xs = [x * c_t.astype(np.float32)[None, None, :] for x in xs]
        for side in range(2):
            x, y = xs[side], ys[side]
            g = np.matmul(x, x.conj().transpose(0, 2, 1))  # (bins, N, N)
            xy = np.matmul(x, y.conj()[:, :, None])[:, :, 0]  # (bins, N)
            yy = np.einsum("kt,kt->k", y, y.conj()).real
            gram[side] += np.add.reduceat(g, cuts, axis=0)
            cross[side] += np.add.reduceat(xy, cuts, axis=0)
            rough_e[side] += np.add.reduceat(yy, cuts, axis=0)
    return _Sums(gram, cross, rough_e, num, den, used)


def _solve(acc: _Sums) -> tuple[npt.NDArray[np.complex128], _Energy, _Energy, _Energy]:
    """Per side and band, the complex gains that best rebuild the rough from the stems
    (normal equations, stems x stems): (gains, |gains|^2, stems' energies, residual)."""
    _, nb, n, _ = acc.gram.shape
    coef = np.zeros((2, nb, n), dtype=np.complex128)
    power = np.zeros((2, nb, n))  # |a|^2: each stem's fitted power gain in each band
    stem_e = np.zeros((2, nb, n))  # each stem's own energy in each band
    resid = np.zeros(nb)
    for side in range(2):
        for b in range(nb):
            # gram and cross were summed as X X^H and X y^*, the conjugates of the usual
            # form, so the solution is conjugated back
            g = acc.gram[side, b]
            scale = max(float(np.trace(g).real) / n, 1e-30)
            a = np.linalg.solve(g + 1e-9 * scale * np.eye(n), acc.cross[side, b]).conj()
            coef[side, b] = a
            power[side, b] = np.abs(a) ** 2
            stem_e[side, b] = np.real(np.diag(g))
            explained = float(np.real(np.sum(acc.cross[side, b] * a)))
            resid[b] += max(acc.rough_e[side, b] - explained, 0.0)
    return coef, power, stem_e, resid


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
    stereo = [a.ndim == 2 and a.shape[1] == 2 for a in arrays]
    edges, starts = _bands(rate)
    # Pass 1: a plain fit. Then, pass after pass, each frame's bus gain c(t) (a
    # compressor riding the rough) is read off the last pass's model and the fit made
    # again with the stems scaled by it. Gains and c(t) settle slowly when stems play
    # in sections of different loudness (each pass takes about half the error off),
    # so these passes run on every STRIDE-th frame only, until c(t) stops moving; a
    # last pass takes every frame. The share of the error a pass takes off is measured
    # from pass to pass and the next step stretched to match (a secant step on the
    # slowest mode, as in Aitken's extrapolation; at most MAX_STEP).
    stride = max(1, min(STRIDE, count // 64))
    some = np.arange(0, count, stride, dtype=np.intp)
    coef: npt.NDArray[np.complex128] | None = None
    was: _Energy | None = None  # the log gains the last pass used
    moved: _Energy | None = None  # how far the fresh reading moved from them
    step = 1.0
    for _ in range(MAX_PASSES):
        acc = _pass(r, arrays, some, coef, starts, was, step)
        coef, power, stem_e, resid = _solve(acc)
        if acc.num is None or acc.den is None or acc.used is None:
            continue
        fresh = np.log(np.maximum(acc.num / np.maximum(acc.den, 1e-300), 1e-6))
        now = fresh - (0.0 if was is None else was)
        # frames weigh by their energy: a near-silent frame's gain is noise
        weight = acc.den / max(float(acc.den.sum()), 1e-300)
        if math.sqrt(float(np.dot(weight, now ** 2))) * 20.0 / math.log(10.0) < SETTLED_DB:
            break
        if moved is not None:
            q = float(np.dot(weight * now, moved) / max(float(np.dot(weight * moved, moved)),
                                                        1e-300))
            # q >= 1: not shrinking at all, so nothing to extrapolate: plain steps
            step = 1.0 if q >= 1.0 else min(max(step / (1.0 - q), 1.0), MAX_STEP)
        was, moved = acc.used, now
    if stride > 1:
        acc = _pass(r, arrays, np.arange(count, dtype=np.intp), coef, starts)
        coef, power, stem_e, resid = _solve(acc)
    assert acc.num is not None and acc.den is not None  # MAX_PASSES >= 2
    rough_e = acc.rough_e
    # c(t) scales the stems, up to the common factor the stems' gains carry: the bus
    # compressor's static curve against the un-compressed level (the model's energy)
    # finds the gain of the frames it left alone, which is unity (no makeup gain).
    den_t = acc.den
    c_t = np.where(den_t > 0, acc.num / np.maximum(den_t, 1e-300), 0.0)
    curve = buscomp.fit(den_t, c_t)
    live = c_t[c_t > 0]
    dynamics = float(20.0 * np.log10(np.percentile(live, 95) / max(
        float(np.percentile(live, 5)), 1e-12))) if live.size else 0.0
    power = power * curve.unity ** 2
    stem_e = stem_e / curve.unity ** 2
    return _summarise(power, stem_e, rough_e, resid, stereo, edges, frames / rate, dynamics,
                      curve)


def _summarise(power: _Energy, stem_e: _Energy, rough_e: _Energy, resid: _Energy,
               stereo: list[bool], edges: _Energy, seconds: float,
               dynamics: float, curve: buscomp.BusCurve) -> RoughMatch:
    """Split the per-band power gains into a gain per stem and side and an EQ per band.

    power[s, b, i] ~= w[s, i] * q[b]: alternating ratio estimates (each stem's fitted
    energy over what its gain and the EQ predict) until they settle; then the level
    is moved so that the EQ's median band (over the bands the rough has material in)
    is at 0 dB: a little bus EQ leaves the typical band alone, and the rest of the
    level belongs to the stems.
    """
    nb = power.shape[1]
    fitted = power * stem_e  # the energy each stem brings to each band, as fitted
    band_w = rough_e.sum(axis=0) + 1e-300
    q = np.ones(nb)
    w = np.zeros((2, power.shape[2]))
    # Stems that share few bands (a kick in the lows, hats in the highs) couple the
    # EQ's ends only through the stems in between: the iteration settles slowly (12
    # steps left 0.6 dB between stems on a bus EQ), so it runs to convergence.
    for _ in range(MAX_ITERATIONS):
        predicted = (stem_e * q[None, :, None]).sum(axis=1)
        w = np.where(predicted > 0, fitted.sum(axis=1) / np.maximum(predicted, 1e-300), 0.0)
        model = (stem_e * w[:, None, :]).sum(axis=(0, 2))
        q_new = np.where(model > 0, fitted.sum(axis=(0, 2)) / np.maximum(model, 1e-300), 1.0)
        q_new = np.maximum(q_new, 1e-12)
        q_new /= float(np.exp((np.log(q_new) * band_w).sum() / band_w.sum()))
        step = float(np.max(np.abs(np.log(q_new / q))))
        q = q_new
        if step < 1e-7:
            break
    # Recompute w against the final q, then hand the EQ's median band's level to it.
    predicted = (stem_e * q[None, :, None]).sum(axis=1)
    w = np.where(predicted > 0, fitted.sum(axis=1) / np.maximum(predicted, 1e-300), 0.0)
    heard = band_w >= band_w.max() * MATERIAL
    level = float(np.median(q[heard]))
    q /= level
    w *= level
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
        bus_unity_share=round(curve.below, 3),
    )
