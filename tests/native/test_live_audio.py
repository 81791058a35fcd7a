"""The live path: the core's C callback driven by a real JACK server (dummy driver),
and the headless clock; both must deliver exactly what an offline render does."""

from __future__ import annotations

import time

import numpy as np
import pytest
from dsp_helpers import RATE
from measured import Figures

from surfaced.mix.audio import HeadlessClock, LiveStream, render
from surfaced.mix.engine import Engine

SECONDS = 3


def make_engine() -> Engine:
    """Two channels of known material with EQ, compressor and a send engaged."""
    rng = np.random.default_rng(11)
    t = np.arange(RATE) / RATE
    e = Engine(2, 2, RATE, 512)
    e.set_source_buffer(1, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    e.set_source_buffer(2, (0.1 * rng.standard_normal((RATE, 2))).astype(np.float32))
    for path, value in {"ch/1/eq/on": 1, "ch/1/eq/2/gain": 4.0, "ch/2/comp/on": 1,
                        "ch/2/comp/threshold": -30.0, "ch/1/send/1": -6.0,
                        "ch/1/pan": -0.3, "master/fader": -1.0}.items():
        e.set(path, value)
    e.settle()
    return e


def wait_for_capture(e: Engine, frames: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(e.captured()) < frames and time.monotonic() < deadline:
        time.sleep(0.05)


def run_live(seconds: int) -> tuple[np.ndarray, object, LiveStream]:
    live = make_engine()
    frames = seconds * RATE
    live.start_capture(frames)
    stream = LiveStream(live, block=64, measure=True)
    with stream:
        wait_for_capture(live, frames, timeout=seconds * 4)
        meters = live.meters()
    return live.captured(), meters, stream


@pytest.mark.jack
def test_jack_stream_runs_the_c_callback_and_matches_offline_render(
        jack: object, figures: Figures) -> None:
    frames = SECONDS * RATE
    want = render(make_engine(), SECONDS, block=512)
    got, meters, stream = run_live(SECONDS)
    assert len(got) == frames, "the stream did not deliver 3 s of audio in 12 s"
    assert stream.callbacks >= frames // 64
    assert "system" in stream.device_name
    # the output meters moved
    assert max(meters.master.peak) > 0.05  # type: ignore[attr-defined]
    assert meters.ch_peak[0] > 0.1 and meters.ch_peak[1] > 0.01  # type: ignore[attr-defined]
    # sample for sample what the offline render produces, whatever the stream's
    # timing: the core's output does not depend on when its blocks run
    assert np.array_equal(got, want)
    timing = stream.timing()
    assert timing.count >= frames // 64 and timing.max_us > 0
    # Xruns on the dummy driver come and go with what else this shared 2-core VM
    # runs (the same test at the previous core gave 5-92 per 3 s here on a busy
    # day and none on a quiet one): recorded, not judged. The callback's own
    # cost is what the core controls; benchmarks/bench_core.py measures it.
    figures.record("live_xruns_3s", int(meters.master.xruns), "xruns",  # type: ignore[attr-defined]
                   "xruns reported by PortAudio over 3 s of JACK dummy-driver audio "
                   "(64-frame periods) in the live-audio test", keep="max")
    figures.record("live_callback_p99_us", timing.p99_us, "µs",
                   "the core's C callback duration, p99, 64-frame blocks, 2 channels", keep="max")


def test_headless_clock_plays_in_real_time_and_matches_offline_render() -> None:
    live = make_engine()
    frames = RATE  # 1 s
    live.start_capture(frames)
    with HeadlessClock(live, block=256):
        wait_for_capture(live, frames, timeout=6)
    got = live.captured()
    assert len(got) == frames
    assert np.array_equal(got, render(make_engine(), 1.0, block=512))


def test_headless_clock_measures_each_blocks_wall_and_cpu_time() -> None:
    live = make_engine()
    clock = HeadlessClock(live, block=256, measure=True)
    with clock:
        time.sleep(1.0)
    t = clock.timing()
    # Every block the clock ran is in both histograms (about 188 in 1 s)...
    assert t.count == clock.callbacks and t.count > 50
    # ...with a CPU time that is real (not 0) and the same order as its
    # wall-clock time: a block's CPU time is within its wall-clock time plus
    # the clock reads around it (2 us here leaves room for the bins' rounding).
    assert t.cpu_max_us > 0 and 0 < t.cpu_p50_us <= t.p99_us + 2
    # A 2-channel block of 256 frames costs the core microseconds of its
    # 5,333 us period: none may count as late in CPU time.
    assert t.cpu_over_period == 0


@pytest.mark.jack
def test_session_with_device_inputs_opens_a_duplex_stream(jack: object) -> None:
    from surfaced.config import Config
    from surfaced.daemon import Daemon
    from surfaced.session import ChannelConfig, Session, Source

    s = Session(path="<test>", buses=0)
    s.channels = [ChannelConfig("Mic", Source("input", first_input=0, stereo=True))]
    assert s.inputs_needed() == 2
    notes: list[str] = []
    # PortAudio's duplex stream (surfaced's own JACK client: tests/mix/test_jack_audio.py)
    d = Daemon(Config(block=64, osc=[], enable=[], audio_backend="portaudio"), s,
               on_status=notes.append)
    d.start_audio()
    try:
        assert isinstance(d.driver, LiveStream)
        deadline = time.monotonic() + 5
        while d.driver.callbacks < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.driver.callbacks >= 10
        assert d.driver._stream.channels == (2, 2)  # JACK's two capture ports feed the mic
        assert notes == []
    finally:
        d.driver.stop()
