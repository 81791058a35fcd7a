"""Scenes: store, recall within scope and safes, one block per recall, crossfades."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from measured import Figures

from surfaced.mix.audio import HeadlessClock
from surfaced.mix.commands import CommandError
from surfaced.mix.engine import Engine, to_db
from surfaced.mix.mixer import Mixer
from surfaced.mix.scenes import KINDS, Safes, SceneBook, kind_of, strip_of


@pytest.fixture
def book() -> SceneBook:
    mixer = Mixer(Engine(8, 2))
    b = SceneBook(mixer)
    b.register()
    return b


def messy(mixer: Mixer) -> dict[str, object]:
    """A mix that differs from the defaults in every kind."""
    values: dict[str, object] = {
        "ch/1/trim": 6.0, "ch/1/phase": 1, "ch/1/eq/on": 1, "ch/1/eq/2/gain": -4.5,
        "ch/1/hpf/freq": 120.0, "ch/1/comp/on": 1, "ch/1/comp/ratio": 6.0, "ch/1/fader": -7.5,
        "ch/1/pan": 0.25, "ch/1/mute": 1, "ch/1/send/2": -12.0, "ch/1/name": "Kick",
        "ch/3/fader": -20.0, "bus/1/fader": -3.0, "master/fader": -1.5,
    }
    mixer.apply(values, "test")
    return values


def test_every_path_has_a_kind_and_a_strip() -> None:
    mixer = Mixer(Engine(2, 2))
    for path in mixer.paths():
        assert kind_of(path) in (*KINDS, "solo"), path
        assert strip_of(path) in ("ch/1", "ch/2", "bus/1", "bus/2", "master")


def test_store_and_recall_bring_the_whole_mix_back(book: SceneBook) -> None:
    mixer = book.mixer
    values = messy(mixer)
    book.store("Verse")
    mixer.apply({p: mixer.spec(p).default if not mixer.spec(p).is_text else "" for p in values},
                "test")
    assert mixer.get("ch/1/fader") == 0.0
    done = book.recall("Verse", "scene:Verse")
    assert done.changed == len(values) and done.held == 0
    assert {p: mixer.get(p) for p in values} == {p: mixer.spec(p).validate(v)
                                                 if not isinstance(v, str) else v
                                                 for p, v in values.items()}


def test_solo_is_never_stored_nor_recalled(book: SceneBook) -> None:
    mixer = book.mixer
    mixer.set("ch/2/solo", 1, "test")
    book.store("A")
    assert not any(p.endswith("/solo") for p in book.get("A").values)
    mixer.set("ch/2/solo", 0, "test")
    mixer.set("ch/5/solo", 1, "test")
    book.recall("A", "scene:A")
    assert mixer.get("ch/5/solo") == 1.0 and mixer.get("ch/2/solo") == 0.0


def test_safes_and_scope_hold_values_back(book: SceneBook) -> None:
    mixer = book.mixer
    book.store("flat")
    values = messy(mixer)
    book.set_safes(kinds=frozenset({"names", "eq"}), strips=frozenset({"ch/3"}))
    done = book.recall("flat", "scene:flat")
    assert mixer.get("ch/1/name") == "Kick"  # names are safe
    assert mixer.get("ch/1/eq/2/gain") == -4.5 and mixer.get("ch/1/hpf/freq") == 120.0
    assert mixer.get("ch/3/fader") == -20.0  # the whole strip is safe
    assert mixer.get("ch/1/fader") == 0.0 and mixer.get("master/fader") == 0.0
    assert done.held > 0
    book.set_safes(kinds=frozenset(), strips=frozenset())
    messy(mixer)
    book.recall("flat", "scene:flat", scope=frozenset({"mutes"}))  # a recall of mutes only
    assert mixer.get("ch/1/mute") == 0.0 and mixer.get("ch/1/fader") == -7.5
    assert values  # the mix was really changed before each recall


def test_rename_delete_list_and_errors_name_the_scene(book: SceneBook) -> None:
    run = book.mixer.commands.run
    assert run("scene/store", ("Intro",), "osc:x") == ("Intro",)
    run("scene/store", ("Verse",), "osc:x")
    assert run("scene/list", (), "osc:x") == ("Intro", "Verse")
    run("scene/rename", ("Intro", "Pre"), "osc:x")
    run("scene/delete", ("Verse",), "osc:x")
    assert run("scene/list", (), "osc:x") == ("Pre",)
    with pytest.raises(CommandError, match="no scene called 'Chorus' \\(scenes: Pre\\)"):
        run("scene/recall", ("Chorus",), "osc:x")
    with pytest.raises(CommandError, match="scene/recall: expected a scene name"):
        run("scene/recall", (), "osc:x")
    with pytest.raises(CommandError, match="unknown kind 'fx'"):
        run("safe/kinds", ("fx",), "osc:x")
    with pytest.raises(CommandError, match="'ch/9' is not a strip"):
        run("safe/channels", ("ch/9",), "osc:x")
    assert run("safe/channels", ("ch/2", "master"), "osc:x") == ("ch/2", "master")
    assert book.safes == Safes(frozenset(), frozenset({"ch/2", "master"}))


def test_next_and_previous_walk_the_scene_list(book: SceneBook) -> None:
    mixer = book.mixer
    for i, name in enumerate(("One", "Two", "Three")):
        mixer.set("ch/1/fader", -float(i), "test")
        book.store(name)
    book.recall("One", "test")
    assert mixer.commands.run("scene/next", (), "x") == ("Two",)
    assert mixer.get("ch/1/fader") == -1.0
    assert mixer.commands.run("scene/previous", (), "x") == ("One",)
    assert mixer.commands.run("scene/previous", (), "x") == ("Three",)  # wraps
    assert mixer.get("ch/1/fader") == -2.0


@pytest.mark.figures
def test_a_64_channel_recall_lands_in_one_block_while_audio_runs(figures: Figures) -> None:
    """Proof from the core: every change of each recall was applied by the same block."""
    mixer = Mixer(Engine(64, 8, max_block=64))
    book = SceneBook(mixer)
    rng = np.random.default_rng(7)
    for name in ("A", "B"):
        mixer.apply({f"ch/{c}/{leaf}": float(rng.uniform(-18, 0))
                     for c in range(1, 65) for leaf in ("fader", "eq/1/gain" if name == "A"
                                                        else "trim")}, "test")
        mixer.apply({f"ch/{c}/pan": float(rng.uniform(-1, 1)) for c in range(1, 65)}, "test")
        book.store(name)
    waits = []
    with HeadlessClock(mixer.engine, block=64):
        applied_before = mixer.engine.txn_status().applied
        for i in range(40):
            frames_before = mixer.engine.frames_processed()
            done = book.recall("AB"[i % 2], "test")
            assert done.changed > 128
            deadline = time.monotonic() + 5.0
            while mixer.engine.txn_status().txn != done.txn and time.monotonic() < deadline:
                time.sleep(0.001)
            status = mixer.engine.txn_status()
            assert status.txn == done.txn, "the recall reached the core"
            assert status.first_frame == status.last_frame, "all of it applied by one block"
            assert status.block_ns > 0
            waits.append((status.first_frame - frames_before) / 48000 * 1000)
        assert status.split == 0 and status.applied - applied_before >= 40
    figures.record("recall_changes", done.changed, "values",
                   "values that change in each recall between two 64-channel scenes (fader, "
                   "pan and EQ or trim of every channel; the scene holds every parameter)")
    figures.record("recall_blocks", 1 + status.split, "block",
                   "audio blocks one recall is spread over (40 recalls, core's record)")
    figures.record("recall_wait_ms_max", max(waits), "ms",
                   "audio time from the recall call to the start of the block applying it "
                   "(64-frame blocks at 48 kHz; worst of 40)", keep="max")


def test_a_crossfade_moves_the_fader_over_the_fade_time() -> None:
    mixer = Mixer(Engine(1, 0, max_block=480))
    engine = mixer.engine
    engine.set_source_buffer(1, np.full(4800, 0.5, dtype=np.float32))
    mixer.set("ch/1/fader", "-inf", "test")
    mixer.set("ch/1/pan", 0.0, "test")
    engine.settle()
    book = SceneBook(mixer)
    book.store("silent")
    mixer.set("ch/1/fader", 0.0, "test")
    book.store("loud")
    book.recall("silent", "test")
    engine.settle()
    book.recall("loud", "test", fade=1.0)
    levels = []
    for _ in range(12):  # 12 blocks of 100 ms
        out = engine.process(4800)
        levels.append(to_db(float(np.abs(out[-1, 0]))))
    assert all(b >= a for a, b in itertools.pairwise(levels)), levels
    assert levels[1] < levels[-1] - 20.0, "still far from the target early in the fade"
    assert levels[9] == pytest.approx(levels[-1], abs=0.01), "at the target after 1 s"
    assert levels[-1] == pytest.approx(to_db(0.5 * np.sqrt(0.5)), abs=0.01)
