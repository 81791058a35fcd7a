"""Benchmarks for the native mixing core, printed side by side in one run.

    python benchmarks/bench_core.py            # full run, a few minutes
    python benchmarks/bench_core.py --quick    # CI smoke run, well under a minute

Sections (benchmarks/README.md says what each one means and why it is
measured that way):

1. core cost: ns per channel-frame and channel-frames/s, full strip and plain
   path, 64 and 512 frame blocks, 8/64/256 channels;
2. the same full-strip graph written plainly in numpy/scipy, and the ratio;
3. the plain path against bare `dst += g*src` loops compiled with the core's
   flags (and inside the core's AVX2 target region), timed inside C;
4. per-block overhead of one call through cffi (1 channel, 1-frame blocks);
5. audio callback durations on a JACK dummy server, idle and with a busy
   Python thread running gc.collect() in the same process;
6. how many full strips fit in 70% of the 64-frame deadline on one core.

Timings on a shared machine are noisy: every figure is the median (and p90)
of repeated runs, and every ratio is taken within this one process run.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from surfaced._native import ffi as native_ffi  # noqa: E402
from surfaced._native import lib as native_lib  # noqa: E402

from surfaced.mix.engine import Engine  # noqa: E402

RATE = 48000
BUSES = 4
DEADLINE_64_US = 64 / RATE * 1e6  # 1333.3 us
BUDGET_US = 0.7 * DEADLINE_64_US  # 933.3 us: 70% of the 64-frame deadline
SOURCE_FRAMES = 4800  # 100 ms loop per channel, a distinct buffer each
SUMMARY: list[str] = []  # one line per target, printed at the end


# --------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Stat:
    """Median and p90 of repeated timings (seconds)."""

    median: float
    p90: float

    @staticmethod
    def of(samples: Sequence[float]) -> Stat:
        """Summarise repeated measurements."""
        a = np.asarray(samples, dtype=np.float64)
        return Stat(float(np.median(a)), float(np.percentile(a, 90)))


def fmt_ns(x: float) -> str:
    return f"{x * 1e9:7.2f}"


def sources(n: int, seed: int = 1, frames: int = SOURCE_FRAMES) -> list[np.ndarray]:
    """Distinct noise loops with a slow level envelope (-30..-10 dBFS), so
    compressors work and no two channels share cache lines."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / RATE
    out = []
    for c in range(n):
        env = 10 ** ((-20 + 10 * np.sin(2 * np.pi * (3 + c % 5) * t + c)) / 20)
        out.append((rng.standard_normal(frames) * env).astype(np.float32))
    return out


def full_strip(c: int) -> dict[str, float]:
    """High-pass, all four EQ bands, compressor, fader, pan and two sends."""
    return {
        "hpf/on": 1, "hpf/freq": 80.0,
        "eq/on": 1, "eq/1/gain": 3.0, "eq/2/gain": -2.0, "eq/3/gain": 2.5, "eq/4/gain": 1.5,
        "comp/on": 1, "comp/threshold": -24.0, "comp/ratio": 4.0, "comp/knee": 6.0,
        "comp/attack": 5.0, "comp/release": 100.0, "comp/makeup": 3.0,
        "fader": -3.0, "pan": ((c % 9) - 4) / 4.0,
        "send/1": -10.0, "send/2": -12.0,
    }


def plain_strip(c: int) -> dict[str, float]:
    """Gain, pan and sum only (no filters, no compressor, no sends)."""
    return {"fader": -3.0, "pan": ((c % 9) - 4) / 4.0}


CONFIGS: dict[str, Callable[[int], dict[str, float]]] = {"full": full_strip, "plain": plain_strip}


def make_engine(channels: int, block: int, config: str, seed: int = 1,
                frames: int = SOURCE_FRAMES) -> Engine:
    """An engine of `channels` strips set up as `config`, settled; each
    channel loops its own `frames`-long buffer."""
    e = Engine(channels, BUSES, RATE, block)
    srcs = sources(channels, seed, frames)
    settings = CONFIGS[config]
    for c in range(channels):
        e.set_source_buffer(c + 1, srcs[c])
        for k, v in settings(c).items():
            e.set(f"ch/{c + 1}/{k}", v)
        if c % 256 == 255:
            e.settle()  # keep the parameter queue (8191 messages) from filling
    e.settle()
    return e


def time_core(engines: Sequence[Engine], block: int, reps: int, blocks_per_call: int) -> Stat:
    """Seconds per block for a set of engines run one after the other.

    One call processes `blocks_per_call` blocks (sf_process chunks a long
    call into max_block blocks, draining and publishing between them, as the
    live callback does), so Python's per-call overhead is amortised away."""
    outs = [np.zeros((block * blocks_per_call, 2), dtype=np.float32) for _ in engines]
    for e, o in zip(engines, outs, strict=True):
        e.process_into(o)  # warm up (pointer cache, caches, branch predictors)
        e.process_into(o)
    samples = []
    for _ in range(reps):
        t = 0.0
        for e, o in zip(engines, outs, strict=True):
            t0 = time.perf_counter()
            e.process_into(o)
            t += time.perf_counter() - t0
        samples.append(t / blocks_per_call)
    return Stat.of(samples)


# --------------------------------------------------------------------------- numpy reference
class NumpyMix:
    """The full-strip graph written plainly in numpy and scipy, vectorised
    across channels (every channel has the same settings here, which is the
    best case for numpy: one sosfilt call filters all of them).

    Same work: source loop, sanitise, 5 biquads (sosfilt with carried
    state), static soft-knee compressor curve, fader/pan/two sends by matrix
    products, channel meters, and the master section the core always runs:
    4x oversampled true peak (zero-stuffing + a 128-tap FIR, lfilter with
    state) and K-weighted loudness (sosfilt). Approximation: the
    compressor's attack/release smoothing is one one-pole
    (scipy.signal.lfilter) with a single time constant; a per-sample
    branch in Python would be far slower still."""

    def __init__(self, channels: int, seed: int = 1) -> None:
        from scipy import signal

        self.signal = signal
        self.src = np.stack(sources(channels, seed))
        self.pos = 0
        self.sos = np.vstack([self._rbj("hp", 80.0, 0.7071, 0.0),
                              self._rbj("ls", 100.0, 0.707, 3.0),
                              self._rbj("pk", 500.0, 0.707, -2.0),
                              self._rbj("pk", 2500.0, 0.707, 2.5),
                              self._rbj("hs", 8000.0, 0.707, 1.5)])
        self.zi = np.zeros((5, channels, 2))
        a = np.exp(-1.0 / (0.100 * RATE))  # release time constant for every sample
        self.smooth_b, self.smooth_a = np.array([1 - a]), np.array([1.0, -a])
        self.gzi = np.zeros((channels, 1))
        self.thr, self.ratio, self.knee, self.makeup = -24.0, 4.0, 6.0, 3.0
        pans = np.array([((c % 9) - 4) / 4.0 for c in range(channels)])
        th = (pans + 1) * np.pi / 4
        fader = 10 ** (-3 / 20)
        self.g = np.stack([fader * np.cos(th), fader * np.sin(th),
                           10 ** (-10 / 20) * fader * np.cos(th),
                           10 ** (-10 / 20) * fader * np.sin(th),
                           10 ** (-12 / 20) * fader * np.cos(th),
                           10 ** (-12 / 20) * fader * np.sin(th)])
        self.peak = np.zeros(channels)
        self.ms = np.zeros(channels)
        # master: true peak (BS.1770 style 4x interpolator) and K-weighting
        self.tp_h = 4 * signal.firwin(128, 1 / 4)
        self.tp_zi = np.zeros((2, len(self.tp_h) - 1))
        self.k_sos = np.array([
            [1.53512485958697, -2.69169618940638, 1.19839281085285,
             1.0, -1.69065929318241, 0.73248077421585],
            [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]])
        self.k_zi = np.zeros((2, 2, 2))
        self.k_sum = np.zeros(2)
        self.tp = np.zeros(2)

    @staticmethod
    def _rbj(kind: str, f: float, q: float, gain_db: float) -> np.ndarray:
        A = 10 ** (gain_db / 40)
        w = 2 * np.pi * f / RATE
        cw, al = np.cos(w), np.sin(w) / (2 * q)
        if kind == "hp":
            b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + al, -2 * cw, 1 - al]
        elif kind == "pk":
            b, a = [1 + al * A, -2 * cw, 1 - al * A], [1 + al / A, -2 * cw, 1 - al / A]
        else:
            s = 2 * np.sqrt(A) * al
            sg = 1 if kind == "ls" else -1
            b = [A * ((A + 1) - sg * (A - 1) * cw + s), sg * 2 * A * ((A - 1) - sg * (A + 1) * cw),
                 A * ((A + 1) - sg * (A - 1) * cw - s)]
            a = [(A + 1) + sg * (A - 1) * cw + s, -sg * 2 * ((A - 1) + sg * (A + 1) * cw),
                 (A + 1) + sg * (A - 1) * cw - s]
        return np.r_[np.array(b) / a[0], np.array(a) / a[0]]

    def process(self, n: int) -> np.ndarray:
        """One block of n frames: returns the master (2, n)."""
        idx = (self.pos + np.arange(n)) % self.src.shape[1]
        self.pos = (self.pos + n) % self.src.shape[1]
        x = self.src[:, idx]
        x = np.where(np.isfinite(x), x, 0.0)
        y, self.zi = self.signal.sosfilt(self.sos, x, axis=-1, zi=self.zi)
        lvl = 20 * np.log10(np.maximum(np.abs(y), 1e-9))
        over = lvl - self.thr
        slope = 1 - 1 / self.ratio
        w = self.knee
        red = np.where(2 * over < -w, 0.0,
                       np.where(2 * np.abs(over) <= w, slope * (over + w / 2) ** 2 / (2 * w),
                                slope * over))
        gr, self.gzi = self.signal.lfilter(self.smooth_b, self.smooth_a, red, axis=-1,
                                           zi=self.gzi)
        y = y * 10 ** ((self.makeup - gr) / 20)
        self.peak = np.maximum(np.abs(y).max(axis=1), self.peak * 0.999)
        self.ms = 0.99 * self.ms + 0.01 * (y * y).mean(axis=1)
        outs = self.g @ y  # (6, n): master L/R, bus 1 L/R, bus 2 L/R
        master = outs[0:2] + outs[2:4] + outs[4:6]
        up = np.zeros((2, 4 * n))
        up[:, ::4] = master
        v, self.tp_zi = self.signal.lfilter(self.tp_h, 1.0, up, axis=-1, zi=self.tp_zi)
        self.tp = np.maximum(self.tp * 0.999, np.abs(v).max(axis=1))
        kw, self.k_zi = self.signal.sosfilt(self.k_sos, master, axis=-1, zi=self.k_zi)
        self.k_sum += (kw * kw).sum(axis=1)
        return master


def time_numpy(channels: int, block: int, reps: int) -> Stat:
    """Seconds per block of the numpy version."""
    m = NumpyMix(channels)
    for _ in range(3):
        m.process(block)
    per_call = max(1, int(20000 / (channels * block)))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(per_call):
            m.process(block)
        samples.append((time.perf_counter() - t0) / per_call)
    return Stat.of(samples)


# --------------------------------------------------------------------------- bare loops
def core_cflags() -> list[str]:
    """The flags the core is compiled with: Python's own CFLAGS (as setuptools
    uses them) plus native/build_core.py's extra_compile_args."""
    spec = importlib.util.spec_from_file_location("build_core", ROOT / "native" / "build_core.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    py = (sysconfig.get_config_var("CFLAGS") or "").split()
    keep = [f for f in py if f.startswith(("-O", "-f", "-D", "-g", "-m", "-std"))]
    return [*keep, *mod.CFLAGS]


class BareLoops:
    """bare_loop.c compiled twice into a temp dir and loaded with cffi (ABI)."""

    def __init__(self) -> None:
        from cffi import FFI

        self.cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
        self.flags = core_cflags()
        self.tmp = tempfile.TemporaryDirectory(prefix="sf-bare-")
        self.ffi = FFI()
        self.ffi.cdef("""
            void bare_mix(const float *src, float *dst, const float *gains, int channels, int n,
                          int outputs, int reps, int batches, double *out);
            void time_process(void *fn, void *engine, float *out, int frames, int reps,
                              int batches, double *out_ns);
        """)
        self.libs: dict[str, Any] = {}
        variants: dict[str, list[str]] = {"baseline": []}
        if platform.machine() in ("x86_64", "AMD64", "i686"):
            if _cpu_has("avx2") and _cpu_has("fma"):
                variants["avx2"] = ["-DBARE_AVX2"]
            if all(_cpu_has(f) for f in ("avx512f", "avx512dq", "avx512vl")):
                variants["avx512"] = ["-DBARE_AVX512"]
        for name, extra in variants.items():
            so = Path(self.tmp.name) / f"bare_{name}.so"
            cmd = [self.cc, *self.flags, *extra, "-fPIC", "-shared",
                   str(ROOT / "benchmarks" / "bare_loop.c"), "-o", str(so)]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            self.libs[name] = self.ffi.dlopen(str(so))
        self.command = " ".join([self.cc, *self.flags, "[-DBARE_AVX2|-DBARE_AVX512]",
                                 "-fPIC -shared"])

    def mix(self, variant: str, channels: int, n: int, outputs: int, batches: int) -> Stat:
        """Seconds per channel-frame, data in cache."""
        src = np.random.default_rng(3).standard_normal(channels * n).astype(np.float32)
        dst = np.zeros(2 * n, dtype=np.float32)
        gains = np.linspace(0.2, 0.8, channels).astype(np.float32)
        out = np.zeros(batches, dtype=np.float64)
        reps = max(1, int(2_000_000 / (channels * n)))
        f = self.ffi
        lib = self.libs[variant]
        lib.bare_mix(f.from_buffer("float[]", src), f.from_buffer("float[]", dst),
                     f.from_buffer("float[]", gains), channels, n, outputs, 1, 1,
                     f.from_buffer("double[]", out))
        lib.bare_mix(f.from_buffer("float[]", src), f.from_buffer("float[]", dst),
                     f.from_buffer("float[]", gains), channels, n, outputs, reps, batches,
                     f.from_buffer("double[]", out))
        return Stat.of(out * 1e-9)

    def process_direct(self, engine: Engine, frames: int, reps: int, batches: int) -> Stat:
        """Seconds per sf_process call, calling it from C through a pointer."""
        fn = int(native_ffi.cast("uintptr_t", native_ffi.addressof(native_lib, "sf_process")))
        eng = int(native_ffi.cast("uintptr_t", engine.native))
        out = np.zeros((frames, 2), dtype=np.float32)
        ns = np.zeros(batches, dtype=np.float64)
        f = self.ffi
        self.libs["baseline"].time_process(f.cast("void *", fn), f.cast("void *", eng),
                                           f.from_buffer("float[]", out), frames, reps, batches,
                                           f.from_buffer("double[]", ns))
        return Stat.of(ns * 1e-9)


# --------------------------------------------------------------------------- sections
def machine() -> dict[str, str]:
    """CPU model, cores, kernel, compiler, kernel set in use."""
    model = platform.processor() or platform.machine()
    with_lscpu = shutil.which("lscpu")
    cores = str(os.cpu_count())
    if with_lscpu:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "Model name":
                model = val.strip()
            if key.strip() == "CPU(s)":
                cores = val.strip()
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    ver = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()
    kernel = os.environ.get("SURFACED_KERNEL", "auto")
    chosen = kernel_set()
    return {"cpu": model, "cpus": cores, "kernel": platform.release(),
            "compiler": ver[0] if ver else cc, "python": platform.python_version(),
            "numpy": np.__version__, "kernel set": f"{chosen} (SURFACED_KERNEL={kernel})"}


def kernel_set() -> str:
    """The core's kernel set in this process, by the core's own rule (strip.c)."""
    want = os.environ.get("SURFACED_KERNEL", "auto")
    if platform.machine() not in ("x86_64", "AMD64") or want == "generic":
        return "generic"
    if not (_cpu_has("avx2") and _cpu_has("fma")):
        return "generic"
    if want != "avx2" and all(_cpu_has(f) for f in ("avx512f", "avx512dq", "avx512vl")):
        return "avx512"
    return "avx2"


def _cpu_has(flag: str) -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return flag in line.split()
    return False


def section_core(quick: bool) -> dict[tuple[str, int, int], Stat]:
    print("\n== 1-2. core vs numpy: ns per channel-frame (median / p90), channel-frames/s ==")
    print("   core: one call runs many blocks (Python overhead amortised); numpy: the same")
    print("   full-strip graph vectorised over channels (scipy sosfilt; one-pole lfilter")
    print("   smoothing stands in for the compressor's attack/release: an approximation)")
    reps = 7 if quick else 25
    res: dict[tuple[str, int, int], Stat] = {}
    hdr = (f"{'config':6} {'block':>5} {'ch':>4} | {'core ns':>8} {'p90':>7} {'Mcf/s':>7} |"
           f" {'numpy ns':>9} {'p90':>8} | {'numpy/core':>10}")
    print(hdr)
    print("-" * len(hdr))
    for config in ("full", "plain"):
        for block in (64, 512):
            for ch in (8, 64, 256):
                bpc = max(4, int((8192 if quick else 32768) / (ch * block) * 8))
                e = make_engine(ch, block, config)
                s = time_core([e], block, reps, bpc)
                res[(config, block, ch)] = s
                per = s.median / (ch * block)
                line = (f"{config:6} {block:5} {ch:4} | {fmt_ns(per):>8} "
                        f"{fmt_ns(s.p90 / (ch * block)):>7} {1e-6 / per:7.1f} |")
                if config == "full":
                    nps = time_numpy(ch, block, 5 if quick else 15)
                    res[("numpy", block, ch)] = nps
                    npper = nps.median / (ch * block)
                    line += (f" {fmt_ns(npper):>9} {fmt_ns(nps.p90 / (ch * block)):>8} |"
                             f" {npper / per:9.1f}x")
                else:
                    line += f" {'':>9} {'':>8} | {'':>10}"
                print(line, flush=True)
    ratios = {(bl, ch): res[("numpy", bl, ch)].median / res[("full", bl, ch)].median
              for bl in (64, 512) for ch in (8, 64, 256)}
    worst = min(ratios, key=lambda k: ratios[k])
    SUMMARY.append(
        f"full graph >= 15x faster than numpy: {'met' if ratios[worst] >= 15 else 'NOT met'} "
        f"(lowest {ratios[worst]:.1f}x at block {worst[0]}, {worst[1]} channels; "
        + ", ".join(f"{bl}/{ch}: {r:.0f}x" for (bl, ch), r in ratios.items()) + ")")
    # fixed per-block cost (master: true peak, loudness, meters) and the
    # per-channel slope, which is what a channel strip costs
    print("\n   per-block fixed cost and marginal per-channel cost (slope 8 -> 256 channels):")
    for config in ("full", "plain"):
        for block in (64, 512):
            a, b = res[(config, block, 8)].median, res[(config, block, 256)].median
            slope = (b - a) / (248 * block)
            fixed = a - slope * 8 * block
            res[(config + "-marginal", block, 0)] = Stat(slope, slope)
            print(f"   {config:6} block {block:4}: fixed {fixed * 1e6:6.2f} us/block, "
                  f"marginal {fmt_ns(slope).strip()} ns per channel-frame")
    return res


def section_bare(quick: bool, core: dict[tuple[str, int, int], Stat]) -> BareLoops | None:
    print("\n== 3. plain path vs bare loops (timed in C, data in cache) ==")
    try:
        bare = BareLoops()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"   skipped: could not build bare_loop.c ({exc})")
        return None
    print(f"   compiled: {bare.command}")
    print("   ns per channel-frame at 256 channels. The core's plain path is its marginal")
    print("   cost per channel (slope 8 -> 256 channels, so the master section is not")
    print("   counted), with sources streamed (each channel its own 100 ms loop, as in")
    print("   section 1) and with sources in cache (each loop one block long), like the")
    print("   bare loops' data")
    batches = 9 if quick else 31
    reps = 7 if quick else 25
    variants = list(bare.libs)
    same = kernel_set() if kernel_set() in variants else "baseline"
    cols = "".join(f" {v[:6] + '/1':>9} {v[:6] + '/2':>9}" for v in variants)
    hdr = (f"{'block':>5} | {'streamed':>8} {'cached':>8} |{cols} | {'cached/2':>9} {'cached/2':>9}"
           f" {'cached/1':>9} {'strm/2':>9}")
    print(hdr)
    print(f"{'':5} | {'':8} {'':8} |{'':{len(cols)}} | {'base':>9} {same:>9} {same:>9} {same:>9}")
    print("-" * len(hdr))
    for block in (64, 512):
        bpc = max(4, int((8192 if quick else 32768) / (256 * block) * 8))
        t8 = time_core([make_engine(8, block, "plain", frames=block)], block, reps, bpc * 16)
        t256 = time_core([make_engine(256, block, "plain", frames=block)], block, reps, bpc)
        cached = (t256.median - t8.median) / (248 * block)
        streamed = core[("plain-marginal", block, 0)].median
        r = {(v, o): bare.mix(v, 256, block, o, batches).median for v in variants for o in (1, 2)}
        vals = "".join(f" {fmt_ns(r[(v, 1)]):>9} {fmt_ns(r[(v, 2)]):>9}" for v in variants)
        c2b, c2s, c1s = (cached / r[("baseline", 2)], cached / r[(same, 2)],
                         cached / r[(same, 1)])
        print(f"{block:5} | {fmt_ns(streamed):>8} {fmt_ns(cached):>8} |{vals} | {c2b:8.2f}x"
              f" {c2s:8.2f}x {c1s:8.2f}x {streamed / r[(same, 2)]:8.2f}x", flush=True)

        def verdict(x: float) -> str:
            return "met" if x <= 2 else "NOT met"

        SUMMARY.append(
            f"plain path within 2x of the bare loop, {block}-frame blocks: sources in cache "
            f"({cached * 1e9:.2f} ns/channel-frame) vs two-output {same} {c2s:.2f}x "
            f"({verdict(c2s)}), vs two-output with the core's flags as is (SSE2) {c2b:.2f}x "
            f"({verdict(c2b)}), vs one-output {same} {c1s:.2f}x ({verdict(c1s)}); streamed "
            f"sources {streamed * 1e9:.2f} ns: {streamed / r[(same, 2)]:.2f}x two-output {same}")
    print("   '/1' = dst += g*src, '/2' = dst_l += gl*src; dst_r += gr*src; 'base' = the")
    print(f"   core's flags as they are (SSE2), '{same}' = the same target region as the")
    print("   core's kernel set in this run")
    return bare


def section_cffi(quick: bool, bare: BareLoops | None) -> None:
    print("\n== 4. per-block overhead of one call through cffi (1 channel, 1-frame blocks) ==")
    e = Engine(1, 0, RATE, 1)
    e.set_source_buffer(1, sources(1)[0])
    e.settle()
    reps, batches = (2000, 9) if quick else (20000, 25)
    out = np.zeros((1, 2), dtype=np.float32)
    ptr = native_ffi.from_buffer("float[]", out)
    raw, wrapped = [], []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(reps):
            native_lib.sf_process(e.native, native_ffi.NULL, 0, ptr, 2, 1)
        raw.append((time.perf_counter() - t0) / reps)
        t0 = time.perf_counter()
        for _ in range(reps):
            e.process_into(out)
        wrapped.append((time.perf_counter() - t0) / reps)
    r, w = Stat.of(raw), Stat.of(wrapped)
    print(f"   lib.sf_process from Python (cffi API mode): {r.median * 1e9:7.0f} ns/call "
          f"(p90 {r.p90 * 1e9:.0f})")
    print(f"   Engine.process_into (checks + cffi):         {w.median * 1e9:7.0f} ns/call "
          f"(p90 {w.p90 * 1e9:.0f})")
    if bare is not None:
        d = bare.process_direct(e, 1, reps, batches)
        print(f"   sf_process called from C (the block itself): {d.median * 1e9:7.0f} ns/call "
              f"(p90 {d.p90 * 1e9:.0f})")
        print(f"   => cffi call overhead {max(0.0, r.median - d.median) * 1e9:.0f} ns, "
              f"Engine wrapper {max(0.0, w.median - d.median) * 1e9:.0f} ns per block "
              "(the live callback is C and pays neither)")


def _busy(stop: threading.Event, counter: list[int]) -> None:
    """Python work with plenty of garbage (reference cycles) and explicit
    full collections, as a daemon doing mapping and UI work might."""
    while not stop.is_set():
        junk = [{"path": f"ch/{i % 64}/fader", "value": [i, str(i)]} for i in range(20000)]
        for _ in range(500):
            a: list[Any] = []
            a.append(a)  # a cycle only the collector frees
        sorted(junk, key=lambda d: d["path"])
        gc.collect()
        counter[0] += 1


def _percentile_us(hist: np.ndarray, q: float) -> float:
    """Upper edge of the first 1 us bin that reaches quantile q (as
    surfaced.mix.audio's CallbackTiming does)."""
    cdf = np.cumsum(hist) / max(1.0, float(hist.sum()))
    return float(np.searchsorted(cdf, q) + 1)


def section_callback(seconds: float, channels: int, segments: int) -> None:
    print(f"\n== 5. audio callback duration on the JACK dummy server "
          f"(48 kHz, 64 frames, {channels} full strips) ==")
    print(f"   {seconds:g} s idle and {seconds:g} s with a busy Python thread, in {segments}"
          " alternating segments each, so both see the same background load")
    try:
        from jack_server import jack_server, jackd_path

        from surfaced.mix.audio import LiveStream
    except ImportError as exc:
        print(f"   skipped: {exc}")
        return
    if jackd_path() is None:
        print("   skipped: jackd not installed (apt-get install jackd2 libportaudio2)")
        return
    hist = {m: np.zeros(2048) for m in ("idle", "busy")}
    seg_p999: dict[str, list[float]] = {"idle": [], "busy": []}
    peak = {"idle": 0.0, "busy": 0.0}
    xruns = {"idle": 0, "busy": 0}
    passes = [0]
    with jack_server(RATE, 64):
        e = make_engine(channels, 64, "full")
        for i in range(segments):
            for mode in ("idle", "busy") if i % 2 == 0 else ("busy", "idle"):
                stop = threading.Event()
                th = threading.Thread(target=_busy, args=(stop, passes), daemon=True)
                stream = LiveStream(e, block=64, measure=True)
                before = e.meters().master.xruns
                if mode == "busy":
                    th.start()
                with stream:
                    time.sleep(seconds / segments)
                stop.set()
                if mode == "busy":
                    th.join()
                xruns[mode] += e.meters().master.xruns - before
                # The raw 1 us histogram the C callback filled, to merge the
                # segments (surfaced.mix.audio only exposes its percentiles).
                ctx = stream._ctx
                h = np.frombuffer(native_ffi.buffer(ctx.timing_hist), dtype=np.uint64)
                hist[mode] += h
                seg_p999[mode].append(_percentile_us(h.astype(np.float64), 0.999))
                peak[mode] = max(peak[mode], ctx.timing_max_ns / 1000.0)
        # Shut PortAudio down while the server is still there: its JACK host
        # API asserts at exit if the server vanished first (private API, as
        # in surfaced.mix.audio.LiveStream).
        import sounddevice as sd

        sd._terminate()
    p999 = {}
    for mode in ("idle", "busy"):
        h = hist[mode]
        p999[mode] = _percentile_us(h, 0.999)
        extra = f", {passes[0]} gc.collect() passes" if mode == "busy" else ""
        print(f"   {mode}: {int(h.sum())} callbacks  p50 {_percentile_us(h, 0.5):4.0f} us"
              f"  p99 {_percentile_us(h, 0.99):4.0f} us  p99.9 {p999[mode]:5.0f} us"
              f"  max {peak[mode]:7.1f} us  xruns {xruns[mode]}{extra}", flush=True)
    ratio = p999["busy"] / p999["idle"]
    verdict = "met" if ratio <= 1.10 else "NOT met"
    print(f"   p99.9 busy/idle = {ratio:.2f} (target <= 1.10: {verdict}); durations in 1 us bins"
          " (upper edges)")
    med = {m: float(np.median(seg_p999[m])) for m in seg_p999}
    print(f"   median over segments of each segment's p99.9: idle {med['idle']:.0f} us, busy "
          f"{med['busy']:.0f} us ({med['busy'] / med['idle']:.2f}x): less sensitive to bursts of"
          " background load that hit a few segments")
    SUMMARY.append(f"callback p99.9 unchanged by a busy Python thread (<= 1.10x): {verdict} "
                   f"({p999['idle']:.0f} us idle, {p999['busy']:.0f} us busy, {ratio:.2f}x; "
                   f"per-segment median {med['busy'] / med['idle']:.2f}x)")


def section_capacity(quick: bool, cap: int | None = None) -> None:
    print("\n== 6. full strips within 70% of the 64-frame deadline on one core "
          f"({BUDGET_US:.0f} of {DEADLINE_64_US:.0f} us) ==")
    print("   one engine holds at most 1024 channels; larger counts run several engines")
    print("   one after the other in the same thread (each with its own master section)")
    reps = 5 if quick else 15
    whole: list[Engine] = []  # distinct 1024-strip engines (own sources, own state)
    part: dict[int, Engine] = {}

    def cost(n: int) -> Stat:
        while len(whole) < n // 1024:
            whole.append(make_engine(1024, 64, "full", seed=100 + len(whole)))
        engines = whole[: n // 1024]
        if n % 1024:
            k = n % 1024
            if k not in part:
                part[k] = make_engine(k, 64, "full", seed=k)
            engines = [*engines, part[k]]
        return time_core(engines, 64, reps, 16 if quick else 64)

    lo, lo_cost = 0, None
    cap = cap or (4096 if quick else 16384)
    capped = False  # the largest count tried still fit: the capacity is at least `lo`
    n = 256
    while True:
        c = cost(n)
        print(f"   {n:5} strips: {c.median * 1e6:7.1f} us per block (p90 {c.p90 * 1e6:.1f})",
              flush=True)
        if c.p90 * 1e6 > BUDGET_US:
            hi = n
            break
        lo, lo_cost = n, c
        if n >= cap:  # within budget at the cap: stop searching, report it as a floor
            hi, capped = n, True
            break
        n *= 2
    step = 256 if quick else 64
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid in (lo, hi):
            break
        c = cost(mid)
        print(f"   {mid:5} strips: {c.median * 1e6:7.1f} us per block (p90 {c.p90 * 1e6:.1f})",
              flush=True)
        if c.p90 * 1e6 <= BUDGET_US:
            lo, lo_cost = mid, c
        else:
            hi = mid
    if lo_cost is not None:
        per = lo_cost.median / (lo * 64)
        verdict = "met" if lo >= 1000 else "NOT met"
        fit = f"at least {lo} (the {'quick ' if quick else ''}cap)" if capped else f"{lo}"
        print(f"   => {fit} full strips fit (p90 within budget; {per * 1e9:.2f} ns per "
              f"channel-frame at that size); target >= 1000: {verdict}")
        SUMMARY.append(f">= 1000 full strips in 70% of the 64-frame deadline on one core: "
                       f"{verdict} ({fit} strips, {lo_cost.median * 1e6:.0f} us median, "
                       f"{lo_cost.p90 * 1e6:.0f} us p90 per block)")
    else:
        print("   => not even 256 strips fit")


def section_sets(quick: bool) -> None:
    """The narrower kernel sets, each in its own process (one set per process)."""
    sets = [s for s in ("avx2", "generic") if s != kernel_set()]
    if kernel_set() == "generic":
        return
    print("\n== other kernel sets on this machine (256 channels, ns per channel-frame, median) ==")
    here, reps, bpc = str(Path(__file__).parent), 5 if quick else 15, 8 if quick else 32
    code = (
        f"import sys; sys.argv=['x']; sys.path.insert(0, {here!r});"
        "import bench_core as b;"
        "print('  '.join(f'{c} {bl}: {b.time_core([b.make_engine(256, bl, c)], bl, "
        f"{reps}, {bpc})"
        ".median / (256 * bl) * 1e9:.2f}' for c in ('full', 'plain') for bl in (64, 512)))"
    )
    for name in sets:
        if name == "avx2" and not (_cpu_has("avx2") and _cpu_has("fma")):
            continue
        env = dict(os.environ, SURFACED_KERNEL=name)
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=600)
        label = {"avx2": "avx2 (8 lanes/op)", "generic": "generic (4 lanes/op: SSE2, NEON)"}
        print(f"   {label[name]:34} {r.stdout.strip() or 'failed: ' + r.stderr[-300:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs for CI (callback 5 s)")
    ap.add_argument("--callback-seconds", type=float, default=None,
                    help="duration of each callback run (default 60, --quick 5)")
    ap.add_argument("--callback-channels", type=int, default=128,
                    help="full strips in the engine during the callback runs")
    ap.add_argument("--capacity-cap", type=int, default=None,
                    help="largest strip count the capacity search tries (default 4096, "
                    "--quick; 16384 otherwise); reaching it within budget reports "
                    "'at least' that many")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: "
                    "core,bare,cffi,callback,capacity,sets")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    seconds = args.callback_seconds or (5.0 if args.quick else 60.0)

    print(f"surfaced core benchmarks  {datetime.datetime.now().isoformat(timespec='seconds')}"
          f"  ({'quick' if args.quick else 'full'} run)")
    for k, v in machine().items():
        print(f"  {k:11}: {v}")
    print(f"  core flags : {' '.join(core_cflags())}")
    core: dict[tuple[str, int, int], Stat] = {}
    if "core" not in skip:
        core = section_core(args.quick)
    bare = None
    if "bare" not in skip and core:
        bare = section_bare(args.quick, core)
    if "cffi" not in skip:
        section_cffi(args.quick, bare)
    if "callback" not in skip:
        section_callback(seconds, args.callback_channels, 4 if args.quick else 30)
    if "capacity" not in skip:
        section_capacity(args.quick, args.capacity_cap)
    if "sets" not in skip:
        section_sets(args.quick)
    if SUMMARY:
        print("\n== targets ==")
        for line in SUMMARY:
            print(f"   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
