"""The mixer: the single owner of the mix state.

Every change, from a surface, the CLI, a session, OSC or a peer, goes through
`Mixer.set`, which validates it, queues it to the audio core, records who made
it and notifies each subscriber once. Knowing the source of each change is
what lets surfaces suppress echoes, lets a touched motor fader keep its
position, and gives the change log its meaning.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from surfaced.mix.engine import Engine
from surfaced.mix.params import ParamSpec

log = logging.getLogger(__name__)

Value = float | str


@dataclass(frozen=True)
class Change:
    """One applied change: what, to which value, by whom, in which order."""

    path: str
    value: Value
    source: str
    seq: int
    time: float


Subscriber = Callable[[Change], None]


class Mixer:
    """Mix state over an Engine: validated, recorded, broadcast changes.

    Thread-safe: transports call `set` from their own threads. Subscribers are
    called synchronously, in change order, under the mixer's lock, so they must
    be quick (queue the work; surfaces coalesce feedback and send later).
    """

    def __init__(self, engine: Engine, log_size: int = 4096) -> None:
        self.engine = engine
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._touch: dict[str, set[str]] = {}
        self._seq = 0
        self.log: deque[Change] = deque(maxlen=log_size)
        self.subscriber_errors = 0

    @property
    def channels(self) -> int:
        """Number of channels in the mix."""
        return self.engine.channels

    @property
    def buses(self) -> int:
        """Number of aux buses in the mix."""
        return self.engine.buses

    def spec(self, path: str) -> ParamSpec:
        """The spec of a path (raises ParamError for unknown paths)."""
        return self.engine.spec(path)

    def get(self, path: str) -> Value:
        """The current value of a parameter."""
        return self.engine.get(path)

    def position(self, path: str) -> float:
        """The current value as a normalised 0..1 position (through its taper)."""
        spec = self.spec(path)
        value = self.engine.get(path)
        return 0.0 if isinstance(value, str) else spec.to_position(value)

    def set(self, path: str, value: object, source: str) -> Change | None:
        """Apply a change from `source`; None when the value did not change.

        Raises ParamError (unknown path, bad value) and QueueFullError; the
        mix is untouched when it raises.
        """
        with self._lock:
            spec = self.spec(path)
            old = self.engine.get(spec.path)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not spec.is_text and number and _same(old, float(value)):  # type: ignore[arg-type]
                return None
            new = self.engine.set(spec.path, value)
            if new == old and not (isinstance(new, float) and math.isnan(new)):
                return None
            self._seq += 1
            change = Change(spec.path, new, source, self._seq, time.monotonic())
            self.log.append(change)
            for fn in list(self._subscribers):
                try:
                    fn(change)
                except Exception:  # one broken subscriber must not break the mix
                    self.subscriber_errors += 1
                    log.exception("subscriber failed on %s", change.path)
            return change

    def set_position(self, path: str, position: float, source: str) -> Change | None:
        """Apply a normalised 0..1 position from a surface, through the taper."""
        spec = self.spec(path)
        return self.set(spec.path, spec.from_position(position), source)

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

    def release_all(self, source: str) -> None:
        """Forget every touch of `source` (it went offline)."""
        with self._lock:
            for holders in self._touch.values():
                holders.discard(source)


def _same(old: Value, new: float) -> bool:
    return isinstance(old, float) and (old == new or (math.isinf(old) and old == new))
