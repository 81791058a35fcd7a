"""The daemon as its own JACK client (issue 9), against a real jackd it starts and stops.

Started before the server, the daemon runs on the headless clock; when the
server appears `surfaced:Kick` and the rest show up with the session's
connections; the server stopped and started again under the same name, they
come back; a connection made by hand with jack_connect ends up in the saved
session file. A second client in the test reads the graph, as qjackctl would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_thread import DaemonThread
from jack_server import Jackd, jackd_path
from measured import Figures

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.jackclient import JackClient, JackUnavailable
from surfaced.mix.audio import HeadlessClock, acquire_portaudio, release_portaudio
from surfaced.mix.jack_audio import JackAudio
from surfaced.session import load_session
from surfaced.yamlmarks import load_file

pytestmark = [pytest.mark.jack, pytest.mark.slow]

RATE = 48000
WAIT_S = 30.0

SESSION = """\
version: 2
rate: 48000
buses: 1
channels:
  - name: Kick
    source: {input: 1}
  - name: Vocal
    source: {input: [2, 3]}
  - name: Pad
    source: {generator: pad}
connections:
  ch/1: system:capture_2
  bus/1: {L: system:playback_3, R: "re:playback_4$"}
"""


@pytest.fixture(autouse=True)
def portaudio_off_jack() -> Iterator[None]:
    """No PortAudio client on another server meanwhile: libjack keeps one server's
    engine state per process, so a PortAudio left initialised on the session's
    server (as other tests leave it) and our client on this test's server would
    corrupt each other (a crash in a libjack thread). Put back afterwards."""
    release_portaudio()
    try:
        yield
    finally:
        acquire_portaudio()


@pytest.fixture
def jackd() -> Iterator[Jackd]:
    if jackd_path() is None or shutil.which("jack_connect") is None:
        if os.environ.get("CI"):
            pytest.fail("jackd missing in CI: .ci/run must install jackd2")
        pytest.skip("jackd not installed (apt-get install jackd2)")
    server = Jackd("sfjd", "-r", str(RATE), "-p", "64", "-C", "4", "-P", "4")
    try:
        yield server
    finally:
        server.stop()


def wait_for(cond: Callable[[], object], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def graph(server: str) -> dict[str, list[str]]:
    """surfaced's ports and what each is connected to, read by another client."""
    try:
        with JackClient.open("probe", server) as probe:
            return {p: sorted(probe.connections(p)) for p in probe.ports("^surfaced:")}
    except JackUnavailable:
        return {}


EXPECTED = {
    "surfaced:Kick": ["system:capture_2"],  # the session's
    "surfaced:Vocal L": ["system:capture_2"],  # default: device input 2 -> capture_2
    "surfaced:Vocal R": ["system:capture_3"],
    "surfaced:Master L": ["system:playback_1"],  # default: the first two playbacks
    "surfaced:Master R": ["system:playback_2"],
    "surfaced:Bus 1 L": ["system:playback_3"],  # the session's glob and re:
    "surfaced:Bus 1 R": ["system:playback_4"],
}


def test_joins_late_comes_back_and_saves_hand_connections(jackd: Jackd, tmp_path: Path,
                                                          figures: Figures) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(SESSION)
    notes: list[str] = []
    cfg = Config(audio_backend="jack", jack_server=jackd.name, block=64, enable=[], osc=[],
                 x32=None, mdns=False)
    cfg.web = type(cfg.web)(enabled=False)
    d = Daemon(cfg, load_session(path), on_status=notes.append)
    runner = DaemonThread(d)
    runner.start(lambda: d.driver is not None)
    try:
        # no server yet: the headless clock runs the mix
        assert isinstance(d.driver, HeadlessClock), notes
        frames = d.engine.meters().master.frames
        assert wait_for(lambda: d.engine.meters().master.frames > frames + RATE // 4)

        jackd.start()
        assert wait_for(lambda: graph(jackd.name) == EXPECTED), (graph(jackd.name), notes)
        assert isinstance(d.driver, JackAudio)
        cycles = d.driver.callbacks
        assert wait_for(lambda: d.driver.callbacks > cycles + 100)  # the engine runs in JACK

        # the server goes: back to the clock; it returns under the same name: all back
        stopped = time.monotonic()
        jackd.stop()
        assert wait_for(lambda: isinstance(d.driver, HeadlessClock)), notes
        figures.record("jack_client_fallback_s", round(time.monotonic() - stopped, 2), "s",
                       "jackd stopped under surfaced's own client -> on the headless clock "
                       "(includes jackd's own exit)", keep="max")
        frames = d.engine.meters().master.frames
        assert wait_for(lambda: d.engine.meters().master.frames > frames + RATE // 4)
        jackd.start()
        up = time.monotonic()
        assert wait_for(lambda: graph(jackd.name) == EXPECTED), (graph(jackd.name), notes)
        assert (d.audio_losses, d.audio_returns) == (1, 2)  # joined late, lost, back
        figures.record("jack_client_rejoin_s", round(time.monotonic() - up, 2), "s",
                       "jackd up again -> surfaced's ports and the session's connections back "
                       "(the client retries every second)", keep="max")

        # a connection made by hand is taken into the session...
        subprocess.run(["jack_connect", "-s", jackd.name, "system:capture_1", "surfaced:Kick"],
                       check=True, timeout=10)
        assert wait_for(lambda: "system:capture_1" in d.session.connections.get("ch/1", [])), \
            (d.session.connections, notes)
        # ...and a channel renamed renames its port, connections kept
        d.mixer.set("ch/1/name", "BD", "test")
        assert wait_for(lambda: graph(jackd.name).get("surfaced:BD") ==
                        ["system:capture_1", "system:capture_2"]), graph(jackd.name)
    finally:
        runner.stop()
    saved = load_file(path)
    assert sorted(saved["connections"]["ch/1"]) == ["system:capture_1", "system:capture_2"]
    assert saved["channels"][0]["name"] == "BD"
    # what the file says is what the next start connects
    again = load_session(path)
    assert sorted(again.connections["ch/1"]) == ["system:capture_1", "system:capture_2"]
    assert again.connections["bus/1/R"] == ["re:playback_4$"]
    assert d.jack is None and graph(jackd.name) == {}  # the client left on stop
