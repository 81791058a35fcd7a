"""Loading mappings: every mistake names file, line, key and what was expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from surfaced.mapping import MappingError, MidiMatch, OscMatch, SerialMatch, load_mapping
from surfaced.mapping.model import ActionTarget, ParamTarget

GOOD = """\
name: test
transport: midi
match: {port: box}
strips: 8
controls:
  fader:
    each: {strip: 0..7}
    cc: ${strip}
    param: ch/${ch}/fader
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_mapping_expands_over_strips(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, GOOD))
    assert m.name == "test" and m.transport == "midi" and m.strips == 8 and m.id == "bad"
    assert isinstance(m.match, MidiMatch) and m.match.input == "re:box"
    assert [c.name for c in m.controls] == [f"fader[{i}]" for i in range(8)]
    assert [c.input.number for c in m.controls if c.input] == list(range(8))
    target = m.controls[3].target
    assert isinstance(target, ParamTarget)
    assert target.resolve({"ch": 4, "bank": 0}) == "ch/4/fader"


def replace(line: str, new: str) -> str:
    assert line in GOOD
    return GOOD.replace(line, new)


# (mapping text, line, key, words the message must contain)
BAD = [
    (replace("    cc: ${strip}", "    cc: ${strip + 200}"),
     8, "controls.fader.cc", "0..127, got 200"),
    (replace("ch/${ch}/fader", "ch/${ch}/fadr"),
     9, "controls.fader.param", "unknown parameter 'ch/1/fadr'"),
    (replace("    cc: ${strip}", "    ccc: ${strip}"),
     8, "controls.fader.ccc", "did you mean 'cc'"),
    (replace("transport: midi", "transport: mid"),
     2, "transport", "expected one of midi, osc, serial, got 'mid' (did you mean 'midi'?)"),
    (replace("name: test\n", ""),
     1, "name", "missing"),
    (replace("0..7", "0..8"),
     7, "controls.fader.each", "strip 8 does not exist"),
    (replace("    cc: ${strip}", "    cc: ${strip / 2}"),
     8, "controls.fader.cc", "use // for integer division"),
    (replace("    cc: ${strip}", "    cc: ${stripe}"),
     8, "controls.fader.cc", "unknown name 'stripe'"),
    (replace("    cc: ${strip}", "    cc: ${(strip + 1}"),
     8, "controls.fader.cc", "missing ')'"),
    (replace("    cc: ${strip}", "    sysex: F0 00 80 F7"),
     8, "controls.fader.sysex", "a SysEx data byte is 0..127"),
    (replace("    cc: ${strip}", "    sysex: 00 01 F7"),
     8, "controls.fader.sysex", "starts with F0"),
    (GOOD + "    encoder: {encoding: gray}\n",
     10, "controls.fader.encoder.encoding", "expected one of twos-complement, sign-magnitude"),
    (GOOD + "    when: {shift: true}\n",
     10, "controls.fader.when.shift", "expected a page group or modifier declared"),
    (GOOD + "  b:\n    note: 1\n    action: {bank: sideways}\n",
     12, "controls.b.action.bank", "next, previous, first, last"),
    (GOOD + "    button: toggle\n",
     10, "controls.fader.button", "is not on/off; give values: [off, on]"),
    (GOOD + "    feedback: {cc: 1, ring: spiral}\n",
     10, "controls.fader.feedback.ring", "expected one of dot, boost-cut, wrap, spread"),
    (GOOD + "    feedback: {cc: 1, text: '{valu}'}\n",
     10, "controls.fader.feedback.text", "unknown text field '{valu}'"),
    (GOOD + "    ring: dot\n",
     10, "controls.fader.ring", "put it under feedback:"),
    (GOOD + "   bad indent: 1\n",
     10, "", "not valid YAML"),
    (GOOD + "    cc: 3\n",
     10, "", "duplicate key 'cc'"),
    (replace("{port: box}", "{port: '(box'}"),
     3, "match.port", "expected a regular expression"),
    (GOOD + "link: {to: bad, offset: 8}\n",
     10, "link.to", "cannot link to itself"),
    (GOOD + "    encoder: sign-magnitude\n    takeover: pickup\n",
     11, "controls.fader.takeover", "soft takeover is for absolute controls"),
    (replace("    cc: ${strip}", "    cc: ${strip}\n    note: 1"),
     9, "controls.fader.note", "has both 'cc' and 'note'"),
    (replace("    cc: ${strip}", "    pitchbend: ${strip + 10}"),
     8, "controls.fader.pitchbend", "a MIDI channel 0..15, got 16"),
    (replace("    cc: ${strip}\n    param: ch/${ch}/fader", "    meter: ch/x"),
     8, "controls.fader.meter", "expected ch/N, bus/N, master/1 or master/2"),
    (replace("ch/${ch}/fader", "ch/${ch}/name"),
     9, "controls.fader.param", "is text; only OSC can set it"),
    (GOOD + "    curve: [[0, 0], [0.5, 0.6], [0.4, 1]]\n",
     10, "controls.fader.curve", "points must rise"),
    (replace("ch/${ch}/fader", "ch/${ch}/pan") + "    range: [0.5, -0.5]\n",
     10, "controls.fader.range", "expected low < high within -1..1"),
    (replace("    each: {strip: 0..7}\n    cc: ${strip}", "    cc: 1"),
     8, "controls.fader.param", "unknown name 'ch'"),
    (GOOD.split("controls:")[0],
     1, "controls", "missing"),
    (GOOD + "    echo: yes please\n",
     10, "controls.fader.echo", "expected true or false"),
    (GOOD + "    values: [0, 1]\n",
     10, "controls.fader.values", "is for buttons"),
    (GOOD + "pages: {vpot: [pan, pan]}\n",
     10, "pages.vpot", "page names in a group must differ"),
    (GOOD + "  sw:\n    note: 1\n    action: {page: vpot, to: pan}\n",
     12, "controls.sw.action.page", "expected a page group declared under pages:"),
    (GOOD + "handshake:\n  - {note: 1}\n",
     11, "handshake[0]", "needs value:"),
    (GOOD + "keepalive:\n  - {every: 0, send: []}\n",
     11, "keepalive[0].every", "expected seconds in 0.01..3600"),
    (replace("    cc: ${strip}\n", ""),
     6, "controls.fader", "needs feedback:"),
    (GOOD + "    feedback: {note: 1, value: '${value + nope}'}\n",
     10, "controls.fader.feedback.value", "unknown name 'nope'"),
    (replace("    cc: ${strip}", "    osc: /fader${strip}"),
     8, "controls.fader.osc", "a midi surface sends and receives MIDI messages"),
    (replace("transport: midi\nmatch: {port: box}", "transport: serial\nmatch: {port: /dev/x}"),
     8, "controls.fader.cc", "a serial surface sends and receives osc: messages"),
    (replace("match: {port: box}", "match: {}"),
     3, "match", "give port:"),
    (replace("transport: midi\nmatch: {port: box}", "transport: serial\nmatch: {baudrate: 9600}"),
     3, "match", "give serial_number:"),
    ("- just\n- a list\n",
     1, "", "expected a mapping (name:, transport:, controls: ...), got a list"),
    # Expressions that parse but cannot be evaluated are errors at their key too.
    (replace("ch/${ch}/fader", "ch/${1 // 0}/fader"),
     9, "controls.fader.param", "division by zero"),
    (replace("ch/${ch}/fader", "ch/${strip % 0}/fader"),
     9, "controls.fader.param", "division by zero"),
    (replace("ch/${ch}/fader", "ch/${65536 * 65536 * 65536 * 65536}/fader"),
     9, "controls.fader.param", "out of range (expressions stay within +-2**31)"),
    (replace("ch/${ch}/fader", "ch/${ch}/send/${strip * 99999 * 99999 + 1}"),
     9, "controls.fader.param", "out of range"),
    (replace("ch/${ch}/fader", "ch/${ch + nope}/fader"),
     9, "controls.fader.param", "unknown name 'nope'"),
    (replace("    cc: ${strip}", "    cc: ${1 // (strip - strip)}"),
     8, "controls.fader.cc", "division by zero"),
    (replace("    cc: ${strip}", "    cc: ${1 // 0}\n    meter: ch/${1 // 0}"),
     8, "controls.fader.cc", "division by zero"),
    (replace("ch/${ch}/fader", "ch/${ch}/fader\n    feedback: {cc: '${1 // 0}'}"),
     10, "controls.fader.feedback.cc", "division by zero"),
    (GOOD + "    feedback: {sysex: 'F0 ${1 // 0} {text:6} F7'}\n",
     10, "controls.fader.feedback.sysex", "division by zero"),
    (GOOD + "    when: {vpot: 'p${1 // 0}'}\npages: {vpot: [p1, p2]}\n",
     10, "controls.fader.when.vpot", "division by zero"),
    (GOOD + "  sw:\n    note: 1\n    action: {page: vpot, to: 'p${nope}'}\npages: {vpot: [p1]}\n",
     12, "controls.sw.action.to", "unknown name 'nope'"),
    (replace("{strip: 0..7}", "{strip: '0..${1 // 0}'}"),
     7, "controls.fader.each.strip", "division by zero"),
    (GOOD + "  big:\n    each: {a: 0..1000, b: 0..1000}\n    note: 1\n    param: ch/1/mute\n",
     11, "controls.big.each", "expands to 1002001 copies; at most 4096"),
    (replace("match: {port: box}", "match:"),
     3, "match", "expected a mapping (key: value lines), got nothing"),
    (replace("match: {port: box}", "match: {port: box}\noutput: {rate: 1e400}"),
     4, "output.rate", "expected messages per second"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD,
                         ids=[f"{b[2] or 'file'}:{b[3][:30]}" for b in BAD])
def test_bad_mappings_say_file_line_key_and_what_was_expected(
        tmp_path: Path, text: str, line: int, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    err = info.value
    assert (err.file, err.line, err.key) == (str(path), line, key), str(err)
    assert words in err.expected, str(err)
    assert str(err).startswith(f"{path}:{line}: ")


def test_serial_and_osc_matches(tmp_path: Path) -> None:
    serial = GOOD.replace("transport: midi\nmatch: {port: box}",
                          "transport: serial\nmatch: {serial_number: '5503', baudrate: 57600}"
                          ).replace("cc: ${strip}", "osc: /fader/${strip}")
    m = load_mapping(write(tmp_path, serial))
    assert m.match == SerialMatch(serial_number="5503", baudrate=57600)
    osc = serial.replace("transport: serial", "transport: osc").replace(
        "{serial_number: '5503', baudrate: 57600}", "{host: 10.0.0.2, port: 8000, prefix: /f}")
    m = load_mapping(write(tmp_path, osc))
    assert m.match == OscMatch(host="10.0.0.2", port=8000, prefix="/f")
    assert m.match.accepts("10.0.0.2", 8000, "/fader/1")
    assert not m.match.accepts("10.0.0.3", 8000, "/fader/1")
    assert not m.match.accepts("10.0.0.2", 8000, "/mix/1")


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(bad)


def test_mappings_never_execute_code(tmp_path: Path) -> None:
    text = GOOD.replace("name: test", "name: !!python/object/apply:os.system ['true']")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(write(tmp_path, text))
    text = GOOD.replace("${strip}", "${__import__('os')}")
    with pytest.raises(MappingError, match="unexpected"):
        load_mapping(write(tmp_path, text))


def test_each_over_two_variables_and_templated_pages(tmp_path: Path) -> None:
    text = GOOD + """\
  send:
    each: {strip: 0..1, b: 1..2}
    when: {knob: "send${b}", shift: false}
    cc: ${100 + strip * 2 + b}
    param: ch/${ch}/send/${b}
  pick:
    each: {b: 1..2}
    note: ${b}
    action: {page: knob, to: "send${b}"}
pages: {knob: [send1, send2]}
modifiers: [shift]
"""
    m = load_mapping(write(tmp_path, text))
    sends = [c for c in m.controls if c.stanza == "send"]
    assert [c.input.number for c in sends if c.input] == [101, 102, 103, 104]
    assert [sorted(c.when[0].pages)[0] for c in sends] == ["send1", "send2"] * 2
    picks = [c.target for c in m.controls if c.stanza == "pick"]
    assert [t.to for t in picks if isinstance(t, ActionTarget)] == ["send1", "send2"]
