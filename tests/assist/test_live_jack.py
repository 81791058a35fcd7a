"""Live staging end to end: a real JACK server (dummy driver) with a tone generator
(jack_metro) wired into the daemon's capture port; the daemon measures it through its
real audio callbacks and stages it, while the mix plays on."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from surfaced.config import Config, OscListenerConfig
from surfaced.daemon import Daemon
from surfaced.mix.audio import LiveStream
from surfaced.session import ChannelConfig, Session, Source

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_daemon_osc import UdpClient


def _ports() -> list[str]:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split()


@pytest.mark.jack
def test_the_daemon_stages_a_live_input_from_its_audio_callbacks(jack: object) -> None:
    if shutil.which("jack_metro") is None:
        pytest.skip("jack_metro missing (apt-get install jackd2 example clients)")
    # 997 Hz bursts of 150 ms every 200 ms at amplitude 0.05: a steady, quiet mic
    tone = subprocess.Popen(["jack_metro", "-n", "sftone", "-b", "300", "-f", "997", "-A", "0.05",
                             "-D", "150", "-a", "2", "-d", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = Session(path="<test>", buses=0)
    s.channels = [ChannelConfig("Mic", Source("input", first_input=1)),
                  ChannelConfig("Pad", Source("generator", "pad"))]
    s.params["ch/2/fader"] = -144.0  # the pad out of the master: it hears the mic alone
    said: list[str] = []
    d = Daemon(Config(block=64, enable=[], osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                      audio_backend="portaudio"), s,
               on_status=said.append)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            for _ in range(300):
                if d.osc and d.driver is not None:
                    break
                await asyncio.sleep(0.01)
            assert isinstance(d.driver, LiveStream) and d.driver.on_jack
            for _ in range(100):  # the tone's port appears once jack_metro is up
                src = [p for p in _ports() if p.startswith("sftone:")]
                dst = [p for p in _ports() if p.endswith(":in_1") and "PortAudio" in p]
                if src and dst:
                    break
                await asyncio.sleep(0.05)
            assert src and dst, _ports()
            # jack_metro lists its port before it activates, and JACK refuses to connect
            # the port of a client not yet active: try until it takes
            for _ in range(100):
                done = subprocess.run(["jack_connect", src[0], dst[0]], timeout=10,
                                      capture_output=True)
                if done.returncode == 0:
                    break
                await asyncio.sleep(0.05)
            assert done.returncode == 0, done.stderr
            await asyncio.sleep(3.5)  # 3 s of tone through the mix: the master's short-term
            master = d.engine.meters().master.short_term_lufs
            assert -40.0 < master < -20.0, master
            c = UdpClient(d.osc[0].address[1])
            c.send("/assist/stage", -18.0, 2.0)
            await c.collect(lambda g: any(e.address == "/assist/stage" for e in g))
            assert [e.args for e in c.got if e.address == "/assist/stage"] == [
                ("measuring", 1, 2.0)]
            started = time.monotonic()
            while d.assistant.last_stage is None and time.monotonic() - started < 15:
                await asyncio.sleep(0.05)
            took = time.monotonic() - started
            assert d.assistant.last_stage is not None, said
            assert took > 1.9  # it waited for the window, measured on the running daemon
            trim = d.mixer.get("ch/1/assist/trim")
            # the channel meter and the master meter, two meters on the same input, agree
            assert abs(trim - (-18.0 - master)) < 0.3, (trim, master)
            assert d.mixer.get("ch/2/assist/trim") != 0.0  # the pad from its buffer, same go
            assert any("measured 1 live input(s) for 2 s" in m for m in said), said
            assert d.engine.chmeter_read(1) is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        asyncio.run(scenario())
    finally:
        tone.terminate()
        tone.wait(timeout=5)
