"""SysEx templates: matching what a device sends, building what it shows."""

from __future__ import annotations

import pytest

from surfaced.mapping.errors import ExprError
from surfaced.mapping.sysex import SysexTemplate, ascii7


def test_mackie_lcd_bytes() -> None:
    t = SysexTemplate.parse("F0 00 00 66 14 12 ${strip * 7} {text:6} 20 F7", {"strip": 2})
    assert t.build({}, "Vocals!!").hex(" ") == "f0 00 00 66 14 12 0e 56 6f 63 61 6c 73 20 f7"
    assert t.build({}, "Kick") == bytes.fromhex("f0 00 00 66 14 12 0e") + b"Kick   \xf7"
    assert t.prefix() == bytes.fromhex("f0 00 00 66 14 12 0e")


def test_text_is_7bit_printable_ascii() -> None:
    assert ascii7("Café\x01", 6) == b"Caf??" + b" "
    assert ascii7("", 3) == b"   "


def test_patterns_capture_fields() -> None:
    p = SysexTemplate.parse("F0 00 00 66 14 01 {serial:7} {challenge:4} F7", {})
    data = bytes.fromhex("f0 00 00 66 14 01 01 02 03 04 05 06 07 0a 0b 0c 0d f7")
    assert p.match(data) == {"serial": bytes(range(1, 8)), "challenge": bytes((10, 11, 12, 13))}
    assert p.match(data[:-2] + b"\xf7") is None  # too short
    assert p.match(data.replace(b"\x14", b"\x15", 1)) is None


def test_any_bytes_and_values() -> None:
    rest = SysexTemplate.parse("F0 7E {*} 06 02 F7", {})
    assert rest.match(bytes.fromhex("f07e7f0602f7")) == {}
    assert rest.match(bytes.fromhex("f07e0602f7")) == {}
    assert rest.match(bytes.fromhex("f07e0603f7")) is None
    v = SysexTemplate.parse("F0 43 10 {value:2} F7", {})
    assert v.match(bytes.fromhex("f0 43 10 7f 7f f7")) == {"value": b"\x7f\x7f"}
    assert v.build({"value": 300}) == bytes.fromhex("f0 43 10 02 2c f7")


@pytest.mark.parametrize(("text", "words"), [
    ("00 F7", "starts with F0"),
    ("F0 00", "ends with F7"),
    ("F0 F0 F7", "only start and end"),
    ("F0 80 F7", "0..127"),
    ("F0 ${200} F7", "0..127"),
    ("F0 zz F7", "not a hex byte"),
    ("F0 123 F7", "one byte per item"),
    ("F0 {*} {*} F7", "only once"),
    ("F0 {value:3} F7", "{value:2}"),
    ("F0 {a b} F7", "bad field"),
])
def test_template_errors(text: str, words: str) -> None:
    with pytest.raises(ExprError, match=words.replace("{", r"\{").replace("}", r"\}")):
        SysexTemplate.parse(text, {})
