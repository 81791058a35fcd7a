"""Fixtures of the link tests: a real mosquitto on 127.0.0.1 (never the system service)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from link.broker import MOSQUITTO, Broker


def need_mosquitto() -> None:
    """Skip (fail in CI) without the mosquitto binary."""
    if MOSQUITTO is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto missing in CI: scripts/test must install it (SURFACED_APT)")
        pytest.skip("mosquitto not installed (apt-get install -y mosquitto)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """An anonymous broker on a free port, stopped after the test."""
    need_mosquitto()
    b = Broker(tmp_path / "broker").start()
    try:
        yield b
    finally:
        b.stop()
