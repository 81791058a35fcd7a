"""The reference track: a finished record to compare the mix with, loudness-matched.

The core plays the reference (a WAV file or device inputs, the session's
`reference:`) to the output IN PLACE of the mix when switched on, with a
20 ms crossfade (native/reference.c). The mix keeps running and metering
underneath, so switching back is instant and the master meters always show
the mix. The reference is not part of the mix: switching it is not a change
of any parameter, not an undo step, not saved.

Loudness matching: louder sounds better, so a fair comparison plays the
reference at the mix's loudness. Ten times a second `tick()` reads the
master's momentary loudness (the mix, as heard: after the A/B monitor trim)
and the reference's own meter (before its gain); each side's loudness is the
gated integration (BS.1770-4) of its last `window` seconds of readings. With
matching on (the default) the reference's gain is the mix's loudness minus
the reference's, within -40..+40 dB, updated when it moves by 0.1 dB or
more. Matching off leaves the reference at 0 dB.

Commands (surfaced.mix.commands.KNOWN): reference/switch, reference/match 0|1,
reference/state.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from pathlib import Path

from surfaced.mix.ab import gated_loudness
from surfaced.mix.commands import CommandError
from surfaced.mix.mixer import Mixer
from surfaced.session import Session, SessionError, Source, generators
from surfaced.session.wavio import WavError, read_wav

DEFAULT_WINDOW_S = 10.0
GAIN_RANGE = (-40.0, 40.0)
GAIN_STEP_DB = 0.1  # smaller moves of the match are not sent
SAMPLE_HZ = 10.0  # loudness readings a second while a reference is loaded


class Reference:
    """The reference switch, its gain, and each side's loudness (see module docstring)."""

    def __init__(self, mixer: Mixer, window: float = DEFAULT_WINDOW_S) -> None:
        self.mixer = mixer
        self.engine = mixer.engine
        self.source = "none"  # what plays: "none", a file name, "input N"
        self.heard = False
        self.match = True
        self.gain_db = 0.0
        self.window = window
        self._lock = threading.Lock()
        n = max(1, int(window * SAMPLE_HZ))
        self._mix: deque[float] = deque(maxlen=n)
        self._ref: deque[float] = deque(maxlen=n)
        self._next_sample = 0.0

    # ------------------------------------------------------------- source
    def load(self, session: Session) -> None:
        """Set the session's reference source (`reference:`), if it has one."""
        src: Source | None = getattr(session, "reference", None)
        if src is None:
            return
        if src.kind == "input":
            self.engine.set_reference_input(src.first_input, src.stereo)
            last = src.first_input + (2 if src.stereo else 1)
            self.source = f"input {src.first_input + 1}" + (f"-{last}" if src.stereo else "")
        elif src.kind == "generator":
            self.engine.set_reference_buffer(generators.generate(src.name, session.rate))
            self.source = f"generator {src.name}"
        elif src.kind == "wav":
            path = Path(session.path).parent / src.name
            try:
                # At the session's rate (resampled if need be), mono or stereo.
                data, _rate = read_wav(path, rate=session.rate, max_channels=2)
            except WavError as exc:
                raise SessionError(f"{session.path}: reference: {exc}") from None
            except OSError as exc:
                raise SessionError(f"{session.path}: reference: {path}: {exc}") from None
            self.engine.set_reference_buffer(data[:, 0] if data.shape[1] == 1 else data)
            self.source = path.name
        with self._lock:
            self._ref.clear()

    # -------------------------------------------------------------- switch
    def switch(self, on: bool | None = None) -> bool:
        """Hear the reference (True) or the mix; None toggles. Returns what is heard now."""
        if self.source == "none":
            raise CommandError("reference/switch: this session has no reference "
                               "(reference: {wav: FILE} or {input: N} in the session file)")
        want = (not self.heard) if on is None else on
        self.engine.set_reference(want, self.gain_db)
        self.heard = want
        return self.heard

    def set_match(self, on: bool) -> None:
        """Loudness matching on (the reference at the mix's loudness) or off (0 dB)."""
        self.match = on
        self._apply_match()

    # ------------------------------------------------------------ loudness
    def loudness(self) -> tuple[float, float]:
        """(the mix's, the reference's) loudness over the last window (LUFS; -inf: none)."""
        with self._lock:
            return gated_loudness(list(self._mix)), gated_loudness(list(self._ref))

    def due(self) -> float:
        """When `tick` next samples: inf with no reference loaded."""
        return math.inf if self.source == "none" else self._next_sample

    def tick(self, now: float) -> None:
        """Sample both loudnesses ten times a second and follow the match (control loop)."""
        if self.source == "none" or now < self._next_sample:
            return
        self._next_sample = now + 1.0 / SAMPLE_HZ
        mix = self.engine.meters().master.momentary_lufs
        ref = self.engine.reference_meters().momentary_lufs
        with self._lock:
            self._mix.append(mix)
            self._ref.append(ref)
        self._apply_match()

    def _apply_match(self) -> None:
        gain = 0.0
        if self.match:
            mix, ref = self.loudness()
            if not (math.isfinite(mix) and math.isfinite(ref)):
                return  # nothing to match yet: keep the gain as it is
            gain = min(GAIN_RANGE[1], max(GAIN_RANGE[0], mix - ref))
        if abs(gain - self.gain_db) >= GAIN_STEP_DB or (gain == 0.0 and self.gain_db != 0.0):
            self.engine.set_reference_gain(round(gain, 2))
            self.gain_db = round(gain, 2)

    # ------------------------------------------------------------ commands
    def state(self) -> tuple[str, int, float, float, float, str]:
        """(heard: "reference"|"mix", matching on, reference gain dB, mix LUFS,
        reference LUFS, source); -200 for no reading."""
        def wire(x: float) -> float:
            return round(x, 2) if math.isfinite(x) else -200.0

        mix, ref = self.loudness()
        return ("reference" if self.heard else "mix", int(self.match), self.gain_db,
                wire(mix), wire(ref), self.source)

    def register(self) -> None:
        """Register reference/* on the mixer's commands."""
        c = self.mixer.commands
        c.register("reference/switch", self._cmd_switch)
        c.register("reference/match", self._cmd_match)
        c.register("reference/state", lambda args, source: self.state())

    def _cmd_switch(self, args: tuple[object, ...], source: str) -> tuple[str]:
        on: bool | None = None
        if args:
            if len(args) != 1 or args[0] not in (0, 1, True, False):
                raise CommandError("reference/switch: expected no argument (toggle), "
                                   "1 (the reference) or 0 (the mix)")
            on = bool(args[0])
        return ("reference" if self.switch(on) else "mix",)

    def _cmd_match(self, args: tuple[object, ...], source: str) -> tuple[int]:
        if len(args) != 1 or args[0] not in (0, 1, True, False):
            raise CommandError("reference/match: expected 0 (off) or 1 (on)")
        self.set_match(bool(args[0]))
        return (int(self.match),)
