"""Host tests of the firmware's portable C core.

The C test programs in tests/firmware/c are compiled with the host gcc
(strict C99, warnings as errors, and again with AddressSanitizer and
UndefinedBehaviorSanitizer) into a temporary directory and run here; each C
test and each shared SLIP/OSC vector case is reported as its own pytest case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fwbuild import TESTS_C, load_vectors, run_c

BuildFn = Callable[[str, bool], Path]


def c_test_names() -> list[str]:
    """Names in test_core.c's TESTS table, read from the source so that
    collection needs no compiler."""
    source = (TESTS_C / "test_core.c").read_text(encoding="utf-8")
    table = source[source.index("static const struct test_case TESTS[]"):]
    return re.findall(r'\{"(\w+)",', table)


def assert_passed(proc: object, name: str) -> None:
    """Fail with the program's own output unless `name` passed cleanly."""
    stdout = getattr(proc, "stdout", "")
    stderr = getattr(proc, "stderr", "")
    code = getattr(proc, "returncode", -1)
    assert code == 0 and f"PASS {name}" in stdout, f"exit {code}\n{stdout}\n{stderr}"


@pytest.mark.parametrize("name", c_test_names())
def test_core(build_core_test: BuildFn, name: str) -> None:
    """One C unit test of the core (conditioning, debounce, encoder, motor, box)."""
    exe = build_core_test("test_core", False)
    assert_passed(run_c(exe, name), name)


@pytest.mark.parametrize("name", [str(case["name"]) for case in load_vectors()])
def test_shared_vector(build_core_test: BuildFn, name: str) -> None:
    """The firmware's SLIP decoder and OSC codec agree with a shared vector:
    same packets, same error counts, and canonical cases encode back to the
    same bytes."""
    exe = build_core_test("test_vectors", False)
    assert_passed(run_c(exe, name), name)


@pytest.mark.parametrize("program", ["test_core", "test_vectors"])
def test_core_clean_under_sanitizers(build_core_test: BuildFn, program: str) -> None:
    """Every test again under ASan + UBSan: no out-of-bounds read of a
    malformed packet, no overflow, no leak."""
    exe = build_core_test(program, True)
    proc = run_c(exe)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.M), proc.stdout
    assert "runtime error" not in proc.stderr, proc.stderr


def test_vectors_are_well_formed() -> None:
    """Each vector case has what both decoders need: one OSC entry per packet
    and error counts that add up."""
    cases = load_vectors()
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "vector names must be unique"
    for case in cases:
        packets = case["packets_hex"]
        osc = case["osc"]
        assert isinstance(packets, list) and isinstance(osc, list)
        assert len(packets) == len(osc), case["name"]
        assert set(case["errors"]) == {"garbage", "bad_escape", "overflow"}  # type: ignore[arg-type]
        assert case["osc_errors"] == sum(1 for o in osc if "error" in o)
        bytes.fromhex(str(case["frame_bytes_hex"]))
