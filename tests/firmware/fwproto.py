"""Test-side helpers to talk to a box: SLIP framing (RFC 1055, double-END)
and OSC through python-osc, an OSC implementation independent of ours, so a
box that speaks only to itself would fail here.

This is test scaffolding, not the daemon's transport (surfaced/transports).
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from dataclasses import dataclass, field

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD


def slip_frame(packet: bytes) -> bytes:
    """END + escaped packet + END."""
    body = packet.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(
        bytes([END]), bytes([ESC, ESC_END])
    )
    return bytes([END]) + body + bytes([END])


def osc(address: str, *args: int | float | str) -> bytes:
    """An OSC message with int, float and string arguments."""
    builder = OscMessageBuilder(address=address)
    for a in args:
        if isinstance(a, int):
            builder.add_arg(a, OscMessageBuilder.ARG_TYPE_INT)
        elif isinstance(a, float):
            builder.add_arg(a, OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(a, OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build().dgram


@dataclass
class SlipReader:
    """Splits a byte stream into SLIP frames (enough for well-behaved boxes;
    a bad escape fails the test)."""

    buf: bytearray = field(default_factory=bytearray)
    synced: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        """Frames completed by these bytes; bytes before the first END are
        dropped, as a decoder joining mid-stream must."""
        frames = []
        for b in data:
            if b == END:
                if self.synced and self.buf:
                    frames.append(unescape(bytes(self.buf)))
                self.buf.clear()
                self.synced = True
            elif self.synced:
                self.buf.append(b)
        return frames


def unescape(body: bytes) -> bytes:
    """Undo SLIP escaping; AssertionError on a bad escape."""
    out = bytearray()
    it = iter(body)
    for b in it:
        if b == ESC:
            nxt = next(it)
            assert nxt in (ESC_END, ESC_ESC), f"bad escape {nxt:#x}"
            out.append(END if nxt == ESC_END else ESC)
        else:
            out.append(b)
    return bytes(out)


@dataclass
class Msg:
    """A decoded OSC message."""

    address: str
    args: list[object]


def decode(packet: bytes) -> Msg:
    """Parse one OSC message with python-osc."""
    m = OscMessage(packet)
    return Msg(m.address, list(m.params))


class LineReader:
    """Reads lines from a child's stdout pipe with a deadline (no hangs)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.pending = b""
        self.lines: list[str] = []

    def until(self, predicate: str, timeout: float = 10.0) -> str:
        """Wait for a line starting with predicate; return it. Every line seen
        is kept in self.lines for later assertions."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.pending:
                raw, self.pending = self.pending.split(b"\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if line.startswith(predicate):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {predicate!r} line within {timeout}s: {self.lines}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    raise AssertionError(f"log closed before {predicate!r}: {self.lines}")
                self.pending += chunk


class MsgStream:
    """OSC messages arriving on a file descriptor, read with deadlines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.reader = SlipReader()
        self.queue: list[Msg] = []

    def send(self, *packets: bytes) -> None:
        """Write SLIP-framed packets."""
        os.write(self.fd, b"".join(slip_frame(p) for p in packets))

    def until(self, address: str, timeout: float = 10.0) -> list[Msg]:
        """Messages up to and including the next one to address."""
        deadline = time.monotonic() + timeout
        got: list[Msg] = []
        while True:
            while self.queue:
                msg = self.queue.pop(0)
                got.append(msg)
                if msg.address == address:
                    return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {address} within {timeout}s; got {got}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                data = os.read(self.fd, 4096)
                if not data:
                    raise AssertionError(f"line closed before {address}; got {got}")
                self.queue.extend(decode(f) for f in self.reader.feed(data))
