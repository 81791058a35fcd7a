"""The mixer: the single owner of the mix state.

Every value of the mix (levels, switches, filters, names) lives here, and
nowhere else: the engine below is a stateless face of the audio core. Every
change, from a surface, the CLI, a session load, a scene recall, undo, A/B,
OSC or a peer, goes through `Mixer.set` (one value) or `Mixer.apply` (a
transaction applied in one audio block), which validates it, queues it to the
core, records who made it and notifies each subscriber once. Knowing the
source of each change is what lets surfaces suppress echoes, lets a touched
motor fader keep its position, lets undo group a gesture and gives the change
log its meaning.

Commands (save, scene recall, undo, A/B, ...) are registered here by the
parts that own them (`mixer.commands`), so every surface, OSC peer and the
CLI reach them the same way.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from surfaced.mix import params
from surfaced.mix.commands import Commands
from surfaced.mix.engine import Engine
from surfaced.mix.params import ParamError, ParamSpec

log = logging.getLogger(__name__)

Value = float | str


@dataclass(frozen=True)
class Change:
    """One applied change: what, from which value to which, by whom, in which order.

    `txn` is the transaction the change was part of (0: a single change); all
    changes of one transaction reached the core in the same audio block.
    `step` is False for changes undo must not record as a step of their own
    (a session load, an A/B switch, undo and redo themselves).
    """

    path: str
    value: Value
    old: Value
    source: str
    seq: int
    time: float  # the mixer's clock: time.monotonic() unless a test gives its own
    wall: float  # time.time(), for the change log
    txn: int = 0
    step: bool = True


Subscriber = Callable[[Change], None]


class Mixer:
    """The mix state over an Engine: validated, recorded, broadcast changes.

    Thread-safe: transports call `set` from their own threads. Subscribers are
    called synchronously, in change order, under the mixer's lock, so they must
    be quick (queue the work; surfaces coalesce feedback and send later).
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock  # stamps Change.time (undo's gesture gaps); tests pass their own
        self.commands = Commands()
        self._lock = threading.RLock()
        self._values: dict[str, Value] = {}
        self._specs: dict[str, ParamSpec] = {}  # any spelling of a path -> its spec
        self._subscribers: list[Subscriber] = []
        self._touch: dict[str, set[str]] = {}
        self._seq = 0
        self._txn = 0
        self.subscriber_errors = 0

    @property
    def channels(self) -> int:
        """Number of channels in the mix."""
        return self.engine.channels

    @property
    def buses(self) -> int:
        """Number of aux buses in the mix."""
        return self.engine.buses

    @property
    def seq(self) -> int:
        """Sequence number of the last change (0: none yet); grows by one per change."""
        return self._seq

    @property
    def lock(self) -> threading.RLock:
        """The lock every change is made under (hold it to read a consistent mix)."""
        return self._lock

    def spec(self, path: str) -> ParamSpec:
        """The spec of a path (raises ParamError for unknown paths)."""
        spec = self._specs.get(path)
        if spec is None:
            spec = self.engine.spec(path)
            if len(self._specs) < 65536:  # bounded: paths come from the outside too
                self._specs[path] = spec
        return spec

    def get(self, path: str) -> Value:
        """The current value of a parameter (its default until something set it)."""
        spec = self.spec(path)
        return self._current(spec)

    def _current(self, spec: ParamSpec) -> Value:
        value = self._values.get(spec.path)
        if value is None:
            return "" if spec.is_text else spec.default
        return value

    def position(self, path: str) -> float:
        """The current value as a normalised 0..1 position (through its taper)."""
        spec = self.spec(path)
        value = self.get(spec.path)
        return 0.0 if isinstance(value, str) else spec.to_position(value)

    def paths(self) -> list[str]:
        """Every parameter path of this mix, names included, in a stable order."""
        names = [f"ch/{c}/name" for c in range(1, self.channels + 1)]
        return names + params.all_paths(self.channels, self.buses)

    def snapshot(self) -> dict[str, Value]:
        """The whole mix: every path (names included) with its current value."""
        with self._lock:
            return {path: self.get(path) for path in self.paths()}

    # ------------------------------------------------------------ changes
    def set(self, path: str, value: object, source: str) -> Change | None:
        """Apply one change from `source`; None when the value did not change.

        Raises ParamError (unknown path, bad value) and QueueFullError; the
        mix is untouched when it raises.
        """
        changes = self.apply({path: value}, source, _single=True)
        return changes[0] if changes else None

    def set_position(self, path: str, position: float, source: str) -> Change | None:
        """Apply a normalised 0..1 position from a surface, through the taper.

        A position that is not a finite number within 0..1 raises ParamError and
        changes nothing: it is never clamped, since a wire that sends 7 or NaN
        is broken and must be told, not obeyed.
        """
        spec = self.spec(path)
        if not isinstance(position, int | float) or isinstance(position, bool) \
                or not math.isfinite(position):
            raise ParamError(f"{spec.path}: position {position!r} is not a number 0..1")
        if not 0.0 <= position <= 1.0:
            raise ParamError(f"{spec.path}: position {position!r} is out of range 0..1")
        return self.set(spec.path, spec.from_position(position), source)

    def apply(self, values: Mapping[str, object] | Iterable[tuple[str, object]], source: str,
              *, ramp_ms: float = 0.0, step: bool = True, _single: bool = False) -> list[Change]:
        """Apply many changes as one transaction: all reach the core in one audio block.

        Every value is validated before anything is applied, so a bad one
        leaves the mix untouched (ParamError names it). `ramp_ms` > 0 makes
        faders, pans and sends travel to their new values over that time (a
        scene crossfade); other parameters change at once. Values equal to
        the current ones are skipped. Returns the changes made, in order.
        """
        items = values.items() if isinstance(values, Mapping) else values
        with self._lock:
            todo: list[tuple[ParamSpec, Value, Value]] = []
            seen: dict[str, int] = {}
            for path, value in items:
                spec = self.spec(path)
                old = self._current(spec)
                # The current value is valid, so an equal one needs no checking:
                # most of a scene recall is values that do not change.
                new = old if _same(old, value) else _validate(spec, value)
                if spec.path in seen:  # the last value given for a path wins
                    todo[seen[spec.path]] = (spec, new, todo[seen[spec.path]][2])
                    continue
                seen[spec.path] = len(todo)
                todo.append((spec, new, old))
            todo = [t for t in todo if not _same(t[2], t[1])]
            if not todo:
                return []
            txn = 0
            if not _single:
                self._txn += 1
                txn = self._txn
            numeric = self._core_values(todo)
            if numeric:
                self.engine.push(numeric, ramp_ms=ramp_ms, txn=txn)
            now, wall = self.clock(), time.time()
            changes: list[Change] = []
            for spec, new, old in todo:
                self._values[spec.path] = new
                self._seq += 1
                changes.append(Change(spec.path, new, old, source, self._seq, now, wall, txn,
                                      step))
            for change in changes:
                self._notify(change)
            return changes

    def _core_values(self, todo: list[tuple[ParamSpec, Value, Value]]) -> list[
            tuple[ParamSpec, float]]:
        """What the core gets for these changes: numeric values as they are, except the
        summed stages (trim, fader, pan), which get the engineer's value plus the
        assistant's offset beneath it (params.assist_pair), once per stage."""
        new = {spec.path: value for spec, value, _old in todo}
        out: list[tuple[ParamSpec, float]] = []
        summed: set[str] = set()
        for spec, value, _old in todo:
            if spec.is_text:
                continue
            pair = params.assist_pair(spec)
            if pair is None:
                out.append((spec, float(value)))
                continue
            user = pair[0]
            if user in summed:
                continue
            summed.add(user)
            u, a = (float(new[p] if p in new else self.get(p)) for p in pair)
            out.append((self.spec(user), params.core_sum(user, u, a)))
        return out

    def _notify(self, change: Change) -> None:
        for fn in list(self._subscribers):
            try:
                fn(change)
            except Exception:  # one broken subscriber must not break the mix
                self.subscriber_errors += 1
                log.exception("subscriber failed on %s", change.path)

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn` with every change from now on; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    # ------------------------------------------------------------- touch
    def touch(self, path: str, source: str, touched: bool) -> None:
        """Record that `source` holds (or let go of) the control for `path`."""
        with self._lock:
            holders = self._touch.setdefault(self.spec(path).path, set())
            if touched:
                holders.add(source)
            else:
                holders.discard(source)

    def touched_by(self, path: str) -> frozenset[str]:
        """Which sources hold the control for `path` now."""
        with self._lock:
            return frozenset(self._touch.get(path, ()))

    def touched(self) -> dict[str, frozenset[str]]:
        """Every path held now, with who holds it (a copy: the link reads it to claim faders)."""
        with self._lock:
            return {path: frozenset(h) for path, h in self._touch.items() if h}

    def release_all(self, source: str) -> None:
        """Forget every touch of `source` (it went offline)."""
        with self._lock:
            for holders in self._touch.values():
                holders.discard(source)


MAX_TEXT = 64  # characters of a name: a scribble strip shows 7-12; feedback must fit a datagram


def _validate(spec: ParamSpec, value: object) -> Value:
    if spec.is_text:
        if not isinstance(value, str):
            raise ParamError(f"{spec.path}: expected text, got {type(value).__name__}")
        if len(value) > MAX_TEXT:
            raise ParamError(f"{spec.path}: text of {len(value)} characters is too long; "
                             f"at most {MAX_TEXT}")
        return value
    return spec.validate(value)


def _same(old: object, new: object) -> bool:
    """Equal in type and value, -0.0 and 0.0 told apart (a saved mix loads bit for bit)."""
    if type(old) is not type(new) or old != new:
        return False
    if isinstance(old, float) and isinstance(new, float):
        return math.copysign(1.0, old) == math.copysign(1.0, new)
    return True
