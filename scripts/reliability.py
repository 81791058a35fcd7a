#!/usr/bin/env python3
"""Generate docs/reliability.md from a test run: `.venv/bin/python scripts/reliability.py`.

Runs the tests marked `figures` (the ones that kill the daemon, restart JACK
under it, recall scenes while audio runs, autosave a 64-channel session, fuzz
every parser, soak a real daemon, ...) with SURFACED_FIGURES pointing at a
scratch file; each test records what it measured through the `figures`
fixture (tests/conftest.py). Then it runs the test of each attack of issue 8
(ATTACKS) and reads each one's outcome from a JUnit report. The long fuzz run
(`scripts/fuzz`, which writes docs/reliability-fuzz.json) and the long soak
(`scripts/soak`, docs/reliability-soak.json) are shown from their files. The
page is written from those numbers, with the machine and the date: nothing
on it is typed by hand. A failing figures test fails the script and
leaves the page alone; a failing attack test is shown as failing on the page
and fails the script too.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# key -> (section, how to show it); keys a run did not record show as "not measured".
ROWS: list[tuple[str, str]] = [
    ("sigkill_lost_s", "Changes lost after SIGKILL, worst of the kills"),
    ("sigkill_kills", "SIGKILLs of the real daemon while changes streamed in"),
    ("recall_changes", "Values one 64-channel scene recall changes"),
    ("recall_blocks", "Audio blocks a recall is spread over"),
    ("recall_wait_ms_max", "Audio time from a recall to the block applying it, worst"),
    ("undo_depth_kept", "Undo depth kept"),
    ("autosave_write_ms", "Autosave write time, 64-channel session"),
    ("autosave_bytes", "Autosave size, 64-channel session"),
    ("jack_restarts_survived", "JACK server restarts survived under the running daemon"),
    ("audio_fallback_s", "Time from JACK stopping to the headless clock, worst"),
    ("audio_return_s", "Time from JACK returning to playing through it again, worst"),
    ("jack_client_fallback_s", "surfaced's own JACK client: JACK stopping to the headless "
                               "clock, worst"),
    ("jack_client_rejoin_s", "surfaced's own JACK client: JACK returning to its ports and "
                             "connections back, worst"),
]


PARSERS = [("midi", "MIDI bytes and SysEx"), ("osc", "OSC packets and bundles"),
           ("slip", "SLIP streams"), ("box", "the DIY box protocol (SLIP + strict OSC)"),
           ("mapping", "mapping files"), ("session", "session files"),
           ("config", "config files"), ("audio", "audio files (libsndfile + soxr)")]
TRANSPORTS = [("midi", "MIDI over JACK"), ("udp", "OSC over UDP"), ("tcp", "OSC over TCP"),
              ("box", "DIY box over a pty")]

# The attacks of issue 8, each with the tests that show it is fixed: (file, the
# test's name or a part of it). A row whose tests are not (yet) in the tree reads
# "open".
ATTACKS: list[tuple[str, list[tuple[str, str]]]] = [
    ("A lone F0 (SysEx start) makes a MIDI surface deaf",
     [("tests/transports/test_jack_midi.py", "lone_sysex_start"),
      ("tests/test_surfaces_e2e.py", "lone_f0")]),
    ("/norm NaN, inf or out of range is refused with /error, never clamped",
     [("tests/test_hostile_values.py", "bad_norm_position"),
      ("tests/test_hostile_values.py", "bad_value_in_the_unit")]),
    ("YAML alias bombs in session, mapping and config files",
     [("tests/test_hostile_files.py", "alias_bomb")]),
    ("Audio file loader memory (soundfile + soxr; a header's frame count not trusted)",
     [("tests/session/test_wavio.py", "large_file_costs_its_float32_size"),
      ("tests/session/test_wavio.py", "flac_stream_of_unknown_length")]),
    ("A FIFO, a device or a symlink to /dev/zero named *.yaml in a mappings folder",
     [("tests/test_hostile_files.py", "only_regular_files"),
      ("tests/test_daemon_mapping_files.py", "fifo_and_device")]),
    ("32 idle TCP connections lock the others out (idle timeout, eviction)",
     [("tests/transports/test_osc_fairness.py", "32_idle_connections"),
      ("tests/transports/test_osc_fairness.py", "idlest_connection"),
      ("tests/transports/test_osc_fairness.py", "idle_timeout")]),
    ("A feedback bundle larger than one datagram (split)",
     [("tests/surfaces/test_native_osc_datagrams.py", "datagrams_that_fit"),
      ("tests/surfaces/test_native_osc_datagrams.py", "too_big_for_any_bundle")]),
    ("A UDP port held by an exiting instance (retried, native and X32 listeners)",
     [("tests/transports/test_osc_fairness.py", "taken_udp_port"),
      ("tests/transports/test_osc_fairness.py", "old_instance_lets_go"),
      ("tests/test_daemon_x32.py", "taken_port_is_retried")]),
    ("A user's copy of a shipped mapping binds twice",
     [("tests/test_daemon_mapping_files.py", "user_copy_replaces")]),
    ("SIGHUP reloads the config and mappings (a bad config refused, the old kept)",
     [("tests/cli/test_hangup_and_logging.py", "sighup_reloads")]),
    ("Logging configured (levels, syslog priorities off a terminal)",
     [("tests/cli/test_hangup_and_logging.py", "library_log_lines"),
      ("tests/cli/test_hangup_and_logging.py", "log_formats_and_levels")]),
    ("Hostile bytes piling up in a long-lived decoder (found by the long soak: SLIP "
     "errors kept each other)",
     [("tests/transports/test_garbage_memory.py", "do_not_grow"),
      ("tests/transports/test_garbage_memory.py", "do_not_pile_up")]),
]


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def show(entry: dict[str, object]) -> str:
    value = entry["value"]
    unit = str(entry.get("unit", ""))
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".strip()


def _value(figures: dict[str, dict[str, object]], key: str) -> str:
    entry = figures.get(key)
    return "not measured" if entry is None else show(entry)


def _fuzz_rows(figures: dict[str, dict[str, object]], long: dict[str, dict[str, object]]
               ) -> list[str]:
    lines = [
        "## Fuzzing",
        "",
        "Each parser and loader under atheris (coverage-guided; tests/fuzz/targets.py says",
        "what each target checks): an escape is an input that raised anything but the",
        "project's own error, broke an invariant, hung (20 s) or took over 2 GB. The test",
        "run fuzzes 10^4 inputs per byte parser and 2x10^3 per file loader",
        "(tests/fuzz/test_atheris.py); the long run is `scripts/fuzz --runs 1000000`"
        + (f", last run {long['fuzz_long_run']['value']}" if "fuzz_long_run" in long else
           " (not run yet)") + ".",
        "",
        "| parser | inputs (test run) | escapes | inputs (long run) | escapes (long run) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, title in PARSERS:
        lines.append(f"| {title} | {_value(figures, f'fuzz_{name}_inputs')} | "
                     f"{_value(figures, f'fuzz_{name}_escapes')} | "
                     f"{_value(long, f'fuzz_long_{name}_inputs')} | "
                     f"{_value(long, f'fuzz_long_{name}_escapes')} |")
    return [*lines, ""]


def _soak_rows(figures: dict[str, dict[str, object]], long: dict[str, dict[str, object]]
               ) -> list[str]:
    what = figures.get("soak_midi_events", {}).get("what", "")
    lines = [
        "## Soak",
        "",
        "tests/test_soak.py: a real `surfaced run` with every transport writing random valid",
        "values at once, garbage between them, OSC subscribers joining and leaving and",
        "SIGHUP reloads with a broken mapping file; then the final state, the change log",
        "and every surface's feedback are compared with what was sent"
        + (f" ({what.split('(')[-1].split(')')[0]})" if "seed" in str(what) else "") + ".",
        "The long run is `scripts/soak --seconds 900` (docs/reliability-soak.json)"
        + (f", last run {long['soak_long_run']['value']} ({long['soak_long_run']['what']})"
           if "soak_long_run" in long else " (not run yet)") + ".",
        "",
        "xruns are server-wide: any late client, or the machine itself, makes one. The soak",
        "and an idle run of the same daemon are compared, and the daemon's share is judged",
        "by its own audio work (`surfaced run --audio-timing`): the CPU time each block took",
        "in the audio thread. The test fails if 0.1% of the blocks take over half their",
        "period, or if more blocks pass their period in CPU time than at idle beyond chance",
        "(2 x idle + 2; this kernel charges interrupts to the thread they interrupt, so a",
        "rare one happens at idle too). A block past its period only in wall-clock time",
        "waited for a CPU.",
        "",
        "| transport | valid events (test run) | valid events (long run) | garbage and result |",
        "| --- | --- | --- | --- |",
    ]
    for name, title in TRANSPORTS:
        entry = figures.get(f"soak_{name}_events")
        lines.append(f"| {title} | {_value(figures, f'soak_{name}_events')} | "
                     f"{_value(long, f'soak_{name}_events')} | "
                     f"{entry.get('what', '') if entry else ''} |")
    lines += ["", "| invariant | test run | long run | how it was measured (test run) "
              "| the long run |", "| --- | --- | --- | --- | --- |"]
    for key, title in [("soak_lost", "Valid events lost"),
                       ("soak_midi_jack_lost", "MIDI events JACK did not deliver (xruns)"),
                       ("soak_doubled", "Events doubled"),
                       ("soak_rss_drift_mb", "RSS drift"), ("soak_fd_drift", "Open files drift"),
                       ("soak_xruns", "xruns during the soak"),
                       ("soak_idle_xruns", "xruns idle, same length"),
                       ("soak_blocks_late_cpu", "Audio blocks past their period in CPU time"),
                       ("soak_block_cpu_p999_us", "CPU time of an audio block, p99.9"),
                       ("soak_blocks_late_wall",
                        "Audio blocks past their period in wall-clock time"),
                       ("soak_subscriber_joins", "Subscribers joined and left")]:
        entry, long_entry = figures.get(key), long.get(key)
        lines.append(f"| {title} | {_value(figures, key)} | {_value(long, key)} | "
                     f"{entry.get('what', '') if entry else ''} | "
                     f"{long_entry.get('what', '') if long_entry else ''} |")
    return [*lines, ""]


def _attack_rows(attacks: list[tuple[str, str, str]]) -> list[str]:
    lines = ["## Attacks (issue 8)", "", "Each attack with its result, read from its tests in "
             "this run.", "", "| attack | result | tests |", "| --- | --- | --- |"]
    for title, result, tests in attacks:
        lines.append(f"| {title} | {result} | {tests} |")
    return [*lines, ""]


def render(figures: dict[str, dict[str, object]], took: float,
           long: dict[str, dict[str, object]] | None = None,
           attacks: list[tuple[str, str, str]] | None = None,
           long_soak: dict[str, dict[str, object]] | None = None) -> str:
    """The page, from the recorded figures (and the long fuzz and soak runs' files)."""
    long = long or {}
    lines = [
        "# Reliability figures",
        "",
        "Generated by `scripts/reliability.py` from a run of the tests marked `figures`",
        "(`pytest -m figures`) and of the attack tests; not typed by hand. Re-run the",
        "script to refresh it.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {machine()}",
        f"- Test run: {took:.0f} s",
        "",
        *_fuzz_rows(figures, long),
        *_soak_rows(figures, long_soak or {}),
        *_attack_rows(attacks or []),
        "## Recovery and recall",
        "",
        "| figure | value | how it was measured |",
        "| --- | --- | --- |",
    ]
    for key, title in ROWS:
        entry = figures.get(key)
        if entry is None:
            lines.append(f"| {title} | not measured | |")
        else:
            lines.append(f"| {title} | {show(entry)} | {entry.get('what', '')} |")
    shown = {*dict(ROWS), *(k for k in figures if k.startswith(("fuzz_", "soak_")))}
    for key in sorted(k for k in figures if k not in shown):
        entry = figures[key]
        lines.append(f"| {key} | {show(entry)} | {entry.get('what', '')} |")
    return "\n".join(lines) + "\n"


def attack_tests() -> dict[str, list[str]]:
    """Node ids of each attack's tests that exist now (collected, not guessed)."""
    files = sorted({f for _t, tests in ATTACKS for f, _k in tests if (ROOT / f).exists()})
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *files], cwd=ROOT, capture_output=True,
                          text=True)
    ids = [line.strip() for line in proc.stdout.splitlines() if "::" in line]
    return {title: [i for i in ids for f, key in tests
                    if i.startswith(f + "::") and key in i.split("::")[-1]]
            for title, tests in ATTACKS}


def run_attacks(report: Path) -> tuple[list[tuple[str, str, str]], bool]:
    """Run each attack's tests; rows of (attack, result, tests) and whether all passed."""
    by_attack = attack_tests()
    ids = sorted({i for found in by_attack.values() for i in found})
    outcome: dict[str, str] = {}
    if ids:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *ids], cwd=ROOT)
        for case in ET.parse(report).getroot().iter("testcase"):
            name = case.get("name", "")
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            outcome[name] = "failed" if failed else "skipped" if skipped else "passed"
    rows, ok = [], True
    for title, _tests in ATTACKS:
        found = by_attack[title]
        names = [i.split("::")[-1] for i in found]
        results = [outcome.get(n, "not run") for n in names]
        if not found:
            result = "open (no test in the tree)"
        elif all(r == "passed" for r in results):
            result = f"fixed: {len(found)} of {len(found)} tests pass"
        else:
            ok = False
            bad = [f"{n} {r}" for n, r in zip(names, results, strict=True) if r != "passed"]
            result = "NOT FIXED: " + ", ".join(bad)
        funcs = dict.fromkeys(i.split("[")[0] for i in found)  # one line per test function
        rows.append((title, result, "<br>".join(f"`{f}`" for f in funcs)))
    return rows, ok


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = {**os.environ, "SURFACED_FIGURES": str(out)}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "figures",
                               "-p", "no:cacheprovider", *sys.argv[1:]], cwd=ROOT, env=env)
        if proc.returncode != 0:
            print("scripts/reliability.py: the test run failed; docs/reliability.md unchanged",
                  file=sys.stderr)
            return proc.returncode
        figures = json.loads(out.read_text()) if out.exists() else {}
        attacks, attacks_ok = run_attacks(Path(tmp) / "attacks.xml")
        took = time.monotonic() - started
    long, long_soak = (json.loads(f.read_text()) if f.exists() else {} for f in
                       (ROOT / "docs" / "reliability-fuzz.json",
                        ROOT / "docs" / "reliability-soak.json"))
    (ROOT / "docs" / "reliability.md").write_text(render(figures, took, long, attacks,
                                                         long_soak))
    print(f"wrote docs/reliability.md ({len(figures)} figures, {len(attacks)} attacks)")
    return 0 if attacks_ok else 1


if __name__ == "__main__":
    sys.exit(main())
