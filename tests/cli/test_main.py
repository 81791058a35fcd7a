"""The `surfaced` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from surfaced.session.wavio import read_wav

ROOT = Path(__file__).resolve().parents[2]


def surfaced(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "surfaced", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)


def test_render_writes_the_mix_faster_than_real_time(tmp_path: Path) -> None:
    session = tmp_path / "s.yaml"
    session.write_text("duration: 4\nchannels:\n  - {name: Kick, source: {generator: kick}}\n"
                       "  - {name: Bass, source: {generator: bass}, fader: -3}\n")
    out = tmp_path / "mix.wav"
    r = surfaced("render", str(session), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "rendering [" in r.stderr and "100%" in r.stderr  # the progress bar
    assert f"wrote {out}" in r.stdout and "x real time" in r.stdout
    audio, rate = read_wav(out)
    assert rate == 48000 and audio.shape == (4 * 48000, 2)
    assert 0.05 < np.abs(audio).max() <= 1.0
    assert "range " in r.stdout and " LU" in r.stdout  # the loudness range (EBU Tech 3342)
    assert "master did not clip: no sample over 0 dBFS" in r.stdout


def test_render_says_where_and_how_often_the_master_clipped(tmp_path: Path) -> None:
    """A quiet tone with two spikes over full scale, at 0.25 s and 1.5 s: the summary
    names both places and counts the overs, sample and true peak."""
    from surfaced.session.wavio import write_wav

    t = np.arange(2 * 48000) / 48000
    x = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    x[12000] = 2.0  # mono at centre pan: -3 dB, still 1.41 at the master
    x[72000] = -2.0
    write_wav(tmp_path / "spiky.wav", x[:, None], 48000)
    session = tmp_path / "s.yaml"
    session.write_text("duration: 2\nchannels:\n  - {name: Spiky, source: {wav: spiky.wav}}\n")
    r = surfaced("render", str(session), "-o", str(tmp_path / "mix.wav"), "--quiet")
    assert r.returncode == 0, r.stderr
    said = re.search(r"master CLIPPED: (\d+) samples? over 0 dBFS \(first at ([\d.]+) s, "
                     r"last at ([\d.]+) s\); true peak over 0 dBTP in (\d+) 10-ms "
                     r"stretch(?:es)? \(first at ([\d.]+) s, last at ([\d.]+) s\)", r.stdout)
    assert said is not None, r.stdout
    assert int(said.group(1)) == 4  # both spikes, on both sides
    assert float(said.group(2)) == 0.25 and float(said.group(3)) == 1.5
    # each spike's interpolated overs fall in the 10 ms stretch it starts (or the next)
    assert 2 <= int(said.group(4)) <= 4
    assert float(said.group(5)) == 0.25 and 1.5 <= float(said.group(6)) <= 1.51


def test_bad_session_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    session = tmp_path / "bad.yaml"
    session.write_text("channels:\n  - name: Kick\n    fader: loud\n")
    r = surfaced("render", str(session), "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"surfaced: error: {session}:3: channels[1].fader:" in r.stderr
    assert not (tmp_path / "x.wav").exists()


def test_missing_session_file(tmp_path: Path) -> None:
    r = surfaced("render", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 2 and "no such session file" in r.stderr


def test_run_without_a_device_uses_the_headless_clock_and_shows_meters() -> None:
    # An empty JACK server name and no sound card: PortAudio finds no output device.
    r = surfaced("run", "--seconds", "2.5", env={"JACK_DEFAULT_SERVER": "surfaced-none"})
    assert r.returncode == 0, r.stderr
    assert "headless clock" in r.stderr + r.stdout
    for name in ("Kick", "Snare", "Hats", "Bass", "Keys", "Pad", "Vocal", "Lead", "master L",
                 "true peak", "momentary", "integrated", "range"):
        assert name in r.stdout
    assert "#" in r.stdout  # the meters moved
    assert "surfaced: stopped after" in r.stdout
    assert re.search(r"^surfaced: master (did not clip|CLIPPED)", r.stdout, re.M)


@pytest.mark.jack
def test_run_plays_through_jack_and_devices_lists_it(jack: object) -> None:
    r = surfaced("devices")
    assert r.returncode == 0, r.stderr
    assert "JACK Audio Connection Kit" in r.stdout and "2 out" in r.stdout
    r = surfaced("run", "--seconds", "2.5", "--block", "64", "--backend", "portaudio")
    assert r.returncode == 0, r.stderr
    assert "playing through system" in r.stdout
    # the summary counts xruns (whether there were any depends on the machine's load;
    # tests/native/test_live_audio.py holds the stream to zero on an idle server)
    assert re.search(r"stopped after \d+\.\d s; xruns \d+", r.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--block", "0"], "argument --block: 0 frames: a block is 16..4096 frames"),
        (["--seconds", "nan"], "argument --seconds: nan: expected 0..86400 seconds"),
        (["--seconds", "-1"], "argument --seconds: -1: expected 0..86400 seconds"),
    ],
)
def test_render_refuses_bad_arguments_in_one_line(tmp_path: Path, args: list[str],
                                                  needle: str) -> None:
    session = ROOT / "docs" / "examples" / "demo-session.yaml"
    r = surfaced("render", str(session), "-o", str(tmp_path / "x.wav"), *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_render_to_an_unwritable_place_says_where(tmp_path: Path) -> None:
    session = ROOT / "docs" / "examples" / "demo-session.yaml"
    r = surfaced("render", str(session), "-o", str(tmp_path), "--seconds", "1", "--quiet")
    assert r.returncode == 2 and f"surfaced: error: {tmp_path}: Is a directory" in r.stderr


def test_check_summarises_good_mappings_and_fails_on_a_bad_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\ntransport: midi\nmatch: {port: x}\ncontrols:\n"
                   "  f:\n    cc: 7\n    parm: ch/1/fader\n")
    good = ROOT / "mappings" / "korg-nanokontrol2.yaml"
    r = surfaced("check", str(good))
    assert r.returncode == 0 and "fader x8: cc 0..7" in r.stdout
    r = surfaced("check", str(good), str(bad))
    assert r.returncode == 2
    assert "fader x8: cc 0..7" in r.stdout  # the good one is still summarised
    assert f"surfaced: error: {bad}:7:" in r.stderr and "Traceback" not in r.stderr


def test_render_of_a_huge_float_source_stays_finite_and_says_it_clipped(tmp_path: Path) -> None:
    """A float WAV near float's limit, through +10 dB faders and sends, renders finite audio:
    the core clamps the bus and master sums, counts it, and shows it as a clip."""
    from surfaced.session.wavio import write_wav

    huge = np.full((4800, 1), 3e38, dtype=np.float32)
    huge[::2] = -3e38
    write_wav(tmp_path / "huge.wav", huge, 48000)
    session = tmp_path / "s.yaml"
    session.write_text("duration: 1\nbuses: 1\nchannels:\n"
                       "  - {name: Huge, source: {wav: huge.wav}, fader: 10, send/1: 10}\n"
                       "  - {name: Also, source: {wav: huge.wav}, fader: 10}\n"
                       "params: {master/fader: 10, bus/1/fader: 10}\n")
    out = tmp_path / "mix.wav"
    r = surfaced("render", str(session), "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    audio, _ = read_wav(out)
    assert np.all(np.isfinite(audio))
    said = re.search(r"master CLIPPED: (\d+) samples over 0 dBFS \(first at ([\d.]+) s", r.stdout)
    assert said is not None, r.stdout
    assert int(said.group(1)) > 0
    assert float(said.group(2)) < 0.01  # the very first samples are over
    assert "true peak inf" not in r.stdout and "nan" not in r.stdout.lower()


@pytest.mark.jack
def test_run_joins_jack_as_its_own_client(jack: object) -> None:
    """With a JACK server up, `run` is a JACK client of its own, named by --jack-client."""
    r = surfaced("run", "--seconds", "2.5", "--block", "64", "--jack-client", "sfcli",
                 "--quiet", "--no-osc", "--audio-timing")
    assert r.returncode == 0, r.stderr
    assert "joined JACK as 'sfcli'" in r.stderr, r.stderr
    # --audio-timing: every block the JACK client ran is counted, with its CPU time.
    timing = re.search(r"^surfaced: audio blocks (\d+) \(JACK client 'sfcli' at 48000 Hz, "
                       r"64 frames\): CPU p50 (\d+) µs, .* past their period: (\d+) in CPU "
                       r"time, (\d+) in wall-clock time$", r.stdout, re.M)
    ran = re.search(r"^surfaced: stopped after ([\d.]+) s", r.stdout, re.M)
    assert timing is not None and ran is not None, r.stdout
    blocks, seconds = int(timing.group(1)), float(ran.group(1))
    assert 0.5 * seconds * 750 < blocks <= (seconds + 0.1) * 750  # 750 periods a second
    assert int(timing.group(2)) < 1333  # a block's own work fits its 64-frame period
    r = surfaced("run", "--seconds", "1", "--jack-client", "a:b")
    assert r.returncode == 2 and "a JACK client name is 1..63 bytes, no ':'" in r.stderr
