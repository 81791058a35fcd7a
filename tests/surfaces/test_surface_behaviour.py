"""Surface behaviours beyond one device: buttons, fake touch, rates, keep-alives, replies, links."""

from __future__ import annotations

from pathlib import Path

import pytest

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.navigation import LinkRegistry
from surfaced.surfaces.surface import load_mapping
from surfaces.helpers import MAPPINGS, Rig, cc, hexes, note

BOX = """
    name: box
    transport: midi
    match: {port: box}
    strips: 2
    modifiers: [shift]
    output: {rate: 100}
    handshake:
      - sysex: F0 7E 7F 06 01 F7
    keepalive:
      - every: 1.0
        send: [{note: 0x7F, value: 0}]
    controls:
      talk:
        note: 1
        param: ch/1/mute
        button: hold
        hold_time: 0.5
      flash:
        note: 2
        param: ch/2/mute
        button: momentary
      unity:
        note: 3
        param: ch/1/fader
        button: set
        values: [-inf, 0]
      motor:
        each: {strip: 0..1}
        cc: ${10 + strip}
        param: ch/${ch}/fader
        fake_touch: 0.3
        echo: true
      shifted:
        when: {shift: true}
        cc: 10
        param: ch/1/trim
        feedback: false
      shift:
        note: 0x46
        action: {modifier: shift}
      inquiry:
        sysex: F0 7E {id} 06 01 F7
        action:
          send:
            - sysex: F0 7E {id} 06 02 00 20 29 F7
      lcd:
        each: {strip: 0..1}
        param: ch/${ch}/fader
        rate: 5
        feedback: {sysex: "F0 00 ${strip} {text:6} F7", text: "{number}"}
"""


@pytest.fixture
def box(rig, tmp_path: Path) -> Rig:  # type: ignore[no-untyped-def]
    r = rig(BOX, tmp_path)
    sent = hexes(r.connect())
    assert sent[0] == "f0 7e 7f 06 01 f7"  # handshake first
    return r  # type: ignore[no-any-return]


def test_hold_button_taps_latch_and_holds_return(box: Rig) -> None:
    box.feed(note(1, 127))
    box.clock[0] += 0.1
    box.feed(note(1, 0))
    assert box.mixer.get("ch/1/mute") == 1.0  # a tap latches
    box.feed(note(1, 127))
    box.clock[0] += 0.1
    box.feed(note(1, 0))
    assert box.mixer.get("ch/1/mute") == 0.0  # and a tap unlatches
    box.feed(note(1, 127))
    box.clock[0] += 1.0
    assert box.mixer.get("ch/1/mute") == 1.0
    box.feed(note(1, 0))
    assert box.mixer.get("ch/1/mute") == 0.0  # held long: back on release


def test_momentary_and_set_buttons(box: Rig) -> None:
    box.feed(note(2, 127))
    assert box.mixer.get("ch/2/mute") == 1.0
    box.feed(Event("note_off", channel=0, number=2, value=64))
    assert box.mixer.get("ch/2/mute") == 0.0
    box.mixer.set("ch/1/fader", -20.0, "cli")
    assert "90 03 00" in hexes(box.tick())  # its LED: lit only at the "on" value
    box.feed(note(3, 127), note(3, 0))
    assert box.mixer.get("ch/1/fader") == 0.0
    assert "90 03 7f" in hexes(box.tick())


def test_fake_touch_holds_a_motor_fader_while_moving(box: Rig) -> None:
    box.feed(cc(10, 100))
    assert box.mixer.touched_by("ch/1/fader") == {"s1"}
    box.mixer.set("ch/1/fader", -30.0, "cli")
    assert not [e for e in box.tick(0.1) if e.kind == "cc"]  # held: not driven
    sent = hexes(box.tick(0.3))  # 0.4 s after the last move: let go
    assert box.mixer.touched_by("ch/1/fader") == frozenset()
    assert "b0 0a 20" in sent  # the latest value, -30 dB = 25 % travel


def test_modifier_changes_what_a_control_does(box: Rig) -> None:
    box.feed(note(0x46, 127), cc(10, 127))
    assert box.mixer.get("ch/1/trim") == 20.0 and box.mixer.get("ch/1/fader") == 0.0
    box.feed(note(0x46, 0), cc(10, 127))
    assert box.mixer.get("ch/1/fader") == 10.0


def test_sysex_reply_uses_captured_bytes(box: Rig) -> None:
    box.feed(Event("sysex", data=bytes.fromhex("f07e0506 01f7".replace(" ", ""))))
    assert "f0 7e 05 06 02 00 20 29 f7" in hexes(box.tick())


def test_keepalive_every_second(box: Rig) -> None:
    count = 0
    for _ in range(30):
        count += hexes(box.tick(0.1)).count("90 7f 00")
    assert count == 3


def test_per_control_rate_limits_text(box: Rig) -> None:
    lcd = []
    for n in range(100):  # a second of fader moves from elsewhere
        box.mixer.set("ch/2/fader", -40.0 + n * 0.3, "cli")
        lcd += [e for e in box.tick(0.01) if e.kind == "sysex"]
    assert 4 <= len(lcd) <= 6  # rate: 5 per second
    assert hexes(box.tick(0.5), ("sysex",))[-1] == "f0 00 01 " + " ".join(  # the last value
        f"{b:02x}" for b in f"{-40.0 + 99 * 0.3:.1f}".ljust(6).encode()) + " f7"


def test_surface_rate_limit_spreads_a_full_resend(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = rig(BOX.replace("rate: 100}", "rate: 20}"), tmp_path)
    r.connect()
    r.tick(1.0)
    r.surface.resend()
    first = r.tick(0.1)
    assert 1 <= len(first) <= 2  # a burst of at most rate/10 messages
    later = sum(len(r.tick(0.05)) for _ in range(40))
    assert later >= 6  # the rest follows over the next ticks


def test_reload_keeps_the_bank(mixer: Mixer) -> None:
    reg = LinkRegistry()
    mapping = load_mapping(MAPPINGS / "mackie-control.yaml")
    old = Rig(mixer, mapping, "mcu", reg)
    old.feed(note(0x2F, 127))
    assert old.surface.bank == 8
    new = Rig(mixer, mapping, "mcu", reg)  # the daemon's reload: new before old closes
    old.surface.close()
    assert new.surface.bank == 8
    new.feed(Event("pitchbend", channel=0, value=0))
    assert mixer.get("ch/9/fader") == float("-inf")
    new.surface.close()


def test_two_unlinked_surfaces_bank_independently() -> None:
    mixer = Mixer(Engine(32, 4))
    reg = LinkRegistry()
    a = Rig(mixer, MAPPINGS / "mackie-control.yaml", "a", reg)
    b = Rig(mixer, MAPPINGS / "mackie-control.yaml", "b", reg)
    a.feed(note(0x2F, 127))
    assert (a.surface.bank, b.surface.bank) == (8, 0)
    b.feed(Event("pitchbend", channel=0, value=0))
    assert mixer.get("ch/1/fader") == float("-inf")
    a.mixer.set("ch/9/fader", -10.0, "b")
    assert "e0 00 40" in hexes(a.connect())  # a shows ch 9 on strip 1
    a.surface.close()
    b.surface.close()


def test_extender_alone_then_joined_by_its_main_unit() -> None:
    mixer = Mixer(Engine(32, 4))
    reg = LinkRegistry()
    xt = Rig(mixer, MAPPINGS / "mackie-control-xt.yaml", "xt", reg)
    xt.feed(Event("pitchbend", channel=0, value=0))
    assert mixer.get("ch/9/fader") == float("-inf")  # offset 8 even alone
    main = Rig(mixer, MAPPINGS / "mackie-control.yaml", "mcu", reg)
    main.feed(note(0x2F, 127))
    xt.feed(Event("pitchbend", channel=1, value=0))
    assert mixer.get("ch/26/fader") == float("-inf")
    main.surface.close()  # the main unit goes: the XT stays where it was
    xt.feed(Event("pitchbend", channel=2, value=0))
    assert mixer.get("ch/27/fader") == float("-inf")
    xt.surface.close()


# A mute button lighting two LEDs: each feedback costs 2 messages, more than the
# burst of `output: {rate: 5}` (max(1, 5 * 0.1) = 1 message).
TWO_LEDS = """
    name: leds
    transport: midi
    match: {port: leds}
    strips: 8
    output: {rate: 5}
    controls:
      mute:
        each: {strip: 0..7}
        note: ${16 + strip}
        param: ch/${ch}/mute
        button: toggle
        feedback:
          - {note: "${16 + strip}"}
          - {cc: "${32 + strip}"}
      fader:
        each: {strip: 0..7}
        cc: ${strip}
        param: ch/${ch}/fader
"""


def test_surface_rate_limit_never_starves_a_control_costlier_than_the_burst(  # type: ignore[no-untyped-def]
        rig, tmp_path: Path) -> None:
    r = rig(TWO_LEDS, tmp_path)
    sent = r.connect()
    assert len(sent) == 2  # the bucket is full: the first mute goes although it costs 2
    ticks = 0
    while len(sent) < 24 and ticks < 100:
        sent += r.tick(0.1)
        ticks += 1
    # 8 mutes x 2 + 8 faders = 24 messages at 5 a second: about 5 s of ticks.
    assert len(sent) == 24 and ticks <= 60, (len(sent), ticks)
    assert sorted(hexes(sent, ("note_on",))) == [f"90 {16 + i:02x} 00" for i in range(8)]
    assert len(hexes(sent, ("cc",))) == 16
    assert r.tick(1.0) == []
    # Within the rate: never more than the burst plus one control ahead of 5 a second.
    r.surface.resend()
    times: list[float] = []
    for _ in range(80):
        times += [r.clock[0]] * len(r.tick(0.1))
    assert len(times) == 24
    for n, t in enumerate(times):
        assert n + 1 <= 2 + 5 * (t - times[0]) + 1e-9, (n, t - times[0])


def test_rate_limited_mute_follows_changes_and_a_burst_still_coalesces(  # type: ignore[no-untyped-def]
        rig, tmp_path: Path) -> None:
    r = rig(TWO_LEDS, tmp_path)
    r.connect()
    for _ in range(80):
        r.tick(0.1)
    r.tick(1.0)  # the bucket is full again
    for n in range(1000):  # a burst of changes between two ticks
        r.mixer.set("ch/3/mute", float(n % 2 == 0), "osc")
    assert r.mixer.get("ch/3/mute") == 0.0
    assert r.tick(0.1) == []  # the latest value equals what the LEDs show: nothing to send
    r.mixer.set("ch/3/mute", 1.0, "osc")
    r.mixer.set("ch/1/fader", -10.0, "osc")  # dirty after the mute: waits for the refill
    assert hexes(r.tick(0.1)) == ["90 12 7f", "b0 22 7f"]  # once, both LEDs
    later = [e for _ in range(10) for e in r.tick(0.1)]
    assert hexes(later) == ["b0 00 40"]  # then the fader, not starved
    for n in range(1000):  # 1000 fader moves between two ticks: the latest value once
        r.mixer.set("ch/2/fader", -60.0 + n * 0.05, "osc")
    last = round(r.mixer.position("ch/2/fader") * 127)
    later = [e for _ in range(10) for e in r.tick(0.1)]
    assert hexes(later) == [f"b0 01 {last:02x}"]
