"""The mixing assistant's cost: prep of 16 three-minute stems and a rough-mix match.

    python benchmarks/bench_assist.py            # 16 stems x 180 s (a few minutes)
    python benchmarks/bench_assist.py --quick    # 16 stems x 20 s (CI smoke run)

Stems are the built-in generators (eight instruments, each twice at another
level and a different file name, one pad stereo), written as 32-bit float WAV
files to a temporary folder. Prep is timed from the folder to the written
session (reading, measuring, recognising, the twin-core bus check, writing);
the match from the stems in memory and a rough rendered by the core with
known gains and pans (recovery error printed too). Figures are seconds per
stem-minute (lower is better), the median of `--repeat` runs. Nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from surfaced.assist.prep import prep, write_session
from surfaced.assist.rough import match
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.session import generators
from surfaced.session.wavio import write_wav

RATE = 48000
NAMES = ["kick", "snare", "hats", "bass", "keys", "pad", "vocal", "lead"]
FILE = {"kick": "Kick", "snare": "Snare", "hats": "Hi Hat", "bass": "Bass", "keys": "Keys",
        "pad": "Pad", "vocal": "Lead Vox", "lead": "Synth Lead"}


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20 s stems instead of 180 s")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    seconds = 20.0 if args.quick else 180.0
    rng = np.random.default_rng(11)
    stems = []
    for take in range(2):
        for name in NAMES:
            audio = generators.generate(name, RATE, seconds)
            # the second take is the part played a beat and a half later: its own stem
            audio = np.roll(audio, take * int(RATE * 0.75), axis=0)
            stems.append((f"{take + 1:02d} {FILE[name]} {take + 1}",
                          (audio * 10 ** (rng.uniform(-12, 0) / 20)).astype(np.float32)))
    minutes = sum(len(a) for _, a in stems) / RATE / 60.0
    print(f"surfaced assistant benchmark: {len(stems)} stems x {seconds:.0f} s "
          f"({minutes:.0f} stem-minutes); {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "stems"
        folder.mkdir()
        for name, audio in stems:
            write_wav(folder / f"{name}.wav", audio, RATE)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            prepared = prep(folder)
            write_session(prepared, Path(tmp) / "session.yaml")
            times.append(time.perf_counter() - t)
        p = statistics.median(times)
        print(f"prep:  {p:6.2f} s total, {p / minutes:.3f} s per stem-minute "
              f"(median of {args.repeat})")
    gains = rng.uniform(-15, -3, len(stems))
    pans = np.round(rng.uniform(-0.8, 0.8, len(stems)), 2)
    mixer = Mixer(Engine(len(stems), 0, RATE, 4096))
    for i, (_, a) in enumerate(stems, start=1):
        mixer.engine.set_source_buffer(i, a)
    mixer.apply({**{f"ch/{i}/fader": float(g) for i, g in enumerate(gains, 1)},
                 **{f"ch/{i}/pan": float(q) for i, q in enumerate(pans, 1)}}, "bench")
    mixer.engine.settle()
    rough = mixer.engine.process(len(stems[0][1]))
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        fit = match([a for _, a in stems], rough, RATE)
        times.append(time.perf_counter() - t)
    m = statistics.median(times)
    print(f"match: {m:6.2f} s total, {m / minutes:.3f} s per stem-minute "
          f"(median of {args.repeat}); worst gain error "
          f"{np.max(np.abs(np.array(fit.gains_db) - gains)):.3f} dB, worst pan error "
          f"{np.max(np.abs(np.array(fit.pans) - pans)):.3f}")


if __name__ == "__main__":
    main()
