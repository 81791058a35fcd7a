"""The web surface's server over real HTTP and WebSocket connections on 127.0.0.1.

A real daemon on its headless clock, reached with aiohttp's client: tokens,
roles enforced on every message, malformed input answered and counted,
feedback coalesced and never echoed, touches released when a page goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from surfaced.config import Config, WebConfig
from surfaced.daemon import Daemon
from surfaced.session import ChannelConfig, Session, Source
from surfaced.surfaces.web import server as web_server
from surfaced.surfaces.web.server import WebSurface

ENGINEER_TOKEN = "engineer-token-0123456789"
DRUMMER_TOKEN = "drummer-token-0123456789"


def web_session() -> Session:
    """Four channels with sound on them, two aux buses (cue mixes)."""
    s = Session(path="<test>", buses=2)
    s.channels = [ChannelConfig("Kick", Source("generator", "kick"), {"send/1": -6.0}),
                  ChannelConfig("Bass", Source("generator", "bass"), {}),
                  ChannelConfig("Keys", Source("generator", "keys"), {"pan": -0.5}),
                  ChannelConfig("Vocal", Source("generator", "vocal"), {"fader": -3.0})]
    return s


@asynccontextmanager
async def running_web(**web: Any) -> AsyncIterator[tuple[Daemon, WebSurface, str]]:
    """A daemon with its web surface on a free port: (daemon, surface, base URL)."""
    settings: dict[str, Any] = {"port": 0, "artists": {"Drummer": 1},
                                "tokens": {"engineer": ENGINEER_TOKEN, "Drummer": DRUMMER_TOKEN}}
    settings.update(web)
    cfg = Config(headless=True, block=256, enable=[], osc=[], x32=None, mdns=False,
                 web=WebConfig(**settings))
    d = Daemon(cfg, web_session(), on_status=lambda m: None)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    for _ in range(500):  # bounded: until the page is served
        if d.web is not None or task.done():
            break
        await asyncio.sleep(0.01)
    assert d.web is not None, "the web surface did not start"
    try:
        yield d, d.web, f"http://127.0.0.1:{d.web.port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class Page:
    """A raw WebSocket client speaking the page's protocol; collects what it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.got: list[dict[str, Any]] = []
        self.init: dict[str, Any] = {}

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send_str(msg if isinstance(msg, str) else json.dumps(msg))

    async def until(self, pred: Callable[[dict[str, Any]], bool],
                    timeout: float = 5.0) -> dict[str, Any]:
        """The first message (already received or coming) that satisfies `pred`."""
        for m in self.got:
            if pred(m):
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = await self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if raw.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"connection ended: {raw.type} {raw.data} {raw.extra}")
            m = json.loads(raw.data)
            self.got.append(m)
            if pred(m):
                return m
        raise AssertionError(f"nothing matched within {timeout} s; got {self.got[-5:]}")

    def values_of(self, path: str) -> list[Any]:
        """Every value pushed for `path` after init, in order."""
        return [m["values"][path] for m in self.got if m["t"] == "set" and path in m["values"]]


@asynccontextmanager
async def page(base: str, token: str, **kw: Any) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"{base}/ws?token={token}", **kw) as ws:
        p = Page(ws)
        p.init = await p.until(lambda m: m["t"] == "init")
        yield p


def error_for(path: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["t"] == "error" and m.get("path") == path


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_tokens_open_pages_and_wrong_ones_get_403() -> None:
    async def scenario() -> None:
        async with running_web() as (_d, web, base), aiohttp.ClientSession() as http:
            async with http.get(f"{base}/?token={ENGINEER_TOKEN}") as r:
                assert r.status == 200
                assert "/static/app.js" in await r.text()
                assert r.headers["Referrer-Policy"] == "no-referrer"
            for token in ("nope", "", ENGINEER_TOKEN + "x", ENGINEER_TOKEN[:-1]):
                async with http.get(f"{base}/?token={token}") as r:
                    assert r.status == 403
                with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                    await http.ws_connect(f"{base}/ws?token={token}")
                assert exc.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await http.ws_connect(f"{base}/ws")
            assert exc.value.status == 403
            # A page of another site cannot use the token, even if it learned it.
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await http.ws_connect(f"{base}/ws?token={ENGINEER_TOKEN}",
                                      origin="http://evil.example")
            assert exc.value.status == 403
            assert web.stats.refused_auth == 10
            assert web.stats.connections == 0
            async with http.get(f"{base}/static/../server.py") as r:
                assert r.status == 404
            for name in ("app.js", "style.css"):
                async with http.get(f"{base}/static/{name}") as r:
                    assert r.status == 200
            async with page(base, ENGINEER_TOKEN, origin=base) as p:  # its own origin: fine
                assert p.init["role"]["kind"] == "engineer"

    asyncio.run(scenario())


def test_generated_tokens_are_printed_and_work() -> None:
    async def scenario() -> None:
        said: list[str] = []
        cfg = Config(headless=True, enable=[], osc=[], x32=None, mdns=False,
                     web=WebConfig(port=0, artists={"Singer": 2}))
        d = Daemon(cfg, web_session(), on_status=said.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        await wait_for(lambda: d.web is not None)
        try:
            links = [m.split(": ", 1)[1] for m in said if m.startswith("web page for")]
            assert len(links) == 3  # the engineer, bus 1 (unnamed), Singer on bus 2
            assert any("Singer (bus 2)" in m for m in said)
            async with aiohttp.ClientSession() as http:
                for link in links:
                    token = link.split("token=", 1)[1]
                    assert len(token) >= 20
                    async with http.ws_connect(link.replace("/?", "/ws?")) as ws:
                        init = json.loads((await ws.receive()).data)
                        assert init["t"] == "init"
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_engineer_sets_touches_and_runs_commands() -> None:
    async def scenario() -> None:
        async with running_web() as (d, web, base), page(base, ENGINEER_TOKEN) as p:
            init = p.init
            assert init["channels"] == 4 and init["buses"] == 2
            assert init["busNames"] == ["Drummer", "Bus 2"]
            assert init["values"]["ch/4/fader"][0] == -3.0
            assert init["values"]["ch/1/name"] == ["Kick", None]
            assert "undo" in init["commands"] and "session/save_as" not in init["commands"]
            await p.send({"t": "touch", "path": "ch/2/fader", "on": True})
            await p.send({"t": "set", "path": "ch/2/fader", "pos": 0.5})
            await p.send({"t": "set", "path": "ch/3/mute", "value": True})
            await p.send({"t": "set", "path": "ch/1/name", "value": "Kick In"})
            await wait_for(lambda: d.mixer.get("ch/1/name") == "Kick In")
            assert d.mixer.get("ch/2/fader") == -10.0  # half travel on the fader law
            assert d.mixer.get("ch/3/mute") == 1.0
            assert any(s.startswith("web:engineer:") for s in d.mixer.touched_by("ch/2/fader"))
            await p.send({"t": "cmd", "name": "undo", "args": [], "id": 7})
            reply = await p.until(lambda m: m["t"] == "reply")
            assert reply["id"] == 7
            assert d.mixer.get("ch/1/name") == "Kick"  # the last step undone, nothing else
            assert d.mixer.get("ch/3/mute") == 1.0
            # Undo is a change from elsewhere: the page is told.
            await p.until(lambda m: m["t"] == "set" and m["values"].get("ch/1/name")
                          == ["Kick", None])
            await p.send({"t": "cmd", "name": "session/save_as", "args": ["/tmp/x.yaml"]})
            await p.until(lambda m: m["t"] == "error" and "session/save_as" in m["message"])
            assert web.stats.refused == 1
        # The page went away: it holds nothing any more.
        assert d.mixer.touched_by("ch/2/fader") == frozenset()

    asyncio.run(scenario())


def test_artist_can_only_touch_their_own_cue_mix() -> None:
    async def scenario() -> None:
        async with running_web() as (d, web, base), page(base, DRUMMER_TOKEN) as p:
            assert p.init["role"] == {"kind": "artist", "name": "Drummer", "bus": 1,
                                      "label": "Drummer (bus 1)"}
            # Only names and their own sends are shown; no commands.
            assert set(p.init["values"]) == {f"ch/{c}/{leaf}" for c in range(1, 5)
                                             for leaf in ("name", "send/1")}
            assert p.init["commands"] == []
            before = d.mixer.snapshot()
            forbidden = ["ch/2/fader", "ch/1/send/2", "ch/1/mute", "ch/1/name", "bus/1/fader",
                         "master/fader", "ch/1/send/1/pre", "ch/01/send/2"]
            for path in forbidden:
                await p.send({"t": "set", "path": path, "pos": 1.0})
            await p.send({"t": "touch", "path": "ch/2/fader", "on": True})
            await p.send({"t": "cmd", "name": "undo", "args": []})
            await p.send({"t": "cmd", "name": "scene/recall", "args": ["x"]})
            # Its own send, spelled any way the mixer accepts, is fine.
            await p.send({"t": "set", "path": "ch/02/send/1", "value": -12.0})
            await wait_for(lambda: d.mixer.get("ch/2/send/1") == -12.0)
            await p.until(lambda m: m["t"] == "error" and "scene/recall" in m["message"])
            errors = [m for m in p.got if m["t"] == "error"]
            assert len(errors) == len(forbidden) + 3
            assert all("not yours" in m["message"] or "not available" in m["message"]
                       for m in errors)
            assert web.stats.refused == len(forbidden) + 3
            after = d.mixer.snapshot()
            assert {k for k in after if after[k] != before[k]} == {"ch/2/send/1"}
            assert d.mixer.touched_by("ch/2/fader") == frozenset()
            # Changes elsewhere reach the artist only where they concern them.
            d.mixer.set("ch/3/send/2", -5.0, "osc:test")
            d.mixer.set("ch/3/fader", -5.0, "osc:test")
            d.mixer.set("ch/3/send/1", -7.0, "osc:test")
            await p.until(lambda m: m["t"] == "set" and "ch/3/send/1" in m["values"])
            assert not p.values_of("ch/3/send/2") and not p.values_of("ch/3/fader")
            # Their own meter only: their bus, not the channels or the master.
            meters = await p.until(lambda m: m["t"] == "meters")
            assert set(meters) == {"t", "mine"} and len(meters["mine"]) == 2

    asyncio.run(scenario())


def test_malformed_messages_are_answered_counted_and_survived() -> None:
    async def scenario() -> None:
        async with running_web() as (d, web, base):
            before = d.mixer.snapshot()
            async with page(base, ENGINEER_TOKEN) as p:
                bad: list[str | dict[str, Any]] = [
                    "not json", "", "[]", "null", '"set"', "{}", "NaN",
                    '{"t": "set", "path": "ch/1/fader", "value": NaN}',
                    '{"t": "set", "path": "ch/1/fader", "value": Infinity}',
                    '{"t": "set", "path": "ch/1/fader", "value": 1e999}',
                    '{"t": "set", "path": "ch/1/fader", "value": -1e999}',
                    "[" * 2000 + "]" * 2000,  # deeper than Python's recursion limit
                    {"t": "set", "path": "ch/1/fader", "value": 10**400},
                    {"t": "set", "path": "ch/1/fader", "pos": 1.5},
                    {"t": "set", "path": "ch/1/fader", "pos": True},
                    {"t": "set", "path": "ch/1/fader", "pos": "0.5"},
                    {"t": "set", "path": "ch/1/fader", "pos": 0.5, "value": 1},
                    {"t": "set", "path": "ch/1/fader"},
                    {"t": "set", "path": "ch/1/fader", "value": 11.0},
                    {"t": "set", "path": "ch/1/fader", "value": "loud"},
                    {"t": "set", "path": "ch/1/mute", "value": 0.5},
                    {"t": "set", "path": "ch/1/name", "value": 3},
                    {"t": "set", "path": "ch/1/name", "pos": 0.5},
                    {"t": "set", "path": "ch/1/name", "value": "x" * 65},
                    {"t": "set", "path": "ch/99/fader", "pos": 0.5},
                    {"t": "set", "path": "ch/1/wobble", "pos": 0.5},
                    {"t": "set", "path": "../../etc/passwd", "pos": 0.5},
                    {"t": "set", "path": 5, "pos": 0.5},
                    {"t": "set", "path": "x" * 200, "pos": 0.5},
                    {"t": "set", "path": "ch/1/fader", "pos": 0.5, "extra": 1},
                    {"t": "set", "path": "ch/1/fader", "pos": 0.5, "id": "one"},
                    {"t": "touch", "path": "ch/1/fader", "on": "yes"},
                    {"t": "cmd", "name": "undo", "args": [[1]]},
                    {"t": "cmd", "name": "no/such", "args": []},
                    {"t": "explode"},
                    "x" * (web_server.protocol.MAX_TEXT + 1),
                ]
                for msg in bad:
                    await p.send(msg)
                await p.ws.send_bytes(b"\x00\x01")
                answers = len(bad) + 1
                await p.until(lambda m: len([x for x in p.got if x["t"] == "error"]) >= answers)
                assert web.stats.errors == answers
                assert web.stats.too_big == 1
                assert web.stats.applied == 0
                assert d.mixer.snapshot() == before
                # Still connected and working.
                await p.send({"t": "set", "path": "ch/1/fader", "value": -20.0})
                await wait_for(lambda: d.mixer.get("ch/1/fader") == -20.0)
                # A frame over the hard limit closes that connection (1009) ...
                await p.send("x" * (web_server.MAX_FRAME + 10))
                closed = await p.ws.receive(timeout=5)
                assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert p.ws.close_code == 1009
            await wait_for(lambda: web.stats.too_big == 2)
            # ... and nothing else: the next page is served as before.
            async with page(base, ENGINEER_TOKEN) as p2:
                assert p2.init["values"]["ch/1/fader"][0] == -20.0
            assert d.loop_errors == 0 and d.mixer.subscriber_errors == 0

    asyncio.run(scenario())


def test_a_flood_is_cut_at_the_rate_limit() -> None:
    async def scenario() -> None:
        async with running_web() as (_d, web, base), page(base, ENGINEER_TOKEN) as p:
            # One frozen clock: every message lands in the same one-second window.
            web.clock = lambda: 1000.0
            for i in range(web_server.MSGS_PER_S + 50):
                await p.send({"t": "set", "path": "ch/1/pan", "pos": (i % 100) / 100})
            await wait_for(lambda: web.stats.received >= web_server.MSGS_PER_S + 50)
            assert web.stats.rate_limited == 50
            assert web.stats.applied <= web_server.MSGS_PER_S
            web.clock = lambda: 2000.0  # the next second: heard again
            await p.send({"t": "cmd", "name": "scene/list", "args": []})
            await p.until(lambda m: m["t"] == "reply")  # replies keep their order: all are in
            warned = [m for m in p.got if m["t"] == "error"]
            assert len(warned) == 1  # said once, not fifty times
            assert "messages a second" in warned[0]["message"]

    asyncio.run(scenario())


def test_feedback_is_coalesced_and_never_echoed() -> None:
    async def scenario() -> None:
        async with running_web() as (d, web, base), \
                page(base, ENGINEER_TOKEN) as a, page(base, ENGINEER_TOKEN) as b:
            await a.send({"t": "set", "path": "ch/1/fader", "value": -7.0})
            await b.until(lambda m: m["t"] == "set" and "ch/1/fader" in m["values"])
            assert b.values_of("ch/1/fader")[-1][0] == -7.0
            # A burst from elsewhere between two turns of the loop: one value per page,
            # the last one.
            for i in range(100):
                d.mixer.set("ch/2/fader", -40.0 + i * 0.25, "osc:udp:127.0.0.1:9")
            await a.until(lambda m: m["t"] == "set" and "ch/2/fader" in m["values"])
            await b.until(lambda m: m["t"] == "set" and "ch/2/fader" in m["values"])
            for p in (a, b):
                assert [v[0] for v in p.values_of("ch/2/fader")] == [-15.25]
            # `a` made ch/1/fader: by the time the later change reached it, its own
            # change had not come back.
            assert a.values_of("ch/1/fader") == []
            # A scene recall is a change from elsewhere like any other.
            d.mixer.commands.run("scene/store", ("Verse",), "osc:test")
            d.mixer.set("ch/4/pan", 0.5, "osc:test")
            d.mixer.commands.run("scene/recall", ("Verse",), "osc:test")
            await a.until(lambda m: m["t"] == "set" and m["values"].get("ch/4/pan", [1])[0]
                          == 0.0)
            assert web.stats.feedback_sent >= 4

    asyncio.run(scenario())


def test_engineer_gets_every_meter_at_its_rate() -> None:
    async def scenario() -> None:
        async with running_web() as (_d, _web, base), page(base, ENGINEER_TOKEN) as p:
            m = await p.until(lambda m: m["t"] == "meters" and max(m["ch"]) > -100)
            assert len(m["ch"]) == 4 and len(m["bus"]) == 2 and len(m["master"]) == 2
            assert all(isinstance(x, float) and x >= web_server.METER_FLOOR_DB
                       for x in m["ch"] + m["bus"] + m["master"])

    asyncio.run(scenario())


def test_port_in_use_is_said_not_fatal() -> None:
    async def scenario() -> None:
        async with running_web() as (_d, web, _base):
            said: list[str] = []
            cfg = Config(headless=True, enable=[], osc=[], x32=None, mdns=False,
                         web=WebConfig(port=web.port))
            d2 = Daemon(cfg, web_session(), on_status=said.append)
            stop = asyncio.Event()
            task = asyncio.create_task(d2.run(stop))
            await wait_for(lambda: any("web page unavailable" in m for m in said))
            assert d2.web is None and not task.done()
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
