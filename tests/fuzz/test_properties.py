"""Hypothesis property tests of every parser and loader (issue 8, "Fuzzing and soak").

Two kinds of property per parser:

- anything goes: arbitrary bytes, or trees of the right shape with wrong
  contents, yield a value or the project's own error (tests/fuzz/targets.py
  holds those checks, shared with the atheris harness);
- recovery: valid input after garbage still comes through whole, so a burst
  of line noise costs the noise and never the valid messages behind it.

The coverage-guided runs of the same targets are in test_atheris.py.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import targets
from surfaced.events import Event
from surfaced.transports import osc_codec, slip
from surfaced.transports.midi_codec import MidiParser
from surfaced.transports.serial_codec import SerialDecoder, encode_box_message

FAST = settings(max_examples=400, deadline=None)
FILES = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- MIDI -----------------------------------------------------------------------

_ch, _7 = st.integers(0, 15), st.integers(0, 127)
midi_events = st.one_of(
    st.builds(lambda k, c, n, v: Event(k, channel=c, number=n, value=v),
              st.sampled_from(["note_on", "note_off", "cc", "poly_pressure"]), _ch, _7, _7),
    st.builds(lambda k, c, v: Event(k, channel=c, value=v),
              st.sampled_from(["program", "channel_pressure"]), _ch, _7),
    st.builds(lambda c, v: Event("pitchbend", channel=c, value=v), _ch, st.integers(0, 16383)),
    st.builds(lambda d: Event("sysex", data=b"\xf0" + d + b"\xf7"),
              st.binary(max_size=40).map(lambda b: bytes(x & 0x7F for x in b))),
)


@FAST
@given(st.binary(max_size=600))
def test_midi_any_bytes(data: bytes) -> None:
    targets.midi(data)


@FAST
@given(st.binary(max_size=200), st.lists(midi_events, min_size=1, max_size=20),
       st.integers(1, 9))
def test_midi_valid_messages_after_garbage_all_arrive(garbage: bytes, events: list[Event],
                                                      chunk: int) -> None:
    # Garbage without real-time bytes (those are messages of their own, delivered at once).
    garbage = bytes(b for b in garbage if b < 0xF8)
    stream = garbage + b"".join(e.to_bytes() for e in events)
    parser = MidiParser("")
    got: list[Event] = []
    for i in range(0, len(stream), chunk):
        got += parser.feed(stream[i:i + chunk])
    assert got[len(got) - len(events):] == events
    assert not parser.pending


# -- OSC ------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=20)
_scalar = st.one_of(st.integers(-(2**31), 2**31 - 1), st.booleans(), st.none(), _text,
                    st.binary(max_size=20),
                    st.floats(allow_nan=False, width=32))
osc_args = st.lists(st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3).map(tuple),
                                 max_leaves=6), max_size=6).map(tuple)
osc_address = st.lists(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), min_size=1,
                       max_size=4).map(lambda parts: "/" + "/".join(parts))


@FAST
@given(st.binary(max_size=600))
def test_osc_any_bytes(data: bytes) -> None:
    targets.osc(data)


@FAST
@given(st.lists(st.tuples(osc_address, osc_args), min_size=1, max_size=5), st.booleans())
def test_osc_messages_and_bundles_round_trip(messages: list[tuple[str, tuple[Any, ...]]],
                                             bundled: bool) -> None:
    packets = [osc_codec.encode_message(a, list(args)) for a, args in messages]
    if bundled:
        got = osc_codec.parse_packet(osc_codec.encode_bundle(packets))
    else:
        got = [e for p in packets for e in osc_codec.parse_packet(p)]
    assert [(e.address, e.args) for e in got] == list(messages)


@FAST
@given(st.tuples(osc_address, osc_args), st.integers(0, 200), st.binary(min_size=1, max_size=4))
def test_osc_a_damaged_packet_is_an_osc_parse_error_or_a_message(message: Any, at: int,
                                                                 noise: bytes) -> None:
    packet = bytearray(osc_codec.encode_message(message[0], list(message[1])))
    at %= len(packet)
    packet[at:at + len(noise)] = noise
    targets.osc(bytes(packet))


# -- SLIP -----------------------------------------------------------------------

@FAST
@given(st.binary(max_size=600))
def test_slip_any_bytes(data: bytes) -> None:
    targets.slip(data)


@FAST
@given(st.binary(max_size=100).filter(lambda b: b"\xc0" not in b),
       st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=10), st.integers(1, 9))
def test_slip_frames_after_noise_all_arrive(noise: bytes, frames: list[bytes],
                                            chunk: int) -> None:
    stream = noise + b"".join(slip.encode(f) for f in frames)
    dec = slip.SlipDecoder(64, synced=False)  # a serial line opened mid-frame
    got: list[bytes] = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert got == frames
    assert dec.stats.garbage == (1 if noise else 0)


# -- the DIY box ----------------------------------------------------------------

box_args = st.lists(st.one_of(st.integers(-(2**31), 2**31 - 1),
                              st.floats(allow_nan=False, width=32),
                              st.from_regex(r"[ -~]{0,12}", fullmatch=True),
                              st.binary(max_size=12)), max_size=5).map(tuple)


@FAST
@given(st.binary(max_size=600))
def test_box_any_bytes(data: bytes) -> None:
    targets.box(data)


@FAST
@given(st.binary(max_size=200), st.lists(st.tuples(osc_address, box_args), min_size=1,
                                         max_size=8), st.integers(1, 13))
def test_box_messages_after_noise_all_arrive(noise: bytes, messages: list[Any],
                                             chunk: int) -> None:
    events = [Event("osc", address=a, args=args) for a, args in messages]
    frames = b"".join(slip.encode(encode_box_message(e)) for e in events)
    # Noise, then an END as a box sends before every frame (PROTOCOL.md: double END).
    stream = noise + b"\xc0" + frames
    dec = SerialDecoder("box")
    got: list[Event] = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert [(e.address, e.args) for e in got[len(got) - len(events):]] == [
        (e.address, e.args) for e in events]


# -- files ------------------------------------------------------------------------

def _tree(keys: list[str], leaf_keys: list[str]) -> st.SearchStrategy[Any]:
    """YAML trees whose keys are mostly ones the loader knows (so it reads deep)."""
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                       st.floats(), st.text(max_size=12), st.sampled_from(leaf_keys))
    key = st.one_of(st.sampled_from(keys + leaf_keys), st.text(max_size=6), st.integers())
    return st.recursive(scalar, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=5)), max_leaves=25)


def _yaml(tree: Any) -> bytes:
    return yaml.safe_dump(tree, allow_unicode=True).encode()


_MAPPING_KEYS = ["name", "transport", "match", "strips", "controls", "defaults", "pages",
                 "vars", "handshake", "keepalive", "output", "extends", "bank", "modifiers"]
_CONTROL_KEYS = ["cc", "note", "param", "each", "feedback", "range", "encoder", "when", "value",
                 "pitchbend", "nrpn", "touch", "taper", "curve", "midi", "osc", "strip", "ch",
                 "${strip}", "ch/${ch}/fader", "0..3", "mackie-control", "protocols/mackie-control"]


@FILES
@given(st.dictionaries(st.sampled_from(_MAPPING_KEYS), _tree(_MAPPING_KEYS, _CONTROL_KEYS),
                       max_size=8))
def test_mapping_any_tree(tree: dict[str, Any]) -> None:
    targets.mapping(_yaml(tree))


@FILES
@given(st.binary(max_size=400))
def test_mapping_any_bytes(data: bytes) -> None:
    targets.mapping(data)


_SESSION_KEYS = ["version", "rate", "buses", "duration", "channels", "params", "safes",
                 "scenes", "reference", "name", "source", "values", "fade", "scope", "kinds"]
_SESSION_LEAVES = ["generator", "wav", "input", "sine", "pink", "fader", "pan", "ch/1/fader",
                   "bus/1/fader", "master/fader", "comp/on", "-inf", "eq/1/gain", "mute"]


@FILES
@given(st.dictionaries(st.sampled_from(_SESSION_KEYS), _tree(_SESSION_KEYS, _SESSION_LEAVES),
                       max_size=8))
def test_session_any_tree(tree: dict[str, Any]) -> None:
    targets.session(_yaml(tree))


@FILES
@given(st.binary(max_size=400))
def test_session_any_bytes(data: bytes) -> None:
    targets.session(data)


_CONFIG_KEYS = ["session", "audio", "midi", "osc", "x32", "mdns", "mappings", "feedback_rate",
                "autosave", "change_log", "web", "link", "log_level", "host", "port",
                "protocol", "framing", "enable", "name", "block", "headless", "device", "dirs",
                "interval", "keep", "api"]
_CONFIG_LEAVES = ["udp", "tcp", "slip", "size", "jack", "alsa", "127.0.0.1", "0.0.0.0",
                  "debug", "x", "/dev/zero", "~/x"]


@FILES
@given(st.dictionaries(st.sampled_from(_CONFIG_KEYS), _tree(_CONFIG_KEYS, _CONFIG_LEAVES),
                       max_size=8))
def test_config_any_tree(tree: dict[str, Any]) -> None:
    targets.config(_yaml(tree))


@FILES
@given(st.binary(max_size=400))
def test_config_any_bytes(data: bytes) -> None:
    targets.config(data)


_AUDIO_SEEDS = targets._audio_seeds()


@FILES
@given(st.sampled_from(_AUDIO_SEEDS), st.lists(st.tuples(st.integers(0, 4000), st.binary(
    min_size=1, max_size=8)), max_size=4), st.integers(0, 4000), st.integers(0, 3))
def test_audio_damaged_files(seed: bytes, patches: list[tuple[int, bytes]], cut: int,
                             rate: int) -> None:
    data = bytearray(seed)
    data[0] = rate
    for at, noise in patches:  # header fields and samples overwritten
        at = 1 + at % (len(data) - 1)
        data[at:at + len(noise)] = noise
    targets.audio(bytes(data[:max(1, len(data) - cut)]))  # and the end cut off
