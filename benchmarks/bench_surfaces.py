"""Surfaces benchmark: events per second from bytes to the core's queue, and the
latency from a MIDI message's arrival to the audio block that applies it.

    python benchmarks/bench_surfaces.py [--quick]

Throughput runs on one core with no audio: raw MIDI bytes (or OSC datagrams)
go through the real decoder, the mapping (a Surface), the Mixer and into the
core's parameter queue.

Latency runs the real daemon against a JACK server (dummy driver, 48 kHz,
64-frame periods) with the core's C callback live. A test controller sends
pitch-bend / CC messages on a JACK MIDI port; for every change the core
records the start time of the block that drained it (a probe queued right
behind the change), so latency = that block's start - the moment the message
was sent. Both clocks are CLOCK_MONOTONIC. Idle: a generic CC controller, no
feedback. Loaded: a Mackie Control (motor-fader echo, LED, LCD, meters at
their rate) plus a meter reader at 30 Hz. MIDI goes through surfaced's own
JACK client (transports/jack_midi.py).

Idle: the daemon bound to the CC box with no traffic: how often the MIDI
reader wakes, the daemon process's CPU (getrusage), and the JACK clients it
made (jack_lsp before and after).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from daemon_thread import DaemonThread  # noqa: E402
from jack_server import jack_server  # noqa: E402

from surfaced.config import Config  # noqa: E402
from surfaced.daemon import Daemon  # noqa: E402
from surfaced.mix.engine import Engine  # noqa: E402
from surfaced.mix.mixer import Change, Mixer  # noqa: E402
from surfaced.session import ChannelConfig, Session, Source  # noqa: E402
from surfaced.surfaces.native_osc import NativeOsc  # noqa: E402
from surfaced.surfaces.surface import Surface, load_mapping  # noqa: E402
from surfaced.transports.midi_codec import MidiParser  # noqa: E402
from surfaced.transports.osc_codec import encode_message, parse_packet  # noqa: E402

MAPPINGS = ROOT / "mappings"
BENCH_CC = """\
name: Benchmark CC faders
transport: midi
match: {port: "(?i)bench ?cc"}
strips: 8
defaults: {channel: 0, takeover: jump, echo: false}
controls:
  fader:
    each: {strip: 0..7}
    cc: ${20 + strip}
    param: ch/${ch}/fader
    feedback: false
"""


def bench_cc_mapping() -> Path:
    """A plain CC fader box that jumps (no soft takeover) and shows nothing."""
    d = Path(tempfile.mkdtemp(prefix="surfaced-bench-"))
    (d / "bench-cc.yaml").write_text(BENCH_CC)
    return d


# ------------------------------------------------------------------ throughput
def _midi_stream(n: int, kind: str) -> bytes:
    out = bytearray()
    for i in range(n):
        strip = i % 8
        v = (i * 37) % 16384
        if kind == "pitchbend":
            out += bytes([0xE0 | strip, v & 0x7F, v >> 7])
        else:
            out += bytes([0xB0, 20 + strip, v % 128])
    return bytes(out)


def throughput_midi(mapping: Path, kind: str, n: int, reps: int) -> list[float]:
    """Events/s: bytes -> MidiParser -> Surface.handle -> Mixer -> core queue."""
    rates = []
    for _ in range(reps):
        engine = Engine(16, 4, 48000, 64)
        mixer = Mixer(engine)
        surface = Surface(load_mapping(mapping), mixer, lambda e: None, "bench")
        parser = MidiParser("bench")
        data = _midi_stream(n, kind)
        chunk = 3 * 2048  # drain the core's queue between chunks (8191 messages)
        busy = 0.0
        for off in range(0, len(data), chunk):
            t0 = time.perf_counter()
            for ev in parser.feed(data[off:off + chunk]):
                surface.handle(ev)
            busy += time.perf_counter() - t0
            engine.process(64)
        surface.close()
        assert surface.stats.handled == n, surface.stats
        rates.append(n / busy)
    return rates


def throughput_osc(n: int, reps: int) -> list[float]:
    """Events/s: datagrams -> osc_codec -> native namespace -> Mixer -> core queue."""
    rates = []
    packets = [encode_message(f"/ch/{i % 8 + 1}/fader", [-60.0 + (i % 700) / 10])
               for i in range(n)]
    for _ in range(reps):
        engine = Engine(16, 4, 48000, 64)
        native = NativeOsc(Mixer(engine), lambda peer, pkt: True)
        busy = 0.0
        for off in range(0, n, 2048):
            t0 = time.perf_counter()
            for p in packets[off:off + 2048]:
                for ev in parse_packet(p, source="osc:udp:127.0.0.1:1"):
                    native.handle(ev)
            busy += time.perf_counter() - t0
            engine.process(64)
        assert native.stats.applied == n, native.stats
        rates.append(n / busy)
    return rates


# --------------------------------------------------------------------- latency
def _session(n: int = 16) -> Session:
    s = Session(path="<bench>", buses=4)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "pink"), {"fader": -10.0})
                  for i in range(1, n + 1)]
    return s


class _DaemonThread:
    """The real daemon in a thread, live audio on JACK, its one surface bound."""

    def __init__(self, mapping: str) -> None:
        cfg = Config(block=64, midi_api="jack", osc=[], enable=[mapping],
                     mapping_dirs=[bench_cc_mapping()])
        self.daemon = Daemon(cfg, _session(), on_status=lambda m: None)
        self._runner = DaemonThread(self.daemon)

    def __enter__(self) -> Daemon:
        b = self.daemon.bindings
        self._runner.start(lambda: bool(b) and b[0].transport.online, timeout=15,
                           what="bound to its surface")
        return self.daemon

    def __exit__(self, *exc: object) -> None:
        self._runner.stop(10)


def latency(mapping: str, port: str, message: Callable[[int], list[int]], samples: int,
            meter_reader: bool) -> tuple[list[float], int]:
    """Send `samples` messages, one at a time; return latencies (ms) and xruns."""
    import rtmidi

    ctl = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "benchctl")
    ctl.open_virtual_port(port)
    sink = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "benchctl")
    sink.open_virtual_port(port)  # feedback has somewhere to go, as on a real desk
    with _DaemonThread(mapping) as d:
        engine = d.engine

        def probe(change: Change) -> None:
            if change.source.startswith("surface:"):
                engine.probe(change.seq)

        d.mixer.subscribe(probe)
        stop = threading.Event()

        def read_meters() -> None:
            while not stop.is_set():
                engine.meters()
                while sink.get_message() is not None:
                    pass
                time.sleep(1 / 30)

        reader = threading.Thread(target=read_meters, daemon=True)
        if meter_reader:
            reader.start()
        time.sleep(0.5)
        out: list[float] = []
        seq_seen = engine.probe_result()[0]
        for i in range(samples):
            t0 = time.monotonic_ns()
            ctl.send_message(message(i))
            got = engine.wait_probe(seq_seen, 0.2)
            if got is not None:
                seq_seen, ns = got
                out.append((ns - t0) / 1e6)
            time.sleep(random.uniform(0.002, 0.006))  # arrivals at random phases
        stop.set()
        xruns = engine.meters().master.xruns
    ctl.close_port()
    sink.close_port()
    return out, xruns


def _jack_clients() -> set[str]:
    """Client names in the JACK graph (from jack_lsp)."""
    import subprocess

    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout
    return {line.split(":", 1)[0] for line in out.splitlines() if ":" in line}


def idle_jack_midi(seconds: float) -> dict[str, float]:
    """A bound surface and no traffic: reader wake-ups, CPU of the daemon, JACK clients made."""
    import resource

    import rtmidi

    ctl = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "benchctl")
    ctl.open_virtual_port("Bench CC")
    sink = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "benchctl")
    sink.open_virtual_port("Bench CC")  # the mapping's `port:` binds both directions
    before = _jack_clients()
    try:
        with _DaemonThread("bench-cc") as d:
            hub = d.jack_midi
            assert hub is not None, "MIDI is not on surfaced's JACK client"
            time.sleep(1.0)  # settle: the first feedback, the autosave
            s0, t0 = hub.stats(), time.monotonic()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            time.sleep(seconds)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            s1, t1 = hub.stats(), time.monotonic()
            made = sorted(_jack_clients() - before)
    finally:
        ctl.close_port()
        sink.close_port()
    span = t1 - t0
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / span * 100
    return {"reader_wakeups_per_s": (s1["reader_wakeups"] - s0["reader_wakeups"]) / span,
            "watch_passes_per_s": (s1["watch_passes"] - s0["watch_passes"]) / span,
            "hook_cycles_per_s": (s1["cycles"] - s0["cycles"]) / span,
            "cpu_percent": cpu, "clients": float(len(made)), "names": made}  # type: ignore[dict-item]


def reader_latency(samples: int, realtime: bool = True) -> tuple[list[float], bool]:
    """ms from the JACK cycle that read an event (its stamp) to the sink getting it.

    The JACK MIDI transport alone on a client of its own, a controller
    sending at random phases; the second value says whether the reader got
    real-time priority.
    """
    import rtmidi

    from surfaced.jackclient import JackClient
    from surfaced.transports.jack_midi import JackMidiHub, JackMidiTransport

    name = f"benchdev{int(realtime)}"
    dev = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name)
    dev.open_virtual_port("out")
    lat: list[float] = []
    with JackClient.open("benchmidi") as client:
        hub = JackMidiHub(realtime=realtime)
        hub.set_client(client)
        t = JackMidiTransport(lambda ev: lat.append((time.monotonic() - ev.time) * 1000),
                              hub=hub, input=f"{name}:out")
        t.start()
        time.sleep(0.3)
        for i in range(samples):
            dev.send_message([0xB0, 1, i % 128])
            time.sleep(random.uniform(0.002, 0.006))
        time.sleep(0.3)
        t.close()
        realtime = hub.realtime
        hub.close()
    dev.close_port()
    dev.delete()
    return lat, realtime


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer samples (CI smoke run)")
    args = ap.parse_args()
    n = 20000 if args.quick else 100000
    reps = 3 if args.quick else 7
    samples = 300 if args.quick else 2000
    print(f"surfaced surfaces benchmark  {time.strftime('%Y-%m-%d')}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} cpus")
    print("\nthroughput, bytes in -> parameter queued in the core (one core), events/s")
    for label, rates in [
        ("MCU faders (pitch bend)",
         throughput_midi(MAPPINGS / "mackie-control.yaml", "pitchbend", n, reps)),
        ("CC faders", throughput_midi(bench_cc_mapping() / "bench-cc.yaml", "cc", n, reps)),
        ("OSC native /ch/N/fader", throughput_osc(n, reps)),
    ]:
        print(f"  {label:<28} median {statistics.median(rates):>9,.0f}   "
              f"min {min(rates):>9,.0f}   (target >= 20,000)")

    print("\nlatency, MIDI message sent -> start of the block that applies it "
          "(JACK dummy, 48 kHz, 64 frames = 1.33 ms), ms")
    with jack_server(rate=48000, period=64):
        for label, mapping, port, msg, load in [
            ("idle: CC fader box", "bench-cc", "Bench CC",
             lambda i: [0xB0, 20 + i % 8, (i * 7) % 128], False),
            ("loaded: MCU echo+meters", "mackie-control", "MCU",
             lambda i: [0xE0 | (i % 8), (i * 37) & 0x7F, ((i * 37) >> 7) % 128], True),
        ]:
            lat, xruns = latency(mapping, port, msg, samples, load)
            print(f"  {label:<26} n={len(lat):>5}  p50 {pct(lat, 50):5.2f}  p90 {pct(lat, 90):5.2f}"
                  f"  p99 {pct(lat, 99):5.2f}  max {max(lat) if lat else float('nan'):5.2f}"
                  f"  xruns {xruns}   (target p99 < 3 ms)")
        print("\nJACK MIDI reader, the cycle that read an event -> the surface gets it, ms")
        for ask in (True, False):
            lat, realtime = reader_latency(samples, ask)
            label = "real-time priority" if realtime else "normal priority"
            print(f"  {label:<26} n={len(lat):>5}  p50 {pct(lat, 50):5.3f}  "
                  f"p90 {pct(lat, 90):5.3f}  p99 {pct(lat, 99):5.3f}  "
                  f"max {max(lat) if lat else float('nan'):5.3f}")
        idle = idle_jack_midi(5.0 if args.quick else 20.0)
        print("\nidle, one bound JACK MIDI surface (CC box), no traffic:")
        print(f"  MIDI reader wake-ups {idle['reader_wakeups_per_s']:.2f}/s, port re-checks "
              f"{idle['watch_passes_per_s']:.2f}/s, hook cycles {idle['hook_cycles_per_s']:.0f}/s")
        print(f"  daemon process CPU {idle['cpu_percent']:.1f}% of a core (live audio included)")
        print(f"  JACK clients the daemon made: {idle['clients']:.0f} {idle['names']}")


if __name__ == "__main__":
    main()
