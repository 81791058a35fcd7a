"""No TCP peer can lock the others out, and a taken UDP port is retried.

Real sockets on 127.0.0.1: Linux routes all of 127.0.0.0/8 to the loopback,
so binding a client to 127.0.0.2 makes it another host as far as the
listener can tell.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.events import Event
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports import slip
from surfaced.transports.osc import OscListener, OscListenerConfig
from surfaced.transports.osc_codec import encode_message

WAIT = 5.0


async def until(pred: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.01)


async def connect(port: int, host: str = "127.0.0.1") -> tuple[asyncio.StreamReader,
                                                                asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(10), WAIT) == b""


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


def listener(events: list[Event], **kwargs: object) -> OscListener:
    return OscListener(OscListenerConfig("tcp", port=0, framing="slip", **kwargs),  # type: ignore[arg-type]
                       events.append)


def test_32_idle_connections_from_one_host_leave_room_for_another() -> None:
    async def scenario() -> None:
        events: list[Event] = []
        lst = listener(events)
        await lst.start()
        port = lst.address[1]
        idle = [await connect(port, "127.0.0.2") for _ in range(32)]
        await until(lambda: lst.stats.connections + lst.stats.refused_connections == 32,
                    "32 connections accepted or refused")
        assert lst.stats.connections == 8  # max_per_host
        assert lst.stats.refused_connections == 24
        assert "max_per_host" in (lst.stats.last_error or "")
        _, w = await connect(port)
        w.write(slip.encode(encode_message("/ch/1/mute", [1])))
        await until(lambda: any(e.address == "/ch/1/mute" for e in events),
                    "the other host's message arrives")
        for _, iw in idle:
            iw.close()
        w.close()
        await lst.close()

    run(scenario)


def test_a_full_table_makes_room_by_closing_the_idlest_connection() -> None:
    async def scenario() -> None:
        events: list[Event] = []
        lst = listener(events, max_connections=4, max_per_host=2, evict_after=0.2)
        await lst.start()
        port = lst.address[1]
        idle = [await connect(port, f"127.0.0.{2 + i // 2}") for i in range(4)]
        await until(lambda: lst.stats.connections == 4, "4 connections open")
        await asyncio.sleep(0.3)  # past evict_after, as the code requires
        _, w = await connect(port, "127.0.0.9")
        w.write(slip.encode(encode_message("/hello")))
        await until(lambda: any(e.address == "/hello" for e in events), "the newcomer is heard")
        assert lst.stats.evicted == 1
        assert [await closed_by_server(r) for r, _ in idle[:1]] == [True]  # the idlest
        w.close()
        for _, iw in idle:
            iw.close()
        await lst.close()

    run(scenario)


def test_a_silent_connection_is_closed_after_the_idle_timeout() -> None:
    async def scenario() -> None:
        events: list[Event] = []
        lst = listener(events, idle_timeout=0.2)
        await lst.start()
        reader, writer = await connect(lst.address[1])
        writer.write(b"\xc0/half")  # a packet started and never finished
        assert await closed_by_server(reader)
        await until(lambda: lst.stats.connections == 0, "the connection is gone")
        assert lst.stats.idle_closed == 1
        assert "idle_timeout" in (lst.stats.last_error or "")
        writer.close()
        await lst.close()

    run(scenario)


def test_a_taken_udp_port_is_retried_until_it_is_free() -> None:
    async def scenario() -> None:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        said: list[str] = []
        bound: list[OscListener] = []
        events: list[Event] = []
        lst = OscListener(OscListenerConfig("udp", port=port), events.append)
        assert not await lst.start_retrying(said.append, bound.append)
        assert lst.retrying and len(said) == 1 and "unavailable" in said[0]
        await asyncio.sleep(0.6)  # one retry fails while the port is still held
        assert not bound and len(said) == 1  # said once, not per try
        holder.close()
        await until(lambda: bound, "the listener binds once the port is free")
        assert bound == [lst] and not lst.retrying
        assert f"127.0.0.1:{port}" in said[1] and "bound after" in said[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(encode_message("/ping"), ("127.0.0.1", port))
            await until(lambda: events, "a datagram arrives")
        await lst.close()

    run(scenario)


def test_the_daemon_gets_its_udp_port_once_the_old_instance_lets_go(tmp_path: Path) -> None:
    async def scenario() -> None:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        notes: list[str] = []
        cfg = Config(headless=True, block=256, enable=[], x32=None, mdns=False,
                     osc=[OscListenerConfig("udp", "127.0.0.1", port)])
        s = Session(path="<test>", buses=1)
        s.channels = [ChannelConfig("Tone", Source("generator", "sine"))]
        d = Daemon(cfg, s, on_status=notes.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            await until(lambda: d.osc_waiting, "the daemon waits for its port")
            assert not d.osc
            holder.close()
            await until(lambda: d.osc, "the daemon binds its port")
            assert any("bound after" in n for n in notes)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.settimeout(WAIT)
                c.bind(("127.0.0.1", 0))
                c.sendto(encode_message("/get", ["/ch/1/mute"]), ("127.0.0.1", port))
                reply = await asyncio.get_running_loop().run_in_executor(None, c.recv, 1024)
            assert reply.startswith(b"/ch/1/mute")
        finally:
            stop.set()
            await task
        assert not d.osc_waiting

    run(scenario)
