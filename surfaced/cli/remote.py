"""Talking to the running daemon: `surfaced save`, `surfaced scene ...`, `surfaced undo`.

A command (surfaced.mix.commands) travels as the OSC message of the same
name to the daemon's UDP listener on 127.0.0.1 (the first UDP listener of
the configuration); the daemon answers with the same address and the
command's reply values, or with `/error s MESSAGE`. OSC is the daemon's
control protocol already, so there is no second one to secure and document.
"""

from __future__ import annotations

import socket
import time

from surfaced.config import Config
from surfaced.mix.commands import KNOWN, Arg
from surfaced.transports.osc_codec import OscParseError, encode_message, parse_packet


class RemoteError(Exception):
    """The daemon could not be reached, or it refused the command (its message says why)."""


def daemon_address(config: Config) -> tuple[str, int]:
    """Where the running daemon listens for UDP OSC, from its configuration."""
    for listener in config.osc:
        if listener.protocol == "udp":
            host = "127.0.0.1" if listener.host in ("0.0.0.0", "") else listener.host
            return host, listener.port
    raise RemoteError("the configuration has no UDP OSC listener to reach the daemon through "
                      "(osc: in config.yaml)")


def run_command(address: tuple[str, int], name: str, args: tuple[Arg, ...] = (),
                timeout: float = 5.0) -> tuple[Arg, ...]:
    """Run command `name` on the daemon at `address`; its reply values, or RemoteError."""
    if name not in KNOWN:
        raise RemoteError(f"unknown command {name!r}")
    host, port = address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(encode_message("/" + name, list(args)), (host, port))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RemoteError(f"no answer from the daemon at {host}:{port} within "
                                  f"{timeout:g} s: is `surfaced run` running with OSC on?")
            sock.settimeout(left)
            try:
                packet, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                raise RemoteError(f"nothing listens at {host}:{port}: is `surfaced run` "
                                  "running with OSC on?") from None
            try:
                events = parse_packet(packet)
            except OscParseError:
                continue
            for event in events:
                if event.address == "/error":
                    raise RemoteError(" ".join(str(a) for a in event.args))
                if event.address == "/" + name:
                    return tuple(a for a in event.args if isinstance(a, int | float | str))
