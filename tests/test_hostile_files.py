"""Hostile files: alias bombs, FIFOs, device files and huge files named like YAML.

Every loader (session, mapping, config) refuses them with its own error naming
the file (and line), quickly and without reading more than the size cap.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from surfaced.config import ConfigError, load_config
from surfaced.mapping import MappingError, load_mapping
from surfaced.session import SessionError, load_session
from surfaced.yamlmarks import MAX_FILE_BYTES, YamlError, load_file


def bomb(indent: str, levels: int = 9) -> str:
    """An anchor of ten items, then `levels` lists of ten aliases to the one before."""
    lines = [f"{indent}d0: &d0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}d{i}: &d{i} [" + ", ".join([f"*d{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_a_session_is_refused_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "song.yaml"
    p.write_text("version: 2\nchannels:\n  - name: A\n    x:\n" + bomb("      ")
                 + "    eq: *d9\n")
    t0 = time.monotonic()
    with pytest.raises(SessionError) as err:
        load_session(p)
    assert str(err.value).startswith(f"{p}:10: aliases expand this document past")
    assert time.monotonic() - t0 < 5.0  # refused while reading, not after expanding


def test_an_alias_bomb_in_a_mapping_is_refused_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "box.yaml"
    p.write_text("name: box\ntransport: midi\nvars:\n" + bomb("  ") + "controls: {}\n")
    with pytest.raises(MappingError) as err:
        load_mapping(p)
    assert err.value.file == str(p) and err.value.line == 9
    assert "aliases expand this document past" in str(err.value)


def test_an_alias_bomb_in_the_config_is_refused_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("mappings:\n  enable:\n    - a\n" + bomb("") + "x: *d9\n")
    with pytest.raises(ConfigError, match=rf"^{p}:\d+: aliases expand"):
        load_config(p)


def test_ordinary_aliases_and_a_recursive_one() -> None:
    from surfaced.yamlmarks import load_text
    assert load_text("a: &a {x: 1}\nb: *a\nc: [*a, *a]") == {
        "a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 1}]}
    with pytest.raises(YamlError, match=r"^t:1: an alias used inside its own anchor"):
        load_text("a: &a [1, *a]", "t")


def _in_thread(fn: object, timeout: float = 10.0) -> BaseException | None:
    """Run `fn`; fail the test if it has not returned by `timeout` (it blocked)."""
    out: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
            out.append(None)
        except BaseException as exc:  # handed back to the test
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert out, "the loader blocked"
    return out[0]


@pytest.mark.parametrize("make", ["fifo", "devzero", "devnull_dir", "huge"])
@pytest.mark.parametrize("loader", ["session", "mapping", "config", "yaml"])
def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path, make: str,
                                                      loader: str) -> None:
    p = tmp_path / "thing.yaml"
    if make == "fifo":
        os.mkfifo(p)
    elif make == "devzero":
        p.symlink_to("/dev/zero")
    elif make == "devnull_dir":
        p.mkdir()
    else:
        with p.open("wb") as f:  # sparse: costs no disk
            f.truncate(MAX_FILE_BYTES + 1)
    fn = {"session": lambda: load_session(p), "mapping": lambda: load_mapping(p),
          "config": lambda: load_config(p), "yaml": lambda: load_file(p)}[loader]
    exc = _in_thread(fn)
    kind = {"session": SessionError, "mapping": MappingError, "config": ConfigError,
            "yaml": YamlError}[loader]
    assert isinstance(exc, kind), exc
    assert str(p) in str(exc)
    want = "too large" if make == "huge" else "not a regular file"
    assert want in str(exc)
