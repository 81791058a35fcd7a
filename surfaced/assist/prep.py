"""`surfaced prep STEMS/ -o session.yaml`: a folder of stems to a ready-to-mix session.

For every WAV file in the folder (not its subfolders): a channel named after
the file, its role from the name (surfaced.assist.roles; the engineer's
corrections win), its level measured (surfaced.assist.measure) and staged
(surfaced.assist.staging), a first balance by role with the engineer's
learned taste added (surfaced.assist.taste), a high-pass where the role
wants one, and hard pans for L/R pairs. Channels are ordered by role (drums,
bass, guitars, keys, pads, vocals, effects), then by name.

Everything the assistant decided about level and pan lives in the
assistant's layer (`assist: {trim, level, pan}` in the session, i.e.
ch/N/assist/*), so every fader starts at 0 dB: the engineer's own offset
from the proposal. A stereo file, or one side of a pair, is proposed 3 dB
lower than a mono file of the same role, since it speaks on both sides.
Before writing, the whole session is rendered through a twin of the core and,
should the master go over the bus ceiling, every level is lowered alike.

Next to the session goes NAME.assist.json: each channel's role and the
proposal before taste, which `assist/learn` compares the finished mix with.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from surfaced.assist import roles as roles_mod
from surfaced.assist.measure import Levels, measure
from surfaced.assist.staging import LEVEL_RANGE, Target, clamp, lower_layer, trim_for, twin_peaks
from surfaced.assist.taste import Taste
from surfaced.session.wavio import WavError, read_wav

STEREO_DB = -3.0


class PrepError(ValueError):
    """A stems folder that cannot become a session; says which file and why."""


@dataclass
class PrepChannel:
    """One channel of the prepared session."""

    name: str
    path: Path
    role: str
    levels: Levels
    stereo: bool
    trim: float = 0.0
    base_level: float = 0.0  # the role's balance, before taste
    base_pan: float = 0.0
    level: float = 0.0  # what is proposed (base + taste, after the bus guard)
    pan: float = 0.0
    hpf: float = 0.0


@dataclass
class Prepared:
    """A prepared session: channels in order, the rate, and what the bus guard did."""

    channels: list[PrepChannel]
    rate: int
    seconds: float
    lowered_db: float  # how much the bus guard lowered every level (0: not needed)
    master_true_peak: float
    audio: list[npt.NDArray[np.float32]]


def load_roles_file(path: Path) -> dict[str, str]:
    """A roles file: YAML `PATTERN: ROLE` (file name or glob), checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PrepError(f"{path}: cannot read the roles file ({exc})") from None
    if not isinstance(data, dict):
        raise PrepError(f"{path}: expected lines of 'FILE-OR-PATTERN: ROLE'")
    out: dict[str, str] = {}
    for k, v in data.items():
        try:
            out[str(k)] = roles_mod.parse_role(str(v)).name
        except ValueError as exc:
            raise PrepError(f"{path}: {k}: {exc}") from None
    return out


def _corrected(stem: str, filename: str, corrections: Mapping[str, str]) -> str | None:
    for pattern, role in corrections.items():
        p = pattern.lower()
        if p in (stem.lower(), filename.lower()) or fnmatch.fnmatch(filename.lower(), p):
            return role
    return None


def prep(folder: Path, corrections: Mapping[str, str] | None = None,
         target: Target | None = None, taste: Taste | None = None) -> Prepared:
    """Measure, recognise, stage and balance every WAV file in `folder`."""
    target = target or Target()
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file()),
                   key=lambda p: p.name.lower()) if folder.is_dir() else []
    if not folder.is_dir():
        raise PrepError(f"{folder}: not a folder of stems")
    if not files:
        raise PrepError(f"{folder}: no .wav files here")
    rate = 0
    chans: list[PrepChannel] = []
    audio: dict[str, npt.NDArray[np.float32]] = {}
    # Stems are read and measured in parallel (the core's measurement releases the GIL);
    # each stem's figures depend on its samples alone, so the result is the same.
    with ThreadPoolExecutor(max_workers=min(len(files), os.cpu_count() or 1)) as pool:
        loaded = list(pool.map(_load, files))
    for f, (a, r, levels) in zip(files, loaded, strict=True):
        if rate and r != rate:
            raise PrepError(f"{f}: {r} Hz, but the stems before it are {rate} Hz; resample "
                            "them to one rate")
        rate = r
        audio[f.name] = a
        role = _corrected(f.stem, f.name, corrections or {}) or roles_mod.role_of(f.stem).name
        chans.append(PrepChannel(roles_mod.display_name(f.stem), f, role, levels, a.ndim == 2))
    _pair(chans)
    for c in chans:
        role_of = roles_mod.BY_NAME[c.role]
        c.trim = trim_for(c.levels, target) or 0.0
        c.hpf = role_of.hpf
        c.base_level = role_of.level + (STEREO_DB if c.stereo or c.base_pan else 0.0)
        lo, po = taste.offset(c.role, c.base_pan) if taste else (0.0, 0.0)
        c.level = clamp(round(c.base_level + lo, 1), LEVEL_RANGE)
        c.pan = max(-1.0, min(1.0, round(c.base_pan + po, 3)))
    chans.sort(key=lambda c: (roles_mod.BY_NAME[c.role].order, c.name.lower()))
    ordered = [audio[c.path.name] for c in chans]
    seconds = max(len(a) for a in ordered) / rate
    values = _values(chans)
    peaks = twin_peaks(dict(enumerate(ordered, start=1)), values, len(chans), 0, rate, seconds)
    lowered = 0.0
    if peaks.excess(target) > 0.0:
        lowered = float(np.ceil(peaks.excess(target) * 10.0) / 10.0)
        lowered_values = lower_layer(values, "assist/level", lowered, LEVEL_RANGE)
        for i, c in enumerate(chans, start=1):
            c.level = float(lowered_values[f"ch/{i}/assist/level"])
    return Prepared(chans, rate, seconds, lowered, peaks.master_true_peak, ordered)


def _load(f: Path) -> tuple[npt.NDArray[np.float32], int, Levels]:
    """One stem: its samples (mono as 1-D), rate and levels."""
    try:
        data, r = read_wav(f, max_channels=2)  # a stem is mono or stereo
    except WavError as exc:
        raise PrepError(str(exc)) from None  # it names the file
    except OSError as exc:
        raise PrepError(f"{f}: {exc}") from None
    a = data[:, 0] if data.shape[1] == 1 else data
    return a, r, measure(a, r)


def _pair(chans: list[PrepChannel]) -> None:
    """Hard pans for L/R pairs of mono files whose names match once the side is removed."""
    sides: dict[tuple[str, str], dict[str, PrepChannel]] = {}
    for c in chans:
        if c.stereo:
            continue
        found = roles_mod.side_of(c.name)
        if found is not None:
            sides.setdefault((found[1], c.role), {})[found[0]] = c
    for pair in sides.values():
        if set(pair) == {"L", "R"}:
            pair["L"].base_pan, pair["R"].base_pan = -1.0, 1.0


def _values(chans: list[PrepChannel]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, c in enumerate(chans, start=1):
        out[f"ch/{i}/assist/trim"] = c.trim
        out[f"ch/{i}/assist/level"] = c.level
        out[f"ch/{i}/assist/pan"] = c.pan
        if c.hpf:
            out[f"ch/{i}/hpf/on"] = 1.0
            out[f"ch/{i}/hpf/freq"] = c.hpf
    return out


def sidecar_path(session: Path) -> Path:
    """Where the assistant keeps a session's roles and proposal: NAME.assist.json."""
    return session.with_name(session.stem + ".assist.json")


def write_session(prepared: Prepared, out: Path) -> None:
    """Write the session YAML (wav paths relative to it) and its sidecar."""
    base = out.resolve().parent
    channels = []
    for c in prepared.channels:
        ch: dict[str, object] = {
            "name": c.name,
            "source": {"wav": os.path.relpath(c.path.resolve(), base)},
            "assist": {"trim": c.trim, "level": c.level, "pan": c.pan},
        }
        if c.hpf:
            ch["hpf"] = {"on": 1, "freq": c.hpf}
        channels.append(ch)
    doc = {"rate": prepared.rate, "duration": round(max(prepared.seconds, 0.1), 3),
           "channels": channels}
    header = (f"# prepared by `surfaced prep` from {len(channels)} stems; the assistant's\n"
              "# decisions are the assist: values (faders start at 0 dB, on top of them)\n")
    out.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    sidecar = {"channels": [{"name": c.name, "file": c.path.name, "role": c.role,
                             "base_level": c.base_level, "base_pan": c.base_pan,
                             "fader": 0.0, "user_pan": 0.0} for c in prepared.channels]}
    sidecar_path(out).write_text(json.dumps(sidecar, indent=1), encoding="utf-8")


def report(prepared: Prepared) -> list[str]:
    """What prep did, one line per channel (for the CLI)."""
    lines = []
    for i, c in enumerate(prepared.channels, start=1):
        hpf = f"hpf {c.hpf:.0f} Hz" if c.hpf else "no hpf"
        lines.append(f"{i:2d} {c.name:<20.20} {c.role:<9} {c.levels.loudness:6.1f} LUFS "
                     f"{c.levels.true_peak:6.1f} dBTP  trim {c.trim:+5.1f}  level "
                     f"{c.level:+5.1f}  pan {c.pan:+.2f}  {hpf}")
    if prepared.lowered_db:
        lines.append(f"levels lowered {prepared.lowered_db:.1f} dB so the master stays under "
                     "its ceiling")
    return lines
