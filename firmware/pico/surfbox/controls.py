"""Control conditioning, the same algorithms as the C core:

- Analog: n-bit ADC -> 14-bit, shift-only EMA, endpoint snapping, deadband
  with extra hysteresis on reversal (firmware/core/analog.c).
- Debouncer: a level counts once it has held for hold_ms (debounce.c).
- Encoder: Gray-code transition table, one step per detent at the rest
  state, speed-dependent acceleration (encoder.c).
"""

ANALOG_MAX = 16383


def scale14(raw: int, bits: int) -> int:
    """Full scale to full scale, rounded."""
    top = (1 << bits) - 1
    raw = min(max(raw, 0), top)
    return (raw * ANALOG_MAX + top // 2) // top


class Analog:
    """One fader's conditioning; update() says when a move is worth sending."""

    def __init__(self, bits: int = 12, ema_shift: int = 3, deadband: int = 24,
                 hysteresis: int = 16, snap: int = 48) -> None:
        self.bits = bits
        self.shift = ema_shift
        self.deadband = deadband
        self.hysteresis = hysteresis
        self.snap = snap
        self.acc = 0
        self.value = 0
        self.reported = 0
        self.dir = 0
        self.primed = False

    def _snap(self, v: int) -> int:
        if v <= self.snap:
            return 0
        if v >= ANALOG_MAX - self.snap:
            return ANALOG_MAX
        return v

    def update(self, raw: int) -> bool:
        """Feed a reading; True when self.reported changed and should be sent."""
        x = scale14(raw, self.bits)
        if not self.primed:
            self.acc = x << self.shift
            self.primed = True
            self.value = self.reported = self._snap(x)
            return False
        self.acc = self.acc - (self.acc >> self.shift) + x
        self.value = self._snap(self.acc >> self.shift)
        diff = self.value - self.reported
        if diff == 0:
            return False
        direction = 1 if diff > 0 else -1
        at_end = self.value in (0, ANALOG_MAX)
        threshold = self.deadband
        if self.dir and direction != self.dir:
            threshold += self.hysteresis
        if not at_end and abs(diff) < threshold:
            return False
        self.reported = self.value
        self.dir = direction
        return True

    def resync(self) -> None:
        """The host already knows the current position."""
        self.reported = self.value
        self.dir = 0


class Debouncer:
    """Time-based debouncing of one switch (1 = active)."""

    def __init__(self, level: int, now: int) -> None:
        self.raw = self.stable = 1 if level else 0
        self.since = now

    def update(self, level: int, now: int, hold_ms: int = 5) -> bool:
        """True when the debounced level changed (self.stable holds it)."""
        level = 1 if level else 0
        if level != self.raw:
            self.raw = level
            self.since = now
            return False
        if self.raw != self.stable and now - self.since >= hold_ms:
            self.stable = self.raw
            return True
        return False


# Index (previous ab << 2) | ab: +1 along 00 01 11 10, -1 backwards, 0 otherwise.
_TRANSITION = (0, 1, -1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 0, -1, 1, 0)
# (max ms since the previous detent, steps) from fastest; slower counts 1.
ACCELERATION = ((15, 8), (35, 4), (70, 2))


class Encoder:
    """A quadrature encoder with four transitions per detent (EC11-style)."""

    def __init__(self, ab: int, rest_state: int = 3) -> None:
        self.ab = ab & 3
        self.rest = rest_state
        self.sub = 0
        self.pending = 0
        self.invalid = 0
        self.last_dir = 0
        self.last_detent = 0

    def update(self, ab: int, now: int) -> int:
        """Feed the contacts; returns (accelerated) steps, also added to pending."""
        ab &= 3
        if ab == self.ab:
            return 0
        t = _TRANSITION[(self.ab << 2) | ab]
        self.ab = ab
        if t == 0:
            self.invalid += 1
            return 0
        self.sub += t
        if ab != self.rest:
            return 0
        direction = 1 if self.sub >= 2 else (-1 if self.sub <= -2 else 0)
        self.sub = 0
        if direction == 0:
            return 0
        mult = 1
        if direction == self.last_dir:
            gap = now - self.last_detent
            for limit, steps in ACCELERATION:
                if gap <= limit:
                    mult = steps
                    break
        self.last_dir = direction
        self.last_detent = now
        self.pending += direction * mult
        return direction * mult

    def take(self) -> int:
        """Steps since the last take()."""
        p, self.pending = self.pending, 0
        return p
