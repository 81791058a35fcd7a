"""Shared helpers for the native-core tests: engines fed with known signals."""

from __future__ import annotations

import numpy as np

from surfaced.mix.engine import Engine

RATE = 48000


def engine_with(sources: list[np.ndarray], buses: int = 2, block: int = 512,
                **settings: float) -> Engine:
    """An engine whose channel i+1 loops sources[i]; settings are 'ch/1/fader'=... pairs
    given as keyword arguments with '/' written as '__' (ch__1__fader=-6)."""
    e = Engine(len(sources), buses, RATE, block)
    for i, s in enumerate(sources, start=1):
        e.set_source_buffer(i, s)
    for key, value in settings.items():
        e.set(key.replace("__", "/"), value)
    e.settle()
    return e


def dc(level: float, frames: int = 4800) -> np.ndarray:
    """A constant signal (loops seamlessly)."""
    return np.full(frames, level, dtype=np.float32)


def sine(freq: float, level_db: float, frames: int = RATE, stereo: bool = False) -> np.ndarray:
    """A sine that loops seamlessly when freq * frames / RATE is whole."""
    t = np.arange(frames) / RATE
    x = (10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x], axis=1) if stereo else x


def impulse(frames: int = 16384) -> np.ndarray:
    """A unit impulse followed by silence (loops once per `frames`)."""
    x = np.zeros(frames, dtype=np.float32)
    x[0] = 1.0
    return x
