"""A Mackie Control Universal on the shipped mapping: the bytes the unit receives."""

from __future__ import annotations

import numpy as np
import pytest

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.params import spec_for
from surfaced.surfaces.navigation import LinkRegistry
from surfaces.helpers import MAPPINGS, Rig, bend, cc, hexes, note

FADER = spec_for("ch/1/fader", 16, 4)


def pb(ch: int, v: int) -> str:
    return f"{0xE0 | ch:02x} {v & 0x7F:02x} {v >> 7:02x}"


def lcd(offset: int, text: str) -> str:
    body = " ".join(f"{b:02x}" for b in text.encode())
    return f"f0 00 00 66 14 12 {offset:02x} {body} f7"


@pytest.fixture
def mcu(rig):  # type: ignore[no-untyped-def]
    r = rig("mackie-control")
    r.connect()
    r.tick(0.1)
    r.take()
    return r


def test_connect_sends_handshake_then_the_whole_surface(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("mackie-control")
    r.mixer.set("ch/2/name", "Bass", "cli")
    r.mixer.set("ch/1/mute", 1, "cli")
    sent = hexes(r.connect())
    assert sent[0] == "f0 00 00 66 14 00 f7"  # device query first
    assert "f0 00 00 66 14 20 07 01 f7" in sent  # meter mode per strip
    # faders at 0 dB (75% travel), master too
    assert pb(0, round(0.75 * 16383)) in sent and pb(8, round(0.75 * 16383)) in sent
    assert "90 10 7f" in sent and "90 11 00" in sent  # mute LEDs
    assert "b0 30 06" in sent  # pan ring, dot mode, centre
    assert "f0 00 00 66 14 12 00 43 68 20 31 20 20 20 f7" in sent
    assert lcd(0x07, "Bass   ") in sent
    assert "90 2a 7f" in sent and "90 29 00" in sent  # assign PAN lit, SEND dark


def test_moving_a_fader_sets_the_fader_law_value_and_echoes_once(mcu: Rig) -> None:
    v = 12000
    mcu.feed(bend(0, v))
    assert mcu.mixer.get("ch/1/fader") == pytest.approx(FADER.from_position(v / 16383))
    assert hexes(mcu.tick(0.03), ("pitchbend",)) == [pb(0, v)]
    assert hexes(mcu.tick(0.03), ("pitchbend",)) == []  # once, not again


def test_master_fader(mcu: Rig) -> None:
    mcu.feed(bend(8, 0))
    assert mcu.mixer.get("master/fader") == float("-inf")


def test_touch_holds_feedback_until_release_then_sends_the_latest(mcu: Rig) -> None:
    mcu.feed(note(0x68, 127))
    assert mcu.mixer.touched_by("ch/1/fader") == {"s1"}
    mcu.mixer.set("ch/1/fader", -30.0, "cli")
    mcu.mixer.set("ch/1/fader", -20.0, "cli")
    assert not [e for e in mcu.tick(0.1) if e.kind == "pitchbend" and e.channel == 0]
    mcu.feed(note(0x68, 0))
    assert mcu.mixer.touched_by("ch/1/fader") == frozenset()
    assert pb(0, round(0.375 * 16383)) in hexes(mcu.tick(0.1))  # -20 dB = 37.5 % travel


def test_vpot_sign_magnitude_moves_pan_with_acceleration_and_ring_follows(mcu: Rig) -> None:
    mcu.feed(cc(0x10, 0x01))  # one tick clockwise
    one = float(mcu.mixer.get("ch/1/pan"))
    assert one == pytest.approx(0.02)  # 0.01 of travel = 0.02 of -1..+1
    mcu.clock[0] += 1.0
    mcu.feed(cc(0x10, 0x05))  # the unit reports a fast turn as 5 ticks
    five = float(mcu.mixer.get("ch/1/pan")) - one
    assert five == pytest.approx(0.02 * 5**1.4)  # accelerated: more than 5 single ticks
    mcu.clock[0] += 1.0
    mcu.feed(cc(0x10, 0x41))  # one tick counter-clockwise
    pan = float(mcu.mixer.get("ch/1/pan"))
    assert pan == pytest.approx(one + five - 0.02)
    position = (pan + 1) / 2
    assert hexes(mcu.tick(0.1), ("cc",)) == [f"b0 30 {1 + round(position * 10):02x}"]


def test_shift_makes_vpot_fine(mcu: Rig) -> None:
    mcu.feed(note(0x46, 127), cc(0x11, 0x01), note(0x46, 0))
    assert float(mcu.mixer.get("ch/2/pan")) == pytest.approx(0.002)


def test_mute_button_toggles_and_its_led_follows(mcu: Rig) -> None:
    mcu.feed(note(0x10, 127), note(0x10, 0))
    assert mcu.mixer.get("ch/1/mute") == 1.0
    assert hexes(mcu.tick(0.1), ("note_on",)) == ["90 10 7f"]
    mcu.feed(note(0x10, 127), note(0x10, 0))
    assert mcu.mixer.get("ch/1/mute") == 0.0
    assert hexes(mcu.tick(0.1), ("note_on",)) == ["90 10 00"]


def test_bank_right_shifts_by_8_and_resends_everything(mcu: Rig) -> None:
    mcu.mixer.set("ch/9/name", "Vocals", "cli")
    mcu.mixer.set("ch/9/fader", -10.0, "cli")
    mcu.mixer.set("ch/10/solo", 1, "cli")
    mcu.tick(0.1)
    mcu.feed(note(0x2F, 127), note(0x2F, 0))
    assert mcu.surface.bank == 8
    sent = hexes(mcu.tick(0.1))
    assert pb(0, round(0.5 * 16383)) in sent  # strip 1 now shows ch 9 at -10 dB
    assert [s for s in sent if s.startswith("e")] == [
        pb(0, 8192), *[pb(n, round(0.75 * 16383)) for n in range(1, 9)]]
    assert "90 09 7f" in sent  # SOLO LED of strip 2 (ch 10)
    assert lcd(0x00, "Vocals ") in sent
    assert lcd(0x07, "Ch 10  ") in sent and lcd(0x31, "Ch 16  ") in sent
    # moving strip 1 now drives channel 9
    mcu.feed(bend(0, 0))
    assert mcu.mixer.get("ch/9/fader") == float("-inf")
    assert mcu.mixer.get("ch/1/fader") == 0.0
    mcu.feed(note(0x2E, 127), note(0x2E, 0))  # and back
    assert mcu.surface.bank == 0


def test_bank_stops_at_the_last_full_bank(mcu: Rig) -> None:
    for _ in range(3):
        mcu.feed(note(0x2F, 127), note(0x2F, 0))
    assert mcu.surface.bank == 8  # 16 channels, 8 strips
    mcu.feed(note(0x30, 127), note(0x30, 0))  # CHANNEL <: one strip
    assert mcu.surface.bank == 7


def test_assign_send_pages_vpots_rings_and_lcd(mcu: Rig) -> None:
    mcu.feed(note(0x29, 127), note(0x29, 0))  # SEND: V-Pots on send 1
    sent = hexes(mcu.tick(0.1))
    assert "90 29 7f" in sent and "90 2a 00" in sent  # SEND lit, PAN dark
    assert "b0 30 21" in sent  # wrap mode, send at -inf = position 1 (first LED)
    mcu.feed(cc(0x10, 0x10))  # 16 ticks
    assert mcu.mixer.get("ch/1/send/1") > -60
    assert mcu.mixer.get("ch/1/pan") == 0.0
    mcu.feed(note(0x20, 127), note(0x20, 0))  # push: send 1 pre-fader
    assert mcu.mixer.get("ch/1/send/1/pre") == 1.0


def test_meters_at_their_rate_from_engine_meters() -> None:
    engine = Engine(16, 4)
    mixer = Mixer(engine)
    engine.set_source_buffer(1, np.full(4800, 0.5, dtype=np.float32))  # -6 dBFS
    engine.settle()
    engine.process(480)
    r = Rig(mixer, MAPPINGS / "mackie-control.yaml")
    r.connect()
    meters = []
    for _ in range(100):  # one second of 10 ms ticks
        meters += [e for e in r.tick(0.01) if e.kind == "channel_pressure"]
    assert len(meters) % 8 == 0 and 9 <= len(meters) // 8 <= 10  # 10 Hz x 8 strips
    level = round((20 * np.log10(0.5) + 60) / 60 * 12)  # -6 dB on a -60..0 dB, 12-step scale
    assert f"d0 {level:02x}" in hexes(meters)  # strip 0
    assert "d0 10" in hexes(meters)  # strip 1 silent
    r.surface.close()


def test_device_ready_triggers_a_full_resend(mcu: Rig) -> None:
    mcu.feed(Event("sysex", data=bytes.fromhex("f0000066140101020304050607f7")))
    sent = hexes(mcu.tick(0.1))
    assert len([s for s in sent if s.startswith("e")]) == 9


def test_extender_follows_the_main_unit_bank() -> None:
    mixer = Mixer(Engine(32, 4))
    reg = LinkRegistry()
    clock = [0.0]
    main = Rig(mixer, MAPPINGS / "mackie-control.yaml", "mcu", reg, clock)
    xt = Rig(mixer, MAPPINGS / "mackie-control-xt.yaml", "xt", reg, clock)
    main.connect(), xt.connect()
    xt.feed(bend(0, 0))
    assert mixer.get("ch/9/fader") == float("-inf")  # XT strip 1 = channel 9
    main.feed(note(0x2F, 127), note(0x2F, 0))
    assert main.surface.bank == 16 and xt.surface.bank == 16  # one 16-strip surface
    sent = hexes(xt.tick(0.1))
    assert "f0 00 00 66 15 12 00 43 68 20 32 35 20 20 f7" in sent  # "Ch 25"
    xt.feed(bend(1, 0))
    assert mixer.get("ch/26/fader") == float("-inf")
    main.feed(note(0x29, 127))  # SEND page on the main unit: the XT's V-Pots follow
    xt.feed(cc(0x10, 0x05))
    assert mixer.get("ch/25/send/1") > float("-inf")
    main.surface.close()
    xt.surface.close()
