"""Mix link benchmark: a fader move on one daemon -> the parameter applied on another.

    python benchmarks/bench_link.py [--quick]

A real mosquitto broker on 127.0.0.1 (its own process and config, as in the
tests: tests/link/broker.py) and two real daemons in this process, each on its
own asyncio loop and headless clock (64-frame blocks at 48 kHz), linked to it.
Daemon A sets ch/1/fader (a surface's move: Mixer.set with a surface source);
latency is measured, on CLOCK_MONOTONIC, from that call to

- *applied*: daemon B's mixer applying the value (its change subscriber runs),
  which is the link's own path: A's subscriber stamps the change, A's link
  worker publishes it, the broker forwards it, B's paho thread queues it, B's
  link worker decides it by stamp and applies it;
- *in a block*: the start of the audio block on B that played the new value
  (the core records it for each transaction: TxnStatus.block_ns).

Moves are sent one at a time, each after the last arrived, with a pause of a
few ms between them. A second section sweeps the fader with 1000 moves at
1 kHz and reports how long B takes to settle on the last value and how many
of the moves it applied (the worker publishes the latest value it holds, so a
burst may be coalesced; the end value is always the last move).

Nothing here asserts a time; without mosquitto the benchmark says so and stops.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from link.broker import MOSQUITTO, Broker  # noqa: E402
from link.harness import LinkedDaemon, link_config, wait_until  # noqa: E402

from surfaced.mix.mixer import Change  # noqa: E402

PATH = "ch/1/fader"


class Arrivals:
    """B's mixer subscriber: when each value of PATH arrived (monotonic ns)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[float, int] = {}
        self.txn: dict[float, int] = {}  # the transaction that carried it to b's core
        self.event = threading.Event()
        self.count = 0

    def __call__(self, change: Change) -> None:
        if change.path == PATH and isinstance(change.value, float):
            now = time.monotonic_ns()
            with self.lock:
                self.at.setdefault(change.value, now)
                self.txn.setdefault(change.value, change.txn)
                self.count += 1
            self.event.set()


def one_by_one(a: LinkedDaemon, b: LinkedDaemon, arrivals: Arrivals, samples: int) -> tuple[
        list[float], list[float]]:
    """(ms to B's mixer, ms to the start of B's block playing it) per move."""
    applied: list[float] = []
    played: list[float] = []
    for i in range(samples):
        value = -40.0 + (i % 400) * 0.1 + 0.01 * (i // 400)  # a fresh value every move
        arrivals.event.clear()
        sent = time.monotonic_ns()
        a.mixer.set(PATH, value, "surface:bench")
        deadline = time.monotonic() + 5.0
        while value not in arrivals.at:
            if time.monotonic() > deadline:
                raise RuntimeError(f"move {i} never reached daemon b")
            arrivals.event.wait(0.5)
            arrivals.event.clear()
        applied.append((arrivals.at[value] - sent) / 1e6)
        status = b.daemon.engine.txn_status()
        while status.txn < arrivals.txn[value]:
            if time.monotonic() > deadline:
                raise RuntimeError("the change never reached an audio block on b")
            time.sleep(0.0002)
            status = b.daemon.engine.txn_status()
        played.append((status.block_ns - sent) / 1e6)
        time.sleep(0.005)
    return applied, played


def sweep(a: LinkedDaemon, b: LinkedDaemon, arrivals: Arrivals, moves: int) -> tuple[float, int]:
    """(ms from the last move to B holding it, moves B applied) for a 1 kHz sweep."""
    with arrivals.lock:
        before = arrivals.count
    start = time.monotonic()
    last = 0.0
    for i in range(moves):
        last = -60.0 + 60.0 * i / (moves - 1) + 0.001
        a.mixer.set(PATH, last, "surface:bench")
        while time.monotonic() < start + (i + 1) / 1000.0:
            time.sleep(0.0002)
    sent = time.monotonic_ns()
    if not wait_until(lambda: last in arrivals.at, 10.0, 0.0005):
        raise RuntimeError("the sweep's last move never reached daemon b")
    with arrivals.lock:
        return (max(0, arrivals.at[last] - sent)) / 1e6, arrivals.count - before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer samples (CI smoke run)")
    args = ap.parse_args()
    samples = 200 if args.quick else 2000
    print(f"surfaced mix-link benchmark  {time.strftime('%Y-%m-%d')}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} cpus")
    if MOSQUITTO is None:
        print("  mosquitto is not installed (apt-get install -y mosquitto): skipped")
        return
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp) / "broker") as broker:
        a = LinkedDaemon(link_config(broker.url, "a", mix="bench"), block=64).start()
        b = LinkedDaemon(link_config(broker.url, "b", mix="bench"), block=64).start()
        try:
            if not wait_until(lambda: a.in_mix() and b.in_mix(), 20):
                raise RuntimeError(f"the daemons did not join: {a.lines} {b.lines}")
            arrivals = Arrivals()
            b.mixer.subscribe(arrivals)
            applied, played = one_by_one(a, b, arrivals, samples)
            settle, taken = sweep(a, b, arrivals, 1000)
        finally:
            a.stop()
            b.stop()
    for name, lat in (("applied by b's mixer", applied),
                      ("start of b's audio block playing it", played)):
        p = np.percentile(np.array(lat), [50, 90, 99])
        print(f"  a's move -> {name}, n={len(lat)}: p50 {p[0]:.2f} ms  p90 {p[1]:.2f} ms  "
              f"p99 {p[2]:.2f} ms  max {max(lat):.2f} ms")
    print(f"  1000 moves at 1 kHz: b applied {taken} of them and held the last one "
          f"{settle:.2f} ms after it was made")
    print("  (broker: mosquitto on 127.0.0.1, QoS 1, retained; b on the headless clock, "
          "64-frame blocks at 48 kHz)")


if __name__ == "__main__":
    main()
