"""Rough-mix matching, proven on stems mixed with known gains and pans."""

from __future__ import annotations

import numpy as np

from surfaced.assist.rough import match
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.session import generators

RATE = 48000
NAMES = ["kick", "snare", "hats", "bass", "keys", "pad", "vocal", "lead"]
GAINS = [-3.0, -6.0, -12.0, -4.0, -9.0, -14.0, -2.0, -10.0]
PANS = [0.0, 0.1, 0.4, 0.0, -0.3, 0.0, 0.0, -0.6]
# The bars (2 s each, 8 in all) each stem plays in: an intro of pad and hats, a verse
# adding kick, bass, keys and vocal, a chorus with everything, an outro of pad, keys
# and vocal. A song has quieter passages; the loops alone never let a bus compressor go.
PLAYS = {"kick": range(2, 6), "snare": range(4, 6), "hats": range(0, 6), "bass": range(2, 6),
         "keys": range(2, 8), "pad": range(0, 8), "vocal": range(2, 8), "lead": range(4, 6)}


def _stems() -> list[np.ndarray]:
    out = [generators.generate(n, RATE, 16.0) for n in NAMES]
    assert out[5].ndim == 2  # the pad is a stereo stem
    return out


def _song() -> list[np.ndarray]:
    """The stems arranged into a song: each silent outside its bars (10 ms fades)."""
    bar = int(generators.BAR_SECONDS * RATE)
    fade = np.hanning(int(0.02 * RATE) + 1)
    out = []
    for name, s in zip(NAMES, _stems(), strict=True):
        gate = np.zeros(len(s))
        for b in PLAYS[name]:
            gate[b * bar:(b + 1) * bar] = 1.0
        gate = np.convolve(gate, fade / fade.sum(), mode="same")
        out.append((s * (gate if s.ndim == 1 else gate[:, None])).astype(np.float32))
    return out


def _rough(stems: list[np.ndarray], eq: bool = False, comp: bool = False,
           makeup: float = 0.0) -> np.ndarray:
    """The producer's rough, mixed by the real core, with a little EQ (+1.5 dB low
    shelf, -1.5 dB at 2.5 kHz, +1 dB high shelf) and a 2:1 compressor at -20 dB
    (default knee, attack and release) on its bus if asked."""
    m = Mixer(Engine(len(stems), 0, RATE, 4096))
    for i, s in enumerate(stems, start=1):
        m.engine.set_source_buffer(i, s)
    m.apply({**{f"ch/{i}/fader": g for i, g in enumerate(GAINS, 1)},
             **{f"ch/{i}/pan": p for i, p in enumerate(PANS, 1)}}, "producer")
    m.engine.settle()
    out = m.engine.process(len(stems[0]))
    if not (eq or comp):
        return out
    b = Mixer(Engine(1, 0, RATE, 4096))
    b.engine.set_source_buffer(1, out)
    values = {"ch/1/eq/on": 1, "ch/1/eq/1/gain": 1.5, "ch/1/eq/3/gain": -1.5,
              "ch/1/eq/4/gain": 1.0} if eq else {}
    if comp:
        values |= {"ch/1/comp/on": 1, "ch/1/comp/threshold": -20.0, "ch/1/comp/ratio": 2.0,
                   "ch/1/comp/makeup": makeup}
    b.apply(values, "producer")
    b.engine.settle()
    return b.engine.process(len(out))


def _errors(fit_gains: tuple[float, ...], fit_pans: tuple[float, ...]) -> tuple[np.ndarray, float]:
    return np.array(fit_gains) - GAINS, float(np.max(np.abs(np.array(fit_pans) - PANS)))


def test_a_plain_rough_is_recovered_within_half_a_db_and_005_pan() -> None:
    stems = _stems()
    fit = match(stems, _rough(stems), RATE)
    gains, pans = _errors(fit.gains_db, fit.pans)
    assert np.max(np.abs(gains)) < 0.5
    assert pans < 0.05
    assert max(fit.residual_db) < -40  # the stems explain the rough


def test_eq_on_the_bus_is_told_from_the_stems_levels() -> None:
    stems = _stems()
    fit = match(stems, _rough(stems, eq=True), RATE)
    gains, pans = _errors(fit.gains_db, fit.pans)
    assert np.max(np.abs(gains)) < 0.5
    assert pans < 0.05
    assert fit.bus_eq_db[0] > 1.0 and fit.bus_eq_db[18] < -1.0  # low shelf up, 2.5 kHz dip


def test_eq_and_compression_on_the_bus_are_told_from_the_stems_levels() -> None:
    stems = _song()
    fit = match(stems, _rough(stems, eq=True, comp=True), RATE)
    gains, pans = _errors(fit.gains_db, fit.pans)
    assert np.max(np.abs(gains)) < 0.5  # absolute: the quiet passages pin unity gain
    assert pans < 0.05
    assert fit.bus_unity_share > 0.1  # the intro was found below the knee
    assert fit.bus_dynamics_db > 1.0
    assert fit.bus_eq_db[0] > fit.bus_eq_db[18]


def test_makeup_gain_on_the_bus_compressor_lifts_every_stem_alike() -> None:
    # the documented assumption: unity gain below the threshold. Makeup gain cannot be
    # told from louder stems, so the gains come out high by it and the balance stays.
    stems = _song()
    fit = match(stems, _rough(stems, eq=True, comp=True, makeup=3.0), RATE)
    gains, pans = _errors(fit.gains_db, fit.pans)
    assert np.max(np.abs(gains - 3.0)) < 0.5
    assert pans < 0.05


def test_a_compressor_that_never_lets_go_keeps_the_balance_and_says_so() -> None:
    # the loops play all through, never below the threshold: the reduction it applies
    # all along cannot be told from the stems' own level; the balance still can
    stems = _stems()
    fit = match(stems, _rough(stems, eq=True, comp=True), RATE)
    gains, pans = _errors(fit.gains_db, fit.pans)
    assert fit.bus_unity_share == 0.0
    assert np.max(np.abs(gains - np.mean(gains))) < 0.5
    assert np.mean(gains) < -0.5  # low by (about) the reduction of the quietest frames
    assert pans < 0.05


def test_matching_is_deterministic() -> None:
    stems = _song()
    rough = _rough(stems, eq=True, comp=True)
    assert match(stems, rough, RATE) == match(stems, rough, RATE)
