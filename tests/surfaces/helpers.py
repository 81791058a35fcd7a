"""Test helpers: a Rig (real Mixer over a real Engine, a Surface, a fake clock, captured output)."""

from __future__ import annotations

from pathlib import Path

from surfaced.events import Event
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.navigation import LinkRegistry
from surfaced.surfaces.surface import Mapping, Surface, load_mapping

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"


class Rig:
    """One surface under test: feed Events in, tick the clock, read the bytes it sent."""

    def __init__(self, mixer: Mixer, path: Path | Mapping, surface_id: str = "s1",
                 registry: LinkRegistry | None = None, clock: list[float] | None = None) -> None:
        self.mixer = mixer
        self.clock = clock if clock is not None else [1000.0]
        self.sent: list[Event] = []
        self.mapping = path if isinstance(path, Mapping) else load_mapping(path)
        self.surface = Surface(self.mapping, mixer, self.sent.append, surface_id,
                               clock=lambda: self.clock[0], registry=registry)

    def feed(self, *events: Event) -> None:
        for event in events:
            self.surface.handle(event)

    def tick(self, dt: float = 0.1) -> list[Event]:
        """Advance the clock by dt, tick, and return what was sent during the tick."""
        self.clock[0] += dt
        start = len(self.sent)
        self.surface.tick()
        return self.sent[start:]

    def take(self) -> list[Event]:
        out, self.sent[:] = list(self.sent), []
        return out

    def connect(self) -> list[Event]:
        self.surface.connected()
        return self.take()


def hexes(events: list[Event], kinds: tuple[str, ...] | None = None) -> list[str]:
    """Events as the hex bytes a MIDI monitor shows."""
    return [e.to_bytes().hex(" ") for e in events if kinds is None or e.kind in kinds]


def note(n: int, v: int = 127, ch: int = 0) -> Event:
    return Event("note_on", channel=ch, number=n, value=v)


def cc(n: int, v: int, ch: int = 0) -> Event:
    return Event("cc", channel=ch, number=n, value=v)


def bend(ch: int, v: int) -> Event:
    return Event("pitchbend", channel=ch, value=v)
