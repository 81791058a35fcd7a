"""The fuzz targets: one function per parser or loader, shared by the hypothesis tests,
the atheris harness (tests/fuzz/harness.py) and `scripts/fuzz`.

Each target takes arbitrary bytes and returns normally when the input gave a
value or the project's own error (the one the daemon catches and reports for
that input); anything else raised is an escape, and so is a broken invariant
(checked with `Escape`, not `assert`, so `python -O` cannot skip it):

- midi: `MidiParser` never raises; the events of a stream do not depend on how
  it was cut into chunks; each event passes `Event`'s checks (the parser skips
  them) and re-encodes to bytes that decode to it; a partial SysEx never holds
  more than `max_sysex` bytes.
- osc: `parse_packet` returns Events or raises OscParseError.
- slip: frames and counters do not depend on chunking; no frame exceeds
  `max_frame`, nothing unfinished holds more than twice that; every frame
  re-encodes to itself.
- box: the DIY box decoder (SLIP + strict OSC, firmware/PROTOCOL.md) never
  raises and yields only OSC events; `box_packet_error` is None or a kind.
- mapping / session / config: the bytes as a file of that kind load into a
  Mapping / Session / Config or raise MappingError / SessionError / ConfigError.
- audio: the bytes as an audio file read into finite float32 frames or raise
  WavError.

The loaders read a real file, so those targets write the input to a scratch
folder first (on /dev/shm when there is one: no disk I/O per input).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Escape(Exception):
    """An input broke a target's invariant (as opposed to raising the wrong error)."""


@dataclass(frozen=True)
class Target:
    """One parser or loader under fuzzing."""

    name: str
    run: Callable[[bytes], None]
    max_len: int  # the longest input the fuzzer tries (libFuzzer -max_len)
    seeds: Callable[[], list[bytes]]  # a starting corpus of valid inputs


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


# -- MIDI -----------------------------------------------------------------------

def midi(data: bytes) -> None:
    from surfaced.transports.midi_codec import (
        MidiParseError,
        MidiParser,
        decode_message,
        decode_stream,
    )

    if not data:
        return
    # The first byte picks the chunking and the SysEx limit; the rest is the stream.
    size, max_sysex = 1 + data[0] % 7, 2 + (data[0] >> 3) * 4
    stream = data[1:]
    whole = MidiParser("fuzz", max_sysex=max_sysex)
    cut = MidiParser("fuzz", max_sysex=max_sysex)
    got_whole = whole.feed(stream)
    got_cut = []
    for piece in _chunks(stream, size):
        got_cut += cut.feed(piece)
        held = cut._sysex
        if held is not None and len(held) > max_sysex:
            raise Escape(f"a partial SysEx holds {len(held)} bytes; the limit is {max_sysex}")
    if got_whole != got_cut:
        raise Escape(f"chunks of {size} bytes decode differently from the whole stream")
    if whole.stats != cut.stats:
        raise Escape(f"chunks of {size} bytes count differently: {whole.stats} vs {cut.stats}")
    for event in got_whole:
        # The parser builds its Events unchecked (events.decoded_event):
        # rebuilding each through Event() runs the checks it skipped.
        try:
            dataclasses.replace(event)
        except (TypeError, ValueError) as exc:
            raise Escape(f"the parser returned an invalid {event}: {exc}") from None
        again = decode_message(event.to_bytes(), "fuzz")
        if again != event:
            raise Escape(f"{event} re-encodes as {event.to_bytes().hex()}, which is {again}")
    decode_stream(stream)
    with contextlib.suppress(MidiParseError):
        decode_message(stream)


def _midi_seeds() -> list[bytes]:
    return [b"\x00\x90\x3c\x64\x3c\x00", b"\x03\xb0\x07\x7f\x08\x40\xe0\x00\x40",
            b"\x10\xf0\x00\x00\x66\x14\x12\x00abc\xf7\xf8\x90\x10", b"\x01\xf0\x7e\x7f\x06\x01"]


# -- OSC ------------------------------------------------------------------------

def osc(data: bytes) -> None:
    from surfaced.transports.osc_codec import OscParseError, parse_packet

    try:
        events = parse_packet(data, source="fuzz")
    except OscParseError:
        return
    for event in events:
        if event.kind != "osc" or not event.address.startswith("/"):
            raise Escape(f"parse_packet returned {event}")


def _osc_seeds() -> list[bytes]:
    from surfaced.transports.osc_codec import encode_bundle, encode_message

    a = encode_message("/ch/1/fader", [-6.0])
    b = encode_message("/x", [1, "s", b"blob", True, None, (1, (2.5,))])
    c = encode_message("/m", [1], types="d")
    return [a, b, c, encode_bundle([a, encode_bundle([b], 1.5)], 2.0)]


# -- SLIP -----------------------------------------------------------------------

def slip(data: bytes) -> None:
    from surfaced.transports.slip import SlipDecoder, encode

    if not data:
        return
    size, max_frame = 1 + data[0] % 5, 1 + (data[0] >> 4) * 8
    stream = data[1:]
    whole = SlipDecoder(max_frame, synced=bool(data[0] & 8))
    cut = SlipDecoder(max_frame, synced=bool(data[0] & 8))
    frames = whole.feed(stream)
    got: list[bytes] = []
    for piece in _chunks(stream, size):
        got += cut.feed(piece)
        if cut.pending > 2 * max_frame:
            raise Escape(f"{cut.pending} bytes held for a frame of at most {max_frame}")
    if got != frames or cut.stats != whole.stats:
        raise Escape(f"chunks of {size} bytes decode differently from the whole stream")
    for frame in frames:
        if len(frame) > max_frame:
            raise Escape(f"a frame of {len(frame)} bytes passed a limit of {max_frame}")
        if SlipDecoder(max_frame).feed(encode(frame)) != [frame]:
            raise Escape(f"frame {frame[:32].hex()} does not survive encode + decode")


def _slip_seeds() -> list[bytes]:
    from surfaced.transports.slip import encode

    return [b"\x08" + encode(b"abc") + encode(b"\xc0\xdb"), b"\x00junk\xc0\xdb\xdc\xc0",
            b"\xf8" + encode(bytes(range(256))[:100])]


# -- the DIY box ----------------------------------------------------------------

def box(data: bytes) -> None:
    from surfaced.transports.serial_codec import SerialDecoder, box_packet_error

    kind = box_packet_error(data)
    if kind is not None and not isinstance(kind, str):
        raise Escape(f"box_packet_error returned {kind!r}")
    if not data:
        return
    for strict in (True, False):
        decoder = SerialDecoder("box", strict=strict)
        events = []
        for piece in _chunks(data[1:], 1 + data[0] % 13):
            events += decoder.feed(piece)
        for event in events:
            if event.kind != "osc":
                raise Escape(f"the box decoder returned {event}")


def _box_seeds() -> list[bytes]:
    from surfaced.events import Event
    from surfaced.transports import osc_codec, slip
    from surfaced.transports.serial_codec import encode_box_message

    frames = [encode_box_message(Event("osc", address="/fader/1", args=(0.5,))),
              encode_box_message(Event("osc", address="/id", args=("box", 1, b"\x01"))),
              osc_codec.encode_message("/button/3", [1])]
    return [b"\x03" + b"".join(slip.encode(f) for f in frames), b"\x00" + slip.encode(b"/x\0\0")]


# -- files ------------------------------------------------------------------------

_SCRATCH: Path | None = None


def _scratch(name: str, data: bytes) -> Path:
    """`data` written to `name` in this process's scratch folder."""
    global _SCRATCH
    if _SCRATCH is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) \
            else None
        _SCRATCH = Path(tempfile.mkdtemp(prefix="surfaced-fuzz-", dir=base))
        import atexit
        import shutil

        atexit.register(shutil.rmtree, _SCRATCH, True)
    path = _SCRATCH / name
    path.write_bytes(data)
    return path


def mapping(data: bytes) -> None:
    from surfaced.mapping import Mapping, MappingError, load_mapping

    try:
        result = load_mapping(_scratch("fuzz.yaml", data))
    except MappingError:
        return
    if not isinstance(result, Mapping):
        raise Escape(f"load_mapping returned {type(result).__name__}")


def session(data: bytes) -> None:
    from surfaced.session.read import Session, SessionError, load_session

    try:
        result = load_session(_scratch("fuzz-session.yaml", data))
    except SessionError:
        return
    if not isinstance(result, Session):
        raise Escape(f"load_session returned {type(result).__name__}")
    result.values()  # what the daemon applies next: must not raise either


def config(data: bytes) -> None:
    from surfaced.config import Config, ConfigError, load_config

    try:
        result = load_config(_scratch("config.yaml", data))
    except ConfigError:
        return
    if not isinstance(result, Config):
        raise Escape(f"load_config returned {type(result).__name__}")


def audio(data: bytes) -> None:
    import numpy as np

    from surfaced.session.wavio import WavError, read_wav

    if not data:
        return
    rate = (None, 48000, 44100, 8000)[data[0] % 4]  # resampled (soxr) or not
    try:
        frames, _ = read_wav(_scratch("fuzz.wav", data[1:]), rate, max_channels=64)
    except WavError:
        return
    if frames.dtype != np.float32 or frames.ndim != 2 or not np.isfinite(frames).all():
        raise Escape(f"read_wav returned {frames.dtype} {frames.shape} with non-finite values")


def _yaml_seeds(paths: list[Path]) -> list[bytes]:
    return [p.read_bytes() for p in paths if p.is_file()]


def _mapping_seeds() -> list[bytes]:
    small = sorted((ROOT / "mappings").glob("*.yaml"), key=lambda p: p.stat().st_size)
    return _yaml_seeds(small[:6])


def _session_seeds() -> list[bytes]:
    small = (b"channels:\n  - {name: a, source: {generator: sine}, fader: -6, pan: 0.2}\n"
             b"scenes:\n  - {name: v, values: {ch/1/fader: -3}}\n")
    return [*_yaml_seeds([ROOT / "docs" / "examples" / "demo-session.yaml"]), small]


def _config_seeds() -> list[bytes]:
    return _yaml_seeds([ROOT / "docs" / "examples" / "config.yaml"])


def _audio_seeds() -> list[bytes]:
    import io

    import numpy as np
    import soundfile as sf

    out = []
    tone = (np.sin(np.arange(64) / 3.0) * 0.5).astype(np.float32)
    for fmt, subtype, rate in (("WAV", "PCM_16", 48000), ("WAV", "FLOAT", 44100),
                               ("FLAC", "PCM_16", 48000), ("AIFF", "PCM_24", 8000)):
        buf = io.BytesIO()
        sf.write(buf, np.stack([tone, -tone], axis=1), rate, subtype=subtype, format=fmt)
        out.append(b"\x01" + buf.getvalue())
    return out


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("midi", midi, 512, _midi_seeds),
    Target("osc", osc, 1024, _osc_seeds),
    Target("slip", slip, 512, _slip_seeds),
    Target("box", box, 512, _box_seeds),
    Target("mapping", mapping, 2048, _mapping_seeds),
    Target("session", session, 2048, _session_seeds),
    Target("config", config, 1024, _config_seeds),
    Target("audio", audio, 2048, _audio_seeds),
)}
