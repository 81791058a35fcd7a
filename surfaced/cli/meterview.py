"""Terminal meters: the mix as text, redrawn in place.

Pure formatting (format_meters) is kept apart from the terminal handling so it
can be tested and reused by other front ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from surfaced.mix.audio import CallbackTiming
from surfaced.mix.engine import MasterMeters, MeterSnapshot, to_db

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
    if m.tp_over_steps:
        clip += f"   TP OVER x{m.tp_over_steps}"
    lines.append(
        f"true peak {fmt_db(to_db(tp))} dBTP   momentary {fmt_db(m.momentary_lufs)} LUFS   "
        f"short-term {fmt_db(m.short_term_lufs)} LUFS   integrated "
        f"{fmt_db(m.integrated_lufs)} LUFS   range {m.loudness_range_lu:4.1f} LU   {clip}"
    )
    extra = []
    if m.xruns:
        extra.append(f"xruns {m.xruns}")
    if m.nonfinite_count:
        extra.append(f"non-finite samples replaced {m.nonfinite_count}")
    lines.append("   ".join(extra) if extra else "")
    return lines


def _at(frame: int, rate: float) -> str:
    return f"{frame / rate:.3f} s"


def overs_summary(m: MasterMeters, rate: float) -> str:
    """Did the master clip? A straight answer: whether any sample or true peak
    went over 0 dBFS, where (seconds from the engine's first frame: the file's
    start for a render) and how often."""
    tp_max = to_db(max(m.true_peak_max))
    tp_text = "-inf" if math.isinf(tp_max) else f"{tp_max:+.1f}"
    if not m.clip_count and not m.tp_over_steps:
        return (f"master did not clip: no sample over 0 dBFS, true peak max {tp_text} dBTP "
                "(never over 0 dBTP)")
    parts = []
    if m.clip_count:
        where = ""
        if m.first_clip_frame >= 0:
            where = (f" (first at {_at(m.first_clip_frame, rate)}, "
                     f"last at {_at(m.last_clip_frame, rate)})")
        samples = "sample" if m.clip_count == 1 else "samples"
        parts.append(f"{m.clip_count} {samples} over 0 dBFS{where}")
    else:
        parts.append("no sample over 0 dBFS")
    if m.tp_over_steps:
        stretches = "stretch" if m.tp_over_steps == 1 else "stretches"
        parts.append(f"true peak over 0 dBTP in {m.tp_over_steps} 10-ms {stretches} (first at "
                     f"{_at(m.first_tp_over_frame, rate)}, last at "
                     f"{_at(m.last_tp_over_frame, rate)}), max {tp_text} dBTP")
    else:
        parts.append(f"true peak max {tp_text} dBTP")
    return "master CLIPPED: " + "; ".join(parts)


def timing_summary(t: CallbackTiming, where: str) -> str:
    """`run --audio-timing`'s line at stop: what the core's blocks cost, in CPU time
    (its work, and on kernels without IRQ_TIME_ACCOUNTING the interrupts that
    came while it ran) and in wall-clock time (with the waits for a CPU), and
    how many ran past their period each way. A block past it only in
    wall-clock time was held up by the machine (other programs, the
    hypervisor)."""
    return (f"audio blocks {t.count} ({where}): CPU p50 {t.cpu_p50_us:.0f} µs, "
            f"p99 {t.cpu_p99_us:.0f} µs, p99.9 {t.cpu_p999_us:.0f} µs, "
            f"max {t.cpu_max_us:.0f} µs; wall-clock p99 {t.p99_us:.0f} µs, "
            f"max {t.max_us:.0f} µs; past their period: {t.cpu_over_period} in CPU time, "
            f"{t.wall_over_period} in wall-clock time")


def redraw(lines: Sequence[str], previous: int) -> str:
    """ANSI text that moves up over the previous frame and draws this one."""
    up = f"\x1b[{previous}F" if previous else ""
    return up + "".join(f"\x1b[2K{line}\n" for line in lines)
