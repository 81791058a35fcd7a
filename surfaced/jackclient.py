"""surfaced's own JACK client: the Python face of native/jack.c.

One client per daemon, named `surfaced` unless configured otherwise (JACK
makes it unique: `surfaced-01` when the name is taken). Its process callback
is C and runs the hooks that the audio driver and the JACK MIDI ports install
(`SF_JACK_HOOK_*`); this module only opens and closes the client, registers
ports and manages connections, all from control threads.

libjack is loaded at run time: on a machine without it `JackClient.open`
raises `JackUnavailable` and callers fall back (PortAudio, the headless clock,
rtmidi's own backends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from surfaced._native import ffi, lib
from surfaced.transports.port_patterns import port_matcher

AUDIO: Final = lib.SF_JACK_PORT_AUDIO
MIDI: Final = lib.SF_JACK_PORT_MIDI
IS_INPUT: Final = lib.SF_JACK_IS_INPUT
IS_OUTPUT: Final = lib.SF_JACK_IS_OUTPUT
IS_PHYSICAL: Final = lib.SF_JACK_IS_PHYSICAL

# JACK limits a full port name (client:port) to 256 bytes and a client name
# to 64 (jack_port_name_size / jack_client_name_size in jackd2).
PORT_NAME_MAX: Final = 255
CLIENT_NAME_MAX: Final = 63


class JackError(Exception):
    """A JACK operation failed; the message names the client, port or connection."""


class JackUnavailable(JackError):
    """libjack is not installed, or no JACK server answers."""


@dataclass(frozen=True)
class JackStatus:
    """What the client's notifications have counted so far."""

    shutdown: bool
    port_registrations: int
    connections: int
    xruns: int
    cycles: int
    sample_rate: int
    buffer_size: int
    cpu_load: float


def available() -> bool:
    """True when libjack can be loaded (a server may still be absent)."""
    return bool(lib.sf_jack_load() == lib.SF_OK)


def _names(ptr: Any) -> list[str]:
    """Copy a JACK name list (NULL-terminated char**) and free it."""
    if ptr == ffi.NULL:
        return []
    try:
        out = []
        i = 0
        while ptr[i] != ffi.NULL:
            out.append(ffi.string(ptr[i]).decode("utf-8", "replace"))
            i += 1
        return out
    finally:
        lib.sf_jack_free(ptr)


def matches(pattern: str, port: str) -> bool:
    """Whether full port name `port` matches a port pattern (`transports.port_patterns`)."""
    return port_matcher(pattern)(port)


class JackClient:
    """An open, active client. Close it when done (or use it as a context manager)."""

    def __init__(self, native: Any, requested: str) -> None:
        self._native = native
        self.requested_name = requested
        self.name = ffi.string(lib.sf_jack_name(native)).decode("utf-8", "replace")
        self._ports: dict[str, Any] = {}

    @classmethod
    def open(cls, name: str = "surfaced", server: str | None = None) -> JackClient:
        """Open client `name` on `server` (None: the default server); never starts one."""
        if not name or len(name.encode()) > CLIENT_NAME_MAX:
            raise JackError(f"JACK client name must be 1..{CLIENT_NAME_MAX} bytes, got {name!r}")
        if not available():
            raise JackUnavailable("libjack is not installed (Debian: libjack-jackd2-0)")
        status = ffi.new("int *")
        native = lib.sf_jack_open(name.encode(), server.encode() if server else ffi.NULL, status)
        if native == ffi.NULL:
            where = f"server {server!r}" if server else "the default JACK server"
            raise JackUnavailable(
                f"cannot open JACK client {name!r} on {where} (status 0x{status[0]:x})")
        return cls(native, name)

    @property
    def native(self) -> Any:
        """The sf_jack pointer, for the native hooks (audio driver, MIDI ports)."""
        if self._native is None:
            raise JackError(f"JACK client {self.name!r} is closed")
        return self._native

    @property
    def closed(self) -> bool:
        return self._native is None

    def close(self) -> None:
        """Deactivate and close; safe after the server has gone, and twice."""
        if self._native is not None:
            lib.sf_jack_close(self._native)
            self._native = None
            self._ports.clear()

    def __enter__(self) -> JackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> JackStatus:
        out = ffi.new("sf_jack_status *")
        lib.sf_jack_read_status(self.native, out)
        return JackStatus(bool(out.shutdown), out.port_registrations, out.connections, out.xruns,
                          out.cycles, out.sample_rate, out.buffer_size, float(out.cpu_load))

    def wait(self, timeout: float) -> bool:
        """Block until a notification (ports, connections, xrun, shutdown) or timeout."""
        return bool(lib.sf_jack_wait(self.native, max(0, int(timeout * 1000))))

    def wait_since(self, seen: int, timeout: float) -> int:
        """Like `wait`, but returns at once when a notification came since the count
        `seen` this caller got from its previous call (start with 0), so none that
        arrives between two calls is missed. Returns the count to pass next time."""
        box = ffi.new("unsigned *", seen)
        lib.sf_jack_wait_since(self.native, box, max(0, int(timeout * 1000)))
        return int(box[0])

    def wake(self) -> None:
        """Make a `wait` in another thread return now (work was queued for it)."""
        if self._native is not None:
            lib.sf_jack_wake(self._native)

    # ---- ports of this client
    def register_port(self, short_name: str, kind: int, flags: int) -> Any:
        """Register `short_name` (audio or MIDI, IS_INPUT or IS_OUTPUT); returns the port."""
        full = f"{self.name}:{short_name}"
        if not short_name or len(full.encode()) > PORT_NAME_MAX:
            raise JackError(f"JACK port name {full!r} is empty or over {PORT_NAME_MAX} bytes")
        if short_name in self._ports:
            raise JackError(f"JACK port {full!r} is already registered")
        port = lib.sf_jack_port_register(self.native, short_name.encode(), kind, flags)
        if port == ffi.NULL:
            raise JackError(f"JACK refused to register port {full!r}")
        self._ports[short_name] = port
        return port

    def unregister_port(self, short_name: str) -> None:
        port = self._ports.pop(short_name, None)
        if port is not None and self._native is not None:
            lib.sf_jack_port_unregister(self._native, port)

    def rename_port(self, old: str, new: str) -> None:
        port = self._ports.get(old)
        if port is None:
            raise JackError(f"no port {self.name}:{old}")
        if lib.sf_jack_port_rename(self.native, port, new.encode()) != lib.SF_OK:
            raise JackError(f"JACK refused to rename {self.name}:{old} to {new!r}")
        self._ports[new] = self._ports.pop(old)

    def port(self, short_name: str) -> Any:
        """The native port of `short_name` (registered by this object), for the hooks."""
        port = self._ports.get(short_name)
        if port is None:
            raise JackError(f"no port {self.name}:{short_name}")
        return port

    def own_ports(self) -> list[str]:
        """Short names of the ports this object registered."""
        return list(self._ports)

    # ---- the graph
    def ports(self, pattern: str | None = None, kind: int = -1, flags: int = 0) -> list[str]:
        """Full names of every port matching JACK's regex `pattern`, `kind` and `flags`."""
        return _names(lib.sf_jack_get_ports(self.native, pattern.encode() if pattern else ffi.NULL,
                                            kind, flags))

    def matching(self, patterns: Iterable[str], kind: int = -1, flags: int = 0) -> list[str]:
        """Ports matching any of `patterns` (globs or `re:`), in JACK's order."""
        wanted = list(patterns)
        return [n for n in self.ports(None, kind, flags) if any(matches(p, n) for p in wanted)]

    def connections(self, port: str) -> list[str]:
        """Full names of the ports `port` is connected to."""
        return _names(lib.sf_jack_port_connections(self.native, port.encode()))

    def port_flags(self, port: str) -> int | None:
        flags = int(lib.sf_jack_port_flags(self.native, port.encode()))
        return None if flags < 0 else flags

    def connect(self, source: str, destination: str) -> None:
        if lib.sf_jack_connect(self.native, source.encode(), destination.encode()) != lib.SF_OK:
            raise JackError(f"cannot connect JACK port {source!r} to {destination!r}")

    def disconnect(self, source: str, destination: str) -> None:
        if lib.sf_jack_disconnect(self.native, source.encode(), destination.encode()) != lib.SF_OK:
            raise JackError(f"cannot disconnect JACK port {source!r} from {destination!r}")
