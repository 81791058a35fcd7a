"""The real daemon on its own asyncio loop in a thread: for tests and benchmarks that
drive it from the outside (several daemons at once, or a measuring main thread)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from surfaced.daemon import Daemon


class DaemonThread:
    """Runs `daemon.run()` in a thread; `start(ready)` waits (bounded) until `ready()` holds."""

    def __init__(self, daemon: Daemon, name: str = "daemon") -> None:
        self.daemon = daemon
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.daemon.run(self._stop)

        asyncio.run(main())

    def start(self, ready: Callable[[], bool], timeout: float = 20.0, what: str = "ready") -> None:
        """Start the daemon; RuntimeError if `ready()` does not hold within `timeout`."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.02)
        if not ready():
            raise RuntimeError(f"the daemon was not {what} within {timeout:g} s")

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the daemon to stop (it shuts down cleanly) and wait for its thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
