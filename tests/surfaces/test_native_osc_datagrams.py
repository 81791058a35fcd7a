"""Feedback fits in datagrams: nothing a subscriber should hear is lost whole.

A real UDP listener on 127.0.0.1 sends the native namespace's feedback to a
real subscriber socket.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import MAX_TEXT, Mixer
from surfaced.mix.params import ParamError
from surfaced.surfaces.native_osc import MAX_DATAGRAM, NativeOsc, datagrams
from surfaced.transports.osc import OscListener, OscListenerConfig
from surfaced.transports.osc_codec import encode_message, parse_packet

WAIT = 5.0


def test_every_change_reaches_a_udp_subscriber_in_datagrams_that_fit() -> None:
    async def scenario() -> list[bytes]:
        mixer = Mixer(Engine(64, 2))
        listener = OscListener(OscListenerConfig("udp", port=0), lambda e: native.handle(e))
        native = NativeOsc(mixer, listener.reply)
        await listener.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sub:
            sub.bind(("127.0.0.1", 0))
            sub.setblocking(False)
            sub.sendto(encode_message("/subscribe"), listener.address)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(_until(lambda: bool(native._subs)), WAIT)
            for c in range(1, 65):  # the longest names there may be, then faders and mutes
                mixer.set(f"ch/{c}/name", chr(0x263A) * MAX_TEXT, "cli")
                mixer.set(f"ch/{c}/fader", -10.0, "cli")
                mixer.set(f"ch/{c}/mute", True, "cli")
            native.tick(loop.time() + 1.0)
            got: list[bytes] = []
            seen: set[str] = set()
            deadline = loop.time() + WAIT
            while len(seen) < 3 * 64 and loop.time() < deadline:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sub, 65536), WAIT)
                except TimeoutError:
                    break
                got.append(data)
                seen.update(e.address for e in parse_packet(data))
        native.close()
        await listener.close()
        assert len(seen) == 3 * 64, f"{3 * 64 - len(seen)} changes never arrived"
        assert listener.stats.send_dropped == 0
        return got

    got = asyncio.run(scenario())
    assert len(got) > 1
    assert max(len(d) for d in got) <= MAX_DATAGRAM


async def _until(pred: object) -> None:
    while not pred():  # type: ignore[operator]
        await asyncio.sleep(0.01)


def test_bundles_keep_order_and_a_message_too_big_for_any_bundle_travels_bare() -> None:
    small = [encode_message(f"/ch/{c}/fader", [float(c)]) for c in range(1, 200)]
    big = encode_message("/big", ["x" * 3000])
    packets = datagrams([*small[:10], big, *small[10:]])
    assert big in packets
    assert all(len(p) <= MAX_DATAGRAM for p in packets if p != big)
    order = [e.address for p in packets for e in parse_packet(p)]
    assert order == [*(f"/ch/{c}/fader" for c in range(1, 11)), "/big",
                     *(f"/ch/{c}/fader" for c in range(11, 200))]


def test_a_name_over_the_cap_is_refused_naming_the_cap() -> None:
    mixer = Mixer(Engine(2, 0))
    with pytest.raises(ParamError, match=f"ch/1/name: .*at most {MAX_TEXT}"):
        mixer.set("ch/1/name", "n" * (MAX_TEXT + 1), "cli")
    assert mixer.get("ch/1/name") == ""
    sent: list[Event] = []
    native = NativeOsc(mixer, lambda peer, packet: sent.extend(parse_packet(packet)) or True)
    native.handle(Event("osc", source="osc:udp:127.0.0.1:5000", address="/ch/2/name",
                        args=("n" * 10_000,)))
    assert [e.address for e in sent] == ["/error"]
    assert f"at most {MAX_TEXT}" in str(sent[0].args[0])
    assert native.stats.errors == 1
    mixer.set("ch/1/name", "n" * MAX_TEXT, "cli")  # the cap itself is allowed
