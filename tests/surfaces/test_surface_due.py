"""A surface ticked only when it wakes the loop or says it is due (issue 9).

The daemon has no fixed ticker any more: it ticks a surface when the surface
calls `wake` or when `due()` comes. Driven that way here, with a fake clock,
every timed behaviour still happens on time: keep-alives, a fake touch's
release, rate-limited feedback catching up with the latest value; and an
idle surface needs no tick between its keep-alives.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.surface import Surface, load_mapping
from surfaces.helpers import cc, hexes
from surfaces.test_surface_behaviour import BOX

STEP = 0.005  # the daemon's shortest gap between ticks


class Loop:
    """The daemon's loop in miniature: tick on a wake or when due, never sooner than STEP."""

    def __init__(self, tmp: Path) -> None:
        path = tmp / "box.yaml"
        path.write_text(textwrap.dedent(BOX))
        self.mixer = Mixer(Engine(16, 4))
        self.clock = [1000.0]
        self.sent: list[Event] = []
        self.woken = False
        self.ticks = 0
        self.surface = Surface(load_mapping(path), self.mixer, self.sent.append, "s1",
                               clock=lambda: self.clock[0], wake=self._wake)

    def _wake(self) -> None:
        self.woken = True

    def run(self, seconds: float) -> list[Event]:
        """Advance the clock `seconds`, ticking only when woken or due; what was sent."""
        end = self.clock[0] + seconds
        start = len(self.sent)
        last = -math.inf
        while True:
            now = self.clock[0]
            due = now if self.woken else self.surface.due(now, STEP)
            t = max(due, last + STEP)
            if t > end:
                break
            self.clock[0] = max(now, t)
            self.woken = False
            self.surface.tick()
            self.ticks += 1
            last = self.clock[0]
        self.clock[0] = end
        return self.sent[start:]


def test_idle_surface_ticks_only_for_its_keepalives(tmp_path: Path) -> None:
    loop = Loop(tmp_path)
    loop.surface.connected()
    loop.sent.clear()
    sent = loop.run(3.0)
    assert hexes(sent).count("90 7f 00") == 3  # every second
    assert loop.ticks <= 4  # and nothing else to do in between


def test_a_change_wakes_the_loop_and_rate_limited_feedback_catches_up(tmp_path: Path) -> None:
    loop = Loop(tmp_path)
    loop.surface.connected()
    loop.run(0.1)
    for n in range(50):  # half a second of moves from another surface, 10 ms apart
        loop.mixer.set("ch/2/fader", -40.0 + n * 0.5, "cli")
        assert loop.woken
        loop.run(0.01)
    sent = loop.run(1.0)  # the LCD (rate: 5) is held back, then shows the latest value
    lcd = [e for e in loop.sent if e.kind == "sysex" and e.data[:3] == bytes.fromhex("f00001")]
    assert lcd and b"-15.5" in lcd[-1].data
    assert any(e is lcd[-1] for e in sent)  # it came with no change and no wake: `due`


def test_fake_touch_lets_go_on_time_without_a_wake(tmp_path: Path) -> None:
    loop = Loop(tmp_path)
    loop.surface.connected()
    loop.surface.handle(cc(10, 100))  # the motor fader moves: fake touch for 0.3 s
    loop.mixer.set("ch/1/fader", -30.0, "cli")
    held = loop.run(0.2)
    assert not [e for e in held if e.kind == "cc"]  # held: not driven
    assert loop.mixer.touched_by("ch/1/fader") == {"s1"}
    sent = hexes(loop.run(0.3))
    assert loop.mixer.touched_by("ch/1/fader") == frozenset()
    assert "b0 0a 20" in sent  # the latest value, -30 dB = 25 % travel
