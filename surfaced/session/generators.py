"""Built-in program material: eight looping instruments and three test signals.

Everything is synthesized here with numpy, deterministically (fixed seeds), so
`surfaced run` has something to mix without downloads or sample files.

The instruments form one short song: 120 BPM, 4/4, A minor, one chord per bar
through Am-F-C-G. Every generator returns a whole number of bars and is built
to loop: notes whose tails run past the end are folded back onto the start
(periodic summation), and filters are applied circularly in the frequency
domain, so the last sample runs into the first exactly as the song would run
on. Levels leave headroom for the mix: each instrument peaks between -12 and
-6 dBFS and has no DC offset.

Arrays are float32, mono ``(frames,)`` or stereo ``(frames, 2)``. Durations
are rounded to whole bars (2 s at 120 BPM), at least one, so a request for
8 s gives 4 bars and one for 5 s gives 3 bars (6 s); `loop_frames` tells the
length in advance.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAR_SECONDS",
    "BEATS_PER_BAR",
    "DEFAULT_SESSION_CHANNELS",
    "GENERATORS",
    "MAX_RATE",
    "MIN_RATE",
    "PROGRESSION",
    "TEMPO_BPM",
    "bars_for",
    "generate",
    "loop_frames",
]

Audio = npt.NDArray[np.float32]
_Sig = npt.NDArray[np.float64]

TEMPO_BPM = 120.0
BEATS_PER_BAR = 4
BAR_SECONDS = BEATS_PER_BAR * 60.0 / TEMPO_BPM
PROGRESSION = ("Am", "F", "C", "G")
MIN_RATE = 8000
MAX_RATE = 384000


# --------------------------------------------------------------------------- timing


def bars_for(seconds: float) -> int:
    """Whole bars (2 s each at 120 BPM) nearest to `seconds`, at least one."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    return max(1, math.floor(seconds / BAR_SECONDS + 0.5))


def loop_frames(rate: int, seconds: float) -> int:
    """Length in frames of what every generator returns for (`rate`, `seconds`)."""
    return _grid(rate, seconds).frames


@dataclass(frozen=True)
class _Grid:
    """Where beats fall in a loop of `bars` bars at `rate`."""

    rate: int
    bars: int

    @property
    def beat(self) -> float:
        return self.rate * 60.0 / TEMPO_BPM

    @property
    def frames(self) -> int:
        return round(self.bars * BEATS_PER_BAR * self.beat)

    def at(self, bar: int, beat: float) -> int:
        """Frame index of `beat` (0-based, fractional) in `bar`."""
        return round((bar * BEATS_PER_BAR + beat) * self.beat)

    def seconds(self, beats: float) -> float:
        """Duration of `beats` beats in seconds."""
        return beats * 60.0 / TEMPO_BPM

    def chord(self, bar: int) -> _Chord:
        return _CHORDS[bar % len(_CHORDS)]


def _grid(rate: int, seconds: float) -> _Grid:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise ValueError(f"rate must be an integer number of Hz, got {rate!r}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate {rate} Hz is out of range; expected {MIN_RATE}..{MAX_RATE} Hz")
    return _Grid(int(rate), bars_for(seconds))


# --------------------------------------------------------------------------- harmony


@dataclass(frozen=True)
class _Chord:
    name: str
    root: int  # MIDI note of the bass root (octave 1-2)
    keys: tuple[int, ...]  # stab voicing, around the fourth octave
    pad: tuple[int, ...]  # pad voicing; moves by step to the next chord


_CHORDS = (
    _Chord("Am", 33, (64, 69, 72), (57, 60, 64, 69)),
    _Chord("F", 29, (65, 69, 72), (57, 60, 65, 69)),
    _Chord("C", 36, (64, 67, 72), (55, 60, 64, 67)),
    _Chord("G", 31, (62, 67, 71), (55, 59, 62, 67)),
)


def _hz(midi: float | _Sig) -> _Sig:
    return np.asarray(440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0))


# --------------------------------------------------------------------------- building blocks


def _rng(name: str) -> np.random.Generator:
    # One stream per instrument, keyed by its name: adding an instrument or
    # reordering calls never changes another instrument's noise.
    return np.random.default_rng(zlib.crc32(name.encode()))


def _add_looped(out: _Sig, event: _Sig, start: int) -> None:
    """Add `event` into `out` at `start`, wrapping what runs past the end to the start."""
    n = out.shape[0]
    pos = 0
    dst = start % n
    while pos < event.shape[0]:
        take = min(event.shape[0] - pos, n - dst)
        out[dst : dst + take] += event[pos : pos + take]
        pos += take
        dst = 0


def _envelope(n: int, rate: int, attack: float, decay: float, fade: float = 0.01) -> _Sig:
    """Linear attack, exponential decay, and a short raised-cosine fade to zero.

    Every event ends at exactly zero and starts from zero: a note cut off
    mid-swing would click, which is the one thing program material must not do.
    """
    t = np.arange(n) / rate
    env = np.exp(-t / decay) if math.isfinite(decay) else np.ones(n)
    a = min(n, max(1, round(attack * rate)))
    env[:a] *= np.arange(a) / a
    f = min(n, max(1, round(fade * rate)))
    env[n - f :] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(f) + 1) / f)
    return env


def _filter(x: _Sig, rate: int, gain: Callable[[_Sig], _Sig]) -> _Sig:
    """Zero-phase filtering by `gain(freq_hz)`, circular over the whole loop.

    Circular, so a loop stays a loop; zero-phase, and the responses used are
    gentle (low order), so transients are not smeared audibly.
    """
    spec = np.fft.rfft(x, axis=0)
    g = gain(np.asarray(np.fft.rfftfreq(x.shape[0], 1.0 / rate), dtype=np.float64))
    spec *= g if x.ndim == 1 else g[:, None]
    return np.fft.irfft(spec, n=x.shape[0], axis=0)


def _lowpass(cutoff: float, order: int = 2) -> Callable[[_Sig], _Sig]:
    def gain(f: _Sig) -> _Sig:
        return np.asarray(1.0 / np.sqrt(1.0 + (f / cutoff) ** (2 * order)))

    return gain


def _highpass(cutoff: float, order: int = 2) -> Callable[[_Sig], _Sig]:
    def gain(f: _Sig) -> _Sig:
        with np.errstate(divide="ignore"):
            ratio = np.where(f > 0, cutoff / np.maximum(f, 1e-12), np.inf)
        return np.asarray(1.0 / np.sqrt(1.0 + ratio ** (2 * order)))

    return gain


def _saw(cycles: _Sig, dt: float | _Sig) -> _Sig:
    """Band-limited sawtooth (polyBLEP) from a phase in cycles and the step per sample.

    A naive saw aliases audibly at pad pitches; polyBLEP rounds off each
    reset over one sample on either side, vectorised with masks.
    """
    p = cycles - np.floor(cycles)  # faster than % 1.0, same result
    dts = np.broadcast_to(np.asarray(dt, dtype=np.float64), p.shape)
    y = 2.0 * p - 1.0
    lo = p < dts
    x = p[lo] / dts[lo]
    y[lo] -= x + x - x * x - 1.0
    hi = p > 1.0 - dts
    x = (p[hi] - 1.0) / dts[hi]
    y[hi] -= x * x + x + x + 1.0
    return y


def _finish(x: _Sig, peak_dbfs: float) -> Audio:
    """Remove DC and scale the peak (over all channels) to `peak_dbfs`."""
    x = x - x.mean(axis=0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0:
        x *= 10.0 ** (peak_dbfs / 20.0) / peak
    return np.ascontiguousarray(x, dtype=np.float32)


# --------------------------------------------------------------------------- drums


def kick(rate: int, seconds: float) -> Audio:
    """Four-on-the-floor kick: a sine sweeping from ~155 Hz down to 45 Hz, decaying."""
    g = _grid(rate, seconds)
    out = np.zeros(g.frames)
    n = round(0.45 * rate)
    t = np.arange(n) / rate
    # Integral of f(t) = 45 + 110 exp(-t / 35 ms): the fast fall is the
    # "thump", the steady 45 Hz the "boom".
    phase = 2 * np.pi * (45.0 * t + 110.0 * 0.035 * (1.0 - np.exp(-t / 0.035)))
    hit = np.sin(phase) * _envelope(n, rate, 0.0005, 0.2, fade=0.05)
    hit += 0.25 * np.sin(3 * phase) * _envelope(n, rate, 0.0005, 0.006)  # beater
    for bar in range(g.bars):
        beats = [0.0, 1.0, 2.0, 3.0] + ([3.5] if bar % 4 == 3 else [])
        for beat in beats:
            _add_looped(out, hit * (0.8 if beat % 1 else 1.0), g.at(bar, beat))
    return _finish(out, -7.0)


def snare(rate: int, seconds: float) -> Audio:
    """Backbeat snare on 2 and 4: a noise burst over a 190 Hz tone body, with ghost notes."""
    g = _grid(rate, seconds)
    rng = _rng("snare")
    out = np.zeros(g.frames)
    n = round(0.25 * rate)
    t = np.arange(n) / rate
    body = np.sin(2 * np.pi * 190.0 * t) + 0.5 * np.sin(2 * np.pi * 330.0 * t)
    body *= _envelope(n, rate, 0.0005, 0.05, fade=0.03)
    wires, bright = _highpass(1500.0), _lowpass(9000.0, 1)

    def rattle(f: _Sig) -> _Sig:  # the snare wires: a band of noise, 1.5..9 kHz
        return wires(f) * bright(f)

    tone_env = _envelope(n, rate, 0.0005, 0.08, fade=0.03)
    for bar in range(g.bars):
        hits = [(1.0, 1.0), (3.0, 1.0)] + ([(3.75, 0.3)] if bar % 2 else [(2.75, 0.25)])
        for beat, vel in hits:
            noise = _filter(rng.standard_normal(n), rate, rattle)
            # Round off the rare tall noise peaks, or they alone would set the
            # level and leave the snare quiet next to the kick.
            noise = 1.5 * np.tanh(noise / (1.5 * float(np.std(noise))))
            _add_looped(out, vel * (0.7 * body + noise * tone_env), g.at(bar, beat))
    return _finish(out, -8.0)


def hats(rate: int, seconds: float) -> Audio:
    """Closed hi-hats in 16ths, accented on the off-beat 8ths, an open hat every other bar."""
    g = _grid(rate, seconds)
    rng = _rng("hats")
    # One circularly high-passed noise for the whole loop, gated by an
    # envelope train: cheaper than filtering every tick, and still a loop.
    noise = _filter(rng.standard_normal(g.frames), rate, _highpass(min(7000.0, 0.3 * rate), 3))
    train = np.zeros(g.frames)
    closed = _envelope(round(0.06 * rate), rate, 0.0003, 0.018)
    opened = _envelope(round(g.seconds(0.5) * rate), rate, 0.0003, 0.12, fade=0.03)
    for bar in range(g.bars):
        for step in range(16):
            if bar % 2 == 1 and step in (14, 15):
                if step == 14:
                    _add_looped(train, 0.8 * opened, g.at(bar, 3.5))
                continue
            vel = 1.0 if step % 4 == 2 else 0.55 if step % 2 == 0 else 0.35
            _add_looped(train, vel * closed, g.at(bar, step / 4))
    return _finish(noise * train, -11.0)


# --------------------------------------------------------------------------- bass and keys


_BASS_PATTERN = (  # (beat, semitones above the root, length in beats)
    (0.0, 0, 0.75),
    (1.0, 0, 0.4),
    (1.5, 12, 0.4),
    (2.0, 0, 0.75),
    (3.0, 7, 0.4),
    (3.5, 12, 0.4),
)


def bass(rate: int, seconds: float) -> Audio:
    """Eighth-note bass on the chord roots: sub sine plus a softened saw with a pluck."""
    g = _grid(rate, seconds)
    out = np.zeros(g.frames)
    for bar in range(g.bars):
        root = g.chord(bar).root
        for beat, offset, length in _BASS_PATTERN:
            n = round((g.seconds(length) + 0.02) * rate)
            t = np.arange(n) / rate
            f = float(_hz(root + offset))
            saw = _saw(f * t, f / rate)
            # The saw's share decays quickly: a poor man's filter envelope,
            # bright on the attack and round on the sustain.
            tone = np.sin(2 * np.pi * f * t) + saw * (0.25 + 0.45 * np.exp(-t / 0.06))
            _add_looped(out, tone * _envelope(n, rate, 0.004, 0.8, fade=0.02), g.at(bar, beat))
    out = _filter(out, rate, _lowpass(700.0, 2))
    return _finish(out, -8.0)


def keys(rate: int, seconds: float) -> Audio:
    """Stereo off-beat chord stabs, electric-piano-like, with detuned voices spread L/R."""
    g = _grid(rate, seconds)
    out = np.zeros((g.frames, 2))
    partials = ((1.0, 1.0, 0.9), (2.0, 0.35, 0.4), (3.0, 0.12, 0.2))  # (ratio, level, decay)
    stabs = ((0.5, 1.0), (1.5, 0.8), (2.5, 0.9), (3.5, 0.7))  # (beat, velocity)
    n = round((g.seconds(0.4) + 0.08) * rate)
    t = np.arange(n) / rate
    gate = _envelope(n, rate, 0.003, math.inf, fade=0.08)
    for bar in range(g.bars):
        tones = _hz(np.array(g.chord(bar).keys, dtype=np.float64))
        # A centre voice in both sides plus a voice 7 cents flat on the left
        # and 7 cents sharp on the right: the beating differs per side, which
        # sounds wide, while the shared centre keeps the mono sum solid.
        stab = np.zeros((n, 2))
        for cents, (left, right) in ((0.0, (1.0, 1.0)), (-7.0, (0.6, 0.0)), (7.0, (0.0, 0.6))):
            f = tones * 2.0 ** (cents / 1200.0)
            voice = np.zeros(n)
            for ratio, level, decay in partials:
                waves = np.sin(2 * np.pi * np.outer(t, f * ratio)).sum(axis=1)
                voice += level * waves * np.exp(-t / decay)
            stab[:, 0] += left * voice
            stab[:, 1] += right * voice
        stab *= gate[:, None]
        for beat, vel in stabs:
            _add_looped(out, vel * stab, g.at(bar, beat))
    return _finish(out, -10.0)


def pad(rate: int, seconds: float) -> Audio:
    """Stereo string pad: detuned saws per chord tone, slow attack, crossfading chords."""
    g = _grid(rate, seconds)
    rng = _rng("pad")
    bar_frames = g.at(1, 0.0)
    release = 0.8
    n = bar_frames + round(release * rate)
    t = np.arange(n) / rate
    env = np.ones(n)
    a = round(0.9 * rate)
    env[:a] = np.sin(0.5 * np.pi * np.arange(a) / a) ** 2
    r = n - bar_frames
    env[bar_frames:] = np.cos(0.5 * np.pi * (np.arange(r) + 1) / r) ** 2
    out = np.zeros((g.frames, 2))
    # Three voices per tone at -9, 0 and +9 cents: the outer ones left and
    # right, the centre one in both, so the chord is wide but has a middle
    # and survives a mono sum.
    voices = ((-9.0, 0.8, 0.0), (0.0, 1.0, 1.0), (9.0, 0.0, 0.8))
    for bar in range(g.bars):
        left, right = np.zeros(n), np.zeros(n)
        for midi in g.chord(bar).pad:
            for cents, to_left, to_right in voices:
                f = float(_hz(midi + cents / 100.0))
                wave = _saw(f * t + rng.random(), f / rate)
                if to_left:
                    left += to_left * wave
                if to_right:
                    right += to_right * wave
        _add_looped(out, np.column_stack([left * env, right * env]), g.at(bar, 0.0))
    out = _filter(out, rate, _lowpass(1800.0, 2))
    return _finish(out, -11.0)


# --------------------------------------------------------------------------- vocal

# Formant frequencies (F1..F4, Hz) of sung vowels, roughly an alto voice.
_VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (800.0, 1150.0, 2800.0, 3500.0),
    "e": (480.0, 1900.0, 2600.0, 3500.0),
    "i": (320.0, 2400.0, 3000.0, 3700.0),
    "o": (480.0, 850.0, 2700.0, 3400.0),
    "u": (350.0, 700.0, 2600.0, 3300.0),
}
_BANDWIDTHS = np.array([80.0, 90.0, 120.0, 150.0])

# One phrase per bar, (beat, length in beats, MIDI note, vowel). Each starts
# after the downbeat and ends before the bar line: the loop point is always
# a breath, whatever the number of bars.
_MELODY: tuple[tuple[tuple[float, float, int, str], ...], ...] = (
    ((0.5, 1.0, 69, "a"), (1.5, 0.5, 72, "e"), (2.0, 1.0, 71, "i"), (3.0, 0.75, 69, "o")),
    ((0.5, 1.5, 69, "o"), (2.0, 0.5, 67, "u"), (2.5, 1.0, 65, "a")),
    ((0.5, 0.5, 64, "e"), (1.0, 0.5, 67, "a"), (1.5, 1.5, 72, "a"), (3.0, 0.75, 71, "o")),
    ((0.5, 1.0, 71, "i"), (1.5, 1.0, 67, "e"), (2.5, 1.25, 71, "a")),
)


def _knots(starts: _Sig, ends: _Sig, values: _Sig, glide: float) -> tuple[_Sig, _Sig]:
    """Breakpoints holding each note's value and gliding linearly across note changes."""
    half = np.minimum(glide / 2.0, 0.25 * (ends - starts))
    xs = np.column_stack([starts + half, ends - half]).ravel()
    return xs, np.repeat(values, 2, axis=0)


def vocal(rate: int, seconds: float) -> Audio:
    """A sung line: a glottal source through formant resonators gliding between vowels.

    The source is harmonic (1/k, a sawtooth's spectrum) with vibrato that
    grows after each onset and a little slow pitch drift. The four cascaded
    resonators are applied in the frequency domain: each harmonic is weighted
    by their magnitude response at its current frequency, which is what a
    bank of time-varying two-pole filters does to a harmonic source, without
    a per-sample Python loop.
    """
    g = _grid(rate, seconds)
    rng = _rng("vocal")
    frames = g.frames
    notes = [
        (g.at(bar, beat) / rate, g.at(bar, beat + length) / rate, midi, vowel, bar)
        for bar in range(g.bars)
        for beat, length, midi, vowel in _MELODY[bar % len(_MELODY)]
    ]
    starts = np.array([s for s, *_ in notes])
    ends = np.array([e for _, e, *_ in notes])

    # Pitch: portamento between notes, vibrato fading in after each onset.
    t = np.arange(frames) / rate
    xs, pitch = _knots(starts, ends, np.array([float(m) for *_, m, _, _ in notes]), 0.07)
    midi = np.interp(t, xs, pitch)
    onset = starts[np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)]
    depth = 0.35 * np.clip((t - onset - 0.15) / 0.3, 0.0, 1.0)
    drift = _filter(rng.standard_normal(frames), rate, _lowpass(3.0, 2))
    drift *= 0.08 / max(float(np.std(drift)), 1e-12)
    midi = midi + depth * np.sin(2 * np.pi * 5.5 * t) + drift
    f0 = _hz(midi)
    cycles = np.cumsum(f0 / rate)
    theta = 2 * np.pi * (cycles - np.floor(cycles))

    # Spectral weights per harmonic at a control rate of `hop` samples.
    hop = 32
    ctrl = np.arange(0, frames + hop, hop) / rate
    xs, formants = _knots(starts, ends, np.array([_VOWELS[v] for *_, v, _ in notes]), 0.12)
    fmt = np.column_stack([np.interp(ctrl, xs, formants[:, i]) for i in range(4)])
    gate = np.zeros(ctrl.shape[0])
    for bar in sorted({b for *_, b in notes}):
        in_bar = [(s, e) for s, e, *_, b in notes if b == bar]
        s0, e1 = in_bar[0][0], in_bar[-1][1]
        gate = np.maximum(gate, np.interp(ctrl, [s0, s0 + 0.04, e1 - 0.09, e1], [0, 1, 1, 0]))
    f0_ctrl = np.interp(ctrl, t, f0)
    top = min(7000.0, 0.45 * rate)
    harmonics = int(top / float(f0.min())) + 1

    # sin(k theta) by the Chebyshev recurrence: two multiply-adds per
    # harmonic instead of a transcendental call over the whole loop.
    two_cos = 2.0 * np.cos(theta)
    s_prev, s_k = np.zeros(frames), np.sin(theta)
    out = np.zeros(frames)
    frac = np.arange(hop) / hop
    for k in range(1, harmonics + 1):
        fk = k * f0_ctrl
        # Fade harmonics out below `top`: nothing aliases, and nothing above
        # a voice's useful range costs time.
        w = gate / k * np.clip((top - fk) / (0.1 * top), 0.0, 1.0)
        for i in range(4):
            ff, bw = fmt[:, i], _BANDWIDTHS[i]
            w = w * ff**2 / np.sqrt((ff**2 - fk**2) ** 2 + (bw * fk) ** 2)
        amp = (w[:-1, None] + np.diff(w)[:, None] * frac).ravel()[:frames]
        out += amp * s_k
        s_prev, s_k = s_k, two_cos * s_k - s_prev
    return _finish(out, -9.0)


# --------------------------------------------------------------------------- lead


_LEAD_PATTERN = (  # (beat, chord-tone index; 3 is the lowest tone an octave up)
    (0.0, 0),
    (0.75, 1),
    (1.5, 2),
    (2.0, 3),
    (2.5, 2),
    (3.0, 1),
    (3.5, 2),
)


def _pluck(rate: int, freq: float, frames: int, rng: np.random.Generator) -> _Sig:
    """Karplus-Strong string: a noise burst recirculating through a damped delay line.

    The loop filter is the classic two-point average convolved with a linear
    fractional delay, so the pitch is right to a fraction of a cent instead of
    being rounded to whole samples. Every output sample depends only on
    samples at least one period back, so the recurrence runs one period at a
    time as a numpy operation: a Python loop over periods, not samples.
    """
    total = rate / freq - 0.5  # the two-point average adds half a sample
    period = int(total)
    c = total - period
    taps = (0.5 * (1.0 - c), 0.5, 0.5 * c)
    t60 = 1.6
    damp = 10.0 ** (-3.0 / (freq * t60))
    burst = rng.standard_normal(period)
    # A pick rather than a hammer: a softened burst gives the first periods
    # body instead of a spike that would set the level of the whole line.
    for _ in range(3):
        burst = 0.5 * (burst + np.roll(burst, 1))
    burst -= burst.mean()
    y = np.zeros(frames + 2)  # two leading zeros stand in for "before the pluck"
    y[2 : 2 + min(period, frames)] = burst[: min(period, frames)]
    for start in range(2 + period, frames + 2, period):
        end = min(start + period, frames + 2)
        a = start - period
        y[start:end] = damp * (
            taps[0] * y[a : a + end - start]
            + taps[1] * y[a - 1 : a - 1 + end - start]
            + taps[2] * y[a - 2 : a - 2 + end - start]
        )
    return y[2:]


def lead(rate: int, seconds: float) -> Audio:
    """A plucked-string (Karplus-Strong) arpeggio through the chord tones."""
    g = _grid(rate, seconds)
    rng = _rng("lead")
    out = np.zeros(g.frames)
    for bar in range(g.bars):
        tones = g.chord(bar).keys
        for i, (beat, index) in enumerate(_LEAD_PATTERN):
            nxt = _LEAD_PATTERN[i + 1][0] if i + 1 < len(_LEAD_PATTERN) else BEATS_PER_BAR
            n = round((g.seconds(nxt - beat) + 0.03) * rate)
            midi = tones[index % 3] + 12 * (index // 3)
            note = _pluck(rate, float(_hz(midi)), n, rng)
            # Each note is damped as the next is picked, like a fretted line.
            _add_looped(out, note * _envelope(n, rate, 0.0, math.inf, fade=0.03), g.at(bar, beat))
    return _finish(out, -10.0)


# --------------------------------------------------------------------------- test signals


def sine(rate: int, seconds: float) -> Audio:
    """1 kHz sine at -20 dBFS peak (nudged to a whole number of cycles per loop)."""
    g = _grid(rate, seconds)
    cycles = round(1000.0 * g.frames / rate)
    n = np.arange(g.frames)
    # The phase is computed from (n * cycles) mod frames in integers, so it is
    # exact for long loops and the loop wraps on a whole cycle.
    return (0.1 * np.sin(2 * np.pi * ((n * cycles) % g.frames) / g.frames)).astype(np.float32)


def pink(rate: int, seconds: float) -> Audio:
    """Pink noise (-3 dB/octave, 20 Hz..20 kHz) at -20 dBFS RMS, looping."""
    g = _grid(rate, seconds)
    rng = _rng("pink")
    f = np.fft.rfftfreq(g.frames, 1.0 / rate)
    white = rng.standard_normal(f.shape[0]) + 1j * rng.standard_normal(f.shape[0])
    band = (f >= 20.0) & (f <= 20000.0)
    x = np.fft.irfft(np.where(band, white / np.sqrt(np.maximum(f, 1.0)), 0.0), n=g.frames)
    x *= 0.1 / float(np.sqrt(np.mean(x**2)))
    return x.astype(np.float32)


def silence(rate: int, seconds: float) -> Audio:
    """Digital silence."""
    return np.zeros(_grid(rate, seconds).frames, dtype=np.float32)


# --------------------------------------------------------------------------- registry


GENERATORS: dict[str, Callable[[int, float], Audio]] = {
    "kick": kick,
    "snare": snare,
    "hats": hats,
    "bass": bass,
    "keys": keys,
    "pad": pad,
    "vocal": vocal,
    "lead": lead,
    "sine": sine,
    "pink": pink,
    "silence": silence,
}
"""Generator name -> function(rate, seconds). `seconds` is rounded to whole bars."""

DEFAULT_SESSION_CHANNELS: list[tuple[str, str]] = [
    ("Kick", "kick"),
    ("Snare", "snare"),
    ("Hats", "hats"),
    ("Bass", "bass"),
    ("Keys", "keys"),
    ("Pad", "pad"),
    ("Vocal", "vocal"),
    ("Lead", "lead"),
]
"""(channel name, generator name) for the 8 channels of the built-in session."""


def generate(name: str, rate: int, seconds: float = 8.0) -> Audio:
    """Render generator `name` at `rate` Hz for `seconds`, rounded to whole bars.

    A bar is 2 s (120 BPM, 4/4); the result has `loop_frames(rate, seconds)`
    frames, at least one bar, and loops seamlessly. Raises ValueError for an
    unknown name (listing the known ones) or a rate/duration out of range.
    """
    try:
        fn = GENERATORS[name]
    except (KeyError, TypeError):
        known = ", ".join(GENERATORS)
        raise ValueError(f"unknown generator {name!r}; known generators: {known}") from None
    return fn(rate, seconds)
