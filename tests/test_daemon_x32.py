"""The daemon's X32-compatible namespace over real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from test_daemon_osc import UdpClient, small_session

from surfaced.config import Config, X32Config
from surfaced.daemon import Daemon
from surfaced.transports.osc import OscListenerConfig

LOCAL = X32Config("127.0.0.1", 0)


@asynccontextmanager
async def x32_daemon(x32: X32Config | None = LOCAL, **kw: object) -> AsyncIterator[Daemon]:
    cfg = Config(headless=True, block=256, enable=[], x32=x32,
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0)], **kw)  # type: ignore[arg-type]
    d = Daemon(cfg, small_session(), on_status=lambda m: None)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    for _ in range(200):  # bounded: until the listeners are bound
        if d.osc and (x32 is None or d.x32_listener is not None):
            break
        await asyncio.sleep(0.01)
    try:
        yield d
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_remote_apps_set_query_and_follow_each_other() -> None:
    async def scenario() -> None:
        async with x32_daemon() as d:
            assert d.x32_listener is not None and d.mdns is None  # 127.0.0.1: no mDNS
            port = d.x32_listener.address[1]
            app, tablet = UdpClient(port), UdpClient(port)
            tablet.send("/xremote")
            tablet.send("/info")
            await tablet.collect(lambda got: any(e.address == "/info" for e in got))
            app.send("/ch/01/mix/fader", 0.5)  # -10 dB on the X32 law
            app.send("/ch/02/mix/on", 0)
            await tablet.collect(lambda got: {"/ch/01/mix/fader", "/ch/02/mix/on"}
                                 <= {e.address for e in got})
            assert d.mixer.get("ch/1/fader") == pytest.approx(-10.0)
            assert d.mixer.get("ch/2/mute") == 1.0
            pushed = {e.address: e.args for e in tablet.got}
            assert pushed["/ch/01/mix/fader"] == (0.5,) and pushed["/ch/02/mix/on"] == (0,)
            assert pushed["/info"] == ("V2.05", "osc-server", "X32", "4.06")
            app.send("/ch/01/mix/fader")  # a query, answered to the asking port
            await app.collect(lambda got: any(e.address == "/ch/01/mix/fader" for e in got))
            await asyncio.sleep(0.1)
            # The app's own changes were not echoed back: only its query's answer came.
            assert [(e.address, e.args) for e in app.got] == [("/ch/01/mix/fader", (0.5,))]
            # A change from the native namespace reaches the X32 subscriber too.
            native = UdpClient(d.osc[0].address[1])
            native.send("/ch/02/pan", 1.0)
            await tablet.collect(lambda got: any(e.address == "/ch/02/mix/pan" for e in got))
            assert [e.args for e in tablet.got if e.address == "/ch/02/mix/pan"] == [(1.0,)]

    asyncio.run(scenario())


def test_bad_input_is_counted_and_the_listener_keeps_serving() -> None:
    async def scenario() -> None:
        async with x32_daemon() as d:
            assert d.x32_listener is not None and d.x32 is not None
            app = UdpClient(d.x32_listener.address[1])
            app.send("/ch/01/mix/fader", math.nan)
            app.send("/ch/01/mix/fader", 2.0)
            app.send("/ch/01/mix/fader", "up")
            app.send("/ch/07/mix/fader", 0.5)  # the session has 2 channels
            app.send("/ch/01/eq/1/g", 0.5)  # the console has it, surfaced does not
            app.send_raw(b"\xff garbage")
            app.send("/ch/01/mix/pan", 0.75)
            for _ in range(100):
                if d.mixer.get("ch/1/pan") == 0.5:
                    break
                await asyncio.sleep(0.02)
            assert d.mixer.get("ch/1/pan") == 0.5
            assert d.mixer.get("ch/1/fader") == 0.0
            assert d.x32.stats.errors == 4 and d.x32.stats.unknown == 1
            assert d.x32_listener.stats.dropped == 1
            assert app.got == []  # the console answers none of these

    asyncio.run(scenario())


def test_x32_can_be_turned_off() -> None:
    async def scenario() -> None:
        async with x32_daemon(None) as d:
            await asyncio.sleep(0.05)
            assert d.x32 is None and d.x32_listener is None

    asyncio.run(scenario())


def test_on_by_default_at_the_consoles_port() -> None:
    assert Config().x32 == X32Config("127.0.0.1", 10023)


def test_a_taken_port_is_retried_and_announced_once_bound() -> None:
    """An exiting instance still holds the X32 port: the listener waits for it, as the
    native ones do, then serves and is announced over mDNS like one bound at start."""
    from surfaces.test_mdns import FakeZeroconf

    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the instance on its way out
    holder.bind(("0.0.0.0", 0))
    port = holder.getsockname()[1]
    said: list[str] = []

    async def scenario() -> None:
        FakeZeroconf.made.clear()
        cfg = Config(headless=True, block=256, enable=[], x32=X32Config("0.0.0.0", port),
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)], name="desk")
        d = Daemon(cfg, small_session(), on_status=said.append)
        d.mdns_factory = FakeZeroconf
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            for _ in range(300):  # bounded: until the first try has failed
                if any("unavailable" in m for m in said):
                    break
                await asyncio.sleep(0.01)
            assert any(f"X32 namespace: OSC udp 0.0.0.0:{port} unavailable" in m for m in said)
            await asyncio.sleep(0.3)
            assert not d.x32_bound and d.mdns is None  # nothing bound: nothing announced
            holder.close()  # the old instance is gone
            for _ in range(500):  # bounded: the first retries come within 1.5 s
                if d.x32_bound and d.mdns is not None and d.mdns.registered:
                    break
                await asyncio.sleep(0.01)
            assert d.x32_bound and d.x32_listener is not None
            assert d.x32_listener.address[1] == port
            assert d.mdns.registered == ["desk (X32)._osc._udp.local."]
            assert any("bound after" in m for m in said)
            app = UdpClient(port)  # and it serves
            app.send("/info")
            await app.collect(lambda got: any(e.address == "/info" for e in got))
            assert [e.address for e in app.got] == ["/info"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        assert FakeZeroconf.made[0].unregistered  # withdrawn at shutdown

    try:
        asyncio.run(scenario())
    finally:
        holder.close()
