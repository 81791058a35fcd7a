"""The change log: who changed what, when, and from which value to which.

Every change the mixer makes is kept here, newest last, in a bounded ring
(queryable over OSC with `/log`), and, when a file is given, appended to the
session's log file as one tab-separated line per change::

    2026-12-03T07:41:02.123  surface:mackie-control  ch/3/fader  -10  -6.5  txn=0

The file is written by `flush()` (the daemon calls it from its autosave
worker), never from the subscriber, which runs on whatever thread made the
change and must stay quick. It is bounded too: past `max_bytes` it is moved
to `NAME.1` (and `NAME.1` to `NAME.2`, ...), keeping `backups` old files.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path

from surfaced.mix.mixer import Change, Mixer

DEFAULT_SIZE = 4096
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_BACKUPS = 2
FLUSH_SLICE = 128  # changes formatted per GIL hold in flush()


def _wire(value: float | str) -> str:
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if value == value else "nan"


def format_change(change: Change) -> str:
    """One change as a log line (local time with milliseconds, tab-separated)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(change.wall))
    ms = int((change.wall % 1.0) * 1000)
    return (f"{stamp}.{ms:03d}\t{change.source}\t{change.path}\t{_wire(change.old)}\t"
            f"{_wire(change.value)}\ttxn={change.txn}")


class ChangeLog:
    """A bounded record of every change, in memory and (optionally) in a file."""

    def __init__(self, mixer: Mixer, size: int = DEFAULT_SIZE, path: Path | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS) -> None:
        self._ring: deque[Change] = deque(maxlen=size)
        self._pending: deque[Change] = deque(maxlen=max(size, 65536))
        self._lock = threading.Lock()
        self.dropped = 0  # changes that never reached the file (the pending queue overflowed)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._unsubscribe = mixer.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        with self._lock:
            self._ring.append(change)
            if self.path is not None:
                if len(self._pending) == self._pending.maxlen:
                    self.dropped += 1
                self._pending.append(change)

    def entries(self, last: int | None = None) -> list[Change]:
        """The newest `last` changes (all kept when None), oldest first."""
        with self._lock:
            items = list(self._ring)
        return items if last is None else items[-last:] if last > 0 else []

    def flush(self) -> int:
        """Append the changes made since the last flush to the file; returns how many.

        A write error (disk full, folder gone) keeps them pending and raises
        OSError for the caller to report.
        """
        if self.path is None:
            return 0
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        if not batch:
            return 0
        written = 0
        try:
            self._rotate_if_full()
            with open(self.path, "a", encoding="utf-8") as f:
                # In slices, yielding the GIL between them: this runs on a worker
                # thread, and formatting a burst of thousands of changes in one go
                # would hold up the transports' threads for milliseconds.
                for i in range(0, len(batch), FLUSH_SLICE):
                    part = batch[i:i + FLUSH_SLICE]
                    f.write("".join(format_change(c) + "\n" for c in part))
                    written += len(part)
                    time.sleep(0)
        except OSError:
            # Keep what did not reach the file, oldest first; if the error came
            # when the file was closed (its buffer flushed), keep it all: a line
            # twice in the log is better than a change missing from it.
            keep = batch[written:] if written < len(batch) else batch
            with self._lock:
                self._pending.extendleft(reversed(keep))
            raise
        return len(batch)

    def _rotate_if_full(self) -> None:
        assert self.path is not None
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.max_bytes:
            return
        for n in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if newer.exists():
                os.replace(newer, older)
        if self.backups == 0:
            self.path.unlink()

    def close(self) -> None:
        """Stop recording and write what is pending."""
        self._unsubscribe()
        self.flush()
