"""Event: validated on construction, frozen, hashable, MIDI bytes out."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from surfaced.events import KINDS, Event


def test_cc_event_fields_and_bytes() -> None:
    ev = Event("cc", "midi:box", channel=3, number=7, value=100)
    assert (ev.channel, ev.number, ev.value) == (3, 7, 100)
    assert ev.to_bytes() == b"\xb3\x07\x64"
    assert ev.is_midi


@pytest.mark.parametrize(
    ("event", "raw"),
    [
        (Event("note_on", channel=0, number=60, value=0), b"\x90\x3c\x00"),
        (Event("note_off", channel=15, number=127, value=64), b"\x8f\x7f\x40"),
        (Event("poly_pressure", channel=1, number=2, value=3), b"\xa1\x02\x03"),
        (Event("program", channel=2, value=5), b"\xc2\x05"),
        (Event("channel_pressure", channel=9, value=127), b"\xd9\x7f"),
        (Event("pitchbend", channel=0, value=0), b"\xe0\x00\x00"),
        (Event("pitchbend", channel=0, value=8192), b"\xe0\x00\x40"),
        (Event("pitchbend", channel=0, value=16383), b"\xe0\x7f\x7f"),
        (Event("song_position", value=300), b"\xf2\x2c\x02"),
        (Event("song_select", value=3), b"\xf3\x03"),
        (Event("mtc_quarter", value=0x71), b"\xf1\x71"),
        (Event("tune_request"), b"\xf6"),
        (Event("clock"), b"\xf8"),
        (Event("reset"), b"\xff"),
        (Event("sysex", data=b"\xf0\x7e\x00\xf7"), b"\xf0\x7e\x00\xf7"),
    ],
)
def test_to_bytes(event: Event, raw: bytes) -> None:
    assert event.to_bytes() == raw


def test_time_is_left_out_of_equality_and_hash() -> None:
    a = Event("cc", "midi:x", 0, 1, 2, time=1.0)
    b = Event("cc", "midi:x", 0, 1, 2, time=99.0)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_frozen() -> None:
    ev = Event("cc", channel=0, number=1, value=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.value = 3  # type: ignore[misc]


def test_replace_validates_again() -> None:
    ev = Event("cc", channel=0, number=1, value=2)
    assert dataclasses.replace(ev, value=127).value == 127
    with pytest.raises(ValueError, match=r"value 128 out of range 0\.\.127"):
        dataclasses.replace(ev, value=128)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kind": "cc", "channel": 16, "number": 1, "value": 1}, ValueError, "channel 16"),
        ({"kind": "cc", "channel": 0, "number": -1, "value": 1}, ValueError, "number -1"),
        ({"kind": "pitchbend", "channel": 0, "value": 16384}, ValueError, "0..16383"),
        ({"kind": "cc", "channel": 0, "number": 1, "value": 1.0}, TypeError, "value must be int"),
        ({"kind": "cc", "channel": True, "number": 1, "value": 1}, TypeError, "channel must be"),
        ({"kind": "cc", "channel": 0, "number": 1}, TypeError, "value must be int"),
        ({"kind": "pitchbend", "channel": 0, "number": 1, "value": 1}, TypeError, "no number"),
        ({"kind": "clock", "channel": 0}, TypeError, "no channel"),
        ({"kind": "nope"}, ValueError, "unknown event kind 'nope'"),
        ({"kind": 3}, TypeError, "kind must be str"),
        ({"kind": "sysex", "data": b"\x01\x02"}, ValueError, "start with F0"),
        ({"kind": "sysex", "data": b"\xf0\x80\xf7"}, ValueError, "byte 1 is 0x80"),
        ({"kind": "sysex", "data": bytearray(b"\xf0\xf7")}, TypeError, "must be bytes"),
        ({"kind": "cc", "channel": 0, "number": 1, "value": 1, "data": b"x"}, TypeError, "data"),
        ({"kind": "osc", "address": "ch/1"}, ValueError, "start with '/'"),
        ({"kind": "osc", "address": "/a", "args": [1]}, TypeError, "args must be a tuple"),
        ({"kind": "osc", "address": "/a", "args": ({1: 2},)}, TypeError, "unsupported argument"),
        ({"kind": "cc", "channel": 0, "number": 1, "value": 1, "address": "/a"}, TypeError, "OSC"),
        (
            {"kind": "cc", "channel": 0, "number": 1, "value": 1, "source": None},
            TypeError,
            "source",
        ),
    ],
)
def test_invalid_events_are_refused(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Event(**kwargs)  # type: ignore[arg-type]


def test_osc_event() -> None:
    ev = Event("osc", "osc:udp:127.0.0.1:1", address="/ch/3/fader", args=(-6.0, (1, "x")))
    assert not ev.is_midi
    assert hash(ev) == hash(
        Event("osc", "osc:udp:127.0.0.1:1", address="/ch/3/fader", args=(-6.0, (1, "x")))
    )
    with pytest.raises(ValueError, match="no MIDI bytes"):
        ev.to_bytes()


def test_osc_arrays_nested_too_deep_are_refused() -> None:
    args: tuple[object, ...] = (1,)
    for _ in range(20):
        args = (args,)
    with pytest.raises(ValueError, match="nested deeper"):
        Event("osc", address="/a", args=args)  # type: ignore[arg-type]


def test_every_midi_kind_has_a_status_byte() -> None:
    assert {k for k, spec in KINDS.items() if spec.status is None} == {"osc"}


def test_hand_written_init_matches_the_fields() -> None:
    params = list(inspect.signature(Event).parameters.values())
    assert [p.name for p in params] == [f.name for f in dataclasses.fields(Event)]
    for param, fld in zip(params[1:], dataclasses.fields(Event)[1:], strict=True):
        assert param.default == fld.default, fld.name


def test_pickles() -> None:
    ev = Event("sysex", "midi:x", data=b"\xf0\x01\xf7", time=3.0)
    assert pickle.loads(pickle.dumps(ev)) == ev
