"""The `surfaced` command: run, render, devices.

Errors a user can meet (a bad session file, a missing device) are printed as
one line naming what was wrong and where, with a non-zero exit; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from surfaced import __version__
from surfaced.cli import logs
from surfaced.cli.assist import add_assist_commands
from surfaced.cli.document import add_document_commands
from surfaced.config import Config, ConfigError
from surfaced.mix.params import ParamError
from surfaced.session import Session, SessionError, default_session, load_session
from surfaced.session.wavio import WavError


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

    from surfaced.cli.meterview import format_meters, overs_summary, redraw, timing_summary
    from surfaced.config import load_config
    from surfaced.daemon import Daemon

    def configured() -> Config:
        """The configuration file with the command line's settings over it (also on SIGHUP)."""
        config = load_config(args.config)
        if args.device is not None:
            config.audio_device = args.device
        if args.block is not None:
            config.block = args.block
        config.headless = config.headless or args.headless
        if args.backend is not None:
            config.audio_backend = args.backend
        if args.jack_client is not None:
            config.jack_client = args.jack_client
        if args.no_osc:
            config.osc = []
        return config

    config = configured()
    _logging(args, config.log_level or "info")
    session = _load(args.session or config.session)
    daemon = Daemon(config, session,
                    on_status=lambda msg: print(f"surfaced: {msg}", file=sys.stderr, flush=True))
    daemon.engine.measure_blocks = args.audio_timing
    names = [c.name for c in session.channels]
    tty = sys.stdout.isatty()

    async def meters(stop: asyncio.Event) -> None:
        if args.quiet:  # nothing to draw: no timer waking the loop every second (issue 9)
            await stop.wait()
            return
        drawn = 0
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1 if tty else 1.0)
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
        reloads: set[asyncio.Task[bool]] = set()  # kept: the loop holds tasks weakly

        def hangup() -> None:  # daemon convention: re-read configuration and mappings
            task = asyncio.ensure_future(daemon.reload(configured))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, hangup)
        view = asyncio.create_task(meters(stop))
        try:
            await daemon.run(stop, seconds=args.seconds or None)
        finally:
            stop.set()
            await view

    asyncio.run(main())
    m = daemon.engine.meters().master
    print(f"surfaced: {overs_summary(m, session.rate)}")
    midi = daemon.jack_midi_totals
    if midi is not None:
        print(f"surfaced: JACK MIDI {midi['in_events']} events in ({midi['in_dropped']} dropped), "
              f"{midi['out_events']} out ({midi['out_dropped']} dropped)")
    if args.audio_timing and daemon.driver is not None:
        print(f"surfaced: {timing_summary(daemon.driver.timing(), daemon.where)}")
    print(f"surfaced: stopped after {m.frames / session.rate:.1f} s; xruns {m.xruns}, "
          f"integrated {m.integrated_lufs:.1f} LUFS, range {m.loudness_range_lu:.1f} LU")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Render a session to a WAV file, faster than real time."""
    from surfaced.cli.meterview import overs_summary
    from surfaced.mix.audio import render

    session = _load(args.session)
    seconds = args.seconds if args.seconds else session.duration
    if session.inputs_needed():
        print("surfaced: channels fed from device inputs render as silence offline",
              file=sys.stderr)
    engine = session.make_mixer(max_block=args.block).engine
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
          f"LUFS, range {m.loudness_range_lu:.1f} LU, true peak "
          f"{_db(max(m.true_peak_max)):.1f} dBTP")
    print(overs_summary(m, engine.rate))
    return 0


def _db(x: float) -> float:
    import math

    return 20 * math.log10(x) if x > 0 else float("-inf")


def cmd_devices(args: argparse.Namespace) -> int:
    """List audio devices, MIDI ports and serial ports."""
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
    from surfaced.jackclient import JackUnavailable
    from surfaced.transports import jack_midi
    from surfaced.transports.midi import MidiTransportError, list_ports

    try:
        try:
            if not jack_midi.use_jack(args.midi_api):
                raise JackUnavailable("not JACK")
            ports = jack_midi.list_ports()
        except JackUnavailable:
            if args.midi_api is not None and args.midi_api.lower() == "jack":
                raise MidiTransportError("no JACK server answers") from None
            ports = list_ports(args.midi_api)
        print(f"MIDI ports ({ports.api}):")
        for name in ports.inputs:
            print(f"  in   {name}")
        for name in ports.outputs:
            print(f"  out  {name}")
        if not ports.inputs and not ports.outputs:
            print("  (none)")
    except MidiTransportError as exc:
        print(f"MIDI ports: unavailable ({exc})")
    from surfaced.transports.serial import list_serial_ports

    print("serial ports (match: line for a mapping in brackets):")
    found = list_serial_ports()
    for p in found:
        print(f"  {p.device}  {p.description}  [{p.locator}]")
    if not found:
        print("  (none)")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """Print decoded events from MIDI inputs (and an OSC port) as they arrive."""
    from surfaced.cli.monitor import monitor

    monitor(args.midi, args.midi_api, args.osc_port, args.seconds or None,
            lambda line: print(line, flush=True))
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    """Wait for one control to move and print its mapping stanza."""
    from surfaced.cli.monitor import learn

    learned = learn(args.midi, args.midi_api, args.param, args.timeout,
                    lambda line: print(line, file=sys.stderr, flush=True))
    if learned is None:
        raise UserError(f"nothing moved within {args.timeout:.0f} s")
    print(learned.yaml, end="")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    """Ask the running daemon to save its mix to the session file (or to another file)."""
    from surfaced.cli.remote import RemoteError, daemon_address, run_command
    from surfaced.config import load_config

    config = load_config(args.config)
    values: tuple[str, ...] = ()
    if args.save_as is None:
        name = "session/save"
    else:  # the daemon runs elsewhere (its own cwd): send the path as the user meant it
        name = "session/save_as"
        values = (str(Path(args.save_as).expanduser().absolute()),)
    try:
        reply = run_command(daemon_address(config), name, values, timeout=args.timeout)
    except RemoteError as exc:
        raise UserError(str(exc)) from None
    print(f"saved {reply[0] if reply else '(no path in the reply)'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate mapping files and summarise what each binds; exit 2 if any is wrong."""
    from surfaced.mapping import MappingError, check_file

    bad = 0
    for f in args.files:
        try:
            summary = check_file(f)
        except MappingError as exc:
            print(f"surfaced: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        except OSError as exc:
            print(f"surfaced: error: {f}: {exc.strerror}", file=sys.stderr)
            bad += 1
            continue
        print(summary)
    return 2 if bad else 0


def _logging(args: argparse.Namespace, default: str = "warning") -> None:
    """Configure logging once, from `default` (the config's level) and -v / -q."""
    logs.configure(logs.level_for(default, getattr(args, "verbose", 0) or 0,
                                  getattr(args, "less", 0) or 0))


def _jack_client(text: str) -> str:
    """--jack-client: a JACK client name."""
    if not 1 <= len(text.encode()) <= 63 or ":" in text:
        raise argparse.ArgumentTypeError(f"{text!r}: a JACK client name is 1..63 bytes, no ':'")
    return text


def _block(text: str) -> int:
    """--block: frames per block, 16..4096."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of frames") from None
    if not 16 <= n <= 4096:
        raise argparse.ArgumentTypeError(f"{n} frames: a block is 16..4096 frames")
    return n


def _seconds(text: str) -> float:
    """--seconds: 0 (not set) up to a day."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.0 <= x <= 86400.0:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text}: expected 0..86400 seconds")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    p = argparse.ArgumentParser(prog="surfaced", description=__doc__)
    p.add_argument("--version", action="version", version=f"surfaced {__version__}")
    verbosity = argparse.ArgumentParser(add_help=False)  # on every command, before or after it
    verbosity.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="log more (repeat for more; see log_level in the config)")
    verbosity.add_argument("-q", dest="less", action="count", default=argparse.SUPPRESS,
                           help="log less (repeat for less)")
    p.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    p.add_argument("-q", dest="less", action="count", default=0, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command")
    _add_parser = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return _add_parser(name, parents=[verbosity, *kw.pop("parents", [])], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    r = sub.add_parser("run", help="play a session (default: the built-in one) with live meters")
    r.add_argument("session", nargs="?", help="session YAML file (default: built-in 8 channels)")
    r.add_argument("--config", default=None,
                   help="configuration file (default: ~/.config/surfaced/config.yaml)")
    r.add_argument("--device", default=None, help="audio output device (name or index)")
    r.add_argument("--block", type=_block, default=None, help="frames per block (default 256)")
    r.add_argument("--backend", choices=("auto", "jack", "portaudio"), default=None,
                   help="audio backend: surfaced's own JACK client, PortAudio, or auto (JACK "
                        "when a server runs at start; the default)")
    r.add_argument("--jack-client", type=_jack_client, default=None, metavar="NAME",
                   help="the JACK client's name (default: surfaced)")
    r.add_argument("--no-osc", action="store_true", help="do not open the OSC listeners")
    r.add_argument("--headless", action="store_true", help="no audio device: real-time clock only")
    r.add_argument("--seconds", type=_seconds, default=0.0, help="stop after this many seconds")
    r.add_argument("--quiet", action="store_true", help="no meters")
    r.add_argument("--audio-timing", action="store_true",
                   help="record each audio block's CPU and wall-clock time; summary at stop")
    r.set_defaults(func=cmd_run)
    o = sub.add_parser("render", help="render a session offline to a WAV file")
    o.add_argument("session", help="session YAML file")
    o.add_argument("-o", "--output", required=True, help="WAV file to write (32-bit float)")
    o.add_argument("--seconds", type=_seconds, default=0.0,
                   help="length (default: the session's)")
    o.add_argument("--block", type=_block, default=512, help="frames per block (default 512)")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.set_defaults(func=cmd_render)
    d = sub.add_parser("devices", help="list audio devices, MIDI ports and serial ports")
    d.add_argument("--midi-api", default=None, help="MIDI backend: jack, alsa, coremidi")
    d.set_defaults(func=cmd_devices)
    m = sub.add_parser("monitor", help="print decoded events from MIDI inputs and OSC, live")
    m.add_argument("--midi", default="*", help="input port pattern (glob, or re:REGEX)")
    m.add_argument("--midi-api", default=None, help="MIDI backend: jack, alsa, coremidi")
    m.add_argument("--osc-port", type=int, default=None, help="also listen for OSC on this port")
    m.add_argument("--seconds", type=_seconds, default=0.0, help="stop after this many seconds")
    m.set_defaults(func=cmd_monitor)
    la = sub.add_parser("learn", help="move a control, get its mapping stanza")
    la.add_argument("param", nargs="?", default="ch/1/fader", help="parameter to bind")
    la.add_argument("--midi", default="*", help="input port pattern (glob, or re:REGEX)")
    la.add_argument("--midi-api", default=None, help="MIDI backend: jack, alsa, coremidi")
    la.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
    la.set_defaults(func=cmd_learn)
    sv = sub.add_parser("save", help="save the running mix to its session file (or --as FILE)")
    sv.add_argument("--as", dest="save_as", default=None, metavar="FILE",
                    help="save to FILE instead, which becomes the session file")
    sv.add_argument("--config", default=None,
                    help="configuration file naming the daemon's OSC port "
                         "(default: ~/.config/surfaced/config.yaml)")
    sv.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait for the daemon's answer (default 30)")
    sv.set_defaults(func=cmd_save)
    c = sub.add_parser("check", help="validate mapping files and show what they bind")
    c.add_argument("files", nargs="+", help="mapping YAML files")
    c.set_defaults(func=cmd_check)
    add_document_commands(sub)
    add_assist_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `surfaced` command."""
    # Should the native core or a library under it ever crash the process, the
    # Python stack of every thread goes to stderr: where it was, for the report.
    if not faulthandler.is_enabled():
        faulthandler.enable()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    if args.func is not cmd_run:  # run configures it from its config file
        _logging(args)
    try:
        return int(args.func(args))
    except (UserError, SessionError, ConfigError, ParamError, WavError) as exc:
        print(f"surfaced: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `surfaced devices | head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stops the flush at exit failing
        return 0
    except OSError as exc:  # a file we were asked to write or read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"surfaced: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
