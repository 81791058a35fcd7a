"""The atheris harness: `python tests/fuzz/harness.py TARGET [libFuzzer options] [CORPUS...]`.

Runs one target of tests/fuzz/targets.py under atheris (libFuzzer for
Python, coverage-guided over the project's modules: every module of
`surfaced` is instrumented; the targets' own wrappers in tests/fuzz are not,
see below; nor are libraries such as PyYAML). Any exception
the target lets out is a crash: libFuzzer stops, prints the traceback and
writes the input to `-artifact_prefix`. `tests/fuzz/runner.py` starts this
for the test suite and for `scripts/fuzz`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the `fuzz` package

# The wrappers in fuzz.targets (cutting a stream into chunks, comparing the
# results of two parsers) are left out: their branches say nothing about what
# the code under test did, and instrumenting them cost 15-30 % of the inputs
# per second on the byte parsers.
import fuzz.targets as targets

with atheris.instrument_imports(include=["surfaced"]):
    import surfaced.config
    import surfaced.mapping
    import surfaced.session.read
    import surfaced.session.wavio
    import surfaced.transports.midi_codec
    import surfaced.transports.osc_codec
    import surfaced.transports.serial_codec
    import surfaced.transports.slip  # noqa: F401  (instrumented for coverage)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: harness.py {{{','.join(targets.TARGETS)}}} [libFuzzer options]")
    target = targets.TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
