"""Fixtures for the mapping tests: a 16-channel mix and a surface factory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaces.helpers import MAPPINGS, Rig


@pytest.fixture
def mixer() -> Iterator[Mixer]:
    yield Mixer(Engine(16, 4))


@pytest.fixture
def rig(mixer: Mixer) -> Iterator[Callable[..., Rig]]:
    """Make a Rig from a shipped mapping name or from YAML text."""
    made: list[Rig] = []

    def make(name_or_yaml: str, tmp: Path | None = None, **kw: object) -> Rig:
        if "\n" in name_or_yaml:
            assert tmp is not None
            path = tmp / "m.yaml"
            path.write_text(textwrap.dedent(name_or_yaml))
        else:
            path = MAPPINGS / f"{name_or_yaml}.yaml"
        r = Rig(mixer, path, **kw)  # type: ignore[arg-type]
        made.append(r)
        return r

    yield make
    for r in made:
        r.surface.close()
