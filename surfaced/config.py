"""The daemon's configuration file (~/.config/surfaced/config.yaml).

Everything has a default, so no file at all is a valid configuration: the
built-in session, the default audio device, OSC on 127.0.0.1:9000 (UDP and
TCP) and every shipped mapping that finds its device. The documented example
is docs/examples/config.yaml.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surfaced.transports.osc import OscListenerConfig
from surfaced.yamlmarks import YamlError, line_of, load_file


def _shipped_mappings() -> Path:
    """mappings/ of the source tree, or where a wheel install put them."""
    here = Path(__file__).resolve().parent.parent / "mappings"
    return here if here.is_dir() else Path(sys.prefix) / "share" / "surfaced" / "mappings"


SHIPPED_MAPPINGS = _shipped_mappings()
_TOP = ("session", "audio", "midi", "osc", "mappings", "feedback_rate")


class ConfigError(ValueError):
    """A configuration file that cannot be used; names file, line and key."""


def config_home() -> Path:
    """$XDG_CONFIG_HOME/surfaced, or ~/.config/surfaced."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "surfaced"


@dataclass
class Config:
    """The daemon's settings, with their defaults."""

    path: str = "<defaults>"
    session: str | None = None
    audio_device: str | int | None = None
    block: int = 256
    headless: bool = False
    midi_api: str | None = None
    midi_poll_ms: float = 0.25  # JACK input polling period (see transports/midi.py)
    osc: list[OscListenerConfig] = field(default_factory=lambda: [
        OscListenerConfig("udp", "127.0.0.1", 9000),
        OscListenerConfig("tcp", "127.0.0.1", 9000, "size"),
    ])
    mapping_dirs: list[Path] = field(default_factory=list)
    enable: list[str] | None = None  # mapping names to use; None = all
    feedback_rate: float = 60.0

    def mapping_files(self) -> list[Path]:
        """Mapping files in search order; a user's file replaces a shipped one of the same name."""
        found: dict[str, Path] = {}
        for d in [SHIPPED_MAPPINGS, config_home() / "mappings", *self.mapping_dirs]:
            if d.is_dir():
                for f in sorted(d.glob("*.yaml")):
                    found[f.stem] = f
        names = self.enable if self.enable is not None else sorted(found)
        return [found[n] for n in names if n in found]


def _fail(path: str, container: Any, key: Any, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}:{line_of(container, key)}: {where}: {msg}")


def load_config(path: str | Path | None = None) -> Config:
    """Load the configuration (default: config_home()/config.yaml if it exists)."""
    p = Path(path) if path is not None else config_home() / "config.yaml"
    if path is None and not p.exists():
        return Config()
    try:
        data = load_file(p) or {}
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    name = str(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: expected a mapping of settings")
    cfg = Config(path=name)
    for key in data:
        if key not in _TOP:
            raise _fail(name, data, key, str(key),
                        f"unknown setting; expected one of {', '.join(_TOP)}")
    if data.get("session") is not None:
        s = Path(os.path.expanduser(str(data["session"])))
        cfg.session = str(s if s.is_absolute() else p.parent / s)
    audio = data.get("audio") or {}
    if not isinstance(audio, dict):
        raise _fail(name, data, "audio", "audio", "expected a mapping (device, block, headless)")
    cfg.audio_device = audio.get("device")
    block = audio.get("block", 256)
    if not isinstance(block, int) or isinstance(block, bool) or not 16 <= block <= 4096:
        raise _fail(name, audio, "block", "audio.block", "expected frames 16..4096")
    cfg.block = block
    cfg.headless = bool(audio.get("headless", False))
    midi = data.get("midi") or {}
    if not isinstance(midi, dict):
        raise _fail(name, data, "midi", "midi", "expected a mapping (api)")
    cfg.midi_api = midi.get("api")
    poll = midi.get("poll_ms", cfg.midi_poll_ms)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.05 <= poll <= 10:
        raise _fail(name, midi, "poll_ms", "midi.poll_ms", "expected milliseconds 0.05..10")
    cfg.midi_poll_ms = float(poll)
    if "osc" in data:
        cfg.osc = []
        listeners = data["osc"] or []
        if not isinstance(listeners, list):
            raise _fail(name, data, "osc", "osc", "expected a list of listeners")
        for i, item in enumerate(listeners):
            if not isinstance(item, dict):
                raise _fail(name, listeners, i, f"osc[{i + 1}]", "expected {protocol, host, port}")
            try:
                cfg.osc.append(OscListenerConfig(
                    item.get("protocol", "udp"), str(item.get("host", "127.0.0.1")),
                    int(item.get("port", 9000)), item.get("framing", "size")))
            except (TypeError, ValueError) as exc:
                raise _fail(name, listeners, i, f"osc[{i + 1}]", str(exc)) from None
    maps = data.get("mappings") or {}
    if not isinstance(maps, dict):
        raise _fail(name, data, "mappings", "mappings", "expected a mapping (dirs, enable)")
    cfg.mapping_dirs = [Path(os.path.expanduser(str(d))) for d in maps.get("dirs") or []]
    enable = maps.get("enable")
    names_ok = isinstance(enable, list) and all(isinstance(x, str) for x in enable)
    if enable is not None and not names_ok:
        raise _fail(name, maps, "enable", "mappings.enable", "expected a list of mapping names")
    cfg.enable = enable
    rate = data.get("feedback_rate", 60.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 1 <= rate <= 1000:
        raise _fail(name, data, "feedback_rate", "feedback_rate", "expected 1..1000 per second")
    cfg.feedback_rate = float(rate)
    return cfg
