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


def _stems() -> list[np.ndarray]:
    out = [generators.generate(n, RATE, 16.0) for n in NAMES]
    assert out[5].ndim == 2  # the pad is a stereo stem
    return out


def _rough(stems: list[np.ndarray], bus: bool) -> np.ndarray:
    """The producer's rough, mixed by the real core; `bus`: a little EQ and compression."""
    m = Mixer(Engine(len(stems), 0, RATE, 4096))
    for i, s in enumerate(stems, start=1):
        m.engine.set_source_buffer(i, s)
    m.apply({**{f"ch/{i}/fader": g for i, g in enumerate(GAINS, 1)},
             **{f"ch/{i}/pan": p for i, p in enumerate(PANS, 1)}}, "producer")
    m.engine.settle()
    out = m.engine.process(len(stems[0]))
    if not bus:
        return out
    b = Mixer(Engine(1, 0, RATE, 4096))
    b.engine.set_source_buffer(1, out)
    b.apply({"ch/1/eq/on": 1, "ch/1/eq/1/gain": 1.5, "ch/1/eq/3/gain": -1.5,
             "ch/1/eq/4/gain": 1.0, "ch/1/comp/on": 1, "ch/1/comp/threshold": -20.0,
             "ch/1/comp/ratio": 2.0}, "producer")
    b.engine.settle()
    return b.engine.process(len(out))


def test_a_plain_rough_is_recovered_within_half_a_db_and_005_pan() -> None:
    stems = _stems()
    fit = match(stems, _rough(stems, bus=False), RATE)
    assert np.max(np.abs(np.array(fit.gains_db) - GAINS)) < 0.5
    assert np.max(np.abs(np.array(fit.pans) - PANS)) < 0.05
    assert max(fit.residual_db) < -40  # the stems explain the rough


def test_eq_and_compression_on_the_bus_keep_the_balance_and_pans() -> None:
    stems = _stems()
    fit = match(stems, _rough(stems, bus=True), RATE)
    err = np.array(fit.gains_db) - GAINS
    # A compressor working all song long takes level off everything alike (its
    # reduction cannot be told from the stems' own level); the balance between
    # the stems, which the engineer hears, is recovered.
    assert np.max(np.abs(err - np.mean(err))) < 0.5
    assert np.max(np.abs(np.array(fit.pans) - PANS)) < 0.05
    assert fit.bus_eq_db[0] > fit.bus_eq_db[18]  # the low shelf up, the 2.5 kHz dip down


def test_matching_is_deterministic() -> None:
    stems = _stems()
    rough = _rough(stems, bus=False)
    assert match(stems, rough, RATE) == match(stems, rough, RATE)
