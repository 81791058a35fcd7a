"""Master loudness meter cost: ns per stereo frame of sf_loudness_process.

Compiles native/loudness.c (with the core's release flags) into a throw-away
library, as tests/native/test_loudness_truepeak.py does, with a small C loop
that feeds it 60 s of stereo noise with level changes in 64-frame blocks
(the live case: the per-block overhead counts) or 4096-frame blocks, timed
with CLOCK_MONOTONIC (no Python in the loop). Prints median and p90 over
repetitions. `--native DIR` measures another checkout's loudness.c (a
before/after comparison on the same machine, same load).

    python benchmarks/bench_meters.py [--native DIR] [--reps 15]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
from build_core import public_cdef

ROOT = Path(__file__).resolve().parents[1]
RATE = 48000


DRIVER = """
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "loudness.h"
double bench_feed(sf_loudness *l, const float *left, const float *right, int n, int block) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i += block)
        sf_loudness_process(l, left + i, right + i, n - i < block ? n - i : block);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
}
"""


def load(native: Path, work: Path):  # type: ignore[no-untyped-def]
    """(ffi, lib) of native/loudness.c and the driver, compiled -O3 as the core is."""
    import cffi

    gcc = shutil.which("gcc")
    if gcc is None:
        sys.exit("gcc not installed")
    so = work / "libloud.so"
    driver = work / "driver.c"
    driver.write_text(DRIVER)
    subprocess.run([gcc, "-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c11", "-shared",
                    "-fPIC", "-I", str(native), str(native / "loudness.c"), str(driver),
                    "-o", str(so), "-lm"], check=True)
    ffi = cffi.FFI()
    ffi.cdef(public_cdef((native / "loudness.h").read_text()))
    ffi.cdef("double bench_feed(sf_loudness *, const float *, const float *, int, int);")
    return ffi, ffi.dlopen(str(so))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native", type=Path, default=ROOT / "native")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    n = 60 * RATE
    gain = np.repeat(10 ** (rng.uniform(-40, -6, n // 4800 + 1) / 20), 4800)[:n]
    left = (rng.standard_normal(n) * gain).astype(np.float32)
    right = (rng.standard_normal(n) * gain).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        ffi, lib = load(args.native, Path(tmp))
        meter = ffi.new("sf_loudness *")
        lib.sf_loudness_init(meter, float(RATE))
        lp, rp = ffi.from_buffer("float[]", left), ffi.from_buffer("float[]", right)
        for block in (64, 4096):
            times = []
            for _ in range(args.reps):
                lib.sf_loudness_reset(meter)
                times.append(lib.bench_feed(meter, lp, rp, n, block) / n)
            print(f"{args.native}: block {block:5}: {np.median(times):6.2f} ns per stereo "
                  f"frame (p90 {np.percentile(times, 90):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
