"""A/B: two whole mixes held at once, switched instantly, optionally loudness-matched.

The mix being heard is the mixer's; the other one waits here as a snapshot.
A switch stores the heard mix in its slot and applies the other as one
transaction (one audio block). The first switch finds B empty and starts it
as a copy of A, so the engineer can change B and compare. A switch is not an
undo step; instead each mix keeps its own undo history, so an undo after a
switch undoes something done to the mix being heard.

Loudness matching: louder sounds better, so a fair comparison plays both at
the same loudness. The core keeps the master's last 51.1 s of ITU-R
BS.1770-4 gating blocks (400 ms, one every 100 ms) with the monitor trim
taken out and the frame at which each ended (native/gateblocks.c). Nothing
here runs while nobody asks: when a slot's loudness is needed (a switch,
matching, `ab/state`) the blocks since the last read are collected and
given to the slot heard while they played; a block that began before the
switch's transaction could have landed holds the other mix and counts for
neither. A slot's loudness is the gated integration of its blocks over the
last `window` seconds it was heard (absolute gate -70 LUFS, relative gate
-10 LU). With matching on, the louder slot is turned down by the difference
through the core's monitor trim, which sits after the master fader and is
not part of the mix (nothing saved changes); the trim then follows the
loudness once a second (FOLLOW_S), the only time A/B wakes the control loop.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from surfaced._native import lib
from surfaced.mix.commands import CommandError
from surfaced.mix.mixer import Mixer, Value
from surfaced.mix.scenes import mix_without_solo
from surfaced.mix.undo import UndoHistory, _Stacks

SLOTS = ("A", "B")
DEFAULT_WINDOW_S = 10.0
BLOCKS_PER_S = 10  # gating blocks a second (BS.1770-4's 100 ms step)
BLOCK_S = 0.4  # what one gating block covers
ABS_GATE_LUFS = -70.0
REL_GATE_LU = -10.0
# After a switch, blocks count for the new slot once they begin this long
# after the frame read at the switch plus one engine block (the transaction
# lands at the next block at most; the gains' ~10 ms smoothing follows).
SETTLE_S = 0.05
FOLLOW_S = 1.0  # with matching on: how often the trim follows the loudness
# What the core's ring holds (SF_GATE_RING - 1 readable blocks, 51.1 s). A slot's blocks
# are collected at every switch; the heard slot's last `window` seconds are
# always in the ring unless the window is longer, and then they are
# collected every RING_S / 2 even with matching off.
RING_S = (lib.SF_GATE_RING - 1) / BLOCKS_PER_S


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
        n = max(1, int(window * BLOCKS_PER_S))
        self._readings: dict[str, deque[float]] = {s: deque(maxlen=n) for s in SLOTS}
        self._next_block = 0  # the core's number of the next gating block to collect
        self._heard_from = 0  # frame from which a block counts for the heard slot
        self._next_follow = 0.0
        self.switches = 0

    def other(self) -> str:
        """The slot not being heard."""
        return "B" if self.heard == "A" else "A"

    # -------------------------------------------------------------- switch
    def switch(self) -> str:
        """Hear the other mix (one transaction); returns the slot heard now."""
        engine = self.mixer.engine
        with self.mixer.lock:
            with self._lock:
                self._collect()  # what played until now was the slot heard until now
            mine = mix_without_solo(self.mixer)
            target = self._other if self._other is not None else dict(mine)
            self.mixer.apply(target, f"ab:{self.other()}", step=False)
            if self.history is not None:
                self._other_history = self.history.swap(self._other_history)
            settle = engine.max_block + int(SETTLE_S * engine.rate)
            with self._lock:
                self._other = mine
                self.heard = self.other()
                self.switches += 1
                self._heard_from = engine.frames_processed() + settle
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
            self._collect()
            return gated_loudness(list(self._readings[slot]))

    def _collect(self) -> None:
        """Give the core's gating blocks since the last call to the heard slot (hold _lock)."""
        engine = self.mixer.engine
        span = int(BLOCK_S * engine.rate)
        blocks = engine.gate_blocks(self._next_block)
        readings = self._readings[self.heard]
        for b in blocks:
            if b.end_frame - span >= self._heard_from:
                readings.append(b.lufs)
        if blocks:
            self._next_block = blocks[-1].seq + 1

    def due(self) -> float:
        """When `tick` next has work: inf while not matching (nothing to sample)."""
        if self.match or self.window > RING_S:
            return self._next_follow
        return math.inf

    def tick(self, now: float) -> None:
        """With matching on, let the trim follow the loudness (control loop; cheap)."""
        if now < self._next_follow or self.due() == math.inf:
            return
        self._next_follow = now + (FOLLOW_S if self.match else RING_S / 2)
        with self._lock:
            self._collect()
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
