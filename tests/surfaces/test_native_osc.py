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


def test_every_master_reading_is_readable_over_osc() -> None:
    """M, S, I, LRA, sample peaks, true-peak maximum and the overs: /get and the meters bundle."""
    import numpy as np

    net = Peer()
    engine = Engine(1, 0)
    t = np.arange(engine.rate * 4) / engine.rate
    tone = 0.5 * np.sin(2 * np.pi * 997 * t)
    tone[int(engine.rate * 3):] *= 2.4  # the last second is loud: over 0 dBFS
    engine.set_source_buffer(1, np.stack([tone, tone], axis=1).astype(np.float32))
    mixer = Mixer(engine)
    native = NativeOsc(mixer, net.reply, clock=lambda: net.now)
    engine.process(int(engine.rate * 4))
    m = engine.meters().master
    assert m.clip_count > 0 and m.tp_over_steps > 0 and m.loudness_range_lu > 0.0

    for address in ("/meters/master", "/meters/loudness", "/meters/overs"):
        native.handle(osc("/get", address))
    got = {e.address: e.args for _, e in net.sent}
    lufs = got["/meters/loudness"]
    assert lufs[0] == np.float32(m.momentary_lufs) and lufs[1] == np.float32(m.short_term_lufs)
    assert lufs[2] == np.float32(m.integrated_lufs)
    assert lufs[3] == np.float32(m.loudness_range_lu)
    overs = got["/meters/overs"]
    assert overs[0] == np.float32(20 * np.log10(max(m.true_peak_max)))
    assert overs[1:3] == (m.clip_count, m.tp_over_steps)
    assert 3.0 <= overs[3] < 3.001  # the first clipped sample, in seconds
    assert overs[4] == np.float32(m.last_clip_frame / engine.rate)
    assert got["/meters/master"][2] == np.float32(m.momentary_lufs)
    assert native.stats.replies == 3

    net.sent.clear()
    native.handle(osc("/subscribe/meters", 10))
    native.tick(net.now)
    assert net.addresses("osc:udp:127.0.0.1:5000") == [
        "/meters/ch", "/meters/master", "/meters/loudness", "/meters/overs"]
