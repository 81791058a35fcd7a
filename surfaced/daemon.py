"""The daemon: one mix, its audio driver, and every surface bound to it.

One asyncio loop owns the control side. Transports deliver Events into it
(MIDI from rtmidi's thread through call_soon_threadsafe, OSC natively). The
loop has no fixed ticker: whatever has work for it (a mix change a surface
must show, an input, a command) calls `wake`, and each part says when it next
needs a tick on its own (`due`: feedback held back by a rate, meters and
keep-alives of a bound surface, autosave of unsaved changes, A/B matching
and the reference's loudness sampling while on), so an idle daemon sleeps.
Ticks stay at least TICK_S apart, which coalesces bursts as the old 5 ms
ticker did. A mapping file is reloaded when it changes on disk (the folders
report changes through FolderWatch; polled where they cannot), without
touching the audio (the engine and its driver keep running throughout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from surfaced.assist.desk import Assistant
from surfaced.assist.reference import Reference
from surfaced.config import Config
from surfaced.events import Event
from surfaced.folder_watch import FolderWatch
from surfaced.mix.ab import ABCompare
from surfaced.mix.audio import HeadlessClock, LiveStream, default_output_available
from surfaced.mix.audio_supervisor import AudioSupervisor, open_live, playing_through
from surfaced.mix.changelog import ChangeLog, format_change
from surfaced.mix.commands import CommandError
from surfaced.mix.engine import Engine
from surfaced.mix.mixer import Mixer
from surfaced.mix.scenes import SceneBook
from surfaced.mix.undo import UndoHistory
from surfaced.session import Session
from surfaced.session.document import Document
from surfaced.surfaces.native_osc import NativeOsc
from surfaced.transports.jack_midi import JackMidiHub, JackMidiTransport, use_jack
from surfaced.transports.midi import MidiTransport
from surfaced.transports.osc import OscListener

log = logging.getLogger(__name__)

TICK_S = 0.005  # the shortest gap between two ticks: bursts of changes coalesce within it
RELOAD_CHECK_S = 0.5  # mapping folders polled this often when the system cannot say
# With a folder watch (Linux inotify, surfaced/folder_watch.py) a change asks
# for a check itself; this slow look remains for what a watch cannot see (a
# network folder changed from another machine).
RELOAD_WATCHED_S = 5.0
CHANGE_SETTLE_S = 0.05  # a burst of folder events (an editor's write and rename): one check
RETRY_S = 5.0  # a transport that could not open (device busy, backend down) is retried


@dataclass
class SurfaceBinding:
    """A mapping file bound to a transport; the Surface inside is replaced on reload."""

    path: Path
    mtime: float
    surface: Any  # surfaced.surfaces.surface.Surface
    transport: Any = None  # MidiTransport, SerialTransport or _OscPeer
    bases: tuple[float, ...] = ()  # mtimes of the files the mapping extends, when loaded
    errors: list[str] = field(default_factory=list)


class Daemon:
    """Runs a session with its surfaces until stopped."""

    def __init__(self, config: Config, session: Session,
                 on_status: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.session = session
        # The session as a file: recovery after an unclean stop (and migration of an
        # older format) happen before the mixer is made, so it starts with the right mix.
        self.document = Document(session, on_status or (lambda msg: log.info("%s", msg)),
                                 interval=config.autosave_interval, keep=config.autosave_keep)
        self.document.open()
        self.mixer: Mixer = session.make_mixer(max_block=max(512, config.block))
        self.engine: Engine = self.mixer.engine
        self.changelog = ChangeLog(self.mixer, path=self.document.log_path,
                                   max_bytes=config.change_log_max_bytes,
                                   backups=config.change_log_keep)
        # The mix document's parts, each registering its commands (save,
        # scenes, undo, A/B, log) for surfaces, OSC peers and the CLI alike.
        self.scenes = SceneBook(self.mixer, session.scenes, session.safes)
        self.history = UndoHistory(self.mixer)
        self.ab = ABCompare(self.mixer, self.history)
        self.scenes.register()
        self.history.register()
        self.ab.register()
        self.assistant = Assistant(self.mixer, session, self.ab,  # assist/*
                                   say=on_status or (lambda msg: log.info("%s", msg)))
        self.assistant.register()
        self.reference = Reference(self.mixer)  # reference/*: the reference track
        self.reference.load(session)
        self.reference.register()
        self.mixer.commands.register("log", self._cmd_log)
        self.document.attach(self.mixer, self.scenes, self.changelog)  # session/save, ...
        self.driver: LiveStream | HeadlessClock | None = None
        self.where = ""
        self.audio_watch: AudioSupervisor | None = None
        self.jack: Any = None  # surfaced.mix.jack_backend.JackBackend when the audio is on JACK
        self.osc: list[OscListener] = []
        self.osc_waiting: list[OscListener] = []  # address taken; retrying (start_osc)
        self.native: NativeOsc | None = None
        self.x32: Any = None  # surfaced.surfaces.x32.X32Osc, with its own UDP listener:
        self.x32_listener: OscListener | None = None
        self.x32_bound = False  # False while its port is taken and it retries
        self._mdns_name = ""  # the name mDNS announces (set in start_osc)
        self.mdns: Any = None  # surfaced.surfaces.mdns.Advertiser
        # Makes the mDNS stack (None: python-zeroconf; tests pass a stand-in).
        self.mdns_factory: Callable[..., Any] | None = None
        self.web: Any = None  # surfaced.surfaces.web.server.WebSurface (docs/browser.md)
        self.link: Any = None  # surfaced.link.link.MixLink, with `link:` configured
        self.bindings: list[SurfaceBinding] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_status = on_status or (lambda msg: log.info("%s", msg))
        self.reloads = 0
        self.reload_errors: list[str] = []
        self.loop_errors = 0
        # mapping file -> (its mtime when it failed, when to try again)
        self.failed: dict[Path, tuple[float, float]] = {}
        self._mapping_check = asyncio.Lock()
        self._folder_watch = FolderWatch(self._mapping_folder_changed)
        self._watching = False  # every mapping folder watched at the last check
        self._next_check = 0.0  # next mapping check (time.monotonic)
        self._checked_at = -math.inf  # when the last one started
        # MIDI surfaces on surfaced's own JACK client (made when the first one binds)
        self.jack_midi: JackMidiHub | None = None
        #: the JACK MIDI hook's counters when it closed (None: MIDI never used JACK)
        self.jack_midi_totals: dict[str, int] | None = None
        self._midi_jack_session: Any = None  # a JACK session opened for MIDI alone
        self._midi_jack: bool | None = None  # MIDI on JACK (decided at the first binding)
        self._midi_down_until = 0.0
        self._midi_backoff = 0.0  # seconds between attempts while the MIDI backend is down
        self._woken: asyncio.Event | None = None  # set (on the loop) by `wake`
        self._wake_sent = False  # a wake is on its way to the loop: no need for another
        self.ticks = 0  # loop iterations that ticked (the idle benchmark counts them)
        self.mixer.subscribe(lambda _change: self.wake())  # autosave, change log
        self.mixer.commands.after_run = self.wake

    # ---------------------------------------------------------------- audio
    def start_audio(self) -> None:
        """Open the audio device, or the headless clock when there is none."""
        cfg = self.config
        if not cfg.headless and cfg.audio_backend != "portaudio" and self._start_jack():
            return
        inputs = self.session.inputs_needed()
        if not cfg.headless and default_output_available():
            try:
                live = open_live(self.engine, cfg.audio_device, cfg.block, inputs, self.on_status,
                                 self.session.outputs)
            except Exception as exc:  # PortAudio refuses: fall back, and say why
                self.on_status(f"audio device unavailable ({exc}); using the headless clock "
                               "(will move to the device when it opens)")
            else:
                self.driver = live
                self.where = playing_through(live, self.engine.rate)
        elif not cfg.headless:
            self.on_status("no audio output device found; running on the headless clock "
                           "(will move to a device when one appears)")
        if self.driver is None:
            self.driver = HeadlessClock(self.engine, block=cfg.block)
            self.where = "headless clock (no audio device)"
            if inputs:
                self.on_status("channels fed from device inputs play silence on the headless "
                               "clock")
        self.driver.start()

    def _start_jack(self) -> bool:
        """The engine on surfaced's own JACK client (surfaced.mix.jack_backend): True when
        it runs there, or (backend jack) waits on the headless clock for a server."""
        from surfaced.mix.jack_backend import JackBackend

        cfg = self.config
        if cfg.audio_backend == "auto" and cfg.audio_device is not None:
            return False  # a device named in the configuration: PortAudio's

        def switched(driver: Any, where: str) -> None:
            self.driver, self.where = driver, where

        jack = JackBackend(self.session, self.mixer, name=cfg.jack_client,
                           server=cfg.jack_server, block=cfg.block, say=self._say_from_thread,
                           on_switch=switched)
        if not jack.start(require=cfg.audio_backend == "jack"):
            return False
        self.jack = jack
        return True

    def start_audio_watch(self) -> None:
        """Watch the audio device from a small thread (surfaced.mix.audio_supervisor):
        fall back to the headless clock when it goes away, move back when it
        returns. Not with `headless: true`: that daemon never takes a device."""
        if self.config.headless or self.driver is None or self.audio_watch is not None \
                or self.jack is not None:  # JACK: the JackSession's thread watches
            return

        def switched(driver: LiveStream | HeadlessClock, where: str) -> None:
            self.driver, self.where = driver, where

        cfg, inputs = self.config, self.session.inputs_needed()
        self.audio_watch = AudioSupervisor(
            self.engine, self.driver, block=cfg.block,
            open_stream=lambda: open_live(self.engine, cfg.audio_device, cfg.block, inputs,
                                          self._say_from_thread, self.session.outputs),
            say=self._say_from_thread, on_switch=switched)
        self.audio_watch.start()

    @property
    def audio_losses(self) -> int:
        """Times the live audio stream (or the JACK server) was lost and the headless
        clock took over."""
        if self.jack is not None:
            return int(self.jack.follower.losses)
        return self.audio_watch.losses if self.audio_watch is not None else 0

    @property
    def audio_returns(self) -> int:
        """Times the engine moved from the headless clock onto an audio device (or
        joined the JACK server)."""
        if self.jack is not None:
            return int(self.jack.follower.returns)
        return self.audio_watch.returns if self.audio_watch is not None else 0

    def _say_from_thread(self, msg: str) -> None:
        """on_status for another thread: said on the daemon's loop while it runs."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.on_status, msg)
                return
        log.info("%s", msg)

    # ------------------------------------------------------------------ OSC
    async def start_osc(self) -> None:
        """Open the OSC listeners with the native namespace behind them."""
        self.native = NativeOsc(self.mixer, self._osc_reply, rate=self.config.feedback_rate,
                                wake=self.wake)
        for cfg in self.config.osc:
            # A port still held by an instance on its way out frees up soon:
            # the listener keeps trying and joins self.osc once bound.
            listener = OscListener(cfg, self._on_osc)
            if await listener.start_retrying(self.on_status, self._osc_bound):
                self.osc.append(listener)
            else:
                self.osc_waiting.append(listener)
        await self._start_x32_and_mdns()

    def _osc_bound(self, listener: OscListener) -> None:
        """A listener that waited for its address has it now: serve and announce it."""
        if listener in self.osc_waiting:
            self.osc_waiting.remove(listener)
        if listener is self.x32_listener:
            self.x32_bound = True
        else:
            self.osc.append(listener)
        self._announce_late(listener)

    async def _start_x32_and_mdns(self) -> None:
        """The X32-compatible namespace on its own UDP listener, then the mDNS
        announcement of every listener a tablet can reach (none while all are
        on 127.0.0.1)."""
        from surfaced.surfaces.mdns import Advertiser, adverts, default_name
        from surfaced.surfaces.x32 import X32Osc
        from surfaced.transports.osc import OscListenerConfig

        name = self.config.name or default_name()
        x32cfg = self.config.x32
        if x32cfg is not None:
            listener = OscListener(OscListenerConfig("udp", x32cfg.host, x32cfg.port),
                                   lambda event: self.x32.handle(event))
            self.x32 = X32Osc(self.mixer, listener.reply, name=name,
                              rate=self.config.feedback_rate, wake=self.wake)
            # Like the native listeners: a port still held by an exiting
            # instance is retried in the background (_osc_bound when bound).
            self.x32_listener = listener
            self.x32_bound = await listener.start_retrying(
                lambda msg: self.on_status(f"X32 namespace: {msg}"), self._osc_bound)
        ads = [self._advert(lst) for lst in self.osc]
        if self.x32_listener is not None and self.x32_bound:
            ads.append(self._advert(self.x32_listener))
        ads = adverts(ads)
        self._mdns_name = name
        if self.config.mdns and ads:
            self.mdns = Advertiser(ads, name, factory=self.mdns_factory)
            self.mdns.start()
            self.on_status(f"announcing {name!r} over mDNS (_osc._udp) on " + ", ".join(
                f"{a.protocol} {a.host}:{a.port}" for a in ads))

    def _advert(self, listener: OscListener) -> Any:
        from surfaced.surfaces.mdns import Advert

        namespace = "x32" if listener is self.x32_listener else "native"
        return Advert(listener.config.protocol, listener.config.host, listener.address[1],
                      namespace)

    def _announce_late(self, listener: OscListener) -> None:
        """Announce a listener bound after start as one bound at start would have been."""
        from surfaced.surfaces.mdns import Advertiser, adverts

        ads = adverts([self._advert(listener)])
        if not self.config.mdns or not ads:
            return
        if self.mdns is None:
            self.mdns = Advertiser(ads, self._mdns_name, factory=self.mdns_factory)
            self.mdns.start()
        else:
            self.mdns.add(ads)
        self.on_status(f"announcing {self.mdns.name!r} over mDNS on "
                       f"{ads[0].protocol} {ads[0].host}:{ads[0].port}")

    def _on_osc(self, event: Event) -> None:
        if self.link is not None and event.address.startswith("/link/"):
            for packet in self.link.handle_osc(event):
                self._osc_reply(event.source, packet)
            return
        binding = self._osc_surface_for(event) if self.bindings else None
        if binding is not None:
            binding.surface.handle(event)
        elif self.native is not None:
            self.native.handle(event)

    def _osc_reply(self, peer: str, packet: bytes) -> bool:
        proto = peer.split(":", 2)[1] if peer.count(":") >= 2 else "udp"
        for listener in self.osc:
            if listener.config.protocol == proto and (proto == "udp" or peer in listener.peers()):
                return listener.reply(peer, packet)
        return False

    # ------------------------------------------------------------- surfaces
    async def start_surfaces(self) -> None:
        """Bind every enabled mapping to a transport that watches for its device."""
        await self.check_reload(announce_missing=True)

    def _plan(self, config: Config, bound: list[tuple[SurfaceBinding, float, tuple[str, ...]]],
              force: bool, announce_missing: bool) -> _Plan:
        """What to load, reload, replace and drop; runs on a worker thread.

        Every file system access of a mapping check happens here, never on the
        event loop's thread: listing folders, stat, and reading the files
        (which read_regular limits to regular files of bounded size, so a FIFO
        or a device named *.yaml cannot block or flood it). The loop thread
        then only binds (see _apply).
        """
        from surfaced.surfaces.surface import load_mapping

        plan = _Plan()
        # Watch first, then look: a change after this is reported, one before is seen.
        folders = config.mapping_folders() + [Path(p).parent for _, _, sources in bound
                                              for p in sources]
        self._watching = self._folder_watch.watch(folders)
        if announce_missing:
            for name in config.missing_mappings():
                known = ", ".join(sorted(config.available_mappings()))
                plan.notes.append(f"mappings.enable names {name!r}, but there is no "
                                  f"{name}.yaml (known: {known})")
        files = config.mapping_files()
        by_name = {p.stem: p for p in files}
        now = time.monotonic()
        bound_paths = {b.path for b, _, _ in bound}
        for b, old_mtime, sources in bound:
            chosen = by_name.get(b.path.stem)
            if chosen is None:
                # No longer enabled (a reloaded config): unbound. A file that is
                # merely gone (an editor replacing it) keeps its surface.
                if b.path.exists():
                    plan.drop.append((b, "no longer enabled"))
                continue
            if chosen != b.path and chosen not in bound_paths:
                # Another file of the same name now wins (a user's copy of a
                # shipped mapping appeared, or went away): it replaces this one.
                failed = self.failed.get(chosen)
                if not force and failed is not None and now < failed[1] \
                        and failed[0] == _mtime(chosen):
                    continue  # it failed to load; tried again when it changes
                plan.replace.append((b, self._load(chosen, load_mapping)))
                continue
            try:
                mtime = b.path.stat().st_mtime
            except OSError:
                continue
            bases = _stamp(sources)
            if not force and mtime == old_mtime and bases == b.bases:
                continue
            plan.reload.append((b, self._load(b.path, load_mapping), bases))
        for path in files:
            if path in bound_paths or any(path == r[1].path for r in plan.replace):
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            failed = self.failed.get(path)
            if failed is not None and failed[0] == mtime and now < failed[1] and not force:
                continue
            plan.new.append(self._load(path, load_mapping))
        return plan

    @staticmethod
    def _load(path: Path, load_mapping: Callable[[Path], Any]) -> _Loaded:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        try:
            return _Loaded(path, mtime, load_mapping(path), None)
        except Exception as exc:  # MappingError names file:line:key; anything else is ours
            return _Loaded(path, mtime, None, exc)

    async def check_reload(self, *, force: bool = False, announce_missing: bool = False) -> None:
        """Reload mapping files that changed on disk; bind new and previously failed ones.

        A user's file replaces a bound file of the same name from a folder
        before it (a shipped mapping), at run time as at start: the old surface
        and its transport are closed first, then the new one is bound once.
        `force` reloads every bound mapping (SIGHUP). Reading happens on a
        worker thread (_plan); binding on the loop's.
        """
        async with self._mapping_check:  # one check at a time (the ticker's, SIGHUP's)
            bound = [(b, b.mtime, tuple(b.surface.mapping.sources[1:])
                      if b.surface is not None else ()) for b in self.bindings]
            plan = await asyncio.to_thread(self._plan, self.config, bound, force,
                                           announce_missing)
            self._apply(plan)

    def _apply(self, plan: _Plan) -> None:
        for note in plan.notes:
            self.on_status(note)
        for b, why in plan.drop:
            self._unbind(b)
            self.on_status(f"{b.path.name}: unbound ({why})")
        for b, loaded in plan.replace:
            if loaded.mapping is None:
                self.failed[loaded.path] = (loaded.mtime, float("inf"))
                self.on_status(f"mapping not loaded: {loaded.error}; {b.path} stays bound")
                continue
            self._unbind(b)
            self.on_status(f"{loaded.path} replaces {b.path}")
            self._bind(loaded.path, loaded.mtime, loaded.mapping)
        for b, loaded, bases in plan.reload:
            if b not in self.bindings:
                continue
            b.mtime, b.bases = loaded.mtime, bases
            if loaded.mapping is None:
                # Keep the surface working on the old mapping; say what is wrong.
                self.reload_errors.append(str(loaded.error))
                self.on_status(f"reload refused, keeping the previous mapping: {loaded.error}")
                continue
            self._swap(b, loaded.mapping)
        for loaded in plan.new:
            if any(b.path == loaded.path for b in self.bindings):
                continue
            if loaded.mapping is None:
                self.failed[loaded.path] = (loaded.mtime, float("inf"))  # until the file changes
                self.on_status(f"mapping not loaded: {loaded.error}")
                continue
            self._bind(loaded.path, loaded.mtime, loaded.mapping)

    def _swap(self, b: SurfaceBinding, mapping: Any) -> None:
        from surfaced.surfaces.surface import Surface

        old = b.surface
        b.surface = Surface(mapping, self.mixer, b.transport.send, f"surface:{mapping.id}",
                            wake=self.wake)
        b.bases = _stamp(mapping.sources[1:])
        old.close()
        self.reloads += 1
        self.on_status(f"{b.path.name}: reloaded")
        if b.transport.online:
            b.surface.connected()

    def _unbind(self, b: SurfaceBinding) -> None:
        if b in self.bindings:
            self.bindings.remove(b)
        if b.surface is not None:
            b.surface.close()
        if b.transport is not None:
            b.transport.close()

    def _bind(self, path: Path, mtime: float, mapping: Any) -> None:
        from surfaced.mapping.model import MidiMatch, OscMatch, SerialMatch
        from surfaced.surfaces.surface import Surface

        binding = SurfaceBinding(path, mtime, None, bases=_stamp(mapping.sources[1:]))
        sid = f"surface:{mapping.id}"

        # Surface methods are thread-safe: transports call them from their own
        # threads directly, which keeps an event's path to the core short.
        def deliver(event: Event) -> None:
            binding.surface.handle(event)

        def status(online: bool) -> None:
            self.on_status(f"{mapping.id}: {'online' if online else 'offline'}")
            if not online:
                binding.surface.disconnected()

        def reconnected() -> None:
            binding.surface.connected()
            self.wake()  # its meters and keep-alives are due from now on

        match = mapping.match
        transport: Any
        if isinstance(match, MidiMatch) and self._midi_down_until > time.monotonic():
            self.failed[path] = (mtime, self._midi_down_until)
            return
        hub = self._jack_midi_hub() if isinstance(match, MidiMatch) and self._midi_on_jack() \
            else None
        if hub is not None:
            transport = JackMidiTransport(deliver, hub=hub, input=match.input,
                                          output=match.output, source=sid, name=mapping.id,
                                          on_status=status, on_reconnect=reconnected)
        elif isinstance(match, MidiMatch):
            transport = MidiTransport(deliver, input=match.input, output=match.output,
                                      api=self.config.midi_api, source=sid,
                                      client_name="surfaced", on_status=status,
                                      on_reconnect=reconnected)
        elif isinstance(match, SerialMatch):
            from surfaced.transports.serial import SerialTransport

            transport = SerialTransport(deliver, port=match.port,
                                        serial_number=match.serial_number, by_id=match.by_id,
                                        baudrate=match.baudrate, source=sid, on_status=status,
                                        on_reconnect=reconnected)
        elif isinstance(match, OscMatch):
            transport = _OscPeer(self, match)
        else:  # pragma: no cover - the schema admits no other kind
            return
        binding.transport = transport
        binding.surface = Surface(mapping, self.mixer, transport.send, sid, wake=self.wake)
        try:
            transport.start()
        except Exception as exc:  # a device that cannot be opened must not stop the daemon
            binding.surface.close()
            retry = time.monotonic() + RETRY_S
            self.failed[path] = (mtime, retry)
            if isinstance(match, MidiMatch):
                # The MIDI backend itself is down (no ALSA sequencer, JACK not
                # up yet): say so once, not once per mapping, and try again
                # later, backing off to a minute (each attempt makes the ALSA
                # library print a line of its own).
                if self._midi_down_until == 0.0:
                    self.on_status(f"MIDI unavailable ({exc}); MIDI surfaces will be bound "
                                   "when it is (retrying, then every minute)")
                self._midi_backoff = min(60.0, self._midi_backoff * 2) or RETRY_S
                self._midi_down_until = time.monotonic() + self._midi_backoff
                self.failed[path] = (mtime, self._midi_down_until)
            else:
                self.on_status(f"{path.name}: {exc} (retrying every {RETRY_S:.0f} s)")
            return
        if isinstance(match, MidiMatch):
            self._midi_down_until = self._midi_backoff = 0.0
        self.failed.pop(path, None)
        # A transport that found its device inside start() has already called
        # reconnected(): the surface got its handshake and full state there.
        self.bindings.append(binding)

    def _midi_on_jack(self) -> bool:
        """Whether MIDI surfaces use surfaced's own JACK client (transports/jack_midi.py):
        with `midi.api: jack`, and with it unset when the audio is on JACK or a JACK
        server answers when the first MIDI surface binds (decided once). Otherwise
        rtmidi: ALSA, CoreMIDI, WinMM, the platform's default."""
        if self._midi_jack is None:
            api = self.config.midi_api
            if not use_jack(api):
                self._midi_jack = False
            elif api is not None or self.jack is not None:
                self._midi_jack = True
            else:
                self._midi_jack = self._jack_midi_hub(require=False) is not None
        return self._midi_jack

    def _jack_midi_hub(self, require: bool = True) -> JackMidiHub | None:
        """The JACK MIDI ports of every surface, on the daemon's JACK client; None when
        not `require`d and no JACK server answers."""
        if self.jack_midi is None:
            hub = JackMidiHub(watch=False)
            if self.jack is not None:  # the audio's client: one client for everything
                hub.follow(self.jack.session)
            else:  # audio elsewhere (PortAudio, headless): a client for the MIDI ports
                from surfaced.mix.jack_session import JackSession

                cfg = self.config
                session = JackSession(cfg.jack_client, cfg.jack_server,
                                      say=self._say_from_thread)
                hub.follow(session)
                if not session.open_now() and not require:
                    hub.close()
                    return None
                session.start()  # with no server yet: joins it when it starts
                self._midi_jack_session = session
            self.jack_midi = hub
        return self.jack_midi

    def _osc_surface_for(self, event: Event) -> SurfaceBinding | None:
        from surfaced.transports.osc import parse_source

        try:
            _proto, host, port = parse_source(event.source)
        except ValueError:
            return None
        for b in self.bindings:
            if isinstance(b.transport, _OscPeer) and b.transport.match.accepts(
                    host, port, event.address):
                first = b.transport.peer is None
                b.transport.peer = (host, port)
                if first:  # a new peer needs the whole picture before anything else
                    b.surface.connected()
                return b
        return None

    # -------------------------------------------------------------- reload
    # Settings a running daemon takes over from a reloaded configuration; the
    # others (audio, OSC listeners, the session, the link, ...) need a restart.
    LIVE_SETTINGS = ("mapping_dirs", "enable")

    async def reload(self, load: Callable[[], Config]) -> bool:
        """Re-read the configuration (with `load`) and every mapping: what SIGHUP does.

        A configuration that cannot be read is refused and the running one kept
        (the mappings are still re-read). Says what changed, what takes effect
        only at the next start, and what the mappings did. Returns whether the
        configuration was taken.
        """
        try:
            new: Config | None = await asyncio.to_thread(load)
        except Exception as exc:  # ConfigError names file:line; anything else is ours too
            self.on_status(f"reload: configuration refused, keeping the running one: {exc}")
            new = None
        live: list[str] = []
        later: list[str] = []
        if new is not None:
            for f in fields(Config):
                if f.name == "path" or getattr(new, f.name) == getattr(self.config, f.name):
                    continue
                if f.name in self.LIVE_SETTINGS:
                    live.append(f.name)
                    setattr(self.config, f.name, getattr(new, f.name))
                else:
                    later.append(f.name)
        before = self.reloads, len(self.bindings)
        await self.check_reload(force=True, announce_missing=True)
        what = ("configuration refused" if new is None else
                "configuration unchanged" if not live and not later else
                "configuration: " + ", ".join([f"{n} changed" for n in live]
                                              + [f"{n} changed (takes effect at the next "
                                                 "start)" for n in later]))
        self.on_status(f"reloaded on SIGHUP: {what}; mappings: {self.reloads - before[0]} "
                       f"reloaded, {len(self.bindings)} bound (was {before[1]})")
        return new is not None

    # ----------------------------------------------------------------- run
    async def run(self, stop: asyncio.Event, seconds: float | None = None) -> None:
        """Start everything, tick until `stop` is set (or `seconds` pass), shut down."""
        self.loop = asyncio.get_running_loop()
        self._folder_watch.start(self.loop)
        self.document.start()  # the running marker and the autosave worker
        self.start_audio()
        self.start_audio_watch()
        try:
            await self.start_osc()
            self.start_link()
            await self.start_web()
            await self.start_surfaces()
            await self._loop_until(stop, time.monotonic() + seconds if seconds else math.inf)
        finally:
            await self.shutdown()

    async def _loop_until(self, stop: asyncio.Event, deadline: float) -> None:
        """Tick when woken or when a part is due, at most every TICK_S, until stopped."""
        woken = self._woken = asyncio.Event()
        stopping = asyncio.ensure_future(stop.wait())
        waking = asyncio.ensure_future(woken.wait())
        self._checked_at = time.monotonic()  # start_surfaces just checked
        self._next_check = self._checked_at + self._check_interval()
        checking: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                self._wake_sent = False  # before ticking: a wake from here on ticks again
                self.ticks += 1
                self._tick(now)
                self._guarded("autosave", self.document.tick, now)
                if now >= self._mapping_due() and (checking is None or checking.done()):
                    self._checked_at = now
                    self._next_check = now + self._check_interval()
                    checking = asyncio.create_task(self._guarded_async(
                        "checking mappings", self.check_reload()))
                due = min(self._due(now), self._mapping_due(), deadline)
                # Not sooner than TICK_S after this tick, so a burst coalesces.
                sleep = max(due, now + TICK_S) - time.monotonic()
                if sleep > 0 and not waking.done():
                    await asyncio.wait((stopping, waking), timeout=sleep,
                                       return_when=asyncio.FIRST_COMPLETED)
                if waking.done():
                    gap = now + TICK_S - time.monotonic()
                    if gap > 0 and not stop.is_set():
                        await asyncio.sleep(gap)
                    woken.clear()
                    waking = asyncio.ensure_future(woken.wait())
        finally:
            stopping.cancel()
            waking.cancel()
            self._woken = None

    def _check_interval(self) -> float:
        """Seconds to the next mapping check with no change reported."""
        return RELOAD_WATCHED_S if self._watching and self._folder_watch.available \
            else RELOAD_CHECK_S

    def _mapping_due(self) -> float:
        """When the next mapping check is due: the interval, a change, or a retry."""
        retry = min((r for _, r in self.failed.values() if r > self._checked_at),
                    default=math.inf)
        return min(self._next_check, retry)

    def _mapping_folder_changed(self) -> None:
        """Loop thread: a mapping folder changed (FolderWatch); check it shortly."""
        self._next_check = min(self._next_check, time.monotonic() + CHANGE_SETTLE_S)
        self.wake()

    def wake(self) -> None:
        """Any thread: tick soon (something has work for the loop). Cheap when repeated."""
        loop, woken = self.loop, self._woken
        if self._wake_sent or loop is None or woken is None:
            return
        self._wake_sent = True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(woken.set)

    def _due(self, now: float) -> float:
        """The earliest time a part needs a tick with no wake before it (inf: none)."""
        parts: list[tuple[str, Callable[[], float]]] = [
            ("A/B loudness", self.ab.due), ("reference loudness", self.reference.due),
            ("assistant", lambda: self.assistant.due(now, TICK_S)),
            ("autosave", lambda: self.document.due(now))]
        parts += [(f"{b.path.stem} feedback", partial(b.surface.due, now, TICK_S))
                  for b in self.bindings if b.surface is not None]
        if self.native is not None:
            parts.append(("OSC feedback", partial(self.native.due, now)))
        if self.x32 is not None:
            parts.append(("X32 feedback", partial(self.x32.due, now)))
        due = math.inf
        for what, fn in parts:
            try:
                due = min(due, fn())
            except Exception as exc:  # a broken part ticks at the old rate, said once
                self._guarded(what, _raise, exc)
                due = now + TICK_S
        return due

    def _cmd_log(self, args: tuple[object, ...], source: str) -> tuple[str, ...]:
        """The newest N change-log lines (default 20, at most 500), oldest first."""
        n = 20
        if args:
            if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) \
                    or not 1 <= args[0] <= 500:
                raise CommandError("log: expected a count 1..500")
            n = args[0]
        return tuple(format_change(c) for c in self.changelog.entries(n))

    def _tick(self, now: float) -> None:
        self._guarded("A/B loudness", self.ab.tick, now)
        self._guarded("reference loudness", self.reference.tick, now)
        self._guarded("assistant", self.assistant.tick, now)
        for b in self.bindings:
            if b.surface is not None:
                self._guarded(f"{b.path.stem} feedback", b.surface.tick, now)
        if self.native is not None:
            self._guarded("OSC feedback", self.native.tick, now)
        if self.x32 is not None:
            self._guarded("X32 feedback", self.x32.tick, now)

    def _guarded(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        """Run one piece of the loop; a failure is counted and said, never fatal."""
        try:
            fn(*args)
        except Exception as exc:
            self.loop_errors += 1
            if self.loop_errors in (1, 2, 4, 8, 16, 32, 64) or self.loop_errors % 1000 == 0:
                self.on_status(f"{what} failed ({type(exc).__name__}: {exc}); "
                               f"{self.loop_errors} loop errors so far")

    async def _guarded_async(self, what: str, work: Any) -> None:
        """Await one piece of the loop's work; a failure is counted and said, never fatal."""
        try:
            await work
        except Exception as exc:
            self._guarded(what, _raise, exc)

    def start_link(self) -> None:
        """Join the mix link when `link:` is configured (docs/link.md)."""
        if self.config.link is None:
            return
        from surfaced.link.link import MixLink

        # The link speaks from its own threads.
        self.link = MixLink(self.mixer, self.config.link, on_status=self._say_from_thread)
        self.link.start()

    async def start_web(self) -> None:
        """The browser surface on this loop, when configured; says each role's link."""
        from surfaced.surfaces.web import open_web

        self.web = await open_web(self.mixer, self.config.web, self.config.feedback_rate,
                                  self.on_status)

    async def shutdown(self) -> None:
        """Close surfaces, transports, listeners and the audio driver."""
        self._folder_watch.close()
        if self.link is not None:  # first: let go of holds while the surfaces still exist
            self.link.close()
            self.link = None
        for b in self.bindings:
            if b.surface is not None:
                b.surface.close()
            if b.transport is not None:
                b.transport.close()
        self.bindings.clear()
        if self._midi_jack_session is not None:
            self._midi_jack_session.close()  # tells the hub first, then closes the client
        if self.jack_midi is not None:
            self.jack_midi_totals = self.jack_midi.stats()  # for the summary at stop
            self.jack_midi.close()
            self.jack_midi = None
        if self.native is not None:
            self.native.close()
        if self.web is not None:
            await self.web.close()
            self.web = None
        if self.mdns is not None:
            await self.mdns.close()
            self.mdns = None
        if self.x32 is not None:
            self.x32.close()
        if self.x32_listener is not None:
            await self.x32_listener.close()
            self.x32_listener = None
        for listener in self.osc + self.osc_waiting:
            await listener.close()
        self.osc.clear()
        self.osc_waiting.clear()
        if self.audio_watch is not None:
            self.audio_watch.close()  # no driver switch from here on
            self.audio_watch = None
        if self.jack is not None:  # leaves JACK; the clock it ran on, if any, stops
            self.jack.close()
            self.jack = None
        if self.driver is not None:
            self.driver.stop()
        # Last: save the session file if the mix changed, then remove the running marker.
        self._guarded("saving the session", self.document.close)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


def _raise(exc: Exception) -> None:
    raise exc


@dataclass
class _Loaded:
    """A mapping file read on a worker thread: its mapping, or why not."""

    path: Path
    mtime: float
    mapping: Any  # surfaced.mapping.Mapping, or None with `error`
    error: Exception | None


@dataclass
class _Plan:
    """What one mapping check found (Daemon._plan), for the loop thread to apply."""

    notes: list[str] = field(default_factory=list)
    drop: list[tuple[SurfaceBinding, str]] = field(default_factory=list)
    replace: list[tuple[SurfaceBinding, _Loaded]] = field(default_factory=list)
    reload: list[tuple[SurfaceBinding, _Loaded, tuple[float, ...]]] = field(default_factory=list)
    new: list[_Loaded] = field(default_factory=list)


def _stamp(paths: tuple[str, ...]) -> tuple[float, ...]:
    """The modification times of files (-1 for one that is gone), to notice edits."""
    out = []
    for p in paths:
        try:
            out.append(Path(p).stat().st_mtime)
        except OSError:
            out.append(-1.0)
    return tuple(out)


class _OscPeer:
    """The transport of an OSC surface: the daemon's listeners, one peer's address.

    Input arrives through the daemon's OSC listeners (routed by the mapping's
    match); feedback goes to the mapping's reply address, or back to where the
    peer last sent from.
    """

    def __init__(self, daemon: Daemon, match: Any) -> None:
        self.daemon = daemon
        self.match = match
        self.peer: tuple[str, int] | None = None
        if match.reply_host is not None and match.reply_port is not None:
            self.peer = (match.reply_host, match.reply_port)

    @property
    def online(self) -> bool:
        return self.peer is not None

    def start(self) -> None:
        """Nothing to open: the listeners are already running."""

    def close(self) -> None:
        """Nothing to close."""

    def send(self, event: Event) -> bool:
        from surfaced.transports.osc_codec import encode_event

        if self.peer is None:
            return False
        host, port = self.peer
        if self.match.reply_host is not None:
            host = self.match.reply_host
        if self.match.reply_port is not None:
            port = self.match.reply_port
        packet = encode_event(event)
        for listener in self.daemon.osc:
            if listener.config.protocol == "udp":
                return listener.send_to(host, port, packet)
        return False
