"""The master's gating-block ring (native/gateblocks.c): A/B reads loudness from it.

A/B no longer samples the momentary meter ten times a second; it reads the
core's 400 ms gating blocks when it needs a slot's loudness. These tests pin
what it relies on: every block is there once, at the frame where it ends,
with the monitor trim taken out, whatever the block size, and the ring
keeps the newest SF_GATE_RING - 1 when nobody reads for a while.
"""

from __future__ import annotations

import numpy as np
import pytest
from surfaced._native import lib

from surfaced.mix.engine import Engine, GateBlock
from surfaced.session import generators

RATE = 48000
HOP = RATE // 10  # one gating block every 100 ms
SPAN = 4 * HOP  # a block covers 400 ms


def _engine(max_block: int = 512) -> Engine:
    e = Engine(1, 0, rate=RATE, max_block=max_block)
    e.set_source_buffer(1, generators.generate("pink", RATE, 4.0))
    e.set("ch/1/fader", 0.0)
    e.settle()
    return e


def _run(e: Engine, frames: int, block: int) -> None:
    done = 0
    while done < frames:
        n = min(block, frames - done)
        e.process(n)
        done += n


def test_each_block_once_at_the_frame_it_ends_and_as_loud_as_the_momentary_meter() -> None:
    e = _engine()
    assert e.gate_blocks(0) == []  # nothing before the first whole 400 ms
    _run(e, SPAN - 1, 512)
    assert e.gate_blocks(0) == []
    e.process(1)
    first = e.gate_blocks(0)
    assert [(b.seq, b.end_frame) for b in first] == [(0, SPAN)]
    # The momentary meter at that frame covers the same 400 ms.
    assert first[0].lufs == pytest.approx(e.meters().master.momentary_lufs, abs=1e-3)
    _run(e, 10 * HOP, 512)
    blocks = e.gate_blocks(0)
    assert [b.seq for b in blocks] == list(range(11))
    assert [b.end_frame for b in blocks] == [SPAN + k * HOP for k in range(11)]
    assert e.gate_blocks(5) == blocks[5:]  # read on from where the last read stopped
    assert e.gate_blocks(11) == []


def test_the_same_blocks_whatever_the_block_size() -> None:
    runs = []
    for block in (64, 1000, 4096):
        e = _engine(max_block=4096)
        _run(e, 3 * RATE, block)
        runs.append(e.gate_blocks(0))
    assert len(runs[0]) == 27
    assert runs[0] == runs[1] == runs[2]


def test_the_monitor_trim_is_taken_out() -> None:
    e = _engine()
    _run(e, 2 * RATE, 512)
    before = e.gate_blocks(0)[-1]
    e.set_monitor_trim(-12.0)
    e.settle()
    _run(e, 2 * RATE, 512)
    after = e.gate_blocks(0)[-1]
    heard = e.meters().master.momentary_lufs
    assert after.trim_db == pytest.approx(-12.0)
    assert heard == pytest.approx(before.lufs - 12.0, abs=0.5), "the trim is heard"
    assert after.lufs == pytest.approx(before.lufs, abs=0.5), "the block is the mix's own"


def test_blocks_restart_after_a_meter_reset_at_the_right_frames() -> None:
    e = _engine()
    _run(e, RATE, 512)  # blocks 0..6, the last ending at frame 48000
    e.reset_meters()
    e.settle()
    start = e.frames_processed()
    _run(e, RATE, 512)
    blocks = [b for b in e.gate_blocks(0) if b.end_frame > RATE]
    assert blocks[0].seq == 7
    assert [b.end_frame for b in blocks] == [start + SPAN + k * HOP for k in range(7)]


def test_the_ring_keeps_the_newest_when_nobody_reads() -> None:
    e = _engine(max_block=4096)
    _run(e, 60 * RATE, 4096)  # 597 blocks
    blocks = e.gate_blocks(0)
    ring = lib.SF_GATE_RING
    assert len(blocks) == ring - 1  # the oldest slot is the next one written
    assert blocks[0].seq == 597 - (ring - 1) and blocks[-1].seq == 596
    assert all(isinstance(b, GateBlock) for b in blocks)
    assert np.all(np.diff([b.end_frame for b in blocks]) == HOP)
