"""Audio drivers for the engine: live (PortAudio), headless clock and offline render.

All three call the core's one block function, sf_process(). The live stream
and the headless clock run it from a C thread, so no Python runs in the audio
path: a busy interpreter or a garbage collection cannot make audio late.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from surfaced._native import ffi, lib
from surfaced.mix.engine import Engine


@dataclass(frozen=True)
class CallbackTiming:
    """Durations of the audio callback, from the core's 1 us histogram."""

    count: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float


class _Driver:
    """What the live stream and the headless clock share: the C userdata."""

    def __init__(self, engine: Engine, in_channels: int, out_channels: int, measure: bool) -> None:
        self.engine = engine
        # The C side keeps a raw pointer to this struct for as long as the
        # stream runs; holding it here keeps cffi from freeing it under it.
        self._ctx: Any = ffi.new("sf_stream_ctx *")
        self._ctx.engine = engine.native
        self._ctx.in_channels = in_channels
        self._ctx.out_channels = out_channels
        self._ctx.measure = int(measure)

    @property
    def callbacks(self) -> int:
        """Blocks processed by this driver so far."""
        return int(self._ctx.callbacks)

    def timing(self) -> CallbackTiming:
        """Percentiles of the callback durations recorded so far (measure=True)."""
        hist = np.frombuffer(ffi.buffer(self._ctx.timing_hist), dtype=np.uint64).astype(np.float64)
        total = float(hist.sum())
        if total == 0:
            return CallbackTiming(0, 0.0, 0.0, 0.0, 0.0)
        cdf = np.cumsum(hist) / total

        def pct(q: float) -> float:
            # Upper edge of the first 1 us bin that reaches the quantile.
            return float(np.searchsorted(cdf, q) + 1)

        return CallbackTiming(int(total), pct(0.5), pct(0.99), pct(0.999),
                              self._ctx.timing_max_ns / 1000.0)


class LiveStream(_Driver):
    """A PortAudio stream (JACK, ALSA, CoreAudio, ...) whose callback is the core's C function.

    sounddevice's public streams only take Python callbacks; its _StreamBase
    also accepts a C function pointer with `wrap_callback=None` (the way
    python-rtmixer uses it). That private use is confined to this class.
    """

    def __init__(
        self,
        engine: Engine,
        device: int | str | None = None,
        block: int = 64,
        in_channels: int = 0,
        out_channels: int = 2,
        measure: bool = False,
        latency: str | float = "low",
    ) -> None:
        import sounddevice as sd

        super().__init__(engine, in_channels, out_channels, measure)
        if block > engine.max_block * 8:
            raise ValueError(f"block {block} is too large for this engine")
        kind = "duplex" if in_channels > 0 else "output"
        channels: int | tuple[int, int] = (
            (in_channels, out_channels) if kind == "duplex" else out_channels
        )
        # Pointers cross from our FFI to sounddevice's: cast through integers.
        cb = sd._ffi.cast("PaStreamCallback *",
                          int(ffi.cast("uintptr_t", ffi.addressof(lib, "sf_pa_callback"))))
        userdata = sd._ffi.cast("void *", int(ffi.cast("uintptr_t", self._ctx)))
        self._stream = sd._StreamBase(
            kind=kind,
            samplerate=engine.rate,
            blocksize=block,
            device=device,
            channels=channels,
            dtype="float32",
            latency=latency,
            callback=cb,
            userdata=userdata,
            wrap_callback=None,
        )
        self.block = block

    def start(self) -> None:
        """Start the audio callbacks."""
        self._stream.start()

    def stop(self) -> None:
        """Stop and close the stream (waits for the last callback)."""
        with contextlib.suppress(Exception):
            self._stream.stop()
        self._stream.close()

    @property
    def device_name(self) -> str:
        """The name of the output device in use."""
        import sounddevice as sd

        dev = self._stream.device
        idx = dev[1] if isinstance(dev, tuple | list) else dev
        return str(sd.query_devices(idx)["name"])

    def __enter__(self) -> LiveStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HeadlessClock(_Driver):
    """Runs the engine in real time with no audio device, from a C thread."""

    def __init__(self, engine: Engine, block: int = 256, measure: bool = False) -> None:
        super().__init__(engine, 0, 2, measure)
        self.block = block
        self._clock: Any = None

    def start(self) -> None:
        """Start the clock thread."""
        self._clock = lib.sf_clock_start(self._ctx, self.block, float(self.engine.rate))
        if self._clock == ffi.NULL:
            raise RuntimeError("could not start the headless clock thread")

    def stop(self) -> None:
        """Stop and join the clock thread."""
        if self._clock is not None:
            lib.sf_clock_stop(self._clock)
            self._clock = None

    @property
    def late(self) -> int:
        """Periods that started more than one period late."""
        return int(lib.sf_clock_late(self._clock)) if self._clock is not None else 0

    def __enter__(self) -> HeadlessClock:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_output_available() -> bool:
    """True when PortAudio has a default output device."""
    try:
        import sounddevice as sd

        sd.query_devices(kind="output")
    except Exception:
        return False
    return True


def render(
    engine: Engine,
    seconds: float,
    path: str | Path | None = None,
    block: int = 512,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Render `seconds` of the mix offline, as fast as the core goes.

    Writes a float32 WAV to `path` when given (block by block, so long
    renders don't sit in memory) and returns the audio only when no path is
    given. `progress` is called with the fraction done.
    """
    total = round(seconds * engine.rate)
    out = np.zeros((block, 2), dtype=np.float32)
    keep: list[np.ndarray] = []
    writer = None
    if path is not None:
        from surfaced.session.wavio import WavWriter  # only renders to a file need it

        writer = WavWriter(path, engine.rate, 2)
    done = 0
    last_report = 0.0
    try:
        while done < total:
            n = min(block, total - done)
            view = out if n == block else np.zeros((n, 2), dtype=np.float32)
            engine.process_into(view)
            if writer is not None:
                writer.write(view)
            else:
                keep.append(view.copy())
            done += n
            now = time.monotonic()
            if progress is not None and (now - last_report > 0.1 or done == total):
                progress(done / total)
                last_report = now
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        return np.zeros((0, 2), dtype=np.float32)
    return np.concatenate(keep) if keep else np.zeros((0, 2), dtype=np.float32)
