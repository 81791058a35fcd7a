"""The shared SLIP/OSC vectors through the host's decoding path, and the host's
strict rules checked against the firmware's C core on random packets.

tests/vectors/slip_osc.json is also read by the firmware's C tests and the
Pico's Python: the same bytes must mean the same thing on both sides. The host
path is surfaced.transports.slip (framing), serial.box_packet_error (the box
protocol's strict OSC rules) and osc_codec.parse_packet (values), as
`SerialDecoder` strings them together, and then the whole transport on a pty.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from surfaced.events import Event
from surfaced.transports import slip
from surfaced.transports.osc_codec import (
    OscParseError,
    encode_message,
    parse_packet,
)
from surfaced.transports.serial import SerialDecoder, SerialTransport, box_packet_error

REPO = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO / "tests" / "vectors" / "slip_osc.json").read_text(encoding="utf-8"))
CASES = [pytest.param(case, id=case["name"]) for case in VECTORS]
ERROR_KINDS = {"size", "address", "typetags", "type", "truncated", "padding", "trailing", "blob"}
TYPE_OF = {int: "i", float: "f", str: "s", bytes: "b"}
WAIT = 10.0
BOX_RX_MAX = 96  # the firmware's largest frame (firmware/core/box.h)


def expected_args(osc: dict[str, Any]) -> tuple[Any, ...]:
    """A vector's arguments as the host decodes them (blobs are hex in the JSON)."""
    return tuple(bytes.fromhex(a) if t == "b" else a for t, a in zip(osc["types"], osc["args"],
                                                                      strict=True))


def counts(decoder: SerialDecoder) -> dict[str, int]:
    s = decoder.stats
    return {"garbage": s.garbage, "bad_escape": s.bad_escape, "overflow": s.overflow}


def test_the_vectors_cover_every_error_kind() -> None:
    kinds = {osc["error"] for case in VECTORS for osc in case["osc"] if "error" in osc}
    assert kinds == ERROR_KINDS
    assert {k for case in VECTORS for k, n in case["errors"].items() if n} == {
        "garbage", "bad_escape", "overflow"}


@pytest.mark.parametrize("case", CASES)
def test_vector_decoded_by_the_host(case: dict[str, Any]) -> None:
    """Frames, error counts, OSC error kinds, decoded messages and re-encoding, as specified."""
    stream = bytes.fromhex(case["frame_bytes_hex"])
    decoder = SerialDecoder("serial:vectors", max_frame=case["max_packet"])
    packets = decoder.frames(stream)
    assert [p.hex() for p in packets] == case["packets_hex"]
    assert counts(decoder) == case["errors"]
    for packet, osc in zip(packets, case["osc"], strict=True):
        assert box_packet_error(packet) == osc.get("error")
        events = decoder.parse(packet)
        if "error" in osc:
            assert events == []
            continue
        (event,) = events
        assert event.address == osc["address"]
        assert event.args == expected_args(osc)
        assert "".join(TYPE_OF[type(a)] for a in event.args) == osc["types"]
    assert decoder.stats.osc_errors == case["osc_errors"]
    if case["canonical"]:
        assert slip.encode(packets[0]) == stream
    for packet, osc in zip(packets, case["osc"], strict=True):
        if "error" in osc:
            continue
        reencoded = encode_message(osc["address"], expected_args(osc))
        assert (reencoded == packet) == osc["reencodes"]


@pytest.mark.parametrize("case", CASES)
def test_vector_same_result_however_the_bytes_arrive(case: dict[str, Any]) -> None:
    """Byte by byte, or split in two at any point: the same Events and the same counts."""
    stream = bytes.fromhex(case["frame_bytes_hex"])
    whole = SerialDecoder("s", max_frame=case["max_packet"])
    expected = whole.feed(stream)
    splits = [[stream[i : i + 1] for i in range(len(stream))]]
    splits += [[stream[:k], stream[k:]] for k in range(len(stream) + 1)]
    for chunks in splits:
        decoder = SerialDecoder("s", max_frame=case["max_packet"])
        assert [e for c in chunks for e in decoder.feed(c)] == expected
        assert decoder.stats == whole.stats


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize("case", CASES)
def test_vector_through_the_transport_on_a_pty(case: dict[str, Any],
                                               pty_pair: tuple[int, str]) -> None:
    """The vector's bytes written by a box on a real pty: the transport's sink gets exactly
    the vector's messages, and its stats the vector's counts."""
    master, path = pty_pair
    stream = bytes.fromhex(case["frame_bytes_hex"])
    got: list[Event] = []
    t = SerialTransport(got.append, port=path, hello=None, max_frame=case["max_packet"])
    t.start()
    try:
        os.write(master, stream)
        deadline = time.monotonic() + WAIT
        while t.stats.bytes_in < len(stream):
            assert time.monotonic() < deadline, "the transport did not read the stream"
            time.sleep(0.001)
    finally:
        t.close()
    messages = [(o["address"], expected_args(o)) for o in case["osc"] if "error" not in o]
    assert [(e.address, e.args) for e in got] == messages
    assert {k: getattr(t.stats, k) for k in case["errors"]} == case["errors"]
    assert t.stats.osc_errors == case["osc_errors"]
    assert t.stats.frames == len(case["packets_hex"])


# -- beyond the vectors: random packets --------------------------------------

NO_NUL = st.characters(blacklist_characters="\x00", max_codepoint=0x2FF)
ADDRESS = st.lists(st.text(NO_NUL, min_size=1, max_size=6), min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts))
ARG = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(width=32, allow_nan=False),
    st.text(NO_NUL, max_size=9),
    st.binary(max_size=9),
)


def osc_string(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def build_message(address: str, args: tuple[Any, ...]) -> bytes:
    """OSC 1.0 by hand, independent of the code under test (and of python-osc, whose
    builder refuses empty blobs)."""
    out = osc_string(address.encode()) + osc_string(
        b"," + "".join(TYPE_OF[type(a)] for a in args).encode())
    for a in args:
        if isinstance(a, int):
            out += struct.pack(">i", a)
        elif isinstance(a, float):
            out += struct.pack(">f", a)
        elif isinstance(a, str):
            out += osc_string(a.encode())
        else:
            out += struct.pack(">I", len(a)) + a + b"\0" * (-len(a) % 4)
    return out


MESSAGE = st.builds(build_message, ADDRESS, st.lists(ARG, max_size=4).map(tuple))


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A well-formed message, then maybe broken the way real lines and senders break them."""
    packet = bytearray(draw(MESSAGE))
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["byte", "cut", "append", "tag"]))
        if how == "byte" and packet:
            packet[draw(st.integers(0, len(packet) - 1))] = draw(
                st.sampled_from([0, 0x2C, 0x2F, 0x23, 0x69, 0x73, 0x62, 0x64, 0xFF, 0x41]))
        elif how == "cut":
            del packet[draw(st.integers(0, len(packet))):]
        elif how == "append":
            packet += draw(st.binary(min_size=1, max_size=8))
        elif how == "tag" and b"," in packet:
            at = packet.index(b",") + 1
            packet[at:at] = draw(st.sampled_from([b"i", b"d", b"s", b"b", b"T"]))
    return bytes(packet)


PACKET = st.one_of(MESSAGE, mangled(), st.binary(min_size=1, max_size=40))


@settings(max_examples=1000, deadline=None)
@given(ADDRESS, st.lists(ARG, max_size=4).map(tuple))
def test_well_formed_messages_pass_and_decode(address: str, args: tuple[Any, ...]) -> None:
    packet = build_message(address, args)
    assert box_packet_error(packet) is None
    (event,) = SerialDecoder("s").parse(packet)
    assert (event.address, event.args) == (address, args)


@settings(max_examples=1500, deadline=None)
@given(PACKET)
@example(b"/a\x00\x00,s\x00\x00\xff\xfe\x00\x00")  # valid structure, not UTF-8
def test_strict_rules_and_osc_codec_agree(packet: bytes) -> None:
    """What the strict rules accept, osc_codec parses into one argument per type tag,
    unless a string is not UTF-8 (Events carry str); nothing ever raises."""
    kind = box_packet_error(packet)
    assert kind is None or kind in ERROR_KINDS | {"bundle"}
    if kind is not None:
        return
    try:
        (event,) = parse_packet(packet)
    except OscParseError as exc:
        assert "utf-8" in str(exc).lower() or "decode" in str(exc).lower(), exc
        return
    tags_at = (packet.index(b"\0") & ~3) + 4
    tags = packet[tags_at + 1 : packet.index(b"\0", tags_at)] if tags_at < len(packet) else b""
    assert len(event.args) == len(tags)


class FirmwareJudge:
    """The firmware's C core (in the virtual box) saying what it makes of one packet."""

    def __init__(self, exe: Path) -> None:
        master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.proc = subprocess.Popen([str(exe), "--stdio", "--timeout-ms", "60000"],
                                     stdin=master, stdout=master, stderr=subprocess.PIPE)
        os.close(master)
        assert self.proc.stderr is not None
        self.log = self.proc.stderr.fileno()
        self.decoder = slip.SlipDecoder(synced=False)
        self.token = 1_000_000
        self.pending = b""

    def kind(self, packet: bytes) -> str | None:
        """The error kind the box logged for `packet` (bad_packet KIND), or None."""
        self.token += 1
        ping = encode_message("/ping", [self.token])
        os.write(self.slave, slip.encode(packet) + slip.encode(ping))
        deadline = time.monotonic() + WAIT
        pong = encode_message("/pong", [self.token])
        while True:  # the answer to our ping: everything before it has been handled
            left = deadline - time.monotonic()
            assert left > 0, "no /pong from the virtual box"
            if select.select([self.slave], [], [], left)[0] and pong in self.decoder.feed(
                    os.read(self.slave, 4096)):
                break
        # The box logged (and flushed) any complaint before it answered the ping.
        while select.select([self.log], [], [], 0)[0]:
            self.pending += os.read(self.log, 4096)
        lines, _, self.pending = self.pending.rpartition(b"\n")
        bad = [ln.split()[1].decode() for ln in lines.split(b"\n") if ln.startswith(b"bad_packet")]
        assert len(bad) <= 1, bad
        return bad[0] if bad else None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=WAIT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        os.close(self.slave)


def test_host_and_firmware_agree_on_random_packets(virtual_box_exe: Path) -> None:
    """The same bytes are the same message, or the same kind of error, on both sides."""
    judge = FirmwareJudge(virtual_box_exe)
    seen: set[str | None] = set()
    try:
        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(PACKET.filter(lambda p: 0 < len(p) <= BOX_RX_MAX))
        def agree(packet: bytes) -> None:
            kind = box_packet_error(packet)
            assert kind == judge.kind(packet), packet.hex()
            seen.add(kind)

        agree()
    finally:
        judge.close()
    assert None in seen and len(seen) >= 6, seen  # both sides were really put to the test
