"""Recovery after an unclean stop: the running marker and the newest usable autosave.

While the daemon runs a session it keeps a marker beside the session file,
``.NAME.running`` (JSON: pid, start time, session), and removes it when it
stops cleanly. A marker found at start-up therefore means the last run was
killed (SIGKILL, a crash, a power cut): the newest autosave that reads back
whole, fits the session (same channels and buses, every value valid) and was
based on the session file as it is now (same size and modification time) is
loaded over the session, and the daemon says so in one line.

Where the files live (`Files`): beside the session file, named after it; for
the built-in session, which has no file, in the XDG state folder
($XDG_STATE_HOME/surfaced, default ~/.local/state/surfaced) as ``built-in``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from surfaced.mix.mixer import Value
from surfaced.session.autosave import Autosave, AutosaveError, check_for, decode
from surfaced.session.read import BUILTIN_PATH, Session
from surfaced.session.routing import strip_stereo
from surfaced.session.save import write_atomic

Status = Callable[[str], None]


def state_home() -> Path:
    """$XDG_STATE_HOME/surfaced, or ~/.local/state/surfaced."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "surfaced"


@dataclass(frozen=True)
class Files:
    """The files that go with a session: marker, autosaves, change log."""

    folder: Path
    stem: str

    @property
    def marker(self) -> Path:
        """``.NAME.running``: present while a daemon runs the session."""
        return self.folder / f".{self.stem}.running"

    @property
    def log(self) -> Path:
        """``NAME.log``: the change log."""
        return self.folder / f"{self.stem}.log"

    def autosave(self, slot: int) -> Path:
        """``.NAME.autosave.K.json``: autosave slot K."""
        return self.folder / f".{self.stem}.autosave.{slot}.json"

    def autosaves(self) -> list[Path]:
        """The autosave files there are now."""
        return sorted(self.folder.glob(f".{self.stem}.autosave.*.json"))


def files_for(session: Session, state_dir: Path | None = None) -> Files | None:
    """Where a session's marker, autosaves and log go; None for a session made in code."""
    if session.has_file:
        path = Path(session.path).absolute()
        return Files(path.parent, path.stem)
    if session.path == BUILTIN_PATH:
        return Files(state_dir or state_home(), "built-in")
    return None


def clock_text(wall: float) -> str:
    """A wall-clock time as people read it in a log: 2026-03-01 21:04:05.250."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"


# ------------------------------------------------------------------ the marker
@dataclass(frozen=True)
class Marker:
    """What the marker of a run says."""

    pid: int
    started: float
    session: str


def write_marker(files: Files, session: str) -> None:
    """Say that this process runs the session (SaveError when the folder is not writable)."""
    doc = {"pid": os.getpid(), "started": time.time(), "session": session}
    write_atomic(files.marker, (json.dumps(doc) + "\n").encode())


def read_marker(files: Files) -> Marker | None:
    """The marker left by a run that did not stop cleanly, or None."""
    try:
        data = files.marker.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return Marker(0, 0.0, "")
    try:
        doc = json.loads(data)
        return Marker(int(doc["pid"]), float(doc["started"]), str(doc["session"]))
    except (ValueError, KeyError, TypeError):  # a marker cut short: still an unclean stop
        try:
            started = files.marker.stat().st_mtime
        except OSError:
            started = 0.0
        return Marker(0, started, "")


def remove_marker(files: Files) -> None:
    """Say that the session was left cleanly."""
    with contextlib.suppress(FileNotFoundError):
        files.marker.unlink()


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (and is not this one)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def file_base(path: str) -> list[int] | None:
    """The identity of a session file's contents for recovery: [size, mtime in ns]."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


# ------------------------------------------------------------------ recovery
@dataclass
class Recovery:
    """An autosave to load over the session after an unclean stop."""

    autosave: Autosave
    values: dict[str, Value]
    marker: Marker

    def line(self) -> str:
        """The one line that says what was recovered, from where and when."""
        return (f"recovered the mix after an unclean stop (pid {self.marker.pid}): from "
                f"{self.autosave.path}, autosaved {clock_text(self.autosave.saved)}")


def newest_autosaves(files: Files) -> tuple[list[Autosave], list[str]]:
    """Autosaves that read back whole, newest first, and why the others did not."""
    good: list[Autosave] = []
    bad: list[str] = []
    for path in files.autosaves():
        try:
            good.append(decode(path.read_bytes(), path))
        except (AutosaveError, OSError) as exc:
            bad.append(str(exc))
    good.sort(key=lambda a: (a.saved, a.seq), reverse=True)
    return good, bad


def find_recovery(files: Files, session: Session, on_status: Status) -> Recovery | None:
    """What to recover after an unclean stop (None: a clean stop, or nothing usable).

    Says in one line why an unclean stop is not recovered from.
    """
    marker = read_marker(files)
    if marker is None:
        return None
    who = f"the last run (pid {marker.pid}, started {clock_text(marker.started)})"
    if pid_alive(marker.pid):
        on_status(f"{who} of this session still seems to be running; its autosaves are left "
                  f"alone ({files.marker} is its marker)")
        return None
    saves, bad = newest_autosaves(files)
    if not saves:
        why = f" ({bad[0]})" if bad else ""
        on_status(f"{who} did not stop cleanly, and there is no autosave to recover{why}")
        return None
    newest = saves[0]
    if session.has_file and newest.base is not None and newest.base != file_base(session.path):
        on_status(f"{who} did not stop cleanly; {session.path} was written after its last "
                  f"autosave ({clock_text(newest.saved)}), so it is loaded as it is (the "
                  f"autosave is kept: {newest.path})")
        return None
    try:
        values = check_for(newest, len(session.channels), session.buses)
    except AutosaveError as exc:
        on_status(f"{who} did not stop cleanly, but its autosave does not fit this session: "
                  f"{exc}; loaded the session as it is")
        return None
    return Recovery(newest, values, marker)


def apply_recovery(session: Session, recovery: Recovery) -> None:
    """Load a recovered mix over a session (before its mixer is made)."""
    for path, value in recovery.values.items():
        if isinstance(value, str):
            index = int(path.split("/")[1]) - 1
            session.channels[index].name = value
        else:
            session.params[path] = value  # params are applied last: they win
    session.scenes = recovery.autosave.scenes
    session.safes = recovery.autosave.safes
    if recovery.autosave.connections is not None:
        # JACK connections by port key; a key this session has no port for is left out
        session.connections = {
            k: v for k, v in recovery.autosave.connections.items()
            if strip_stereo(session, k) is not None
            or strip_stereo(session, k.rpartition("/")[0])}
