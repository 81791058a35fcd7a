"""Audio files in and out: every format round-trips, other formats and rates read, bad files
fail clearly in one line naming the file, and a file source costs its float32 size."""

from __future__ import annotations

import os
import struct
import tempfile
import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.session.wavio import WavError, WavWriter, read_wav, write_wav

RATE = 48000
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

# (bits, integer, quantisation step); step 0 means bit-exact.
FORMATS = [(32, None, 0.0), (16, None, 2.0**-15), (24, None, 2.0**-23), (32, True, 2.0**-31)]
FORMAT_IDS = ["float32", "int16", "int24", "int32"]


def _signal(frames: int, channels: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (frames, channels)).astype(np.float32)


def _via_write_wav(
    path: Path, data: npt.NDArray[np.float32], bits: int, integer: bool | None
) -> None:
    write_wav(path, data, RATE, bits=bits, integer=integer)


def _via_writer_blocks(
    path: Path, data: npt.NDArray[np.float32], bits: int, integer: bool | None
) -> None:
    with WavWriter(path, RATE, data.shape[1], bits=bits, integer=integer) as w:
        for start in range(0, data.shape[0], 64):
            w.write(data[start : start + 64])


WRITERS: list[Callable[[Path, npt.NDArray[np.float32], int, bool | None], None]] = [
    _via_write_wav,
    _via_writer_blocks,
]


def _chunk(cid: bytes, body: bytes) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return cid + struct.pack("<I", len(body)) + body + pad


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _fmt(code: int, channels: int, bits: int, rate: int = RATE) -> bytes:
    align = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits))


def _fmt_extensible(
    sub: int, channels: int, bits: int, valid: int, tail: bytes = GUID_TAIL
) -> bytes:
    align = channels * bits // 8
    body = (
        struct.pack("<HHIIHHHHI", 0xFFFE, channels, RATE, RATE * align, align, bits, 22, valid, 0)
        + struct.pack("<H", sub)
        + tail
    )
    return _chunk(b"fmt ", body)


def _int16_wav() -> bytes:
    samples = np.array([0, 16384, -16384, 32767, -32768, 1], dtype="<i2")
    return _riff(_fmt(1, 2, 16), _chunk(b"data", samples.tobytes()))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("writer", WRITERS, ids=["write_wav", "WavWriter"])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize(("bits", "integer", "step"), FORMATS, ids=FORMAT_IDS)
def test_round_trip(
    tmp_path: Path,
    writer: Callable[[Path, npt.NDArray[np.float32], int, bool | None], None],
    channels: int,
    bits: int,
    integer: bool | None,
    step: float,
) -> None:
    data = _signal(1001, channels)  # odd length: 24-bit mono needs a pad byte
    path = tmp_path / "rt.wav"
    writer(path, data, bits, integer)
    back, rate = read_wav(path)
    assert rate == RATE
    assert back.dtype == np.float32 and back.shape == data.shape
    if step == 0.0:
        np.testing.assert_array_equal(back, data)
    else:
        assert np.abs(back.astype(np.float64) - data).max() <= step / 2 + 1e-9
    # The RIFF size matches the file, pad byte included.
    raw = path.read_bytes()
    assert len(raw) % 2 == 0
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8


def test_float_keeps_overs_and_integer_clips(tmp_path: Path) -> None:
    data = np.array([1.5, -2.0, 1.0, -1.0], dtype=np.float32)
    write_wav(tmp_path / "f.wav", data, RATE)
    np.testing.assert_array_equal(read_wav(tmp_path / "f.wav")[0][:, 0], data)
    write_wav(tmp_path / "i.wav", data, RATE, bits=16)
    back = read_wav(tmp_path / "i.wav")[0][:, 0]
    np.testing.assert_array_equal(back, [32767 / 32768, -1.0, 32767 / 32768, -1.0])


def test_mono_1d_input_is_one_channel(tmp_path: Path) -> None:
    write_wav(tmp_path / "m.wav", np.zeros(10, dtype=np.float32), 44100)
    data, rate = read_wav(tmp_path / "m.wav")
    assert data.shape == (10, 1) and rate == 44100


def test_an_empty_data_chunk_is_a_wav_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "e.wav"
    write_wav(path, np.zeros((0, 2), dtype=np.float32), RATE)
    with pytest.raises(WavError, match="no audio") as info:
        read_wav(path)
    assert str(info.value).startswith(f"{path}: ")


def test_both_entry_points_write_the_same_bytes(tmp_path: Path) -> None:
    data = _signal(100, 2)
    write_wav(tmp_path / "a.wav", data, RATE)
    with WavWriter(tmp_path / "b.wav", RATE, 2) as w:
        w.write(data)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_default_output_is_float32(tmp_path: Path) -> None:
    write_wav(tmp_path / "d.wav", _signal(4, 2), RATE)
    code, _, _, _, _, bits = struct.unpack_from("<HHIIHH", (tmp_path / "d.wav").read_bytes(), 20)
    assert (code, bits) == (3, 32)


# --------------------------------------------------------------------------- stdlib interop


def test_reads_what_stdlib_wave_writes(tmp_path: Path) -> None:
    ints = np.random.default_rng(1).integers(-32768, 32768, (500, 2)).astype("<i2")
    with wave.open(str(tmp_path / "std.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(ints.tobytes())
    data, rate = read_wav(tmp_path / "std.wav")
    assert rate == 22050
    np.testing.assert_array_equal(data, ints / 32768.0)


@pytest.mark.parametrize("bits", [16, 24])
def test_stdlib_wave_reads_what_we_write(tmp_path: Path, bits: int) -> None:
    data = _signal(300, 2)
    write_wav(tmp_path / "ours.wav", data, RATE, bits=bits)
    with wave.open(str(tmp_path / "ours.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, bits // 8, RATE)
        raw = w.readframes(w.getnframes())
    ours = read_wav(tmp_path / "ours.wav")[0]
    assert len(raw) == ours.size * bits // 8
    if bits == 16:
        np.testing.assert_array_equal(np.frombuffer(raw, "<i2").reshape(-1, 2) / 32768.0, ours)


# --------------------------------------------------------------------------- tolerant reading


def _read_bytes(tmp_path: Path, raw: bytes) -> tuple[npt.NDArray[np.float32], int]:
    path = tmp_path / "crafted.wav"
    path.write_bytes(raw)
    return read_wav(path)


def test_extensible_float(tmp_path: Path) -> None:
    data = _signal(50, 2)
    raw = _riff(_fmt_extensible(3, 2, 32, 32), _chunk(b"data", data.astype("<f4").tobytes()))
    np.testing.assert_array_equal(_read_bytes(tmp_path, raw)[0], data)


def test_extensible_multichannel_written_and_read(tmp_path: Path) -> None:
    data = _signal(20, 6)
    write_wav(tmp_path / "six.wav", data, RATE, bits=24)
    assert np.abs(read_wav(tmp_path / "six.wav")[0] - data).max() <= 2.0**-24


def test_unknown_and_odd_sized_chunks_are_skipped(tmp_path: Path) -> None:
    samples = np.array([1000, -1000, 5], dtype="<i2")
    raw = _riff(
        _chunk(b"JUNK", b"abc"),  # odd size, pad byte follows
        _fmt(1, 1, 16),
        _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),  # odd again
        _chunk(b"data", samples.tobytes()),  # 6 bytes
    )
    np.testing.assert_array_equal(_read_bytes(tmp_path, raw)[0][:, 0], samples / 32768.0)


def test_8_bit_and_float64(tmp_path: Path) -> None:
    u8 = _riff(_fmt(1, 1, 8), _chunk(b"data", bytes([128, 255, 0, 128])))
    np.testing.assert_array_equal(_read_bytes(tmp_path, u8)[0][:, 0], [0.0, 127 / 128, -1.0, 0])
    f64 = _riff(_fmt(3, 1, 64), _chunk(b"data", np.array([0.25, -0.5]).astype("<f8").tobytes()))
    np.testing.assert_array_equal(_read_bytes(tmp_path, f64)[0][:, 0], [0.25, -0.5])


@pytest.mark.parametrize(("fmt", "subtype", "ext"), [
    ("FLAC", "PCM_16", "flac"), ("AIFF", "PCM_24", "aiff"), ("W64", "FLOAT", "w64"),
    ("RF64", "FLOAT", "wav"), ("OGG", "VORBIS", "ogg"), ("WAV", "PCM_U8", "wav"),
])
def test_other_formats_read(tmp_path: Path, fmt: str, subtype: str, ext: str) -> None:
    t = np.arange(4800) / RATE
    data = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"x.{ext}"
    sf.write(path, np.stack([data, -data], axis=1), RATE, subtype=subtype, format=fmt)
    back, rate = read_wav(path)
    assert rate == RATE and back.shape == (4800, 2) and back.dtype == np.float32
    tolerance = 0.05 if subtype == "VORBIS" else 2.0**-7
    assert np.abs(back[:, 0] - data).max() < tolerance


def test_a_file_at_another_rate_is_resampled(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate) / rate  # one second of 1 kHz
    write_wav(tmp_path / "k.wav", np.sin(2 * np.pi * 1000 * t).astype(np.float32), rate)
    data, got = read_wav(tmp_path / "k.wav", rate=RATE)
    assert got == RATE
    assert abs(len(data) - RATE) <= 1
    spectrum = np.abs(np.fft.rfft(data[:RATE, 0]))
    assert abs(int(np.argmax(spectrum)) * RATE / len(data[:RATE]) - 1000) <= 2
    assert 0.95 < np.abs(data[RATE // 4:-RATE // 4]).max() < 1.05


# --------------------------------------------------------------------------- memory


def _big_file(path: Path, frames: int, rate: int = RATE) -> None:
    """A 16-bit stereo file of `frames`, written a block at a time."""
    block = (0.25 * np.sin(np.arange(1 << 16) / 10.0)).astype(np.float32)
    block = np.stack([block, -block], axis=1)
    with WavWriter(path, rate, 2, bits=16) as w:
        for start in range(0, frames, len(block)):
            w.write(block[: min(len(block), frames - start)])


@pytest.mark.parametrize(("frames", "file_rate"), [(32 << 20, RATE), (8 << 20, 44100)],
                         ids=["256MB-float32", "resampled-70MB"])
def test_a_large_file_costs_its_float32_size(tmp_path: Path, frames: int,
                                             file_rate: int) -> None:
    path = tmp_path / "big.wav"
    _big_file(path, frames, file_rate)
    tracemalloc.start()
    try:
        data, _ = read_wav(path, rate=RATE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.dtype == np.float32 and data.shape[1] == 2
    assert abs(len(data) - frames * RATE / file_rate) <= 2
    # The old reader held the bytes plus float64 copies: 4-5 times this.
    assert peak <= data.nbytes + (16 << 20), f"peak {peak >> 20} MB for {data.nbytes >> 20} MB"


# --------------------------------------------------------------------------- errors

BAD_FILES: list[tuple[str, bytes, str | None]] = [
    ("empty", b"", "empty file"),
    ("short", b"RIFF\x00\x00", None),
    ("not audio", b"ID3\x03" + bytes(40), None),
    ("no data", _riff(_fmt(1, 1, 16)), None),
    ("no fmt", _riff(_chunk(b"data", bytes(4))), None),
    ("0 channels", _riff(_fmt(1, 0, 16), _chunk(b"data", b"")), None),
    ("empty data", _riff(_fmt(1, 1, 16), _chunk(b"data", b"")), "no audio"),
    (
        "nan",
        _riff(_fmt(3, 1, 32), _chunk(b"data", np.array([0, np.nan], "<f4").tobytes())),
        "non-finite sample .* at frame 1, channel 0",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_raise_wav_error_naming_file_and_problem(
    tmp_path: Path, raw: bytes, message: str | None
) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(raw)
    with pytest.raises(WavError, match=message) as info:
        read_wav(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and len(text) > len(f"{path}: ")
    assert "\n" not in text


def test_too_many_channels_are_refused_before_decoding(tmp_path: Path) -> None:
    write_wav(tmp_path / "six.wav", _signal(10, 6), RATE)
    with pytest.raises(WavError, match="6 channels; at most 2"):
        read_wav(tmp_path / "six.wav", max_channels=2)


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(WavError, match="not a regular file"):
        read_wav(fifo)


def test_wav_error_is_a_value_error() -> None:
    assert issubclass(WavError, ValueError)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")


def _check_total(tmp: Path, raw: bytes) -> None:
    """read_wav either returns sane audio or raises WavError; nothing else."""
    path = tmp / "fuzz.wav"
    path.write_bytes(raw)
    try:
        data, rate = read_wav(path)
    except WavError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    assert data.dtype == np.float32 and data.ndim == 2 and data.shape[1] >= 1
    assert rate > 0
    assert np.isfinite(data).all()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_total(Path(tmp), raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
    st.integers(0, 80),
)
def test_corrupted_valid_files_never_escape(flips: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(_int16_wav())
    for pos, value in flips:
        if pos < len(raw):
            raw[pos] = value
    with tempfile.TemporaryDirectory() as tmp:
        _check_total(Path(tmp), bytes(raw[: len(raw) - cut]))


# --------------------------------------------------------------------------- the streaming writer


def test_writer_patches_sizes_on_close(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    w = WavWriter(path, RATE, 2)
    w.write(_signal(10, 2))
    w.write(_signal(5, 2, seed=1))
    assert w.frames == 15 and not w.closed
    w.close()
    w.close()  # twice is fine
    assert w.closed
    data, _ = read_wav(path)
    np.testing.assert_array_equal(data, np.concatenate([_signal(10, 2), _signal(5, 2, seed=1)]))


def test_writer_leaves_a_valid_file_when_rendering_fails(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    with pytest.raises(RuntimeError), WavWriter(path, RATE, 1) as w:
        w.write(np.zeros(100, dtype=np.float32))
        raise RuntimeError("render failed")
    assert read_wav(path)[0].shape == (100, 1)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (np.zeros((4, 3), dtype=np.float32), r"shape \(4, 3\) does not fit a 2-channel"),
        (np.zeros(4, dtype=np.float32), r"shape \(4,\) does not fit a 2-channel"),
        (np.array([[0.0, np.nan]]), "NaN or infinity"),
    ],
)
def test_writer_rejects_bad_blocks(
    tmp_path: Path, block: npt.NDArray[np.float64], message: str
) -> None:
    with WavWriter(tmp_path / "w.wav", RATE, 2) as w, pytest.raises(ValueError, match=message):
        w.write(block)


def test_write_after_close_is_an_error(tmp_path: Path) -> None:
    w = WavWriter(tmp_path / "c.wav", RATE, 1)
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(np.zeros(1, dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 8}, "cannot write bits=8"),
        ({"bits": 16, "integer": False}, "cannot write bits=16 integer=False"),
        ({"rate": 0}, "rate must be a positive integer"),
        ({"channels": 0}, "channels must be 1..1023"),
    ],
)
def test_writer_rejects_bad_formats(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    args: dict[str, int | bool | None] = {"rate": RATE, "channels": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        WavWriter(tmp_path / "x.wav", **args)  # type: ignore[arg-type]
    assert not (tmp_path / "x.wav").exists()  # nothing half-made left behind


def test_a_flac_stream_of_unknown_length_is_one_wav_error(tmp_path: Path) -> None:
    """A streamed FLAC says 0 total samples (libsndfile: 2^63 - 1 frames). The header is a
    promise, not a size to allocate: no numpy error for an impossible array, no memory
    taken for it; libsndfile cannot read such a file past its first block, which is one
    WavError naming the file (found by the fuzzer, tests/fuzz/regressions/audio)."""
    tone = (np.sin(np.arange(100_000) / 7.0) * 0.5).astype(np.float32)
    path = tmp_path / "streamed.flac"
    sf.write(path, np.stack([tone, -tone], axis=1), 48000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    # STREAMINFO follows "fLaC" and a 4-byte block header; its total-samples field is
    # the low 4 bits of byte 13 and bytes 14..17 (FLAC format, "METADATA_BLOCK_STREAMINFO").
    raw[8 + 13] &= 0xF0
    raw[8 + 14:8 + 18] = b"\0\0\0\0"
    path.write_bytes(bytes(raw))
    assert sf.info(str(path)).frames > 10**18  # what libsndfile reports for "unknown"
    for rate in (None, 44100):
        tracemalloc.start()
        try:
            with pytest.raises(WavError, match=r"streamed\.flac: "):
                read_wav(path, rate=rate)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20
