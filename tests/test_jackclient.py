"""surfaced's own JACK client (native/jack.c) against a real jackd (dummy driver)."""

from __future__ import annotations

import subprocess
import time

import pytest

from surfaced.jackclient import (
    AUDIO,
    IS_INPUT,
    IS_OUTPUT,
    MIDI,
    JackClient,
    JackError,
    JackUnavailable,
    matches,
)


def _lsp(server: str, *args: str) -> str:
    done = subprocess.run(["jack_lsp", "-s", server, *args], capture_output=True, text=True,
                          timeout=10)
    return done.stdout


def test_client_ports_and_connections_are_visible_to_other_jack_clients(jack) -> None:
    with JackClient.open("sftest-client", jack.name) as c:
        assert c.name == "sftest-client"
        c.register_port("Kick", AUDIO, IS_INPUT)
        c.register_port("Bus 1 L", AUDIO, IS_OUTPUT)
        c.register_port("Desk in", MIDI, IS_INPUT)
        listed = _lsp(jack.name)
        for port in ("sftest-client:Kick", "sftest-client:Bus 1 L", "sftest-client:Desk in"):
            assert port in listed
        assert "sftest-client:Kick" in c.ports("sftest-client:.*", AUDIO, IS_INPUT)
        assert c.matching(["sftest-client:Bus*"]) == ["sftest-client:Bus 1 L"]
        assert c.matching(["re:Desk"], MIDI) == ["sftest-client:Desk in"]

        c.connect("sftest-client:Bus 1 L", "sftest-client:Kick")
        c.connect("sftest-client:Bus 1 L", "sftest-client:Kick")  # already there: fine
        assert c.connections("sftest-client:Kick") == ["sftest-client:Bus 1 L"]
        assert "sftest-client:Kick" in _lsp(jack.name, "-c")
        with pytest.raises(JackError, match="no:such"):
            c.connect("no:such", "sftest-client:Kick")

        c.rename_port("Kick", "Kick In")
        assert "sftest-client:Kick In" in _lsp(jack.name)
        c.disconnect("sftest-client:Bus 1 L", "sftest-client:Kick In")
        assert c.connections("sftest-client:Kick In") == []

        s = c.status()
        assert s.sample_rate == jack.rate and s.buffer_size == jack.period
        assert not s.shutdown
        # The process callback runs (with no hook installed) once per period.
        first = s.cycles
        time.sleep(0.2)
        assert c.status().cycles > first


def test_a_taken_name_gets_a_unique_one(jack) -> None:
    with JackClient.open("sftest-twice", jack.name) as a, \
            JackClient.open("sftest-twice", jack.name) as b:
        assert a.name == "sftest-twice"
        assert b.name != a.name and b.name.startswith("sftest-twice")


def test_bad_names_and_missing_server_are_clear_errors(jack) -> None:
    with pytest.raises(JackError, match=r"1\.\.63"):
        JackClient.open("x" * 70, jack.name)
    with pytest.raises(JackUnavailable, match="no-such-server"):
        JackClient.open("sftest", "no-such-server")
    with JackClient.open("sftest-names", jack.name) as c:
        c.register_port("a", AUDIO, IS_INPUT)
        with pytest.raises(JackError, match="already registered"):
            c.register_port("a", AUDIO, IS_INPUT)


def test_notifications_wake_the_waiter() -> None:
    """Another client's port appearing wakes wait(); counted in status."""
    from jack_server import jack_server

    with jack_server() as server, JackClient.open("sftest-watch", server.name) as c:
        before = c.status().port_registrations
        other = JackClient.open("sftest-other", server.name)
        other.register_port("out", AUDIO, IS_OUTPUT)
        deadline = time.monotonic() + 5
        while c.status().port_registrations == before and time.monotonic() < deadline:
            c.wait(0.5)
        assert c.status().port_registrations > before
        other.close()


def test_server_shutdown_is_seen_and_close_does_not_hang() -> None:
    from jack_server import jack_server

    with jack_server() as server:
        c = JackClient.open("sftest-gone", server.name)
        server.process.terminate()
        server.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not c.status().shutdown and time.monotonic() < deadline:
            c.wait(0.5)
        assert c.status().shutdown
        c.close()
        c.close()


def test_glob_and_regex_patterns() -> None:
    assert matches("system:playback_*", "system:playback_12")
    assert not matches("system:playback_*", "other:system:playback_1")
    assert matches("re:^Mackie.*MIDI 1", "Mackie Control MIDI 1")
    assert not matches("Kick", "Kick In")
