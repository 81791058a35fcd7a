"""The engine as surfaced's own JACK client: ports named after the mix.

Where PortAudio's JACK host API shows a client `PortAudio` with ports
`in_0..in_N`, surfaced registers, on the daemon's one client
(surfaced.mix.jack_session):

- one input port per device input the session's channels read, named after
  the channel: `Kick` for a mono channel, `Vocal L` / `Vocal R` for a stereo
  pair (`Reference L/R` for a reference track fed from inputs);
- `Master L` / `Master R`, and `Bus N L` / `Bus N R` for every aux bus.

The core runs inside the client's process callback, in C (native/jack_audio.c:
the audio hook), so no Python runs in the audio path, as with PortAudio.
Renaming a channel renames its port; JACK keeps the port's connections.

`JackAudioFollower` moves the engine between the JACK client and the
headless clock as the client comes and goes: the daemon runs on the clock
until the server appears (or while it is away) and joins it with its ports
and the session's connections (surfaced.mix.jack_connections).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from surfaced._native import ffi, lib
from surfaced.jackclient import AUDIO, IS_INPUT, IS_OUTPUT, JackClient, JackError
from surfaced.mix.audio import HeadlessClock, _Driver
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Change, Mixer
from surfaced.session.read import Session


@dataclass(frozen=True)
class PortSpec:
    """One audio port of the client and what it carries."""

    key: str  # its connection key in the session: ch/1, ch/3/L, master/R, bus/2/L, reference/L
    name: str  # short port name (without "client:")
    index: int  # input: the device input it feeds (0-based); output: the SF_OUT_* source
    strip: str  # ch/N, master, bus/N or reference
    side: str = ""  # "L", "R" or "" (mono)


def clean_name(name: str) -> str:
    """A channel name as a JACK port name: ':' separates client and port in JACK, so it
    becomes '-'; control characters go; an empty result becomes '-'."""
    text = "".join(ch for ch in name.replace(":", "-") if ch.isprintable()).strip()
    return text[:200] or "-"


def plan_ports(session: Session, names: Sequence[str], buses: int) -> tuple[
        list[PortSpec], list[PortSpec]]:
    """The input and output ports for a session whose channels are called `names`.

    One input port per device input used: a channel fed from input 1 gets a
    port named after it; a stereo channel a pair. A device input that feeds
    two channels gets one port, named after the first. Names are made unique
    (`Kick (ch 5)` for the second Kick).
    """
    used: set[str] = set()

    def unique(base: str, strip: str) -> str:
        name = base
        if name in used:
            name = f"{base} ({strip.replace('/', ' ')})"
        used.add(name)
        return name

    inputs: list[PortSpec] = []
    taken: set[int] = set()

    def add_input(strip: str, label: str, first: int, stereo: bool) -> None:
        sides = (("L", first), ("R", first + 1)) if stereo else (("", first),)
        for side, col in sides:
            if col in taken:
                continue
            taken.add(col)
            key = f"{strip}/{side}" if side else strip
            inputs.append(PortSpec(key, unique(f"{label} {side}" if side else label, key),
                                   col, strip, side))

    for i, ch in enumerate(session.channels, start=1):
        if ch.source.kind == "input":
            name = names[i - 1] if i - 1 < len(names) else ch.name
            add_input(f"ch/{i}", clean_name(name), ch.source.first_input, ch.source.stereo)
    ref = session.reference
    if ref is not None and ref.kind == "input":
        add_input("reference", "Reference", ref.first_input, ref.stereo)
    outputs = [PortSpec("master/L", unique("Master L", "master"), lib.SF_OUT_MASTER_L,
                        "master", "L"),
               PortSpec("master/R", unique("Master R", "master"), lib.SF_OUT_MASTER_R,
                        "master", "R")]
    for b in range(buses):
        for k, side in enumerate("LR"):
            outputs.append(PortSpec(f"bus/{b + 1}/{side}", unique(f"Bus {b + 1} {side}", "bus"),
                                    lib.SF_OUT_BUS + 2 * b + k, f"bus/{b + 1}", side))
    return inputs, outputs


class JackAudio(_Driver):
    """The engine on a JACK client: registers the ports and installs the audio hook.

    `attach(client)` registers every port and starts the engine in the
    client's process cycle; `detach()` removes the hook (after the cycle that
    may be running) and unregisters the ports. The timing histogram and the
    callback count carry over, as for the other drivers (CallbackTiming).
    """

    def __init__(self, engine: Engine, inputs: list[PortSpec], outputs: list[PortSpec],
                 measure: bool = False) -> None:
        super().__init__(engine, 0, len(outputs), measure)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.client: JackClient | None = None
        self._native: Any = None
        # Port arrays handed to C, kept alive while attached.
        self._keep: list[Any] = []

    @property
    def running(self) -> bool:
        """Attached to a client whose server is still there."""
        client = self.client
        return self._native is not None and client is not None and not client.closed \
            and not client.status().shutdown

    def ports(self) -> list[tuple[PortSpec, bool]]:
        """Every port with whether it is an input, by the names they have now."""
        return [(p, True) for p in self.inputs] + [(p, False) for p in self.outputs]

    def full_name(self, spec: PortSpec) -> str:
        """`client:port` of a port (the client's name as JACK gave it)."""
        client = self.client
        return f"{client.name if client is not None else ''}:{spec.name}"

    def attach(self, client: JackClient) -> None:
        """Register the ports on `client` and run the engine in its process cycle.

        The engine must have no other driver running (stop the clock first).
        Raises JackError when a port cannot be registered (nothing is left
        registered then).
        """
        if self._native is not None:
            raise JackError("the JACK audio driver is already attached")
        done: list[str] = []
        try:
            for spec in self.inputs:
                client.register_port(spec.name, AUDIO, IS_INPUT)
                done.append(spec.name)
            for spec in self.outputs:
                client.register_port(spec.name, AUDIO, IS_OUTPUT)
                done.append(spec.name)
        except JackError:
            for name in done:
                client.unregister_port(name)
            raise
        in_ports = ffi.new("void *[]", [client.port(p.name) for p in self.inputs] or [ffi.NULL])
        in_cols = ffi.new("int[]", [p.index for p in self.inputs] or [0])
        out_ports = ffi.new("void *[]", [client.port(p.name) for p in self.outputs] or [ffi.NULL])
        out_src = ffi.new("int[]", [p.index for p in self.outputs] or [0])
        native = lib.sf_jack_audio_attach(client.native, self._ctx, in_ports, in_cols,
                                          len(self.inputs), out_ports, out_src, len(self.outputs))
        if native == ffi.NULL:
            for name in done:
                client.unregister_port(name)
            raise JackError(f"cannot start the engine on JACK client {client.name!r}")
        self._keep = [in_ports, in_cols, out_ports, out_src]
        self._native = native
        self.client = client

    def detach(self) -> None:
        """Stop running in the client's cycle and unregister the ports (safe twice,
        and after the server has gone)."""
        if self._native is not None:
            lib.sf_jack_audio_detach(self._native)
            self._native = None
        client, self.client = self.client, None
        if client is not None and not client.closed:
            for spec, _ in self.ports():
                client.unregister_port(spec.name)
        self._keep = []

    def rename(self, key: str, name: str) -> tuple[str, str] | None:
        """Give the port(s) of strip `key` (ch/N) new names from channel name `name`;
        returns (old, new) of the last one renamed, or None when it has no port."""
        out = None
        taken = {p.name for p, _ in self.ports() if p.strip != key}
        for i, spec in enumerate(self.inputs):
            if spec.strip != key:
                continue
            base = clean_name(name)
            new = f"{base} {spec.side}" if spec.side else base
            if new in taken:
                new = f"{new} ({key.replace('/', ' ')})"
            if new == spec.name:
                continue
            if self.client is not None and not self.client.closed:
                self.client.rename_port(spec.name, new)
            self.inputs[i] = PortSpec(spec.key, new, spec.index, spec.strip, spec.side)
            out = (spec.name, new)
        return out

    # The daemon's driver interface (LiveStream, HeadlessClock): the JACK session
    # starts and stops this driver through attach/detach.
    def start(self) -> None:
        """Nothing to start: the client's cycle runs the engine once attached."""

    def stop(self) -> None:
        self.detach()


class JackAudioFollower:
    """Keeps the engine on the JACK client while there is one, on the headless clock
    otherwise; renames ports with their channels. Observer of a JackSession.

    `on_switch(driver, where)` is told each new driver; `say` reports one line
    (from the session's thread); `connections` (JackConnections or None) is
    restored on every join and follows graph changes.
    """

    def __init__(self, engine: Engine, mixer: Mixer, audio: JackAudio, block: int, *,
                 say: Callable[[str], None],
                 on_switch: Callable[[JackAudio | HeadlessClock, str], None],
                 connections: Any = None, call: Callable[[Callable[[JackClient], None]], None]
                 | None = None) -> None:
        self.engine = engine
        self.mixer = mixer
        self.audio = audio
        self.block = block
        self.connections = connections
        self._say = say
        self._on_switch = on_switch
        self._call = call
        self.clock: HeadlessClock | None = None
        #: clients joined; joins that took the engine off the clock; clients lost
        self.joins = 0
        self.returns = 0
        self.losses = 0
        self._unsubscribe = mixer.subscribe(self._on_change) if call is not None else None

    def start_clock(self, where: str) -> HeadlessClock:
        """Run the engine on the headless clock (no client yet, or the server went)."""
        clock = HeadlessClock(self.engine, block=self.block)
        clock.start()
        self.clock = clock
        self._on_switch(clock, where)
        return clock

    def on_client(self, client: JackClient | None) -> None:
        """The JackSession observer: join a new client, or fall back when it is lost."""
        if client is None:
            if self.audio.client is None:
                return
            self.audio.detach()  # the dead server runs no cycle: returns at once
            self.losses += 1
            self.start_clock("headless clock (JACK server gone; joining it again when it "
                             "returns)")
            return
        if self.clock is not None:
            self.clock.stop()  # joined: the core is free for the client's cycle
            self.clock = None
            self.returns += 1
        for strip in {p.strip for p in self.audio.inputs if p.strip.startswith("ch/")}:
            # renamed while there was no client: the ports take today's names
            self.audio.rename(strip, str(self.mixer.get(f"{strip}/name")))
        try:
            self.audio.attach(client)
        except JackError as exc:
            self._say(f"cannot run the mix on JACK client {client.name!r} ({exc}); staying "
                      "on the headless clock")
            self.start_clock("headless clock (the JACK client refused the mix's ports)")
            return
        self.joins += 1
        status = client.status()
        where = (f"JACK client {client.name!r} at {status.sample_rate} Hz, "
                 f"{status.buffer_size} frames")
        if status.sample_rate and status.sample_rate != self.engine.rate:
            self._say(f"JACK runs at {status.sample_rate} Hz but the session at "
                      f"{self.engine.rate} Hz: filters, meters and generators are off by the "
                      "ratio; set the session's rate to the server's")
        if self.connections is not None:
            self.connections.restore(client, self.audio)
        self._on_switch(self.audio, where)
        n_in, n_out = len(self.audio.inputs), len(self.audio.outputs)
        self._say(f"{'back on' if self.losses else 'joined'} JACK as {client.name!r}: "
                  f"{n_in} input and {n_out} output ports")

    def on_graph(self, client: JackClient) -> bool:
        """Ports or connections changed somewhere: follow them (JackConnections).
        True: look again soon even without a notification."""
        if self.connections is not None and self.audio.client is client:
            return bool(self.connections.follow(client, self.audio))
        return False

    def _on_change(self, change: Change) -> None:
        """A channel renamed: rename its port, on the session's thread."""
        if not change.path.endswith("/name") or not isinstance(change.value, str):
            return
        strip, name = change.path.rsplit("/", 1)[0], change.value
        if self._call is not None and any(p.strip == strip for p in self.audio.inputs):
            self._call(lambda _client: self._rename(strip, name))

    def _rename(self, strip: str, name: str) -> None:
        try:
            self.audio.rename(strip, name)
        except JackError as exc:
            self._say(f"could not rename the JACK port of {strip} ({exc})")

    def close(self) -> None:
        """Stop following the mixer and stop the clock if it runs."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.clock is not None:
            self.clock.stop()
            self.clock = None
