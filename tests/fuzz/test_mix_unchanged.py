"""Garbage never changes the mix: a running daemon fed broken files and packets keeps it.

The fuzz targets check that the parsers and loaders answer garbage with the
project's own error; this checks what the daemon does with that error. One
daemon (its real listeners on 127.0.0.1) gets, while it runs:

- broken mapping files (random bytes, the fuzzers' seeds cut and damaged,
  alias bombs), enabled and re-read as SIGHUP does (`check_reload(force=True)`);
- broken configuration files, offered as a SIGHUP reload (`reload`);
- over UDP and over TCP (size-framed and SLIP): random bytes, and well-formed
  messages to real parameters carrying values that are not values (NaN,
  +inf, /norm outside 0..1, strings, no argument, two arguments);

and afterwards its whole mix (every parameter, names included) is what it
was before. The garbage is seeded (printed; SURFACED_FUZZ_SEED repeats it).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
from pathlib import Path

from test_daemon_osc import small_session

from fuzz import targets
from surfaced.config import Config, load_config
from surfaced.daemon import Daemon
from surfaced.transports import slip
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet

BOUND = 20.0  # bounded waits only; nothing here asserts on timing


def random_bytes(rng: random.Random, most: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, most)))


def damaged(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed[:rng.randrange(1, len(seed) + 1)])
    for _ in range(rng.randrange(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def bad_values(rng: random.Random) -> bytes:
    """A well-formed message to a real parameter with something that is not its value."""
    path = rng.choice(["/ch/1/fader", "/ch/2/pan", "/ch/1/mute", "/master/fader",
                       "/ch/2/eq/1/gain"])
    args: list[object] = rng.choice([[float("nan")], [float("inf")], ["loud"], [], [1.0, 2.0],
                                     [b"\x01"], [(1.0,)]])
    if rng.random() < 0.3:
        return encode_message(path + "/norm", [rng.choice([1.5, -0.01, 7.0, float("nan")])])
    return encode_message(path, args)


def garbage_packet(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return random_bytes(rng, 200).lstrip(b"/#")  # never a message by accident
    return bad_values(rng)


def test_garbage_files_and_packets_leave_the_mix_alone(tmp_path: Path) -> None:
    seed = int(os.environ.get("SURFACED_FUZZ_SEED", str(random.randrange(1 << 30))))
    print(f"garbage seed {seed} (SURFACED_FUZZ_SEED)")
    rng = random.Random(seed)
    maps = tmp_path / "maps"
    maps.mkdir()
    junk = [f"junk{i}" for i in range(8)]
    said: list[str] = []

    async def scenario() -> None:
        cfg = Config(headless=True, block=256, enable=junk, mapping_dirs=[maps], x32=None,
                     osc=[OscListenerConfig("udp", "127.0.0.1", 0),
                          OscListenerConfig("tcp", "127.0.0.1", 0, "size"),
                          OscListenerConfig("tcp", "127.0.0.1", 0, "slip")])
        d = Daemon(cfg, small_session(), on_status=said.append)
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        try:
            for _ in range(500):
                if len(d.osc) == 3:
                    break
                await asyncio.sleep(0.01)
            before = d.mixer.snapshot()
            await files(d)
            await packets(d)
            assert d.mixer.snapshot() == before
            # ... and the garbage did reach the daemon, which said no to it:
            assert d.native is not None and d.native.stats.errors >= 100
            assert d.osc[0].stats.dropped >= 100 and d.osc[1].stats.dropped >= 1
            assert any("configuration refused" in m for m in said)
            # No broken mapping file became a surface. (A garbage config that
            # happens to be valid YAML, `{}` say, is a legal reload to the
            # defaults, which binds the shipped mappings: those are not junk.)
            assert not [b.path for b in d.bindings
                        if b.surface is not None and b.path.parent == maps]
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    async def files(d: Daemon) -> None:
        bomb = (b"a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
                b"c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n")
        seeds = [*targets._mapping_seeds(), bomb]
        for _round in range(6):
            for name in junk:
                data = damaged(rng, rng.choice(seeds)) if rng.random() < 0.7 \
                    else random_bytes(rng, 500)
                (maps / f"{name}.yaml").write_bytes(data)
            await d.check_reload(force=True)
        conf = tmp_path / "config.yaml"
        for _round in range(10):
            conf.write_bytes(damaged(rng, b"audio: {headless: true}\nosc:\n  - {protocol: udp, "
                                          b"host: 127.0.0.1, port: 9000}\nfeedback_rate: 60\n"))
            await d.reload(lambda: load_config(conf))

    async def packets(d: Daemon) -> None:
        udp_port = d.osc[0].address[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            for i in range(2000):
                s.sendto(garbage_packet(rng), ("127.0.0.1", udp_port))
                # The daemon runs on this loop: let it read (a socket's queue is finite).
                await asyncio.sleep(0.005 if i % 20 == 0 else 0)
            # The answer to a /get sent last comes after everything before it was handled.
            await answered(s, udp_port)
        for listener, frame in ((d.osc[1], lambda p: struct.pack(">i", len(p)) + p),
                                (d.osc[2], slip.encode)):
            for _ in range(40):  # a connection each: a broken size prefix closes it
                stream = b"".join(frame(garbage_packet(rng)) for _ in range(20))
                if rng.random() < 0.5:
                    stream += random_bytes(rng, 64)
                await asyncio.to_thread(send_and_wait, listener.address[1], stream)

    asyncio.run(scenario())


async def answered(s: socket.socket, port: int) -> None:
    deadline = time.monotonic() + BOUND
    ask = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= ask:  # again now and then: UDP may drop a datagram
            s.sendto(encode_message("/get", ["/ch/1/fader"]), ("127.0.0.1", port))
            ask = time.monotonic() + 2.0
        try:
            for e in parse_packet(s.recv(65536)):
                if e.address == "/ch/1/fader":
                    return
        except BlockingIOError:
            await asyncio.sleep(0.01)
    raise AssertionError("no answer to /get after the garbage")


def send_and_wait(port: int, stream: bytes) -> None:
    """Send `stream` on a new connection, then a /get, and read until the answer or EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as c:
        try:
            c.sendall(stream)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass  # closed by the daemon at a broken frame: what it should do
