"""The daemon survives its audio device going away (issue 7, "Faults survived").

A real JACK server (dummy driver) of the test's own is stopped and started
again under a running daemon, or started only after the daemon: the daemon
keeps the engine and its surfaces running on the headless clock, says so once,
and moves back onto JACK when the server is there again, with the mix as it
was. PortAudio is a process-wide singleton shared with the other tests, so
every test leaves it initialised and pointed at the session's server again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from jack_server import Jackd, JackServer
from measured import Figures

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.events import Event
from surfaced.mix.audio import (
    HeadlessClock,
    LiveStream,
    abandon_portaudio,
    acquire_portaudio,
    release_portaudio,
)
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet

RATE = 48000
WAIT_S = 20.0  # bound on any one wait for the daemon to react
RETURN_WAIT_S = 45.0  # the daemon looks again after 2, 4, 8, 16 s: room for a slow jackd start

pytestmark = [pytest.mark.jack, pytest.mark.slow]


@pytest.fixture
def jackd(jack: JackServer) -> Iterator[Jackd]:
    """A not-yet-started server of the test's own, which PortAudio is pointed at.

    The session's server (`jack`) is started first, so that afterwards
    PortAudio can be left initialised on it, as the other tests expect.
    """
    server = Jackd("sffault", "-r", str(RATE), "-p", "64")
    old = os.environ.get("JACK_DEFAULT_SERVER")
    # PortAudio only looks for a server when it is initialised: start it
    # afresh on this test's name (the session's server, if any, is still up).
    release_portaudio()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    acquire_portaudio()
    try:
        yield server
    finally:
        if server.running:
            release_portaudio()  # before its server stops, or it cannot terminate
        else:
            abandon_portaudio()  # it may hold a client of the stopped server
        server.stop()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        acquire_portaudio()  # as the other tests expect it: initialised, on the session's server


def portaudio_sees(server: Jackd) -> None:
    """Initialise PortAudio afresh, as a daemon started now would find it."""
    assert server.running
    release_portaudio()
    acquire_portaudio()


def session() -> Session:
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig("Tone", Source("generator", "sine")),
                  ChannelConfig("Noise", Source("generator", "pink"), {"fader": -20.0})]
    return s


@asynccontextmanager
async def running_daemon(notes: list[str], headless: bool = False) -> AsyncIterator[Daemon]:
    # PortAudio on JACK (the fallback this file tests); surfaced's own client is
    # tests/mix/test_jack_daemon.py's
    cfg = Config(headless=headless, block=64, enable=[], x32=None, mdns=False,
                 audio_backend="portaudio",
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
    d = Daemon(cfg, session(), on_status=notes.append)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    assert await wait_for(lambda: len(d.osc) == 1), "the OSC listener did not open"
    try:
        yield d
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def wait_for(cond: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll `cond` every 50 ms until it holds or `timeout` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


def frames(d: Daemon) -> int:
    return d.engine.meters().master.frames


def callbacks(d: Daemon) -> int:
    return d.driver.callbacks if d.driver is not None else 0


async def engine_runs(d: Daemon, seconds: float = 0.5) -> bool:
    """The engine processes audio: `seconds` of frames go by (whichever driver runs it)."""
    start = frames(d)
    return await wait_for(lambda: frames(d) >= start + int(seconds * RATE))


async def osc_round_trip(d: Daemon, address: str, value: float) -> list[tuple[object, ...]]:
    """Set `address` over real UDP and /get it back; the answers' arguments."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = d.osc[0].address[1]
    got: list[Event] = []
    try:
        sock.sendto(encode_message(address, [value]), ("127.0.0.1", port))
        assert await wait_for(lambda: d.mixer.get(address.strip("/")) == value)
        sock.sendto(encode_message("/get", [address]), ("127.0.0.1", port))

        def answered() -> bool:
            try:
                while True:
                    got.extend(parse_packet(sock.recv(65536), source="test"))
            except BlockingIOError:
                pass
            return any(e.address == address for e in got)

        assert await wait_for(answered, timeout=5.0), f"no answer to /get {address}"
    finally:
        sock.close()
    return [e.args for e in got if e.address == address]


def said(notes: list[str], text: str) -> list[str]:
    return [n for n in notes if text in n]


@pytest.mark.figures
def test_jack_stopped_and_restarted_under_the_daemon(jackd: Jackd, figures: Figures) -> None:
    jackd.start()
    portaudio_sees(jackd)
    notes: list[str] = []

    async def scenario() -> None:
        async with running_daemon(notes) as d:
            assert isinstance(d.driver, LiveStream), notes
            assert d.where == f"playing through system at {RATE} Hz"
            assert await wait_for(lambda: callbacks(d) > 100), "JACK never called the stream"
            for path, value in {"ch/1/fader": -3.0, "ch/1/pan": -0.5, "ch/2/mute": True,
                                "bus/1/fader": -8.0, "master/fader": -1.5}.items():
                d.mixer.set(path, value, "test")

            stopped = time.monotonic()
            jackd.stop()
            assert await wait_for(lambda: d.audio_losses == 1), "the loss went unnoticed"
            fallback_s = time.monotonic() - stopped
            assert isinstance(d.driver, HeadlessClock)
            assert "headless clock" in d.where
            # The engine goes on, and a surface still sets and reads the mix.
            assert await engine_runs(d), "the engine stopped with the device"
            assert await osc_round_trip(d, "/ch/1/fader", -12.0) == [(-12.0,)]
            before = d.mixer.snapshot()

            jackd.start()
            started = time.monotonic()
            assert await wait_for(lambda: d.audio_returns == 1, RETURN_WAIT_S), \
                f"the daemon did not move back to the restarted JACK server: {notes}"
            figures.record("audio_fallback_s", round(fallback_s, 2), "s",
                           "jackd stopped under the running daemon -> on the headless clock "
                           "(includes jackd's own exit)", keep="max")
            figures.record("audio_return_s", round(time.monotonic() - started, 2), "s",
                           "jackd up again -> playing through it (the daemon looks 2 s after "
                           "a loss, then backs off)", keep="max")
            assert isinstance(d.driver, LiveStream)
            assert d.where == f"playing through system at {RATE} Hz"
            first = callbacks(d)
            assert await wait_for(lambda: callbacks(d) > first + 100), "no callbacks after return"
            assert await engine_runs(d)
            assert d.mixer.snapshot() == before
            assert d.mixer.get("ch/1/fader") == -12.0 and d.mixer.get("ch/2/mute")
            assert d.audio_losses == 1

    asyncio.run(scenario())
    lost = said(notes, "audio device lost")
    assert len(lost) == 1 and "JACK" in lost[0] and "headless clock" in lost[0], notes
    assert said(notes, "audio device back: playing through system") == [
        f"audio device back: playing through system at {RATE} Hz"], notes
    figures.record("jack_restarts_survived", 1, "restart",
                   "a real JACK server stopped and started again under the running daemon, "
                   "mix unchanged (per test run)")


def test_daemon_started_without_jack_moves_to_it_when_it_starts(jackd: Jackd) -> None:
    notes: list[str] = []

    async def scenario() -> None:
        async with running_daemon(notes) as d:
            assert isinstance(d.driver, HeadlessClock)
            assert said(notes, "no audio output device found"), notes
            d.mixer.set("ch/1/fader", -6.0, "test")
            assert await engine_runs(d)
            before = d.mixer.snapshot()

            jackd.start()
            assert await wait_for(lambda: d.audio_returns == 1, RETURN_WAIT_S), \
                "the daemon did not move to the JACK server that appeared"
            assert isinstance(d.driver, LiveStream)
            first = callbacks(d)
            assert await wait_for(lambda: callbacks(d) > first + 100), "no callbacks on JACK"
            assert d.mixer.snapshot() == before
            assert d.audio_losses == 0

    asyncio.run(scenario())
    assert said(notes, "audio device found") == [
        f"audio device found: playing through system at {RATE} Hz"], notes


def test_headless_config_never_takes_the_device(jackd: Jackd) -> None:
    jackd.start()
    portaudio_sees(jackd)
    notes: list[str] = []

    async def scenario() -> None:
        async with running_daemon(notes, headless=True) as d:
            assert isinstance(d.driver, HeadlessClock)
            assert d.audio_watch is None  # nobody looks for a device
            assert await engine_runs(d)
            assert isinstance(d.driver, HeadlessClock) and d.audio_returns == 0

    asyncio.run(scenario())
    assert not said(notes, "audio device"), notes
