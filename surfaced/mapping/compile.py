"""Loading a mapping file: safe YAML -> checked, expanded, compiled `Mapping`.

Every mistake ends in one `MappingError` naming the file, the line, the key
path (``controls.fader.cc``) and what was expected there. Nothing in a
mapping is executed: expressions are evaluated by surfaced.mapping.expr.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from surfaced.mapping.controls import (
    CONTROL_KEYS,
    RESERVED,
    ControlContext,
    check_transport,
    compile_stanza,
    expand,
)
from surfaced.mapping.errors import MappingError
from surfaced.mapping.messages import find_kind, parse_output
from surfaced.mapping.model import (
    INPUT_KINDS,
    Control,
    Mapping,
    Match,
    MidiMatch,
    OscMatch,
    OutSpec,
    Periodic,
    SerialMatch,
)
from surfaced.mapping.schema import Node, kind_of
from surfaced.mapping.source import Tree, read

FORMAT: Final = 1
TOP_KEYS: Final = ("format", "extends", "name", "description", "transport", "match", "strips",
                   "link", "selection", "vars", "bank", "pages", "modifiers", "defaults",
                   "handshake", "keepalive", "output", "controls")
DEFAULT_KEYS: Final = ("channel", "echo", "takeover", "threshold", "fake_touch", "rate")
MAX_STRIPS: Final = 256
MAX_CONTROLS: Final = 4096
_NAME: Final = re.compile(r"^[A-Za-z_][\w-]*$")


def load_mapping(path: str | Path) -> Mapping:
    """Read, check and compile one mapping file (and the files it extends); raises MappingError."""
    p = Path(path)
    data, sources = read(p)
    try:
        return compile_mapping(Node(data, str(p), "", 1), p.stem, sources)
    except MappingError as exc:
        if not isinstance(data, Tree) or exc.file == str(p):
            raise
        # A mistake in a file this one extends (maybe only with this file's vars:).
        raise MappingError(exc.file, exc.line, exc.key, f"{exc.expected} (in a file extended "
                                                        f"by {p}:{data.extends_line})") from None


def compile_mapping(top: Node, mapping_id: str, sources: tuple[str, ...] = ()) -> Mapping:
    """Compile a parsed YAML tree (see load_mapping); `sources` are the files it was read from."""
    top.check_keys(TOP_KEYS, "a mapping file")
    fmt = top.int_("format", {}, FORMAT, lo=1, hi=FORMAT, what=f"mapping format {FORMAT}")
    del fmt
    name = top.str_("name")
    transport = top.choice("transport", ("midi", "osc", "serial"))
    match = _match(top, transport)
    strips = top.int_("strips", {}, 0, lo=0, hi=MAX_STRIPS, what="a number of strips")
    link, offset = _link(top, mapping_id)
    # own: this desk's SELECT buttons choose its selected channel; focus: follow
    # (and move) the channel selected last on any surface, as a channel strip does.
    selection = top.choice("selection", ("own", "focus"), "own")
    bank_step = _bank(top)
    pages, modifiers = _pages(top)
    defaults = top.child("defaults") or Node({}, top.file, "defaults", top.line)
    defaults.check_keys(DEFAULT_KEYS, "defaults")
    env = _vars(top, {"strips": strips, "offset": offset})
    ctx = ControlContext(
        file=top.file, env=env, strips=strips, offset=offset, transport=transport, pages=pages,
        modifiers=modifiers, defaults=defaults,
    )
    handshake = _messages(top, "handshake", env, transport)
    keepalive = _keepalive(top, env, transport)
    output = top.child("output")
    max_rate = 0.0
    if output is not None:
        output.check_keys(("rate",), "output")
        max_rate = output.float_("rate", 0.0, lo=0.0, hi=1e6, what="messages per second")
    controls = _controls(top, ctx)
    return Mapping(
        id=mapping_id, name=name, description=top.str_("description", "", nonempty=False),
        path=top.file, sources=sources or (top.file,), transport=transport, match=match,
        strips=strips, link=link, link_offset=offset, bank_step=bank_step, pages=pages,
        modifiers=modifiers, controls=controls, handshake=handshake, keepalive=keepalive,
        max_rate=max_rate, follows_focus=selection == "focus",
    )


def _match(top: Node, transport: str) -> Match:
    node = top.child("match", required=True)
    assert node is not None
    if transport == "midi":
        node.check_keys(("input", "output", "port"), "match (MIDI)")
        port = _regex(node, "port")
        inp, out = _regex(node, "input") or port, _regex(node, "output") or port
        if inp is None and out is None:
            raise node.error("", "give port: (a regular expression searched in port names), "
                                 "or input: and output:")
        # In the form surfaced.transports.midi.port_matcher takes ("re:" = searched regex).
        return MidiMatch(None if inp is None else "re:" + inp,
                         None if out is None else "re:" + out)
    if transport == "osc":
        node.check_keys(("host", "port", "prefix", "reply_host", "reply_port"), "match (OSC)")
        prefix = node.str_("prefix", None)
        if prefix is not None and not prefix.startswith("/"):
            raise node.error("prefix", "expected an OSC address prefix starting with '/'")
        return OscMatch(
            host=node.str_("host", None),
            port=node.int_("port", {}, None, lo=1, hi=65535, what="a UDP/TCP port"),
            prefix=prefix,
            reply_host=node.str_("reply_host", None),
            reply_port=node.int_("reply_port", {}, None, lo=1, hi=65535, what="a port"),
        )
    node.check_keys(("serial_number", "by_id", "port", "baudrate"), "match (serial)")
    found = SerialMatch(
        serial_number=node.str_("serial_number", None), by_id=node.str_("by_id", None),
        port=node.str_("port", None),
        baudrate=node.int_("baudrate", {}, 115200, lo=300, hi=4_000_000, what="a baud rate"),
    )
    if found.serial_number is None and found.by_id is None and found.port is None:
        raise node.error("", "give serial_number: (the box's USB serial number), by_id: "
                             "(a /dev/serial/by-id path or glob) or port:")
    return found


def _vars(top: Node, env: dict[str, int]) -> dict[str, int]:
    """`vars:`: named integers for every expression in the file (a device id, a base note)."""
    node = top.child("vars")
    if node is None:
        return env
    out = dict(env)
    for name in node:
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_]\w*$", name) \
                or name in RESERVED or name == "strip":
            raise node.error(name, "expected a variable name (letters, digits, _; not "
                                   f"{', '.join(sorted((*RESERVED, 'strip')))})")
        out[name] = node.int_(name, out, what="an integer or ${expression}")
    return out


def _regex(node: Node, key: str) -> str | None:
    pattern = node.str_(key, None)
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise node.error(key, f"expected a regular expression: {exc}") from None
    return str(pattern)


def _link(top: Node, mapping_id: str) -> tuple[str | None, int]:
    node = top.child("link")
    if node is None:
        return None, 0
    node.check_keys(("to", "offset"), "link")
    to = node.str_("to")
    if not _NAME.match(to):
        raise node.error("to", "expected the id (file name without .yaml) of the main unit")
    if to == mapping_id:
        raise node.error("to", "a mapping cannot link to itself")
    offset = node.int_("offset", {}, lo=0, hi=4096, what="the strip offset of this unit")
    return to, offset


def _bank(top: Node) -> int:
    node = top.child("bank")
    if node is None:
        return 0
    node.check_keys(("step",), "bank")
    step = node.raw("step", "width")
    if step == "width":
        return 0
    return int(node.int_("step", {}, lo=1, hi=4096, what="channels per bank step, or width"))


def _pages(top: Node) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    pages: dict[str, tuple[str, ...]] = {}
    node = top.child("pages")
    if node is not None:
        for group in node:
            if not isinstance(group, str) or not _NAME.match(group):
                raise node.error(group, "a page group is named with letters, digits, _ and -")
            names = [v for v, _ in node.items_list(group)]
            if not names or not all(isinstance(n, str) and _NAME.match(n) for n in names):
                raise node.error(group, "expected a list of page names, e.g. [pan, send1]")
            if len(set(names)) != len(names):
                raise node.error(group, "page names in a group must differ")
            pages[group] = tuple(names)
    modifiers: list[str] = []
    for item, line in top.items_list("modifiers"):
        if not isinstance(item, str) or not _NAME.match(item):
            raise MappingError(top.file_of("modifiers"), line, "modifiers",
                               f"expected a modifier name, got "
                                                            f"{kind_of(item)}")
        if item in pages or item in modifiers:
            raise MappingError(top.file_of("modifiers"), line, "modifiers",
                               f"{item!r} is already a page group or modifier")
        modifiers.append(item)
    return pages, tuple(modifiers)


def _messages(node: Node, key: str, env: dict[str, int], transport: str) -> tuple[OutSpec, ...]:
    out: list[OutSpec] = []
    for n, (item, line) in enumerate(node.items_list(key)):
        if not isinstance(item, dict):
            raise MappingError(node.file_of(key), line, node.key_path(key),
                               f"expected a message like {{sysex: F0 .. F7}}, got {kind_of(item)}")
        msg = Node(item, node.file_of(key), f"{node.key_path(key)}[{n}]", line)
        kind = find_kind(msg, INPUT_KINDS, "a message", required=True)
        assert kind is not None
        msg.check_keys((kind, "channel", "value", "args", "each"), f"a {kind} message")
        check_transport(msg, kind, transport)
        for _, sub_env in expand(msg, env):
            out.append(parse_output(msg, sub_env, kind, fixed=True))
    return tuple(out)


def _keepalive(top: Node, env: dict[str, int], transport: str) -> tuple[Periodic, ...]:
    out: list[Periodic] = []
    for n, (item, line) in enumerate(top.items_list("keepalive")):
        node = Node(item, top.file_of("keepalive"), f"keepalive[{n}]", line)
        if not isinstance(item, dict):
            raise node.error("", "expected {every: SECONDS, send: [messages]}")
        node.check_keys(("every", "send"), "a keep-alive")
        every = node.float_("every", lo=0.01, hi=3600.0, what="seconds")
        out.append(Periodic(every, _messages(node, "send", env, transport)))
    return tuple(out)


def _controls(top: Node, ctx: ControlContext) -> tuple[Control, ...]:
    node = top.child("controls", required=True)
    assert node is not None
    out: list[Control] = []
    for name in node:
        if not isinstance(name, str) or not _NAME.match(name):
            raise node.error(name, "a control is named with letters, digits, _ and -")
        stanza = node.child(name)
        if stanza is None:
            raise node.error(name, "expected a mapping with the control's keys "
                                   f"({', '.join(CONTROL_KEYS[:6])}, ...)")
        out.extend(compile_stanza(stanza, name, ctx, len(out)))
        if len(out) > MAX_CONTROLS:
            raise node.error(name, f"more than {MAX_CONTROLS} controls after expansion")
    if not out:
        raise node.error("", "expected at least one control")
    return tuple(out)
