"""YAML loading that remembers line numbers, for errors that say where.

This is PyYAML's SafeLoader with only two constructors replaced (plain
mappings and sequences become dict/list subclasses carrying the line of each
key or item), so it builds nothing a safe_load would not: no tags, no objects,
no code. Duplicate keys are refused, since YAML would silently keep the last.
"""

from __future__ import annotations

import errno
import os
import stat
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


# The largest file any loader reads: a session of 1024 channels and many
# scenes is a few MB; anything bigger is a mistake or an attack.
MAX_FILE_BYTES = 16 * 1024 * 1024

# What one document may expand to through aliases, in nodes (keys, values and
# items). Aliases share one object when loaded, but every reader walks them as
# copies, so `[*a, *a, ...]` nested nine deep is 10^9 entries to walk: a bomb.
# A document without aliases is never refused (its size is its text's).
MAX_EXPANDED_NODES = 1_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts what aliases expand to (see MAX_EXPANDED_NODES)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, once complete
        self._expanded = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise yaml.composer.ComposerError(
                    None, None, "an alias used inside its own anchor (a loop)", mark)
            self._expanded += size
            if self._expanded > MAX_EXPANDED_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand this document past {MAX_EXPANDED_NODES} "
                    "entries (an alias bomb?); write the values out instead", mark)
            return node
        node = super().compose_node(parent, index)
        if node is None:
            return None
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(item)] for item in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        self._expanded += 1
        return node


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


class FileReadError(OSError):
    """A file that is not a regular file, or too large: the message says which."""


def read_regular(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes.

    A FIFO, a device (also through a symlink, such as one to /dev/zero), a
    directory or a socket raises FileReadError without blocking: the file is
    opened non-blocking and checked with fstat before a byte is read, and
    never more than `limit` + 1 bytes are read (a file may grow meanwhile).
    Other failures raise OSError as open() does.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileReadError(errno.EINVAL, "not a regular file (a FIFO, device or "
                                              "directory); only plain files are read")
        if st.st_size > limit:
            raise FileReadError(errno.EFBIG, f"too large ({st.st_size} bytes; at most {limit})")
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise FileReadError(errno.EFBIG, f"too large (more than {limit} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """read_regular(path) decoded as UTF-8; UnicodeDecodeError or OSError as Path.read_text."""
    return read_regular(path, limit).decode("utf-8")


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file (see load_text and read_regular)."""
    p = Path(path)
    try:
        text = read_text(p)
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
