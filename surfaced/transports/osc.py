"""An asyncio OSC server that survives anything the network sends it.

One `OscListener` per socket, configured by `OscListenerConfig`:

- ``protocol="udp"``: one packet per datagram;
- ``protocol="tcp"``, ``framing="size"``: OSC 1.0 streams, each packet
  preceded by its length as a big-endian int32;
- ``protocol="tcp"``, ``framing="slip"``: OSC 1.1 streams, each packet a
  double-END SLIP frame.

It listens on 127.0.0.1 unless told otherwise (port 9000 by default; port 0
picks a free one, see `OscListener.address`).

Every packet is contained: parsing goes through `osc_codec.parse_packet`,
which raises only OscParseError; a bad packet is counted in `OscStats.dropped`
and the listener carries on. A bad size prefix on a size-framed TCP stream
cannot be resynchronized, so that one connection is closed (and counted); a
SLIP stream resynchronizes at the next END. Bundle timetags are reported on
the Events and never waited for.

No TCP peer can hold the others out: a connection that sends nothing for
`idle_timeout` seconds (also in the middle of a packet) is closed; one host
holds at most `max_per_host` connections; and when all `max_connections` are
open, a newcomer takes the place of the connection idle the longest, if that
one has been idle `evict_after` seconds or more (otherwise the newcomer is
refused). Each of these is counted in `OscStats` and logged.

`start_retrying` binds like `start`, but when the address is taken (an
exiting instance still holds the port) it keeps trying in the background,
backing off from RETRY_FIRST_S to RETRY_MAX_S, says so once, and says again
when the socket is bound.

Events are stamped with a source naming the peer, e.g.
``osc:udp:127.0.0.1:53000`` or ``osc:tcp:127.0.0.1:40122``; `reply(source,
packet)` sends a packet back to that peer (UDP: to its address and port;
TCP: on its connection). `send_to(host, port, packet)` sends UDP feedback to
an app that listens on a port of its own (TouchOSC and most OSC apps do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from surfaced.transports import EventSink, is_throttled
from surfaced.transports.osc_codec import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    OscParseError,
    parse_packet,
)
from surfaced.transports.slip import SlipDecoder
from surfaced.transports.slip import encode as slip_encode

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9000
RETRY_FIRST_S: Final = 0.5
RETRY_MAX_S: Final = 30.0


@dataclass(frozen=True)
class OscListenerConfig:
    """Where and how one listener listens. `framing` matters for TCP only."""

    protocol: Literal["udp", "tcp"] = "udp"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    framing: Literal["size", "slip"] = "size"
    max_packet: int = DEFAULT_MAX_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    max_connections: int = 32
    max_per_host: int = 8
    # A TCP connection silent this long is closed (a subscriber's lease
    # renewal, every 10 s, keeps a quiet listener's connection open).
    idle_timeout: float = 60.0
    evict_after: float = 5.0
    # A TCP peer that reads slower than this many queued bytes loses
    # feedback packets instead of making us buffer without bound.
    max_send_buffer: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.protocol not in ("udp", "tcp"):
            raise ValueError(f"OSC protocol must be 'udp' or 'tcp', got {self.protocol!r}")
        if self.framing not in ("size", "slip"):
            raise ValueError(f"OSC TCP framing must be 'size' or 'slip', got {self.framing!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"OSC port {self.port} out of range 0..65535")
        for name in ("max_packet", "max_depth", "max_connections", "max_per_host",
                     "max_send_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"OSC {name} must be positive, got {getattr(self, name)}")
        for name in ("idle_timeout", "evict_after"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OSC {name} must be a positive number of seconds, "
                                 f"got {getattr(self, name)}")


@dataclass
class OscStats:
    """Counters of one listener (all since start)."""

    received: int = 0  # packets: datagrams or stream frames
    events: int = 0  # messages delivered to the sink
    dropped: int = 0  # packets refused: malformed, oversize, bad framing
    errors: int = 0  # socket errors and exceptions raised by the sink
    sent: int = 0
    send_dropped: int = 0  # replies not sent: unknown peer, closed, or backed-up connection
    connections: int = 0  # TCP connections open now
    refused_connections: int = 0  # over max_connections or max_per_host
    idle_closed: int = 0  # TCP connections closed after idle_timeout of silence
    evicted: int = 0  # idle TCP connections closed to make room for a newcomer
    last_error: str | None = None


def format_source(protocol: str, host: str, port: int) -> str:
    """The Event source for a peer: ``osc:udp:127.0.0.1:53000`` (IPv6 hosts in brackets)."""
    if ":" in host:
        host = f"[{host}]"
    return f"osc:{protocol}:{host}:{port}"


def parse_source(source: str) -> tuple[str, str, int]:
    """(protocol, host, port) from a source made by `format_source`; ValueError otherwise."""
    prefix, protocol, rest = [*source.split(":", 2), "", ""][:3]
    host, _, port = rest.rpartition(":")
    if prefix != "osc" or protocol not in ("udp", "tcp") or not host or not port.isdigit():
        raise ValueError(f"not an OSC peer source: {source!r}")
    return protocol, host.strip("[]"), int(port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, listener: OscListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener._packet(data, format_source("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable after a reply to a peer that has gone
        self.listener._error(f"UDP socket error: {exc}")


class OscListener:
    """One OSC socket (UDP, or TCP with one framing) feeding Events to a sink."""

    def __init__(self, config: OscListenerConfig, sink: EventSink) -> None:
        self.config = config
        self.sink = sink
        self.stats = OscStats()
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[str, asyncio.StreamWriter] = {}
        self._seen: dict[str, float] = {}  # source -> when it last sent bytes (monotonic)
        self._hosts: dict[str, int] = {}  # peer host -> connections open
        self._address: tuple[str, int] | None = None
        self._retry: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound, once started (port 0 resolves here)."""
        if self._address is None:
            raise RuntimeError("OSC listener not started")
        return self._address

    async def start(self) -> None:
        """Bind the socket and start serving; OSError if the address is taken."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        if cfg.protocol == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(cfg.host, cfg.port)
            )
            self._udp = transport
            sockname = transport.get_extra_info("sockname")
        else:
            self._server = await asyncio.start_server(self._serve, cfg.host, cfg.port)
            sockname = self._server.sockets[0].getsockname()
        self._address = (sockname[0], sockname[1])
        log.info("OSC %s listening on %s:%d", self.describe(), *self._address)

    async def start_retrying(self, say: Callable[[str], None],
                             on_bound: Callable[[OscListener], None]) -> bool:
        """`start`, and if the address is taken keep trying in the background.

        Returns True when bound now. Otherwise says why once, retries with
        backoff until bound (then says so and calls `on_bound`) or `close`.
        """
        try:
            await self.start()
        except OSError as exc:
            cfg = self.config
            say(f"OSC {cfg.protocol} {cfg.host}:{cfg.port} unavailable: {exc}; retrying in the "
                f"background (every {RETRY_FIRST_S:g} s, backing off to {RETRY_MAX_S:g} s)")
            self._retry = asyncio.get_running_loop().create_task(self._retry_start(say, on_bound))
            return False
        return True

    async def _retry_start(self, say: Callable[[str], None],
                           on_bound: Callable[[OscListener], None]) -> None:
        delay, tries = RETRY_FIRST_S, 1
        while True:
            await asyncio.sleep(delay)
            tries += 1
            try:
                await self.start()
            except OSError:
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            break
        self._retry = None
        say(f"OSC {self.describe()} listening on {self.address[0]}:{self.address[1]} "
            f"(bound after {tries} tries)")
        on_bound(self)

    @property
    def retrying(self) -> bool:
        """True while `start_retrying` is still waiting for the address."""
        return self._retry is not None

    def describe(self) -> str:
        """'udp', 'tcp/size' or 'tcp/slip'."""
        cfg = self.config
        return "udp" if cfg.protocol == "udp" else f"tcp/{cfg.framing}"

    async def close(self) -> None:
        """Stop listening (or retrying) and close every connection."""
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
            for writer in list(self._conns.values()):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    # -- receiving ---------------------------------------------------------

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        if not is_throttled(self.stats.errors):
            log.warning("OSC %s: %s (errors: %d)", self.describe(), message, self.stats.errors)

    def _drop(self, message: str) -> None:
        self.stats.dropped += 1
        self.stats.last_error = message
        log.debug("OSC %s dropped: %s", self.describe(), message)

    def _packet(self, data: bytes, source: str) -> None:
        stats = self.stats
        stats.received += 1
        cfg = self.config
        try:
            events = parse_packet(
                data,
                source=source,
                time=time.monotonic(),
                max_size=cfg.max_packet,
                max_depth=cfg.max_depth,
            )
        except OscParseError as err:
            self._drop(f"{source}: {err}")
            return
        for event in events:
            try:
                self.sink(event)
            except Exception as exc:  # a faulty consumer must not stop the listener
                self._error(f"sink raised {type(exc).__name__} on {event.address}: {exc}")
        stats.events += len(events)

    def _admit(self, source: str, host: str) -> str | None:
        """Why a new connection from `host` is refused, or None (making room if needed)."""
        cfg = self.config
        if self._hosts.get(host, 0) >= cfg.max_per_host:
            return f"{host} already holds {cfg.max_per_host} connections (max_per_host)"
        if len(self._conns) < cfg.max_connections:
            return None
        now = time.monotonic()
        idlest = min(self._conns, key=lambda s: self._seen[s])
        idle = now - self._seen[idlest]
        if idle < cfg.evict_after:
            return (f"{len(self._conns)} connections open (max_connections) and none idle "
                    f"for {cfg.evict_after:g} s")
        self.stats.evicted += 1
        self._error(f"{idlest}: closed after {idle:.1f} s idle to make room for {source}")
        self._conns.pop(idlest).close()  # its _serve sees the close and cleans up
        del self._seen[idlest]
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0])
        source = format_source("tcp", host, peer[1])
        refused = self._admit(source, host)
        if refused is not None:
            self.stats.refused_connections += 1
            self._error(f"{source}: refused: {refused}")
            writer.close()
            return
        self._conns[source] = writer
        self._seen[source] = time.monotonic()
        self._hosts[host] = self._hosts.get(host, 0) + 1
        self.stats.connections += 1
        try:
            if self.config.framing == "size":
                await self._read_sized(reader, source)
            else:
                await self._read_slip(reader, source)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the peer went away, possibly mid-packet
        except TimeoutError:
            self.stats.idle_closed += 1
            self._error(f"{source}: closed after {self.config.idle_timeout:g} s without data "
                        f"(idle_timeout)")
        except Exception as exc:  # whatever happens on one connection stays there
            self._error(f"{source}: connection failed: {type(exc).__name__}: {exc}")
        finally:
            if self._conns.get(source) is writer:  # not already evicted
                del self._conns[source]
                del self._seen[source]
            self._hosts[host] -= 1
            if not self._hosts[host]:
                del self._hosts[host]
            self.stats.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, read: Awaitable[bytes], source: str) -> bytes:
        """One read from a connection within idle_timeout (TimeoutError otherwise)."""
        data = await asyncio.wait_for(read, self.config.idle_timeout)
        if source in self._seen:
            self._seen[source] = time.monotonic()
        return data

    async def _read_sized(self, reader: asyncio.StreamReader, source: str) -> None:
        limit = self.config.max_packet
        while True:
            try:
                head = await self._read(reader.readexactly(4), source)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    self._drop(f"{source}: stream ended inside a size prefix")
                return
            size = int.from_bytes(head, "big", signed=True)
            if not 0 < size <= limit:
                # Without a trustworthy length there is no next packet to find.
                self._drop(f"{source}: size prefix {size} outside 1..{limit}; connection closed")
                return
            self._packet(await self._read(reader.readexactly(size), source), source)

    async def _read_slip(self, reader: asyncio.StreamReader, source: str) -> None:
        decoder = SlipDecoder(self.config.max_packet, synced=True)
        while data := await self._read(reader.read(65536), source):
            errors = decoder.stats.errors
            frames = decoder.feed(data)
            for _ in range(decoder.stats.errors - errors):
                self._drop(f"{source}: {decoder.last_error}")
            for frame in frames:
                self._packet(frame, source)

    # -- sending -----------------------------------------------------------

    def peers(self) -> list[str]:
        """Sources of the TCP connections open now."""
        return list(self._conns)

    def reply(self, source: str, packet: bytes) -> bool:
        """Send an encoded OSC packet back to the peer named by an Event's `source`.

        Returns False (and counts it) when the peer is unknown or gone, or
        its connection is too backed up to take more.
        """
        try:
            protocol, host, port = parse_source(source)
        except ValueError:
            return self._send_failed(f"cannot reply to {source!r}: not an OSC source")
        if protocol != self.config.protocol:
            return self._send_failed(f"cannot reply to {source} through a {protocol} listener")
        if protocol == "udp":
            return self.send_to(host, port, packet)
        writer = self._conns.get(source)
        if writer is None or writer.is_closing():
            return self._send_failed(f"{source}: connection closed")
        if writer.transport.get_write_buffer_size() > self.config.max_send_buffer:
            return self._send_failed(f"{source}: send buffer full, packet dropped")
        if self.config.framing == "size":
            writer.write(len(packet).to_bytes(4, "big") + packet)
        else:
            writer.write(slip_encode(packet))
        self.stats.sent += 1
        return True

    def send_to(self, host: str, port: int, packet: bytes) -> bool:
        """Send an encoded OSC packet as one UDP datagram from this (UDP) listener's socket."""
        if self._udp is None or self._udp.is_closing():
            return self._send_failed(f"cannot send to {host}:{port}: not an open UDP listener")
        try:
            self._udp.sendto(packet, (host, port))
        except OSError as exc:
            return self._send_failed(f"send to {host}:{port} failed: {exc}")
        self.stats.sent += 1
        return True

    def _send_failed(self, message: str) -> bool:
        self.stats.send_dropped += 1
        self.stats.last_error = message
        log.debug("OSC %s: %s", self.describe(), message)
        return False
