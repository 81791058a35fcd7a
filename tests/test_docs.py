"""The documents a new user reads stay true: every parameter is documented, the
example session loads and plays, and the README's commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from surfaced.cli import build_parser
from surfaced.mix import params
from surfaced.session import load_session

ROOT = Path(__file__).resolve().parents[1]


def test_every_parameter_leaf_is_documented() -> None:
    doc = (ROOT / "docs" / "parameters.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)`", doc, flags=re.M))
    for leaf in params.channel_leaves(2):
        generic = re.sub(r"^(eq|send)/\d+", r"\1/B", leaf)
        assert f"ch/N/{generic}" in rows, f"docs/parameters.md lacks ch/N/{generic}"
    assert {"bus/B/fader", "bus/B/mute", "master/fader", "ch/N/name"} <= rows


def test_documented_ranges_match_the_vocabulary() -> None:
    doc = (ROOT / "docs" / "parameters.md").read_text()
    for leaf, text in [("fader", "-inf..+10"), ("eq/2/gain", "-18..+18"),
                       ("comp/ratio", "1..20"), ("hpf/freq", "20..1000")]:
        spec = params.spec_for(f"ch/1/{leaf}", 1, 1)
        generic = re.sub(r"^eq/\d+", "eq/B", leaf)
        row = next(r for r in doc.splitlines() if r.startswith(f"| `ch/N/{generic}`"))
        assert text in row
        lo, hi = text.replace("+", "").split("..")
        assert float(lo) == spec.minimum and float(hi) == spec.maximum


def test_example_session_loads_and_plays() -> None:
    s = load_session(ROOT / "docs" / "examples" / "demo-session.yaml")
    e = s.make_mixer().engine
    e.process(48000)
    m = e.meters()
    assert np.all(m.ch_peak > 0.0) and m.master.clip_count == 0


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/run" in readme and "scripts/test" in readme
    assert (ROOT / "scripts" / "run").stat().st_mode & 0o111
    assert (ROOT / "scripts" / "test").stat().st_mode & 0o111
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for cmd in re.findall(r"bin/surfaced (\w+)", readme):
        assert cmd in commands, f"README mentions `surfaced {cmd}`"
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to missing {link}"


def test_example_config_loads_and_names_the_demo_session() -> None:
    from surfaced.config import load_config

    cfg = load_config(ROOT / "docs" / "examples" / "config.yaml")
    assert cfg.session is not None and Path(cfg.session).exists()
    assert [(c.protocol, c.host, c.port) for c in cfg.osc] == [
        ("udp", "127.0.0.1", 9000), ("tcp", "127.0.0.1", 9000)]
    assert cfg.block == 256 and cfg.feedback_rate == 60.0


def test_systemd_unit_runs_a_valid_command() -> None:
    unit = (ROOT / "docs" / "systemd" / "surfaced.service").read_text()
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    args = line.split("=", 1)[1].split()[1:]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.quiet
    assert "WantedBy=default.target" in unit


def test_every_command_is_documented_once() -> None:
    from surfaced.mix.commands import KNOWN

    doc = (ROOT / "docs" / "commands.md").read_text()
    table = doc.split("<!-- commands:")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert rows == list(KNOWN), "docs/commands.md's table must list KNOWN, in order"
    parser_help = build_parser().format_help()
    for sub in ("scene", "undo", "redo", "ab", "log"):
        assert sub in parser_help
