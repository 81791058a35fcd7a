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
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    if jackd_path() is None:
        raise RuntimeError("jackd is not installed (Debian: apt-get install jackd2)")
    _clear_stale_registry()
    # libjack keeps one server's engine state per process: a PortAudio left
    # initialised on another server (its JACK host API holds a client there)
    # and a client of this one crash in a libjack thread. Let it go first.
    _release_portaudio()
    name = f"sftest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    proc = spawn_jackd(name, "-r", str(rate), "-p", str(period))
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
        stop_jackd(proc)


def spawn_jackd(name: str, *driver_args: str) -> subprocess.Popen[bytes]:
    """Start `jackd -n NAME -d dummy DRIVER_ARGS...` (not waiting for it).

    Its output goes to an unlinked temporary file, never to a pipe: nobody
    reads a pipe while the server runs, and once jackd has written 64 KiB of
    log lines (xrun reports, client notices) into a full pipe, its next write
    blocks it, and with it every JACK call of every client (a whole test run
    once hung in jack_connect that way). `jackd_output` reads the file.
    """
    exe = jackd_path()
    if exe is None:
        raise RuntimeError("jackd is not installed (Debian: apt-get install jackd2)")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open while jackd runs; stop_jackd closes it
    try:
        proc = subprocess.Popen([exe, "-n", name, "-d", "dummy", *driver_args], stdout=log,
                                stderr=subprocess.STDOUT,
                                env=dict(os.environ, JACK_NO_AUDIO_RESERVATION="1"))
    except BaseException:
        log.close()
        raise
    _LOGS[proc.pid] = log
    return proc


def jackd_output(proc: subprocess.Popen[bytes], tail: int = 2000) -> str:
    """The last `tail` characters jackd `proc` has written."""
    log = _LOGS.get(proc.pid)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")[-tail:]


def stop_jackd(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM (as a user stops it), SIGKILL if it does not go; its log is closed."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    log = _LOGS.pop(proc.pid, None)
    if log is not None:
        log.close()


class Jackd:
    """A dummy-driver server under one name that a test stops and starts again.

    No _clear_stale_registry() on start: libjack in the test process keeps the
    shared-memory registry it attached to, and a server restarted on a fresh
    registry would be invisible to it (as to any JACK client that outlives its
    server's restart; users do not delete /dev/shm/jack*).
    """

    def __init__(self, prefix: str, *driver_args: str) -> None:
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.driver_args = driver_args or ("-r", "48000", "-p", "64")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.proc = spawn_jackd(self.name, *self.driver_args)
        _wait_until_up(self.name, self.proc)

    def stop(self) -> None:
        """Stop it the way a user or a crash-free shutdown does (SIGTERM)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_jackd(proc, timeout=10)


_LOGS: dict[int, Any] = {}  # pid -> the temporary file holding that jackd's output


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
            raise RuntimeError(f"jackd exited with {proc.returncode}: {jackd_output(proc)}")
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
