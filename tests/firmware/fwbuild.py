"""Helpers for the firmware tests: the host C compiler, the core sources and
the shared SLIP/OSC vectors turned into a C header at test time.

Nothing is installed here: a missing tool skips its tests on a developer
machine (with the apt command as the reason) and fails them in CI, where
.ci/run is expected to have installed it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
CORE = FIRMWARE / "core"
TESTS_C = Path(__file__).resolve().parent / "c"
VECTORS = REPO / "tests" / "vectors" / "slip_osc.json"

CORE_SOURCES = sorted(CORE.glob("*.c"))
STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                  "-fno-sanitize-recover=all"]
COMPILE_TIMEOUT_S = 120
RUN_TIMEOUT_S = 60


def require_tool(name: str, apt_package: str) -> str:
    """Path of a build tool, or skip (fail in CI) naming the package to install."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install -y {apt_package}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI: .ci/run must install it)")
        pytest.skip(message)
    return path


def load_vectors() -> list[dict[str, object]]:
    """The shared vector cases, as a list of dicts."""
    with VECTORS.open(encoding="utf-8") as f:
        cases = json.load(f)
    assert isinstance(cases, list)
    return cases


def c_string(s: str) -> str:
    """A C string literal for any text (hex escapes for everything unusual)."""
    out = []
    for byte in s.encode("utf-8"):
        ch = chr(byte)
        if ch.isalnum() or ch in " /_-.:,":
            out.append(ch)
        else:
            out.append(f'\\x{byte:02x}""')  # "" stops the escape eating the next hex digit
    return '"' + "".join(out) + '"'


def vectors_header(cases: list[dict[str, object]]) -> str:
    """Render the vector cases as the C tables test_vectors.c expects."""
    lines = ["/* Generated from tests/vectors/slip_osc.json by conftest.py. */"]
    for n, case in enumerate(cases):
        packets = case["packets_hex"]
        assert isinstance(packets, list)
        items = ", ".join(c_string(p) for p in packets) or "0"
        lines.append(f"static const char *const PK{n}[] = {{{items}}};")
        oscs = case["osc"]
        assert isinstance(oscs, list)
        entries = []
        for k, osc in enumerate(oscs):
            if "error" in osc:
                entries.append(f"{{{c_string(osc['error'])}, 0, 0, 0, 0}}")
                continue
            args = []
            for t, v in zip(osc["types"], osc["args"], strict=True):
                if t == "i":
                    args.append(f"{{'i', {int(v)}LL, 0.0, 0}}")
                elif t == "f":
                    args.append(f"{{'f', 0, {float(v)!r}, 0}}")
                else:
                    args.append(f"{{'{t}', 0, 0.0, {c_string(str(v))}}}")
            arg_table = f"A{n}_{k}"
            body = ", ".join(args) or "{0, 0, 0.0, 0}"
            lines.append(f"static const struct vec_arg {arg_table}[] = {{{body}}};")
            entries.append(
                f"{{0, {c_string(osc['address'])}, {c_string(osc['types'])}, {arg_table}, "
                f"{int(bool(osc.get('reencodes')))}}}"
            )
        lines.append(
            f"static const struct vec_osc OS{n}[] = {{{', '.join(entries) or '{0, 0, 0, 0, 0}'}}};"
        )
    lines.append("static const struct vec_case VECTORS[] = {")
    for n, case in enumerate(cases):
        errors = case["errors"]
        assert isinstance(errors, dict)
        lines.append(
            f"  {{{c_string(str(case['name']))}, {c_string(str(case['frame_bytes_hex']))}, "
            f"{int(case['max_packet'])}u, {len(case['packets_hex'])}, PK{n}, OS{n}, "  # type: ignore[arg-type]
            f"{errors['garbage']}u, {errors['bad_escape']}u, {errors['overflow']}u, "
            f"{case['osc_errors']}u, {int(bool(case['canonical']))}}},"
        )
    lines.append("};")
    return "\n".join(lines) + "\n"


def compile_c(
    out: Path, sources: Sequence[Path], *, sanitize: bool, include: Sequence[Path] = (),
    defines: Sequence[str] = (),
) -> Path:
    """Compile sources with the host gcc in strict C99; fail the test with the
    compiler's messages if it does not build."""
    gcc = require_tool("gcc", "gcc")
    cmd = [gcc, *STRICT_FLAGS]
    if sanitize:
        cmd += SANITIZE_FLAGS
    for d in (CORE, TESTS_C, *include):
        cmd.append(f"-I{d}")
    cmd += [f"-D{d}" for d in defines]
    cmd += [str(s) for s in sources] + ["-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"compile failed: {' '.join(cmd)}\n{proc.stderr}")
    return out


def run_c(exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a C test program with a time limit; sanitizer reports are errors."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return subprocess.run([str(exe), *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env)
