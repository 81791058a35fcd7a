"""The box protocol (firmware/PROTOCOL.md) over any Hardware."""

from . import VERSION, osc, slip
from .controls import ANALOG_MAX, Analog, Debouncer, Encoder

PROTOCOL_VERSION = 1


class Hardware:
    """What the box needs from a board (hw_pico.PicoHardware, or a test shim)."""

    def millis(self) -> int:
        """Monotonic milliseconds; never wraps (Python ints)."""
        raise NotImplementedError

    def read_adc(self, channel: int) -> int:
        """Raw ADC reading of a fader channel, adc_bits wide."""
        raise NotImplementedError

    def read_pin(self, pin: int) -> int:
        """Logic level 0/1 of an input (buttons close to ground)."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Bytes to the host."""
        raise NotImplementedError

    def set_led(self, index: int, on: int) -> None:
        """Switch LED index."""
        raise NotImplementedError


class BoxConfig:
    """Which controls the box has and where the board finds them."""

    def __init__(self, name: str = "surfaced-pico-box", faders: list | None = None,
                 buttons: list | None = None, encoders: list | None = None, leds: int = 8,
                 meters: int = 0, adc_bits: int = 12, debounce_ms: int = 5) -> None:
        self.name = name
        self.faders = faders if faders is not None else list(range(8))  # ADC channels
        self.buttons = buttons if buttons is not None else []  # pins
        self.encoders = encoders if encoders is not None else []  # (a, b, push or None)
        self.leds = leds
        self.meters = meters
        self.adc_bits = adc_bits
        self.debounce_ms = debounce_ms


class Box:
    """Samples controls, sends changes, applies feedback; see box.c."""

    def __init__(self, hw: Hardware, config: BoxConfig) -> None:
        self.hw = hw
        self.cfg = config
        now = hw.millis()
        self.rx = slip.Decoder(96)
        self.greeted = False
        self.osc_errors = 0
        self.unknown = 0
        self.led = [0] * config.leds
        self.meter = [0] * config.meters
        self.faders = []
        for ch in config.faders:
            a = Analog(bits=config.adc_bits)
            a.update(hw.read_adc(ch))
            self.faders.append(a)
        self.buttons = [Debouncer(self._active(p), now) for p in config.buttons]
        self.encoders = [Encoder(self._ab(a, b)) for a, b, _ in config.encoders]
        self.pushes = [Debouncer(self._active(p) if p is not None else 0, now)
                       for _, _, p in config.encoders]

    def _active(self, pin: int) -> int:
        return 0 if self.hw.read_pin(pin) else 1

    def _ab(self, a: int, b: int) -> int:
        rp = self.hw.read_pin
        return (2 if rp(a) else 0) | (1 if rp(b) else 0)

    def send(self, address: str, types: str = "", args: list | None = None) -> None:
        """Frame one OSC message to the host."""
        self.hw.write(slip.encode(osc.encode(address, types, args or [])))

    def announce(self) -> None:
        """Boot hint for a host whose hello may have been lost."""
        self.send("/announce", "ss", [self.cfg.name, VERSION])

    def identity_and_snapshot(self) -> None:
        """/identity, every absolute control's position, /snapshot/done."""
        c = self.cfg
        groups = [("fader", len(c.faders)), ("button", len(c.buttons)),
                  ("encoder", len(c.encoders)), ("led", c.leds), ("meter", c.meters)]
        names = [f"{kind}:{count}" for kind, count in groups if count]
        types = "ssi" + "s" * len(names)
        self.send("/identity", types, [c.name, VERSION, PROTOCOL_VERSION, *names])
        sent = 0
        for i, a in enumerate(self.faders):
            a.resync()
            self.send(f"/fader/{i + 1}", "i", [a.reported])
            sent += 1
        for i, d in enumerate(self.buttons):
            self.send(f"/button/{i + 1}", "i", [d.stable])
            sent += 1
        for i, (_, _, push) in enumerate(c.encoders):
            self.encoders[i].take()
            if push is not None:
                self.send(f"/encoder/{i + 1}/push", "i", [self.pushes[i].stable])
                sent += 1
        self.send("/snapshot/done", "i", [sent])

    def poll(self) -> None:
        """Sample everything once and send what changed (after a hello)."""
        hw, c = self.hw, self.cfg
        now = hw.millis()
        for i, (a, b, push) in enumerate(c.encoders):
            enc = self.encoders[i]
            enc.update(self._ab(a, b), now)
            pushed = push is not None and self.pushes[i].update(self._active(push), now,
                                                                 c.debounce_ms)
            if pushed and self.greeted:
                self.send(f"/encoder/{i + 1}/push", "i", [self.pushes[i].stable])
            if enc.pending:
                steps = enc.take()
                if self.greeted:
                    self.send(f"/encoder/{i + 1}", "i", [steps])
        for i, pin in enumerate(c.buttons):
            if self.buttons[i].update(self._active(pin), now, c.debounce_ms) and self.greeted:
                self.send(f"/button/{i + 1}", "i", [self.buttons[i].stable])
        for i, ch in enumerate(c.faders):
            if self.faders[i].update(hw.read_adc(ch)) and self.greeted:
                self.send(f"/fader/{i + 1}", "i", [self.faders[i].reported])

    def receive(self, data: bytes) -> None:
        """Bytes from the host; complete frames are handled at once."""
        for frame in self.rx.feed(data):
            try:
                address, types, args = osc.parse(frame)
            except osc.OscError:
                self.osc_errors += 1
                continue
            self._handle(address, types, args)

    def _handle(self, address: str, types: str, args: list) -> None:
        if address == "/hello":
            self.greeted = True
            self.identity_and_snapshot()
            return
        if address == "/ping":
            token = args[0] if types[:1] == "i" else 0
            self.send("/pong", "i", [token])
            return
        if address == "/stats":
            rx = self.rx
            self.send("/stats", "iiiiii", [rx.packets, rx.garbage, rx.bad_escape, rx.overflow,
                                           self.osc_errors, self.unknown])
            return
        parts = address.split("/")  # "", kind, index[, sub]
        index = _index(parts[2]) if len(parts) >= 3 else -1
        value = _position(types, args)
        known = len(parts) == 3 and value is not None
        if known and parts[1] == "led" and 0 <= index < self.cfg.leds:
            self.led[index] = 1 if value else 0
            self.hw.set_led(index, self.led[index])
            return
        if (len(parts) == 4 and parts[1] == "fader" and parts[3] == "target"
                and 0 <= index < len(self.cfg.faders) and value is not None):
            return  # the reference Pico box has no motors: accepted, nothing to move
        if known and parts[1] == "meter" and 0 <= index < self.cfg.meters:
            self.meter[index] = value
            return
        self.unknown += 1


def _index(text: str) -> int:
    """0-based index of a 1-based address segment, or -1 (no signs, no leading zeros)."""
    if not text or not text.isdigit() or text[0] == "0" or len(text) > 3:
        return -1
    return int(text) - 1


def _position(types: str, args: list) -> int | None:
    """First argument as a 14-bit position: int 0..16383 or float 0..1, clamped."""
    if not types:
        return None
    if types[0] == "i":
        return min(max(args[0], 0), ANALOG_MAX)
    if types[0] == "f":
        f = args[0]
        if not f >= 0.0:  # also NaN
            f = 0.0
        return int(min(f, 1.0) * ANALOG_MAX + 0.5)
    return None
