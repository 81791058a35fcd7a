"""An idle daemon's loop sleeps; a change from any thread still reaches its peers (issue 9).

The loop has no fixed ticker: it ticks when something wakes it or a part is
due. A/B reads its loudness history from the core when asked, so it is never
due while matching is off; the mapping folders report changes (inotify), so
what is left is a look at them every 5 s (every 0.5 s where they cannot
report) and autosave's look every 10 s with nothing to save: far from the
200 ticks a second of the old 5 ms ticker, and from the 13 of the loop
before. A slower machine ticks less, never more, so the bounds below hold on
any machine.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import threading
import time

from daemon_thread import DaemonThread  # tests/ is on the path (conftest)

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.session import ChannelConfig, Session, Source
from surfaced.transports.osc import OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet


def _daemon() -> Daemon:
    s = Session(path="<test>", buses=1)
    s.channels = [ChannelConfig(f"Ch{i}", Source("generator", "sine"), {}) for i in (1, 2)]
    cfg = Config(headless=True, block=256, enable=[], x32=None, mdns=False,
                 osc=[OscListenerConfig("udp", "127.0.0.1", 0)])
    cfg.web = dataclasses.replace(cfg.web, enabled=False)
    return Daemon(cfg, s, on_status=lambda _msg: None)


def _received(sock: socket.socket, address: str, timeout: float) -> list[object] | None:
    """The arguments of the first `address` message to arrive within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        for msg in parse_packet(data):
            if msg.address == address:
                return list(msg.args)
    return None


def test_idle_loop_sleeps_and_wakes_for_a_change_from_another_thread() -> None:
    d = _daemon()
    runner = DaemonThread(d)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        runner.start(lambda: bool(d.osc), what="listening")
        port = d.osc[0].address[1]
        sock.sendto(encode_message("/subscribe", ["ch/1"]), ("127.0.0.1", port))
        time.sleep(0.5)  # the subscription lands; the loop goes idle
        assert d.ab.due() == math.inf, "A/B samples nothing while nobody compares"
        before = d.ticks
        time.sleep(3.0)
        idle = (d.ticks - before) / 3.0
        # 1 s: the 5 s look plus a stray wake; 3 s: the 0.5 s poll and a wake
        bound = 1.0 if d._folder_watch.available else 3.0
        assert idle <= bound, f"{idle:.1f} ticks/s while idle (the old ticker: 200)"

        # A change made on a thread of its own is flushed to the subscriber
        # without waiting for any periodic tick.
        changer = threading.Thread(target=d.mixer.set, args=("ch/1/fader", -7.5, "test"))
        changer.start()
        changer.join()
        args = _received(sock, "/ch/1/fader", timeout=5.0)
        assert args is not None and abs(float(args[0]) + 7.5) < 1e-6  # type: ignore[arg-type]
    finally:
        sock.close()
        runner.stop()


def test_meter_subscription_keeps_its_rate_with_no_wake() -> None:
    """Meters an OSC peer asked for go out at their rate while nothing else happens."""
    d = _daemon()
    runner = DaemonThread(d)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        runner.start(lambda: bool(d.osc), what="listening")
        port = d.osc[0].address[1]
        sock.sendto(encode_message("/subscribe/meters", [20.0]), ("127.0.0.1", port))
        got = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            got += sum(1 for msg in parse_packet(data) if msg.address == "/meters/master")
        assert got >= 3, f"{got} meter packets in 2 s at 20 Hz"  # lenient: a busy machine
    finally:
        sock.close()
        runner.stop()
