"""OSC packet parsing: good packets become Events, anything else one OscParseError."""

from __future__ import annotations

import contextlib
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.events import Event
from surfaced.transports.osc_codec import (
    OscEncodeError,
    OscParseError,
    encode_bundle,
    encode_event,
    encode_message,
    parse_message,
    parse_packet,
)

IMMEDIATE = b"\x00\x00\x00\x00\x00\x00\x00\x01"


def bundle(*elements: bytes, stamp: bytes = IMMEDIATE) -> bytes:
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    return b"#bundle\x00" + stamp + body


def test_fader_message() -> None:
    raw = b"/ch/3/fader\x00,f\x00\x00\xc0\xc0\x00\x00"
    assert parse_packet(raw, source="osc:udp:127.0.0.1:1") == [
        Event("osc", "osc:udp:127.0.0.1:1", address="/ch/3/fader", args=(-6.0,))
    ]


def test_all_argument_types() -> None:
    raw = encode_message("/all", [1, 2**40, 0.5, "s", b"\x00\x01", True, False, None, (1, (2.5,))])
    (ev,) = parse_packet(raw)
    assert ev.args == (1, 2**40, 0.5, "s", b"\x00\x01", True, False, None, (1, (2.5,)))


def test_double_char_midi_and_impulse_tags() -> None:
    raw = (
        b"/x\x00\x00,dcmI\x00\x00\x00"
        + struct.pack(">d", 1.25)
        + struct.pack(">i", ord("A"))
        + b"\x00\x90\x3c\x7f"
    )
    (ev,) = parse_packet(raw)
    assert ev.args == (1.25, "A", (0, 0x90, 0x3C, 0x7F), None)


def test_message_without_type_tags_is_accepted() -> None:
    assert parse_packet(b"/ping\x00\x00\x00")[0].args == ()


def test_encode_with_forced_types() -> None:
    raw = encode_message("/d", [1.5, 2], types="di")
    assert raw.startswith(b"/d\x00\x00,di\x00")
    assert parse_message(raw).args == (1.5, 2)
    with pytest.raises(OscEncodeError, match="2 type tags for 1 arguments"):
        encode_message("/d", [1.5], types="dd")
    with pytest.raises(OscEncodeError, match="cannot encode"):
        encode_message("/big", [2**70])


def test_bundle_messages_in_order_with_timetag() -> None:
    raw = bundle(encode_message("/a", [1]), bundle(encode_message("/b", [2])))
    events = parse_packet(raw)
    assert [(e.address, e.args, e.timetag) for e in events] == [
        ("/a", (1,), None),
        ("/b", (2,), None),
    ]


def test_future_timetag_is_reported_and_not_waited_for() -> None:
    future = time.time() + 3600
    raw = encode_bundle([encode_message("/later", [1])], future)
    started = time.monotonic()
    (ev,) = parse_packet(raw)
    assert time.monotonic() - started < 1.0  # an hour away, returned at once
    assert ev.timetag == pytest.approx(future, abs=1e-3)
    assert encode_event(ev) == raw


def test_3000_nested_bundles_are_refused() -> None:
    packet = encode_message("/deep")
    for _ in range(3000):
        packet = bundle(packet)
    with pytest.raises(OscParseError, match="nested deeper than 8"):
        parse_packet(packet, max_size=len(packet))


def test_nesting_up_to_the_limit_is_fine() -> None:
    packet = encode_message("/deep")
    for _ in range(8):
        packet = bundle(packet)
    assert parse_packet(packet)[0].address == "/deep"
    with pytest.raises(OscParseError, match="nested deeper than 7"):
        parse_packet(packet, max_depth=7)


def test_oversize_packet_is_refused_before_parsing() -> None:
    with pytest.raises(OscParseError, match="exceeds the 64-byte limit"):
        parse_packet(encode_message("/x", ["y" * 100]), max_size=64)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "neither '/' nor '#bundle'"),
        (b"junk", "neither '/' nor '#bundle'"),
        # python-osc lets UnicodeDecodeError out of this one
        (b"/a\x00\x00,s\x00\x00\xff\xfe\x00\x00", "byte 8.*utf-8"),
        (b"/a\x00\x00,x\x00\x00", "unsupported type tag 'x'"),
        (b"/a\x00\x00,i\x00\x00\x00\x01", "argument 'i' at byte 8"),
        (b"/a\x00\x00,b\x00\x00\xff\xff\xff\xf8abcd", "blob size -8"),
        (b"/a\x00\x00,[[\x00\x00", "'\\[' without '\\]'"),
        (b"/a\x00\x00,]\x00\x00", "'\\]' without '\\['"),
        (b"/a\x00\x00,[[[[[[[[[]]]]]]]]]\x00\x00\x00", "arrays nested deeper"),
        (b"/a\x00\x00i\x00\x00\x00", "do not start with ','"),
        (b"/abc", "malformed OSC message at byte 0"),
        (b"#bundle\x00\x00", "shorter than 16"),
        # python-osc's OscBundle loops forever on a negative element size
        (bundle() + struct.pack(">i", -4) + b"/a\x00\x00", "claims -4 bytes"),
        (bundle() + struct.pack(">i", 400) + b"/a\x00\x00", "claims 400 bytes; 4 remain"),
        (bundle() + b"\x00\x00", "size at byte 16 is cut short"),
        (bundle(b"xyz\x00"), "neither a message nor a bundle"),
        (bundle(encode_message("/ok"), b"/a\x00\x00,x\x00\x00"), "unsupported type tag"),
    ],
)
def test_malformed_packets_raise_only_osc_parse_error(raw: bytes, match: str) -> None:
    with pytest.raises(OscParseError, match=match):
        parse_packet(raw)


def test_encode_event_refuses_midi() -> None:
    with pytest.raises(OscEncodeError, match="cc event has no OSC encoding"):
        encode_event(Event("cc", channel=0, number=1, value=2))


# -- properties --------------------------------------------------------------

osc_args = st.recursive(
    st.one_of(
        st.integers(-(2**31), 2**31 - 1),
        st.floats(width=32, allow_nan=False),
        st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=20),
        st.binary(min_size=1, max_size=20),
        st.booleans(),
        st.none(),
    ),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=10,
)
addresses = st.lists(
    st.text(alphabet="abcxyz0123456789_", min_size=1, max_size=8), min_size=1, max_size=4
).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=300, deadline=None)
@given(addresses, st.lists(osc_args, max_size=6))
def test_any_message_round_trips(address: str, args: list[object]) -> None:
    raw = encode_message(address, args)  # type: ignore[arg-type]
    (ev,) = parse_packet(raw)
    assert ev.address == address
    assert ev.args == tuple(args)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda b: b"/" + b),
        st.binary(max_size=200).map(lambda b: b"#bundle\x00" + b),
        st.binary(max_size=200).map(lambda b: b"/a\x00\x00," + b),
    )
)
def test_any_datagram_yields_events_or_one_parse_error(data: bytes) -> None:
    try:
        events = parse_packet(data)
    except OscParseError:
        return
    assert all(ev.kind == "osc" and ev.address.startswith("/") for ev in events)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(addresses, st.lists(osc_args, max_size=3)), min_size=1, max_size=5),
    st.integers(0, 4),
)
def test_mutated_bundles_never_escape(messages: list[tuple[str, list[object]]], flip: int) -> None:
    raw = bytearray(encode_bundle([encode_message(a, x) for a, x in messages]))  # type: ignore[arg-type]
    # Corrupt one byte of the framing (sizes live at 16, 20+...).
    raw[min(16 + flip, len(raw) - 1)] ^= 0xFF
    with contextlib.suppress(OscParseError):
        parse_packet(bytes(raw))


def test_encoder_writes_osc_1_0_bytes_for_every_basic_type() -> None:
    from surfaced.transports.osc_codec import encode_message as enc

    assert enc("/a", [b""]) == b"/a\x00\x00,b\x00\x00\x00\x00\x00\x00"  # an empty blob is size 0
    assert enc("/a", [-(2**31)]) == b"/a\x00\x00,i\x00\x00\x80\x00\x00\x00"  # still an int32
    assert enc("/a", [2**31])[4:8] == b",h\x00\x00"  # only past int32 does it widen
    assert enc("/a", [True], types="i") == b"/a\x00\x00,i\x00\x00\x00\x00\x00\x01"
    assert enc("/a", [1], types="f")[8:] == b"\x3f\x80\x00\x00"
    assert enc("/a", [(1, "x")]) == b"/a\x00\x00,[is]\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x00"
    assert enc("/a", [None, False])[4:8] == b",NF\x00"
    for bad, types in [(["a\x00b"], None), ([object()], None), (["x"], "i")]:
        with pytest.raises(OscEncodeError):
            enc("/a", bad, types)  # type: ignore[arg-type]
    with pytest.raises(OscEncodeError):
        enc("no-slash", [])
