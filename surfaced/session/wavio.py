"""WAV files in and out, with numpy and nothing else.

The stdlib `wave` module reads and writes integer PCM only; sessions and
offline renders need IEEE float too. Reading accepts PCM 8/16/24/32-bit and
IEEE float 32/64-bit, plain or wrapped in WAVE_FORMAT_EXTENSIBLE, skips
chunks it does not need (LIST, bext, cue ...) and honours the pad byte after
odd-sized chunks. Every malformed file ends in `WavError`, whose message
starts with the file name and says what is wrong.

Writing produces float32 by default (format 3, exact for the engine's
samples) or 16/24/32-bit integer PCM; files with more than two channels use
WAVE_FORMAT_EXTENSIBLE, as the format's specification asks. `WavWriter`
streams block by block and patches the sizes in the header when closed.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

__all__ = ["WavError", "WavWriter", "decode_wav", "read_wav", "write_wav"]

StrPath = str | os.PathLike[str]
Audio = npt.NDArray[np.float32]

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
# Bytes 2..15 of the KSDATAFORMAT_SUBTYPE_* GUIDs; bytes 0..1 are the format code.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {
    0x0001: "PCM",
    0x0002: "ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG Layer 3",
    0x0161: "WMA",
    0xFFFE: "extensible",
}
_SUPPORTED = "expected PCM 8/16/24/32-bit or IEEE float 32/64-bit"
_PCM_BITS = (8, 16, 24, 32)
_FLOAT_BITS = (32, 64)
_MAX_RIFF = 0xFFFFFFFF  # sizes are 32-bit: a RIFF file stops at 4 GiB


class WavError(ValueError):
    """A WAV file that cannot be read; the message names the file and the problem."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Format:
    code: int  # _PCM or _FLOAT (an extensible file's sub-format)
    channels: int
    rate: int
    bits: int  # container size; valid bits, if fewer, are left-justified in it
    block_align: int


def _chunk_label(cid: bytes) -> str:
    """A chunk id for messages: 'LIST' when printable, hex otherwise."""
    if all(0x20 <= b < 0x7F for b in cid):
        return repr(cid.decode("ascii"))
    return "0x" + cid.hex()


def _format_label(code: int) -> str:
    name = _FORMAT_NAMES.get(code)
    return f"0x{code:04X}" + (f" ({name})" if name else "")


def _parse_fmt(body: bytes, name: str) -> _Format:
    """Decode and validate the body of a 'fmt ' chunk; `name` labels errors."""

    def error(what: str) -> WavError:
        return WavError(f"{name}: {what}")

    if len(body) < 16:
        raise error(f"'fmt ' chunk is {len(body)} bytes; expected at least 16")
    code, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if code == _EXTENSIBLE:
        if len(body) < 40:
            raise error(f"extensible 'fmt ' chunk is {len(body)} bytes; expected at least 40")
        valid_bits = struct.unpack_from("<H", body, 18)[0]
        guid = body[24:40]
        if guid[2:] != _GUID_TAIL:
            raise error(f"unsupported extensible sub-format {guid.hex()}; {_SUPPORTED}")
        code = struct.unpack_from("<H", guid)[0]
        if valid_bits > bits:
            raise error(f"{valid_bits} valid bits do not fit {bits}-bit samples")
    if code not in (_PCM, _FLOAT):
        raise error(f"unsupported format {_format_label(code)}; {_SUPPORTED}")
    if (code == _PCM and bits not in _PCM_BITS) or (code == _FLOAT and bits not in _FLOAT_BITS):
        kind = "PCM" if code == _PCM else "IEEE float"
        raise error(f"unsupported {bits}-bit {kind}; {_SUPPORTED}")
    if channels == 0:
        raise error("'fmt ' chunk declares 0 channels")
    if rate == 0:
        raise error("'fmt ' chunk declares a sample rate of 0 Hz")
    if block_align != channels * bits // 8:
        raise error(
            f"block align {block_align} does not match {channels} channel(s) of {bits}-bit "
            f"samples ({channels * bits // 8} bytes per frame)"
        )
    return _Format(code, channels, rate, bits, block_align)


def _decode_samples(raw: memoryview, fmt: _Format) -> npt.NDArray[np.float32]:
    """Samples of a whole number of frames as float32, full scale = 1.0."""
    if fmt.code == _FLOAT:
        with np.errstate(over="ignore"):  # float64 beyond float32 range -> inf, caught later
            return np.frombuffer(raw, dtype=f"<f{fmt.bits // 8}").astype(np.float32)
    if fmt.bits == 8:  # 8-bit WAV is the odd one out: unsigned, centred on 128
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if fmt.bits == 24:
        # Place each 3-byte sample in the top of a little-endian int32: the
        # sign comes for free and the scale is then the same as for 32-bit.
        three = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        four = np.zeros((three.shape[0], 4), dtype=np.uint8)
        four[:, 1:] = three
        ints = four.view("<i4").ravel()
        return (ints * (1.0 / 2**31)).astype(np.float32)
    ints = np.frombuffer(raw, dtype=f"<i{fmt.bits // 8}")
    scaled: npt.NDArray[np.float32] = (ints * (1.0 / 2 ** (fmt.bits - 1))).astype(np.float32)
    return scaled


def decode_wav(data: bytes, name: str = "<bytes>") -> tuple[Audio, int]:
    """Decode a whole WAV file held in memory; see `read_wav`. `name` labels errors."""

    def error(what: str) -> WavError:
        return WavError(f"{name}: {what}")

    size = len(data)
    if size == 0:
        raise error("empty file; expected a WAV file")
    if size < 12:
        raise error(f"only {size} bytes; too short for a WAV header (12 bytes)")
    magic = data[:4]
    if magic == b"RIFX":
        raise error("big-endian (RIFX) WAV is not supported; convert it to little-endian RIFF")
    if magic == b"RF64":
        raise error("RF64 (WAV over 4 GiB) is not supported; split the file")
    if magic != b"RIFF" or data[8:12] != b"WAVE":
        raise error("not a WAV file (no RIFF/WAVE header)")

    # The RIFF size field is ignored: writers that crashed or streamed often
    # leave it wrong, and the chunk sizes say all that is needed.
    fmt: _Format | None = None
    span: tuple[int, int] | None = None
    overrun = ""
    offset = 12
    while offset + 8 <= size and (fmt is None or span is None):
        cid = data[offset : offset + 4]
        length = struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if body + length > size:
            if cid == b"data":
                raise error(
                    f"truncated data chunk: header declares {length} bytes, "
                    f"the file holds {size - body} (was the recording interrupted?)"
                )
            if cid == b"fmt ":
                raise error(f"truncated 'fmt ' chunk at byte {offset}")
            overrun = f" (the {_chunk_label(cid)} chunk at byte {offset} runs past the end)"
            break
        if cid == b"fmt ":
            if fmt is not None:
                raise error(f"second 'fmt ' chunk at byte {offset}")
            fmt = _parse_fmt(data[body : body + length], name)
        elif cid == b"data":
            span = (body, length)
        offset = body + length + (length & 1)  # chunks are padded to even sizes

    if fmt is None:
        raise error(f"no 'fmt ' chunk{overrun}")
    if span is None:
        raise error(f"no 'data' chunk{overrun}")
    start, length = span
    if length % fmt.block_align:
        raise error(
            f"data chunk holds {length} bytes, not a whole number of {fmt.block_align}-byte frames"
        )
    samples = _decode_samples(memoryview(data)[start : start + length], fmt)
    frames = samples.reshape(-1, fmt.channels)
    if fmt.code == _FLOAT:
        bad = ~np.isfinite(frames)
        if bad.any():
            frame, channel = (int(i[0]) for i in np.nonzero(bad))
            raise error(f"non-finite sample (NaN or infinity) at frame {frame}, channel {channel}")
    return frames, fmt.rate


def read_wav(path: StrPath) -> tuple[Audio, int]:
    """Read a WAV file as float32 ``(frames, channels)`` in -1..1, and its sample rate.

    Integer PCM is scaled so full scale is 1.0; float files are returned as
    stored (they may exceed 1.0, never NaN or infinity). Raises WavError for
    anything malformed or unsupported, OSError if the file cannot be opened.
    """
    with open(path, "rb") as f:
        data = f.read()
    return decode_wav(data, os.fspath(path))


# --------------------------------------------------------------------------- writing


def _check_format(bits: int, integer: bool | None) -> tuple[int, int]:
    """(format code, bits) for write_wav/WavWriter's `bits` and `integer` arguments."""
    if bits == 32 and not integer:
        return _FLOAT, 32
    if bits in (16, 24, 32) and integer is not False:
        return _PCM, bits
    raise ValueError(
        f"cannot write bits={bits!r} integer={integer!r}; use bits=32 (float), "
        "bits=16 or 24 (integer PCM) or bits=32, integer=True"
    )


class WavWriter:
    """Stream a WAV file block by block; sizes are patched in when closed.

    Use as a context manager so the header is finished even if rendering
    fails half way: what was written stays a valid, shorter file::

        with WavWriter("mix.wav", 48000, 2) as w:
            for block in blocks:
                w.write(block)

    `bits` is 32 (IEEE float, the default), 16 or 24 (integer PCM); pass
    ``integer=True`` with ``bits=32`` for 32-bit integer PCM.
    """

    def __init__(
        self,
        path: StrPath,
        rate: int,
        channels: int,
        *,
        bits: int = 32,
        integer: bool | None = None,
    ) -> None:
        self._code, self._bits = _check_format(bits, integer)
        if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or not 0 < rate < 2**32:
            raise ValueError(f"rate must be a positive integer number of Hz, got {rate!r}")
        if isinstance(channels, bool) or not isinstance(channels, int | np.integer):
            raise ValueError(f"channels must be an integer, got {channels!r}")
        if not 0 < channels < 2**16:
            raise ValueError(f"channels must be 1..65535, got {channels}")
        self.path = os.fspath(path)
        self.rate = int(rate)
        self.channels = int(channels)
        self._frame_bytes = self.channels * self._bits // 8
        self._frames = 0
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in close()
        try:
            self._file.write(self._header(final=False))
        except BaseException:
            self._file.close()
            self._file = None
            raise
        self._header_bytes = self._file.tell()

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._frames

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._file is None

    def _header(self, final: bool = True) -> bytes:
        """The header for the frames written so far; `final=False` for the placeholder.

        The placeholder declares the largest sizes rather than zero: if the
        process dies before close(), common tools read such a file up to its
        end, and ours reports a truncated data chunk instead of silently
        returning nothing.
        """
        data_bytes = self._frames * self._frame_bytes
        rate, ba, bits = self.rate, self._frame_bytes, self._bits
        if self.channels > 2:
            # Channel mask 0: no speaker positions, which is right for stems.
            fmt = (
                struct.pack(
                    "<HHIIHHHHI", _EXTENSIBLE, self.channels, rate, rate * ba, ba, bits, 22, bits, 0
                )
                + struct.pack("<H", self._code)
                + _GUID_TAIL
            )
        elif self._code == _FLOAT:
            fmt = struct.pack("<HHIIHHH", _FLOAT, self.channels, rate, rate * ba, ba, bits, 0)
        else:
            fmt = struct.pack("<HHIIHH", _PCM, self.channels, rate, rate * ba, ba, bits)
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
        if len(fmt) > 16:
            # Every format but plain PCM is meant to carry a frame count.
            chunks += b"fact" + struct.pack("<II", 4, min(self._frames, _MAX_RIFF))
        riff = 4 + len(chunks) + 8 + data_bytes + (data_bytes & 1)
        if not final:
            riff = data_bytes = _MAX_RIFF
        head = b"RIFF" + struct.pack("<I", riff) + b"WAVE" + chunks
        return head + b"data" + struct.pack("<I", data_bytes)

    def _encode(self, x: npt.NDArray[np.float64] | npt.NDArray[np.float32]) -> bytes:
        if self._code == _FLOAT:
            return x.astype("<f4").tobytes()
        scale = float(2 ** (self._bits - 1))
        q = np.clip(np.rint(x.astype(np.float64) * scale), -scale, scale - 1.0)
        if self._bits == 16:
            return q.astype("<i2").tobytes()
        ints = q.astype("<i4")
        if self._bits == 32:
            return ints.tobytes()
        return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()  # low 3 bytes of each

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
        payload = self._encode(np.ascontiguousarray(x))
        total = self._header_bytes + (self._frames + x.shape[0]) * self._frame_bytes
        if total + 1 > _MAX_RIFF:
            raise ValueError(f"{self.path}: a WAV file cannot exceed 4 GiB; split the output")
        self._file.write(payload)
        self._frames += x.shape[0]

    def close(self) -> None:
        """Finish the file: pad byte, final sizes in the header. Safe to call twice."""
        f = self._file
        if f is None:
            return
        self._file = None
        try:
            if (self._frames * self._frame_bytes) & 1:
                f.write(b"\x00")
            f.seek(0)
            f.write(self._header())
        finally:
            f.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_wav(
    path: StrPath,
    data: npt.ArrayLike,
    rate: int,
    *,
    bits: int = 32,
    integer: bool | None = None,
) -> None:
    """Write `data` (``(frames,)`` mono or ``(frames, channels)``) as a WAV file.

    Float32 by default (bit-exact round trip); ``bits=16`` or ``24`` writes
    integer PCM, ``bits=32, integer=True`` 32-bit integer PCM. Integer output
    is rounded to the nearest step and clipped to full scale.
    """
    x = np.asarray(data)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{os.fspath(path)}: expected (frames,) or (frames, channels), got shape {x.shape}"
        )
    channels = 1 if x.ndim == 1 else x.shape[1]
    with WavWriter(path, rate, channels, bits=bits, integer=integer) as w:
        w.write(x)
