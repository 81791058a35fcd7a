"""The byte parsers' cost per byte: MidiParser and SlipDecoder on long streams (issue 8).

    python benchmarks/bench_parsers.py

Each stream is fed in chunks (4096 bytes: a burst read; 64 and 3: small
serial reads), best of 5 runs, and reported in microseconds per byte. The
streams: a 60 KB SysEx dump, 60 KB of running-status CC data bytes after
one status byte, note-ons each with its own status byte (one Event per 3
bytes), 60 KB of random bytes (errors, truncations and events mixed), and
2000 SLIP frames of 8-64 random bytes. Run it on an older checkout (or with
that checkout first on PYTHONPATH) for a before figure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from surfaced.transports.midi_codec import MidiParser
from surfaced.transports.slip import SlipDecoder, encode


def per_byte(data: bytes, chunk: int, make: Callable[[], Callable[[bytes], object]]) -> float:
    """Best of 5 of feeding `data` in `chunk`-byte pieces to a fresh parser, in us per byte."""
    best = float("inf")
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for _ in range(5):
        feed = make()
        started = time.perf_counter()
        for piece in pieces:
            feed(piece)
        best = min(best, time.perf_counter() - started)
    return best / len(data) * 1e6


def main() -> None:
    r = random.Random(1)
    midi = {
        "SysEx 60 KB": b"\xf0" + bytes(r.randrange(128) for _ in range(60000)) + b"\xf7",
        "running-status CC": b"\xb0" + bytes(r.randrange(128) for _ in range(60000)),
        "note-ons, status each": b"".join(bytes((0x90 | i % 16, i % 128, i * 7 % 128))
                                          for i in range(20000)),
        "random bytes": bytes(r.randrange(256) for _ in range(60000)),
    }
    for name, data in midi.items():
        cost = per_byte(data, 4096, lambda: MidiParser("bench").feed)
        print(f"MIDI {name:24s} chunks of 4096: {cost:6.3f} us/byte")
    frames = b"".join(encode(bytes(r.randrange(256) for _ in range(r.randint(8, 64))))
                      for _ in range(2000))
    for chunk in (4096, 64, 3):
        cost = per_byte(frames, chunk, lambda: SlipDecoder().feed)
        print(f"SLIP frames of 8-64 bytes      chunks of {chunk:4d}: {cost:6.3f} us/byte")


if __name__ == "__main__":
    main()
