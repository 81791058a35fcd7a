"""The virtual box (firmware core compiled for the host) on a real
pseudo-terminal: hello -> identity + snapshot, scripted moves reach the host,
feedback reaches the box's LEDs, meters and motor faders."""

from __future__ import annotations

import os
import subprocess
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fwbuild import CORE_SOURCES, FIRMWARE, compile_c
from fwproto import LineReader, Msg, MsgStream, osc

BOX_TIMEOUT_MS = 30000  # the box exits by itself even if a test forgets it


@pytest.fixture(scope="module")
def virtual_box_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The virtual box, built with sanitizers so misuse of the core shows."""
    out = tmp_path_factory.mktemp("vbox") / "virtual_box"
    return compile_c(out, [FIRMWARE / "host" / "virtual_box.c", *CORE_SOURCES], sanitize=True)


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    log: LineReader
    line: MsgStream


StartBox = Callable[[str], Running]


@pytest.fixture
def start_box(virtual_box_exe: Path, tmp_path: Path) -> Iterator[StartBox]:
    """Start the virtual box on the slave side of a fresh pty with a script;
    the test holds the master side, as the daemon would hold the port."""
    started: list[tuple[subprocess.Popen[bytes], int, int]] = []

    def start(script: str) -> Running:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or newline translation before the box sets it too
        script_path = tmp_path / f"script{len(started)}.txt"
        script_path.write_text(script, encoding="utf-8")
        proc = subprocess.Popen(
            [str(virtual_box_exe), "--device", os.ttyname(slave), "--script", str(script_path),
             "--timeout-ms", str(BOX_TIMEOUT_MS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        started.append((proc, master, slave))
        log = LineReader(proc)
        log.until("ready")
        return Running(proc, log, MsgStream(master))

    yield start
    for proc, master, slave in started:
        os.close(master)  # hang up: the box exits on its own
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        os.close(slave)
        assert proc.stderr is not None
        errors = proc.stderr.read().decode(errors="replace")
        assert "ERROR: AddressSanitizer" not in errors and "runtime error" not in errors, errors


def values(msgs: list[Msg], address: str) -> list[object]:
    """First argument of every message to address, in order."""
    return [m.args[0] for m in msgs if m.address == address]


def test_hello_gets_identity_then_full_snapshot(start_box: StartBox) -> None:
    """Right after a hello the host knows the box and every control position."""
    box = start_box("wait_hello\n")
    box.line.send(osc("/hello", "surfaced"))
    msgs = box.line.until("/snapshot/done")
    announce = [m for m in msgs if m.address == "/announce"]
    assert announce and announce[0].args == ["surfaced-virtual-box", "0.1.0"]
    identity = [m for m in msgs if m.address == "/identity"]
    assert identity[0].args == ["surfaced-virtual-box", "0.1.0", 1, "fader:8", "button:8",
                                "encoder:4", "led:8", "meter:8", "motor:8"]
    after = msgs[msgs.index(identity[0]) + 1:]
    addresses = [m.address for m in after]
    for n in range(1, 9):
        assert f"/fader/{n}" in addresses and f"/button/{n}" in addresses
        assert f"/fader/{n}/touch" in addresses
    for n in range(1, 5):
        assert f"/encoder/{n}/push" in addresses
    assert after[-1].args == [len(after) - 1]  # /snapshot/done counts the snapshot
    assert values(after, "/button/1") == [0]
    box.log.until("hello")


def test_scripted_moves_reach_the_host(start_box: StartBox) -> None:
    """A fader glide, a bouncing button, a slow encoder turn and a push arrive
    as the messages a mapping expects, with the bounce giving one press."""
    box = start_box(
        "wait_hello\n"
        "fader 1 0.5 100\nwait 100\n"
        "bounce 3\nwait 40\nrelease 3\nwait 40\n"
        "turn 2 3 120\n"
        "push 2\nwait 30\nunpush 2\nwait 30\n"
        "print end\n"
    )
    box.line.send(osc("/hello"))
    box.line.until("/snapshot/done")
    box.log.until("print end")
    box.line.send(osc("/ping", 7))
    msgs = box.line.until("/pong")
    assert msgs[-1].args == [7]
    fader = values(msgs, "/fader/1")
    assert fader, msgs
    assert abs(int(fader[-1]) - 8192) <= 64  # type: ignore[call-overload]
    assert values(msgs, "/button/3") == [1, 0]
    assert sum(values(msgs, "/encoder/2")) == 3  # type: ignore[arg-type]
    assert values(msgs, "/encoder/2/push") == [1, 0]


def test_feedback_is_applied_and_motor_is_not_echoed(start_box: StartBox) -> None:
    """LED, meter and motor target feedback is applied by the box; the motor
    fader moves to the target without echoing the move back."""
    box = start_box("wait_hello\n")
    box.line.send(osc("/hello"))
    box.line.until("/snapshot/done")
    box.line.send(osc("/led/3", 1), osc("/meter/1", 0.5), osc("/fader/2/target", 0.75))
    assert box.log.until("led ") == "led 3 1"
    assert box.log.until("meter ") == "meter 1 8192"
    assert box.log.until("target ") == "target 2 12287"
    arrived = box.log.until("arrived ")
    index, position = arrived.split()[1:]
    assert index == "2" and abs(int(position) - 12287) <= 64
    box.line.send(osc("/ping", 1))
    assert values(box.line.until("/pong"), "/fader/2") == []
    box.line.send(osc("/led/3", 0))
    assert box.log.until("led ") == "led 3 0"


def test_touched_fader_ignores_targets(start_box: StartBox) -> None:
    """A hand on the fader wins: the touch is reported and the motor stays off."""
    box = start_box(
        "wait_hello\ntouch 3\nprint touched\nwait 300\nuntouch 3\nwait 50\nprint released\n"
    )
    box.line.send(osc("/hello"))
    box.line.until("/snapshot/done")
    box.log.until("print touched")
    box.line.send(osc("/fader/3/target", 1.0))
    box.log.until("target 3")
    box.log.until("print released")
    box.line.send(osc("/hello"))
    msgs = box.line.until("/snapshot/done")
    assert values(msgs, "/fader/3/touch")[:2] == [1, 0]
    assert values(msgs, "/fader/3")[-1] == 0  # did not move
    assert not any(line.startswith("arrived 3") for line in box.log.lines)


def test_garbage_on_the_line_is_counted_not_fatal(start_box: StartBox) -> None:
    """Line noise and a broken frame before the hello: the hello still works
    and /stats shows what was dropped."""
    box = start_box("")
    os.write(box.line.fd, bytes([0x13, 0x37, 0xC0, 0x2F, 0xDB, 0x00, 0xC0]))
    box.line.send(osc("/hello"))
    box.line.until("/snapshot/done")
    box.line.send(osc("/stats"))
    stats = box.line.until("/stats")[-1].args
    packets, garbage, bad_escape, overflow, osc_errors, unknown = stats
    assert (garbage, bad_escape, overflow, osc_errors, unknown) == (1, 1, 0, 0, 0)
    assert packets == 2


def test_stdio_mode(virtual_box_exe: Path) -> None:
    """--stdio speaks the protocol on stdin/stdout (for pipes and socat)."""
    from fwproto import SlipReader, decode, slip_frame

    proc = subprocess.run(
        [str(virtual_box_exe), "--stdio", "--timeout-ms", "5000"],
        input=slip_frame(osc("/hello")), capture_output=True, timeout=20,
    )
    frames = SlipReader().feed(proc.stdout)
    addresses = [decode(f).address for f in frames]
    assert addresses[:2] == ["/announce", "/identity"]
    assert addresses[-1] == "/snapshot/done"
    assert b"exit hangup" in proc.stderr
