"""A transport's sink and status hooks that remember what they were given."""

from __future__ import annotations

import threading

from surfaced.events import Event


class Recorder:
    """Sink plus status hooks, safe to call from the transport's threads."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.status: list[bool] = []
        self.reconnects = 0
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def on_status(self, online: bool) -> None:
        self.status.append(online)

    def on_reconnect(self) -> None:
        self.reconnects += 1
