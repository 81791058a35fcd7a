"""`surfaced scene|undo|redo|ab|log`: the mix document's commands, run on the running daemon.

Each subcommand sends one command (surfaced.mix.commands) to the daemon
through surfaced.cli.remote and prints its reply; a refusal (no such scene,
nothing to undo) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from surfaced.cli.remote import RemoteError, daemon_address, run_command
from surfaced.config import load_config
from surfaced.mix.commands import Arg


def _send(args: argparse.Namespace, name: str, values: tuple[Arg, ...] = ()) -> tuple[Arg, ...]:
    config = load_config(args.config)
    try:
        return run_command(daemon_address(config), name, values, timeout=args.timeout)
    except RemoteError as exc:
        print(f"surfaced: error: {name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_scene(args: argparse.Namespace) -> int:
    """scene list | store NAME | recall NAME [--fade S] | rename OLD NEW | delete NAME."""
    action = args.action
    if action == "list":
        for name in _send(args, "scene/list"):
            print(name)
        return 0
    if action == "recall":
        values: tuple[Arg, ...] = (args.name,) if args.fade is None else (args.name, args.fade)
        scene, changed, held = _send(args, "scene/recall", values)
        print(f"recalled {scene}: {changed} values changed, {held} held by scope and safes")
        return 0
    if action == "rename":
        _send(args, "scene/rename", (args.name, args.new))
        print(f"renamed {args.name} to {args.new}")
        return 0
    reply = _send(args, f"scene/{action}", (args.name,))
    print(f"{'stored' if action == 'store' else 'deleted'} {reply[0]}")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    """Undo (or redo) one step on the running daemon."""
    name = "redo" if args.command == "redo" else "undo"
    (count,) = _send(args, name)
    print(f"{'redid' if name == 'redo' else 'undid'} a step of {count} value(s)")
    return 0


def cmd_ab(args: argparse.Namespace) -> int:
    """ab switch | copy | match on|off | state."""
    if args.action == "switch":
        print(f"hearing {_send(args, 'ab/switch')[0]}")
    elif args.action == "copy":
        print(f"copied the mix heard to {_send(args, 'ab/copy')[0]}")
    elif args.action == "match":
        on = args.value == "on"
        print(f"loudness matching {'on' if _send(args, 'ab/match', (int(on),))[0] else 'off'}")
    else:
        heard, match, trim, la, lb = _send(args, "ab/state")
        print(f"hearing {heard}; matching {'on' if match else 'off'} (trim {trim:+.1f} dB); "
              f"A {la:.1f} LUFS, B {lb:.1f} LUFS (-200: not heard yet)")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    """Print the newest change-log entries."""
    for line in _send(args, "log", (args.count,)):
        print(line)
    return 0


def add_document_commands(sub: Any) -> None:
    """Add scene, undo, redo, ab and log to the `surfaced` parser's subcommands."""
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default=None, help="the daemon's config file (its OSC port)")
        p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")

    s = sub.add_parser("scene", help="store, recall, list, rename or delete scenes (running "
                                     "daemon)")
    ss = s.add_subparsers(dest="action", required=True)
    common(ss.add_parser("list", help="the scene names"))
    for action in ("store", "delete"):
        common(p := ss.add_parser(action, help=f"{action} a scene"))
        p.add_argument("name")
    common(p := ss.add_parser("recall", help="recall a scene"))
    p.add_argument("name")
    p.add_argument("--fade", type=float, default=None, help="crossfade seconds (0..60) for "
                                                            "faders, pans and sends")
    common(p := ss.add_parser("rename", help="rename a scene"))
    p.add_argument("name")
    p.add_argument("new")
    s.set_defaults(func=cmd_scene)
    for name in ("undo", "redo"):
        common(p := sub.add_parser(name, help=f"{name} one step of the running mix"))
        p.set_defaults(func=cmd_undo)
    a = sub.add_parser("ab", help="A/B: switch, copy, loudness match, state (running daemon)")
    aa = a.add_subparsers(dest="action", required=True)
    for action in ("switch", "copy", "state"):
        common(aa.add_parser(action))
    common(p := aa.add_parser("match", help="loudness-match A and B"))
    p.add_argument("value", choices=("on", "off"))
    a.set_defaults(func=cmd_ab)
    common(p := sub.add_parser("log", help="the newest change-log entries (who changed what)"))
    p.add_argument("count", nargs="?", type=int, default=20)
    p.set_defaults(func=cmd_log)
