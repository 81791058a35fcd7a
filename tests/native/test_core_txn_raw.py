"""Raw-binding helpers shared by the test_core_txn*/overflow/monitor tests (no tests here).

They drive the C core through `surfaced._native` directly, so the tests do not
depend on the Python Engine wrapper (written separately from sf_core.h).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from surfaced._native import ffi, lib

RATE = 48000
Change = tuple[int, int, int, int, float, float]  # scope, index, param, sub, value, ramp_ms
CH, BUS, MASTER = lib.SF_SCOPE_CH, lib.SF_SCOPE_BUS, lib.SF_SCOPE_MASTER


class Raw:
    """One engine, its sources kept alive, and numpy-friendly calls."""

    def __init__(self, channels: int, buses: int = 0, max_block: int = 512) -> None:
        ptr = lib.sf_engine_new(channels, buses, float(RATE), max_block)
        assert ptr != ffi.NULL
        self.e = ffi.gc(ptr, lib.sf_engine_free)
        self.channels = channels
        self._keep: list[object] = []  # source buffers: the core reads them in place

    def source(self, ch: int, x: np.ndarray) -> None:
        """Channel ch (0-based) loops x (frames,) or (frames, 2)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._keep.append(x)
        nch = 1 if x.ndim == 1 else 2
        rc = lib.sf_push_source_buffer(self.e, ch, ffi.from_buffer("float[]", x), x.shape[0], nch)
        assert rc == lib.SF_OK

    def set(self, scope: int, index: int, param: int, value: float, sub: int = 0) -> None:
        assert lib.sf_push_param(self.e, scope, index, param, sub, value) == lib.SF_OK

    def push(self, changes: list[Change], txn: int = 0) -> int:
        """sf_push_params with (scope, index, param, sub, value, ramp_ms) tuples."""
        return int(lib.sf_push_params(self.e, batch(changes), len(changes), txn))

    def settle(self) -> None:
        lib.sf_settle(self.e)

    def process(self, n: int, block: int | None = None) -> np.ndarray:
        """n frames of master output (n, 2), in calls of `block` frames."""
        out = np.zeros((n, 2), dtype=np.float32)
        step = block or n
        for start in range(0, n, step):
            m = min(step, n - start)
            view = out[start:start + m]
            assert lib.sf_process(self.e, ffi.NULL, 0, ffi.from_buffer("float[]", view), 2,
                                  m) == lib.SF_OK
        return out

    def meters(self) -> tuple[np.ndarray, np.ndarray, Any]:
        pk = np.zeros(self.channels, dtype=np.float32)
        rms = np.zeros(self.channels, dtype=np.float32)
        m = ffi.new("sf_master_meters *")
        assert lib.sf_read_meters(self.e, ffi.from_buffer("float[]", pk),
                                  ffi.from_buffer("float[]", rms), m) == lib.SF_OK
        return pk, rms, m

    def txn(self) -> Any:
        s = ffi.new("sf_txn_status *")
        assert lib.sf_txn_read(self.e, s) == lib.SF_OK
        return s


def batch(changes: list[Change]) -> Any:
    """An sf_param_change[] from (scope, index, param, sub, value, ramp_ms) tuples."""
    arr = ffi.new("sf_param_change[]", max(1, len(changes)))
    for i, (scope, index, param, sub, value, ramp) in enumerate(changes):
        arr[i].scope, arr[i].index, arr[i].param, arr[i].sub = scope, index, param, sub
        arr[i].value, arr[i].ramp_ms = value, ramp
    return arr


def render(e: Raw, total: int, block: int,
           events: Mapping[int, Callable[[], None]] | None = None) -> np.ndarray:
    """total frames in calls of `block`, cut exactly at the event frames, where the
    event runs first (so every block size applies it at the same frame)."""
    events = events or {}
    marks = sorted(events)
    parts: list[np.ndarray] = []
    done = 0
    while done < total:
        if done in events:
            events[done]()
        nxt = min([m for m in marks if m > done] + [total])
        n = min(block, nxt - done)
        parts.append(e.process(n))
        done += n
    return np.concatenate(parts)


def db(x: np.ndarray | float) -> np.ndarray:
    return 20 * np.log10(np.maximum(np.abs(np.asarray(x, dtype=np.float64)), 1e-30))
