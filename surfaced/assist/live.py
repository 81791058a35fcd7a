"""Measuring live inputs: the core's per-channel loudness meter over a window.

The core measures a channel's source (native/chanmeter.c: K-weighting,
100 ms step energies, sample and true peak) only while the assistant asks
it to, so it costs nothing the rest of the time. `LiveMeasure` switches the
meters on, collects the steps as they complete (the core keeps the last 32,
3.2 s, so a poll every second or so sees all of them), and, once every
channel has `seconds` of steps, switches them off and returns each
channel's Levels, computed by surfaced.assist.measure exactly as for a file.

It never blocks: `poll()` is called from the daemon's loop and returns None
until the window is complete.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from surfaced._native import lib
from surfaced.assist.measure import Levels, levels
from surfaced.mix.engine import Engine

STEP_S = 0.1
START_GRACE_S = 3.0  # how long a meter request may wait for an audio block to take it


@dataclass
class _Channel:
    seen: int = 0  # steps collected so far
    kms: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    lost: int = 0  # steps the ring had overwritten before a poll came
    peak: float = 0.0
    true_peak: float = 0.0


class LiveMeasure:
    """A measurement of some channels' live sources over `seconds` (see module docstring)."""

    def __init__(self, engine: Engine, channels: list[int], seconds: float,
                 clock: float | None = None) -> None:
        if not channels:
            raise ValueError("nothing to measure")
        if not (math.isfinite(seconds) and 0.4 <= seconds <= 600.0):
            raise ValueError(f"measuring window {seconds!r} s: expected 0.4..600 s")
        self.engine = engine
        self.seconds = seconds
        self.steps = max(4, round(seconds / STEP_S))
        self.started = time.monotonic() if clock is None else clock
        self._ch = {c: _Channel() for c in channels}
        self.done = False
        self._refused = engine.chmeter_refused()
        self._asked = time.monotonic()
        for c in channels:
            engine.chmeter(c, True)

    @property
    def channels(self) -> list[int]:
        """The channels being measured."""
        return list(self._ch)

    def progress(self) -> float:
        """How much of the window is measured (0..1), by the slowest channel."""
        return min(len(s.kms) for s in self._ch.values()) / self.steps

    def poll(self) -> dict[int, Levels] | None:
        """Collect new steps; each channel's Levels once the window is complete, else None."""
        if self.done:
            return None
        for c, st in self._ch.items():
            r = self.engine.chmeter_read(c)
            if r is None:
                # Not metered yet: the request waits in the core's queue for the
                # next audio block. Refused (all slots busy), or still not running
                # long after any block would have taken it: say so.
                refused = self.engine.chmeter_refused() > self._refused
                if not refused and time.monotonic() - self._asked < START_GRACE_S:
                    return None
                self.cancel()
                why = (f"all {lib.SF_CHMETER_SLOTS} of its slots are busy" if refused
                       else f"no audio block took the request within {START_GRACE_S:g} s: "
                            "is the audio running?")
                raise RuntimeError(f"channel {c}: the core's loudness meter is not running "
                                   f"({why})")
            ring = len(r.kms)
            first = max(st.seen, r.steps - ring)
            st.lost += first - st.seen
            need = self.steps - len(st.kms)
            for s in range(first, min(r.steps, first + need)):
                st.kms.append(float(r.kms[s % ring]))
                st.ms.append(float(r.ms[s % ring]))
            st.seen = r.steps
            st.peak, st.true_peak = r.peak, r.true_peak
        if any(len(st.kms) < self.steps for st in self._ch.values()):
            return None
        self.cancel()
        out = {}
        for c, st in self._ch.items():
            kms = np.array(st.kms[: self.steps])
            ms = float(np.mean(st.ms[: self.steps]))
            out[c] = levels(kms, ms, st.peak, st.true_peak, self.steps * STEP_S)
        return out

    def lost_steps(self) -> int:
        """Steps missed because polls came too rarely (0 in a healthy loop)."""
        return sum(st.lost for st in self._ch.values())

    def cancel(self) -> None:
        """Switch the core's meters off (the measurement ends)."""
        if not self.done:
            for c in self._ch:
                self.engine.chmeter(c, False)
            self.done = True
