"""Garbage never accumulates: a long-lived decoder fed hostile bytes stays the same size.

The SLIP decoder once kept every bad escape it had seen (each error's
traceback held the frames holding the error before it: 36 MB per 20,000),
which the long soak showed only as a slow RSS drift. Here each decoder the
daemon keeps for the life of a connection (MIDI, SLIP, the box's serial
decoder) and the stateless OSC parser are fed tens of thousands of random
and mutated inputs after a warm-up, and the Python heap may grow by no more
than a few frames' worth (tracemalloc, in this process: no timing involved).
"""

from __future__ import annotations

import contextlib
import random
import tracemalloc
from collections.abc import Callable

import pytest

from surfaced.transports import osc_codec
from surfaced.transports.midi_codec import MidiParser
from surfaced.transports.osc_codec import encode_message
from surfaced.transports.serial_codec import SerialDecoder
from surfaced.transports.slip import END, ESC, SlipDecoder, encode

GROWTH_LIMIT = 64_000  # bytes: one frame in flight, the last error, allocator slack


def _chunks(rng: random.Random, valid: bytes, specials: bytes) -> bytes:
    """Random bytes, often with valid traffic and the format's special bytes mixed in."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 1:
        return bytes(rng.choice(specials) for _ in range(rng.randrange(1, 16)))
    mutated = bytearray(valid)
    for _ in range(rng.randrange(1, 4)):
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    return bytes(mutated) if kind == 2 else valid + rng.randbytes(rng.randrange(1, 8))


def _osc(data: bytes) -> None:
    with contextlib.suppress(osc_codec.OscParseError):
        osc_codec.parse_packet(data, source="fuzz")


def _feeders() -> dict[str, tuple[Callable[[bytes], object], bytes, bytes]]:
    midi = MidiParser("fuzz", max_sysex=256)
    slip_dec = SlipDecoder()
    box = SerialDecoder("box")
    message = encode_message("/knob/1", [0.5])
    return {
        "midi": (midi.feed, bytes([0xB0, 7, 100, 0xF0, 0x7E, 0x01, 0xF7]),
                 bytes([0xF0, 0xF7, 0xB0, 0x90, 0xF8, 0xFE, 0xF4, 0x7F])),
        "slip": (slip_dec.feed, encode(b"payload"), bytes([END, ESC, 0xDC, 0xDD, 0x00])),
        "box": (box.feed, encode(message), bytes([END, ESC, 0xDC, 0xDD, 0x2F, 0x2C, 0x00])),
        "osc": (_osc, message, b"/,#\x00ifsb"),
    }


def _heap_growth(step: Callable[[], object], warm_up: int, runs: int) -> int:
    """Bytes the Python heap grew over `runs` calls of `step`, after `warm_up` calls
    (caches, interned strings, the first errors)."""
    for _ in range(warm_up):
        step()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(runs):
            step()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["midi", "slip", "box", "osc"])
def test_hostile_bytes_do_not_grow_a_decoder(name: str) -> None:
    feed, valid, specials = _feeders()[name]
    rng = random.Random(name)
    grown = _heap_growth(lambda: feed(_chunks(rng, valid, specials)), 2_000, 30_000)
    assert grown < GROWTH_LIMIT, f"{name}: 30,000 hostile inputs grew the heap by {grown} bytes"


def test_bad_escapes_do_not_pile_up_in_memory() -> None:
    # The leak itself, as the serial reader feeds its decoder: a bad escape,
    # then a good frame, over and over.
    dec = SerialDecoder("box")
    good = encode(encode_message("/knob/1", [0.5]))
    bad = b"\xc0ab\xdbxcd\xc0"  # ESC followed by 'x': that frame is dropped

    def feed() -> None:
        dec.feed(bad)
        assert len(dec.feed(good)) == 1

    grown = _heap_growth(feed, 1_000, 20_000)
    assert dec.stats.bad_escape == 21_000
    # Holding every error would take megabytes (each with its frames and data);
    # a bounded decoder holds one error and one frame in flight.
    assert grown < GROWTH_LIMIT, f"20,000 bad escapes grew the heap by {grown} bytes"
