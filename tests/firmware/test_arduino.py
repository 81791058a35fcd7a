"""The Arduino targets: both AVR images build with Debian's toolchain and fit
their chips, and the Uno image, run in simavr, speaks the box protocol on its
UART (boot announce, hello -> identity + snapshot, feedback, error counts)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fwbuild import FIRMWARE, TESTS_C, require_tool
from fwproto import Msg, SlipReader, decode, osc, slip_frame

BUILD_TIMEOUT_S = 300
SIM_TIMEOUT_S = 60
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/CDC.cpp")

# Board limits: flash available to a sketch beside the bootloader and the
# chip's SRAM (boards.txt of arduino-core-avr: upload.maximum_size /
# maximum_data_size). At least STACK_RESERVE bytes of SRAM must stay free.
UNO_FLASH, UNO_RAM = 32256, 2048
LEONARDO_FLASH, LEONARDO_RAM = 28672, 2560
STACK_RESERVE = 512


def make(build: Path, *targets: str) -> str:
    """Run the firmware Makefile into a temporary build directory."""
    make_path = require_tool("make", "make")
    proc = subprocess.run(
        [make_path, "-C", str(FIRMWARE), f"BUILD={build}", "-j2", *targets],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def sizes(output: str) -> dict[str, tuple[int, int]]:
    """{image: (flash, ram)} from the Makefile's SIZE lines."""
    return {m[0]: (int(m[1]), int(m[2]))
            for m in re.findall(r"^SIZE (\S+) flash=(\d+) ram=(\d+)$", output, re.M)}


@pytest.fixture(scope="module")
def uno_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, int]]]:
    """The Uno image and its size report."""
    require_tool("avr-gcc", "gcc-avr avr-libc")
    build = tmp_path_factory.mktemp("avr-uno")
    out = make(build, "uno")
    out += make(build, "size")
    return build / "uno" / "surfbox-uno.elf", sizes(out)


def test_uno_image_fits(uno_build: tuple[Path, dict[str, tuple[int, int]]]) -> None:
    """The Uno image fits the ATmega328P with room for the stack."""
    elf, report = uno_build
    assert elf.is_file()
    flash, ram = report["surfbox-uno"]
    assert flash <= UNO_FLASH
    assert ram <= UNO_RAM - STACK_RESERVE


def test_leonardo_image_fits(tmp_path: Path) -> None:
    """The 32U4 image (Arduino core USB CDC) builds and fits the Leonardo."""
    require_tool("avr-gcc", "gcc-avr avr-libc")
    if not ARDUINO_CORE.is_file():
        require_tool("arduino-core-avr-is-missing", "arduino-core-avr")
    out = make(tmp_path, "leonardo", "size")
    assert (tmp_path / "leonardo" / "surfbox-leonardo.hex").is_file()
    flash, ram = sizes(out)["surfbox-leonardo"]
    assert flash <= LEONARDO_FLASH
    assert ram <= LEONARDO_RAM - STACK_RESERVE


@pytest.fixture(scope="module")
def simavr_uart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UART harness around libsimavr (tests/firmware/c/simavr_uart.c)."""
    gcc = require_tool("gcc", "gcc")
    if not SIMAVR_HEADER.is_file():
        require_tool("libsimavr-dev-is-missing", "simavr libsimavr-dev")
    out = tmp_path_factory.mktemp("simavr") / "simavr_uart"
    proc = subprocess.run(
        [gcc, "-O2", "-I/usr/include/simavr", str(TESTS_C / "simavr_uart.c"), "-o", str(out),
         "-lsimavr"],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    return out


RunSim = Callable[..., list[Msg]]


@pytest.fixture
def run_uno(simavr_uart: Path, uno_build: tuple[Path, dict[str, tuple[int, int]]]) -> RunSim:
    """Run the Uno image in simulated time; returns the OSC messages it sent."""

    def run(run_ms: int, *inputs: tuple[int, bytes], adc_mv: int = 2500) -> list[Msg]:
        args = [str(simavr_uart), str(uno_build[0]), "atmega328p", "16000000", str(run_ms),
                str(adc_mv)]
        for at_ms, data in inputs:
            args += [str(at_ms), data.hex()]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=SIM_TIMEOUT_S)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        tx = re.search(r"^TX ([0-9a-f]*)$", proc.stdout, re.M)
        assert tx, proc.stdout
        return [decode(f) for f in SlipReader().feed(bytes.fromhex(tx[1]))]

    return run


def test_uno_announces_itself_at_boot(run_uno: RunSim) -> None:
    """A freshly reset Uno says who it is (a host whose hello was lost in the
    DTR reset knows to say hello again) and nothing else until greeted."""
    msgs = run_uno(100)
    assert [(m.address, m.args) for m in msgs] == [
        ("/announce", ["surfaced-ref-box", "0.1.0"])]


def test_uno_answers_hello_with_identity_and_snapshot(run_uno: RunSim) -> None:
    """Hello over the UART: identity, then all 8 faders (at the simulated
    2.5 V, mid-travel), 8 mutes and 4 pushes, then /snapshot/done."""
    msgs = run_uno(400, (50, slip_frame(osc("/hello"))))
    identity = [m for m in msgs if m.address == "/identity"]
    assert identity and identity[0].args == [
        "surfaced-ref-box", "0.1.0", 1, "fader:8", "button:8", "encoder:4", "led:8"]
    faders = [m.args[0] for m in msgs if re.fullmatch(r"/fader/\d", m.address)]
    assert len(faders) == 8
    assert all(abs(int(str(v)) - 8192) < 64 for v in faders)
    assert sorted(m.address for m in msgs if m.address.startswith("/button/")) == [
        f"/button/{n}" for n in range(1, 9)]
    assert msgs[-1].address == "/snapshot/done" and msgs[-1].args == [20]


def test_uno_takes_feedback_and_counts_garbage(run_uno: RunSim) -> None:
    """Line noise, then hello, an LED and /stats: the LED is a known address,
    the noise is counted once."""
    stream = bytes([0x42, 0x13]) + slip_frame(osc("/hello")) + slip_frame(osc("/led/3", 1))
    msgs = run_uno(500, (50, stream), (300, slip_frame(osc("/stats"))))
    stats = [m.args for m in msgs if m.address == "/stats"]
    assert stats == [[3, 1, 0, 0, 0, 0]]  # frames, garbage, bad esc, overflow, osc err, unknown
