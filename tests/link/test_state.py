"""The link's rule, alone: last writer wins by stamp, conflicts named, holds ordered."""

from __future__ import annotations

import itertools

import pytest

from surfaced.link.hlc import HybridClock, Stamp
from surfaced.link.state import LinkState
from surfaced.link.wire import Claim, Marker, Presence, Topics, WireError, Write, encode_claim
from surfaced.link.wire import encode_write as enc


def S(wall: int, origin: str, tick: int = 0) -> Stamp:
    return Stamp(wall, tick, origin)


def test_every_arrival_order_ends_with_the_largest_stamp() -> None:
    writes = [Write("ch/1/fader", -float(i), S(100 + i % 3, "abc"[i % 3], i), None)
              for i in range(5)]
    winner = max(writes, key=lambda w: w.stamp)
    for order in itertools.permutations(writes):
        st = LinkState("z")
        value = None
        for w in order:
            if st.receive(w).apply:
                value = w.value
        assert value == winner.value
        assert st.held["ch/1/fader"].stamp == winner.stamp


def test_a_sequence_is_no_conflict_and_concurrent_writes_are_named_once() -> None:
    st = LinkState("c")
    st.online.update({"a", "b", "c"})
    a1 = Write("ch/1/fader", -3.0, S(100, "a"), None, "surface:x")
    a2 = Write("ch/1/fader", -4.0, S(110, "b"), a1.stamp)  # b had seen a1: a sequence
    assert st.receive(a1).apply and st.receive(a2).apply
    assert not st.conflicts
    # a partition: a and b both write with base a2; a's is newer and arrives first
    b3 = Write("ch/1/fader", -20.0, S(200, "b"), a2.stamp)
    a3 = Write("ch/1/fader", -6.0, S(210, "a"), a2.stamp)
    assert st.receive(a3).apply
    out = st.receive(b3)
    assert not out.apply and out.conflict is not None
    assert (out.conflict.lost.value, out.conflict.won.value) == (-20.0, -6.0)
    assert st.receive(b3).conflict is None  # the same write again: already taken
    # the other order at another daemon names the same loser
    st2 = LinkState("d")
    st2.receive(a2)
    st2.receive(b3)
    out2 = st2.receive(a3)
    assert out2.apply and out2.conflict is not None
    assert (out2.conflict.lost.value, out2.conflict.won.value) == (-20.0, -6.0)
    assert "lost -20 by b" in out2.conflict.describe()


def test_a_daemon_cut_off_sends_one_write_based_on_what_it_had_seen() -> None:
    st = LinkState("a")
    seen = Write("ch/1/pan", 0.0, S(100, "b"), None)
    st.receive(seen)
    for i in range(3):  # moves while cut off
        st.local("ch/1/pan", 0.1 * (i + 1), S(200 + i, "a"), "surface:x")
    out = st.to_publish("ch/1/pan")
    assert out is not None
    write, prior = out
    assert write.base == seen.stamp and write.value == pytest.approx(0.3)
    assert prior is not None and prior.stamp == seen.stamp
    # a third daemon that only had `seen` takes it without calling it a conflict
    other = LinkState("c")
    other.receive(seen)
    assert other.receive(write).conflict is None


def test_seeds_lose_to_any_write_and_are_never_conflicts() -> None:
    st = LinkState("a")
    st.seed("ch/1/mute", 0.0)
    out = st.receive(Write("ch/1/mute", 1.0, S(5, "b"), None))
    assert out.apply and out.conflict is None
    seeds = [Write("ch/2/mute", 0.0, S(0, o), None) for o in "bc"]
    st2 = LinkState("a")
    st2.seed("ch/2/mute", 1.0)
    assert [st2.receive(w).apply for w in seeds] == [True, True]  # (0,0,c) is the largest


def test_a_loser_makes_its_winner_republish_for_the_broker() -> None:
    st = LinkState("a")
    st.online.update({"a", "b"})
    st.local("ch/1/fader", -1.0, S(300, "a"), "x")
    st.to_publish("ch/1/fader")
    out = st.receive(Write("ch/1/fader", -2.0, S(200, "b"), None))
    assert out.republish and "ch/1/fader" in st.dirty
    again = st.to_publish("ch/1/fader")
    assert again is not None and again[0].stamp == S(300, "a") and again[1] is None


def test_the_earliest_live_hold_owns_a_control() -> None:
    st = LinkState("a")
    st.online.update({"a", "b", "c"})
    st.claim("c", "ch/1/fader", S(50, "c"), "surface:x-touch")
    st.claim("a", "ch/1/fader", S(60, "a"), "surface:mcu")
    assert st.owner("ch/1/fader") == ("c", "surface:x-touch")
    st.presence("c", False)  # c went away: its hold ends with it
    assert st.owner("ch/1/fader") == ("a", "surface:mcu")
    st.claim("b", "ch/2/fader", S(10, "b"))
    st.cut_off()
    assert st.owner("ch/2/fader") is None


def test_the_clock_moves_past_what_it_sees() -> None:
    wall = [1000]
    clock = HybridClock("a", wall=lambda: wall[0])
    first = clock.now()
    clock.observe(S(5000, "b", 7))  # a daemon whose clock runs ahead
    after = clock.now()
    assert after > S(5000, "b", 7) > first
    wall[0] = 6000
    assert clock.now() == Stamp(6000, 0, "a")


def test_payloads_round_trip_and_garbage_is_a_wire_error() -> None:
    t = Topics("studio", "a")
    w = Write("ch/1/fader", float("-inf"), S(1, "a", 2), S(0, "b"), "surface:x")
    assert t.parse(t.param("ch/1/fader"), enc(w)) == w
    assert t.parse(t.claim("ch/1/fader", "b"), encode_claim(S(3, "b"), "s")) == \
        Claim("b", "ch/1/fader", S(3, "b"), "s")
    assert t.parse(t.claim("ch/1/fader", "b"), b"") == Claim("b", "ch/1/fader", None)
    assert t.parse(t.presence("b"), b'{"state": "offline"}') == Presence("b", False)
    assert t.parse(t.marker(), b"abc") == Marker("a", "abc")
    bad = [(t.param("ch/1/fader"), b"\xff\xfe"), (t.param("ch/1/fader"), b"[1]"),
           (t.param("ch/1/fader"), b'{"n": NaN, "t": [1, 0, "a"]}'),
           (t.param("ch/1/fader"), b'{"n": 1, "t": [1, 0]}'),
           (t.param("ch/1/fader"), b'{"n": 1, "t": [1, 0, "a/b"]}'),
           (t.param("ch/1/fader"), b'{"t": [1, 0, "a"]}'),
           (t.param("ch/1/fader"), b"[" * 100000),
           (t.presence("b"), b'{"state": 3}'), ("surfaced/other/mix/x", b"{}"),
           (t.prefix + "nothing", b"")]
    for topic, payload in bad:
        with pytest.raises(WireError):
            t.parse(topic, payload)
