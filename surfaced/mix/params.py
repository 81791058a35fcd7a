"""The parameter vocabulary: one path and one spec for every controllable value.

The same path is used in sessions, mappings, OSC addresses, the CLI and logs
(ARCHITECTURE.md, "Parameters"). Channel, bus, EQ-band and send numbers in
paths are 1-based, as printed on a console; the core's indices are 0-based.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from surfaced.mix import tapers

NEG_INF = float("-inf")
DB_OFF = -144.0  # the core's silence floor: at or below this a gain is exactly 0


class ParamError(ValueError):
    """An unknown parameter path or a value outside its range; says which and why."""


@dataclass(frozen=True)
class ParamSpec:
    """What a parameter is: its unit, range, default, taper and smoothing.

    `scope`, `index`, `param` and `sub` address it in the native core
    (see native/sf_core.h); text parameters have `param == -1` and live only
    on the control side.
    """

    path: str
    unit: str
    minimum: float
    maximum: float
    default: float
    taper: str
    smoothing_ms: float
    scope: int
    index: int
    param: int
    sub: int = 0

    @property
    def is_bool(self) -> bool:
        """True for on/off parameters (mute, solo, phase, ...)."""
        return self.taper == "bool"

    @property
    def is_text(self) -> bool:
        """True for names and other text that never reaches the audio core."""
        return self.taper == "text"

    def range_text(self) -> str:
        """The allowed range as a person would write it."""
        if self.is_bool:
            return "0 or 1 (false/true)"
        lo = "-inf" if self.minimum == NEG_INF else f"{self.minimum:g}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{lo}..{self.maximum:g}{unit}"

    def validate(self, value: object) -> float:
        """Return `value` as a float in range, or raise ParamError naming the path."""
        if self.is_text:
            raise ParamError(f"{self.path}: is text; set it with a string, not a number")
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, str) and value.strip().lower() in ("-inf", "off", "-infinity"):
            value = NEG_INF
        if not isinstance(value, int | float):
            raise ParamError(
                f"{self.path}: expected a number ({self.range_text()}), got {type(value).__name__}"
            )
        v = float(value)
        if math.isnan(v):
            raise ParamError(f"{self.path}: NaN is not a value; allowed {self.range_text()}")
        if self.is_bool:
            if v not in (0.0, 1.0):
                raise ParamError(f"{self.path}: expected 0 or 1, got {value!r}")
            return v
        if v == NEG_INF and self.minimum == NEG_INF:
            return v
        if not (self.minimum <= v <= self.maximum) or math.isinf(v):
            raise ParamError(f"{self.path}: {value!r} is out of range; allowed {self.range_text()}")
        if self.taper == "int" and v != int(v):
            raise ParamError(f"{self.path}: expected a whole number, got {value!r}")
        return v

    def to_core(self, value: float) -> float:
        """The value as the core wants it (dB floor for -inf, 0-based key index)."""
        if value == NEG_INF:
            return DB_OFF
        if self.param == P["COMP_KEY"]:
            return value - 1.0  # path: 0 = own signal, N = channel N; core: -1 = own
        return value

    def from_position(self, position: float) -> float:
        """A surface's normalised position (0..1) as a value, through the taper."""
        return tapers.position_to_value(self.taper, position, self.minimum, self.maximum)

    def to_position(self, value: float) -> float:
        """A value as a normalised position (0..1), for feedback to surfaces."""
        return tapers.value_to_position(self.taper, value, self.minimum, self.maximum)


# Mirrors enum sf_param in native/sf_core.h (tests check they agree).
_P_NAMES = (
    "TRIM", "PHASE", "HPF_ON", "HPF_FREQ", "EQ_ON", "EQ_FREQ", "EQ_GAIN", "EQ_Q", "COMP_ON",
    "COMP_THRESHOLD", "COMP_RATIO", "COMP_KNEE", "COMP_ATTACK", "COMP_RELEASE", "COMP_MAKEUP",
    "COMP_KEY", "FADER", "PAN", "MUTE", "SOLO", "SEND", "SEND_PRE",
)
P: dict[str, int] = {name: i for i, name in enumerate(_P_NAMES)}
SCOPE_CH, SCOPE_BUS, SCOPE_MASTER = 0, 1, 2
_SUMMED = frozenset((P["TRIM"], P["FADER"], P["PAN"]))
EQ_BANDS = 4
EQ_DEFAULT_FREQ = (100.0, 500.0, 2500.0, 8000.0)

# leaf -> (unit, min, max, default, taper, smoothing ms, core param)
_CH_LEAVES: dict[str, tuple[str, float, float, float, str, float, str]] = {
    "trim": ("dB", -20.0, 20.0, 0.0, "linear", 10.0, "TRIM"),
    "phase": ("", 0.0, 1.0, 0.0, "bool", 10.0, "PHASE"),
    "hpf/on": ("", 0.0, 1.0, 0.0, "bool", 0.0, "HPF_ON"),
    "hpf/freq": ("Hz", 20.0, 1000.0, 80.0, "log", 0.0, "HPF_FREQ"),
    "eq/on": ("", 0.0, 1.0, 0.0, "bool", 0.0, "EQ_ON"),
    "comp/on": ("", 0.0, 1.0, 0.0, "bool", 0.0, "COMP_ON"),
    "comp/threshold": ("dB", -60.0, 0.0, -18.0, "linear", 0.0, "COMP_THRESHOLD"),
    "comp/ratio": ("", 1.0, 20.0, 4.0, "log", 0.0, "COMP_RATIO"),
    "comp/knee": ("dB", 0.0, 24.0, 6.0, "linear", 0.0, "COMP_KNEE"),
    "comp/attack": ("ms", 0.1, 200.0, 10.0, "log", 0.0, "COMP_ATTACK"),
    "comp/release": ("ms", 5.0, 2000.0, 120.0, "log", 0.0, "COMP_RELEASE"),
    "comp/makeup": ("dB", 0.0, 24.0, 0.0, "linear", 0.0, "COMP_MAKEUP"),
    "fader": ("dB", NEG_INF, 10.0, 0.0, "fader", 10.0, "FADER"),
    "pan": ("", -1.0, 1.0, 0.0, "linear", 10.0, "PAN"),
    "mute": ("", 0.0, 1.0, 0.0, "bool", 10.0, "MUTE"),
    "solo": ("", 0.0, 1.0, 0.0, "bool", 10.0, "SOLO"),
    # The assistant's layer (docs/assistant.md): offsets beneath the engineer's
    # trim, fader and pan, summed with them on the way to the core (core_sum).
    "assist/trim": ("dB", -40.0, 40.0, 0.0, "linear", 10.0, "TRIM"),
    "assist/level": ("dB", -60.0, 20.0, 0.0, "linear", 10.0, "FADER"),
    "assist/pan": ("", -1.0, 1.0, 0.0, "linear", 10.0, "PAN"),
}
# user leaf -> the assistant's offset beneath it (the same core stage)
ASSIST_OF: dict[str, str] = {"trim": "assist/trim", "fader": "assist/level", "pan": "assist/pan"}
_USER_OF: dict[str, str] = {v: k for k, v in ASSIST_OF.items()}
# What the summed stage may reach in the core: trim and fader far beyond any
# real use but finite; pan stays a pan.
_SUM_LIMITS: dict[str, tuple[float, float]] = {
    "trim": (-60.0, 40.0), "fader": (NEG_INF, 20.0), "pan": (-1.0, 1.0),
}
_EQ_LEAVES: dict[str, tuple[str, float, float, str, str]] = {
    "freq": ("Hz", 20.0, 20000.0, "log", "EQ_FREQ"),
    "gain": ("dB", -18.0, 18.0, "linear", "EQ_GAIN"),
    "q": ("", 0.1, 10.0, "log", "EQ_Q"),
}

_PATH = re.compile(
    r"^(?:ch/(?P<ch>\d+)/(?P<leaf>.+)|bus/(?P<bus>\d+)/(?P<bleaf>fader|mute)|master/fader)$"
)
_LEADING_ZEROS = re.compile(r"(?<=/)0+(?=\d)")
_EQ = re.compile(r"^eq/(?P<band>\d+)/(?P<what>freq|gain|q)$")
_SEND = re.compile(r"^send/(?P<bus>\d+)(?P<pre>/pre)?$")


def _number(text: str, what: str, count: int, path: str) -> int:
    n = int(text)
    if not 1 <= n <= count:
        raise ParamError(f"{path}: {what} {n} does not exist; this mix has {what}s 1..{count}")
    return n - 1


@lru_cache(maxsize=65536)
def spec_for(path: str, channels: int, buses: int) -> ParamSpec:
    """Resolve a parameter path for a mix of this size, or raise ParamError.

    >>> spec_for("ch/3/fader", 8, 4).range_text()
    '-inf..10 dB'
    """
    # One spelling per parameter: "ch/03/fader" is "ch/3/fader", so state,
    # feedback and /get never split between two names for one control.
    p = _LEADING_ZEROS.sub("", path.strip().strip("/"))
    m = _PATH.match(p)
    if m is None:
        raise ParamError(f"unknown parameter {path!r}: {_HINT}")
    if p == "master/fader":
        return ParamSpec(p, "dB", NEG_INF, 10.0, 0.0, "fader", 10.0, SCOPE_MASTER, 0, P["FADER"])
    if m.group("bus") is not None:
        b = _number(m.group("bus"), "bus", buses, path)
        if m.group("bleaf") == "fader":
            return ParamSpec(p, "dB", NEG_INF, 10.0, 0.0, "fader", 10.0, SCOPE_BUS, b, P["FADER"])
        return ParamSpec(p, "", 0.0, 1.0, 0.0, "bool", 10.0, SCOPE_BUS, b, P["MUTE"])
    ch = _number(m.group("ch"), "channel", channels, path)
    leaf = m.group("leaf")
    if leaf in _CH_LEAVES:
        unit, lo, hi, default, taper, smooth, name = _CH_LEAVES[leaf]
        return ParamSpec(p, unit, lo, hi, default, taper, smooth, SCOPE_CH, ch, P[name])
    if leaf == "comp/key":
        return ParamSpec(p, "channel", 0.0, float(channels), 0.0, "int", 0.0, SCOPE_CH, ch,
                         P["COMP_KEY"])
    if leaf == "name":
        return ParamSpec(p, "text", 0.0, 0.0, 0.0, "text", 0.0, SCOPE_CH, ch, -1)
    eq = _EQ.match(leaf)
    if eq is not None:
        band = _number(eq.group("band"), "EQ band", EQ_BANDS, path)
        unit, lo, hi, taper, name = _EQ_LEAVES[eq.group("what")]
        default = {"freq": EQ_DEFAULT_FREQ[band], "gain": 0.0, "q": 0.707}[eq.group("what")]
        return ParamSpec(p, unit, lo, hi, default, taper, 0.0, SCOPE_CH, ch, P[name], band)
    send = _SEND.match(leaf)
    if send is not None:
        b = _number(send.group("bus"), "bus", buses, path)
        if send.group("pre"):
            return ParamSpec(p, "", 0.0, 1.0, 0.0, "bool", 0.0, SCOPE_CH, ch, P["SEND_PRE"], b)
        return ParamSpec(p, "dB", NEG_INF, 10.0, NEG_INF, "fader", 10.0, SCOPE_CH, ch,
                         P["SEND"], b)
    raise ParamError(f"unknown parameter {path!r}: {_HINT}")


_HINT = (
    "expected ch/N/{fader,pan,mute,solo,trim,phase,name,hpf/on,hpf/freq,eq/on,"
    "assist/{trim,level,pan},"
    "eq/B/{freq,gain,q},comp/{on,threshold,ratio,knee,attack,release,makeup,key},"
    "send/B,send/B/pre}, bus/N/{fader,mute} or master/fader"
)


def assist_pair(spec: ParamSpec) -> tuple[str, str] | None:
    """(user path, assistant path) when `spec` is one of a summed pair (ch/N/fader and
    ch/N/assist/level, ...); None for every other parameter."""
    if spec.scope != SCOPE_CH or spec.param not in _SUMMED:
        return None
    head, _, leaf = spec.path.partition("/")[2].partition("/")
    if leaf in ASSIST_OF:
        return spec.path, f"ch/{head}/{ASSIST_OF[leaf]}"
    if leaf in _USER_OF:
        return f"ch/{head}/{_USER_OF[leaf]}", spec.path
    return None


def core_sum(user_path: str, user: float, assist: float) -> float:
    """The core's value for a summed stage: the engineer's value plus the assistant's
    offset, kept in the stage's limits (-inf faders stay -inf)."""
    lo, hi = _SUM_LIMITS[user_path.rsplit("/", 1)[1]]
    return min(hi, max(lo, user + assist))


def channel_leaves(buses: int) -> list[str]:
    """Every leaf under ch/N/ for a mix with this many buses, in a stable order."""
    leaves = [k for k in _CH_LEAVES if k != "fader"] + ["comp/key"]
    leaves += [f"eq/{b}/{w}" for b in range(1, EQ_BANDS + 1) for w in _EQ_LEAVES]
    leaves += [f"send/{b}" for b in range(1, buses + 1)]
    leaves += [f"send/{b}/pre" for b in range(1, buses + 1)]
    return [*leaves, "fader"]


def all_paths(channels: int, buses: int) -> list[str]:
    """Every numeric parameter path of a mix of this size (names excluded)."""
    paths = [f"ch/{c}/{leaf}" for c in range(1, channels + 1) for leaf in channel_leaves(buses)]
    paths += [f"bus/{b}/{w}" for b in range(1, buses + 1) for w in ("fader", "mute")]
    return [*paths, "master/fader"]
