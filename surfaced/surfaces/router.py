"""Decoding incoming Events into keyed control inputs.

`Router.decode` turns one Event into zero or more ``(key, payload)`` pairs,
where the key is what `InputSpec.key()` returns for the control that wants
it. Most events map one to one; two need state kept across messages:

- 14-bit CC: the MSB is held until its LSB arrives (MIDI 1.0: an MSB resets
  the LSB to 0), so a fader moving in 14 bits reports once per step, not
  twice; an MSB with no LSB within `HOLD` seconds is reported alone by
  `flush`. The MSB and LSB controllers belong to the 14-bit control;
- NRPN / RPN: CC 99/98 (101/100) select the parameter, CC 6/38 carry its
  value (MSB/LSB, the same holding rule), CC 96/97 step it by one. On a
  channel with NRPN inputs these controller numbers belong to the decoder.

Raw values are read from Event fields directly: no mido on this path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

from surfaced.events import Event, OscArg
from surfaced.mapping.model import InputSpec

HOLD: Final = 0.01  # seconds an MSB waits for its LSB


@dataclass(frozen=True)
class Step:
    """A relative step from an NRPN/RPN data increment (+1) or decrement (-1)."""

    n: int


Key: TypeAlias = tuple[object, ...]
Payload: TypeAlias = "int | Step | tuple[OscArg, ...] | bytes"

_SIMPLE: Final = {"pitchbend": "pitchbend", "channel_pressure": "pressure", "program": "program"}


class Router:
    """Per-surface input decoder; see the module docstring."""

    def __init__(self, inputs: Iterable[InputSpec]) -> None:
        self._cc14_msb: dict[tuple[int, int], int] = {}
        self._cc14_lsb: dict[tuple[int, int], int] = {}
        self._nrpn_channels: set[int] = set()
        for spec in inputs:
            if spec.kind == "cc14":
                self._cc14_msb[(spec.channel, spec.number)] = spec.lsb
                self._cc14_lsb[(spec.channel, spec.lsb)] = spec.number
            elif spec.kind in ("nrpn", "rpn"):
                self._nrpn_channels.add(spec.channel)
        self._pending: dict[tuple[int, int], tuple[int, float]] = {}  # (ch, msb cc) -> msb
        self._last_msb: dict[tuple[int, int], int] = {}
        self._param: dict[int, tuple[str, int, int]] = {}  # ch -> (kind, msb, lsb) selected
        self._data: dict[int, tuple[int, float]] = {}  # ch -> pending data MSB
        self._data_msb: dict[int, int] = {}
        self.consumed = False

    def decode(self, event: Event, now: float) -> list[tuple[Key, Payload]]:
        """The keyed inputs in one event (empty for events no mapping can use).

        `consumed` tells, after the call, whether an empty result was kept as
        part of a longer message (an MSB waiting for its LSB, an NRPN number).
        """
        self.consumed = False
        kind = event.kind
        if kind == "cc":
            return self._cc(event.channel or 0, event.number or 0, event.value or 0, now)
        if kind == "note_on" or kind == "note_off":
            value = (event.value or 0) if kind == "note_on" else 0
            return [(("note", event.channel, event.number), value)]
        simple = _SIMPLE.get(kind)
        if simple is not None:
            return [((simple, event.channel), event.value or 0)]
        if kind == "poly_pressure":
            return [(("poly_pressure", event.channel, event.number), event.value or 0)]
        if kind == "sysex":
            return [(("sysex",), event.data)]
        if kind == "osc":
            return [(("osc", event.address), event.args)]
        return []

    def _cc(self, ch: int, num: int, value: int, now: float) -> list[tuple[Key, Payload]]:
        if ch in self._nrpn_channels and num in (6, 38, 96, 97, 98, 99, 100, 101):
            self.consumed = True
            return self._nrpn(ch, num, value, now)
        if (ch, num) in self._cc14_msb:
            self.consumed = True
            stale = self._pending.pop((ch, num), None)
            self._pending[(ch, num)] = (value, now)
            if stale is not None and stale[0] != value:
                return [(("cc14", ch, num), stale[0] << 7)]
            return []
        if (ch, num) in self._cc14_lsb:
            msb_cc = self._cc14_lsb[(ch, num)]
            held = self._pending.pop((ch, msb_cc), None)
            msb = held[0] if held is not None else self._last_msb.get((ch, msb_cc), 0)
            self._last_msb[(ch, msb_cc)] = msb
            return [(("cc14", ch, msb_cc), msb << 7 | value)]
        return [(("cc", ch, num), value)]

    def _nrpn(self, ch: int, num: int, value: int, now: float) -> list[tuple[Key, Payload]]:
        kind, msb, lsb = self._param.get(ch, ("", 0x7F, 0x7F))
        if num in (99, 101):
            self._param[ch] = ("nrpn" if num == 99 else "rpn", value, lsb if kind else 0)
            self._data.pop(ch, None)
            return []
        if num in (98, 100):
            self._param[ch] = ("nrpn" if num == 98 else "rpn", msb if kind else 0, value)
            self._data.pop(ch, None)
            return []
        if not kind or (kind == "rpn" and msb == 0x7F and lsb == 0x7F):
            return []  # no parameter selected (or the RPN null parameter)
        key = (kind, ch, msb << 7 | lsb)
        if num == 6:
            stale = self._data.pop(ch, None)
            self._data[ch] = (value, now)
            return [(key, stale[0] << 7)] if stale is not None and stale[0] != value else []
        if num == 38:
            held = self._data.pop(ch, None)
            data_msb = held[0] if held is not None else self._data_msb.get(ch, 0)
            self._data_msb[ch] = data_msb
            return [(key, data_msb << 7 | value)]
        return [(key, Step(1 if num == 96 else -1))]

    def due(self) -> float:
        """When the oldest waiting MSB times out (`flush` reports it); inf: none waits."""
        waiting = [t for _msb, t in self._pending.values()] + [t for _msb, t in self._data.values()]
        return min(waiting) + HOLD if waiting else math.inf

    def flush(self, now: float) -> list[tuple[Key, Payload]]:
        """Report MSBs that waited longer than HOLD for an LSB that never came."""
        out: list[tuple[Key, Payload]] = []
        if self._pending:
            for (ch, num), (msb, t) in list(self._pending.items()):
                if now - t >= HOLD:
                    del self._pending[(ch, num)]
                    self._last_msb[(ch, num)] = msb
                    out.append((("cc14", ch, num), msb << 7))
        if self._data:
            for ch, (msb, t) in list(self._data.items()):
                if now - t >= HOLD:
                    del self._data[ch]
                    self._data_msb[ch] = msb
                    kind, pm, pl = self._param.get(ch, ("", 0, 0))
                    if kind:
                        out.append(((kind, ch, pm << 7 | pl), msb << 7))
        return out


class InputValueError(ValueError):
    """An event whose value the control cannot use (wrong OSC type, missing argument)."""


def osc_value(spec: InputSpec, args: tuple[OscArg, ...]) -> float | str:
    """The number (or text) an OSC control reads from its argument."""
    if spec.types:
        got = "".join(_tag(a) for a in args)
        if not _types_match(spec.types, got):
            raise InputValueError(f"expected OSC arguments ,{spec.types}, got ,{got}")
    if spec.arg >= len(args):
        raise InputValueError(f"expected at least {spec.arg + 1} OSC argument(s), got {len(args)}")
    arg = args[spec.arg]
    if isinstance(arg, bool):
        return 1.0 if arg else 0.0
    if isinstance(arg, int | float):
        if isinstance(arg, float) and not math.isfinite(arg):
            raise InputValueError(f"OSC argument {arg!r} is not a finite number")
        return float(arg)
    if isinstance(arg, str):
        return arg
    raise InputValueError(f"OSC argument of type {type(arg).__name__} carries no value")


def _tag(arg: OscArg) -> str:
    if isinstance(arg, bool):
        return "T" if arg else "F"
    if isinstance(arg, int):
        return "i"
    if isinstance(arg, float):
        return "f"
    if isinstance(arg, str):
        return "s"
    if isinstance(arg, bytes):
        return "b"
    return "N" if arg is None else "["


def _types_match(want: str, got: str) -> bool:
    if len(want) != len(got):
        return False
    for w, g in zip(want, got, strict=True):
        # f/d and i/h are the same number to us; T and F are both booleans.
        same = {w, g} <= {"f", "d"} or {w, g} <= {"i", "h"} or {w, g} <= {"T", "F"}
        if w != g and not same:
            return False
    return True
