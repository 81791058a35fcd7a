"""Port-name patterns, as mapping files (`match: port:`) and session `connections:` write them.

``re:REGEX`` is a regular expression searched in the name; anything else is a
glob over the whole name (case-sensitive, `fnmatch.fnmatchcase`). One
implementation for every place that matches port names: rtmidi's ports, our
JACK client's MIDI and audio ports, the CLI's monitor.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable


class PortPatternError(ValueError):
    """A ``re:`` pattern whose regular expression does not compile."""


@functools.lru_cache(maxsize=512)
def port_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate for port names, compiled once per pattern (matched on every graph change)."""
    if pattern.startswith("re:"):
        try:
            regex = re.compile(pattern[3:])
        except re.error as exc:
            raise PortPatternError(f"bad port pattern {pattern!r}: {exc}") from None
        return lambda name: regex.search(name) is not None
    return lambda name: fnmatch.fnmatchcase(name, pattern)
