"""Roles: what an input is (kick, snare, bass, vocal, ...), read from its file name.

A role decides where a channel sits in the session (drums first, vocals
last), its first balance, and whether it wants a high-pass. Recognition is
by the words of the file name (split on punctuation, digits and camelCase:
"03_KickIn.wav" -> 03, kick, in), matched against each role's keywords in
a fixed order (specific roles before general ones, so "Bass Drum" is a kick
and "Lead Vox" a vocal); a name no role claims is "other". The engineer
corrects a guess with a roles file or `--role NAME=ROLE`, and the taste
profile keeps what they did with each role.

Stereo pairs split across two files ("OH L.wav", "OH R.wav"; "Keys.L",
"Keys.R"; "Gtr Left", "Gtr Right") are recognised by their side word: the
names match once it is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    """How the assistant treats one kind of input.

    `level` is the first balance (dB, the assistant's level beneath the
    fader, for an input staged to the target loudness); `hpf` the high-pass
    corner (Hz) or 0 for none; `order` where it sits in the session.
    """

    name: str
    keywords: tuple[str, ...]
    level: float
    hpf: float
    order: int


# Recognised in this order; `order` sorts the session (drums, bass, harmony,
# vocals, effects). Levels assume every input was staged to the same loudness:
# they are the classic "kick and vocal up front, pads and effects behind".
ROLES: tuple[Role, ...] = (
    Role("kick", ("kick", "kik", "kck", "bd", "bassdrum"), -6.0, 0.0, 0),
    Role("snare", ("snare", "snr", "sd", "sn"), -8.0, 80.0, 1),
    Role("toms", ("tom", "toms", "floortom"), -12.0, 60.0, 2),
    Role("hats", ("hat", "hats", "hihat", "hh"), -15.0, 300.0, 3),
    Role("overheads", ("overhead", "overheads", "oh", "cymbal", "cymbals", "ride", "crash"),
         -13.0, 150.0, 4),
    Role("room", ("room", "rooms", "amb", "ambience"), -15.0, 100.0, 5),
    Role("perc", ("perc", "percussion", "shaker", "tamb", "tambourine", "conga", "bongo",
                  "clap", "claps", "cowbell"), -15.0, 150.0, 6),
    Role("backing", ("bv", "bvs", "bgv", "bgvs", "backing", "backings", "harmony", "harmonies",
                     "choir", "bvox", "backvox", "adlib", "adlibs", "double"), -12.0, 120.0, 14),
    Role("vocal", ("vocal", "vocals", "vox", "voc", "vx", "lv", "singer", "voice", "leadvox"),
         -4.0, 90.0, 13),
    Role("bass", ("bass", "bs", "sub", "subbass"), -7.0, 0.0, 7),
    Role("guitar", ("guitar", "guitars", "gtr", "gtrs", "gt", "acoustic", "electric", "ag",
                    "eg"), -11.0, 90.0, 8),
    Role("piano", ("piano", "pno", "grand", "upright"), -11.0, 60.0, 9),
    Role("keys", ("keys", "key", "kb", "rhodes", "wurli", "wurlitzer", "organ", "clav", "epiano",
                  "ep", "mellotron"), -12.0, 80.0, 10),
    Role("synth", ("synth", "synths", "syn", "arp", "lead", "pluck", "saw", "moog"), -13.0, 60.0,
         11),
    Role("pad", ("pad", "pads", "strings", "string", "str", "violin", "viola", "cello", "brass",
                 "horns", "horn"), -15.0, 120.0, 12),
    Role("fx", ("fx", "sfx", "riser", "risers", "impact", "impacts", "sweep", "noise", "reverse",
                "whoosh", "efx", "drone"), -18.0, 150.0, 15),
)
OTHER = Role("other", (), -14.0, 0.0, 16)
BY_NAME: dict[str, Role] = {r.name: r for r in (*ROLES, OTHER)}

_SIDE_WORDS = {"l": "L", "left": "L", "r": "R", "right": "R"}
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[^A-Za-z]+")


def words(name: str) -> list[str]:
    """The lower-case words of a file name (its stem), digits and punctuation dropped."""
    return [w.lower() for w in _SPLIT.split(_CAMEL.sub(" ", name)) if w]


def role_of(name: str) -> Role:
    """The role a file name says (OTHER when no keyword matches)."""
    ws = words(name)
    joined = "".join(ws)
    for role in ROLES:
        for w in ws:
            if w in role.keywords:
                return role
        for k in role.keywords:  # "BassDrum" split as bass+drum still reads as a kick
            if len(k) >= 6 and k in joined:
                return role
    for role in ROLES:  # plurals and longer forms: "Vocals2", "Guitarra"
        for w in ws:
            if any(len(k) >= 4 and w.startswith(k) for k in role.keywords):
                return role
    return OTHER


def parse_role(text: str) -> Role:
    """A role by name, or ValueError listing the known ones."""
    role = BY_NAME.get(text.strip().lower())
    if role is None:
        raise ValueError(f"unknown role {text!r}; known: {', '.join(BY_NAME)}")
    return role


def side_of(name: str) -> tuple[str, str] | None:
    """("L" or "R", the name without its side word) when the name marks a side of a pair."""
    parts = re.split(r"([^A-Za-z0-9]+)", name.strip())
    # the side word is the last word ("OH L", "Keys.R", "Gtr_Left") or glued on ("OHL" no)
    tokens = [p for p in parts if p]
    for i in range(len(tokens) - 1, -1, -1):
        t = tokens[i]
        if not t.isalnum():
            continue
        side = _SIDE_WORDS.get(t.lower())
        if side is None:
            break
        rest = "".join(tokens[:i] + tokens[i + 1:]).strip(" ._-")
        return (side, rest.lower()) if rest else None
    return None


def display_name(name: str) -> str:
    """A channel name from a file stem: separators to spaces, leading track numbers gone."""
    text = re.sub(r"^\s*\d+[\s._-]+", "", name)
    text = re.sub(r"[_]+", " ", text).strip()
    return text or name
