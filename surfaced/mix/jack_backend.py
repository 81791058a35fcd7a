"""The daemon's JACK side: one client (JackSession), the engine on it (JackAudio),
the session's connections (JackConnections), and the move to the headless
clock and back as the server comes and goes (JackAudioFollower).

With `audio.backend: jack` the daemon always takes this path: it starts on
the headless clock when no server runs and joins the server when it appears.
With `auto` (the default) it does when a JACK server answers at start, and
uses PortAudio (surfaced.mix.audio_supervisor) otherwise.

Other parts that need the client (the JACK MIDI ports) attach with
`backend.session.on_client(fn)` / `on_graph(fn)`: `fn(client)` after every
(re)open, `fn(None)` before the client is closed, on the session's thread.
"""

from __future__ import annotations

from collections.abc import Callable

from surfaced.mix.audio import HeadlessClock
from surfaced.mix.jack_audio import JackAudio, JackAudioFollower, plan_ports
from surfaced.mix.jack_connections import JackConnections
from surfaced.mix.jack_session import JackSession
from surfaced.mix.mixer import Mixer
from surfaced.session.read import Session

Switch = Callable[[JackAudio | HeadlessClock, str], None]


class JackBackend:
    """The engine of `mixer` on JACK client `name` (on `server`, None: the default)."""

    def __init__(self, session: Session, mixer: Mixer, *, name: str, server: str | None,
                 block: int, say: Callable[[str], None], on_switch: Switch,
                 measure: bool = False, retry_s: float = 1.0) -> None:
        self.session = JackSession(name, server, say=say, retry_s=retry_s)
        names = [str(mixer.get(f"ch/{i}/name")) for i in range(1, mixer.channels + 1)]
        inputs, outputs = plan_ports(session, names, mixer.buses)
        self.audio = JackAudio(mixer.engine, inputs, outputs, measure=measure)
        self.connections = JackConnections(session, say)
        self._closing = False
        self._on_switch = on_switch
        self.follower = JackAudioFollower(mixer.engine, mixer, self.audio, block, say=say,
                                          on_switch=self._switch,
                                          connections=self.connections, call=self.session.call)
        self.session.on_client(self._on_client)
        self.session.on_graph(self.follower.on_graph)

    def _on_client(self, client: object) -> None:
        if client is None and self._closing:
            self.audio.detach()  # stopping: no clock to fall back to
            return
        self.follower.on_client(client)  # type: ignore[arg-type]

    def _switch(self, driver: JackAudio | HeadlessClock, where: str) -> None:
        self._on_switch(driver, where)

    def start(self, *, require: bool) -> bool:
        """Join the server now if it answers; else, with `require`, run on the headless
        clock and join it when it appears. False (nothing started) when the server
        is absent and not required."""
        if not self.session.open_now():
            if not require:
                self.follower.close()
                return False
            self.follower.start_clock(f"headless clock (no JACK server; joining one as "
                                      f"{self.session.name!r} when it starts)")
        self.session.start()
        return True

    def close(self) -> None:
        """Leave JACK (ports unregistered, client closed) and stop the clock."""
        self._closing = True
        self.session.close()
        self.follower.close()
