"""MIDI byte-stream decoding, byte by byte: what a controller sends becomes the right Events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.events import Event
from surfaced.transports.midi_codec import (
    MidiError,
    MidiParseError,
    MidiParser,
    data_length,
    decode_message,
    decode_stream,
    encode,
    join14,
    split14,
)


def feed(data: bytes, max_sysex: int = 65536) -> tuple[list[Event], MidiParser]:
    parser = MidiParser("midi:t", max_sysex=max_sysex)
    return parser.feed(data), parser


def cc(number: int, value: int, channel: int = 0) -> Event:
    return Event("cc", "midi:t", channel, number, value)


def test_one_cc() -> None:
    events, parser = feed(b"\xb0\x07\x64")
    assert events == [cc(7, 100)]
    assert parser.stats.errors == 0
    assert parser.stats.events == 1


def test_running_status() -> None:
    events, _ = feed(b"\xb2\x07\x64\x08\x10\x09\x7f")
    assert events == [cc(7, 100, 2), cc(8, 16, 2), cc(9, 127, 2)]


def test_running_status_spans_chunks_and_split_messages() -> None:
    parser = MidiParser("midi:t")
    assert parser.feed(b"\xb0\x07") == []
    assert parser.pending
    assert parser.feed(b"\x64\x08") == [cc(7, 100)]
    assert parser.feed(b"\x10") == [cc(8, 16)]


def test_running_status_with_two_byte_messages() -> None:
    events, _ = feed(b"\xc1\x01\x02\x03")
    assert [e.value for e in events] == [1, 2, 3]
    assert {e.kind for e in events} == {"program"}


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\xe0\x00\x00", 0),
        (b"\xe0\x00\x40", 8192),
        (b"\xe0\x7f\x3f", 8191),
        (b"\xe0\x01\x40", 8193),
        (b"\xe0\x7f\x7f", 16383),
        (b"\xe0\x7f\x00", 127),
        (b"\xe0\x00\x01", 128),
    ],
)
def test_pitch_bend_14_bit_values(raw: bytes, value: int) -> None:
    (ev,), _ = feed(raw)
    assert ev == Event("pitchbend", "midi:t", 0, None, value)
    assert ev.to_bytes() == raw


@pytest.mark.parametrize("value", [0, 1, 127, 128, 8191, 8192, 16256, 16383])
def test_join14_split14_round_trip(value: int) -> None:
    assert join14(*split14(value)) == value


def test_truncated_pitch_bend_is_a_counted_error_not_an_exception() -> None:
    events, errors = decode_stream(b"\xe0\x40")
    assert events == []
    assert [e.reason for e in errors] == [MidiError.TRUNCATED]
    with pytest.raises(MidiParseError, match="expected one complete message"):
        decode_message(b"\xe0\x40")


def test_truncated_message_interrupted_by_a_new_status() -> None:
    events, parser = feed(b"\xe0\x40\xb0\x07\x64")
    assert events == [cc(7, 100)]
    assert parser.stats.truncated == 1
    assert parser.last_error is not None
    assert parser.last_error.offset == 2
    assert "0xB0 at stream offset 2" in str(parser.last_error)


def test_sysex_with_realtime_inside_delivers_both() -> None:
    events, parser = feed(b"\xf0\x00\x20\xf8\x6b\xfe\x7f\xf7")
    assert events == [
        Event("clock", "midi:t"),
        Event("active_sensing", "midi:t"),
        Event("sysex", "midi:t", data=b"\xf0\x00\x20\x6b\x7f\xf7"),
    ]
    assert parser.stats.errors == 0


def test_realtime_between_data_bytes_keeps_the_message_and_running_status() -> None:
    events, _ = feed(b"\x90\x3c\xf8\x7f\x3d\xfa\x00")
    assert events == [
        Event("clock", "midi:t"),
        Event("note_on", "midi:t", 0, 60, 127),
        Event("start", "midi:t"),
        Event("note_on", "midi:t", 0, 61, 0),
    ]


def test_sysex_split_over_chunks() -> None:
    parser = MidiParser("midi:t")
    assert parser.feed(b"\xf0\x00\x00") == []
    assert parser.feed(b"\x66\x14") == []
    assert parser.feed(b"\x12\xf7") == [
        Event("sysex", "midi:t", data=b"\xf0\x00\x00\x66\x14\x12\xf7")
    ]


def test_sysex_cancels_running_status() -> None:
    events, parser = feed(b"\xb0\x07\x64\xf0\x01\xf7\x08\x10")
    assert [e.kind for e in events] == ["cc", "sysex"]
    assert parser.stats.stray_data == 2


def test_sysex_interrupted_by_a_status_byte_is_dropped() -> None:
    events, parser = feed(b"\xf0\x01\x02\x90\x3c\x7f")
    assert events == [Event("note_on", "midi:t", 0, 60, 127)]
    assert parser.stats.sysex_interrupted == 1


def test_sysex_over_the_cap_is_dropped_and_the_parser_recovers() -> None:
    events, parser = feed(b"\xf0" + b"\x01" * 100 + b"\xf7\xb0\x07\x64", max_sysex=16)
    assert events == [cc(7, 100)]
    assert parser.stats.sysex_overflow == 1
    events, parser = feed(b"\xf0" + b"\x01" * 14 + b"\xf7", max_sysex=16)
    assert len(events) == 1 and len(events[0].data) == 16


@pytest.mark.parametrize("status", [0xF4, 0xF5])
def test_undefined_system_common_resets_the_parser(status: int) -> None:
    events, parser = feed(bytes([0xB0, 0x07, status, 0x64, 0xB0, 0x07, 0x65]))
    assert events == [cc(7, 101)]
    assert parser.stats.undefined_status == 1
    assert parser.stats.truncated == 1  # the half CC before it
    assert parser.stats.stray_data == 1  # the 0x64 after it has no status any more


@pytest.mark.parametrize("status", [0xF9, 0xFD])
def test_undefined_realtime_is_dropped_without_disturbing(status: int) -> None:
    events, parser = feed(bytes([0xB0, 0x07, status, 0x64]))
    assert events == [cc(7, 100)]
    assert parser.stats.undefined_status == 1
    assert parser.stats.truncated == 0


def test_stray_data_bytes_are_dropped_and_counted() -> None:
    events, parser = feed(b"\x01\x02\x03\xb0\x07\x64")
    assert events == [cc(7, 100)]
    assert parser.stats.stray_data == 3
    assert parser.last_error is not None and parser.last_error.offset == 2


def test_stray_eox_is_counted() -> None:
    events, parser = feed(b"\xf7\xb0\x07\x64")
    assert events == [cc(7, 100)]
    assert parser.stats.stray_eox == 1


def test_system_common_messages() -> None:
    events, _ = feed(b"\xf1\x71\xf2\x2c\x02\xf3\x05\xf6")
    assert events == [
        Event("mtc_quarter", "midi:t", value=0x71),
        Event("song_position", "midi:t", value=300),
        Event("song_select", "midi:t", value=5),
        Event("tune_request", "midi:t"),
    ]


def test_system_common_is_not_repeated_by_running_status() -> None:
    _, parser = feed(b"\xf3\x05\x06")
    assert parser.stats.stray_data == 1


def test_on_error_hook_and_offsets_across_chunks() -> None:
    seen: list[MidiParseError] = []
    parser = MidiParser("midi:t", on_error=seen.append)
    parser.feed(b"\xb0\x07\x64")
    parser.feed(b"\xf7")
    assert [(e.reason, e.offset, e.byte) for e in seen] == [(MidiError.STRAY_EOX, 3, 0xF7)]


def test_reset_forgets_running_status() -> None:
    parser = MidiParser("midi:t")
    parser.feed(b"\xb0\x07\x64")
    parser.reset()
    assert parser.feed(b"\x08\x10") == []
    assert parser.stats.stray_data == 2


def test_rtmidi_style_int_lists_are_accepted() -> None:
    parser = MidiParser("midi:t")
    assert parser.feed([0xB0, 7, 100], 12.5) == [cc(7, 100)]
    assert parser.feed([0xB0, 7, 100], 12.5)[0].time == 12.5


@pytest.mark.parametrize(
    ("status", "length"),
    [
        (0x80, 2),
        (0xC5, 1),
        (0xDF, 1),
        (0xE0, 2),
        (0xF0, None),
        (0xF1, 1),
        (0xF2, 2),
        (0xF4, None),
        (0xF6, 0),
        (0xF7, None),
        (0xF8, 0),
        (0xF9, None),
        (0x10, None),
    ],
)
def test_data_length(status: int, length: int | None) -> None:
    assert data_length(status) == length


# -- properties --------------------------------------------------------------

midi_events = st.one_of(
    st.builds(
        lambda kind, ch, n, v: Event(kind, "midi:t", ch, n, v),
        st.sampled_from(["note_on", "note_off", "cc", "poly_pressure"]),
        st.integers(0, 15),
        st.integers(0, 127),
        st.integers(0, 127),
    ),
    st.builds(
        lambda ch, v: Event("pitchbend", "midi:t", ch, None, v),
        st.integers(0, 15),
        st.integers(0, 16383),
    ),
    st.builds(
        lambda k, ch, v: Event(k, "midi:t", ch, None, v),
        st.sampled_from(["program", "channel_pressure"]),
        st.integers(0, 15),
        st.integers(0, 127),
    ),
    st.builds(
        lambda body: Event("sysex", "midi:t", data=b"\xf0" + body + b"\xf7"),
        st.binary(max_size=40).map(lambda b: bytes(x & 0x7F for x in b)),
    ),
    st.sampled_from([Event(k, "midi:t") for k in ("clock", "start", "stop", "tune_request")]),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_any_bytes_yield_events_or_counted_errors(data: bytes, chunk: int) -> None:
    parser = MidiParser("midi:t", max_sysex=32)
    events = []
    for i in range(0, len(data), chunk):
        events += parser.feed(data[i : i + chunk])
    assert parser.stats.events == len(events)
    assert parser.stats.bytes == len(data)
    for ev in events:
        assert ev.is_midi
        if ev.kind == "sysex":
            assert len(ev.data) <= 32


@settings(max_examples=200, deadline=None)
@given(st.lists(midi_events, max_size=30))
def test_encode_decode_round_trip(events: list[Event]) -> None:
    raw = b"".join(encode(e) for e in events)
    decoded, errors = decode_stream(raw, "midi:t")
    assert errors == []
    assert decoded == events


@settings(max_examples=100, deadline=None)
@given(st.lists(midi_events, max_size=20), st.binary(max_size=50))
def test_chunking_does_not_change_the_result(events: list[Event], junk: bytes) -> None:
    raw = junk + b"".join(encode(e) for e in events)
    whole = MidiParser("midi:t")
    bytewise = MidiParser("midi:t")
    expected = whole.feed(raw)
    got = [ev for b in raw for ev in bytewise.feed(bytes([b]))]
    assert got == expected
    assert whole.stats == bytewise.stats
