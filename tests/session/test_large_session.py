"""Sessions larger than one core transaction load, in `render` and in `run` (issue 9).

A session sets every parameter of 1024 channels: about 42,000 values, more
than the core's queue holds at once (8191 changes), so the load goes in
pieces. The proof that every piece reached the core is the sound: channels
1..1023 are muted (the first pieces), channel 1024 plays a sine with its
own settings (the last piece), so the 1024-channel mix must sound exactly
like a one-channel session holding channel 1024's settings.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from daemon_thread import DaemonThread  # tests/ is on the path (conftest)

from surfaced.cli.main import main
from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.mix import params
from surfaced.session import load_session
from surfaced.session.wavio import read_wav
from surfaced.transports.osc import OscListenerConfig

CHANNELS = 1024
BUSES = 4
TOP = {"master/fader": -4.0, **{f"bus/{b}/fader": -3.0 for b in range(1, BUSES + 1)},
       **{f"bus/{b}/mute": 1 for b in range(1, BUSES + 1)}}


def _value(spec: params.ParamSpec, frac: float) -> float:
    """A value `frac` of the way through the parameter's range (none is the default)."""
    if spec.is_bool:
        return 1
    lo = -60.0 if spec.minimum == params.NEG_INF else spec.minimum
    return round(lo + (spec.maximum - lo) * frac, 3)


def _strip(n: int, channels: int, heard: bool) -> list[str]:
    """Channel `n` with every leaf set: muted, or `heard` with settings of its own."""
    lines = [f"  - name: ch{n}", "    source: {generator: sine}"]
    for leaf in params.channel_leaves(BUSES):
        spec = params.spec_for(f"ch/{n}/{leaf}", channels, BUSES)
        value: float = _value(spec, 0.6 if heard else 0.37)
        if leaf == "comp/key":
            value = n
        elif leaf == "mute":
            value = 0 if heard else 1
        elif leaf == "solo":
            value = 0  # a solo would silence the muted channels even if their mute were lost
        lines.append(f"    {leaf}: {value}")
    return lines


def _write(path: Path, channels: int) -> Path:
    lines = ["version: 2", f"buses: {BUSES}", "duration: 0.5", "channels:"]
    for n in range(1, channels + 1):
        lines += _strip(n, channels, heard=n == channels)
    lines.append("params:")
    lines += [f"  {k}: {v}" for k, v in TOP.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 1024-channel session and its one-channel twin (channel 1024 as channel 1)."""
    d = tmp_path_factory.mktemp("large")
    return _write(d / "big.yaml", CHANNELS), _write(d / "one.yaml", 1)


def _render(session: Path, out: Path) -> np.ndarray:
    assert main(["render", str(session), "-o", str(out), "--seconds", "0.5", "--quiet"]) == 0
    data, _rate = read_wav(out)
    return data


def test_render_of_1024_full_strips_applies_every_value(sessions: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    big, one = sessions
    assert len(load_session(big).values()) > 4 * 8191  # several transactions' worth
    heard = _render(big, tmp_path / "big.wav")
    alone = _render(one, tmp_path / "one.wav")
    assert float(np.max(np.abs(alone))) > 1e-3  # channel 1024's settings leave it audible
    # The 1023 unmuted sines (a lost first piece) or default settings on the last
    # channel (a lost last piece) would each change the sound by far more than this.
    np.testing.assert_allclose(heard, alone, atol=1e-5)


def test_run_loads_1024_full_strips(sessions: tuple[Path, Path], tmp_path: Path) -> None:
    big, _one = sessions
    session = load_session(big)
    cfg = Config(headless=True, block=256, enable=[], x32=None, mdns=False,
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
    cfg.web = dataclasses.replace(cfg.web, enabled=False)
    lines: list[str] = []
    daemon = Daemon(cfg, session, on_status=lines.append)
    runner = DaemonThread(daemon)
    try:
        runner.start(lambda: daemon.engine.meters().master.frames > 48000 // 4, what="playing")
        mixer = daemon.mixer
        for path, value in session.values().items():
            got = mixer.get(path)
            assert got == value or (isinstance(value, float) and math.isclose(
                float(got), value, abs_tol=1e-9)), (path, got, value)
        peak = max(daemon.engine.meters().master.peak)
    finally:
        runner.stop()
    alone = _render(_write(tmp_path / "one.yaml", 1), tmp_path / "one.wav")
    # The master meter hears channel 1024 alone, at its own settings: within the
    # one-channel render's envelope (its compressor is still settling, and the
    # meter falls back at 20 dB/s), not the 1023 sines in phase a lost mute would add.
    top = float(np.max(np.abs(alone)))
    settled = float(np.max(np.abs(alone[-1000:])))
    assert settled / 2 < peak < top * 1.2, (peak, settled, top, lines)


def test_channels_fed_by_one_generator_share_its_loop() -> None:
    """Channels cycling 8 sounds synthesise and hold 8 loops, not one each (64
    demo channels: seconds of CPU and about 100 MB less at load), and sound
    the same as with a loop each: channel N and channel N+8 play identical
    audio (mono sounds, so a hard pan keeps all of each)."""
    from surfaced.session import ChannelConfig, Session, Source

    demo = ("kick", "snare", "hats", "bass", "vocal", "lead", "sine", "pink")
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig(f"c{n}", Source("generator", demo[n % 8]),
                                {"pan": -1.0 if n < 8 else 1.0}) for n in range(16)]
    engine = s.make_mixer().engine
    loops = {id(a) for a in engine._sources.values()}
    assert len(loops) == 8
    assert all(not a.flags.writeable for a in engine._sources.values())  # the core reads them
    out = engine.process(4096)
    # Channels 0-7 hard left, 8-15 hard right: the same loops, so the same audio.
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    assert float(np.max(np.abs(out))) > 1e-3
