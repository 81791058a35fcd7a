"""Plain CC controllers, encoders, 14-bit and NRPN inputs, OSC surfaces, coalescing, robustness."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.params import spec_for
from surfaced.surfaces.surface import load_mapping
from surfaces.helpers import MAPPINGS, Rig, cc, hexes, note

FADER = spec_for("ch/1/fader", 16, 4)


# ------------------------------------------------------------ nanoKONTROL2
def test_nanokontrol2_soft_takeover_ignores_a_far_fader_until_picked_up(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("korg-nanokontrol2")
    r.connect()
    # the mix is at 0 dB (75 % travel = CC 95); the slider sits at the bottom
    r.feed(cc(0, 10))
    assert r.mixer.get("ch/1/fader") == 0.0
    assert r.surface.stats.ignored == 1
    r.feed(cc(0, 60), cc(0, 93))  # crosses nothing yet / gets within 4 % of 95
    assert r.mixer.get("ch/1/fader") == pytest.approx(FADER.from_position(93 / 127))
    r.feed(cc(0, 40))  # picked up: follows from here on
    assert r.mixer.get("ch/1/fader") == pytest.approx(FADER.from_position(40 / 127))
    r.mixer.set("ch/1/fader", 0.0, "scene")  # the mix moves away again
    r.feed(cc(0, 41))
    assert r.mixer.get("ch/1/fader") == 0.0  # ignored until it comes back
    r.feed(cc(0, 100))  # swept across 95: picked up
    assert r.mixer.get("ch/1/fader") == pytest.approx(FADER.from_position(100 / 127))
    assert r.tick() == []  # no motor, no LEDs on faders: nothing is sent


def test_nanokontrol2_buttons_light_their_leds_and_knobs_page(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("korg-nanokontrol2")
    r.connect()
    r.feed(cc(48, 127), cc(48, 0))  # M1
    assert r.mixer.get("ch/1/mute") == 1.0
    assert hexes(r.tick()) == ["b0 30 7f"]
    r.feed(cc(46, 127), cc(46, 0))  # CYCLE: knobs move to send 1
    r.feed(cc(16, 0))  # at the bottom = the send's -inf: picked up at once
    r.feed(cc(16, 127))
    assert r.mixer.get("ch/1/send/1") == 10.0
    assert r.mixer.get("ch/1/pan") == 0.0
    r.feed(cc(48, 127), cc(48, 0))  # M1 again: unmuted
    r.feed(cc(60, 127), cc(64, 127))  # SET held + R1: mute while held
    assert r.mixer.get("ch/1/phase") == 0.0 and r.mixer.get("ch/1/mute") == 1.0
    r.feed(cc(64, 0))
    assert r.mixer.get("ch/1/mute") == 0.0
    r.feed(cc(60, 0), cc(64, 127), cc(64, 0))  # SET let go: R1 is polarity again
    assert r.mixer.get("ch/1/phase") == 1.0


# ------------------------------------------------------------- generic CC
def test_generic_cc_controller_has_no_echo_but_shows_other_changes(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("generic-cc8")
    r.connect()
    r.feed(cc(20, 95))  # near 0 dB: picked up
    assert r.mixer.get("ch/1/fader") == pytest.approx(FADER.from_position(95 / 127))
    assert r.tick() == []  # the fader already shows it: no echo
    r.mixer.set("ch/1/fader", -10.0, "osc")
    assert hexes(r.tick()) == ["b0 14 40"]  # -10 dB = 50 % = 64
    r.mixer.set("ch/1/fader", FADER.from_position(95 / 127), "osc")  # back where the hand is
    assert hexes(r.tick()) == ["b0 14 5f"]  # not skipped as a duplicate


def test_a_burst_of_1000_changes_sends_the_latest_value_once(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("generic-cc8")
    r.connect()
    for n in range(1000):
        r.mixer.set("ch/1/fader", -60.0 + n * 0.05, "osc")
    last = r.mixer.position("ch/1/fader")
    assert hexes(r.tick()) == [f"b0 14 {round(last * 127):02x}"]
    assert r.tick() == []


# ------------------------------------------------------- relative encoders
ENCODERS = """
    name: encoders
    transport: midi
    match: {port: enc}
    controls:
      twos:   {cc: 1, param: ch/1/pan, encoder: {encoding: twos-complement, step: 0.05}}
      signmag: {cc: 2, param: ch/2/pan, encoder: {encoding: sign-magnitude, step: 0.05}}
      offset: {cc: 3, param: ch/3/pan, encoder: {encoding: offset-64, step: 0.05}}
      incdec:
        inc: {cc: 4}
        dec: {cc: 5}
        param: ch/4/pan
        encoder: {step: 0.05}
"""


@pytest.mark.parametrize(("ch", "up", "down"), [
    (1, cc(1, 0x01), cc(1, 0x7F)),  # two's complement: 1 = +1, 127 = -1
    (2, cc(2, 0x01), cc(2, 0x41)),  # sign-magnitude: bit 6 = down
    (3, cc(3, 0x41), cc(3, 0x3F)),  # binary offset 64
    (4, cc(4, 0x7F), cc(5, 0x7F)),  # separate inc and dec messages
])
def test_all_four_relative_encodings(rig, tmp_path: Path, ch: int, up: Event,  # type: ignore[no-untyped-def]
                                     down: Event) -> None:
    r = rig(ENCODERS, tmp_path)
    r.feed(up, up, up)
    assert r.mixer.get(f"ch/{ch}/pan") == pytest.approx(0.3)
    r.feed(down)
    assert r.mixer.get(f"ch/{ch}/pan") == pytest.approx(0.2)
    for _ in range(40):
        r.feed(up)
    assert r.mixer.get(f"ch/{ch}/pan") == 1.0  # clamped at the end of travel


def test_inc_dec_buttons_step_on_press_only(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(ENCODERS.replace("inc: {cc: 4}\n        dec: {cc: 5}",
                             "inc: {note: 4}\n        dec: {note: 5}"), tmp_path)
    r.feed(note(4, 127), note(4, 0), note(4, 100), Event("note_off", channel=0, number=4,
                                                         value=0))
    assert r.mixer.get("ch/4/pan") == pytest.approx(0.2)
    r.feed(note(5, 127), note(5, 0))
    assert r.mixer.get("ch/4/pan") == pytest.approx(0.1)


def test_encoder_acceleration_from_timing(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(ENCODERS.replace("step: 0.05}}\n      signmag", "step: 0.01, acceleration: 2}}\n"
                             "      signmag"), tmp_path)
    r.feed(cc(1, 1))
    slow = r.mixer.get("ch/1/pan")
    r.clock[0] += 0.005  # the next tick 5 ms later: a fast turn
    r.feed(cc(1, 1))
    assert float(r.mixer.get("ch/1/pan")) - float(slow) > 2 * float(slow)


# ------------------------------------------------------------ 14-bit, NRPN
WIDE = """
    name: wide
    transport: midi
    match: {port: wide}
    controls:
      hi_res: {cc14: 7, param: ch/1/pan}
      nrpn:   {nrpn: 1234, channel: 2, param: ch/2/trim}
      nrpn_encoder:
        nrpn: 77
        channel: 2
        param: ch/3/pan
        encoder: {encoding: delta, step: 0.1}
"""


def test_14bit_cc_uses_msb_and_lsb(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(WIDE, tmp_path)
    r.connect()
    r.feed(cc(7, 64))
    assert r.mixer.get("ch/1/pan") == 0.0  # the MSB waits for its LSB
    r.feed(cc(39, 64))
    assert r.mixer.get("ch/1/pan") == pytest.approx((64 << 7 | 64) / 16383 * 2 - 1)
    r.feed(cc(7, 127))
    r.tick(0.05)  # no LSB came: the MSB alone counts
    assert r.mixer.get("ch/1/pan") == pytest.approx((127 << 7) / 16383 * 2 - 1)
    r.mixer.set("ch/1/pan", 1.0, "osc")
    assert hexes(r.tick()) == ["b0 07 7f", "b0 27 7f"]  # feedback in 14 bits too


def test_nrpn_value_and_increment(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(WIDE, tmp_path)
    r.feed(cc(99, 1234 >> 7, 2), cc(98, 1234 & 0x7F, 2), cc(6, 100, 2), cc(38, 0, 2))
    assert r.mixer.get("ch/2/trim") == pytest.approx(-20 + 40 * (100 << 7) / 16383)
    r.feed(cc(99, 0, 2), cc(98, 77, 2), cc(96, 0, 2), cc(96, 0, 2))  # data increment x2
    assert r.mixer.get("ch/3/pan") == pytest.approx(0.4)
    r.feed(cc(97, 0, 2))
    assert r.mixer.get("ch/3/pan") == pytest.approx(0.2)
    r.feed(cc(99, 5, 2), cc(98, 5, 2), cc(6, 1, 2), cc(38, 1, 2))  # an NRPN nobody maps
    assert r.surface.stats.unmapped >= 1 and r.surface.stats.errors == 0


# ------------------------------------------------------------------- OSC
TOUCHOSC = """
    name: tablet
    transport: osc
    match: {host: 127.0.0.1, prefix: /mix/}
    strips: 2
    controls:
      fader:
        each: {strip: 0..1}
        osc: /mix/fader${strip + 1}
        args: [f]
        param: ch/${ch}/fader
      mute:
        each: {strip: 0..1}
        osc: /mix/mute${strip + 1}
        param: ch/${ch}/mute
        button: toggle
        feedback: {osc: "/mix/mute${strip + 1}", args: [raw]}
      name:
        each: {strip: 0..1}
        osc: /mix/name${strip + 1}
        param: ch/${ch}/name
        feedback: {osc: "/mix/label${strip + 1}", args: [text], empty: "Ch {ch}"}
"""


def test_osc_surface(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(TOUCHOSC, tmp_path)
    assert r.mapping.match.accepts("127.0.0.1", 9000, "/mix/fader1")
    sent = r.connect()
    assert Event("osc", address="/mix/label2", args=("Ch 2",)) in sent
    r.feed(Event("osc", address="/mix/fader1", args=(0.5,)))
    assert r.mixer.get("ch/1/fader") == pytest.approx(-10.0)
    r.feed(Event("osc", address="/mix/fader1", args=("loud",)))  # wrong type: counted
    assert r.surface.stats.errors == 1 and r.mixer.get("ch/1/fader") == pytest.approx(-10.0)
    r.feed(Event("osc", address="/mix/mute2", args=(1.0,)))
    r.feed(Event("osc", address="/mix/name1", args=("Kick",)))
    assert r.mixer.get("ch/1/name") == "Kick"
    sent = r.tick()
    assert Event("osc", address="/mix/mute2", args=(127,)) in sent
    assert Event("osc", address="/mix/label1", args=("Kick",)) in sent
    assert not [e for e in sent if e.address == "/mix/fader1"]  # no echo
    r.mixer.set("ch/2/fader", -10.0, "midi")
    assert r.tick() == [Event("osc", address="/mix/fader2", args=(0.5,))]


# -------------------------------------------------------------- robustness
def _events() -> st.SearchStrategy[Event]:
    ch, num, v7 = st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)
    osc_args = st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-2**31, 2**31 - 1),
                                  st.text(max_size=8), st.booleans(), st.none()), max_size=3)
    return st.one_of(
        st.builds(lambda c, n, v: Event("note_on", channel=c, number=n, value=v), ch, num, v7),
        st.builds(lambda c, n, v: Event("note_off", channel=c, number=n, value=v), ch, num, v7),
        st.builds(lambda c, n, v: Event("cc", channel=c, number=n, value=v), ch, num, v7),
        st.builds(lambda c, v: Event("pitchbend", channel=c, value=v), ch, st.integers(0, 16383)),
        st.builds(lambda c, v: Event("channel_pressure", channel=c, value=v), ch, v7),
        st.builds(lambda c, v: Event("program", channel=c, value=v), ch, v7),
        st.builds(lambda d: Event("sysex", data=b"\xf0" + bytes(d) + b"\xf7"),
                  st.lists(st.integers(0, 127), max_size=20)),
        st.builds(lambda d: Event("sysex", data=b"\xf0\x00\x00\x66\x14\x01" + bytes(d) + b"\xf7"),
                  st.lists(st.integers(0, 127), max_size=12)),
        st.builds(lambda a, args: Event("osc", address=a, args=tuple(args)),
                  st.sampled_from(["/mix/fader1", "/mix/mute2", "/mix/name1", "/x"]), osc_args),
        st.just(Event("clock")),
    )


SHIPPED = {name: load_mapping(MAPPINGS / f"{name}.yaml")
           for name in ("mackie-control", "korg-nanokontrol2", "generic-cc8")}


@pytest.mark.parametrize("name", sorted(SHIPPED))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_events(), max_size=40))
def test_random_events_never_raise(name: str, events: list[Event]) -> None:
    mixer = Mixer(Engine(16, 4))
    r = Rig(mixer, SHIPPED[name])
    r.connect()
    for event in events:
        r.surface.handle(event)
        r.clock[0] += 0.003
    r.tick(0.05)
    stats = r.surface.stats
    assert stats.handled + stats.unmapped == len(events)
    assert stats.errors == 0  # nothing a device can send is a bug on our side
    r.surface.close()


@settings(max_examples=150, deadline=None)
@given(events=st.lists(_events(), max_size=40))
def test_random_events_into_an_osc_surface_never_raise(tmp_path_factory: pytest.TempPathFactory,
                                                       events: list[Event]) -> None:
    path = tmp_path_factory.mktemp("osc") / "m.yaml"
    path.write_text(textwrap.dedent(TOUCHOSC))
    r = Rig(Mixer(Engine(16, 4)), path)
    r.connect()
    for event in events:
        r.surface.handle(event)
    r.tick(0.05)
    r.surface.close()


def test_an_unmapped_event_is_counted(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("generic-cc8")
    r.feed(note(60), cc(100, 1), Event("clock"))
    assert r.surface.stats.unmapped == 3 and r.surface.stats.handled == 0


def test_strips_past_the_end_of_the_mix_are_blank_and_inert(tmp_path: Path) -> None:
    mixer = Mixer(Engine(4, 2))
    r = Rig(mixer, MAPPINGS / "mackie-control.yaml")
    sent = hexes(r.connect())
    assert "e4 00 00" in sent  # strip 5 has no channel: fader down
    assert "f0 00 00 66 14 12 1c 20 20 20 20 20 20 20 f7" in sent  # blank name
    r.feed(Event("pitchbend", channel=5, value=9000))
    assert r.surface.stats.unbound == 1 and r.surface.stats.errors == 0
    r.surface.close()


def test_disconnect_releases_touches_and_stops_sending(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("mackie-control")
    r.connect()
    r.feed(note(0x68, 127))
    r.surface.disconnected()
    assert r.mixer.touched_by("ch/1/fader") == frozenset()
    r.mixer.set("ch/1/fader", -5.0, "cli")
    assert r.tick() == []
    assert any(e.kind == "pitchbend" for e in r.connect())  # back: the full state again
