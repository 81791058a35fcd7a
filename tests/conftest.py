"""Shared fixtures: one real JACK server (dummy driver) per test session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from jack_server import JackServer, jack_server, jackd_path


@pytest.fixture(scope="session")
def jack() -> Iterator[JackServer]:
    """A JACK server with the dummy driver at 48 kHz / 64 frames.

    CI installs jackd2; on a developer machine without it the tests that need
    it are skipped with the install command as the reason.
    """
    if jackd_path() is None:
        if os.environ.get("CI"):
            pytest.fail("jackd missing in CI: .ci/run must install jackd2")
        pytest.skip("jackd not installed (apt-get install jackd2 libportaudio2)")
    with jack_server() as server:
        yield server
