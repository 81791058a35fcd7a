"""A/B: two whole mixes held at once, switched instantly, optionally loudness-matched.

The mix being heard is the mixer's; the other one waits here as a snapshot.
A switch stores the heard mix in its slot and applies the other as one
transaction (one audio block). The first switch finds B empty and starts it
as a copy of A, so the engineer can change B and compare. A switch is not an
undo step; instead each mix keeps its own undo history, so an undo after a
switch undoes something done to the mix being heard.

Loudness matching: louder sounds better, so a fair comparison plays both at
the same loudness. While a slot is heard, `tick()` samples the master's
momentary loudness (400 ms blocks) ten times a second, which are exactly
the gating blocks of ITU-R BS.1770-4 (75 % overlap); the slot's loudness is
their gated integration over the last `window` seconds (absolute gate
-70 LUFS, relative gate -10 LU). With matching on, the louder slot is
turned down by the difference through the core's monitor trim, which sits
after the master fader and is not part of the mix (nothing saved changes).
"""

from __future__ import annotations

import math
import threading
from collections import deque

from surfaced.mix.commands import CommandError
from surfaced.mix.mixer import Mixer, Value
from surfaced.mix.scenes import mix_without_solo
from surfaced.mix.undo import UndoHistory, _Stacks

SLOTS = ("A", "B")
DEFAULT_WINDOW_S = 10.0
SAMPLE_HZ = 10.0  # momentary loudness readings per second (BS.1770's 100 ms block step)
ABS_GATE_LUFS = -70.0
REL_GATE_LU = -10.0
# The momentary meter integrates 400 ms: the first readings after a switch
# still hold the other mix, and would pull the two loudnesses together.
SKIP_AFTER_SWITCH = 5


def gated_loudness(momentary: list[float]) -> float:
    """BS.1770-4 gated integration of 400 ms block loudnesses (LUFS); -inf when all gated."""
    blocks = [x for x in momentary if x > ABS_GATE_LUFS and math.isfinite(x)]
    if not blocks:
        return float("-inf")

    def mean_lufs(xs: list[float]) -> float:
        energy = sum(10.0 ** ((x + 0.691) / 10.0) for x in xs) / len(xs)
        return -0.691 + 10.0 * math.log10(energy)

    relative = mean_lufs(blocks) + REL_GATE_LU
    kept = [x for x in blocks if x > relative]
    return mean_lufs(kept) if kept else float("-inf")


class ABCompare:
    """Holds the mix not being heard, switches, and matches loudness."""

    def __init__(self, mixer: Mixer, history: UndoHistory | None = None,
                 window: float = DEFAULT_WINDOW_S) -> None:
        self.mixer = mixer
        self.history = history
        self.window = window
        self.heard = "A"
        self.match = False
        self.trim_db = 0.0  # the monitor trim applied now
        self._lock = threading.Lock()
        self._other: dict[str, Value] | None = None  # the mix not heard (None: not made yet)
        self._other_history: _Stacks | None = None
        n = max(1, int(window * SAMPLE_HZ))
        self._readings: dict[str, deque[float]] = {s: deque(maxlen=n) for s in SLOTS}
        self._next_sample = 0.0
        self._skip = 0  # readings still holding the other slot's audio (after a switch)
        self.switches = 0

    def other(self) -> str:
        """The slot not being heard."""
        return "B" if self.heard == "A" else "A"

    # -------------------------------------------------------------- switch
    def switch(self) -> str:
        """Hear the other mix (one transaction); returns the slot heard now."""
        with self.mixer.lock:
            mine = mix_without_solo(self.mixer)
            target = self._other if self._other is not None else dict(mine)
            self.mixer.apply(target, f"ab:{self.other()}", step=False)
            if self.history is not None:
                self._other_history = self.history.swap(self._other_history)
            with self._lock:
                self._other = mine
                self.heard = self.other()
                self.switches += 1
                self._skip = SKIP_AFTER_SWITCH
        self._apply_match()
        return self.heard

    def copy(self) -> str:
        """Make the other slot a copy of the mix heard now; returns the other slot's name."""
        mine = mix_without_solo(self.mixer)  # snapshot() reads under the mixer's lock
        with self._lock:
            self._other = mine
            self._readings[self.other()].clear()
        self._apply_match()
        return self.other()

    # ---------------------------------------------------------- loudness
    def loudness(self, slot: str) -> float:
        """The slot's loudness over the last `window` seconds it was heard (LUFS, -inf: none)."""
        with self._lock:
            return gated_loudness(list(self._readings[slot]))

    def due(self) -> float:
        """When `tick` next samples (the control loop sleeps until then, or a wake)."""
        return self._next_sample

    def tick(self, now: float) -> None:
        """Sample the heard slot's loudness (call from the control loop; cheap)."""
        if now < self._next_sample:
            return
        self._next_sample = now + 1.0 / SAMPLE_HZ
        m = self.mixer.engine.meters().master
        # The meter reads after the monitor trim: take it back out, so a slot's
        # loudness is the mix's own.
        with self._lock:
            if self._skip > 0:
                self._skip -= 1
                return
            self._readings[self.heard].append(m.momentary_lufs - self.trim_db)
        if self.match:
            self._apply_match()

    def set_match(self, on: bool) -> None:
        """Turn loudness matching on or off."""
        self.match = on
        self._apply_match()

    def _apply_match(self) -> None:
        trim = 0.0
        if self.match:
            a, b = self.loudness("A"), self.loudness("B")
            if math.isfinite(a) and math.isfinite(b):
                heard = a if self.heard == "A" else b
                trim = max(-40.0, min(a, b) - heard)  # turn the louder one down
        if abs(trim - self.trim_db) >= 0.05:
            self.mixer.engine.set_monitor_trim(trim)
            self.trim_db = trim

    # ------------------------------------------------------------ commands
    def register(self) -> None:
        """Register ab/* on the mixer's commands."""
        c = self.mixer.commands
        c.register("ab/switch", lambda args, source: (self.switch(),))
        c.register("ab/copy", lambda args, source: (self.copy(),))
        c.register("ab/match", self._cmd_match)
        c.register("ab/state", lambda args, source: self.state())

    def state(self) -> tuple[str, int, float, float, float]:
        """(slot heard, matching on, trim dB, loudness A, loudness B); -200 for no reading."""
        def wire(x: float) -> float:
            return x if math.isfinite(x) else -200.0

        return (self.heard, int(self.match), self.trim_db, wire(self.loudness("A")),
                wire(self.loudness("B")))

    def _cmd_match(self, args: tuple[object, ...], source: str) -> tuple[int]:
        if len(args) != 1 or args[0] not in (0, 1, True, False):
            raise CommandError("ab/match: expected 0 (off) or 1 (on)")
        self.set_match(bool(args[0]))
        return (int(self.match),)
