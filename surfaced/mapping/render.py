"""Turning the mix state into the messages a surface shows: values, LEDs, rings, text, meters.

Everything here is a pure function of an `OutSpec` and a value, so the
runtime only decides *when* to send, and tests can check exact bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from surfaced.events import Event, OscArg
from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Expr
from surfaced.mapping.model import OutSpec
from surfaced.mix.params import ParamSpec

# Mackie Control V-Pot LED ring modes (CC 0x30+strip, value = mode << 4 | position 1..11,
# bit 6 = the centre LED). Source: Apple, "Logic Control - MIDI Implementation" (Logic
# Pro 7.2 Dedicated Control Surface Support, appendix B: B0 3i 0pxxvvvv); the HUI's
# rings use the same codes (protocols/hui.yaml).
RING_MODES: Final = {"dot": 0, "boost-cut": 1, "wrap": 2, "spread": 3}

TEXT_FIELDS: Final = ("value", "number", "unit", "path", "strip", "ch", "bank")
_FIELD: Final = re.compile(r"\{(\w+)(?::([<>^]?\d{0,2}(?:\.\d)?[fd]?))?\}")


def ring(mode: str, centre: bool = False) -> tuple[int, int, Expr]:
    """(lo, hi, value expression) for a Mackie-style LED ring in `mode`.

    Positions are 1..11 (0 would light nothing); spread only has 1..6
    distinct steps (it grows from the centre both ways).
    """
    base = RING_MODES[mode] << 4 | (0x40 if centre else 0)
    return 1, 6 if mode == "spread" else 11, Expr.parse(f"{base} + value")


def check_text_format(text: str) -> None:
    """Refuse unknown fields in a text template (``{value}`` etc.); raises ExprError."""
    for m in re.finditer(r"\{([^}]*)\}", text):
        full = _FIELD.fullmatch(m.group(0))
        if full is None or full.group(1) not in TEXT_FIELDS:
            raise ExprError(f"unknown text field {m.group(0)!r}; fields: "
                            + ", ".join("{" + f + "}" for f in TEXT_FIELDS)
                            + " (with an optional format like {number:.1f})")


def format_number(spec: ParamSpec | None, value: float | str) -> str:
    """A value as a short display number: ``-6.0``, ``-inf``, ``on``, ``L30``, ``1.2k``."""
    if isinstance(value, str):
        return value
    if spec is None:
        return f"{value:.1f}"
    if spec.is_bool:
        return "on" if value >= 0.5 else "off"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if spec.path.endswith("/pan"):
        pct = round(value * 100)
        return "C" if pct == 0 else f"L{-pct}" if pct < 0 else f"R{pct}"
    if spec.unit == "Hz" and value >= 1000:
        return f"{value / 1000:.1f}k"
    if spec.taper == "int":
        return str(int(value))
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def format_text(template: str, spec: ParamSpec | None, value: float | str,
                env: Mapping[str, int]) -> str:
    """Fill a text template: {value} (number and unit), {number}, {unit}, {path}, {ch}..."""
    number = format_number(spec, value)
    unit = spec.unit if spec is not None and spec.unit not in ("", "text") else ""
    if unit and number in ("on", "off", "-inf", "inf"):
        unit = "" if number != "-inf" else unit
    fields: dict[str, object] = {
        "value": number + unit if not isinstance(value, str) else value,
        "number": value if isinstance(value, str) else number,
        "unit": unit,
        "path": spec.path if spec is not None else "",
    }

    def sub(m: re.Match[str]) -> str:
        name, fmt = m.group(1), m.group(2)
        got = fields.get(name, env.get(name, ""))
        if fmt and name == "number" and not isinstance(value, str) and math.isfinite(value):
            got = value
        try:
            return format(got, fmt) if fmt else str(got)
        except (ValueError, TypeError):
            return str(got)

    return _FIELD.sub(sub, template)


def out_value(out: OutSpec, position: float | None, env: Mapping[str, int]) -> int:
    """The raw number a message carries for `position` (None: the strip is unbound)."""
    if position is None:
        return out.blank
    raw = round(out.lo + (out.hi - out.lo) * min(max(position, 0.0), 1.0))
    if out.value is not None:
        raw = out.value.eval({**env, "value": raw})
    return raw


def build(out: OutSpec, raw: int, *, position: float | None, value: float | str | None,
          text: str, env: Mapping[str, int],
          captures: Mapping[str, bytes] | None = None) -> list[Event]:
    """The events of one feedback message carrying `raw` (and `text` for SysEx/OSC).

    Raises ExprError when the number does not fit the message (e.g. 200 in a CC).
    """
    k = out.kind
    ch = out.channel
    if k == "sysex":
        assert out.sysex is not None
        return [Event("sysex", data=out.sysex.build({**env, "value": raw}, text, captures))]
    if k == "osc":
        return [Event("osc", address=out.address,
                      args=tuple(_osc_arg(a, raw, position, value, text) for a in out.args))]
    if k in ("pitchbend",):
        return [Event("pitchbend", channel=ch, value=_fit(raw, 16383, k))]
    if k == "pressure":
        return [Event("channel_pressure", channel=ch, value=_fit(raw, 127, k))]
    if k == "program":
        return [Event("program", channel=ch, value=_fit(raw, 127, k))]
    if k == "note":
        return [Event("note_on", channel=ch, number=out.number, value=_fit(raw, 127, k))]
    if k == "poly_pressure":
        return [Event("poly_pressure", channel=ch, number=out.number, value=_fit(raw, 127, k))]
    if k == "cc":
        return [Event("cc", channel=ch, number=out.number, value=_fit(raw, 127, k))]
    if k == "cc14":
        v = _fit(raw, 16383, k)
        return [Event("cc", channel=ch, number=out.number, value=v >> 7),
                Event("cc", channel=ch, number=out.lsb, value=v & 0x7F)]
    if k in ("nrpn", "rpn"):
        v = _fit(raw, 16383, k)
        sel = (99, 98) if k == "nrpn" else (101, 100)
        return [Event("cc", channel=ch, number=sel[0], value=out.number >> 7),
                Event("cc", channel=ch, number=sel[1], value=out.number & 0x7F),
                Event("cc", channel=ch, number=6, value=v >> 7),
                Event("cc", channel=ch, number=38, value=v & 0x7F)]
    raise ExprError(f"cannot send a {k} message")


def _fit(raw: int, hi: int, kind: str) -> int:
    if not 0 <= raw <= hi:
        raise ExprError(f"value {raw} does not fit a {kind} message (0..{hi})")
    return raw


def _osc_arg(arg: str | int | float, raw: int, position: float | None,
             value: float | str | None, text: str) -> OscArg:
    if arg == "position":
        return float(position if position is not None else 0.0)
    if arg == "value":
        if isinstance(value, str):
            return value
        return float(value) if value is not None and math.isfinite(value) else -144.0
    if arg == "raw":
        return raw
    if arg == "text":
        return text
    return arg


def meter_position(amplitude: float, floor: float, ceiling: float) -> float:
    """A linear meter reading as a 0..1 position between `floor` and `ceiling` dBFS."""
    if not amplitude > 0.0 or not math.isfinite(amplitude):
        return 0.0
    db = 20.0 * math.log10(amplitude)
    return min(max((db - floor) / (ceiling - floor), 0.0), 1.0)
