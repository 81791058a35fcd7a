"""Session files: which channels exist, what feeds them, and where every knob sits.

A session is YAML (loaded safely, with line numbers for errors)::

    rate: 48000            # optional, Hz
    buses: 4               # aux buses (0..16), optional
    duration: 16           # seconds, what `surfaced render` renders by default
    channels:
      - name: Kick
        source: {generator: kick}     # or {wav: drums/kick.wav} or {input: 1}
        fader: -6                     # any ch/N/... parameter, by its leaf
        comp: {on: 1, threshold: -20, ratio: 4}
        eq: {on: 1, "2": {freq: 400, gain: -3}}
      - name: Keys
        source: {input: [3, 4]}       # a stereo pair of device inputs (1-based)
    params:                           # any parameter by its full path
      master/fader: -3
      bus/1/fader: 0

Every mistake raises SessionError naming the file, line and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surfaced.mix import params
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.scenes import Safes, Scene
from surfaced.session import generators
from surfaced.session.wavio import WavError, read_wav
from surfaced.yamlmarks import YamlError, line_of, load_file

DEFAULT_RATE = 48000
DEFAULT_BUSES = 4
DEFAULT_DURATION = 16.0
_TOP_KEYS = ("rate", "buses", "duration", "channels", "params")


class SessionError(ValueError):
    """A session file that cannot be used: says file, line, key and what was expected."""


@dataclass(frozen=True)
class Source:
    """What feeds a channel: a generator, a WAV file, device inputs, or nothing."""

    kind: str  # "generator" | "wav" | "input" | "none"
    name: str = ""  # generator name or WAV path
    first_input: int = 0  # 0-based device input
    stereo: bool = False


@dataclass
class ChannelConfig:
    """One channel of a session."""

    name: str
    source: Source
    params: dict[str, float] = field(default_factory=dict)  # leaf -> value


@dataclass
class Session:
    """A loaded, validated session."""

    path: str
    rate: int = DEFAULT_RATE
    buses: int = DEFAULT_BUSES
    duration: float = DEFAULT_DURATION
    channels: list[ChannelConfig] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)  # full path -> value
    scenes: list[Scene] = field(default_factory=list)
    safes: Safes = field(default_factory=Safes)

    def inputs_needed(self) -> int:
        """How many device inputs the channels fed from inputs need (0: none)."""
        return max((c.source.first_input + (2 if c.source.stereo else 1)
                    for c in self.channels if c.source.kind == "input"), default=0)

    def make_mixer(self, max_block: int = 512) -> Mixer:
        """A mix sized for this session, with everything applied and settled."""
        mixer = Mixer(Engine(len(self.channels), self.buses, self.rate, max_block))
        self.apply(mixer)
        mixer.engine.settle()
        return mixer

    def values(self) -> dict[str, float | str]:
        """Every value this session sets, by full path (names included)."""
        out: dict[str, float | str] = {}
        for i, ch in enumerate(self.channels, start=1):
            out[f"ch/{i}/name"] = ch.name
            for leaf, value in ch.params.items():
                out[f"ch/{i}/{leaf}"] = value
        out.update(self.params)
        return out

    def apply(self, mixer: Mixer) -> None:
        """Load sources and set every parameter of this session on `mixer` (not an undo step)."""
        engine = mixer.engine
        base = Path(self.path).parent
        for i, ch in enumerate(self.channels, start=1):
            src = ch.source
            if src.kind == "generator":
                engine.set_source_buffer(i, generators.generate(src.name, self.rate))
            elif src.kind == "wav":
                engine.set_source_buffer(i, self._wav(base / src.name, i))
            elif src.kind == "input":
                engine.set_source_input(i, src.first_input, src.stereo)
        mixer.apply(self.values(), "session", step=False)

    def _wav(self, path: Path, channel: int) -> np.ndarray:
        try:
            data, rate = read_wav(path)
        except (WavError, OSError) as exc:
            raise SessionError(f"{self.path}: channel {channel}: {exc}") from None
        if rate != self.rate:
            raise SessionError(
                f"{self.path}: channel {channel}: {path} is {rate} Hz but the session runs at "
                f"{self.rate} Hz; resample the file or set 'rate: {rate}'"
            )
        if data.shape[1] > 2:
            raise SessionError(f"{self.path}: channel {channel}: {path} has {data.shape[1]} "
                               "channels; only mono and stereo files can feed a channel")
        return data[:, 0] if data.shape[1] == 1 else data


def _fail(path: str, container: Any, key: Any, where: str, message: str) -> SessionError:
    return SessionError(f"{path}:{line_of(container, key)}: {where}: {message}")


def _flatten(prefix: str, value: Any, out: dict[str, tuple[Any, Any, Any]], parent: Any,
             key: Any) -> None:
    """Nested maps (comp: {on: 1}) to leaf paths (comp/on), keeping where each came from."""
    if isinstance(value, dict):
        for k, v in value.items():
            # YAML 1.1 reads a bare `on:` key as True; in a session it is the leaf "on".
            name = "on" if k is True else str(k)
            _flatten(f"{prefix}/{name}" if prefix else name, v, out, value, k)
    else:
        out[prefix] = (value, parent, key)


def _parse_source(path: str, ch: dict[Any, Any], where: str) -> Source:
    raw = ch.get("source")
    if raw is None or raw == "none":
        return Source("none")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _fail(path, ch, "source", f"{where}.source",
                    "expected one of {generator: NAME}, {wav: FILE}, {input: N or [L, R]}")
    (kind, value), = raw.items()
    if kind == "generator":
        if not isinstance(value, str) or value not in generators.GENERATORS:
            known = ", ".join(sorted(generators.GENERATORS))
            raise _fail(path, raw, kind, f"{where}.source.generator",
                        f"unknown generator {value!r}; known: {known}")
        return Source("generator", str(value))
    if kind == "wav":
        if not isinstance(value, str) or not value:
            raise _fail(path, raw, kind, f"{where}.source.wav", "expected a file path")
        return Source("wav", value)
    if kind == "input":
        ins = value if isinstance(value, list) else [value]
        if (not 1 <= len(ins) <= 2 or not all(isinstance(x, int) and x >= 1 for x in ins)
                or (len(ins) == 2 and ins[1] != ins[0] + 1)):
            raise _fail(path, raw, kind, f"{where}.source.input",
                        "expected an input number (1-based) or a pair [N, N+1]")
        return Source("input", first_input=ins[0] - 1, stereo=len(ins) == 2)
    raise _fail(path, raw, kind, f"{where}.source",
                f"unknown source kind {kind!r}; expected generator, wav or input")


def parse_session(data: Any, path: str) -> Session:
    """Validate parsed YAML as a session (see module docstring for the format)."""
    if not isinstance(data, dict):
        raise SessionError(f"{path}:1: expected a mapping with 'channels:' at the top")
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(path, data, key, str(key),
                        f"unknown key; expected one of {', '.join(_TOP_KEYS)}")
    s = Session(path=path)
    s.rate = _int(data, "rate", DEFAULT_RATE, 8000, 384000, path)
    s.buses = _int(data, "buses", DEFAULT_BUSES, 0, 16, path)
    dur = data.get("duration", DEFAULT_DURATION)
    if isinstance(dur, bool) or not isinstance(dur, int | float) or not 0 < dur <= 24 * 3600:
        raise _fail(path, data, "duration", "duration", "expected seconds, 0 < d <= 86400")
    s.duration = float(dur)
    chans = data.get("channels")
    if not isinstance(chans, list) or not chans:
        raise _fail(path, data, "channels", "channels", "expected a list of at least one channel")
    if len(chans) > 1024:
        raise _fail(path, data, "channels", "channels", "at most 1024 channels")
    n = len(chans)
    for i, ch in enumerate(chans):
        where = f"channels[{i + 1}]"
        if not isinstance(ch, dict):
            raise _fail(path, chans, i, where, "expected a mapping with name and source")
        name = ch.get("name", f"Ch {i + 1}")
        if not isinstance(name, str | int | float):
            raise _fail(path, ch, "name", f"{where}.name", "expected text")
        leaves: dict[str, tuple[Any, Any, Any]] = {}
        for k, v in ch.items():
            if k not in ("name", "source"):
                _flatten(str(k), v, leaves, ch, k)
        cfg = ChannelConfig(str(name), _parse_source(path, ch, where))
        for leaf, (value, parent, key) in leaves.items():
            full = f"ch/{i + 1}/{leaf}"
            try:
                spec = params.spec_for(full, n, s.buses)
                if spec.is_text:
                    raise params.ParamError(f"{full}: set it with 'name:'")
                cfg.params[leaf] = spec.validate(value)
            except params.ParamError as exc:
                raise _fail(path, parent, key, f"{where}.{leaf}", str(exc)) from None
        s.channels.append(cfg)
    raw_params = data.get("params", {}) or {}
    if not isinstance(raw_params, dict):
        raise _fail(path, data, "params", "params", "expected a mapping of path: value")
    for key, value in raw_params.items():
        try:
            spec = params.spec_for(str(key), n, s.buses)
            if spec.is_text:
                raise params.ParamError(f"{key}: names belong under channels[N].name")
            s.params[spec.path] = spec.validate(value)
        except params.ParamError as exc:
            raise _fail(path, raw_params, key, f"params.{key}", str(exc)) from None
    return s


def _int(data: Any, key: str, default: int, lo: int, hi: int, path: str) -> int:
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _fail(path, data, key, key, f"expected a whole number {lo}..{hi}, got {v!r}")
    return v


def load_session(path: str | Path) -> Session:
    """Load and validate a session file; raises SessionError naming file, line and key."""
    try:
        data = load_file(path)
    except YamlError as exc:
        raise SessionError(str(exc)) from None
    return parse_session(data, str(path))


# Levels and pans of the built-in mix: a plausible first balance.
_DEFAULT_MIX: dict[str, dict[str, float]] = {
    "kick": {"fader": -4.0},
    "snare": {"fader": -6.0, "pan": 0.05},
    "hats": {"fader": -12.0, "pan": 0.35},
    "bass": {"fader": -5.0},
    "keys": {"fader": -10.0, "pan": -0.2},
    "pad": {"fader": -14.0},
    "vocal": {"fader": -4.0, "comp/on": 1.0, "comp/threshold": -24.0, "comp/ratio": 3.0},
    "lead": {"fader": -11.0, "pan": -0.4},
}


def default_session(rate: int = DEFAULT_RATE) -> Session:
    """The built-in session of `surfaced run`: 8 channels of synthesized program."""
    s = Session(path="<built-in session>", rate=rate)
    for name, gen in generators.DEFAULT_SESSION_CHANNELS:
        mix = dict(_DEFAULT_MIX.get(gen, {"fader": -10.0}))
        mix.setdefault("hpf/on", 1.0 if gen not in ("kick", "bass") else 0.0)
        s.channels.append(ChannelConfig(name, Source("generator", gen), mix))
    s.params["master/fader"] = -2.0
    return s
