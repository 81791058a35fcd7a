"""The mapping language: one YAML file per device, turning its messages into mix changes.

`load_mapping(path)` reads a file safely (surfaced.yamlmarks), checks every
key against the schema (a `MappingError` names file, line, key and what was
expected) and compiles it into a `Mapping`; `check_file(path)` returns a
human summary of a valid mapping (and raises MappingError like load_mapping).
The run-time side is `surfaced.surfaces.surface.Surface`. The language itself is
documented in docs/mapping.md.
"""

from __future__ import annotations

from surfaced.mapping.check import check_file, summary
from surfaced.mapping.compile import load_mapping
from surfaced.mapping.errors import MappingError
from surfaced.mapping.model import Mapping, MidiMatch, OscMatch, SerialMatch

__all__ = ["Mapping", "MappingError", "MidiMatch", "OscMatch", "SerialMatch", "check_file",
           "load_mapping", "summary"]
