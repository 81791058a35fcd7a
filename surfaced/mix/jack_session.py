"""The daemon's one JACK client, kept open across server restarts.

`JackSession` owns the `JackClient` (surfaced/jackclient.py) that the audio
driver (surfaced.mix.jack_audio) and the JACK MIDI ports share. A thread of
its own opens the client, and while there is no server tries again every
`retry_s` seconds (each try is one connection attempt to JACK's socket: cheap,
and silent, since the client never starts a server). With a client open the
thread sleeps in `JackClient.wait_since`, which the client's notification callbacks
wake: when the server shuts down or drops the client it is closed and the
observers are told (`on_client(None)`), then the retries begin again; when
ports or connections change anywhere in the graph, `on_graph` observers run.

Every observer runs on this one thread, in registration order on (re)open and
in reverse order on loss, so the audio and MIDI hooks are removed before the
client is closed and the parts never race one another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from surfaced.jackclient import JackClient, JackError

ClientObserver = Callable[[JackClient | None], None]
GraphObserver = Callable[[JackClient], object]  # a true result: call again in AGAIN_S

RETRY_S = 1.0  # while the server is absent, try to open the client this often
# The longest sleep between looks at an open client. Every notification (server
# gone, ports, connections, xruns), a queued job and close() wake the thread, so
# this only bounds an idle daemon's wake-ups.
WAIT_S = 10.0
AGAIN_S = 0.1  # a graph observer that asked to look again is called after this


class JackSession:
    """Opens client `name` on `server` (None: $JACK_DEFAULT_SERVER or the default
    one), reopens it whenever the server returns, and tells observers."""

    def __init__(self, name: str = "surfaced", server: str | None = None, *,
                 say: Callable[[str], None], retry_s: float = RETRY_S) -> None:
        self.name = name
        self.server = server
        self.retry_s = retry_s
        self._say = say
        self.client: JackClient | None = None
        self._client_observers: list[ClientObserver] = []
        self._graph_observers: list[GraphObserver] = []
        self._jobs: list[Callable[[JackClient], None]] = []
        self._jobs_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = (-1, -1)
        self._again = False
        self._events = 0  # the client's notification count at the last wait
        #: times a client was opened, and lost with its server
        self.opens = 0
        self.losses = 0
        #: observer failures (said, never fatal)
        self.errors = 0

    # ------------------------------------------------------------ observers
    def on_client(self, fn: ClientObserver) -> None:
        """Call `fn(client)` after each (re)open and `fn(None)` when the client is
        lost (before it is closed), always on the session's thread. Registered
        while a client is open, `fn` gets it soon (as a `call`)."""
        self._client_observers.append(fn)
        if self.client is not None:
            if self._thread is None:
                fn(self.client)  # no thread yet: this is the only thread using it
            else:
                self.call(fn)

    def on_graph(self, fn: GraphObserver) -> None:
        """Call `fn(client)` whenever ports or connections changed in the graph (and
        AGAIN_S later, without a change, when it returned something true)."""
        self._graph_observers.append(fn)

    def call(self, job: Callable[[JackClient], None]) -> None:
        """Run `job(client)` on the session's thread soon (dropped while no client
        is open). For work that must not race the observers (a port rename)."""
        with self._jobs_lock:
            self._jobs.append(job)
        client = self.client
        if client is not None:
            with contextlib.suppress(JackError):
                client.wake()

    # ------------------------------------------------------------ lifecycle
    def open_now(self) -> bool:
        """One attempt to open the client, on the caller's thread (before start())."""
        try:
            client = JackClient.open(self.name, self.server)
        except JackError:
            return False
        self._joined(client)
        return True

    def start(self) -> None:
        """Start the session's thread (it opens the client if open_now did not)."""
        self._thread = threading.Thread(target=self._run, name="surfaced-jack", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread, tell the observers the client is gone, close it."""
        self._stop.set()
        client = self.client
        if client is not None:
            with contextlib.suppress(JackError):
                client.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.client is not None:
            self._left(self.client)

    # ----------------------------------------------------------------- work
    def _run(self) -> None:
        while not self._stop.is_set():
            client = self.client
            if client is None:
                try:
                    opened = self.open_now()
                except Exception as exc:  # an observer failed hard: keep the thread
                    self._error("opening the JACK client", exc)
                    opened = False
                if not opened:
                    self._stop.wait(self.retry_s)
                continue
            self._events = client.wait_since(self._events, AGAIN_S if self._again else WAIT_S)
            if self._stop.is_set():
                break
            try:
                self._look(client)
            except Exception as exc:
                self._error("watching the JACK client", exc)

    def _look(self, client: JackClient) -> None:
        status = client.status()
        if status.shutdown:
            self.losses += 1
            self._left(client)
            self._say(f"JACK server gone: client {client.name!r} closed; joining the server "
                      "again when it returns")
            return
        with self._jobs_lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            self._guard("a JACK job", job, client)
        seen = (status.port_registrations, status.connections)
        if seen != self._seen or self._again:
            self._seen = seen
            self._follow(client)

    def _follow(self, client: JackClient) -> None:
        again = False
        for fn in self._graph_observers:
            again = bool(self._guard("following the JACK graph", fn, client)) or again
        self._again = again

    def _joined(self, client: JackClient) -> None:
        self.client = client
        self._events = 0  # every notification of the new client counts
        self.opens += 1
        self._seen = (-1, -1)
        with self._jobs_lock:
            self._jobs.clear()  # for the old client's ports
        for fn in self._client_observers:
            self._guard("joining JACK", fn, client)
        status = client.status()
        self._seen = (status.port_registrations, status.connections)
        self._follow(client)  # ports that came while we joined

    def _left(self, client: JackClient) -> None:
        for fn in reversed(self._client_observers):
            self._guard("leaving JACK", fn, None)
        self.client = None
        client.close()

    def _guard(self, what: str, fn: Callable[..., object], arg: object) -> object:
        try:
            return fn(arg)
        except Exception as exc:  # one part failing must not take JACK down for the others
            self._error(what, exc)
            return None

    def _error(self, what: str, exc: Exception) -> None:
        self.errors += 1
        if self.errors in (1, 10, 100) or self.errors % 1000 == 0:
            self._say(f"{what} failed ({type(exc).__name__}: {exc}); {self.errors} JACK "
                      "failures so far")
