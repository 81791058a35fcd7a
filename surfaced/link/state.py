"""What one daemon knows of the link: the write behind each value, holds, conflicts.

Pure bookkeeping, no sockets and no mixer, so the rules can be tested alone.

**Whose change wins.** Last writer wins by hybrid logical clock stamp
(surfaced.link.hlc): the write with the larger (wall ms, counter, daemon id)
is the value every daemon ends with, whatever order the writes arrive in.
A write made after seeing another always carries a larger stamp, so a
sequence of moves is never reordered; only writes made without seeing each
other (a partition, two hands at the same moment) are decided by the clock.

**Conflicts.** A write is *overwritten by the rule* when a write that had not
seen it takes its place:

- an arriving write with a smaller stamp than the value held loses; by the
  HLC's property its writer had not seen the held write (else its stamp would
  be larger), so it is a conflict when the two values differ;
- an arriving write with a larger stamp replaces the held one; its ``base``
  (the stamp its writer had last exchanged on the link for that parameter)
  says whether its writer had seen the held write: a base older than the held
  stamp means it had not, and the held write is the one that lost.

Seeds (a daemon's starting values, stamp wall 0) never count as conflicts.

**Holds.** A control a person touches is claimed with a stamp; the earliest
live claim owns the parameter (ties by daemon id), and other daemons refuse
their own local moves of it until it is released.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from surfaced.link.hlc import Stamp
from surfaced.link.wire import Value, Write

CONFLICTS_KEPT = 1000
SEEN_KEPT = 16


@dataclass(frozen=True)
class Held:
    """The value this daemon holds for a parameter and the write it came from."""

    value: Value
    stamp: Stamp
    base: Stamp | None = None
    source: str = ""

    def as_write(self, path: str) -> Write:
        """This value as the write that travels."""
        return Write(path, self.value, self.stamp, self.base, self.source)


@dataclass(frozen=True)
class Conflict:
    """A write overwritten by the rule: `lost` gave way to `won`."""

    path: str
    lost: Write
    won: Write
    wall: float  # when this daemon found it (time.time())

    def describe(self) -> str:
        """One line: when, what, whose change lost to whose."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.wall))
        return (f"{stamp}\t{self.path}\tlost {_show(self.lost)}\twon {_show(self.won)}")


def _show(w: Write) -> str:
    value = repr(w.value) if isinstance(w.value, str) else f"{w.value:g}"
    who = f"{w.stamp.origin}/{w.source}" if w.source else w.stamp.origin
    return f"{value} by {who} at {w.stamp}"


def _same(a: Value, b: Value) -> bool:
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Outcome:
    """What to do with an arriving write."""

    apply: bool = False  # set the mixer to the write's value
    republish: bool = False  # the broker may retain an older write: publish the held one again
    conflict: Conflict | None = None


class LinkState:
    """One daemon's view of the link. Thread-safe (one re-entrant lock)."""

    def __init__(self, me: str, exclude: tuple[str, ...] = ()) -> None:
        self.me = me
        self.exclude = exclude
        self.lock = threading.RLock()
        self.held: dict[str, Held] = {}
        self.exchanged: dict[str, Held] = {}  # the last write exchanged on the link, per path
        self.dirty: set[str] = set()  # held writes of ours (or to re-send) not yet published
        self.claims: dict[str, dict[str, tuple[Stamp, str]]] = {}
        self.online: set[str] = set()
        self.conflicts: deque[Conflict] = deque(maxlen=CONFLICTS_KEPT)
        # Recent stamps per path: MQTT delivers at least once, and a write sent again
        # after a reconnect must not look like a new one.
        self._seen: dict[str, deque[Stamp]] = {}
        self.lost: list[Write] = []  # our unsent writes that lost, to send for the record
        self._conflict_keys: deque[tuple[str, Stamp, Stamp]] = deque(maxlen=CONFLICTS_KEPT)

    def linked(self, path: str) -> bool:
        """Whether a parameter travels on the link (`exclude` patterns keep it local)."""
        return not any(fnmatch.fnmatchcase(path, pat) for pat in self.exclude)

    # ---------------------------------------------------------------- values
    def local(self, path: str, value: Value, stamp: Stamp, source: str) -> None:
        """A change made here: it becomes the held write, to be published."""
        with self.lock:
            self.held[path] = Held(value, stamp, None, source)
            self.dirty.add(path)
            self._seen.setdefault(path, deque(maxlen=SEEN_KEPT)).append(stamp)

    def seed(self, path: str, value: Value) -> None:
        """Offer this daemon's value for a parameter the link has never carried."""
        with self.lock:
            if path not in self.held:
                self.held[path] = Held(value, Stamp(0, 0, self.me), None, "seed")
                self.dirty.add(path)

    def receive(self, w: Write) -> Outcome:
        """Decide what an arriving write does (see the module docstring)."""
        with self.lock:
            h = self.held.get(w.path)
            seen = self._seen.setdefault(w.path, deque(maxlen=SEEN_KEPT))
            if w.stamp in seen:  # our own write coming back, or one already taken
                if h is not None and w.stamp < h.stamp:  # ... though the broker holds it now
                    return Outcome(republish=self._again(w.path, h))
                return Outcome()
            seen.append(w.stamp)
            if h is None or w.stamp > h.stamp:
                conflict = None
                if h is not None and not h.stamp.is_seed and not w.stamp.is_seed \
                        and h.stamp.origin != w.stamp.origin \
                        and (w.base is None or w.base < h.stamp) and not _same(h.value, w.value):
                    conflict = self._conflict(w.path, h.as_write(w.path), w)
                    if h.stamp.origin == self.me and w.path in self.dirty:
                        # Ours, made while cut off, never sent: send it still, so every
                        # daemon sees it lose and names it (the winner is put back).
                        prior = self.exchanged.get(w.path)
                        self.lost.append(replace(h, base=prior.stamp if prior else None)
                                         .as_write(w.path))
                self.held[w.path] = self.exchanged[w.path] = Held(w.value, w.stamp, w.base,
                                                                  w.source)
                self.dirty.discard(w.path)
                return Outcome(apply=True, conflict=conflict)
            conflict = None
            knew = h.base is not None and w.stamp <= h.base  # h's writer had seen as new
            if not h.stamp.is_seed and not w.stamp.is_seed and not knew \
                    and h.stamp.origin != w.stamp.origin and not _same(h.value, w.value):
                conflict = self._conflict(w.path, w, h.as_write(w.path))
            # The broker keeps the write it received last, not the largest: put the
            # winner back so a daemon that joins later starts from it. Its writer does
            # that (or everyone, when its writer is not there).
            return Outcome(republish=self._again(w.path, h), conflict=conflict)

    def _again(self, path: str, h: Held) -> bool:
        """Publish the held write again (its writer does, or everyone when it is gone)."""
        again = path not in self.dirty and (h.stamp.origin == self.me
                                            or h.stamp.origin not in self.online)
        if again:
            self.dirty.add(path)
        return again

    def _conflict(self, path: str, lost: Write, won: Write) -> Conflict | None:
        key = (path, lost.stamp, won.stamp)
        if key in self._conflict_keys:
            return None
        self._conflict_keys.append(key)
        c = Conflict(path, lost, won, time.time())
        self.conflicts.append(c)
        return c

    def to_publish(self, path: str) -> tuple[Write, Held | None] | None:
        """The write to publish for a dirty path and the write it replaces on the link
        (to go back to if the broker refuses it); None: nothing to publish."""
        with self.lock:
            self.dirty.discard(path)
            h = self.held.get(path)
            if h is None:
                return None
            prior = self.exchanged.get(path)
            if h.stamp.origin == self.me and h.base is None and not h.stamp.is_seed:
                # The base is what the link last carried for this path when the write
                # leaves (not when it was made): a daemon cut off for a while sends one
                # write whose base says what it had seen before the cut.
                h = self.held[path] = replace(h, base=prior.stamp if prior else None)
            if prior is not None and prior.stamp == h.stamp:
                prior = None  # a republish: nothing to go back to
            self.exchanged[path] = h
            return h.as_write(path), prior

    def refused(self, path: str, stamp: Stamp, prior: Held | None) -> Held | None:
        """The broker refused our write `stamp` of `path`: go back to `prior` (returned
        when the mixer must follow), unless something newer is held already."""
        with self.lock:
            h = self.held.get(path)
            if h is None or h.stamp != stamp:
                return None
            if prior is None:
                del self.held[path]
                self.exchanged.pop(path, None)
                return None
            self.held[path] = self.exchanged[path] = prior
            return prior

    # ---------------------------------------------------------------- holds
    def claim(self, daemon: str, path: str, stamp: Stamp | None, source: str = "") -> None:
        """Record a daemon's hold on a control (stamp None: released)."""
        with self.lock:
            holders = self.claims.setdefault(path, {})
            if stamp is None:
                holders.pop(daemon, None)
                if not holders:
                    del self.claims[path]
            else:
                holders[daemon] = (stamp, source)

    def owner(self, path: str) -> tuple[str, str] | None:
        """(daemon, source) of the live hold that owns a control, or None."""
        with self.lock:
            holders = self.claims.get(path)
            if not holders:
                return None
            live = [(stamp, daemon, source) for daemon, (stamp, source) in holders.items()
                    if daemon == self.me or daemon in self.online]
            if not live:
                return None
            _stamp, daemon, source = min(live)
            return daemon, source

    def presence(self, daemon: str, online: bool) -> None:
        """A daemon came or went; a daemon gone holds nothing."""
        with self.lock:
            if online:
                self.online.add(daemon)
                return
            self.online.discard(daemon)
            for path in list(self.claims):
                self.claim(daemon, path, None)

    def cut_off(self) -> None:
        """This daemon lost the broker: nobody else's hold can be trusted to end."""
        with self.lock:
            for daemon in list(self.online):
                if daemon != self.me:
                    self.presence(daemon, False)
            for path in list(self.claims):
                for daemon in list(self.claims.get(path, {})):
                    if daemon != self.me:
                        self.claim(daemon, path, None)
