"""The shipped tablet layouts: parsed, and every message they send played to a real daemon.

The TouchOSC layout (mappings/tablets/surfaced-x32.tosc, zlib-compressed XML)
and the Open Stage Control session (surfaced-x32.json) are read the way
their apps read them; each control's message is sent over UDP to a daemon's
X32 listener with a value the control can produce, and so are the addresses
their start-up scripts send. Every one must be understood (no unknown
address, no error) and the queries answered.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from test_daemon_osc import UdpClient

from surfaced.config import Config, X32Config
from surfaced.daemon import Daemon
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig

ROOT = Path(__file__).resolve().parent.parent
TABLETS = ROOT / "mappings" / "tablets"

Message = tuple[str, tuple[object, ...]]


def touchosc_messages() -> tuple[list[Message], list[str]]:
    """(each control's message with a value it can send, addresses its script sends)."""
    root = ET.fromstring(zlib.decompress((TABLETS / "surfaced-x32.tosc").read_bytes()))
    assert root.tag == "lexml" and root.get("version") == "3"
    sample = {"FLOAT": 0.5, "INTEGER": 0, "STRING": "Kick"}
    messages: list[Message] = []
    scripted: list[str] = []
    for node in root.iter("node"):
        for prop in node.iterfind("properties/property"):
            if prop.findtext("key") == "script":
                scripted += re.findall(r"sendOSC\('([^']+)'\)", prop.findtext("value") or "")
        for osc in node.iterfind("messages/osc"):
            assert osc.findtext("send") == "1" and osc.findtext("receive") == "1"
            path = "".join(p.findtext("value") or "" for p in osc.iterfind("path/partial"))
            (arg,) = osc.iterfind("arguments/partial")
            messages.append((path, (sample[arg.findtext("conversion") or ""],)))
    return messages, scripted


def osc_session_messages() -> tuple[list[Message], list[str]]:
    """The same for the Open Stage Control session."""
    data = json.loads((TABLETS / "surfaced-x32.json").read_text())
    assert data["type"] == "session" and data["content"]["type"] == "root"
    messages: list[Message] = []

    def walk(w: dict[str, object]) -> None:
        kind = w["type"]
        if kind in ("fader", "knob"):
            messages.append((str(w["address"]), (0.5,)))
        elif kind == "button":
            messages.extend([(str(w["address"]), (w["on"],)), (str(w["address"]), (w["off"],))])
        elif kind == "input":
            messages.append((str(w["address"]), ("Kick",)))
        for child in w.get("widgets", []) or []:  # type: ignore[attr-defined]
            walk(child)

    walk(data["content"])
    script = str(data["content"]["onCreate"])
    scripted = re.findall(r"send\('([^']+)'\)", script)
    asks = re.search(r"for \(var a of \[(.*)\]\)", script)
    assert asks is not None
    scripted += json.loads(f"[{asks[1]}]")
    return messages, scripted


def eight_channels() -> Session:
    s = Session(path="<test>", buses=2)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "sine"), {}) for i in range(8)]
    return s


@pytest.mark.parametrize("layout", ["touchosc", "open-stage-control"])
def test_every_message_a_layout_sends_is_understood(layout: str) -> None:
    messages, scripted = (touchosc_messages() if layout == "touchosc"
                          else osc_session_messages())
    assert len(messages) >= 8 * 5 + 1  # 8 strips of 5 controls and the main fader
    assert "/xremote" in scripted
    queries = [a for a in scripted if a != "/xremote"]
    assert {m[0] for m in messages} <= set(queries)  # every control asks for its value

    async def scenario() -> None:
        cfg = Config(headless=True, block=256, enable=[], x32=X32Config("127.0.0.1", 0),
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
        d = Daemon(cfg, eight_channels(), on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            for _ in range(200):
                if d.x32_listener is not None:
                    break
                await asyncio.sleep(0.01)
            assert d.x32_listener is not None and d.x32 is not None
            tablet = UdpClient(d.x32_listener.address[1])
            for address in scripted:
                tablet.send(address)
            await tablet.collect(lambda got: len(got) >= len(queries))
            assert sorted(e.address for e in tablet.got) == sorted(queries)
            for i, (address, args) in enumerate(messages):
                tablet.send(address, *args)
                if i % 20 == 19:
                    await asyncio.sleep(0.01)  # paced: UDP on a busy machine drops floods
            for _ in range(200):
                if d.x32.stats.applied + d.x32.stats.errors >= len(messages):
                    break
                await asyncio.sleep(0.01)
            assert d.x32.stats.unknown == 0, d.x32.stats.last_error
            assert d.x32.stats.errors == 0, d.x32.stats.last_error
            assert d.x32.stats.applied == len(messages)
            assert d.mixer.get("ch/8/fader") == pytest.approx(-10.0)  # 0.5 on the X32 law
            assert d.mixer.get("ch/8/name") == "Kick"
            assert d.mixer.get("ch/8/send/1") == pytest.approx(-10.0)
            assert d.mixer.get("master/fader") == pytest.approx(-10.0)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_shipped_layouts_are_what_the_build_script_makes() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tablet_layouts.py"),
                          "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    xml = (TABLETS / "surfaced-x32.tosc.xml").read_bytes()
    assert zlib.decompress((TABLETS / "surfaced-x32.tosc").read_bytes()) == xml
