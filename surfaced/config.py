"""The daemon's configuration file (~/.config/surfaced/config.yaml).

Everything has a default, so no file at all is a valid configuration: the
built-in session, the default audio device, OSC on 127.0.0.1:9000 (UDP and
TCP) and every shipped mapping that finds its device. The documented example
is docs/examples/config.yaml.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surfaced.link.settings import LinkConfig, parse_broker
from surfaced.transports.midi import APIS as MIDI_APIS
from surfaced.transports.osc import OscListenerConfig
from surfaced.yamlmarks import YamlError, line_of, load_file


def _shipped_mappings() -> Path:
    """mappings/ of the source tree, or where a wheel install put them."""
    here = Path(__file__).resolve().parent.parent / "mappings"
    return here if here.is_dir() else Path(sys.prefix) / "share" / "surfaced" / "mappings"


SHIPPED_MAPPINGS = _shipped_mappings()
_TOP = ("session", "audio", "midi", "osc", "x32", "mdns", "mappings", "feedback_rate", "autosave",
        "change_log", "web", "link", "log_level")


LOG_LEVELS = ("debug", "info", "warning", "error")
# auto: surfaced's own JACK client when a JACK server answers at start and no
# audio.device is named, PortAudio otherwise; jack: always the JACK client
# (headless clock until a server appears); portaudio: never the JACK client
# (PortAudio's own JACK host API still works).
AUDIO_BACKENDS = ("auto", "jack", "portaudio")


class ConfigError(ValueError):
    """A configuration file that cannot be used; names file, line and key."""


def config_home() -> Path:
    """$XDG_CONFIG_HOME/surfaced, or ~/.config/surfaced."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "surfaced"


@dataclass(frozen=True)
class X32Config:
    """The X32-compatible namespace's UDP listener (surfaced.surfaces.x32)."""

    host: str = "127.0.0.1"
    port: int = 10023  # the console's own port, where X32 remote apps look


@dataclass(frozen=True)
class WebConfig:
    """The browser surface (surfaced.surfaces.web, docs/browser.md)."""

    enabled: bool = True
    host: str = "127.0.0.1"  # 0.0.0.0 lets phones on the network in: read docs/browser.md first
    port: int = 8080
    artists: dict[str, int] = field(default_factory=dict)  # name -> the aux bus of their cue mix
    tokens: dict[str, str] = field(default_factory=dict)  # engineer | artist name | bus/N -> token


@dataclass
class Config:
    """The daemon's settings, with their defaults."""

    path: str = "<defaults>"
    session: str | None = None
    audio_device: str | int | None = None
    block: int = 256
    headless: bool = False
    audio_backend: str = "auto"  # auto | jack | portaudio (see AUDIO_BACKENDS)
    jack_client: str = "surfaced"  # the JACK client's name (audio and JACK MIDI ports)
    jack_server: str | None = None  # None: $JACK_DEFAULT_SERVER, else the default server
    midi_api: str | None = None
    osc: list[OscListenerConfig] = field(default_factory=lambda: [
        OscListenerConfig("udp", "127.0.0.1", 9000),
        OscListenerConfig("tcp", "127.0.0.1", 9000, "size"),
    ])
    x32: X32Config | None = field(default_factory=X32Config)  # None: turned off
    web: WebConfig = field(default_factory=WebConfig)
    mdns: bool = True  # announce OSC listeners that are not loopback-only
    name: str | None = None  # how apps list surfaced; None: "surfaced on HOSTNAME"
    mapping_dirs: list[Path] = field(default_factory=list)
    enable: list[str] | None = None  # mapping names to use; None = all
    feedback_rate: float = 60.0
    link: LinkConfig | None = None  # the mix link to other daemons (docs/link.md); None: off
    autosave_interval: float = 1.0  # seconds between autosaves while the mix changes
    autosave_keep: int = 5  # autosaves kept beside the session as backups
    change_log_max_bytes: int = 4 * 1024 * 1024  # NAME.log is rotated past this size
    change_log_keep: int = 2  # rotated change logs kept (NAME.log.1, ...)
    log_level: str | None = None  # debug, info, warning, error; None: info for `run`

    def mapping_folders(self) -> list[Path]:
        """Where mapping files are looked for, in order (a later folder's file wins)."""
        return [SHIPPED_MAPPINGS, config_home() / "mappings", *self.mapping_dirs]

    def available_mappings(self) -> dict[str, Path]:
        """Every mapping file by name; a user's file replaces a shipped one of the same name."""
        found: dict[str, Path] = {}
        for d in self.mapping_folders():
            if d.is_dir():
                for f in sorted(d.glob("*.yaml")):
                    found[f.stem] = f
        return found

    def mapping_files(self) -> list[Path]:
        """The mapping files to use, in order."""
        found = self.available_mappings()
        names = self.enable if self.enable is not None else sorted(found)
        return [found[n] for n in names if n in found]

    def missing_mappings(self) -> list[str]:
        """Names in `enable` that no mapping file has (a typo, or a file not there yet)."""
        found = self.available_mappings()
        return [n for n in self.enable or [] if n not in found]


def _fail(path: str, container: Any, key: Any, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}:{line_of(container, key)}: {where}: {msg}")


def _section(path: str, data: Any, key: str, known: tuple[str, ...]) -> Any:
    """A sub-mapping of the file, with its keys checked."""
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise _fail(path, data, key, key, f"expected a mapping ({', '.join(known)})")
    for k in section:
        if k not in known:
            raise _fail(path, section, k, f"{key}.{k}",
                        f"unknown setting; expected one of {', '.join(known)}")
    return section


def _bool(path: str, data: Any, key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _fail(path, data, key, where, f"expected true or false, got {value!r}")
    return value


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
    audio = _section(name, data, "audio", ("device", "block", "headless", "backend",
                                            "jack_client", "jack_server"))
    cfg.audio_device = audio.get("device")
    if cfg.audio_device is not None and not isinstance(cfg.audio_device, str | int):
        raise _fail(name, audio, "device", "audio.device", "expected a device name or index")
    block = audio.get("block", 256)
    if not isinstance(block, int) or isinstance(block, bool) or not 16 <= block <= 4096:
        raise _fail(name, audio, "block", "audio.block", "expected frames 16..4096")
    cfg.block = block
    cfg.headless = _bool(name, audio, "headless", "audio.headless")
    backend = audio.get("backend", "auto")
    if backend not in AUDIO_BACKENDS:
        raise _fail(name, audio, "backend", "audio.backend",
                    f"expected one of {', '.join(AUDIO_BACKENDS)}, got {backend!r}")
    cfg.audio_backend = backend
    client = audio.get("jack_client", cfg.jack_client)
    if not isinstance(client, str) or not 1 <= len(client.encode()) <= 63 or ":" in client:
        raise _fail(name, audio, "jack_client", "audio.jack_client",
                    "expected a JACK client name: 1..63 bytes, no ':'")
    cfg.jack_client = client
    server = audio.get("jack_server")
    if server is not None and (not isinstance(server, str) or not server):
        raise _fail(name, audio, "jack_server", "audio.jack_server",
                    "expected a JACK server name (or leave it out)")
    cfg.jack_server = server
    midi = _section(name, data, "midi", ("api", "poll_ms"))
    api = midi.get("api")
    if api is not None and (not isinstance(api, str) or api.lower() not in MIDI_APIS):
        raise _fail(name, midi, "api", "midi.api",
                    f"expected one of {', '.join(MIDI_APIS)} (or leave it out), got {api!r}")
    cfg.midi_api = api
    # midi.poll_ms set how often JACK MIDI input was polled; input is event-driven
    # now (transports/jack_midi.py). Still accepted, and ignored, so older files load.
    if "osc" in data:
        cfg.osc = []
        listeners = data["osc"] or []
        if not isinstance(listeners, list):
            raise _fail(name, data, "osc", "osc", "expected a list of listeners")
        for i, item in enumerate(listeners):
            where = f"osc[{i + 1}]"
            if not isinstance(item, dict):
                raise _fail(name, listeners, i, where, "expected {protocol, host, port}")
            for key in item:
                if key not in ("protocol", "host", "port", "framing"):
                    raise _fail(name, item, key, f"{where}.{key}",
                                "unknown setting; expected protocol, host, port or framing")
            port = item.get("port", 9000)
            if isinstance(port, bool) or not isinstance(port, int):
                raise _fail(name, item, "port", f"{where}.port", "expected a port number")
            try:
                cfg.osc.append(OscListenerConfig(
                    item.get("protocol", "udp"), str(item.get("host", "127.0.0.1")), port,
                    item.get("framing", "size")))
            except (TypeError, ValueError) as exc:
                raise _fail(name, listeners, i, where, str(exc)) from None
    _load_x32_mdns(name, data, cfg)
    cfg.web = _load_web(name, data)
    cfg.link = _load_link(name, data)
    maps = _section(name, data, "mappings", ("dirs", "enable"))
    dirs = maps.get("dirs") or []
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise _fail(name, maps, "dirs", "mappings.dirs", "expected a list of folders")
    cfg.mapping_dirs = [Path(os.path.expanduser(d)) for d in dirs]
    enable = maps.get("enable")
    names_ok = isinstance(enable, list) and all(isinstance(x, str) for x in enable)
    if enable is not None and not names_ok:
        raise _fail(name, maps, "enable", "mappings.enable", "expected a list of mapping names")
    cfg.enable = enable
    rate = data.get("feedback_rate", 60.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 1 <= rate <= 1000:
        raise _fail(name, data, "feedback_rate", "feedback_rate", "expected 1..1000 per second")
    cfg.feedback_rate = float(rate)
    autosave = _section(name, data, "autosave", ("interval", "keep"))
    cfg.autosave_interval = _number(name, autosave, "interval", "autosave.interval",
                                    cfg.autosave_interval, 0.1, 10.0, "seconds")
    cfg.autosave_keep = int(_number(name, autosave, "keep", "autosave.keep", cfg.autosave_keep,
                                    1, 100, "autosaves", whole=True))
    level = data.get("log_level")
    if level is not None and level not in LOG_LEVELS:
        raise _fail(name, data, "log_level", "log_level",
                    f"expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    cfg.log_level = level
    log = _section(name, data, "change_log", ("max_kb", "keep"))
    cfg.change_log_max_bytes = 1024 * int(_number(
        name, log, "max_kb", "change_log.max_kb", cfg.change_log_max_bytes // 1024, 16,
        1024 * 1024, "KiB", whole=True))
    cfg.change_log_keep = int(_number(name, log, "keep", "change_log.keep", cfg.change_log_keep,
                                      0, 100, "files", whole=True))
    return cfg


def _number(path: str, data: Any, key: str, where: str, default: float, lo: float, hi: float,
            unit: str, whole: bool = False) -> float:
    """A number setting in lo..hi (a whole number when `whole`), or ConfigError."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi \
            or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        raise _fail(path, data, key, where, f"expected {kind} of {unit} {lo:g}..{hi:g}, "
                                            f"got {value!r}")
    return float(value)



def _load_x32_mdns(path: str, data: Any, cfg: Config) -> None:
    """The x32 and mdns sections; `x32: false` (or `enable: false`) turns the namespace off."""
    if data.get("x32") is False:  # `x32: off` must not silently mean "on, with defaults"
        cfg.x32 = None
    elif data.get("x32") is not True:
        x32 = _section(path, data, "x32", ("enable", "host", "port"))
        port = x32.get("port", 10023)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise _fail(path, x32, "port", "x32.port", "expected a port number 0..65535")
        host = x32.get("host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            raise _fail(path, x32, "host", "x32.host", "expected an address (127.0.0.1, 0.0.0.0)")
        enable = _bool(path, x32, "enable", "x32.enable") if "enable" in x32 else True
        cfg.x32 = X32Config(host, port) if enable else None
    mdns = _section(path, data, "mdns", ("enable", "name"))
    cfg.mdns = _bool(path, mdns, "enable", "mdns.enable") if "enable" in mdns else True
    label = mdns.get("name")
    if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > 63):
        raise _fail(path, mdns, "name", "mdns.name", "expected a name of 1..63 characters")
    cfg.name = label


_LINK_KEYS = ("broker", "mix", "id", "username", "password", "password_file", "ca", "cert", "key",
              "keepalive", "exclude")


def _load_link(path: str, data: Any) -> LinkConfig | None:
    """The link section: `link: mqtt://host:1883`, or `link: {broker: ..., ...}`; absent or
    `link: false` (or no link section) leaves the link off."""
    raw = data.get("link")
    if raw is None or raw is False:
        return None
    section = {"broker": raw} if isinstance(raw, str) else _section(path, data, "link",
                                                                        _LINK_KEYS)
    where = data if isinstance(raw, str) else section
    key = "link" if isinstance(raw, str) else "broker"
    if "broker" not in section:
        raise _fail(path, data, "link", "link.broker", "expected the broker's address "
                                                       "(mqtt://host:1883 or mqtts://host:8883)")
    try:
        host, port, tls, user, password = parse_broker(section["broker"])
    except ValueError as exc:
        raise _fail(path, where, key, "link.broker", str(exc)) from None
    texts: dict[str, str | None] = {}
    for k in ("mix", "id", "username", "password", "password_file", "ca", "cert", "key"):
        value = section.get(k)
        if value is not None and (not isinstance(value, str) or not value):
            raise _fail(path, section, k, f"link.{k}", "expected text")
        texts[k] = value
    for k in ("ca", "cert", "key", "password_file"):
        if texts[k] is not None:
            f = Path(os.path.expanduser(str(texts[k])))
            f = f if f.is_absolute() else Path(path).parent / f
            if not f.is_file():
                raise _fail(path, section, k, f"link.{k}", f"no such file: {f}")
            texts[k] = str(f)
    if texts["password_file"] is not None:
        if texts["password"] is not None:
            raise _fail(path, section, "password_file", "link.password_file",
                        "give password or password_file, not both")
        try:
            texts["password"] = Path(str(texts["password_file"])).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(path, section, "password_file", "link.password_file",
                        f"cannot read it: {exc}") from None
    keepalive = section.get("keepalive", 5)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 1 <= keepalive <= 600:
        raise _fail(path, section, "keepalive", "link.keepalive",
                    f"expected a whole number of seconds 1..600, got {keepalive!r}")
    exclude = section.get("exclude", ["*/solo"])
    if not isinstance(exclude, list) or not all(isinstance(e, str) and e for e in exclude):
        raise _fail(path, section, "exclude", "link.exclude", "expected a list of path "
                                                              "patterns (ch/*/solo, ...)")
    try:
        return LinkConfig(host, port, tls or texts["ca"] is not None,
                          mix=texts["mix"] or "main", daemon_id=texts["id"] or "",
                          username=texts["username"] or user,
                          password=texts["password"] or password,
                          ca=texts["ca"], cert=texts["cert"], key=texts["key"],
                          keepalive=keepalive, exclude=tuple(exclude))
    except ValueError as exc:
        raise _fail(path, data, "link", "link", str(exc)) from None


_ARTIST = re.compile(r"^[\w][\w .'-]{0,31}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_~.-]{16,128}$")


def _load_web(path: str, data: Any) -> WebConfig:
    """The web section; `web: false` (or `enabled: false`) turns the page off."""
    if data.get("web") is False:
        return WebConfig(enabled=False)
    if data.get("web") is True:
        return WebConfig()
    web = _section(path, data, "web", ("enabled", "host", "port", "artists", "tokens"))
    enabled = _bool(path, web, "enabled", "web.enabled") if "enabled" in web else True
    host = web.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise _fail(path, web, "host", "web.host", "expected an address (127.0.0.1, 0.0.0.0)")
    port = web.get("port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise _fail(path, web, "port", "web.port", "expected a port number 0..65535")
    artists = web.get("artists") or {}
    if not isinstance(artists, dict):
        raise _fail(path, web, "artists", "web.artists", "expected names and buses "
                                                         "({Drummer: 1, Singer: 2})")
    for who, bus in artists.items():
        if not isinstance(who, str) or not _ARTIST.match(who) or who == "engineer":
            raise _fail(path, artists, who, f"web.artists.{who}", "expected a name of 1..32 "
                        "letters, digits, spaces or .'-")
        if isinstance(bus, bool) or not isinstance(bus, int) or not 1 <= bus <= 64:
            raise _fail(path, artists, who, f"web.artists.{who}", f"expected the number of "
                        f"their aux bus (1, 2, ...), got {bus!r}")
    tokens = web.get("tokens") or {}
    if not isinstance(tokens, dict):
        raise _fail(path, web, "tokens", "web.tokens", "expected roles and tokens "
                                                       "({engineer: ..., Drummer: ...})")
    seen: set[str] = set()
    for role, token in tokens.items():
        bus_role = isinstance(role, str) and re.fullmatch(r"bus/[1-9]\d?", role) is not None
        if role != "engineer" and role not in artists and not bus_role:
            raise _fail(path, tokens, role, f"web.tokens.{role}", "expected engineer, an "
                        "artist named in web.artists, or bus/N")
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise _fail(path, tokens, role, f"web.tokens.{role}", "expected 16..128 letters, "
                        "digits or _-.~ (python3 -c 'import secrets; "
                        "print(secrets.token_urlsafe(18))')")
        if token in seen:
            raise _fail(path, tokens, role, f"web.tokens.{role}", "the same token as another "
                        "role; each role needs its own")
        seen.add(token)
    return WebConfig(enabled, host, port, dict(artists), dict(tokens))
