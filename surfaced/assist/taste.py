"""The engineer's taste: where they end up relative to each proposal, per role.

After the engineer has mixed on top of a proposal, `learn` records, for each
channel's role, how far the channel's total level (fader plus the
assistant's level) and pan ended up from what was proposed before any taste
was applied. The profile keeps, per role, the running mean of those habits;
the next proposal adds them. An engineer who always pushes the vocal 2 dB
over the proposal sees the proposals move to +2 dB and stop moving.

Pans are learned mirrored: a habit of "wider" on the left channel of a pair
(-0.1) and on the right (+0.1) is one habit, +0.1 outwards. A centred
proposal keeps its sign.

The profile is JSON at $XDG_DATA_HOME/surfaced/taste.json (default
~/.local/share/surfaced/taste.json), written atomically (a temporary file
in the same folder, then os.replace), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_WEIGHT = 20  # the mean becomes a moving one after this many sessions: taste changes


def default_path() -> Path:
    """$XDG_DATA_HOME/surfaced/taste.json (or ~/.local/share/...)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "surfaced" / "taste.json"


@dataclass
class Habit:
    """One role's learned offsets and how many sessions they rest on."""

    level: float = 0.0  # dB over the proposal
    pan: float = 0.0  # outwards (mirrored by the proposal's side)
    count: int = 0


@dataclass
class Taste:
    """A profile of habits per role, on disk."""

    path: Path
    habits: dict[str, Habit] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Taste:
        """The profile at `path` (default_path()); empty when there is none yet.

        A file that cannot be read as a profile raises ValueError naming it.
        """
        p = path or default_path()
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(p)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: not a taste profile ({exc}); move it away to start "
                             "afresh") from None
        habits: dict[str, Habit] = {}
        try:
            for role, h in dict(data.get("roles", {})).items():
                habits[str(role)] = Habit(float(h["level"]), float(h["pan"]), int(h["count"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{p}: not a taste profile (bad entry: {exc})") from None
        return cls(p, habits)

    def save(self) -> None:
        """Write the profile atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "roles": {r: {"level": round(h.level, 3), "pan": round(h.pan, 4),
                                            "count": h.count}
                                        for r, h in sorted(self.habits.items())}}
        fd, tmp = tempfile.mkstemp(prefix=".taste.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def offset(self, role: str, base_pan: float) -> tuple[float, float]:
        """(level dB, pan) to add to a proposal of this role whose untasted pan is base_pan."""
        h = self.habits.get(role)
        if h is None:
            return 0.0, 0.0
        return h.level, -h.pan if base_pan < 0.0 else h.pan

    def observe(self, role: str, base_pan: float, level_over: float, pan_over: float) -> None:
        """One session's outcome: the channel ended `level_over` dB and `pan_over` from
        the untasted proposal (base); folds it into the role's running mean."""
        h = self.habits.setdefault(role, Habit())
        pan = -pan_over if base_pan < 0.0 else pan_over
        k = min(h.count, MAX_WEIGHT - 1) + 1
        h.level += (level_over - h.level) / k
        h.pan += (pan - h.pan) / k
        h.count += 1
