"""Surfaces end to end over real JACK MIDI ports: a test plays the controller.

The daemon runs its real transports against a JACK server (dummy driver); the
test opens virtual ports named like a Mackie Control and a nanoKONTROL2,
moves controls, and reads the exact bytes the daemon sends back.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import rtmidi

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.mix.tapers import fader_position
from surfaced.session import ChannelConfig, Session, Source

pytestmark = pytest.mark.jack

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


class Controller:
    """A hardware controller stand-in: one JACK MIDI output and input with the device's name."""

    def __init__(self, client: str, port: str) -> None:
        self.client, self.port = client, port
        self.received: list[list[int]] = []
        self.open()

    def open(self) -> None:
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.client)
        self.out.open_virtual_port(self.port)
        self.inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, self.client)
        self.inp.ignore_types(sysex=False)
        self.inp.open_virtual_port(self.port)

    def close(self) -> None:
        self.out.close_port()
        self.inp.close_port()
        del self.out, self.inp

    def send(self, *msg: int) -> None:
        self.out.send_message(list(msg))

    def drain(self) -> list[list[int]]:
        while (m := self.inp.get_message()) is not None:
            self.received.append(m[0])
        return self.received

    async def wait_for(self, pred: Callable[[list[int]], bool], timeout: float = 5.0,
                       what: str = "") -> list[int]:
        """Wait for a message (received since the last clear) that satisfies pred."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            for msg in self.received:
                if pred(msg):
                    return msg
            await asyncio.sleep(0.01)
        raise AssertionError(f"never received {what}; got {self.received[-20:]}")

    def clear(self) -> None:
        self.drain()
        self.received.clear()


def session(n: int = 16) -> Session:
    s = Session(path="<test>", buses=4)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "sine"),
                                {"fader": -6.0, "pan": -1.0} if i == 1 else {"fader": "-inf"})
                  for i in range(1, n + 1)]
    return s


@asynccontextmanager
async def daemon(enable: list[str], dirs: list[Path] | None = None) -> AsyncIterator[Daemon]:
    cfg = Config(headless=True, block=64, midi_api="jack", osc=[], enable=enable,
                 mapping_dirs=dirs or [])
    d = Daemon(cfg, session(), on_status=lambda m: None)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    try:
        yield d
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pb(channel: int, value: int) -> list[int]:
    return [0xE0 | channel, value & 0x7F, value >> 7]


def fader_value(db: float) -> int:
    return round(fader_position(db) * 16383)


def lcd_text(msgs: list[list[int]], offset: int) -> str:
    for m in reversed(msgs):
        if m[:7] == [0xF0, 0x00, 0x00, 0x66, 0x14, 0x12, offset]:
            return bytes(m[7:-1]).decode("ascii")
    return ""


def test_mackie_control_end_to_end(jack: object, tmp_path: Path) -> None:
    async def scenario() -> None:
        mcu = Controller("mcuctl", "MCU")
        user = tmp_path / "mappings"
        user.mkdir()
        shutil.copy(MAPPINGS / "mackie-control.yaml", user / "mackie-control.yaml")
        async with daemon(["mackie-control"], [user]) as d:
            await until(lambda: bool(d.bindings) and d.bindings[0].transport.online,
                        what="the MCU binding")
            b = d.bindings[0]
            # handshake then the whole surface: device query, names, fader positions
            await mcu.wait_for(lambda m: m == [0xF0, 0, 0, 0x66, 0x14, 0, 0xF7],
                               what="device query")
            await mcu.wait_for(lambda m: m == pb(0, fader_value(-6.0)), what="fader 1 at -6 dB")
            await until(lambda: lcd_text(mcu.drain(), 0).startswith("Ch1"), what="LCD name")

            # the user moves fader 1 to 0 dB: the mix follows, the motor gets the echo
            mcu.clear()
            before = d.engine.meters().master.peak[0]
            mcu.send(*pb(0, fader_value(0.0)))
            await until(lambda: abs(float(d.mixer.get("ch/1/fader"))) < 0.05,
                        what="ch/1/fader at 0 dB")
            await mcu.wait_for(lambda m: m == pb(0, fader_value(0.0)), what="motor echo")
            await asyncio.sleep(0.6)
            assert d.engine.meters().master.peak[0] > before * 1.5  # +6 dB on the meter

            # mute button: the mix mutes, the LED lights
            mcu.send(0x90, 0x10, 127)
            mcu.send(0x90, 0x10, 0)
            await mcu.wait_for(lambda m: m == [0x90, 0x10, 127], what="mute LED on")
            assert d.mixer.get("ch/1/mute") == 1.0

            # touch: while held, another source's moves never drive the motor
            mcu.send(0x90, 0x68, 127)
            await until(lambda: b.surface.stats.handled > 0 and
                        "surface:mackie-control" in d.mixer.touched_by("ch/1/fader"),
                        what="touch registered")
            mcu.clear()
            d.mixer.set("ch/1/fader", -20.0, "test")
            await asyncio.sleep(0.3)
            assert [m for m in mcu.drain() if m[0] == 0xE0] == []
            mcu.send(0x90, 0x68, 0)  # release: the motor goes to the latest value
            await mcu.wait_for(lambda m: m == pb(0, fader_value(-20.0)), what="value on release")

            # bank right: the surface now shows channels 9-16, every strip re-sent
            mcu.clear()
            mcu.send(0x90, 0x2F, 127)
            mcu.send(0x90, 0x2F, 0)
            await until(lambda: lcd_text(mcu.drain(), 0).startswith("Ch9"), what="bank LCD")
            await mcu.wait_for(lambda m: m == pb(0, 0), what="strip 1 = ch 9 at -inf")
            mcu.send(*pb(0, fader_value(-3.0)))
            await until(lambda: d.mixer.get("ch/9/fader") == pytest.approx(-3.0, abs=0.05),
                        what="fader 1 drives ch/9 after banking")
            mcu.send(0x90, 0x2E, 127)  # back to bank 1
            mcu.send(0x90, 0x2E, 0)
            await until(lambda: lcd_text(mcu.drain(), 0).startswith("Ch1"), what="bank back")

            # the port vanishes and returns: offline, re-bound, state re-sent
            mcu.close()
            await until(lambda: not b.transport.online, what="offline")
            mcu.received.clear()
            mcu.open()
            await until(lambda: b.transport.online, timeout=8, what="re-bound")
            await mcu.wait_for(lambda m: m == [0xF0, 0, 0, 0x66, 0x14, 0, 0xF7],
                               what="handshake again")
            await mcu.wait_for(lambda m: m == pb(0, fader_value(-20.0)), what="state again")

            # a mapping edit on disk is picked up without stopping anything: the
            # device file now overrides the protocol's MUTE row
            path = user / "mackie-control.yaml"
            path.write_text(path.read_text() + "controls:\n  mute:\n    each: {strip: 0..7}\n"
                            "    note: ${0x10 + strip}\n    param: ch/${ch}/solo\n")
            await until(lambda: d.reloads == 1, timeout=5, what="reload")
            mcu.send(0x90, 0x10, 127)
            mcu.send(0x90, 0x10, 0)
            await until(lambda: d.mixer.get("ch/1/solo") == 1.0, what="mute button now solos")
            assert d.engine.meters().master.frames > 0
        mcu.close()

    asyncio.run(scenario())


def test_nanokontrol2_soft_takeover(jack: object) -> None:
    async def scenario() -> None:
        nano = Controller("korgctl", "nanoKONTROL2 SLIDER/KNOB")
        async with daemon(["korg-nanokontrol2"]) as d:
            await until(lambda: bool(d.bindings) and d.bindings[0].transport.online,
                        what="the nanoKONTROL2 binding")
            # ch/1/fader sits at -6 dB (position ~0.675); the physical slider is at the top
            nano.send(0xB0, 0, 127)
            await asyncio.sleep(0.3)
            assert d.mixer.get("ch/1/fader") == -6.0, "a far slider must not jump the mix"
            # the user brings the slider down through the current value: picked up
            for v in range(120, 60, -4):
                nano.send(0xB0, 0, v)
                await asyncio.sleep(0.01)
            await until(lambda: d.mixer.get("ch/1/fader") != -6.0, what="pick-up")
            assert d.bindings[0].surface.stats.handled > 0

        nano.close()

    asyncio.run(scenario())


async def knob_1_is_heard(d: Daemon, nano: Any) -> None:
    """Turn the nanoKONTROL2's knob 1 (CC 16) and wait until channel 1's pan moves."""
    before = d.mixer.get("ch/1/pan")
    for v in (0, 10, 20, 30):
        nano.send(0xB0, 16, v)
        await asyncio.sleep(0.01)
    await until(lambda: d.mixer.get("ch/1/pan") != before, what="the knob heard")


def jack_ports() -> list[str]:
    import subprocess

    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()


def test_midi_ports_exist_only_while_the_device_does_and_a_lone_f0_is_harmless(
        jack: object) -> None:
    """Issues 8 and 9 through the whole daemon: one JACK client, a MIDI port of its own
    only while the device is there, and a device's lone F0 never makes it deaf."""
    async def scenario() -> None:
        async with daemon(["korg-nanokontrol2"]) as d:
            await until(lambda: bool(d.bindings), what="the binding")
            b = d.bindings[0]
            await asyncio.sleep(0.3)
            assert not b.transport.online
            assert [p for p in jack_ports() if p.startswith("surfaced")] == []
            nano = Controller("korgctl2", "nanoKONTROL2 MIDI 1")
            try:
                await until(lambda: b.transport.online, what="bound when the device came")
                ours = sorted(p for p in jack_ports() if p.startswith("surfaced"))
                assert ours == ["surfaced:korg-nanokontrol2 in", "surfaced:korg-nanokontrol2 out"]
                # the lone F0, then the user moves ch 1's knob: heard at once
                before = d.mixer.get("ch/1/pan")
                nano.send(0xF0)
                for v in (0, 10, 20, 30):
                    nano.send(0xB0, 16, v)  # knob 1 (pan), picked up by soft takeover
                    await asyncio.sleep(0.01)
                await until(lambda: d.mixer.get("ch/1/pan") != before, what="the knob heard")
                assert b.transport.stats.parser.sysex_interrupted == 1
            finally:
                nano.close()
            await until(lambda: not b.transport.online, what="offline when it went")
            await until(lambda: not [p for p in jack_ports() if p.startswith("surfaced")],
                        what="our ports gone with the device")
            assert d.jack_midi is not None and d.jack_midi.client is not None
            assert d.jack_midi.client.name == "surfaced"  # the one client of this daemon

    asyncio.run(scenario())


def test_midi_ports_share_the_audio_client(jack: object) -> None:
    """Audio on JACK: the MIDI ports are on the same client as the audio ports (issue 9)."""
    async def scenario() -> None:
        cfg = Config(audio_backend="jack", block=64, midi_api="jack", osc=[], x32=None,
                     enable=["korg-nanokontrol2"])
        d = Daemon(cfg, session(), on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        nano = Controller("korgctl3", "nanoKONTROL2 MIDI 1")
        try:
            await until(lambda: bool(d.bindings) and d.bindings[0].transport.online,
                        timeout=10, what="the nanoKONTROL2 bound")
            ports = jack_ports()
            assert "surfaced:Master L" in ports and "surfaced:korg-nanokontrol2 in" in ports
            assert not any(p.startswith("surfaced-") for p in ports)  # no second client
            assert d.jack is not None and d.jack_midi is not None
            assert d.jack_midi.client is d.jack.session.client
            await knob_1_is_heard(d, nano)
        finally:
            nano.close()
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_unset_midi_api_without_a_jack_server_uses_rtmidi(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """midi.api unset, audio off JACK and no JACK server: MIDI goes through rtmidi (the
    platform's default, ALSA on Linux) and no JACK client stays open for it."""
    from surfaced.transports.midi import MidiTransport

    monkeypatch.setenv("JACK_DEFAULT_SERVER", "surfaced-test-no-such-server")

    async def scenario() -> None:
        cfg = Config(headless=True, block=64, osc=[], x32=None, enable=["korg-nanokontrol2"])
        d = Daemon(cfg, session(), on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            await until(lambda: bool(d.bindings) or bool(d.failed), what="the mapping tried")
            assert d.jack_midi is None and d._midi_jack is False
            assert all(isinstance(b.transport, MidiTransport) for b in d.bindings)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


# A controller in a process of its own: its JACK client dies with the server, as a
# device's would, without a client of the test process surviving a server restart.
DEVICE = """
import sys, rtmidi
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "korgctl4")
out.open_virtual_port("nanoKONTROL2 MIDI 1")
inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "korgctl4")
inp.open_virtual_port("nanoKONTROL2 MIDI 1")
print("ready", flush=True)
for line in sys.stdin:
    out.send_message(bytes.fromhex(line))
"""


class DeviceProcess:
    def __init__(self, server: str) -> None:
        import os
        import subprocess
        import sys

        env = dict(os.environ, JACK_DEFAULT_SERVER=server)
        self.proc = subprocess.Popen([sys.executable, "-c", DEVICE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"

    def send(self, *msg: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(bytes(msg).hex() + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.mark.slow
def test_midi_surface_survives_a_jack_server_restart() -> None:
    """The server goes and comes back: the surface goes offline, then binds on the new
    client (the MIDI hook re-installed, our port registered again) and is heard."""
    from jack_server import Jackd, _release_portaudio

    # libjack keeps one server's engine state per process: a PortAudio left
    # initialised on the session's server by earlier tests and our client on
    # this one crashed in libjack at shutdown. Let it go first.
    _release_portaudio()
    server = Jackd("sfmidirestart")
    server.start()

    async def scenario() -> None:
        cfg = Config(headless=True, block=64, midi_api="jack", jack_server=server.name,
                     osc=[], x32=None, enable=["korg-nanokontrol2"])
        d = Daemon(cfg, session(), on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        nano = DeviceProcess(server.name)
        try:
            await until(lambda: bool(d.bindings) and d.bindings[0].transport.online,
                        timeout=10, what="bound")
            b = d.bindings[0]
            nano.close()  # the controller goes with its server
            server.stop()
            await until(lambda: not b.transport.online, timeout=10, what="offline")
            server.start()
            nano = DeviceProcess(server.name)
            await until(lambda: b.transport.online, timeout=20, what="bound again")
            await knob_1_is_heard(d, nano)
        finally:
            nano.close()
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
