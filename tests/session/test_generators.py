"""Built-in program material: it loops cleanly, sits at mix levels and sounds like its name."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from surfaced.session import generators
from surfaced.session.generators import DEFAULT_SESSION_CHANNELS, GENERATORS, generate, loop_frames

RATE = 48000
PROGRAM = [gen for _, gen in DEFAULT_SESSION_CHANNELS]
STEREO = {"keys", "pad"}

Audio = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Audio]:
    """Every generator at 48 kHz, 8 s, rendered once for the module."""
    return {name: generate(name, RATE) for name in GENERATORS}


def _mono(x: Audio) -> npt.NDArray[np.float64]:
    return x.astype(np.float64) if x.ndim == 1 else x.astype(np.float64).mean(axis=1)


def _centroid(x: Audio, rate: int = RATE) -> float:
    power = np.abs(np.fft.rfft(_mono(x))) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    return float((power * freqs).sum() / power.sum())


def _peak_hz(x: npt.NDArray[np.float64], rate: int, lo: float, hi: float) -> float:
    """Frequency of the strongest component between lo and hi, to a fraction of a Hz."""
    n = 8 * x.shape[0]  # zero-padding interpolates the spectrum
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]), n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(spec[band])])


def test_default_session_is_eight_known_generators_with_distinct_names() -> None:
    assert len(DEFAULT_SESSION_CHANNELS) == 8
    assert len({ch for ch, _ in DEFAULT_SESSION_CHANNELS}) == 8
    assert all(gen in GENERATORS for _, gen in DEFAULT_SESSION_CHANNELS)
    # Control-surface scribble strips show 7 characters.
    assert all(len(ch) <= 7 for ch, _ in DEFAULT_SESSION_CHANNELS)


def test_default_session_renders_quickly() -> None:
    start = time.perf_counter()
    for _, gen in DEFAULT_SESSION_CHANNELS:
        generate(gen, RATE, 8.0)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic(name: str, rendered: dict[str, Audio]) -> None:
    np.testing.assert_array_equal(generate(name, RATE, 8.0), rendered[name])


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_shape_dtype_and_length_in_whole_bars(name: str, rendered: dict[str, Audio]) -> None:
    x = rendered[name]
    assert x.dtype == np.float32
    assert x.flags.c_contiguous
    assert x.shape == ((8 * RATE, 2) if name in STEREO else (8 * RATE,))  # 4 bars of 2 s
    assert np.isfinite(x).all()


@pytest.mark.parametrize(
    ("seconds", "bars"), [(0.1, 1), (2.0, 1), (2.9, 1), (3.0, 2), (5.2, 3), (8.0, 4), (16.0, 8)]
)
def test_seconds_round_to_whole_bars(seconds: float, bars: int) -> None:
    assert loop_frames(44100, seconds) == bars * 2 * 44100
    assert generate("kick", 44100, seconds).shape == (bars * 2 * 44100,)


@pytest.mark.parametrize("name", PROGRAM)
def test_program_loops_without_a_click(name: str, rendered: dict[str, Audio]) -> None:
    x = _mono(rendered[name]) if name not in STEREO else rendered[name].astype(np.float64)
    steps = np.abs(np.diff(x, axis=0))
    wrap = np.abs(x[0] - x[-1])
    # The jump from the last sample to the first must look like any other
    # step of the signal, and like the steps right around the seam.
    assert np.all(wrap <= np.percentile(steps, 99, axis=0))
    near = np.concatenate([steps[-200:], steps[:200]])
    assert np.all(wrap <= 2.0 * near.max(axis=0) + 1e-6)


@pytest.mark.parametrize("name", PROGRAM)
def test_program_peaks_leave_headroom(name: str, rendered: dict[str, Audio]) -> None:
    peak_db = 20 * np.log10(np.abs(rendered[name]).max())
    assert -12.0 <= peak_db <= -6.0


@pytest.mark.parametrize("name", [*PROGRAM, "sine", "pink"])
def test_no_dc_offset(name: str, rendered: dict[str, Audio]) -> None:
    assert np.all(np.abs(rendered[name].astype(np.float64).mean(axis=0)) < 1e-4)


@pytest.mark.parametrize("name", sorted(STEREO))
def test_stereo_generators_are_wide_but_mono_compatible(
    name: str, rendered: dict[str, Audio]
) -> None:
    left, right = rendered[name][:, 0], rendered[name][:, 1]
    assert not np.array_equal(left, right)
    corr = np.corrcoef(left, right)[0, 1]
    assert 0.3 < corr < 0.95  # audibly wide, yet does not cancel in a mono sum


def test_bass_and_kick_live_low_and_hats_high(rendered: dict[str, Audio]) -> None:
    assert _centroid(rendered["bass"]) < 300
    assert _centroid(rendered["kick"]) < 200
    assert _centroid(rendered["hats"]) > 6000
    assert 200 < _centroid(rendered["vocal"]) < 2000


def test_bass_follows_the_chord_roots(rendered: dict[str, Audio]) -> None:
    x = _mono(rendered["bass"])
    bar = 2 * RATE
    roots = ["A", "F", "C", "G"]
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    for i, root in enumerate(roots):
        f = _peak_hz(x[i * bar : (i + 1) * bar], RATE, 30, 140)
        note = round(12 * np.log2(f / 440.0)) + 69
        assert names[note % 12] == root, f"bar {i + 1}: strongest bass note {f:.1f} Hz"


def test_lead_is_in_tune(rendered: dict[str, Audio]) -> None:
    # The first note of the first bar is E4 (329.63 Hz), played for 3/8 s.
    first = _mono(rendered["lead"])[: int(0.37 * RATE)]
    f = _peak_hz(first, RATE, 250, 450)
    assert abs(1200 * np.log2(f / 329.63)) < 10  # cents


def test_vocal_breathes_at_the_loop_point(rendered: dict[str, Audio]) -> None:
    x = rendered["vocal"]
    edge = int(0.05 * RATE)
    assert np.abs(x[:edge]).max() < 1e-3 and np.abs(x[-edge:]).max() < 1e-3
    # ...and sings in between: a fundamental in the alto range.
    note = _mono(x)[int(0.3 * RATE) : int(0.7 * RATE)]  # A4, 0.25..0.75 s
    assert abs(_peak_hz(note, RATE, 200, 700) - 440.0) < 15  # vibrato allowed


def test_sine_is_1khz_at_minus_20_dbfs(rendered: dict[str, Audio]) -> None:
    x = rendered["sine"]
    assert abs(20 * np.log10(np.abs(x).max()) + 20.0) < 0.01
    assert abs(_peak_hz(x[:RATE].astype(np.float64), RATE, 100, 5000) - 1000.0) < 1.0


def test_pink_noise_level_and_slope(rendered: dict[str, Audio]) -> None:
    x = rendered["pink"].astype(np.float64)
    assert abs(20 * np.log10(np.sqrt(np.mean(x**2))) + 20.0) < 0.05
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / RATE)

    def octave(lo: float) -> float:
        return float(power[(freqs >= lo) & (freqs < 2 * lo)].sum())

    # Pink: equal energy per octave.
    for lo in (100.0, 1000.0, 8000.0):
        assert abs(10 * np.log10(octave(lo) / octave(250.0))) < 1.0


def test_silence_is_silent(rendered: dict[str, Audio]) -> None:
    assert not rendered["silence"].any()


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_other_sample_rates(rate: int) -> None:
    for name in GENERATORS:
        x = generate(name, rate, 2.0)
        assert x.shape[0] == 2 * rate
        assert np.isfinite(x).all()
        if name in PROGRAM:
            assert -12.0 <= 20 * np.log10(np.abs(x).max()) <= -6.0


def test_unknown_generator_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown generator 'kazoo'") as info:
        generate("kazoo", RATE)
    for name in GENERATORS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("rate", "seconds", "message"),
    [
        (0, 8.0, "rate 0 Hz is out of range"),
        (48000.0, 8.0, "rate must be an integer"),
        (48000, 0.0, "seconds must be a positive number"),
        (48000, float("nan"), "seconds must be a positive number"),
    ],
)
def test_bad_rate_or_duration(rate: int, seconds: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate("kick", rate, seconds)


def test_registry_functions_round_like_generate() -> None:
    assert GENERATORS["hats"](RATE, 2.2).shape == generators.hats(RATE, 2.0).shape
