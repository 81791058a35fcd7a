"""The x32 and mdns sections of the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from surfaced.config import ConfigError, X32Config, load_config


@pytest.mark.parametrize(("text", "x32"), [
    ("", X32Config("127.0.0.1", 10023)),
    ("x32: {host: 0.0.0.0}\n", X32Config("0.0.0.0", 10023)),
    ("x32: {port: 10024}\n", X32Config("127.0.0.1", 10024)),
    ("x32: {enable: false}\n", None),
    ("x32: off\n", None),  # YAML 1.1 false: off, never "on with defaults"
    ("x32: true\n", X32Config("127.0.0.1", 10023)),
])
def test_x32_section(tmp_path: Path, text: str, x32: X32Config | None) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(text or "feedback_rate: 60\n")
    assert load_config(p).x32 == x32


def test_mdns_section(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("mdns: {enable: false, name: FOH rack}\n")
    cfg = load_config(p)
    assert cfg.mdns is False and cfg.name == "FOH rack"
    p.write_text("audio: {block: 256}\n")
    cfg = load_config(p)
    assert cfg.mdns is True and cfg.name is None


@pytest.mark.parametrize(("text", "needle"), [
    ("x32: {port: 70000}\n", ":1: x32.port: expected a port number 0..65535"),
    ("x32:\n  prot: 1\n", ":2: x32.prot: unknown setting"),
    ("x32: {enable: \"yes\"}\n", ":1: x32.enable: expected true or false"),
    ("x32: {host: 3}\n", ":1: x32.host: expected an address"),
    ("x32: [1]\n", ":1: x32: expected a mapping"),
    ("mdns: {enable: 1}\n", ":1: mdns.enable: expected true or false"),
    ("mdns: {name: \"\"}\n", ":1: mdns.name: expected a name of 1..63 characters"),
])
def test_bad_sections_name_file_line_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(p) in str(info.value) and needle in str(info.value)
