"""The native OSC namespace on its own: leases, meters, errors (a fake clock, real mixer)."""

from __future__ import annotations

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.native_osc import LEASE_S, NativeOsc
from surfaced.transports.osc_codec import parse_packet


class Peer:
    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[tuple[str, Event]] = []

    def reply(self, peer: str, packet: bytes) -> bool:
        self.sent.extend((peer, e) for e in parse_packet(packet))
        return True

    def addresses(self, peer: str) -> list[str]:
        return [e.address for p, e in self.sent if p == peer]


def osc(address: str, *args: object, source: str = "osc:udp:127.0.0.1:5000") -> Event:
    return Event("osc", source=source, address=address, args=tuple(args))  # type: ignore[arg-type]


def test_subscriptions_are_leases_that_lapse_unless_renewed() -> None:
    net = Peer()
    mixer = Mixer(Engine(2, 0))
    native = NativeOsc(mixer, net.reply, clock=lambda: net.now)
    native.handle(osc("/subscribe"))
    mixer.set("ch/1/fader", -3.0, "cli")
    native.tick(net.now)
    assert net.addresses("osc:udp:127.0.0.1:5000") == ["/ch/1/fader"]
    net.now += LEASE_S - 1
    native.handle(osc("/subscribe"))  # renewed in time
    net.now += LEASE_S - 1
    mixer.set("ch/1/fader", -4.0, "cli")
    native.tick(net.now)
    assert net.addresses("osc:udp:127.0.0.1:5000") == ["/ch/1/fader"] * 2
    net.now += 2  # the lease has run out: nothing more for this peer
    mixer.set("ch/1/fader", -5.0, "cli")
    native.tick(net.now)
    assert len(net.addresses("osc:udp:127.0.0.1:5000")) == 2


def test_meters_at_their_rate_and_errors_answered() -> None:
    net = Peer()
    engine = Engine(2, 0)
    native = NativeOsc(Mixer(engine), net.reply, clock=lambda: net.now)
    native.handle(osc("/subscribe/meters", 10))
    for _ in range(100):  # one second of ticks at 100 Hz
        native.tick(net.now)
        net.now += 0.01
    got = net.addresses("osc:udp:127.0.0.1:5000")
    assert 9 <= got.count("/meters/ch") <= 11
    assert got.count("/meters/ch") == got.count("/meters/master")
    native.handle(osc("/subscribe/meters", 1000))
    native.handle(osc("/ch/1/pan", "left"))
    errors = [e.args[0] for _, e in net.sent if e.address == "/error"]
    assert errors[0] == "/subscribe/meters: rate 1000.0 Hz out of range 0..100"
    assert "ch/1/pan: expected a number" in str(errors[1])
    assert native.stats.errors == 2
