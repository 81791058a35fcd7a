"""Fixtures for the firmware tests (helpers live in fwbuild.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fwbuild import CORE_SOURCES, TESTS_C, compile_c, load_vectors, vectors_header


@pytest.fixture(scope="session")
def c_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One temporary directory for every host build of the session."""
    return tmp_path_factory.mktemp("firmware-host")


@pytest.fixture(scope="session")
def build_core_test(c_build_dir: Path) -> Callable[[str, bool], Path]:
    """Build (once per flavour) a C test program from tests/firmware/c/NAME.c
    linked with the whole core; vectors.h is generated for it first."""
    built: dict[tuple[str, bool], Path] = {}
    header = c_build_dir / "vectors.h"
    header.write_text(vectors_header(load_vectors()), encoding="utf-8")

    def build(name: str, sanitize: bool = False) -> Path:
        key = (name, sanitize)
        if key not in built:
            exe = c_build_dir / (name + ("-asan" if sanitize else ""))
            built[key] = compile_c(exe, [TESTS_C / f"{name}.c", *CORE_SOURCES],
                                   sanitize=sanitize, include=[c_build_dir])
        return built[key]

    return build
