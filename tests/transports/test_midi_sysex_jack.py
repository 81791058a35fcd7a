"""A lone or cut-off SysEx from a real JACK MIDI port must not make a surface deaf.

MIDI 1.0: any status byte but real-time ends a SysEx (the partial one is
dropped and counted); a partial SysEx also ends when no byte of it has come
for SYSEX_TIMEOUT_S; an unplug and replug starts a clean parser. The
controller plays on a virtual port of a real JACK server (the `jack` fixture);
waits are bounded and poll for the outcome.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from surfaced.events import Event
from surfaced.transports.midi_codec import SYSEX_TIMEOUT_S
from transports.test_midi import Controller, Recorder, make_transport, wait_until

pytestmark = pytest.mark.jack


@pytest.fixture
def controller(jack: object) -> Iterator[Controller]:
    ctl = Controller(f"sx{uuid.uuid4().hex[:6]}")
    ctl.plug_in()
    yield ctl
    ctl.close()


@pytest.mark.parametrize("delivery", ["auto", "callback"])
def test_a_status_byte_ends_a_lone_sysex_start(controller: Controller, delivery: str) -> None:
    rec = Recorder()
    transport = make_transport(controller, rec, delivery=delivery)
    transport.start()
    wait_until(lambda: transport.sysex_guard, "the SysEx guard wired")
    try:
        controller.send(b"\xf0")  # a lone SysEx start, in a JACK event of its own
        controller.send(b"\x90\x3c\x7f")  # must be heard now, not swallowed
        controller.send(b"\xb0\x07\x64")
        events = rec.wait_events(2)
        assert events[:2] == [Event("note_on", "midi:box", 0, 60, 127),
                              Event("cc", "midi:box", 0, 7, 100)]
        wait_until(lambda: transport.stats.parser.sysex_interrupted == 1,
                   "the partial SysEx counted")
        controller.send(b"\xf0\x7e\x00\x06\x01\xf7")  # a whole SysEx still arrives whole
        wait_until(lambda: len(rec.events) >= 3, "the SysEx after it")
        assert rec.events[2] == Event("sysex", "midi:box", data=b"\xf0\x7e\x00\x06\x01\xf7")
        controller.send(b"\xf7")  # a late F7 applies nothing that came before
        controller.send(b"\xb0\x07\x01")
        wait_until(lambda: len(rec.events) >= 4, "the CC after the stray F7")
        assert rec.events[3:] == [Event("cc", "midi:box", 0, 7, 1)]
    finally:
        transport.close()


def test_a_partial_sysex_times_out(controller: Controller) -> None:
    rec = Recorder()
    transport = make_transport(controller, rec)
    transport.start()
    wait_until(lambda: transport.sysex_guard, "the SysEx guard wired")
    try:
        controller.send(b"\xf0\x00\x20\x32")  # and then nothing: the device hung mid-message
        deadline = time.monotonic() + SYSEX_TIMEOUT_S + 5.0
        while transport.stats.parser.sysex_timeout == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert transport.stats.parser.sysex_timeout == 1
        assert "SysEx" in (transport.stats.last_error or "")
        controller.send(b"\x01\x02\xf7")  # the rest, much later: stray data, never applied
        controller.send(b"\x90\x3c\x7f")
        wait_until(lambda: len(rec.events) >= 1, "the note after it")
        assert rec.events == [Event("note_on", "midi:box", 0, 60, 127)]
    finally:
        transport.close()


def test_a_replug_starts_a_clean_parser(controller: Controller) -> None:
    rec = Recorder()
    transport = make_transport(controller, rec)
    transport.start()
    wait_until(lambda: transport.sysex_guard, "the SysEx guard wired")
    try:
        controller.send(b"\xf0\x00\x20")  # unplugged in the middle of a SysEx
        time.sleep(0.1)
        controller.unplug()
        wait_until(lambda: not transport.online, "the unplug noticed")
        controller.plug_in()
        wait_until(lambda: transport.online, "the replug noticed")
        controller.send(b"\x90\x3c\x7f")
        controller.send(b"\xf0\x01\xf7")
        events = rec.wait_events(2)
        assert events[:2] == [Event("note_on", "midi:box", 0, 60, 127),
                              Event("sysex", "midi:box", data=b"\xf0\x01\xf7")]
    finally:
        transport.close()
