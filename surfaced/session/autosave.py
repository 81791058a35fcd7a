"""Autosave: the mix written beside its session file every second or so while it changes.

The control thread must not feel it (the target: OSC events delayed by at
most 1 ms at p99 while an autosave runs), so the work is split:

- `MixState` keeps a copy of every numeric value in a float64 array, updated
  by a mixer subscriber (one dict look-up and one store per change), so a
  snapshot of the whole mix is one array copy under the mixer's lock, a few
  microseconds even at 64 channels;
- the `AutosaveWorker` thread turns a snapshot into bytes and writes them.
  The values travel as the array's raw bytes (base64 in a JSON document):
  exact to the bit, and encoded by two C calls in microseconds, where
  `json.dumps` of 2500 floats would hold the GIL for a millisecond. The
  parameter paths and each scene are encoded once and reused until they
  change. Writing (write, fsync, rename, fsync of the folder) releases the
  GIL.

An autosave is JSON (`AUTOSAVE_FORMAT`): a header (session file, wall-clock
time, the mixer's change number, the session file's size and mtime it was
based on), the paths, the values, the names, the scenes and the safes. The
last `keep` autosaves are kept as `.NAME.autosave.K.json` (K = 0..keep-1,
reused in turn); recovery picks the newest that reads back whole.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surfaced.mix import params
from surfaced.mix.mixer import Change, Mixer, Value
from surfaced.mix.scenes import KINDS, Safes, Scene, check_kinds, check_strips
from surfaced.session.save import write_atomic

AUTOSAVE_FORMAT = "surfaced-autosave/1"

SceneTuple = tuple[str, float, frozenset[str] | None, dict[str, Value]]


@dataclass(frozen=True)
class Snapshot:
    """The mix document at one moment: values, names, scenes and safes."""

    seq: int  # the mixer's change number
    revision: int  # the scene book's revision
    wall: float  # time.time() when it was taken
    values: np.ndarray  # float64, in MixState.paths order
    names: dict[str, str]
    scenes: tuple[SceneTuple, ...]
    safes: Safes
    connections: dict[str, list[str]] = field(default_factory=dict)  # JACK, by port key

    def mix(self, paths: list[str]) -> dict[str, Value]:
        """Every value by full path, names first (the order Mixer.snapshot uses)."""
        out: dict[str, Value] = dict(self.names)
        out.update(zip(paths, self.values.tolist(), strict=True))
        return out

    def scene_objects(self) -> list[Scene]:
        """The scenes as Scene objects."""
        return [Scene(name, dict(values), fade, scope)
                for name, fade, scope, values in self.scenes]


class MixState:
    """A copy of the mix kept current by a mixer subscriber, cheap to snapshot."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer
        self.paths = params.all_paths(mixer.channels, mixer.buses)
        self._index = {p: i for i, p in enumerate(self.paths)}
        with mixer.lock:  # subscribe and fill in one step: no change slips between
            snap = mixer.snapshot()
            self._values = np.array([snap[p] for p in self.paths], dtype=np.float64)
            self._names = {p: str(v) for p, v in snap.items() if p.endswith("/name")}
            self._unsubscribe = mixer.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        # Runs under the mixer's lock on whichever thread made the change: keep it tiny.
        i = self._index.get(change.path)
        if i is not None:
            self._values[i] = change.value
        elif isinstance(change.value, str):
            self._names[change.path] = change.value

    def snapshot(self, revision: int, scenes: list[Scene], safes: Safes,
                 connections: dict[str, list[str]] | None = None) -> Snapshot:
        """The mix as it is now (a few microseconds: one array copy under the lock).
        `connections` is the session's dict, which is replaced, never changed: kept as is."""
        with self.mixer.lock:
            seq = self.mixer.seq
            values = self._values.copy()
            names = dict(self._names)
        frozen = tuple((s.name, s.fade, s.scope, s.values) for s in scenes)
        return Snapshot(seq, revision, time.time(), values, names, frozen, safes,
                        connections if connections is not None else {})

    def close(self) -> None:
        """Stop following the mixer."""
        self._unsubscribe()


# ------------------------------------------------------------------ encoding
@dataclass
class Encoder:
    """Turns snapshots into autosave bytes, reusing what did not change."""

    paths: list[str]
    channels: int
    buses: int
    _paths_json: bytes = b""
    _scenes: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._paths_json = json.dumps(self.paths).encode()

    def _scene(self, scene: SceneTuple) -> bytes:
        name, fade, scope, values = scene
        key = (name, fade, scope, id(values))
        cached = self._scenes.get(key)
        if cached is None:
            doc = {"name": name, "fade": fade,
                   "scope": None if scope is None else [k for k in KINDS if k in scope],
                   "values": values}
            cached = self._scenes[key] = json.dumps(doc, ensure_ascii=False).encode()
        return cached

    def encode(self, snap: Snapshot, session: str, base: list[int] | None) -> bytes:
        """The autosave document for `snap` (see the module docstring)."""
        scenes = [self._scene(s) for s in snap.scenes]
        live = {(s[0], s[1], s[2], id(s[3])) for s in snap.scenes}
        for key in [k for k in self._scenes if k not in live]:
            del self._scenes[key]  # scenes replaced or deleted: drop their text
        header = {"format": AUTOSAVE_FORMAT, "session": session, "saved": snap.wall,
                  "seq": snap.seq, "revision": snap.revision, "base": base,
                  "channels": self.channels, "buses": self.buses, "pid": os.getpid()}
        safes = {"kinds": [k for k in KINDS if k in snap.safes.kinds],
                 "channels": sorted(snap.safes.strips)}
        raw = base64.b64encode(snap.values.astype("<f8").tobytes())
        return b"".join([
            b'{"header": ', json.dumps(header).encode(),
            b', "paths": ', self._paths_json,
            b', "values": "', raw,
            b'", "names": ', json.dumps(snap.names, ensure_ascii=False).encode(),
            b', "scenes": [', b", ".join(scenes),
            b'], "safes": ', json.dumps(safes).encode(),
            b', "connections": ', json.dumps(snap.connections, ensure_ascii=False).encode(),
            b"}\n"])


class AutosaveError(ValueError):
    """An autosave file that cannot be used (damaged, or for another mix)."""


@dataclass
class Autosave:
    """A decoded autosave."""

    path: Path
    session: str
    saved: float
    seq: int
    base: list[int] | None
    channels: int
    buses: int
    values: dict[str, Value]
    scenes: list[Scene]
    safes: Safes
    connections: dict[str, list[str]] | None = None  # None: an autosave from before them


def decode(data: bytes, path: Path) -> Autosave:
    """Read an autosave back; AutosaveError when it is damaged or not one."""
    try:
        doc = json.loads(data)
        header = doc["header"]
        if header.get("format") != AUTOSAVE_FORMAT:
            raise AutosaveError(f"{path}: not a {AUTOSAVE_FORMAT} file")
        paths = [str(p) for p in doc["paths"]]
        numbers = np.frombuffer(base64.b64decode(doc["values"], validate=True), dtype="<f8")
        if len(numbers) != len(paths):
            raise AutosaveError(f"{path}: {len(numbers)} values for {len(paths)} paths")
        values: dict[str, Value] = {str(k): str(v) for k, v in doc["names"].items()}
        values.update(zip(paths, numbers.tolist(), strict=True))
        scenes = [Scene(str(s["name"]), {str(k): v for k, v in s["values"].items()},
                        float(s["fade"]),
                        None if s["scope"] is None else frozenset(map(str, s["scope"])))
                  for s in doc["scenes"]]
        safes = Safes(frozenset(map(str, doc["safes"]["kinds"])),
                      frozenset(map(str, doc["safes"]["channels"])))
        base = header.get("base")
        raw = doc.get("connections")
        connections = None if raw is None else {
            str(k): [str(p) for p in v] for k, v in raw.items()}
        return Autosave(path, str(header["session"]), float(header["saved"]), int(header["seq"]),
                        None if base is None else [int(x) for x in base],
                        int(header["channels"]), int(header["buses"]), values, scenes, safes,
                        connections)
    except AutosaveError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AutosaveError(f"{path}: damaged autosave ({type(exc).__name__}: {exc})") from None


def check_for(save: Autosave, channels: int, buses: int) -> dict[str, Value]:
    """The autosave's values validated for a mix of this size; AutosaveError if they do not fit."""
    if (save.channels, save.buses) != (channels, buses):
        raise AutosaveError(f"{save.path}: it holds a mix of {save.channels} channels and "
                            f"{save.buses} buses; the session has {channels} and {buses}")
    out: dict[str, Value] = {}
    try:
        for p, v in save.values.items():
            spec = params.spec_for(p, channels, buses)
            out[spec.path] = v if spec.is_text and isinstance(v, str) else spec.validate(v)
        for scene in save.scenes:
            for p, v in scene.values.items():
                spec = params.spec_for(p, channels, buses)
                if not (spec.is_text and isinstance(v, str)):
                    spec.validate(v)
            if scene.scope is not None:
                check_kinds(scene.scope, f"scene {scene.name!r}")
        check_kinds(save.safes.kinds, "safes")
        check_strips(save.safes.strips, channels, buses, "safes")
    except ValueError as exc:  # ParamError is one
        raise AutosaveError(f"{save.path}: {exc}") from None
    return out


# ------------------------------------------------------------------ the worker
@dataclass
class WriteFigures:
    """What the last autosave cost (for the reliability figures and the benchmark)."""

    encode_ms: float = 0.0
    write_ms: float = 0.0
    bytes: int = 0
    count: int = 0


class AutosaveWorker:
    """A thread that runs jobs (encode and write an autosave, flush the change log) in turn.

    `submit` never blocks: a job offered while one is running is refused, and
    the caller offers it again at its next tick (the newest snapshot wins).
    """

    def __init__(self, name: str = "surfaced-autosave") -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1)
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> None:
        """Start the thread."""
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a job waits or runs."""
        return self._busy.is_set()

    def submit(self, job: Callable[[], None]) -> bool:
        """Run `job` on the worker; False (and nothing queued) when it is busy."""
        if self._busy.is_set():
            return False
        self._busy.set()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:  # pragma: no cover - busy guards it
            return False
        return True

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            finally:
                self._busy.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the running job finish, then end the thread."""
        if not self._started:
            return
        deadline = time.monotonic() + timeout
        while self._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            self._jobs.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            return
        self._thread.join(max(0.0, deadline - time.monotonic()))


def write_autosave(path: Path, data: bytes) -> float:
    """Write one autosave atomically; returns the milliseconds it took (SaveError on failure)."""
    t0 = time.perf_counter()
    write_atomic(path, data)
    return (time.perf_counter() - t0) * 1000.0

