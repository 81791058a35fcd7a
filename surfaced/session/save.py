"""Saving the running mix back into its session file, keeping what the user wrote.

The file's current text is loaded in ruamel.yaml's round-trip mode and its
values are updated in place, so comments, key order, quoting and the way a
leaf was written (nested ``comp: {on: 1}`` or flat ``send/1: -10``) survive.
A value the file does not mention is added only when it differs from its
default: to its channel (inside an existing nested map where there is one)
or, for bus and master paths, under ``params:``. The ``scenes:`` section is
the one part written by surfaced itself (a 64-channel scene holds some 2500
values, too many for a round-trip parser to handle quickly): it is replaced
as a whole, where it was, one value per line.

Values are exact: a number is written as the shortest text that reads back
as the same double (integers without a fraction, ``-inf`` for silence), and
text is quoted whenever the YAML 1.1 reader that loads sessions might take
it for something else (``yes``, ``1:20``, ``# x``, control characters).

Files are written atomically (`write_atomic`): a temporary file in the same
folder, flushed and fsynced, renamed over the old one, and the folder fsynced,
so a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from surfaced.mix import params
from surfaced.mix.mixer import Value
from surfaced.mix.scenes import KINDS, Safes, Scene
from surfaced.session.read import FORMAT_VERSION, Session, SessionError
from surfaced.session.routing import connections_tree

NEG_INF = float("-inf")
_SCENES_TOKEN = "surfaced-scenes-placeholder-7c1e"
# Text that reads back as itself as a plain YAML scalar in both YAML 1.1 and 1.2,
# provided the resolvers agree it is a string (checked separately).
_PLAIN = re.compile(r"[A-Za-z_(][A-Za-z0-9 _.()/+=&!?-]*[A-Za-z0-9_.()/+=&!?-]|[A-Za-z_]")
_RESOLVER = yaml.resolver.Resolver()


class SaveError(Exception):
    """A file could not be written; the message names it and the OS error."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


# ------------------------------------------------------------------ scalars
def number_text(value: float) -> str:
    """A number as YAML text that reads back as exactly the same double."""
    if value == NEG_INF:
        return "-inf"
    negative_zero = value == 0.0 and math.copysign(1.0, value) < 0
    if value.is_integer() and abs(value) < 2.0**53 and not negative_zero:
        return str(int(value))
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        # YAML 1.1 (PyYAML) reads 1e-05 as text: it wants a dot in the mantissa.
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def yaml_number(value: float) -> int | float | str:
    """A number as the object to put in a round-trip document (see number_text)."""
    text = number_text(value)
    if text == "-inf":
        return text
    return int(text) if re.fullmatch(r"-?\d+", text) else value


def _plain_ok(text: str) -> bool:
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return (_PLAIN.fullmatch(text) is not None and tag == "tag:yaml.org,2002:str"
            and text.lower() not in ("on", "off", "yes", "no", "y", "n", "null", "true", "false"))


def _needs_escape(ch: str) -> bool:
    o = ord(ch)
    return (o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
            or 0xD800 <= o <= 0xDFFF)


def string_text(text: str) -> str:
    """Text as a YAML scalar that any YAML reader reads back as exactly `text`."""
    if _plain_ok(text):
        return text
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _needs_escape(ch):
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def value_text(value: Value) -> str:
    """A parameter value (number or name) as YAML text."""
    return string_text(value) if isinstance(value, str) else number_text(value)


def _yaml_string(text: str) -> str:
    """Text for a round-trip document: plain when safe, else double-quoted."""
    if _plain_ok(text):
        return text
    quoted: str = DoubleQuotedScalarString(text)
    return quoted


def _same(a: object, b: Value) -> bool:
    """Bit-for-bit equality of two values (so -0.0 is not 0.0)."""
    if isinstance(b, str) or isinstance(a, str):
        return a == b
    return isinstance(a, float) and a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


class _Representer(RoundTripRepresenter):
    """Floats the YAML 1.1 reader reads back exactly (1.0e-05, not 1e-05)."""

    def represent_plain_float(self, data: float) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:float", number_text(data))


_Representer.add_representer(float, _Representer.represent_plain_float)


def _round_trip() -> YAML:
    y = YAML()  # round-trip mode
    y.Representer = _Representer
    y.preserve_quotes = True
    y.width = 4096  # never re-fold a user's lines
    y.allow_unicode = True
    return y


# ------------------------------------------------------------------ locating leaves
def _key_text(key: Any) -> str:
    return "on" if key is True else str(key)


def _walk(prefix: str, key: Any, value: Any, parent: Any, out: dict[str, list[tuple[Any, Any]]],
          channels: int, buses: int) -> None:
    path = f"{prefix}/{_key_text(key)}"
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(path, k, v, value, out, channels, buses)
        return
    try:
        canonical = params.spec_for(path, channels, buses).path
    except params.ParamError:
        return  # cannot happen in a file that loaded; nothing to update
    out.setdefault(canonical, []).append((parent, key))


def _place_new(ch: CommentedMap, leaf: str, value: object) -> None:
    """Add a leaf to a channel, inside the deepest existing nested map on its way."""
    parts = leaf.split("/")
    target: Any = ch
    i = 0
    while i < len(parts) - 1:
        child = next((v for k, v in target.items()
                      if _key_text(k) == parts[i] and isinstance(v, dict)), None)
        if child is None:
            break
        target, i = child, i + 1
    target["/".join(parts[i:])] = value


def _update_values(doc: CommentedMap, channels: int, buses: int,
                   values: Mapping[str, Value]) -> None:
    chans = doc["channels"]
    where: dict[str, list[tuple[Any, Any]]] = {}
    for i, ch in enumerate(chans, start=1):
        for k, v in ch.items():
            if _key_text(k) not in ("name", "source"):
                _walk(f"ch/{i}", k, v, ch, where, channels, buses)
    raw_params = doc.get("params")
    if isinstance(raw_params, dict):
        for k in raw_params:
            try:
                where.setdefault(params.spec_for(str(k), channels, buses).path, []).append(
                    (raw_params, k))
            except params.ParamError:
                continue
    for path, value in values.items():
        spec = params.spec_for(path, channels, buses)
        if spec.is_text:
            ch = chans[spec.index]
            if not isinstance(value, str) or ("name" in ch and str(ch["name"]) == value):
                continue
            if "name" in ch:
                ch["name"] = _yaml_string(value)
            else:
                ch.insert(0, "name", _yaml_string(value))
            continue
        assert isinstance(value, float)
        spots = where.get(spec.path)
        if spots:
            for container, key in spots:
                try:
                    old: object = spec.validate(container[key])
                except params.ParamError:
                    old = None
                if not _same(old, value):
                    container[key] = yaml_number(value)
        elif not _same(spec.default, value):
            if path.startswith("ch/"):
                _place_new(chans[spec.index], path.split("/", 2)[2], yaml_number(value))
            else:
                if not isinstance(doc.get("params"), dict):
                    doc["params"] = CommentedMap()
                doc["params"][path] = yaml_number(value)


def _update_safes(doc: CommentedMap, safes: Safes) -> None:
    kinds = [k for k in KINDS if k in safes.kinds]
    strips = sorted(safes.strips, key=_strip_order)
    raw = doc.get("safes")
    if not isinstance(raw, dict):
        if not kinds and not strips:
            return
        raw = CommentedMap()
        raw.fa.set_flow_style()
        doc["safes"] = raw
    for key, items in (("kinds", kinds), ("channels", strips)):
        old = raw.get(key)
        if isinstance(old, list) and sorted(map(str, old)) == sorted(items):
            continue
        if not items and key not in raw:
            continue
        seq = CommentedSeq(items)
        seq.fa.set_flow_style()
        raw[key] = seq


def _update_connections(doc: CommentedMap, session: Session) -> None:
    """Write session.connections (JACK; surfaced.session.routing) when they differ from
    what the file says; a file that says the same keeps its own text."""
    tree = connections_tree(session)
    raw = doc.get("connections")

    def normal(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): normal(v) for k, v in value.items()}
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    if isinstance(raw, dict) and normal(raw) == tree:
        return
    if not tree:
        if "connections" in doc:
            del doc["connections"]
        return
    out = CommentedMap()
    for strip, value in tree.items():
        if isinstance(value, dict):
            sides = CommentedMap()
            sides.fa.set_flow_style()
            for side, pats in value.items():
                seq = CommentedSeq([_yaml_string(p) for p in pats])
                seq.fa.set_flow_style()
                sides[side] = seq
            out[strip] = sides
        else:
            seq = CommentedSeq([_yaml_string(p) for p in value])
            seq.fa.set_flow_style()
            out[strip] = seq
    doc["connections"] = out


def _strip_order(strip: str) -> tuple[int, int]:
    kind, _, n = strip.partition("/")
    return ({"ch": 0, "bus": 1}.get(kind, 2), int(n) if n.isdigit() else 0)


def _relocate_sources(doc: CommentedMap, old_dir: Path, new_dir: Path) -> None:
    """WAV files are relative to the session file: keep them pointing at the same files."""
    for ch in doc["channels"]:
        src = ch.get("source")
        if isinstance(src, dict) and isinstance(src.get("wav"), str) \
                and not os.path.isabs(src["wav"]):
            target = (old_dir / src["wav"]).resolve()
            try:
                src["wav"] = os.path.relpath(target, new_dir.resolve())
            except ValueError:  # another drive (Windows): no relative path exists
                src["wav"] = str(target)


# ------------------------------------------------------------------ the scenes section
def scenes_text(scenes: Iterable[Scene], offset: int = 2) -> str:
    """The ``scenes:`` section, written by surfaced (one value per line)."""
    pad = " " * offset
    inner = pad + "  "
    lines = ["scenes:"]
    for scene in scenes:
        lines.append(f"{pad}- name: {string_text(scene.name)}")
        if scene.fade:
            lines.append(f"{inner}fade: {number_text(scene.fade)}")
        if scene.scope is not None:
            kinds = ", ".join(k for k in KINDS if k in scene.scope)
            lines.append(f"{inner}scope: [{kinds}]")
        if not scene.values:
            lines.append(f"{inner}values: {{}}")
            continue
        lines.append(f"{inner}values:")
        lines.extend(f"{inner}  {path}: {value_text(value)}" for path, value in
                     scene.values.items())
    return "\n".join(lines) + "\n"


def _cut_scenes(text: str) -> str:
    """The text with its top-level ``scenes:`` section replaced by a one-line placeholder."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return text  # the round-trip parser will say what is wrong
    if not isinstance(root, yaml.MappingNode):
        return text
    for key, value in root.value:
        if key.value == "scenes" and key.start_mark.column == 0:
            lines = text.splitlines(keepends=True)
            start = key.start_mark.line
            end = value.end_mark.line + (1 if value.end_mark.column > 0 else 0)
            end = min(max(end, start + 1), len(lines))
            while end - 1 > start and (not lines[end - 1].strip()
                                       or lines[end - 1].startswith("#")):
                end -= 1  # comments and blank lines after the section belong to what follows
            return "".join([*lines[:start], f"scenes: {_SCENES_TOKEN}\n", *lines[end:]])
    return text


# ------------------------------------------------------------------ the whole document
def skeleton_text(session: Session) -> str:
    """A new session file for a session that has none (the built-in one)."""
    lines = [f"# surfaced session (format {FORMAT_VERSION})", f"version: {FORMAT_VERSION}",
             f"rate: {session.rate}", f"buses: {session.buses}",
             f"duration: {number_text(session.duration)}", "channels:"]
    for ch in session.channels:
        lines.append(f"  - name: {string_text(ch.name)}")
        src = ch.source
        if src.kind == "generator":
            lines.append(f"    source: {{generator: {src.name}}}")
        elif src.kind == "wav":
            lines.append(f"    source: {{wav: {string_text(src.name)}}}")
        elif src.kind == "input":
            ins = [src.first_input + 1, src.first_input + 2] if src.stereo \
                else src.first_input + 1
            lines.append(f"    source: {{input: {ins}}}")
    return "\n".join(lines) + "\n"


def render_session(text: str | None, session: Session, values: Mapping[str, Value],
                   scenes: Iterable[Scene], safes: Safes, *,
                   relocate: tuple[Path, Path] | None = None, name: str = "") -> str:
    """The session file's text with the mix's values, scenes and safes written into it.

    `text` is the file's current text (None: start from `skeleton_text`);
    `values` is the whole mix by full path (Mixer.snapshot); `relocate`
    (old folder, new folder) rewrites relative WAV paths for a save elsewhere.
    """
    scenes = list(scenes)
    source = skeleton_text(session) if text is None else text
    y = _round_trip()
    try:
        doc, indent, seq_offset = load_yaml_guess_indent(_cut_scenes(source), yaml=y)
    except RuamelError as exc:
        raise SessionError(f"{name or session.path}: cannot update the file: {exc}") from None
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("channels"), list) \
            or len(doc["channels"]) != len(session.channels):
        raise SessionError(f"{name or session.path}: the file no longer matches the running "
                           "session (its channels changed on disk); use session/save_as")
    offset = 2 if seq_offset is None else seq_offset
    y.indent(mapping=2, sequence=max(indent or 4, offset + 2), offset=offset)
    if doc.get("version") != FORMAT_VERSION:
        if "version" in doc:
            doc["version"] = FORMAT_VERSION
        else:
            doc.insert(0, "version", FORMAT_VERSION)
    _update_values(doc, len(session.channels), session.buses, values)
    _update_safes(doc, safes)
    _update_connections(doc, session)
    if relocate is not None:
        _relocate_sources(doc, *relocate)
    if scenes:
        doc["scenes"] = _SCENES_TOKEN
    elif "scenes" in doc:
        del doc["scenes"]
    buf = io.StringIO()
    y.dump(doc, buf)
    out = buf.getvalue()
    if scenes:
        line = f"scenes: {_SCENES_TOKEN}\n"
        out = out.replace(line, scenes_text(scenes, offset), 1)
    return out


def migrate_text(text: str) -> str:
    """An older session file's text in the current format (version 1 -> 2: the version key)."""
    y = _round_trip()
    doc, indent, seq_offset = load_yaml_guess_indent(text, yaml=y)
    offset = 2 if seq_offset is None else seq_offset
    y.indent(mapping=2, sequence=max(indent or 4, offset + 2), offset=offset)
    doc.insert(0, "version", FORMAT_VERSION)
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


# ------------------------------------------------------------------ writing files
def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one.

    Raises SaveError naming the file and the OS error (disk full, read-only
    folder); the old file is then untouched and no temporary file is left.
    """
    folder = path.parent
    tmp = folder / f".{path.name}.tmp-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_folder(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):  # leave no half-written temporary file behind
            tmp.unlink()
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}", exc.errno) from None


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: the folder's entry has to reach the disk too."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a platform without folder fds (Windows): the rename is all we can do
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            os.fsync(fd)
    finally:
        os.close(fd)
