"""surfaced's own JACK client against PortAudio's JACK host API (issue 9).

    python benchmarks/bench_jack.py                 # 64 and 128 channels, 40 s each
    python benchmarks/bench_jack.py --seconds 8     # quicker

On one JACK dummy server (48 kHz, 64-frame periods, as many capture ports as
channels), the same engine (N full strips, each fed from its own device
input, 4 buses) runs in turn:

- as surfaced's client: the audio hook in the client's process cycle
  (native/jack_audio.c), the N input ports' buffers read by the core as they
  are, master and bus ports written in place (sf_process_planar);
- as a PortAudio duplex stream with N inputs (sf_pa_callback), PortAudio's
  JACK host API doing the (de)interleaving around it.

Segments alternate between the two so both see the same background load.
For each: the callback duration as the C side records it (1 us histogram;
p50/p99/p99.9/max), and the server's DSP load (jack_cpu_load, sampled every
0.25 s through a client of the test, mean and max). The hook's duration
includes its interleaving; PortAudio's does not include PortAudio's own
copying, which the DSP load does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from jack_server import _wait_until_up, jackd_path, spawn_jackd, stop_jackd  # noqa: E402
from surfaced._native import ffi  # noqa: E402

from surfaced.jackclient import JackClient  # noqa: E402
from surfaced.mix.audio import LiveStream, acquire_portaudio, release_portaudio  # noqa: E402
from surfaced.mix.engine import Engine  # noqa: E402
from surfaced.mix.jack_audio import JackAudio, plan_ports  # noqa: E402
from surfaced.session import ChannelConfig, Session, Source  # noqa: E402

RATE = 48000
BUSES = 4


def full_strip(c: int) -> dict[str, float]:
    """High-pass, four EQ bands, compressor, fader, pan, two sends (bench_core's strip)."""
    return {"hpf/on": 1, "hpf/freq": 80.0, "eq/on": 1, "eq/1/gain": 3.0, "eq/2/gain": -2.0,
            "eq/3/gain": 2.5, "eq/4/gain": 1.5, "comp/on": 1, "comp/threshold": -24.0,
            "comp/ratio": 4.0, "fader": -3.0, "pan": ((c % 9) - 4) / 4.0, "send/1": -10.0,
            "send/2": -12.0}


def engine(n: int) -> tuple[Engine, Session]:
    s = Session(path="<bench>", buses=BUSES)
    s.channels = [ChannelConfig(f"In {c + 1}", Source("input", first_input=c)) for c in range(n)]
    e = Engine(n, BUSES, RATE, 512)
    for c in range(n):
        e.set_source_input(c + 1, c, False)
        for k, v in full_strip(c).items():
            e.set(f"ch/{c + 1}/{k}", v)
    e.settle()
    return e, s


def pct(hist: np.ndarray, q: float) -> float:
    cdf = np.cumsum(hist) / max(1.0, float(hist.sum()))
    return float(np.searchsorted(cdf, q) + 1)


def hist_of(ctx: Any) -> np.ndarray:
    return np.frombuffer(ffi.buffer(ctx.timing_hist), dtype=np.uint64).astype(np.float64).copy()


def sample_load(probe: JackClient, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.25)
        out.append(probe.status().cpu_load)
    return out


def run(n: int, seconds: float, segments: int) -> None:
    name = f"sfbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    proc = spawn_jackd(name, "-r", str(RATE), "-p", "64", "-C", str(n), "-P", "2")
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        _wait_until_up(name, proc)
        e, s = engine(n)
        hist = {"jack": np.zeros(2048), "portaudio": np.zeros(2048)}
        peak = {"jack": 0.0, "portaudio": 0.0}
        load: dict[str, list[float]] = {"jack": [], "portaudio": []}
        xruns = {"jack": 0, "portaudio": 0}
        inputs, outputs = plan_ports(s, [c.name for c in s.channels], BUSES)
        with JackClient.open("probe", name) as probe:
            for i in range(segments):
                for mode in ("jack", "portaudio") if i % 2 == 0 else ("portaudio", "jack"):
                    before = e.meters().master.xruns
                    if mode == "jack":
                        with JackClient.open("surfaced", name) as client:
                            audio = JackAudio(e, inputs, outputs, measure=True)
                            audio.attach(client)
                            for k, p in enumerate(inputs):  # capture_k -> input k
                                client.connect(f"system:capture_{k + 1}", audio.full_name(p))
                            time.sleep(0.5)  # settle before sampling the load
                            load[mode] += sample_load(probe, seconds / segments)
                            audio.detach()
                            ctx = audio._ctx
                    else:
                        acquire_portaudio()  # it sees this server now
                        stream = LiveStream(e, block=64, in_channels=n, measure=True)
                        with stream:
                            time.sleep(0.5)
                            load[mode] += sample_load(probe, seconds / segments)
                        ctx = stream._ctx
                        release_portaudio()
                    xruns[mode] += e.meters().master.xruns - before
                    hist[mode] += hist_of(ctx)
                    peak[mode] = max(peak[mode], ctx.timing_max_ns / 1000.0)
        for mode in ("jack", "portaudio"):
            h = hist[mode]
            lo = np.array(load[mode])
            print(f"   {n:4d} ch  {mode:9s}  {int(h.sum()):7d} callbacks  p50 {pct(h, 0.5):4.0f} us"
                  f"  p99 {pct(h, 0.99):4.0f} us  p99.9 {pct(h, 0.999):5.0f} us"
                  f"  max {peak[mode]:7.1f} us  DSP load mean {lo.mean():5.1f}%"
                  f" max {lo.max():5.1f}%  xruns {xruns[mode]}", flush=True)
    finally:
        release_portaudio()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        stop_jackd(proc, timeout=10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="per path and channel count")
    ap.add_argument("--segments", type=int, default=8, help="alternating segments per path")
    ap.add_argument("--channels", type=int, nargs="+", default=[64, 128])
    args = ap.parse_args(argv)
    if jackd_path() is None or shutil.which("jack_lsp") is None:
        print("jackd not installed (apt-get install jackd2)")
        return 1
    print(f"== JACK client vs PortAudio on JACK: 48 kHz, 64 frames, full strips fed from "
          f"device inputs, {BUSES} buses; {args.seconds:g} s per path in {args.segments} "
          "alternating segments ==")
    for n in args.channels:
        run(n, args.seconds, args.segments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
