"""Figures tests measure for docs/reliability.md (the `figures` fixture in conftest.py)."""

from __future__ import annotations


class Figures:
    """Figures a test measured, for docs/reliability.md (scripts/reliability renders them).

    `record` keeps the worst (or latest) value per key; when SURFACED_FIGURES
    names a file, the session writes them there as JSON at its end. Tests
    never assert on timing figures: they are recorded, not judged.
    """

    def __init__(self) -> None:
        self.values: dict[str, dict[str, object]] = {}

    def record(self, key: str, value: float | int | str, unit: str = "", what: str = "",
               keep: str = "last") -> None:
        """Record `value` for `key`; keep="max"/"min" keeps the worst across calls."""
        old = self.values.get(key)
        if old is not None and keep in ("max", "min") and isinstance(value, int | float):
            prev = old["value"]
            assert isinstance(prev, int | float)
            value = max(prev, value) if keep == "max" else min(prev, value)
        self.values[key] = {"value": value, "unit": unit, "what": what}
