"""The browser surface: the mix on a web page, over HTTP and a WebSocket.

Served by aiohttp from the daemon's own asyncio loop. `GET /` is the page
(static HTML/CSS/JS from this package; no CDN, no build step), `GET /ws` its
WebSocket. Both take the role's token (`?token=...`): a wrong one gets 403.

Like the native OSC namespace (native_osc.py), the server side is a surface
with no mapping: it subscribes to the mixer, keeps the latest change of each
path a page shows, and sends them coalesced, at most `rate` times a second,
never back to the page that made them. Meters go out at `meter_hz`. A page's
finger on a fader is a touch (`Mixer.touch`) from pointer down to release, so
undo sees one gesture and motor faders elsewhere yield; a page that goes away
lets go of everything it held.

Every message from a page is checked against the role of its connection
(roles.py): the page is never trusted. Refusals, malformed messages, floods
and oversized frames are counted in `stats` and answered with an error; none
of them can stop the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from surfaced.mix.commands import KNOWN, CommandError
from surfaced.mix.engine import MeterSnapshot, NativeError
from surfaced.mix.mixer import Change, Mixer, Value
from surfaced.mix.params import ParamError
from surfaced.mix.tapers import fader_db
from surfaced.surfaces.web import protocol
from surfaced.surfaces.web.roles import ENGINEER, Role, RoleBook

log = logging.getLogger(__name__)

MAX_CLIENTS = 64
MAX_FRAME = 64 * 1024  # bigger frames close the connection (1009, "message too big")
MSGS_PER_S = 400  # from one page; a two-finger fader ride sends ~120
MAX_OUTBOX = 256  # replies waiting for a page that does not read
MAX_TOUCHES = 20  # controls one page may hold at once (fingers)
SEND_TIMEOUT_S = 5.0  # a page that takes longer to accept a frame is dropped
HEARTBEAT_S = 10.0
METER_FLOOR_DB = -120.0
LAW_STEPS = 200  # points of the fader law table the page draws dB readouts from

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}
_HEADERS = {
    # Everything comes from here; nothing may frame the page or learn its URL (the token).
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass
class WebStats:
    """Counters of the web surface."""

    connections: int = 0  # WebSockets accepted
    refused_auth: int = 0  # wrong or missing token, or a foreign Origin (403)
    received: int = 0  # text frames from pages
    applied: int = 0  # parameter changes made
    touches: int = 0
    commands: int = 0
    refused: int = 0  # not allowed for the sender's role
    errors: int = 0  # malformed (bad JSON, NaN, unknown path, out of range, ...)
    too_big: int = 0  # frames over protocol.MAX_TEXT (answered) or MAX_FRAME (closed)
    rate_limited: int = 0
    dropped: int = 0  # replies dropped for a page that does not read
    feedback_sent: int = 0  # values pushed to pages
    meters_sent: int = 0
    last_error: str = ""


class _Client:
    """One open page: its role, what it has not been sent yet, what it holds."""

    def __init__(self, ws: web.WebSocketResponse, role: Role, source: str) -> None:
        self.ws = ws
        self.role = role
        self.source = source
        self.pending: dict[str, Change] = {}  # guarded by WebSurface._lock
        self.outbox: deque[str] = deque()  # loop thread only
        self.wake = asyncio.Event()
        self.touches: set[str] = set()
        self.window = 0.0
        self.count = 0


class WebSurface:
    """The web page and its WebSocket for one mixer; see the module docstring."""

    def __init__(self, mixer: Mixer, roles: RoleBook, *, host: str = "127.0.0.1",
                 port: int = 8080, rate: float = 30.0, meter_hz: float = 15.0) -> None:
        self.mixer = mixer
        self.roles = roles
        self.host = host
        self.port = port
        self.rate = max(1.0, min(rate, 60.0))  # a page cannot draw faster than its display
        self.meter_hz = max(1.0, min(meter_hz, 30.0))
        self.stats = WebStats()
        self.clock = time.monotonic  # the rate limit's clock; tests freeze it
        # Changes arrive on any thread; pages are served on the loop: one lock over
        # the client table and the pending maps. Never call the mixer holding it.
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._serial = 0
        self._files = _load_static()
        self._runner: web.AppRunner | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._meter_at = -1.0
        self._meter_snap: MeterSnapshot | None = None
        self._meter_frames: dict[int, str] = {}
        self._law = [[round(i / LAW_STEPS, 4), _finite(fader_db(i / LAW_STEPS))]
                     for i in range(LAW_STEPS + 1)]

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen on host:port (port 0: any free port); OSError when it cannot."""
        app = web.Application(client_max_size=MAX_FRAME)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/static/{name}", self._static)
        # No access log: it would record every page's token.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._unsubscribe = [self.mixer.subscribe(self._on_change)]
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])

    async def close(self) -> None:
        """Close every page's connection (going away: it reconnects) and stop listening."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        with self._lock:
            clients = list(self._clients.values())
        for c in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(code=1001, message=b"daemon stopping"), 1.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def clients(self) -> int:
        """Pages connected now."""
        with self._lock:
            return len(self._clients)

    def url(self, role: Role) -> str:
        """The link that opens `role`'s page (it holds the token: hand it over privately)."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={role.token}"

    # ------------------------------------------------------------------ HTTP
    async def _index(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if token is not None and self.roles.find(token) is None:
            self.stats.refused_auth += 1
            raise web.HTTPForbidden(text="surfaced: this link's token is not valid (tokens "
                                         "change at each start unless configured); ask the "
                                         "engineer for the current link\n")
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.Response:
        found = self._files.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=_HEADERS)

    # ------------------------------------------------------------- WebSocket
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        role = self.roles.find(request.query.get("token"))
        if role is None or not _same_origin(request):
            self.stats.refused_auth += 1
            raise web.HTTPForbidden(text="surfaced: token not valid, or a page from another "
                                         "site\n")
        if self.clients >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text=f"surfaced: {MAX_CLIENTS} pages are open "
                                                  "already\n")
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_FRAME,
                                   compress=False)
        await ws.prepare(request)
        self._serial += 1
        who = "engineer" if role.kind == ENGINEER else role.name.replace(" ", "_")
        client = _Client(ws, role, f"web:{who}:{self._serial}")
        # Registered under the mixer's lock with the snapshot taken: every change
        # after the snapshot reaches the page, none before it is lost.
        with self.mixer.lock:
            init = self._init_message(role)
            with self._lock:
                self._clients[client.source] = client
        self.stats.connections += 1
        client.outbox.append(init)
        writer = asyncio.create_task(self._writer(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(client, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._error(client, "errors", "binary frames are not understood; send "
                                                  "JSON text", None, None)
                elif msg.type == WSMsgType.ERROR:  # e.g. a frame over MAX_FRAME (closed 1009)
                    self.stats.too_big += 1
                    self.stats.last_error = f"{client.source}: {msg.data}"
        finally:
            with self._lock:
                self._clients.pop(client.source, None)
            self.mixer.release_all(client.source)  # a page gone holds nothing
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return ws

    async def _writer(self, c: _Client) -> None:
        """Everything that goes to one page: replies at once, changes and meters at their
        rates. One writer per page, so a slow page only slows itself."""
        period, meter_period = 1.0 / self.rate, 1.0 / self.meter_hz
        next_meters = 0.0
        try:
            while not c.ws.closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(period):
                        await c.wake.wait()
                c.wake.clear()
                frames = list(c.outbox)
                c.outbox.clear()
                with self._lock:
                    changes, c.pending = c.pending, {}
                if changes:
                    values = {p: self._wire(ch.path, ch.value) for p, ch in changes.items()}
                    frames.append(protocol.dumps({"t": "set", "values": values}))
                    self.stats.feedback_sent += len(values)
                now = time.monotonic()
                if now >= next_meters:
                    next_meters = now + meter_period
                    frames.append(self._meters_frame(c.role, now))
                    self.stats.meters_sent += 1
                for frame in frames:
                    async with asyncio.timeout(SEND_TIMEOUT_S):
                        await c.ws.send_str(frame)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            # The page went away, or stopped reading: drop it (it reconnects).
            self.stats.last_error = f"{c.source}: dropped ({type(exc).__name__})"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(code=1011, message=b"not reading"), 1.0)

    # ------------------------------------------------------------ messages
    def _receive(self, c: _Client, text: str) -> None:
        """One text frame from a page; never raises."""
        self.stats.received += 1
        now = self.clock()
        if now - c.window >= 1.0:
            c.window, c.count = now, 0
        c.count += 1
        if c.count > MSGS_PER_S:
            self.stats.rate_limited += 1
            if c.count == MSGS_PER_S + 1:  # say it once a second, not once a message
                self._queue(c, protocol.dumps({"t": "error", "message": (
                    f"more than {MSGS_PER_S} messages a second; the rest of this second "
                    "is ignored")}))
            return
        if len(text) > protocol.MAX_TEXT:
            self.stats.too_big += 1
            self._error(c, "errors", f"message of {len(text)} characters; at most "
                                     f"{protocol.MAX_TEXT}", None, None)
            return
        try:
            msg = protocol.parse(text)
        except protocol.WebProtocolError as exc:
            self._error(c, "errors", str(exc), None, None)
            return
        path: str | None = None
        try:
            if isinstance(msg, protocol.CmdMsg):
                self._command(c, msg)
                return
            path = self.mixer.spec(msg.path).path  # ParamError names an unknown path
            if not c.role.may_set(path):
                what = "anything" if c.role.kind == ENGINEER else \
                    f"only the sends to bus {c.role.bus} (ch/N/send/{c.role.bus})"
                self._error(c, "refused", f"{path}: not yours to change; the {c.role.label} "
                                          f"page may change {what}", msg.id, path)
                return
            if isinstance(msg, protocol.TouchMsg):
                self._touch(c, path, msg.on)
            else:
                self._set(c, path, msg)
        except (ParamError, CommandError, NativeError, ValueError, TypeError) as exc:
            self._error(c, "errors", str(exc), msg.id, path)

    def _set(self, c: _Client, path: str, msg: protocol.SetMsg) -> None:
        spec = self.mixer.spec(path)
        if msg.pos is not None:
            if spec.is_text:
                raise ValueError(f"{path}: is text; set it with a value, not a position")
            self.mixer.set_position(path, msg.pos, c.source)
        else:
            if spec.is_text != isinstance(msg.value, str):
                raise ValueError(f"{path}: expected {'text' if spec.is_text else 'a number'}")
            self.mixer.set(path, msg.value, c.source)
        self.stats.applied += 1

    def _touch(self, c: _Client, path: str, on: bool) -> None:
        if on:
            if path not in c.touches and len(c.touches) >= MAX_TOUCHES:
                raise ValueError(f"touch {path}: at most {MAX_TOUCHES} controls held at once")
            c.touches.add(path)
        else:
            c.touches.discard(path)
        self.mixer.touch(path, c.source, on)
        self.stats.touches += 1

    def _command(self, c: _Client, msg: protocol.CmdMsg) -> None:
        if msg.name not in KNOWN:
            raise CommandError(f"unknown command {msg.name!r}")
        if not c.role.may_run(msg.name):
            self._error(c, "refused", f"{msg.name}: not available on the {c.role.label} page",
                        msg.id, None)
            return
        reply = self.mixer.commands.run(msg.name, msg.args, c.source)
        self.stats.commands += 1
        values = [v if not isinstance(v, float) or math.isfinite(v) else None for v in reply]
        self._queue(c, protocol.dumps({"t": "reply", "name": msg.name, "values": values,
                                       "id": msg.id}))

    def _error(self, c: _Client, counter: str, message: str, ref: int | None,
               path: str | None) -> None:
        """Count and answer a message that was refused or wrong; when it named a control
        the page shows, send that control's true value too, so the page snaps back."""
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self.stats.last_error = f"{c.source}: {message}"
        out: dict[str, object] = {"t": "error", "message": message}
        if ref is not None:
            out["id"] = ref
        if path is not None:
            out["path"] = path
        self._queue(c, protocol.dumps(out))
        if path is not None and c.role.sees(path):
            values = {path: self._wire(path, self.mixer.get(path))}
            self._queue(c, protocol.dumps({"t": "set", "values": values}))

    def _queue(self, c: _Client, frame: str) -> None:
        if len(c.outbox) >= MAX_OUTBOX:
            self.stats.dropped += 1
            return
        c.outbox.append(frame)
        c.wake.set()

    # -------------------------------------------------------------- feedback
    def _on_change(self, change: Change) -> None:
        """Any thread, under the mixer's lock: note the latest value per page."""
        with self._lock:
            for c in self._clients.values():
                if c.source != change.source and c.role.sees(change.path):
                    c.pending[change.path] = change

    def _wire(self, path: str, value: Value) -> protocol.Wire:
        if isinstance(value, str):
            return protocol.wire(value, None)
        return protocol.wire(value, self.mixer.spec(path).to_position(value))

    def _init_message(self, role: Role) -> str:
        mixer = self.mixer
        values = {p: self._wire(p, mixer.get(p)) for p in role.paths(mixer.channels,
                                                                      mixer.buses)}
        available = set(mixer.commands.available())
        return protocol.dumps({
            "t": "init",
            "role": {"kind": role.kind, "name": role.name, "bus": role.bus,
                     "label": role.label},
            "channels": mixer.channels,
            "buses": mixer.buses,
            "busNames": [r.name for r in self.roles.artists()],
            "law": self._law,
            "meterHz": self.meter_hz,
            "commands": sorted(n for n in available if role.may_run(n)),
            "values": values,
        })

    def _meters_frame(self, role: Role, now: float) -> str:
        """The meters a role sees, read from the core once per meter period for all pages."""
        if self._meter_snap is None or now - self._meter_at >= 0.5 / self.meter_hz:
            self._meter_snap = self.mixer.engine.meters()
            self._meter_at = now
            self._meter_frames = {}
        frame = self._meter_frames.get(role.bus)
        if frame is None:
            m = self._meter_snap.master
            if role.kind == ENGINEER:
                frame = protocol.dumps({
                    "t": "meters",
                    "ch": [_db(float(x)) for x in self._meter_snap.ch_peak],
                    "bus": [_db(x) for x in m.bus_peak],
                    "master": [_db(m.peak[0]), _db(m.peak[1])],
                })
            else:
                i = role.bus - 1
                frame = protocol.dumps({"t": "meters",
                                        "mine": [_db(m.bus_peak[i]), _db(m.bus_rms[i])]})
            self._meter_frames[role.bus] = frame
        return frame


def _db(x: float) -> float:
    """A linear level as dBFS for a page: finite, floored, one decimal."""
    if not math.isfinite(x) or x <= 0.0:
        return METER_FLOOR_DB
    return max(METER_FLOOR_DB, round(20.0 * math.log10(x), 1))


def _finite(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


def _same_origin(request: web.Request) -> bool:
    """A browser names the page that opens a WebSocket (Origin): it must be ours, so
    another site's page cannot use a token it somehow learned in the user's browser.
    Clients that are not browsers send none and have nothing to forge."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _load_static() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package (package data, no build step)."""
    out: dict[str, tuple[bytes, str]] = {}
    folder = resources.files("surfaced.surfaces.web").joinpath("static")
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            out[item.name] = (item.read_bytes(), _TYPES[suffix])
    return out
