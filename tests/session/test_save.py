"""Saving the mix into its session file: the user's text survives, values come back exactly."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surfaced.mix.mixer import Mixer, Value
from surfaced.mix.scenes import KINDS, Safes, Scene
from surfaced.session import Session, SessionError, load_session
from surfaced.session.save import number_text, render_session, string_text
from surfaced.yamlmarks import load_text

SONG = """\
# My song: comments and key order must survive a save.
version: 2
rate: 48000
buses: 2   # two aux buses

channels:
  - name: Kick          # the kick drum
    source: {generator: kick}
    fader: -4           # a level as I typed it
    comp: {on: 1}       # nested stays nested
    send/1: -10         # flat stays flat
  - name: Bass
    source: {generator: bass}
    eq:
      on: 1
      "2": {freq: 400}

params:
  master/fader: -2      # master trim
"""


def save_and_load(tmp_path: Path, text: str, mixer: Mixer, session: Session,
                  scenes: list[Scene] | None = None, safes: Safes | None = None) -> Session:
    out = render_session(text, session, mixer.snapshot(), scenes or [], safes or Safes())
    path = tmp_path / "saved.yaml"
    path.write_text(out, encoding="utf-8")
    return load_session(path)


def bits(value: Value) -> object:
    """A value compared bit for bit (so -0.0 is not 0.0)."""
    return value if isinstance(value, str) else struct.pack("<d", value)


def test_comments_order_and_style_survive_a_save(tmp_path: Path) -> None:
    (tmp_path / "song.yaml").write_text(SONG)
    session = load_session(tmp_path / "song.yaml")
    mixer = session.make_mixer()
    mixer.set("ch/1/fader", -7.5, "test")            # in the file: updated in place
    mixer.set("ch/1/comp/threshold", -30, "test")    # nested map exists: goes into it
    mixer.set("ch/2/eq/2/gain", -3, "test")          # deeper nested map exists
    mixer.set("ch/2/pan", 0.25, "test")              # not in the file: added to its channel
    mixer.set("bus/1/mute", 1, "test")               # bus/master: added under params
    mixer.set("ch/2/name", "Bass: DI # 2", "test")   # YAML-special characters
    out = render_session(SONG, session, mixer.snapshot(), [], Safes())
    lines = out.splitlines()
    # every comment and every key the user wrote is still there, in the same order
    for line in SONG.splitlines():
        if "#" in line and "fader: -4" not in line:
            assert line.split("#", 1)[1] in out, f"comment lost: {line}"
    assert lines[0] == "# My song: comments and key order must survive a save."

    def has(text: str, comment: str) -> bool:  # ruamel keeps a comment's column if it can
        return any(x.startswith(text) and x.endswith(comment) for x in lines)

    assert has("    fader: -7.5 ", "# a level as I typed it")
    assert has("    comp: {on: 1, threshold: -30} ", "# nested stays nested")
    assert has("    send/1: -10 ", "# flat stays flat")
    assert '      "2": {freq: 400, gain: -3}' in lines
    assert "    pan: 0.25" in lines
    assert '  - name: "Bass: DI # 2"' in lines
    assert out.index("master/fader: -2") < out.index("bus/1/mute: 1")
    again = load_session(_write(tmp_path, out))
    assert again.make_mixer().snapshot() == mixer.snapshot()


def _write(tmp_path: Path, text: str, name: str = "out.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_unchanged_values_keep_their_spelling(tmp_path: Path) -> None:
    (tmp_path / "song.yaml").write_text(SONG)
    session = load_session(tmp_path / "song.yaml")
    out = render_session(SONG, session, session.make_mixer().snapshot(), [], Safes())
    assert out == SONG  # nothing changed: the file is written back as it was


def test_numbers_and_text_are_written_to_read_back_exactly() -> None:
    for x in (-6.0, 0.1, 1e-05, -1.5e-300, 2.5e16, -0.0, float("-inf"), 1 / 3):
        back = load_text(f"v: {number_text(x)}")["v"]
        back = float("-inf") if back == "-inf" else float(back)
        assert bits(back) == bits(x), (x, number_text(x))
    assert number_text(-6.0) == "-6" and number_text(1e-05) == "1.0e-05"
    for s in ("yes", "No", "on", "1:20", "0x1F", "1_000", "~", "null", "- a", "[x]", "{y}",
              "a: b", "a #b", "'q'", '"d"', " lead", "tail ", "", "é ü 日本", "a\nb", "\x85",
              "\u2028", "tab\there", "\\", "@x", "`x", "!tag", "&a", "*b", "%p", "2001-12-14"):
        assert load_text(f"v: {string_text(s)}")["v"] == s, s


# --------------------------------------------------------------------- the property
SMALL = """\
version: 2
buses: 2
channels:
  - name: One
    fader: -3
    hpf: {on: 1}
  - name: Two
    send/2: -12
params:
  master/fader: -1
"""

_SPECIAL = st.sampled_from([": ", " #", "'", '"', "-", "[", "]", "{", "}", "yes", "~", "\n",
                            "é", "日本", "\u2028", "\t", "  ", "@", "!", "&", "*", "%", "|", ">"])
NAMES = st.lists(st.one_of(_SPECIAL, st.text(st.characters(exclude_categories=("Cs",)),
                                             max_size=6)), max_size=5).map("".join)


def _values_for(mixer: Mixer) -> st.SearchStrategy[dict[str, Value]]:
    """Random values for a random subset of every parameter path of the mix."""
    strategies: dict[str, st.SearchStrategy[Value]] = {}
    for path in mixer.paths():
        spec = mixer.spec(path)
        if spec.is_text:
            strategies[path] = NAMES
        elif spec.is_bool:
            strategies[path] = st.sampled_from([0.0, 1.0])
        elif spec.taper == "int":
            strategies[path] = st.integers(int(spec.minimum), int(spec.maximum)).map(float)
        else:
            lo = -200.0 if spec.minimum == float("-inf") else spec.minimum
            number = st.floats(lo, spec.maximum, allow_nan=False, allow_infinity=False)
            if spec.minimum == float("-inf"):
                number = st.one_of(number, st.just(float("-inf")))
            strategies[path] = st.one_of(number, st.just(spec.default))
    return st.fixed_dictionaries({}, optional=strategies)



@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_any_mix_survives_save_and_load_bit_for_bit(tmp_path_factory: pytest.TempPathFactory,
                                                    data: st.DataObject) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    path = _write(tmp_path, SMALL, "small.yaml")
    session = load_session(path)
    mixer = session.make_mixer(max_block=64)
    values = data.draw(_values_for(mixer), label="values")
    mixer.apply(values, "test", step=False)
    scene_values = data.draw(_values_for(mixer), label="scene")
    scene = Scene(data.draw(NAMES.filter(lambda s: s.strip() != ""), label="scene name"),
                  scene_values, data.draw(st.sampled_from([0.0, 0.5, 2.25, 60.0])),
                  data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(KINDS)))))
    safes = Safes(data.draw(st.frozensets(st.sampled_from(KINDS))),
                  data.draw(st.frozensets(st.sampled_from(["ch/1", "ch/2", "bus/1", "master"]))))
    saved = mixer.snapshot()
    again = save_and_load(tmp_path, SMALL, mixer, session, [scene], safes)
    back = again.make_mixer(max_block=64).snapshot()
    assert {p: bits(v) for p, v in back.items()} == {p: bits(v) for p, v in saved.items()}
    (s2,) = again.scenes
    assert (s2.name, s2.fade, s2.scope) == (scene.name, scene.fade, scene.scope)
    assert {p: bits(v) for p, v in s2.values.items()} == \
        {p: bits(v) for p, v in scene.values.items()}
    assert again.safes == safes


# --------------------------------------------------------------------- format errors
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version: 3\nchannels: [{name: A}]\n",
         ":1: version: session format 3 is newer than this surfaced reads (up to 2); "
         "upgrade surfaced"),
        ("version: two\nchannels: [{name: A}]\n", ":1: version: expected a session format"),
        ("channels: [{name: A}]\nscenes:\n  - name: V\n    values: {ch/1/fadr: 1}\n",
         ":4: scenes[1].values.ch/1/fadr: unknown parameter 'ch/1/fadr'"),
        ("channels: [{name: A}]\nscenes:\n  - name: V\n    values:\n      ch/1/fader: 20\n",
         ":5: scenes[1].values.ch/1/fader: ch/1/fader: 20 is out of range"),
        ("channels: [{name: A}]\nscenes:\n  - name: V\n    fade: 61\n",
         ":4: scenes[1].fade: expected seconds 0..60"),
        ("channels: [{name: A}]\nscenes:\n  - name: V\n    scope: [fader]\n",
         ":4: scenes[1].scope: unknown kind 'fader'; known: input, eq"),
        ("channels: [{name: A}]\nscenes:\n  - {name: V}\n  - {name: V}\n",
         ":4: scenes[2].name: a scene called 'V' is already defined above"),
        ("channels: [{name: A}]\nscenes:\n  - {name: V, colour: red}\n",
         ":3: scenes[1].colour: unknown key; expected one of name, fade, scope, values"),
        ("channels: [{name: A}]\nsafes: {channels: [ch/2]}\n",
         ":2: safes.channels: 'ch/2' is not a strip of this mix (ch/1..ch/1"),
        ("channels: [{name: A}]\nsafes:\n  kinds: [names, fadrs]\n",
         ":3: safes.kinds: unknown kind 'fadrs'"),
    ],
)
def test_bad_scenes_safes_and_versions_name_file_line_and_key(tmp_path: Path, text: str,
                                                              needle: str) -> None:
    path = _write(tmp_path, text, "song.yaml")
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value).startswith(f"{path}:")
    assert needle in str(info.value)


def test_scenes_and_safes_load_from_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 2\nbuses: 1\nchannels: [{name: A}, {name: B}]\n"
                  "safes: {kinds: [names], channels: [ch/2, master]}\n"
                  "scenes:\n  - name: Verse\n    fade: 2.0\n    scope: [faders, mutes]\n"
                  "    values: {ch/1/fader: -6.0, ch/01/name: Kick, ch/2/send/1: -inf}\n",
                  "song.yaml")
    s = load_session(path)
    assert s.safes == Safes(frozenset({"names"}), frozenset({"ch/2", "master"}))
    (verse,) = s.scenes
    assert verse.name == "Verse" and verse.fade == 2.0
    assert verse.scope == frozenset({"faders", "mutes"})
    assert verse.values == {"ch/1/fader": -6.0, "ch/1/name": "Kick",
                            "ch/2/send/1": float("-inf")}
    assert math.isinf(float(verse.values["ch/2/send/1"]))
