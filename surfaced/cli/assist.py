"""`surfaced prep`, `surfaced assist ...` and `surfaced reference ...`: the mixing
assistant from the command line.

`prep` runs here (it reads a folder of stems and writes a session); `assist`
and `reference` send one command (surfaced.mix.commands) to the running
daemon, as `surfaced scene ...` does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from surfaced.cli.remote import RemoteError, daemon_address, run_command
from surfaced.mix.commands import Arg


def cmd_prep(args: argparse.Namespace) -> int:
    """Turn a folder of stems into a ready-to-mix session."""
    from surfaced.assist.prep import PrepError, load_roles_file, prep, report, write_session
    from surfaced.assist.roles import parse_role
    from surfaced.assist.staging import Target
    from surfaced.assist.taste import Taste

    corrections: dict[str, str] = {}
    try:
        if args.roles:
            corrections.update(load_roles_file(Path(args.roles)))
        for item in args.role:
            name, sep, role = item.partition("=")
            if not sep or not name.strip():
                raise PrepError(f"--role {item!r}: expected FILE=ROLE (e.g. 'Gtr 3.wav=keys')")
            corrections[name.strip()] = parse_role(role).name
        target = Target(loudness=args.target)
        taste = None if args.no_taste else Taste.load(Path(args.taste) if args.taste else None)
        started = time.monotonic()
        prepared = prep(Path(args.stems), corrections, target, taste)
        write_session(prepared, Path(args.output))
    except ValueError as exc:  # PrepError, a bad role, a bad taste file, a bad target
        print(f"surfaced: error: {exc}", file=sys.stderr)
        return 2
    took = time.monotonic() - started
    for line in report(prepared):
        print(line)
    print(f"wrote {args.output}: {len(prepared.channels)} channels, "
          f"{prepared.seconds:.1f} s, in {took:.1f} s")
    return 0


def cmd_assist(args: argparse.Namespace) -> int:
    """assist stage [--target DB] | balance | match ROUGH.wav | clear | learn."""
    from surfaced.config import load_config

    values: tuple[Arg, ...] = ()
    if args.action == "stage" and (args.target is not None or args.seconds is not None):
        target = -18.0 if args.target is None else float(args.target)
        values = (target,) if args.seconds is None else (target, float(args.seconds))
    elif args.action == "match":
        values = (str(Path(args.rough).resolve()),)
    name = f"assist/{args.action}"
    try:
        reply = run_command(daemon_address(load_config(args.config)), name, values,
                            timeout=args.timeout)
    except RemoteError as exc:
        print(f"surfaced: error: {name}: {exc}", file=sys.stderr)
        return 2
    if args.action == "stage" and reply and reply[0] == "measuring":
        _, live, seconds = reply
        print(f"measuring {live} live input(s) for {float(seconds):g} s; the staging then "
              "applies as one undo step (the daemon says so; `surfaced log` shows it)")
        return 0
    if args.action == "stage":
        changed, staged, lowered = reply
        print(f"staged {staged} channel(s), {changed} value(s) changed"
              + (f"; lowered {lowered:.1f} dB to keep the buses clear" if lowered else ""))
    elif args.action == "balance":
        changed, lowered = reply
        print(f"balanced by role: {changed} value(s) changed"
              + (f"; lowered {lowered:.1f} dB to keep the buses clear" if lowered else ""))
    elif args.action == "match":
        changed, worst = reply
        print(f"matched the rough: {changed} value(s) changed; worst band residual "
              f"{worst:.1f} dB")
    elif args.action == "clear":
        print(f"assistant's layer cleared: {reply[0]} value(s) changed")
    else:
        print(f"learned from {reply[0]} channel(s)")
    if args.action in ("stage", "balance", "match", "clear"):
        print("one undo step (surfaced undo); the mix before it is in the other A/B slot "
              "(surfaced ab switch)")
    return 0


def add_assist_commands(sub: Any) -> None:
    """Add prep and assist to the `surfaced` parser's subcommands."""
    p = sub.add_parser("prep", help="a ready-to-mix session from a folder of stems")
    p.add_argument("stems", help="folder of WAV stems")
    p.add_argument("-o", "--output", required=True, help="session YAML file to write")
    p.add_argument("--roles", default=None, help="YAML file of 'FILE-OR-GLOB: ROLE' corrections")
    p.add_argument("--role", action="append", default=[], metavar="FILE=ROLE",
                   help="correct one file's role (repeatable)")
    p.add_argument("--target", type=float, default=-18.0,
                   help="input level to stage to, LUFS / dBFS RMS equivalent (default -18)")
    p.add_argument("--taste", default=None, help="taste profile (default: "
                                                 "$XDG_DATA_HOME/surfaced/taste.json)")
    p.add_argument("--no-taste", action="store_true", help="propose without the learned taste")
    p.set_defaults(func=cmd_prep)
    a = sub.add_parser("assist", help="the assistant on the running daemon: stage, balance, "
                                      "match, clear, learn")
    aa = a.add_subparsers(dest="action", required=True)

    def common(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--config", default=None, help="the daemon's config file (its OSC port)")
        q.add_argument("--timeout", type=float, default=60.0,
                       help="seconds to wait for an answer")
        return q

    st = common(aa.add_parser("stage", help="stage every input to the target level"))
    st.add_argument("--target", type=float, default=None,
                    help="LUFS / dBFS RMS equivalent (default -18)")
    st.add_argument("--seconds", type=float, default=None,
                    help="how long live inputs are measured (default 10)")
    common(aa.add_parser("balance", help="a first balance by role, with your taste"))
    common(aa.add_parser("match", help="reproduce the producer's rough mix")).add_argument(
        "rough", help="the rough mix, a stereo WAV at the session's rate")
    common(aa.add_parser("clear", help="take the assistant's layer out"))
    common(aa.add_parser("learn", help="learn your taste from where you ended up"))
    a.set_defaults(func=cmd_assist)
    add_reference_commands(sub)


def cmd_reference(args: argparse.Namespace) -> int:
    """reference switch [on|off] | match on|off | state."""
    from surfaced.config import load_config

    values: tuple[Arg, ...] = ()
    if args.action == "switch" and args.to is not None:
        values = (int(args.to == "reference"),)
    elif args.action == "match":
        values = (int(args.value == "on"),)
    name = f"reference/{args.action}"
    try:
        reply = run_command(daemon_address(load_config(args.config)), name, values,
                            timeout=args.timeout)
    except RemoteError as exc:
        print(f"surfaced: error: {name}: {exc}", file=sys.stderr)
        return 2
    if args.action == "switch":
        print(f"hearing the {reply[0]}")
    elif args.action == "match":
        print(f"reference loudness matching {'on' if reply[0] else 'off'}")
    else:
        heard, match, gain, mix, ref, source = reply
        print(f"hearing the {heard}; reference {source}, gain {float(gain):+.1f} dB "
              f"(matching {'on' if match else 'off'}); mix {float(mix):.1f} LUFS, reference "
              f"{float(ref):.1f} LUFS (-200: no reading yet)")
    return 0


def add_reference_commands(sub: Any) -> None:
    """Add `reference` (switch, match, state) to the `surfaced` parser's subcommands."""
    r = sub.add_parser("reference", help="the reference track: switch, loudness match, state "
                                         "(running daemon)")
    rr = r.add_subparsers(dest="action", required=True)

    def common(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--config", default=None, help="the daemon's config file (its OSC port)")
        q.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
        return q

    common(rr.add_parser("switch", help="hear the reference or the mix")).add_argument(
        "to", nargs="?", choices=("reference", "mix"), default=None,
        help="what to hear (default: the other one)")
    common(rr.add_parser("match", help="loudness-match the reference to the mix")).add_argument(
        "value", choices=("on", "off"))
    common(rr.add_parser("state", help="what is heard, and both loudnesses"))
    r.set_defaults(func=cmd_reference)
