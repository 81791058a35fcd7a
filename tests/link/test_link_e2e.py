"""Daemons linked through a real mosquitto broker on 127.0.0.1.

Each daemon is a real Daemon (headless clock, OSC on a free UDP port) on its own
asyncio loop in a thread. Waits are bounded; what is asserted is the mix.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from link.broker import Broker
from link.harness import LinkedDaemon, link_config, wait_until
from link.proxy import Cable
from surfaced.events import Event
from surfaced.link.__main__ import main as link_cli
from surfaced.transports.osc_codec import encode_message, parse_packet

pytestmark = pytest.mark.slow


@contextmanager
def daemons(*specs: tuple[str, str]) -> Iterator[list[LinkedDaemon]]:
    """Start linked daemons (url, id) and wait until each is in the mix."""
    started: list[LinkedDaemon] = []
    try:
        for url, ident in specs:
            started.append(LinkedDaemon(link_config(url, ident)).start())
        assert wait_until(lambda: all(d.in_mix() for d in started)), \
            [d.lines for d in started]
        yield started
    finally:
        for d in started:
            d.stop()


def same_mix(ds: list[LinkedDaemon]) -> bool:
    first = ds[0].mix()
    return all(d.mix() == first for d in ds[1:])


def test_concurrent_moves_converge_on_every_daemon(broker: Broker) -> None:
    with daemons((broker.url, "a"), (broker.url, "b"), (broker.url, "c")) as ds:
        paths = ["ch/1/fader", "ch/1/pan", "ch/2/fader", "ch/2/send/1", "master/fader"]

        def move(d: LinkedDaemon, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(300):
                path = rng.choice(paths)
                spec = d.mixer.spec(path)
                d.mixer.set(path, rng.uniform(max(spec.minimum, -60.0), spec.maximum),
                            f"surface:{d.id}")

        threads = [threading.Thread(target=move, args=(d, i)) for i, d in enumerate(ds)]
        for t in threads:
            t.start()
        ds[2].mixer.set("ch/2/name", "Bass DI", "osc:udp:127.0.0.1:1")
        for t in threads:
            t.join(30)
        wait_until(lambda: same_mix(ds), 20)
        assert ds[0].mix() == ds[1].mix() == ds[2].mix()
        assert ds[0].mixer.get("ch/2/name") == "Bass DI"
        # what came from the link is marked so, and went back out no more
        from_link = [c for c in ds[0].daemon.changelog.entries() if c.source.startswith("link:")]
        assert from_link and {c.source for c in from_link} <= {"link:b", "link:c"}
        for d in ds:
            assert d.link.stats.bad_messages == 0


def test_a_daemon_restarted_catches_up_from_the_retained_mix(broker: Broker) -> None:
    with daemons((broker.url, "a"), (broker.url, "b")) as (a, b):
        a.mixer.set("ch/1/fader", -7.5, "surface:a")
        assert wait_until(lambda: b.mixer.get("ch/1/fader") == -7.5)
        b.stop()
        a.mixer.apply({"ch/1/fader": -3.0, "ch/2/mute": 1.0, "ch/1/name": "Vox"}, "surface:a")
        again = LinkedDaemon(link_config(broker.url, "b")).start()  # a fresh session
        try:
            wait_until(lambda: again.in_mix() and same_mix([a, again]))
            assert again.mix() == a.mix()
            assert again.mixer.get("ch/1/name") == "Vox"
        finally:
            again.stop()


def test_a_partition_heals_to_one_mix_and_names_the_overwritten_change(
        broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cable = Cable(broker.port)
    try:
        with daemons((cable.url, "a"), (broker.url, "b"), (broker.url, "c")) as (a, b, c):
            a.mixer.set("ch/1/fader", -10.0, "surface:a")
            assert wait_until(lambda: same_mix([a, b, c]))
            cable.cut()
            assert wait_until(lambda: not a.link.connected and "a" not in b.link.state.online)
            # both sides keep working, and both touch ch/1/fader
            a.mixer.set("ch/1/fader", -3.0, "surface:a")
            a.mixer.set("ch/2/pan", 0.5, "surface:a")
            b.mixer.set("ch/1/fader", -20.0, "surface:b")
            b.mixer.set("ch/1/pan", -0.5, "surface:b")
            assert wait_until(lambda: c.mixer.get("ch/1/pan") == -0.5)
            assert a.mixer.get("ch/1/fader") == -3.0 and c.mixer.get("ch/1/fader") == -20.0
            cable.restore()
            wait_until(lambda: a.in_mix() and same_mix([a, b, c]), 30)
            assert a.mix() == b.mix() == c.mix()
            assert a.mixer.get("ch/2/pan") == 0.5 and a.mixer.get("ch/1/pan") == -0.5
            final = a.mixer.get("ch/1/fader")
            assert final in (-3.0, -20.0)
            loser = -20.0 if final == -3.0 else -3.0
            for d in (a, b, c):
                assert wait_until(lambda d=d: any(x.path == "ch/1/fader"  # type: ignore[misc]
                                                  for x in d.link.conflicts()))
                named = [x for x in d.link.conflicts() if x.path == "ch/1/fader"]
                assert [(x.lost.value, x.won.value) for x in named] == [(loser, final)]
            assert not any(x.path in ("ch/2/pan", "ch/1/pan") for x in a.link.conflicts())
            # the shell asks the running daemon
            cfg = tmp_path / "config.yaml"
            cfg.write_text(f"osc: [{{protocol: udp, port: {c.daemon.osc[0].address[1]}}}]\n")
            assert link_cli(["conflicts", "--config", str(cfg)]) == 0
            out = capsys.readouterr().out
            assert f"lost {loser:g} by" in out and "ch/1/fader" in out
    finally:
        cable.close()


class OscPeer:
    """A plain UDP OSC client of one daemon."""

    def __init__(self, d: LinkedDaemon) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = d.daemon.osc[0].address[1]
        self.got: list[Event] = []

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(encode_message(address, list(args)), ("127.0.0.1", self.port))

    def until(self, pred: object) -> bool:
        def check() -> bool:
            with contextlib.suppress(TimeoutError):
                self.got.extend(parse_packet(self.sock.recv(65536), source="test"))
            return bool(pred(self.got))  # type: ignore[operator]
        return wait_until(check, 10, 0)


def test_a_held_fader_refuses_other_daemons_moves_and_their_surface_is_told(
        broker: Broker) -> None:
    with daemons((broker.url, "a"), (broker.url, "b")) as (a, b):
        a.mixer.touch("ch/1/fader", "surface:mcu", True)  # a's engineer holds the fader
        a.mixer.set("ch/1/fader", -6.0, "surface:mcu")
        assert wait_until(lambda: b.link.state.owner("ch/1/fader") == ("a", "surface:mcu"))
        assert wait_until(lambda: b.mixer.get("ch/1/fader") == -6.0)
        tablet = OscPeer(b)
        tablet.send("/subscribe")
        tablet.send("/ch/1/fader", 0.0)  # b's tablet tries to take it
        assert tablet.until(lambda got: any(e.address == "/ch/1/fader" and e.args[0] == -6.0
                                            for e in got))
        assert wait_until(lambda: b.link.stats.refused_local >= 1)
        assert b.mixer.get("ch/1/fader") == -6.0 and a.mixer.get("ch/1/fader") == -6.0
        tablet.send("/link/status")
        assert tablet.until(lambda got: any(e.address == "/link/status" for e in got))
        status = next(e for e in tablet.got if e.address == "/link/status").args
        assert "ch/1/fader held by a (surface:mcu)" in status
        a.mixer.touch("ch/1/fader", "surface:mcu", False)  # let go: b may move it now
        assert wait_until(lambda: b.link.state.owner("ch/1/fader") is None)
        tablet.send("/ch/1/fader", -1.0)
        assert wait_until(lambda: a.mixer.get("ch/1/fader") == -1.0)


def test_a_broker_restarted_without_its_store_gets_the_mix_back(broker: Broker) -> None:
    with daemons((broker.url, "a"), (broker.url, "b")) as (a, b):
        a.mixer.set("ch/1/fader", -12.0, "surface:a")
        assert wait_until(lambda: b.mixer.get("ch/1/fader") == -12.0)
        broker.stop()
        (broker.folder / "mosquitto.db").unlink(missing_ok=True)  # every retained value gone
        assert wait_until(lambda: not a.link.connected and not b.link.connected)
        b.mixer.set("ch/2/name", "Keys", "surface:b")  # made while the broker is away
        broker.start()
        assert wait_until(lambda: a.in_mix() and b.in_mix() and same_mix([a, b]), 30)
        late = LinkedDaemon(link_config(broker.url, "late")).start()
        try:
            wait_until(lambda: late.in_mix() and same_mix([a, late]))
            assert late.mix() == a.mix()
            assert late.mixer.get("ch/1/fader") == -12.0 and late.mixer.get("ch/2/name") == "Keys"
        finally:
            late.stop()
