"""The running session as a document: save, save as, autosave, recovery, the marker.

The daemon owns one `Document` for its session:

- `open()` (before the mixer is made): after an unclean stop, loads the
  newest usable autosave over the session (surfaced.session.recovery); then
  migrates a file in an older format (the original kept as ``NAME.yaml.bak``).
- `attach()`: follows the mixer and the scene book, and registers the
  commands ``session/save`` and ``session/save_as``.
- `start()`: writes the running marker and starts the autosave worker.
- `tick(now)`, from the daemon's loop: while the mix is dirty, at most every
  `interval` seconds, takes a snapshot (microseconds, under the mixer's lock)
  and hands it to the worker, which writes the autosave and flushes the
  change log. A failed write (disk full, read-only folder) is said once, with
  the path and the OS error, and retried at the next interval; the mix plays on.
- `close()`, on a clean stop (SIGTERM, SIGINT, --seconds): saves the session
  file if the mix changed since it was loaded or saved, flushes the change
  log and removes the marker. If the save fails the marker stays, and the
  next start recovers from the last autosave.

The built-in session has no file: `session/save` refuses with a message
pointing to `session/save_as`, and its autosaves and marker live in the
XDG state folder (recovery.state_home()).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from surfaced.mix.changelog import ChangeLog
from surfaced.mix.commands import CommandError, text_arg
from surfaced.mix.mixer import Mixer
from surfaced.mix.scenes import SceneBook
from surfaced.session.autosave import (
    AutosaveWorker,
    Encoder,
    MixState,
    Snapshot,
    WriteFigures,
    write_autosave,
)
from surfaced.session.read import FORMAT_VERSION, Session, SessionError, parse_session
from surfaced.session.recovery import (
    Files,
    Recovery,
    apply_recovery,
    file_base,
    files_for,
    find_recovery,
    remove_marker,
    write_marker,
)
from surfaced.session.save import SaveError, migrate_text, render_session, write_atomic
from surfaced.yamlmarks import YamlError, load_text

Status = Callable[[str], None]
DEFAULT_INTERVAL_S = 1.0
DEFAULT_KEEP = 5
# The change log is written more often than the autosave: formatting its lines holds
# the GIL, and a few hundred at a time would hold it for milliseconds.
LOG_FLUSH_S = 0.2
BUSY_RECHECK_S = 0.05  # while the worker writes, the loop looks again this often
# With nothing to save, autosave is not due: every change to the mix and every
# command wakes the daemon's loop, and the next tick finds it dirty. This slow
# look is for what changes without a wake (JACK connections made by hand).
CLEAN_RECHECK_S = 10.0


class Document:
    """The session of a running daemon as a file on disk (see the module docstring)."""

    def __init__(self, session: Session, on_status: Status, *,
                 interval: float = DEFAULT_INTERVAL_S, keep: int = DEFAULT_KEEP,
                 state_dir: Path | None = None) -> None:
        self.session = session
        self.on_status = on_status
        self.interval = interval
        self.keep = keep
        self.files: Files | None = files_for(session, state_dir)
        self.recovered: Recovery | None = None
        self.figures = WriteFigures()
        self.mixer: Mixer | None = None
        self.scenes: SceneBook | None = None
        self.changelog: ChangeLog | None = None
        self._state: MixState | None = None
        self._encoder: Encoder | None = None
        self._worker = AutosaveWorker()
        self._lock = threading.RLock()  # one save at a time; guards the fields below
        self._saved_file: tuple[int, int] | None = None  # (seq, revision) the file holds
        self._saved_auto: tuple[int, int] | None = None  # (seq, revision) autosaved last
        self._base = file_base(session.path) if session.has_file else None
        self._slot = 0
        self._next = 0.0
        self._next_log = 0.0
        self._logged_seq = -1
        self._marker_written = False
        self._problems: dict[str, str] = {}  # what is failing now -> what was said
        self._started = False

    @property
    def log_path(self) -> Path | None:
        """Where the change log goes (None: a session made in code keeps it in memory)."""
        return None if self.files is None else self.files.log

    # ------------------------------------------------------------------ opening
    def open(self) -> None:
        """Recover after an unclean stop, then migrate an older file (before the mixer is made)."""
        if self.files is not None:
            self.recovered = find_recovery(self.files, self.session, self.on_status)
            if self.recovered is not None:
                apply_recovery(self.session, self.recovered)
                self.on_status(self.recovered.line())
        if self.session.has_file and self.session.version < FORMAT_VERSION:
            self._migrate()
        self._base = file_base(self.session.path) if self.session.has_file else None

    def _migrate(self) -> None:
        path = Path(self.session.path)
        bak = path.with_name(path.name + ".bak")
        old = self.session.version
        try:
            original = path.read_bytes()
            text = migrate_text(original.decode("utf-8"))
            again = parse_session(load_text(text, str(path)), str(path))
            if again.values() != self.session.values():
                raise SessionError("the migrated file would not load the same mix")
            write_atomic(bak, original)
            write_atomic(path, text.encode("utf-8"))
        except (OSError, SaveError, SessionError, YamlError, UnicodeDecodeError) as exc:
            self.on_status(f"{path}: session format {old} could not be migrated to "
                           f"{FORMAT_VERSION} ({exc}); it runs as it is and is written in "
                           f"format {FORMAT_VERSION} on the next save")
            return
        self.session.version = FORMAT_VERSION
        self.on_status(f"{path}: migrated session format {old} to {FORMAT_VERSION}; the "
                       f"original is kept as {bak}")

    def attach(self, mixer: Mixer, scenes: SceneBook, changelog: ChangeLog | None) -> None:
        """Follow the mix and its scenes, and register session/save and session/save_as."""
        self.mixer, self.scenes, self.changelog = mixer, scenes, changelog
        self._state = MixState(mixer)
        self._encoder = Encoder(self._state.paths, mixer.channels, mixer.buses)
        clean = (mixer.seq, self._revision())
        self._saved_auto = clean
        # A recovered mix is not in the session file yet: the next save must write it.
        self._saved_file = None if self.recovered is not None else clean
        mixer.commands.register("session/save", self._cmd_save)
        mixer.commands.register("session/save_as", self._cmd_save_as)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Write the running marker and start the autosave worker."""
        if self.files is None or self._started:
            return
        self._started = True
        self._next = time.monotonic() + self.interval
        self._slot = self._next_slot()
        self._write_marker()
        self._worker.start()

    def _next_slot(self) -> int:
        """The slot after the newest existing autosave, so the newest is overwritten last."""
        assert self.files is not None
        newest, slot = -1.0, -1
        for k in range(self.keep):
            try:
                mtime = self.files.autosave(k).stat().st_mtime
            except OSError:
                continue
            if mtime > newest:
                newest, slot = mtime, k
        return (slot + 1) % self.keep

    def _write_marker(self) -> None:
        assert self.files is not None
        try:
            self.files.folder.mkdir(parents=True, exist_ok=True)
            write_marker(self.files, self.session.path)
        except (OSError, SaveError) as exc:
            self._problem("marker", f"cannot write the running marker {self.files.marker}: "
                                    f"{_reason(exc)}; retrying with the autosaves")
            return
        self._marker_written = True
        self._solved("marker", f"running marker written: {self.files.marker}")

    def dirty(self) -> bool:
        """True when the mix changed since the last autosave."""
        return self._current() != self._saved_auto

    def _revision(self) -> int:
        """What changes besides the mix's values: the scene book's revision plus the
        session's JACK connections revision (changed by hand while running)."""
        assert self.scenes is not None
        return self.scenes.revision + self.session.connections_revision

    def _current(self) -> tuple[int, int] | None:
        if self.mixer is None or self.scenes is None:
            return None
        return (self.mixer.seq, self._revision())

    def tick(self, now: float) -> None:
        """From the daemon's loop: hand a snapshot to the worker when an autosave is due.

        Costs one array copy under the mixer's lock when it does anything.
        """
        if not self._started or self._worker.busy:
            return
        if now < self._next:
            self._tick_log(now)
            return
        self._next = now + self.interval
        if not self.dirty() and self._marker_written:
            return
        snap = self.snapshot()
        self._worker.submit(lambda: self._autosave(snap))

    def due(self, now: float) -> float:
        """When `tick` next has work (the daemon's loop sleeps until then, or a wake)."""
        if not self._started:
            return math.inf
        if self._worker.busy:
            return now + BUSY_RECHECK_S  # tick does nothing while the worker writes
        due = self._next
        if self._marker_written and not self.dirty():
            due += CLEAN_RECHECK_S
        if self.changelog is not None and self.changelog.path is not None \
                and self.mixer is not None and self.mixer.seq != self._logged_seq:
            due = min(due, max(now, self._next_log))
        return due

    def _tick_log(self, now: float) -> None:
        """Between autosaves: write the change log every LOG_FLUSH_S while changes come."""
        if now < self._next_log or self.changelog is None or self.changelog.path is None \
                or self.mixer is None or self.mixer.seq == self._logged_seq:
            return
        self._next_log = now + LOG_FLUSH_S
        self._logged_seq = self.mixer.seq
        self._worker.submit(self._flush_log)

    def snapshot(self) -> Snapshot:
        """The mix document now: values, names, scenes, safes (cheap: see MixState)."""
        assert self._state is not None and self.scenes is not None
        revision = self._revision()  # read first: a change in between saves again later
        return self._state.snapshot(revision, self.scenes.scenes(), self.scenes.safes,
                                    self.session.connections)

    def _autosave(self, snap: Snapshot) -> None:
        """On the worker: write one autosave, then the change log."""
        assert self.files is not None and self._encoder is not None
        if not self._marker_written:
            self._write_marker()
        with self._lock:
            base, slot = self._base, self._slot
        t0 = time.perf_counter()
        data = self._encoder.encode(snap, self.session.path, base)
        encode_ms = (time.perf_counter() - t0) * 1000.0
        path = self.files.autosave(slot)
        try:
            write_ms = write_autosave(path, data)
        except SaveError as exc:
            self._problem("autosave", f"autosave failed: {exc}; retrying every "
                                      f"{self.interval:g} s (the mix keeps playing)")
        else:
            with self._lock:
                self._saved_auto = (snap.seq, snap.revision)
                self._slot = (slot + 1) % self.keep
            f = self.figures
            f.encode_ms, f.write_ms, f.bytes, f.count = encode_ms, write_ms, len(data), f.count + 1
            self._solved("autosave", f"autosave works again: {path}")
        self._flush_log()

    def _flush_log(self) -> None:
        if self.changelog is None or self.changelog.path is None:
            return
        try:
            self.changelog.flush()
        except OSError as exc:
            self._problem("log", f"cannot write the change log {self.changelog.path}: "
                                 f"{_reason(exc)}; kept in memory and retried")
        else:
            self._solved("log", f"change log written again: {self.changelog.path}")

    def _problem(self, key: str, message: str) -> None:
        """Say a problem once (not once per retry)."""
        with self._lock:
            if key in self._problems:
                return
            self._problems[key] = message
        self.on_status(message)

    def _solved(self, key: str, message: str) -> None:
        with self._lock:
            if self._problems.pop(key, None) is None:
                return
        self.on_status(message)

    # ------------------------------------------------------------------ saving
    def save(self, target: Path | None = None) -> Path:
        """Save the mix to the session file (or to `target`, which becomes the session file).

        Raises CommandError with a one-line reason (no file, disk full, ...).
        """
        what = "session/save" if target is None else "session/save_as"
        if self.mixer is None:
            raise CommandError(f"{what}: nothing to save yet")
        with self._lock:
            current = Path(self.session.path)
            if target is None:
                if not self.session.has_file and not current.is_absolute():
                    raise CommandError(
                        "session/save: the built-in session has no file; save it with "
                        "session/save_as PATH (surfaced save --as FILE), which makes that "
                        "file the session")
                target = current
            snap = self.snapshot()
            assert self._state is not None
            try:
                text = current.read_text(encoding="utf-8") if self.session.has_file else None
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{what}: cannot read {current}: {_reason(exc)}") from None
            relocate = None
            if text is not None and target.absolute().parent != current.absolute().parent:
                relocate = (current.absolute().parent, target.absolute().parent)
            try:
                out = render_session(text, self.session, snap.mix(self._state.paths),
                                     snap.scene_objects(), snap.safes, relocate=relocate,
                                     name=str(target))
                write_atomic(target, out.encode("utf-8"))
            except (SessionError, SaveError) as exc:
                raise CommandError(f"{what}: {exc}") from None
            self._saved_file = (snap.seq, snap.revision)
            if target.absolute() != current.absolute():
                self._move_to(target)
            self._base = file_base(self.session.path)
            self.session.version = FORMAT_VERSION
        self.on_status(f"saved {target}")
        return target

    def _move_to(self, target: Path) -> None:
        """After save as: the new file is the session; its marker, autosaves and log follow."""
        old = self.files
        self.session.path = str(target.absolute())
        self.files = files_for(self.session)
        if self.changelog is not None and self.files is not None:
            self.changelog.path = self.files.log
        if self._started and self.files is not None:
            self._slot = self._next_slot()
            self._write_marker()
            if old is not None and old != self.files:
                remove_marker(old)

    def _cmd_save(self, args: tuple[object, ...], source: str) -> tuple[str]:
        if args:
            raise CommandError("session/save: takes no arguments (session/save_as PATH saves "
                               "to another file)")
        return (str(self.save()),)

    def _cmd_save_as(self, args: tuple[object, ...], source: str) -> tuple[str]:
        raw = text_arg("session/save_as", args, 0, "the file to save to")
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():  # relative to the session's folder, not the daemon's cwd
            here = Path(self.session.path).absolute().parent if self.session.has_file \
                else Path.cwd()
            path = here / path
        if path.is_dir():
            raise CommandError(f"session/save_as: {path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise CommandError(f"session/save_as: the folder {path.parent} does not exist")
        return (str(self.save(path)),)

    # ------------------------------------------------------------------ stopping
    def close(self) -> None:
        """On a clean stop: save the session file if the mix changed, remove the marker."""
        self._worker.stop()
        if self._state is not None:
            self._state.close()
        if self.files is None or self.mixer is None:
            return
        changed = self._current() != self._saved_file
        if changed and self.session.has_file:
            try:
                self.save()
            except CommandError as exc:
                kept = self._final_autosave()
                self.on_status(f"could not save on stop: {exc}; {kept}")
                self._flush_log()
                return  # the marker stays: the next start recovers the autosave
        elif changed:
            self.on_status("the built-in session has no file, so this mix was not saved (save "
                           "it while running with `surfaced save --as FILE`)")
        self._flush_log()
        if self._started:
            try:
                remove_marker(self.files)
            except OSError as exc:
                self.on_status(f"cannot remove the running marker {self.files.marker}: "
                               f"{_reason(exc)}; the next start will look for a recovery")

    def _final_autosave(self) -> str:
        """An autosave of the mix as it is now; says where, for the stop message."""
        assert self.files is not None
        if self.dirty():
            snap = self.snapshot()
            self._autosave(snap)
        if self.dirty():
            return "the autosave failed too; the next start recovers the last autosave written"
        return "the next start recovers it from its autosave"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
