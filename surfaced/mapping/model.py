"""The compiled form of a mapping: plain frozen data the runtime walks.

`compile.py` builds these from YAML after every check has passed, with index
ranges expanded (one `Control` per strip) and every expression that does not
depend on the bank folded to a number. What is left to evaluate at run time
is small and named: the bank-dependent parameter path (``ch/${ch}/fader``)
and a feedback value expression (``${0x10 + value}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from surfaced.mapping.expr import Expr, Template
from surfaced.mapping.sysex import SysexTemplate
from surfaced.mapping.values import ButtonSpec, EncoderSpec, ValueScale

MIDI_KINDS = ("note", "cc", "cc14", "nrpn", "rpn", "pitchbend", "pressure", "poly_pressure",
              "program", "sysex")
INPUT_KINDS = (*MIDI_KINDS, "osc")


@dataclass(frozen=True)
class InputSpec:
    """Which incoming message a control listens to, and how wide its raw value is."""

    kind: str
    channel: int = 0
    number: int = 0  # note / CC / NRPN / RPN number, or the CC14 MSB controller
    lsb: int = 0  # CC14: the LSB controller
    value: int | None = None  # only events with exactly this raw value (without press_bit)
    press_bit: int = 0  # the bit of the raw value that says pressed (HUI switches)
    sysex: SysexTemplate | None = None
    address: str = ""  # OSC address (may contain * ? [] wildcards)
    arg: int = 0  # OSC: which argument carries the value
    types: str = ""  # OSC: expected type tags, e.g. "f"
    raw_lo: float = 0.0
    raw_hi: float = 127.0

    def key(self) -> tuple[object, ...]:
        """The dispatch key of events this input accepts (sysex/wildcard OSC: None-keyed)."""
        if self.kind in ("pitchbend", "pressure", "program"):
            return (self.kind, self.channel)
        if self.kind == "osc":
            return ("osc", self.address)
        if self.kind == "sysex":
            return ("sysex",)
        return (self.kind, self.channel, self.number)

    @property
    def is_wildcard(self) -> bool:
        """An OSC pattern with wildcards (matched one by one, after exact addresses)."""
        return self.kind == "osc" and bool(re.search(r"[*?\[]", self.address))

    def describe(self) -> str:
        """The input as a person reads it: ``note 0x68 ch 0``."""
        k = self.kind
        if k == "osc":
            return f"osc {self.address}" + (f" ,{self.types}" if self.types else "")
        if k == "sysex" and self.sysex is not None:
            return f"sysex {self.sysex.text}"
        if k in ("pitchbend", "pressure", "program"):
            return f"{k} ch {self.channel}"
        if k == "cc14":
            return f"cc14 {self.number}/{self.lsb} ch {self.channel}"
        return f"{k} {self.number} (0x{self.number:02X}) ch {self.channel}"


@dataclass(frozen=True)
class OutSpec:
    """One feedback message: where it goes and how a value becomes its bytes.

    The control's value (as a 0..1 position) is scaled to lo..hi, then passed
    through `value` (an expression of ``value``), e.g. an LED ring's
    ``${0x10 + value}``. Unbound strips (past the end of the mix) send `blank`.
    """

    kind: str
    channel: int = 0
    number: int = 0
    lsb: int = 0
    sysex: SysexTemplate | None = None
    address: str = ""
    args: tuple[str | int | float, ...] = ("position",)
    lo: int = 0
    hi: int = 127
    value: Expr | None = None
    blank: int = 0
    text: str = "{value}"
    on_empty: str = ""

    def key(self) -> tuple[object, ...]:
        """What this message overwrites on the device (for coalescing and de-duplication)."""
        if self.kind == "sysex" and self.sysex is not None:
            # The address part of a template (everything before its first field)
            # tells apart two scribble-strip cells sharing one template text.
            return ("sysex", self.sysex.prefix())
        if self.kind == "osc":
            return ("osc", self.address)
        if self.kind in ("pitchbend", "pressure", "program"):
            return (self.kind, self.channel)
        return (self.kind, self.channel, self.number)


@dataclass(frozen=True)
class TakeoverSpec:
    """Soft takeover for controls that cannot be moved by the mix (no motor)."""

    mode: str = "jump"  # jump | pickup
    threshold: float = 0.03  # in position units (0..1)


@dataclass(frozen=True)
class ParamTarget:
    """A parameter path, resolved again whenever the bank moves."""

    path: Template

    def resolve(self, env: dict[str, int]) -> str:
        """The concrete path for this bank (raises ExprError)."""
        return self.path.render(env)


@dataclass(frozen=True)
class ActionTarget:
    """A surface action: bank / page / modifier / resync / send / command / select."""

    kind: str
    step: int = 0  # bank: channels to move (0 = one bank); page: pages to move;
    # select: the channel (to "channel") or the channels to move (to "step")
    to: str = ""  # page: page name; modifier: its name; bank: "first"/"last";
    # select: "strip" (this strip's channel), "step" or "channel"
    group: str = ""  # page group
    latch: bool = False  # modifier: toggles instead of held
    messages: tuple[OutSpec, ...] = ()  # send
    args: tuple[int | float | str, ...] = ()  # command (its name is in `to`)


@dataclass(frozen=True)
class MeterTarget:
    """A meter reading sent at a fixed rate."""

    path: Template  # ch/N, bus/N, master/1, master/2
    source: str = "peak"  # peak | rms
    floor: float = -60.0
    ceiling: float = 0.0
    rate: float = 10.0


Target = ParamTarget | ActionTarget | MeterTarget


@dataclass(frozen=True)
class Condition:
    """A `when:` test: a page group showing one of `pages`, or a modifier held or not."""

    name: str
    pages: frozenset[str] = frozenset()
    held: bool | None = None  # for modifiers


@dataclass(frozen=True)
class Control:
    """One bound control after expansion (a stanza over 8 strips gives 8 Controls)."""

    name: str  # "fader[3]"
    stanza: str  # "fader"
    line: int
    index: int  # declaration order, for priority between equals
    env: dict[str, int] = field(hash=False, compare=False)
    strip: int | None
    input: InputSpec | None
    inc: InputSpec | None
    dec: InputSpec | None
    touch: InputSpec | None
    target: Target | None
    when: tuple[Condition, ...]
    mode: str  # absolute | relative | button | action | meter | output
    scale: ValueScale
    button: ButtonSpec | None
    encoder: EncoderSpec | None
    takeover: TakeoverSpec
    fake_touch: float
    echo: bool
    feedback: tuple[OutSpec, ...]
    rate: float  # most feedback messages per second for this control (0 = every tick)


@dataclass(frozen=True)
class Periodic:
    """Messages sent every `every` seconds while connected (keep-alives)."""

    every: float
    messages: tuple[OutSpec, ...]


@dataclass(frozen=True)
class MidiMatch:
    """Which MIDI ports a surface binds.

    `input` and `output` are patterns in the form
    `surfaced.transports.midi.port_matcher` takes: ``re:`` and a regular
    expression searched in the port name (the mapping's ``port:``/``input:``/
    ``output:``). None: this surface has no such direction.
    """

    input: str | None
    output: str | None

    @staticmethod
    def regex(pattern: str | None) -> str | None:
        """The regular expression inside a pattern (for display)."""
        return None if pattern is None else pattern.removeprefix("re:")


@dataclass(frozen=True)
class OscMatch:
    """Which OSC peer a surface is: host/port of the sender and/or an address prefix.

    `reply_host`/`reply_port` say where feedback goes (default: back to the
    sender's address).
    """

    host: str | None = None
    port: int | None = None
    prefix: str | None = None
    reply_host: str | None = None
    reply_port: int | None = None

    def accepts(self, host: str, port: int, address: str) -> bool:
        """True when a message from host:port for `address` belongs to this surface."""
        if self.host is not None and host != self.host:
            return False
        if self.port is not None and port != self.port:
            return False
        return self.prefix is None or address.startswith(self.prefix)


@dataclass(frozen=True)
class SerialMatch:
    """A DIY box on a USB serial line, as `surfaced.transports.serial.SerialTransport` finds it.

    By its USB `serial_number`, a `by_id` path or glob (/dev/serial/by-id/...)
    or a plain `port` path; it speaks OSC over SLIP, so its controls use
    ``osc:`` messages.
    """

    serial_number: str | None = None
    by_id: str | None = None
    port: str | None = None
    baudrate: int = 115200


Match = MidiMatch | OscMatch | SerialMatch


@dataclass(frozen=True)
class Mapping:
    """One device's compiled mapping, as `load_mapping` returns it.

    `id` is the file name without extension (what `link.to` refers to);
    `link` is the id of the main unit this one extends (None when alone), and
    `link_offset` the strip position of this unit within the linked group.
    """

    id: str
    name: str
    description: str
    path: str
    sources: tuple[str, ...]  # the file, then each file it extends (for reloading)
    transport: str  # midi | osc | serial
    match: Match
    strips: int
    link: str | None
    link_offset: int
    bank_step: int  # channels per bank step; 0 = the width of the linked group
    pages: dict[str, tuple[str, ...]] = field(hash=False, compare=False)
    modifiers: tuple[str, ...]
    controls: tuple[Control, ...]
    handshake: tuple[OutSpec, ...]
    keepalive: tuple[Periodic, ...]
    max_rate: float  # feedback messages per second for the whole surface (0 = no limit)
    follows_focus: bool = False  # `selection: focus`: the channel selected on any surface
