"""Transports: bytes from surfaces become `Event`s, and `Event`s become bytes again.

Every transport hands each decoded Event to a *sink*, a plain callable
``sink(event) -> None``. Where it is called from:

- `osc.OscListener`: on the asyncio event loop that started the listener;
- `jack_midi.JackMidiTransport`: on the one reader thread of its
  `JackMidiHub` (every JACK MIDI surface of a daemon shares it);
- `midi.MidiTransport`: on rtmidi's callback thread (ALSA, CoreMIDI, WinMM).

A sink must be quick and should not raise; if it does, the exception is
counted in the transport's stats and logged (throttled), and the transport
goes on. To move Events onto an asyncio loop from any thread, use
`QueueSink`.

Submodules import their backends themselves (python-rtmidi only in
`midi`; the native core's JACK MIDI hook in `jack_midi`), so importing this
package costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

from surfaced.events import Event

EventSink: TypeAlias = Callable[[Event], None]


class QueueSink:
    """A sink that puts Events on an asyncio.Queue, safely from any thread.

    When the queue is bounded and full the Event is dropped and counted in
    `dropped` (a slow consumer must not stall a MIDI callback).
    """

    def __init__(self, queue: asyncio.Queue[Event], loop: asyncio.AbstractEventLoop) -> None:
        self.queue = queue
        self.loop = loop
        self.dropped = 0

    def _put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def __call__(self, event: Event) -> None:
        """Hand `event` to the loop; returns at once."""
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop is closed: the daemon is shutting down
            self.dropped += 1


def is_throttled(count: int) -> bool:
    """False for the 1st, 2nd, 4th, 8th ... occurrence: log those, skip the rest."""
    return count & (count - 1) != 0
