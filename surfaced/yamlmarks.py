"""YAML loading that remembers line numbers, for errors that say where.

This is PyYAML's SafeLoader with only two constructors replaced (plain
mappings and sequences become dict/list subclasses carrying the line of each
key or item), so it builds nothing a safe_load would not: no tags, no objects,
no code. Duplicate keys are refused, since YAML would silently keep the last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlError(ValueError):
    """A file that is not valid YAML, with file and line."""


class MarkedDict(dict[Any, Any]):
    """A dict that knows the 1-based line of each of its keys."""

    line: int = 0
    lines: dict[Any, int]


class MarkedList(list[Any]):
    """A list that knows the 1-based line of each of its items."""

    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    d = MarkedDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark
            )
        if key in d:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        d[key] = loader.construct_object(value_node, deep=True)
        d.lines[key] = key_node.start_mark.line + 1
    return d


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    items = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.lines = [child.start_mark.line + 1 for child in node.value]
    return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_text(text: str, name: str = "<string>") -> Any:
    """Parse YAML text safely, keeping line numbers; YamlError names `name` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise YamlError(f"{name}{line}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: {exc}") from None
    except RecursionError:
        raise YamlError(f"{name}: nested too deeply") from None


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file (see load_text)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise YamlError(f"{p}: cannot read: {exc.strerror}") from None
    return load_text(text, str(p))


def line_of(container: Any, key: Any) -> int:
    """The line of `key` in a MarkedDict/MarkedList, or of the container itself."""
    if isinstance(container, MarkedDict):
        return container.lines.get(key, container.line)
    if isinstance(container, MarkedList) and isinstance(key, int) and 0 <= key < len(container):
        return container.lines[key]
    return int(getattr(container, "line", 0))
