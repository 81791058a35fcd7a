"""Undo and redo, a gesture at a time.

A step is what a person thinks of as one action:

- a fader ride from touch to release (a motor fader's touch sense, or a
  surface's fake touch), however long it lasts;
- a burst of changes from one control (one source on one path) with no pause
  longer than `gap` (0.5 s): turning an encoder, or an OSC app's slider;
- a transaction: a scene recall, an assistant action, a loaded preset;
- undo and redo themselves, session loads and A/B switches are not steps
  (their changes carry `step=False`).

Undoing a step puts back the value every path had before the step, as one
transaction (one audio block); redo puts back the values after it. A new step
clears what could be redone, as in every editor. Steps from different people
interleave naturally: each (source, path) has its own open gesture.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from surfaced.mix.commands import CommandError
from surfaced.mix.mixer import Change, Mixer, Value

DEFAULT_GAP_S = 0.5
DEFAULT_DEPTH = 1000


@dataclass
class Step:
    """One undoable step: the values before and after, by path."""

    source: str
    key: tuple[str, ...]
    before: dict[str, Value] = field(default_factory=dict)
    after: dict[str, Value] = field(default_factory=dict)
    last: float = 0.0  # monotonic time of its newest change
    closed: bool = False


@dataclass
class _Stacks:
    done: deque[Step]
    undone: list[Step]


class UndoHistory:
    """Records the mixer's changes as steps; `undo` and `redo` walk them."""

    def __init__(self, mixer: Mixer, gap: float = DEFAULT_GAP_S,
                 depth: int = DEFAULT_DEPTH) -> None:
        self.mixer = mixer
        self.gap = gap
        self.depth = depth
        self._lock = threading.Lock()
        self._stacks = _Stacks(deque(maxlen=depth), [])
        self._unsubscribe = mixer.subscribe(self._on_change)

    def close(self) -> None:
        """Stop recording."""
        self._unsubscribe()

    @property
    def depth_kept(self) -> int:
        """Steps that can be undone now."""
        with self._lock:
            return len(self._stacks.done)

    @property
    def redo_depth(self) -> int:
        """Steps that can be redone now."""
        with self._lock:
            return len(self._stacks.undone)

    def _on_change(self, change: Change) -> None:
        if not change.step:
            return
        if change.txn:  # a transaction's changes arrive together: one step, found at once
            key: tuple[str, ...] = ("txn", str(change.txn))
            held = False
        else:
            # Called under the mixer's lock, so touched_by is consistent with the change.
            key = (change.source, change.path)
            held = change.source in self.mixer.touched_by(change.path)
        with self._lock:
            done = self._stacks.done
            self._stacks.undone.clear()
            step = self._open_step(key, change.time, held)
            if step is None:
                step = Step(change.source, key)
                done.append(step)
            step.before.setdefault(change.path, change.old)
            step.after[change.path] = change.value
            step.last = change.time

    def _open_step(self, key: tuple[str, ...], now: float, held: bool) -> Step | None:
        """The step this change continues, if any (newest steps first)."""
        done = self._stacks.done
        if key[0] == "txn":
            return done[-1] if done and done[-1].key == key and not done[-1].closed else None
        for step in reversed(done):
            if step.closed:
                break  # an undo/redo boundary: nothing older is open
            if step.key == key:
                if key[0] == "txn" or held or now - step.last <= self.gap:
                    return step
                return None
        return None

    def undo(self) -> Step:
        """Undo the newest step as one transaction; CommandError when there is none."""
        with self.mixer.lock:
            with self._lock:
                if not self._stacks.done:
                    raise CommandError("nothing to undo")
                step = self._stacks.done.pop()
                step.closed = True
                self._close_all()
            self.mixer.apply(step.before, "undo", step=False)
            with self._lock:
                self._stacks.undone.append(step)
        return step

    def redo(self) -> Step:
        """Redo the newest undone step as one transaction; CommandError when there is none."""
        with self.mixer.lock:
            with self._lock:
                if not self._stacks.undone:
                    raise CommandError("nothing to redo")
                step = self._stacks.undone.pop()
                self._close_all()
            self.mixer.apply(step.after, "redo", step=False)
            with self._lock:
                self._stacks.done.append(step)
        return step

    def _close_all(self) -> None:
        # After an undo or redo a new change always starts a new step.
        for s in self._stacks.done:
            s.closed = True

    def swap(self, other: _Stacks | None) -> _Stacks:
        """Exchange the history for another (A/B keeps one per mix); returns the old one."""
        with self._lock:
            old = self._stacks
            self._stacks = other if other is not None else _Stacks(deque(maxlen=self.depth), [])
            self._close_all()
            return old

    def register(self) -> None:
        """Register `undo` and `redo` on the mixer's commands (replies: paths restored)."""
        self.mixer.commands.register("undo", lambda args, source: (len(self.undo().before),))
        self.mixer.commands.register("redo", lambda args, source: (len(self.redo().after),))
