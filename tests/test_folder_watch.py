"""Mapping folders report their changes (inotify) instead of being polled twice a second.

What a user notices: a mapping file saved, copied in or fixed is picked up at
once (well within the 5 s safety look), and an idle daemon does not keep
looking at its folders.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from test_daemon_mappings import TABLET, until

from surfaced.config import Config
from surfaced.daemon import RELOAD_WATCHED_S, Daemon
from surfaced.folder_watch import FolderWatch
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="inotify (elsewhere the folders are polled)")


def test_a_watched_folder_and_a_folder_still_to_come_report_changes(tmp_path: Path) -> None:
    async def scenario() -> None:
        calls: list[int] = []
        watch = FolderWatch(lambda: calls.append(1))
        assert watch.available
        watch.start(asyncio.get_running_loop())
        here = tmp_path / "here"
        here.mkdir()
        later = tmp_path / "later" / "mappings"  # its parent does not exist either
        try:
            assert await asyncio.to_thread(watch.watch, [here, later])
            (here / "a.yaml").write_text("x")
            await until(lambda: bool(calls), "a file written in a watched folder")
            await asyncio.sleep(0.1)
            calls.clear()
            (tmp_path / "other").mkdir()  # beside the folder to come: not its business
            await asyncio.sleep(0.3)
            assert not calls
            later.mkdir(parents=True)
            await until(lambda: bool(calls), "the folder to come created")
        finally:
            watch.close()
        assert not watch.available

    asyncio.run(scenario())


def test_a_new_mapping_is_bound_at_once_and_the_idle_check_is_rare(tmp_path: Path) -> None:
    async def scenario() -> None:
        maps = tmp_path / "maps"
        maps.mkdir()
        s = Session(path="<test>", buses=0)
        s.channels = [ChannelConfig("C1", Source("generator", "sine"))]
        cfg = Config(headless=True, osc=[OscListenerConfig("udp", "127.0.0.1", 0)],
                     mapping_dirs=[maps], enable=["tablet"])
        d = Daemon(cfg, s, on_status=lambda _msg: None)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            await until(lambda: bool(d.osc), "the daemon running")
            # the first check (at start) sets the watches
            await until(lambda: d._check_interval() == RELOAD_WATCHED_S, "the folders watched")
            (maps / "tablet.yaml").write_text(TABLET)
            # well before the next safety look (RELOAD_WATCHED_S)
            await until(lambda: len(d.bindings) == 1, "the new mapping bound", timeout=4.0)
            assert d._folder_watch.events >= 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
