"""The change log: who changed what and when, bounded in memory and on disk."""

from __future__ import annotations

from pathlib import Path

from surfaced.mix.changelog import ChangeLog
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer


def test_every_change_is_logged_with_its_source_and_old_value(tmp_path: Path) -> None:
    mixer = Mixer(Engine(2, 0))
    log = ChangeLog(mixer, size=3, path=tmp_path / "song.log")
    mixer.set("ch/1/fader", -6.0, "surface:mackie-control")
    mixer.set("ch/2/name", "Bass", "osc:udp:127.0.0.1:9999")
    mixer.apply({"ch/1/mute": 1, "ch/2/mute": 1}, "scene:Verse")
    mixer.set("ch/1/pan", -0.5, "undo")
    assert [c.path for c in log.entries()] == ["ch/1/mute", "ch/2/mute", "ch/1/pan"]
    assert log.entries(1)[0].source == "undo"
    assert log.flush() == 5
    lines = (tmp_path / "song.log").read_text().splitlines()
    assert len(lines) == 5
    fields = lines[0].split("\t")
    assert fields[1:5] == ["surface:mackie-control", "ch/1/fader", "0", "-6"]
    assert lines[1].split("\t")[3:5] == ["''", "'Bass'"]
    assert lines[2].endswith("txn=1") and lines[3].endswith("txn=1")
    assert log.flush() == 0


def test_the_file_is_bounded(tmp_path: Path) -> None:
    mixer = Mixer(Engine(1, 0))
    path = tmp_path / "song.log"
    log = ChangeLog(mixer, path=path, max_bytes=2000, backups=2)
    for i in range(400):
        mixer.set("ch/1/pan", ((i % 200) - 100) / 100, "osc:a")
        if i % 10 == 0:
            log.flush()
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["song.log", "song.log.1", "song.log.2"]
    assert all((tmp_path / f).stat().st_size < 2000 + 1000 for f in files)
