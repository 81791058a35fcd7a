"""The `surfaced` command: run, render, devices.

Errors a user can meet (a bad session file, a missing device) are printed as
one line naming what was wrong and where, with a non-zero exit; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from surfaced import __version__
from surfaced.config import ConfigError
from surfaced.params import ParamError
from surfaced.session import Session, SessionError, default_session, load_session
from surfaced.wavio import WavError


class UserError(Exception):
    """Something the user can fix; printed without a traceback."""


def _load(path: str | None) -> Session:
    if path is None:
        return default_session()
    if not Path(path).exists():
        raise UserError(f"{path}: no such session file")
    return load_session(path)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon: the session's audio, OSC, surfaces, and meters in the terminal."""
    import asyncio

    from surfaced.config import load_config
    from surfaced.daemon import Daemon
    from surfaced.meterview import format_meters, redraw

    config = load_config(args.config)
    if args.device is not None:
        config.audio_device = args.device
    if args.block is not None:
        config.block = args.block
    config.headless = config.headless or args.headless
    if args.no_osc:
        config.osc = []
    session = _load(args.session or config.session)
    daemon = Daemon(config, session,
                    on_status=lambda msg: print(f"surfaced: {msg}", file=sys.stderr, flush=True))
    names = [c.name for c in session.channels]
    tty = sys.stdout.isatty()

    async def meters(stop: asyncio.Event) -> None:
        drawn = 0
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1 if tty else 1.0)
            if args.quiet:
                continue
            lines = format_meters(daemon.engine.meters(), names, daemon.where)
            if tty:
                sys.stdout.write(redraw(lines, drawn))
                drawn = len(lines)
            else:
                sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        view = asyncio.create_task(meters(stop))
        try:
            await daemon.run(stop, seconds=args.seconds or None)
        finally:
            stop.set()
            await view

    asyncio.run(main())
    m = daemon.engine.meters().master
    print(f"surfaced: stopped after {m.frames / session.rate:.1f} s; xruns {m.xruns}, "
          f"clipped samples {m.clip_count}, integrated {m.integrated_lufs:.1f} LUFS")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Render a session to a WAV file, faster than real time."""
    from surfaced.audio import render

    session = _load(args.session)
    seconds = args.seconds if args.seconds else session.duration
    engine = session.make_engine(max_block=args.block)
    started = time.monotonic()

    def progress(fraction: float) -> None:
        if args.quiet:
            return
        width = 40
        done = int(width * fraction)
        sys.stderr.write(f"\rrendering [{'#' * done}{'.' * (width - done)}] {fraction:4.0%}")
        sys.stderr.flush()

    render(engine, seconds, args.output, block=args.block, progress=progress)
    took = time.monotonic() - started
    m = engine.meters().master
    if not args.quiet:
        sys.stderr.write("\n")
    print(f"wrote {args.output}: {seconds:.1f} s in {took:.2f} s "
          f"({seconds / max(took, 1e-9):.0f}x real time); integrated {m.integrated_lufs:.1f} "
          f"LUFS, true peak {_db(max(m.true_peak_max)):.1f} dBTP, clipped samples {m.clip_count}")
    return 0


def _db(x: float) -> float:
    import math

    return 20 * math.log10(x) if x > 0 else float("-inf")


def cmd_devices(args: argparse.Namespace) -> int:
    """List audio devices (MIDI and serial ports come with the surfaces)."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except Exception as exc:
        raise UserError(f"cannot list audio devices: {exc} (is libportaudio2 installed?)") from None
    print("audio devices:")
    if len(devices) == 0:
        print("  (none: `surfaced run` will use the headless clock)")
    try:
        default_out = sd.default.device[1]
    except Exception:
        default_out = -1
    for d in devices:
        mark = "*" if d["index"] == default_out else " "
        api = apis[d["hostapi"]]["name"]
        print(f" {mark}{d['index']:3d}  {d['name']}  ({api}; {d['max_input_channels']} in, "
              f"{d['max_output_channels']} out, {d['default_samplerate']:.0f} Hz)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    p = argparse.ArgumentParser(prog="surfaced", description=__doc__)
    p.add_argument("--version", action="version", version=f"surfaced {__version__}")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("run", help="play a session (default: the built-in one) with live meters")
    r.add_argument("session", nargs="?", help="session YAML file (default: built-in 8 channels)")
    r.add_argument("--config", default=None,
                   help="configuration file (default: ~/.config/surfaced/config.yaml)")
    r.add_argument("--device", default=None, help="audio output device (name or index)")
    r.add_argument("--block", type=int, default=None, help="frames per block (default 256)")
    r.add_argument("--no-osc", action="store_true", help="do not open the OSC listeners")
    r.add_argument("--headless", action="store_true", help="no audio device: real-time clock only")
    r.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds")
    r.add_argument("--quiet", action="store_true", help="no meters")
    r.set_defaults(func=cmd_run)
    o = sub.add_parser("render", help="render a session offline to a WAV file")
    o.add_argument("session", help="session YAML file")
    o.add_argument("-o", "--output", required=True, help="WAV file to write (32-bit float)")
    o.add_argument("--seconds", type=float, default=0.0, help="length (default: the session's)")
    o.add_argument("--block", type=int, default=512, help="frames per block (default 512)")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.set_defaults(func=cmd_render)
    d = sub.add_parser("devices", help="list audio devices")
    d.set_defaults(func=cmd_devices)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `surfaced` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        return int(args.func(args))
    except (UserError, SessionError, ConfigError, ParamError, WavError) as exc:
        print(f"surfaced: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
