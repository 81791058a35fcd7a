"""The DIY reference box end to end: virtual box -> pty -> daemon -> engine -> meters, and back.

The virtual box (the firmware's C core compiled for the host, firmware/host)
sits on the master side of a real pseudo-terminal and plays a script of
fader moves, touches, button taps and encoder turns. The daemon runs for real
on the headless clock with the shipped mappings/diy-reference-box.yaml,
copied to tmp_path with its `match:` pointed at a symlink to the pty's slave
(a stand-in for /dev/serial/by-id/...), so its real SerialTransport, Surface,
Mixer and Engine do the work. What the box was sent is read from its log
(`led N V`, `target N V`, `meter N V`, `touch N V`).

Every wait is bounded and polls for an outcome; nothing asserts on timing.
The virtual box's scripts do use time (a glide takes 300 ms), but each
assertion holds whatever the scheduling: the moves are chosen so that their
end state does not depend on when they ran.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import tty
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from surfaced.config import Config
from surfaced.daemon import Daemon, SurfaceBinding
from surfaced.mix.params import spec_for
from surfaced.session import ChannelConfig, Session, Source

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "mappings" / "diy-reference-box.yaml"
MAPPING_ID = MAPPING.stem
SOURCE = f"surface:{MAPPING_ID}"
DEFAULT_MATCH = 'by_id: "/dev/serial/by-id/usb-*surfaced*"'
WAIT = 10.0  # upper bound for anything to happen; never a timing assertion
BOX_TIMEOUT_MS = 60000  # a forgotten virtual box exits by itself
CHANNELS = 8
IDENTITY = ("surfaced-virtual-box", "0.1.0", 1, "fader:8", "button:8", "encoder:4", "led:8",
            "meter:8", "motor:8")
CH3_FADER_DB = -10.0  # ch/3 starts here; the box's fader 3 sits at the bottom
CH2_POSITION = 0.51  # ch/2 starts here; the box's fader 2 sits at 0.5 (within pickup range)


# -- the box side --------------------------------------------------------------


class Pty:
    """A pseudo-terminal in raw mode: the box holds `master`, the daemon opens `path`."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # Raw before anything flows: no echo or translation of the box's first bytes.
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close_master(self) -> None:
        """Let go of the master side (the box's process holds its own copy)."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def close(self) -> None:
        """Close both sides."""
        self.close_master()
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1


class Box:
    """The virtual box on the master side of a pty, with its log (stderr) read as it comes."""

    def __init__(self, exe: Path, pty: Pty, script: Path, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [str(exe), "--stdio", "--script", str(script), "--name", name,
             "--timeout-ms", str(BOX_TIMEOUT_MS)],
            stdin=pty.master, stdout=pty.master, stderr=subprocess.PIPE,
        )
        pty.close_master()  # the box holds the only master now: its exit is the unplug
        assert self.proc.stderr is not None
        self.fd = self.proc.stderr.fileno()
        os.set_blocking(self.fd, False)
        self.pending = b""
        self.lines: list[str] = []

    def read(self) -> list[str]:
        """Every log line so far (reads what has arrived without blocking)."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        self.lines += [raw.decode(errors="replace") for raw in complete]
        return self.lines

    async def find(self, pred: Callable[[str], bool], what: str, after: int = 0) -> int:
        """Index of the first log line at or after `after` that satisfies `pred`."""
        deadline = time.monotonic() + WAIT
        while True:
            lines = self.read()
            for i in range(after, len(lines)):
                if pred(lines[i]):
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {what} in the box log; "
                                     f"last lines: {lines[-30:]}")
            await asyncio.sleep(0.01)

    async def line(self, text: str, after: int = 0) -> int:
        """Index of the first log line equal to `text` at or after `after`."""
        return await self.find(lambda s: s == text, repr(text), after)

    def kill(self) -> None:
        """Pull the plug: the box's side of the pty closes with it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)

    def close(self) -> None:
        """Kill (if still running) and close the log pipe."""
        self.kill()
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def point(link: Path, target: str) -> None:
    """Re-point a by-id style symlink atomically, as udev does."""
    link.parent.mkdir(exist_ok=True)
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


# -- the daemon side -------------------------------------------------------------


def raw_position(path: str, value: float) -> int:
    """The 14-bit number the mapping sends a motor fader for a value of `path`."""
    return round(spec_for(path, CHANNELS, 2).to_position(value) * 16383)


def session() -> Session:
    """Ch 1 plays a sine at -6 dB; the others are silent (ch 2 and 3 at chosen positions)."""
    s = Session(path="<test>", buses=2)
    ch2 = spec_for("ch/2/fader", CHANNELS, 2).from_position(CH2_POSITION)
    s.channels = [ChannelConfig("Ch1", Source("generator", "sine"), {"fader": -6.0}),
                  ChannelConfig("Ch2", Source("none"), {"fader": ch2}),
                  ChannelConfig("Ch3", Source("none"), {"fader": CH3_FADER_DB})]
    s.channels += [ChannelConfig(f"Ch{i}", Source("none")) for i in range(4, CHANNELS + 1)]
    return s


async def until(pred: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll `pred` until it is true (the daemon runs on this loop meanwhile)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class Rig:
    """The daemon bound to the box mapping, and the boxes plugged in behind one symlink."""

    def __init__(self, exe: Path, tmp: Path, daemon: Daemon, link: Path,
                 statuses: list[str]) -> None:
        self.exe, self.tmp, self.d, self.link, self.statuses = exe, tmp, daemon, link, statuses
        self.ptys: list[Pty] = []
        self.boxes: list[Box] = []

    @property
    def binding(self) -> SurfaceBinding:
        """The one surface binding (the box mapping)."""
        assert len(self.d.bindings) == 1, self.d.bindings
        return self.d.bindings[0]

    def plug(self, script: str, name: str = IDENTITY[0]) -> Box:
        """Start a virtual box with `script` on a new pty and point the symlink at it."""
        pty = Pty()
        self.ptys.append(pty)
        path = self.tmp / f"script-{len(self.boxes)}.txt"
        path.write_text(script, encoding="utf-8")
        box = Box(self.exe, pty, path, name)
        self.boxes.append(box)
        point(self.link, pty.path)
        return box

    async def greeted(self, name: str) -> None:
        """Until the daemon holds the identity of the box called `name`."""
        def known() -> bool:
            identity = self.binding.transport.identity
            return identity is not None and identity[0] == name

        await until(known, f"the identity of {name}")

    def surface_changes(self, path: str) -> list[float]:
        """Values the box's surface set on `path`, oldest first (from the mixer's log)."""
        return [float(c.value) for c in self.d.changelog.entries()
                if c.path == path and c.source == SOURCE]

    def close(self) -> None:
        """Kill every box and close every pty."""
        for box in self.boxes:
            box.close()
        for pty in self.ptys:
            pty.close()


@asynccontextmanager
async def rig(exe: Path, tmp: Path) -> AsyncIterator[Rig]:
    """The daemon with a copy of the shipped mapping, matched to a symlink not yet there."""
    link = tmp / "by-id" / "usb-surfaced_box_VB0001-if00"
    user = tmp / "mappings"
    user.mkdir()
    text = MAPPING.read_text(encoding="utf-8")
    assert text.count(DEFAULT_MATCH) == 1, "the mapping's match: line changed; update the test"
    (user / MAPPING.name).write_text(text.replace(DEFAULT_MATCH, f'port: "{link}"'),
                                     encoding="utf-8")
    cfg = Config(headless=True, block=64, osc=[], enable=[MAPPING_ID], mapping_dirs=[user])
    statuses: list[str] = []
    d = Daemon(cfg, session(), on_status=statuses.append)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    r = Rig(exe, tmp, d, link, statuses)
    try:
        await until(lambda: bool(d.bindings), "the box mapping bound")
        yield r
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, WAIT)
        finally:
            r.close()


@pytest.fixture(autouse=True)
def _no_user_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapping in the developer's ~/.config/surfaced must not replace the one under test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


# -- the tests -------------------------------------------------------------------

SCRIPT_ONE = """\
fader 2 0.5          # before the hello: the snapshot reports it
wait_hello
wait 300
touch 1              # a finger on fader 1 (its motor stops), then a move to the top
wait 50
fader 1 1.0 300
wait 400
untouch 1
wait 50
tap 3                # mute 3
wait 100
turn 1 3 120         # pan 1 three detents clockwise, slowly (no acceleration)
wait 100
push 1               # centre pan 1
wait 60
unpush 1
print end
"""


def test_reference_box_end_to_end(virtual_box_exe: Path, tmp_path: Path) -> None:
    """Handshake, snapshot under soft takeover, moves into the mix and the meters, LEDs
    and motor targets back to the box, feedback of other sources' changes, and a replug."""

    async def scenario() -> None:
        async with rig(virtual_box_exe, tmp_path) as r:
            d, b = r.d, r.binding
            assert not b.transport.online  # no box yet: the transport watches for it

            # The mix plays before any box: the master meter's level with ch 1 at -6 dB.
            await until(lambda: d.engine.meters().master.peak[0] > 0.0, "audio on the master")
            baseline = 0.0
            for _ in range(10):
                baseline = max(baseline, d.engine.meters().master.peak[0])
                await asyncio.sleep(0.02)

            # Plug in: hello -> identity + snapshot; the daemon knows the box.
            box = r.plug(SCRIPT_ONE)
            await r.greeted(IDENTITY[0])
            assert b.transport.identity == IDENTITY
            assert f"{MAPPING_ID}: online" in r.statuses
            await box.line("hello")

            # Soft takeover of the snapshot: fader 2 (0.5) was within reach of ch/2 (0.51)
            # and took it over; fader 3 (bottom) is far from ch/3 (-10 dB) and is held.
            await until(lambda: r.surface_changes("ch/2/fader"), "fader 2 picked up ch/2")
            assert d.mixer.position("ch/2/fader") == pytest.approx(0.5, abs=0.01)
            await until(lambda: b.surface.stats.ignored >= 7,  # faders 1 and 3-8
                        "the rest of the snapshot held")
            assert d.mixer.get("ch/3/fader") == CH3_FADER_DB
            assert not r.surface_changes("ch/3/fader")
            # ... and on connect the motor faders were sent to where the mix is.
            await box.line(f"target 3 {raw_position('ch/3/fader', CH3_FADER_DB)}")

            # A touched fader moved to the top: ch/1 follows to +10 dB, so does the master.
            await until(lambda: d.mixer.get("ch/1/fader") == 10.0, "ch/1/fader at +10 dB")
            assert r.surface_changes("ch/1/fader")[-1] == 10.0
            await until(lambda: d.engine.meters().master.peak[0] > 2.0 * baseline,
                        "the master meter up by +16 dB")
            await box.find(lambda s: s.startswith("meter 1 ") and int(s.split()[2]) > 0,
                           "a level on meter 1")
            touched = await box.line("touch 1 1")
            await box.line("touch 1 0", touched)

            # A mute press toggles ch/3/mute, and its LED lights.
            await until(lambda: d.mixer.get("ch/3/mute") == 1.0, "ch/3 muted")
            await box.line("led 3 1")

            # Encoder 1 pans ch 1 to the right; its push centres it again.
            def panned_and_centred() -> bool:
                pans = r.surface_changes("ch/1/pan")
                return bool(pans) and max(pans) > 0.0 and pans[-1] == 0.0

            await until(panned_and_centred, "ch/1/pan moved right, then centred")
            assert d.mixer.get("ch/1/pan") == 0.0
            await box.line("print end")

            # Another source changes the mix: the box shows it.
            mark = len(box.read())
            d.mixer.set("ch/2/fader", -20.0, "test")
            d.mixer.set("ch/4/mute", 1.0, "test")
            await box.line(f"target 2 {raw_position('ch/2/fader', -20.0)}", mark)
            await box.line("led 4 1", mark)

            # Unplug: offline. Replug the box behind the same path: re-bound, greeted, and
            # the whole state re-sent. Its faders are where the first one's were left (see
            # test_replugged_box_is_held_by_soft_takeover for a box that comes back changed).
            box.kill()
            await until(lambda: r.statuses[-1] == f"{MAPPING_ID}: offline",
                        "offline after the unplug")
            assert not b.transport.online
            second = r.plug("fader 1 1.0\nfader 2 0.5\nwait_hello\n", name="box-two")
            await r.greeted("box-two")
            await second.line("hello")
            assert b.transport.stats.reconnects == 1
            assert r.statuses[-1] == f"{MAPPING_ID}: online"
            for line in (f"target 1 {raw_position('ch/1/fader', 10.0)}",
                         f"target 2 {raw_position('ch/2/fader', -20.0)}",
                         f"target 3 {raw_position('ch/3/fader', CH3_FADER_DB)}",
                         "led 3 1", "led 4 1", "led 1 0"):
                await second.line(line)
            assert d.mixer.get("ch/1/fader") == 10.0
            assert d.mixer.get("ch/2/fader") == -20.0  # fader 2 far from it: held
            assert d.mixer.get("ch/3/mute") == 1.0 and d.mixer.get("ch/4/mute") == 1.0
            assert b.surface.stats.errors == 0
            assert b.transport.stats.osc_errors == 0

    asyncio.run(scenario())


def test_replugged_box_is_held_by_soft_takeover(virtual_box_exe: Path, tmp_path: Path) -> None:
    """A box that comes back with its faders somewhere else must not jump the mix.

    The first box's faders 1 and 2 take ch/1 and ch/2 over (their snapshot
    is within reach); ch/2 is then moved by another source. The box is
    unplugged and a box with every fader at the bottom is plugged in. Its
    snapshot says where the faders physically are, not a move: `pickup`
    must hold both, as it held the first box's far faders.
    """

    async def scenario() -> None:
        async with rig(virtual_box_exe, tmp_path) as r:
            d, b = r.d, r.binding
            first = r.plug("fader 1 0.6\nfader 2 0.5\nwait_hello\n", name="box-one")
            await r.greeted("box-one")
            await until(lambda: r.surface_changes("ch/1/fader") and
                        r.surface_changes("ch/2/fader"), "faders 1 and 2 picked up")
            await until(lambda: b.surface.stats.ignored >= 6, "faders 3-8 held")
            taken = d.mixer.get("ch/1/fader")
            d.mixer.set("ch/2/fader", -20.0, "test")
            first.kill()
            await until(lambda: r.statuses[-1] == f"{MAPPING_ID}: offline",
                        "offline after the unplug")

            ignored = b.surface.stats.ignored
            r.plug("wait_hello\n", name="box-two")  # every fader at the bottom
            await r.greeted("box-two")
            # Faders 3-8 are far from their channels and are held whatever happens to
            # faders 1 and 2, which the snapshot sends before them.
            await until(lambda: b.surface.stats.ignored >= ignored + 6,
                        "the second box's snapshot handled")
            now = (d.mixer.get("ch/1/fader"), d.mixer.get("ch/2/fader"))
            assert now == (taken, -20.0)

    asyncio.run(scenario())


def test_touched_motor_fader_is_not_sent_targets(virtual_box_exe: Path, tmp_path: Path) -> None:
    """While a finger is on a motor fader, the daemon sends it no /fader/N/target.

    docs/mapping.md: "While touched, the fader is never driven by feedback";
    the box's own moves (which the mix follows) must not come back as
    targets either: the box would ignore them, but they cost line bandwidth
    and bypass the mapping's `output: rate`.
    """

    async def scenario() -> None:
        async with rig(virtual_box_exe, tmp_path) as r:
            d = r.d
            box = r.plug("wait_hello\nwait 300\ntouch 1\nwait 50\nfader 1 1.0 300\n"
                         "wait 400\nuntouch 1\nprint end\n")
            await r.greeted(IDENTITY[0])
            await until(lambda: d.mixer.get("ch/1/fader") == 10.0, "ch/1/fader at +10 dB")
            start = await box.line("touch 1 1")
            end = await box.line("touch 1 0", start)
            sent = [s for s in box.lines[start:end] if s.startswith("target 1 ")]
            assert sent == []

    asyncio.run(scenario())
