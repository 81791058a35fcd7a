"""Reading message descriptions (inputs and feedback outputs) from a mapping.

A message is named by exactly one kind key and its address::

    note: 0x10            # + channel: 0 (default)
    cc: 7
    cc14: 7               # MSB CC 7, LSB CC 39 (or [msb, lsb])
    nrpn: 1234            # NRPN number 0..16383 (rpn: likewise)
    pitchbend: 0          # the MIDI channel (a 14-bit fader per channel)
    pressure: 0           # channel pressure, the MIDI channel
    poly_pressure: 60
    program: 0            # program change, the MIDI channel
    sysex: F0 00 00 66 14 01 {serial:7} {challenge:4} F7
    osc: /1/fader1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Expr, Template
from surfaced.mapping.model import InputSpec, OutSpec
from surfaced.mapping.render import RING_MODES, check_text_format, ring
from surfaced.mapping.schema import Node, kind_of
from surfaced.mapping.sysex import SysexTemplate

CHANNEL_KINDS: Final = ("pitchbend", "pressure", "program")  # the kind key names the channel
WIDE_KINDS: Final = ("pitchbend", "cc14", "nrpn", "rpn")  # 14-bit values
INPUT_EXTRA: Final = ("channel", "value", "press_bit", "args", "arg", "input_range")
OUTPUT_EXTRA: Final = ("channel", "value", "range", "ring", "blank", "text", "empty", "args")
OUTPUT_ONLY: Final = ("ring", "blank", "text", "empty")


def find_kind(node: Node, kinds: tuple[str, ...], what: str, *, required: bool) -> str | None:
    """The single kind key present in `node`; an error if there are several (or none)."""
    found = [k for k in node if k in kinds]
    if len(found) > 1:
        raise node.error(found[1], f"{what} has both {found[0]!r} and {found[1]!r}; "
                                   "give one message kind")
    if not found:
        if required:
            raise node.error("", f"{what} needs one message kind: {', '.join(kinds)}")
        return None
    return str(found[0])


def _address(node: Node, kind: str, env: Mapping[str, int], channel: int) -> dict[str, Any]:
    """channel / number / lsb / sysex / address of a message, from its kind key."""
    raw = node.raw(kind)
    out: dict[str, Any] = {"kind": kind}
    if kind in CHANNEL_KINDS:
        if "channel" in node:
            raise node.error("channel", f"{kind}: CH already names the MIDI channel; "
                                        "remove channel:")
        out["channel"] = node.check_int(kind, raw, env, 0, 15, "a MIDI channel 0..15")
        return out
    if kind == "sysex":
        if not isinstance(raw, str):
            raise node.error(kind, f"expected a template like 'F0 .. F7', got {kind_of(raw)}")
        try:
            out["sysex"] = SysexTemplate.parse(raw, env)
        except ExprError as exc:
            raise node.expr_error(kind, exc) from None
        return out
    if kind == "osc":
        if not isinstance(raw, str) or not raw.startswith("/"):
            raise node.error(kind, f"expected an OSC address starting with '/', got "
                                   f"{kind_of(raw)}")
        try:
            out["address"] = Template.parse(raw).render(env)
        except ExprError as exc:
            raise node.expr_error(kind, exc) from None
        return out
    out["channel"] = node.int_("channel", env, channel, lo=0, hi=15,
                               what="a MIDI channel 0..15")
    if kind == "cc14":
        if isinstance(raw, list):
            if len(raw) != 2:
                raise node.error(kind, "expected [msb, lsb] controller numbers")
            out["number"] = node.check_int(kind, raw[0], env, 0, 31, "an MSB controller 0..31")
            out["lsb"] = node.check_int(kind, raw[1], env, 0, 127, "an LSB controller 0..127")
        else:
            out["number"] = node.check_int(kind, raw, env, 0, 31, "an MSB controller 0..31")
            out["lsb"] = out["number"] + 32
        return out
    hi = 16383 if kind in ("nrpn", "rpn") else 127
    out["number"] = node.check_int(kind, raw, env, 0, hi, f"a {kind} number 0..{hi}")
    return out


def parse_input(node: Node, env: Mapping[str, int], kind: str, channel: int = 0) -> InputSpec:
    """The input a control (or its touch/inc/dec part) listens to."""
    fields = _address(node, kind, env, channel)
    wide = kind in WIDE_KINDS
    lo, hi = 0.0, 16383.0 if wide else 127.0
    if kind == "osc":
        hi = 1.0
        types = node.raw("args", "")
        if isinstance(types, list):
            types = "".join(str(t) for t in types)
        if not isinstance(types, str) or any(t not in "ifdhsTFNb" for t in types):
            raise node.error("args", "expected OSC type tags like [f] or 'ff' "
                                     "(i f d h s T F N b)")
        fields["types"] = types
        fields["arg"] = node.int_("arg", env, 0, lo=0, hi=63, what="an argument index")
    elif "args" in node or "arg" in node:
        bad = "args" if "args" in node else "arg"
        raise node.error(bad, f"only OSC inputs have arguments; this is {kind}")
    if kind == "sysex" and fields["sysex"].fields().get("value") == 2:
        hi = 16383.0
    if "input_range" in node:
        r = node.raw("input_range")
        if not isinstance(r, list) or len(r) != 2:
            raise node.error("input_range", "expected [low, high] raw values")
        lo = node.check_float("input_range", r[0], -1e9, 1e9, "a number")
        hi = node.check_float("input_range", r[1], -1e9, 1e9, "a number")
        if lo == hi:
            raise node.error("input_range", "low and high must differ")
    value = None
    if "value" in node:
        value = node.int_("value", env, lo=0, hi=16383, what="a raw value to match")
    press_bit = node.int_("press_bit", env, 0, lo=1, hi=8192, what="a bit of the raw value")
    if press_bit and (value is None or press_bit & (press_bit - 1) or value & press_bit):
        raise node.error("press_bit", "expected one bit (like 0x40) outside value:, which it "
                                      "needs: value: matches the other bits")
    return InputSpec(raw_lo=lo, raw_hi=hi, value=value, press_bit=press_bit, **fields)


def parse_output(node: Node, env: Mapping[str, int], kind: str, *, channel: int = 0,
                 default_range: tuple[int, int] | None = None, fixed: bool = False,
                 address: dict[str, Any] | None = None) -> OutSpec:
    """A feedback message (or, with `fixed`, a handshake/keep-alive message).

    `address` supplies the kind and address when the node has no kind key
    (feedback to the control's own input address).
    """
    fields = dict(address) if address is not None else _address(node, kind, env, channel)
    kind = fields["kind"]
    if kind == "sysex" and fields["sysex"].fields().keys() - {"text", "value"} and not fixed:
        extra = sorted(fields["sysex"].fields().keys() - {"text", "value"})
        raise node.error(kind, f"field {{{extra[0]}}} has nothing to insert here; "
                               "feedback SysEx can use {text:N} and {value}")
    wide = kind in WIDE_KINDS
    lo, hi = default_range or (0, 16383 if wide else 127)
    value: Expr | None = None
    if "range" in node:
        r = node.raw("range")
        if not isinstance(r, list) or len(r) != 2:
            raise node.error("range", "expected [low, high] raw output values")
        lo = node.check_int("range", r[0], env, 0, 16383, "a raw value")
        hi = node.check_int("range", r[1], env, 0, 16383, "a raw value")
    if "ring" in node:
        lo, hi, value = _ring(node)
    if "value" in node:
        if "ring" in node:
            raise node.error("value", "ring: already computes the value; remove one")
        value = _value_expr(node, env, fixed)
    if fixed and value is None and kind not in ("sysex", "osc"):
        raise node.error("", f"this {kind} message needs value: (the number to send)")
    args: tuple[str | int | float, ...] = ("position",)
    if "args" in node:
        if kind != "osc":
            raise node.error("args", f"only OSC messages have args; this is {kind}")
        args = tuple(_osc_out_arg(node, item, env) for item, _ in node.items_list("args"))
    text = node.str_("text", "{value}", nonempty=False)
    empty = node.str_("empty", "", nonempty=False)
    for key, tpl in (("text", text), ("empty", empty)):
        try:
            check_text_format(tpl)
        except ExprError as exc:
            raise node.expr_error(key, exc) from None
    blank = node.int_("blank", env, 0, lo=0, hi=16383, what="a raw value")
    return OutSpec(lo=lo, hi=hi, value=value, args=args, text=text, on_empty=empty,
                   blank=blank, **fields)


def _value_expr(node: Node, env: Mapping[str, int], fixed: bool) -> Expr:
    raw = node.raw("value")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Expr.parse(str(raw))
    if not isinstance(raw, str):
        raise node.error("value", f"expected a number or ${{expression}}, got {kind_of(raw)}")
    try:
        tpl = Template.parse(raw.strip())
        if not tpl.is_single_expr:
            return Expr.parse(str(int(raw.strip(), 0)))
        expr: Expr = tpl.parts[0]  # type: ignore[assignment]
    except (ExprError, ValueError):
        raise node.error("value", f"expected a number or one ${{expression}}, got {raw!r}"
                         ) from None
    allowed = set(env) | ({"value"} if not fixed else set())
    unknown = expr.names() - allowed
    if unknown:
        raise node.error("value", f"unknown name {sorted(unknown)[0]!r} in {raw!r}; "
                                  f"names here: {', '.join(sorted(allowed))}")
    try:
        folded = expr.eval({**env, "value": 0})
    except ExprError as exc:
        raise node.expr_error("value", exc) from None
    # Names known now (vars, strip) are folded, so a handshake needs no variables at run time.
    return Expr.parse(str(folded)) if expr.names() <= env.keys() else expr


def _ring(node: Node) -> tuple[int, int, Expr]:
    spec = node.raw("ring")
    centre = False
    mode = spec
    if isinstance(spec, dict):
        sub = node.child("ring")
        assert sub is not None
        sub.check_keys(("mode", "centre"), "ring")
        mode = sub.choice("mode", RING_MODES)
        centre = sub.bool_("centre", False)
    elif spec not in RING_MODES:
        raise node.error("ring", f"expected one of {', '.join(RING_MODES)}, got {spec!r}")
    return ring(str(mode), centre)


def _osc_out_arg(node: Node, item: Any, env: Mapping[str, int]) -> str | int | float:
    if item in ("position", "value", "raw", "text"):
        return str(item)
    if isinstance(item, bool) or not isinstance(item, int | float | str):
        raise node.error("args", "expected position, value, raw, text, a number or text")
    if isinstance(item, str) and "${" in item:
        return node.check_int("args", item, env, -(2**31), 2**31, "an integer")
    return item

