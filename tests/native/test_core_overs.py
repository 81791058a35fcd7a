"""Where and how often the master went over 0 dBFS (overs.c), read through the engine.

A quiet tone with known spikes is played as a channel's source; the master's
overs (first/last clipped frame, 10 ms true-peak steps over 0 dBTP) must name
the spikes' frames, count them, and not depend on the block size.
"""

from __future__ import annotations

import numpy as np
import pytest

from surfaced.mix.engine import Engine, MasterMeters

RATE = 48000


def overs_of(x: np.ndarray, block: int, pieces: list[int] | None = None) -> MasterMeters:
    """Master meters after playing the whole of x (stereo) in blocks of `block`, or in
    the given pieces."""
    e = Engine(1, 0, RATE, 4096)
    e.set_source_buffer(1, np.stack([x, x], axis=1))
    e.settle()
    if pieces is None:
        pieces = [block] * (len(x) // block) + ([len(x) % block] if len(x) % block else [])
    assert sum(pieces) == len(x)
    for n in pieces:
        e.process(n)
    return e.meters().master


def spiky(frames: list[int], level: float = 1.5) -> np.ndarray:
    t = np.arange(2 * RATE) / RATE
    x = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for f in frames:
        x[f] = level
    return x


def test_a_clean_master_has_no_overs() -> None:
    m = overs_of(spiky([], 0.0), 512)
    assert m.clip_count == 0 and m.tp_over_steps == 0
    assert m.first_clip_frame == -1 and m.last_clip_frame == -1
    assert m.first_tp_over_frame == -1 and m.last_tp_over_frame == -1


def test_spikes_are_found_to_the_frame_and_steps_counted() -> None:
    m = overs_of(spiky([1000, 50000, 90001]), 512)
    assert m.clip_count == 6  # three spikes, both sides
    assert (m.first_clip_frame, m.last_clip_frame) == (1000, 90001)
    # each spike's interpolated overs land in its 10 ms step (480 frames) or,
    # within the interpolator's 16-frame lag of a step end, the next one
    assert 3 <= m.tp_over_steps <= 6
    assert m.first_tp_over_frame == 960  # the step holding frame 1000
    assert m.last_tp_over_frame in (89760, 90240)


def test_a_true_peak_over_without_a_sample_over_is_still_an_over() -> None:
    """A sine at a quarter of the rate, 45 degrees off the samples (EBU Tech 3341's
    true-peak case): every sample is +-0.99, the signal between them peaks at
    0.99 * sqrt(2), +2.9 dBTP. A sample meter sees no over; this one does."""
    x = spiky([], 0.0)
    x[24000:24064] = 0.99 * np.array([1, 1, -1, -1] * 16, dtype=np.float32)
    m = overs_of(x, 256)
    assert m.clip_count == 0
    assert m.tp_over_steps >= 1 and m.first_tp_over_frame >= 0
    assert 20 * np.log10(max(m.true_peak_max)) > 0.0


@pytest.mark.parametrize("block", [1, 64, 4096, 0])
def test_overs_do_not_depend_on_the_block_size(block: int) -> None:
    """Blocks of 1, 64, 4096 frames, or random sizes (0): the same overs, bit for bit."""
    x = spiky([1000, 50000, 50479, 50480, 90001])
    ref = overs_of(x, 480)
    pieces = None
    if block == 0:
        rng = np.random.default_rng(5)
        cuts = np.sort(rng.choice(np.arange(1, len(x)), size=60, replace=False))
        pieces = [int(n) for n in np.diff(np.concatenate([[0], cuts, [len(x)]]))]
        pieces = [p for p in pieces if p > 0]
        while max(pieces) > 4096:  # the engine's largest block
            i = pieces.index(max(pieces))
            pieces[i:i + 1] = [pieces[i] // 2, pieces[i] - pieces[i] // 2]
    got = overs_of(x, block, pieces)
    for field in ("clip_count", "first_clip_frame", "last_clip_frame", "tp_over_steps",
                  "first_tp_over_frame", "last_tp_over_frame", "true_peak_max"):
        assert getattr(got, field) == getattr(ref, field), field
