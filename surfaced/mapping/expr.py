"""Safe integer expressions: the `${i + 104}` inside mapping files.

A mapping never runs code. Expressions are parsed here by a small recursive
descent parser into a tree of tuples and evaluated by walking it. The whole
language is: integer literals (``104``, ``0x68``), variable names, ``+ - *
// %``, unary minus and parentheses. Everything is an int; results are
bounded to +-2**31 so no expression can build a huge number, and the parse
depth and text length are capped so no expression can exhaust the stack.

`Template` is a string with ``${...}`` parts, used for parameter paths
(``ch/${ch}/fader``), OSC addresses and numeric fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from surfaced.mapping.errors import ExprError

MAX_TEXT: Final = 256
MAX_DEPTH: Final = 32
LIMIT: Final = 2**31

# A node: ("n", value) | ("v", name) | ("neg", node) | (op, left, right)
Node: TypeAlias = tuple[object, ...]

_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_]\w*)|(//|[-+*%()])|(\S))")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace can fail to match
            break
        bad = m.group(4)
        if bad is not None:
            hint = " (use // for integer division)" if bad == "/" else ""
            raise ExprError(f"unexpected {bad!r} in expression {text!r}{hint}; "
                            "allowed: integers, names, + - * // % and parentheses")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_TEXT:
            raise ExprError(f"expression longer than {MAX_TEXT} characters")
        self.text = text
        self.toks = _tokens(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExprError(f"expression {self.text!r} ends too early")
        self.pos += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise ExprError("empty expression")
        node = self.expr()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()!r} in expression {self.text!r}")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = (op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "//", "%"):
            op = self.take()
            node = (op, node, self.unary())
        return node

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH}")
        try:
            tok = self.take()
            if tok == "-":
                return ("neg", self.unary())
            if tok == "+":
                return self.unary()
            if tok == "(":
                node = self.expr()
                if self.peek() != ")":
                    raise ExprError(f"missing ')' in expression {self.text!r}")
                self.take()
                return node
            if tok[0].isdigit():
                try:
                    value = int(tok, 0)
                except ValueError:  # "01": int() refuses leading zeros (octal or decimal?)
                    raise ExprError(f"number {tok!r} in expression {self.text!r} has a "
                                    "leading zero; write it without (or 0x.. for hex)"
                                    ) from None
                return ("n", _bounded(value))
            if tok[0].isalpha() or tok[0] == "_":
                return ("v", tok)
            raise ExprError(f"unexpected {tok!r} in expression {self.text!r}")
        finally:
            self.depth -= 1


def _bounded(value: int) -> int:
    if not -LIMIT <= value <= LIMIT:
        raise ExprError(f"value {value} is out of range (expressions stay within +-2**31)")
    return value


def _eval(node: Node, env: Mapping[str, int]) -> int:
    tag = node[0]
    if tag == "n":
        return node[1]  # type: ignore[return-value]
    if tag == "v":
        name = node[1]
        try:
            return env[name]  # type: ignore[index]
        except KeyError:
            known = ", ".join(sorted(env)) or "none"
            raise ExprError(f"unknown name {name!r}; names here: {known}") from None
    if tag == "neg":
        return _bounded(-_eval(node[1], env))  # type: ignore[arg-type]
    a = _eval(node[1], env)  # type: ignore[arg-type]
    b = _eval(node[2], env)  # type: ignore[arg-type]
    if tag == "+":
        return _bounded(a + b)
    if tag == "-":
        return _bounded(a - b)
    if tag == "*":
        return _bounded(a * b)
    if b == 0:
        raise ExprError("division by zero")
    return _bounded(a // b if tag == "//" else a % b)


def _names(node: Node, out: set[str]) -> None:
    if node[0] == "v":
        out.add(node[1])  # type: ignore[arg-type]
    elif node[0] != "n":
        for child in node[1:]:
            _names(child, out)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Expr:
    """One parsed integer expression."""

    text: str
    tree: Node

    @classmethod
    def parse(cls, text: str) -> Expr:
        """Parse `text` (without the ``${ }``); raises ExprError."""
        return cls(text, _Parser(text).parse())

    def names(self) -> frozenset[str]:
        """The variable names the expression uses."""
        out: set[str] = set()
        _names(self.tree, out)
        return frozenset(out)

    def eval(self, env: Mapping[str, int]) -> int:
        """The value with these variables; raises ExprError."""
        return _eval(self.tree, env)


_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")


@dataclass(frozen=True)
class Template:
    """A string with ``${expr}`` parts: ``ch/${ch}/fader``, ``/1/fader${strip + 1}``."""

    text: str
    parts: tuple[str | Expr, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Split `text` into literal and expression parts; raises ExprError."""
        parts: list[str | Expr] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            if m.start() > pos:
                parts.append(text[pos:m.start()])
            parts.append(Expr.parse(m.group(1)))
            pos = m.end()
        rest = text[pos:]
        if "${" in rest:
            raise ExprError(f"unclosed '${{' in {text!r}")
        if rest:
            parts.append(rest)
        return cls(text, tuple(parts))

    def names(self) -> frozenset[str]:
        """Every variable any part uses."""
        out: set[str] = set()
        for part in self.parts:
            if isinstance(part, Expr):
                out |= part.names()
        return frozenset(out)

    @property
    def is_single_expr(self) -> bool:
        """True when the whole text is one ``${...}`` (so it can stand for an int)."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Expr)

    def render(self, env: Mapping[str, int]) -> str:
        """The text with every expression replaced by its decimal value."""
        return "".join(p if isinstance(p, str) else str(p.eval(env)) for p in self.parts)

    def partial(self, env: Mapping[str, int]) -> Template:
        """Fold the expressions that only use names in `env` into literal text."""
        parts: list[str | Expr] = []
        for p in self.parts:
            if isinstance(p, Expr) and p.names() <= env.keys():
                p = str(p.eval(env))
            if isinstance(p, str) and parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1] + p
            else:
                parts.append(p)
        return Template(self.text, tuple(parts))


def eval_int(value: object, env: Mapping[str, int]) -> int:
    """A YAML value that must be an integer: an int, or text like ``${0x68 + strip}``.

    Raises ExprError saying what was wrong.
    """
    if isinstance(value, bool):
        raise ExprError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        tpl = Template.parse(text)
        if tpl.is_single_expr:
            return tpl.parts[0].eval(env)  # type: ignore[union-attr]
        try:
            return int(text, 0)
        except ValueError:
            pass
        if not tpl.names():
            raise ExprError(f"expected an integer or ${{expression}}, got {value!r}")
        raise ExprError(f"expected one ${{expression}} with nothing around it, got {value!r}")
    raise ExprError(f"expected an integer, got {type(value).__name__}")


_RANGE = re.compile(r"^\s*(.+?)\s*\.\.\s*(.+?)\s*$")


def eval_range(value: object, env: Mapping[str, int]) -> range:
    """An inclusive index range: ``0..7``, ``1..${strips}``, ``[0, 7]`` or one integer."""
    if isinstance(value, list) and len(value) == 2:
        lo, hi = eval_int(value[0], env), eval_int(value[1], env)
    elif isinstance(value, str) and (m := _RANGE.match(value)):
        lo, hi = eval_int(m.group(1), env), eval_int(m.group(2), env)
    elif isinstance(value, int | str) and not isinstance(value, bool):
        lo = hi = eval_int(value, env)
    else:
        raise ExprError(f"expected a range like 0..7 or [0, 7], got {value!r}")
    if hi < lo:
        raise ExprError(f"range {lo}..{hi} is empty (the end is below the start)")
    if hi - lo >= 1024:
        raise ExprError(f"range {lo}..{hi} has more than 1024 items")
    return range(lo, hi + 1)
