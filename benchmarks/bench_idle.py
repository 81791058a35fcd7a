"""What an idle mixer costs: surfaced beside jack_mix_box on one JACK server (issue 9).

    python benchmarks/bench_idle.py                      # 8 and 64 channels, 20 s each, 3 repeats
    python benchmarks/bench_idle.py --channels 8 --seconds 10 --repeats 1

One real `jackd -d dummy -r 48000 -p 64` (a name of its own) serves every
run. Each run starts one mixer as a user would, lets it settle, then watches
it for `--seconds`:

- ``jack_mix_box``: jack-mixer's headless mixer (Debian jack-mixer), one mono
  channel per MIDI CC given, N channels;
- ``surfaced``: ``surfaced run`` with a session of N channels fed by the
  demo session's generators (cycling its 8 sounds), no surface, no OSC, no
  browser page, on whatever audio backend it picks (printed);
- ``... + surface``: the same with one bound MIDI surface: this process
  opens a virtual JACK MIDI port pair named ``nanoKONTROL2`` (python-rtmidi),
  which the shipped korg-nanokontrol2 mapping matches; jack_mix_box gets the
  same port connected to its MIDI input.

Measured over the window, from /proc: CPU % of one core (utime + stime of
every thread of the mixer's process, and of jackd; the kernel samples these
at its tick, so a thread that runs 20 us every 1.3 ms is counted coarsely),
the same from the scheduler's own run-time clock ("on-CPU", the sum of
/proc/PID/task/*/schedstat, in ns: exact, the better figure for small
costs), wake-ups per second
(voluntary + involuntary context switches of every thread: each is a thread
waking up or being put aside), the JACK DSP load (jack_cpu_load, read twice
a second through libjack by a small client of this process; median) and the
xruns jackd reported ("was not finished" lines in its log). The runs
alternate, so both mixers see the same background load; medians over the
repeats are printed, with the spread. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")
SURFACE_PORT = "nanoKONTROL2"  # mappings/korg-nanokontrol2.yaml matches it
SURFACE_MAPPING = "korg-nanokontrol2"
DEMO = ("kick", "snare", "hats", "bass", "keys", "pad", "vocal", "lead")


# ----------------------------------------------------------------- /proc
def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process (every thread), in clock ticks."""
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12])


def _run_ns(pid: int) -> int:
    """Nanoseconds every thread of the process has run (the scheduler's clock, schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def _faults(pid: int) -> int:
    """Minor + major page faults of the whole process so far."""
    fields = _stat(pid)
    return int(fields[7]) + int(fields[9])


def _switches(pid: int) -> dict[int, tuple[str, int]]:
    """Per thread: (a label, voluntary + involuntary context switches so far).

    Python threads all read "python" in /proc, so the label also says which
    is the main thread and which run real-time (the JACK process thread)."""
    out: dict[int, tuple[str, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            n = 0
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            label = (task / "comm").read_text().strip()
            if int(task.name) == pid:
                label += " main"
            if stat[38] in ("1", "2"):  # SCHED_FIFO / SCHED_RR
                label += f" RT{stat[37]}"
            out[int(task.name)] = (label, n)
    return out


# ------------------------------------------------------------------ JACK
class JackLoad:
    """A tiny libjack client of this process that reads the server's DSP load."""

    def __init__(self, server: str) -> None:
        self.lib = ctypes.CDLL("libjack.so.0")
        self.lib.jack_client_open.restype = ctypes.c_void_p
        self.lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_int), ctypes.c_char_p]
        self.lib.jack_cpu_load.restype = ctypes.c_float
        self.lib.jack_cpu_load.argtypes = [ctypes.c_void_p]
        self.lib.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int(0)
        # JackNoStartServer | JackServerName: this server, never a new one.
        self.client = self.lib.jack_client_open(b"bench-idle-load", 0x01 | 0x04,
                                                ctypes.byref(status), server.encode())
        if not self.client:
            raise RuntimeError(f"cannot open a JACK client on {server} (status {status.value})")

    def load(self) -> float:
        return float(self.lib.jack_cpu_load(self.client))

    def close(self) -> None:
        self.lib.jack_client_close(self.client)


@contextlib.contextmanager
def jackd(log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A dummy-driver jackd of our own (48 kHz, 64 frames), its output in `log`."""
    name = f"bench-idle-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "64"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = subprocess.run(["jack_lsp", "-s", name], capture_output=True, timeout=5)
            if r.returncode == 0 and b"system:" in r.stdout:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"jackd exited: {log.read_text(errors='replace')[-500:]}")
            time.sleep(0.1)
        yield name, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def surface_port(server: str) -> Iterator[None]:
    """A virtual JACK MIDI port pair named like a nanoKONTROL2 (the bound surface)."""
    import rtmidi

    os.environ["JACK_DEFAULT_SERVER"] = server
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench-surface")
    inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bench-surface")
    out.open_virtual_port(SURFACE_PORT)
    inp.open_virtual_port(SURFACE_PORT)
    try:
        yield
    finally:
        out.close_port()
        inp.close_port()
        del out, inp


# ------------------------------------------------------------------ runs
@dataclass
class Run:
    """One mixer watched for one window."""

    what: str
    cpu: float  # % of one core, the mixer's process
    jackd_cpu: float  # % of one core, jackd
    wakeups: float  # per second, every thread of the mixer
    dsp: float  # JACK DSP load, % (median of the samples)
    xruns: int  # "was not finished" lines jackd wrote in the window
    faults: int = 0  # page faults of the mixer's process in the window
    threads: dict[str, float] = field(default_factory=dict)  # name/tid -> wake-ups per second
    note: str = ""
    cpu_run: float = 0.0  # % of one core, the mixer's process, from schedstat (exact)


def _session(path: Path, channels: int) -> Path:
    lines = ["version: 2", "buses: 4", "channels:"]
    for n in range(channels):
        lines += [f"  - name: {DEMO[n % 8].title()} {n + 1}",
                  f"    source: {{generator: {DEMO[n % 8]}}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(path: Path, surface: bool) -> Path:
    enable = f"[{SURFACE_MAPPING}]" if surface else "[]"
    path.write_text(f"osc: []\nx32: false\nweb: false\nmdns: false\n"
                    f"mappings: {{enable: {enable}}}\n")
    return path


def _watch(pid: int, jack_pid: int, load: JackLoad, seconds: float, log: Path) -> Run:
    """CPU, wake-ups, DSP load and xruns of process `pid` over `seconds`."""
    start_log = log.stat().st_size
    t0, c0, j0, s0 = time.monotonic(), _cpu_ticks(pid), _cpu_ticks(jack_pid), _switches(pid)
    f0, r0 = _faults(pid), _run_ns(pid)
    loads = []
    while time.monotonic() - t0 < seconds:
        time.sleep(0.5)
        loads.append(load.load())
    dt = time.monotonic() - t0
    c1, j1, s1, f1 = _cpu_ticks(pid), _cpu_ticks(jack_pid), _switches(pid), _faults(pid)
    r1 = _run_ns(pid)
    with open(log, "rb") as f:
        f.seek(start_log)
        xruns = f.read().count(b"was not finished")
    threads: dict[str, float] = {}
    for tid, (name, n) in s1.items():
        rate = (n - s0.get(tid, (name, 0))[1]) / dt
        key = name if name not in threads else f"{name}/{tid}"
        threads[key] = rate
    return Run("", 100.0 * (c1 - c0) / HZ / dt, 100.0 * (j1 - j0) / HZ / dt,
               sum(threads.values()), statistics.median(loads), xruns, f1 - f0, threads,
               cpu_run=100.0 * (r1 - r0) / 1e9 / dt)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


def run_mixbox(server: str, jack_pid: int, load: JackLoad, channels: int, surface: bool,
               seconds: float, settle: float, log: Path) -> Run:
    name = f"mixbox-{uuid.uuid4().hex[:4]}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=server)
    proc = subprocess.Popen(["jack_mix_box", "-n", name, *[str(1 + n) for n in range(channels)]],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        time.sleep(settle)
        if surface:
            subprocess.run(["jack_connect", "-s", server, f"bench-surface:{SURFACE_PORT}",
                            f"{name}:midi in"], capture_output=True, env=env)
        run = _watch(proc.pid, jack_pid, load, seconds, log)
    finally:
        out = _stop(proc)
    run.what = f"jack_mix_box{' + surface' if surface else ''}"
    if proc.returncode not in (0, -signal.SIGINT) or run.wakeups == 0:
        run.note = f"FAILED (exit {proc.returncode}): {out.strip()[-200:]}"
    return run


def run_surfaced(server: str, jack_pid: int, load: JackLoad, channels: int, surface: bool,
                 seconds: float, settle: float, log: Path, tmp: Path,
                 headless: bool = False, baseline: Path | None = None) -> Run:
    session = _session(tmp / f"idle{channels}.yaml", channels)
    config = _config(tmp / f"config-{int(surface)}.yaml", surface)
    env = dict(os.environ, JACK_DEFAULT_SERVER=server, XDG_STATE_HOME=str(tmp / "state"),
               XDG_CONFIG_HOME=str(tmp / "cfg"))
    name = "surfaced"
    if baseline is not None:  # another checkout (with its core built in place) goes first
        env["PYTHONPATH"] = os.pathsep.join([str(baseline), env.get("PYTHONPATH", "")])
        name = f"surfaced@{baseline.name}"
    cmd = [sys.executable, "-m", "surfaced", "run", str(session), "--config", str(config),
           "--quiet", "--jack-client", f"surfaced-{uuid.uuid4().hex[:4]}"]
    if headless:
        cmd.append("--headless")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            cwd=tmp)
    try:
        time.sleep(settle)
        if proc.poll() is not None:
            out = proc.communicate()[0].decode(errors="replace")
            what = f"{name}{' --headless' if headless else ''}{' + surface' if surface else ''}"
            return Run(what, 0.0, 0.0, 0.0, 0.0, 0,
                       note=f"FAILED (exit {proc.returncode}): {out.strip()[-300:]}")
        run = _watch(proc.pid, jack_pid, load, seconds, log)
    finally:
        out = _stop(proc) if proc.poll() is None else ""
    lines = out.splitlines()
    run.note = "; ".join(ln.strip() for ln in lines
                         if "joined" in ln or "playing" in ln or "online" in ln)[:300]
    if surface and not any("online" in ln for ln in lines):
        run.note += " (the surface did NOT come online)"
    run.what = f"{name}{' --headless' if headless else ''}{' + surface' if surface else ''}"
    return run


# ----------------------------------------------------------------- report
def _med(xs: list[float]) -> str:
    m = statistics.median(xs)
    return f"{m:6.2f} ({min(xs):.2f}-{max(xs):.2f})" if len(xs) > 1 else f"{m:6.2f}"


def report(channels: int, runs: list[Run]) -> None:
    repeats = len(runs) // len({r.what for r in runs})
    print(f"\n== {channels} channels: median (min-max) over {repeats} repeats ==")
    print(f"   {'mixer':28} {'CPU % core':>18} {'on-CPU %':>18} {'wake-ups/s':>20} "
          f"{'JACK DSP %':>16} {'jackd CPU %':>18} xruns faults")
    for what in dict.fromkeys(r.what for r in runs):
        rs = [r for r in runs if r.what == what and not r.note.startswith("FAILED")]
        if not rs:
            print(f"   {what:28} every run failed")
            continue
        print(f"   {what:28} {_med([r.cpu for r in rs]):>18} {_med([r.cpu_run for r in rs]):>18}"
              f" {_med([r.wakeups for r in rs]):>20}"
              f" {_med([r.dsp for r in rs]):>16} {_med([r.jackd_cpu for r in rs]):>18}"
              f" {sum(r.xruns for r in rs):5} {sum(r.faults for r in rs):6}")
    for what in dict.fromkeys(r.what for r in runs):
        rs = [r for r in runs if r.what == what]
        for r in rs:
            if r.note.startswith("FAILED"):
                print(f"   {what}: a run {r.note} (left out of the medians)")
        last = rs[-1]
        top = sorted(last.threads.items(), key=lambda kv: -kv[1])[:8]
        print(f"   {what}: wake-ups/s by thread (last repeat): "
              + ", ".join(f"{k} {v:.0f}" for k, v in top if v >= 0.5))
        if last.note:
            print(f"      said: {last.note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", default="8,64", help="comma list of channel counts")
    ap.add_argument("--seconds", type=float, default=20.0, help="window of each run")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds after start, not measured")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-surface", action="store_true", help="skip the runs with a surface")
    ap.add_argument("--headless", action="store_true",
                    help="also run surfaced --headless (its own clock, no JACK client)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also run surfaced from this checkout (e.g. a git worktree of an "
                         "older commit, its native core built or copied in place), "
                         "alternating with the others")
    args = ap.parse_args(argv)
    for tool in ("jackd", "jack_lsp", "jack_connect", "jack_mix_box"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian: jackd2, jack-mixer)")
            return 1
    print(f"bench_idle  {datetime.datetime.now().isoformat(timespec='seconds')}  "
          f"{platform.node()}  {os.cpu_count()} cpus  python {platform.python_version()}")
    print(f"   jackd dummy 48 kHz / 64 frames; {args.seconds:g} s per run after "
          f"{args.settle:g} s settling; {args.repeats} repeats, alternating")
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as d:
        tmp = Path(d)
        log = tmp / "jackd.log"
        with jackd(log) as (server, jack), contextlib.ExitStack() as stack:
            load = JackLoad(server)
            stack.callback(load.close)
            if not args.no_surface:
                stack.enter_context(surface_port(server))
            kinds = [False] if args.no_surface else [False, True]
            for channels in [int(c) for c in args.channels.split(",")]:
                runs: list[Run] = []
                for rep in range(args.repeats):
                    order = ["mixbox", "surfaced"] if rep % 2 == 0 else ["surfaced", "mixbox"]
                    if args.baseline is not None:
                        order.insert(1, "baseline")
                    for surface in kinds:
                        for who in order:
                            if who == "mixbox":
                                r = run_mixbox(server, jack.pid, load, channels, surface,
                                               args.seconds, args.settle, log)
                            elif who == "baseline":
                                r = run_surfaced(server, jack.pid, load, channels, surface,
                                                 args.seconds, args.settle, log, tmp,
                                                 baseline=args.baseline.resolve())
                            else:
                                r = run_surfaced(server, jack.pid, load, channels, surface,
                                                 args.seconds, args.settle, log, tmp)
                            runs.append(r)
                            print(f"   [{rep + 1}] {r.what:28} CPU {r.cpu:5.2f}%  on-CPU "
                                  f"{r.cpu_run:5.2f}%  wake-ups "
                                  f"{r.wakeups:7.0f}/s  DSP {r.dsp:5.2f}%  jackd "
                                  f"{r.jackd_cpu:5.2f}%  xruns {r.xruns}  faults {r.faults}",
                                  flush=True)
                    if args.headless:
                        r = run_surfaced(server, jack.pid, load, channels, False, args.seconds,
                                         args.settle, log, tmp, headless=True)
                        runs.append(r)
                        print(f"   [{rep + 1}] {r.what:28} CPU {r.cpu:5.2f}%  on-CPU "
                              f"{r.cpu_run:5.2f}%  wake-ups "
                              f"{r.wakeups:7.0f}/s", flush=True)
                report(channels, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
