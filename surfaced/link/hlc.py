"""Hybrid logical clock stamps: one order of writes every daemon agrees on.

A stamp is (wall milliseconds, counter, daemon id). The clock follows the
wall clock while it moves forward and counts within a millisecond; when a
stamp arrives from another daemon whose clock runs ahead, the local clock
jumps past it. So a write made after seeing another write always carries the
larger stamp, whatever the two wall clocks say, and two writes made without
seeing each other are still ordered the same way everywhere (by wall time,
then counter, then daemon id). This is Kulkarni et al.'s HLC, kept small.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple


class Stamp(NamedTuple):
    """When a write was made; tuples compare field by field, which is the link's order."""

    wall: int  # milliseconds since the epoch (0: a seed, older than any real write)
    tick: int  # orders writes within one millisecond
    origin: str  # the daemon that made the write

    @property
    def is_seed(self) -> bool:
        """A daemon's starting value, published so late joiners get every parameter."""
        return self.wall == 0

    def __str__(self) -> str:
        return f"{self.wall}.{self.tick}@{self.origin}"


def wall_ms() -> int:
    """The wall clock in whole milliseconds."""
    return time.time_ns() // 1_000_000


class HybridClock:
    """Hands out increasing stamps for one daemon; `observe` every stamp received."""

    def __init__(self, origin: str, wall: Callable[[], int] = wall_ms) -> None:
        self.origin = origin
        self._wall = wall
        self._lock = threading.Lock()
        self._l = 0
        self._c = 0

    def now(self) -> Stamp:
        """A stamp for a write made now, larger than every stamp made or observed before."""
        with self._lock:
            pt = self._wall()
            if pt > self._l:
                self._l, self._c = pt, 0
            else:
                self._c += 1
            return Stamp(self._l, self._c, self.origin)

    def observe(self, stamp: Stamp) -> None:
        """Move past a stamp received from another daemon (seeds carry no time)."""
        if stamp.is_seed:
            return
        with self._lock:
            pt = self._wall()
            new = max(self._l, stamp.wall, pt)
            if new == self._l and new == stamp.wall:
                self._c = max(self._c, stamp.tick) + 1
            elif new == self._l:
                self._c += 1
            elif new == stamp.wall:
                self._c = stamp.tick + 1
            else:
                self._c = 0
            self._l = new
