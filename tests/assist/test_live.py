"""Staging live inputs: the core's per-channel meter measures them over a window while
the mix runs; the staging of every channel then lands as one transaction."""

from __future__ import annotations

import numpy as np
import pytest

from surfaced.assist.desk import Assistant
from surfaced.assist.measure import measure
from surfaced.mix.changelog import ChangeLog
from surfaced.mix.commands import CommandError
from surfaced.mix.undo import UndoHistory
from surfaced.session import ChannelConfig, Session, Source

RATE = 48000
BLOCK = 256


def _session() -> Session:
    s = Session(path="<test>", buses=0, rate=RATE)
    s.channels = [ChannelConfig("Mic", Source("input", first_input=1)),
                  ChannelConfig("Bass", Source("generator", "bass")),
                  ChannelConfig("Spare", Source("input", first_input=0))]
    return s


def _voice(seconds: float) -> np.ndarray:
    """A mic signal: a 220 Hz tone with a 3 Hz tremolo, at about -31 dBFS RMS."""
    t = np.arange(int(RATE * seconds)) / RATE
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    return (0.04 * env * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_live_inputs_are_measured_over_a_window_and_staged_with_the_files() -> None:
    session = _session()
    mixer = session.make_mixer(max_block=BLOCK)
    history = UndoHistory(mixer)
    log = ChangeLog(mixer)
    said: list[str] = []
    assistant = Assistant(mixer, session, say=said.append)
    assistant.register()
    mixer.set("ch/1/trim", 4.0, "surface:x")  # the engineer's own trim counts
    reply = mixer.commands.run("assist/stage", (-18.0, 2.0), "osc:test")
    assert reply == ("measuring", 2, 2.0)
    with pytest.raises(CommandError, match="already measuring"):
        mixer.commands.run("assist/stage", (), "osc:test")
    voice = _voice(3.0)
    inp = np.zeros((len(voice), 2), np.float32)
    inp[:, 1] = voice  # input 2 feeds ch 1; input 1 (ch 3) is silent
    out = np.zeros((BLOCK, 2), np.float32)
    now = 0.0
    for k in range(0, len(voice) - BLOCK + 1, BLOCK):  # like audio callbacks
        mixer.engine.process_into(out, inp[k:k + BLOCK])
        now += BLOCK / RATE
        if k % (BLOCK * 8) == 0:  # the daemon's loop ticks far more often than this
            assistant.tick(now)
        if assistant.measuring is None:
            break
    assert assistant.measuring is None, "the 2 s window did not complete in 3 s of audio"
    mixer.engine.process_into(out, inp[:BLOCK])
    assert mixer.engine.chmeter_read(1) is None  # the meters are off again
    want = measure(voice[: RATE * 2], RATE)  # what an offline measurement says
    trim = mixer.get("ch/1/assist/trim")
    assert abs(trim - round(-18.0 - want.loudness - 4.0, 1)) <= 0.1
    assert mixer.get("ch/3/assist/trim") == 0.0  # silent input: left alone
    assert mixer.get("ch/2/assist/trim") != 0.0  # the file-fed bass, staged in the same go
    entries = [e for e in log.entries() if e.source == "assistant:stage"]
    assert {e.path for e in entries} == {"ch/1/assist/trim", "ch/2/assist/trim"}
    assert len({e.txn for e in entries}) == 1 and history.depth_kept == 2  # trim + staging
    assert said and "measured 2 live input(s)" in said[-1] and "ch 3" in said[-1]
    assert assistant.last_stage is not None and assistant.last_stage[1] == 2


def test_a_window_out_of_range_is_refused() -> None:
    session = _session()
    mixer = session.make_mixer(max_block=BLOCK)
    assistant = Assistant(mixer, session)
    assistant.register()
    with pytest.raises(CommandError, match=r"0\.4\.\.600"):
        mixer.commands.run("assist/stage", (-18.0, 0.1), "osc:test")
    assert assistant.measuring is None
