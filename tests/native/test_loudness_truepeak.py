"""Master-bus loudness (ITU-R BS.1770-4 / EBU R 128) and true-peak meters.

The two C modules (native/loudness.c, native/truepeak.c) are compiled into a
throw-away shared library and called through cffi in ABI mode; the struct
layouts come straight from the headers, so the tests also poke at state the
way a memory fault would.

Every reading is checked against an independent reference computed here in
numpy/scipy: K-weighting with the ITU-R BS.1770-4 48 kHz table coefficients
and exact (list-based, not histogram) gating; true peak by ideal band-limited
(FFT) interpolation and by scipy's polyphase resampler. Expected figures
follow EBU Tech 3341 (V3, 2016): a stereo 1 kHz sine at X dBFS on both
channels reads X LUFS, the gating cases 3-5 read -23.0, and true-peak tones
read within +0.2/-0.4 dB of their analytic peak.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

cffi = pytest.importorskip("cffi")

NATIVE = Path(__file__).resolve().parents[2] / "native"
sys.path.insert(0, str(NATIVE))
from build_core import public_cdef  # noqa: E402

FS = 48000

# ITU-R BS.1770-4, Annex 1, Tables 1 and 2 (48 kHz): the reference filter.
BS1770_SHELF_B = (1.53512485958697, -2.69169618940638, 1.19839281085285)
BS1770_SHELF_A = (1.0, -1.69065929318241, 0.73248077421585)
BS1770_HP_B = (1.0, -2.0, 1.0)
BS1770_HP_A = (1.0, -1.99004745483398, 0.99007225036621)

_SIZE_HELPERS = """
#include <stddef.h>
#include "loudness.h"
#include "truepeak.h"
size_t test_sizeof_loudness(void) { return sizeof(sf_loudness); }
size_t test_sizeof_truepeak(void) { return sizeof(sf_truepeak); }
"""


@dataclass(frozen=True)
class Native:
    """The compiled meters: cffi FFI and the dlopen()ed library."""

    ffi: Any
    lib: Any


def _cdef_from_header(path: Path) -> str:
    """The header as cffi cdef text, read the way the core's build reads sf_core.h."""
    return public_cdef(path.read_text())


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Native:
    """Compile loudness.c + truepeak.c with the release flags and load them."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed (apt-get install gcc)")
    out = tmp_path_factory.mktemp("meters")
    helper = out / "sizes.c"
    helper.write_text(_SIZE_HELPERS)
    so = out / "libsfmeters.so"
    cmd = [
        gcc, "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror",
        "-I", str(NATIVE),
        str(NATIVE / "loudness.c"), str(NATIVE / "truepeak.c"), str(helper),
        "-o", str(so), "-lm",
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"compiling the meters failed:\n{res.stderr}"

    ffi = cffi.FFI()
    ffi.cdef(_cdef_from_header(NATIVE / "loudness.h"))
    ffi.cdef(_cdef_from_header(NATIVE / "truepeak.h"))
    ffi.cdef("size_t test_sizeof_loudness(void); size_t test_sizeof_truepeak(void);")
    lib = ffi.dlopen(str(so))
    # The tests poke struct fields through the cdef layout: it must be the
    # compiler's layout, or a poke would land somewhere else.
    assert ffi.sizeof("sf_loudness") == lib.test_sizeof_loudness()
    assert ffi.sizeof("sf_truepeak") == lib.test_sizeof_truepeak()
    return Native(ffi, lib)


# --------------------------------------------------------------------------
# signals


def sine(freq: float, dbfs: float, seconds: float, fs: int = FS, phase: float = 0.0) -> np.ndarray:
    """A sine with peak amplitude dbfs, as float32 (what the master bus carries)."""
    t = np.arange(round(seconds * fs)) / fs
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def tone_segments(segments: list[tuple[float, float]], fs: int = FS) -> np.ndarray:
    """1 kHz tone, (dBFS, seconds) per segment, phase continuous across segments."""
    parts, start = [], 0
    for dbfs, seconds in segments:
        n = round(seconds * fs)
        t = (start + np.arange(n)) / fs
        parts.append(10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000.0 * t))
        start += n
    return np.concatenate(parts).astype(np.float32)


# --------------------------------------------------------------------------
# references


def lufs(z: float) -> float:
    """BS.1770-4 loudness of a channel-summed mean square."""
    return -0.691 + 10 * math.log10(z) if z > 0 else -200.0


@dataclass(frozen=True)
class Reading:
    """Momentary, short-term and integrated loudness, LUFS."""

    momentary: float
    short_term: float
    integrated: float


def reference_loudness(left: np.ndarray, right: np.ndarray | None) -> Reading:
    """K-weighting with the BS.1770-4 table filters, exact gating over a block list."""
    hop = FS // 100  # the meter's 10 ms steps
    energy = np.zeros(len(left))
    for ch in (left, right):
        if ch is None:
            continue
        y = signal.lfilter(BS1770_SHELF_B, BS1770_SHELF_A, ch.astype(np.float64))
        y = signal.lfilter(BS1770_HP_B, BS1770_HP_A, y)
        energy += y * y
    n_sub = len(energy) // hop
    sub = energy[: n_sub * hop].reshape(n_sub, hop).mean(axis=1)
    padded = np.concatenate([np.zeros(300), sub])  # time before the start is silence
    momentary = lufs(float(padded[-40:].mean()))
    short_term = lufs(float(padded[-300:].mean()))

    # 400 ms blocks ending every 100 ms (every 10th step) from the start
    blocks = np.convolve(sub, np.ones(40) / 40, mode="valid")[::10]
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(blocks)
    kept = blocks[loud > -70.0]
    if kept.size == 0:
        return Reading(momentary, short_term, -200.0)
    gate = lufs(float(kept.mean())) - 10.0
    kept = kept[-0.691 + 10 * np.log10(kept) > gate]
    return Reading(momentary, short_term, lufs(float(kept.mean())))


def ideal_upsample(x: np.ndarray, factor: int) -> np.ndarray:
    """Band-limited interpolation of one period of a periodic signal (zero-padded FFT)."""
    spec = np.fft.rfft(x)
    wide = np.zeros(factor * len(x) // 2 + 1, dtype=complex)
    wide[: len(spec)] = spec
    return np.fft.irfft(wide, factor * len(x)) * factor


def bandlimited_noise(rng: np.random.Generator, n: int, fmax: float) -> np.ndarray:
    """Periodic noise with flat spectrum up to fmax * fs, normalised to a peak of 0.5."""
    spec = np.zeros(n // 2 + 1, dtype=complex)
    k = int(fmax * n)
    spec[1:k] = rng.normal(size=k - 1) + 1j * rng.normal(size=k - 1)
    x = np.fft.irfft(spec, n)
    return 0.5 * x / np.max(np.abs(x))


def db(x: float) -> float:
    """Linear amplitude to dB."""
    return 20 * math.log10(x)


# --------------------------------------------------------------------------
# drivers


def new_loudness(nat: Native, fs: float = FS) -> Any:
    """A fresh meter for fs."""
    meter = nat.ffi.new("sf_loudness *")
    nat.lib.sf_loudness_init(meter, fs)
    return meter


def feed_loudness(
    nat: Native, meter: Any, left: np.ndarray, right: np.ndarray | None, block: int
) -> None:
    """Feed a stereo (or mono: right None) programme in blocks of `block` frames."""
    left = np.ascontiguousarray(left, dtype=np.float32)
    lp = nat.ffi.from_buffer("float[]", left)
    rp = nat.ffi.NULL
    if right is not None:
        right = np.ascontiguousarray(right, dtype=np.float32)
        rp = nat.ffi.from_buffer("float[]", right)
    for i in range(0, len(left), block):
        n = min(block, len(left) - i)
        nat.lib.sf_loudness_process(meter, lp + i, rp + i if right is not None else rp, n)


def read(nat: Native, meter: Any) -> Reading:
    """The three readings of a meter."""
    lib = nat.lib
    return Reading(
        lib.sf_loudness_momentary(meter),
        lib.sf_loudness_short_term(meter),
        lib.sf_loudness_integrated(meter),
    )


def measure(
    nat: Native,
    left: np.ndarray,
    right: np.ndarray | None,
    block: int = 4096,
    fs: float = FS,
) -> Reading:
    """Readings after a whole programme."""
    meter = new_loudness(nat, fs)
    feed_loudness(nat, meter, left, right, block)
    return read(nat, meter)


def truepeak_blocks(nat: Native, x: np.ndarray, block: int, tp: Any = None) -> list[float]:
    """sf_truepeak_block's return for each block of x."""
    if tp is None:
        tp = nat.ffi.new("sf_truepeak *")
        nat.lib.sf_truepeak_init(tp)
    x = np.ascontiguousarray(x, dtype=np.float32)
    p = nat.ffi.from_buffer("float[]", x)
    return [
        nat.lib.sf_truepeak_block(tp, p + i, min(block, len(x) - i))
        for i in range(0, len(x), block)
    ]


# --------------------------------------------------------------------------
# K-weighting


def test_k_weighting_at_48k_reproduces_the_bs1770_tables(native: Native) -> None:
    """Derived through the analog prototype, 48 kHz gives back the ITU tables."""
    meter = new_loudness(native)
    shelf = meter.shelf
    hp = meter.highpass
    got = [shelf.b0, shelf.b1, shelf.b2, shelf.a1, shelf.a2, hp.b0, hp.b1, hp.b2, hp.a1, hp.a2]
    want = [*BS1770_SHELF_B, *BS1770_SHELF_A[1:], *BS1770_HP_B, *BS1770_HP_A[1:]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert meter.hop == 480  # 10 ms steps


def _response_db(bq: Any, freqs: np.ndarray, fs: float) -> np.ndarray:
    _, h = signal.freqz([bq.b0, bq.b1, bq.b2], [1.0, bq.a1, bq.a2], worN=freqs, fs=fs)
    return 20 * np.log10(np.abs(h))


@pytest.mark.parametrize("fs", [44100.0, 88200.0, 96000.0, 192000.0])
def test_k_weighting_response_is_the_same_at_other_rates(native: Native, fs: float) -> None:
    """At 44.1-192 kHz the curve matches the 48 kHz standard filter across the audio band.

    Near 48 kHz's own Nyquist the bilinear transform bends the reference
    itself, so the comparison stops at 16 kHz.
    """
    meter = new_loudness(native, fs)
    freqs = np.geomspace(10.0, 16000.0, 200)
    got = _response_db(meter.shelf, freqs, fs) + _response_db(meter.highpass, freqs, fs)
    _, h1 = signal.freqz(BS1770_SHELF_B, BS1770_SHELF_A, worN=freqs, fs=FS)
    _, h2 = signal.freqz(BS1770_HP_B, BS1770_HP_A, worN=freqs, fs=FS)
    want = 20 * np.log10(np.abs(h1 * h2))
    assert np.max(np.abs(got - want)) < 0.06
    below_4k = freqs < 4000.0
    assert np.max(np.abs(got - want)[below_4k]) < 0.01


def test_k_weighting_matches_published_analog_parameters(native: Native) -> None:
    """The prototype behind our filters is the one libebur128 publishes (f0, Q, gain).

    An independent cross-check of the inverse/forward bilinear algebra at
    44.1 kHz: the shelf must agree fully; the high-pass agrees in its poles
    and differs only by the passband gain the ITU's unnormalised numerator
    implies (about 1.005).
    """
    fs = 44100.0
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        2 * (k * k - 1) / a0,
        (1 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1 + k / q + k * k
    hp_poles = [2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]

    meter = new_loudness(native, fs)
    s, h = meter.shelf, meter.highpass
    np.testing.assert_allclose([s.b0, s.b1, s.b2, s.a1, s.a2], shelf, rtol=0, atol=1e-9)
    np.testing.assert_allclose([h.a1, h.a2], hp_poles, rtol=0, atol=1e-9)
    assert h.b1 == pytest.approx(-2 * h.b0, abs=1e-12)
    assert h.b2 == pytest.approx(h.b0, abs=1e-12)
    assert h.b0 == pytest.approx(1.0, abs=0.01)


# --------------------------------------------------------------------------
# loudness: steady tones (EBU Tech 3341 cases 1 and 2)


@pytest.mark.parametrize("dbfs", [-20.0, -23.0, -26.0, -33.0])
def test_stereo_sine_reads_its_level(native: Native, dbfs: float) -> None:
    """1 kHz at X dBFS on both channels, 20 s: M, S and I all read X LUFS (+-0.1)."""
    x = sine(1000.0, dbfs, 20.0)
    got = measure(native, x, x)
    for value in (got.momentary, got.short_term, got.integrated):
        assert value == pytest.approx(dbfs, abs=0.1)
    ref = reference_loudness(x, x)
    assert got.momentary == pytest.approx(ref.momentary, abs=1e-3)
    assert got.short_term == pytest.approx(ref.short_term, abs=1e-3)
    assert got.integrated == pytest.approx(ref.integrated, abs=1e-3)


@pytest.mark.parametrize("dbfs", [-20.0, -26.0])
def test_one_channel_sine_reads_3_lu_lower(native: Native, dbfs: float) -> None:
    """The same tone on the left only carries half the power: X - 3 LUFS.

    So "-20 dBFS reads -23 LUFS" holds for a tone on ONE channel (or a mono
    feed, right = NULL); on both channels it reads -20 (test above).
    """
    x = sine(1000.0, dbfs, 20.0)
    silent = np.zeros_like(x)
    mono = measure(native, x, None)
    left_only = measure(native, x, silent)
    assert mono == left_only
    assert mono.integrated == pytest.approx(dbfs - 3.01, abs=0.1)
    assert mono.momentary == pytest.approx(dbfs - 3.01, abs=0.1)
    assert mono.integrated == pytest.approx(reference_loudness(x, None).integrated, abs=1e-3)


@pytest.mark.parametrize("fs", [44100, 96000])
def test_sine_reads_the_same_at_other_rates(native: Native, fs: int) -> None:
    """A -23 dBFS stereo 1 kHz tone reads -23.0 whatever the interface rate."""
    x = sine(1000.0, -23.0, 5.0, fs=fs)
    got = measure(native, x, x, fs=float(fs))
    assert got.integrated == pytest.approx(-23.0, abs=0.05)
    assert got.short_term == pytest.approx(-23.0, abs=0.05)
    assert got.momentary == pytest.approx(-23.0, abs=0.05)


# --------------------------------------------------------------------------
# loudness: gating (EBU Tech 3341 cases 3-5 and variations)

GATING_CASES = {
    # name: (segments (dBFS, s), expected integrated LUFS)
    "3341 case 3: -36/-23/-36": ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    "3341 case 4: -72/-36/-23/-36/-72": (
        [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],
        -23.0,
    ),
    "3341 case 5: -26/-20/-26": ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
    "-20 then -36 (quiet half gated out)": ([(-20.0, 20.0), (-36.0, 20.0)], -20.0),
    "-65 and -72 (absolute gate decides)": ([(-65.0, 10.0), (-72.0, 60.0)], -65.0),
}


@pytest.mark.parametrize("case", list(GATING_CASES), ids=list(GATING_CASES))
def test_gated_integrated_loudness(native: Native, case: str) -> None:
    """Gating drops the quiet parts as EBU R 128 says, and agrees with the exact reference."""
    segments, expected = GATING_CASES[case]
    x = tone_segments(segments)
    got = measure(native, x, x)
    assert got.integrated == pytest.approx(expected, abs=0.1)
    ref = reference_loudness(x, x)
    # Exact but for the relative gate quantised to one 0.02 LU histogram bin.
    assert got.integrated == pytest.approx(ref.integrated, abs=0.02)


def test_absolute_gate_matters_in_the_minus_65_case(native: Native) -> None:
    """Without the -70 LUFS gate the -72 dBFS tail would drag the reading to -70.0."""
    x = tone_segments([(-65.0, 10.0), (-72.0, 60.0)])
    # Both channels; at 1 kHz the K-weighting gain and the -0.691 cancel.
    without_absolute_gate = 10 * math.log10(2 * float(np.mean(x.astype(np.float64) ** 2)))
    assert without_absolute_gate == pytest.approx(-70.0, abs=0.1)
    assert measure(native, x, x).integrated == pytest.approx(-65.0, abs=0.1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_integrated_matches_reference_on_a_varied_programme(native: Native, seed: int) -> None:
    """Noise whose level jumps every 0.5 s between -60 and -5 dBFS: histogram == block list."""
    rng = np.random.default_rng(seed)
    seconds, seg = 40, FS // 2
    levels = rng.uniform(-60.0, -5.0, size=seconds * 2)
    gain = np.repeat(10 ** (levels / 20), seg)
    left = (rng.standard_normal(seconds * FS) * 0.3 * gain).astype(np.float32)
    right = (rng.standard_normal(seconds * FS) * 0.3 * gain).astype(np.float32)
    got = measure(native, left, right, block=1024)
    ref = reference_loudness(left, right)
    assert got.integrated == pytest.approx(ref.integrated, abs=0.02)
    assert got.momentary == pytest.approx(ref.momentary, abs=1e-3)
    assert got.short_term == pytest.approx(ref.short_term, abs=1e-3)


# --------------------------------------------------------------------------
# loudness: silence, reset, block sizes


def test_silence_reads_minus_200(native: Native) -> None:
    """Digital silence: every reading is -200 (the meter's floor), never -inf/NaN."""
    x = np.zeros(5 * FS, dtype=np.float32)
    assert measure(native, x, x) == Reading(-200.0, -200.0, -200.0)


def test_fresh_meter_reads_minus_200(native: Native) -> None:
    """Before any audio (and before the first 10 ms step ends) nothing is shown."""
    meter = new_loudness(native)
    assert read(native, meter) == Reading(-200.0, -200.0, -200.0)
    feed_loudness(native, meter, sine(1000.0, -20.0, 0.0099), None, 4096)
    assert read(native, meter) == Reading(-200.0, -200.0, -200.0)


def test_very_quiet_tone_shows_but_is_not_integrated(native: Native) -> None:
    """-80 dBFS: momentary/short-term show -80, integrated ignores it (below -70 LUFS)."""
    x = sine(1000.0, -80.0, 5.0)
    got = measure(native, x, x)
    assert got.momentary == pytest.approx(-80.0, abs=0.1)
    assert got.short_term == pytest.approx(-80.0, abs=0.1)
    assert got.integrated == -200.0


def test_music_stops_momentary_falls_to_floor_integrated_holds(native: Native) -> None:
    """After 10 s at -20 then 10 s of silence: M and S read -200, I still -20."""
    x = np.concatenate([sine(1000.0, -20.0, 10.0), np.zeros(10 * FS, dtype=np.float32)])
    got = measure(native, x, x)
    assert got.momentary == -200.0
    assert got.short_term == -200.0
    assert got.integrated == pytest.approx(-20.0, abs=0.1)


def test_short_term_and_momentary_windows(native: Native) -> None:
    """1 s of tone after silence: momentary is full (400 ms window), short-term is 1/3 of 3 s."""
    x = np.concatenate([np.zeros(4 * FS, dtype=np.float32), sine(1000.0, -20.0, 1.0)])
    got = measure(native, x, x)
    assert got.momentary == pytest.approx(-20.0, abs=0.1)
    assert got.short_term == pytest.approx(-20.0 + 10 * math.log10(1.0 / 3.0), abs=0.1)


def test_reset_starts_a_new_programme(native: Native) -> None:
    """Reset forgets the loud past: the integrated value is of what follows only."""
    meter = new_loudness(native)
    loud = sine(1000.0, -10.0, 5.0)
    feed_loudness(native, meter, loud, loud, 512)
    assert read(native, meter).integrated == pytest.approx(-10.0, abs=0.1)
    native.lib.sf_loudness_reset(meter)
    assert read(native, meter) == Reading(-200.0, -200.0, -200.0)
    quiet = sine(1000.0, -30.0, 5.0)
    feed_loudness(native, meter, quiet, quiet, 512)
    assert read(native, meter) == measure(native, quiet, quiet, block=512)


def test_results_do_not_depend_on_block_size(native: Native) -> None:
    """The same programme in blocks of 1, 64, 333, 4096 and random sizes reads bit-identically."""
    rng = np.random.default_rng(7)
    x = tone_segments([(-30.0, 1.0), (-12.0, 1.3), (-45.0, 0.9), (-18.0, 0.75)])
    noise = (rng.standard_normal(len(x)) * 0.05).astype(np.float32)
    left, right = x, (x * 0.5 + noise).astype(np.float32)
    readings = {block: measure(native, left, right, block=block) for block in (1, 64, 333, 4096)}

    meter = new_loudness(native)
    lp = native.ffi.from_buffer("float[]", left)
    rp = native.ffi.from_buffer("float[]", right)
    pos = 0
    while pos < len(left):
        n = min(int(rng.integers(0, 5000)), len(left) - pos)  # includes n == 0
        native.lib.sf_loudness_process(meter, lp + pos, rp + pos, n)
        pos += n
    readings[-1] = read(native, meter)

    first = readings[1]
    assert first.integrated > -200.0
    for block, got in readings.items():
        assert got == first, f"block size {block} changed the readings"


# --------------------------------------------------------------------------
# loudness: non-finite values


def test_nonfinite_input_reads_as_silence(native: Native) -> None:
    """NaN/Inf samples (should the engine's guard miss them) count as 0, nothing sticks."""
    x = sine(1000.0, -23.0, 6.0)
    dirty = x.copy()
    clean = x.copy()
    bad = np.arange(FS, FS + 500)
    dirty[bad[::3]] = np.nan
    dirty[bad[1::3]] = np.inf
    dirty[bad[2::3]] = -np.inf
    clean[bad] = 0.0
    got = measure(native, dirty, dirty, block=256)
    assert got == measure(native, clean, clean, block=256)
    assert got.integrated == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("poison", [math.nan, math.inf, -1e308])
def test_poisoned_filter_state_is_flushed(native: Native, poison: float) -> None:
    """A filter state gone bad (memory fault, bad poke) is cleared at the next 10 ms mark."""
    meter = new_loudness(native)
    x = sine(1000.0, -23.0, 3.0)
    feed_loudness(native, meter, x, x, 480)
    meter.state[0][2] = poison
    meter.state[1][0] = poison
    feed_loudness(native, meter, x, x, 480)  # the 3 s window still holds the lost 10 ms
    lost_one_subblock = -23.0 + 10 * math.log10(299 / 300)
    assert read(native, meter).short_term == pytest.approx(lost_one_subblock, abs=0.02)
    feed_loudness(native, meter, x[: FS // 10], x[: FS // 10], 480)
    assert meter.state_resets >= 1
    for ch in range(2):
        assert all(math.isfinite(meter.state[ch][k]) for k in range(4))
    got = read(native, meter)
    assert got.momentary == pytest.approx(-23.0, abs=0.1)
    assert got.short_term == pytest.approx(-23.0, abs=0.1)
    # One 10 ms step was lost (read as silence); the gated value barely moves.
    assert got.integrated == pytest.approx(-23.0, abs=0.1)


def test_full_scale_extremes_stay_finite_and_recover(native: Native) -> None:
    """+-FLT_MAX samples give huge but finite readings, and the meter recovers after."""
    big = np.float32(np.finfo(np.float32).max)
    burst = np.where(np.arange(FS // 2) % 2 == 0, big, -big).astype(np.float32)
    x = np.concatenate([burst, sine(1000.0, -23.0, 4.0)])
    meter = new_loudness(native)
    feed_loudness(native, meter, x, x, 1024)
    got = read(native, meter)
    assert all(math.isfinite(v) for v in (got.momentary, got.short_term, got.integrated))
    assert got.momentary == pytest.approx(-23.0, abs=0.1)
    assert got.short_term == pytest.approx(-23.0, abs=0.1)
    assert got.integrated > 300.0  # the burst dominates the programme, as it should


# --------------------------------------------------------------------------
# true peak


def new_truepeak(nat: Native) -> Any:
    """A fresh true-peak meter."""
    tp = nat.ffi.new("sf_truepeak *")
    nat.lib.sf_truepeak_init(tp)
    return tp


# (frequency / fs, phase in degrees, sample peak dBFS): EBU Tech 3341 V3 style
# tones whose continuous peak falls between samples.
TP_TONES = [
    (1 / 4, 0.0, -6.0),
    (1 / 4, 45.0, -6.0),
    (1 / 6, 60.0, -6.0),
    (1 / 8, 67.5, -6.0),
    (1 / 4, 45.0, 0.0),
    (1 / 10, 18.0, -6.0),
]


@pytest.mark.parametrize(("ratio", "phase_deg", "sample_peak_db"), TP_TONES)
def test_truepeak_of_tones_between_samples(
    native: Native, ratio: float, phase_deg: float, sample_peak_db: float
) -> None:
    """The inter-sample peak of a tone is found (EBU Tech 3341 allows +0.2/-0.4 dB)."""
    n = np.arange(FS)
    phase = 2 * np.pi * ratio * n + np.deg2rad(phase_deg)
    unit = np.sin(phase)
    amplitude = 10 ** (sample_peak_db / 20) / np.max(np.abs(unit))
    x = (amplitude * unit).astype(np.float32)
    assert db(float(np.max(np.abs(x)))) == pytest.approx(sample_peak_db, abs=1e-4)

    blocks = truepeak_blocks(native, x, 480)
    steady = max(blocks[10:])  # after 100 ms: no start-up transient
    assert db(steady) == pytest.approx(db(amplitude), abs=0.05)


def test_truepeak_fs4_45deg_reads_3db_over_sample_peak(native: Native) -> None:
    """The classic case: fs/4 at 45 deg, samples at -6 dBFS, true peak about -3 dBTP."""
    n = np.arange(FS)
    x = (10 ** (-6 / 20) * np.sqrt(2) * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.float32)
    steady = max(truepeak_blocks(native, x, 64)[100:])
    assert db(steady) == pytest.approx(-3.0, abs=0.2)
    assert db(steady) - db(float(np.max(np.abs(x)))) == pytest.approx(3.01, abs=0.05)


@pytest.mark.parametrize(("fmax", "tol_4x"), [(0.3, 0.01), (0.4, 0.02), (0.45, 0.1)])
def test_truepeak_matches_ideal_interpolation(native: Native, fmax: float, tol_4x: float) -> None:
    """Random band-limited signals: within tol of ideal 4x, within 0.5 dB of the real peak.

    The ideal 4x reading shares our grid (the filter's error alone); the 16x
    ideal reading is the continuous peak, which a 4x grid can under-read by
    up to 20log10(cos(pi f / 4fs)), about 0.6 dB at 0.45 fs.
    """
    rng = np.random.default_rng(int(fmax * 100))
    worst_4x = worst_cont = 0.0
    for _ in range(12):
        period = bandlimited_noise(rng, 2048, fmax)
        x = np.tile(period, 3).astype(np.float32)
        blocks = truepeak_blocks(native, x, 2048)
        got = max(blocks[1:])  # the second and third periods: steady state
        ref_4x = np.max(np.abs(ideal_upsample(period, 4)))
        ref_cont = np.max(np.abs(ideal_upsample(period, 16)))
        worst_4x = max(worst_4x, abs(db(got) - db(ref_4x)))
        worst_cont = max(worst_cont, abs(db(got) - db(ref_cont)))
    assert worst_4x < tol_4x
    assert worst_cont < 0.5


def test_truepeak_agrees_with_scipy_resampler(native: Native) -> None:
    """Cross-check with scipy's polyphase resampler (Kaiser FIR, 16x) on music-like noise."""
    rng = np.random.default_rng(11)
    b, a = signal.butter(6, 0.7)  # pink-ish, band-limited to ~16.8 kHz
    for _ in range(5):
        x = signal.lfilter(b, a, rng.standard_normal(FS // 2))
        x = (0.8 * x / np.max(np.abs(x))).astype(np.float32)
        ref = np.max(np.abs(signal.resample_poly(x.astype(np.float64), 16, 1)[800:-800]))
        got = max(truepeak_blocks(native, x, 512))
        assert db(got) == pytest.approx(db(ref), abs=0.5)


def test_truepeak_of_a_full_scale_square_overshoots(native: Native) -> None:
    """A +-1 square (3 kHz) reads above 0 dBTP, like its band-limited waveform does."""
    period = np.where(np.arange(16) < 8, 1.0, -1.0)
    x = np.tile(period, 300).astype(np.float32)
    got = max(truepeak_blocks(native, x, 256)[2:])
    ref = np.max(np.abs(ideal_upsample(period, 64)))
    assert 0.5 < db(got) < 3.0
    assert db(got) == pytest.approx(db(ref), abs=0.2)


def test_truepeak_of_a_dc_step_shows_overshoot(native: Native) -> None:
    """Silence then DC 0.5: the band-limited edge rings over 0.5, as a DAC's output would.

    Ideal interpolation of a sampled step peaks about 14 % over the step
    (more than the 9 % Gibbs figure of a continuous step); we must match
    the ideal on our 4x grid and stay sane.
    """
    x = np.concatenate([np.zeros(1000), np.full(1000, 0.5)]).astype(np.float32)
    got = max(truepeak_blocks(native, x, 100))
    ideal_4x = np.max(np.abs(ideal_upsample(x.astype(np.float64), 4)))
    scipy_4x = np.max(np.abs(signal.resample_poly(x.astype(np.float64), 4, 1)))
    assert 0.5 * 1.1 < got < 0.5 * 1.15
    assert db(got) == pytest.approx(db(ideal_4x), abs=0.05)
    assert db(got) == pytest.approx(db(scipy_4x), abs=0.5)
    # Settled DC reads its own level exactly (every branch has unity DC gain).
    assert truepeak_blocks(native, np.full(2000, 0.5), 1000)[1] == pytest.approx(0.5, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False, width=32),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 64),
)
def test_truepeak_never_below_sample_peak(native: Native, samples: list[float], block: int) -> None:
    """Whatever the signal and block size, each block's reading >= its sample peak."""
    x = np.asarray(samples, dtype=np.float32)
    got = truepeak_blocks(native, x, block)
    for i, value in enumerate(got):
        chunk = x[i * block : (i + 1) * block]
        assert value >= float(np.max(np.abs(chunk)))
        assert math.isfinite(value)


def test_truepeak_does_not_depend_on_block_size(native: Native) -> None:
    """The running maximum over a stream is the same however the stream is cut."""
    rng = np.random.default_rng(5)
    x = bandlimited_noise(rng, 9600, 0.45).astype(np.float32)
    results = {max(truepeak_blocks(native, x, block)) for block in (1, 7, 64, 4096)}
    assert len(results) == 1


def test_truepeak_nonfinite_input_reads_as_zero(native: Native) -> None:
    """NaN/Inf samples are read as 0: finite results, identical to feeding zeros."""
    x = sine(4000.0, -6.0, 0.05)
    dirty, clean = x.copy(), x.copy()
    dirty[100:103] = [np.nan, np.inf, -np.inf]
    clean[100:103] = 0.0
    assert truepeak_blocks(native, dirty, 64) == truepeak_blocks(native, clean, 64)


def test_truepeak_poisoned_history_does_not_stick(native: Native) -> None:
    """A NaN-filled history is skipped, and gone after SF_TRUEPEAK_TAPS samples."""
    taps = native.lib.SF_TRUEPEAK_TAPS
    x = sine(3000.0, -10.0, 0.05)
    poisoned = new_truepeak(native)
    for i in range(2 * taps):
        poisoned.hist[i] = math.nan
    poisoned.pos = taps + 5  # out of range: must not write outside the history
    got = truepeak_blocks(native, x, taps, poisoned)
    want = truepeak_blocks(native, x, taps)
    assert all(math.isfinite(v) for v in got)
    assert got[0] <= want[0]  # NaN outputs are ignored, never reported
    assert got[2:] == want[2:]


def test_truepeak_reset_and_empty_blocks(native: Native) -> None:
    """Reset clears the ringing of the past; n == 0 returns 0 and changes nothing."""
    tp = new_truepeak(native)
    truepeak_blocks(native, sine(1000.0, 0.0, 0.01), 64, tp)
    native.lib.sf_truepeak_reset(tp)
    assert truepeak_blocks(native, np.zeros(256), 64, tp) == [0.0] * 4
    assert native.lib.sf_truepeak_block(tp, native.ffi.NULL, 0) == 0.0


# --------------------------------------------------------------------------
# true peak: the exact arithmetic, whatever the kernel and the block cuts


def truepeak_model(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per input sample, the peak over its oversampled points, in float32 exactly as truepeak.c.

    The documented order: for each branch, four partial sums over taps
    t = q, q + 4, ... (q = 0..3, each from 0), every product and sum rounded
    to float32, then (s0 + s1) + (s2 + s3); the 0/4 branch is the sample.
    numpy's float32 ufuncs round each operation the same way and never fuse.
    History before the stream is silence; non-finite input reads as 0.
    """
    taps = coef.shape[1]
    xs = np.where(np.isfinite(x), x, 0).astype(np.float32)
    padded = np.concatenate([np.zeros(taps, np.float32), xs])
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)[1 : len(xs) + 1]
    peak = np.abs(xs)
    for branch in coef:
        partial = []
        for q in range(4):
            acc = np.zeros(len(xs), np.float32)
            for t in range(q, taps, 4):
                acc = acc + branch[t] * windows[:, t]
            partial.append(acc)
        y = (partial[0] + partial[1]) + (partial[2] + partial[3])
        peak = np.maximum(peak, np.abs(y))
    return peak


def _tp_coef(nat: Native, tp: Any) -> np.ndarray:
    taps = nat.lib.SF_TRUEPEAK_TAPS
    return np.frombuffer(nat.ffi.buffer(tp.coef), dtype=np.float32).reshape(-1, taps).copy()


def _tp_signal() -> np.ndarray:
    """Band-limited noise near full scale, a click and some NaN/Inf: 6000 samples."""
    rng = np.random.default_rng(2024)
    x = bandlimited_noise(rng, 6000, 0.45) * 1.8
    x[3000] = -1.5
    x[[1234, 1235, 4100]] = [np.nan, np.inf, -np.inf]
    return x.astype(np.float32)


def _tp_cuts(n: int) -> dict[str, list[int]]:
    """Block-size patterns: tiny (the unstaged path), around the vector widths and the
    256-sample staging passes, odd sizes, and random mixes of all of them."""
    rng = np.random.default_rng(99)
    patterns: dict[str, list[int]] = {}
    for size in (1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 64, 255, 256, 257, 333, 512, 4096, n):
        patterns[f"fixed {size}"] = [size] * (n // size) + ([n % size] if n % size else [])
    for seed in range(3):
        sizes, total = [], 0
        while total < n:
            size = int(rng.choice([1, 2, 3, int(rng.integers(4, 40)), int(rng.integers(40, 700))]))
            size = min(size, n - total)
            sizes.append(size)
            total += size
        patterns[f"random {seed}"] = sizes
    return patterns


def _expected_blocks(per_sample: np.ndarray, sizes: list[int]) -> list[float]:
    out, start = [], 0
    for size in sizes:
        out.append(float(np.max(per_sample[start : start + size])))
        start += size
    return out


def _run_cuts(nat: Native, x: np.ndarray, sizes: list[int]) -> list[float]:
    tp = new_truepeak(nat)
    p = nat.ffi.from_buffer("float[]", x)
    got, start = [], 0
    for size in sizes:
        got.append(nat.lib.sf_truepeak_block(tp, p + start, size))
        start += size
    return got


@pytest.mark.parametrize("cap", ["auto", "avx2", "generic"])
def test_truepeak_is_the_exact_float32_model_for_any_cuts(
    native: Native, monkeypatch: pytest.MonkeyPatch, cap: str
) -> None:
    """Every block's reading is bit-identical to the float32 model, for every kernel set.

    This pins the summation order (so the vector kernels, the plain C path
    for tiny blocks and the scalar fallback cannot drift apart) and, since
    the model knows nothing of blocks, block-size independence reading by
    reading, not only for the running maximum.
    """
    if cap == "auto":
        monkeypatch.delenv("SURFACED_KERNEL", raising=False)
    else:
        monkeypatch.setenv("SURFACED_KERNEL", cap)
    x = _tp_signal()
    tp = new_truepeak(native)  # (re)chooses the kernel under this environment
    kernel = native.ffi.string(native.lib.sf_truepeak_kernel()).decode()
    assert kernel in {"avx512", "avx2", "generic", "plain"}
    if cap == "generic":
        assert kernel == "generic"
    if cap == "avx2":
        assert kernel in {"avx2", "generic"}
    per_sample = truepeak_model(_tp_coef(native, tp), x)
    for name, sizes in _tp_cuts(len(x)).items():
        got = _run_cuts(native, x, sizes)
        want = _expected_blocks(per_sample, sizes)
        bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        if bad:
            i = bad[0]
            pytest.fail(f"{kernel}, {name}: block {i} reads {got[i]!r}, the model {want[i]!r}")


@pytest.fixture(scope="module")
def native_plain(tmp_path_factory: pytest.TempPathFactory) -> Native:
    """truepeak.c built as plain C only (-DSF_TRUEPEAK_PLAIN_C: no vector extensions)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed (apt-get install gcc)")
    so = tmp_path_factory.mktemp("tp_plain") / "libsftp.so"
    cmd = [
        gcc, "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror",
        "-DSF_TRUEPEAK_PLAIN_C", "-I", str(NATIVE), str(NATIVE / "truepeak.c"),
        "-o", str(so), "-lm",
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"compiling the plain-C meter failed:\n{res.stderr}"
    ffi = cffi.FFI()
    ffi.cdef(_cdef_from_header(NATIVE / "truepeak.h"))
    return Native(ffi, ffi.dlopen(str(so)))


def test_truepeak_plain_c_build_is_the_same_model(native_plain: Native) -> None:
    """The portable scalar build (any C11 compiler) reads exactly what the vector kernels read."""
    x = _tp_signal()
    tp = new_truepeak(native_plain)
    assert native_plain.ffi.string(native_plain.lib.sf_truepeak_kernel()) == b"plain"
    per_sample = truepeak_model(_tp_coef(native_plain, tp), x)
    for name in ("fixed 1", "fixed 64", "fixed 333", "random 0"):
        sizes = _tp_cuts(len(x))[name]
        assert _run_cuts(native_plain, x, sizes) == _expected_blocks(per_sample, sizes), name


_TP_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "truepeak.h"
/* argv: samples (float32), block sizes (int32), output (float32 per block) */
static long slurp(const char *path, void **data) {
    FILE *f = fopen(path, "rb");
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0) return -1;
    rewind(f);
    *data = malloc((size_t)n + 1);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) return -1;
    fclose(f);
    return n;
}
int main(int argc, char **argv) {
    void *xs, *bs;
    long nx, nb, i, at = 0;
    static sf_truepeak tp;
    FILE *out;
    if (argc != 4 || (nx = slurp(argv[1], &xs)) < 0 || (nb = slurp(argv[2], &bs)) < 0) return 2;
    out = fopen(argv[3], "wb");
    if (!out) return 2;
    sf_truepeak_init(&tp);
    for (i = 0; i < nb / 4; i++) {
        int n = ((int *)bs)[i];
        float r = sf_truepeak_block(&tp, (float *)xs + at, n);
        fwrite(&r, sizeof r, 1, out);
        at += n;
    }
    fclose(out);
    printf("%s\n", sf_truepeak_kernel());
    return at * 4 == nx ? 0 : 3;
}
"""


def test_truepeak_aarch64_build_is_the_same_model(native: Native, tmp_path: Path) -> None:
    """Cross-compiled for aarch64 (NEON kernel), run under qemu: the same readings, bit for bit."""
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None:
        pytest.skip("needs gcc-aarch64-linux-gnu and qemu-user")
    driver, exe = tmp_path / "tp_driver.c", tmp_path / "tp_driver"
    driver.write_text(_TP_DRIVER)
    build = subprocess.run(
        [cc, "-std=c11", "-O3", "-Wall", "-Wextra", "-Werror", "-static", "-I", str(NATIVE),
         str(NATIVE / "truepeak.c"), str(driver), "-o", str(exe), "-lm"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    x = _tp_signal()
    sizes = _tp_cuts(len(x))["random 1"]
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    (tmp_path / "sizes.i32").write_bytes(np.asarray(sizes, dtype=np.int32).tobytes())
    run = subprocess.run(
        [qemu, str(exe), str(tmp_path / "x.f32"), str(tmp_path / "sizes.i32"),
         str(tmp_path / "out.f32")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "generic"
    got = np.frombuffer((tmp_path / "out.f32").read_bytes(), dtype=np.float32).tolist()
    per_sample = truepeak_model(_tp_coef(native, new_truepeak(native)), x)
    assert got == _expected_blocks(per_sample, sizes)
