"""Feedback: which controls need sending, and sending them at a sustainable rate.

Mixer changes arrive on whatever thread made them and are only queued
(`on_change`); `flush`, called from the surface's tick, turns the queue into
per-control dirty marks and sends each dirty control once with its latest
value. So a burst of 1000 changes to one fader between two ticks costs one
message, and the order of messages on the wire follows the order in which
controls became dirty.

Rules applied at flush time:
- a change this surface made through control X is not sent back to the
  address it came in on unless X has ``echo: true`` (the device already
  shows it); what X now shows is recorded, so a later change back to the old
  value is not skipped as a duplicate. X's other feedback (a ring on another
  CC, a label) is sent as usual;
- a control held by a hand (touch sense, or fake touch after a move) is not
  driven; it is sent the latest value when released;
- a message identical to the last one sent to the same address is skipped,
  except on a full re-send (connect, bank change, resync);
- per-control ``rate:`` and the mapping's ``output: {rate:}`` limit how often
  messages go; what is held back stays dirty for a later tick. The surface
  limit is a token bucket that a control costing more than its burst may
  overdraw when it is full, so the limit slows feedback but never starves it.

Nothing here runs on a timer of its own: `on_change` calls `wake` (the
daemon's loop wakes up and ticks), and `due` says when the next tick has
work (feedback held back by a rate, the next meter or keep-alive), so an
idle surface costs no wake-ups.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Final

from surfaced.events import Event
from surfaced.mapping import render as fb
from surfaced.mapping.errors import ExprError
from surfaced.mapping.model import ActionTarget, Control, MeterTarget, OutSpec, ParamTarget
from surfaced.mix.mixer import Change
from surfaced.surfaces.runtime import ControlState, Runtime

RECORD: Final = 0  # own change, no echo: remember what the device shows, send nothing
SEND: Final = 1  # send if different from what the device shows
FORCE: Final = 2  # send even if the same (full re-send, touch release)


class Feedback:
    """The feedback side of one surface; see the module docstring."""

    def __init__(self, rt: Runtime, send: Callable[[Event], None],
                 wake: Callable[[], None] = lambda: None) -> None:
        self.rt = rt
        self.send_event = send
        self.wake = wake  # any thread: there is work for the next tick
        self.inbox: deque[tuple[str, str, int | None]] = deque()
        self.dirty: dict[int, int] = {}
        self.shown: dict[tuple[object, ...], tuple[Event, ...]] = {}
        self.queued: list[Event] = []  # replies from `send:` actions
        self._meter_due: dict[float, float] = {}
        self._meters_idx = [i for i, c in enumerate(rt.controls)
                            if isinstance(c.target, MeterTarget)]
        self._keepalive_due: list[float] = [0.0] * len(rt.mapping.keepalive)
        self._tokens = 0.0
        self._token_time: float | None = None

    # --------------------------------------------------------------- marking
    def on_change(self, change: Change) -> None:
        """Mixer subscriber: queue only (runs on the changing thread, under its lock)."""
        cur = self.rt.current
        own = None
        if change.source == self.rt.surface_id and cur is not None \
                and cur[0] == threading.get_ident():
            own = cur[1]
        self.inbox.append((change.path, change.source, own))
        self.wake()  # after the append: the tick it causes must find the change

    def mark(self, idx: int, level: int = SEND) -> None:
        """Make control `idx` send at the next flush (at least at `level`)."""
        if self.rt.controls[idx].feedback:
            old = self.dirty.get(idx)
            if old == RECORD and level == SEND:
                # The device shows its own move, which `shown` does not know yet.
                level = FORCE
            self.dirty[idx] = max(old if old is not None else RECORD, level)

    def mark_all(self) -> None:
        """Re-send every active control in full (connect, bank change, resync)."""
        self.rt.stats.resyncs += 1
        for idx, c in enumerate(self.rt.controls):
            if c.feedback and c.mode != "meter":
                self.dirty[idx] = FORCE
        self._meter_due.clear()

    def drain(self) -> None:
        """Turn queued mixer changes into dirty marks."""
        rt = self.rt
        while self.inbox:
            path, source, own = self.inbox.popleft()
            for idx in rt.by_path.get(path, ()):
                if source == rt.surface_id and idx == own and not rt.controls[idx].echo:
                    rt.stats.echoes_suppressed += 1
                    self.dirty.setdefault(idx, RECORD)
                else:
                    self.mark(idx, SEND)

    def due(self, now: float, online: bool, step: float) -> float:
        """When the next flush or periodic message has work (inf: not until a change).

        `step` is the loop's tick: feedback held back (a per-control rate, the
        surface's token bucket) is looked at again one step later, as the
        fixed ticker did. A control a hand holds waits for the release, which
        comes as an input.
        """
        if self.inbox or self.queued:
            return now
        if not online:
            return math.inf  # nothing is sent; connecting marks everything again
        due = math.inf
        rt = self.rt
        for idx in self.dirty:
            st = rt.states[idx]
            if not st.active:
                return now
            if st.touched:
                continue
            due = min(due, st.fake_until if st.fake_until > now else now + step)
        due = min(due, min(self._keepalive_due, default=math.inf))
        if any(rt.states[i].active for i in self._meters_idx):
            rates = {rt.controls[i].rate for i in self._meters_idx if rt.states[i].active}
            due = min(due, min(self._meter_due.get(r, now) for r in rates))
        return due

    # --------------------------------------------------------------- sending
    def flush(self, now: float) -> None:
        """Send what is dirty, within the rate limits."""
        self.drain()
        rt = self.rt
        budget = self._budget(now)
        burst = self._burst()
        if self.queued:
            replies, self.queued = self.queued, []
            for reply in replies:
                self._send(reply)
        for idx, level in list(self.dirty.items()):
            c, st = rt.controls[idx], rt.states[idx]
            if not st.active:
                del self.dirty[idx]
                continue
            if st.touched or st.fake_until > now:
                # A hand is on it: nothing drives it, not even the echo of its
                # own move to another address (a motor target); the latest
                # value goes on release.
                continue
            if level <= SEND and c.rate and now - st.last_sent < 1.0 / c.rate:
                continue
            rendered = self.render(idx)
            own = c.input.key() if c.input is not None else None
            shows: dict[tuple[object, ...], tuple[Event, ...]] = {}
            news: list[tuple[Event, ...]] = []
            for out, events in rendered:
                key = out.key()
                # echo: false only holds back the message the change came in on;
                # a ring on another CC or a label elsewhere is still news.
                record = level == RECORD and key == own
                shown = shows[key] if key in shows else self.shown.get(key)
                if not record and not (level <= SEND and shown == events):
                    news.append(events)
                shows[key] = events
            cost = sum(len(events) for events in news)  # what goes out, not what is skipped
            if budget is not None and cost:
                # In dirty order, so nothing is overtaken for ever. A control
                # that costs more than the burst goes when the bucket is full
                # and leaves it in debt: the limit slows feedback, never stops it.
                if budget < cost and budget < burst:
                    break
                budget -= cost
            del self.dirty[idx]
            st.last_sent = now
            self.shown.update(shows)
            for events in news:
                for event in events:
                    self._send(event)
                    rt.stats.feedback_sent += 1
        if budget is not None:
            self._tokens = budget

    def _budget(self, now: float) -> float | None:
        """The tokens (messages) the surface may send now; None when unlimited.

        A token bucket: `output: {rate:}` tokens a second, holding at most the
        burst. It can go below zero (see flush) and then refills from there.
        """
        rate = self.rt.mapping.max_rate
        if not rate:
            return None
        burst = self._burst()
        if self._token_time is None:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (now - self._token_time) * rate)
        self._token_time = now
        return self._tokens

    def _burst(self) -> float:
        """The most tokens the bucket holds: a tenth of a second's worth, at least 1."""
        return max(1.0, self.rt.mapping.max_rate * 0.1)

    def _send(self, event: Event) -> None:
        try:
            self.send_event(event)
        except Exception as exc:  # the transport's problem; the surface goes on
            self.rt.error("send failed", exc)

    def render(self, idx: int) -> list[tuple[OutSpec, tuple[Event, ...]]]:
        """The messages control `idx` shows now, one tuple of events per feedback spec."""
        rt = self.rt
        c, st = rt.controls[idx], rt.states[idx]
        position, value = self._state(c, st)
        out: list[tuple[OutSpec, tuple[Event, ...]]] = []
        for spec in c.feedback:
            try:
                text = ""
                if value is not None:
                    text = fb.format_text(spec.text, st.spec, value, st.env)
                    if not text.strip() and spec.on_empty:
                        text = fb.format_text(spec.on_empty, st.spec, "", st.env)
                unbound = isinstance(c.target, ParamTarget) and st.path is None
                raw = fb.out_value(spec, None if unbound else position, st.env)
                if position is None and not unbound and value is not None:
                    raw = spec.blank  # text parameters have no position
                events = fb.build(spec, raw, position=position, value=value, text=text,
                                  env=st.env)
                out.append((spec, tuple(events)))
            except (ExprError, ValueError, TypeError) as exc:
                rt.error(f"feedback of {c.name}", exc)
        return out

    def _state(self, c: Control, st: ControlState) -> tuple[float | None, float | str | None]:
        if isinstance(c.target, ActionTarget):
            return (1.0 if self.rt.action_state(c.target, st.env) else 0.0), None
        if st.path is None or st.spec is None:
            return None, None
        value = self.rt.mixer.get(st.path)
        if isinstance(value, str):
            return None, value
        if c.button is not None and c.button.values is not None:
            on = c.button.on_off(st.spec)[1]
            return (1.0 if value == on else 0.0), value
        return c.scale.to_position(st.spec, value), value

    # ---------------------------------------------------- periodic messages
    def fixed(self, messages: tuple[OutSpec, ...], env: dict[str, int],
              captures: dict[str, bytes] | None = None) -> list[Event]:
        """Events of handshake / keep-alive / reply messages (fixed values)."""
        events: list[Event] = []
        for spec in messages:
            raw = spec.value.eval({**env, "value": 0}) if spec.value is not None else 0
            events += fb.build(spec, raw, position=None, value=None, text="", env=env,
                               captures=captures)
        return events

    def handshake(self) -> None:
        """Send the mapping's handshake messages now."""
        m = self.rt.mapping
        for event in self.fixed(m.handshake, {"strips": m.strips, "offset": m.link_offset}):
            self._send(event)

    def periodic(self, now: float) -> None:
        """Keep-alives and meters that are due."""
        rt = self.rt
        for n, item in enumerate(rt.mapping.keepalive):
            if now >= self._keepalive_due[n]:
                self._keepalive_due[n] = now + item.every
                env = {"strips": rt.mapping.strips, "offset": rt.mapping.link_offset}
                for event in self.fixed(item.messages, env):
                    self._send(event)
                    rt.stats.keepalives_sent += 1
        self._meters(now)

    def _meters(self, now: float) -> None:
        rt = self.rt
        snapshot = None
        for idx in self._meters_idx:
            c = rt.controls[idx]
            target = c.target
            if not isinstance(target, MeterTarget) or not rt.states[idx].active:
                continue
            due = self._meter_due.get(c.rate, 0.0)
            if now < due:
                continue
            if snapshot is None:
                snapshot = rt.mixer.engine.meters()
            st = rt.states[idx]
            position = None
            if st.meter is not None:
                amp = _reading(snapshot, st.meter, target.source)
                position = fb.meter_position(amp, target.floor, target.ceiling)
            for spec in c.feedback:
                try:
                    raw = fb.out_value(spec, position, st.env)
                    for event in fb.build(spec, raw, position=position, value=None, text="",
                                          env=st.env):
                        self._send(event)
                        rt.stats.meters_sent += 1
                except (ExprError, ValueError) as exc:
                    rt.error(f"meter {c.name}", exc)
        if snapshot is not None:
            for rate in {rt.controls[i].rate for i in self._meters_idx}:
                if now >= self._meter_due.get(rate, 0.0):
                    # Keep to the rate's grid so one late tick does not shift every later one.
                    due = self._meter_due.get(rate, now) + 1.0 / rate
                    self._meter_due[rate] = due if due > now else now + 1.0 / rate


def _reading(snapshot: object, where: tuple[str, int], source: str) -> float:
    scope, n = where
    if scope == "ch":
        arr = snapshot.ch_peak if source == "peak" else snapshot.ch_rms  # type: ignore[attr-defined]
        return float(arr[n])
    master = snapshot.master  # type: ignore[attr-defined]
    if scope == "bus":
        return float((master.bus_peak if source == "peak" else master.bus_rms)[n])
    value = float((master.peak if source == "peak" else master.rms)[n])
    return value if math.isfinite(value) else 0.0
