"""Mapping folders as a hostile or busy user leaves them, with the real daemon loop.

A FIFO or /dev/zero named *.yaml must not block or flood the loop; a user's
copy of a shipped mapping replaces it at run time, bound once.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from test_daemon_mappings import TABLET, touch_later, until

import surfaced.config
from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message


def two_channels() -> Session:
    s = Session(path="<test>", buses=0)
    s.channels = [ChannelConfig(f"C{i}", Source("generator", "sine")) for i in (1, 2)]
    return s


def test_fifo_and_device_named_yaml_neither_block_nor_flood_the_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        maps = tmp_path / "maps"
        maps.mkdir()
        os.mkfifo(maps / "fifo.yaml")  # nobody ever writes: open() would wait for ever
        (maps / "zero.yaml").symlink_to("/dev/zero")
        (maps / "tablet.yaml").write_text(TABLET)
        notes: list[str] = []
        cfg = Config(headless=True, osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                     mapping_dirs=[maps], enable=["fifo", "zero", "tablet"])
        d = Daemon(cfg, two_channels(), on_status=notes.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await until(lambda: len(d.bindings) == 1, "the tablet bound beside them")
            for name in ("fifo.yaml", "zero.yaml"):
                assert any(n.startswith("mapping not loaded: ") and name in n
                           and "not a regular file" in n for n in notes), notes
            sock.sendto(encode_message("/tab/fader/1", [0.75]),
                        ("127.0.0.1", d.osc[0].address[1]))
            await until(lambda: d.mixer.get("ch/1/fader") == pytest.approx(0.0),
                        "the loop still serving")
            await asyncio.sleep(1.2)  # two more checks: refused files are not retried unchanged
            assert sum("fifo.yaml" in n for n in notes) == 1
        finally:
            sock.close()
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_a_user_copy_replaces_the_shipped_mapping_at_run_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        shipped = tmp_path / "shipped"
        shipped.mkdir()
        (shipped / "tablet.yaml").write_text(TABLET)
        monkeypatch.setattr(surfaced.config, "SHIPPED_MAPPINGS", shipped)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        user = tmp_path / "xdg" / "surfaced" / "mappings"
        notes: list[str] = []
        cfg = Config(headless=True, osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                     enable=["tablet"])
        d = Daemon(cfg, two_channels(), on_status=notes.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await until(lambda: len(d.bindings) == 1, "the shipped tablet bound")
            assert d.bindings[0].path == shipped / "tablet.yaml"
            old = d.bindings[0].surface
            port = d.osc[0].address[1]
            # the user copies it and moves the faders to other addresses
            user.mkdir(parents=True)
            touch_later(user / "tablet.yaml", TABLET.replace("/tab/fader/", "/tab/level/"))
            await until(lambda: [b.path for b in d.bindings] == [user / "tablet.yaml"],
                        "the user's copy bound in its place")
            assert len(d.bindings) == 1
            assert old._closed  # the shipped surface let go of the mixer
            assert any(n == f"{user / 'tablet.yaml'} replaces {shipped / 'tablet.yaml'}"
                       for n in notes), notes
            sock.sendto(encode_message("/tab/level/1", [0.5]), ("127.0.0.1", port))
            await until(lambda: d.mixer.get("ch/1/fader") == pytest.approx(-10.0),
                        "the user's address driving ch/1")
            sock.sendto(encode_message("/tab/fader/2", [0.5]), ("127.0.0.1", port))
            await asyncio.sleep(1.2)  # the shipped addresses are gone; nothing bound twice
            assert d.mixer.get("ch/2/fader") == 0.0
            assert len(d.bindings) == 1
            # the user removes the copy: the shipped one comes back, once
            (user / "tablet.yaml").unlink()
            await until(lambda: [b.path for b in d.bindings] == [shipped / "tablet.yaml"],
                        "the shipped tablet back")
        finally:
            sock.close()
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
