"""The serial transport over a real pseudo-terminal: frames per second and latency.

Run from the repository root: PYTHONPATH=. python benchmarks/bench_serial.py
[--frames N] [--samples N] [--repeats N] [--gap-ms MS]

- throughput: a child process plays the box and writes pre-encoded /fader
  frames into the master side of a pty as fast as it can; the transport reads
  the slave side (as it would /dev/ttyACM0) and hands Events to a counting
  sink. The pty's flow control blocks the writer when the reader falls
  behind, so nothing is lost and the figure is what the reader sustains.
- latency: one frame at a time written on the box side, timed from just
  before the write to the sink call (both perf_counter_ns in this process),
  with a pause of about --gap-ms between samples so the reader is idle when
  the byte arrives, as between two fader moves.
- decoder only: SerialDecoder.feed on the same frames without I/O, the
  ceiling the reader works against.

Figures are printed, not recorded: the lead collects them in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import tty

from surfaced.events import Event
from surfaced.transports import slip
from surfaced.transports.osc_codec import encode_message
from surfaced.transports.serial import SerialDecoder, SerialTransport

UART_BYTES_PER_S = 115200 / 10  # 8N1: ten bits on the wire per byte

# The box side of the throughput run: write argv[2] frames of the hex pattern in argv[1].
WRITER = """
import os, sys
pattern = bytes.fromhex(sys.argv[1])
rounds = int(sys.argv[2])
for _ in range(rounds):
    view = memoryview(pattern)
    while view:
        view = view[os.write(1, view):]
"""


def fader_frames(count: int = 1024) -> list[bytes]:
    """SLIP-framed /fader/N messages as a box sends them while faders move."""
    return [slip.encode(encode_message(f"/fader/{1 + i % 8}", [(i * 61) % 16384]))
            for i in range(count)]


class Pty:
    """A raw pty: the box writes `master`, the transport opens `path`."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


def throughput(frames: list[bytes], total: int) -> tuple[float, float]:
    """Events per second and bytes per second the transport sustained over `total` frames."""
    pattern = b"".join(frames)
    rounds = max(1, total // len(frames))
    expected = rounds * len(frames)
    done = threading.Event()
    count, first, last = 0, 0.0, 0.0

    def sink(event: Event) -> None:
        nonlocal count, first, last
        count += 1
        if count == 1:
            first = time.perf_counter()
        elif count == expected:
            last = time.perf_counter()
            done.set()

    pty = Pty()
    transport = SerialTransport(sink, port=pty.path, hello=None)
    transport.start()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, pattern.hex(), str(rounds)],
                              stdout=pty.master)
    try:
        if not done.wait(timeout=120):
            raise SystemExit(f"only {count} of {expected} events arrived")
        writer.wait(timeout=10)
    finally:
        transport.close()
        pty.close()
    # The first event's frame had to arrive before the clock started: count from the second.
    seconds = last - first
    return (expected - 1) / seconds, len(pattern) * rounds / seconds


def latency(frames: list[bytes], samples: int, gap_s: float) -> list[float]:
    """Microseconds from os.write on the box side to the sink call, one frame at a time."""
    arrived = threading.Event()
    stamp = [0]

    def sink(event: Event) -> None:
        stamp[0] = time.perf_counter_ns()
        arrived.set()

    pty = Pty()
    transport = SerialTransport(sink, port=pty.path, hello=None)
    transport.start()
    out: list[float] = []
    try:
        for i in range(samples):
            data = frames[i % len(frames)]
            arrived.clear()
            time.sleep(gap_s)
            start = time.perf_counter_ns()
            os.write(pty.master, data)
            if not arrived.wait(timeout=5):
                raise SystemExit(f"sample {i}: no event within 5 s")
            out.append((stamp[0] - start) / 1000)
    finally:
        transport.close()
        pty.close()
    return out


def applied_latency(samples: int, gap_s: float) -> list[float]:
    """Microseconds from os.write on the box side to the start of the audio block that
    applies the fader move: transport -> reference-box mapping -> Mixer -> core queue,
    with the core on the headless clock at 64-frame blocks (1.33 ms)."""
    import tempfile
    from pathlib import Path

    from surfaced.mix.audio import HeadlessClock
    from surfaced.mix.engine import Engine
    from surfaced.mix.mixer import Change, Mixer
    from surfaced.surfaces.surface import Surface, load_mapping

    root = Path(__file__).resolve().parents[1]
    text = (root / "mappings" / "diy-reference-box.yaml").read_text()
    # Every sample must reach the mix: let the faders jump instead of picking up.
    copy = Path(tempfile.mkdtemp()) / "diy-reference-box.yaml"
    copy.write_text(text.replace("takeover: pickup", "takeover: jump"))
    engine = Engine(8, 2, 48000, 512)
    mixer = Mixer(engine)

    def probe(change: Change) -> None:
        engine.probe(change.seq)

    mixer.subscribe(probe)
    pty = Pty()
    surface: Surface | None = None
    transport = SerialTransport(lambda e: surface.handle(e) if surface else None,
                                port=pty.path, hello=None)
    def send(event: Event) -> None:
        transport.send(event)

    surface = Surface(load_mapping(copy), mixer, send, "bench-box")
    transport.start()
    out: list[float] = []
    with HeadlessClock(engine, block=64):
        try:
            seen = engine.probe_result()[0]
            for i in range(samples):
                # fader 1 to a new position each time (4096 steps apart, never equal)
                data = slip.encode(encode_message("/fader/1", [(i * 4099) % 16384]))
                # a random phase against the 1.33 ms block clock, as a hand has
                time.sleep(gap_s + random.uniform(0.0, 0.0014))
                start = time.monotonic_ns()
                os.write(pty.master, data)
                got = engine.wait_probe(seen, 2.0, poll=0.00005)
                if got is not None:
                    seen, ns = got
                    out.append((ns - start) / 1000)
        finally:
            transport.close()
            surface.close()
            pty.close()
    return out


def decoder_only(frames: list[bytes], seconds: float) -> float:
    """Events per second of SerialDecoder.feed on the same stream, no I/O."""
    chunk = b"".join(frames)
    decoder = SerialDecoder("serial:bench")
    events, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        events += len(decoder.feed(chunk))
    return events / elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Print the throughput, latency and decoder figures."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--frames", type=int, default=200_000, help="frames per throughput run")
    args.add_argument("--samples", type=int, default=5000, help="latency samples")
    args.add_argument("--repeats", type=int, default=3)
    args.add_argument("--gap-ms", type=float, default=1.0)
    opts = args.parse_args()
    frames = fader_frames()
    size = statistics.mean(len(f) for f in frames)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"/fader frames of {size:.1f} bytes on the wire")

    runs = [throughput(frames, opts.frames) for _ in range(opts.repeats)]
    rate = statistics.median(r[0] for r in runs)
    print(f"throughput over a pty ({opts.frames:,} frames, median of {opts.repeats}): "
          f"{rate:,.0f} events/s ({statistics.median(r[1] for r in runs) / 1e6:.2f} MB/s), "
          f"best {max(r[0] for r in runs):,.0f}")
    print(f"  for scale: a 115200-baud UART carries {UART_BYTES_PER_S / size:,.0f} such frames/s")

    lat = latency(frames, opts.samples, opts.gap_ms / 1000)
    print(f"latency byte written -> Event in sink ({len(lat):,} samples, {opts.gap_ms} ms apart): "
          f"p50 {percentile(lat, 0.5):.0f} us, p90 {percentile(lat, 0.9):.0f} us, "
          f"p99 {percentile(lat, 0.99):.0f} us, max {max(lat):.0f} us")

    app = applied_latency(min(opts.samples, 2000), max(opts.gap_ms, 2.0) / 1000)
    print(f"latency byte written -> start of the block applying it ({len(app):,} samples, "
          f"core on the headless clock, 64-frame blocks): p50 {percentile(app, 0.5):.0f} us, "
          f"p90 {percentile(app, 0.9):.0f} us, p99 {percentile(app, 0.99):.0f} us, "
          f"max {max(app):.0f} us")

    dec = statistics.median(decoder_only(frames, 0.5) for _ in range(opts.repeats))
    print(f"decoder only (SLIP + strict check + OSC parse, no I/O): {dec:,.0f} events/s "
          f"({1e6 / dec:.2f} us/event)")


if __name__ == "__main__":
    main()
