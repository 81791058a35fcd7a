"""Keeps the engine running when the audio device goes away, and moves it back.

A small thread watches the live stream twice a second. When the stream has
stopped by itself (the JACK server stopped or dropped our client, the device
failed) or, away from JACK, no callback came for STALL_S, the supervisor lets
go of the stream, starts the headless clock on the same engine and says so
once. While on the clock it looks for a device again, backing off from
RETRY_FIRST_S to RETRY_MAX_S between looks (each look re-initialises
PortAudio, which is the only way it sees a JACK server that appeared, and on
some systems makes ALSA or JACK print a line). When a device opens, the clock
stops, the stream starts and the supervisor says so once.

The mix is never touched: the Mixer and the core keep their state across
drivers. The core has one consumer, so a driver is always stopped completely
(its last sf_process call returned) before the next one starts.

Everything that talks to PortAudio runs in this thread, never in the daemon's
asyncio loop: re-initialising PortAudio or opening a JACK stream can take a
good part of a second, and the surfaces must not wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from surfaced.mix.audio import (
    HeadlessClock,
    LiveStream,
    acquire_portaudio,
    default_output_available,
    output_map,
    release_portaudio,
)
from surfaced.mix.engine import Engine

CHECK_S = 0.5  # how often the live stream is looked at
STALL_S = 1.5  # no callback for this long, away from JACK: the device is gone
RETRY_FIRST_S = 2.0  # first look for the device after falling back
RETRY_MAX_S = 30.0  # the looks back off to this
SETTLE_TRIES = 10  # x 50 ms: wait for a dead stream's last callback to end

Driver = LiveStream | HeadlessClock


def open_live(engine: Engine, device: int | str | None, block: int, inputs: int,
              say: Callable[[str], None],
              outputs: dict[str, tuple[int, int]] | None = None) -> LiveStream:
    """Open (not start) the session's live stream: duplex when the session feeds
    channels from device inputs and the device has them, else output only; with
    the session's `outputs:` channel map (master and buses on chosen device
    outputs) when the device has that many outputs, else the master on 1/2.

    Raises whatever PortAudio raises when the device refuses the output stream.
    """
    out_map = output_map(outputs or {}, engine.buses)
    if out_map is not None:
        try:
            return _open(engine, device, block, inputs, say, out_map)
        except Exception as exc:  # fewer outputs than the map names
            say(f"the session's outputs need {len(out_map)} device output(s), which the "
                f"audio device cannot give ({exc}); playing the master on outputs 1/2")
    return _open(engine, device, block, inputs, say, None)


def _open(engine: Engine, device: int | str | None, block: int, inputs: int,
          say: Callable[[str], None], out_map: list[int] | None) -> LiveStream:
    if inputs:
        try:
            return LiveStream(engine, device=device, block=block, in_channels=inputs,
                              out_map=out_map)
        except Exception as exc:  # too few inputs, or no input at all
            say(f"the session's channels need {inputs} device input(s), which the audio "
                f"device cannot give ({exc}); they play silence")
    return LiveStream(engine, device=device, block=block, out_map=out_map)


def playing_through(stream: LiveStream, rate: int) -> str:
    """The `where` line of a live stream."""
    return f"playing through {stream.device_name} at {rate} Hz"


class AudioSupervisor:
    """Watches the engine's driver from a thread; falls back to the headless clock
    when the device goes away and moves back when it returns.

    `open_stream` opens (not starts) the live stream the session wants; `say`
    reports one line to the user (it is called from the supervisor's thread);
    `on_switch` is told every new driver and its description.
    """

    def __init__(self, engine: Engine, driver: Driver, *, block: int,
                 open_stream: Callable[[], LiveStream],
                 say: Callable[[str], None],
                 on_switch: Callable[[Driver, str], None],
                 retry_first_s: float = RETRY_FIRST_S,
                 retry_max_s: float = RETRY_MAX_S) -> None:
        self.engine = engine
        self.driver: Driver = driver
        self.block = block
        self._open_stream = open_stream
        self._say = say
        self._on_switch = on_switch
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        #: times the live stream was lost / a device was taken up again from the clock
        self.losses = 0
        self.returns = 0
        #: failures inside the supervisor itself (said, never fatal)
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._can_return = True
        self._retry = retry_first_s
        self._next_look = 0.0
        self._last_refusal = ""
        self._seen_callbacks = -1
        self._seen_at = 0.0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start watching. A daemon that started on the clock looks for a device."""
        now = time.monotonic()
        if isinstance(self.driver, HeadlessClock):
            # Let go of PortAudio between looks: a JACK server that comes and
            # goes under an initialised PortAudio would leave it unable to
            # terminate (it asserts), and then unable to see the next server.
            self._guarded("releasing PortAudio", release_portaudio)
            self._schedule_look(now, first=True)
        self._thread = threading.Thread(target=self._run, name="surfaced-audio-supervisor",
                                        daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop watching (the current driver keeps running: the caller stops it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = CHECK_S
            try:
                delay = self.step(time.monotonic())
            except Exception as exc:  # the watcher must outlive any one failure
                self.errors += 1
                if self.errors in (1, 10, 100) or self.errors % 1000 == 0:
                    self._say(f"audio supervision failed ({type(exc).__name__}: {exc}); "
                              f"{self.errors} failures so far")
            self._stop.wait(delay)

    def _guarded(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            self.errors += 1
            self._say(f"{what} failed ({type(exc).__name__}: {exc})")

    # ----------------------------------------------------------------- work
    def step(self, now: float) -> float:
        """One look at the driver; returns how long to wait before the next."""
        d = self.driver
        if isinstance(d, LiveStream):
            reason = self._lost(d, now)
            if reason is None:
                return CHECK_S
            self._fall_back(d, reason, now)
        elif self._can_return and now >= self._next_look:
            self._look(now)
        if isinstance(self.driver, LiveStream):
            return CHECK_S
        if not self._can_return:
            return 3600.0  # nothing left to look for; close() still wakes us
        return max(0.05, self._next_look - now)

    def _lost(self, d: LiveStream, now: float) -> str | None:
        """Why the live stream is dead, or None while it plays."""
        if not d.running:
            if d.on_jack:
                return "the JACK server stopped or closed surfaced's client"
            return "the audio stream stopped"
        if d.on_jack:
            # JACK reports a lost server or a dropped client itself (above);
            # a busy server may hold its cycle for a while without that.
            return None
        n = d.callbacks
        if n != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = n, now
            return None
        if now - self._seen_at >= STALL_S:
            return f"no audio callbacks for {now - self._seen_at:.1f} s"
        return None

    def _fall_back(self, d: LiveStream, reason: str, now: float) -> None:
        """Let go of the dead stream and start the headless clock on the engine."""
        self._settle(d)
        self._can_return = d.release_dead()
        clock = HeadlessClock(self.engine, block=self.block)
        clock.start()
        self.losses += 1
        if self._can_return:
            where = "headless clock (audio device lost; looking for it again)"
            then = "will move back when it returns"
        else:
            where = "headless clock (audio device lost; restart surfaced to use it again)"
            then = ("PortAudio cannot be restarted in this process: restart surfaced to use "
                    "the device again")
        self._switch(clock, where)
        self._say(f"audio device lost ({reason}); running on the headless clock, {then}")
        self._schedule_look(now, first=True)

    def _settle(self, d: LiveStream) -> None:
        """Wait (bounded) until a dead stream's callback counter stands still, so its
        last sf_process call has returned before the clock makes the next one."""
        last = d.callbacks
        for _ in range(SETTLE_TRIES):
            time.sleep(0.05)
            if d.callbacks == last:
                return
            last = d.callbacks

    def _look(self, now: float) -> None:
        """Look for the device once; move the engine onto it when it opens."""
        acquire_portaudio()
        if not default_output_available():
            release_portaudio()
            self._schedule_look(now)
            return
        try:
            live = self._open_stream()
        except Exception as exc:  # there is a device, but it refuses: say why, once
            release_portaudio()
            if str(exc) != self._last_refusal:
                self._last_refusal = str(exc)
                self._say(f"an audio device is there but does not open ({exc}); "
                          "staying on the headless clock and trying again")
            self._schedule_look(now)
            return
        self.driver.stop()  # the clock's thread has joined: the core is free
        try:
            live.start()
        except Exception as exc:
            live.stop()
            release_portaudio()
            clock = HeadlessClock(self.engine, block=self.block)
            clock.start()
            self._switch(clock, "headless clock (audio device lost; looking for it again)")
            if str(exc) != self._last_refusal:
                self._last_refusal = str(exc)
                self._say(f"the audio device opened but would not start ({exc}); staying on "
                          "the headless clock and trying again")
            self._schedule_look(now)
            return
        where = playing_through(live, self.engine.rate)
        self._switch(live, where)
        self._seen_callbacks, self._seen_at = -1, now
        self._last_refusal = ""
        self.returns += 1
        self._say(f"audio device {'back' if self.losses else 'found'}: {where}")

    def _schedule_look(self, now: float, first: bool = False) -> None:
        self._retry = self.retry_first_s if first else min(self.retry_max_s, self._retry * 2)
        self._next_look = now + self._retry

    def _switch(self, driver: Driver, where: str) -> None:
        self.driver = driver
        self._on_switch(driver, where)
