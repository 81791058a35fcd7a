"""The daemon's mapping life cycle: a broken file, a fix, a new file, a bad edit.

An OSC tablet mapping over a real UDP socket on 127.0.0.1 stands in for any
surface; the same code binds MIDI and serial surfaces.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet

TABLET = """\
name: Test tablet
transport: osc
match: {prefix: /tab/}
strips: 2
controls:
  fader:
    each: {strip: 0..1}
    osc: /tab/fader/${strip + 1}
    param: ch/${ch}/fader
"""


async def until(pred: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def touch_later(path: Path, text: str) -> None:
    """Write and move the mtime forward, so a change inside one second is still seen."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 2))


def test_mappings_are_bound_fixed_added_and_bad_edits_survived(tmp_path: Path) -> None:
    async def scenario() -> None:
        maps = tmp_path / "maps"
        maps.mkdir()
        (maps / "tablet.yaml").write_text(TABLET.replace("param:", "parm:"))  # broken
        notes: list[str] = []
        s = Session(path="<test>", buses=0)
        s.channels = [ChannelConfig(f"C{i}", Source("generator", "sine")) for i in (1, 2)]
        cfg = Config(headless=True, osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                     enable=["tablet", "tablet2", "nope"], mapping_dirs=[maps])
        d = Daemon(cfg, s, on_status=notes.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        try:
            await until(lambda: bool(d.osc), "the OSC listener")
            port = d.osc[0].address[1]
            await until(lambda: any("'nope'" in n and "no nope.yaml" in n for n in notes),
                        "the missing mapping named")
            await until(lambda: any("mapping not loaded" in n and "tablet.yaml" in n
                                    for n in notes), "the broken mapping named")
            assert not d.bindings

            # the user fixes the file: bound without a restart
            touch_later(maps / "tablet.yaml", TABLET)
            await until(lambda: len(d.bindings) == 1, "the fixed mapping bound")
            sock.sendto(encode_message("/tab/fader/2", [0.75]), ("127.0.0.1", port))
            await until(lambda: d.mixer.get("ch/2/fader") == pytest.approx(0.0),
                        "the tablet's fader 2 at 0 dB")

            # a new mapping file appears: bound too
            (maps / "tablet2.yaml").write_text(TABLET.replace("/tab/", "/tb2/"))
            await until(lambda: len(d.bindings) == 2, "the new mapping bound")

            # an edit that cannot compile: refused, the old mapping keeps working
            touch_later(maps / "tablet.yaml", TABLET.replace("${strip + 1}", "${strip // 0}"))
            await until(lambda: bool(d.reload_errors), "the refused reload")
            sock.sendto(encode_message("/tab/fader/1", [0.5]), ("127.0.0.1", port))
            await until(lambda: d.mixer.get("ch/1/fader") == pytest.approx(-10.0),
                        "the old mapping still driving ch/1")
            assert not task.done()

            # feedback: a change from elsewhere reaches the tablet at its address
            d.mixer.set("ch/2/fader", -10.0, "test")
            got: list[str] = []

            def drain() -> bool:
                try:
                    while True:
                        got.extend(e.address for e in parse_packet(sock.recv(65536)))
                except BlockingIOError:
                    pass
                return "/tab/fader/2" in got

            await until(drain, "feedback to the tablet")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            sock.close()

    asyncio.run(scenario())


def test_editing_a_protocol_file_reloads_the_devices_that_extend_it(tmp_path: Path) -> None:
    """A device file is its protocol file plus differences: an edit to either reloads it."""
    async def scenario() -> None:
        maps = tmp_path / "maps"
        maps.mkdir()
        (maps / "tablet-base.yaml").write_text(TABLET)
        (maps / "tablet.yaml").write_text("extends: tablet-base\nname: Derived tablet\n")
        s = Session(path="<test>", buses=0)
        s.channels = [ChannelConfig(f"C{i}", Source("generator", "sine")) for i in (1, 2)]
        cfg = Config(headless=True, osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                     enable=["tablet"], mapping_dirs=[maps])
        d = Daemon(cfg, s, on_status=lambda m: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        try:
            await until(lambda: len(d.bindings) == 1, "the derived tablet bound")
            port = d.osc[0].address[1]
            # the protocol file now puts the faders on other addresses
            touch_later(maps / "tablet-base.yaml", TABLET.replace("/tab/fader/", "/tab/level/"))
            await until(lambda: d.reloads == 1, "the device reloaded after its base changed")
            sock.sendto(encode_message("/tab/level/1", [0.5]), ("127.0.0.1", port))
            await until(lambda: d.mixer.get("ch/1/fader") == pytest.approx(-10.0),
                        "the new address driving ch/1")
            await asyncio.sleep(1.2)  # two more reload checks: nothing else changed
            assert d.reloads == 1
        finally:
            sock.close()
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
