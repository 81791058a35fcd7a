"""The configuration file: defaults, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from surfaced.config import Config, ConfigError, load_config


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    cfg = load_config()
    assert cfg.path == "<defaults>"
    assert all(c.host == "127.0.0.1" for c in cfg.osc)  # private unless configured


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("audoi: {}\n", ":1: audoi: unknown setting"),
        ("audio:\n  block: 3\n", ":2: audio.block: expected frames 16..4096"),
        ("osc:\n  - {protocol: sctp}\n", ":2: osc[1]: OSC protocol must be 'udp' or 'tcp'"),
        ("osc:\n  - {port: 70000}\n", "osc[1]: OSC port 70000 out of range"),
        ("feedback_rate: 0\n", ":1: feedback_rate: expected 1..1000"),
        ("midi: {api: bogus}\n", ":1: midi.api: expected one of jack, alsa"),
        ("audio:\n  headless: \"no\"\n", ":2: audio.headless: expected true or false"),
        ("audio:\n  blok: 64\n", ":2: audio.blok: unknown setting"),
        ("mappings:\n  dirs: /x\n", ":2: mappings.dirs: expected a list of folders"),
        ("osc:\n  - {port: [1]}\n", ":2: osc[1].port: expected a port number"),
        ("osc:\n  - {prot: udp}\n", ":2: osc[1].prot: unknown setting"),
        ("mappings: {enable: mcu}\n", "mappings.enable: expected a list of mapping names"),
        ("audio: [\n", "config.yaml:2:"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(p) in str(info.value) and needle in str(info.value)


def test_user_mapping_replaces_a_shipped_one(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    user = tmp_path / "surfaced" / "mappings"
    user.mkdir(parents=True)
    (user / "generic-cc8.yaml").write_text("# mine\n")
    (user / "my-box.yaml").write_text("# mine too\n")
    files = Config().mapping_files()
    by_name = {f.stem: f for f in files}
    assert by_name["my-box"].parent == user
    assert by_name["generic-cc8"].parent == user
    assert Config(enable=["my-box"]).mapping_files() == [user / "my-box.yaml"]


def test_enabled_names_without_a_file_are_reported() -> None:
    cfg = Config(enable=["mackie-control", "mackie-contrl"])
    assert [f.stem for f in cfg.mapping_files()] == ["mackie-control"]
    assert cfg.missing_mappings() == ["mackie-contrl"]


def test_jack_client_settings(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("audio: {backend: jack, jack_client: desk, jack_server: studio}\n")
    cfg = load_config(f)
    assert (cfg.audio_backend, cfg.jack_client, cfg.jack_server) == ("jack", "desk", "studio")
    assert (Config().audio_backend, Config().jack_client) == ("auto", "surfaced")
    for text, needle in [("audio: {backend: alsa}\n", "audio.backend: expected one of auto"),
                         ("audio: {jack_client: 'a:b'}\n", "audio.jack_client"),
                         ("audio: {jack_client: ''}\n", "audio.jack_client"),
                         ("audio: {jack_server: 3}\n", "audio.jack_server")]:
        f.write_text(text)
        with pytest.raises(ConfigError, match=needle) as err:
            load_config(f)
        assert f"{f}:1:" in str(err.value)
