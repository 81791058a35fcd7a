"""The per-surface run-time state shared by input handling and feedback.

`Runtime` holds what one `Surface` knows: its compiled controls and their
mutable `ControlState`, the dispatch table from input keys to controls, the
bindings of strip controls to parameter paths at the current bank, the
navigation state (bank, pages, modifiers) and the counters.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from surfaced.mapping.errors import ExprError
from surfaced.mapping.model import ActionTarget, Control, Mapping, MeterTarget, ParamTarget
from surfaced.mix.mixer import Mixer
from surfaced.mix.params import ParamError, ParamSpec
from surfaced.surfaces.navigation import NavState

log = logging.getLogger("surfaced.surfaces.surface")

ROLES: Final = ("input", "inc", "dec", "touch")


@dataclass
class SurfaceStats:
    """Counters a daemon can show: what came in, what went out, what went wrong."""

    handled: int = 0  # events that reached a control
    unmapped: int = 0  # events no active control listens to
    errors: int = 0  # events or feedback that failed (logged, never raised)
    ignored: int = 0  # soft takeover: moves before the control picked the value up
    unbound: int = 0  # inputs on strips past the end of the mix
    feedback_sent: int = 0  # feedback messages sent (values, LEDs, rings, text)
    echoes_suppressed: int = 0  # own changes not sent back (echo: false)
    meters_sent: int = 0
    keepalives_sent: int = 0
    resyncs: int = 0  # full state re-sends (connect, bank, resync action)


@dataclass
class ControlState:
    """What one control is doing right now (mutable; owned by its Surface)."""

    env: dict[str, int] = field(default_factory=dict)
    path: str | None = None  # bound parameter at this bank (None: unbound)
    spec: ParamSpec | None = None
    meter: tuple[str, int] | None = None  # ("ch"|"bus"|"master", index)
    active: bool = True
    phys: float | None = None  # last position the hardware reported
    expect: float | str | None = None  # value we last set or picked up (soft takeover)
    last_time: float | None = None  # last input (encoder acceleration)
    last_raw: float | None = None
    pressed_at: float | None = None
    hold_prev: float | str | None = None
    touched: bool = False  # touch sense says a hand is on it
    fake_until: float = 0.0  # fake touch: held until then
    last_sent: float = -math.inf


class Runtime:
    """Controls, their states and bindings for one surface; see the module docstring."""

    def __init__(self, mapping: Mapping, mixer: Mixer, surface_id: str,
                 clock: Callable[[], float]) -> None:
        self.mapping = mapping
        self.mixer = mixer
        self.surface_id = surface_id
        self.clock = clock
        self.controls = mapping.controls
        self.states = [ControlState(env=dict(c.env)) for c in self.controls]
        self.stats = SurfaceStats()
        self.nav = NavState()
        self.sel = 1  # the selected channel: this desk's, or the focus (`selection: focus`)
        # Selecting a channel is the surfaces' shared navigation (LinkRegistry.select);
        # the owning Surface wires this to its registry.
        self.select: Callable[[int], None] = lambda channel: None
        self.sel_controls = [i for i, c in enumerate(self.controls)
                             if isinstance(c.target, ParamTarget | MeterTarget)
                             and "sel" in c.target.path.names()]
        self.by_path: dict[str, list[int]] = {}
        self.table: dict[tuple[object, ...], list[tuple[int, str]]] = {}
        self.wild: list[tuple[int, str]] = []  # OSC patterns with wildcards
        self._build_table()
        # Which control is setting a value right now, so the mixer's callback
        # (which runs inside that set, on this thread) can tell an echo.
        self.current: tuple[int, int] | None = None  # (thread id, control index)
        self._log_counts: dict[str, int] = {}

    def _build_table(self) -> None:
        order = sorted(range(len(self.controls)),
                       key=lambda i: (-len(self.controls[i].when), self.controls[i].index))
        for idx in order:
            c = self.controls[idx]
            for role, spec in (("input", c.input), ("inc", c.inc), ("dec", c.dec),
                               ("touch", c.touch)):
                if spec is None:
                    continue
                if spec.is_wildcard:
                    self.wild.append((idx, role))
                else:
                    self.table.setdefault(spec.key(), []).append((idx, role))

    # ------------------------------------------------------------ bindings
    def env_for(self, idx: int) -> dict[str, int]:
        """Variables for control `idx` at the current bank (adds bank and ch)."""
        c = self.controls[idx]
        env = dict(c.env)
        env["bank"] = self.nav.bank
        env["sel"] = self.sel
        if c.strip is not None:
            env["ch"] = self.nav.bank + self.mapping.link_offset + c.strip + 1
        return env

    def rebind(self, only: list[int] | None = None) -> None:
        """Resolve every control's parameter (or meter), or those in `only`, for the bank
        and selection now."""
        if only is None:
            self.by_path = {}
        for idx in range(len(self.controls)) if only is None else only:
            c, st = self.controls[idx], self.states[idx]
            if only is not None and st.path is not None:
                self.by_path[st.path].remove(idx)
            st.env = self.env_for(idx)
            st.path, st.spec, st.meter = None, None, None
            # The hardware has not moved (phys stays), but the value it controls
            # did: soft takeover must pick the new one up.
            st.expect, st.touched, st.fake_until = None, False, 0.0
            target = c.target
            try:
                if isinstance(target, ParamTarget):
                    spec = self.mixer.spec(target.resolve(st.env))
                    st.path, st.spec = spec.path, spec
                    self.by_path.setdefault(spec.path, []).append(idx)
                elif isinstance(target, MeterTarget):
                    st.meter = self._meter(target.path.render(st.env))
            except (ParamError, ExprError):
                pass  # past the end of this mix: unbound, shown blank

    def _meter(self, path: str) -> tuple[str, int] | None:
        scope, _, num = path.partition("/")
        n = int(num) - 1
        limit = {"ch": self.mixer.channels, "bus": self.mixer.buses, "master": 2}[scope]
        return (scope, n) if 0 <= n < limit else None

    # ------------------------------------------------------------ navigation
    def page(self, group: str) -> str:
        """The page a group shows (its first page until changed)."""
        pages = self.mapping.pages[group]
        current = self.nav.pages.get(group)
        return current if current in pages else pages[0]

    def holds(self, c: Control) -> bool:
        """Do the control's `when:` conditions hold now?"""
        for cond in c.when:
            if cond.held is not None:
                if (cond.name in self.nav.modifiers) != cond.held:
                    return False
            elif self.page(cond.name) not in cond.pages:
                return False
        return True

    def refresh_active(self) -> list[int]:
        """Recompute which controls are active; returns those that just became active."""
        woke = []
        for idx, c in enumerate(self.controls):
            if not c.when:
                continue
            now_active = self.holds(c)
            if now_active and not self.states[idx].active:
                woke.append(idx)
            self.states[idx].active = now_active
        return woke

    def action_state(self, target: ActionTarget, env: dict[str, int]) -> bool:
        """Whether an action's LED is lit: its page is showing, its modifier held, its
        channel selected."""
        if target.kind == "page" and target.to:
            return self.page(target.group) == target.to
        if target.kind == "modifier":
            return target.to in self.nav.modifiers
        if target.kind == "select" and target.to != "step":
            return self.sel == (env.get("ch") if target.to == "strip" else target.step)
        return False

    def bank_limit(self) -> int:
        """The highest bank offset: the last channels fill the linked group's strips."""
        width = max(self.nav.width(), self.mapping.link_offset + self.mapping.strips, 1)
        return max(0, self.mixer.channels - width)

    def bank_step(self) -> int:
        """Channels per bank step (the group's width unless the mapping says)."""
        return self.mapping.bank_step or max(self.nav.width(), self.mapping.strips, 1)

    # --------------------------------------------------------------- errors
    def error(self, what: str, exc: BaseException | str, detail: str = "") -> None:
        """Count an error and log it: the 1st, 2nd, 4th, 8th... of each kind.

        `what` names the control or step (it and the exception type make the
        kind); `detail` says which event, and varies freely.
        """
        self.stats.errors += 1
        kind = f"{what}:{type(exc).__name__}"
        n = self._log_counts[kind] = self._log_counts.get(kind, 0) + 1
        if n & (n - 1) == 0:
            log.warning("surface %s (%s): %s%s: %s%s", self.surface_id, self.mapping.name, what,
                        f" on {detail}" if detail else "", exc,
                        f" (seen {n} times)" if n > 1 else "")

    def set(self, idx: int, value: float | str) -> None:
        """Set control `idx`'s parameter from this surface (ParamError propagates)."""
        st = self.states[idx]
        assert st.path is not None
        self.current = (threading.get_ident(), idx)
        try:
            self.mixer.set(st.path, value, self.surface_id)
        finally:
            self.current = None
        st.expect = self.mixer.get(st.path)
