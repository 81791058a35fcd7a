"""Loading never fails with anything but MappingError, whatever a file says.

The daemon catches MappingError on load and reload (and `surfaced check`
reports it); any other exception would take it down. So valid mappings are
mutated line by line (deleted, duplicated, re-indented, values replaced by
awkward ones or swapped between lines) and every result must load or raise a
MappingError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from surfaces.helpers import MAPPINGS

from surfaced.mapping import Mapping, MappingError, load_mapping

RICH = """\
name: rich
transport: midi
match: {input: box, output: box}
strips: 4
bank: {step: 4}
pages:
  vpot: [pan, send1, send2]
modifiers: [shift]
defaults: {channel: 1, echo: false, takeover: pickup, threshold: 0.05, rate: 30}
output: {rate: 50}
handshake:
  - sysex: F0 00 01 F7
  - each: {strip: 0..3}
    cc: ${100 + strip}
    value: ${strip * 2}
keepalive:
  - every: 1.5
    send: [{note: 127, value: 0}]
controls:
  fader:
    each: {strip: 0..3}
    pitchbend: ${strip}
    param: ch/${ch}/fader
    touch: {note: "${0x68 + strip}"}
    curve: [[0, 0], [0.5, 0.3], [1, 1]]
  knob:
    each: {strip: 0..3, b: 1..2}
    when: {vpot: "send${b}", shift: false}
    cc: ${16 + strip}
    param: ch/${ch}/send/${b}
    encoder: {encoding: sign-magnitude, step: 0.01, acceleration: 1.4, fine: shift}
    feedback: {cc: "${48 + strip}", ring: {mode: wrap, centre: true}}
  pan:
    each: {strip: 0..3}
    nrpn: ${1000 + strip}
    param: ch/${ch}/pan
    range: [-0.5, 0.5]
    taper: linear
    invert: true
  mute:
    each: {strip: 0..3}
    note: ${16 + strip}
    param: ch/${ch}/mute
    button: toggle
    hold_time: 0.3
    feedback:
      - {note: "${16 + strip}"}
      - {cc: "${32 + strip}", range: [0, 1], value: "${value * 64}"}
  lcd:
    each: {strip: 0..3}
    param: ch/${ch}/name
    rate: 5
    feedback: {sysex: "F0 00 ${strip * 7} {text:7} F7", text: "{value}", empty: "Ch {ch}"}
  meter:
    each: {strip: 0..3}
    meter: ch/${ch}
    source: rms
    floor: -50
    ceiling: 0
    rate: 12
    feedback: {pressure: 0, value: "${strip * 16 + value}", range: [0, 13]}
  page:
    note: 40
    action: {page: vpot, step: 1}
  to_pan:
    note: 41
    action: {page: vpot, to: pan}
  shift:
    note: 70
    action: {modifier: shift, latch: true}
  bank:
    cc14: [1, 33]
    action: {bank: +4}
  reply:
    sysex: F0 7E {id} 06 01 F7
    action: {send: [{sysex: "F0 7E {id} 06 02 F7"}]}
"""


def _without_comments(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() and not line.lstrip().startswith("#"))


BASES = [RICH] + [_without_comments(p.read_text()) for p in sorted(MAPPINGS.glob("*.yaml"))]

# Values a hand (or a bad merge) might leave: broken or unevaluable expressions,
# the wrong YAML type, huge and odd numbers, YAML's own tags.
AWKWARD = [
    "${1 // 0}", "${strip % 0}", "${65536 * 65536}", "'${strip * 99999 * 99999}'", "${nope}",
    "${strip", "'${(((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))}'",
    "ch/${1 // 0}/fader", "ch/${ch}/nope", "ch/${strip + 1000}/fader", "master/3", "/x/${nope}",
    "F0 ${1 // 0} F7", "F0 {x:999} F7", "F0 {*} {*} F7", "F0 80 F7", "'{value:>99.9f}'", "'{nope}'",
    "0..1023", "0..100000", "7..0", "{strip: 0..1023, b: 0..1023}", "{ch: 0..1}", "[0, 7, 9]",
    "[{a: 1}]", "{}", "[]", "null", "~", "''", "' '", "-1", "0", "1e400", "-1e400",
    "1000000000000000000000000000000000000000000", ".nan", ".inf", "-.inf", "true", "false",
    "1.5", "0x7f", "0b101", "[1, 2]", "[[0, 0], [1]]", "[[1, 1], [0, 0]]", "2020-01-01",
    "2020-01-01T10:00:00", "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [{a: 1}]", "[a, b]",
    "{cc: 1}", "{note: 1, cc: 2}", "[{cc: 1}, {note: 2}]", "{bank: 1e300}", "{page: nope}",
    "{mode: spiral}", "{a: {b: {c: d}}}", "pan", "send1", "shift", "hpf", "'\\u0000'",
    "&a [*a]", "'(unclosed'", "{encoding: gray}", "{sysex: F0 F7}",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(BASES)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        op = draw(st.sampled_from(["delete", "value", "value", "swap", "duplicate", "indent"]))
        if op == "delete":
            del lines[i]
        elif op == "value" and ":" in line:
            cut = line.index(":") + 1
            lines[i] = line[:cut] + " " + draw(st.one_of(
                st.sampled_from(AWKWARD),
                st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12)))
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            a, b = lines[i], lines[j]
            if ":" in a and ":" in b:
                ca, cb = a.index(":") + 1, b.index(":") + 1
                lines[i], lines[j] = a[:ca] + b[cb:], b[:cb] + a[ca:]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), line)
        elif op == "indent":
            lines[i] = line[2:] if draw(st.booleans()) else "  " + line
    return "\n".join(lines) + "\n"


def test_the_unmutated_bases_load(tmp_path: Path) -> None:
    for text in BASES:
        assert isinstance(load_from(text, tmp_path), Mapping), text[:200]


def load_from(text: str, where: Path) -> Mapping | MappingError:
    where.mkdir(parents=True, exist_ok=True)
    path = where / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return load_mapping(path)
    except MappingError as exc:
        # The mistake is named where it is: in the file itself, or in a file it
        # extends (a mutation can break what the base expects of it), and then
        # the message names both files.
        assert str(exc).startswith(exc.file)
        assert exc.file == str(path) or f"in a file extended by {path}" in str(exc), exc
        return exc
    finally:
        path.unlink()


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_a_mutated_mapping_loads_or_raises_mapping_error_only(tmp_path: Path, text: str) -> None:
    load_from(text, tmp_path)  # anything but a MappingError fails the test


@pytest.mark.parametrize(("text", "line", "key"), [
    ("", 1, ""),
    ("null\n", 1, ""),
    ("name: x\ntransport: midi\nmatch:\ncontrols:\n", 3, "match"),
    ("name: x\ntransport: midi\nmatch: {port: a}\ncontrols:\n", 4, "controls"),
    ("name: x\ntransport: midi\nmatch: {port: a}\ncontrols:\n  f:\n    cc: 1\n"
     "    param: ch/${1//0}/fader\n", 7, "controls.f.param"),
])
def test_degenerate_files(tmp_path: Path, text: str, line: int, key: str) -> None:
    err = load_from(text, tmp_path)
    assert isinstance(err, MappingError) and (err.line, err.key) == (line, key), err
