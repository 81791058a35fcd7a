"""The mix link: daemons share one mix through an MQTT broker.

Each parameter is a retained topic (surfaced.link.wire), so a daemon that
joins late gets the whole mix from the broker; every write carries a hybrid
logical clock stamp, so all daemons order concurrent writes the same way
(surfaced.link.state has the rule and what counts as a conflict).

Threads: paho's network thread only queues what arrives; one worker thread
of the link applies received writes to the mixer, publishes, reverts refused
moves and watches touches. Local changes are stamped in the mixer subscriber
(which runs under the mixer's lock, so the stamps follow the mixer's order)
and published by the worker; changes the link applies carry the source
`link:<daemon>` and are never published again.

On loss the daemon keeps working on its own mix; its changes wait, and when
the broker is back it first takes every retained write (a sync marker it sends
itself says when it has them all), then publishes what it changed meanwhile.
The stamps decide, and each daemon ends with the same mix.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from surfaced.events import Event
from surfaced.link.hlc import HybridClock, Stamp
from surfaced.link.settings import LinkConfig
from surfaced.link.state import Conflict, Held, LinkState
from surfaced.link.wire import (
    Claim,
    Marker,
    Presence,
    Topics,
    WireError,
    Write,
    encode_claim,
    encode_presence,
    encode_write,
)
from surfaced.mix.mixer import Change, Mixer
from surfaced.mix.params import ParamError

log = logging.getLogger(__name__)

SOURCE_PREFIX = "link:"
POLL_S = 0.01  # how often the worker looks at touches when nothing else wakes it
MARKER_WAIT_S = 3.0  # a marker that never returns (no right to send it): go on without it


@dataclass
class LinkStats:
    """Counters of one link."""

    received: int = 0
    applied: int = 0
    published: int = 0
    refused_local: int = 0  # local moves refused because another daemon held the control
    refused_by_broker: int = 0  # our writes the broker would not take (read-only account)
    bad_messages: int = 0
    unknown_paths: int = 0
    connects: int = 0
    losses: int = 0


class MixLink:
    """One daemon's end of the link; `start()` it, `close()` it."""

    def __init__(self, mixer: Mixer, config: LinkConfig,
                 on_status: Callable[[str], None] | None = None) -> None:
        self.mixer = mixer
        self.config = config
        self.id = config.daemon_id
        self.topics = Topics(config.mix, self.id)
        self.clock = HybridClock(self.id)
        self.state = LinkState(self.id, config.exclude)
        self.state.online.add(self.id)
        self.stats = LinkStats()
        self.say = on_status or (lambda msg: log.info("%s", msg))
        self.connected = False
        self.synced = False  # every retained write has arrived since the last connect
        self.refusal = ""  # why the broker refused us, while it does
        self._inbox: deque[tuple[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._token = ""
        self._marker_due = 0.0
        self._refused: dict[str, Change] = {}  # path -> first local change refused since
        self._mine: dict[str, str] = {}  # path -> source of this daemon's holds
        # Writes sent and not yet acknowledged: mid -> (path, stamp, what it replaced),
        # and the paths they are of. A path with a write in flight waits for its
        # acknowledgement and then sends only its latest value: under a burst (a
        # fader swept fast) the link carries fewer, fresher values instead of a
        # queue of old ones.
        self._inflight: dict[int, tuple[str, Stamp, Held | None]] = {}
        self._busy: dict[str, int] = {}
        self._said_readonly = False
        self._heard: set[str] = set()  # paths the broker sent since this connection subscribed

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Subscribe to the mixer and connect (in the background; retried for ever)."""
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"surfaced-{cfg.mix}-{self.id}",
                             protocol=mqtt.MQTTv5)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca, certfile=cfg.cert, keyfile=cfg.key)
        client.will_set(self.topics.presence(), encode_presence(False), qos=1, retain=True)
        client.reconnect_delay_set(1, 10)
        client.max_inflight_messages_set(100)  # a whole mix of seeds goes out quickly
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        self._unsubscribe = self.mixer.subscribe(self._on_change)
        self._worker = threading.Thread(target=self._work, name=f"link-{self.id}", daemon=True)
        self._worker.start()
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        client.loop_start()
        self.say(f"link: joining mix {cfg.mix!r} on {cfg.url} as {self.id!r}")

    def close(self) -> None:
        """Let go of this daemon's holds, say goodbye on the broker, disconnect."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(5)
        client = self._client
        if client is None:
            return
        if self.connected:
            infos = [client.publish(self.topics.claim(p), b"", qos=1, retain=True)
                     for p in self._mine]
            infos.append(client.publish(self.topics.presence(), encode_presence(False), qos=1,
                                        retain=True))
            deadline = time.monotonic() + 2.0  # bounded: a dead broker must not stop a shutdown
            for info in infos:
                while not info.is_published() and time.monotonic() < deadline \
                        and self.connected:
                    time.sleep(0.01)
        client.disconnect()
        client.loop_stop()
        self._client = None

    def kick(self) -> None:
        """Drop the broker connection now; it is made again by itself (tests use it)."""
        client = self._client
        sock = client.socket() if client is not None else None
        if sock is not None:
            sock.close()

    # ------------------------------------------------- paho's thread: queue only
    def _post(self, kind: str, item: Any = None) -> None:
        self._inbox.append((kind, item))
        self._wake.set()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._post("refused", str(reason))
        else:
            self._post("connected")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._post("unreachable")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._post("disconnected", str(reason))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        self._post("subscribed", failed)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._post("message", (msg.topic, bytes(msg.payload)))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._post("denied", (mid, str(reason)))
        else:
            self._post("acked", mid)

    # ----------------------------------------------- mixer subscriber: quick
    def _on_change(self, change: Change) -> None:
        """A change in the mixer (called under its lock): stamp and queue ours."""
        if change.source.startswith(SOURCE_PREFIX):
            return
        state = self.state
        if not state.linked(change.path):
            return
        with state.lock:
            owner = state.owner(change.path)
            if owner is not None and owner[0] != self.id:
                # Another daemon's person holds this control: the move stays here only
                # long enough for the worker to put the held value back.
                self._refused.setdefault(change.path, change)
                self.stats.refused_local += 1
            else:
                state.local(change.path, change.value, self.clock.now(), change.source)
        self._wake.set()

    # ----------------------------------------------------------- the worker
    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                self._round()
            except Exception:  # the link must outlive a bug in one message's handling
                log.exception("link worker failed")

    def _round(self) -> None:
        writes: list[Write] = []
        while self._inbox:
            kind, item = self._inbox.popleft()
            if kind == "message":
                msg = self._parse(*item)
                if isinstance(msg, Write):
                    writes.append(msg)
                elif msg is not None:
                    self._apply_writes(writes)  # keep the order of values and holds
                    writes = []
                    self._control(msg)
            else:
                self._apply_writes(writes)
                writes = []
                self._event(kind, item)
        self._apply_writes(writes)
        self._revert_refused()
        self._watch_touches()
        if self.connected and not self.synced and self._token \
                and time.monotonic() >= self._marker_due:
            self.say("link: the sync marker did not come back (may this account publish "
                     f"{self.topics.marker()}?); going on without it")
            self._synced()
        if self.synced:
            self._publish_dirty()

    def _parse(self, topic: str, payload: bytes) -> Write | Claim | Presence | Marker | None:
        self.stats.received += 1
        try:
            return self.topics.parse(topic, payload)
        except WireError as exc:
            self.stats.bad_messages += 1
            if self.stats.bad_messages in (1, 10, 100, 1000):
                self.say(f"link: ignoring a message that is not the link's: {exc}")
            return None

    def _event(self, kind: str, item: Any) -> None:
        client = self._client
        if kind == "connected" and client is not None:
            self.connected, self.synced, self.refusal = True, False, ""
            self.stats.connects += 1
            client.subscribe(self.topics.all, qos=1)
            client.publish(self.topics.presence(), encode_presence(True), qos=1, retain=True)
        elif kind == "subscribed" and client is not None:
            if item:
                self.say(f"link: the broker refused the subscription to {self.topics.all} "
                         f"({', '.join(item)}): this account may not read the mix")
            self._token = secrets.token_hex(8)
            self._heard.clear()
            self._marker_due = time.monotonic() + MARKER_WAIT_S
            client.publish(self.topics.marker(), self._token.encode(), qos=1)
        elif kind == "disconnected":
            if self.connected:
                self.stats.losses += 1
                self.say(f"link: lost the broker ({item}); the mix goes on here, and "
                         "catches up when it is back")
            elif not self.refusal.startswith("refused"):
                # Closed before the broker accepted us: with TLS, a client certificate the
                # broker does not take ends here (the handshake looked fine from this side).
                if not self.refusal:
                    self.say(f"link: {self.config.url} closed the connection before accepting "
                             f"this daemon ({item}); check link.ca/cert/key; retrying")
                self.refusal = f"closed by the broker ({item})"
            self.connected = self.synced = False
            self._token = ""
            self._inflight.clear()
            self._busy.clear()
            self.state.cut_off()
        elif kind == "unreachable":
            if not self.refusal:
                self.say(f"link: cannot reach {self.config.url} (broker down, wrong address, "
                         "or TLS refused: check link.ca/cert/key); working locally, retrying")
            self.refusal = "unreachable"
        elif kind == "refused":
            if f"refused: {item}" != self.refusal:
                self.say(f"link: {self.config.url} refused this daemon: {item} (check "
                         "link.username/password, or the client certificate); retrying")
            self.refusal = f"refused: {item}"
        elif kind == "denied":
            self._denied(*item)
        elif kind == "acked":
            sent = self._inflight.pop(item, None)
            if sent is not None and self._busy.get(sent[0]) == item:
                del self._busy[sent[0]]

    def _control(self, msg: Claim | Presence | Marker) -> None:
        state = self.state
        if isinstance(msg, Marker):
            if msg.daemon == self.id and msg.token == self._token and not self.synced:
                self._synced()
        elif isinstance(msg, Presence):
            if msg.daemon != self.id:
                state.presence(msg.daemon, msg.online)
        elif msg.daemon == self.id:
            # A hold of ours retained from before (a crash, a lost link): let it go
            # unless this daemon's person still holds that control.
            if msg.stamp is not None and msg.path not in self._mine and self.connected:
                self._publish(self.topics.claim(msg.path), b"")
        else:
            if msg.stamp is not None:
                self.clock.observe(msg.stamp)
            state.claim(msg.daemon, msg.path, msg.stamp, msg.source)

    def _synced(self) -> None:
        """Every retained write is in: offer seeds, then publish what waited."""
        self.synced = True
        with self.mixer.lock, self.state.lock:
            for path in self.mixer.paths():
                if self.state.linked(path):
                    self.state.seed(path, self.mixer.get(path))
            # A broker that lost its retained values (restarted without persistence)
            # gets them back from whoever holds them, stamps unchanged.
            self.state.dirty.update(set(self.state.held) - self._heard)
            mine = dict(self._mine)
        for path, source in mine.items():
            stamp = self.clock.now()
            self.state.claim(self.id, path, stamp, source)
            self._publish(self.topics.claim(path), encode_claim(stamp, source))
        self.say(f"link: in the mix {self.config.mix!r} on {self.config.url} "
                 f"({len(self.state.online)} daemon(s) online)")

    def _apply_writes(self, writes: list[Write]) -> None:
        """Decide every write by its stamp and apply the winners, one transaction per
        origin (a scene recalled elsewhere lands in one block here too)."""
        if not writes:
            return
        mixer, state = self.mixer, self.state
        by_origin: dict[str, dict[str, object]] = {}
        conflicts: list[Conflict] = []
        with mixer.lock, state.lock:
            for w in writes:
                if not state.linked(w.path):
                    continue
                try:
                    spec = mixer.spec(w.path)
                    if spec.is_text != isinstance(w.value, str):
                        raise ParamError(f"{w.path}: wrong kind of value {w.value!r}")
                    if not spec.is_text:
                        spec.validate(w.value)
                except ParamError as exc:
                    self.stats.unknown_paths += 1
                    if self.stats.unknown_paths in (1, 10, 100, 1000):
                        self.say(f"link: cannot take {w.stamp.origin}'s write: {exc} (do the "
                                 "sessions have the same channels and buses?)")
                    continue
                if spec.path != w.path:
                    continue  # only canonical paths travel
                self.clock.observe(w.stamp)
                self._heard.add(w.path)
                outcome = state.receive(w)
                if outcome.conflict is not None:
                    conflicts.append(outcome.conflict)
                if outcome.apply:
                    for values in by_origin.values():
                        values.pop(w.path, None)
                    by_origin.setdefault(w.stamp.origin, {})[w.path] = w.value
                    self._refused.pop(w.path, None)
            for origin, values in by_origin.items():
                if values:
                    changes = mixer.apply(values, SOURCE_PREFIX + origin, step=False)
                    self.stats.applied += len(changes)
        for c in conflicts:
            self.say(f"link: conflict: {c.describe()}")

    def _publish_dirty(self) -> None:
        state = self.state
        with state.lock:
            paths = [p for p in state.dirty if p not in self._busy]
            lost, state.lost = state.lost, []
        for write in lost:
            self._publish(self.topics.param(write.path), encode_write(write))
        for path in paths:
            out = state.to_publish(path)
            if out is None:
                continue
            write, prior = out
            info = self._publish(self.topics.param(path), encode_write(write))
            if info is not None:
                self._inflight[info.mid] = (path, write.stamp, prior)
                self._busy[path] = info.mid

    def _publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo | None:
        client = self._client
        if client is None:
            return None
        info = client.publish(topic, payload, qos=1, retain=True)
        self.stats.published += 1
        return info

    def _denied(self, mid: int, reason: str) -> None:
        """The broker would not take a write of ours: this account may only listen.
        Put the link's value back, so this daemon shows the mix everyone has."""
        self.stats.refused_by_broker += 1
        if not self._said_readonly:
            self._said_readonly = True
            self.say(f"link: the broker refused a change from this daemon ({reason}): its "
                     "account may only follow the mix; local changes are put back")
        sent = self._inflight.pop(mid, None)
        if sent is None:
            return
        path, stamp, prior = sent
        if self._busy.get(path) == mid:
            del self._busy[path]
        if stamp.origin != self.id:
            return  # a republish of another daemon's write: nothing of ours to put back
        with self.mixer.lock, self.state.lock:
            back = self.state.refused(path, stamp, prior)
            if back is not None:
                self.mixer.apply({path: back.value}, SOURCE_PREFIX + back.stamp.origin,
                                 step=False)

    def _revert_refused(self) -> None:
        """Put back local moves of controls another daemon's person holds."""
        if not self._refused:
            return
        state, mixer = self.state, self.mixer
        with mixer.lock, state.lock:
            refused, self._refused = self._refused, {}
            for path, change in refused.items():
                owner = state.owner(path)
                held = state.held.get(path)
                value = held.value if held is not None else change.old
                who = owner[0] if owner is not None else self.id
                if mixer.get(path) != value:
                    mixer.apply({path: value}, SOURCE_PREFIX + who, step=False)
                if owner is not None:
                    self.say(f"link: {path} is held by {owner[0]} ({owner[1]}); "
                             f"{change.source}'s move was put back")

    def _watch_touches(self) -> None:
        """Claim the controls this daemon's people hold; release the ones let go."""
        touched = touched_paths(self.mixer)
        state = self.state
        for path, source in touched.items():
            if path in self._mine or not state.linked(path):
                continue
            self._mine[path] = source
            stamp = self.clock.now()
            state.claim(self.id, path, stamp, source)
            if self.synced:
                self._publish(self.topics.claim(path), encode_claim(stamp, source))
        for path in [p for p in self._mine if p not in touched]:
            del self._mine[path]
            state.claim(self.id, path, None)
            if self.synced:
                self._publish(self.topics.claim(path), b"")

    # -------------------------------------------------------------- queries
    def status(self) -> tuple[str, ...]:
        """Where the link stands, as lines."""
        s = self.stats
        state = ("in the mix" if self.synced else "joining" if self.connected
                 else self.refusal if self.refusal else "cut off, working locally")
        with self.state.lock:
            online = sorted(self.state.online)
            owners = {p: self.state.owner(p) for p in sorted(self.state.claims)}
        holds = [f"{p} held by {o[0]} ({o[1]})" for p, o in owners.items() if o is not None]
        return (f"{self.id} on {self.config.url}, mix {self.config.mix}: {state}",
                f"online: {' '.join(online)}",
                f"received {s.received}, applied {s.applied}, published {s.published}, "
                f"refused here {s.refused_local}, refused by the broker {s.refused_by_broker}, "
                f"conflicts {len(self.state.conflicts)}", *holds)

    def conflicts(self, last: int | None = None) -> list[Conflict]:
        """The newest `last` conflicts (all kept when None), oldest first."""
        with self.state.lock:
            items = list(self.state.conflicts)
        return items if last is None else items[-last:] if last > 0 else []

    def handle_osc(self, event: Event) -> list[bytes]:
        """`/link/status` and `/link/conflicts [N]`: the reply packets (surfaced.link.query)."""
        from surfaced.link.query import answer

        return answer(self, event)


def touched_paths(mixer: Mixer) -> dict[str, str]:
    """Every path some local source holds now -> one of its holders.

    The mixer records touches but announces none, so the link asks for them
    (a few entries; the worker does it every POLL_S).
    """
    return {path: min(holders) for path, holders in mixer.touched().items()}
