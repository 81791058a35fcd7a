"""Coverage-guided fuzzing of every parser and loader, bounded for the test suite.

Each target of tests/fuzz/targets.py runs under atheris in a subprocess
(tests/fuzz/harness.py): the byte parsers (MIDI, OSC, SLIP, the DIY box
protocol) for 10^4 inputs each, the file loaders (mapping, session, config,
audio) for 2*10^3 each (a file load is 10-50 times the cost of a packet),
two at a time. The inputs tried and the escapes are figures for
docs/reliability.md; the long run is `scripts/fuzz` (10^6 per target).

Every input a fuzzer once found escaping is kept under
tests/fuzz/regressions/TARGET/ and replayed here without atheris.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from measured import Figures

from fuzz import targets
from fuzz.runner import REGRESSIONS, FuzzRun, run

BYTE_PARSERS = ("midi", "osc", "slip", "box")
LOADERS = ("mapping", "session", "config", "audio")
RUNS = {**dict.fromkeys(BYTE_PARSERS, 10_000), **dict.fromkeys(LOADERS, 2_000)}


@pytest.mark.figures
@pytest.mark.slow
def test_no_input_escapes_any_parser_or_loader(tmp_path: Path, figures: Figures) -> None:
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI"):
            pytest.fail("atheris missing in CI: it is in the test extra (pyproject.toml)")
        pytest.skip("atheris not installed (.venv/bin/pip install atheris)")
    seed = int(os.environ.get("SURFACED_FUZZ_SEED", "1"))
    print(f"atheris seed {seed} (SURFACED_FUZZ_SEED)")

    def one(name: str) -> FuzzRun:
        return run(name, RUNS[name], tmp_path / name, seed=seed)

    with ThreadPoolExecutor(2) as pool:  # two harness processes at a time: 2 cores
        results = list(pool.map(one, [*BYTE_PARSERS, *LOADERS]))
    for r in results:
        kind = "byte parser" if r.target in BYTE_PARSERS else "file loader"
        figures.record(f"fuzz_{r.target}_inputs", r.inputs, "inputs",
                       f"atheris inputs tried on the {kind} in the test run (seed {seed}, "
                       f"{r.seconds:.0f} s)")
        figures.record(f"fuzz_{r.target}_escapes", r.escapes, "",
                       "inputs that raised another error than the project's, hung or "
                       "exceeded 2 GB")
    escaped = [r.explain() for r in results if r.escapes]
    assert not escaped, "\n\n".join(escaped)
    short = {r.target: r.inputs for r in results if r.inputs < RUNS[r.target]}
    assert not short, f"runs stopped early: {short}"


def _regressions() -> list[Path]:
    return sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


@pytest.mark.parametrize("path", _regressions(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inputs_that_once_escaped_stay_contained(path: Path) -> None:
    targets.TARGETS[path.parent.name].run(path.read_bytes())
