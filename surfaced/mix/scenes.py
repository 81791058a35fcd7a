"""Scenes: named snapshots of the whole mix, recalled with a scope and safes.

A scene holds every parameter of the mix except solo (soloing is listening,
not mixing: no console recalls it). A recall applies it as one transaction,
so every value lands in the same audio block, optionally crossfading faders,
pans and sends over `fade` seconds. What a recall may touch is narrowed the
way consoles do it (X32 scene safes, DiGiCo recall scope):

- the scene's own scope (the kinds it recalls; all by default),
- the recall's scope (given with the command),
- safes: kinds and strips that no recall touches until they are cleared.

Kinds: input (trim, phase), eq (EQ and high-pass), dynamics, faders, pans,
mutes, sends, names. Strips: ``ch/N``, ``bus/N``, ``master``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from surfaced.mix.commands import CommandError, number_arg, text_arg
from surfaced.mix.mixer import Mixer, Value

KINDS = ("input", "eq", "dynamics", "faders", "pans", "mutes", "sends", "names", "assist")
MAX_FADE_S = 60.0


@functools.lru_cache(maxsize=65536)
def kind_of(path: str) -> str:
    """The kind of a (canonical) parameter path; "solo" for solo, which scenes leave alone."""
    leaf = path.split("/", 2)[2] if path.startswith(("ch/", "bus/")) else path.split("/", 1)[1]
    head = leaf.split("/", 1)[0]
    return {
        "trim": "input", "phase": "input", "eq": "eq", "hpf": "eq", "comp": "dynamics",
        "fader": "faders", "pan": "pans", "mute": "mutes", "send": "sends", "name": "names",
    }.get(head, head)


@functools.lru_cache(maxsize=65536)
def strip_of(path: str) -> str:
    """The strip a path belongs to: ``ch/3``, ``bus/2`` or ``master``."""
    parts = path.split("/")
    return "master" if parts[0] == "master" else f"{parts[0]}/{parts[1]}"


def mix_without_solo(mixer: Mixer) -> dict[str, Value]:
    """The whole mix but solo: what a scene or an A/B slot holds (soloing is listening)."""
    return {p: v for p, v in mixer.snapshot().items() if kind_of(p) != "solo"}


def check_kinds(kinds: Iterable[object], where: str) -> frozenset[str]:
    """Validate kind names; ValueError naming the bad one and the known ones."""
    out = set()
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"{where}: unknown kind {k!r}; known: {', '.join(KINDS)}")
        out.add(str(k))
    return frozenset(out)


def check_strips(strips: Iterable[object], channels: int, buses: int,
                 where: str) -> frozenset[str]:
    """Validate strip names against a mix of this size; ValueError naming the bad one."""
    out = set()
    for s in strips:
        text = str(s).strip("/")
        parts = text.split("/")
        ok = text == "master" or (
            len(parts) == 2 and parts[1].isdigit()
            and ((parts[0] == "ch" and 1 <= int(parts[1]) <= channels)
                 or (parts[0] == "bus" and 1 <= int(parts[1]) <= buses)))
        if not ok:
            raise ValueError(f"{where}: {s!r} is not a strip of this mix (ch/1..ch/{channels}, "
                             f"bus/1..bus/{buses} or master)")
        out.add(f"{parts[0]}/{int(parts[1])}" if text != "master" else text)
    return frozenset(out)


@dataclass
class Scene:
    """A named snapshot: values by full path, its crossfade time and recall scope."""

    name: str
    values: dict[str, Value]
    fade: float = 0.0  # seconds
    scope: frozenset[str] | None = None  # kinds it recalls; None: all


@dataclass
class Safes:
    """What no recall touches: parameter kinds and whole strips."""

    kinds: frozenset[str] = field(default_factory=frozenset)
    strips: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Recall:
    """What a recall did: how many values it changed and how many it held back."""

    scene: str
    changed: int
    held: int
    txn: int


class SceneBook:
    """The session's scenes and safes, and the commands that use them."""

    def __init__(self, mixer: Mixer, scenes: Iterable[Scene] = (), safes: Safes | None = None):
        self.mixer = mixer
        self._lock = threading.Lock()
        self._scenes: list[Scene] = list(scenes)
        self.safes = safes or Safes()
        self.current: str | None = None  # the scene recalled or stored last
        self.revision = 0  # grows with every change to scenes or safes (autosave's dirty flag)

    # -------------------------------------------------------------- queries
    def names(self) -> list[str]:
        """Scene names in order."""
        with self._lock:
            return [s.name for s in self._scenes]

    def scenes(self) -> list[Scene]:
        """The scenes in order (the objects themselves: do not change them)."""
        with self._lock:
            return list(self._scenes)

    def get(self, name: str) -> Scene:
        """The scene called `name`, or CommandError naming the known ones."""
        with self._lock:
            for s in self._scenes:
                if s.name == name:
                    return s
        known = ", ".join(self.names()) or "none stored yet"
        raise CommandError(f"no scene called {name!r} (scenes: {known})")

    # -------------------------------------------------------------- editing
    def store(self, name: str, *, fade: float | None = None,
              scope: frozenset[str] | None = None) -> Scene:
        """Store the mix as it is now as `name` (replacing a scene of that name in place)."""
        if not name.strip():
            raise CommandError("scene/store: a scene needs a name")
        values = mix_without_solo(self.mixer)
        with self._lock:
            for i, s in enumerate(self._scenes):
                if s.name == name:
                    scene = Scene(name, values, s.fade if fade is None else fade,
                                  s.scope if scope is None else scope)
                    self._scenes[i] = scene
                    break
            else:
                scene = Scene(name, values, fade or 0.0, scope)
                self._scenes.append(scene)
            self.current = name
            self.revision += 1
        return scene

    def rename(self, old: str, new: str) -> None:
        """Rename a scene; the new name must be free."""
        scene = self.get(old)
        with self._lock:
            if any(s.name == new for s in self._scenes) and new != old:
                raise CommandError(f"scene/rename: a scene called {new!r} exists already")
            scene.name = new
            if self.current == old:
                self.current = new
            self.revision += 1

    def delete(self, name: str) -> None:
        """Delete a scene."""
        scene = self.get(name)
        with self._lock:
            self._scenes.remove(scene)
            if self.current == name:
                self.current = None
            self.revision += 1

    def set_safes(self, *, kinds: frozenset[str] | None = None,
                  strips: frozenset[str] | None = None) -> None:
        """Replace the safe kinds and/or strips."""
        with self._lock:
            self.safes = Safes(self.safes.kinds if kinds is None else kinds,
                               self.safes.strips if strips is None else strips)
            self.revision += 1

    # -------------------------------------------------------------- recall
    def recall(self, name: str, source: str, *, fade: float | None = None,
               scope: frozenset[str] | None = None) -> Recall:
        """Recall a scene as one transaction (one audio block), within scope and safes.

        `fade` (seconds) overrides the scene's own crossfade for faders, pans
        and sends; other kinds change at once. A recall is one undo step.
        """
        scene = self.get(name)
        kinds = set(KINDS) if scene.scope is None else set(scene.scope)
        if scope is not None:
            kinds &= scope
        kinds -= self.safes.kinds
        safe_strips = self.safes.strips
        todo = {p: v for p, v in scene.values.items()
                if kind_of(p) in kinds and strip_of(p) not in safe_strips}
        seconds = scene.fade if fade is None else fade
        changes = self.mixer.apply(todo, source, ramp_ms=seconds * 1000.0)
        with self._lock:
            self.current = name
        return Recall(name, len(changes), len(scene.values) - len(todo),
                      changes[0].txn if changes else 0)

    def step(self, source: str, direction: int) -> Recall:
        """Recall the scene after (+1) or before (-1) the current one, wrapping."""
        names = self.names()
        if not names:
            raise CommandError("no scenes stored yet")
        at = names.index(self.current) if self.current in names else (-1 if direction > 0 else 0)
        return self.recall(names[(at + direction) % len(names)], source)

    # ------------------------------------------------------------ commands
    def register(self) -> None:
        """Register scene/* and safe/* on the mixer's commands."""
        c = self.mixer.commands
        c.register("scene/store", self._cmd_store)
        c.register("scene/recall", self._cmd_recall)
        c.register("scene/rename", self._cmd_rename)
        c.register("scene/delete", self._cmd_delete)
        c.register("scene/list", lambda args, source: tuple(self.names()))
        c.register("scene/next", lambda args, source: (self.step(source, 1).scene,))
        c.register("scene/previous", lambda args, source: (self.step(source, -1).scene,))
        c.register("safe/kinds", self._cmd_safe_kinds)
        c.register("safe/channels", self._cmd_safe_strips)

    def _cmd_store(self, args: tuple[object, ...], source: str) -> tuple[str]:
        return (self.store(text_arg("scene/store", args, 0, "a scene name")).name,)

    def _cmd_recall(self, args: tuple[object, ...], source: str) -> tuple[str, int, int]:
        name = text_arg("scene/recall", args, 0, "a scene name")
        fade = number_arg("scene/recall", args, 1, -1.0, 0.0, MAX_FADE_S) if len(args) > 1 \
            else None
        done = self.recall(name, f"scene:{name}", fade=fade)
        return done.scene, done.changed, done.held

    def _cmd_rename(self, args: tuple[object, ...], source: str) -> tuple[str]:
        old = text_arg("scene/rename", args, 0, "the scene's name")
        new = text_arg("scene/rename", args, 1, "its new name")
        self.rename(old, new)
        return (new,)

    def _cmd_delete(self, args: tuple[object, ...], source: str) -> tuple[str]:
        name = text_arg("scene/delete", args, 0, "a scene name")
        self.delete(name)
        return (name,)

    def _cmd_safe_kinds(self, args: tuple[object, ...], source: str) -> tuple[str, ...]:
        try:
            kinds = check_kinds(args, "safe/kinds")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.set_safes(kinds=kinds)
        return tuple(sorted(kinds))

    def _cmd_safe_strips(self, args: tuple[object, ...], source: str) -> tuple[str, ...]:
        try:
            strips = check_strips(args, self.mixer.channels, self.mixer.buses, "safe/channels")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.set_safes(strips=strips)
        return tuple(sorted(strips))
