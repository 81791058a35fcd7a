"""Undo and redo by gesture: what a person at the desk expects one press of UNDO to take back."""

from __future__ import annotations

import pytest
from measured import Figures

from surfaced.mix.ab import ABCompare
from surfaced.mix.commands import CommandError
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.scenes import SceneBook
from surfaced.mix.undo import UndoHistory


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig() -> tuple[Mixer, UndoHistory, Clock]:
    clock = Clock()
    mixer = Mixer(Engine(4, 2), clock=clock)
    return mixer, UndoHistory(mixer, gap=0.5), clock


def ride(mixer: Mixer, clock: Clock, path: str, values: list[float], source: str,
         every: float = 0.02) -> None:
    for v in values:
        clock.now += every
        mixer.set(path, v, source)


def test_a_burst_from_one_control_is_one_step(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    ride(mixer, clock, "ch/1/fader", [-10.0, -8.0, -6.0, -4.0], "osc:a")
    clock.now += 0.6  # a pause longer than the gap: the next move is a new gesture
    ride(mixer, clock, "ch/1/fader", [-3.0, -2.0], "osc:a")
    assert history.depth_kept == 2
    history.undo()
    assert mixer.get("ch/1/fader") == -4.0
    history.undo()
    assert mixer.get("ch/1/fader") == 0.0  # back to where the first gesture started
    with pytest.raises(CommandError, match="nothing to undo"):
        history.undo()


def test_a_touched_ride_is_one_step_however_slow(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    mixer.touch("ch/2/fader", "surface:mcu", True)
    ride(mixer, clock, "ch/2/fader", [-20.0, -15.0, -12.0], "surface:mcu", every=2.0)
    mixer.touch("ch/2/fader", "surface:mcu", False)
    assert history.depth_kept == 1
    history.undo()
    assert mixer.get("ch/2/fader") == 0.0


def test_two_hands_at_once_are_two_steps(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    for i in range(5):  # interleaved: engineer on ch 1, producer on ch 2
        clock.now += 0.01
        mixer.set("ch/1/pan", -0.1 * (i + 1), "surface:mcu")
        mixer.set("ch/2/pan", 0.1 * (i + 1), "osc:ipad")
    assert history.depth_kept == 2
    history.undo()  # the newest gesture: the producer's
    assert mixer.get("ch/2/pan") == 0.0 and mixer.get("ch/1/pan") == pytest.approx(-0.5)


def test_undo_redo_and_a_new_change_clears_redo(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    mixer.set("ch/3/mute", 1, "osc:a")
    clock.now += 1
    mixer.set("ch/3/name", "Vox", "osc:a")
    history.undo()
    assert mixer.get("ch/3/name") == "" and history.redo_depth == 1
    history.redo()
    assert mixer.get("ch/3/name") == "Vox"
    history.undo()
    history.undo()
    assert mixer.get("ch/3/mute") == 0.0 and history.redo_depth == 2
    clock.now += 1
    mixer.set("ch/4/mute", 1, "osc:a")
    assert history.redo_depth == 0
    with pytest.raises(CommandError, match="nothing to redo"):
        history.redo()


def test_a_change_right_after_undo_is_a_new_step(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    ride(mixer, clock, "ch/1/fader", [-10.0, -9.0], "osc:a")
    history.undo()
    ride(mixer, clock, "ch/1/fader", [-5.0], "osc:a")  # within the gap, but after an undo
    history.undo()
    assert mixer.get("ch/1/fader") == 0.0


def test_a_scene_recall_is_one_step(rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, _clock = rig
    book = SceneBook(mixer)
    book.store("flat")
    mixer.apply({"ch/1/fader": -3.0, "ch/2/fader": -7.0, "ch/3/eq/on": 1}, "osc:a",
                step=False)  # a preset load that is not an undo step of its own
    book.store("busy")
    book.recall("flat", "scene:flat")
    assert history.depth_kept == 1
    history.undo()
    assert (mixer.get("ch/1/fader"), mixer.get("ch/2/fader"), mixer.get("ch/3/eq/on")) \
        == (-3.0, -7.0, 1.0)


def test_ab_switch_is_not_a_step_and_each_mix_has_its_own_history(
        rig: tuple[Mixer, UndoHistory, Clock]) -> None:
    mixer, history, clock = rig
    ab = ABCompare(mixer, history)
    mixer.set("ch/1/fader", -6.0, "osc:a")  # a step in A
    assert ab.switch() == "B"  # B starts as a copy of A
    assert mixer.get("ch/1/fader") == -6.0 and history.depth_kept == 0
    clock.now += 1
    mixer.set("ch/1/fader", -12.0, "osc:a")  # a step in B
    assert ab.switch() == "A"
    assert mixer.get("ch/1/fader") == -6.0 and history.depth_kept == 1
    history.undo()  # undoes A's own step
    assert mixer.get("ch/1/fader") == 0.0
    assert ab.switch() == "B"
    assert mixer.get("ch/1/fader") == -12.0
    history.undo()
    assert mixer.get("ch/1/fader") == -6.0


def test_depth_is_bounded() -> None:
    clock = Clock()
    mixer = Mixer(Engine(1, 0), clock=clock)
    history = UndoHistory(mixer, depth=10)
    for i in range(25):
        clock.now += 1
        mixer.set("ch/1/pan", i / 100, "osc:a")
    assert history.depth_kept == 10


@pytest.mark.figures
def test_the_default_depth_is_kept_and_walks_all_the_way_back(figures: Figures) -> None:
    clock = Clock()
    mixer = Mixer(Engine(64, 8, max_block=64), clock=clock)
    history = UndoHistory(mixer)  # the daemon's default depth
    steps = history.depth + 500
    for i in range(steps):
        clock.now += 1
        mixer.set(f"ch/{i % 64 + 1}/fader", -float(i % 90), "osc:a")
        if i % 1000 == 999:
            mixer.engine.process(64)  # drain the core's queue, as the audio thread would
    kept = history.depth_kept
    assert kept == history.depth
    for _ in range(kept):
        history.undo()
        mixer.engine.process(64)
    # Back to the mix as it was after step 500: the oldest step kept started there.
    for c in range(1, 65):
        newest_before = max((i for i in range(500) if i % 64 + 1 == c), default=None)
        want = 0.0 if newest_before is None else -float(newest_before % 90)
        assert mixer.get(f"ch/{c}/fader") == want
    figures.record("undo_depth_kept", kept, "steps",
                   "undo steps kept (default depth), each undone back to the oldest")
