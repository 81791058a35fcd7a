"""Reading a YAML tree with errors that name file, line and key.

`Node` wraps one mapping (a `MarkedDict` from surfaced.yamlmarks) with the
file name and the dotted key path that led to it. Its getters check the type
and range of one key and raise `MappingError` pointing at that key's line,
with what was expected; unknown keys are refused with a "did you mean".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from surfaced.mapping.errors import ExprError, MappingError
from surfaced.mapping.expr import eval_int
from surfaced.mapping.source import file_of
from surfaced.yamlmarks import MarkedDict, MarkedList, line_of

MISSING: Any = object()


class Node:
    """One YAML mapping plus where it is (file and key path), for precise errors."""

    def __init__(self, data: Any, file: str, path: str, line: int = 0) -> None:
        self.data: Mapping[Any, Any] = data if isinstance(data, dict) else {}
        self.file = file
        self.path = path
        self.line = line or int(getattr(data, "line", 0))

    # ------------------------------------------------------------ errors
    def key_path(self, key: object) -> str:
        """The dotted path of `key` under this node."""
        if key == "":
            return self.path
        return f"{self.path}.{key}" if self.path else str(key)

    def file_of(self, key: object) -> str:
        """The file `key` was read from (a file this one extends, or this one)."""
        return file_of(self.data, key, self.file) if key in self.data else self.file

    def line_of(self, key: object) -> int:
        """The line of `key` (or of the node when the key is absent)."""
        return line_of(self.data, key) if key in self.data else self.line

    def error(self, key: object, expected: str) -> MappingError:
        """A MappingError at `key` of this node."""
        return MappingError(self.file_of(key), self.line_of(key), self.key_path(key), expected)

    def expr_error(self, key: object, exc: ExprError) -> MappingError:
        """Wrap an expression error raised while reading `key`."""
        return self.error(key, str(exc))

    # ------------------------------------------------------------- shape
    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[Any]:
        """The keys present, in file order."""
        return iter(list(self.data))

    def check_keys(self, allowed: Iterable[str], what: str) -> None:
        """Refuse any key not in `allowed`, suggesting the closest one."""
        allowed = list(allowed)
        for key in self.data:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.error(key, f"unknown key in {what}; {hint}"
                                      f"expected one of: {', '.join(allowed)}")

    def raw(self, key: str, default: Any = MISSING) -> Any:
        """The raw value, or `default`; a required key that is absent is an error."""
        if key in self.data:
            return self.data[key]
        if default is MISSING:
            raise MappingError(self.file, self.line, self.key_path(key),
                               f"missing; this key is required here{self._in()}")
        return default

    def _in(self) -> str:
        return f" (in {self.path})" if self.path else ""

    def child(self, key: str, *, required: bool = False) -> Node | None:
        """The mapping under `key` as a Node (None when absent and not required)."""
        value = self.raw(key, MISSING if required else None)
        if value is None:
            if required:
                raise self.error(key, "expected a mapping (key: value lines), got nothing")
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping (key: value lines), got {_kind(value)}")
        return Node(value, self.file_of(key), self.key_path(key), line_of(self.data, key))

    def items_list(self, key: str) -> list[tuple[Any, int]]:
        """A list value with each item's line; a single item counts as a list of one."""
        value = self.raw(key, None)
        if value is None:
            return []
        if isinstance(value, MarkedList):
            return list(zip(value, value.lines, strict=True))
        if isinstance(value, list):
            return [(v, self.line_of(key)) for v in value]
        return [(value, self.line_of(key))]

    # ----------------------------------------------------------- scalars
    def str_(self, key: str, default: Any = MISSING, *, nonempty: bool = True) -> Any:
        """A text value."""
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if not isinstance(value, str) or (nonempty and not value.strip()):
            raise self.error(key, f"expected text, got {_kind(value)}")
        return value

    def bool_(self, key: str, default: Any = MISSING) -> Any:
        """A true/false value."""
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def float_(self, key: str, default: Any = MISSING, *, lo: float = -math.inf,
               hi: float = math.inf, what: str = "a number") -> Any:
        """A finite number within lo..hi."""
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        return self.check_float(key, value, lo, hi, what)

    def check_float(self, key: object, value: Any, lo: float, hi: float, what: str) -> float:
        """Check one number read under `key`."""
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.error(key, f"expected {what}, got {_kind(value)}")
        if not lo <= value <= hi:
            span = "" if f"{lo:g}..{hi:g}" in what else f" in {lo:g}..{hi:g}"
            raise self.error(key, f"expected {what}{span}, got {value:g}")
        return float(value)

    def int_(self, key: str, env: Mapping[str, int], default: Any = MISSING, *,
             lo: int = -(2**31), hi: int = 2**31, what: str = "an integer") -> Any:
        """An integer, possibly written as ``${expression}``, within lo..hi."""
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        return self.check_int(key, value, env, lo, hi, what)

    def check_int(self, key: object, value: Any, env: Mapping[str, int], lo: int, hi: int,
                  what: str) -> int:
        """Evaluate and range-check one integer read under `key`."""
        try:
            n = eval_int(value, env)
        except ExprError as exc:
            raise self.error(key, f"expected {what}: {exc}") from None
        if not lo <= n <= hi:
            span = "" if f"{lo}..{hi}" in what else f" in {lo}..{hi}"
            raise self.error(key, f"expected {what}{span}, got {n}")
        return n

    def choice(self, key: str, choices: Iterable[str], default: Any = MISSING) -> Any:
        """One of a fixed set of words."""
        choices = list(choices)
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}{hint}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, MarkedDict | dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"


def kind_of(value: Any) -> str:
    """How a YAML value reads in an error message ("a list", "text 'x'", ...)."""
    return _kind(value)
