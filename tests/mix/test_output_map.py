"""Master and buses on chosen device outputs (issue 9, PortAudio devices): the session's
`outputs:` as a channel map, and the C callback writing it (sf_pa_callback, called
here as PortAudio would, with an interleaved buffer)."""

from __future__ import annotations

import numpy as np
from surfaced._native import ffi, lib

from surfaced.mix.audio import output_map
from surfaced.mix.engine import Engine


def test_output_map_places_master_and_buses() -> None:
    m = output_map({"bus/1": (2, 3), "bus/2": (6, 7)}, buses=2)
    assert m == [lib.SF_OUT_MASTER_L, lib.SF_OUT_MASTER_R, lib.SF_OUT_BUS, lib.SF_OUT_BUS + 1,
                 lib.SF_OUT_NONE, lib.SF_OUT_NONE, lib.SF_OUT_BUS + 2, lib.SF_OUT_BUS + 3]
    # the master moved: outputs 1/2 carry a bus, nothing else
    assert output_map({"master": (4, 5), "bus/1": (0, 1)}, buses=1) == [
        lib.SF_OUT_BUS, lib.SF_OUT_BUS + 1, lib.SF_OUT_NONE, lib.SF_OUT_NONE,
        lib.SF_OUT_MASTER_L, lib.SF_OUT_MASTER_R]
    assert output_map({}, buses=4) is None  # no map: the plain stereo stream


def test_the_callback_writes_each_device_output_from_its_source() -> None:
    """A wedge mix on outputs 3/4: bus 1 there, the master on 1/2, silence on 5."""
    e = Engine(1, 1, 48000, 256)
    e.set_source_input(1, 0, False)
    for scope, idx, p, sub, v in [(lib.SF_SCOPE_CH, 0, lib.SF_P_SEND, 0, -6.0),
                                  (lib.SF_SCOPE_BUS, 0, lib.SF_P_FADER, 0, 0.0)]:
        assert lib.sf_push_param(e.native, scope, idx, p, sub, v) == lib.SF_OK
    e.settle()
    out_map = output_map({"bus/1": (2, 3)}, buses=1)
    assert out_map is not None
    out_map.append(lib.SF_OUT_NONE)  # a fifth device output, unused
    ctx = ffi.new("sf_stream_ctx *")
    ctx.engine = e.native
    ctx.in_channels = 1
    ctx.out_channels = len(out_map)
    ctx.routed = 1
    for c, src in enumerate(out_map):
        ctx.out_src[c] = src
    n = 256
    inp = np.full(n, 0.25, dtype=np.float32)
    out = np.full((n, len(out_map)), 7.0, dtype=np.float32)  # garbage PortAudio hands us
    for _ in range(10):
        lib.sf_pa_callback(ffi.cast("void *", inp.ctypes.data), ffi.cast("void *", out.ctypes.data),
                           n, ffi.NULL, 0, ctx)
    last = out[-1]
    assert last[2] > 0.01 and abs(last[2] - last[3]) < 1e-6  # bus 1 (centre) on 3/4
    assert last[0] > last[2]  # the master carries the channel and the bus
    assert last[4] == 0.0  # an output nothing is routed to is silent, not left as it was
    assert ctx.callbacks == 10


def test_planar_inputs_mix_exactly_as_interleaved() -> None:
    """sf_process_planar (the JACK ports' buffers as they are) and sf_process (an
    interleaved device buffer) make the same mix, bit for bit; a NULL plane is silence."""
    rng = np.random.default_rng(7)
    n, frames = 3, 300  # more than the engine's block: run in pieces
    inp = rng.uniform(-0.5, 0.5, (frames, n)).astype(np.float32)
    inp[:, 2] = 0.0  # input 3 is silent in the interleaved run, missing in the planar one

    def engine() -> Engine:
        e = Engine(3, 1, 48000, 128)
        e.set_source_input(1, 0, False)
        e.set_source_input(2, 1, True)  # a stereo pair: inputs 2 and 3
        for c in (1, 2):
            e.set(f"ch/{c}/eq/on", 1)
            e.set(f"ch/{c}/send/1", -6.0)
        e.settle()
        return e

    a, b = engine(), engine()
    out_a = np.zeros((frames, 2), dtype=np.float32)
    assert lib.sf_process(a.native, ffi.cast("float *", inp.ctypes.data), n,
                          ffi.cast("float *", out_a.ctypes.data), 2, frames) == lib.SF_OK
    planes = [np.ascontiguousarray(inp[:, i]) for i in range(2)]
    in_ptrs = ffi.new("float *[]", [ffi.cast("float *", p.ctypes.data) for p in planes]
                      + [ffi.NULL])
    left, right = np.zeros(frames, np.float32), np.zeros(frames, np.float32)
    out_ptrs = ffi.new("float *[]", [ffi.cast("float *", left.ctypes.data),
                                     ffi.cast("float *", right.ctypes.data)])
    src = ffi.new("int[]", [lib.SF_OUT_MASTER_L, lib.SF_OUT_MASTER_R])
    assert lib.sf_process_planar(b.native, in_ptrs, n, out_ptrs, src, 2, 1, frames) == lib.SF_OK
    assert np.abs(out_a).max() > 0.01
    assert np.array_equal(out_a[:, 0], left) and np.array_equal(out_a[:, 1], right)
