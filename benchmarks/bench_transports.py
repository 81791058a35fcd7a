"""Codec-level throughput of the transports: events decoded per second on one core.

Run from the repository root: PYTHONPATH=. python benchmarks/bench_transports.py
[--repeats N] [--seconds S] (or without PYTHONPATH after `pip install -e .`).

Each case decodes the same input over and over for about S seconds per
repeat and prints the median events/s over N repeats, next to the library
baselines the codecs replace (mido's Message.from_bytes, python-osc's
OscMessage), so regressions show up as a ratio, not only as a number that
depends on the machine. Figures are printed, not recorded: the lead collects
them in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import mido
from pythonosc.osc_message import OscMessage

from surfaced.transports import slip
from surfaced.transports.midi_codec import MidiParser
from surfaced.transports.osc_codec import encode_bundle, encode_message, parse_packet

Case = tuple[str, Callable[[], int]]  # name, run once -> events produced


def midi_cases() -> list[Case]:
    parser = MidiParser("midi:bench")
    cc = b"\xb0\x07\x64"
    as_list = [0xB0, 0x07, 0x64]  # what rtmidi hands over
    running = b"\xb0" + b"".join(bytes((n % 128, n * 7 % 128)) for n in range(256))
    scribble = bytes([0xF0, 0x00, 0x00, 0x66, 0x14, 0x12, 0x00, *b"Kick  Snare ", 0xF7])
    mixed = b"".join([cc, b"\xe3\x00\x40", b"\x90\x3c\x7f", b"\xf8", scribble]) * 16

    def one_cc() -> int:
        return len(parser.feed(cc))

    def one_cc_list() -> int:
        return len(parser.feed(as_list))

    def running_status() -> int:
        return len(parser.feed(running))

    def mixed_stream() -> int:
        return len(parser.feed(mixed))

    def mido_cc() -> int:
        mido.Message.from_bytes(cc)
        return 1

    return [
        ("MIDI: one CC per call (bytes)", one_cc),
        ("MIDI: one CC per call (rtmidi list)", one_cc_list),
        ("MIDI: running-status stream, 256 CCs", running_status),
        ("MIDI: mixed stream (CC, bend, note, clock, SysEx)", mixed_stream),
        ("MIDI baseline: mido Message.from_bytes(CC)", mido_cc),
    ]


def osc_cases() -> list[Case]:
    fader = encode_message("/ch/3/fader", [-6.0])
    mute = encode_message("/ch/3/mute", [1])
    text = encode_message("/ch/3/name", ["Kick"])
    bundle8 = encode_bundle([encode_message(f"/ch/{i}/fader", [0.5]) for i in range(8)])
    slip_stream = b"".join(slip.encode(fader) for _ in range(64))
    decoder = slip.SlipDecoder()

    def one(packet: bytes) -> Callable[[], int]:
        return lambda: len(parse_packet(packet, source="osc:udp:127.0.0.1:9000"))

    def slip_frames() -> int:
        count = 0
        for frame in decoder.feed(slip_stream):
            count += len(parse_packet(frame))
        return count

    def python_osc_fader() -> int:
        OscMessage(fader)
        return 1

    return [
        ("OSC: /ch/3/fader f", one(fader)),
        ("OSC: /ch/3/mute i", one(mute)),
        ("OSC: /ch/3/name s", one(text)),
        ("OSC: bundle of 8 faders", one(bundle8)),
        ("OSC: SLIP stream, 64 frames (deframe + parse)", slip_frames),
        ("OSC baseline: python-osc OscMessage(fader)", python_osc_fader),
    ]


def measure(run: Callable[[], int], seconds: float) -> float:
    """Events per second over one timed stretch of about `seconds`."""
    calls = 1
    while True:  # grow the batch until one batch takes a measurable time
        start = time.perf_counter()
        for _ in range(calls):
            run()
        if time.perf_counter() - start > seconds / 20:
            break
        calls *= 4
    events, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(calls):
            events += run()
    return events / elapsed


def main() -> None:
    """Print the median events/s of every case."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--repeats", type=int, default=5)
    args.add_argument("--seconds", type=float, default=0.5)
    opts = args.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores; median of {opts.repeats} x {opts.seconds} s"
    )
    # The best run is printed too: on a shared machine it is the steadier figure.
    print(f"{'case':<52} {'median ev/s':>12} {'us/event':>9} {'best ev/s':>12}")
    for name, run in midi_cases() + osc_cases():
        rates = [measure(run, opts.seconds) for _ in range(opts.repeats)]
        rate = statistics.median(rates)
        print(f"{name:<52} {rate:>12,.0f} {1e6 / rate:>9.2f} {max(rates):>12,.0f}")


if __name__ == "__main__":
    main()
