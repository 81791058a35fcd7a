"""Linked daemons for tests and benchmarks: each a real Daemon on its own asyncio loop
in a thread, headless, with OSC on a free UDP port and the link configured."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from daemon_thread import DaemonThread

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.link.link import MixLink
from surfaced.link.settings import LinkConfig
from surfaced.mix.mixer import Mixer
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig


def small_session(channels: int = 2) -> Session:
    """A few generator channels and one bus."""
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "sine"), {})
                  for i in range(1, channels + 1)]
    return s


def wait_until(pred: Callable[[], bool], timeout: float = 15.0, step: float = 0.02) -> bool:
    """Poll `pred` until it holds or `timeout` passes; returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class LinkedDaemon:
    """A Daemon with a link, on its own loop in a thread."""

    def __init__(self, link: LinkConfig, session: Session | None = None, block: int = 256) -> None:
        cfg = Config(headless=True, block=block, enable=[], x32=None, mdns=False,
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)], link=link)
        web: Any = getattr(cfg, "web", None)
        if web is not None:  # no browser page on port 8080 from every test daemon
            setattr(cfg, "web", dataclasses.replace(web, enabled=False))  # noqa: B010
        self.id = link.daemon_id
        self.lines: list[str] = []
        self.daemon = Daemon(cfg, session or small_session(), on_status=self.lines.append)
        self._runner = DaemonThread(self.daemon, name=f"daemon-{self.id}")
        self.link: MixLink | Any = None

    @property
    def mixer(self) -> Mixer:
        return self.daemon.mixer

    def start(self) -> LinkedDaemon:
        """Start the daemon; returns once its link exists (bounded)."""
        try:
            self._runner.start(lambda: self.daemon.link is not None and bool(self.daemon.osc),
                               what="linked")
        except RuntimeError:
            raise RuntimeError(f"daemon {self.id} did not start its link: {self.lines}") from None
        self.link = self.daemon.link
        return self

    def stop(self) -> None:
        """Stop the daemon (it says goodbye on the broker) and wait for its thread."""
        self._runner.stop(20)

    def in_mix(self) -> bool:
        """Connected and every retained write taken."""
        return bool(self.link is not None and self.link.synced)

    def mix(self) -> dict[str, object]:
        """The linked part of the mix (solo stays local)."""
        link = self.link
        return {p: v for p, v in self.mixer.snapshot().items()
                if link is None or link.state.linked(p)}


def link_config(url: str, daemon_id: str, **kw: Any) -> LinkConfig:
    """A LinkConfig for a test broker URL."""
    from surfaced.link.settings import parse_broker

    host, port, tls, _user, _password = parse_broker(url)
    kw.setdefault("mix", "test")
    kw.setdefault("keepalive", 2)
    return LinkConfig(host, port, tls, daemon_id=daemon_id, **kw)
