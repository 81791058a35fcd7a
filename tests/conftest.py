"""Shared fixtures: one real JACK server (dummy driver) per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from jack_server import JackServer, jack_server, jackd_path
from measured import Figures


@pytest.fixture(scope="session")
def jack() -> Iterator[JackServer]:
    """A JACK server with the dummy driver at 48 kHz / 64 frames.

    CI installs jackd2; on a developer machine without it the tests that need
    it are skipped with the install command as the reason.
    """
    if jackd_path() is None:
        if os.environ.get("CI"):
            pytest.fail("jackd missing in CI: .ci/run must install jackd2")
        pytest.skip("jackd not installed (apt-get install jackd2 libportaudio2)")
    with jack_server() as server:
        yield server


@pytest.fixture(scope="session")
def virtual_box_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DIY box firmware compiled for the host (`make -C firmware host`), built once.

    Skipped with the reason where it cannot be built; in CI that fails instead.
    """
    cc = os.environ.get("CC", "cc")
    problem = None
    if shutil.which("make") is None or shutil.which(cc) is None:
        problem = "make and a C compiler are needed: apt-get install -y make gcc"
    else:
        build = tmp_path_factory.mktemp("vbox")
        firmware = Path(__file__).resolve().parents[1] / "firmware"
        proc = subprocess.run(["make", "-s", "-C", str(firmware), "host", f"BUILD={build}"],
                              capture_output=True, text=True, timeout=120)
        exe = build / "host" / "virtual_box"
        if proc.returncode == 0 and exe.exists():
            return exe
        problem = f"`make -C firmware host` failed:\n{proc.stdout}{proc.stderr}"
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """The session's Figures; written to $SURFACED_FIGURES (JSON) when that is set."""
    import json

    fig = Figures()
    yield fig
    out = os.environ.get("SURFACED_FIGURES")
    if out and fig.values:
        old: dict[str, object] = {}
        if os.path.exists(out):
            with open(out) as f:
                old = json.load(f)
        old.update(fig.values)
        with open(out, "w") as f:
            json.dump(old, f, indent=2, sort_keys=True)
