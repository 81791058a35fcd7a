"""The byte parser's SysEx rules: a status byte ends a SysEx; so does silence (expire)."""

from __future__ import annotations

from surfaced.events import Event
from surfaced.transports.midi_codec import SYSEX_TIMEOUT_S, MidiError, MidiParseError, MidiParser


def test_a_partial_sysex_expires_after_the_timeout_and_is_counted() -> None:
    seen: list[MidiParseError] = []
    p = MidiParser("box", on_error=seen.append)
    assert p.feed(b"\xf0\x00\x20", time=10.0) == []
    assert not p.expire(10.0 + SYSEX_TIMEOUT_S / 2)  # still within its time
    assert p.feed(b"\x32", time=10.5) == []  # a byte of it: the clock starts again
    assert not p.expire(10.5 + SYSEX_TIMEOUT_S * 0.99)
    assert p.expire(10.5 + SYSEX_TIMEOUT_S)
    assert p.stats.sysex_timeout == 1 and not p.pending
    assert [e.reason for e in seen] == [MidiError.SYSEX_TIMEOUT]
    assert "got no F7 within 1 s" in str(seen[0])
    # what comes later is read on its own: its data bytes are stray, the note is heard
    assert p.feed(b"\x01\xf7\x90\x3c\x7f", time=20.0) == [Event("note_on", "box", 0, 60, 127,
                                                               time=20.0)]
    assert p.stats.stray_data == 1 and p.stats.stray_eox == 1
    assert not p.expire(100.0)  # nothing pending: nothing to expire


def test_a_status_byte_ends_a_sysex_and_a_real_time_byte_does_not() -> None:
    p = MidiParser("box")
    got = p.feed(b"\xf0\x01\xf8\x02\x90\x3c\x7f\xf0\x03\xf7")
    assert got == [Event("clock", "box"), Event("note_on", "box", 0, 60, 127),
                   Event("sysex", "box", data=b"\xf0\x03\xf7")]
    assert p.stats.sysex_interrupted == 1
