"""The assistant at the desk: its commands on a running mix.

Each action is one Mixer.apply transaction from source "assistant:ACTION"
(one audio block, one undo step, one group of lines in the change log) and
touches only the assistant's layer (ch/N/assist/*): the engineer's faders,
trims and pans keep their places. Before applying, the mix as it was is
copied to the other A/B slot (ab/copy), so `ab/switch` compares the mix
with and without what the assistant just did.

Channels fed from device inputs are staged from a live measurement: the
core's per-channel loudness meter runs on them for a window (default 10 s,
`assist/stage TARGET SECONDS`) while the daemon goes on; `assist/stage`
answers at once ("measuring", channels, seconds) and the daemon's loop
(`tick`) applies the staging of every channel, live and from files, as ONE
transaction when the window is complete, and says so.

Commands (surfaced.mix.commands.KNOWN): assist/stage [TARGET_DB [SECONDS]],
assist/balance, assist/match ROUGH.wav, assist/clear, assist/learn.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from surfaced.assist import roles as roles_mod
from surfaced.assist.live import LiveMeasure
from surfaced.assist.measure import Levels, measure
from surfaced.assist.prep import STEREO_DB, sidecar_path
from surfaced.assist.rough import match
from surfaced.assist.staging import (
    LEVEL_RANGE,
    TRIM_RANGE,
    Target,
    clamp,
    lower_layer,
    trim_for,
    twin_peaks,
)
from surfaced.assist.taste import Taste
from surfaced.mix.ab import ABCompare
from surfaced.mix.commands import Arg, CommandError, number_arg, text_arg
from surfaced.mix.mixer import Mixer
from surfaced.session import Session, generators
from surfaced.session.wavio import WavError, read_wav

Audio = npt.NDArray[np.float32]
LIVE_SECONDS = 10.0  # how long live inputs are measured by default
log = logging.getLogger(__name__)


def channel_audio(session: Session) -> dict[int, Audio]:
    """The program each channel plays from a buffer (generators, WAV files), by channel."""
    out: dict[int, Audio] = {}
    base = Path(session.path).parent
    for i, ch in enumerate(session.channels, start=1):
        if ch.source.kind == "generator":
            out[i] = generators.generate(ch.source.name, session.rate)
        elif ch.source.kind == "wav":
            data, _rate = read_wav(base / ch.source.name, rate=session.rate)
            out[i] = data[:, 0] if data.shape[1] == 1 else data
    return out


class Assistant:
    """The assistant's commands on one mix (see module docstring)."""

    def __init__(self, mixer: Mixer, session: Session, ab: ABCompare | None = None,
                 taste_path: Path | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.mixer = mixer
        self.say = say or (lambda msg: log.info("%s", msg))
        self.measuring: LiveMeasure | None = None  # live inputs being measured for staging
        self._pending: dict[int, Levels] = {}  # the file-fed channels' levels meanwhile
        self.last_stage: tuple[int, int, float] | None = None  # the last staging applied
        self.session = session
        self.ab = ab
        self.taste_path = taste_path
        self.target = Target()
        self._audio: dict[int, Audio] | None = None
        self.roles: list[str] = []
        # per channel: (untasted level, untasted pan, fader then, pan then) of the last proposal
        self.proposal: dict[int, tuple[float, float, float, float]] = {}
        self._load_sidecar()

    def _load_sidecar(self) -> None:
        names = [c.name for c in self.session.channels]
        self.roles = [roles_mod.role_of(n).name for n in names]
        path = sidecar_path(Path(self.session.path))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for i, c in enumerate(data["channels"][: len(names)], start=1):
                self.roles[i - 1] = roles_mod.parse_role(str(c["role"])).name
                self.proposal[i] = (float(c["base_level"]), float(c["base_pan"]),
                                    float(c.get("fader", 0.0)), float(c.get("user_pan", 0.0)))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no sidecar (or not ours): roles from the channel names

    def audio(self) -> dict[int, Audio]:
        """The channels' buffers, read once."""
        if self._audio is None:
            try:
                self._audio = channel_audio(self.session)
            except (OSError, WavError) as exc:
                raise CommandError(f"assist: cannot read the session's sources ({exc})") from None
        return self._audio

    def _apply(self, action: str, values: dict[str, float]) -> int:
        if self.ab is not None:
            self.ab.copy()  # the other slot: the mix without this action
        return len(self.mixer.apply(values, f"assistant:{action}"))

    def _guard(self, values: dict[str, float], leaf: str,
               limits: tuple[float, float]) -> tuple[dict[str, float], float]:
        """Lower the layer `leaf` alike until the twin render keeps every bus under ceiling."""
        audio = self.audio()
        if not audio:
            return values, 0.0
        mix = {**self.mixer.snapshot(), **values}
        seconds = min(30.0, max(len(a) for a in audio.values()) / self.session.rate)
        peaks = twin_peaks(audio, mix, self.mixer.channels, self.mixer.buses,
                           self.session.rate, seconds)
        excess = peaks.excess(self.target)
        if excess <= 0.0:
            return values, 0.0
        db = math.ceil(excess * 10.0) / 10.0
        return lower_layer(values, leaf, db, limits), db

    # ------------------------------------------------------------- actions
    def live_channels(self) -> list[int]:
        """The channels fed from device inputs (staged from a live measurement)."""
        return [i for i, ch in enumerate(self.session.channels, start=1)
                if ch.source.kind == "input"]

    def stage(self, loudness: float | None = None,
              seconds: float = LIVE_SECONDS) -> tuple[Arg, ...]:
        """Gain-stage every channel with a source.

        With no live inputs: at once; (values changed, channels staged, dB
        lowered). With live inputs: starts measuring them for `seconds` and
        returns ("measuring", live channels, seconds); `tick` applies it all.
        """
        if self.measuring is not None:
            left = (1.0 - self.measuring.progress()) * self.measuring.seconds
            raise CommandError(f"assist/stage: already measuring the live inputs (about "
                               f"{left:.0f} s left)")
        if loudness is not None:
            self.target = Target(loudness, self.target.peak_ceiling, self.target.bus_ceiling)
        found = {ch: measure(a, self.session.rate) for ch, a in self.audio().items()}
        live = self.live_channels()
        if not live:
            result = self._stage_apply(found)
            return result
        try:
            self.measuring = LiveMeasure(self.mixer.engine, live, seconds)
        except ValueError as exc:
            raise CommandError(f"assist/stage: {exc}") from None
        self._pending = found
        return ("measuring", len(live), seconds)

    def _stage_apply(self, found: dict[int, Levels]) -> tuple[int, int, float]:
        values: dict[str, float] = {}
        for ch, lv in sorted(found.items()):
            trim = trim_for(lv, self.target)
            if trim is None:
                continue
            # the trim the engineer set counts: the assistant makes up the rest
            user = float(self.mixer.get(f"ch/{ch}/trim"))
            values[f"ch/{ch}/assist/trim"] = clamp(round(trim - user, 1), TRIM_RANGE)
        values, lowered = self._guard(values, "assist/trim", TRIM_RANGE)
        self.last_stage = (self._apply("stage", values), len(values), lowered)
        return self.last_stage

    def due(self, now: float, step: float) -> float:
        """When `tick` next has work: every `step` while measuring, else never."""
        return math.inf if self.measuring is None else now + step

    def tick(self, now: float) -> None:
        """Follow a live measurement; apply the staging when it is complete (control loop)."""
        m = self.measuring
        if m is None:
            return
        try:
            got = m.poll()
        except RuntimeError as exc:
            self.measuring = None
            self.say(f"assist/stage: gave up: {exc}")
            return
        if got is None:
            return
        self.measuring = None
        found = {**self._pending, **got}
        self._pending = {}
        silent = [ch for ch, lv in got.items() if lv.silent]
        changed, staged, lowered = self._stage_apply(found)
        self.say(f"assist/stage: measured {len(got)} live input(s) for {m.seconds:g} s; "
                 f"staged {staged} channel(s), {changed} value(s) changed"
                 + (f", lowered {lowered:.1f} dB" if lowered else "")
                 + (f"; silent, left alone: {', '.join(f'ch {c}' for c in silent)}"
                    if silent else "")
                 + (f"; {m.lost_steps()} step(s) missed" if m.lost_steps() else ""))

    def balance(self) -> tuple[int, float]:
        """A first balance by role, with the learned taste; (values changed, dB lowered)."""
        taste = Taste.load(self.taste_path)
        values: dict[str, float] = {}
        pans = self._pair_pans()
        audio = self.audio()
        for ch in range(1, self.mixer.channels + 1):
            role = roles_mod.BY_NAME[self.roles[ch - 1]]
            stereo = ch in audio and audio[ch].ndim == 2
            base_pan = pans.get(ch, 0.0)
            base = role.level + (STEREO_DB if stereo or base_pan else 0.0)
            lo, po = taste.offset(role.name, base_pan)
            values[f"ch/{ch}/assist/level"] = clamp(round(base + lo, 1), LEVEL_RANGE)
            values[f"ch/{ch}/assist/pan"] = max(-1.0, min(1.0, round(base_pan + po, 3)))
            self.proposal[ch] = (base, base_pan, self._num(f"ch/{ch}/fader"),
                                 self._num(f"ch/{ch}/pan"))
        values, lowered = self._guard(values, "assist/level", LEVEL_RANGE)
        return self._apply("balance", values), lowered

    def _num(self, path: str) -> float:
        v = self.mixer.get(path)
        return float(v) if not isinstance(v, str) else 0.0

    def _pair_pans(self) -> dict[int, float]:
        sides: dict[tuple[str, str], dict[str, int]] = {}
        for ch in range(1, self.mixer.channels + 1):
            found = roles_mod.side_of(str(self.mixer.get(f"ch/{ch}/name")))
            if found is not None:
                sides.setdefault((found[1], self.roles[ch - 1]), {})[found[0]] = ch
        out: dict[int, float] = {}
        for pair in sides.values():
            if set(pair) == {"L", "R"}:
                out[pair["L"]], out[pair["R"]] = -1.0, 1.0
        return out

    def match_rough(self, path: Path) -> tuple[int, float]:
        """Set levels and pans that reproduce the rough mix at `path`; (changed, worst band
        residual dB)."""
        try:
            rough, rate = read_wav(path, rate=self.session.rate)  # resampled if need be
        except (OSError, WavError) as exc:
            raise CommandError(f"assist/match: {path}: {exc}") from None
        if rough.shape[1] != 2:
            raise CommandError(f"assist/match: {path}: the rough must be a stereo file")
        audio = self.audio()
        chans = sorted(audio)
        if not chans:
            raise CommandError("assist/match: no channel plays from a file or generator")
        try:
            fit = match([audio[c] for c in chans], rough, rate)
        except ValueError as exc:
            raise CommandError(f"assist/match: {exc}") from None
        values: dict[str, float] = {}
        for c, g, p in zip(chans, fit.gains_db, fit.pans, strict=True):
            # the total gain from file to mix is trim + assist trim + fader + assist level
            gain_before = sum(self._num(f"ch/{c}/{leaf}") for leaf in
                              ("trim", "assist/trim", "fader"))
            values[f"ch/{c}/assist/level"] = clamp(round(g - gain_before, 2), LEVEL_RANGE)
            values[f"ch/{c}/assist/pan"] = max(-1.0, min(1.0, round(
                p - self._num(f"ch/{c}/pan"), 3)))
        return self._apply("match", values), max(fit.residual_db)

    def clear(self) -> int:
        """Take the assistant's layer out (every ch/N/assist/* to 0); values changed."""
        values = {f"ch/{c}/assist/{leaf}": 0.0 for c in range(1, self.mixer.channels + 1)
                  for leaf in ("trim", "level", "pan")}
        return self._apply("clear", values)

    def learn(self) -> int:
        """Fold where the engineer ended up, against the last proposal, into the taste
        profile; returns the channels learned from."""
        if not self.proposal:
            raise CommandError("assist/learn: no proposal to learn from (assist/balance or a "
                               "session made by `surfaced prep` first)")
        taste = Taste.load(self.taste_path)
        for ch, (base, base_pan, fader_then, pan_then) in sorted(self.proposal.items()):
            level_now = self._num(f"ch/{ch}/fader") + self._num(f"ch/{ch}/assist/level")
            pan_now = self._num(f"ch/{ch}/pan") + self._num(f"ch/{ch}/assist/pan")
            if not math.isfinite(level_now):
                continue  # a channel pulled all the way down says nothing about its level
            taste.observe(self.roles[ch - 1], base_pan, level_now - (fader_then + base),
                          pan_now - (pan_then + base_pan))
        taste.save()
        return len(self.proposal)

    # ------------------------------------------------------------ commands
    def register(self) -> None:
        """Register assist/* on the mixer's commands."""
        c = self.mixer.commands
        c.register("assist/stage", lambda args, source: self.stage(
            number_arg("assist/stage", args, 0, self.target.loudness, -60.0, 0.0)
            if args else None,
            number_arg("assist/stage", args, 1, LIVE_SECONDS, 0.4, 600.0)))
        c.register("assist/balance", lambda args, source: self.balance())
        c.register("assist/match", lambda args, source: self.match_rough(
            Path(text_arg("assist/match", args, 0, "the rough mix's WAV file"))))
        c.register("assist/clear", lambda args, source: (self.clear(),))
        c.register("assist/learn", lambda args, source: (self.learn(),))
