"""SysEx templates: patterns to match incoming SysEx and recipes to build outgoing ones.

A template is written as the bytes of the message, space separated::

    F0 00 00 66 14 12 ${strip * 7} {text:7} F7

- ``HH``: one byte in hex (``F0`` first and ``F7`` last are required);
- ``${expr}``: one byte computed by an integer expression (0..127);
- ``{name}`` / ``{name:N}``: N bytes (default 1). In a pattern they capture
  what arrived (``{value}`` is the control's value, ``{value:2}`` a 14-bit
  value MSB first; ``{*}`` matches any number of bytes). In a message they
  insert: ``{text:N}`` N characters of text (ASCII, padded with spaces),
  ``{value}`` / ``{value:2}`` the value, any other name the bytes a pattern
  captured under that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from surfaced.mapping.errors import ExprError
from surfaced.mapping.expr import Expr

_TOKEN: Final = re.compile(r"\$\{[^{}]*\}|\{[^{}]*\}|\S+")
_FIELD: Final = re.compile(r"^\{\s*(\*|[A-Za-z_]\w*)\s*(?::\s*(\d+)\s*)?\}$")
MAX_FIELD: Final = 512



@dataclass(frozen=True)
class Lit:
    """Literal bytes."""

    data: bytes


@dataclass(frozen=True)
class Computed:
    """One byte computed at send time (the expression uses `value` or similar)."""

    expr: Expr


@dataclass(frozen=True)
class Field:
    """N bytes captured (patterns) or inserted (messages) under a name."""

    name: str
    size: int


@dataclass(frozen=True)
class Rest:
    """``{*}``: any number of bytes (patterns only)."""


Item: TypeAlias = Lit | Computed | Field | Rest


@dataclass(frozen=True)
class SysexTemplate:
    """A parsed template; see the module docstring for the syntax."""

    text: str
    items: tuple[Item, ...]

    @classmethod
    def parse(cls, text: str, env: Mapping[str, int]) -> SysexTemplate:
        """Parse `text`, folding every expression that only uses names in `env`."""
        items: list[Item] = []
        for tok in _TOKEN.findall(text):
            if tok.startswith("${"):
                expr = Expr.parse(tok[2:-1])
                if expr.names() <= env.keys():
                    items.append(Lit(bytes((_byte(expr.eval(env), tok),))))
                else:
                    items.append(Computed(expr))
            elif tok.startswith("{"):
                m = _FIELD.match(tok)
                if m is None:
                    raise ExprError(f"bad field {tok!r}; expected {{name}} or {{name:N}}")
                name, size = m.group(1), int(m.group(2) or 1)
                if name == "*":
                    items.append(Rest())
                elif not 1 <= size <= MAX_FIELD:
                    raise ExprError(f"field {tok!r}: size must be 1..{MAX_FIELD}")
                elif name == "value" and size > 2:
                    raise ExprError("{value} is 1 byte, or {value:2} for 14 bits")
                else:
                    items.append(Field(name, size))
            else:
                try:
                    b = int(tok, 16)
                except ValueError:
                    raise ExprError(f"{tok!r} is not a hex byte (like F0 or 7F), "
                                    "${expression} or {field}") from None
                if len(tok) > 2 and not tok.lower().startswith("0x"):
                    raise ExprError(f"{tok!r}: write one byte per item, like 7F")
                items.append(Lit(bytes((_byte(b, tok, sysex_frame=True),))))
        items = _merge(items)
        first, last = (items[0], items[-1]) if items else (None, None)
        if not isinstance(first, Lit) or not first.data.startswith(b"\xf0"):
            raise ExprError("a SysEx template starts with F0")
        if not isinstance(last, Lit) or not last.data.endswith(b"\xf7"):
            raise ExprError("a SysEx template ends with F7")
        for n, item in enumerate(items):
            if not isinstance(item, Lit):
                continue
            for k, b in enumerate(item.data):
                first_byte = n == 0 and k == 0
                last_byte = n == len(items) - 1 and k == len(item.data) - 1
                if (b == 0xF0 and not first_byte) or (b == 0xF7 and not last_byte):
                    raise ExprError("F0 and F7 may only start and end the message")
        if sum(1 for i in items if isinstance(i, Rest)) > 1:
            raise ExprError("a pattern may contain {*} only once")
        return cls(text, tuple(items))

    # ------------------------------------------------------------ patterns
    def fields(self) -> dict[str, int]:
        """Named fields and their sizes."""
        return {i.name: i.size for i in self.items if isinstance(i, Field)}

    def prefix(self) -> bytes:
        """The literal bytes every message starts with (up to the first field)."""
        first = self.items[0]
        return first.data if isinstance(first, Lit) else b""

    def match(self, data: bytes) -> dict[str, bytes] | None:
        """The captured fields if `data` (a whole F0..F7 message) fits, else None."""
        caps: dict[str, bytes] = {}
        pos = 0
        items = self.items
        for n, item in enumerate(items):
            if isinstance(item, Lit):
                if data[pos:pos + len(item.data)] != item.data:
                    return None
                pos += len(item.data)
            elif isinstance(item, Field):
                if pos + item.size > len(data):
                    return None
                caps[item.name] = data[pos:pos + item.size]
                pos += item.size
            elif isinstance(item, Rest):  # the rest must leave room for the fixed tail
                tail = sum(_fixed_size(i) for i in items[n + 1:])
                if len(data) - pos < tail:
                    return None
                pos = len(data) - tail
            else:
                return None  # computed bytes cannot be matched (they are folded when they can)
        return caps if pos == len(data) else None

    # ------------------------------------------------------------ messages
    def build(self, env: Mapping[str, int], text: str = "",
              captures: Mapping[str, bytes] | None = None) -> bytes:
        """The message bytes; raises ExprError when a value cannot be encoded."""
        out = bytearray()
        for item in self.items:
            if isinstance(item, Lit):
                out += item.data
            elif isinstance(item, Computed):
                out.append(_byte(item.expr.eval(env), item.expr.text))
            elif isinstance(item, Field):
                if item.name == "text":
                    out += ascii7(text, item.size)
                elif item.name == "value":
                    v = max(0, min(env.get("value", 0), (1 << (7 * item.size)) - 1))
                    out += bytes((v >> 7, v & 0x7F)) if item.size == 2 else bytes((v & 0x7F,))
                else:
                    got = (captures or {}).get(item.name, b"")
                    out += got[:item.size].ljust(item.size, b"\x00")
            else:
                raise ExprError("{*} only matches incoming SysEx; it cannot be sent")
        return bytes(out)


def _fixed_size(item: Item) -> int:
    if isinstance(item, Lit):
        return len(item.data)
    return item.size if isinstance(item, Field) else 0


def _merge(items: list[Item]) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if isinstance(item, Lit) and out and isinstance(out[-1], Lit):
            out[-1] = Lit(out[-1].data + item.data)
        else:
            out.append(item)
    return out


def _byte(value: int, what: str, sysex_frame: bool = False) -> int:
    if sysex_frame and value in (0xF0, 0xF7):
        return value
    if not 0 <= value <= 0x7F:
        raise ExprError(f"{what} = {value}: a SysEx data byte is 0..127 (00..7F)")
    return value


def ascii7(text: str, size: int) -> bytes:
    """`text` as exactly `size` printable ASCII bytes: cut, padded with spaces, '?' for others."""
    raw = bytes(c if 0x20 <= c < 0x7F else 0x3F for c in text[:size].encode("ascii", "replace"))
    return raw.ljust(size, b" ")
