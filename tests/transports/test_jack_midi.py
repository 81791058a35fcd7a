"""JACK MIDI on surfaced's own client (transports/jack_midi.py) against a real jackd.

The device is a python-rtmidi JACK virtual port: a separate JACK client, as
a USB surface bridged by a2jmidid is. Every wait is bounded (WAIT seconds)
and polls for the outcome; nothing asserts on timing except what the code
guarantees (the SysEx timeout is a lower bound).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import rtmidi
from measured import Figures

from surfaced.events import Event
from surfaced.jackclient import JackClient
from surfaced.transports.jack_midi import JackMidiError, JackMidiHub, JackMidiTransport
from surfaced.transports.midi_codec import SYSEX_TIMEOUT_S
from transports.recorder import Recorder as BaseRecorder

pytestmark = pytest.mark.jack

WAIT = 5.0
JACK = rtmidi.API_UNIX_JACK


def wait_until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class Recorder(BaseRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []  # time.monotonic() when the sink got each event

    def __call__(self, event: Event) -> None:
        self.arrived.append(time.monotonic())
        super().__call__(event)

    def wait_events(self, n: int) -> list[Event]:
        wait_until(lambda: len(self.events) >= n, f"{n} MIDI events (got {self.events})")
        with self.lock:
            return list(self.events)


class Device:
    """A pretend USB surface: a JACK client with a MIDI output (it plays) and input (feedback)."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.out: rtmidi.MidiOut | None = None
        self.inp: rtmidi.MidiIn | None = None
        self.received: list[list[int]] = []

    @property
    def capture(self) -> str:
        return f"{self.client}:faders"

    def plug_in(self, feedback: bool = False) -> Device:
        self.out = rtmidi.MidiOut(JACK, self.client)
        self.out.open_virtual_port("faders")
        if feedback:
            self.inp = rtmidi.MidiIn(JACK, self.client + "-fb", queue_size_limit=8192)
            self.inp.ignore_types(sysex=False)
            self.inp.open_virtual_port("motors")
        return self

    def unplug(self) -> None:
        for port in (self.out, self.inp):
            if port is not None:
                port.close_port()
                port.delete()
        self.out = self.inp = None

    def send(self, data: bytes) -> None:
        assert self.out is not None
        self.out.send_message(data)

    def drain(self) -> list[list[int]]:
        assert self.inp is not None
        while (m := self.inp.get_message()) is not None:
            self.received.append(m[0])
        return self.received


@pytest.fixture
def client(jack: object) -> Iterator[JackClient]:
    c = JackClient.open(f"sfmidi{uuid.uuid4().hex[:4]}")
    yield c
    c.close()


@pytest.fixture
def hub(client: JackClient) -> Iterator[JackMidiHub]:
    h = JackMidiHub()
    h.set_client(client)
    yield h
    h.close()


@pytest.fixture
def device(jack: object) -> Iterator[Device]:
    d = Device(f"dev{uuid.uuid4().hex[:6]}").plug_in()
    yield d
    d.unplug()


def make(hub: JackMidiHub, rec: Recorder, device: Device, **kw: object) -> JackMidiTransport:
    options: dict[str, object] = {"input": f"{device.client}:fad*", "source": "midi:box",
                                  "on_status": rec.on_status, "on_reconnect": rec.on_reconnect}
    options.update(kw)
    return JackMidiTransport(rec, hub=hub, **options)  # type: ignore[arg-type]


def lsp(client: JackClient) -> list[str]:
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in out.splitlines() if line.startswith(f"{client.name}:")]


def test_device_bytes_become_events_on_one_port_of_our_client(
        hub: JackMidiHub, client: JackClient, device: Device) -> None:
    rec = Recorder()
    t = make(hub, rec, device, name="Box")
    t.start()
    try:
        assert t.online and rec.status == [True] and rec.reconnects == 1
        assert t.input_port == device.capture
        assert lsp(client) == [f"{client.name}:Box in"]
        assert client.connections(f"{client.name}:Box in") == [device.capture]
        device.send(b"\xb0\x07\x64")
        device.send(b"\x08\x10")  # running status, in a JACK event of its own
        device.send(b"\xe3\x7f\x7f")
        device.send(b"\xf0\x00\x00\x66\x14\x12\x00\x41\xf7")  # an MCU scribble strip
        device.send(b"\x90\x3c\x7f")
        events = rec.wait_events(5)
        before = time.monotonic()
    finally:
        t.close()
    assert events == [
        Event("cc", "midi:box", 0, 7, 100),
        Event("cc", "midi:box", 0, 8, 16),
        Event("pitchbend", "midi:box", 3, None, 16383),
        Event("sysex", "midi:box", data=b"\xf0\x00\x00\x66\x14\x12\x00\x41\xf7"),
        Event("note_on", "midi:box", 0, 60, 127),
    ]
    # stamped with the cycle's time on the daemon's clock (time.monotonic)
    assert all(0 < ev.time <= before for ev in events)
    assert t.stats.parser.errors == 0
    assert lsp(client) == []  # closed: our port is gone


@pytest.mark.figures
def test_a_lone_sysex_start_does_not_make_the_surface_deaf(
        hub: JackMidiHub, device: Device, figures: Figures) -> None:
    """Issue 8: F0 alone, then notes and CCs: applied at once; the partial SysEx counted."""
    rec = Recorder()
    t = make(hub, rec, device)
    t.start()
    try:
        device.send(b"\xf0")  # a lone SysEx start, in a JACK event of its own
        sent = time.monotonic()
        device.send(b"\x90\x3c\x7f")
        device.send(b"\xb0\x07\x64")
        events = rec.wait_events(2)
        heard = rec.arrived[1]
        assert events == [Event("note_on", "midi:box", 0, 60, 127),
                          Event("cc", "midi:box", 0, 7, 100)]
        assert t.stats.parser.sysex_interrupted == 1
        # applied at once, not held until a SysEx timeout (or an F7) let them go
        assert heard - sent < SYSEX_TIMEOUT_S
        device.send(b"\xf0\x7e\x00\x06\x01\xf7")  # a whole SysEx still arrives whole
        device.send(b"\xf7")  # a late F7 applies nothing that came before
        device.send(b"\xb0\x07\x01")
        events = rec.wait_events(4)
        assert events[2:] == [Event("sysex", "midi:box", data=b"\xf0\x7e\x00\x06\x01\xf7"),
                              Event("cc", "midi:box", 0, 7, 1)]
        assert t.stats.parser.stray_eox == 1
    finally:
        t.close()
    figures.record("lone_f0_events_lost", 2 - len(events[:2]), "events",
                   "MIDI messages lost after a lone F0 (a note and a CC sent after it)")
    figures.record("lone_f0_delay_ms", round((heard - sent) * 1000, 1), "ms",
                   "a note and a CC sent after a lone F0 had both reached the surface after",
                   keep="max")


def test_a_partial_sysex_times_out_and_what_follows_applies(
        hub: JackMidiHub, device: Device) -> None:
    rec = Recorder()
    t = make(hub, rec, device)
    t.start()
    try:
        device.send(b"\xf0\x00\x20\x32")  # and then nothing: the device hung mid-message
        sent = time.monotonic()
        wait_until(lambda: t.stats.parser.sysex_timeout == 1, "the SysEx timeout",
                   timeout=SYSEX_TIMEOUT_S + WAIT)
        assert time.monotonic() - sent >= SYSEX_TIMEOUT_S * 0.9  # not before its time
        assert "got no F7 within 1 s" in (t.stats.last_error or "")
        device.send(b"\x01\x02\xf7")  # the rest, much later: stray bytes, never applied
        device.send(b"\x90\x3c\x7f")
        assert rec.wait_events(1) == [Event("note_on", "midi:box", 0, 60, 127)]
        time.sleep(0.1)
        assert len(rec.events) == 1
    finally:
        t.close()


def test_unplug_goes_offline_and_a_replug_rebinds_with_a_clean_parser(
        hub: JackMidiHub, client: JackClient, device: Device) -> None:
    rec = Recorder()
    t = make(hub, rec, device, name="Box")
    t.start()
    try:
        device.send(b"\xf0\x00\x20")  # unplugged in the middle of a SysEx
        time.sleep(0.05)
        device.unplug()
        wait_until(lambda: not t.online, "the unplug noticed")
        assert rec.status == [True, False] and t.input_port is None
        assert lsp(client) == []  # no device: no port of ours
        device.plug_in()
        wait_until(lambda: t.online, "the replug noticed")
        assert rec.status == [True, False, True] and rec.reconnects == 2
        device.send(b"\x90\x3c\x7f")
        device.send(b"\xf0\x01\xf7")
        assert rec.wait_events(2) == [Event("note_on", "midi:box", 0, 60, 127),
                                      Event("sysex", "midi:box", data=b"\xf0\x01\xf7")]
        assert t.stats.parser.errors == 0  # the old partial SysEx did not reach the new stream
    finally:
        t.close()


def test_no_port_is_registered_while_no_device_matches(
        hub: JackMidiHub, client: JackClient, jack: object) -> None:
    rec = Recorder()
    late = Device(f"late{uuid.uuid4().hex[:6]}")
    t = make(hub, rec, late, output=f"{late.client}-fb:mot*")
    t.start()
    try:
        assert not t.online and rec.status == []
        assert lsp(client) == []
        assert not t.send(Event("cc", channel=0, number=1, value=1))
        assert t.stats.send_dropped == 1
        late.plug_in(feedback=True)
        wait_until(lambda: t.online, "the late device bound")
        assert rec.reconnects == 1
        assert sorted(lsp(client)) == [f"{client.name}:midi_box in",
                                       f"{client.name}:midi_box out"]
    finally:
        t.close()
        late.unplug()


def test_feedback_bytes_reach_the_device_exactly(hub: JackMidiHub, jack: object) -> None:
    dev = Device(f"fb{uuid.uuid4().hex[:6]}").plug_in(feedback=True)
    rec = Recorder()
    sent_on_connect = [b"\xf0\x00\x00\x66\x14\x00\xf7"]  # the MCU device query

    def reconnect() -> None:
        rec.on_reconnect()
        for m in sent_on_connect:
            t.send_bytes(m)

    t = JackMidiTransport(rec, hub=hub, output=f"{dev.client}-fb:motors", source="midi:box",
                          on_reconnect=reconnect)
    t.start()
    try:
        assert t.online and t.output_port == f"{dev.client}-fb:motors"
        assert t.send(Event("cc", channel=0, number=7, value=99))
        assert t.send(Event("pitchbend", channel=1, value=16383))
        long = b"\xf0\x00\x00\x66\x14\x12\x00" + bytes(range(32, 32 + 90)) + b"\xf7"
        assert t.send(Event("sysex", data=long))
        wait_until(lambda: len(dev.drain()) >= 4, "feedback bytes on the device's input")
        assert dev.received == [list(sent_on_connect[0]), [0xB0, 7, 99], [0xE1, 0x7F, 0x7F],
                                list(long)]
        assert t.stats.sent == 4 and t.stats.send_dropped == 0
    finally:
        t.close()
        dev.unplug()


def test_many_messages_in_one_go_all_arrive_in_order(hub: JackMidiHub, jack: object) -> None:
    """More than a JACK cycle carries: queued in the ring, written over the next cycles."""
    dev = Device(f"burst{uuid.uuid4().hex[:6]}").plug_in(feedback=True)
    t = JackMidiTransport(Recorder(), hub=hub, output=f"{dev.client}-fb:motors")
    t.start()
    try:
        msgs = [bytes([0xB0 | (i % 16), i % 128, (i * 7) % 128]) for i in range(2000)]
        for m in msgs:
            assert t.send_bytes(m)
        wait_until(lambda: len(dev.drain()) >= len(msgs), "every message")
        assert dev.received == [list(m) for m in msgs]
    finally:
        t.close()
        dev.unplug()


def test_events_reach_the_surface_whose_device_sent_them(hub: JackMidiHub, jack: object) -> None:
    devices = [Device(f"m{i}{uuid.uuid4().hex[:5]}").plug_in() for i in range(3)]
    recs = [Recorder() for _ in devices]
    ts = [JackMidiTransport(r, hub=hub, input=f"{d.client}:*", source=f"midi:{i}")
          for i, (d, r) in enumerate(zip(devices, recs, strict=True))]
    for t in ts:
        t.start()
    try:
        for round_ in range(20):
            for i, d in enumerate(devices):
                d.send(bytes([0xB0 | i, round_, i]))
        for i, r in enumerate(recs):
            assert r.wait_events(20) == [Event("cc", f"midi:{i}", i, n, i) for n in range(20)]
    finally:
        for t in ts:
            t.close()
        for d in devices:
            d.unplug()


def test_ports_come_and_go_in_any_slot_and_the_rest_keep_working(
        hub: JackMidiHub, jack: object) -> None:
    """The hook visits only the slots holding a port (a bit mask): a slot freed in the
    middle stops, the others go on, and a port taking a freed slot is heard."""
    devices = [Device(f"s{i}{uuid.uuid4().hex[:5]}").plug_in() for i in range(4)]
    recs = [Recorder() for _ in devices]

    def bind(i: int) -> JackMidiTransport:
        t = JackMidiTransport(recs[i], hub=hub, input=f"{devices[i].client}:*",
                              source=f"midi:{i}")
        t.start()
        return t

    ts = {i: bind(i) for i in range(3)}
    try:
        for i in range(3):
            wait_until(lambda i=i: bool(ts[i].online), f"device {i} bound")  # type: ignore[misc]
        ts.pop(1).close()  # the middle slot goes
        ts[3] = bind(3)  # and a new port takes a slot
        wait_until(lambda: bool(ts[3].online), "device 3 bound")
        for n in range(10):
            for i in (0, 1, 2, 3):
                devices[i].send(bytes([0xB0, n, i]))
        for i in (0, 2, 3):
            assert recs[i].wait_events(10) == [Event("cc", f"midi:{i}", 0, n, i)
                                               for n in range(10)]
        time.sleep(0.2)
        assert recs[1].events == []  # its port is gone: nothing delivered for it
    finally:
        for t in ts.values():
            t.close()
        for d in devices:
            d.unplug()


def test_reader_sleeps_while_no_event_comes(hub: JackMidiHub, device: Device) -> None:
    """No polling: with a bound surface and no traffic the reader does not wake."""
    t = make(hub, Recorder(), device)
    t.start()
    try:
        time.sleep(0.3)  # JACK's notifications of our own new port come in meanwhile
        before = hub.stats()
        time.sleep(0.5)
        after = hub.stats()
        assert after["cycles"] > before["cycles"]  # the hook runs every period ...
        assert after["reader_wakeups"] == before["reader_wakeups"]  # ... and wakes no one
        # (the port watcher wakes only when the graph changes: other clients of this
        # test session may change it, so that is not asserted here)
    finally:
        t.close()


def test_a_lost_client_takes_surfaces_offline_and_a_new_one_binds_them(
        hub: JackMidiHub, client: JackClient, device: Device) -> None:
    rec = Recorder()
    t = make(hub, rec, device)
    t.start()
    assert t.online
    hub.set_client(None)
    assert not t.online and rec.status == [True, False]
    with JackClient.open(f"sfnew{uuid.uuid4().hex[:4]}") as again:
        hub.set_client(again)
        assert t.online and rec.reconnects == 2
        assert again.connections(f"{again.name}:midi_box in") == [device.capture]
        device.send(b"\x90\x3c\x7f")
        assert rec.wait_events(1) == [Event("note_on", "midi:box", 0, 60, 127)]
        t.close()
        hub.set_client(None)


def test_bad_patterns_are_refused_with_the_pattern_named(hub: JackMidiHub) -> None:
    with pytest.raises(JackMidiError, match=r"bad port pattern 're:\('"):
        JackMidiTransport(Recorder(), hub=hub, input="re:(")
    with pytest.raises(JackMidiError, match="needs an input or an output"):
        JackMidiTransport(Recorder(), hub=hub)


def test_a_full_input_ring_drops_and_counts_and_input_goes_on(
        client: JackClient, device: Device, caplog: pytest.LogCaptureFixture) -> None:
    """A reader that falls behind never blocks the JACK cycle: the overflow is counted."""
    import threading

    hub = JackMidiHub(in_ring=4096)  # the smallest ring: about 170 three-byte events
    hub.set_client(client)
    release = threading.Event()
    got: list[Event] = []

    def slow_sink(ev: Event) -> None:
        release.wait(WAIT)  # the surface is stuck on the first event
        got.append(ev)

    t = JackMidiTransport(slow_sink, hub=hub, input=device.capture)
    t.start()
    try:
        for i in range(600):
            device.send(bytes([0xB0, 1, i % 128]))
            if i % 50 == 49:
                time.sleep(0.01)  # a few JACK cycles: RtMidi's own queue stays small
        wait_until(lambda: hub.stats()["in_dropped"] > 0, "events dropped by the hook")
        cycles = hub.stats()["cycles"]
        wait_until(lambda: hub.stats()["cycles"] > cycles + 10, "the cycle running meanwhile")
        release.set()
        wait_until(lambda: len(got) == hub.stats()["in_events"], "what the ring held delivered")
        device.send(b"\x90\x3c\x7f")
        wait_until(lambda: bool(got) and got[-1] == Event("note_on", t.source, 0, 60, 127),
                   "input after the overflow")
        s = hub.stats()
        assert s["in_events"] + s["in_dropped"] == 601
        assert "input events dropped" in caplog.text
    finally:
        release.set()
        t.close()
        hub.close()


def test_output_wrapping_round_a_small_ring_arrives_whole(client: JackClient,
                                                          jack: object) -> None:
    """Messages of every size through the smallest output ring, round its end many times."""
    dev = Device(f"wrap{uuid.uuid4().hex[:6]}").plug_in(feedback=True)
    hub = JackMidiHub(out_ring=4096)
    hub.set_client(client)
    t = JackMidiTransport(Recorder(), hub=hub, output=f"{dev.client}-fb:motors")
    t.start()
    try:
        msgs = [b"\xf0\x7d" + bytes((i + k) % 128 for k in range(i % 300)) + b"\xf7"
                for i in range(400)]  # 2 to 301 bytes: records straddle the ring's end
        for m in msgs:
            while not t.send_bytes(m):  # the ring is full: the hook drains it each cycle
                time.sleep(0.001)
        wait_until(lambda: len(dev.drain()) >= len(msgs), "every message")
        assert dev.received == [list(m) for m in msgs]
        assert hub.stats()["out_events"] == len(msgs)
    finally:
        t.close()
        hub.close()
        dev.unplug()


def test_a_sysex_in_several_jack_events_arrives_whole(hub: JackMidiHub, device: Device) -> None:
    """A bridge (a2jmidid) cuts a long SysEx into chunks: joined, with real-time bytes inside."""
    rec = Recorder()
    t = make(hub, rec, device)
    t.start()
    try:
        body = b"\x01\x02" * 150
        device.send(b"\xf0\x00\x20\x32")
        device.send(b"\xf8")  # a clock tick between the chunks: not the end of the SysEx
        for i in range(0, len(body), 3):  # python-rtmidi sends only F0... or <= 3 bytes
            device.send(body[i:i + 3])
        device.send(b"\x03\xf7")
        assert rec.wait_events(1) == [
            Event("sysex", "midi:box", data=b"\xf0\x00\x20\x32" + body + b"\x03\xf7")]
        assert t.stats.parser.errors == 0
    finally:
        t.close()
