"""Who may do what on the web surface: the engineer, and one artist per aux bus.

A role is reached with its token (a capability: whoever holds the link has
the role). The engineer may set every parameter and run the mix document's
everyday commands; an artist may set only their own cue mix, the sends from
every channel to their bus, and sees only the channel names, those sends and
their bus meter. The server checks every message against the role of the
connection that sent it; the page is never trusted.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ENGINEER = "engineer"
ARTIST = "artist"

# What the engineer's page shows and is kept up to date with (every parameter may be set).
_ENGINEER_SEES = re.compile(
    r"^(?:ch/\d+/(?:name|fader|pan|mute|solo|send/\d+)|bus/\d+/(?:fader|mute)|master/fader)$")
_CH_NAME = re.compile(r"^ch/\d+/name$")
_SEND = re.compile(r"^ch/\d+/send/(\d+)$")

# Commands the engineer's page may run: everyday ones. Writing files elsewhere
# (session/save_as) or changing safes is for the desk, the CLI and OSC.
ENGINEER_COMMANDS = frozenset((
    "undo", "redo", "scene/list", "scene/recall", "scene/next", "scene/previous",
    "scene/store", "ab/switch", "ab/state", "session/save",
))


@dataclass(frozen=True)
class Role:
    """One role: the engineer (bus 0), or the artist listening to aux bus `bus`."""

    kind: str
    name: str
    token: str
    bus: int = 0

    @property
    def label(self) -> str:
        """How the page and the daemon's messages name this role."""
        if self.kind == ENGINEER:
            return "engineer"
        if self.name == f"Bus {self.bus}":
            return f"bus {self.bus}"
        return f"{self.name} (bus {self.bus})"

    def may_set(self, path: str) -> bool:
        """Whether this role may change (or touch) the parameter at canonical `path`."""
        if self.kind == ENGINEER:
            return True
        m = _SEND.match(path)
        return m is not None and int(m.group(1)) == self.bus

    def sees(self, path: str) -> bool:
        """Whether changes to canonical `path` are pushed to this role's page."""
        if self.kind == ENGINEER:
            return _ENGINEER_SEES.match(path) is not None
        return _CH_NAME.match(path) is not None or self.may_set(path)

    def may_run(self, command: str) -> bool:
        """Whether this role may run mix document command `command`."""
        return self.kind == ENGINEER and command in ENGINEER_COMMANDS

    def paths(self, channels: int, buses: int) -> list[str]:
        """Every path this role's page shows, for a mix of this size, in page order."""
        out = [f"ch/{c}/name" for c in range(1, channels + 1)]
        if self.kind == ARTIST:
            return out + [f"ch/{c}/send/{self.bus}" for c in range(1, channels + 1)]
        for c in range(1, channels + 1):
            out += [f"ch/{c}/{leaf}" for leaf in ("fader", "pan", "mute", "solo")]
            out += [f"ch/{c}/send/{b}" for b in range(1, buses + 1)]
        out += [f"bus/{b}/{leaf}" for b in range(1, buses + 1) for leaf in ("fader", "mute")]
        return [*out, "master/fader"]


class RoleBook:
    """The roles of one daemon and their tokens; finds a role by token in constant time."""

    def __init__(self, roles: list[Role]) -> None:
        tokens = [r.token for r in roles]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two web roles share a token; each role needs its own")
        self.roles = roles

    def find(self, token: str | None) -> Role | None:
        """The role holding `token`, or None. Compares every token, in constant time each,
        so how long a refusal takes says nothing about how close a guess was."""
        if not token or len(token) > 256:
            return None
        found: Role | None = None
        given = token.encode("utf-8", "replace")
        for role in self.roles:
            if hmac.compare_digest(given, role.token.encode()):
                found = role
        return found

    def engineer(self) -> Role:
        """The engineer's role."""
        return next(r for r in self.roles if r.kind == ENGINEER)

    def artists(self) -> list[Role]:
        """The artists' roles, by bus."""
        return sorted((r for r in self.roles if r.kind == ARTIST), key=lambda r: r.bus)


def make_roles(buses: int, artists: Mapping[str, int], tokens: Mapping[str, str],
               new_token: Callable[[], str] = lambda: secrets.token_urlsafe(18),
               warn: Callable[[str], None] = lambda msg: None) -> RoleBook:
    """The engineer and one artist per aux bus of the mix.

    `artists` names buses ({"Drummer": 1}); unnamed buses are "Bus N". `tokens`
    fixes a role's token by "engineer", an artist's name or "bus/N"; every other
    role gets a fresh random token (`new_token`) at each start. An artist on a
    bus this mix does not have, or a token for a role that does not exist, is
    reported through `warn` and left out.
    """
    names: dict[int, str] = {}
    for name, bus in artists.items():
        if not 1 <= bus <= buses:
            warn(f"web.artists.{name}: bus {bus} does not exist (this mix has buses "
                 f"1..{buses}); {name} has no page")
        elif bus in names:
            warn(f"web.artists.{name}: bus {bus} is already {names[bus]}'s; {name} has no page")
        else:
            names[bus] = name
    by_key: dict[str, str] = {}
    for key, token in tokens.items():
        bus = next((b for b, n in names.items() if n == key), 0)
        if key.startswith("bus/") and key[4:].isdigit():
            bus = int(key[4:])
        if key != ENGINEER and not 1 <= bus <= buses:
            warn(f"web.tokens.{key}: no such role in this mix (engineer, "
                 f"{', '.join(names.values()) or 'no named artists'}, bus/1..bus/{buses}); "
                 "token ignored")
            continue
        by_key[ENGINEER if key == ENGINEER else f"bus/{bus}"] = token
    roles = [Role(ENGINEER, ENGINEER, by_key.get(ENGINEER) or new_token())]
    for bus in range(1, buses + 1):
        name = names.get(bus, f"Bus {bus}")
        roles.append(Role(ARTIST, name, by_key.get(f"bus/{bus}") or new_token(), bus))
    return RoleBook(roles)
