"""Compiling one `controls:` stanza into one `Control` per index (strip).

A stanza names its input (one message kind), its target (``param:``,
``action:`` or ``meter:``) and how values behave; ``each:`` expands it over
index ranges, ``when:`` makes it depend on pages and modifiers.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Final

from surfaced.mapping.behaviour import read_button, read_encoder, read_scale, read_takeover
from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Template, eval_range
from surfaced.mapping.messages import OUTPUT_EXTRA, OUTPUT_ONLY, find_kind, parse_input
from surfaced.mapping.messages import parse_output as _parse_output
from surfaced.mapping.model import (
    INPUT_KINDS,
    ActionTarget,
    Condition,
    Control,
    InputSpec,
    MeterTarget,
    OutSpec,
    ParamTarget,
    Target,
)
from surfaced.mapping.schema import Node, kind_of
from surfaced.mix.commands import KNOWN
from surfaced.mix.params import ParamError, ParamSpec, spec_for

CONTROL_KEYS: Final = (
    "each", "when", *INPUT_KINDS, "channel", "value", "press_bit", "args", "arg",
    "input_range", "inc",
    "dec", "param", "action", "meter", "button", "values", "hold_time", "encoder", "taper",
    "invert", "range", "curve", "takeover", "touch", "fake_touch", "echo", "feedback", "rate",
    "source", "floor", "ceiling",
)
RESERVED: Final = frozenset(("bank", "ch", "sel", "value", "strips", "offset"))
MAX_COPIES: Final = 4096  # copies one `each:` may make (as many as a file may have controls)
_BIG: Final = 1 << 20  # mix size for checking paths before the real mix is known
_METER: Final = re.compile(r"^(ch/[1-9]\d*|bus/[1-9]\d*|master/[12])$")


@dataclass(frozen=True)
class ControlContext:
    """What a stanza needs from the rest of the file."""

    file: str
    env: dict[str, int]  # strips, offset and the file's vars
    strips: int
    offset: int
    transport: str
    pages: dict[str, tuple[str, ...]]
    modifiers: tuple[str, ...]
    defaults: Node


def compile_stanza(node: Node, name: str, ctx: ControlContext, start: int) -> list[Control]:
    """Every Control a stanza expands to, numbered from `start`."""
    for key in node:
        if key in OUTPUT_ONLY:
            raise node.error(key, f"{key}: describes a feedback message; put it under feedback:")
    node.check_keys(CONTROL_KEYS, f"control {name!r}")
    out = []
    try:
        for n, (label, env) in enumerate(expand(node, ctx.env)):
            out.append(_compile(node, name + label, name, env, ctx, start + n,
                                _when(node, ctx, env)))
    except ExprError as exc:  # each key wraps its own; this is only a net
        raise node.expr_error("", exc) from None
    return out


def expand(node: Node, base: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
    """The variables of each copy ``each:`` makes from `base` (one copy when absent)."""
    each = node.child("each")
    if each is None:
        return [("", base)]
    ranges: list[tuple[str, range]] = []
    for var in each:
        if not isinstance(var, str) or not re.match(r"^[A-Za-z_]\w*$", var) or var in RESERVED:
            raise each.error(var, f"expected a variable name (not {', '.join(sorted(RESERVED))})")
        try:
            ranges.append((var, eval_range(each.raw(var), base)))
        except ExprError as exc:
            raise each.expr_error(var, exc) from None
    copies = math.prod(len(r) for _, r in ranges)
    if copies > MAX_COPIES:
        raise each.error("", f"expands to {copies} copies; at most {MAX_COPIES}")
    out = []
    for values in itertools.product(*(r for _, r in ranges)):
        env = {**base, **{v: x for (v, _), x in zip(ranges, values, strict=True)}}
        out.append(("[" + ",".join(str(x) for x in values) + "]", env))
    return out


def render_name(node: Node, key: str, value: object, env: dict[str, int]) -> object:
    """A page name that may use ${...} (``send${b}``); other values pass through."""
    if isinstance(value, str) and "${" in value:
        try:
            return Template.parse(value).render(env)
        except ExprError as exc:
            raise node.expr_error(key, exc) from None
    return value


def _when(node: Node, ctx: ControlContext, env: dict[str, int]) -> tuple[Condition, ...]:
    when = node.child("when")
    if when is None:
        return ()
    out = []
    for key in when:
        value = when.raw(key)
        if key in ctx.pages:
            names = value if isinstance(value, list) else [value]
            names = [render_name(when, key, v, env) for v in names]
            for page in names:
                if page not in ctx.pages[key]:
                    raise when.error(key, f"expected a page of {key!r} "
                                          f"({', '.join(ctx.pages[key])}), got {page!r}")
            out.append(Condition(key, pages=frozenset(names)))
        elif key in ctx.modifiers:
            out.append(Condition(key, held=when.bool_(key)))
        else:
            known = [*ctx.pages, *ctx.modifiers]
            raise when.error(key, "expected a page group or modifier declared at the top "
                                  f"(pages:, modifiers:); known: {', '.join(known) or 'none'}")
    return tuple(out)


def _compile(node: Node, name: str, stanza: str, env: dict[str, int], ctx: ControlContext,
             index: int, when: tuple[Condition, ...]) -> Control:
    strip = env.get("strip")
    if strip is not None and not 0 <= strip < ctx.strips:
        where = "each" if "each" in node else ""
        raise node.error(where, f"strip {strip} does not exist: this unit has strips 0.."
                                f"{ctx.strips - 1} (set strips: at the top)")
    channel = ctx.defaults.int_("channel", {}, 0, lo=0, hi=15, what="a MIDI channel")
    kind = find_kind(node, INPUT_KINDS, f"control {stanza!r}", required=False)
    if kind is not None:
        check_transport(node, kind, ctx.transport)
    inp = parse_input(node, env, kind, channel) if kind else None
    inc = _sub_input(node, "inc", env, channel, ctx.transport)
    dec = _sub_input(node, "dec", env, channel, ctx.transport)
    if (inc is None) != (dec is None):
        raise node.error("inc" if inc is None else "dec", "inc: and dec: come together")
    touch = _sub_input(node, "touch", env, channel, ctx.transport)
    targets = [k for k in ("param", "action", "meter") if k in node]
    if len(targets) != 1:
        raise node.error(targets[1] if targets else "",
                         "a control has exactly one of param:, action: or meter:")
    runtime = set(env) | {"bank", "sel"} | ({"ch"} if strip is not None else set())
    target, spec = _target(node, targets[0], env, runtime, ctx)
    mode = _mode(node, targets[0], inp, inc, spec)
    if mode == "output" and touch is not None:
        raise node.error("touch", "touch: needs an input on the same control")
    scale = read_scale(node, spec)
    button = read_button(node, mode, spec)
    encoder = read_encoder(node, mode, inc is not None, ctx.modifiers)
    takeover = read_takeover(node, mode, ctx.defaults)
    feedback = _feedback(node, env, inp, mode, target, channel, ctx.transport)
    d = ctx.defaults
    rate_default = 10.0 if mode == "meter" else d.float_("rate", 0.0, lo=0.0, hi=1000.0)
    return Control(
        name=name, stanza=stanza, line=node.line, index=index, env=env, strip=strip,
        input=inp, inc=inc, dec=dec, touch=touch, target=target, when=when, mode=mode,
        scale=scale, button=button, encoder=encoder, takeover=takeover,
        fake_touch=node.float_("fake_touch", d.float_("fake_touch", 0.0, lo=0.0, hi=10.0),
                               lo=0.0, hi=10.0, what="seconds"),
        # A button press or an encoder tick is not the new value, so the device
        # needs it sent back; an absolute control already shows where it is
        # (`defaults: {echo: true}` is for surfaces of motor faders).
        echo=node.bool_("echo", d.bool_("echo", False) if mode == "absolute" else True),
        feedback=feedback,
        rate=node.float_("rate", rate_default, lo=0.0, hi=1000.0, what="times per second"),
    )


def check_transport(node: Node, kind: str, transport: str) -> None:
    """Refuse a message kind the transport cannot carry (MIDI surfaces speak MIDI, others OSC)."""
    if (transport == "midi") != (kind != "osc"):
        want = "MIDI messages (note:, cc:, ...)" if transport == "midi" else "osc: messages"
        raise node.error(kind, f"a {transport} surface sends and receives {want}")


def _sub_input(node: Node, key: str, env: dict[str, int], channel: int,
               transport: str) -> InputSpec | None:
    sub = node.child(key)
    if sub is None:
        return None
    kind = find_kind(sub, INPUT_KINDS, key, required=True)
    assert kind is not None
    check_transport(sub, kind, transport)
    sub.check_keys((kind, "channel", "value", "press_bit", "args", "arg"), f"{key}")
    return parse_input(sub, env, kind, channel)


def _path(node: Node, key: str, env: dict[str, int], runtime: set[str]) -> Template:
    raw = node.raw(key)
    if not isinstance(raw, str):
        raise node.error(key, f"expected a path like ch/${{ch}}/fader, got {kind_of(raw)}")
    try:
        tpl = Template.parse(raw.strip())
    except ExprError as exc:
        raise node.expr_error(key, exc) from None
    unknown = tpl.names() - runtime
    if unknown:
        hint = " (ch exists in controls with a strip: each: {strip: 0..7})" \
            if "ch" in unknown else ""
        raise node.error(key, f"unknown name {sorted(unknown)[0]!r} in {raw!r}; names here: "
                              f"{', '.join(sorted(runtime))}{hint}")
    try:
        return tpl.partial(env)
    except ExprError as exc:
        raise node.expr_error(key, exc) from None


def _target(node: Node, which: str, env: dict[str, int], runtime: set[str],
            ctx: ControlContext) -> tuple[Target, ParamSpec | None]:
    test = {**env, "bank": 0, "sel": 1, "ch": env.get("strip", 0) + ctx.offset + 1}
    if which == "action":
        return _action(node, env, ctx), None
    tpl = _path(node, which, env, runtime)
    try:
        path = tpl.render(test)
    except ExprError as exc:
        raise node.expr_error(which, exc) from None
    if which == "meter":
        if not _METER.match(path):
            raise node.error("meter", f"expected ch/N, bus/N, master/1 or master/2, got {path!r}")
        target = MeterTarget(
            tpl, source=node.choice("source", ("peak", "rms"), "peak"),
            floor=node.float_("floor", -60.0, lo=-200.0, hi=0.0, what="dBFS"),
            ceiling=node.float_("ceiling", 0.0, lo=-100.0, hi=24.0, what="dBFS"),
        )
        if target.ceiling <= target.floor:
            raise node.error("ceiling", "the ceiling must be above the floor")
        return target, None
    try:
        spec = spec_for(path, _BIG, _BIG)
    except ParamError as exc:
        raise node.error("param", str(exc)) from None
    return ParamTarget(tpl), spec


def _action(node: Node, env: dict[str, int], ctx: ControlContext) -> ActionTarget:
    a = node.child("action")
    if a is None:
        raise node.error("action", "expected a mapping like {bank: next} or {page: vpot, to: pan}")
    a.check_keys(("bank", "page", "to", "step", "modifier", "latch", "resync", "send",
                  "command", "args", "select"), "action")
    kinds = [k for k in ("bank", "page", "modifier", "resync", "send", "command", "select")
             if k in a]
    if len(kinds) != 1:
        raise a.error(kinds[1] if kinds else "", "an action is one of bank:, page:, modifier:, "
                                                 "resync:, send:, command: or select:")
    kind = kinds[0]
    if kind == "command":
        return _command(a)
    if kind == "select":
        return _select(a, env)
    if kind == "bank":
        raw = a.raw("bank")
        if raw in ("next", "previous"):
            return ActionTarget("bank", step=1 if raw == "next" else -1)
        if raw in ("first", "last"):
            return ActionTarget("bank", to=str(raw))
        n = a.check_int("bank", raw, env, -4096, 4096, "next, previous, first, last or "
                                                        "a number of channels like +1")
        return ActionTarget("bank", step=n, to="channels")
    if kind == "page":
        group = a.raw("page")
        if group not in ctx.pages:
            raise a.error("page", f"expected a page group declared under pages: "
                                  f"({', '.join(ctx.pages) or 'none declared'}), got {group!r}")
        if "to" in a:
            to = render_name(a, "to", a.raw("to"), env)
            if to not in ctx.pages[group]:
                raise a.error("to", f"expected a page of {group!r}: {', '.join(ctx.pages[group])}")
            return ActionTarget("page", group=group, to=str(to))
        return ActionTarget("page", group=group,
                            step=a.int_("step", env, 1, lo=-64, hi=64, what="pages to move"))
    if kind == "modifier":
        mod = a.raw("modifier")
        if mod not in ctx.modifiers:
            raise a.error("modifier", f"expected a modifier declared under modifiers: "
                                      f"({', '.join(ctx.modifiers) or 'none declared'})")
        return ActionTarget("modifier", to=str(mod), latch=a.bool_("latch", False))
    if kind == "resync":
        a.bool_("resync")
        return ActionTarget("resync")
    messages = []
    for n, (item, line) in enumerate(a.items_list("send")):
        msg = Node(item, a.file, f"{a.key_path('send')}[{n}]", line)
        k = find_kind(msg, INPUT_KINDS, "a message", required=True)
        assert k is not None
        msg.check_keys((k, "channel", "value", "args"), f"a {k} message")
        check_transport(msg, k, ctx.transport)
        messages.append(_parse_output(msg, env, k, fixed=True))
    return ActionTarget("send", messages=tuple(messages))


def _select(a: Node, env: dict[str, int]) -> ActionTarget:
    """`{select: strip}`, `{select: next}` / `previous`, or `{select: 3}`: the selected channel."""
    raw = a.raw("select")
    if raw == "strip":
        if "strip" not in env:
            raise a.error("select", "select: strip needs a strip control (each: {strip: ...})")
        return ActionTarget("select", to="strip")
    if raw in ("next", "previous"):
        return ActionTarget("select", to="step", step=1 if raw == "next" else -1)
    n = a.check_int("select", raw, env, 1, 4096, "strip, next, previous or a channel number")
    return ActionTarget("select", to="channel", step=n)


def _command(a: Node) -> ActionTarget:
    """`{command: scene/recall, args: [Verse]}`: a command of the mix document."""
    name = a.raw("command")
    if name not in KNOWN:
        raise a.error("command", f"unknown command {name!r}; known: {', '.join(KNOWN)}")
    args: list[int | float | str] = []
    for n, (item, _line) in enumerate(a.items_list("args") if "args" in a else []):
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise a.error("args", f"argument {n + 1} must be a number or text, got {item!r}")
        args.append(item)
    return ActionTarget("command", to=str(name), args=tuple(args))


def _mode(node: Node, which: str, inp: InputSpec | None, inc: InputSpec | None,
          spec: ParamSpec | None) -> str:
    if which == "meter":
        if inp is not None or inc is not None:
            raise node.error("meter", "a meter is output only; remove its input message")
        return "meter"
    if which == "action":
        if inp is None:
            raise node.error("action", "an action needs an input message (note:, cc:, ...)")
        return "action"
    if spec is not None and spec.is_text and inp is not None and inp.kind != "osc":
        raise node.error("param", f"{spec.path} is text; only OSC can set it (or leave "
                                  "out the input and use it for feedback only)")
    if "encoder" in node or inc is not None:
        if "button" in node:
            raise node.error("button", "a control is a button or an encoder, not both")
        return "relative"
    if "button" in node or (inp is not None and inp.kind == "note"):
        return "button"
    return "absolute" if inp is not None else "output"


def _feedback(node: Node, env: dict[str, int], inp: InputSpec | None, mode: str,
              target: Target, channel: int, transport: str) -> tuple[OutSpec, ...]:
    own = None
    own_range: tuple[int, int] | None = None
    if inp is not None and inp.kind != "sysex":
        own = {"kind": inp.kind, "channel": inp.channel, "number": inp.number, "lsb": inp.lsb,
               "address": inp.address}
        own_range = (int(inp.raw_lo), int(inp.raw_hi)) if inp.kind != "osc" else None
    if "feedback" not in node:
        if mode in ("meter", "output"):
            who = "a meter" if mode == "meter" else "a control with no input"
            raise node.error("", f"{who} needs feedback: (the message that shows it, "
                                 "e.g. {cc: 7})")
        if own is None:
            return ()
        if isinstance(target, ActionTarget) and target.kind not in ("page", "modifier", "select"):
            return ()
        return (_parse_output(Node({}, node.file, node.key_path("feedback"), node.line), env,
                              inp.kind, address=own, default_range=own_range),)  # type: ignore[union-attr]
    if node.raw("feedback") is False:
        return ()
    out = []
    for n, (item, line) in enumerate(node.items_list("feedback")):
        path = node.key_path("feedback") + (f"[{n}]" if isinstance(node.raw("feedback"), list)
                                            else "")
        if not isinstance(item, dict):
            raise node.error("feedback", f"expected false, a message or a list of messages, "
                                         f"got {kind_of(item)}")
        msg = Node(item, node.file, path, line)
        kind = find_kind(msg, INPUT_KINDS, "feedback", required=own is None)
        msg.check_keys(((kind,) if kind else ()) + OUTPUT_EXTRA, "feedback")
        if kind is None:
            out.append(_parse_output(msg, env, "", address=own, default_range=own_range))
        else:
            check_transport(msg, kind, transport)
            out.append(_parse_output(msg, env, kind, channel=channel))
    return tuple(out)
