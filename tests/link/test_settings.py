"""The `link:` section: one line turns the link on; mistakes name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from surfaced.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_off_by_default_and_one_line_turns_it_on(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "feedback_rate: 60\n")).link is None
    assert load_config(write(tmp_path, "link: false\n")).link is None
    link = load_config(write(tmp_path, "link: mqtt://studio-pi\n")).link
    assert link is not None
    assert (link.host, link.port, link.tls, link.mix) == ("studio-pi", 1883, False, "main")
    assert link.daemon_id and link.exclude == ("*/solo",)
    same = load_config(write(tmp_path, "link: {broker: 'mqtt://studio-pi:1883'}\n")).link
    assert same == link


def test_every_setting(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    (tmp_path / "me.crt").write_text("x")
    (tmp_path / "me.key").write_text("x")
    (tmp_path / "pw").write_text("hunter22\n")
    link = load_config(write(tmp_path, """\
link:
  broker: mqtts://broker.example.org
  mix: tour-2027
  username: foh
  password_file: pw
  ca: ca.crt
  cert: me.crt
  key: me.key
  keepalive: 10
  exclude: ["*/solo", "ch/*/name"]
""")).link
    assert link is not None
    assert (link.port, link.tls, link.mix, link.daemon_id) == (8883, True, "tour-2027", "foh")
    assert link.password == "hunter22" and link.ca == str(tmp_path / "ca.crt")
    assert link.exclude == ("*/solo", "ch/*/name") and link.keepalive == 10


@pytest.mark.parametrize(("text", "where"), [
    ("link: http://x\n", "1: link.broker: http://x: the scheme must be mqtt:// or mqtts://"),
    ("link:\n  mix: a\n", "1: link.broker: expected the broker's address"),
    ("link:\n  broker: mqtt://x\n  colour: red\n", "3: link.colour: unknown setting"),
    ("link:\n  broker: mqtt://x\n  ca: nope.crt\n", "3: link.ca: no such file"),
    ("link:\n  broker: mqtt://x\n  keepalive: 0\n", "3: link.keepalive: expected a whole"),
    ("link:\n  broker: mqtt://x\n  mix: a/b\n", "1: link: mix name 'a/b'"),
    ("link:\n  broker: mqtt://x:99999\n", "2: link.broker: mqtt://x:99999: the port"),
])
def test_mistakes_name_the_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert f"config.yaml:{where}" in str(err.value)
