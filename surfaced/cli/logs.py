"""Logging for the `surfaced` command, configured once (the library only logs).

Two formats, chosen by whether stderr is a terminal:

- a terminal: ``12:04:31 warning surfaced.transports.midi: message``
- anything else (systemd, a pipe, a file): ``<4>surfaced.transports.midi: message``,
  the syslog priority in angle brackets and no time stamp, which is what
  journald reads from a service's stderr (it stamps lines itself and turns
  ``<N>`` into the line's priority: ``journalctl -p warning`` works).

The level comes from the configuration's ``log_level`` (run only), moved one
step per ``-v`` (more) or ``-q`` (less) on the command line; see
`level_for`. The daemon's own status lines (``surfaced: ...``) are not log
records and are always printed.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from surfaced.config import LOG_LEVELS as LEVELS

_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
           logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """``<N>logger: message``: each line of a multi-line record gets the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prio = _SYSLOG.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines())


def level_for(configured: str | None, verbose: int, quiet: int) -> int:
    """The logging level: `configured` (default warning) moved by -v / -q steps."""
    base = LEVELS.index(configured) if configured in LEVELS else LEVELS.index("warning")
    step = max(0, min(len(LEVELS) - 1, base - verbose + quiet))
    return int(getattr(logging, LEVELS[step].upper()))


def configure(level: int, stream: TextIO | None = None) -> logging.Handler:
    """Send the `surfaced` loggers' records at `level` and above to `stream` (stderr)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    if out.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                               datefmt="%H:%M:%S"))
    else:
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    root = logging.getLogger("surfaced")
    for old in list(root.handlers):  # once: a second call replaces, never doubles
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
