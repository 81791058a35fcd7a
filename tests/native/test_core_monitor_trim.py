"""The master monitor trim (SF_SCOPE_MASTER + SF_P_TRIM): after the master fader and
before the master meters, for loudness-matched A/B; channels are not affected."""

from __future__ import annotations

import numpy as np
import pytest
from surfaced._native import lib
from test_core_txn_raw import BUS, CH, MASTER, RATE, Raw, db

P = lib


def tone() -> Raw:
    e = Raw(1, 1)
    t = np.arange(RATE) / RATE
    e.source(0, (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    e.set(MASTER, 0, P.SF_P_FADER, -3.0)
    e.settle()
    return e


def test_plus_6_db_doubles_the_output_and_moves_the_master_meter_only() -> None:
    ref, e = tone(), tone()
    ref.process(RATE)
    e.process(RATE)
    e.set(MASTER, 0, P.SF_P_TRIM, 6.0)
    a, b = ref.process(RATE * 2), e.process(RATE * 2)
    pk_a, rms_a, ma = ref.meters()
    pk_b, rms_b, mb = e.meters()
    sel = np.abs(a[-RATE:]) > 1e-3
    ratio = b[-RATE:][sel] / a[-RATE:][sel]
    assert np.allclose(ratio, 10 ** (6 / 20), rtol=1e-5)  # 6.02 dB: x 1.995
    assert db(max(mb.peak) / max(ma.peak)) == pytest.approx(6.0, abs=0.01)
    assert db(max(mb.rms) / max(ma.rms)) == pytest.approx(6.0, abs=0.01)
    assert mb.momentary_lufs - ma.momentary_lufs == pytest.approx(6.0, abs=0.01)
    assert np.array_equal(pk_a, pk_b) and np.array_equal(rms_a, rms_b)  # channels untouched
    e.set(MASTER, 0, P.SF_P_TRIM, 0.0)
    assert np.array_equal(e.process(RATE)[-RATE // 2:], ref.process(RATE)[-RATE // 2:])


def test_trim_is_smoothed_clamped_and_independent_of_the_fader() -> None:
    e = tone()
    e.process(4800)
    e.set(MASTER, 0, P.SF_P_TRIM, -12.0)
    y = e.process(RATE)[:, 0]
    env = np.abs(y)
    assert env[:48].max() > 0.1 * 10 ** (-3 / 20) * 10 ** (-6 / 20)  # still gliding at 1 ms
    late = np.abs(y[-RATE // 10:]).max()
    mono = 0.1 * np.sqrt(0.5)  # centre pan: -3 dB each side
    assert db(late / (mono * 10 ** (-3 / 20))) == pytest.approx(-12.0, abs=0.01)
    e.set(MASTER, 0, P.SF_P_TRIM, 100.0)  # beyond the range: +40 dB
    e.set(MASTER, 0, P.SF_P_FADER, -50.0)
    y = e.process(RATE)[:, 0]
    assert db(np.abs(y[-RATE // 10:]).max() / mono) == pytest.approx(-10.0, abs=0.01)
    # a master fader ramp keeps the trim on top
    assert e.push([(MASTER, 0, P.SF_P_FADER, 0, -40.0, 100.0)]) == lib.SF_OK
    y = e.process(RATE)[:, 0]
    assert db(np.abs(y[-RATE // 10:]).max() / mono) == pytest.approx(0.0, abs=0.01)


def test_trim_is_refused_on_buses() -> None:
    e = Raw(1, 1)
    assert lib.sf_push_param(e.e, BUS, 0, P.SF_P_TRIM, 0, 3.0) == lib.SF_EINVAL
    assert lib.sf_push_param(e.e, CH, 0, P.SF_P_TRIM, 0, 3.0) == lib.SF_OK
    assert lib.sf_push_param(e.e, MASTER, 0, P.SF_P_TRIM, 0, float("nan")) == lib.SF_ERANGE
