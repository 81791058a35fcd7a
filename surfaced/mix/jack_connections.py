"""The session's JACK connections: made when surfaced joins, kept, and saved.

The session's `connections:` section names, for each port key (`ch/1`,
`ch/3/L`, `master/R`, `bus/2/L`, `reference/L`: see surfaced.session.read),
the ports it connects to: full JACK names or patterns (globs over the whole
name, or `re:` regular expressions, as surfaced.jackclient.matches reads
them). A key the session does not name has a default: each input port takes
the physical capture port of its device input (input 1 is the first
`system:capture_*`), the master the first two physical playback ports; buses
connect nowhere.

- On every join (start, or the server back) each port is connected to every
  existing port its patterns match.
- When ports appear later (a device plugged in, an application started:
  JACK's port-registration notification), the ones a pattern matches are
  connected. A connection JACK refuses (the port's client has not activated
  yet) is tried again for REFUSED_RETRY_S, then reported, and tried once more
  whenever ports come or go.
- Connections the user makes or breaks by hand (jack_connect, qjackctl)
  become the session's: an added port is appended by its name, a removed one
  takes the pattern that matched it out (replaced by the ports that pattern
  still has connected). A port that disappeared is not a removal: its pattern
  stays, and connects it again when it returns. JACK breaks a port's
  connections before it removes the port, so a connection that went while its
  port is still there is only taken for a removal by hand after SETTLE_S
  (the session's thread looks again then: `follow` returns True). Each such change replaces
  `session.connections` (a new dict: readers on other threads see the old or
  the new one, whole) and bumps `session.connections_revision`, which marks
  the mix document dirty, so the autosave and the next save carry it.

Everything here runs on the JackSession's thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from surfaced.jackclient import (
    AUDIO,
    IS_INPUT,
    IS_OUTPUT,
    IS_PHYSICAL,
    JackClient,
    JackError,
    matches,
)
from surfaced.mix.jack_audio import JackAudio, PortSpec
from surfaced.session.read import Session

SETTLE_S = 0.3  # a connection gone this long while both ports remain was broken by hand
# JACK refuses to connect a port whose client has registered it but not yet
# activated (jack2: "Cannot connect ports owned by inactive clients"), and the
# port is listed (and another port's notification can make us look) before it
# activates. A refused connection is therefore tried again on each look
# (AGAIN_S apart) for this long, then reported and left until the next port
# registration anywhere (jack2 notifies a client's ports again when it activates).
REFUSED_RETRY_S = 3.0


def literal(port: str) -> str:
    """A port name as a pattern that matches only that name (glob metacharacters
    bracketed; a name starting with `re:` made a one-name regular expression)."""
    if port.startswith("re:"):
        import re

        return "re:^" + re.escape(port) + "$"
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in port)


class JackConnections:
    """Makes and follows the connections of a JackAudio's ports for a session."""

    def __init__(self, session: Session, say: Callable[[str], None]) -> None:
        self.session = session
        self._say = say
        self._expected: dict[str, set[str]] = {}  # key -> ports we know it is connected to
        # (key, port) JACK would not connect -> when it first refused; reported
        # and no longer tried once REFUSED_RETRY_S have passed
        self._refused: dict[tuple[str, str], float] = {}
        self._reported: set[tuple[str, str]] = set()  # not tried until ports come or go
        self._said: set[tuple[str, str]] = set()  # reported once, never again while present
        self._registrations = -1  # the client's port-registration count at the last look
        self._pending: dict[tuple[str, str], float] = {}  # (key, port) gone since: removed?
        #: connections made, and changes by hand taken into the session
        self.made = 0
        self.taken = 0

    # ------------------------------------------------------------ patterns
    def patterns(self, key: str, client: JackClient, spec: PortSpec, is_input: bool) -> list[str]:
        """What key connects to: the session's list, or the default."""
        named = self.session.connections.get(key)
        if named is not None:
            return list(named)
        return self._default(client, spec, is_input)

    def _default(self, client: JackClient, spec: PortSpec, is_input: bool) -> list[str]:
        if is_input:
            capture = client.ports(None, AUDIO, IS_OUTPUT | IS_PHYSICAL)
            return [literal(capture[spec.index])] if spec.index < len(capture) else []
        if spec.strip != "master":
            return []
        playback = client.ports(None, AUDIO, IS_INPUT | IS_PHYSICAL)
        k = 0 if spec.side == "L" else 1
        return [literal(playback[k])] if k < len(playback) else []

    # ------------------------------------------------------------ work
    def restore(self, client: JackClient, audio: JackAudio) -> None:
        """On joining: connect every port to what its patterns match now."""
        self._expected.clear()
        self._refused.clear()
        self._reported.clear()
        self._said.clear()
        self._pending.clear()
        self._connect_missing(client, audio, {})

    def follow(self, client: JackClient, audio: JackAudio) -> bool:
        """After a graph notification: take changes made by hand into the session,
        then connect ports that appeared and match. True: look again in SETTLE_S."""
        now = time.monotonic()
        again = False
        candidates = {True: set(client.ports(None, AUDIO, IS_OUTPUT)),
                      False: set(client.ports(None, AUDIO, IS_INPUT))}
        actual_by_key: dict[str, set[str]] = {}
        changed: dict[str, list[str]] = {}
        for spec, is_input in audio.ports():
            actual = set(client.connections(audio.full_name(spec)))
            actual_by_key[spec.key] = actual
            expected = self._expected.get(spec.key, set())
            present = candidates[is_input]
            gone = {p for p in expected if p not in present}  # unplugged: not a removal
            added = actual - expected
            missing = (expected - gone) - actual
            removed = set()
            for p in missing:
                if now - self._pending.setdefault((spec.key, p), now) >= SETTLE_S:
                    removed.add(p)
                else:
                    again = True
            for k, p in list(self._pending):
                if k == spec.key and (p not in missing or p in removed):
                    del self._pending[(k, p)]
            if added or removed:
                pats = self.patterns(spec.key, client, spec, is_input)
                kept = [p for p in pats if not any(matches(p, r) for r in removed)]
                extra = sorted(p for p in actual if not any(matches(k, p) for k in kept))
                changed[spec.key] = kept + [literal(p) for p in extra]
            self._expected[spec.key] = actual | (missing - removed)  # pending ones stay
        if changed:
            self.taken += len(changed)
            new = dict(self.session.connections)
            new.update(changed)
            self.session.connections = new
            self.session.connections_revision += 1
            keys = ", ".join(sorted(changed))
            self._say(f"JACK connections changed by hand ({keys}): kept in the session")
        return self._connect_missing(client, audio, actual_by_key) or again

    def _connect_missing(self, client: JackClient, audio: JackAudio,
                         actual_by_key: dict[str, set[str]]) -> bool:
        """Connect what the patterns match and is not connected. True: a refused
        connection is still being tried (look again soon)."""
        now = time.monotonic()
        outs = client.ports(None, AUDIO, IS_OUTPUT)
        ins = client.ports(None, AUDIO, IS_INPUT)
        present = set(outs) | set(ins)
        for gone in [k for k in self._refused if k[1] not in present]:
            del self._refused[gone]  # a port that returns is tried afresh
            self._reported.discard(gone)
            self._said.discard(gone)
        registrations = client.status().port_registrations
        if registrations != self._registrations:
            self._registrations = registrations
            for key in self._reported:  # ports came or went: one more try each
                self._refused[key] = now
            self._reported.clear()
        retrying = False
        own = f"{client.name}:"
        for spec, is_input in audio.ports():
            pats = self.patterns(spec.key, client, spec, is_input)
            if not pats:
                continue
            here = audio.full_name(spec)
            pool = outs if is_input else ins
            actual = actual_by_key.get(spec.key)
            if actual is None:
                actual = set(client.connections(here))
            expected = self._expected.setdefault(spec.key, set(actual))
            for port in pool:
                if port.startswith(own) or port in actual or (spec.key, port) in self._reported \
                        or (spec.key, port) in self._pending:
                    continue
                if not any(matches(p, port) for p in pats):
                    continue
                src, dst = (port, here) if is_input else (here, port)
                try:
                    client.connect(src, dst)
                except JackError as exc:
                    pair = (spec.key, port)
                    if now - self._refused.setdefault(pair, now) < REFUSED_RETRY_S:
                        retrying = True
                        continue
                    self._reported.add(pair)
                    if pair not in self._said:  # once, not at every port that comes
                        self._said.add(pair)
                        self._say(f"{exc} (the session's connections for {spec.key}; "
                                  f"tried for {REFUSED_RETRY_S:g} s, tried again when "
                                  "ports come or go)")
                    continue
                self._refused.pop((spec.key, port), None)
                self.made += 1
                expected.add(port)
        return retrying
