"""Autosave cost on the control thread: how much later OSC events land while autosaves run.

    python benchmarks/bench_document.py [--seconds S] [--rate HZ]

The real daemon runs a 64-channel session (4 buses, 4 scenes of the whole mix)
on the headless clock, in this process. A sender in another process streams
OSC `/ch/N/fader` messages over UDP on 127.0.0.1 at RATE per second, each
value encoding its sequence number, and records when it sent each one
(CLOCK_MONOTONIC, shared by both processes). A mixer subscriber records when
each change was applied on the daemon's loop. Delay = applied - sent.

Three runs of S seconds each: autosave off, autosave every 1 s (the default;
the stream keeps the mix dirty, so one autosave per second), and every 0.1 s
(ten times the default, to put many events next to an autosave). For each run:
p50 / p99 / p99.9 / max of every event's delay, and p99 of the events sent
while an autosave job was running (the ones it could delay). Also printed:
what starting an autosave costs the loop itself (the snapshot, under the
mixer's lock) and what the worker spends encoding and writing one. Between
autosaves the worker also writes the change log (every 0.2 s while changes come).
The target (issue 7): autosave adds at most 1 ms to the p99 delay.
Figures are printed, not asserted; benchmarks/RESULTS.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from surfaced.config import Config  # noqa: E402
from surfaced.daemon import Daemon  # noqa: E402
from surfaced.mix.mixer import Change  # noqa: E402
from surfaced.session import load_session  # noqa: E402
from surfaced.transports.osc import OscListenerConfig  # noqa: E402

STEPS = 6400  # fader values per channel: -90 dB + k/64, exact in OSC's float32

SENDER = """
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
from surfaced.transports.osc_codec import encode_message
port, seconds, rate, out = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = []
start = time.monotonic()
k = 0
while True:
    due = start + k / rate
    now = time.monotonic()
    if now - start >= seconds:
        break
    if due > now:
        time.sleep(due - now)
    ch, step = 1 + k // 6400, k % 6400
    sent.append(time.monotonic())
    s.sendto(encode_message(f"/ch/{ch}/fader", [-90.0 + step / 64.0]), ("127.0.0.1", port))
    k += 1
json.dump(sent, open(out, "w"))
"""


def make_session(folder: Path) -> Path:
    song = folder / "big.yaml"
    chans = "".join(f"  - {{name: Ch {i}, source: {{generator: sine}}, fader: -{i % 20}}}\n"
                    for i in range(1, 65))
    song.write_text(f"version: 2\nbuses: 4\nchannels:\n{chans}")
    return song


def run(mode: str, interval: float, seconds: float, rate: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        song = make_session(Path(tmp))
        cfg = Config(headless=True, block=256, enable=[], autosave_interval=min(interval, 10.0),
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
        d = Daemon(cfg, load_session(song), on_status=lambda m: None)
        for name in ("Intro", "Verse", "Chorus", "Outro"):
            d.mixer.set("ch/64/pan", {"Intro": -1.0, "Verse": -0.5, "Chorus": 0.5,
                                      "Outro": 1.0}[name], "bench")
            d.scenes.store(name)
        applied: dict[int, float] = {}

        def on_change(c: Change) -> None:
            if c.source.startswith("osc:") and isinstance(c.value, float):
                ch = int(c.path.split("/")[1])
                applied[(ch - 1) * STEPS + round((c.value + 90.0) * 64.0)] = time.monotonic()

        d.mixer.subscribe(on_change)
        doc = d.document
        windows: list[list[float]] = []
        tick_us: list[float] = []
        if interval > 10.0:
            doc.tick = lambda now: None  # type: ignore[method-assign]
        else:
            real_tick, real_autosave = doc.tick, doc._autosave
            original_submit = doc._worker.submit

            def submit(job: object) -> bool:
                # a window opens when the loop hands a snapshot over, closes when it is
                # written (change-log flushes between autosaves are not windows)
                if getattr(job, "__name__", "") != "_flush_log":
                    windows.append([time.monotonic(), float("inf")])
                return original_submit(job)  # type: ignore[arg-type]

            def timed_tick(now: float) -> None:
                count = len(windows)
                t0 = time.perf_counter()
                real_tick(now)
                if len(windows) > count:  # this tick took a snapshot
                    tick_us.append((time.perf_counter() - t0) * 1e6)

            def autosave(snap: object) -> None:
                real_autosave(snap)  # type: ignore[arg-type]
                windows[-1][1] = time.monotonic()

            doc.tick = timed_tick  # type: ignore[method-assign]
            doc._autosave = autosave  # type: ignore[method-assign]
            doc._worker.submit = submit  # type: ignore[method-assign]

        async def main() -> list[float]:
            stop = asyncio.Event()
            task = asyncio.create_task(d.run(stop))
            while not d.osc:
                await asyncio.sleep(0.01)
            port = d.osc[0].address[1]
            await asyncio.sleep(1.0)  # settle
            out = Path(tmp) / "sent.json"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SENDER, str(ROOT), str(port), str(seconds), str(rate),
                str(out))
            await proc.wait()
            await asyncio.sleep(0.5)
            stop.set()
            await task
            return list(json.loads(out.read_text()))

        sent = asyncio.run(main())
    delays = np.array([(applied[k] - t) * 1000.0 for k, t in enumerate(sent) if k in applied])
    spans = [(a, b) for a, b in (w for w in windows if w[1] != float("inf"))]
    during = np.array([(applied[k] - t) * 1000.0 for k, t in enumerate(sent)
                       if k in applied and any(a <= t <= b for a, b in spans)])
    return {
        "mode": mode, "events": len(sent), "lost": len(sent) - len(delays),  # type: ignore[dict-item]
        "p50": float(np.percentile(delays, 50)), "p99": float(np.percentile(delays, 99)),
        "p999": float(np.percentile(delays, 99.9)), "max": float(delays.max()),
        "autosaves": float(doc.figures.count), "during_n": float(len(during)),
        "during_p99": float(np.percentile(during, 99)) if len(during) else float("nan"),
        "tick_us_p50": float(np.median(tick_us)) if tick_us else float("nan"),
        "tick_us_p99": float(np.percentile(tick_us, 99)) if tick_us else float("nan"),
        "write_ms": doc.figures.encode_ms + doc.figures.write_ms,
        "encode_ms": doc.figures.encode_ms, "bytes": float(doc.figures.bytes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per run (default 20)")
    ap.add_argument("--rate", type=float, default=500.0, help="OSC events per second")
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python "
          f"{platform.python_version()}; {args.rate:g} events/s for {args.seconds:g} s per run")
    rows = [run("autosave off", 1e9, args.seconds, args.rate),
            run("autosave every 1 s", 1.0, args.seconds, args.rate),
            run("autosave every 0.1 s", 0.1, args.seconds, args.rate)]
    print(f"{'':22} {'events':>7} {'lost':>5} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} "
          f"{'max':>7} {'saves':>6} {'during':>7} {'p99 during':>10}")
    for r in rows:
        print(f"{r['mode']:22} {r['events']:7.0f} {r['lost']:5.0f} {r['p50']:7.3f} "
              f"{r['p99']:7.3f} {r['p999']:7.3f} {r['max']:7.3f} {r['autosaves']:6.0f} "
              f"{r['during_n']:7.0f} {r['during_p99']:10.3f}")
    base = rows[0]["p99"]
    for r in rows[1:]:
        print(f"{r['mode']}: p99 delay added {r['p99'] - base:+.3f} ms (target <= 1 ms); "
              f"starting an autosave on the loop: p50 {r['tick_us_p50']:.0f} us, p99 "
              f"{r['tick_us_p99']:.0f} us; the worker: encode {r['encode_ms']:.2f} ms, "
              f"encode+write {r['write_ms']:.2f} ms, {r['bytes'] / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
