"""The reference track: in the session file, loudness-matched to the mix on the core's
meters, switched over OSC, from a surface button and from the CLI."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from surfaced.assist.reference import Reference
from surfaced.events import Event
from surfaced.mix.commands import CommandError
from surfaced.session import SessionError, generators, load_session
from surfaced.session.wavio import write_wav

RATE = 48000


def _session(tmp_path: Path, reference: str = "{wav: ref.wav}") -> Path:
    write_wav(tmp_path / "ref.wav", 0.9 * generators.generate("keys", RATE, 4.0), RATE)
    path = tmp_path / "song.yaml"
    path.write_text(textwrap.dedent(f"""\
        rate: {RATE}
        buses: 0
        channels:
          - {{name: Bass, source: {{generator: bass}}, fader: -20}}
          - {{name: Vox, source: {{generator: vocal}}, fader: -20}}
        reference: {reference}
        """))
    return path


def _run(ref: Reference, seconds: float, now: float) -> float:
    """Play `seconds` offline, ticking the reference ten times a second like the daemon."""
    for _ in range(round(seconds * 10)):
        ref.engine.process(RATE // 10)
        now += 0.1
        ref.tick(now)
    return now


def test_the_reference_is_matched_to_the_mix_and_replaces_it_when_switched(
        tmp_path: Path) -> None:
    s = load_session(_session(tmp_path))
    assert s.reference is not None and s.reference.kind == "wav"
    mixer = s.make_mixer()
    ref = Reference(mixer)
    ref.load(s)
    now = _run(ref, 6.0, 0.0)
    mix, reference = ref.loudness()
    assert reference - mix > 6.0  # the record is far louder than the rough balance
    assert abs(ref.gain_db - (mix - reference)) < 0.11  # matching on by default
    assert ref.switch() is True
    mixer.engine.reset_meters()
    now = _run(ref, 1.0, now)
    # what is heard now is the reference at the mix's loudness: measure the output
    out = mixer.engine.process(RATE * 3)
    heard = _lufs(out)
    assert abs(heard - mix) < 0.5, (heard, mix)
    # and the master meters still measure the mix underneath
    assert abs(mixer.engine.meters().master.short_term_lufs - mix) < 1.0
    assert ref.state()[0] == "reference"
    assert ref.switch() is False
    ref.set_match(False)
    assert ref.gain_db == 0.0


def _lufs(out: np.ndarray) -> float:
    from surfaced.mix.engine import Engine

    e = Engine(1, 0, RATE, 4096)
    e.set_reference_buffer(out)
    e.settle()
    e.process(len(out))
    return e.reference_meters().integrated_lufs


def test_session_reference_errors_name_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match=r"song.yaml:6: reference: expected one of"):
        load_session(_session(tmp_path, "ref.wav"))
    with pytest.raises(SessionError, match=r"song.yaml:6: reference.input: expected an input"):
        load_session(_session(tmp_path, "{input: 0}"))
    s = load_session(_session(tmp_path, "{input: [3, 4]}"))
    assert s.reference is not None and s.inputs_needed() == 4
    mixer = s.make_mixer()
    ref = Reference(mixer)
    ref.load(s)
    mixer.engine.process(256)
    assert ref.source == "input 3-4" and mixer.engine.reference_meters().source == "input"


def test_a_session_without_a_reference_says_so_when_switched(tmp_path: Path) -> None:
    from surfaced.session import default_session

    s = default_session()
    mixer = s.make_mixer()
    ref = Reference(mixer)
    ref.load(s)
    ref.register()
    with pytest.raises(CommandError, match="no reference"):
        mixer.commands.run("reference/switch", (), "osc:test")
    assert mixer.commands.run("reference/state", (), "osc:test")[0] == "mix"


def test_a_button_switches_the_reference(tmp_path: Path) -> None:
    from surfaced.mapping import load_mapping
    from surfaced.surfaces.surface import Surface

    s = load_session(_session(tmp_path))
    mixer = s.make_mixer()
    ref = Reference(mixer)
    ref.load(s)
    ref.register()
    path = tmp_path / "box.yaml"
    path.write_text(textwrap.dedent("""\
        name: Ref box
        transport: midi
        match: {port: box}
        controls:
          ref: {note: 0x20, action: {command: reference/switch}}
        """))
    surface = Surface(load_mapping(path), mixer, lambda e: None, "surface:box")
    surface.handle(Event("note_on", "midi:box", 0, 0x20, 127))
    mixer.engine.process(RATE // 10)
    assert ref.heard and mixer.engine.reference_meters().heard == 1.0
    surface.handle(Event("note_on", "midi:box", 0, 0x20, 127))
    mixer.engine.process(RATE // 10)
    assert not ref.heard and mixer.engine.reference_meters().heard == 0.0
    surface.close()


def test_reference_commands_over_osc_and_the_cli(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_daemon_osc import UdpClient

    from surfaced.config import Config, OscListenerConfig
    from surfaced.daemon import Daemon

    session = load_session(_session(tmp_path))
    config = tmp_path / "config.yaml"

    async def scenario() -> None:
        cfg = Config(headless=True, block=256, enable=[],
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
        d = Daemon(cfg, session, on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            for _ in range(200):
                if d.osc:
                    break
                await asyncio.sleep(0.01)
            port = d.osc[0].address[1]
            config.write_text(f"osc:\n  - {{protocol: udp, host: 127.0.0.1, port: {port}}}\n")
            c = UdpClient(port)
            c.send("/reference/switch", 1)
            await c.collect(lambda g: any(e.address == "/reference/switch" for e in g))
            assert [e.args for e in c.got if e.address == "/reference/switch"] == [
                ("reference",)]
            await asyncio.sleep(1.5)  # the daemon's loop samples both loudnesses
            env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}

            async def cli(*args: str) -> subprocess.CompletedProcess[str]:
                return await asyncio.to_thread(
                    subprocess.run, [sys.executable, "-m", "surfaced", *args, "--config",
                                     str(config)], capture_output=True, text=True,
                    timeout=30, env=env)

            state = await cli("reference", "state")
            assert state.returncode == 0, state.stderr
            assert "hearing the reference; reference ref.wav" in state.stdout
            _heard, match, gain, mix, ref, _source = d.reference.state()
            assert match == 1 and math.isfinite(gain) and mix > -70 and ref > -70
            assert abs(gain - (mix - ref)) < 0.3
            off = await cli("reference", "switch", "mix")
            assert off.stdout.strip() == "hearing the mix" and not d.reference.heard
            bad = await cli("reference", "match", "maybe")
            assert bad.returncode == 2
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
