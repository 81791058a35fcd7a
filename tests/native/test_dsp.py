"""The channel strip against independent numpy references.

Each reference here is written from the textbook formula (RBJ cookbook,
constant-power pan law, Giannoulis et al. soft-knee compressor) in float64,
not from the core's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from dsp_helpers import RATE, dc, engine_with, impulse

from surfaced.mix.engine import Engine


def rbj(kind: str, f: float, q: float, gain_db: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad (b, a) in float64."""
    A = 10 ** (gain_db / 40)
    w = 2 * np.pi * f / RATE
    cw, sw = np.cos(w), np.sin(w)
    al = sw / (2 * q)
    sa = 2 * np.sqrt(A) * al
    if kind == "peak":
        b = [1 + al * A, -2 * cw, 1 - al * A]
        a = [1 + al / A, -2 * cw, 1 - al / A]
    elif kind == "low":
        b = [A * ((A + 1) - (A - 1) * cw + sa), 2 * A * ((A - 1) - (A + 1) * cw),
             A * ((A + 1) - (A - 1) * cw - sa)]
        a = [(A + 1) + (A - 1) * cw + sa, -2 * ((A - 1) + (A + 1) * cw),
             (A + 1) + (A - 1) * cw - sa]
    elif kind == "high":
        b = [A * ((A + 1) + (A - 1) * cw + sa), -2 * A * ((A - 1) + (A + 1) * cw),
             A * ((A + 1) + (A - 1) * cw - sa)]
        a = [(A + 1) - (A - 1) * cw + sa, 2 * ((A - 1) - (A + 1) * cw),
             (A + 1) - (A - 1) * cw - sa]
    else:  # high-pass
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + al, -2 * cw, 1 - al]
    return np.array(b), np.array(a)


def response_db(b: np.ndarray, a: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    z = np.exp(-1j * 2 * np.pi * freqs / RATE)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return 20 * np.log10(np.abs(h))


def measured_response(e: Engine, n: int, freqs: np.ndarray) -> np.ndarray:
    y = e.process(n)[:, 0].astype(np.float64)
    spec = np.fft.rfft(y)
    bins = np.fft.rfftfreq(n, 1 / RATE)
    return np.interp(freqs, bins, 20 * np.log10(np.abs(spec) + 1e-300))


FREQS = np.geomspace(25, 20000, 200)


def test_eq_magnitude_matches_rbj_cascade() -> None:
    n = 1 << 15
    bands = [("low", 120.0, 0.7, 4.0), ("peak", 450.0, 1.4, -6.0),
             ("peak", 3000.0, 2.0, 5.0), ("high", 9000.0, 0.7, -3.0)]
    settings: dict[str, float] = {"ch__1__pan": -1.0, "ch__1__eq__on": 1.0,
                                  "ch__1__hpf__on": 1.0, "ch__1__hpf__freq": 60.0}
    for i, (_, f, q, g) in enumerate(bands, start=1):
        settings[f"ch__1__eq__{i}__freq"] = f
        settings[f"ch__1__eq__{i}__q"] = q
        settings[f"ch__1__eq__{i}__gain"] = g
    e = engine_with([impulse(n)], **settings)
    want = response_db(*rbj("hp", 60.0, 1 / np.sqrt(2), 0.0), FREQS)
    for kind, f, q, g in bands:
        want += response_db(*rbj(kind, f, q, g), FREQS)
    got = measured_response(e, n, FREQS)
    assert np.max(np.abs(got - want)) < 0.05, np.max(np.abs(got - want))
    # and the curve really is shaped: +4 dB shelf at 40 Hz-ish, -6 dB at 450 Hz
    assert got[np.argmin(np.abs(FREQS - 450))] < -5.0


def test_flat_eq_is_transparent() -> None:
    x = np.random.default_rng(1).standard_normal(4800).astype(np.float32) * 0.1
    e = engine_with([x], ch__1__pan=-1.0, ch__1__eq__on=1.0)
    y = e.process(4800)[:, 0]
    assert np.max(np.abs(y - x)) < 1e-5


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_pan_law_is_constant_power(pan: float) -> None:
    e = engine_with([dc(1.0)], ch__1__pan=pan)
    y = e.process(256)[-1]
    theta = (pan + 1) * np.pi / 4
    assert y[0] == pytest.approx(np.cos(theta), abs=1e-6)
    assert y[1] == pytest.approx(np.sin(theta), abs=1e-6)
    assert y[0] ** 2 + y[1] ** 2 == pytest.approx(1.0, abs=1e-5)


def test_centre_pan_is_minus_3_db() -> None:
    y = engine_with([dc(1.0)]).process(64)[-1]
    assert 20 * np.log10(y[0]) == pytest.approx(-3.01, abs=0.01)


def static_curve_db(level: float, thr: float, ratio: float, knee: float) -> float:
    """Giannoulis, Massberg & Reiss (JAES 2012), eq. 4: output level of the gain computer."""
    over = level - thr
    if 2 * over < -knee:
        return level
    if 2 * abs(over) <= knee:
        return level + (1 / ratio - 1) * (over + knee / 2) ** 2 / (2 * knee)
    return thr + over / ratio


@pytest.mark.parametrize("level", [-40.0, -24.0, -21.0, -20.0, -18.0, -12.0, -3.0])
def test_compressor_static_curve(level: float) -> None:
    thr, ratio, knee, makeup = -20.0, 4.0, 6.0, 2.0
    e = engine_with([dc(10 ** (level / 20))], ch__1__pan=-1.0, ch__1__comp__on=1.0,
                    ch__1__comp__threshold=thr, ch__1__comp__ratio=ratio,
                    ch__1__comp__knee=knee, ch__1__comp__attack=1.0,
                    ch__1__comp__release=20.0, ch__1__comp__makeup=makeup)
    y = e.process(RATE // 2)[-1, 0]
    got = 20 * np.log10(y)
    want = static_curve_db(level, thr, ratio, knee) + makeup
    assert got == pytest.approx(want, abs=0.05)


def test_compressor_attack_is_gradual_and_release_recovers() -> None:
    loud = np.concatenate([np.full(4800, 0.5), np.full(4800, 0.05)]).astype(np.float32)
    e = engine_with([loud], ch__1__pan=-1.0, ch__1__comp__on=1.0,
                    ch__1__comp__threshold=-30.0, ch__1__comp__ratio=10.0,
                    ch__1__comp__knee=0.0, ch__1__comp__attack=5.0,
                    ch__1__comp__release=50.0)
    y = e.process(9600)[:, 0] / loud
    gain_db = 20 * np.log10(y)
    assert gain_db[0] > -1.0  # the attack takes time
    assert gain_db[4700] < -20.0  # fully compressed after 100 ms at 5 ms attack
    assert gain_db[-1] > gain_db[4810]  # releasing once the level drops


def test_sidechain_key_ducks_another_channel() -> None:
    music = dc(0.1)
    voice = np.concatenate([np.zeros(2400), np.full(2400, 0.5)]).astype(np.float32)
    e = engine_with([music, voice], ch__1__pan=-1.0, ch__2__pan=1.0, ch__1__comp__on=1.0,
                    ch__1__comp__key=2, ch__1__comp__threshold=-30.0,
                    ch__1__comp__ratio=8.0, ch__1__comp__attack=1.0)
    y = e.process(4800)[:, 0]
    assert y[2300] == pytest.approx(0.1, abs=1e-4)  # voice silent: music untouched
    assert 20 * np.log10(y[4700] / 0.1) < -10.0  # voice present: music ducked


def test_fader_move_is_smoothed_and_settles_exactly() -> None:
    e = engine_with([dc(0.5)], ch__1__pan=-1.0)
    before = e.process(480)[:, 0]
    e.set("ch/1/fader", -40.0)
    after = e.process(RATE // 2)[:, 0]
    y = np.concatenate([before, after])
    steps = np.abs(np.diff(y))
    # a one-pole glide of ~10 ms: no step bigger than a few thousandths
    assert steps.max() < 0.5 * (1 - 10 ** (-40 / 20)) * 0.0025
    assert after[100] > 0.5 * 10 ** (-40 / 20) * 2  # still gliding after 2 ms
    assert after[-1] == pytest.approx(0.5 * 10 ** (-40 / 20), rel=1e-6)  # snapped on target
    assert np.all(after[-1000:] == after[-1])  # and back on the constant-gain path


def test_mute_and_solo_in_place() -> None:
    e = engine_with([dc(0.1), dc(0.2), dc(0.4)], ch__1__pan=-1.0, ch__2__pan=-1.0,
                    ch__3__pan=-1.0)
    assert e.process(64)[-1, 0] == pytest.approx(0.7, abs=1e-6)
    e.set("ch/2/mute", 1)
    assert e.process(RATE // 4)[-1, 0] == pytest.approx(0.5, abs=1e-6)
    e.set("ch/3/solo", 1)
    assert e.process(RATE // 4)[-1, 0] == pytest.approx(0.4, abs=1e-6)
    e.set("ch/2/solo", 1)  # soloed but muted: mute wins
    assert e.process(RATE // 4)[-1, 0] == pytest.approx(0.4, abs=1e-6)
    e.set("ch/3/solo", 0)
    e.set("ch/2/solo", 0)
    assert e.process(RATE // 4)[-1, 0] == pytest.approx(0.5, abs=1e-6)


def test_pre_and_post_fader_sends() -> None:
    e = engine_with([dc(0.5), dc(0.25)], buses=2, ch__1__pan=-1.0, ch__2__pan=-1.0,
                    ch__1__send__1=0.0, ch__2__send__2=0.0, ch__2__send__2__pre=1.0,
                    bus__2__fader=-6.0)
    y = e.process(64)[-1, 0]
    # main 0.5 + 0.25, bus 1 gets 0.5 (post), bus 2 gets 0.25 at -6 dB (pre)
    assert y == pytest.approx(0.5 + 0.25 + 0.5 + 0.25 * 10 ** (-6 / 20), abs=1e-5)
    e.set("ch/1/fader", "-inf")
    e.set("ch/2/fader", "-inf")
    y = e.process(RATE * 3)[-1, 0]
    assert y == pytest.approx(0.25 * 10 ** (-6 / 20), abs=1e-6)  # only the pre send is left
    bus = e.meters().master.bus_peak  # peak meters fall back at 20 dB/s
    assert bus[0] < 1e-3 and bus[1] == pytest.approx(0.25 * 10 ** (-6 / 20), abs=1e-5)


def test_bus_mute_and_master_fader() -> None:
    e = engine_with([dc(0.5)], ch__1__pan=-1.0, ch__1__send__1=0.0, master__fader=-6.0)
    assert e.process(64)[-1, 0] == pytest.approx(1.0 * 10 ** (-6 / 20), abs=1e-5)
    e.set("bus/1/mute", 1)
    assert e.process(RATE // 2)[-1, 0] == pytest.approx(0.5 * 10 ** (-6 / 20), abs=1e-5)


def test_stereo_source_keeps_its_image() -> None:
    x = np.stack([np.full(480, 0.3), np.full(480, -0.2)], axis=1).astype(np.float32)
    y = engine_with([x]).process(64)[-1]
    assert y[0] == pytest.approx(0.3, abs=1e-6) and y[1] == pytest.approx(-0.2, abs=1e-6)


def test_polarity_and_trim() -> None:
    e = engine_with([dc(0.1)], ch__1__pan=-1.0, ch__1__phase=1.0, ch__1__trim=6.0)
    assert e.process(64)[-1, 0] == pytest.approx(-0.1 * 10 ** (6 / 20), rel=1e-5)


def test_nonfinite_input_is_contained_and_counted() -> None:
    bad = np.full(4800, 0.1, dtype=np.float32)
    bad[10], bad[20], bad[30] = np.nan, np.inf, -np.inf
    e = engine_with([bad, dc(0.2)], ch__1__pan=-1.0, ch__2__pan=-1.0, ch__1__eq__on=1.0,
                    ch__1__eq__2__gain=6.0, ch__1__comp__on=1.0, ch__1__hpf__on=1.0)
    y = e.process(9600)
    assert np.all(np.isfinite(y))
    m = e.meters().master
    assert m.nonfinite_count == 6  # three per loop, two loops
    assert np.isfinite(m.momentary_lufs)
    # the filters were not poisoned: a later stretch of plain input is processed normally
    assert np.all(np.abs(y[-100:, 0]) < 1.0)


def test_render_is_independent_of_block_size() -> None:
    rng = np.random.default_rng(7)
    srcs = [rng.standard_normal(7000).astype(np.float32) * 0.2 for _ in range(3)]
    settings = {"ch__1__eq__on": 1.0, "ch__1__eq__2__gain": 5.0, "ch__2__comp__on": 1.0,
                "ch__2__comp__key": 3, "ch__3__hpf__on": 1.0, "ch__3__send__1": -3.0,
                "ch__2__pan": 0.4}
    outs = []
    for block in (512, 64, 37):
        e = engine_with(srcs, block=512, **settings)
        parts = []
        done = 0
        while done < 20000:
            n = min(block, 20000 - done)
            parts.append(e.process(n))
            done += n
        outs.append(np.concatenate(parts))
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0], outs[2])


def test_clip_counter_counts_master_overs() -> None:
    e = engine_with([dc(0.9)], ch__1__pan=-1.0, ch__1__fader=6.0)
    e.process(1000)
    assert e.meters().master.clip_count == 1000


def test_meters_read_peak_and_rms() -> None:
    from dsp_helpers import sine

    e = engine_with([sine(1000, -12.0)], ch__1__pan=-1.0)
    e.process(RATE * 3)  # ten time constants of the 300 ms RMS
    m = e.meters()
    assert 20 * np.log10(m.ch_peak[0]) == pytest.approx(-12.0, abs=0.05)
    assert 20 * np.log10(m.ch_rms[0]) == pytest.approx(-15.01, abs=0.1)


@pytest.mark.parametrize("level", [-23.0, -20.0, -33.0])
def test_loudness_of_stereo_sine_follows_ebu_tech_3341(level: float) -> None:
    """EBU Tech 3341 case 1/2: a 1 kHz sine at L dBFS on both channels reads L LUFS.

    (BS.1770's -0.691 dB offset cancels the K-weighting gain at 1 kHz, and two
    channels of mean square A^2/2 sum to A^2: loudness equals the sine's peak
    level in dBFS. The issue's "-20 dBFS reads -23 LUFS" is off by the 3 dB
    it would take to hold for one channel only; the standard's case is -23/-23.)
    """
    from dsp_helpers import sine

    e = engine_with([sine(1000, level, stereo=True)])
    e.process(RATE * 10)
    m = e.meters().master
    assert m.momentary_lufs == pytest.approx(level, abs=0.1)
    assert m.short_term_lufs == pytest.approx(level, abs=0.1)
    assert m.integrated_lufs == pytest.approx(level, abs=0.1)
    assert 20 * np.log10(max(m.true_peak_max)) == pytest.approx(level, abs=0.1)


def test_latency_probe_marks_the_block_that_applied_a_change() -> None:
    import time

    e = engine_with([dc(0.5)], ch__1__pan=-1.0)
    e.process(64)
    e.set("ch/1/fader", -6.0)
    e.probe(42)
    assert e.probe_result()[0] == 0  # nothing drained yet
    t0 = time.monotonic_ns()
    y = e.process(64)
    t1 = time.monotonic_ns()
    pid, ns = e.probe_result()
    assert pid == 42 and t0 <= ns <= t1
    assert y[-1, 0] < 0.5  # and that block did start gliding to -6 dB
    assert e.wait_probe(42, 0.05) is None  # no newer probe: gives up after its timeout
    assert e.wait_probe(0, 0.05) == (42, ns)


def test_device_inputs_feed_channels() -> None:
    e = Engine(2, 0, RATE, 512)
    e.set_source_input(1, 2)  # mono from input 3 (0-based 2)
    e.set_source_input(2, 0, stereo=True)  # stereo from inputs 1-2
    e.set("ch/1/pan", -1.0)
    e.set("ch/2/fader", "-inf")
    e.settle()
    inp = np.zeros((64, 4), dtype=np.float32)
    inp[:, 2] = 0.25
    inp[:, 0], inp[:, 1] = 0.5, -0.5
    out = np.zeros((64, 2), dtype=np.float32)
    e.process_into(out, inp)
    assert out[-1, 0] == pytest.approx(0.25) and out[-1, 1] == pytest.approx(0.0, abs=1e-7)
    e.set("ch/2/fader", 0.0)
    e.set("ch/1/mute", 1)
    for _ in range(200):
        e.process_into(out, inp)
    assert out[-1, 0] == pytest.approx(0.5) and out[-1, 1] == pytest.approx(-0.5)
