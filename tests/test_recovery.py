"""Nothing lost: the real `surfaced run` process killed with SIGKILL comes back with its mix;
SIGTERM and SIGINT save before exiting; `surfaced save` saves the running mix.

Everything is real: the daemon is a separate process with its own OSC UDP port on
127.0.0.1, changes stream into it over UDP, and the kill is a real SIGKILL.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from measured import Figures

from surfaced.session import load_session
from surfaced.session.recovery import Files
from surfaced.transports.osc_codec import OscParseError, encode_message, parse_packet

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SONG = """\
# a song for the recovery test
version: 2
buses: 1
channels:
  - name: Kick   # the kick
    source: {generator: kick}
    fader: -4
  - name: Bass
    source: {generator: bass}
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Surfaced:
    """A `surfaced run` process on a session, with its own config and XDG folders."""

    def __init__(self, tmp: Path, session: Path, *extra: str) -> None:
        self.tmp, self.session, self.extra = tmp, session, extra
        self.port = free_udp_port()
        self.config = tmp / "config.yaml"
        self.config.write_text(
            "audio: {headless: true}\n"
            f"osc:\n  - {{protocol: udp, host: 127.0.0.1, port: {self.port}}}\n"
            "mappings: {enable: []}\n")
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp / "xdg-config"),
                        XDG_STATE_HOME=str(tmp / "xdg-state"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    @property
    def stderr_path(self) -> Path:
        return self.tmp / f"stderr-{self.starts}.txt"

    def start(self) -> str:
        """Start the daemon and wait until it answers over OSC; returns what it said so far."""
        self.starts += 1
        with open(self.stderr_path, "wb") as err, open(self.tmp / "stdout.txt", "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "surfaced", "run", str(self.session), "--config",
                 str(self.config), "--headless", "--quiet", *self.extra],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr_path.read_text()
            try:
                self.get("ch/1/fader", timeout=0.5)
                return self.stderr_path.read_text()
            except TimeoutError:
                continue
        raise AssertionError("the daemon did not answer within 60 s")

    def send(self, address: str, *args: object) -> None:
        self.sock.sendto(encode_message(address, list(args)), ("127.0.0.1", self.port))

    def ask(self, address: str, *args: object, timeout: float = 5.0) -> tuple[object, ...]:
        """Send a message and wait for the answer with the same address (or /error)."""
        self.send(address, *args)
        want = "/" + address.strip("/") if address != "/get" else "/" + str(args[0]).strip("/")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(address)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ConnectionRefusedError):
                continue
            try:
                events = parse_packet(data)
            except OscParseError:
                continue
            for e in events:
                if e.address == "/error":
                    raise AssertionError(f"{address}: {e.args}")
                if e.address == want:
                    return e.args

    def get(self, path: str, timeout: float = 5.0) -> object:
        return self.ask("/get", "/" + path, timeout=timeout)[0]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        return code, self.stderr_path.read_text()


def fader_value(k: int) -> float:
    """Change number k as a fader level exact in OSC's float32: -90 dB + k/64 dB."""
    return -90.0 + k / 64.0


@pytest.mark.figures
def test_sigkill_loses_at_most_two_seconds_of_changes(tmp_path: Path, figures: Figures) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    d = Surfaced(tmp_path, song)
    d.start()
    assert d.ask("/scene/store", "Verse") == ("Verse",)
    assert d.ask("/safe/kinds", "names") == ("names",)
    assert d.ask("/safe/channels", "ch/2") == ("ch/2",)
    d.send("/ch/2/name", "Bass: DI # 2")
    assert d.get("ch/2/name") == "Bass: DI # 2"
    rng = random.Random(7)
    sent: dict[int, float] = {}  # change number -> when it was sent (monotonic)
    k = 0
    worst = 0.0
    for round_ in range(5):
        stop = threading.Event()

        def stream(stop: threading.Event = stop) -> None:
            nonlocal k
            while not stop.is_set() and k < 6000:
                k += 1
                sent[k] = time.monotonic()
                d.send("/ch/1/fader", fader_value(k))
                time.sleep(0.005)

        sender = threading.Thread(target=stream)
        sender.start()
        time.sleep(rng.uniform(0.8, 3.0))  # a random moment, under a steady stream of changes
        killed_at = time.monotonic()
        d.kill()
        stop.set()
        sender.join(10)
        said = d.start()
        (line,) = [x for x in said.splitlines() if "recovered the mix" in x]
        assert re.search(r"recovered the mix after an unclean stop \(pid \d+\): from "
                         rf"{re.escape(str(tmp_path))}/\.song\.autosave\.\d\.json, autosaved "
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$", line), line
        value = d.get("ch/1/fader")
        assert isinstance(value, float)
        survived = round((value + 90.0) * 64.0)
        assert survived in sent and sent[survived] <= killed_at
        lost = killed_at - sent[survived]
        worst = max(worst, lost)
        assert lost <= 2.0, f"round {round_}: {lost:.2f} s of changes lost"
        # the rest of the document came back too
        assert d.ask("/scene/list") == ("Verse",)
        assert d.get("ch/2/name") == "Bass: DI # 2"
    figures.record(
        "sigkill_lost_s", round(worst, 3), "s",
        "changes lost when `surfaced run` is killed with SIGKILL while changes stream in "
        "(worst of 5 kills; autosave every 1 s)", keep="max")
    figures.record("sigkill_kills", 5, "kills",
                   "SIGKILLs of the real `surfaced run` process at random moments, each "
                   "followed by a restart that recovered the mix")

    code, said = d.stop(signal.SIGTERM)
    assert code == 0, said
    assert f"saved {song}" in said
    assert not Files(tmp_path, "song").marker.exists()
    saved = load_session(song)
    assert saved.make_mixer().get("ch/1/fader") == value
    assert [s.name for s in saved.scenes] == ["Verse"]
    assert saved.safes.kinds == {"names"} and saved.safes.strips == {"ch/2"}
    assert "# the kick" in song.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_save_and_leave_a_clean_marker(tmp_path: Path, sig: int) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    d = Surfaced(tmp_path, song)
    d.start()
    assert Files(tmp_path, "song").marker.exists()
    d.send("/ch/2/fader", -12.5)
    assert d.get("ch/2/fader") == -12.5
    code, said = d.stop(sig)
    assert code == 0, said
    assert f"saved {song}" in said and "Traceback" not in said
    assert not Files(tmp_path, "song").marker.exists()
    assert load_session(song).make_mixer().get("ch/2/fader") == -12.5
    said = d.start()
    assert "recovered" not in said and "did not stop cleanly" not in said  # a clean stop
    d.stop()


def test_surfaced_save_saves_the_running_mix(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    d = Surfaced(tmp_path, song)
    d.start()
    try:
        d.send("/ch/1/pan", 0.25)
        assert d.get("ch/1/pan") == 0.25
        r = subprocess.run([sys.executable, "-m", "surfaced", "save", "--config", str(d.config)],
                           capture_output=True, text=True, env=d.env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"saved {song}"
        assert load_session(song).make_mixer().get("ch/1/pan") == 0.25
        other = tmp_path / "other.yaml"
        r = subprocess.run([sys.executable, "-m", "surfaced", "save", "--as", "other.yaml",
                            "--config", str(d.config)], capture_output=True, text=True,
                           env=d.env, timeout=60, cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip() == f"saved {other}", r.stderr
    finally:
        d.stop()
    r = subprocess.run([sys.executable, "-m", "surfaced", "save", "--config", str(d.config),
                        "--timeout", "2"], capture_output=True, text=True, env=d.env, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("surfaced: error: ") and len(r.stderr.splitlines()) == 1
