"""The OSC server over real sockets on 127.0.0.1: UDP, TCP size-prefixed, TCP SLIP.

Junk of every kind goes in over a real socket, then a valid message; the valid
message must still arrive and the junk must show up in the counters.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surfaced.events import Event
from surfaced.transports import slip
from surfaced.transports.osc import (
    OscListener,
    OscListenerConfig,
    format_source,
    parse_source,
)
from surfaced.transports.osc_codec import encode_bundle, encode_message, parse_packet

T = TypeVar("T")
WAIT = 5.0  # upper bound for anything to arrive; tests never assert on timing
_ids = itertools.count()
# The module-scoped server is meant to be shared by every generated example.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


class LoopThread:
    """An asyncio loop on its own thread, so sync tests (and hypothesis) can drive it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


class Server:
    """One listener of each kind on ephemeral ports, all feeding one queue."""

    def __init__(self, runner: LoopThread) -> None:
        self.runner = runner
        self.events: queue.Queue[Event] = queue.Queue()
        self.listeners = {
            "udp": OscListener(OscListenerConfig("udp", port=0), self.events.put),
            "size": OscListener(OscListenerConfig("tcp", port=0, framing="size"), self.events.put),
            "slip": OscListener(OscListenerConfig("tcp", port=0, framing="slip"), self.events.put),
        }
        for listener in self.listeners.values():
            runner.run(listener.start())

    def port(self, name: str) -> int:
        return self.listeners[name].address[1]

    def wait_for(self, match: Callable[[Event], bool]) -> Event:
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                break
            if match(ev):
                return ev
        raise AssertionError(f"no matching OSC event within {WAIT} s")

    def close(self) -> None:
        for listener in self.listeners.values():
            self.runner.run(listener.close())


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    runner = LoopThread()
    srv = Server(runner)
    yield srv
    srv.close()
    runner.stop()


def sentinel() -> tuple[bytes, Callable[[Event], bool]]:
    """A unique valid message and a predicate that recognizes it."""
    n = next(_ids)

    def is_it(ev: Event) -> bool:
        return ev.address == "/sentinel" and ev.args == (n,)

    return encode_message("/sentinel", [n]), is_it


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    return sock


def tcp_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return sock


def size_frame(packet: bytes) -> bytes:
    return struct.pack(">i", len(packet)) + packet


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed early")
        data += chunk
    return data


# -- UDP ---------------------------------------------------------------------


def test_udp_message_arrives_with_its_source(server: Server) -> None:
    with udp_socket() as sock:
        sock.sendto(encode_message("/ch/3/fader", [-6.0]), ("127.0.0.1", server.port("udp")))
        ev = server.wait_for(lambda e: e.address == "/ch/3/fader")
        assert ev.args == (-6.0,)
        assert ev.source == format_source("udp", "127.0.0.1", sock.getsockname()[1])


def test_udp_reply_goes_back_to_the_sender(server: Server) -> None:
    listener = server.listeners["udp"]
    with udp_socket() as sock:
        sock.sendto(encode_message("/get", ["/ch/3/fader"]), ("127.0.0.1", server.port("udp")))
        ev = server.wait_for(lambda e: e.address == "/get")
        reply = encode_message("/ch/3/fader", [-6.0])
        assert server.runner.call(lambda: listener.reply(ev.source, reply))
        data, _ = sock.recvfrom(65536)
        assert parse_packet(data)[0].args == (-6.0,)


def test_future_timetag_bundle_is_delivered_immediately(server: Server) -> None:
    packet = encode_bundle([encode_message("/later", [1])], time.time() + 3600)
    with udp_socket() as sock:
        sock.sendto(packet, ("127.0.0.1", server.port("udp")))
        ev = server.wait_for(lambda e: e.address == "/later")
    assert ev.timetag is not None and ev.timetag > time.time() + 3000


def test_3000_nested_bundles_are_dropped_and_counted(server: Server) -> None:
    stats = server.listeners["udp"].stats
    packet = encode_message("/deep")
    for _ in range(3000):
        packet = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + size_frame(packet)
    dropped = stats.dropped
    valid, is_valid = sentinel()
    with udp_socket() as sock:
        sock.sendto(packet, ("127.0.0.1", server.port("udp")))
        sock.sendto(valid, ("127.0.0.1", server.port("udp")))
        server.wait_for(is_valid)
    assert stats.dropped == dropped + 1
    assert "nested deeper than 8" in (stats.last_error or "")


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"/" + b),
        st.binary(max_size=300).map(lambda b: b"#bundle\x00" + b),
    )
)
def test_udp_junk_never_stops_the_listener(server: Server, junk: bytes) -> None:
    stats = server.listeners["udp"].stats
    before = stats.received
    valid, is_valid = sentinel()
    with udp_socket() as sock:
        sock.sendto(junk, ("127.0.0.1", server.port("udp")))
        sock.sendto(valid, ("127.0.0.1", server.port("udp")))
        server.wait_for(is_valid)
    assert stats.received == before + 2


# -- TCP, OSC 1.0 size prefix -------------------------------------------------


def test_tcp_size_framed_messages_and_reply(server: Server) -> None:
    listener = server.listeners["size"]
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(size_frame(encode_message("/a", [1])) + size_frame(encode_message("/b", [2])))
        server.wait_for(lambda e: e.address == "/a")
        ev = server.wait_for(lambda e: e.address == "/b")
        assert ev.source.startswith("osc:tcp:127.0.0.1:")
        assert server.runner.call(lambda: listener.reply(ev.source, encode_message("/ok", [3])))
        (size,) = struct.unpack(">i", recv_exactly(sock, 4))
        assert parse_packet(recv_exactly(sock, size))[0].args == (3,)


def test_tcp_size_framed_junk_payload_keeps_the_connection(server: Server) -> None:
    stats = server.listeners["size"].stats
    dropped = stats.dropped
    valid, is_valid = sentinel()
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(size_frame(b"\xff\xfe junk") + size_frame(valid))
        server.wait_for(is_valid)
    assert stats.dropped == dropped + 1


def test_tcp_bad_size_prefix_closes_only_that_connection(server: Server) -> None:
    stats = server.listeners["size"].stats
    dropped = stats.dropped
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(struct.pack(">i", -5) + b"garbage")
        assert sock.recv(100) == b""  # closed by the server: no way to resync
    assert stats.dropped == dropped + 1
    valid, is_valid = sentinel()
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(size_frame(valid))
        server.wait_for(is_valid)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.binary(max_size=200))
def test_tcp_size_junk_stream_never_stops_the_listener(server: Server, junk: bytes) -> None:
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(junk)
    valid, is_valid = sentinel()
    with tcp_connect(server.port("size")) as sock:
        sock.sendall(size_frame(valid))
        server.wait_for(is_valid)


# -- TCP, OSC 1.1 SLIP ------------------------------------------------------


def test_tcp_slip_messages_and_reply(server: Server) -> None:
    listener = server.listeners["slip"]
    with tcp_connect(server.port("slip")) as sock:
        # A blob full of END and ESC bytes exercises the escaping both ways.
        sock.sendall(slip.encode(encode_message("/blob", [b"\xc0\xdb\xc0"])))
        ev = server.wait_for(lambda e: e.address == "/blob")
        assert ev.args == (b"\xc0\xdb\xc0",)
        assert server.runner.call(lambda: listener.reply(ev.source, encode_message("/ok", [4])))
        decoder = slip.SlipDecoder()
        frames: list[bytes] = []
        while not frames:
            frames = decoder.feed(sock.recv(4096))
        assert parse_packet(frames[0])[0].args == (4,)


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.binary(max_size=300))
def test_tcp_slip_junk_then_valid_on_the_same_connection(server: Server, junk: bytes) -> None:
    valid, is_valid = sentinel()
    with tcp_connect(server.port("slip")) as sock:
        sock.sendall(junk + slip.encode(valid))
        server.wait_for(is_valid)


def test_tcp_slip_junk_is_counted(server: Server) -> None:
    stats = server.listeners["slip"].stats
    dropped = stats.dropped
    valid, is_valid = sentinel()
    with tcp_connect(server.port("slip")) as sock:
        sock.sendall(slip.encode(b"not osc") + b"\xc0a\xdbz\xc0" + slip.encode(valid))
        server.wait_for(is_valid)
    assert stats.dropped == dropped + 2  # one unparsable frame, one bad escape


# -- containment of the consumer, limits, config ----------------------------------


def test_a_raising_sink_is_counted_and_the_listener_goes_on() -> None:
    runner = LoopThread()
    seen: list[Event] = []

    def sink(ev: Event) -> None:
        seen.append(ev)
        raise RuntimeError("mapping bug")

    listener = OscListener(OscListenerConfig("udp", port=0), sink)
    try:
        runner.run(listener.start())
        with udp_socket() as sock:
            for i in range(3):
                sock.sendto(encode_message("/x", [i]), listener.address)
            deadline = time.monotonic() + WAIT
            while len(seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert len(seen) == 3
        assert listener.stats.errors == 3
        assert "mapping bug" in (listener.stats.last_error or "")
    finally:
        runner.run(listener.close())
        runner.stop()


def test_connections_over_the_limit_are_refused() -> None:
    runner = LoopThread()
    config = OscListenerConfig("tcp", port=0, framing="slip", max_connections=1)
    listener = OscListener(config, lambda ev: None)
    try:
        runner.run(listener.start())
        with tcp_connect(listener.address[1]) as first:
            first.sendall(slip.encode(encode_message("/hello")))
            deadline = time.monotonic() + WAIT
            while listener.stats.received < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            with tcp_connect(listener.address[1]) as second:
                assert second.recv(10) == b""
        assert listener.stats.refused_connections == 1
    finally:
        runner.run(listener.close())
        runner.stop()


def test_reply_to_an_unknown_peer_is_refused_and_counted(server: Server) -> None:
    listener = server.listeners["size"]
    before = listener.stats.send_dropped
    assert not server.runner.call(lambda: listener.reply("osc:tcp:127.0.0.1:1", b"/x\x00\x00"))
    assert not server.runner.call(lambda: listener.reply("midi:box", b"/x\x00\x00"))
    assert listener.stats.send_dropped == before + 2


def test_defaults_listen_on_localhost_9000() -> None:
    config = OscListenerConfig()
    assert (config.protocol, config.host, config.port) == ("udp", "127.0.0.1", 9000)


@pytest.mark.parametrize(
    "kwargs", [{"protocol": "sctp"}, {"framing": "cobs"}, {"port": 70000}, {"max_depth": 0}]
)
def test_bad_config_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="OSC"):
        OscListenerConfig(**kwargs)


@pytest.mark.parametrize(
    ("source", "parsed"),
    [
        ("osc:udp:127.0.0.1:53000", ("udp", "127.0.0.1", 53000)),
        ("osc:tcp:[::1]:9000", ("tcp", "::1", 9000)),
    ],
)
def test_source_round_trip(source: str, parsed: tuple[str, str, int]) -> None:
    assert parse_source(source) == parsed
    assert format_source(*parsed) == source
