"""Every shipped MIDI mapping against its maker's documented bytes.

Each file in tests/surfaces/devices/ names a mapping, the document its bytes
come from, and steps: bytes the device sends (``send``; to another unit
of the file's ``also`` with ``unit``), changes made elsewhere (``set``), a
signal for the meters (``level``), time passing (``wait``). After each step the parameters it
names must hold (``params``) and the next tick must send exactly ``sent``
(hex, in order; the file's ``ignore`` status bytes, the meters, left out
unless ``meters``) or at least ``includes``; a ``connect`` step checks what
connecting sent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from surfaced.events import Event
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.surfaces.navigation import LinkRegistry
from surfaced.transports.midi_codec import MidiParser
from surfaces.helpers import MAPPINGS, Rig, hexes

DEVICES = Path(__file__).parent / "devices"
FILES = sorted(DEVICES.glob("*.yaml"))
# MIDI mappings with no conformance file (the DIY box speaks OSC over serial:
# tests/surfaces/test_surface_devices.py and the firmware tests cover it).
EXEMPT = {"diy-reference-box"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and data.get("source"), f"{path.name}: name the source"
    return data


def events(text: str) -> list[Event]:
    return MidiParser().feed(bytes.fromhex(text))


def test_every_shipped_mapping_has_a_conformance_file() -> None:
    covered = {load(p)["mapping"] for p in FILES}
    shipped = {p.stem for p in MAPPINGS.glob("*.yaml")}
    assert shipped - EXEMPT <= covered, f"no conformance file for {shipped - EXEMPT - covered}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_device_conformance(path: Path) -> None:
    data = load(path)
    engine = Engine(int(data.get("channels", 16)), 4)
    mixer = Mixer(engine)
    registry = LinkRegistry()
    clock = [1000.0]
    rigs = {"": Rig(mixer, MAPPINGS / f"{data['mapping']}.yaml", "dut", registry, clock)}
    for n, name in enumerate(data.get("also", [])):  # linked units, other surfaces
        rigs[name] = Rig(mixer, MAPPINGS / f"{name}.yaml", f"other{n}", registry, clock)
    ignore = tuple(data.get("ignore", ()))
    try:
        for n, step in enumerate(data["steps"]):
            where = f"{path.name} step {n + 1} ({step.get('what', '')})"
            rig = rigs[step.get("unit", "")]
            connected = _do(step, rig, rigs, mixer, engine)
            for p, want in (step.get("params") or {}).items():
                got = mixer.get(p)
                want = -math.inf if want == "-inf" else want
                assert got == (want if isinstance(want, str) else pytest.approx(want, abs=0.01)), \
                    f"{where}: {p} = {got}, expected {want}"
            if "sent" in step or "includes" in step:
                sent = connected if connected is not None else rig.tick(0.1)
                out = [h for h in hexes(sent) if not h.startswith(ignore) or step.get("meters")]
                if "sent" in step:
                    assert out == [s.lower() for s in step["sent"]], f"{where}: {out}"
                for want in step.get("includes", []):
                    assert want.lower() in out, f"{where}: {want} not in {out}"
    finally:
        for r in rigs.values():
            r.surface.close()


def _do(step: dict[str, Any], rig: Rig, rigs: dict[str, Rig], mixer: Mixer,
        engine: Engine) -> list[Event] | None:
    """Play one step; returns what connecting sent, for a connect step."""
    if step.get("connect"):
        for r in rigs.values():
            if r is not rig:
                r.connect()
        return rig.connect()
    if "wait" in step:
        rig.clock[0] += float(step["wait"])
    if "send" in step:
        rig.feed(*events(step["send"]))
    for p, value in (step.get("set") or {}).items():
        mixer.set(p, value, "elsewhere")
    if "level" in step:
        for ch, amplitude in step["level"].items():
            engine.set_source_buffer(int(ch), np.full(4800, amplitude, dtype=np.float32))
        engine.settle()
        engine.process(480)
    return None
