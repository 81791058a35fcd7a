"""The mix document's commands over real OSC/UDP, from a surface button, and from the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_daemon_osc import UdpClient, running_daemon

from surfaced.events import Event


def replies(got: list[Event], address: str) -> list[tuple[object, ...]]:
    return [e.args for e in got if e.address == address]


def test_scenes_undo_and_ab_over_osc() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            c = UdpClient(d.osc[0].address[1])
            c.send("/ch/1/fader", -10.0)
            c.send("/scene/store", "Verse")
            await c.collect(lambda g: bool(replies(g, "/scene/store")))
            assert replies(c.got, "/scene/store") == [("Verse",)]
            c.send("/ch/1/fader", -2.0)
            c.send("/ch/2/name", "Pad")
            c.send("/scene/recall", "Verse")
            await c.collect(lambda g: bool(replies(g, "/scene/recall")))
            name, changed, held = replies(c.got, "/scene/recall")[0]
            assert (name, changed, held) == ("Verse", 2, 0)
            assert d.mixer.get("ch/1/fader") == -10.0 and d.mixer.get("ch/2/name") == "Noise"
            c.send("/undo")  # the recall was one step: both values come back
            await c.collect(lambda g: bool(replies(g, "/undo")))
            assert d.mixer.get("ch/1/fader") == -2.0 and d.mixer.get("ch/2/name") == "Pad"
            c.send("/scene/recall", "Chorus")
            await c.collect(lambda g: bool(replies(g, "/error")))
            assert "no scene called 'Chorus'" in str(replies(c.got, "/error")[0][0])
            c.send("/scene/list")
            c.send("/ab/switch")
            await c.collect(lambda g: bool(replies(g, "/ab/switch")))
            assert replies(c.got, "/scene/list") == [("Verse",)]
            assert replies(c.got, "/ab/switch") == [("B",)]
            c.send("/log", 3)
            await c.collect(lambda g: bool(replies(g, "/log")))
            lines = [str(x) for x in replies(c.got, "/log")[0]]
            assert len(lines) == 3 and lines[0].split("\t")[1:3] == ["scene:Verse", "ch/1/fader"]
            assert [x.split("\t")[1] for x in lines[1:]] == ["undo", "undo"]
    asyncio.run(scenario())


def test_a_surface_button_runs_a_command(tmp_path: Path) -> None:
    from surfaced.mapping import MappingError, load_mapping
    from surfaced.mix.engine import Engine
    from surfaced.mix.mixer import Mixer
    from surfaced.mix.scenes import SceneBook
    from surfaced.mix.undo import UndoHistory
    from surfaced.surfaces.surface import Surface

    path = tmp_path / "box.yaml"
    path.write_text(textwrap.dedent("""\
        name: Scene box
        transport: midi
        match: {port: box}
        controls:
          verse: {note: 0x10, action: {command: scene/recall, args: [Verse]}}
          undo: {note: 0x11, action: {command: undo}}
          fader: {cc: 7, param: ch/1/fader}
        """))
    mixer = Mixer(Engine(2, 0))
    book = SceneBook(mixer)
    book.register()
    UndoHistory(mixer).register()
    surface = Surface(load_mapping(path), mixer, lambda e: None, "surface:box")
    mixer.set("ch/1/fader", -12.0, "test")
    book.store("Verse")
    surface.handle(Event("cc", "midi:box", 0, 7, 127))
    assert mixer.get("ch/1/fader") == 10.0
    surface.handle(Event("note_on", "midi:box", 0, 0x10, 127))
    assert mixer.get("ch/1/fader") == -12.0
    surface.handle(Event("note_on", "midi:box", 0, 0x11, 127))
    assert mixer.get("ch/1/fader") == 10.0
    errors = surface.stats.errors
    book.delete("Verse")
    surface.handle(Event("note_on", "midi:box", 0, 0x10, 127))  # counted, not raised
    assert surface.stats.errors == errors + 1
    surface.close()
    path.write_text(path.read_text().replace("scene/recall", "scene/recal"))
    try:
        load_mapping(path)
    except MappingError as exc:
        assert "unknown command 'scene/recal'" in str(exc) and ":5:" in str(exc)
    else:
        raise AssertionError("a misspelt command must not load")


def test_cli_commands_reach_the_running_daemon(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[0].address[1]
            config = tmp_path / "config.yaml"
            config.write_text(f"osc:\n  - {{protocol: udp, host: 127.0.0.1, port: {port}}}\n")
            env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}

            async def cli(*args: str) -> subprocess.CompletedProcess[str]:
                return await asyncio.to_thread(
                    subprocess.run, [sys.executable, "-m", "surfaced", *args, "--config",
                                     str(config)], capture_output=True, text=True, timeout=30,
                    env=env)

            d.mixer.set("ch/1/mute", 1, "test")
            assert (await cli("scene", "store", "Intro")).stdout.strip() == "stored Intro"
            d.mixer.set("ch/1/mute", 0, "test")
            done = await cli("scene", "recall", "Intro", "--fade", "0.5")
            assert done.returncode == 0 and "recalled Intro: 1 values changed" in done.stdout
            assert d.mixer.get("ch/1/mute") == 1.0
            assert (await cli("scene", "list")).stdout.split() == ["Intro"]
            assert (await cli("undo")).returncode == 0
            assert d.mixer.get("ch/1/mute") == 0.0
            bad = await cli("scene", "delete", "Outro")
            assert bad.returncode == 2 and "no scene called 'Outro'" in bad.stderr
            assert "Traceback" not in bad.stderr
            assert "hearing A" in (await cli("ab", "state")).stdout
    asyncio.run(scenario())
