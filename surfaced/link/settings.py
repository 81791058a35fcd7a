"""The link's settings: which broker, which mix, who this daemon is, credentials.

`link: mqtt://studio-pi:1883` (or `link: {broker: ...}`) is enough; every
other setting has a default. Parsing of the configuration file is in
surfaced.config, which names file, line and key; this module holds the
values and the rules that need no file (the broker URL, the defaults).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from surfaced.link.wire import check_name

DEFAULT_MIX = "main"
DEFAULT_EXCLUDE = ("*/solo",)  # solo is a listening aid of one room, as scenes treat it
SCHEMES = {"mqtt": (1883, False), "mqtts": (8883, True)}


@dataclass(frozen=True)
class LinkConfig:
    """Where the broker is and how this daemon appears on it."""

    host: str
    port: int = 1883
    tls: bool = False
    mix: str = DEFAULT_MIX
    daemon_id: str = ""  # "" -> the username, else this machine's host name
    username: str | None = None
    password: str | None = None
    ca: str | None = None  # CA file that signed the broker's certificate (TLS)
    cert: str | None = None  # this daemon's client certificate (TLS), and its key:
    key: str | None = None
    keepalive: int = 5  # seconds; a silent broker is noticed after about 1.5x this
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def __post_init__(self) -> None:
        check_name("mix name", self.mix)
        if not self.daemon_id:
            object.__setattr__(self, "daemon_id", default_id(self.username))
        check_name("daemon id", self.daemon_id)
        if not 1 <= self.port <= 65535:
            raise ValueError(f"broker port {self.port} is not 1..65535")
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both cert and key")

    @property
    def url(self) -> str:
        """The broker as a URL, without credentials (for messages)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """(host, port, tls, username, password) from mqtt://[user[:pass]@]host[:port]
    or mqtts://...; ValueError saying what is wrong."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"expected a broker URL like mqtt://host:1883, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url}: the scheme must be mqtt:// or mqtts:// (TLS)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url}: expected only host and port (the mix name is link.mix)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url}: the port must be a number 1..65535") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"{url}: no host")
    default_port, tls = SCHEMES[parts.scheme]
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return host, port or default_port, tls, user, password


def default_id(username: str | None) -> str:
    """The broker account's name (so ACL patterns with %u fit), else the host name."""
    raw = username or socket.gethostname() or "surfaced"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", raw)[:64] or "surfaced"
