"""`surfaced check FILE`: every shipped mapping loads, and the summary says what it binds."""

from __future__ import annotations

from pathlib import Path

import pytest
from surfaces.helpers import MAPPINGS

from surfaced.mapping import MappingError, MidiMatch, check_file, load_mapping

SHIPPED = sorted(MAPPINGS.glob("*.yaml"))


def test_the_required_mappings_ship() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"generic-cc8", "korg-nanokontrol2", "mackie-control", "mackie-control-xt"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_mapping_loads(path: Path) -> None:
    m = load_mapping(path)
    assert m.controls and m.name
    text = check_file(path)
    assert m.name in text and "controls:" in text


def test_summary_of_the_mackie_control() -> None:
    text = check_file(MAPPINGS / "mackie-control.yaml")
    assert "8 strips" in text
    assert "fader x8: pitchbend ch 0..7 -> ch/${ch}/fader" in text
    assert "touch note 104..111 (0x68..0x6F) ch 0" in text
    assert "vpot_send x32" in text and "when vpot=send1/send2/send3/send4" in text
    assert "meter ch/${ch} peak at 10 Hz" in text
    assert "bank_right: note 47 (0x2F) ch 0 -> bank next" in text


def test_match_patterns_suit_the_midi_transport() -> None:
    from surfaced.transports.midi import port_matcher

    m = load_mapping(MAPPINGS / "mackie-control.yaml")
    assert isinstance(m.match, MidiMatch) and m.match.input is not None
    matches = port_matcher(m.match.input)
    assert matches("MCU Pro USB v3.1 MIDI 1") and matches("Mackie Control Universal:0")
    assert not matches("Mackie Control XT") and not matches("MCU XT USB")  # the XT's own
    assert not matches("X-Touch INT")  # the X-Touch has its own file
    xt = load_mapping(MAPPINGS / "mackie-control-xt.yaml")
    assert xt.match.input is not None and port_matcher(xt.match.input)("MCU XT USB")  # type: ignore[union-attr]
    nano = load_mapping(MAPPINGS / "korg-nanokontrol2.yaml")
    assert port_matcher(nano.match.input)("nanoKONTROL2 _ CTRL")  # type: ignore[arg-type, union-attr]
    # "Launch Control XL n", n the device ID, left out for ID 1 (Novation's guide)
    lcxl = load_mapping(MAPPINGS / "novation-launch-control-xl.yaml")
    assert isinstance(lcxl.match, MidiMatch) and lcxl.match.input is not None
    assert all(map(port_matcher(lcxl.match.input), ("Launch Control XL", "Launch Control XL 2",
                                                     "Launch Control XL 16 MIDI 1")))


def test_check_raises_on_a_broken_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\ntransport: midi\nmatch: {port: a}\ncontrols:\n  f: {cc: 300, "
                   "param: ch/1/fader}\n")
    with pytest.raises(MappingError) as info:
        check_file(bad)
    assert str(info.value).startswith(f"{bad}:5: controls.f.cc: expected")
    assert (info.value.file, info.value.line, info.value.key) == (str(bad), 5, "controls.f.cc")


def test_check_raises_on_an_expression_that_cannot_be_evaluated(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\ntransport: midi\nmatch: {port: a}\ncontrols:\n  f:\n    cc: 1\n"
                   "    param: ch/${1 // 0}/fader\n")
    with pytest.raises(MappingError, match=r"x\.yaml:7: controls\.f\.param: division by zero"):
        check_file(bad)


def test_check_raises_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        check_file(tmp_path / "nope.yaml")
