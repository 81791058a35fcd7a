"""Commands on the mix document: save, scenes, undo, A/B and the change log.

One vocabulary for every way in: an OSC address (`/scene/recall s Verse`), a
mapping's button (`action: {command: scene/recall, args: [Verse]}`) and the
CLI (`surfaced scene recall Verse`, which sends the OSC message to the
running daemon) all name the same command. The parts that own a command
register its handler on the mixer (`mixer.commands.register`); a mapping is
checked against `KNOWN` when it loads, before any handler exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

Arg = int | float | str
Handler = Callable[[tuple[object, ...], str], tuple[Arg, ...]]

# name -> (arguments, what it does): the table docs/session.md shows.
KNOWN: dict[str, tuple[str, str]] = {
    "session/save": ("", "save the mix to its session file"),
    "session/save_as": ("PATH", "save the mix to another file, which becomes the session file"),
    "scene/store": ("NAME", "store the whole mix as scene NAME (replacing one of that name)"),
    "scene/recall": ("NAME [SECONDS]", "recall scene NAME, crossfading faders, pans and sends "
                                       "over SECONDS (default: the scene's own, or at once)"),
    "scene/rename": ("OLD NEW", "rename a scene"),
    "scene/delete": ("NAME", "delete a scene"),
    "scene/list": ("", "the scene names, in order"),
    "scene/next": ("", "recall the scene after the last one recalled"),
    "scene/previous": ("", "recall the scene before the last one recalled"),
    "safe/kinds": ("[KIND ...]", "set the parameter kinds no recall touches (none: clear)"),
    "safe/channels": ("[STRIP ...]", "set the strips no recall touches (ch/3, bus/1, master)"),
    "undo": ("", "undo the last step (a gesture, a recall, an assistant action)"),
    "redo": ("", "redo the last undone step"),
    "ab/switch": ("", "switch between the two mixes A and B"),
    "ab/copy": ("", "copy the mix being heard to the other slot"),
    "ab/match": ("0 or 1", "loudness-match A and B (0: off, 1: on)"),
    "ab/state": ("", "which slot is heard, and the loudness offset applied"),
    "log": ("[N]", "the last N entries of the change log (default 20)"),
    "assist/stage": ("[TARGET_DB [SECONDS]]", "the assistant stages every input to TARGET_DB "
                                               "(default -18) with its trims beneath yours, "
                                               "live inputs measured for SECONDS (default 10) "
                                               "first; one undo step"),
    "assist/balance": ("", "the assistant's first balance by role (levels and pans beneath "
                           "your faders, with your learned taste); one undo step"),
    "assist/match": ("ROUGH.wav", "levels and pans beneath your faders that reproduce the "
                                  "producer's rough mix; one undo step"),
    "assist/clear": ("", "take the assistant's layer out (every ch/N/assist/* to 0)"),
    "assist/learn": ("", "learn where you ended up against the last proposal, per role"),
    "reference/switch": ("[0 or 1]", "hear the reference track instead of the mix (1), the "
                                     "mix (0), or the other one (no argument)"),
    "reference/match": ("0 or 1", "loudness-match the reference to the mix (1, the default) "
                                  "or play it at 0 dB (0)"),
    "reference/state": ("", "what is heard, matching, the reference gain, the mix's and the "
                            "reference's loudness, the reference source"),
}


class CommandError(ValueError):
    """A command that does not exist, has bad arguments or cannot be done now."""


@dataclass(frozen=True)
class _Entry:
    handler: Handler
    help: str


class Commands:
    """The registry of commands: `register` by owners, `run` by surfaces, OSC and the CLI."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        # Called after every run (any thread): the daemon's loop wakes, since a
        # command may leave work for it (a measurement to follow, a scene to save).
        self.after_run: Callable[[], None] = lambda: None

    def register(self, name: str, handler: Handler) -> None:
        """Make `name` (one of KNOWN) run `handler(args, source)`."""
        if name not in KNOWN:
            raise ValueError(f"unknown command {name!r}; add it to KNOWN with its help")
        with self._lock:
            self._entries[name] = _Entry(handler, KNOWN[name][1])

    def available(self) -> list[str]:
        """The commands that have a handler now, in KNOWN's order."""
        with self._lock:
            return [name for name in KNOWN if name in self._entries]

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._entries

    def run(self, name: str, args: tuple[object, ...], source: str) -> tuple[Arg, ...]:
        """Run a command for `source`; returns its reply values.

        Raises CommandError when the command is unknown or not available in
        this process (e.g. `session/save` with no session file), and whatever
        error the handler raises for bad arguments (CommandError, ParamError).
        """
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            if name in KNOWN:
                raise CommandError(f"{name}: not available here")
            raise CommandError(f"unknown command {name!r}; known: {', '.join(KNOWN)}")
        try:
            return entry.handler(args, source)
        finally:
            self.after_run()


def text_arg(name: str, args: tuple[object, ...], index: int, what: str) -> str:
    """Argument `index` as non-empty text, or a CommandError naming the command."""
    if len(args) <= index or not isinstance(args[index], str) or not str(args[index]).strip():
        raise CommandError(f"{name}: expected {what} as argument {index + 1}")
    return str(args[index]).strip()


def number_arg(name: str, args: tuple[object, ...], index: int, default: float,
               lo: float, hi: float) -> float:
    """Optional argument `index` as a number in lo..hi, or a CommandError."""
    if len(args) <= index:
        return default
    value = args[index]
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise CommandError(f"{name}: argument {index + 1} must be a number {lo:g}..{hi:g}, "
                           f"got {value!r}")
    return float(value)
