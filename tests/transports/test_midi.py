"""The MIDI transport on a real JACK server: the test plays the controller on virtual ports.

Every wait is bounded (WAIT seconds) and polls for the outcome; nothing
asserts on timing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import rtmidi

from surfaced.events import Event
from surfaced.transports.midi import (
    MidiTransport,
    MidiTransportError,
    exact_pattern,
    list_ports,
    port_matcher,
    resolve_api,
)
from transports.recorder import Recorder as BaseRecorder

pytestmark = pytest.mark.jack

WAIT = 5.0
JACK = rtmidi.API_UNIX_JACK


def wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT} s waiting for {what}")
        time.sleep(0.01)

class Recorder(BaseRecorder):
    """The shared recorder, with the waits these tests use."""

    def wait_events(self, n: int) -> list[Event]:
        wait_until(lambda: len(self.events) >= n, f"{n} MIDI events")
        with self.lock:
            return list(self.events)


class Controller:
    """A pretend hardware surface: a JACK client with a virtual output and input port."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.out: rtmidi.MidiOut | None = None
        self.inp: rtmidi.MidiIn | None = None

    def plug_in(self) -> None:
        self.out = rtmidi.MidiOut(JACK, self.client)
        self.out.open_virtual_port("faders")

    def open_input(self) -> None:
        self.inp = rtmidi.MidiIn(JACK, self.client + "-fb")
        self.inp.ignore_types(sysex=False)
        self.inp.open_virtual_port("feedback")

    def unplug(self) -> None:
        if self.out is not None:
            self.out.close_port()
            self.out.delete()
            self.out = None

    def send(self, data: bytes) -> None:
        assert self.out is not None
        self.out.send_message(data)

    def close(self) -> None:
        self.unplug()
        if self.inp is not None:
            self.inp.close_port()
            self.inp.delete()
            self.inp = None


@pytest.fixture
def controller(jack: object) -> Iterator[Controller]:
    ctl = Controller(f"ctl{uuid.uuid4().hex[:6]}")
    ctl.plug_in()
    yield ctl
    ctl.close()


def make_transport(ctl: Controller, rec: Recorder, **kwargs: object) -> MidiTransport:
    options: dict[str, object] = {
        "input": f"{ctl.client}:fad*",
        "api": "jack",
        "source": "midi:box",
        "on_status": rec.on_status,
        "on_reconnect": rec.on_reconnect,
        "watch_interval": 0.1,
    }
    options.update(kwargs)
    return MidiTransport(rec, **options)  # type: ignore[arg-type]


def test_controller_bytes_become_events(controller: Controller) -> None:
    rec = Recorder()
    transport = make_transport(controller, rec)
    transport.start()
    try:
        assert transport.online
        assert transport.input_port == f"{controller.client}:faders"
        assert rec.status == [True] and rec.reconnects == 1
        controller.send(b"\xb0\x07\x64")  # CC 7 = 100
        controller.send(b"\x08\x10")  # running status, in a JACK event of its own
        controller.send(b"\xe3\x7f\x7f")  # pitch bend ch 4, top
        controller.send(b"\xe3\x00\x40")  # pitch bend centre
        controller.send(b"\xf0\x00\x00\x66\x14\x12\x00\x41\xf7")  # Mackie scribble strip
        controller.send(b"\x90\x3c\x7f")
        events = rec.wait_events(6)
    finally:
        transport.close()
    assert events == [
        Event("cc", "midi:box", 0, 7, 100),
        Event("cc", "midi:box", 0, 8, 16),
        Event("pitchbend", "midi:box", 3, None, 16383),
        Event("pitchbend", "midi:box", 3, None, 8192),
        Event("sysex", "midi:box", data=b"\xf0\x00\x00\x66\x14\x12\x00\x41\xf7"),
        Event("note_on", "midi:box", 0, 60, 127),
    ]
    assert all(ev.time > 0 for ev in events)
    assert transport.stats.parser.errors == 0


def test_port_vanishes_goes_offline_and_rebinds(controller: Controller) -> None:
    rec = Recorder()
    transport = make_transport(controller, rec)
    transport.start()
    try:
        assert transport.online
        controller.unplug()
        wait_until(lambda: not transport.online, "the transport to notice the port is gone")
        assert rec.status == [True, False]
        assert transport.input_port is None

        controller.plug_in()  # same client and port name: the device came back
        wait_until(lambda: transport.online, "the transport to re-bind")
        assert rec.status == [True, False, True]
        assert rec.reconnects == 2  # the upper layer re-sends the surface state here
        assert transport.stats.binds == 2

        controller.send(b"\xb0\x01\x02")
        assert rec.wait_events(1)[-1] == Event("cc", "midi:box", 0, 1, 2)
    finally:
        transport.close()


def test_waits_offline_for_a_port_that_is_not_there_yet(jack: object) -> None:
    ctl = Controller(f"late{uuid.uuid4().hex[:6]}")
    rec = Recorder()
    transport = make_transport(ctl, rec)
    transport.start()
    try:
        assert not transport.online
        assert rec.status == [] and rec.reconnects == 0
        ctl.plug_in()
        wait_until(lambda: transport.online, "the late port to be bound")
        assert rec.reconnects == 1
    finally:
        transport.close()
        ctl.close()


def test_send_writes_bytes_to_the_output_port(controller: Controller) -> None:
    controller.open_input()
    rec = Recorder()
    transport = make_transport(controller, rec, output=f"{controller.client}-fb:feedback")
    transport.start()
    try:
        assert transport.online
        assert transport.output_port == f"{controller.client}-fb:feedback"
        assert transport.send(Event("cc", channel=0, number=7, value=99))
        assert transport.send(Event("pitchbend", channel=1, value=16383))  # motor fader to top
        assert transport.send(Event("sysex", data=b"\xf0\x00\x00\x66\x14\x12\x00\x48\x69\xf7"))
        received: list[list[int]] = []
        assert controller.inp is not None
        inp = controller.inp

        def drained() -> bool:
            while (msg := inp.get_message()) is not None:
                received.append(msg[0])
            return len(received) >= 3

        wait_until(drained, "feedback bytes on the controller's input")
        assert received == [
            [0xB0, 7, 99],
            [0xE1, 0x7F, 0x7F],
            [0xF0, 0x00, 0x00, 0x66, 0x14, 0x12, 0x00, 0x48, 0x69, 0xF7],
        ]
        assert transport.stats.sent == 3
    finally:
        transport.close()


def test_send_while_output_is_unbound_is_refused_and_counted(jack: object) -> None:
    rec = Recorder()
    transport = MidiTransport(rec, output="nothing-matches-this*", api="jack", watch_interval=0.1)
    transport.start()
    try:
        assert not transport.online
        assert not transport.send(Event("cc", channel=0, number=1, value=1))
        assert transport.stats.send_dropped == 1
    finally:
        transport.close()


def test_a_raising_sink_is_counted_and_input_goes_on(controller: Controller) -> None:
    seen: list[Event] = []

    def sink(ev: Event) -> None:
        seen.append(ev)
        raise RuntimeError("mapping bug")

    transport = MidiTransport(sink, input=f"re:^{controller.client}:", api="jack")
    transport.start()
    try:
        controller.send(b"\xb0\x07\x01")
        controller.send(b"\xb0\x07\x02")
        wait_until(lambda: len(seen) == 2, "both events despite the raising sink")
        assert transport.stats.sink_errors == 2
    finally:
        transport.close()


def test_own_ports_are_never_bound(controller: Controller) -> None:
    rec = Recorder()
    # "*" matches every port, including the transport's own output port.
    transport = MidiTransport(rec, input="*", output="*", api="jack", client_name="selftest")
    transport.start()
    try:
        assert transport.input_port is not None
        assert not transport.input_port.startswith("selftest")
        assert transport.output_port is None or not transport.output_port.startswith("selftest")
    finally:
        transport.close()


def test_list_ports_shows_the_controller(controller: Controller) -> None:
    ports = list_ports("jack")
    assert ports.api == "jack"
    assert f"{controller.client}:faders" in ports.inputs


def test_port_patterns() -> None:
    glob = port_matcher("nanoKONTROL2*")
    assert glob("nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0")
    assert not glob("a2j:nanoKONTROL2")
    regex = port_matcher("re:nanoKONTROL2.*MIDI 1")
    assert regex("a2j:nanoKONTROL2 [20] (capture): nanoKONTROL2 MIDI 1")
    with pytest.raises(MidiTransportError, match="bad port pattern"):
        port_matcher("re:(")
    a2j = "a2j:nanoKONTROL2 [20] (capture): nanoKONTROL2 MIDI 1"
    assert not port_matcher(a2j)(a2j)  # "[20]" is a glob character class
    assert port_matcher(exact_pattern(a2j))(a2j)
    assert not port_matcher(exact_pattern(a2j))(a2j + " 2")


def test_backend_names() -> None:
    assert resolve_api("JACK") == rtmidi.API_UNIX_JACK
    with pytest.raises(MidiTransportError, match="unknown MIDI backend 'beos'"):
        resolve_api("beos")
    with pytest.raises(MidiTransportError, match="needs an input or an output"):
        MidiTransport(lambda ev: None)
