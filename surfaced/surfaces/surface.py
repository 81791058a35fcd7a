"""One control surface at run time: a compiled mapping joined to the mixer and a transport.

The daemon creates one `Surface` per bound device::

    mapping = load_mapping("mappings/mackie-control.yaml")
    surface = Surface(mapping, mixer, transport.send, "mcu-1")
    transport sink -> surface.handle(event)         # any thread
    on port bound  -> surface.connected()           # handshake + full state
    on port lost   -> surface.disconnected()
    when due       -> surface.tick()                # feedback, meters, keep-alives
    on unload      -> surface.close()

There is no fixed ticker: the surface calls `wake` (any thread) when it has
work for a tick (a mix change to show, an input, a bank or selection change),
and `due(now)` says when it next needs one without a wake (feedback held back
by a rate, the next meter or keep-alive, a fake touch or a 14-bit value
running out); an idle surface is never ticked.

Threading: every public method takes the surface's own lock, so `handle`
may run on a transport thread while `tick` runs on the daemon's loop. The
mixer calls the surface back (on whatever thread changed the mix) only to
queue the change; all sending happens in `tick` and `connected`, on the
caller's thread. Nothing here raises for bad input: errors are counted in
`stats` and logged with the surface, control and event.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

from surfaced.events import Event
from surfaced.mapping import MappingError, check_file, load_mapping
from surfaced.mapping.model import ActionTarget, Mapping
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.feedback import FORCE, SEND, Feedback
from surfaced.surfaces.inputs import Inputs
from surfaced.surfaces.navigation import LinkRegistry, registry_for
from surfaced.surfaces.runtime import Runtime, SurfaceStats

__all__ = ["Mapping", "MappingError", "Surface", "SurfaceStats", "check_file", "load_mapping"]


class Surface:
    """A device's mapping at run time; see the module docstring for the life cycle."""

    def __init__(self, mapping: Mapping, mixer: Mixer, send: Callable[[Event], None],
                 surface_id: str, *, clock: Callable[[], float] = time.monotonic,
                 registry: LinkRegistry | None = None,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.mapping = mapping
        self.mixer = mixer
        self.surface_id = surface_id
        self.clock = clock
        # What the link registry reads (see surfaced.surfaces.navigation.Member).
        self.mapping_id = mapping.id
        self.link = mapping.link
        self.follows_focus = mapping.follows_focus
        self.link_offset = mapping.link_offset
        self.strips = mapping.strips
        self._lock = threading.RLock()
        self._rt = Runtime(mapping, mixer, surface_id, clock)
        self._wake = wake
        self._fb = Feedback(self._rt, send, wake)
        self._in = Inputs(self._rt, self._fb)
        self._online = False
        self._closed = False
        self._nav_bank = True  # set from other threads; picked up under our lock
        self._nav_other = True
        self._nav_sel = True
        self._registry = registry if registry is not None else registry_for(mixer)
        self._rt.select = lambda channel: self._registry.select(self, channel)
        self._rt.nav = self._registry.join(self)
        self._unsubscribe = mixer.subscribe(self._fb.on_change)
        with self._lock:
            self._sync_nav()

    @property
    def stats(self) -> SurfaceStats:
        """Counters: handled, unmapped, errors, ignored, feedback_sent, meters_sent, ..."""
        return self._rt.stats

    @property
    def online(self) -> bool:
        """True between connected() and disconnected()."""
        return self._online

    @property
    def bank(self) -> int:
        """The channel offset of strip 0 of the linked group (0 = channels 1..N)."""
        return self._rt.nav.bank

    def nav_changed(self, bank: bool) -> None:
        """Bank, pages or modifiers changed (maybe on a linked surface); any thread."""
        if bank:
            self._nav_bank = True
        self._nav_other = True
        self._wake()

    def selection_changed(self) -> None:
        """The selected channel changed (maybe on another surface); any thread."""
        self._nav_sel = True
        self._wake()

    # ------------------------------------------------------------------ API
    def handle(self, event: Event) -> None:
        """Apply one input Event from this surface's transport. Never raises."""
        with self._lock:
            if self._closed:
                return
            try:
                now = self.clock()
                self._sync_nav()
                self._in.handle(event, now)
                self._sync_nav()
            except Exception as exc:  # a mapping bug must not take the transport down
                self._rt.error("handling input", exc, _describe(event))
        self._wake()  # replies, 14-bit halves, fake touches: the next tick looks

    def connected(self) -> None:
        """The transport is (re)bound: send the handshake, then the full state."""
        with self._lock:
            if self._closed:
                return
            self._online = True
            try:
                now = self.clock()
                self._sync_nav()
                self._fb.shown.clear()
                self._fb.handshake()
                self._fb.mark_all()
                self._fb.flush(now)
                self._fb.periodic(now)
            except Exception as exc:
                self._rt.error("connecting", exc)

    def disconnected(self) -> None:
        """The transport is gone: release this surface's touches and stop sending."""
        with self._lock:
            self._online = False
            self.mixer.release_all(self.surface_id)
            for st in self._rt.states:
                st.touched, st.fake_until = False, 0.0
                # What the old unit's controls were and expected is no guide to
                # a replugged one: its snapshot must go through soft takeover.
                st.expect = st.phys = None
            self._in.held.clear()

    def tick(self, now: float | None = None) -> None:
        """Flush coalesced feedback, meters, keep-alives and fake-touch timeouts. Never raises."""
        with self._lock:
            if self._closed:
                return
            try:
                t = self.clock() if now is None else now
                self._sync_nav()
                self._in.flush(t)
                self._in.release_fake_touches(t)
                self._sync_nav()
                if not self._online:
                    self._fb.drain()
                    return
                self._fb.flush(t)
                self._fb.periodic(t)
            except Exception as exc:
                self._rt.error("tick", exc)

    def due(self, now: float, step: float) -> float:
        """When this surface next needs a tick with no wake before it (inf: never).

        `step` is how soon feedback held back by a rate is looked at again.
        """
        with self._lock:
            if self._closed:
                return math.inf
            if self._nav_bank or self._nav_other or self._nav_sel:
                return now
            try:
                return min(self._in.due(), self._fb.due(now, self._online, step))
            except Exception as exc:  # never let a mapping's state stop the loop
                self._rt.error("due", exc)
                return now + step

    def close(self) -> None:
        """Stop listening to the mixer and leave the link group."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._unsubscribe()
            self.mixer.release_all(self.surface_id)
            self._registry.leave(self)

    def resend(self) -> None:
        """Send the whole state again at the next tick (e.g. after a device reset)."""
        with self._lock:
            self._fb.mark_all()
        self._wake()

    # ------------------------------------------------------------ internals
    def _sync_nav(self) -> None:
        if not (self._nav_bank or self._nav_other or self._nav_sel):
            return
        rt = self._rt
        if self._nav_sel:
            self._nav_sel = False
            rt.sel = self._registry.selected_for(self)
            if not self._nav_bank:  # a bank change rebinds everything below
                self._let_go(rt.sel_controls)
                rt.rebind(rt.sel_controls)
                for idx in rt.sel_controls:
                    self._fb.mark(idx, FORCE)
            for idx, c in enumerate(rt.controls):
                if isinstance(c.target, ActionTarget) and c.target.kind == "select":
                    self._fb.mark(idx, SEND)
        if self._nav_bank:
            self._nav_bank = False
            state = self._registry.state_of(self)
            if state is not None:
                rt.nav = state
            self._let_go(range(len(rt.states)))  # the strips now hold other channels
            rt.nav.bank = min(rt.nav.bank, rt.bank_limit())
            rt.rebind()
            self._fb.mark_all()
        if self._nav_other:
            self._nav_other = False
            for idx in rt.refresh_active():
                self._fb.mark(idx, FORCE)
            for idx, c in enumerate(rt.controls):
                if c.mode == "action" and c.feedback:
                    self._fb.mark(idx, SEND)

    def _let_go(self, indices: Iterable[int]) -> None:
        """Release the mixer touches of controls about to be bound elsewhere."""
        for idx in indices:
            st = self._rt.states[idx]
            if st.path is not None and (st.touched or st.fake_until):
                self.mixer.touch(st.path, self.surface_id, False)


def _describe(event: Event) -> str:
    if event.kind == "osc":
        return f"osc {event.address[:60]}"
    if event.kind == "sysex":
        return f"sysex {event.data[:12].hex(' ')}"
    return f"{event.kind} ch {event.channel} #{event.number} = {event.value}"
