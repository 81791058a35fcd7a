"""The web surface's pieces that need no network: the `web:` configuration, roles
and tokens, and the page protocol's parser (every malformed input is a
WebProtocolError, never anything else)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.config import ConfigError, WebConfig, load_config
from surfaced.surfaces.web import protocol
from surfaced.surfaces.web.roles import ARTIST, ENGINEER, make_roles

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_web_is_on_by_default_on_loopback() -> None:
    cfg = WebConfig()
    assert (cfg.enabled, cfg.host, cfg.port) == (True, "127.0.0.1", 8080)
    assert cfg.tokens == {} and cfg.artists == {}


def test_web_section_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
web:
  port: 8181
  artists: {Drummer: 1, Singer: 2}
  tokens:
    engineer: abcdefghijklmnop-1234
    Drummer: drummer_token_0123456789
    bus/3: bus.three.token.0123
"""))
    assert cfg.web.port == 8181 and cfg.web.host == "127.0.0.1" and cfg.web.enabled
    assert cfg.web.artists == {"Drummer": 1, "Singer": 2}
    assert cfg.web.tokens["bus/3"] == "bus.three.token.0123"
    assert load_config(write(tmp_path, "web: false\n")).web.enabled is False
    assert load_config(write(tmp_path, "web: {enabled: false}\n")).web.enabled is False


@pytest.mark.parametrize(("text", "where"), [
    ("web: {port: 70000}", ":1: web.port"),
    ("web: {port: '8080'}", ":1: web.port"),
    ("web: {host: ''}", ":1: web.host"),
    ("web: {enabled: 1}", ":1: web.enabled"),
    ("web: {colour: red}", ":1: web.colour"),
    ("web: 5", ":1: web"),
    ("web:\n  artists: {Drummer: 0}", ":2: web.artists.Drummer"),
    ("web:\n  artists: {Drummer: yes}", ":2: web.artists.Drummer"),
    ("web:\n  artists: {engineer: 1}", ":2: web.artists.engineer"),
    ("web:\n  artists: {'a/b': 1}", ":2: web.artists.a/b"),
    ("web:\n  artists: [Drummer]", ":2: web.artists"),
    ("web:\n  tokens: {engineer: short}", ":2: web.tokens.engineer"),
    ("web:\n  tokens: {engineer: 'has spaces in it, sadly'}", ":2: web.tokens.engineer"),
    ("web:\n  tokens: {Bassist: abcdefghijklmnop-1234}", ":2: web.tokens.Bassist"),
    ("web:\n  tokens:\n    engineer: abcdefghijklmnop-1234\n    bus/1: abcdefghijklmnop-1234",
     ":4: web.tokens.bus/1"),
])
def test_web_mistakes_name_file_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text + "\n"))
    assert where in str(exc.value), str(exc.value)


def test_documented_example_shows_the_web_defaults() -> None:
    # The example says it shows the defaults: it must not drift from them.
    assert load_config(ROOT / "docs" / "examples" / "config.yaml").web == WebConfig()


def test_roles_one_engineer_and_one_artist_per_bus() -> None:
    tokens = iter(f"generated-token-{i:04d}" for i in range(100))
    warned: list[str] = []
    book = make_roles(3, {"Drummer": 1, "Singer": 3, "Ghost": 9, "Twin": 1},
                      {"Singer": "singer-token-0123456789", "bus/2": "bus-two-token-01234567",
                       "Nobody": "nobody-token-012345678"},
                      new_token=lambda: next(tokens), warn=warned.append)
    assert [(r.kind, r.name, r.bus) for r in book.roles] == [
        (ENGINEER, "engineer", 0), (ARTIST, "Drummer", 1), (ARTIST, "Bus 2", 2),
        (ARTIST, "Singer", 3)]
    assert book.find("singer-token-0123456789") == book.roles[3]
    assert book.find("bus-two-token-01234567") == book.roles[2]
    assert book.find(book.engineer().token) == book.engineer()
    for wrong in (None, "", "singer-token-012345678", "x" * 1000, "generated-token-9999"):
        assert book.find(wrong) is None
    assert len(warned) == 3  # Ghost's bus 9, Twin's bus taken, Nobody's token
    assert any("Ghost" in w and "bus 9" in w for w in warned)


def test_an_artist_may_set_only_their_own_sends() -> None:
    book = make_roles(2, {"Drummer": 1}, {})
    drummer, engineer = book.artists()[0], book.engineer()
    assert drummer.may_set("ch/7/send/1")
    for path in ("ch/7/send/2", "ch/7/send/1/pre", "ch/7/fader", "ch/7/name", "bus/1/fader",
                 "bus/1/mute", "master/fader", "ch/7/send/11", "ch/1/eq/1/gain"):
        assert not drummer.may_set(path), path
        assert engineer.may_set(path), path
    assert drummer.sees("ch/3/name") and not drummer.sees("ch/3/send/2")
    assert not drummer.may_run("undo") and engineer.may_run("undo")
    assert not engineer.may_run("session/save_as")
    assert set(drummer.paths(2, 2)) == {"ch/1/name", "ch/2/name", "ch/1/send/1", "ch/2/send/1"}
    assert all(engineer.sees(p) for p in engineer.paths(2, 2))


def test_protocol_parses_the_pages_messages() -> None:
    assert protocol.parse('{"t":"set","path":"ch/1/fader","pos":0.5,"id":3}') == \
        protocol.SetMsg("ch/1/fader", pos=0.5, id=3)
    assert protocol.parse('{"t":"set","path":"ch/1/mute","value":true}') == \
        protocol.SetMsg("ch/1/mute", value=1.0)
    assert protocol.parse('{"t":"set","path":"ch/1/name","value":"Kick"}') == \
        protocol.SetMsg("ch/1/name", value="Kick")
    assert protocol.parse('{"t":"touch","path":"ch/1/fader","on":false}') == \
        protocol.TouchMsg("ch/1/fader", False)
    assert protocol.parse('{"t":"cmd","name":"scene/recall","args":["Verse",2]}') == \
        protocol.CmdMsg("scene/recall", ("Verse", 2))
    assert protocol.wire(float("-inf"), 0.0) == [None, 0.0]
    assert protocol.wire("Kick", None) == ["Kick", None]
    with pytest.raises(ValueError):
        protocol.dumps({"x": float("nan")})


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.sampled_from(["t", "path", "pos", "value", "on", "name",
                                                    "args", "id", "x"]), inner, max_size=5),
                 max_leaves=12).map(lambda v: json.dumps(v, allow_nan=True)),
    st.fixed_dictionaries({"t": st.sampled_from(["set", "touch", "cmd"])},
                          optional={"path": st.text(max_size=70), "pos": st.floats(),
                                    "value": st.floats() | st.text(max_size=70) | st.integers(),
                                    "on": st.booleans() | st.integers(), "id": st.integers(),
                                    "name": st.text(max_size=70),
                                    "args": st.lists(st.integers() | st.floats(), max_size=6)})
    .map(lambda v: json.dumps(v, allow_nan=True)),
))
def test_any_text_is_a_message_or_a_protocol_error(text: str) -> None:
    try:
        msg = protocol.parse(text)
    except protocol.WebProtocolError:
        return
    # What gets through is well-formed: finite numbers, bounded texts.
    if isinstance(msg, protocol.SetMsg):
        assert len(msg.path) <= protocol.MAX_PATH
        assert (msg.pos is None) != (msg.value is None)
        if msg.pos is not None:
            assert 0.0 <= msg.pos <= 1.0
        if isinstance(msg.value, float):
            assert msg.value == msg.value and abs(msg.value) != float("inf")
