"""Scene recall benchmark: a 64-channel mix, every kind in scope, from the OSC
message to the audio block that applies it.

    python benchmarks/bench_recall.py [--quick]

The real daemon runs a 64-channel, 8-bus session on a JACK server (dummy
driver, 48 kHz, 64-frame periods) with the core's C callback live. Two scenes
differ in every parameter a scene holds (trim, phase, filters, EQ, dynamics,
faders, pans, mutes, sends, names: about 3,000 values). A UDP peer on
127.0.0.1 sends `/scene/recall s A` and `/scene/recall s B` in turn; for each,
latency = the start of the block that applied the recall (the core records it
for every transaction: TxnStatus.block_ns) - the moment the datagram was
sent. Both clocks are CLOCK_MONOTONIC. The core's record also says how many
blocks each recall was spread over (always one).

Without jackd the daemon runs on its headless clock (same core, same blocks),
which the output says.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from daemon_thread import DaemonThread  # noqa: E402
from jack_server import jack_server  # noqa: E402

from surfaced.config import Config  # noqa: E402
from surfaced.daemon import Daemon  # noqa: E402
from surfaced.mix.mixer import Mixer  # noqa: E402
from surfaced.mix.scenes import kind_of  # noqa: E402
from surfaced.session import ChannelConfig, Session, Source  # noqa: E402
from surfaced.transports.osc import OscListenerConfig  # noqa: E402
from surfaced.transports.osc_codec import encode_message, parse_packet  # noqa: E402

CHANNELS, BUSES = 64, 8


def session() -> Session:
    s = Session(path="<bench>", buses=BUSES)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "pink"), {"fader": -20.0})
                  for i in range(1, CHANNELS + 1)]
    return s


def random_mix(mixer: Mixer, seed: int) -> dict[str, object]:
    """Every parameter a scene holds, at a random valid value."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    for path in mixer.paths():
        kind = kind_of(path)
        if kind == "solo":
            continue
        spec = mixer.spec(path)
        if spec.is_text:
            out[path] = f"Scene{seed} {path}"
        elif spec.is_bool:
            out[path] = float(rng.integers(0, 2))
        elif path.endswith("comp/key"):
            out[path] = float(rng.integers(0, CHANNELS + 1))
        else:
            lo = max(spec.minimum, -60.0)
            out[path] = float(rng.uniform(lo, spec.maximum))
    return out


def running_daemon(headless: bool) -> Daemon:
    """The real daemon with a UDP OSC listener on 127.0.0.1 (see DaemonThread)."""
    cfg = Config(block=64, headless=headless, enable=[],
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
    return Daemon(cfg, session(), on_status=lambda m: None)


def recall_latency(d: Daemon, samples: int) -> tuple[list[float], int, int]:
    """(latencies ms, values per recall, blocks per recall at worst)."""
    mixer = d.mixer
    for name, seed in (("A", 1), ("B", 2)):
        mixer.apply(random_mix(mixer, seed), "bench")
        d.scenes.store(name)
    port = d.osc[0].address[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    lat: list[float] = []
    changed = 0
    worst_blocks = 1
    for i in range(samples):
        scene = "AB"[i % 2]
        sent = time.monotonic_ns()
        sock.sendto(encode_message("/scene/recall", [scene]), ("127.0.0.1", port))
        reply = parse_packet(sock.recv(65536))[0]
        if reply.address != "/scene/recall":
            raise RuntimeError(f"unexpected answer {reply}")
        changed = max(changed, int(reply.args[1]))  # type: ignore[call-overload]
        status = d.engine.txn_status()
        deadline = time.monotonic() + 2.0
        while status.applied == 0 or status.last_frame < status.first_frame \
                or status.block_ns < sent:  # the block has not run yet
            if time.monotonic() > deadline:
                raise RuntimeError("the recall never reached an audio block")
            time.sleep(0.0002)
            status = d.engine.txn_status()
        worst_blocks = max(worst_blocks, 1 + status.split)
        lat.append((status.block_ns - sent) / 1e6)
        time.sleep(0.01)  # let the mix play a moment between recalls
    sock.close()
    return lat, changed, worst_blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer samples (CI smoke run)")
    args = ap.parse_args()
    samples = 60 if args.quick else 400
    have_jack = shutil.which("jackd") is not None
    print(f"surfaced scene-recall benchmark  {time.strftime('%Y-%m-%d')}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} cpus")
    server: AbstractContextManager[object] = (
        jack_server(rate=48000, period=64) if have_jack else nullcontext())
    with server:
        d = running_daemon(headless=not have_jack)
        runner = DaemonThread(d)
        runner.start(lambda: bool(d.osc), what="listening for OSC")
        try:
            lat, changed, blocks = recall_latency(d, samples)
            where = d.where
        finally:
            runner.stop()
    p = np.percentile(np.array(lat), [50, 90, 99])
    print(f"  driver: {where}")
    print(f"  {CHANNELS} channels, {BUSES} buses, every kind in scope: {changed} values change "
          f"per recall, applied in {blocks} block(s) (core's record)")
    print(f"  OSC /scene/recall sent -> start of the block applying it, n={len(lat)}: "
          f"p50 {p[0]:.2f} ms  p90 {p[1]:.2f} ms  p99 {p[2]:.2f} ms  max {max(lat):.2f} ms")


if __name__ == "__main__":
    main()
