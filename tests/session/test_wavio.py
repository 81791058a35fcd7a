"""WAV reading and writing: every format round-trips, odd files read, bad files fail clearly."""

from __future__ import annotations

import struct
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.session.wavio import WavError, WavWriter, decode_wav, read_wav, write_wav

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


def test_empty_data_is_a_valid_file(tmp_path: Path) -> None:
    write_wav(tmp_path / "e.wav", np.zeros((0, 2), dtype=np.float32), RATE)
    data, _ = read_wav(tmp_path / "e.wav")
    assert data.shape == (0, 2)


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


def test_extensible_float(tmp_path: Path) -> None:
    data = _signal(50, 2)
    raw = _riff(_fmt_extensible(3, 2, 32, 32), _chunk(b"data", data.astype("<f4").tobytes()))
    np.testing.assert_array_equal(decode_wav(raw)[0], data)


def test_extensible_24_bits_in_32_bit_containers() -> None:
    values = np.array([2**23 - 1, -(2**23), 1, 0], dtype="<i4") << 8  # left-justified
    raw = _riff(_fmt_extensible(1, 1, 32, 24), _chunk(b"data", values.tobytes()))
    back = decode_wav(raw)[0][:, 0]
    np.testing.assert_array_equal(back, np.array([2**23 - 1, -(2**23), 1, 0]) / 2.0**23)


def test_extensible_multichannel_written_and_read(tmp_path: Path) -> None:
    data = _signal(20, 6)
    write_wav(tmp_path / "six.wav", data, RATE, bits=24)
    assert struct.unpack_from("<H", (tmp_path / "six.wav").read_bytes(), 20)[0] == 0xFFFE
    assert np.abs(read_wav(tmp_path / "six.wav")[0] - data).max() <= 2.0**-24


def test_unknown_and_odd_sized_chunks_are_skipped() -> None:
    samples = np.array([1000, -1000, 5], dtype="<i2")
    raw = _riff(
        _chunk(b"JUNK", b"abc"),  # odd size, pad byte follows
        _fmt(1, 1, 16),
        _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),  # odd again
        _chunk(b"data", samples.tobytes()),  # 6 bytes
        _chunk(b"cue ", b"x"),
    )
    np.testing.assert_array_equal(decode_wav(raw)[0][:, 0], samples / 32768.0)


def test_data_before_fmt_and_wrong_riff_size_are_accepted() -> None:
    samples = np.array([7, -7], dtype="<i2")
    raw = bytearray(_riff(_chunk(b"data", samples.tobytes()), _fmt(1, 1, 16)))
    raw[4:8] = struct.pack("<I", 0xFFFFFFFF)  # streaming writers leave this wrong
    np.testing.assert_array_equal(decode_wav(bytes(raw))[0][:, 0], samples / 32768.0)


def test_8_bit_and_float64() -> None:
    u8 = _riff(_fmt(1, 1, 8), _chunk(b"data", bytes([128, 255, 0])))
    np.testing.assert_array_equal(decode_wav(u8)[0][:, 0], [0.0, 127 / 128, -1.0])
    f64 = _riff(_fmt(3, 1, 64), _chunk(b"data", np.array([0.25, -0.5]).astype("<f8").tobytes()))
    np.testing.assert_array_equal(decode_wav(f64)[0][:, 0], [0.25, -0.5])


# --------------------------------------------------------------------------- errors

BAD_FILES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty file"),
    ("short", b"RIFF\x00\x00", "too short"),
    ("not riff", b"ID3\x03" + bytes(40), "not a WAV file"),
    ("aiff", b"FORM\x00\x00\x00\x20AIFF" + bytes(32), "not a WAV file"),
    ("rifx", b"RIFX\x00\x00\x00\x20WAVE" + bytes(32), "big-endian"),
    ("no chunks", _riff(), "no 'fmt ' chunk"),
    ("no data", _riff(_fmt(1, 1, 16)), "no 'data' chunk"),
    ("no fmt", _riff(_chunk(b"data", bytes(4))), "no 'fmt ' chunk"),
    (
        "adpcm",
        _riff(_fmt(2, 1, 4), _chunk(b"data", bytes(4))),
        r"unsupported format 0x0002 \(ADPCM\); expected PCM",
    ),
    ("mp3", _riff(_fmt(0x55, 2, 16), _chunk(b"data", bytes(4))), r"0x0055 \(MPEG Layer 3\)"),
    ("12-bit", _riff(_fmt(1, 1, 12), _chunk(b"data", bytes(4))), "unsupported 12-bit PCM"),
    ("float16", _riff(_fmt(3, 1, 16), _chunk(b"data", bytes(4))), "unsupported 16-bit IEEE"),
    ("0 channels", _riff(_fmt(1, 0, 16), _chunk(b"data", b"")), "0 channels"),
    ("0 Hz", _riff(_fmt(1, 1, 16, rate=0), _chunk(b"data", b"")), "sample rate of 0"),
    ("short fmt", _riff(_chunk(b"fmt ", bytes(10)), _chunk(b"data", b"")), "expected at least 16"),
    (
        "bad align",
        _riff(
            _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, RATE, RATE * 4, 3, 16)),
            _chunk(b"data", bytes(12)),
        ),
        "block align 3 does not match",
    ),
    (
        "bad guid",
        _riff(_fmt_extensible(1, 1, 16, 16, tail=bytes(14)), _chunk(b"data", bytes(2))),
        "unsupported extensible sub-format",
    ),
    ("partial frame", _riff(_fmt(1, 2, 16), _chunk(b"data", bytes(6))), "whole number of 4-byte"),
    ("truncated data", _riff(_fmt(1, 1, 16), _chunk(b"data", bytes(100)))[:-40], "truncated data"),
    ("truncated fmt", _riff(_fmt(1, 1, 16))[:-4], "truncated 'fmt '"),
    (
        "chunk overruns",
        _riff(_fmt(1, 1, 16)) + b"LIST" + struct.pack("<I", 1000) + bytes(10),
        r"no 'data' chunk \(the 'LIST' chunk at byte 36 runs past the end\)",
    ),
    (
        "nan",
        _riff(_fmt(3, 1, 32), _chunk(b"data", np.array([0, np.nan], "<f4").tobytes())),
        "non-finite sample .* at frame 1, channel 0",
    ),
    (
        "two fmt",
        _riff(_fmt(1, 1, 16), _fmt(1, 1, 16), _chunk(b"data", b"")),
        "second 'fmt ' chunk",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_raise_wav_error_naming_file_and_problem(
    tmp_path: Path, raw: bytes, message: str
) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(raw)
    with pytest.raises(WavError, match=message) as info:
        read_wav(path)
    assert str(info.value).startswith(f"{path}: ")


def test_wav_error_is_a_value_error() -> None:
    assert issubclass(WavError, ValueError)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")


def _check_total(raw: bytes) -> None:
    """decode_wav either returns sane audio or raises WavError; nothing else."""
    try:
        data, rate = decode_wav(raw, "fuzz.wav")
    except WavError as exc:
        assert str(exc).startswith("fuzz.wav: ")
        return
    assert data.dtype == np.float32 and data.ndim == 2 and data.shape[1] >= 1
    assert rate > 0
    assert np.isfinite(data).all()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    _check_total(raw)


_CHUNK_IDS = st.sampled_from([b"fmt ", b"data", b"LIST", b"fact", b"\x00\xff\x10 "])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_CHUNK_IDS, st.integers(0, 2**32 - 1) | st.none(), st.binary(max_size=60)),
        max_size=5,
    )
)
def test_random_chunk_structures_never_escape(
    chunks: list[tuple[bytes, int | None, bytes]],
) -> None:
    # Chunks with honest or lying sizes and random bodies: deeper than random bytes get.
    body = b"".join(
        cid + struct.pack("<I", len(payload) if size is None else size) + payload
        for cid, size, payload in chunks
    )
    _check_total(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
    st.integers(0, 80),
)
def test_corrupted_valid_files_never_escape(flips: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(_int16_wav())
    for pos, value in flips:
        if pos < len(raw):
            raw[pos] = value
    _check_total(bytes(raw[: len(raw) - cut]))


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
        ({"channels": 0}, "channels must be 1..65535"),
    ],
)
def test_writer_rejects_bad_formats(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    args: dict[str, int | bool | None] = {"rate": RATE, "channels": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        WavWriter(tmp_path / "x.wav", **args)  # type: ignore[arg-type]
    assert not (tmp_path / "x.wav").exists()  # nothing half-made left behind


def test_an_interrupted_render_is_reported_not_read_as_silence(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    w = WavWriter(path, RATE, 2)
    w.write(_signal(20000, 2))  # more than the file buffer: header and data hit the disk
    snapshot = path.read_bytes()  # what a process killed now would leave behind
    w.close()
    with pytest.raises(WavError, match="truncated data chunk"):
        decode_wav(snapshot, "killed.wav")
    assert read_wav(path)[0].shape == (20000, 2)
