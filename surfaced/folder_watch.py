"""Tell the daemon's loop when a mapping folder changes, instead of it polling (issue 9).

The daemon used to look at its mapping folders twice a second, each look a
hand-off to a worker thread: about ten wake-ups a second of an otherwise
idle daemon. On Linux the kernel can say when a folder changes (inotify):
the descriptor sits in the event loop's selector, so nothing runs until a
file is written, created, moved or removed. Elsewhere, or when inotify
cannot be had (no more watches, no libc symbol), `available` is False and
the daemon keeps polling.

Why not watchdog (the well-kept library for this): its observer and each
emitter are threads that loop on one-second timeouts (watchdog.observers.api:
DEFAULT_OBSERVER_TIMEOUT and DEFAULT_EMITTER_TIMEOUT, 1.0 s), so an idle
daemon would wake at least twice a second again, the cost this module
removes; and its events arrive on those threads, not in the loop. The kernel
interface used here is three libc calls and a fixed record layout.

Threads: `watch` runs on the worker thread of a mapping check (it resolves
paths, which may block on a slow file system: never on the loop's thread);
the loop thread only reads the descriptor, which never blocks (non-blocking)
and never opens a mapping file.

A folder that does not exist yet (the user's ~/.config/surfaced/mappings
before its first copy) is watched through its nearest existing ancestor,
for the one name that leads to it; the check that event brings on watches
the folder itself from then on.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000
# What changes a folder's mapping files: contents (close after writing), times
# (touch), and names coming, going or moving; and the folder itself going.
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
        | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
# An ancestor of a folder still to come: only a name appearing matters (not
# every write to, say, ~/.config, which would wake the loop for nothing).
ANCESTOR_MASK = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
# Events that concern the watch itself, whatever name they carry.
ALWAYS = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW
HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


class FolderWatch:
    """Calls `on_change` (on the loop's thread) when a watched folder changes."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._libc = _libc()
        self._fd = -1
        self._loop: Any = None
        self._lock = threading.Lock()  # watch() (worker thread) against _read (loop thread)
        self._by_path: dict[Path, int] = {}
        # wd -> the names that matter in it (None: any; an ancestor: the next step)
        self._names: dict[int, frozenset[str] | None] = {}
        self.events = 0  # events that asked for a check (tests, diagnostics)
        if self._libc is not None:
            fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                self._fd = fd
            else:
                log.info("inotify unavailable (%s): mapping folders are polled",
                         os.strerror(ctypes.get_errno()))

    @property
    def available(self) -> bool:
        """True when changes are reported (the daemon may poll rarely); False: poll."""
        return self._fd >= 0

    def start(self, loop: Any) -> None:
        """Read events on `loop` (an asyncio loop; call from its thread)."""
        if self._fd >= 0 and self._loop is None:
            self._loop = loop
            loop.add_reader(self._fd, self._read)

    def watch(self, folders: Iterable[Path]) -> bool:
        """Watch exactly these folders (worker thread); False if one could not be watched.

        A folder that is missing is watched through its nearest existing
        ancestor, for the name leading to it. On False (the user's inotify
        watch limit, say) the daemon should poll as if there were no watcher.
        """
        if self._fd < 0:
            return False
        want: dict[Path, frozenset[str] | None] = {}
        for folder in folders:
            path, names = self._nearest(folder)
            if path is None:
                continue
            if path in want:
                prev = want[path]
                want[path] = None if prev is None or names is None else prev | names
            else:
                want[path] = names
        ok = True
        with self._lock:
            for path in [p for p in self._by_path if p not in want]:
                wd = self._by_path.pop(path)
                self._names.pop(wd, None)
                self._libc.inotify_rm_watch(self._fd, wd)
            for path, names in want.items():
                # Adding a watch on a path already watched returns its wd:
                # doing it again also follows a folder replaced by another.
                mask = MASK if names is None else ANCESTOR_MASK
                wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
                if wd < 0:
                    ok = False
                    log.info("cannot watch %s (%s): mapping folders are polled", path,
                             os.strerror(ctypes.get_errno()))
                    continue
                old = self._by_path.get(path)
                if old is not None and old != wd:
                    self._names.pop(old, None)
                self._by_path[path] = wd
                self._names[wd] = names
        return ok

    @staticmethod
    def _nearest(folder: Path) -> tuple[Path | None, frozenset[str] | None]:
        """The folder if it is one, else its nearest existing ancestor and the name to it."""
        path = Path(os.path.abspath(folder))
        if path.is_dir():
            return path, None
        child = path
        for parent in path.parents:
            if parent.is_dir():
                return parent, frozenset([child.name])
            child = parent
        return None, None

    def _read(self) -> None:
        """Drain the descriptor (loop thread, non-blocking); one on_change for the lot."""
        changed = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # the descriptor went bad: fall back to polling
                log.info("inotify read failed (%s): mapping folders are polled", exc)
                self.close()
                changed = True
                break
            if not data:
                break
            changed |= self._relevant(data)
        if changed:
            self.events += 1
            self._on_change()

    def _relevant(self, data: bytes) -> bool:
        pos, hit = 0, False
        with self._lock:
            while pos + HEADER.size <= len(data):
                wd, mask, _cookie, size = HEADER.unpack_from(data, pos)
                name = data[pos + HEADER.size:pos + HEADER.size + size].rstrip(b"\0")
                pos += HEADER.size + size
                names = self._names.get(wd, None)
                if mask & ALWAYS or wd not in self._names or names is None \
                        or os.fsdecode(name) in names:
                    hit = True
        return hit

    def close(self) -> None:
        """Stop watching (loop thread)."""
        if self._fd < 0:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._loop.remove_reader(self._fd)
            self._loop = None
        with self._lock:
            os.close(self._fd)
            self._fd = -1
            self._by_path.clear()
            self._names.clear()
