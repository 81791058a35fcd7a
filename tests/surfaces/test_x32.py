"""The X32 namespace on its own: a real mixer, a fake network and a fake clock."""

from __future__ import annotations

import math

import pytest

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces import x32
from surfaced.surfaces.x32 import LEASE_S, MAX_CLIENTS, X32Osc, address_of, route
from surfaced.transports.osc_codec import parse_packet

A = "osc:udp:127.0.0.1:5000"
B = "osc:udp:127.0.0.1:5001"


class Net:
    """Collects what the namespace sends, one packet at a time, per peer."""

    def __init__(self) -> None:
        self.now = 100.0
        self.packets: list[tuple[str, list[Event]]] = []

    def reply(self, peer: str, packet: bytes) -> bool:
        self.packets.append((peer, parse_packet(packet)))
        return True

    def got(self, peer: str) -> list[tuple[str, tuple[object, ...]]]:
        return [(e.address, e.args) for p, events in self.packets if p == peer for e in events]


def osc(address: str, *args: object, source: str = A) -> Event:
    return Event("osc", source=source, address=address, args=tuple(args))  # type: ignore[arg-type]


@pytest.fixture
def rig() -> tuple[Mixer, Net, X32Osc]:
    mixer = Mixer(Engine(8, 2))
    net = Net()
    return mixer, net, X32Osc(mixer, net.reply, name="test-desk", clock=lambda: net.now)


def test_sets_land_on_the_mixer_through_the_x32_laws(rig: tuple[Mixer, Net, X32Osc]) -> None:
    mixer, _net, ns = rig
    ns.handle(osc("/ch/01/mix/fader", 0.5))
    ns.handle(osc("/ch/02/mix/on", 0))
    ns.handle(osc("/ch/03/mix/pan", 0.25))
    ns.handle(osc("/ch/04/mix/02/level", 0.75))
    ns.handle(osc("/ch/05/config/name", "Kick"))
    ns.handle(osc("/bus/02/mix/fader", 0.25))
    ns.handle(osc("/bus/01/mix/on", 0))
    ns.handle(osc("/main/st/mix/fader", 0.0625))
    ns.handle(osc("/main/st/mix/on", 1))  # accepted: the master is always on here
    assert mixer.get("ch/1/fader") == pytest.approx(-10.0)
    assert mixer.get("ch/2/mute") == 1.0
    assert mixer.get("ch/3/pan") == pytest.approx(-0.5)
    assert mixer.get("ch/4/send/2") == pytest.approx(0.0)
    assert mixer.get("ch/5/name") == "Kick"
    assert mixer.get("bus/2/fader") == pytest.approx(-30.0)
    assert mixer.get("bus/1/mute") == 1.0
    assert mixer.get("master/fader") == pytest.approx(-60.0)
    assert ns.stats.applied == 9 and ns.stats.errors == 0 and ns.stats.unknown == 0
    ns.handle(osc("/ch/01/mix/fader", 0.0))
    assert mixer.get("ch/1/fader") == -math.inf
    ns.handle(osc("/ch/02/mix/on", 1))
    assert mixer.get("ch/2/mute") == 0.0


def test_a_query_is_answered_to_the_sender_with_the_current_value(
        rig: tuple[Mixer, Net, X32Osc]) -> None:
    mixer, net, ns = rig
    mixer.set("ch/1/fader", 0.0, "cli")
    mixer.set("ch/2/mute", 1.0, "cli")
    mixer.set("ch/3/name", "Vox", "cli")
    for address in ("/ch/01/mix/fader", "/ch/02/mix/on", "/ch/01/mix/on", "/ch/03/config/name",
                    "/ch/01/mix/pan", "/ch/01/mix/01/level", "/main/st/mix/fader",
                    "/main/st/mix/on", "/bus/01/mix/on"):
        ns.handle(osc(address, source=B))
    assert net.got(B) == [
        ("/ch/01/mix/fader", (0.75,)), ("/ch/02/mix/on", (0,)), ("/ch/01/mix/on", (1,)),
        ("/ch/03/config/name", ("Vox",)), ("/ch/01/mix/pan", (0.5,)),
        ("/ch/01/mix/01/level", (0.0,)),  # a send starts at -inf
        ("/main/st/mix/fader", (0.75,)), ("/main/st/mix/on", (1,)), ("/bus/01/mix/on", (1,)),
    ]
    assert net.got(A) == [] and ns.stats.queries == 9


def test_a_fader_round_trips_through_the_mixer(rig: tuple[Mixer, Net, X32Osc]) -> None:
    _mixer, net, ns = rig
    for level in (1.0, 0.9, 0.75, 0.6, 0.5, 0.3, 0.25, 0.1, 0.0625, 0.01, 0.0):
        ns.handle(osc("/ch/06/mix/fader", level))
        ns.handle(osc("/ch/06/mix/fader"))
        assert net.got(A)[-1][1][0] == pytest.approx(level, abs=1e-6)  # OSC floats are 32-bit


def test_xremote_is_a_lease_that_lapses_after_10_s_unless_renewed(
        rig: tuple[Mixer, Net, X32Osc]) -> None:
    mixer, net, ns = rig
    ns.handle(osc("/xremote"))
    mixer.set("ch/1/fader", -5.0, "cli")
    ns.tick(net.now)
    assert net.got(A) == [("/ch/01/mix/fader", (0.625,))]
    net.now += LEASE_S - 1
    ns.handle(osc("/xremote"))  # renewed in time, as the apps do every few seconds
    net.now += LEASE_S - 1
    mixer.set("ch/1/fader", -10.0, "cli")
    ns.tick(net.now)
    assert len(net.got(A)) == 2
    net.now += 1.5  # 10 s since the last /xremote: the lease is gone
    mixer.set("ch/1/fader", -30.0, "cli")
    ns.tick(net.now)
    assert len(net.got(A)) == 2 and ns.subscribers() == []
    ns.handle(osc("/xremote"))
    ns.handle(osc("/unsubscribe"))  # the console's way to end it early
    mixer.set("ch/1/fader", -20.0, "cli")
    ns.tick(net.now + 1)
    assert len(net.got(A)) == 2


def test_changes_go_to_the_other_subscribers_never_back_to_their_maker(
        rig: tuple[Mixer, Net, X32Osc]) -> None:
    _mixer, net, ns = rig
    ns.handle(osc("/xremote", source=A))
    ns.handle(osc("/xremote", source=B))
    ns.handle(osc("/ch/02/mix/fader", 0.5, source=A))
    ns.handle(osc("/ch/02/mix/on", 0, source=B))
    ns.tick(net.now)
    assert net.got(A) == [("/ch/02/mix/on", (0,))]
    assert net.got(B) == [("/ch/02/mix/fader", (0.5,))]


def test_feedback_is_coalesced_one_message_per_datagram_in_x32_addresses(
        rig: tuple[Mixer, Net, X32Osc]) -> None:
    mixer, net, ns = rig
    ns.handle(osc("/xremote"))
    for i in range(100):
        mixer.set("ch/3/pan", -1.0 + i / 50, "midi")
    mixer.set("ch/3/send/1", 10.0, "midi")
    mixer.set("ch/3/name", "Bass", "midi")
    mixer.set("bus/2/mute", 1.0, "midi")
    mixer.set("ch/3/eq/1/gain", 3.0, "midi")  # nothing on the console shows it
    ns.tick(net.now)
    assert all(len(events) == 1 for _peer, events in net.packets)
    assert net.got(A) == [("/ch/03/mix/pan", (pytest.approx(0.99),)),
                          ("/ch/03/mix/01/level", (1.0,)),
                          ("/ch/03/config/name", ("Bass",)), ("/bus/02/mix/on", (0,))]


def test_info_xinfo_and_status_answer_like_the_console(rig: tuple[Mixer, Net, X32Osc]) -> None:
    _mixer, net, ns = rig
    for address in ("/info", "/xinfo", "/status"):
        ns.handle(osc(address))
    assert net.got(A) == [("/info", ("V2.05", "osc-server", "X32", "4.06")),
                          ("/xinfo", ("127.0.0.1", "test-desk", "X32", "4.06")),
                          ("/status", ("active", "127.0.0.1", "test-desk"))]


@pytest.mark.parametrize(
    ("address", "args"),
    [
        ("/ch/01/mix/fader", ("loud",)),  # wrong type
        ("/ch/01/mix/fader", (math.nan,)),
        ("/ch/01/mix/fader", (math.inf,)),
        ("/ch/01/mix/fader", (1.5,)),  # out of range
        ("/ch/01/mix/fader", (-0.1,)),
        ("/ch/01/mix/fader", (0.5, 0.5)),  # too many
        ("/ch/01/mix/fader", (b"\x00",)),
        ("/ch/01/mix/on", (2,)),
        ("/ch/01/mix/on", (0.5,)),
        ("/ch/01/mix/pan", (None,)),
        ("/ch/01/config/name", (3,)),
        ("/ch/09/mix/fader", (0.5,)),  # the console has it, this 8-channel mix does not
        ("/ch/01/mix/03/level", (0.5,)),  # 2 buses here
        ("/bus/05/mix/fader", (0.5,)),
        ("/main/st/mix/on", (0,)),  # no master mute to turn on
    ],
)
def test_bad_values_are_counted_ignored_and_not_answered(
        rig: tuple[Mixer, Net, X32Osc], address: str, args: tuple[object, ...]) -> None:
    mixer, net, ns = rig
    before = mixer.snapshot()
    ns.handle(osc(address, *args))
    assert ns.stats.errors == 1 and ns.stats.applied == 0
    assert address in ns.stats.last_error
    assert mixer.snapshot() == before and net.packets == []


@pytest.mark.parametrize("address", ["/ch/1/mix/fader", "/ch/33/mix/fader", "/ch/01/mix/17/level",
                                     "/ch/01/eq/1/g", "/nonsense", "/bus/17/mix/on",
                                     "/main/m/mix/fader", "/ch/01/mix/fader/"])
def test_unknown_addresses_are_ignored_like_the_console_does(
        rig: tuple[Mixer, Net, X32Osc], address: str) -> None:
    _mixer, net, ns = rig
    ns.handle(osc(address, 0.5))
    ns.handle(osc(address))
    assert ns.stats.unknown == 2 and ns.stats.errors == 0 and net.packets == []


def test_out_of_range_queries_are_counted_not_answered(rig: tuple[Mixer, Net, X32Osc]) -> None:
    _mixer, net, ns = rig
    ns.handle(osc("/ch/32/mix/fader"))
    assert ns.stats.errors == 1 and net.packets == []


def test_leases_are_bounded(rig: tuple[Mixer, Net, X32Osc]) -> None:
    _mixer, _net, ns = rig
    for port in range(MAX_CLIENTS + 3):
        ns.handle(osc("/xremote", source=f"osc:udp:127.0.0.1:{6000 + port}"))
    assert len(ns.subscribers()) == MAX_CLIENTS and ns.stats.refused_leases == 3


def test_routes_and_addresses_are_inverse() -> None:
    for path in ("ch/1/fader", "ch/32/mute", "ch/7/pan", "ch/2/send/16", "ch/9/name",
                 "bus/16/fader", "bus/3/mute", "master/fader"):
        r = address_of(path)
        assert r is not None
        back = route(r.address, 32, 16)
        assert back is not None and back.path == path and back.kind == r.kind
    assert address_of("ch/33/fader") is None and address_of("ch/1/send/17") is None
    assert address_of("ch/1/solo") is None
    assert x32.to_wire(x32.ON, 1.0) == 0 and x32.to_wire(x32.ON, 0.0) == 1
