"""Ask the running daemon about its link: `python -m surfaced.link status | conflicts [N]`.

The question travels as OSC (`/link/status`, `/link/conflicts i N`) to the
daemon's UDP listener on 127.0.0.1, as `surfaced save` and friends do.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from surfaced.cli.remote import RemoteError, daemon_address
from surfaced.config import ConfigError, load_config
from surfaced.transports.osc_codec import OscParseError, encode_message, parse_packet


def ask(address: tuple[str, int], name: str, args: list[int], timeout: float = 5.0) -> list[str]:
    """Send /link/NAME and return the answer's strings (RemoteError on /error or silence)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(encode_message(f"/link/{name}", list(args)), address)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                events = parse_packet(sock.recv(65536))
            except TimeoutError:
                break
            except ConnectionRefusedError:
                raise RemoteError(f"nothing listens at {address[0]}:{address[1]}: is "
                                  "`surfaced run` running?") from None
            except OscParseError:
                continue
            for event in events:
                if event.address == "/error":
                    raise RemoteError(" ".join(str(a) for a in event.args))
                if event.address == f"/link/{name}":
                    return [str(a) for a in event.args]
    raise RemoteError(f"no answer from the daemon at {address[0]}:{address[1]} within "
                      f"{timeout:g} s (is `surfaced run` running, with link: configured?)")


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m surfaced.link", description=__doc__)
    ap.add_argument("what", choices=("status", "conflicts"))
    ap.add_argument("count", nargs="?", type=int, default=20, help="conflicts to show (1..1000)")
    ap.add_argument("--config", help="the daemon's config file (default: the usual one)")
    opts = ap.parse_args(argv)
    try:
        address = daemon_address(load_config(opts.config))
        lines = ask(address, opts.what, [opts.count] if opts.what == "conflicts" else [])
    except (ConfigError, RemoteError) as exc:
        print(f"surfaced.link: {exc}", file=sys.stderr)
        return 1
    if opts.what == "conflicts" and not lines:
        print("no conflicts")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
