"""Navigation state (bank, pages, modifiers) and how linked surfaces share it.

A controller and its extender (``link: {to: mackie-control, offset: 8}``)
form one wide surface: they share one `NavState`, so banking on the main
unit moves the extender's strips too, and the extender shows the channels
right after the main unit's. Surfaces that are not linked each have their
own state, so several surfaces can sit on different banks and have different
channels selected.

The selection is per state too (a SELECT button lights on its own desk
only), and the registry remembers the channel selected last on any surface:
the focus, which a surface whose mapping says ``selection: focus`` (a
channel-strip controller) follows and moves.

Members are told about a change by a flag (`Member.nav_changed`), never by
calling into them: each surface picks the change up under its own lock at
its next `handle` or `tick`, so two surfaces on two threads cannot deadlock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol


class Member(Protocol):
    """What a NavState needs from a surface."""

    surface_id: str
    mapping_id: str
    link: str | None
    link_offset: int
    strips: int

    def nav_changed(self, bank: bool) -> None:
        """Called (from any thread) when bank (True) or pages/modifiers (False) changed."""

    follows_focus: bool  # `selection: focus`: follows the channel selected on any surface

    def selection_changed(self) -> None:
        """Called (from any thread) when the selected channel changed."""


class NavState:
    """One bank offset, current page per group and held modifiers, for one or more surfaces."""

    def __init__(self) -> None:
        self.bank = 0
        self.selected = 1  # the channel selected on this (possibly linked) desk
        self.pages: dict[str, str] = {}
        self.modifiers: set[str] = set()
        self._members: list[weakref.ref[Member]] = []

    def members(self) -> list[Member]:
        """The live surfaces sharing this state."""
        out = []
        for ref in self._members:
            m = ref()
            if m is not None:
                out.append(m)
        return out

    def add(self, member: Member) -> None:
        """Start sharing this state with `member`."""
        self._members = [r for r in self._members if r() is not None and r() is not member]
        self._members.append(weakref.ref(member))

    def remove(self, member: Member) -> None:
        """Stop sharing with `member`."""
        self._members = [r for r in self._members if r() is not None and r() is not member]

    def width(self) -> int:
        """Strips across all members (main unit plus extenders)."""
        return max((m.link_offset + m.strips for m in self.members()), default=0)

    def notify(self, bank: bool) -> None:
        """Tell every member that the state changed."""
        for m in self.members():
            m.nav_changed(bank)


class LinkRegistry:
    """Which surfaces exist on one mixer, to join extenders to their main unit.

    A surface that joins under the `surface_id` of a live one (a mapping
    reloaded from disk) takes over its state, so the bank survives a reload.

    It also holds the focus: the channel selected last on any surface, which
    surfaces with `selection: focus` follow (a channel-strip controller's
    knobs). Which channel is selected is where the hands are looking, not
    part of the mix, so it lives here with the banks rather than in the Mixer.
    """

    def __init__(self) -> None:
        self._focus = 1
        self._lock = threading.Lock()
        self._states: weakref.WeakKeyDictionary[Member, NavState] = weakref.WeakKeyDictionary()
        self._by_id: dict[str, weakref.ref[Member]] = {}

    def join(self, member: Member) -> NavState:
        """Register `member` and return the state it shares (its main unit's, if linked)."""
        with self._lock:
            previous = self._by_id.get(member.surface_id)
            prev = previous() if previous is not None else None
            state = None
            if prev is not None and prev is not member:
                state = self._states.get(prev)
            if state is None:
                state = self._main_state(member) or NavState()
            self._by_id[member.surface_id] = weakref.ref(member)
            self._states[member] = state
            state.add(member)
            # Extenders that started before their main unit now follow it.
            for other in self._live():
                if other.link == member.mapping_id and member.link is None \
                        and self._states.get(other) is not state:
                    self._move(other, state)
            return state

    def leave(self, member: Member) -> None:
        """Unregister `member`; its extenders continue on their own copy of the state."""
        with self._lock:
            state = self._states.pop(member, None)
            ref = self._by_id.get(member.surface_id)
            if ref is not None and ref() is member:
                del self._by_id[member.surface_id]
            if state is None:
                return
            state.remove(member)
            if any(m.mapping_id == member.mapping_id for m in state.members()):
                return  # its replacement (a reload) carries on with the group
            for other in state.members():
                if other.link == member.mapping_id:
                    own = NavState()
                    own.bank, own.pages = state.bank, dict(state.pages)
                    own.selected = state.selected
                    self._move(other, own)

    @property
    def focus(self) -> int:
        """The channel selected last on any surface (1-based)."""
        return self._focus

    def selected_for(self, member: Member) -> int:
        """The channel `member` shows as selected: its desk's, or the focus."""
        with self._lock:
            state = self._states.get(member)
            if member.follows_focus or state is None:
                return self._focus
            return state.selected

    def select(self, member: Member, channel: int) -> None:
        """`member` selects `channel` (1-based): on its desk, and as the focus.

        Told: the surfaces sharing its desk, and those following the focus;
        each picks the change up at its next tick.
        """
        with self._lock:
            state = self._states.get(member)
            desk: list[Member] = []
            if state is not None and not member.follows_focus and state.selected != channel:
                state.selected = channel
                desk = state.members()
            moved = channel != self._focus
            self._focus = channel
            followers = [m for m in self._live() if m.follows_focus] if moved else []
        for m in {id(m): m for m in desk + followers}.values():
            m.selection_changed()

    def state_of(self, member: Member) -> NavState | None:
        """The state `member` currently shares."""
        with self._lock:
            return self._states.get(member)

    def _live(self) -> list[Member]:
        return list(self._states.keys())

    def _main_state(self, member: Member) -> NavState | None:
        if member.link is None:
            return None
        for other in self._live():
            if other.mapping_id == member.link and other.link is None:
                return self._states.get(other)
        return None

    def _move(self, member: Member, state: NavState) -> None:
        old = self._states.get(member)
        if old is not None:
            old.remove(member)
        state.add(member)
        self._states[member] = state
        member.nav_changed(True)


_REGISTRIES: weakref.WeakKeyDictionary[object, LinkRegistry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry_for(mixer: object) -> LinkRegistry:
    """The registry of surfaces on one mixer (created on first use)."""
    with _REGISTRIES_LOCK:
        reg = _REGISTRIES.get(mixer)
        if reg is None:
            reg = _REGISTRIES[mixer] = LinkRegistry()
        return reg
