"""Terminal meters: the mix as text, redrawn in place.

Pure formatting (format_meters) is kept apart from the terminal handling so it
can be tested and reused by other front ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from surfaced.mix.engine import MeterSnapshot, to_db

BAR_WIDTH = 30
FLOOR_DB = -60.0


def bar(db: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar for a level in dBFS: empty at -60, full at 0."""
    if math.isinf(db) or db <= FLOOR_DB:
        filled = 0
    else:
        filled = round(width * min(1.0, (db - FLOOR_DB) / -FLOOR_DB))
    return "#" * filled + "." * (width - filled)


def fmt_db(db: float) -> str:
    """dB with one decimal, or -inf, in a fixed width."""
    return "  -inf" if math.isinf(db) or db < -199.0 else f"{db:6.1f}"


def format_meters(snap: MeterSnapshot, names: Sequence[str], source: str = "") -> list[str]:
    """Lines of text showing every channel and the master section."""
    lines = [f"surfaced - {source}" if source else "surfaced", ""]
    lines.append(f"{'channel':<12} {'peak':>6} {'rms':>6}  level (-60..0 dBFS)")
    for i, name in enumerate(names):
        pk = to_db(float(snap.ch_peak[i]))
        rms = to_db(float(snap.ch_rms[i]))
        lines.append(f"{name[:12]:<12} {fmt_db(pk)} {fmt_db(rms)}  {bar(pk)}")
    m = snap.master
    lines.append("")
    for side, label in ((0, "master L"), (1, "master R")):
        pk = to_db(m.peak[side])
        lines.append(f"{label:<12} {fmt_db(pk)} {fmt_db(to_db(m.rms[side]))}  {bar(pk)}")
    tp = max(m.true_peak_max)
    clip = f"CLIP x{m.clip_count}" if m.clip_count else "no clip"
    lines.append(
        f"true peak {fmt_db(to_db(tp))} dBTP   momentary {fmt_db(m.momentary_lufs)} LUFS   "
        f"short-term {fmt_db(m.short_term_lufs)} LUFS   integrated "
        f"{fmt_db(m.integrated_lufs)} LUFS   {clip}"
    )
    extra = []
    if m.xruns:
        extra.append(f"xruns {m.xruns}")
    if m.nonfinite_count:
        extra.append(f"non-finite samples replaced {m.nonfinite_count}")
    lines.append("   ".join(extra) if extra else "")
    return lines


def redraw(lines: Sequence[str], previous: int) -> str:
    """ANSI text that moves up over the previous frame and draws this one."""
    up = f"\x1b[{previous}F" if previous else ""
    return up + "".join(f"\x1b[2K{line}\n" for line in lines)
