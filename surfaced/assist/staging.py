"""Gain staging: a trim per input so each sits at the target level, with headroom.

The trim the assistant proposes for an input is the smaller of two moves:
the one that brings its K-weighted loudness to the target (default -18 LUFS,
the level a -18 dBFS RMS sine reads: "RMS equivalent") and the one that
keeps its true peak under the channel ceiling (default -6 dBTP). A silent
input keeps its trim. Trims go to `ch/N/assist/trim`, summed with the
engineer's own trim in the core, so they sit before the filters and the
compressor, where gain staging belongs.

A bus must never clip: before proposing, the whole mix with the new values
is rendered offline through a twin of the real core (same channels, same
settings, same sources), and the master's true peak and every aux bus's peak
are read from the core's own meters. When one is over its ceiling (default
-1 dBTP), every proposed value of the layer being set is lowered by the
excess, which keeps the balance and clears the bus. (Inputs fed live from
the sound card cannot be rendered: their headroom comes from the measured
master peak instead, see surfaced.assist.desk.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from surfaced.assist.measure import Levels
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer, Value

TRIM_RANGE = (-40.0, 40.0)  # ch/N/assist/trim
LEVEL_RANGE = (-60.0, 20.0)  # ch/N/assist/level
TWIN_BLOCK = 4096


@dataclass(frozen=True)
class Target:
    """Where the assistant stages inputs, and the headroom it keeps."""

    loudness: float = -18.0  # LUFS per input (RMS equivalent)
    peak_ceiling: float = -6.0  # dBTP per input after its trim
    bus_ceiling: float = -1.0  # dBTP on the master, dBFS on an aux bus

    def __post_init__(self) -> None:
        for name in ("loudness", "peak_ceiling", "bus_ceiling"):
            v = getattr(self, name)
            if not (math.isfinite(v) and -60.0 <= v <= 0.0):
                raise ValueError(f"staging target {name} {v!r}: expected -60..0 dB")


def trim_for(levels: Levels, target: Target) -> float | None:
    """The trim (dB, to 0.1 dB) that stages an input measured at `levels`; None if silent."""
    if levels.silent:
        return None
    move = min(target.loudness - levels.loudness, target.peak_ceiling - levels.true_peak)
    return clamp(round(move, 1), TRIM_RANGE)


def clamp(value: float, limits: tuple[float, float]) -> float:
    """`value` kept within limits."""
    return min(limits[1], max(limits[0], value))


@dataclass(frozen=True)
class BusPeaks:
    """What the twin render read on the core's meters (dB; -200 for silence)."""

    master_true_peak: float
    bus_peak: float  # the loudest aux bus
    master_lufs: float

    def excess(self, target: Target) -> float:
        """How far (dB) the loudest bus is over its ceiling (0 when none is)."""
        return max(0.0, self.master_true_peak - target.bus_ceiling,
                   self.bus_peak - target.bus_ceiling)


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0.0 else -200.0


def twin_peaks(sources: Mapping[int, npt.NDArray[np.float32]], values: Mapping[str, Value],
               channels: int, buses: int, rate: int, seconds: float) -> BusPeaks:
    """Render the mix `values` with `sources` offline through a twin core; read its bus peaks.

    `values` is a whole mix (Mixer.snapshot() with changes applied); channels
    without a source play silence. Nothing of the live mix is touched.
    """
    mixer = Mixer(Engine(channels, buses, rate, TWIN_BLOCK))
    for ch, audio in sources.items():
        mixer.engine.set_source_buffer(ch, audio)
    mixer.apply(values, "assistant:twin", step=False)
    mixer.engine.settle()
    total = max(1, round(seconds * rate))
    out = np.zeros((TWIN_BLOCK, 2), dtype=np.float32)
    bus_peak = 0.0
    done = 0
    while done < total:
        n = min(TWIN_BLOCK, total - done)
        mixer.engine.process_into(out if n == TWIN_BLOCK else np.zeros((n, 2), np.float32))
        done += n
        if buses:
            bus_peak = max(bus_peak, *mixer.engine.meters().master.bus_peak)
    m = mixer.engine.meters().master
    lufs = m.integrated_lufs if math.isfinite(m.integrated_lufs) else -200.0
    return BusPeaks(_db(max(m.true_peak_max)), _db(bus_peak), max(-200.0, lufs))


def lower_layer(values: dict[str, float], leaf: str, db: float,
                limits: tuple[float, float]) -> dict[str, float]:
    """Every `ch/N/<leaf>` in `values` lowered by `db` (the bus guard's move)."""
    return {p: clamp(round(v - db, 1), limits) if p.endswith("/" + leaf) else v
            for p, v in values.items()}
