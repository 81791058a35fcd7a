#!/usr/bin/env python3
"""Build the shipped tablet layouts in mappings/tablets/ from this one description.

    .venv/bin/python scripts/build_tablet_layouts.py          # (re)write the files
    .venv/bin/python scripts/build_tablet_layouts.py --check  # exit 1 if they are stale

Both layouts talk to surfaced's X32-compatible namespace (UDP port 10023,
surfaced/surfaces/x32.py) rather than the native one, because there a control
sends and receives the same address with the same 0..1 value: a fader on
/ch/01/mix/fader moves when anything else moves channel 1. They keep the
namespace's /xremote lease alive (every 5 s; it lapses after 10 s) and ask
for every value they show when they start.

- surfaced-x32.tosc: TouchOSC (the 2022+ app). A .tosc file is the layout's
  XML, zlib-compressed; surfaced-x32.tosc.xml beside it is the same XML,
  readable and diffable.
- surfaced-x32.json: an Open Stage Control (1.x) session.

Each has 8 channel strips (name, ON, pan, send to bus 1, fader) and the main
fader. tests/test_tablet_layouts.py parses the shipped files and plays every
message their controls would send to a running daemon.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mappings" / "tablets"
STRIPS = 8
VERSION_OSC = "1.26.2"  # the Open Stage Control version the session format follows
RENEW_MS = 5000  # /xremote lapses after 10 s: renew at half that


def strip_addresses(ch: int) -> dict[str, str]:
    """The X32 addresses of channel strip `ch` (1-based)."""
    nn = f"{ch:02d}"
    return {"name": f"/ch/{nn}/config/name", "on": f"/ch/{nn}/mix/on",
            "pan": f"/ch/{nn}/mix/pan", "send": f"/ch/{nn}/mix/01/level",
            "fader": f"/ch/{nn}/mix/fader"}


MAIN = "/main/st/mix/fader"


def queries() -> list[str]:
    """Every address the layouts show, asked for once at start."""
    out = [a for ch in range(1, STRIPS + 1) for a in strip_addresses(ch).values()]
    return [*out, MAIN]


# --------------------------------------------------------------- TouchOSC
def _uid(name: str) -> str:
    # Stable IDs, so rebuilding gives the same bytes (and --check works).
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"surfaced-x32/{name}"))


def _prop(kind: str, key: str, value: str) -> str:
    return f"<property type='{kind}'><key><![CDATA[{key}]]></key><value>{value}</value></property>"


def _props(name: str, frame: tuple[int, int, int, int], color: tuple[float, float, float],
           extra: str = "") -> str:
    x, y, w, h = frame
    r, g, b = color
    return ("<properties>"
            + _prop("s", "name", f"<![CDATA[{name}]]>")
            + _prop("r", "frame", f"<x>{x}</x><y>{y}</y><w>{w}</w><h>{h}</h>")
            + _prop("c", "color", f"<r>{r}</r><g>{g}</g><b>{b}</b><a>1</a>")
            + _prop("b", "background", "1") + _prop("b", "outline", "1")
            + _prop("b", "visible", "1")
            + ("" if "[interactive]" in extra else _prop("b", "interactive", "1"))
            + extra + "</properties>")


def _values(*keys: tuple[str, str]) -> str:
    return "<values>" + "".join(
        f"<value><key><![CDATA[{k}]]></key><locked>0</locked>"
        f"<lockedDefaultCurrent>0</lockedDefaultCurrent><default><![CDATA[{d}]]></default>"
        f"<defaultPull>0</defaultPull></value>" for k, d in keys) + "</values>"


def _osc(address: str, var: str, conversion: str) -> str:
    """One OSC message: send (and receive) `address` with the control's `var` as argument."""
    def partial(kind: str, conv: str, value: str) -> str:
        return (f"<partial><type>{kind}</type><conversion>{conv}</conversion>"
                f"<value><![CDATA[{value}]]></value><scaleMin>0</scaleMin>"
                f"<scaleMax>1</scaleMax></partial>")

    return ("<messages><osc><enabled>1</enabled><send>1</send><receive>1</receive>"
            "<feedback>0</feedback><connections>00001</connections>"
            f"<triggers><trigger><var><![CDATA[{var}]]></var><condition>ANY</condition>"
            "</trigger></triggers>"
            f"<path>{partial('CONSTANT', 'STRING', address)}</path>"
            f"<arguments>{partial('VALUE', conversion, var)}</arguments></osc></messages>")


def _node(kind: str, name: str, body: str) -> str:
    return f"<node ID='{_uid(name)}' type='{kind}'>{body}</node>"


def touchosc_script() -> str:
    """The root's Lua: renew /xremote every 5 s, ask for every value once at start."""
    asks = "\n".join(f"    sendOSC('{a}')" for a in queries())
    return (
        "-- surfaced X32 layout (scripts/build_tablet_layouts.py): keep the /xremote\n"
        "-- lease alive (it lapses after 10 s) and ask for the values shown.\n"
        "local last = nil\n"
        "function update()\n"
        "  local now = getMillis()\n"
        f"  if last == nil or now - last >= {RENEW_MS} then\n"
        "    local first = last == nil\n"
        "    last = now\n"
        "    sendOSC('/xremote')\n"
        "    if first then\n"
        f"{asks}\n"
        "    end\n"
        "  end\n"
        "end\n")


def touchosc_xml() -> str:
    """The TouchOSC layout as XML (lexml version 3)."""
    width, height = 1024, 768
    strip_w = 112
    children = []
    for ch in range(1, STRIPS + 1):
        a = strip_addresses(ch)
        x = 8 + (ch - 1) * (strip_w + 8)
        hue = (0.25, 0.55, 0.85)
        children.append(_node("LABEL", f"name{ch}",
                              _props(f"name{ch}", (x, 8, strip_w, 40), hue,
                                     _prop("i", "textSize", "16"))
                              + _values(("text", f"Ch {ch}"), ("touch", "false"))
                              + _osc(a["name"], "text", "STRING")))
        children.append(_node("BUTTON", f"on{ch}",
                              _props(f"on{ch}", (x, 56, strip_w, 56), (0.2, 0.8, 0.3),
                                     _prop("i", "buttonType", "1"))
                              + _values(("x", "1"), ("touch", "false"))
                              + _osc(a["on"], "x", "INTEGER")))
        children.append(_node("LABEL", f"onlabel{ch}",
                              _props(f"onlabel{ch}", (x, 56, strip_w, 56), (0, 0, 0),
                                     _prop("b", "interactive", "0"))
                              + _values(("text", "ON"), ("touch", "false"))))
        children.append(_node("RADIAL", f"pan{ch}",
                              _props(f"pan{ch}", (x + 16, 120, 80, 80), hue,
                                     _prop("b", "centered", "1"))
                              + _values(("x", "0.5"), ("touch", "false"))
                              + _osc(a["pan"], "x", "FLOAT")))
        children.append(_node("RADIAL", f"send{ch}",
                              _props(f"send{ch}", (x + 16, 208, 80, 80), (0.9, 0.6, 0.2))
                              + _values(("x", "0"), ("touch", "false"))
                              + _osc(a["send"], "x", "FLOAT")))
        children.append(_node("FADER", f"fader{ch}",
                              _props(f"fader{ch}", (x + 16, 296, 80, height - 304), hue,
                                     _prop("b", "grid", "1") + _prop("i", "gridSteps", "16"))
                              + _values(("x", "0.75"), ("touch", "false"))
                              + _osc(a["fader"], "x", "FLOAT")))
    main_x = 8 + STRIPS * (strip_w + 8)
    children.append(_node("LABEL", "mainlabel",
                          _props("mainlabel", (main_x, 8, width - main_x - 8, 40), (1, 1, 1))
                          + _values(("text", "MAIN"), ("touch", "false"))))
    children.append(_node("FADER", "main",
                          _props("main", (main_x + 8, 296, width - main_x - 24, height - 304),
                                 (1, 0.3, 0.3), _prop("b", "grid", "1")
                                 + _prop("i", "gridSteps", "16"))
                          + _values(("x", "0.75"), ("touch", "false"))
                          + _osc(MAIN, "x", "FLOAT")))
    root = _node("GROUP", "root",
                 _props("surfaced X32", (0, 0, width, height), (0, 0, 0),
                        _prop("s", "script", f"<![CDATA[{touchosc_script()}]]>"))
                 + _values(("touch", "false"))
                 + "<children>" + "".join(children) + "</children>")
    # One element per line (as TouchOSC writes it), never inside a text or CDATA value.
    body = re.sub(r"(?<!\]\])><(?!!)", ">\n<", root)
    return "<?xml version='1.0' encoding='UTF-8'?>\n<lexml version='3'>\n" + body + "\n</lexml>\n"


# ------------------------------------------------------ Open Stage Control
def osc_session() -> dict[str, object]:
    """The Open Stage Control session (the JSON its editor saves)."""
    def widget(kind: str, wid: str, address: str, **props: object) -> dict[str, object]:
        return {"type": kind, "id": wid, "address": address, "preArgs": [], "target": [],
                **props}

    strips = []
    for ch in range(1, STRIPS + 1):
        a = strip_addresses(ch)
        strips.append({
            "type": "panel", "id": f"strip_{ch}", "layout": "vertical", "width": 110,
            "widgets": [
                widget("input", f"name_{ch}", a["name"], value=f"Ch {ch}", height=40,
                       typeTags="s"),
                # X32 "on" is 1 when the channel plays: the button is lit while muted.
                widget("button", f"mute_{ch}", a["on"], mode="toggle", on=0, off=1,
                       label="MUTE", height=50, typeTags="i", colorWidget="#e04040"),
                widget("knob", f"pan_{ch}", a["pan"], range={"min": 0, "max": 1},
                       default=0.5, value=0.5, height=80, typeTags="f",
                       html=f"pan {ch}"),
                widget("knob", f"send_{ch}", a["send"], range={"min": 0, "max": 1},
                       height=80, typeTags="f", html="bus 1"),
                widget("fader", f"fader_{ch}", a["fader"], range={"min": 0, "max": 1},
                       default=0.75, value=0.75, expand=True, typeTags="f"),
            ],
        })
    strips.append({"type": "panel", "id": "main_strip", "layout": "vertical", "width": 110,
                   "widgets": [widget("fader", "main", MAIN, range={"min": 0, "max": 1},
                                      default=0.75, value=0.75, expand=True, typeTags="f",
                                      html="MAIN")]})
    asks = ", ".join(json.dumps(a) for a in queries())
    on_create = (
        "// surfaced X32 session (scripts/build_tablet_layouts.py): keep the /xremote\n"
        "// lease alive (it lapses after 10 s) and ask for the values shown.\n"
        "send('/xremote')\n"
        f"for (var a of [{asks}]) send(a)\n"
        f"setInterval(function() {{ send('/xremote') }}, {RENEW_MS})\n")
    return {
        "createdWith": "Open Stage Control",
        "version": VERSION_OSC,
        "type": "session",
        "content": {"type": "root", "id": "root", "layout": "horizontal",
                    "onCreate": on_create, "widgets": strips, "tabs": []},
    }


# ------------------------------------------------------------------- main
def outputs() -> dict[Path, bytes]:
    """Every file this script writes, with its bytes."""
    xml = touchosc_xml().encode()
    return {
        OUT / "surfaced-x32.tosc.xml": xml,
        OUT / "surfaced-x32.tosc": zlib.compress(xml, 9),
        OUT / "surfaced-x32.json": (json.dumps(osc_session(), indent=2) + "\n").encode(),
    }


def main(argv: list[str] | None = None) -> int:
    """Write the layouts, or with --check say which are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, data in outputs().items():
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    for path in stale:
        print(f"stale: {path.relative_to(ROOT)} (run scripts/build_tablet_layouts.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

