"""Session files: good ones load and play, bad ones say file, line and key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surfaced.session import SessionError, default_session, load_session
from surfaced.session.wavio import write_wav

GOOD = """\
rate: 48000
buses: 2
duration: 2
channels:
  - name: Tone
    source: {generator: sine}
    fader: -6
    pan: -1
    eq: {on: 1, "2": {freq: 400, gain: -3}}
  - name: File
    source: {wav: tone.wav}
    comp: {on: true, threshold: -30, key: 1}
    send/1: -10
  - name: Mic
    source: {input: 1}
params:
  master/fader: -1
  bus/1/fader: -3
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "session.yaml"
    p.write_text(text)
    return p


def test_good_session_loads_with_every_value(tmp_path: Path) -> None:
    write_wav(tmp_path / "tone.wav", np.full((4800, 2), 0.25, dtype=np.float32), 48000)
    s = load_session(write(tmp_path, GOOD))
    assert [c.name for c in s.channels] == ["Tone", "File", "Mic"]
    assert s.channels[0].params == {"fader": -6.0, "pan": -1.0, "eq/on": 1.0,
                                    "eq/2/freq": 400.0, "eq/2/gain": -3.0}
    assert s.channels[1].params["comp/key"] == 1.0
    assert s.channels[2].source.kind == "input" and s.channels[2].source.first_input == 0
    mixer = s.make_mixer()
    assert mixer.get("ch/1/fader") == -6.0 and mixer.get("bus/1/fader") == -3.0
    assert mixer.get("ch/2/name") == "File"
    out = mixer.engine.process(4800)
    assert np.abs(out).max() > 0.1  # the sine and the WAV play


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("channels: [{name: A, fader: 20}]",
         ":1: channels[1].fader: ch/1/fader: 20 is out of range"),
        ("channels:\n  - name: A\n    source: {generator: kik}\n",
         ":3: channels[1].source.generator: unknown generator 'kik'; known:"),
        ("channels:\n  - name: A\n  - name: B\n    eq: {\"7\": {gain: 1}}\n",
         ":4: channels[2].eq/7/gain: ch/2/eq/7/gain: EQ band 7 does not exist"),
        ("chanels: []\n", ":1: chanels: unknown key; expected one of"),
        ("channels: []\n", ":1: channels: expected a list of at least one channel"),
        ("channels: [{name: A}]\nparams:\n  ch/1/mute: 3\n",
         ":3: params.ch/1/mute: ch/1/mute: expected 0 or 1"),
        ("channels: [{name: A, source: {input: [2, 4]}}]",
         ":1: channels[1].source.input: expected an input number"),
        ("channels: [{name: A}]\nrate: fast\n", ":2: rate: expected a whole number"),
        ("channels:\n  - name: A\n    fader: 1\n    fader: 2\n", ":4: duplicate key 'fader'"),
        ("channels: [{name: A\n", ":2:"),
        ("- just\n- a list\n", ":1: expected a mapping"),
        ("channels: [{name: A, source: {wav: missing.wav}}]", "missing.wav"),
    ],
)
def test_bad_session_names_file_line_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SessionError) as info:
        load_session(path).make_mixer()
    message = str(info.value)
    assert str(path) in message
    assert needle in message


def test_wav_at_another_rate_is_resampled_to_the_session_rate(tmp_path: Path) -> None:
    write_wav(tmp_path / "tone.wav", np.full((44100, 1), 0.5, dtype=np.float32), 44100)
    path = write(tmp_path, "channels: [{name: A, source: {wav: tone.wav}}]")
    mixer = load_session(path).make_mixer()
    source = mixer.engine._sources[0]  # what the core loops: one second at 48 kHz, mono
    assert source.ndim == 1 and abs(len(source) - 48000) <= 1
    assert abs(float(source[24000]) - 0.5) < 1e-3


@pytest.mark.parametrize(("raw", "needle"), [
    (b"", "empty file"), (b"RIFF\x04\x00\x00\x00WAVE", "cannot read as audio"),
])
def test_a_bad_wav_source_names_the_session_channel_and_file(tmp_path: Path, raw: bytes,
                                                            needle: str) -> None:
    (tmp_path / "bad.wav").write_bytes(raw)
    path = write(tmp_path, "channels: [{name: A, source: {wav: bad.wav}}]")
    with pytest.raises(SessionError, match=needle) as info:
        load_session(path).make_mixer()
    assert f"{path}: channel 1: {tmp_path / 'bad.wav'}: " in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "channels: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SessionError, match="could not determine a constructor"):
        load_session(path)


def test_default_session_has_eight_channels_of_program() -> None:
    s = default_session()
    assert len(s.channels) == 8
    e = s.make_mixer().engine
    e.process(48000 * 2)
    m = e.meters()
    assert np.all(m.ch_peak > 0.01), "every built-in channel makes sound"
    assert -30.0 < m.master.momentary_lufs < -6.0
    assert m.master.clip_count == 0
