"""Run one fuzz target under atheris in a subprocess and read what it did.

Used by tests/fuzz/test_atheris.py (a bounded run in the test suite) and by
`scripts/fuzz` (the long documented run). libFuzzer stops at the first
escape and writes the input next to the run's log; `FuzzRun` says how many
inputs were tried and where the escaping one is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fuzz.targets import TARGETS

HARNESS = Path(__file__).with_name("harness.py")
REGRESSIONS = Path(__file__).with_name("regressions")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|INITED|DONE)")


@dataclass
class FuzzRun:
    """What one run of one target did."""

    target: str
    inputs: int  # inputs executed (libFuzzer's "runs"), seeds included
    escapes: int  # inputs that let out something else than the project's error
    seconds: float
    crash: Path | None  # the escaping input, when there was one
    log: str  # the tail of libFuzzer's output

    def explain(self) -> str:
        """A failure message: the target, the input file and libFuzzer's last words."""
        return (f"fuzz target {self.target!r}: {self.escapes} escape(s) after {self.inputs} "
                f"inputs; input saved as {self.crash}\n{self.log}")


def run(target: str, runs: int, workdir: Path, *, seed: int = 1, nice: int = 0,
        max_time: int = 0, timeout_per_input: int = 20, rss_limit_mb: int = 2048) -> FuzzRun:
    """Fuzz `target` for `runs` inputs (or `max_time` seconds) in a subprocess."""
    spec = TARGETS[target]
    corpus = workdir / f"corpus-{target}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(spec.seeds()):
        (corpus / f"seed-{i}").write_bytes(data)
    regressions = REGRESSIONS / target
    args = [sys.executable, str(HARNESS), target, f"-runs={runs}", f"-seed={seed}",
            f"-max_len={spec.max_len}", f"-timeout={timeout_per_input}",
            f"-rss_limit_mb={rss_limit_mb}", f"-artifact_prefix={workdir}/{target}-",
            "-print_final_stats=1", str(corpus)]
    if max_time:
        args.insert(4, f"-max_total_time={max_time}")
    if regressions.is_dir():
        args.append(str(regressions))
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, errors="replace",
                          env={**os.environ, "PYTHONHASHSEED": "0"},
                          preexec_fn=(lambda: os.nice(nice)) if nice else None)
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    done = _DONE.search(out)
    if done is not None:
        inputs = int(done.group(1))
    else:  # stopped by an escape: the last status line says how far it got
        counts = [int(n) for n in _STAT.findall(out)]
        inputs = max(counts, default=0)
    crashes = sorted(workdir.glob(f"{target}-*"))
    escapes = len(crashes) if crashes else int(proc.returncode != 0)
    return FuzzRun(target, inputs, escapes, took, crashes[0] if crashes else None,
                   "\n".join(out.splitlines()[-40:]))
