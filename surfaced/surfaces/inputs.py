"""Applying decoded inputs: controls move parameters, press buttons, run actions.

`Inputs.dispatch` picks the control for a keyed input (the most specific
active one: more `when:` conditions first, then file order), then applies it
by mode: absolute (with soft takeover and fake touch), relative (encoders),
button, action, or a touch message. A button's release goes to the control
its press went to, even if a modifier changed in between.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Final

from surfaced.events import Event
from surfaced.mapping.model import ActionTarget, InputSpec
from surfaced.mapping.values import (
    accelerated,
    apply_delta,
    decode_ticks,
    picks_up,
    raw_to_position,
)
from surfaced.surfaces.feedback import FORCE, SEND, Feedback
from surfaced.surfaces.router import InputValueError, Key, Payload, Router, Step, osc_value
from surfaced.surfaces.runtime import Runtime

_ROLE_SPEC: Final = {"input": "input", "inc": "inc", "dec": "dec", "touch": "touch"}


class Inputs:
    """The input side of one surface; see the module docstring."""

    def __init__(self, rt: Runtime, fb: Feedback) -> None:
        self.rt = rt
        self.fb = fb
        specs = [s for c in rt.controls for s in (c.input, c.inc, c.dec, c.touch) if s]
        self.router = Router(specs)
        self.held: dict[Key, int] = {}  # pressed key -> the control its press went to
        self.nav_changed = False  # set when an action changed bank/pages/modifiers

    def handle(self, event: Event, now: float) -> None:
        """Decode and apply one event (errors are counted by the caller)."""
        decoded = self.router.decode(event, now)
        if not decoded:
            if self.router.consumed:
                self.rt.stats.handled += 1  # part of a 14-bit or NRPN message
            else:
                self.rt.stats.unmapped += 1
            return
        matched = False
        for key, payload in decoded:
            matched = self.dispatch(key, payload, now) or matched
        if matched:
            self.rt.stats.handled += 1
        else:
            self.rt.stats.unmapped += 1

    def due(self) -> float:
        """When `flush` or `release_fake_touches` next has work; inf: not until an input."""
        fake = [st.fake_until for st in self.rt.states if st.fake_until]
        return min(self.router.due(), min(fake, default=math.inf))

    def flush(self, now: float) -> None:
        """Apply 14-bit/NRPN values whose LSB never came."""
        for key, payload in self.router.flush(now):
            self.dispatch(key, payload, now)

    def _candidates(self, key: Key) -> list[tuple[int, str]]:
        found = self.rt.table.get(key)
        if found is not None:
            return found
        if key[0] == "osc" and self.rt.wild:
            address = str(key[1])
            return [(i, r) for i, r in self.rt.wild
                    if fnmatch.fnmatchcase(address, self._spec(i, r).address)]
        return []

    def _spec(self, idx: int, role: str) -> InputSpec:
        spec = getattr(self.rt.controls[idx], _ROLE_SPEC[role])
        assert spec is not None
        return spec  # type: ignore[no-any-return]

    def dispatch(self, key: Key, payload: Payload, now: float) -> bool:
        """Apply one keyed input to the control that takes it; False if none does."""
        rt = self.rt
        captures: dict[str, bytes] = {}
        chosen: tuple[int, str] | None = None
        held = self.held.pop(key, None)
        if held is not None and _fits(self._spec(held, "input"), payload) \
                and not self._is_press(self._spec(held, "input"), payload, {}):
            chosen = (held, "input")
        else:
            for idx, role in self._candidates(key):
                spec = self._spec(idx, role)
                if not rt.states[idx].active:
                    continue
                if not _fits(spec, payload):
                    continue
                if spec.sysex is not None:
                    got = spec.sysex.match(payload) if isinstance(payload, bytes) else None
                    if got is None:
                        continue
                    captures = got
                chosen = (idx, role)
                break
        if chosen is None:
            return False
        idx, role = chosen
        c, st = rt.controls[idx], rt.states[idx]
        spec = self._spec(idx, role)
        if c.mode not in ("action",) and st.path is None and role != "touch":
            rt.stats.unbound += 1
            return True
        try:
            if role == "touch":
                self._touch(idx, self._is_press(spec, payload, captures))
            elif role in ("inc", "dec"):
                if isinstance(payload, Step):
                    n = payload.n
                elif self._is_press(spec, payload, captures):
                    n = 1
                else:
                    return True  # the release of an inc/dec button moves nothing
                self._relative(idx, n if role == "inc" else -n, now)
            elif c.mode == "action":
                pressed = self._is_press(spec, payload, captures)
                if pressed and c.input is not None and c.input.value is None:
                    self.held[key] = idx
                self._action(idx, pressed, captures)
            elif c.mode == "button":
                pressed = self._is_press(spec, payload, captures)
                if pressed:
                    self.held[key] = idx
                self._button(idx, pressed, now)
            elif c.mode == "relative":
                self._relative(idx, self._ticks(idx, spec, payload, captures), now)
            elif c.mode == "absolute":
                self._absolute(idx, spec, payload, captures, now)
        except Exception as exc:  # bad input, or the core's queue is full: count, log, go on
            rt.error(f"control {c.name}", exc, f"{_key_text(key)} = {payload!r:.60}")
        return True

    # ----------------------------------------------------------- raw values
    def _raw(self, idx: int, spec: InputSpec, payload: Payload,
             captures: dict[str, bytes]) -> float | str:
        if isinstance(payload, int):
            return payload
        if isinstance(payload, Step):
            last = self.rt.states[idx].last_raw
            base = last if last is not None else spec.raw_lo
            return min(max(base + payload.n, spec.raw_lo), spec.raw_hi)
        if isinstance(payload, tuple):
            return osc_value(spec, payload)
        got = captures.get("value")
        if got is None:
            return spec.raw_hi  # a SysEx pattern with no value: matching is pressing
        return got[0] << 7 | got[1] if len(got) == 2 else got[0]

    def _is_press(self, spec: InputSpec, payload: Payload, captures: dict[str, bytes]) -> bool:
        if spec.press_bit:
            return isinstance(payload, int) and bool(payload & spec.press_bit)
        if spec.value is not None:
            return True
        if spec.kind == "note":
            return isinstance(payload, int) and payload > 0
        try:
            raw = self._raw(-1, spec, payload, captures) if not isinstance(payload, Step) \
                else spec.raw_hi
        except InputValueError:
            return False
        if isinstance(raw, str):
            return bool(raw)
        return raw_to_position(raw, spec.raw_lo, spec.raw_hi) >= 0.5

    def _ticks(self, idx: int, spec: InputSpec, payload: Payload,
               captures: dict[str, bytes]) -> float:
        if isinstance(payload, Step):
            return payload.n
        enc = self.rt.controls[idx].encoder
        assert enc is not None
        raw = self._raw(idx, spec, payload, captures)
        if isinstance(raw, str):
            raise InputValueError(f"an encoder needs a number, got text {raw[:20]!r}")
        if enc.encoding == "delta":
            return raw
        return decode_ticks(enc.encoding, int(raw))

    # ---------------------------------------------------------------- modes
    def _absolute(self, idx: int, spec: InputSpec, payload: Payload,
                  captures: dict[str, bytes], now: float) -> None:
        rt = self.rt
        c, st = rt.controls[idx], rt.states[idx]
        assert st.path is not None and st.spec is not None
        raw = self._raw(idx, spec, payload, captures)
        if isinstance(raw, str):
            if not st.spec.is_text:
                raise InputValueError(f"{st.path} takes a number, got text {raw[:20]!r}")
            rt.set(idx, raw)
            return
        if st.spec.is_text:
            raise InputValueError(f"{st.path} is text; send a string")
        st.last_raw = raw
        position = raw_to_position(raw, spec.raw_lo, spec.raw_hi)
        if c.takeover.mode == "pickup":
            current = rt.mixer.get(st.path)
            if st.expect is None or current != st.expect:
                target = c.scale.to_position(st.spec, float(current))
                if not picks_up(c.takeover.threshold, position, st.phys, target):
                    st.phys = position
                    rt.stats.ignored += 1
                    return
        st.phys = position
        self._fake_touch(idx, now)
        rt.set(idx, c.scale.to_value(st.spec, position))

    def _relative(self, idx: int, ticks: float, now: float) -> None:
        rt = self.rt
        c, st = rt.controls[idx], rt.states[idx]
        enc = c.encoder
        assert enc is not None and st.path is not None and st.spec is not None
        dt = None if st.last_time is None else now - st.last_time
        st.last_time = now
        fine = enc.fine is not None and enc.fine in rt.nav.modifiers
        delta = accelerated(enc, ticks, dt, fine)
        if delta == 0.0:
            return
        current = rt.mixer.get(st.path)
        if isinstance(current, str):
            raise InputValueError(f"{st.path} is text; an encoder cannot turn it")
        position = apply_delta(c.scale.to_position(st.spec, current), delta, enc.wrap)
        self._fake_touch(idx, now)
        rt.set(idx, c.scale.to_value(st.spec, position))

    def _button(self, idx: int, pressed: bool, now: float) -> None:
        rt = self.rt
        c, st = rt.controls[idx], rt.states[idx]
        button = c.button
        assert button is not None and st.spec is not None
        off, on = button.on_off(st.spec)
        current = rt.mixer.get(st.path or "")
        is_on = isinstance(current, float) and abs(current - on) <= abs(current - off)
        if pressed:
            st.pressed_at = now
            if button.kind in ("momentary", "set"):
                rt.set(idx, on)
            else:
                st.hold_prev = current
                rt.set(idx, off if is_on else on)
        else:
            if button.kind == "momentary":
                rt.set(idx, off)
            elif button.kind == "hold" and st.pressed_at is not None \
                    and now - st.pressed_at >= button.hold_time and st.hold_prev is not None:
                rt.set(idx, st.hold_prev)
            st.pressed_at = None

    def _touch(self, idx: int, pressed: bool) -> None:
        rt = self.rt
        c, st = rt.controls[idx], rt.states[idx]
        if st.touched == pressed:
            return
        st.touched = pressed
        if st.path is not None:
            rt.mixer.touch(st.path, rt.surface_id, pressed)
        if not pressed and st.fake_until == 0.0:
            self.fb.mark(idx, FORCE if c.echo else SEND)

    def _fake_touch(self, idx: int, now: float) -> None:
        c, st = self.rt.controls[idx], self.rt.states[idx]
        if c.fake_touch <= 0.0 or c.touch is not None or st.path is None:
            return
        if st.fake_until == 0.0:
            self.rt.mixer.touch(st.path, self.rt.surface_id, True)
        st.fake_until = now + c.fake_touch

    def release_fake_touches(self, now: float) -> None:
        """Let go of fake touches whose time is up; they get the latest value."""
        rt = self.rt
        for idx, st in enumerate(rt.states):
            if st.fake_until and st.fake_until <= now:
                st.fake_until = 0.0
                if st.path is not None and not st.touched:
                    rt.mixer.touch(st.path, rt.surface_id, False)
                self.fb.mark(idx, FORCE if rt.controls[idx].echo else SEND)

    def _action(self, idx: int, pressed: bool, captures: dict[str, bytes]) -> None:
        rt = self.rt
        target = rt.controls[idx].target
        assert isinstance(target, ActionTarget)
        nav = rt.nav
        if target.kind == "modifier":
            if target.latch:
                if pressed:
                    nav.modifiers ^= {target.to}
            elif pressed:
                nav.modifiers.add(target.to)
            else:
                nav.modifiers.discard(target.to)
            nav.notify(bank=False)
            return
        if not pressed:
            return
        if target.kind == "bank":
            limit = rt.bank_limit()
            if target.to == "first":
                new = 0
            elif target.to == "last":
                new = limit
            else:
                step = target.step if target.to == "channels" else target.step * rt.bank_step()
                new = min(max(nav.bank + step, 0), limit)
            if new != nav.bank:
                nav.bank = new
                nav.notify(bank=True)
        elif target.kind == "page":
            pages = rt.mapping.pages[target.group]
            if target.to:
                new_page = target.to
            else:
                new_page = pages[(pages.index(rt.page(target.group)) + target.step) % len(pages)]
            nav.pages[target.group] = new_page
            nav.notify(bank=False)
        elif target.kind == "select":
            channel = {"strip": rt.states[idx].env.get("ch", 0), "step": rt.sel + target.step
                       }.get(target.to, target.step)
            if 1 <= channel <= rt.mixer.channels:
                rt.select(channel)
        elif target.kind == "resync":
            self.fb.mark_all()
        elif target.kind == "send":
            self.fb.queued += self.fb.fixed(target.messages, rt.states[idx].env, captures)
        elif target.kind == "command":
            # Save, scenes, undo, A/B: whoever owns the command runs it. A
            # command that fails (no such scene, nothing to undo) is counted
            # and logged with this surface and control, like any bad input.
            try:
                rt.mixer.commands.run(target.to, target.args, rt.surface_id)
            except (ValueError, OSError) as exc:
                rt.error(f"command {target.to}", exc, rt.controls[idx].name)


def _fits(spec: InputSpec, payload: Payload) -> bool:
    """Does `payload` carry the raw value `spec` listens for (`value:`, less `press_bit:`)?"""
    if spec.value is None:
        return True
    return isinstance(payload, int) and payload & ~spec.press_bit == spec.value


def _key_text(key: Key) -> str:
    """An input key as a person reads it: ``cc 0x10 ch 0``, ``pitchbend ch 3``."""
    kind = key[0]
    if kind == "osc":
        return f"osc {str(key[1])[:60]}"
    if len(key) == 3:
        return f"{kind} 0x{key[2]:02X} ch {key[1]}"
    if len(key) == 2:
        return f"{kind} ch {key[1]}"
    return str(kind)
