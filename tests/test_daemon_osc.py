"""The daemon's native OSC namespace over real UDP and TCP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.events import Event
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet


def small_session() -> Session:
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig("Tone", Source("generator", "sine"), {"pan": -1.0}),
                  ChannelConfig("Noise", Source("generator", "pink"), {"fader": "-inf"})]
    return s


@asynccontextmanager
async def running_daemon() -> AsyncIterator[Daemon]:
    cfg = Config(headless=True, block=256, enable=[],
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0),
                      OscListenerConfig("tcp", "127.0.0.1", 0, "size")])
    d = Daemon(cfg, small_session(), on_status=lambda m: None)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    for _ in range(200):  # bounded: until the listeners are bound
        if len(d.osc) == 2:
            break
        await asyncio.sleep(0.01)
    try:
        yield d
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class UdpClient:
    """A plain UDP OSC peer: sends datagrams, collects every message it receives."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = port
        self.got: list[Event] = []

    def send(self, address: str, *args: object) -> None:
        self.sock.sendto(encode_message(address, list(args)), ("127.0.0.1", self.port))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))

    async def collect(self, until: Callable[[list[Event]], bool], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(self.got):
            try:
                while True:
                    data = self.sock.recv(65536)
                    self.got.extend(parse_packet(data, source="test"))
            except BlockingIOError:
                await asyncio.sleep(0.01)


def test_set_get_subscribe_and_meters_follow() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[0].address[1]
            a, b = UdpClient(port), UdpClient(port)
            await asyncio.sleep(0.5)
            before = d.engine.meters().master.peak[0]
            b.send("/subscribe")
            await asyncio.sleep(0.05)
            a.send("/ch/1/fader", -12.0)
            a.send("/ch/1/mute/norm", 0.0)
            await b.collect(lambda got: any(e.address == "/ch/1/fader" for e in got))
            fb = [e for e in b.got if e.address == "/ch/1/fader"]
            assert fb and fb[-1].args[0] == pytest.approx(-12.0)
            assert d.mixer.get("ch/1/fader") == -12.0
            a.send("/get", "/ch/1/fader")
            await a.collect(lambda got: any(e.address == "/ch/1/fader" for e in got))
            assert [e.args for e in a.got if e.address == "/ch/1/fader"] == [(-12.0,)]
            # a's own change was not echoed to a as feedback (only its /get answer came back)
            await asyncio.sleep(1.5)  # the peak meter falls back at 20 dB/s
            after = d.engine.meters().master.peak[0]
            assert 20 * np.log10(before / after) == pytest.approx(12.0, abs=0.5)

    asyncio.run(scenario())


def test_burst_is_coalesced_and_normalised_positions_use_the_taper() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[0].address[1]
            a, b = UdpClient(port), UdpClient(port)
            b.send("/subscribe", "ch/1")
            await asyncio.sleep(0.05)
            for i in range(1000):  # 1000 changes in ~0.2 s (paced: UDP drops floods)
                a.send("/ch/1/pan", -1.0 + 2 * i / 999)
                if i % 50 == 49:
                    await asyncio.sleep(0.01)
            a.send("/ch/1/fader/norm", 0.75)  # 75% travel is 0 dB on the fader law
            await b.collect(lambda got: any(e.address == "/ch/1/fader" for e in got)
                            and any(e.address == "/ch/1/pan" and e.args[0] == 1.0
                                    for e in got), timeout=5)
            pans = [e for e in b.got if e.address == "/ch/1/pan"]
            assert pans[-1].args[0] == pytest.approx(1.0)
            assert len(pans) < 100, "a burst of 1000 changes must not send 1000 messages"
            assert d.mixer.get("ch/1/fader") == pytest.approx(0.0)

    asyncio.run(scenario())


def test_bad_messages_are_counted_answered_and_do_not_stop_the_listener() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[0].address[1]
            a = UdpClient(port)
            a.send("/ch/99/fader", 0.0)
            a.send("/ch/1/fader", 40.0)
            a.send_raw(b"\x00garbage\xff" * 3)
            a.send_raw(b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x10" * 3)
            a.send("/ch/1/pan", 0.25)
            await a.collect(lambda got: sum(e.address == "/error" for e in got) >= 2)
            errors = [str(e.args[0]) for e in a.got if e.address == "/error"]
            assert any("channel 99 does not exist" in m for m in errors)
            assert any("40.0 is out of range; allowed -inf..10 dB" in m for m in errors)
            await asyncio.sleep(0.1)
            assert d.mixer.get("ch/1/pan") == 0.25  # the listener is still serving
            assert d.osc[0].stats.dropped >= 2
            assert d.native is not None and d.native.stats.errors >= 2

    asyncio.run(scenario())


def test_tcp_size_prefixed_set_and_get() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[1].address[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for msg in (encode_message("/ch/2/fader", [-3.0]),
                        encode_message("/get", ["/ch/2/fader"])):
                writer.write(len(msg).to_bytes(4, "big") + msg)
            await writer.drain()
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), 3), "big")
            (reply,) = parse_packet(await reader.readexactly(size), source="test")
            assert reply.address == "/ch/2/fader" and reply.args == (-3.0,)
            writer.close()

    asyncio.run(scenario())


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="needs liblo-tools (oscsend)")
def test_a_third_party_osc_client_drives_the_mixer() -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            port = d.osc[0].address[1]
            await asyncio.to_thread(
                subprocess.run, ["oscsend", "127.0.0.1", str(port), "/ch/1/eq/2/gain", "f", "4.5"],
                check=True, timeout=10)
            for _ in range(100):
                if d.mixer.get("ch/1/eq/2/gain") == 4.5:
                    break
                await asyncio.sleep(0.02)
            assert d.mixer.get("ch/1/eq/2/gain") == 4.5

    asyncio.run(scenario())
