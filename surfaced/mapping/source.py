"""Reading a mapping file into one YAML tree: `${...}` before YAML, then `extends:`.

Two things happen before a mapping is checked and compiled:

- ``${...}`` expressions are taken out before YAML reads the file, so they
  never need quotes, not even inside a flow mapping (``{note: ${0x68 +
  strip}}``, where ``{`` and ``}`` would otherwise end the mapping): each
  ``${`` and its ``}`` become two private-use characters that YAML reads as
  ordinary text, and every string of the parsed tree gets them back. Line
  and column numbers do not change.
- ``extends: NAME`` makes a file a list of differences to another mapping
  file (a protocol file plus a short file per device). `merge` says how the
  two trees combine; each key of the result remembers the file it came from
  (`Tree.files`), so an error points into the file that holds the mistake.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from surfaced.mapping.errors import MappingError
from surfaced.yamlmarks import MarkedDict, MarkedList, YamlError, line_of, load_text, read_text

OPEN: Final = "\ue000"  # stands for "${" while YAML reads the file
CLOSE: Final = "\ue001"  # stands for its "}"
_EXPR: Final = re.compile(r"\$\{([^{}\n]*)\}")
MAX_DEPTH: Final = 8  # a device file, its protocol file and a few layers between
BY_ENTRY: Final = ("controls", "defaults", "pages", "vars")  # merged key by key
_NAME: Final = re.compile(r"^[A-Za-z0-9_][\w-]*(/[A-Za-z0-9_][\w-]*)*$")


class Tree(MarkedDict):
    """A YAML mapping whose keys may come from different files (`files[key]`).

    `extends_line` is the line of the ``extends:`` that made it (0 for parts
    below the top).
    """

    files: dict[Any, str]
    extends_line: int = 0


def file_of(data: object, key: object, default: str) -> str:
    """The file `key` of `data` was read from (`default` unless `data` is a merged Tree)."""
    if isinstance(data, Tree):
        return data.files.get(key, default)
    return default


def read(path: Path, chain: tuple[str, ...] = ()) -> tuple[MarkedDict, tuple[str, ...]]:
    """The YAML tree of the mapping at `path`, with every file it extends merged in.

    Returns the tree and the files it was read from (this one first). Raises
    MappingError for unreadable or invalid YAML, a bad ``extends:``, a cycle
    or a chain deeper than MAX_DEPTH.
    """
    file = str(path)
    data = _parse(path)
    if not isinstance(data, MarkedDict):
        raise MappingError(file, int(getattr(data, "line", 1) or 1), "",
                           "expected a mapping (name:, transport:, controls: ...), got "
                           + ("a list" if isinstance(data, list) else
                              "nothing" if data is None else f"{type(data).__name__} {data!r}"))
    if "extends" not in data:
        return data, (file,)
    line = line_of(data, "extends")
    name = data["extends"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise MappingError(file, line, "extends", "expected the name of a mapping file without "
                                                  ".yaml, like protocols/mackie-control")
    if len(chain) + 1 >= MAX_DEPTH:
        raise MappingError(file, line, "extends", f"more than {MAX_DEPTH} files extend one "
                                                  f"another: {' -> '.join((*chain, file))}")
    base_path = _resolve(path, name)
    if base_path is None:
        raise MappingError(file, line, "extends", f"no {name}.yaml next to this file or among "
                                                  "the shipped mappings")
    seen = {str(Path(p).resolve()) for p in (*chain, file)}
    if str(base_path.resolve()) in seen:
        raise MappingError(file, line, "extends", "a cycle: "
                           + " -> ".join((*chain, file, str(base_path))))
    try:
        base, sources = read(base_path, (*chain, file))
    except MappingError as exc:
        if exc.file == file:
            raise
        raise MappingError(exc.file, exc.line, exc.key,
                           f"{exc.expected} (in a file extended by {file}:{line})") from None
    merged = merge(base, sources[0], data, file)
    merged.extends_line = line
    return merged, (file, *sources)


def _parse(path: Path) -> Any:
    file = str(path)
    try:
        text = read_text(path)  # a regular file of bounded size only
    except UnicodeDecodeError as exc:
        raise MappingError(file, 0, "", f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise MappingError(file, 0, "", f"cannot read: {exc.strerror}") from None
    for bad in (OPEN, CLOSE):
        if bad in text:
            where = text.count("\n", 0, text.index(bad)) + 1
            raise MappingError(file, where, "", f"the character U+{ord(bad):04X} is not "
                                                "allowed in a mapping file")
    try:
        return _restore(load_text(_EXPR.sub(OPEN + r"\1" + CLOSE, text), file))
    except YamlError as exc:
        m = re.match(r"^(.*?):(\d+): (.*)$", str(exc), flags=re.S)
        if m is not None:
            raise MappingError(file, int(m.group(2)), "", f"not valid YAML: {m.group(3)}"
                               ) from None
        raise MappingError(file, 0, "", str(exc).removeprefix(f"{file}: ")) from None


def _restore(value: Any) -> Any:
    """`value` with each placeholder turned back into ``${`` and ``}`` (containers in place)."""
    if isinstance(value, str):
        return value.replace(OPEN, "${").replace(CLOSE, "}") if OPEN in value else value
    if isinstance(value, MarkedList):
        for n, item in enumerate(value):
            value[n] = _restore(item)
    elif isinstance(value, MarkedDict):
        items = [(_restore(k), _restore(v), value.lines[k]) for k, v in value.items()]
        value.clear()
        value.lines = {}
        for k, v, line in items:
            value[k] = v
            value.lines[k] = line
    return value


def _resolve(path: Path, name: str) -> Path | None:
    """`name`.yaml next to `path`, else among the shipped mappings."""
    from surfaced.config import SHIPPED_MAPPINGS  # the daemon's notion of "shipped"

    for folder in (path.parent, SHIPPED_MAPPINGS):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return None


def merge(base: MarkedDict, base_file: str, child: MarkedDict, child_file: str) -> Tree:
    """The mapping `child` makes of `base` (the file it extends).

    - a key of the child replaces the base's (lists such as ``handshake:`` and
      ``modifiers:``, and ``match:``, are replaced whole);
    - ``controls:``, ``defaults:``, ``pages:`` and ``vars:`` are merged entry
      by entry: an entry of the child replaces the base's entry of that name
      (in the base's place; new entries go at the end), and an entry set to
      nothing (``~`` or ``null``) removes it;
    - any top-level key set to nothing removes the base's;
    - ``extends:`` itself is not kept.
    """
    out = _tree(base, base_file)
    for key, value in child.items():
        line = child.lines[key]
        if key == "extends":
            continue
        if key in BY_ENTRY and key in out and isinstance(value, MarkedDict) \
                and isinstance(out[key], MarkedDict):
            out[key] = _entries(out[key], file_of(out, key, base_file), value, child_file,
                                str(key))
        elif value is None:
            if key not in out:
                raise MappingError(child_file, line, str(key),
                                   "set to nothing, which removes the key, but the file it "
                                   "extends has no such key")
            _drop(out, key)
            continue
        else:
            out[key] = value
        out.lines[key] = line
        out.files[key] = child_file
    return out


def _tree(data: MarkedDict, file: str) -> Tree:
    out = Tree(data)
    out.line = data.line
    out.lines = dict(data.lines)
    out.files = {k: file_of(data, k, file) for k in data}
    return out


def _entries(base: MarkedDict, base_file: str, child: MarkedDict, child_file: str,
             where: str) -> Tree:
    out = _tree(base, base_file)
    for key, value in child.items():
        line = child.lines[key]
        if value is None:
            if key not in out:
                raise MappingError(child_file, line, f"{where}.{key}",
                                   f"set to nothing, which removes it, but the file it extends "
                                   f"has no {where} entry {key!r} (it has: "
                                   f"{', '.join(str(k) for k in out) or 'none'})")
            _drop(out, key)
            continue
        out[key] = value
        out.lines[key] = line
        out.files[key] = child_file
    return out


def _drop(tree: Tree, key: object) -> None:
    del tree[key]
    tree.lines.pop(key, None)
    tree.files.pop(key, None)
