"""Session files: which channels exist, what feeds them, and where every knob sits.

A session is YAML (loaded safely, with line numbers for errors)::

    version: 2             # the session format (none: 1, migrated when the daemon loads it)
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
    safes: {kinds: [names], channels: [ch/2, master]}   # what no scene recall touches
    scenes:
      - name: Verse
        fade: 2.0                     # optional crossfade, seconds (0..60)
        scope: [faders, mutes]        # optional: the kinds it recalls (default: all)
        values: {ch/1/fader: -6, ch/1/name: Kick}
    reference: {wav: refs/record.wav} # a reference track, outside the mix (or {input: [5, 6]})

Every mistake raises SessionError naming the file, line and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surfaced.mix import params
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer, Value
from surfaced.mix.scenes import MAX_FADE_S, Safes, Scene, check_kinds, check_strips
from surfaced.session import generators, routing
from surfaced.session.wavio import WavError, read_wav
from surfaced.yamlmarks import YamlError, line_of, load_file

DEFAULT_RATE = 48000
DEFAULT_BUSES = 4
DEFAULT_DURATION = 16.0
FORMAT_VERSION = 2  # 1: no version key (no scenes or safes yet); 2: version, scenes, safes
BUILTIN_PATH = "<built-in session>"
_TOP_KEYS = ("version", "rate", "buses", "duration", "channels", "params", "safes", "scenes",
             "reference", "connections", "outputs")
_SCENE_KEYS = ("name", "fade", "scope", "values")
_SAFES_KEYS = ("kinds", "channels")


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
    version: int = FORMAT_VERSION  # the format the file was written in (1: to be migrated)
    rate: int = DEFAULT_RATE
    buses: int = DEFAULT_BUSES
    duration: float = DEFAULT_DURATION
    channels: list[ChannelConfig] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)  # full path -> value
    scenes: list[Scene] = field(default_factory=list)
    safes: Safes = field(default_factory=Safes)
    reference: Source | None = None  # the reference track (surfaced.assist.reference)
    # JACK connections by port key (ch/1, ch/2/L, master/R, ...; surfaced.session.routing):
    # replaced whole, never edited in place, when the user connects by hand (read from
    # any thread); the revision counts those replacements, so the document saves them.
    connections: dict[str, list[str]] = field(default_factory=dict)
    connections_revision: int = 0
    outputs: dict[str, tuple[int, int]] = field(default_factory=dict)  # PortAudio channel map

    @property
    def has_file(self) -> bool:
        """True when the session came from a file (not the built-in one or one made in code)."""
        return self.path != BUILTIN_PATH and Path(self.path).is_file()

    def inputs_needed(self) -> int:
        """How many device inputs the channels fed from inputs need (0: none)."""
        sources = [c.source for c in self.channels]
        if self.reference is not None:
            sources.append(self.reference)
        return max((s.first_input + (2 if s.stereo else 1) for s in sources
                    if s.kind == "input"), default=0)

    def make_mixer(self, max_block: int = 512) -> Mixer:
        """A mix sized for this session, with everything applied and settled."""
        mixer = Mixer(Engine(len(self.channels), self.buses, self.rate, max_block))
        self.apply(mixer)
        mixer.engine.settle()  # every glide at its target, also for a session that sets nothing
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
        """Load sources and set every parameter of this session on `mixer` (not an undo step).

        Only before the audio runs (`make_mixer`): a session may set more values
        than one transaction holds (the core's queue, 8191 changes: about 220
        full strips), so they go in pieces of at most that many, each settled
        (applied by the core at once) before the next is queued. The sources
        share that queue, so they are settled first.
        """
        engine = mixer.engine
        base = Path(self.path).parent
        made: dict[str, np.ndarray] = {}  # channels fed by one generator share its loop
        for i, ch in enumerate(self.channels, start=1):
            src = ch.source
            if src.kind == "generator":
                if src.name not in made:
                    made[src.name] = generators.generate(src.name, self.rate)
                    made[src.name].flags.writeable = False  # the core reads it from now on
                engine.set_source_buffer(i, made[src.name])
            elif src.kind == "wav":
                engine.set_source_buffer(i, self._wav(base / src.name, i))
            elif src.kind == "input":
                engine.set_source_input(i, src.first_input, src.stereo)
        engine.settle()  # the sources went through the same queue
        values = list(self.values().items())
        piece = engine.queue_capacity
        for start in range(0, len(values), piece):
            mixer.apply(values[start:start + piece], "session", step=False)
            engine.settle()

    def _wav(self, path: Path, channel: int) -> np.ndarray:
        try:
            # Resampled to the session's rate if need be; mono or stereo only.
            data, _rate = read_wav(path, rate=self.rate, max_channels=2)
        except (WavError, OSError) as exc:
            raise SessionError(f"{self.path}: channel {channel}: {exc}") from None
        # A mono file's one column of a (frames, 1) array is contiguous: no copy.
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
    s.version = _version(data, path)
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
    s.safes = _parse_safes(path, data, n, s.buses)
    s.scenes = _parse_scenes(path, data, n, s.buses)
    if data.get("reference") is not None:
        s.reference = _parse_reference(path, data)
    try:
        s.connections = routing.parse_connections(path, data, s)
        s.outputs = routing.parse_outputs(path, data, s.buses)
    except routing.RoutingError as exc:
        raise SessionError(str(exc)) from None
    return s


def _parse_reference(path: str, data: dict[Any, Any]) -> Source:
    """The top level's `reference:` (the reference track): a source like a channel's."""
    raw = data["reference"]
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _fail(path, data, "reference", "reference",
                    "expected one of {wav: FILE}, {input: N or [L, R]}, {generator: NAME}")
    try:
        return _parse_source(path, {"source": raw}, "reference")
    except SessionError as exc:  # its messages name the key as the file has it
        raise SessionError(str(exc).replace("reference.source", "reference")) from None


def _version(data: Any, path: str) -> int:
    """The format version of a file: 1 when it has none (the format before scenes)."""
    v = data.get("version", 1)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _fail(path, data, "version", "version",
                    f"expected a session format number (1..{FORMAT_VERSION}), got {v!r}")
    if v > FORMAT_VERSION:
        raise _fail(path, data, "version", "version",
                    f"session format {v} is newer than this surfaced reads (up to "
                    f"{FORMAT_VERSION}); upgrade surfaced")
    return v


def _parse_safes(path: str, data: Any, channels: int, buses: int) -> Safes:
    raw = data.get("safes")
    if raw is None:
        return Safes()
    if not isinstance(raw, dict):
        raise _fail(path, data, "safes", "safes",
                    "expected {kinds: [KIND, ...], channels: [STRIP, ...]}")
    for key in raw:
        if key not in _SAFES_KEYS:
            raise _fail(path, raw, key, f"safes.{key}",
                        f"unknown key; expected one of {', '.join(_SAFES_KEYS)}")
    out = Safes()
    for key in _SAFES_KEYS:
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise _fail(path, raw, key, f"safes.{key}", "expected a list")
        try:
            if key == "kinds":
                out.kinds = check_kinds(items, f"safes.{key}")
            else:
                out.strips = check_strips(items, channels, buses, f"safes.{key}")
        except ValueError as exc:
            raise _fail(path, raw, key, f"safes.{key}",
                        str(exc).split(": ", 1)[1]) from None
    return out


def _parse_scenes(path: str, data: Any, channels: int, buses: int) -> list[Scene]:
    raw = data.get("scenes")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, data, "scenes", "scenes",
                    "expected a list of scenes ({name, values, fade, scope})")
    scenes: list[Scene] = []
    for i, item in enumerate(raw):
        where = f"scenes[{i + 1}]"
        if not isinstance(item, dict):
            raise _fail(path, raw, i, where, "expected a mapping with name and values")
        for key in item:
            if key not in _SCENE_KEYS:
                raise _fail(path, item, key, f"{where}.{key}",
                            f"unknown key; expected one of {', '.join(_SCENE_KEYS)}")
        name = item.get("name")
        if isinstance(name, bool) or not isinstance(name, str | int | float) \
                or not str(name).strip():
            raise _fail(path, item, "name", f"{where}.name", "expected the scene's name")
        name = str(name)
        if any(sc.name == name for sc in scenes):
            raise _fail(path, item, "name", f"{where}.name",
                        f"a scene called {name!r} is already defined above")
        fade = item.get("fade", 0.0)
        if isinstance(fade, bool) or not isinstance(fade, int | float) \
                or not 0.0 <= fade <= MAX_FADE_S:
            raise _fail(path, item, "fade", f"{where}.fade",
                        f"expected seconds 0..{MAX_FADE_S:g}, got {fade!r}")
        scope = item.get("scope")
        kinds: frozenset[str] | None = None
        if scope is not None:
            if not isinstance(scope, list):
                raise _fail(path, item, "scope", f"{where}.scope", "expected a list of kinds")
            try:
                kinds = check_kinds(scope, f"{where}.scope")
            except ValueError as exc:
                raise _fail(path, item, "scope", f"{where}.scope",
                            str(exc).split(": ", 1)[1]) from None
        values = item.get("values", {}) or {}
        if not isinstance(values, dict):
            raise _fail(path, item, "values", f"{where}.values",
                        "expected a mapping of path: value")
        scenes.append(Scene(name, _scene_values(path, values, f"{where}.values", channels,
                                                buses), float(fade), kinds))
    return scenes


def _scene_values(path: str, raw: dict[Any, Any], where: str, channels: int,
                  buses: int) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for key, value in raw.items():
        try:
            spec = params.spec_for(str(key), channels, buses)
            if spec.path in out:
                raise params.ParamError(f"{key}: {spec.path} is given twice")
            if spec.is_text:
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise params.ParamError(f"{spec.path}: expected text")
                out[spec.path] = str(value)
            else:
                out[spec.path] = spec.validate(value)
        except params.ParamError as exc:
            raise _fail(path, raw, key, f"{where}.{key}", str(exc)) from None
    return out


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
    s = Session(path=BUILTIN_PATH, rate=rate)
    for name, gen in generators.DEFAULT_SESSION_CHANNELS:
        mix = dict(_DEFAULT_MIX.get(gen, {"fader": -10.0}))
        mix.setdefault("hpf/on", 1.0 if gen not in ("kick", "bass") else 0.0)
        s.channels.append(ChannelConfig(name, Source("generator", gen), mix))
    s.params["master/fader"] = -2.0
    return s
