"""The running session as a document, in a real daemon on real files: save, save as,
migration, autosave, the running marker, and a full or read-only disk."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from measured import Figures

from surfaced.config import Config
from surfaced.daemon import Daemon
from surfaced.mix.commands import CommandError
from surfaced.session import default_session, load_session
from surfaced.session.autosave import decode
from surfaced.session.recovery import Files
from surfaced.session.wavio import write_wav
from surfaced.transports.osc import OscListenerConfig

ROOT = Path(__file__).resolve().parents[2]

V1 = """\
# an old session: no version key
buses: 1
channels:
  - name: Kick   # the kick
    source: {generator: kick}
    fader: -4
"""


def config(interval: float = 0.2, keep: int = 3) -> Config:
    return Config(headless=True, block=256, enable=[], autosave_interval=interval,
                  autosave_keep=keep, osc=[OscListenerConfig("udp", "127.0.0.1", 0)])


@asynccontextmanager
async def running(d: Daemon) -> AsyncIterator[Daemon]:
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    await until(lambda: bool(d.osc), "the OSC listener")
    try:
        yield d
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def until(pred: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def newest_autosave(files: Files) -> dict[str, object]:
    saves = [decode(p.read_bytes(), p) for p in files.autosaves()]
    return max(saves, key=lambda a: a.saved).values if saves else {}


# --------------------------------------------------------------------- migration
def test_an_old_file_is_migrated_by_the_daemon_and_only_read_by_render(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(V1)
    r = subprocess.run([sys.executable, "-m", "surfaced", "render", str(song), "-o",
                        str(tmp_path / "x.wav"), "--seconds", "0.5", "--quiet"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert song.read_text() == V1 and not (tmp_path / "song.yaml.bak").exists()

    notes: list[str] = []
    d = Daemon(config(), load_session(song), on_status=notes.append)
    assert (tmp_path / "song.yaml.bak").read_text() == V1
    assert song.read_text() == V1.replace("buses: 1\n", "version: 2\nbuses: 1\n")
    (line,) = [n for n in notes if "migrated" in n]
    assert line == (f"{song}: migrated session format 1 to 2; the original is kept as "
                    f"{tmp_path / 'song.yaml.bak'}")
    assert d.mixer.get("ch/1/fader") == -4.0


# --------------------------------------------------------------------- save and save as
def test_save_writes_the_mix_and_save_as_moves_the_session(tmp_path: Path) -> None:
    write_wav(tmp_path / "loop.wav", np.full((4800, 1), 0.1, dtype=np.float32), 48000)
    song = tmp_path / "song.yaml"
    song.write_text("version: 2\nbuses: 1\nchannels:\n"
                    "  - {name: Loop, source: {wav: loop.wav}}   # a file beside the session\n")
    notes: list[str] = []
    d = Daemon(config(), load_session(song), on_status=notes.append)
    d.mixer.set("ch/1/fader", -9.5, "test")
    d.scenes.store("Verse")
    d.scenes.set_safes(kinds=frozenset({"names"}))
    assert d.mixer.commands.run("session/save", (), "test") == (str(song),)
    again = load_session(song)
    assert again.make_mixer().get("ch/1/fader") == -9.5
    assert [s.name for s in again.scenes] == ["Verse"] and again.safes.kinds == {"names"}
    assert "# a file beside the session" in song.read_text()

    (tmp_path / "elsewhere").mkdir()
    moved = tmp_path / "elsewhere" / "copy.yaml"
    d.mixer.set("ch/1/pan", -0.5, "test")
    assert d.mixer.commands.run("session/save_as", (str(moved),), "test") == (str(moved),)
    copy = load_session(moved)
    assert copy.channels[0].source.name == "../loop.wav"  # still the same audio file
    assert copy.make_mixer().get("ch/1/pan") == -0.5
    d.mixer.set("ch/1/pan", 0.5, "test")
    d.mixer.commands.run("session/save", (), "test")  # the copy is the session now
    assert load_session(moved).make_mixer().get("ch/1/pan") == 0.5
    assert load_session(song).make_mixer().get("ch/1/pan") == 0.0  # the old file: untouched
    assert d.changelog.path == tmp_path / "elsewhere" / "copy.log"


def test_the_built_in_session_refuses_save_but_saves_as(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = Daemon(config(), default_session(), on_status=lambda m: None)
    with pytest.raises(CommandError, match="the built-in session has no file; save it with "
                                           "session/save_as PATH"):
        d.mixer.commands.run("session/save", (), "test")
    d.mixer.set("ch/2/name", "Snare: top # 1", "test")
    (path,) = d.mixer.commands.run("session/save_as", ("mine.yaml",), "test")
    assert path == str(Path.cwd() / "mine.yaml") or Path(str(path)).name == "mine.yaml"
    saved = load_session(str(path))
    try:
        assert saved.make_mixer().snapshot() == d.mixer.snapshot()
    finally:
        Path(str(path)).unlink()
    with pytest.raises(CommandError, match="does not exist"):
        d.mixer.commands.run("session/save_as", (str(tmp_path / "no" / "x.yaml"),), "test")


# --------------------------------------------------------------------- autosave and marker
def test_autosave_marker_and_save_on_stop(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text("version: 2\nbuses: 1\nchannels:\n  - {name: A}\n  - {name: B}\n")
    files = Files(tmp_path, "song")
    notes: list[str] = []

    async def scenario() -> None:
        d = Daemon(config(interval=0.2, keep=3), load_session(song), on_status=notes.append)
        async with running(d):
            await until(lambda: files.marker.exists(), "the running marker")
            assert not files.autosaves()  # nothing changed: nothing to autosave
            for i in range(8):  # eight changes, each autosaved: three slots kept
                d.mixer.set("ch/1/fader", -1.0 - i, "test")
                await until(lambda i=i: newest_autosave(files).get("ch/1/fader") == -1.0 - i,
                            f"autosave of change {i}")
            assert len(files.autosaves()) == 3
            d.scenes.store("Chorus")
            await until(lambda: any(b"Chorus" in p.read_bytes() for p in files.autosaves()),
                        "the scene autosaved")
            assert song.read_text().count("fader") == 0  # autosave never touches the file
            assert "ch/1/fader\t-7\t-8" in (tmp_path / "song.log").read_text()
        assert not files.marker.exists()
        saved = load_session(song)
        assert saved.make_mixer().get("ch/1/fader") == -8.0
        assert [s.name for s in saved.scenes] == ["Chorus"]

    asyncio.run(scenario())
    assert f"saved {song}" in notes


# --------------------------------------------------------------------- a full / read-only disk
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs: fills up for real, and can be remounted read-only.

    Root's writes ignore chmod, so a read-only folder has to be a read-only mount.
    """
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the full-disk test needs a tmpfs it can fill")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): the full-disk "
                    "test needs root and mount")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the file system until it says ENOSPC; returns the filler file."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as f:
        for _ in range(10_000):  # bounded: 640 MiB, far more than the disk
            try:
                f.write(chunk)
                f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    for _ in range(10_000):  # and the last few bytes
        try:
            with open(filler, "ab") as f:
                f.write(b"\0" * 512)
        except OSError:
            break
    return filler


def test_a_full_disk_is_said_once_retried_and_the_mix_plays_on(small_disk: Path) -> None:
    song = small_disk / "song.yaml"
    song.write_text("version: 2\nbuses: 1\nchannels:\n  - {name: A, fader: -1}\n")
    files = Files(small_disk, "song")
    notes: list[str] = []

    async def scenario() -> None:
        d = Daemon(config(interval=0.1), load_session(song), on_status=notes.append)
        async with running(d):
            d.mixer.set("ch/1/fader", -2.0, "test")
            await until(lambda: newest_autosave(files).get("ch/1/fader") == -2.0, "autosave")
            filler = fill(small_disk)
            frames = d.engine.meters().master.frames
            for i in range(10):  # a second of changes on a full disk: ten failed autosaves
                d.mixer.set("ch/1/fader", -3.0 - i, "test")
                await asyncio.sleep(0.1)
            await until(lambda: any("autosave failed" in n for n in notes), "the warning")
            warnings = [n for n in notes if "autosave failed" in n]
            assert len(warnings) == 1, notes  # said once, not once per retry
            assert str(small_disk) in warnings[0] and "No space left on device" in warnings[0]
            assert "retrying" in warnings[0]
            assert d.engine.meters().master.frames > frames  # the mix keeps playing
            with pytest.raises(CommandError, match="No space left on device"):
                d.mixer.commands.run("session/save", (), "test")
            assert load_session(song).make_mixer().get("ch/1/fader") == -1.0  # intact
            assert not [p for p in small_disk.iterdir() if ".tmp-" in p.name]  # no debris

            filler.unlink()
            await until(lambda: newest_autosave(files).get("ch/1/fader") == -12.0,
                        "the autosave after the disk has room again")
            assert any("autosave works again" in n for n in notes)
        assert load_session(song).make_mixer().get("ch/1/fader") == -12.0

    asyncio.run(scenario())


def test_a_read_only_folder_is_said_once_and_retried(small_disk: Path) -> None:
    song = small_disk / "song.yaml"
    song.write_text("version: 2\nbuses: 1\nchannels:\n  - {name: A}\n")
    files = Files(small_disk, "song")
    notes: list[str] = []

    async def scenario() -> None:
        d = Daemon(config(interval=0.1), load_session(song), on_status=notes.append)
        async with running(d):
            await until(lambda: files.marker.exists(), "the marker")
            r = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
            try:
                for i in range(5):
                    d.mixer.set("ch/1/fader", -float(i + 1), "test")
                    await asyncio.sleep(0.1)
                await until(lambda: any("autosave failed" in n for n in notes), "the warning")
                (warning,) = [n for n in notes if "autosave failed" in n]
                assert str(small_disk) in warning and "Read-only file system" in warning
            finally:
                subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
            await until(lambda: newest_autosave(files).get("ch/1/fader") == -5.0,
                        "the autosave once the folder is writable again")

    asyncio.run(scenario())


# --------------------------------------------------------------------- figures
@pytest.mark.figures
def test_autosave_cost_of_a_64_channel_session(tmp_path: Path, figures: Figures) -> None:
    song = tmp_path / "big.yaml"
    chans = "".join(f"  - {{name: Ch {i}, source: {{generator: sine}}, fader: -{i % 20}}}\n"
                    for i in range(1, 65))
    song.write_text(f"version: 2\nbuses: 4\nchannels:\n{chans}")
    d = Daemon(config(), load_session(song), on_status=lambda m: None)
    doc = d.document
    for name in ("Intro", "Verse", "Chorus", "Outro"):
        d.mixer.set("ch/1/fader", -3.0, name)
        d.scenes.store(name)
    doc.start()
    try:
        snap_us = []
        for i in range(20):
            d.mixer.set("ch/2/fader", -float(i), "test")
            t0 = time.perf_counter()
            doc.tick(time.monotonic() + 10.0 * (i + 1))
            snap_us.append((time.perf_counter() - t0) * 1e6)
            deadline = time.monotonic() + 10
            while doc._worker.busy and time.monotonic() < deadline:
                time.sleep(0.001)
        assert doc.figures.count == 20
        saved = newest_autosave(Files(tmp_path, "big"))
        assert saved == d.mixer.snapshot()
    finally:
        doc.close()
    record = figures.record
    record("autosave_write_ms", round(doc.figures.encode_ms + doc.figures.write_ms, 2), "ms",
           "one autosave of a 64-channel session with 4 scenes: encode + write + fsync + rename",
           keep="max")
    record("autosave_bytes", doc.figures.bytes, "bytes",
           "size of that autosave (values as float64, 4 scenes as JSON)")
    record("autosave_snapshot_us_p50", round(float(np.median(snap_us)), 1), "µs",
           "control-thread cost of starting an autosave (snapshot under the mixer lock)")
