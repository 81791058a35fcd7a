"""A typed Python API over the native mixing core.

The core runs the audio; this class validates parameter changes against the
vocabulary (surfaced.mix.params), queues them to the core, hands it source
buffers without copies and reads its meters. Buffer pointers are built once
(ffi.from_buffer) and reused: a per-block conversion would cost more than the
block itself at small sizes.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from surfaced._native import ffi, lib
from surfaced.mix import params

FloatArray = npt.NDArray[np.float32]


class NativeError(RuntimeError):
    """A negative return code from the core, with its code and meaning."""

    def __init__(self, code: int, what: str) -> None:
        self.code = code
        super().__init__(f"{what}: {ffi.string(lib.sf_strerror(code)).decode()} (code {code})")


class QueueFullError(NativeError):
    """The parameter queue is full: the audio side is not draining it (stopped?)."""


def _check(code: int, what: str) -> int:
    """Raise a typed NativeError for a negative return code; pass others through."""
    if code >= 0:
        return code
    if code == lib.SF_EQUEUE_FULL:
        raise QueueFullError(code, what)
    raise NativeError(code, what)


@dataclass(frozen=True)
class MasterMeters:
    """The master section's meters: linear peaks/RMS, LUFS and counters."""

    peak: tuple[float, float]
    rms: tuple[float, float]
    true_peak: tuple[float, float]
    true_peak_max: tuple[float, float]
    momentary_lufs: float
    short_term_lufs: float
    integrated_lufs: float
    bus_peak: tuple[float, ...]
    bus_rms: tuple[float, ...]
    clip_count: int
    nonfinite_count: int
    state_resets: int
    xruns: int
    frames: int
    dropped_params: int
    overflow_count: int  # bus/master samples clamped or zeroed (shown as clips too)
    loudness_range_lu: float = 0.0  # EBU Tech 3342 LRA since reset_meters (0 until known)
    # Master overs since the engine was made (like clip_count), as frames
    # counted like `frames`; -1 when there was none. True-peak overs are
    # counted in 10 ms steps of the master (see sf_core.h).
    first_clip_frame: int = -1
    last_clip_frame: int = -1
    tp_over_steps: int = 0
    first_tp_over_frame: int = -1
    last_tp_over_frame: int = -1


@dataclass(frozen=True)
class TxnStatus:
    """The core's record of the last transaction applied (sf_txn_read)."""

    txn: int  # its id (Mixer.apply's Change.txn)
    first_frame: int  # frames processed before the block that applied its first change
    last_frame: int  # ... and its last change: the same block, always
    applied: int  # transactions applied since the engine was made
    split: int  # transactions spread over more than one block: always 0
    block_ns: int  # CLOCK_MONOTONIC ns at which the applying block began


@dataclass(frozen=True)
class GateBlock:
    """One 400 ms gating block of the master (BS.1770-4), before the monitor trim."""

    seq: int  # blocks before it since the engine was made
    end_frame: int  # frames processed at its end (it covers the 400 ms before)
    energy: float  # channel-summed K-weighted mean square, the monitor trim taken out
    trim_db: float  # the monitor trim when it ended

    @property
    def lufs(self) -> float:
        """Its loudness (LUFS; -inf for silence)."""
        return -0.691 + 10.0 * math.log10(self.energy) if self.energy > 0.0 else -math.inf


@dataclass(frozen=True)
class MeterSnapshot:
    """One consistent reading of every meter (taken without tearing)."""

    ch_peak: FloatArray
    ch_rms: FloatArray
    master: MasterMeters


@dataclass(frozen=True)
class ReferenceMeters:
    """The reference track's state and its own meters (before its gain)."""

    source: str  # "none" | "buffer" | "input"
    on: bool  # the switch: the reference is (being faded) in
    heard: float  # crossfade position, 0 the mix .. 1 the reference
    gain_db: float
    momentary_lufs: float  # -200 when silent
    short_term_lufs: float
    integrated_lufs: float
    peak: tuple[float, float]  # linear, since it was set or the meters were reset


@dataclass(frozen=True)
class ChannelLoudness:
    """One channel's loudness measurement in the core (Engine.chmeter_read).

    Step s (100 ms) is at kms[s % len(kms)]: K-weighted mean square, the
    mean of the sides of a stereo source; ms the same without weighting.
    """

    steps: int
    frames: int
    stereo: bool
    kms: FloatArray
    ms: FloatArray
    peak: float  # linear, since switched on
    true_peak: float  # linear, 4x oversampled
    refused: int  # meter requests the core refused (all slots busy), engine-wide


def _frame_or_none(frame: int) -> int:
    """A frame position from the core; UINT64_MAX ("none yet") as -1."""
    return -1 if int(frame) == 0xFFFFFFFFFFFFFFFF else int(frame)


def to_db(x: float) -> float:
    """Linear amplitude to dBFS (-inf for silence)."""
    return float(20.0 * np.log10(x)) if x > 0.0 else float("-inf")


class Engine:
    """One mix: a fixed number of channels and aux buses in the native core.

    Thread safety: `set` and the other producers may be called from any
    thread (a lock serialises them, as the core's queue has one producer);
    `process` must be called from one thread at a time (the audio side).
    """

    def __init__(
        self, channels: int = 8, buses: int = 4, rate: int = 48000, max_block: int = 512
    ) -> None:
        ptr = lib.sf_engine_new(channels, buses, float(rate), max_block)
        if ptr == ffi.NULL:
            raise ValueError(
                f"cannot create an engine with {channels} channels (1..{lib.SF_MAX_CHANNELS}), "
                f"{buses} buses (0..{lib.SF_MAX_BUSES}), {rate} Hz, blocks of {max_block} "
                f"(1..{lib.SF_MAX_BLOCK})"
            )
        self._ptr: Any = ffi.gc(ptr, lib.sf_engine_free)
        self.channels = channels
        self.buses = buses
        self.rate = rate
        self.max_block = max_block
        #: Every driver made for this engine records its blocks' wall-clock and
        #: CPU time (CallbackTiming; `surfaced run --audio-timing`).
        self.measure_blocks = False
        self._lock = threading.Lock()
        # Buffers the core reads from: kept alive here while in use, and for
        # two more blocks after being replaced (the audio side may still be
        # inside a block that started with the old pointer).
        self._sources: dict[int, FloatArray] = {}
        self._retired: list[tuple[int, FloatArray]] = []
        self._capture: FloatArray | None = None
        self._out_cache: tuple[FloatArray, Any] | None = None
        self._m = ffi.new("sf_master_meters *")
        self._last_meters: MeterSnapshot | None = None

    # ---------------------------------------------------------------- params
    def spec(self, path: str) -> params.ParamSpec:
        """The spec of a parameter path in this mix (raises ParamError)."""
        return params.spec_for(path, self.channels, self.buses)

    def set(self, path: str, value: object) -> float | str:
        """Validate and queue one parameter change; returns the value applied.

        The engine keeps no values: the mix state (and names, which never
        reach the core) belongs to surfaced.mix.mixer.Mixer.
        """
        spec = self.spec(path)
        if spec.is_text:
            if not isinstance(value, str):
                raise params.ParamError(f"{spec.path}: expected text, got {type(value).__name__}")
            return value
        v = spec.validate(value)
        self.push([(spec, v)])
        return v

    def push(self, changes: list[tuple[params.ParamSpec, float]], *, ramp_ms: float = 0.0,
             txn: int = 0) -> None:
        """Queue validated numeric changes as one transaction: one audio block applies them all.

        `ramp_ms` > 0 makes faders, pans and sends travel to their values over
        that time (see "Crossfade ramps" in native/sf_core.h); other
        parameters ignore it. All or nothing: QueueFullError queues none.
        """
        n = len(changes)
        if n == 1 and ramp_ms == 0.0 and txn == 0:  # the common case: one fader move
            spec, v = changes[0]
            with self._lock:
                _check(lib.sf_push_param(self._ptr, spec.scope, spec.index, spec.param,
                                         spec.sub, spec.to_core(v)), f"setting {spec.path}")
            return
        batch = ffi.new("sf_param_change[]", n)
        for i, (spec, v) in enumerate(changes):
            c = batch[i]
            c.scope, c.index, c.param, c.sub = spec.scope, spec.index, spec.param, spec.sub
            c.value = spec.to_core(v)
            c.ramp_ms = ramp_ms
        what = f"setting {changes[0][0].path}" if n == 1 else f"a transaction of {n} changes"
        with self._lock:
            _check(lib.sf_push_params(self._ptr, batch, n, txn & 0xFFFFFFFF), what)

    def gate_blocks(self, start: int) -> list[GateBlock]:
        """The master's gating blocks numbered `start` on, oldest first (any thread).

        The core keeps the last SF_GATE_RING - 1 (51.1 s; native/gateblocks.c):
        when older ones were overwritten, the first returned has seq > start.
        """
        cap = lib.SF_GATE_RING
        buf = ffi.new("sf_gate_block[]", cap)
        n = lib.SF_EBUSY
        for _ in range(100):  # the audio side overtook the copy: read again
            n = lib.sf_read_gate_blocks(self._ptr, max(0, start), buf, cap)
            if n != lib.SF_EBUSY:
                break
        _check(min(n, 0), "reading the loudness history")
        return [GateBlock(int(b.seq), int(b.end_frame), float(b.energy), float(b.trim_db))
                for b in buf[0:n]]

    def set_monitor_trim(self, db: float) -> None:
        """The monitor trim: a gain after the master fader, outside the mix (A/B matching)."""
        if not -40.0 <= db <= 40.0:
            raise params.ParamError(f"monitor trim {db} dB out of range -40..+40")
        with self._lock:
            _check(lib.sf_push_param(self._ptr, params.SCOPE_MASTER, 0, params.P["TRIM"], 0,
                                     db), "setting the monitor trim")

    def txn_status(self) -> TxnStatus:
        """What the core recorded of the last transaction it applied (any thread).

        Proof that a transaction landed in one block, and when that block began.
        """
        out = ffi.new("sf_txn_status *")
        for _ in range(100):  # the audio side rewrote it while we read: read again
            code = lib.sf_txn_read(self._ptr, out)
            if code != lib.SF_EBUSY:
                _check(code, "reading transactions")
                break
        return TxnStatus(int(out.txn_id), int(out.first_frame), int(out.last_frame),
                         int(out.applied), int(out.split), int(out.block_ns))

    # --------------------------------------------------------------- sources
    def _keep(self, ch: int, data: FloatArray | None) -> None:
        old = self._sources.pop(ch, None)
        frames = self.frames_processed()
        if old is not None:
            self._retired.append((frames, old))
        self._retired = [(f, a) for f, a in self._retired if frames - f < 2 * self.max_block]
        if data is not None:
            self._sources[ch] = data

    def _channel_index(self, channel: int) -> int:
        if not 1 <= channel <= self.channels:
            raise params.ParamError(f"channel {channel} does not exist (1..{self.channels})")
        return channel - 1

    def set_source_buffer(self, channel: int, data: npt.ArrayLike) -> None:
        """Loop `data` (frames, or frames x 2 for stereo) as channel's source."""
        idx = self._channel_index(channel)
        arr = np.ascontiguousarray(data, dtype=np.float32)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = np.ascontiguousarray(arr[:, 0])
        if arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] != 2) or len(arr) == 0:
            raise ValueError(f"channel {channel}: source must be mono or stereo audio, "
                             f"got shape {arr.shape}")
        nch = 1 if arr.ndim == 1 else 2
        with self._lock:
            _check(lib.sf_push_source_buffer(self._ptr, idx, ffi.from_buffer("float[]", arr),
                                             len(arr), nch), f"channel {channel} source")
            self._keep(idx, arr)

    def set_source_input(self, channel: int, first_input: int, stereo: bool = False) -> None:
        """Feed channel from device input `first_input` (0-based; and the next if stereo)."""
        idx = self._channel_index(channel)
        with self._lock:
            _check(lib.sf_push_source_input(self._ptr, idx, first_input, int(stereo)),
                   f"channel {channel} input")
            self._keep(idx, None)

    def set_source_none(self, channel: int) -> None:
        """Silence channel's source."""
        idx = self._channel_index(channel)
        with self._lock:
            _check(lib.sf_push_source_none(self._ptr, idx), f"channel {channel} source")
            self._keep(idx, None)

    def rewind(self) -> None:
        """Restart every buffer source from its first frame."""
        with self._lock:
            _check(lib.sf_push_rewind(self._ptr), "rewind")

    def reset_meters(self) -> None:
        """Clear peak holds, true-peak maximum and integrated loudness."""
        with self._lock:
            _check(lib.sf_push_reset_meters(self._ptr), "reset meters")

    def probe(self, probe_id: int) -> None:
        """Queue a latency probe behind the changes queued so far (benchmarks).

        The block that drains it records its own start time; see `probe_result`.
        """
        with self._lock:
            _check(lib.sf_push_probe(self._ptr, probe_id & 0xFFFFFFFF), "probe")

    def probe_result(self) -> tuple[int, int]:
        """(id of the last probe drained, CLOCK_MONOTONIC ns its block began)."""
        ns = ffi.new("uint64_t *")
        pid = lib.sf_probe_read(self._ptr, ns)
        return int(pid), int(ns[0])

    def wait_probe(self, seen: int, timeout: float, poll: float = 0.0001) -> tuple[int, int] | None:
        """Wait (polling) for a probe other than `seen` to be drained; its (id, ns) or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, ns = self.probe_result()
            if pid != seen:
                return pid, ns
            time.sleep(poll)
        return None

    @property
    def queue_capacity(self) -> int:
        """The most parameter changes one transaction (`push`) can hold."""
        return int(lib.sf_queue_capacity(self._ptr))

    def settle(self) -> None:
        """Apply queued changes and jump every glide to its target (audio stopped only)."""
        with self._lock:
            lib.sf_settle(self._ptr)

    # ----------------------------------------------------------------- audio
    def process(self, frames: int, inp: FloatArray | None = None) -> FloatArray:
        """Run `frames` frames and return the master as a new (frames, 2) array."""
        out = np.zeros((frames, 2), dtype=np.float32)
        self.process_into(out, inp)
        return out

    def process_into(self, out: FloatArray, inp: FloatArray | None = None) -> None:
        """Run len(out) frames into `out` (C-contiguous float32, frames x channels)."""
        if out.dtype != np.float32 or not out.flags.c_contiguous or out.ndim != 2:
            raise ValueError("out must be a C-contiguous float32 array of shape (frames, channels)")
        cache = self._out_cache
        if cache is None or cache[0] is not out:
            cache = (out, ffi.from_buffer("float[]", out))
            self._out_cache = cache
        in_ptr: Any = ffi.NULL
        in_ch = 0
        if inp is not None:
            if inp.dtype != np.float32 or not inp.flags.c_contiguous or inp.ndim != 2:
                raise ValueError("inp must be a C-contiguous float32 array (frames, channels)")
            if len(inp) < len(out):
                raise ValueError("inp has fewer frames than out")
            in_ptr = ffi.from_buffer("float[]", inp)
            in_ch = inp.shape[1]
        _check(lib.sf_process(self._ptr, in_ptr, in_ch, cache[1], out.shape[1], len(out)),
               "process")

    def frames_processed(self) -> int:
        """Frames the core has processed since creation (any driver)."""
        lib.sf_read_meters(self._ptr, ffi.NULL, ffi.NULL, self._m)
        return int(self._m.frames)

    # ---------------------------------------------------------------- meters
    def meters(self) -> MeterSnapshot:
        """A consistent snapshot of all meters (safe while audio runs)."""
        peak = np.zeros(self.channels, dtype=np.float32)
        rms = np.zeros(self.channels, dtype=np.float32)
        m = ffi.new("sf_master_meters *")
        code = lib.sf_read_meters(self._ptr, ffi.from_buffer("float[]", peak),
                                  ffi.from_buffer("float[]", rms), m)
        if code == lib.SF_EBUSY and self._last_meters is not None:
            # The audio thread was preempted in the middle of publishing: the
            # previous reading is a few milliseconds old, and still true.
            return self._last_meters
        _check(code, "reading meters")
        nb = self.buses
        master = MasterMeters(
            peak=(m.peak[0], m.peak[1]),
            rms=(m.rms[0], m.rms[1]),
            true_peak=(m.true_peak[0], m.true_peak[1]),
            true_peak_max=(m.true_peak_max[0], m.true_peak_max[1]),
            momentary_lufs=m.momentary_lufs,
            short_term_lufs=m.short_term_lufs,
            integrated_lufs=m.integrated_lufs,
            bus_peak=tuple(m.bus_peak[0:nb]),
            bus_rms=tuple(m.bus_rms[0:nb]),
            clip_count=int(m.clip_count),
            nonfinite_count=int(m.nonfinite_count),
            state_resets=int(m.state_resets),
            xruns=int(m.xruns),
            frames=int(m.frames),
            dropped_params=int(m.dropped_params),
            overflow_count=int(m.overflow_count),
            loudness_range_lu=float(m.loudness_range_lu),
            first_clip_frame=_frame_or_none(m.first_clip_frame),
            last_clip_frame=_frame_or_none(m.last_clip_frame),
            tp_over_steps=int(m.tp_over_steps),
            first_tp_over_frame=int(m.first_tp_over_frame) if m.tp_over_steps else -1,
            last_tp_over_frame=int(m.last_tp_over_frame) if m.tp_over_steps else -1,
        )
        self._last_meters = MeterSnapshot(peak, rms, master)
        return self._last_meters

    # --------------------------------------------------------------- capture
    def start_capture(self, frames: int) -> None:
        """Record the next `frames` frames of master output inside the core."""
        buf = np.zeros((frames, 2), dtype=np.float32)
        with self._lock:
            if self._capture is not None:  # the audio side may still be writing to it
                self._retired.append((self.frames_processed(), self._capture))
            _check(lib.sf_push_capture(self._ptr, ffi.from_buffer("float[]", buf), frames),
                   "capture")
            self._capture = buf

    def captured(self) -> FloatArray:
        """The frames captured so far (a copy)."""
        if self._capture is None:
            return np.zeros((0, 2), dtype=np.float32)
        n = int(lib.sf_capture_frames(self._ptr))
        return self._capture[:n].copy()

    # ------------------------------------------------------------- reference
    def set_reference_buffer(self, data: npt.ArrayLike) -> None:
        """Loop `data` (frames, or frames x 2) as the reference track (native/reference.c)."""
        arr = np.ascontiguousarray(data, dtype=np.float32)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = np.ascontiguousarray(arr[:, 0])
        if arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] != 2) or len(arr) == 0:
            raise ValueError(f"reference: must be mono or stereo audio, got shape {arr.shape}")
        with self._lock:
            _check(lib.sf_push_reference_buffer(self._ptr, ffi.from_buffer("float[]", arr),
                                                len(arr), 1 if arr.ndim == 1 else 2),
                   "reference source")
            self._keep(-1, arr)  # -1: the reference's slot among the kept buffers

    def set_reference_input(self, first_input: int, stereo: bool = False) -> None:
        """Play device input `first_input` (0-based; and the next if stereo) as the reference."""
        with self._lock:
            _check(lib.sf_push_reference_input(self._ptr, first_input, int(stereo)),
                   "reference input")
            self._keep(-1, None)

    def set_reference_none(self) -> None:
        """No reference source (the switch then fades to silence, so switch back first)."""
        with self._lock:
            _check(lib.sf_push_reference_none(self._ptr), "reference source")
            self._keep(-1, None)

    def set_reference(self, on: bool, gain_db: float | None = None) -> None:
        """Hear the reference instead of the mix (crossfaded), and/or set its gain (dB).

        One transaction: switch and gain land in the same block.
        """
        changes = [(params.SCOPE_MASTER, lib.SF_P_REF_ON, 1.0 if on else 0.0)]
        if gain_db is not None:
            if not -40.0 <= gain_db <= 40.0:
                raise params.ParamError(f"reference gain {gain_db} dB out of range -40..+40")
            changes.append((params.SCOPE_MASTER, lib.SF_P_REF_GAIN, float(gain_db)))
        batch = ffi.new("sf_param_change[]", len(changes))
        for i, (scope, param, value) in enumerate(changes):
            batch[i].scope, batch[i].index, batch[i].param, batch[i].sub = scope, 0, param, 0
            batch[i].value, batch[i].ramp_ms = value, 0.0
        with self._lock:
            _check(lib.sf_push_params(self._ptr, batch, len(changes), 0), "reference switch")

    def set_reference_gain(self, db: float) -> None:
        """The reference's gain (dB, -40..+40): its loudness match against the mix."""
        if not -40.0 <= db <= 40.0:
            raise params.ParamError(f"reference gain {db} dB out of range -40..+40")
        with self._lock:
            _check(lib.sf_push_param(self._ptr, params.SCOPE_MASTER, 0, lib.SF_P_REF_GAIN, 0,
                                     db), "reference gain")

    def reference_meters(self) -> ReferenceMeters:
        """The reference's own meters (before its gain) and where the crossfade is."""
        r = ffi.new("sf_reference_meters *")
        for _ in range(100):
            code = lib.sf_read_reference(self._ptr, r)
            if code != lib.SF_EBUSY:
                _check(code, "reading the reference meters")
                break
        return ReferenceMeters(("none", "buffer", "input")[r.source], bool(r.on),
                               float(r.heard), float(r.gain_db), float(r.momentary_lufs),
                               float(r.short_term_lufs), float(r.integrated_lufs),
                               (float(r.peak[0]), float(r.peak[1])))

    # ------------------------------------------------- per-channel loudness
    def chmeter(self, channel: int, on: bool) -> None:
        """Start (or restart) or stop the core's loudness meter on a channel's source."""
        idx = self._channel_index(channel)
        with self._lock:
            _check(lib.sf_push_chmeter(self._ptr, idx, int(on)), f"channel {channel} meter")

    def chmeter_read(self, channel: int) -> ChannelLoudness | None:
        """Channel's loudness measurement so far; None when it is not metered."""
        idx = self._channel_index(channel)
        r = ffi.new("sf_chmeter_reading *")
        for _ in range(100):
            code = lib.sf_read_chmeter(self._ptr, idx, r)
            if code != lib.SF_EBUSY:
                _check(code, f"reading channel {channel}'s meter")
                break
        if r.channel < 0:
            return None
        ring = lib.SF_CHMETER_RING
        return ChannelLoudness(
            steps=int(r.steps), frames=int(r.frames), stereo=bool(r.stereo),
            kms=np.frombuffer(ffi.buffer(r.kms), dtype=np.float32, count=ring).copy(),
            ms=np.frombuffer(ffi.buffer(r.ms), dtype=np.float32, count=ring).copy(),
            peak=float(r.peak), true_peak=float(r.true_peak), refused=int(r.refused))

    def chmeter_refused(self) -> int:
        """Requests to meter a channel the core refused so far (all its slots were busy)."""
        r = ffi.new("sf_chmeter_reading *")
        for _ in range(100):
            code = lib.sf_read_chmeter(self._ptr, 0, r)
            if code != lib.SF_EBUSY:
                _check(code, "reading the channel meters")
                break
        return int(r.refused)

    @property
    def native(self) -> Any:
        """The cffi pointer to the core (for the audio drivers in surfaced.mix.audio)."""
        return self._ptr
