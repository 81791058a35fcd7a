"""The soak: a real `surfaced run` under every transport at once, garbage included.

For SURFACED_SOAK_SECONDS (default 60; the documented long run is longer,
see docs/reliability.md), four senders write random valid values at once,
each with garbage between them:

- MIDI over real JACK MIDI ports (python-rtmidi): CC 20..23 -> ch/1..4/pan
  (tests/soak/soak-midi.yaml); garbage: stray data bytes, undefined status
  bytes, stray EOX, truncated messages, unknown SysEx, lone SysEx starts,
  CCs on other MIDI channels;
- OSC over UDP: /ch/5..8/fader; garbage from another socket: random bytes,
  NaN / infinite / out-of-range values for the same parameters (refused
  with /error), unknown addresses;
- OSC over TCP (size-framed): /ch/9..12/fader; garbage on connections of
  its own, each closed by the daemon at its first bad size prefix;
- a DIY box over a real pty, speaking firmware/PROTOCOL.md (hello ->
  identity, SLIP-framed OSC): /knob/1..4 -> ch/13..16/pan
  (tests/soak/soak-box.yaml); garbage: random bytes between frames;

while OSC subscribers join and leave over UDP and TCP, and twice a garbage
mapping file is put in place and the daemon told to reload (SIGHUP).

Each transport owns its parameters (disjoint), so for each parameter the
order of the writes is the order its one sender sent them, and no two
consecutive writes to a parameter are equal, so every valid write is one
change in the change log. Afterwards:

- the final value of each parameter is the last valid write to it;
- the change log holds, per parameter, exactly the sequence sent: nothing
  lost, nothing doubled, nothing from the garbage. One allowance, for what
  is JACK's and not the daemon's: JACK delivers a cycle's MIDI only when the
  sending client ran in time for the reading one, so in a cycle lost to an
  xrun events can vanish before the daemon's port. The controller counts what
  it sends, the daemon's stop summary says how many events its port took in;
  the difference is allowed only with xruns, the daemon's ring must drop
  none, and the MIDI parameters' logs may then miss at most that many values
  (in order); everything that reached the port is applied;
- every surface's feedback agrees with the mix: a UDP subscriber's last value
  of each of the 16 parameters, and for the TCP writer (subscribed), the MIDI
  controller and the box, their last feedback for the 12 parameters the
  others own (their own are what they last sent, checked above);
- the daemon's RSS and open files at the end are within a stated bound of
  their value after warming up (RSS_BOUND_MB, FD_BOUND);
- the daemon's audio work is no later under the soak than at idle. The
  daemon runs with `--audio-timing`, which measures each block's CPU time
  in the audio thread (CLOCK_THREAD_CPUTIME_ID): its work, without the time
  the thread waited for a CPU. Under the soak as at idle, 99.9% of the
  blocks must take at most half their JACK period, and the blocks whose CPU
  time passed the period may be no more than at idle beyond chance (at
  most 2 x idle + 2). Those happen at idle too, about once in 700,000 blocks
  here: this kernel (no IRQ_TIME_ACCOUNTING) charges the interrupts handled
  while a thread runs to that thread. That is the daemon's share of xruns.
  The xruns themselves are server-wide (any late client, or the dummy
  driver's own timer waking late, makes one) and are recorded next to
  those of the idle run, with the blocks that ended late in wall-clock
  time (waiting for a CPU included): on a shared 2-core VM the senders, the
  subscribers and the machine's other jobs take CPU time the cycle needs,
  which no code in the daemon can guarantee against.

The seed is printed (SURFACED_SOAK_SEED repeats a run). Nothing asserts on
a duration but the blocks' CPU time against their period (a bound of the
daemon's own work with a margin of 2, not of the machine); every wait is
bounded and polls for an outcome.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rtmidi
from jack_server import JackServer
from measured import Figures
from test_diybox_e2e import Pty

from surfaced.mix.params import spec_for
from surfaced.transports import slip
from surfaced.transports.osc_codec import OscParseError, encode_message, parse_packet

ROOT = Path(__file__).resolve().parents[1]
SOAK = Path(__file__).with_name("soak")
pytestmark = [pytest.mark.soak, pytest.mark.slow, pytest.mark.jack, pytest.mark.figures]

SECONDS = float(os.environ.get("SURFACED_SOAK_SECONDS", "60"))
RATE = 120.0  # valid writes per second per transport
MIDI = [f"ch/{n}/pan" for n in range(1, 5)]
UDP = [f"ch/{n}/fader" for n in range(5, 9)]
TCP = [f"ch/{n}/fader" for n in range(9, 13)]
BOX = [f"ch/{n}/pan" for n in range(13, 17)]
ALL = MIDI + UDP + TCP + BOX
WAIT = 30.0  # the bound of every wait for the daemon; never a timing assertion
RSS_BOUND_MB = 48.0  # RSS may grow this much after warming up (allocator, caches)
FD_BOUND = 6  # open files may differ this much (connections of leaving subscribers)

SESSION = "version: 2\nbuses: 1\nchannels:\n" + "".join(
    f"  - {{name: Ch{n}, source: {{generator: sine}}"
    + (", fader: -inf" if 5 <= n <= 12 else "") + "}\n" for n in range(1, 17))


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fader_value(rng: random.Random, last: float | None) -> float:
    """A fader level exact in OSC's float32 (-60..+6 dB in 0.5 dB steps), never `last`."""
    while (value := rng.randrange(-120, 13) * 0.5) == last:
        pass
    return value


def distinct(rng: random.Random, top: int, last: int | None) -> int:
    while (value := rng.randrange(top + 1)) == last:
        pass
    return value


@dataclass
class Record:
    """What one sender sent: the valid values per parameter, in order, and the garbage."""

    sent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    garbage: int = 0

    @property
    def events(self) -> int:
        return sum(len(v) for v in self.sent.values())


class Daemon:
    """`surfaced run` as its own process (its RSS and open files are its own)."""

    def __init__(self, tmp: Path, mappings: Path, box_path: str) -> None:
        self.tmp = tmp
        self.udp, self.tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        self.session = tmp / "song.yaml"
        self.session.write_text(SESSION)
        self.config = tmp / "config.yaml"
        self.config.write_text(
            "audio: {backend: jack, block: 256}\nmidi: {api: jack}\nx32: false\nweb: false\n"
            f"osc:\n  - {{protocol: udp, host: 127.0.0.1, port: {self.udp}}}\n"
            f"  - {{protocol: tcp, host: 127.0.0.1, port: {self.tcp}, framing: size}}\n"
            f"mappings: {{dirs: ['{mappings}'], enable: [soak-midi, soak-box, junk]}}\n"
            "change_log: {max_kb: 1048576}\n")
        (mappings / "soak-box.yaml").write_text(
            (SOAK / "soak-box.yaml").read_text().replace("BOX_PATH", box_path))
        (mappings / "soak-midi.yaml").write_text((SOAK / "soak-midi.yaml").read_text())
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp / "xdg"),
                        XDG_STATE_HOME=str(tmp / "state"))
        self.ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ctl.bind(("127.0.0.1", 0))
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        self.out = self.tmp / f"out-{self.runs}.txt"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "surfaced", "run", str(self.session), "--config",
                 str(self.config), "--quiet", "--audio-timing"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + WAIT * 2
        while time.monotonic() < deadline:
            self.alive()
            try:
                self.get("ch/1/fader", timeout=0.5)
                return
            except TimeoutError:
                continue
        raise AssertionError(f"the daemon did not answer within {WAIT * 2:g} s")

    def alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, \
            f"the daemon exited:\n{self.out.read_text()[-4000:]}"

    def get(self, path: str, timeout: float = 5.0) -> float:
        self.ctl.sendto(encode_message("/get", ["/" + path]), ("127.0.0.1", self.udp))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.ctl.settimeout(left)
            try:
                events = parse_packet(self.ctl.recv(65536))
            except (TimeoutError, OscParseError, ConnectionRefusedError):
                continue
            for e in events:
                if e.address == "/" + path:
                    return float(e.args[0])  # type: ignore[arg-type]
        raise TimeoutError(path)

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def hangup(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit code and everything it said (its last line has the xruns)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        return code, self.out.read_text()

    def changes(self) -> dict[str, list[tuple[str, float]]]:
        """The change log file: per parameter, (source, new value) in the order applied."""
        log: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for line in (self.tmp / "song.log").read_text().splitlines():
            _stamp, source, path, _old, new, _txn = line.split("\t")
            log[path].append((source, float(new)))
        return log


# -- the senders -------------------------------------------------------------------

MIDI_GARBAGE = ([0x05], [0x05, 0x06, 0x07], [0xF4], [0xF5, 0x11, 0x12], [0xF7], [0x90, 0x40],
                [0xF0, 0x7D, 0x01, 0x02, 0xF7], [0xF9], [0xFD, 0x01],
                [0xF0, 0x7D, 0x01])  # a lone SysEx start: must not make the surface deaf


class MidiController:
    """The controller: a JACK MIDI output and input named soak-ctl, keeping the last feedback.

    Its input is polled from a thread, not read through a callback: RtMidi calls a
    callback on JACK's process thread, which would then wait for the GIL and make
    the controller, not the daemon, late for its cycle.
    """

    def __init__(self) -> None:
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "soak-ctl")
        self.out.open_virtual_port("soak-ctl")
        self.inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "soak-ctl", queue_size_limit=65536)
        self.inp.open_virtual_port("soak-ctl")
        self.feedback: dict[int, int] = {}  # CC number -> last value heard
        self.sent = 0  # JACK MIDI events sent since the daemon's port was connected
        self._sending = threading.Lock()
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.done.is_set():
            while (msg := self.inp.get_message()) is not None:
                m = msg[0]
                if len(m) == 3 and m[0] == 0xB0:
                    self.feedback[m[1]] = m[2]
            time.sleep(0.002)

    def send(self, message: list[int]) -> None:
        """One JACK MIDI event, counted."""
        with self._sending:
            self.out.send_message(message)
            self.sent += 1

    def connected_to(self, client: str) -> bool:
        """Whether JACK has our output connected to a port of `client` (jack_lsp -c)."""
        out = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True,
                             timeout=WAIT).stdout
        port = ""
        for line in out.splitlines():
            if not line.startswith((" ", "\t")):
                port = line
            elif port.startswith("soak-ctl:") and line.strip().startswith(f"{client}:"):
                return True
        return False

    def close(self) -> None:
        self.done.set()
        self.reader.join(WAIT)
        self.out.close_port()
        self.inp.close_port()


def midi_sender(stop: threading.Event, rng: random.Random, rec: Record,
                ctl: MidiController) -> None:
    last: dict[int, int] = {}
    while not stop.is_set():
        k = rng.randrange(4)
        v = distinct(rng, 127, last.get(k))
        last[k] = v
        ctl.send([0xB0, 20 + k, v])
        rec.sent[MIDI[k]].append(v / 127)
        if rng.random() < 0.3:
            # Not messages of the mapping: broken ones, or CCs on other MIDI channels.
            junk = rng.choice(MIDI_GARBAGE) if rng.random() < 0.7 else \
                [0xB0 | rng.randrange(1, 16), rng.randrange(128), rng.randrange(128)]
            ctl.send(junk)
            rec.garbage += 1
        time.sleep(1 / RATE)


def udp_garbage(rng: random.Random, params: list[str]) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))).lstrip(b"/#")
    path = "/" + rng.choice(params)
    if kind == 1:
        # -inf is a fader's "off", a valid value; NaN and +inf are not values at all.
        return encode_message(path, [rng.choice([float("nan"), float("inf")])])
    if kind == 2:
        return encode_message(path + "/norm", [rng.choice([1.5, -0.5, 7.0])])
    return encode_message("/no/such/" + path, [1.0])


def udp_sender(stop: threading.Event, rng: random.Random, rec: Record, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    last: dict[str, float] = {}
    try:
        while not stop.is_set():
            path = rng.choice(UDP)
            value = last[path] = fader_value(rng, last.get(path))
            sock.sendto(encode_message("/" + path, [value]), ("127.0.0.1", port))
            rec.sent[path].append(value)
            if rng.random() < 0.3:
                junk.sendto(udp_garbage(rng, UDP), ("127.0.0.1", port))
                rec.garbage += 1
            time.sleep(1 / RATE)
    finally:
        sock.close()
        junk.close()


def framed(packet: bytes) -> bytes:
    return struct.pack(">i", len(packet)) + packet


class TcpPeer:
    """A size-framed OSC connection that reads what it is sent on a thread."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.got: dict[str, float] = {}
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, address: str, *args: object) -> None:
        with self.lock:
            self.sock.sendall(framed(encode_message(address, list(args))))

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + (n := struct.unpack(">i", buf[:4])[0]):
                packet, buf = buf[4:4 + n], buf[4 + n:]
                try:
                    for e in parse_packet(packet):
                        if e.args and isinstance(e.args[0], float):
                            self.got[e.address.strip("/")] = e.args[0]
                except OscParseError:
                    pass

    def close(self) -> None:
        self.sock.close()


def tcp_sender(stop: threading.Event, rng: random.Random, rec: Record, port: int,
               peer: TcpPeer) -> None:
    last: dict[str, float] = {}
    renew = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= renew:
            peer.send("/subscribe")
            renew = time.monotonic() + 4.0
        path = rng.choice(TCP)
        value = last[path] = fader_value(rng, last.get(path))
        peer.send("/" + path, value)
        rec.sent[path].append(value)
        if rng.random() < 0.05:  # a connection of garbage, closed by the daemon
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as junk:
                junk.sendall(framed(udp_garbage(rng, TCP)) + b"\xff\xff\xff\xf0garbage")
                junk.settimeout(WAIT)
                with_eof(junk)
            rec.garbage += 1
        time.sleep(1 / RATE)


def with_eof(sock: socket.socket) -> None:
    """Read until the daemon closes the connection (it does at the bad size prefix)."""
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


class BoxEmulator:
    """The box side of firmware/PROTOCOL.md: answers /hello with /identity, keeps feedback."""

    def __init__(self, pty: Pty) -> None:
        self.fd = pty.master
        self.lock = threading.Lock()
        self.greeted = threading.Event()
        self.feedback: dict[int, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def write(self, data: bytes) -> None:
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def send(self, address: str, *args: object, types: str | None = None) -> None:
        self.write(slip.encode(encode_message(address, list(args), types)))

    def _read(self) -> None:
        dec = slip.SlipDecoder(4096, synced=False)
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            for frame in dec.feed(data):
                try:
                    events = parse_packet(frame)
                except OscParseError:
                    continue
                for e in events:
                    if e.address == "/hello":
                        self.send("/identity", "soak-box", "0.1.0", 1, "knob:4",
                                  types="ssis")
                        self.greeted.set()
                    elif e.address.startswith("/w/") and e.args:
                        self.feedback[int(e.address[3:])] = int(e.args[0])  # type: ignore


def box_sender(stop: threading.Event, rng: random.Random, rec: Record, box: BoxEmulator) -> None:
    last: dict[int, int] = {}
    while not stop.is_set():
        k = rng.randrange(4)
        v = distinct(rng, 16383, last.get(k))
        last[k] = v
        box.send(f"/knob/{k + 1}", v, types="i")
        rec.sent[BOX[k]].append(v / 16383)
        if rng.random() < 0.3:  # line noise between frames
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            box.write(noise)
            rec.garbage += 1
        time.sleep(1 / RATE)


def subscribers(stop: threading.Event, rng: random.Random, udp: int, tcp: int,
                joins: list[int]) -> None:
    """OSC subscribers joining and leaving, over UDP and TCP."""
    while not stop.is_set():
        if rng.random() < 0.5:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                s.sendto(encode_message("/subscribe", []), ("127.0.0.1", udp))
                s.settimeout(0.2)
                with contextlib.suppress(OSError):
                    s.recv(65536)
                if rng.random() < 0.5:  # or it just goes away, as UDP peers do
                    s.sendto(encode_message("/unsubscribe", []), ("127.0.0.1", udp))
        else:
            peer = TcpPeer(tcp)
            peer.send("/subscribe")
            stop.wait(rng.uniform(0.05, 0.4))
            peer.close()
        joins[0] += 1
        stop.wait(rng.uniform(0.05, 0.3))


def junk_mappings(stop: threading.Event, rng: random.Random, daemon: Daemon, folder: Path,
                  count: list[int]) -> None:
    """Twice: a broken junk.yaml (enabled in the config), then SIGHUP: reload it all."""
    bombs = [b"a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c]\n",
             b"name: junk\ntransport: midi\ncontrols: {x: {cc: 300, param: ch/99/fader}}\n",
             bytes(rng.randrange(256) for _ in range(300))]
    for _i in (1, 2):
        if stop.wait(SECONDS / 3):
            return
        (folder / "junk.yaml").write_bytes(rng.choice(bombs))
        daemon.hangup()
        count[0] += 1


# -- the test -------------------------------------------------------------------------

def _probe(daemon: Daemon, path: str, send: Callable[[int], None]) -> None:
    """Switch `path` on and off through a surface until the mix follows (bounded)."""
    for want in (1, 0):
        deadline = time.monotonic() + WAIT
        while daemon.get(path) != want:
            assert time.monotonic() < deadline, f"{path} never followed its surface"
            send(want)
            time.sleep(0.3)


def _load(daemon: Daemon, stop: threading.Event, threads: list[threading.Thread],
          samples: list[tuple[float, int]]) -> None:
    """Let the senders run for SECONDS, sampling the daemon's RSS and open files."""
    elapsed = 0.0
    for moment in (0.1, 0.5, 0.95):  # after warming up, midway, at the end
        time.sleep(SECONDS * moment - elapsed)
        elapsed = SECONDS * moment
        daemon.alive()
        samples.append((daemon.rss_mb(), daemon.fds()))
    time.sleep(SECONDS * 0.05)
    stop.set()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), f"sender {t.name} did not stop"


def expected(path: str, written: float) -> float:
    """The value a write means: dB as sent over OSC; MIDI and box send positions."""
    return written if path in UDP + TCP else spec_for(path, 16, 1).from_position(written)


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 + 1e-5 * abs(b)  # the change log writes 6 digits


def test_soak(jack: JackServer, tmp_path: Path, figures: Figures) -> None:
    seed = int(os.environ.get("SURFACED_SOAK_SEED", str(random.randrange(1 << 30))))
    print(f"soak: {SECONDS:g} s, seed {seed} (SURFACED_SOAK_SEED)")
    rng = random.Random(seed)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    pty = Pty()
    daemon = Daemon(tmp_path, mappings, pty.path)
    try:
        _idle_then_soak(daemon, pty, rng, mappings, figures, seed, 1e6 * jack.period / jack.rate)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(30)
        pty.close()


def _midi_in(said: str) -> tuple[int, int]:
    """The JACK MIDI events the daemon's hook took in, and dropped (its stop summary)."""
    m = re.search(r"JACK MIDI (\d+) events in \((\d+) dropped", said)
    assert m is not None, f"no JACK MIDI summary in what the daemon said:\n{said[-2000:]}"
    return int(m.group(1)), int(m.group(2))


def _subsequence(got: list[float], want: list[float]) -> bool:
    """Whether `got` is `want` with some items left out (order kept)."""
    it = iter(want)
    return all(any(close(g, w) for w in it) for g in got)


def _xruns(said: str) -> int:
    m = re.search(r"xruns (\d+)", said)
    assert m is not None, f"no xrun count in what the daemon said:\n{said[-2000:]}"
    return int(m.group(1))


@dataclass
class BlockTiming:
    """The daemon's `--audio-timing` line at stop: what its audio blocks cost."""

    blocks: int
    cpu_p99_us: int
    cpu_p999_us: int
    cpu_max_us: int
    wall_max_us: int
    cpu_over: int  # blocks past their period in CPU time (the block's work, and interrupts)
    wall_over: int  # blocks past it in wall-clock time (held up by the machine too)


def _timing(said: str) -> BlockTiming:
    m = re.search(r"audio blocks (\d+) \(.*\): CPU p50 \d+ µs, p99 (\d+) µs, p99.9 (\d+) µs, "
                  r"max (\d+) µs; wall-clock p99 \d+ µs, max (\d+) µs; past their period: "
                  r"(\d+) in CPU time, (\d+) in wall-clock time", said)
    assert m is not None, f"no audio timing in what the daemon said:\n{said[-2000:]}"
    return BlockTiming(*(int(g) for g in m.groups()))


def _idle_then_soak(daemon: Daemon, pty: Pty, rng: random.Random, mappings: Path,
                    figures: Figures, seed: int, period_us: float) -> None:
    # The idle run: the same daemon, configuration, JACK graph (the controller's ports
    # are there) and length, nothing sent.
    ctl = MidiController()
    daemon.start()
    time.sleep(SECONDS)
    code, said = daemon.stop()
    assert code == 0, said[-4000:]
    idle_xruns, idle_timing = _xruns(said), _timing(said)
    (daemon.tmp / "song.log").unlink(missing_ok=True)

    daemon.start()
    box = BoxEmulator(pty)
    assert box.greeted.wait(WAIT), "the daemon never said /hello to the box"
    recs = {name: Record() for name in ("midi", "udp", "tcp", "box")}
    tcp_peer = TcpPeer(daemon.tcp)
    watcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a subscriber that stays
    watcher.bind(("127.0.0.1", 0))
    watched: dict[str, float] = {}
    stop, done = threading.Event(), threading.Event()
    joins, reloads = [0], [0]

    def watch() -> None:
        renew = 0.0
        watcher.settimeout(0.1)
        while not done.is_set():
            if time.monotonic() >= renew:  # the lease is 10 s
                watcher.sendto(encode_message("/subscribe", []), ("127.0.0.1", daemon.udp))
                renew = time.monotonic() + 4.0
            try:
                for e in parse_packet(watcher.recv(65536)):
                    if e.args and isinstance(e.args[0], float):
                        watched[e.address.strip("/")] = e.args[0]
            except (OSError, OscParseError):
                continue

    # Both surfaces listen before the soak starts (a probe each, on a parameter of
    # its own, until the mix shows it): nothing sent counts as lost for arriving early.
    # From the moment JACK connects the controller to the daemon, every event it sends
    # is counted, to tell events JACK never delivered from events the daemon lost.
    deadline = time.monotonic() + WAIT
    while not ctl.connected_to("surfaced"):
        assert time.monotonic() < deadline, "the daemon never connected to the controller"
        time.sleep(0.1)
    ctl.sent = 0
    _probe(daemon, "ch/1/mute", lambda v: ctl.send([0xB0, 60, 127 * v]))
    _probe(daemon, "ch/13/mute", lambda v: box.send("/probe", v, types="i"))

    watch_thread = threading.Thread(target=watch, daemon=True)
    watch_thread.start()
    threads = [threading.Thread(target=fn, args=(stop, random.Random(rng.random()), *args),
                                daemon=True, name=name) for name, fn, args in (
        ("midi", midi_sender, (recs["midi"], ctl)),
        ("udp", udp_sender, (recs["udp"], daemon.udp)),
        ("tcp", tcp_sender, (recs["tcp"], daemon.tcp, tcp_peer)),
        ("box", box_sender, (recs["box"], box)),
        ("subscribers", subscribers, (daemon.udp, daemon.tcp, joins)),
        ("mappings", junk_mappings, (daemon, mappings, reloads)))]
    failures: list[str] = []
    samples: list[tuple[float, int]] = []  # (RSS MB, open files)
    old_hook = threading.excepthook
    threading.excepthook = lambda a: failures.append(f"{a.thread.name if a.thread else '?'}: "
                                                     f"{a.exc_type.__name__}: {a.exc_value}")
    try:
        for t in threads:
            t.start()
        _load(daemon, stop, threads, samples)
    finally:
        threading.excepthook = old_hook
    assert not failures, f"a sender failed: {failures}"
    daemon.alive()

    # Quiet now: the mix must be the last valid write of each parameter...
    last = {p: expected(p, rec.sent[p][-1]) for rec in recs.values() for p in rec.sent}
    assert set(last) == set(ALL), f"some parameters were never written: {set(ALL) - set(last)}"
    # (Bounded wait: the last writes may still be on their way through the sockets.)
    deadline = time.monotonic() + WAIT
    while True:
        try:  # a busy daemon may take longer than one /get's 5 s: ask again until WAIT
            final = {p: daemon.get(p) for p in ALL}
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
            continue
        wrong = {p: (final[p], last[p]) for p in ALL if not close(final[p], last[p])}
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if wrong:  # say what the change log holds: which writes went missing or came twice
        daemon.stop()
        log = daemon.changes()
        sent = {p: [expected(p, v) for v in rec.sent[p]] for rec in recs.values() for p in rec.sent}
        said = "; ".join(f"{p}: sent ...{sent[p][-4:]} ({len(sent[p])}), logged "
                         f"...{log.get(p, [])[-4:]} ({len(log.get(p, []))})" for p in wrong)
        raise AssertionError(f"final value != last valid write (seed {seed}): {wrong}; {said}")

    # ... and every surface's last feedback must agree with it (bounded wait: coalesced).
    def disagreements() -> dict[str, object]:
        out: dict[str, object] = {}
        for i, p in enumerate(ALL):
            pos = spec_for(p, 16, 1).to_position(final[p])
            if not close(watched.get(p, math.nan), final[p]):
                out[f"udp subscriber {p}"] = watched.get(p)
            if p not in TCP and not close(tcp_peer.got.get(p, math.nan), final[p]):
                out[f"tcp writer {p}"] = tcp_peer.got.get(p)
            cc = ctl.feedback.get(40 + i, -99)
            if p not in MIDI and abs(cc - pos * 127) > 0.51:
                out[f"midi cc {40 + i} {p}"] = (cc, pos * 127)
            raw = box.feedback.get(i + 1, -99)
            if p not in BOX and abs(raw - pos * 16383) > 0.51:
                out[f"box /w/{i + 1} {p}"] = (raw, pos * 16383)
        return out

    deadline = time.monotonic() + WAIT
    while (bad := disagreements()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not bad, f"feedback disagrees with the mix (seed {seed}): {bad}"

    end_rss, end_fds = daemon.rss_mb(), daemon.fds()
    code, said = daemon.stop()
    box.stopping.set()
    done.set()
    ctl.close()
    tcp_peer.close()
    watcher.close()
    assert code == 0, said[-4000:]
    soak_xruns, soak_timing = _xruns(said), _timing(said)
    midi_in, midi_dropped = _midi_in(said)
    assert midi_dropped == 0, f"the daemon's JACK MIDI ring dropped {midi_dropped} events"
    # JACK delivers a cycle's events only if the sending client ran in time for the
    # reading one (and the reader ran at all): in a cycle lost to an xrun, events
    # sent never reach the daemon's port. Those are JACK's, not the daemon's, and
    # happen only with xruns; every event that reached the port must be applied.
    jack_lost = ctl.sent - midi_in
    assert jack_lost >= 0, f"the daemon counted {midi_in} MIDI events, {ctl.sent} were sent"
    assert jack_lost == 0 or soak_xruns > 0, \
        f"{jack_lost} MIDI events never reached the daemon's port, without an xrun"

    # The change log: per parameter, exactly the sequence sent, from its sender (for
    # MIDI: what reached the daemon's port, a subsequence missing at most jack_lost).
    log = daemon.changes()
    lost = doubled = midi_short = 0
    mismatched: dict[str, str] = {}
    for name, rec in recs.items():
        for p, sent in rec.sent.items():
            got = [v for _src, v in log.get(p, [])]
            want = [expected(p, v) for v in sent]
            if name == "midi" and len(got) < len(want) and _subsequence(got, want):
                midi_short += len(want) - len(got)
                continue
            lost += max(0, len(want) - len(got))
            doubled += max(0, len(got) - len(want))
            if len(got) != len(want) or not all(map(close, got, want)):
                first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False))
                              if not close(a, b)), min(len(got), len(want)))
                mismatched[p] = (f"{name}: {len(want)} sent, {len(got)} logged, first "
                                 f"difference at {first}")
    stray = sorted(set(log) - {*ALL, "ch/1/mute", "ch/13/mute"})  # the probes

    rss_drift = end_rss - samples[0][0]
    fd_drift = end_fds - samples[0][1]
    for name, rec in recs.items():
        figures.record(f"soak_{name}_events", rec.events, "events",
                       f"valid writes sent over {name} in a {SECONDS:g} s soak "
                       f"(seed {seed}), {rec.garbage} garbage messages between them")
    figures.record("soak_lost", lost, "events", "valid writes missing from the change log")
    figures.record("soak_midi_jack_lost", jack_lost, "events",
                   f"MIDI events (valid or garbage) sent that JACK never delivered to the "
                   f"daemon's port (cycles lost to xruns); {midi_short} of them valid writes")
    figures.record("soak_doubled", doubled, "events", "changes logged beyond the writes sent")
    figures.record("soak_rss_drift_mb", round(rss_drift, 1), "MB",
                   f"daemon RSS at the end minus after warming up ({samples[0][0]:.0f} MB; "
                   f"midway {samples[1][0]:.0f} MB); the test fails above {RSS_BOUND_MB:g} MB")
    figures.record("soak_fd_drift", fd_drift, "files",
                   f"daemon open files at the end minus after warming up ({samples[0][1]}); "
                   f"the test fails beyond +-{FD_BOUND}")
    figures.record("soak_xruns", soak_xruns, "xruns",
                   f"xruns JACK reported to the daemon's client during the soak (server-wide: "
                   f"any late client makes one); an idle run of the same length had "
                   f"{idle_xruns}")
    figures.record("soak_idle_xruns", idle_xruns, "xruns",
                   f"xruns JACK reported to the same daemon idle for {SECONDS:g} s")
    figures.record("soak_blocks_late_cpu", soak_timing.cpu_over, "blocks",
                   f"of {soak_timing.blocks} audio blocks in the soak, those whose CPU time "
                   f"passed their period (idle: {idle_timing.cpu_over} of {idle_timing.blocks}); "
                   f"the test fails above 2 x idle + 2")
    figures.record("soak_block_cpu_p999_us", soak_timing.cpu_p999_us, "µs",
                   f"CPU time of an audio block in the soak, p99.9 (p99 {soak_timing.cpu_p99_us} "
                   f"µs, max {soak_timing.cpu_max_us} µs; idle p99.9 {idle_timing.cpu_p999_us} "
                   f"µs, max {idle_timing.cpu_max_us} µs) of a {period_us:.0f} µs JACK period; "
                   f"the test fails above half the period")
    figures.record("soak_blocks_late_wall", soak_timing.wall_over, "blocks",
                   f"audio blocks that ended past their period in wall-clock time, waiting for "
                   f"a CPU included (idle: {idle_timing.wall_over}; wall-clock max "
                   f"{soak_timing.wall_max_us} µs, idle {idle_timing.wall_max_us} µs)")
    figures.record("soak_subscriber_joins", joins[0], "joins",
                   f"OSC subscribers that joined and left during the soak; {reloads[0]} "
                   "SIGHUP reloads with a broken mapping file")

    # The xruns themselves follow the machine (see the module docstring); what the
    # daemon controls is its own audio work, which must stay well inside the period
    # and be no more often late under the soak than at idle.
    for phase, timing in (("idle", idle_timing), ("soak", soak_timing)):
        assert timing.cpu_p999_us <= period_us / 2, \
            f"{phase}: 0.1% of the audio blocks took over {timing.cpu_p999_us} µs of CPU " \
            f"time, over half their {period_us:.0f} µs period: {timing}"
    assert soak_timing.cpu_over <= 2 * idle_timing.cpu_over + 2, \
        f"audio blocks past their period in CPU time: idle {idle_timing}, soak {soak_timing}"
    assert midi_short <= jack_lost, \
        f"{midi_short} MIDI writes missing, only {jack_lost} events lost before the daemon"
    assert not mismatched and not stray, \
        f"change log != writes sent (seed {seed}): {mismatched}; changed by garbage: {stray}"
    assert rss_drift <= RSS_BOUND_MB, f"RSS grew {rss_drift:.1f} MB: {samples}, {end_rss}"
    assert abs(fd_drift) <= FD_BOUND, f"open files {samples} -> {end_fds}"
