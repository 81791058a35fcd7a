"""The Raspberry Pi Pico target (MicroPython, firmware/pico) run on CPython:
the shared SLIP/OSC vectors, the control conditioning, and the whole box on
shimmed `machine` pins (multiplexers, encoder pins, 74HC595 LEDs, UART and
USB stdio links)."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fwbuild import FIRMWARE, load_vectors
from fwproto import Msg, SlipReader, decode, osc, slip_frame

PICO = FIRMWARE / "pico"
SHIMS = Path(__file__).resolve().parent / "pico_shims"


@pytest.fixture
def pico(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The Pico modules imported fresh against the machine shim."""
    monkeypatch.syspath_prepend(str(SHIMS))
    monkeypatch.syspath_prepend(str(PICO))
    for name in [n for n in sys.modules if n in ("machine", "main") or n.startswith("surfbox")]:
        monkeypatch.delitem(sys.modules, name)
    machine = importlib.import_module("machine")
    machine.Pin.board.clear()
    mods = {name: importlib.import_module(name) for name in
            ("surfbox.slip", "surfbox.osc", "surfbox.controls", "surfbox.box",
             "surfbox.hw_pico", "main")}
    mods["machine"] = machine
    yield mods


@pytest.mark.parametrize("case", load_vectors(), ids=lambda c: str(c["name"]))
def test_shared_vector(pico: dict[str, ModuleType], case: dict[str, object]) -> None:
    """The Pico's SLIP and OSC code reads the shared vectors exactly as the C core."""
    slip, oscmod = pico["surfbox.slip"], pico["surfbox.osc"]
    dec = slip.Decoder(int(case["max_packet"]))  # type: ignore[call-overload]
    frames = dec.feed(bytes.fromhex(str(case["frame_bytes_hex"])))
    assert [f.hex() for f in frames] == case["packets_hex"]
    assert {"garbage": dec.garbage, "bad_escape": dec.bad_escape,
            "overflow": dec.overflow} == case["errors"]
    for frame, expect in zip(frames, case["osc"], strict=True):  # type: ignore[call-overload]
        if "error" in expect:
            with pytest.raises(oscmod.OscError) as err:
                oscmod.parse(frame)
            assert err.value.kind == expect["error"]
            continue
        address, types, args = oscmod.parse(frame)
        assert (address, types) == (expect["address"], expect["types"])
        shown = [a.hex() if isinstance(a, bytes) else a for a in args]
        assert shown == expect["args"]
        if expect["reencodes"]:
            assert oscmod.encode(address, types, args) == frame
    if case["canonical"]:
        assert slip.encode(frames[0]).hex() == case["frame_bytes_hex"]


def test_osc_never_raises_anything_else(pico: dict[str, ModuleType]) -> None:
    """Random and truncated packets end in OscError, never another exception."""
    oscmod = pico["surfbox.osc"]
    import random

    rng = random.Random(7)
    good = oscmod.encode("/x", "isfb", [1, "hey", 0.5, b"abc"])
    for _ in range(5000):
        data = bytearray(good if rng.random() < 0.5 else os.urandom(rng.randrange(0, 40)))
        for _ in range(rng.randrange(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(oscmod.OscError):
            oscmod.parse(bytes(data))


def test_controls_match_the_c_core(pico: dict[str, ModuleType]) -> None:
    """Bounce gives one press; wiggle in the deadband sends nothing; a fast
    encoder turn accelerates, a slow one does not."""
    c = pico["surfbox.controls"]
    d = c.Debouncer(0, 0)
    changes = [d.update(level, t) for t, level in enumerate([1, 0, 1, 1, 0, 1] + [1] * 20)]
    assert changes.count(True) == 1 and d.stable == 1
    a = c.Analog(bits=12)
    a.update(2048)
    assert not any(a.update(2047 + (k % 3)) for k in range(500))
    assert c.scale14(4095, 12) == 16383 and c.scale14(1023, 10) == 16383

    def turn(enc: object, detents: int, gap: int, t: int) -> int:
        total = 0
        for _ in range(detents):
            for ab in (2, 0, 1, 3):
                t += gap // 4
                total += enc.update(ab, t)  # type: ignore[attr-defined]
        return total

    assert turn(c.Encoder(3), 10, 200, 0) == 10
    assert turn(c.Encoder(3), 10, 8, 0) > 40


class Board:
    """The shimmed Pico board: fader voltages, switch levels, LED shift register."""

    def __init__(self, machine: ModuleType) -> None:
        self.machine = machine
        self.faders = [0.5] * 8
        self.buttons = [1] * 16  # button multiplexer channels, pull-ups: 1 = open
        self.t = 0
        self.shift = 0
        self.latched = 0

    def wire(self, hw: object) -> None:
        """Connect the multiplexers and the 74HC595 model to the shim pins."""
        pins = self.machine.Pin.board
        select = [pins[n] for n in (10, 11, 12, 13)]

        def channel() -> int:
            return sum(p.level << k for k, p in enumerate(select))

        self.machine.ADC.last.source = lambda: int(self.faders[channel()] * 65535)
        sig = pins[14]
        board = self

        class MuxedSig:
            def value(self) -> int:
                return board.buttons[channel()]

        hw._button_sig = MuxedSig()  # type: ignore[attr-defined]

        def on_clock(pin: object) -> None:
            if pin.level:  # type: ignore[attr-defined]
                self.shift = ((self.shift << 1) | pins[19].level) & 0xFF

        def on_latch(pin: object) -> None:
            if pin.level:  # type: ignore[attr-defined]
                self.latched = self.shift

        pins[18].listeners.append(on_clock)
        pins[17].listeners.append(on_latch)
        assert sig is not None

    def clock(self) -> int:
        """The box's millisecond clock: one ms per call."""
        self.t += 1
        return self.t


def start(pico: dict[str, ModuleType], link: object) -> tuple[object, Board, object]:
    """A box on the shimmed board with the given link; returns (box, board, hw)."""
    board = Board(pico["machine"])
    hw = pico["surfbox.hw_pico"].PicoHardware(link, clock=board.clock)
    board.wire(hw)
    box = pico["main"].main(hw, loops=1)
    return box, board, hw


def run(box: object, hw: object, loops: int) -> None:
    """Main-loop iterations, as main.main runs them."""
    for _ in range(loops):
        data = hw.link.read()  # type: ignore[attr-defined]
        if data:
            box.receive(data)  # type: ignore[attr-defined]
        box.poll()  # type: ignore[attr-defined]


def messages(data: bytes) -> list[Msg]:
    """Decode a captured byte stream."""
    return [decode(f) for f in SlipReader().feed(data)]


def test_pico_box_over_uart(pico: dict[str, ModuleType]) -> None:
    """Hello over UART0: announce, identity, snapshot; then a bouncing mute
    gives one press, a fader move is sent, LED feedback lands in the 595."""
    uart = pico["machine"].UART(0)
    box, board, hw = start(pico, pico["surfbox.hw_pico"].UartLink(uart=uart))
    uart.rx_buffer += slip_frame(osc("/hello"))
    run(box, hw, 3)
    msgs = messages(bytes(uart.tx_buffer))
    assert msgs[0].address == "/announce"
    identity = next(m for m in msgs if m.address == "/identity")
    assert identity.args == ["surfaced-ref-box", "0.1.0", 1, "fader:8", "button:8",
                             "encoder:4", "led:8"]
    assert msgs[-1].address == "/snapshot/done" and msgs[-1].args == [20]
    assert all(abs(int(str(m.args[0])) - 8192) < 32 for m in msgs
               if m.address.startswith("/fader/"))

    uart.tx_buffer.clear()
    for level in (0, 1, 0, 1, 0):
        board.buttons[2] = level
        run(box, hw, 1)
    run(box, hw, 20)
    board.faders[0] = 1.0
    run(box, hw, 100)
    uart.rx_buffer += slip_frame(osc("/led/3", 1)) + slip_frame(osc("/led/8", 1.0))
    run(box, hw, 2)
    msgs = messages(bytes(uart.tx_buffer))
    assert [m.args for m in msgs if m.address == "/button/3"] == [[1]]
    assert [m.args for m in msgs if m.address == "/fader/1"][-1] == [16383]
    assert board.latched == 0b1000_0100  # LEDs 3 and 8


def test_pico_box_over_usb_stdio(pico: dict[str, ModuleType], tmp_path: Path) -> None:
    """The USB CDC link (MicroPython's stdio) carries the same protocol."""
    rfd, wfd = os.pipe()
    os.write(wfd, slip_frame(osc("/hello")) + slip_frame(osc("/ping", 5)))
    raw = io.FileIO(rfd, "rb")  # unbuffered, like MicroPython's stdin: poll() tells the truth
    out = io.BytesIO()

    class Stdin:
        buffer = raw

        def fileno(self) -> int:
            return rfd

    class Stdout:
        buffer = out

    try:
        link = pico["surfbox.hw_pico"].UsbStdio(stdin=Stdin(), stdout=Stdout())
        box, _, hw = start(pico, link)
        run(box, hw, 5)
    finally:
        os.close(wfd)
        raw.close()
    addresses = [m.address for m in messages(out.getvalue())]
    assert addresses[:2] == ["/announce", "/identity"]
    assert addresses[-1] == "/pong"
