"""The assistant's layer: beneath the engineer's controls, summed in the core, one undo step."""

from __future__ import annotations

import numpy as np

from surfaced.assist.desk import Assistant
from surfaced.mix.ab import ABCompare
from surfaced.mix.changelog import ChangeLog
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.undo import UndoHistory
from surfaced.session import default_session


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def _tone_mixer() -> Mixer:
    m = Mixer(Engine(1, 0))
    t = np.arange(48000) / 48000
    m.engine.set_source_buffer(1, (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    return m


def test_assist_level_adds_to_the_fader_in_the_core_and_leaves_the_fader_alone() -> None:
    m = _tone_mixer()
    m.set("ch/1/fader", -6.0, "surface:x")
    m.engine.settle()
    before = _rms_db(m.engine.process(4800))
    m.set("ch/1/assist/level", -4.0, "assistant:test")
    m.engine.settle()
    after = _rms_db(m.engine.process(4800))
    assert abs((after - before) - (-4.0)) < 0.05
    assert m.get("ch/1/fader") == -6.0  # the engineer's fader did not move
    m.set("ch/1/fader", -2.0, "surface:x")  # riding on top keeps the offset
    m.engine.settle()
    assert abs(_rms_db(m.engine.process(4800)) - (before + 4.0 - 4.0)) < 0.05


def test_assist_trim_and_pan_sum_with_the_engineers() -> None:
    m = _tone_mixer()
    m.apply({"ch/1/trim": 3.0, "ch/1/assist/trim": -9.0}, "t")
    m.engine.settle()
    quiet = _rms_db(m.engine.process(4800))
    m.apply({"ch/1/trim": 0.0, "ch/1/assist/trim": 0.0}, "t")
    m.engine.settle()
    assert abs(_rms_db(m.engine.process(4800)) - quiet - 6.0) < 0.05
    m.apply({"ch/1/pan": 0.6, "ch/1/assist/pan": 0.8}, "t")  # sums past +1: held at +1
    m.engine.settle()
    out = m.engine.process(4800)
    assert np.max(np.abs(out[:, 0])) < 1e-6 and np.max(np.abs(out[:, 1])) > 0.05


def test_an_assistant_action_is_one_undo_step_in_the_log_and_ab_able() -> None:
    session = default_session()
    mixer = session.make_mixer()
    history = UndoHistory(mixer)
    ab = ABCompare(mixer, history)
    log = ChangeLog(mixer)
    assistant = Assistant(mixer, session, ab)
    faders = {p: v for p, v in mixer.snapshot().items() if p.endswith("/fader")}
    changed, staged, _lowered = assistant.stage()
    assert staged == 8 and changed > 0
    trims = [mixer.get(f"ch/{c}/assist/trim") for c in range(1, 9)]
    assert any(t != 0.0 for t in trims)
    assert {p: v for p, v in mixer.snapshot().items() if p.endswith("/fader")} == faders
    entries = [e for e in log.entries() if e.source == "assistant:stage"]
    assert len(entries) == changed and len({e.txn for e in entries}) == 1
    assert history.depth_kept == 1
    ab.switch()  # B holds the mix before the action
    assert all(mixer.get(f"ch/{c}/assist/trim") == 0.0 for c in range(1, 9))
    ab.switch()
    assert [mixer.get(f"ch/{c}/assist/trim") for c in range(1, 9)] == trims
    history.undo()
    assert all(mixer.get(f"ch/{c}/assist/trim") == 0.0 for c in range(1, 9))


def test_assistant_commands_are_registered_and_run_by_name() -> None:
    session = default_session()
    mixer = session.make_mixer()
    Assistant(mixer, session).register()
    assert {"assist/stage", "assist/balance", "assist/match", "assist/clear",
            "assist/learn"} <= set(mixer.commands.available())
    mixer.commands.run("assist/balance", (), "osc:test")
    assert mixer.get("ch/7/assist/level") != 0.0  # the vocal got its role's level
    (cleared,) = mixer.commands.run("assist/clear", (), "osc:test")
    assert cleared > 0 and mixer.get("ch/7/assist/level") == 0.0
