"""Non-finite and out-of-range values over real UDP: answered with /error, never applied."""

from __future__ import annotations

import asyncio
import math

import pytest
from test_daemon_osc import UdpClient, running_daemon

from surfaced.mapping.values import Curve, ValueScale
from surfaced.mix import params


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 7.0, -5.0, 1.0000001])
def test_a_bad_norm_position_is_refused_and_counted(value: float) -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            assert d.native is not None
            port = d.osc[0].address[1]
            a = UdpClient(port)
            before = d.mixer.get("master/fader")
            a.send("/master/fader/norm", value)
            a.send("/ch/1/fader/norm", value)
            await a.collect(lambda got: sum(e.address == "/error" for e in got) >= 2)
            errors = [str(e.args[0]) for e in a.got if e.address == "/error"]
            assert len(errors) == 2, errors
            assert errors[0].startswith("master/fader: position")
            assert "0..1" in errors[0]
            assert d.mixer.get("master/fader") == before
            assert d.mixer.get("ch/1/fader") == 0.0
            assert d.native.stats.errors == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("address,value", [
    ("/master/fader", math.nan), ("/master/fader", math.inf), ("/ch/1/pan", math.nan),
    ("/ch/1/pan", -math.inf), ("/ch/1/pan", 1.5), ("/ch/1/mute", math.nan)])
def test_a_bad_value_in_the_unit_is_refused_and_counted(address: str, value: float) -> None:
    async def scenario() -> None:
        async with running_daemon() as d:
            assert d.native is not None
            a = UdpClient(d.osc[0].address[1])
            snapshot = d.mixer.snapshot()
            a.send(address, value)
            a.send("/ch/2/pan", 0.5)  # a good one after it still applies
            await a.collect(lambda got: any(e.address == "/error" for e in got))
            errors = [str(e.args[0]) for e in a.got if e.address == "/error"]
            assert errors and errors[0].startswith(address.strip("/") + ":")
            for _ in range(100):  # bounded: until the good one has landed
                if d.mixer.get("ch/2/pan") == 0.5:
                    break
                await asyncio.sleep(0.01)
            after = d.mixer.snapshot()
            assert after.pop("ch/2/pan") == 0.5
            snapshot.pop("ch/2/pan")
            assert after == snapshot
            assert d.native.stats.errors == 1

    asyncio.run(scenario())


def test_mapping_scaling_never_produces_a_non_finite_value() -> None:
    scales = [ValueScale(), ValueScale(invert=True), ValueScale(curve=Curve(power=3.0)),
              ValueScale(curve=Curve(points=((0.0, 0.0), (0.5, 0.9), (1.0, 1.0)))),
              ValueScale(taper="log", range=(20.0, 1000.0)), ValueScale(range=(-30.0, 0.0)),
              ValueScale(taper="linear"), ValueScale(taper="int")]
    paths = ["ch/1/fader", "ch/1/pan", "ch/1/hpf/freq", "ch/1/mute", "ch/1/comp/ratio"]
    positions = [math.nan, math.inf, -math.inf, -5.0, 0.0, 1e-12, 0.5, 1.0, 7.0]
    for path in paths:
        spec = params.spec_for(path, 2, 1)
        for scale in scales:
            for p in positions:
                v = scale.to_value(spec, p)
                assert not math.isnan(v), (path, scale, p)
                assert spec.minimum <= v <= spec.maximum, (path, scale, p)
