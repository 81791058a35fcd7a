"""The one error a mapping file can raise, saying where and what was expected."""

from __future__ import annotations


class MappingError(ValueError):
    """A mistake in a mapping file: which file, line and key, and what was expected.

    ``str(err)`` reads ``mappings/x.yaml:12: controls.fader.cc: expected an
    integer 0..127, got 130`` so an editor can jump to it. `line` is 0 when the
    file could not be read at all.
    """

    def __init__(self, file: str, line: int, key: str, expected: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.expected = expected
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {expected}" if key else f"{where}: {expected}")


class ExprError(ValueError):
    """A bad `${...}` expression or a value it cannot produce; wrapped into MappingError."""
