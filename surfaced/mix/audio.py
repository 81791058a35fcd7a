"""Audio drivers for the engine: live (PortAudio), headless clock and offline render.

All three call the core's one block function, sf_process(). The live stream
and the headless clock run it from a C thread, so no Python runs in the audio
path: a busy interpreter or a garbage collection cannot make audio late.

PortAudio is a process-wide library that only sees the devices (and the JACK
server) present when it was initialised, and its JACK host API cannot be shut
down once its server has gone: stopping or closing such a stream waits ten
minutes for a process cycle that never comes, and terminating asserts. The
functions at the end of the PortAudio section below (acquire, release,
abandon) are how surfaced.mix.audio_supervisor gets around both.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
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
    """Durations of the core's audio blocks, from its 1 us histograms (measure=True).

    The p*_us and max_us figures are wall-clock time; the cpu_* ones the
    audio thread's CPU time, without the time it waited for a CPU (but, on a
    kernel without IRQ_TIME_ACCOUNTING, with the interrupts handled while it
    ran). cpu_over_period counts the blocks whose CPU time passed their
    period, wall_over_period those whose wall-clock time did: a block over
    only in wall-clock time was held up by the machine.
    """

    count: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float
    cpu_p50_us: float
    cpu_p99_us: float
    cpu_p999_us: float
    cpu_max_us: float
    cpu_over_period: int
    wall_over_period: int


def _percentiles(hist_buffer: Any, *quantiles: float) -> list[float]:
    """Upper edges of the first 1 us bins that reach each quantile (0 when empty)."""
    hist = np.frombuffer(hist_buffer, dtype=np.uint64).astype(np.float64)
    total = float(hist.sum())
    if total == 0:
        return [0.0 for _ in quantiles]
    cdf = np.cumsum(hist) / total
    return [float(np.searchsorted(cdf, q) + 1) for q in quantiles]


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
        self._ctx.measure = int(measure or engine.measure_blocks)

    @property
    def callbacks(self) -> int:
        """Blocks processed by this driver so far."""
        return int(self._ctx.callbacks)

    def timing(self) -> CallbackTiming:
        """Percentiles of the block durations recorded so far (measure=True)."""
        ctx = self._ctx
        p50, p99, p999 = _percentiles(ffi.buffer(ctx.timing_hist), 0.5, 0.99, 0.999)
        cpu50, cpu99, cpu999 = _percentiles(ffi.buffer(ctx.cpu_hist), 0.5, 0.99, 0.999)
        return CallbackTiming(int(ctx.timing_count), p50, p99, p999, ctx.timing_max_ns / 1000.0,
                              cpu50, cpu99, cpu999, ctx.cpu_max_ns / 1000.0,
                              int(ctx.cpu_over_period), int(ctx.wall_over_period))


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
        out_map: list[int] | None = None,
    ) -> None:
        import sounddevice as sd

        if out_map is not None:
            # A channel map (output_map): device output c carries out_map[c].
            if not 0 < len(out_map) <= lib.SF_MAX_ROUTED:
                raise ValueError(f"a channel map names 1..{lib.SF_MAX_ROUTED} device outputs")
            out_channels = len(out_map)
        super().__init__(engine, in_channels, out_channels, measure)
        if out_map is not None:
            self._ctx.routed = 1
            for c, src in enumerate(out_map):
                self._ctx.out_src[c] = src
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
        self._released = False
        dev = self._stream.device
        info = sd.query_devices(dev[1] if isinstance(dev, tuple | list) else dev)
        #: PortAudio's name for the host API the stream runs on ("ALSA", JACK_HOST_API, ...)
        self.host_api = str(sd.query_hostapis(info["hostapi"])["name"])

    @property
    def on_jack(self) -> bool:
        """True when the stream runs through PortAudio's JACK host API."""
        return self.host_api == JACK_HOST_API

    @property
    def running(self) -> bool:
        """PortAudio still runs the stream: False once it stopped by itself (the JACK
        server went away or closed our client, the device failed) or was stopped."""
        if self._released:
            return False
        try:
            return bool(self._stream.active)
        except Exception:  # PortAudio no longer knows the stream: it is not running
            return False

    def start(self) -> None:
        """Start the audio callbacks."""
        self._stream.start()

    def stop(self) -> None:
        """Stop and close the stream (waits for the last callback).

        A stream whose JACK server went away is let go of instead (see
        release_dead): stopping it the ordinary way would hang.
        """
        if self._released:
            return
        if self.on_jack and not self._stream.stopped and not self.running:
            self.release_dead()
            return
        self._released = True
        with contextlib.suppress(Exception):
            self._stream.stop()
        self._stream.close()

    def release_dead(self, timeout: float = 2.0) -> bool:
        """Let go of a stream that stopped by itself; leave PortAudio released.

        After this no callback of this stream runs again, and PortAudio is not
        initialised (acquire_portaudio() before opening anything). A JACK
        stream is never stopped or closed (PortAudio would wait ten minutes
        for its dead server, then assert): the whole PortAudio instance is
        left behind and a fresh copy takes its place. Any other stream is
        aborted and closed from a helper thread; if that does not finish
        within `timeout` seconds, its PortAudio is left behind the same way.
        Returns False when no fresh PortAudio could be loaded, so no device
        can be opened again in this process.
        """
        if self._released:
            return True
        self._released = True
        # PortAudio's memory may still point at our C userdata; keep it alive.
        _left_behind_streams.append(self)
        if self.on_jack or not _stop_in_time(self._stream, timeout):
            return abandon_portaudio()
        release_portaudio()
        return True

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


def output_map(outputs: dict[str, tuple[int, int]], buses: int) -> list[int] | None:
    """A session's `outputs:` (strip -> 0-based device outputs) as the channel map of
    LiveStream: one SF_OUT_* source per device output, silence where nothing goes.
    The master stays on outputs 1/2 unless the session puts it (or a bus) elsewhere
    there. None when the session names no outputs (the plain stereo stream)."""
    if not outputs:
        return None
    places = dict(outputs)
    taken = {c for pair in places.values() for c in pair}
    if "master" not in places and not taken & {0, 1}:
        places["master"] = (0, 1)
    width = max(2, 1 + max(c for pair in places.values() for c in pair))
    out = [lib.SF_OUT_NONE] * width
    for strip, (left, right) in places.items():
        if strip == "master":
            base = lib.SF_OUT_MASTER_L
        else:
            b = int(strip.split("/")[1]) - 1
            if b >= buses:
                continue
            base = lib.SF_OUT_BUS + 2 * b
        out[left], out[right] = base, base + 1
    return out


def default_output_available() -> bool:
    """True when PortAudio has a default output device."""
    try:
        import sounddevice as sd

        sd.query_devices(kind="output")
    except Exception:
        return False
    return True


# ------------------------------------------------------------ PortAudio itself
#
# sounddevice keeps PortAudio in two module globals: `_lib` (the loaded
# library) and `_initialized` (its Pa_Initialize count). These functions are
# the only place that touches them besides LiveStream.

JACK_HOST_API = "JACK Audio Connection Kit"

# Copies of PortAudio left behind with a dead JACK client or a stream that
# would not stop, and the streams in them. They stay loaded for the life of
# the process: libjack still holds a pointer to the old copy's error
# callback, and unloading it (cffi does, when its library object is
# collected) crashes the next JACK call.
_left_behind_libs: list[Any] = []
_left_behind_streams: list[LiveStream] = []
_portaudio_file: list[str] = []  # the library sounddevice loaded first, once found


def acquire_portaudio() -> None:
    """Initialise PortAudio if it is not: it then sees the devices and the JACK
    server (JACK_DEFAULT_SERVER) present now."""
    import sounddevice as sd

    if not sd._initialized:
        sd._initialize()


def release_portaudio() -> None:
    """Terminate PortAudio completely (closing any stream still open in it).

    Only while its JACK server, if it has one, is still up: PortAudio's JACK
    host API asserts and aborts the process when it terminates after its
    server has gone (abandon_portaudio() is for that case).
    """
    import sounddevice as sd

    while sd._initialized:
        sd._terminate()


def abandon_portaudio() -> bool:
    """Leave the current PortAudio behind, untouched, and give sounddevice a fresh,
    uninitialised copy of the library.

    Two loads of one file would share their state, so the fresh one is loaded
    from a private copy of the file (deleted again once loaded). Returns False
    when that cannot be done (the library's file is not known on this
    platform, or the temporary folder does not allow loading code); then
    sounddevice is left unusable rather than pointed at the broken copy.
    """
    import sounddevice as sd

    fresh: Any = None
    src = _loaded_portaudio_file()
    if src is not None:
        try:
            with tempfile.TemporaryDirectory(prefix="surfaced-portaudio-") as tmp:
                copy = Path(tmp) / Path(src).name
                shutil.copyfile(src, copy)
                fresh = sd._ffi.dlopen(str(copy))
        except OSError:
            fresh = None
    _left_behind_libs.append(sd._lib)
    if fresh is not None:
        sd._lib = fresh
    # Either way, nothing may call the old copy again: not even sounddevice's
    # exit handler, whose Pa_Terminate would hang on the dead stream.
    sd._initialized = 0
    if fresh is None:
        sd._lib = _UnusablePortAudio()
    return fresh is not None


def _loaded_portaudio_file() -> str | None:
    """The file of the PortAudio library sounddevice loaded at import (Linux)."""
    if not _portaudio_file:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    path = line.split(maxsplit=5)[-1].strip()
                    # Our own copies are deleted once loaded: "(deleted)".
                    if Path(path).name.startswith("libportaudio") and path.startswith("/") \
                            and not path.endswith("(deleted)"):
                        _portaudio_file.append(path)
                        break
        except OSError:
            return None
    return _portaudio_file[0] if _portaudio_file else None


class _UnusablePortAudio:
    """Stands in for PortAudio when no fresh copy could be loaded: every call fails."""

    def __getattr__(self, name: str) -> Any:
        raise OSError("PortAudio is unusable in this process after its device went away; "
                      "restart surfaced to use an audio device again")


def _stop_in_time(stream: Any, timeout: float) -> bool:
    """Abort and close a PortAudio stream from a helper thread; False if that did not
    finish within `timeout` seconds (a hung driver must not hang the caller)."""
    import sounddevice as sd

    # Call the copy the stream lives in, even if sounddevice moves on meanwhile.
    pa, ptr = sd._lib, stream._ptr
    done = threading.Event()

    def work() -> None:
        pa.Pa_AbortStream(ptr)  # a negative error is fine: it is already stopped
        pa.Pa_CloseStream(ptr)
        done.set()

    threading.Thread(target=work, name="surfaced-audio-release", daemon=True).start()
    return done.wait(timeout)


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
