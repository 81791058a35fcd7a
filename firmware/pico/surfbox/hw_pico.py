"""The reference box's wiring on a Raspberry Pi Pico (RP2040), MicroPython.

Pins (GPn numbers; see firmware/README.md for the full table):
    GP2..GP9     encoder A/B contacts (enc 1: GP2/GP3 ... enc 4: GP8/GP9), pull-ups
    GP26 (ADC0)  fader multiplexer SIG     - CD74HC4067 #1, channels 0..7
    GP14         button multiplexer SIG    - CD74HC4067 #2: 0..7 mutes, 8..11 pushes
    GP10..GP13   S0..S3 of both multiplexers
    GP17/19/18   74HC595 latch / data / clock for 8 LEDs
    GP0/GP1      UART0 TX/RX when the link is "uart" (default link: USB CDC stdio)

The RP2040 ADC is 12-bit; MicroPython's ADC.read_u16() scales it to 16 bits
(MicroPython docs, machine.ADC), so the box uses read_u16() >> 4.
"""

import sys
import time

import machine

from .box import Hardware

ENCODER_PINS = (2, 3, 4, 5, 6, 7, 8, 9)
MUX_SELECT = (10, 11, 12, 13)
FADER_SIG = 26
BUTTON_SIG = 14
LED_LATCH, LED_DATA, LED_CLOCK = 17, 19, 18
MUX_BASE = 32  # read_pin(32 + n) = button multiplexer channel n


def _sleep_us(us: int) -> None:
    sleep_us = getattr(time, "sleep_us", None)  # MicroPython only
    if sleep_us is not None:
        sleep_us(us)


class UsbStdio:
    """The USB CDC serial port MicroPython uses for its REPL.

    Ctrl-C (0x03) is a legal byte inside OSC data, so keyboard interrupts are
    switched off while the box runs (micropython.kbd_intr(-1)); to get the
    REPL back, reset the board with the box unplugged from the daemon or
    hold the BOOTSEL button (see firmware/README.md).
    """

    def __init__(self, stdin: object = None, stdout: object = None) -> None:
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        try:
            import micropython  # type: ignore[import-not-found]

            micropython.kbd_intr(-1)
        except ImportError:  # CPython under test
            pass
        import select

        self.poller = select.poll()
        self.poller.register(self.stdin, select.POLLIN)

    def read(self) -> bytes:
        """Whatever has arrived, without blocking."""
        out = bytearray()
        while len(out) < 64 and self.poller.poll(0):
            b = self.stdin.buffer.read(1)  # type: ignore[attr-defined]
            if not b:
                break
            out += b
        return bytes(out)

    def write(self, data: bytes) -> None:
        """Send bytes to the host."""
        self.stdout.buffer.write(data)  # type: ignore[attr-defined]


class UartLink:
    """UART0 on GP0/GP1 through a USB-serial adapter."""

    def __init__(self, baud: int = 115200, uart: object = None) -> None:
        self.uart = uart if uart is not None else machine.UART(
            0, baudrate=baud, tx=machine.Pin(0), rx=machine.Pin(1))

    def read(self) -> bytes:
        """Whatever has arrived, without blocking."""
        n = self.uart.any()  # type: ignore[attr-defined]
        return bytes(self.uart.read(n)) if n else b""  # type: ignore[attr-defined]

    def write(self, data: bytes) -> None:
        """Send bytes to the host."""
        self.uart.write(data)  # type: ignore[attr-defined]


class PicoHardware(Hardware):
    """Hardware for surfbox.box.Box on the reference Pico wiring."""

    def __init__(self, link: object, clock: object = None) -> None:
        self.link = link
        self._clock = clock
        self._ms = 0
        self._last = time.ticks_ms() if clock is None else 0  # type: ignore[attr-defined]
        pin = machine.Pin
        self._enc = {n: pin(n, pin.IN, pin.PULL_UP) for n in ENCODER_PINS}
        self._select = [pin(n, pin.OUT, value=0) for n in MUX_SELECT]
        self._button_sig = pin(BUTTON_SIG, pin.IN, pin.PULL_UP)
        self._adc = machine.ADC(pin(FADER_SIG))
        self._latch = pin(LED_LATCH, pin.OUT, value=0)
        self._data = pin(LED_DATA, pin.OUT, value=0)
        self._clk = pin(LED_CLOCK, pin.OUT, value=0)
        self._leds = 0
        self._channel = -1

    def millis(self) -> int:
        """Milliseconds since start, never wrapping (ticks_ms wraps; Python ints don't)."""
        if self._clock is not None:
            return int(self._clock())  # type: ignore[operator]
        now = time.ticks_ms()  # type: ignore[attr-defined]
        self._ms += time.ticks_diff(now, self._last)  # type: ignore[attr-defined]
        self._last = now
        return self._ms

    def _mux(self, channel: int) -> None:
        if channel != self._channel:
            for k, p in enumerate(self._select):
                p.value((channel >> k) & 1)
            self._channel = channel
            _sleep_us(5)  # switch settling, as on the AVR boards

    def read_adc(self, channel: int) -> int:
        """12-bit fader reading through the multiplexer."""
        self._mux(channel)
        return self._adc.read_u16() >> 4

    def read_pin(self, pin: int) -> int:
        """Encoder contacts direct, buttons through the second multiplexer."""
        if pin >= MUX_BASE:
            self._mux(pin - MUX_BASE)
            return self._button_sig.value()
        return self._enc[pin].value()

    def write(self, data: bytes) -> None:
        """Bytes to the host over the link."""
        self.link.write(data)  # type: ignore[attr-defined]

    def set_led(self, index: int, on: int) -> None:
        """Shift the 8 LED states into the 74HC595, MSB first, then latch."""
        self._leds = (self._leds | (1 << index)) if on else (self._leds & ~(1 << index))
        for bit in range(7, -1, -1):
            self._data.value((self._leds >> bit) & 1)
            self._clk.value(1)
            self._clk.value(0)
        self._latch.value(1)
        self._latch.value(0)
