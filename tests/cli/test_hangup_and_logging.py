"""The real `surfaced run` process: SIGHUP re-reads configuration and mappings, and the
library's log lines reach stderr in a journald-friendly form.

Everything is real: a separate daemon process with its own XDG folders and
config file, OSC over UDP on 127.0.0.1, real signals.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from test_daemon_mappings import TABLET
from test_recovery import SONG, Surfaced

from surfaced.cli import logs

pytestmark = pytest.mark.slow


class Daemon(Surfaced):
    """Surfaced with waits on what it says."""

    def said(self, needle: str, timeout: float = 15.0) -> str:
        """Wait (bounded) until stderr holds `needle`; returns all of stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr_path.read_text()
            if needle in text:
                return text
            assert self.proc is not None and self.proc.poll() is None, text
            time.sleep(0.05)
        raise AssertionError(f"never said {needle!r}:\n{self.stderr_path.read_text()}")


def test_sighup_reloads_config_and_mappings_and_refuses_a_bad_config(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "tablet.yaml").write_text(TABLET)
    d = Daemon(tmp_path, song)
    good = d.config.read_text()
    d.start()
    try:
        # enable the tablet in the config file, then SIGHUP: bound without a restart
        d.config.write_text(good.replace("mappings: {enable: []}",
                                         f"mappings: {{enable: [tablet], dirs: ['{maps}']}}"))
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)
        said = d.said("reloaded on SIGHUP")
        line = next(x for x in said.splitlines() if "reloaded on SIGHUP" in x)
        assert "mapping_dirs changed" in line and "enable changed" in line
        assert "1 bound (was 0)" in line
        d.send("/tab/fader/1", 0.75)
        deadline = time.monotonic() + 5
        while d.get("ch/1/fader") != 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.get("ch/1/fader") == 0.0

        # a setting that needs a restart is named as such
        d.config.write_text(d.config.read_text() + "feedback_rate: 30\n")
        d.proc.send_signal(signal.SIGHUP)
        d.said("feedback_rate changed (takes effect at the next start)")

        # a broken config: refused, the old one kept, the daemon still serving
        d.config.write_text("mappings: {enable: [tablet]\n")
        d.proc.send_signal(signal.SIGHUP)
        said = d.said("configuration refused, keeping the running one")
        assert f"{d.config}:" in said
        d.send("/tab/fader/1", 0.5)
        deadline = time.monotonic() + 5
        while d.get("ch/1/fader") != -10.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.get("ch/1/fader") == -10.0
    finally:
        code, said = d.stop()
    assert code == 0, said
    assert "Traceback" not in said
    assert "surfaced: stopped after" in (tmp_path / "stdout.txt").read_text()


def test_library_log_lines_reach_stderr_with_syslog_priorities(tmp_path: Path) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    d = Daemon(tmp_path, song)
    said = d.start()
    d.stop()
    # not a terminal: `<N>logger: message`, no time stamp (journald adds its own)
    assert any(line.startswith("<6>surfaced.transports.osc: ")
               for line in said.splitlines()), said

    (tmp_path / "q").mkdir()
    quiet = Daemon(tmp_path / "q", song, "-q")
    said = quiet.start()
    quiet.stop()
    assert "<6>" not in said  # -q: warnings and worse only


def test_log_formats_and_levels() -> None:
    assert logs.level_for(None, 0, 0) == logging.WARNING
    assert logs.level_for("info", 1, 0) == logging.DEBUG
    assert logs.level_for("info", 0, 1) == logging.WARNING
    assert logs.level_for("info", 5, 0) == logging.DEBUG
    assert logs.level_for("debug", 0, 9) == logging.ERROR
    out = io.StringIO()
    logs.configure(logging.INFO, out)
    try:
        log = logging.getLogger("surfaced.transports.midi")
        log.debug("not shown")
        log.info("bound %s", "port")
        log.warning("two\nlines")
        assert out.getvalue() == ("<6>surfaced.transports.midi: bound port\n"
                                  "<4>surfaced.transports.midi: two\n<4>lines\n")
        master, slave = os.openpty()
        with os.fdopen(slave, "w") as tty:
            logs.configure(logging.INFO, tty)
            log.info("on a terminal")
            tty.flush()
            text = os.read(master, 1000).decode()
        os.close(master)
        assert text.endswith(" INFO surfaced.transports.midi: on a terminal\r\n")
        assert text[2] == ":" and text[5] == ":"  # HH:MM:SS first
    finally:
        root = logging.getLogger("surfaced")
        for h in list(root.handlers):
            root.removeHandler(h)
        root.propagate = True
        root.setLevel(logging.NOTSET)
