"""One protocol, many devices: `extends:`, `vars:`, `${...}` without quotes, `off` in values."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from surfaces.helpers import MAPPINGS

from surfaced.mapping import MappingError, check_file, load_mapping
from surfaced.mapping.model import ParamTarget

BASE = """\
transport: midi
strips: 2
vars: {dev: 0x14}
defaults: {channel: 0, echo: true}
handshake:
  - sysex: F0 00 ${dev} 00 F7
controls:
  fader:
    each: {strip: 0..${strips - 1}}
    pitchbend: ${strip}
    param: ch/${ch}/fader
    touch: {note: ${0x68 + strip}}
  mute:
    each: {strip: 0..${strips - 1}}
    note: ${0x10 + strip}
    param: ch/${ch}/mute
  lcd:
    each: {strip: 0..${strips - 1}}
    param: ch/${ch}/name
    feedback: {sysex: "F0 00 ${dev} 12 ${strip * 7} {text:6} F7"}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_a_device_file_is_the_protocol_plus_its_differences(tmp_path: Path) -> None:
    write(tmp_path, "protocols/proto", BASE)
    dev = write(tmp_path, "dev", """\
        extends: protocols/proto
        name: My desk
        match: {port: desk}
        strips: 1
        vars: {dev: 0x15}
        controls:
          mute: {note: 0x20, param: ch/1/solo}     # replaced whole, in its place
          lcd: ~                                   # removed
          extra: {cc: 7, param: master/fader}      # added at the end
        """)
    m = load_mapping(dev)
    assert m.name == "My desk" and m.strips == 1
    assert m.sources == (str(dev), str(tmp_path / "protocols" / "proto.yaml"))
    assert [c.name for c in m.controls] == ["fader[0]", "mute", "extra"]
    assert m.controls[1].input is not None and m.controls[1].input.number == 0x20
    assert m.handshake[0].sysex is not None and m.handshake[0].sysex.build({}) == \
        bytes.fromhex("f00015 00f7")
    text = check_file(dev)
    assert "extends: " + str(tmp_path / "protocols" / "proto.yaml") in text


def test_the_shipped_extender_is_the_protocol_with_device_id_0x15() -> None:
    xt = load_mapping(MAPPINGS / "mackie-control-xt.yaml")
    mcu = load_mapping(MAPPINGS / "mackie-control.yaml")
    assert xt.sources[1].endswith("protocols/mackie-control.yaml")
    assert xt.handshake[0].sysex is not None and mcu.handshake[0].sysex is not None
    assert xt.handshake[0].sysex.build({}) == bytes.fromhex("f000006615 00f7")
    assert mcu.handshake[0].sysex.build({}) == bytes.fromhex("f000006614 00f7")
    assert {c.stanza for c in mcu.controls} - {c.stanza for c in xt.controls} == {
        "master", "bank_left", "bank_right", "channel_left", "channel_right", "assign_track",
        "assign_send", "assign_pan", "assign_plugin", "send_page", "shift", "jog"}
    assert xt.link == "mackie-control" and xt.link_offset == 8
    assert len((MAPPINGS / "mackie-control-xt.yaml").read_text().splitlines()) < 40


def test_an_error_in_the_base_names_the_base_file_and_the_extending_line(
        tmp_path: Path) -> None:
    write(tmp_path, "proto", BASE.replace("note: ${0x10 + strip}", "note: ${0x70 + strip + dev}"))
    dev = write(tmp_path, "dev", "extends: proto\nname: d\nmatch: {port: d}\n")
    with pytest.raises(MappingError) as info:
        load_mapping(dev)
    err = info.value
    assert err.file == str(tmp_path / "proto.yaml") and err.line == 15
    assert err.key == "controls.mute.note"
    assert "0..127" in str(err) and f"(in a file extended by {dev}:1)" in str(err)


def test_an_error_in_a_replaced_control_names_the_device_file(tmp_path: Path) -> None:
    write(tmp_path, "proto", BASE)
    dev = write(tmp_path, "dev", "extends: proto\nname: d\nmatch: {port: d}\ncontrols:\n"
                                 "  mute: {note: 300, param: ch/1/mute}\n")
    with pytest.raises(MappingError, match=r"dev\.yaml:5: controls\.mute\.note: expected"):
        load_mapping(dev)


def test_a_syntax_error_in_the_base_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "proto", "transport: midi\ncontrols: {a: [\n")
    dev = write(tmp_path, "dev", "name: d\nextends: proto\n")
    with pytest.raises(MappingError) as info:
        load_mapping(dev)
    assert info.value.file == str(tmp_path / "proto.yaml")
    assert f"extended by {dev}:2" in str(info.value)


def test_removing_what_the_base_lacks_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "proto", BASE)
    dev = write(tmp_path, "dev", "extends: proto\nname: d\nmatch: {port: d}\ncontrols:\n"
                                 "  mutes: ~\n")
    with pytest.raises(MappingError, match=r"dev\.yaml:5: controls\.mutes: set to nothing.*"
                                           r"has: fader, mute, lcd"):
        load_mapping(dev)


@pytest.mark.parametrize(("name", "what"), [
    ("../etc/passwd", "expected the name of a mapping file"),
    ("nope", "no nope.yaml next to this file"),
])
def test_bad_extends(tmp_path: Path, name: str, what: str) -> None:
    dev = write(tmp_path, "dev", f"extends: {name}\nname: d\n")
    with pytest.raises(MappingError, match=rf"dev\.yaml:1: extends: {what}"):
        load_mapping(dev)


def test_cycles_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a", "extends: b\n")
    write(tmp_path, "b", "extends: c\n")
    write(tmp_path, "c", "extends: a\n")
    with pytest.raises(MappingError, match=r"c\.yaml:1: extends: a cycle: .*a\.yaml -> .*b\.yaml"
                                           r" -> .*c\.yaml -> .*a\.yaml"):
        load_mapping(tmp_path / "a.yaml")


def test_depth_is_bounded(tmp_path: Path) -> None:
    for n in range(12):
        write(tmp_path, f"f{n}", f"extends: f{n + 1}\n")
    write(tmp_path, "f12", BASE)
    with pytest.raises(MappingError, match="more than 8 files extend one another"):
        load_mapping(tmp_path / "f0.yaml")


def test_a_base_alone_says_what_it_lacks(tmp_path: Path) -> None:
    base = write(tmp_path, "proto", BASE)
    with pytest.raises(MappingError, match=r"proto\.yaml:1: name: missing"):
        load_mapping(base)


def test_vars_are_checked(tmp_path: Path) -> None:
    dev = write(tmp_path, "dev", BASE.replace("{dev: 0x14}", "{ch: 3}") + "name: d\n"
                                                                       "match: {port: d}\n")
    with pytest.raises(MappingError, match=r"dev\.yaml:3: vars\.ch: expected a variable name"):
        load_mapping(dev)


# ------------------------------------------------------- ${...} in flow maps
def test_expressions_need_no_quotes_inside_flow_mappings(tmp_path: Path) -> None:
    dev = write(tmp_path, "dev", """\
        name: d
        transport: midi
        match: {port: d}
        strips: 2
        controls:
          fader: {each: {strip: 0..${strips - 1}}, cc: ${20 + strip}, param: ch/${ch}/fader,
                  feedback: [{cc: ${0x30 + strip}, value: ${value // 2}}]}
          lit: {note: 1, param: ch/1/mute, feedback: {note: "${1}"}}   # quotes still work
        """)
    m = load_mapping(dev)
    assert [c.input.number for c in m.controls[:2] if c.input] == [20, 21]
    assert [c.feedback[0].number for c in m.controls[:2]] == [0x30, 0x31]
    target = m.controls[1].target
    assert isinstance(target, ParamTarget) and target.path.text == "ch/${ch}/fader"


def test_a_placeholder_character_in_the_file_is_refused(tmp_path: Path) -> None:
    dev = write(tmp_path, "dev", "name: d\ndescription: \ue000\n")
    with pytest.raises(MappingError, match=r"dev\.yaml:2: the character U\+E000"):
        load_mapping(dev)


# ------------------------------------------------------------- off / on
def values_of(tmp_path: Path, param: str, values: str) -> tuple[float, float] | None:
    dev = write(tmp_path, "dev", f"name: d\ntransport: midi\nmatch: {{port: d}}\ncontrols:\n"
                                 f"  b: {{note: 1, param: {param}, values: {values}}}\n")
    button = load_mapping(dev).controls[0].button
    assert button is not None
    return button.values


def test_off_means_minus_infinity_on_a_fader(tmp_path: Path) -> None:
    assert values_of(tmp_path, "ch/1/fader", "[off, 0]") == (-math.inf, 0.0)
    assert values_of(tmp_path, "ch/1/send/1", '["off", -10]') == (-math.inf, -10.0)
    assert values_of(tmp_path, "ch/1/mute", "[off, on]") == (0.0, 1.0)


@pytest.mark.parametrize(("param", "values"), [
    ("ch/1/trim", "[off, 0]"), ("ch/1/fader", "[on, 0]"), ("ch/1/pan", "[no, 0]")])
def test_off_or_on_where_it_means_nothing_is_an_error(tmp_path: Path, param: str,
                                                      values: str) -> None:
    with pytest.raises(MappingError, match=r"dev\.yaml:5: controls\.b\.values: (off/false|"
                                           r"on/true) has no meaning for ch/1/"):
        values_of(tmp_path, param, values)
