"""The selected channel: SELECT on any surface moves it, a channel strip's knobs follow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.navigation import LinkRegistry
from surfaced.surfaces.surface import load_mapping
from surfaces.helpers import MAPPINGS, Rig, cc, hexes, note

STRIP = """\
name: strip
transport: midi
match: {port: strip}
selection: focus
controls:
  gain: {cc: 20, param: ch/${sel}/eq/1/gain}
  next: {note: 1, action: {select: next}}
  prev: {note: 2, action: {select: previous}}
  five: {note: 5, action: {select: 5}}
"""


def test_select_on_a_mackie_control_moves_a_channel_strip(tmp_path: Path) -> None:
    mixer = Mixer(Engine(16, 4))
    reg = LinkRegistry()
    clock = [0.0]
    (tmp_path / "strip.yaml").write_text(textwrap.dedent(STRIP))
    mcu = Rig(mixer, MAPPINGS / "mackie-control.yaml", "mcu", reg, clock)
    strip = Rig(mixer, load_mapping(tmp_path / "strip.yaml"), "strip", reg, clock)
    assert "90 18 7f" in hexes(mcu.connect())  # channel 1 is selected at start
    strip.connect()
    strip.feed(cc(20, 127))
    assert mixer.get("ch/1/eq/1/gain") == 18.0
    mcu.feed(note(0x1A, 127), note(0x1A, 0))  # SELECT of strip 3
    assert reg.focus == 3 and reg.selected_for(mcu.surface) == 3
    assert hexes(mcu.tick(), ("note_on",)) == ["90 18 00", "90 1a 7f"]
    assert hexes(strip.tick()) == ["b0 14 40"]  # the knob's LED collar shows ch 3's 0 dB
    strip.feed(cc(20, 0))
    assert mixer.get("ch/3/eq/1/gain") == -18.0 and mixer.get("ch/1/eq/1/gain") == 18.0
    # The strip's own < > step the focus; the desk keeps the channel its SELECT chose.
    strip.feed(note(1, 127), note(1, 0))
    assert reg.focus == 4 and reg.selected_for(strip.surface) == 4
    assert reg.selected_for(mcu.surface) == 3 and hexes(mcu.tick(), ("note_on",)) == []
    strip.feed(note(5, 127), note(2, 127))
    assert reg.focus == 4
    mcu.feed(note(0x1B, 127), note(0x1B, 0))  # SELECT of strip 4 on the desk: already focus
    assert hexes(mcu.tick(), ("note_on",)) == ["90 1a 00", "90 1b 7f"]
    strip.feed(note(1, 127))
    assert reg.focus == 5 and reg.selected_for(mcu.surface) == 4


def test_select_stops_at_the_ends_of_the_mix(tmp_path: Path) -> None:
    mixer = Mixer(Engine(2, 1))
    (tmp_path / "strip.yaml").write_text(textwrap.dedent(STRIP))
    reg = LinkRegistry()
    r = Rig(mixer, tmp_path / "strip.yaml", registry=reg)
    r.feed(note(2, 127))
    assert reg.focus == 1
    r.feed(note(1, 127), note(1, 127), note(5, 127))
    assert reg.focus == 2
    r.surface.close()


@pytest.mark.parametrize("bad", ["{select: strip}", "{select: 0}", "{select: sideways}"])
def test_bad_select_actions(tmp_path: Path, bad: str) -> None:
    from surfaced.mapping import MappingError

    (tmp_path / "m.yaml").write_text(f"name: x\ntransport: midi\nmatch: {{port: x}}\n"
                                     f"controls:\n  s: {{note: 1, action: {bad}}}\n")
    with pytest.raises(MappingError, match=r"m\.yaml:5: controls\.s\.action\.select:"):
        load_mapping(tmp_path / "m.yaml")


def test_two_desks_each_have_their_own_selection_and_linked_units_share_one(
        tmp_path: Path) -> None:
    """Several surfaces at once: each its own selected channel, or linked into one desk."""
    mixer = Mixer(Engine(32, 4))
    reg = LinkRegistry()
    clock = [0.0]
    a = Rig(mixer, MAPPINGS / "mackie-control.yaml", "a", reg, clock)
    b = Rig(mixer, MAPPINGS / "mackie-control.yaml", "b", reg, clock)
    for r in (a, b):
        r.connect()
    b.feed(note(0x2F, 127), note(0x2F, 0))  # desk b banks to channels 9-16
    b.tick()
    a.feed(note(0x19, 127), note(0x19, 0))  # SELECT strip 2 on desk a: channel 2
    b.feed(note(0x1D, 127), note(0x1D, 0))  # SELECT strip 6 on desk b: channel 14
    assert reg.selected_for(a.surface) == 2 and reg.selected_for(b.surface) == 14
    assert "90 19 7f" in hexes(a.tick(), ("note_on",))
    assert "90 1d 7f" in hexes(b.tick(), ("note_on",)) and reg.focus == 14
    desk = LinkRegistry()
    main = Rig(mixer, MAPPINGS / "mackie-control.yaml", "mcu", desk, clock)
    xt = Rig(mixer, MAPPINGS / "mackie-control-xt.yaml", "xt", desk, clock)
    for r in (main, xt):
        r.connect()
    xt.feed(note(0x18, 127), note(0x18, 0))  # SELECT strip 1 of the extender: channel 9
    assert desk.selected_for(main.surface) == 9
    assert "90 18 00" in hexes(main.tick(), ("note_on",))  # the main unit's ch 1 LED goes out
    for r in (a, b, main, xt):
        r.surface.close()
