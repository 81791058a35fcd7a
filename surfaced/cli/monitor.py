"""`surfaced monitor` and `surfaced learn`: what a surface actually sends.

monitor prints every decoded event from the MIDI inputs matching a pattern
(and an OSC port) as it arrives: on JACK read on a client of its own,
`surfaced-monitor`, beside the daemon's. learn waits for one control to move and
prints the mapping stanza for it, inferred from the messages it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from surfaced.events import Event
from surfaced.jackclient import JackUnavailable
from surfaced.transports.jack_midi import JackMidiError, JackMidiInputs, use_jack
from surfaced.transports.midi import (
    MidiTransport,
    MidiTransportError,
    exact_pattern,
    list_ports,
    port_matcher,
)
from surfaced.transports.osc import OscListener, OscListenerConfig


def describe(event: Event) -> str:
    """One line for an event, in the words of the mapping language."""
    k = event.kind
    if k == "osc":
        args = " ".join(repr(a) for a in event.args)
        return f"{event.source}  osc {event.address} {args}".rstrip()
    if k == "sysex":
        return f"{event.source}  sysex {event.data.hex(' ').upper()}"
    parts = [f"{event.source}  {k}"]
    if event.channel is not None:
        parts.append(f"ch {event.channel + 1}")
    if event.number is not None:
        parts.append(f"#{event.number}")
    if event.value is not None:
        parts.append(f"= {event.value}")
    return "  ".join(parts)


class MidiInputs:
    """The MIDI inputs monitor and learn listen to: `transports`, and `close()`."""

    def __init__(self, transports: list[Any], close: Callable[[], None]) -> None:
        self.transports = transports
        self.close = close


def open_midi_inputs(pattern: str, api: str | None,
                     sink: Callable[[Event], None]) -> MidiInputs:
    """Every input port matching `pattern` (surfaced's own ports excluded): on a JACK
    client of our own where the daemon would use JACK and a server runs, else rtmidi."""
    if use_jack(api):
        try:
            inputs = JackMidiInputs(pattern, sink)
        except JackUnavailable:
            if api is not None:
                raise MidiTransportError("no JACK server answers") from None
        except JackMidiError as exc:
            raise MidiTransportError(str(exc)) from None
        else:
            return MidiInputs(list(inputs.transports), inputs.close)
    match = port_matcher(pattern)
    transports = []
    for name in list_ports(api).inputs:
        if match(name) and not name.startswith("surfaced"):
            t = MidiTransport(sink, input=exact_pattern(name), api=api, source=f"midi:{name}",
                              client_name="surfaced-monitor")
            t.start()
            transports.append(t)

    def close() -> None:
        for t in transports:
            t.close()

    return MidiInputs(list(transports), close)


def monitor(pattern: str, api: str | None, osc_port: int | None, seconds: float | None,
            out: Callable[[str], None]) -> int:
    """Print events until Ctrl-C or `seconds`; returns how many were printed."""
    events: queue.Queue[Event] = queue.Queue()
    inputs = open_midi_inputs(pattern, api, events.put)
    transports = inputs.transports
    for t in transports:
        out(f"listening to MIDI {t.input_port}")
    if not transports:
        out(f"no MIDI input matches {pattern!r} (see `surfaced devices`)")

    async def run() -> int:
        listener = None
        if osc_port is not None:
            listener = OscListener(OscListenerConfig("udp", "127.0.0.1", osc_port), events.put)
            await listener.start()
            out(f"listening to OSC on udp 127.0.0.1:{listener.address[1]}")
        count = 0
        deadline = time.monotonic() + seconds if seconds else None
        try:
            while deadline is None or time.monotonic() < deadline:
                try:
                    ev = events.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.005)
                    continue
                out(describe(ev))
                count += 1
        finally:
            if listener is not None:
                await listener.close()
        return count

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    finally:
        inputs.close()


@dataclass
class Learned:
    """What a moved control turned out to be, and its mapping stanza."""

    kind: str
    yaml: str


def infer(events: list[Event], param: str, name: str = "learned") -> Learned | None:
    """The mapping stanza (under `controls:`) for the control that sent `events`."""
    if not events:
        return None
    first = events[0]
    ch = first.channel or 0
    head = f"  {name}:\n"
    tail = f"    param: {param}\n"
    if first.kind == "osc":
        return Learned("osc", f'{head}    osc: "{first.address}"\n{tail}')
    if first.kind == "pitchbend":
        return Learned("pitchbend", f"{head}    pitchbend: {ch}\n{tail}")
    if first.kind in ("note_on", "note_off"):
        return Learned("note", f"{head}    note: {first.number}\n    channel: {ch}\n{tail}"
                       "    button: toggle\n")
    if first.kind == "cc":
        numbers = {e.number for e in events if e.kind == "cc"}
        n = first.number or 0
        if n < 32 and n + 32 in numbers:  # MSB followed by its LSB: a 14-bit control
            return Learned("cc14", f"{head}    cc14: {n}\n    channel: {ch}\n{tail}")
        values = {e.value for e in events if e.kind == "cc" and e.number == n}
        # A relative encoder only ever says "a little up / a little down".
        encoding = None
        if len(events) > 2 and values and values <= {1, 2, 3, 125, 126, 127}:
            encoding = "twos-complement"
        elif len(events) > 2 and values and values <= {61, 62, 63, 65, 66, 67}:
            encoding = "offset-64"
        if encoding is not None:
            return Learned("relative", f"{head}    cc: {n}\n    channel: {ch}\n{tail}"
                           f"    encoder: {{encoding: {encoding}, step: 0.01}}\n")
        return Learned("cc", f"{head}    cc: {n}\n    channel: {ch}\n{tail}")
    return None


def learn(pattern: str, api: str | None, param: str, timeout: float,
          out: Callable[[str], None]) -> Learned | None:
    """Wait for a control to move and return its stanza (None on timeout)."""
    events: queue.Queue[Event] = queue.Queue()
    inputs = open_midi_inputs(pattern, api, events.put)
    transports = inputs.transports
    if not transports:
        inputs.close()
        out(f"no MIDI input matches {pattern!r} (see `surfaced devices`)")
        return None
    out(f"move one control on {', '.join(t.input_port or '' for t in transports)} ...")
    got: list[Event] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                got.append(events.get(timeout=0.05))
                # collect what the same gesture sends for a moment longer
                quiet_until = time.monotonic() + 0.4
                while time.monotonic() < quiet_until:
                    with contextlib.suppress(queue.Empty):
                        got.append(events.get(timeout=0.05))
                break
    finally:
        inputs.close()
    key = None if not got else (got[0].kind, got[0].channel, got[0].number, got[0].address)
    same = [e for e in got if (e.kind, e.channel, e.number, e.address) == key
            or (e.kind == "cc" and got[0].kind == "cc" and e.number == (got[0].number or 0) + 32)]
    return infer(same, param)


__all__ = ["Learned", "MidiTransportError", "describe", "infer", "learn", "monitor"]
