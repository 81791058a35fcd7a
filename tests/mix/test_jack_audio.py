"""The engine as surfaced's own JACK client (issue 9): ports named after the mix,
the core in the client's process cycle, outputs routed to master and buses.

Against a real JACK server (dummy driver); a second JackClient in the test
plays the part of the other applications and reads what surfaced's ports carry.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from surfaced._native import ffi, lib

from surfaced.jackclient import IS_INPUT, IS_OUTPUT, JackClient, JackError
from surfaced.mix.engine import Engine
from surfaced.mix.jack_audio import JackAudio, plan_ports
from surfaced.mix.jack_backend import JackBackend
from surfaced.mix.mixer import Mixer
from surfaced.session import ChannelConfig, Session, Source

pytestmark = pytest.mark.jack


def _session() -> Session:
    s = Session(path="<test>", buses=2)
    s.channels = [ChannelConfig("Kick", Source("input", first_input=0)),
                  ChannelConfig("Vocal", Source("input", first_input=1, stereo=True)),
                  ChannelConfig("Pad", Source("generator", "pad")),
                  ChannelConfig("Kick", Source("input", first_input=3))]
    return s


def test_ports_are_named_after_the_channels() -> None:
    s = _session()
    inputs, outputs = plan_ports(s, [c.name for c in s.channels], s.buses)
    assert [p.name for p in inputs] == ["Kick", "Vocal L", "Vocal R", "Kick (ch 4)"]
    assert [p.index for p in inputs] == [0, 1, 2, 3]
    assert [p.key for p in inputs] == ["ch/1", "ch/2/L", "ch/2/R", "ch/4"]
    assert [p.name for p in outputs] == ["Master L", "Master R", "Bus 1 L", "Bus 1 R",
                                         "Bus 2 L", "Bus 2 R"]


def test_routed_outputs_carry_master_and_buses() -> None:
    """sf_process_routed: a bus output carries the bus (post fader), not the master."""
    e = Engine(1, 2, 48000, 256)
    e.set_source_input(1, 0, False)
    eng = e.native
    # ch 1 -> bus 2 only (send 0 dB, pre fader); buses sum into the master, whose
    # fader is off: the master is silent, the bus outputs are not
    changes = [(lib.SF_SCOPE_CH, 0, lib.SF_P_FADER, 0, -144.0),
               (lib.SF_SCOPE_MASTER, 0, lib.SF_P_FADER, 0, -144.0),
               (lib.SF_SCOPE_CH, 0, lib.SF_P_SEND, 1, 0.0),
               (lib.SF_SCOPE_CH, 0, lib.SF_P_SEND_PRE, 1, 1.0)]
    for scope, idx, p, sub, v in changes:
        assert lib.sf_push_param(eng, scope, idx, p, sub, v) == lib.SF_OK
    e.settle()
    n = 128
    inp = np.full(n, 0.5, dtype=np.float32)
    bufs = [np.full(n, 9.0, dtype=np.float32) for _ in range(4)]
    ptrs = ffi.new("float *[]", [ffi.cast("float *", b.ctypes.data) for b in bufs])
    src = ffi.new("int[]", [lib.SF_OUT_MASTER_L, lib.SF_OUT_BUS + 2, lib.SF_OUT_BUS + 3,
                            lib.SF_OUT_BUS + 8])
    for _ in range(20):
        rc = lib.sf_process_routed(eng, ffi.cast("float *", inp.ctypes.data), 1, ptrs, src, 4, 1, n)
        assert rc == lib.SF_OK
    assert np.all(bufs[0] == 0.0)  # master: nothing reaches it
    assert bufs[1][-1] > 0.1 and bufs[2][-1] > 0.1  # bus 2 L/R carry the channel
    assert np.all(bufs[3] == 0.0)  # a bus the engine does not have: silence


def _wait(cond, timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_engine_runs_in_the_jack_cycle(jack) -> None:
    """Input port 'Kick' feeds channel 1; 'Master L' and 'Bus 1 L' carry it out."""
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig("Kick", Source("input", first_input=0))]
    e = Engine(1, 1, jack.rate, 512)
    e.set_source_input(1, 0, False)
    lib.sf_push_param(e.native, lib.SF_SCOPE_CH, 0, lib.SF_P_SEND, 0, 0.0)
    e.settle()
    inputs, outputs = plan_ports(s, ["Kick"], 1)
    with JackClient.open("surfaced", jack.name) as client:
        audio = JackAudio(e, inputs, outputs, measure=True)
        audio.attach(client)
        try:
            names = client.ports("surfaced:.*")
            assert set(names) == {"surfaced:Kick", "surfaced:Master L", "surfaced:Master R",
                                  "surfaced:Bus 1 L", "surfaced:Bus 1 R"}
            assert client.port_flags("surfaced:Kick") & IS_INPUT
            assert client.port_flags("surfaced:Master L") & IS_OUTPUT
            assert _wait(lambda: audio.callbacks > 10)
            assert audio.running
            t = audio.timing()
            assert t.count > 0 and t.p50_us > 0
        finally:
            audio.detach()
        assert client.ports("surfaced:.*") == []
        n = audio.callbacks
        time.sleep(0.1)
        assert audio.callbacks == n  # no cycle runs the engine after detach


def test_buffer_size_changes_do_not_stop_the_engine() -> None:
    """jack_bufsize while the engine runs: it follows, up to periods longer than the
    engine's block (run in pieces) and than SF_MAX_BLOCK."""
    import shutil
    import subprocess

    from jack_server import jack_server, jackd_path

    if jackd_path() is None or shutil.which("jack_bufsize") is None:
        pytest.skip("jackd / jack_bufsize not installed (apt-get install jackd2)")
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig("Kick", Source("input", first_input=0))]
    e = Engine(1, 1, 48000, 512)
    e.set_source_input(1, 0, False)
    inputs, outputs = plan_ports(s, ["Kick"], 1)
    from surfaced.mix.audio import acquire_portaudio, release_portaudio

    # libjack keeps one server's engine state per process: no PortAudio client on the
    # session's server while ours is on this one (other tests leave it initialised)
    release_portaudio()
    # jack_bufsize has no server option: it finds the server in JACK_DEFAULT_SERVER,
    # which jack_server() sets
    with jack_server() as srv, JackClient.open("surfaced", srv.name) as client:
        audio = JackAudio(e, inputs, outputs)
        audio.attach(client)
        try:
            for frames in (256, 2048, 2 * lib.SF_MAX_BLOCK, 64):
                r = subprocess.run(["jack_bufsize", str(frames)], timeout=10,
                                   capture_output=True)
                if r.returncode != 0 and frames > lib.SF_MAX_BLOCK:
                    continue  # a server that refuses periods this long
                assert r.returncode == 0, r.stderr
                assert _wait(lambda f=frames: client.status().buffer_size == f)
                n, done = audio.callbacks, e.meters().master.frames
                assert _wait(lambda n=n: audio.callbacks > n + 5)
                # whole periods processed: the engine advanced by at least 5 of them
                assert e.meters().master.frames >= done + 5 * frames
        finally:
            audio.detach()
    acquire_portaudio()  # as the other tests expect it


def _kick_on_jack(jack, name: str, buses: int, connections: dict[str, list[str]],
                  said: list[str]) -> tuple[Session, JackBackend]:
    """A one-channel session (Kick, device input 1) with these connections, running as
    JACK client `name` through the daemon's JackBackend (started)."""

    s = Session(path="<test>", buses=buses)
    s.channels = [ChannelConfig("Kick", Source("input", first_input=0))]
    s.connections = connections
    mixer = Mixer(Engine(1, buses, jack.rate, 512))
    backend = JackBackend(s, mixer, name=name, server=jack.name, block=64, say=said.append,
                          on_switch=lambda driver, where: None)
    assert backend.start(require=True)
    return s, backend


def test_connections_follow_ports_that_come_and_hand_changes(jack) -> None:
    """A pattern connects ports that appear later; a port unplugged and plugged back is
    connected again; a connection broken by hand takes its pattern out of the session."""
    said: list[str] = []
    s, backend = _kick_on_jack(jack, "sfconn", 1, {"bus/1/L": ["wedge:in_*"], "bus/1/R": [],
                                                   "ch/1": []}, said)
    try:
        with JackClient.open("wedge", jack.name) as wedge:
            bus_l = f"{backend.audio.client.name}:Bus 1 L"
            wedge.register_port("in_1", 0, IS_INPUT)
            wedge.register_port("in_2", 0, IS_INPUT)
            assert _wait(lambda: sorted(wedge.connections(bus_l)) == ["wedge:in_1", "wedge:in_2"])
            assert s.connections_revision == 0  # our own connections are not hand changes
            wedge.unregister_port("in_1")  # unplugged: not a change of the session
            assert _wait(lambda: wedge.connections(bus_l) == ["wedge:in_2"])
            wedge.register_port("in_1", 0, IS_INPUT)  # back: connected again
            assert _wait(lambda: sorted(wedge.connections(bus_l)) == ["wedge:in_1", "wedge:in_2"])
            assert s.connections_revision == 0
            wedge.disconnect(bus_l, "wedge:in_2")  # by hand: the glob gives way to what is left
            assert _wait(lambda: s.connections.get("bus/1/L") == ["wedge:in_1"]), (s.connections,
                                                                                  said)
            assert s.connections_revision == 1
            wedge.register_port("in_3", 0, IS_INPUT)  # the glob is gone: not connected
            time.sleep(0.5)
            assert wedge.connections(bus_l) == ["wedge:in_1"]
    finally:
        backend.close()


def _connected(client: JackClient, source: str, destination: str) -> bool:
    try:
        client.connect(source, destination)
    except JackError:
        return False
    return True


class _InactiveClient:
    """A JACK client straight from libjack that registers a port and activates only
    when told: what an application does between its two calls at start."""

    def __init__(self, name: str, server: str) -> None:
        import ctypes
        import ctypes.util

        self.jack = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        self.jack.jack_client_open.restype = ctypes.c_void_p
        self.jack.jack_port_register.restype = ctypes.c_void_p
        self.jack.jack_port_register.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                 ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong]
        self.jack.jack_activate.argtypes = [ctypes.c_void_p]
        self.jack.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int(0)
        no_start, server_name = 0x01, 0x04  # JackNoStartServer | JackServerName
        self.client = self.jack.jack_client_open(name.encode(), no_start | server_name,
                                                 ctypes.byref(status), server.encode())
        assert self.client, f"jack_client_open failed, status {status.value:#x}"

    def register_output(self, short_name: str) -> None:
        is_output = 0x2
        assert self.jack.jack_port_register(self.client, short_name.encode(),
                                            b"32 bit float mono audio", is_output, 0)

    def activate(self) -> None:
        assert self.jack.jack_activate(self.client) == 0

    def close(self) -> None:
        self.jack.jack_client_close(self.client)


def test_a_port_is_connected_once_its_client_activates(jack, monkeypatch) -> None:
    """An application registers its port before it activates, and JACK refuses to
    connect a port of an inactive client. Seen then (another application's port made
    us look), the session's pattern is tried again for a while, reported, and tried
    again when the client activates: the port ends up connected, not refused for good."""
    from surfaced.mix import jack_connections

    monkeypatch.setattr(jack_connections, "REFUSED_RETRY_S", 0.3)
    said: list[str] = []
    s, backend = _kick_on_jack(jack, "sflate", 0, {"ch/1": ["late:out_*"], "master/L": [],
                                                   "master/R": []}, said)
    late = _InactiveClient("late", jack.name)
    try:
        spec = next(spec for spec, _ in backend.audio.ports() if spec.key == "ch/1")
        ours = backend.audio.full_name(spec)
        late.register_output("out_1")
        with JackClient.open("sfwatch", jack.name) as watch:
            assert _wait(lambda: "late:out_1" in watch.ports("^late:"))
            watch.register_port("nudge", 0, IS_OUTPUT)  # a notification: surfaced looks
            assert _wait(lambda: any("cannot connect JACK port 'late:out_1'" in m
                                     for m in said)), said  # refused while inactive
            assert watch.connections(ours) == []
            late.activate()
            assert _wait(lambda: watch.connections(ours) == ["late:out_1"]), said
        assert s.connections_revision == 0  # our own connection, not a change by hand
    finally:
        late.close()
        backend.close()


def test_input_ports_feed_their_channels(jack) -> None:
    """A tone into `surfaced:Snare` (device input 3) reaches channel 2 and nothing else;
    device input 2, which no channel reads, has no port."""
    import shutil
    import subprocess

    if shutil.which("jack_metro") is None:
        pytest.skip("jack_metro missing (apt-get install jackd2 example clients)")
    s = Session(path="<test>", buses=0)
    s.channels = [ChannelConfig("Kick", Source("input", first_input=0)),
                  ChannelConfig("Snare", Source("input", first_input=2))]
    e = Engine(2, 0, jack.rate, 512)
    e.set_source_input(1, 0, False)
    e.set_source_input(2, 2, False)
    e.settle()
    inputs, outputs = plan_ports(s, ["Kick", "Snare"], 0)
    tone = subprocess.Popen(["jack_metro", "-n", "sfaudiotone", "-b", "600", "-f", "440",
                             "-A", "0.5", "-D", "80"], env=dict(os.environ,
                                                                  JACK_DEFAULT_SERVER=jack.name),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with JackClient.open("sfaudio", jack.name) as client:
            audio = JackAudio(e, inputs, outputs)
            audio.attach(client)
            try:
                assert _wait(lambda: client.ports("^sfaudiotone:"))
                # jack_metro registers its port before it activates, and JACK refuses to
                # connect the port of a client not yet active: try until it takes
                assert _wait(lambda: _connected(client, client.ports("^sfaudiotone:")[0],
                                                "sfaudio:Snare"))
                assert _wait(lambda: e.meters().ch_peak[1] > 0.1), e.meters().ch_peak
                assert e.meters().ch_peak[0] == 0.0  # Kick's port carries nothing
                assert sorted(client.ports("^sfaudio:")) == [
                    "sfaudio:Kick", "sfaudio:Master L", "sfaudio:Master R", "sfaudio:Snare"]
            finally:
                audio.detach()
    finally:
        tone.terminate()
        tone.wait(timeout=10)
