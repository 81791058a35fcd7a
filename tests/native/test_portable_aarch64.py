"""The core is portable C: cross-compiled for aarch64 (Raspberry Pi 4/5), run under qemu-user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[2] / "native"
sys.path.insert(0, str(NATIVE))
from build_core import SOURCES as CORE_SOURCES  # noqa: E402  (the package build's own list)

SOURCES = [*CORE_SOURCES, "selftest.c"]


def _tools() -> tuple[str, str]:
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install gcc-aarch64-linux-gnu and qemu-user (see .ci/run)")
        pytest.skip("needs gcc-aarch64-linux-gnu and qemu-user: "
                    "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user")
    return cc, qemu


def test_core_builds_and_passes_its_selftest_on_aarch64(tmp_path: Path) -> None:
    cc, qemu = _tools()
    exe = tmp_path / "selftest-aarch64"
    build = subprocess.run(
        [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-I", str(NATIVE),
         *[str(NATIVE / s) for s in SOURCES], "-o", str(exe), "-lm", "-lpthread"],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert b"aarch64" in subprocess.run(["file", str(exe)], capture_output=True).stdout \
        or shutil.which("file") is None
    run = subprocess.run([qemu, str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "selftest passed" in run.stdout
    assert "integrated -23.0" in run.stdout or "integrated -22.9" in run.stdout
