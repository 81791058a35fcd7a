"""Transactions (sf_push_params): a batch of changes is applied by exactly one audio
block, all or nothing, and the core proves it while a real-time thread runs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from surfaced._native import ffi, lib
from test_core_txn_raw import BUS, CH, MASTER, RATE, Change, Raw, batch

P = lib


def scene(channels: int, buses: int, k: int, ramp: float = 0.0) -> list[Change]:
    """A scene recall touching 32 parameters of every channel (values vary with k)."""
    out: list[Change] = []
    for c in range(channels):
        v = (k * 7 + c) % 13
        out += [(CH, c, P.SF_P_FADER, 0, -float(v), ramp),
                (CH, c, P.SF_P_PAN, 0, v / 13 - 0.5, ramp),
                (CH, c, P.SF_P_TRIM, 0, v / 2, 0.0), (CH, c, P.SF_P_MUTE, 0, float(v == 3), 0.0),
                (CH, c, P.SF_P_PHASE, 0, float(v & 1), 0.0), (CH, c, P.SF_P_SOLO, 0, 0.0, 0.0),
                (CH, c, P.SF_P_HPF_ON, 0, float(v & 1), 0.0),
                (CH, c, P.SF_P_HPF_FREQ, 0, 40.0 + v, 0.0), (CH, c, P.SF_P_EQ_ON, 0, 1.0, 0.0),
                (CH, c, P.SF_P_COMP_ON, 0, float(v > 6), 0.0),
                (CH, c, P.SF_P_COMP_THRESHOLD, 0, -10.0 - v, 0.0),
                (CH, c, P.SF_P_COMP_RATIO, 0, 2.0 + v, 0.0),
                (CH, c, P.SF_P_COMP_ATTACK, 0, 5.0, 0.0),
                (CH, c, P.SF_P_COMP_RELEASE, 0, 100.0, 0.0),
                (CH, c, P.SF_P_COMP_KNEE, 0, 6.0, 0.0), (CH, c, P.SF_P_COMP_MAKEUP, 0, 1.0, 0.0)]
        for b in range(4):
            out += [(CH, c, P.SF_P_EQ_GAIN, b, v - 6.0, 0.0),
                    (CH, c, P.SF_P_EQ_FREQ, b, 100.0 * (b + 1) + v, 0.0)]
        for b in range(buses):
            out += [(CH, c, P.SF_P_SEND, b, -6.0 - v, ramp),
                    (CH, c, P.SF_P_SEND_PRE, b, float(b & 1), 0.0)]
    return out


def test_a_batch_is_applied_by_one_block_and_reported() -> None:
    e = Raw(4, 2)
    e.process(100)  # frames before the batch: the block that applies it starts at 100
    assert e.txn().applied == 0
    assert e.push(scene(4, 2, 1), txn=41) == lib.SF_OK
    e.process(64)
    s = e.txn()
    assert (s.txn_id, s.first_frame, s.last_frame, s.applied, s.split) == (41, 100, 100, 1, 0)
    assert e.push([], txn=42) == lib.SF_OK  # an empty transaction only marks its block
    e.process(10)
    s = e.txn()
    assert (s.txn_id, s.first_frame, s.last_frame, s.applied) == (42, 164, 164, 2)


def test_the_changes_take_effect_together() -> None:
    e = Raw(2)
    e.source(0, np.full(4800, 0.5, np.float32))
    e.source(1, np.full(4800, 0.25, np.float32))
    for c in range(2):
        e.set(CH, c, P.SF_P_PAN, -1.0)
    e.set(CH, 1, P.SF_P_MUTE, 1.0)
    e.settle()
    assert e.process(64)[-1, 0] == pytest.approx(0.5)
    # swap which channel is heard, in one transaction
    assert e.push([(CH, 0, P.SF_P_MUTE, 0, 1.0, 0.0), (CH, 1, P.SF_P_MUTE, 0, 0.0, 0.0)],
                  txn=1) == lib.SF_OK
    y = e.process(RATE // 2)[:, 0]
    # both gains started moving in the same first sample: no moment with both off
    assert y[0] < 0.5 and y[0] > 0.25
    assert y[-1] == pytest.approx(0.25)


def test_a_batch_larger_than_the_free_space_is_refused_whole() -> None:
    e = Raw(2, 1)
    cap = lib.sf_queue_capacity(e.e)
    for _ in range(cap - 100):
        e.set(CH, 0, P.SF_P_FADER, -3.0)
    before = e.meters()[2].dropped_params
    changes = [(CH, 1, P.SF_P_FADER, 0, -float(i % 20), 0.0) for i in range(101)]
    assert e.push(changes, txn=5) == lib.SF_EQUEUE_FULL
    assert e.meters()[2].dropped_params == before + 101
    assert e.push(changes[:100], txn=6) == lib.SF_OK  # exactly the free space fits
    e.process(64)
    s = e.txn()
    assert (s.txn_id, s.applied, s.split) == (6, 1, 0)  # txn 5 never reached the audio side
    # more than the queue can ever hold: a caller error, not a retry
    huge = [(CH, 0, P.SF_P_MUTE, 0, 0.0, 0.0)] * (cap + 1)
    assert e.push(huge, txn=7) == lib.SF_EINVAL
    assert lib.sf_push_params(e.e, ffi.NULL, 3, 8) == lib.SF_EINVAL


@pytest.mark.parametrize(("bad", "code"), [
    ((CH, 9, P.SF_P_FADER, 0, 0.0, 0.0), lib.SF_EINVAL),  # no channel 10
    ((CH, 0, P.SF_P_SEND, 3, 0.0, 0.0), lib.SF_EINVAL),  # no bus 4
    ((CH, 0, P.SF_P_EQ_GAIN, 4, 0.0, 0.0), lib.SF_EINVAL),  # no EQ band 5
    ((BUS, 0, P.SF_P_PAN, 0, 0.0, 0.0), lib.SF_EINVAL),  # buses have no pan
    ((MASTER, 0, P.SF_P_MUTE, 0, 1.0, 0.0), lib.SF_EINVAL),
    ((7, 0, P.SF_P_FADER, 0, 0.0, 0.0), lib.SF_EINVAL),  # no such scope
    ((CH, 0, P.SF_P_COUNT, 0, 0.0, 0.0), lib.SF_EINVAL),
    ((CH, 0, P.SF_P_FADER, 0, float("nan"), 0.0), lib.SF_ERANGE),
    ((CH, 0, P.SF_P_PAN, 0, float("inf"), 0.0), lib.SF_ERANGE),
    ((CH, 0, P.SF_P_FADER, 0, -6.0, -1.0), lib.SF_ERANGE),
    ((CH, 0, P.SF_P_FADER, 0, -6.0, 60001.0), lib.SF_ERANGE),
    ((CH, 0, P.SF_P_FADER, 0, -6.0, float("nan")), lib.SF_ERANGE),
])
def test_one_invalid_change_refuses_the_whole_batch(bad: Change, code: int) -> None:
    e = Raw(2, 3)
    e.source(0, np.full(4800, 0.5, np.float32))
    e.set(CH, 0, P.SF_P_PAN, -1.0)
    e.settle()
    good = [(CH, 0, P.SF_P_FADER, 0, float("-inf"), 0.0), (CH, 1, P.SF_P_MUTE, 0, 1.0, 0.0)]
    assert e.push([*good, bad, *good], txn=9) == code
    y = e.process(RATE // 4)
    assert np.all(y[:, 0] == np.float32(0.5))  # nothing of the batch was applied
    assert e.txn().applied == 0
    assert e.meters()[2].dropped_params == 0  # refused for its content, not for space


def test_ramp_time_is_accepted_and_ignored_where_nothing_ramps() -> None:
    e = Raw(1, 1)
    assert e.push([(CH, 0, P.SF_P_MUTE, 0, 1.0, 500.0), (CH, 0, P.SF_P_EQ_GAIN, 2, 3.0, 60000.0),
                   (BUS, 0, P.SF_P_MUTE, 0, 1.0, 10.0), (MASTER, 0, P.SF_P_TRIM, 0, 1.0, 5.0)],
                  txn=3) == lib.SF_OK
    e.process(64)
    assert e.txn().txn_id == 3


def test_no_transaction_is_ever_split_while_a_real_time_thread_runs() -> None:
    """Thousands of 2000+-change scene recalls pushed while the headless clock runs
    64-frame blocks in real time: every one is applied by a single block."""
    channels, buses, batches = 64, 4, 2000
    e = Raw(channels, buses, max_block=64)
    noise = np.random.default_rng(3).standard_normal(RATE).astype(np.float32) * 0.1
    for c in range(channels):
        e.source(c, noise)
    # every batch is the same shape: fill a numpy view of one C array per variant
    variants = [scene(channels, buses, k, ramp=50.0 if k % 2 else 0.0) for k in range(4)]
    arrays = [batch(v) for v in variants]
    n = len(variants[0])
    assert n >= 2000
    ctx = ffi.new("sf_stream_ctx *")
    ctx.engine = e.e
    ctx.out_channels = 2
    clock = lib.sf_clock_start(ctx, 64, float(RATE))
    assert clock != ffi.NULL
    seen: set[int] = set()
    observed_bad: list[tuple[int, int, int]] = []
    full = 0
    st = ffi.new("sf_txn_status *")
    try:
        for k in range(1, batches + 1):
            deadline = time.monotonic() + 10
            while (rc := lib.sf_push_params(e.e, arrays[k % 4], n, k)) == lib.SF_EQUEUE_FULL:
                full += 1
                assert time.monotonic() < deadline, "the audio thread stopped draining"
                time.sleep(0.0002)
            assert rc == lib.SF_OK
            if lib.sf_txn_read(e.e, st) == lib.SF_OK and st.applied:
                seen.add(st.txn_id)
                if st.first_frame != st.last_frame:
                    observed_bad.append((st.txn_id, st.first_frame, st.last_frame))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert lib.sf_txn_read(e.e, st) == lib.SF_OK
            if st.applied == batches:
                break
            time.sleep(0.001)
    finally:
        lib.sf_clock_stop(clock)
    assert observed_bad == []
    assert (st.txn_id, st.applied, st.split) == (batches, batches, 0)
    assert st.first_frame == st.last_frame and st.first_frame % 64 == 0
    assert full > 0, "the queue never filled: the test did not stress the all-or-nothing path"
    assert len(seen) > 50  # the reader saw many transactions land while audio ran
    m = e.meters()[2]
    assert m.dropped_params == full * n  # every refusal was a whole batch
    assert m.overflow_count == 0
