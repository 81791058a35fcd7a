"""A/B: two mixes, switched in one block, compared at the same loudness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surfaced.mix.ab import ABCompare, gated_loudness
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.session import generators


def test_gated_loudness_follows_bs1770() -> None:
    assert gated_loudness([-20.0] * 30) == pytest.approx(-20.0)
    # Silence (below -70 LUFS) and quiet passages (> 10 LU under) do not count.
    assert gated_loudness([-20.0] * 30 + [-80.0] * 30 + [-35.0] * 5) == pytest.approx(-20.0)
    assert gated_loudness([-90.0] * 5) == float("-inf")


def play(engine: Engine, ab: ABCompare, t: float, seconds: float) -> float:
    """Run the engine offline, ticking A/B every 100 ms as the daemon does."""
    for _ in range(int(seconds * 10)):
        engine.process(4800)
        t += 0.1
        ab.tick(t)
    return t


def pink_at_unity() -> tuple[Mixer, Engine, ABCompare]:
    """One channel of pink noise at 0 dB, and A/B over a 3 s window."""
    mixer = Mixer(Engine(1, 0, max_block=512))
    engine = mixer.engine
    engine.set_source_buffer(1, generators.generate("pink", 48000, 4.0))
    mixer.set("ch/1/fader", 0.0, "test")
    engine.settle()
    return mixer, engine, ABCompare(mixer, window=3.0)


def test_switch_copy_and_loudness_match_with_the_core_meters() -> None:
    mixer, engine, ab = pink_at_unity()
    t = play(engine, ab, 0.0, 3.0)
    a_lufs = ab.loudness("A")
    assert math.isfinite(a_lufs)
    assert ab.switch() == "B"  # B starts as a copy of A
    mixer.set("ch/1/fader", -6.0, "test")  # the engineer tries a quieter B
    t = play(engine, ab, t, 3.0)
    assert ab.loudness("B") == pytest.approx(a_lufs - 6.0, abs=0.3)
    assert ab.trim_db == 0.0  # not matching yet
    ab.set_match(True)
    assert ab.switch() == "A"
    assert mixer.get("ch/1/fader") == 0.0
    assert ab.trim_db == pytest.approx(-6.0, abs=0.3)  # the louder A is turned down
    t = play(engine, ab, t, 1.0)
    heard = engine.meters().master.momentary_lufs
    assert heard == pytest.approx(a_lufs - 6.0, abs=0.5), "A now plays as loud as B"
    assert ab.loudness("A") == pytest.approx(a_lufs, abs=0.3), "A's own loudness is unchanged"
    assert ab.switch() == "B"
    assert mixer.get("ch/1/fader") == -6.0 and ab.trim_db == pytest.approx(0.0, abs=0.05)
    assert ab.copy() == "A"
    assert ab.switch() == "A" and mixer.get("ch/1/fader") == -6.0
    assert ab.state()[0] == "A"
    play(engine, ab, t, 0.5)
    assert np.isfinite(engine.meters().master.momentary_lufs)


def test_idle_ab_never_wakes_the_loop_and_still_knows_each_slots_loudness() -> None:
    """The core keeps the loudness history: nothing samples it while nobody compares."""
    mixer, engine, ab = pink_at_unity()
    assert ab.due() == math.inf  # no tick is ever due while matching is off
    engine.process(3 * 48000)  # no tick()
    a_lufs = ab.loudness("A")
    assert math.isfinite(a_lufs)
    assert ab.switch() == "B"
    mixer.set("ch/1/fader", -10.0, "test")
    engine.process(3 * 48000)
    assert ab.loudness("B") == pytest.approx(a_lufs - 10.0, abs=0.3)
    assert ab.loudness("A") == pytest.approx(a_lufs, abs=0.01), "B's audio is not A's"
    state = ab.state()
    assert state[0] == "B" and state[3:] == pytest.approx((a_lufs, a_lufs - 10.0), abs=0.3)
    ab.set_match(True)
    assert ab.trim_db == 0.0  # B, the quieter one, is heard
    assert math.isfinite(ab.due())  # matching follows the loudness (once a second)
