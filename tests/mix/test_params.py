"""The parameter vocabulary: paths, ranges, errors, tapers, and agreement with the core."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from surfaced.mix import params, tapers
from surfaced.mix.engine import Engine, QueueFullError
from surfaced.mix.mixer import Mixer

ROOT = Path(__file__).resolve().parents[2]


def test_param_enum_matches_the_c_header() -> None:
    header = (ROOT / "native" / "sf_core.h").read_text()
    body = header[header.index("enum sf_param {"):header.index("SF_P_COUNT")]
    names = re.findall(r"SF_P_([A-Z_]+)", body)
    assert names == list(params.P)


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("ch/3/fadr", 0.0, "unknown parameter 'ch/3/fadr'"),
        ("ch/9/fader", 0.0, "channel 9 does not exist; this mix has channels 1..8"),
        ("ch/1/fader", 12.0, "ch/1/fader: 12.0 is out of range; allowed -inf..10 dB"),
        ("ch/1/eq/5/gain", 0.0, "EQ band 5 does not exist"),
        ("ch/1/eq/2/gain", 30.0, "allowed -18..18 dB"),
        ("ch/1/mute", 2, "expected 0 or 1"),
        ("ch/1/pan", float("nan"), "NaN is not a value"),
        ("ch/1/pan", "left", "expected a number"),
        ("bus/5/fader", 0.0, "bus 5 does not exist"),
        ("ch/1/send/3", 0.0, "bus 3 does not exist"),
        ("master/mute", 1, "unknown parameter"),
    ],
)
def test_bad_paths_and_values_name_the_path_and_range(path: str, value: object,
                                                      needle: str) -> None:
    e = Engine(8, 2)
    with pytest.raises(params.ParamError) as info:
        e.set(path, value)
    assert needle in str(info.value)


def test_every_path_resolves_and_accepts_its_default() -> None:
    e = Engine(3, 2)
    paths = params.all_paths(3, 2)
    assert "ch/2/eq/4/q" in paths and "bus/2/mute" in paths and "master/fader" in paths
    for p in paths:
        spec = e.spec(p)
        assert e.set(p, spec.default) == spec.default


def test_core_defaults_equal_the_vocabulary_defaults() -> None:
    """Two entry points, one truth: a fresh engine and one with every default set explicitly
    sound the same (catches drift between native/strip.c and params.py)."""
    rng = np.random.default_rng(3)
    src = [rng.standard_normal(3000).astype(np.float32) * 0.2 for _ in range(2)]
    a, b = Engine(2, 2), Engine(2, 2)
    for e in (a, b):
        for i, s in enumerate(src, start=1):
            e.set_source_buffer(i, s)
    for p in params.all_paths(2, 2):
        b.set(p, b.spec(p).default)
    for e in (a, b):
        e.set("ch/1/eq/on", 1)  # bands at their default frequencies, flat
        e.set("ch/2/comp/on", 1)  # compressor at its default settings
        e.settle()
    assert np.array_equal(a.process(6000), b.process(6000))


def test_text_parameters_stay_on_the_control_side() -> None:
    mixer = Mixer(Engine(2, 0))
    mixer.set("ch/1/name", "Kick", "test")
    assert mixer.get("ch/1/name") == "Kick"
    assert mixer.engine.frames_processed() == 0 and mixer.engine.process(64).shape == (64, 2)
    with pytest.raises(params.ParamError):
        mixer.set("ch/1/name", 3.0, "test")
    assert mixer.get("ch/1/name") == "Kick"


def test_minus_inf_is_silence() -> None:
    e = Engine(1, 0)
    e.set_source_buffer(1, np.full(100, 0.5, dtype=np.float32))
    e.set("ch/1/fader", "-inf")
    e.settle()
    assert not e.process(256).any()


def test_queue_full_is_reported_counted_and_recovers() -> None:
    e = Engine(1, 0)
    with pytest.raises(QueueFullError) as info:
        for _ in range(100000):
            e.set("ch/1/pan", 0.5)
    assert "queue full" in str(info.value)
    assert e.meters().master.dropped_params == 1
    e.process(64)  # the audio side drains the queue
    e.set("ch/1/pan", 0.25)  # and the control side can send again


@given(st.floats(0.0, 1.0))
def test_fader_taper_round_trips(pos: float) -> None:
    db = tapers.fader_db(pos)
    assert tapers.fader_position(db) == pytest.approx(pos, abs=1e-9)


def test_fader_taper_landmarks() -> None:
    assert tapers.fader_db(0.0) == float("-inf")
    assert tapers.fader_db(0.75) == pytest.approx(0.0)
    assert tapers.fader_db(1.0) == pytest.approx(10.0)
    xs = np.linspace(0.001, 1, 500)
    assert np.all(np.diff([tapers.fader_db(x) for x in xs]) > 0)  # monotonic


@given(st.floats(0.0, 1.0))
def test_log_taper_round_trips(pos: float) -> None:
    spec = params.spec_for("ch/1/eq/2/freq", 1, 0)
    value = spec.from_position(pos)
    assert 20.0 <= value <= 20000.0
    assert spec.to_position(value) == pytest.approx(pos, abs=1e-9)


def test_paths_have_one_spelling() -> None:
    e = Mixer(Engine(8, 2))
    assert e.spec("ch/03/fader").path == "ch/3/fader"
    assert e.spec("/ch/3/eq/02/gain/").path == "ch/3/eq/2/gain"
    e.set("ch/03/fader", -30.0, "test")
    assert e.get("ch/3/fader") == -30.0
    with pytest.raises(params.ParamError, match="channel 0 does not exist"):
        e.spec("ch/00/fader")


def test_a_fresh_engine_reads_silence_not_zero_lufs() -> None:
    m = Engine(2, 1).meters().master
    assert m.integrated_lufs <= -200.0 and m.momentary_lufs <= -200.0
