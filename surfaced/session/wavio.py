"""Audio files in and out through libsndfile (python-soundfile), resampling with soxr.

Reading takes whatever libsndfile reads: WAV (PCM 8-32 bit, float, extensible),
RF64 and W64 (files over 4 GiB), FLAC, AIFF, OGG and more. Samples are
decoded block by block straight into one float32 array, so a file source
costs its float32 size in memory and little more (no float64 copy, no
whole-file read into bytes). A file at another sample rate than asked for is
resampled with soxr, also block by block into that array.

The frame count a header states is a promise, not a size to allocate: a
FLAC or OGG stream may say nothing (libsndfile then reports 2^63 - 1
frames) or anything. The array is made at the stated size only when the
file's bytes can hold that many frames uncompressed (an honest WAV or AIFF);
otherwise it starts at one block and doubles as samples arrive. Decoded
audio beyond MAX_DECODED_BYTES (a compressed file of silence can expand
thousands of times) is refused.

Every file that cannot be used ends in `WavError`, one line that starts
with the file name and says what is wrong; a file that cannot be opened at
all (missing, no permission) is an OSError, as from `open`.

Writing produces float32 WAV by default (exact for the engine's samples) or
16/24/32-bit integer PCM; `WavWriter` streams block by block (sessions'
`surfaced render`), `write_wav` writes one array.
"""

from __future__ import annotations

import math
import os
import stat
from types import TracebackType

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

__all__ = ["WavError", "WavWriter", "read_wav", "write_wav"]

StrPath = str | os.PathLike[str]
Audio = npt.NDArray[np.float32]

BLOCK_FRAMES = 1 << 16  # frames decoded (or resampled) per step
MAX_DECODED_BYTES = 4 << 30  # float32 samples one file may decode to: over 3 h of stereo at 48 kHz
# Bytes per sample of the uncompressed subtypes: a header stating more frames
# than the file's size can hold is not believed (see _Frames).
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
                 "DOUBLE": 8}
_MAX_WAV = 0xFFFFFFFF  # a RIFF file's sizes are 32-bit: a WAV file stops at 4 GiB
_SUBTYPES = {(32, False): "FLOAT", (16, True): "PCM_16", (24, True): "PCM_24",
             (32, True): "PCM_32"}


class WavError(ValueError):
    """An audio file that cannot be used; the message names the file and the problem."""


def _open(path: StrPath) -> sf.SoundFile:
    name = os.fspath(path)
    st = os.stat(name)  # OSError (missing, no permission) as from open()
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or a device would block or never end.
        raise WavError(f"{name}: not a regular file")
    if st.st_size == 0:
        raise WavError(f"{name}: empty file; expected an audio file (WAV, FLAC, AIFF, ...)")
    try:
        return sf.SoundFile(name)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as exc:
        raise WavError(f"{name}: cannot read as audio: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """libsndfile's own words, on one line, without the file name it repeats."""
    text = getattr(exc, "error_string", "") or str(exc)
    return " ".join(text.split()).rstrip(".") or type(exc).__name__


def read_wav(path: StrPath, rate: int | None = None,
             max_channels: int | None = None) -> tuple[Audio, int]:
    """Read an audio file as float32 ``(frames, channels)``, and its sample rate.

    Integer formats are scaled so full scale is 1.0; float files come as
    stored (they may exceed 1.0, never NaN or infinity). With `rate`, a file
    at another rate is resampled to it (soxr, high quality) and `rate` is
    returned. `max_channels` refuses wider files before decoding anything.
    Raises WavError for anything malformed, empty or unsupported, OSError if
    the file cannot be opened.
    """
    name = os.fspath(path)
    with _open(path) as f:
        frames, channels, file_rate = f.frames, f.channels, f.samplerate
        if max_channels is not None and channels > max_channels:
            raise WavError(f"{name}: {channels} channels; at most {max_channels} can be used here")
        if frames <= 0:
            raise WavError(f"{name}: no audio (the data is empty)")
        out_rate = file_rate if rate is None else int(rate)
        try:
            if out_rate == file_rate:
                data = _decode(f, frames, channels, name)
            else:
                data = _resample(f, frames, channels, file_rate, out_rate, name)
        except (sf.SoundFileError, RuntimeError) as exc:
            raise WavError(f"{name}: {_reason(exc)}") from None
    if len(data) == 0:
        raise WavError(f"{name}: no audio (the data is empty)")
    return data, out_rate


def _check_finite(block: Audio, first_frame: int, name: str) -> None:
    bad = ~np.isfinite(block)
    if bad.any():
        frame, channel = (int(i[0]) for i in np.nonzero(bad))
        raise WavError(f"{name}: non-finite sample (NaN or infinity) at frame "
                       f"{first_frame + frame}, channel {channel}")


class _Frames:
    """The decoded float32 frames of one file: made at the size the header states when the
    file can hold it, else grown by doubling as samples arrive, never past MAX_DECODED_BYTES."""

    def __init__(self, f: sf.SoundFile, frames: int, channels: int, name: str,
                 want: int | None = None) -> None:
        """`frames` as the header states; `want` the frames expected out (resampled)."""
        self.name, self.channels = name, channels
        self.limit = max(1, MAX_DECODED_BYTES // (4 * channels))
        per = _SAMPLE_BYTES.get(f.subtype)
        size = os.stat(f.name).st_size if per is not None else 0
        honest = per is not None and frames * channels * per <= size
        want = frames if want is None else want
        first = want if honest else min(want, BLOCK_FRAMES)
        self.out = np.zeros((max(1, min(first, self.limit)), channels), dtype=np.float32)
        self.done = 0

    def room(self, most: int) -> Audio:
        """A view of the next at most `most` free frames (the array grows when full)."""
        if self.done == len(self.out):
            self._grow()
        return self.out[self.done:self.done + most]

    def put(self, block: Audio) -> None:
        """Append `block` (resampled frames), growing as needed."""
        at = 0
        while at < len(block):
            view = self.room(len(block) - at)
            view[:] = block[at:at + len(view)]
            at += len(view)
            self.done += len(view)

    def _grow(self) -> None:
        if len(self.out) >= self.limit:
            raise WavError(f"{self.name}: decodes to more than {MAX_DECODED_BYTES >> 30} GiB "
                           "of samples; refused")
        bigger = np.zeros((min(self.limit, 2 * len(self.out)), self.channels), dtype=np.float32)
        bigger[:self.done] = self.out[:self.done]
        self.out = bigger

    def result(self) -> Audio:
        """The frames decoded (a copy when growing left much unused room)."""
        if self.done < len(self.out) * 3 // 4:
            return self.out[:self.done].copy()
        return self.out[:self.done]


def _decode(f: sf.SoundFile, frames: int, channels: int, name: str) -> Audio:
    """The whole file, decoded into one float32 array one block at a time."""
    out = _Frames(f, frames, channels, name)
    while out.done < frames:  # libsndfile reads no further than the frames it reported
        view = out.room(min(BLOCK_FRAMES, frames - out.done))
        n = len(f.read(len(view), dtype="float32", always_2d=True, out=view))
        if n == 0:
            break  # the header promised more than the file holds
        _check_finite(view[:n], out.done, name)
        out.done += n
    return out.result()


def _resample(f: sf.SoundFile, frames: int, channels: int, file_rate: int, out_rate: int,
              name: str) -> Audio:
    """The whole file at `out_rate`: decoded and resampled a block at a time."""
    total = math.ceil(frames * out_rate / file_rate)
    out = _Frames(f, frames, channels, name, total)
    stream = soxr.ResampleStream(file_rate, out_rate, channels, dtype="float32", quality="HQ")
    block = np.empty((BLOCK_FRAMES, channels), dtype=np.float32)
    read = 0
    while True:
        n = len(f.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=block))
        _check_finite(block[:n], read, name)
        read += n
        last = n == 0 or read >= frames
        got = stream.resample_chunk(block[:n], last=last)
        out.put(got[:max(0, total - out.done)])
        if last:
            break
    return out.result()


# --------------------------------------------------------------------------- writing


def _subtype(bits: int, integer: bool | None) -> str:
    """libsndfile's subtype for write_wav/WavWriter's `bits` and `integer` arguments."""
    if bits == 32 and not integer:
        return _SUBTYPES[(32, False)]
    if bits in (16, 24, 32) and integer is not False:
        return _SUBTYPES[(bits, True)]
    raise ValueError(
        f"cannot write bits={bits!r} integer={integer!r}; use bits=32 (float), "
        "bits=16 or 24 (integer PCM) or bits=32, integer=True"
    )


class WavWriter:
    """Stream a WAV file block by block; libsndfile finishes the header when closed.

    Use as a context manager so the file is finished even if rendering
    fails half way: what was written stays a valid, shorter file::

        with WavWriter("mix.wav", 48000, 2) as w:
            for block in blocks:
                w.write(block)

    `bits` is 32 (IEEE float, the default), 16 or 24 (integer PCM); pass
    ``integer=True`` with ``bits=32`` for 32-bit integer PCM. Integer output
    is rounded to the nearest step and clipped to full scale.
    """

    def __init__(self, path: StrPath, rate: int, channels: int, *, bits: int = 32,
                 integer: bool | None = None) -> None:
        subtype = _subtype(bits, integer)
        if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or not 0 < rate < 2**31:
            raise ValueError(f"rate must be a positive integer number of Hz, got {rate!r}")
        if isinstance(channels, bool) or not isinstance(channels, int | np.integer):
            raise ValueError(f"channels must be an integer, got {channels!r}")
        if not 0 < channels < 1024:
            raise ValueError(f"channels must be 1..1023, got {channels}")
        self.path = os.fspath(path)
        self.rate = int(rate)
        self.channels = int(channels)
        self._frame_bytes = self.channels * bits // 8
        self._frames = 0
        # Opened here first so a path that cannot be written is an OSError
        # naming it, as from open(), not libsndfile's "System error".
        with open(self.path, "wb"):
            pass
        self._file: sf.SoundFile | None = sf.SoundFile(
            self.path, "w", self.rate, self.channels, subtype, format="WAV")
        self._bits = 0 if subtype == "FLOAT" else bits

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._frames

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._file is None

    def write(self, block: npt.ArrayLike) -> None:
        """Append `block`: ``(frames, channels)``, or ``(frames,)`` for a mono file."""
        if self._file is None:
            raise ValueError(f"{self.path}: write() on a closed WavWriter")
        x = np.asarray(block)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        if x.ndim == 1 and self.channels == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"{self.path}: block of shape {x.shape} does not fit a {self.channels}-channel "
                f"file; expected (frames, {self.channels})"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{self.path}: block contains NaN or infinity")
        if 100 + (self._frames + x.shape[0]) * self._frame_bytes > _MAX_WAV:
            raise ValueError(f"{self.path}: a WAV file cannot exceed 4 GiB; split the output")
        self._file.write(self._encode(np.ascontiguousarray(x)))
        self._frames += x.shape[0]

    def _encode(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.generic]:
        """Float32 as is; integer PCM rounded and clipped here, handed over as integers
        (libsndfile keeps the top bits of an int32 for 24-bit files)."""
        if not self._bits:
            return x.astype(np.float32, copy=False)
        scale = float(2 ** (self._bits - 1))
        q = np.clip(np.rint(x.astype(np.float64) * scale), -scale, scale - 1.0)
        if self._bits == 16:
            return q.astype(np.int16)
        ints = q.astype(np.int32)
        return ints << 8 if self._bits == 24 else ints

    def close(self) -> None:
        """Finish the file. Safe to call twice."""
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_wav(path: StrPath, data: npt.ArrayLike, rate: int, *, bits: int = 32,
              integer: bool | None = None) -> None:
    """Write `data` (``(frames,)`` mono or ``(frames, channels)``) as a WAV file.

    Float32 by default (bit-exact round trip); ``bits=16`` or ``24`` writes
    integer PCM, ``bits=32, integer=True`` 32-bit integer PCM.
    """
    x = np.asarray(data)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{os.fspath(path)}: expected (frames,) or (frames, channels), got shape {x.shape}"
        )
    channels = 1 if x.ndim == 1 else x.shape[1]
    with WavWriter(path, rate, channels, bits=bits, integer=integer) as w:
        w.write(x)
