"""Start and stop a real JACK server (dummy driver) for tests and benchmarks.

Each run gets its own server name so parallel or leftover servers never
collide; clients find it through JACK_DEFAULT_SERVER.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JackServer:
    """A running JACK server: its name and the process that runs it."""

    name: str
    rate: int
    period: int
    process: subprocess.Popen[bytes]


def jackd_path() -> str | None:
    """Where jackd is, or None when it is not installed."""
    return shutil.which("jackd")


@contextmanager
def jack_server(rate: int = 48000, period: int = 64) -> Iterator[JackServer]:
    """Run `jackd -d dummy` under a unique name for the duration of the block."""
    exe = jackd_path()
    if exe is None:
        raise RuntimeError("jackd is not installed (Debian: apt-get install jackd2)")
    _clear_stale_registry()
    # libjack keeps one server's engine state per process: a PortAudio left
    # initialised on another server (its JACK host API holds a client there)
    # and a client of this one crash in a libjack thread. Let it go first.
    _release_portaudio()
    name = f"sftest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    proc = subprocess.Popen(
        [exe, "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    try:
        _wait_until_up(name, proc)
        yield JackServer(name, rate, period, proc)
    finally:
        # PortAudio must let go of the server before it stops: its JACK host
        # API asserts (and aborts the process) if it terminates afterwards.
        _release_portaudio()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def _release_portaudio() -> None:
    """Terminate PortAudio if sounddevice has initialised it."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        while sd._initialized:
            sd._terminate()


def _live_jackd() -> bool:
    """True when some jackd process is running on this machine."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "jackd":
                return True
        except OSError:
            continue
    return False


def _clear_stale_registry() -> None:
    """Forget servers that died without cleaning up (killed runs leave their
    entries in /dev/shm, and after a few JACK refuses: "Too many servers
    already active"). Only when no jackd runs at all, so no live server loses
    its shared memory."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or _live_jackd():
        return
    for f in list(shm.glob("jack*")):
        with contextlib.suppress(OSError):
            f.unlink()


def _wait_until_up(name: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Poll jack_lsp until the server answers (bounded by timeout)."""
    lsp = shutil.which("jack_lsp")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"jackd exited with {proc.returncode}: {out[-2000:]}")
        if lsp is None:
            time.sleep(1.0)
            return
        r = subprocess.run(
            [lsp, "-s", name], capture_output=True, timeout=5, env=dict(os.environ)
        )
        if r.returncode == 0 and b"system:" in r.stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"jackd server {name} did not come up within {timeout} s")
