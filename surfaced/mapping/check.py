"""`surfaced check FILE`: what a mapping binds, in words a user can check against the device."""

from __future__ import annotations

from pathlib import Path

from surfaced.mapping.compile import load_mapping
from surfaced.mapping.model import (
    ActionTarget,
    Control,
    InputSpec,
    Mapping,
    MeterTarget,
    MidiMatch,
    OscMatch,
    OutSpec,
    ParamTarget,
)


def check_file(path: str | Path) -> str:
    """A summary of what the valid mapping at `path` binds.

    Raises MappingError (naming file:line: key and what was expected) when the
    file is missing, unreadable or wrong, so a caller cannot mistake a broken
    mapping for a checked one.
    """
    return summary(load_mapping(path))


def summary(m: Mapping) -> str:
    """A human summary of a compiled mapping (one line per stanza)."""
    lines = [f"{m.name}  ({m.path}, id {m.id})"]
    if m.description:
        lines.append(f"  {m.description.strip().splitlines()[0]}")
    if len(m.sources) > 1:
        lines.append(f"  extends: {' -> '.join(m.sources[1:])}")
    lines.append(f"  transport: {m.transport}; {_match(m)}")
    unit = f"{m.strips} strips" if m.strips else "no strips"
    if m.link:
        unit += f"; linked to {m.link!r} at strip offset {m.link_offset}"
    step = f"{m.bank_step} channels" if m.bank_step else "the linked width"
    lines.append(f"  {unit}; bank step: {step}")
    if m.pages:
        lines.append("  pages: " + "; ".join(f"{g}: {', '.join(p)}" for g, p in m.pages.items()))
    if m.modifiers:
        lines.append(f"  modifiers: {', '.join(m.modifiers)}")
    if m.handshake:
        lines.append(f"  handshake: {len(m.handshake)} message(s) on connect")
    for k in m.keepalive:
        lines.append(f"  keep-alive: {len(k.messages)} message(s) every {k.every:g} s")
    stanzas: dict[str, list[Control]] = {}
    for c in m.controls:
        stanzas.setdefault(c.stanza, []).append(c)
    inputs = sum(1 for c in m.controls for s in (c.input, c.inc, c.touch) if s)
    outputs = sum(len(c.feedback) for c in m.controls)
    lines.append(f"  controls: {len(stanzas)} stanzas, {len(m.controls)} controls, "
                 f"{inputs} inputs, {outputs} feedback outputs")
    for name, group in stanzas.items():
        lines.append("    " + _stanza(name, group))
    return "\n".join(lines)


def _match(m: Mapping) -> str:
    match = m.match
    if isinstance(match, MidiMatch):
        inp, out = MidiMatch.regex(match.input), MidiMatch.regex(match.output)
        if inp == out:
            return f"MIDI ports matching /{inp}/"
        return f"input port ~ /{inp}/, output port ~ /{out}/"
    if isinstance(match, OscMatch):
        parts = [f"{k} {v}" for k, v in (("host", match.host), ("port", match.port),
                                          ("prefix", match.prefix)) if v is not None]
        return "OSC peer " + (", ".join(parts) or "any")
    which = [f"{k} {v}" for k, v in (("serial number", match.serial_number),
                                      ("by-id", match.by_id), ("port", match.port)) if v]
    return f"serial box by {', '.join(which)} at {match.baudrate} baud"


def _span(specs: list[InputSpec | OutSpec | None]) -> str:
    got = [s for s in specs if s is not None]
    if not got:
        return ""
    first, last = got[0], got[-1]
    if len(got) == 1 or _one(first) == _one(last):
        return _one(first)
    if first.kind == last.kind and first.kind in ("note", "cc", "poly_pressure", "nrpn", "rpn",
                                                  "cc14") and first.channel == last.channel:
        return (f"{first.kind} {first.number}..{last.number} "
                f"(0x{first.number:02X}..0x{last.number:02X}) ch {first.channel}")
    if first.kind == last.kind and first.kind in ("pitchbend", "pressure", "program"):
        return f"{first.kind} ch {first.channel}..{last.channel}"
    return f"{_one(first)} .. {_one(last)}"


def _one(s: InputSpec | OutSpec) -> str:
    if s.kind == "osc":
        return f"osc {s.address}"
    if s.kind == "sysex" and s.sysex is not None:
        return f"sysex {s.sysex.text}"
    if s.kind in ("pitchbend", "pressure", "program"):
        return f"{s.kind} ch {s.channel}"
    return f"{s.kind} {s.number} (0x{s.number:02X}) ch {s.channel}"


def _stanza(name: str, group: list[Control]) -> str:
    c = group[0]
    count = f" x{len(group)}" if len(group) > 1 else ""
    if c.inc is not None:
        source = f"{_span([g.inc for g in group])} / {_span([g.dec for g in group])}"
    else:
        source = _span([g.input for g in group]) or "(output only)"
    target = c.target
    if isinstance(target, ParamTarget):
        what = target.path.text
    elif isinstance(target, MeterTarget):
        what = f"meter {target.path.text} {target.source} at {c.rate:g} Hz"
    elif isinstance(target, ActionTarget):
        what = _action(target)
    else:
        what = "?"
    notes = [c.mode]
    if c.button is not None:
        notes.append(c.button.kind)
    if c.encoder is not None:
        notes.append(c.encoder.encoding)
    if c.takeover.mode == "pickup" and c.mode == "absolute":
        notes.append("soft takeover")
    if c.touch is not None:
        notes.append(f"touch {_span([g.touch for g in group])}")
    if c.fake_touch:
        notes.append(f"fake touch {c.fake_touch:g} s")
    if c.echo and c.mode in ("absolute", "relative", "button") and c.feedback:
        notes.append("echo")
    if c.when:
        conds: dict[str, list[str]] = {}
        for g in group:
            for w in g.when:
                for label in sorted(w.pages) if w.pages else [str(w.held).lower()]:
                    if label not in conds.setdefault(w.name, []):
                        conds[w.name].append(label)
        notes.append("when " + ", ".join(f"{k}={'/'.join(v)}" for k, v in conds.items()))
    fb = ""
    if c.feedback:
        fb = "; feedback " + ", ".join(_span([g.feedback[i] for g in group])
                                       for i in range(len(c.feedback)))
    return f"{name}{count}: {source} -> {what} ({', '.join(notes)}){fb}"


def _action(t: ActionTarget) -> str:
    if t.kind == "bank":
        if t.to in ("first", "last"):
            return f"bank {t.to}"
        if t.to == "channels":
            return f"bank {t.step:+d} channel(s)"
        return "bank next" if t.step > 0 else "bank previous"
    if t.kind == "page":
        return f"page {t.group} -> {t.to}" if t.to else f"page {t.group} {t.step:+d}"
    if t.kind == "modifier":
        return f"modifier {t.to}" + (" (latch)" if t.latch else "")
    if t.kind == "send":
        return f"send {len(t.messages)} message(s)"
    if t.kind == "select":
        return {"strip": "select this strip's channel", "channel": f"select channel {t.step}"
                }.get(t.to, "select next" if t.step > 0 else "select previous")
    return t.kind
