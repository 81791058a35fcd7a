"""JACK connections in the mix document (issue 9): a change of the session's connections
(what surfaced.mix.jack_connections does when the user connects by hand) marks the
document dirty, is autosaved, recovered after a crash and saved on stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.session import load_session
from surfaced.session.autosave import decode
from surfaced.session.recovery import Files, Marker, Recovery, apply_recovery
from surfaced.transports.osc import OscListenerConfig

SONG = """\
version: 2
buses: 1
channels:
  - {name: Kick, source: {input: 1}}
  - {name: Keys, source: {input: [2, 3]}}
connections:
  ch/1: system:capture_1   # the kick mic
"""


def test_hand_connections_are_autosaved_recovered_and_saved(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    files = Files(tmp_path, "song")
    wanted = {"ch/1": ["system:capture_1", "mic:out"], "ch/2/L": ["keys:out_l"],
              "ch/2/R": ["keys:out_r"], "master/L": [], "master/R": ["system:playback_2"]}

    async def scenario() -> None:
        cfg = Config(headless=True, block=256, enable=[], autosave_interval=0.2,
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)], x32=None, mdns=False)
        cfg.web = type(cfg.web)(enabled=False)
        d = Daemon(cfg, load_session(song), on_status=lambda _m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            deadline = time.monotonic() + 10
            while not files.marker.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            # what JackConnections does on a hand change: a new dict, the revision bumped
            d.session.connections = dict(wanted)
            d.session.connections_revision += 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    decode(p.read_bytes(), p).connections == wanted for p in files.autosaves()):
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    saves = [decode(p.read_bytes(), p) for p in files.autosaves()]
    newest = max(saves, key=lambda a: a.saved)
    assert newest.connections == wanted  # autosaved
    # after a crash the next start loads the autosave over the file as it was
    song.write_text(SONG)
    fresh = load_session(song)
    assert fresh.connections == {"ch/1": ["system:capture_1"]}
    apply_recovery(fresh, Recovery(newest, {}, Marker(0, 0.0, str(song))))
    assert fresh.connections == wanted


def test_connections_are_saved_on_a_clean_stop(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)

    async def scenario() -> None:
        cfg = Config(headless=True, block=256, enable=[], osc=[], x32=None, mdns=False)
        cfg.web = type(cfg.web)(enabled=False)
        d = Daemon(cfg, load_session(song), on_status=lambda _m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        await asyncio.sleep(0.3)
        d.session.connections = {"ch/1": ["re:^mic:"], "bus/1/L": ["wedge:in_1"]}
        d.session.connections_revision += 1
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    again = load_session(song)
    assert again.connections == {"ch/1": ["re:^mic:"], "bus/1/L": ["wedge:in_1"]}
    assert again.channels[0].name == "Kick"
