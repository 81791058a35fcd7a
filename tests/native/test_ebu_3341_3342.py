"""The master loudness meter against EBU Tech 3341 and EBU Tech 3342 test cases.

Documents: EBU Tech 3341 "Loudness Metering: 'EBU Mode' metering to
supplement EBU R 128 loudness normalization" (V3, 2016; the minimum
requirements test signals of its Table 1), and EBU Tech 3342 "Loudness Range:
A measure to supplement EBU R 128 loudness normalization" (V3/V4; its test
signals table). The signals are synthesised here (stereo 1 kHz sine, the same
on both channels, at the stated levels and durations), played as a channel's
source through the real core (stereo channel, centre pan, every gain at
unity, so the master carries the signal unchanged) and read from the
engine's master meters, as a user would read them.

Encoded: 3341 cases 1 and 2 (steady tones: M, S, I), 3-5 (gating: I), 9 and
12 (alternating levels whose window mean is -23: S and M), 10 and 13 (a
3 s / 400 ms burst at -23 dBFS after a random silence: the largest S / M
reading, for many random offsets), 11 and 14 (20 bursts stepping from -38
to -19 dBFS, one per 6 s / 800 ms segment: the largest S / M reading in
each segment), and 3342 cases 1-4 (LRA of level steps).
Tolerances are the documents': +-0.1 LU for M, S and I, +-1 LU for LRA.

Cases 11 and 14: the facts are the requirements table of EBU Tech 3341
(2016) as listed with the EBU loudness test set v05 ("Max S = -38.0,
-37.0, ..., -19.0 +-0.1 LUFS, successive values" for seq-3341-11, "Max M =
... successive values" for seq-3341-14) and the cases' descriptions: 20
successive segments of 6 s (800 ms), each holding one 3 s (400 ms) stereo
1 kHz burst, the rest silence. The exact sample layout of those files (where
in each segment the burst sits) is not available here, so the signals are
synthesised to that structure with burst offsets chosen to stress the meter
(see `stepped_bursts`).

Not encoded: 3341 case 6 (5.0 channels, L/R -28, C -24, Ls/Rs -30 dBFS,
surround weighted 1.41: the master is stereo, so the core meter cannot take
it; surfaced.assist.measure is no place for it either, since it measures
mono or stereo stems only (sf_measure_buffer refuses other channel counts,
and engine sources are mono or stereo) and reports a channel's level with
its sides averaged, not the channel-weighted sum of BS.1770, so a 5.0 path
there would be written for this test alone); 3341 cases 7 and 8 and 3342
cases 5 and 6 (authentic programme files, not available offline and not
synthesisable); and the true-peak cases 15-23
(tests/native/test_loudness_truepeak.py covers true peak). For cases 9, 10,
12 and 13 the parameters are reconstructed from the documents'
descriptions (the files themselves were not at hand); each is checked to
give the published expected value analytically (window energy), which is
what the meter must show.

A 1 kHz tone reads 0.0067 LU above its dBFS level on any BS.1770 meter: the
K-weighting gain at 1000 Hz is 0.6977 dB and the standard's -0.691 cancels
it at 997 Hz. The bounds asserted below allow for it.
"""

from __future__ import annotations

import numpy as np
import pytest

from surfaced.mix.engine import Engine, MasterMeters

RATE = 48000


def tone(dbfs: float, seconds: float, phase_frames: int = 0) -> np.ndarray:
    """1 kHz sine at dbfs (peak), one channel."""
    t = (np.arange(round(seconds * RATE)) + phase_frames) / RATE
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)


def program(segments: list[tuple[float, float]]) -> np.ndarray:
    """(dBFS, seconds) segments back to back; a level of -inf is silence."""
    parts, at = [], 0
    for dbfs, seconds in segments:
        n = round(seconds * RATE)
        parts.append(tone(dbfs, seconds, at) if np.isfinite(dbfs) else np.zeros(n, np.float32))
        at += n
    return np.concatenate(parts)


def engine_playing(x: np.ndarray, block: int = 1024) -> Engine:
    """An engine whose only channel plays x on both sides, not yet run."""
    e = Engine(1, 0, RATE, block)
    e.set_source_buffer(1, np.stack([x, x], axis=1))
    e.settle()
    return e


def readings_every_block(x: np.ndarray, block: int) -> list[tuple[float, float]]:
    """(momentary, short-term) after every block of `block` frames over the whole of x."""
    e = engine_playing(x, block)
    out = []
    for _ in range(len(x) // block):
        e.process(block)
        m = e.meters().master
        out.append((m.momentary_lufs, m.short_term_lufs))
    return out


def final(x: np.ndarray) -> MasterMeters:
    """The master meters after the whole of x."""
    e = engine_playing(x, 4096)
    done = 0
    while done < len(x):
        n = min(4096, len(x) - done)
        e.process(n)
        done += n
    return e.meters().master


def window_lufs(segments: list[tuple[float, float]], window: float) -> float:
    """Loudness of a window holding `segments` ((dBFS, seconds)), stereo 1 kHz sine:
    -0.691 + 10 log10(sum over channels of K-weighted mean square); at 1 kHz
    the K-weighting gain cancels the -0.691, so a stereo sine at X dBFS is X."""
    energy = sum(2 * (10 ** (dbfs / 20)) ** 2 / 2 * seconds for dbfs, seconds in segments)
    return float(10 * np.log10(energy / window))


# ------------------------------------------------------------------ Tech 3341


@pytest.mark.parametrize("dbfs", [-23.0, -33.0])
def test_3341_cases_1_and_2_steady_tone(dbfs: float) -> None:
    """Stereo 1 kHz at -23 / -33 dBFS for 20 s: M, S and I read -23.0 / -33.0 +-0.1."""
    m = final(tone(dbfs, 20.0))
    for value in (m.momentary_lufs, m.short_term_lufs, m.integrated_lufs):
        assert value == pytest.approx(dbfs, abs=0.1)


GATING = {
    "case 3": [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)],
    "case 4": [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],
    "case 5": [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)],
}


@pytest.mark.parametrize("case", list(GATING))
def test_3341_cases_3_to_5_gated_integrated(case: str) -> None:
    """Level steps around -23 dBFS: the gates leave I at -23.0 +-0.1."""
    assert final(program(GATING[case])).integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_3341_case_9_short_term_of_alternating_levels() -> None:
    """1.34 s at -20 dBFS, 1.66 s at -30, repeated: every 3 s window holds one of each,
    so S reads -23.0 +-0.1 at every update once 3 s have passed."""
    period = [(-20.0, 1.34), (-30.0, 1.66)]
    assert window_lufs(period, 3.0) == pytest.approx(-23.0, abs=0.02)
    x = program(period * 7)
    got = readings_every_block(x, 480)
    after_3s = [s for k, (_, s) in enumerate(got) if (k + 1) * 480 >= 3 * RATE]
    assert min(after_3s) >= -23.1 and max(after_3s) <= -22.9


def test_3341_case_12_momentary_of_alternating_levels() -> None:
    """0.18 s at -20 dBFS, 0.22 s at -30, repeated: every 400 ms window holds one of
    each, so M reads -23.0 +-0.1 at every update once 400 ms have passed."""
    period = [(-20.0, 0.18), (-30.0, 0.22)]
    assert window_lufs(period, 0.4) == pytest.approx(-23.0, abs=0.05)
    x = program(period * 25)
    got = readings_every_block(x, 480)
    after = [m for k, (m, _) in enumerate(got) if (k + 1) * 480 >= 0.4 * RATE]
    assert min(after) >= -23.1 and max(after) <= -22.9


def burst_max(seconds: float, offset_frames: int, block: int, which: int) -> float:
    """Largest momentary (which 0) or short-term (1) reading over a -23 dBFS burst of
    `seconds` that starts offset_frames into silence, read after every block."""
    x = np.concatenate([np.zeros(offset_frames, np.float32), tone(-23.0, seconds),
                        np.zeros(round(RATE * (seconds + 0.5)), np.float32)])
    got = readings_every_block(x, block)
    return max(r[which] for r in got)


def test_3341_case_13_momentary_of_a_400_ms_burst_at_any_offset() -> None:
    """A 400 ms burst at -23 dBFS read after every block: the largest M is -23.0 +-0.1
    wherever the burst starts (random offsets to the sample, random block sizes).

    With updates every 10 ms a step end lies within 5 ms of the burst's end, so
    the window there holds >= 395 of its 400 ms: >= -23.055 (loudness.c); 100 ms
    updates allowed 350 ms, -23.58."""
    rng = np.random.default_rng(13)
    worst = 0.0
    for _ in range(40):
        offset = int(rng.integers(0, RATE))
        block = int(rng.choice([64, 128, 240, 480]))
        err = burst_max(0.4, offset, block, 0) + 23.0
        assert abs(err) <= 0.1, f"offset {offset}: max M {err - 23.0:.3f}"
        worst = max(worst, abs(err))
    assert worst <= 0.055 + 0.01  # the analytic bound of the 10 ms steps, + filter ringing


def test_3341_case_10_short_term_of_a_3_s_burst_at_any_offset() -> None:
    """A 3 s burst at -23 dBFS: the largest S is -23.0 +-0.1 wherever it starts."""
    rng = np.random.default_rng(10)
    for _ in range(8):
        offset = int(rng.integers(0, RATE))
        assert burst_max(3.0, offset, 480, 1) == pytest.approx(-23.0, abs=0.1), offset


STEP = RATE // 100  # the meter's 10 ms update step, in frames
STEPPED_LEVELS = list(range(-38, -18))  # -38 ... -19 dBFS, one per segment


def stepped_offsets(seed: int, segment: int, burst: int) -> list[int]:
    """Where each of the 20 bursts starts in its segment (frames).

    Even segments: the burst ends half a 10 ms step from any update (the
    worst case for this meter: a window ending at an update holds the burst
    less 5 ms). Odd segments: anywhere, to the sample. Segment 5's burst ends
    at the segment's end and segment 6's starts at its start, so two bursts
    touch (the quieter one must not lift or lower the louder one's maximum).
    No other burst starts or ends on the 100 ms grid.
    """
    rng = np.random.default_rng(seed)
    span = segment - burst
    out = []
    for k in range(len(STEPPED_LEVELS)):
        if k % 2 == 0:
            out.append(int(rng.integers(0, (span - STEP // 2) // STEP + 1)) * STEP + STEP // 2)
        else:
            out.append(int(rng.integers(0, span + 1)))
    out[5], out[6] = span, 0
    return out


def stepped_bursts(segment_s: float, burst_s: float, offsets: list[int]) -> np.ndarray:
    """20 segments of segment_s, each silence but for one burst_s 1 kHz burst at
    -38, -37, ..., -19 dBFS starting offsets[k] frames into segment k."""
    segment = round(segment_s * RATE)
    x = np.zeros(segment * len(STEPPED_LEVELS), np.float32)
    for k, (dbfs, offset) in enumerate(zip(STEPPED_LEVELS, offsets, strict=True)):
        b = tone(float(dbfs), burst_s)
        start = k * segment + offset
        assert offset >= 0 and offset + len(b) <= segment
        x[start:start + len(b)] = b
    return x


def segment_max_errors(readings: list[float], every: int, segment: int) -> np.ndarray:
    """Each segment's largest reading, less the level of its burst. readings[k] is
    read after (k + 1) * every frames and counts for the segment it is read in."""
    best = np.full(len(STEPPED_LEVELS), -np.inf)
    for k, r in enumerate(readings):
        seg = ((k + 1) * every - 1) // segment
        best[seg] = max(best[seg], r)
    return best - np.array(STEPPED_LEVELS, dtype=float)


def test_3341_case_11_max_short_term_of_stepped_3_s_bursts() -> None:
    """seq-3341-11: 20 segments of 6 s, a 3 s burst in each at -38 ... -19 dBFS:
    the largest S in successive segments is -38.0, -37.0, ..., -19.0 +-0.1.

    S is read as the core publishes it, every 10 ms. A window ending at an
    update then holds >= 2995 ms of each burst: >= -0.0072 LU (plus the
    +0.0067 LU of a 1 kHz tone), well inside +-0.1. A meter updating every
    100 ms would still pass this case (>= -0.073 LU), so the 10 ms bound is
    checked too, and the same signal read only every 100 ms is shown to
    break it (this signal's offsets do not hide the update rate)."""
    segment = 6 * RATE
    x = stepped_bursts(6.0, 3.0, stepped_offsets(11, segment, 3 * RATE))
    short_term = [s for _, s in readings_every_block(x, STEP)]
    err = segment_max_errors(short_term, STEP, segment)
    assert np.all(np.abs(err) <= 0.1), np.round(err, 3)
    assert np.max(np.abs(err)) <= 0.0072 + 0.0067 + 0.002, np.round(err, 4)
    every_100ms = segment_max_errors(short_term[9::10], 10 * STEP, segment)
    assert np.max(np.abs(every_100ms)) > 0.02


@pytest.mark.parametrize("block", [480, 128])
def test_3341_case_14_max_momentary_of_stepped_400_ms_bursts(block: int) -> None:
    """seq-3341-14: 20 segments of 800 ms, a 400 ms burst in each at -38 ... -19
    dBFS: the largest M in successive segments is -38.0, ..., -19.0 +-0.1.

    M is read after every block (the core publishes every 10 ms): each
    segment's maximum is within 0.055 LU of its level (case 13's bound), where
    a meter updating every 100 ms could be 0.58 LU low; read only every
    100 ms, the same signal fails the case."""
    segment = 8 * RATE // 10
    x = stepped_bursts(0.8, 0.4, stepped_offsets(14, segment, 4 * RATE // 10))
    momentary = [m for m, _ in readings_every_block(x, block)]
    err = segment_max_errors(momentary, block, segment)
    assert np.all(np.abs(err) <= 0.1), np.round(err, 3)
    assert np.max(np.abs(err)) <= 0.055 + 0.01, np.round(err, 4)
    if block == STEP:
        every_100ms = segment_max_errors(momentary[9::10], 10 * STEP, segment)
        assert np.max(np.abs(every_100ms)) > 0.1


# ------------------------------------------------------------------ Tech 3342

LRA_CASES = {
    "case 1": ([(-20.0, 20.0), (-30.0, 20.0)], 10.0),
    "case 2": ([(-20.0, 20.0), (-15.0, 20.0)], 5.0),
    "case 3": ([(-40.0, 20.0), (-20.0, 20.0)], 20.0),
    "case 4": ([(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)], 15.0),
}


@pytest.mark.parametrize("case", list(LRA_CASES))
def test_3342_loudness_range_of_level_steps(case: str) -> None:
    """Stereo 1 kHz level steps: LRA as Tech 3342 expects, +-1 LU."""
    segments, expected = LRA_CASES[case]
    m = final(program(segments))
    assert m.loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_3342_steady_tone_has_no_range_and_reset_forgets_it() -> None:
    """A steady tone: LRA 0. After reset_meters the range is of what follows only."""
    e = engine_playing(program([(-20.0, 20.0), (-30.0, 20.0)]), 4096)
    for _ in range(40 * RATE // 4096):
        e.process(4096)
    assert e.meters().master.loudness_range_lu == pytest.approx(10.0, abs=1.0)
    e.reset_meters()
    e.set_source_buffer(1, np.stack([tone(-25.0, 1.0)] * 2, axis=1))
    for _ in range(10 * RATE // 4096):
        e.process(4096)
    assert e.meters().master.loudness_range_lu == pytest.approx(0.0, abs=0.05)
