"""`surfaced devices`, `monitor` and `learn` against real JACK MIDI ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rtmidi

from surfaced.cli.monitor import describe, infer
from surfaced.events import Event

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "surfaced", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)


def controller(name: str) -> rtmidi.MidiOut:
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "testctl")
    out.open_virtual_port(name)
    return out


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 10) -> list[str]:
    assert proc.stderr is not None and proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip("\n"))
            if needle in line:
                return lines
        else:
            time.sleep(0.02)
    raise AssertionError(f"{needle!r} not printed; got {lines}")


@pytest.mark.jack
def test_devices_and_monitor_show_a_controller(jack: object) -> None:
    ctl = controller("nanoTest")
    try:
        r = subprocess.run([sys.executable, "-m", "surfaced", "devices", "--midi-api", "jack"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert r.returncode == 0, r.stderr
        assert "MIDI ports (jack)" in r.stdout and "in   testctl:nanoTest" in r.stdout
        proc = start("monitor", "--midi-api", "jack", "--midi", "*nanoTest*", "--seconds", "20")
        try:
            wait_for_line(proc, "listening to MIDI")
            time.sleep(0.3)
            ctl.send_message([0xB0, 7, 100])
            ctl.send_message([0xE1, 0x7F, 0x7F])
            ctl.send_message([0xF0, 0x00, 0x00, 0x66, 0x14, 0x01, 0xF7])
            lines = wait_for_line(proc, "sysex F0 00 00 66 14 01 F7")
            text = "\n".join(lines)
            assert "cc  ch 1  #7  = 100" in text
            assert "pitchbend  ch 2  = 16383" in text
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        ctl.close_port()
        del ctl


@pytest.mark.jack
def test_learn_prints_the_stanza_for_the_moved_control(jack: object) -> None:
    ctl = controller("learnTest")
    try:
        proc = start("learn", "ch/2/fader", "--midi-api", "jack", "--midi", "*learnTest*",
                     "--timeout", "20")
        assert proc.stderr is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "move one control" not in proc.stderr.readline():
            pass
        time.sleep(0.3)
        for v in (10, 20, 30):
            ctl.send_message([0xB2, 21, v])
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "    cc: 21\n    channel: 2\n    param: ch/2/fader\n" in out
    finally:
        ctl.close_port()
        del ctl


def ev(kind: str, **kw: object) -> Event:
    return Event(kind, source="t", **kw)  # type: ignore[arg-type]


def test_learned_stanzas_are_valid_mappings(tmp_path: Path) -> None:
    from surfaced.mapping import load_mapping

    cases = [
        [ev("pitchbend", channel=1, value=100)],
        [ev("cc", channel=0, number=7, value=1), ev("cc", channel=0, number=39, value=5)],
        [ev("cc", channel=0, number=16, value=v) for v in (1, 1, 127)],
        [ev("cc", channel=0, number=16, value=v) for v in (65, 65, 63)],
        [ev("note_on", channel=0, number=16, value=127)],
        [ev("cc", channel=3, number=21, value=64)],
    ]
    for i, events in enumerate(cases):
        learned = infer(events, "ch/1/mute" if events[0].kind == "note_on" else "ch/1/pan")
        assert learned is not None
        path = tmp_path / f"m{i}.yaml"
        path.write_text("name: Learned\ntransport: midi\nmatch: {port: x}\ncontrols:\n"
                        + learned.yaml)
        assert len(load_mapping(path).controls) == 1


def test_infer_recognises_each_kind_of_control() -> None:
    assert infer([ev("pitchbend", channel=0, value=100)], "ch/1/fader").kind == "pitchbend"
    cc14 = [ev("cc", channel=0, number=7, value=1), ev("cc", channel=0, number=39, value=5)]
    assert "cc14: 7" in infer(cc14, "ch/1/fader").yaml  # type: ignore[union-attr]
    rel = [ev("cc", channel=0, number=16, value=v) for v in (1, 1, 127)]
    assert "twos-complement" in infer(rel, "ch/1/pan").yaml  # type: ignore[union-attr]
    off = [ev("cc", channel=0, number=16, value=v) for v in (65, 65, 63)]
    assert "offset-64" in infer(off, "ch/1/pan").yaml  # type: ignore[union-attr]
    note = [ev("note_on", channel=0, number=16, value=127)]
    assert "button: toggle" in infer(note, "ch/1/mute").yaml  # type: ignore[union-attr]
    assert describe(ev("osc", address="/a", args=(1, 2.5))) == "t  osc /a 1 2.5"
