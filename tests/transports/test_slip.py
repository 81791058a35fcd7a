"""SLIP framing: frames survive any escaping; garbage, bad escapes and oversize are dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surfaced.transports.slip import SlipDecoder, SlipError, encode, unescape


def test_encode_double_end_and_escapes() -> None:
    assert encode(b"a") == b"\xc0a\xc0"
    assert encode(b"\xc0") == b"\xc0\xdb\xdc\xc0"
    assert encode(b"\xdb") == b"\xc0\xdb\xdd\xc0"
    assert encode(b"\xdb\xdc") == b"\xc0\xdb\xdd\xdc\xc0"


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        (b"abc", b"abc"),
        (b"\xdb\xdc", b"\xc0"),
        (b"\xdb\xdd", b"\xdb"),
        (b"\xdb\xdd\xdc", b"\xdb\xdc"),  # an escaped ESC followed by a plain 0xDC
        (b"\xdb\xdd\xdb\xdc", b"\xdb\xc0"),
    ],
)
def test_unescape(body: bytes, payload: bytes) -> None:
    assert unescape(body) == payload


@pytest.mark.parametrize("body", [b"\xdb", b"a\xdbb", b"\xdb\xdb\xdc", b"\xdb\xdcx\xdb"])
def test_unescape_rejects_bad_escapes(body: bytes) -> None:
    with pytest.raises(SlipError, match="bad SLIP escape at frame offset"):
        unescape(body)


def test_frames_byte_by_byte() -> None:
    dec = SlipDecoder()
    out = []
    for b in encode(b"one") + encode(b"t\xc0o"):
        out += dec.feed(bytes([b]))
    assert out == [b"one", b"t\xc0o"]
    assert dec.stats.frames == 2
    assert dec.stats.errors == 0


def test_partial_frame_waits_for_its_end() -> None:
    dec = SlipDecoder()
    assert dec.feed(b"\xc0abc") == []
    assert dec.pending == 3
    assert dec.feed(b"d\xc0") == [b"abcd"]


def test_bad_escape_drops_that_frame_only() -> None:
    dec = SlipDecoder()
    assert dec.feed(b"\xc0a\xdbx\xc0" + encode(b"good")) == [b"good"]
    assert dec.stats.bad_escape == 1
    assert dec.stats.dropped_bytes == 3


def test_unsynced_decoder_drops_garbage_before_the_first_end() -> None:
    dec = SlipDecoder(synced=False)
    assert dec.feed(b"tail of an old frame" + encode(b"x")) == [b"x"]
    assert dec.stats.garbage == 1
    assert dec.stats.dropped_bytes == 20


def test_synced_decoder_accepts_single_end_framing() -> None:
    assert SlipDecoder().feed(b"abc\xc0def\xc0") == [b"abc", b"def"]


def test_oversize_frame_is_dropped_and_decoding_resyncs() -> None:
    dec = SlipDecoder(max_frame=8)
    assert dec.feed(encode(b"x" * 9) + encode(b"y" * 8)) == [b"y" * 8]
    assert dec.stats.oversize == 1
    # A flood without any END is cut off at twice the limit, not buffered.
    dec.feed(b"z" * 1000)
    assert dec.pending == 0
    assert dec.stats.oversize == 2
    assert dec.feed(encode(b"ok")) == [b"ok"]
    assert dec.stats.garbage == 0  # the flood was counted as oversize, not again as garbage


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=64), max_size=10))
def test_any_payloads_round_trip(payloads: list[bytes]) -> None:
    stream = b"".join(encode(p) for p in payloads)
    assert SlipDecoder().feed(stream) == payloads


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50), st.booleans())
def test_any_bytes_same_frames_whatever_the_chunking(data: bytes, chunk: int, synced: bool) -> None:
    whole = SlipDecoder(max_frame=32, synced=synced)
    pieces = SlipDecoder(max_frame=32, synced=synced)
    expected = whole.feed(data)
    got = [f for i in range(0, len(data), chunk) for f in pieces.feed(data[i : i + chunk])]
    assert got == expected
    assert whole.stats == pieces.stats
    assert all(0 < len(f) <= 32 for f in got)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100), st.binary(min_size=1, max_size=40))
def test_a_good_frame_after_any_garbage_arrives(junk: bytes, payload: bytes) -> None:
    dec = SlipDecoder(max_frame=64, synced=False)
    frames = dec.feed(junk + encode(payload))
    assert frames[-1] == payload

