"""Full-strip cost in thread CPU time, for before/after comparisons of the core.

bench_core.py times wall-clock blocks, which on a shared machine counts the
time the thread sat preempted; its capacity search follows that noise. This
times the same engine (bench_core's 256 full strips: high-pass, four EQ
bands, compressor, fader, pan, two sends; 64-frame blocks) with
`time.thread_time`, so only the CPU the thread used counts: 40 calls of
2048 frames each, the minimum and median per call in ns per channel-frame.
`--no-filters` runs the same strips with the high-pass and EQ off (what the
cascade costs is the difference).

To compare builds, run it alternately against each checkout, each with its
native core built in place (`python setup.py build_ext --inplace` there):

    python benchmarks/bench_strip_cpu.py --tree /path/to/checkout [--no-filters]

and take the median of the per-process minima over several alternating
rounds (benchmarks/RESULTS.md, "Meters and filters").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

CHANNELS = 256
BLOCK = 64
FRAMES_PER_CALL = BLOCK * 32
CALLS = 40


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                    help="checkout whose surfaced package (and built core) to measure")
    ap.add_argument("--no-filters", action="store_true", help="high-pass and EQ off")
    args = ap.parse_args(argv)
    tree = args.tree.resolve()
    # The checkout's package first, then its bench_core (same engine set-up).
    sys.path[:0] = [str(tree), str(tree / "benchmarks")]
    import bench_core  # from the chosen checkout
    import surfaced._native as native

    if not Path(native.__file__).resolve().is_relative_to(tree):
        print(f"the core comes from {native.__file__}, not from {tree}: build it there",
              file=sys.stderr)
        return 2
    if args.no_filters:
        full = bench_core.CONFIGS["full"]

        def no_filters(c: int) -> dict[str, float]:
            d = full(c)
            d["hpf/on"] = 0
            d["eq/on"] = 0
            return d

        bench_core.CONFIGS["full"] = no_filters
    engine = bench_core.make_engine(CHANNELS, BLOCK, "full")
    out = np.zeros((FRAMES_PER_CALL, 2), dtype=np.float32)
    engine.process_into(out)  # warm caches and branch predictors
    per_call = []
    for _ in range(CALLS):
        t0 = time.thread_time()
        engine.process_into(out)
        per_call.append(time.thread_time() - t0)
    ns = np.array(per_call) / (CHANNELS * FRAMES_PER_CALL) * 1e9
    label = "no filters" if args.no_filters else "full"
    print(f"{tree.name} {label}: min {ns.min():.3f} median {np.median(ns):.3f} "
          "ns per channel-frame (thread CPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
