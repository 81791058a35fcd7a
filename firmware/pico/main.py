"""Entry point on the Pico: MicroPython runs main.py at boot.

Copy main.py and the surfbox/ directory to the board (see firmware/README.md,
"Pico"), reset, and the box answers on the USB serial port.
"""

from surfbox.box import Box, BoxConfig
from surfbox.hw_pico import ENCODER_PINS, MUX_BASE, PicoHardware, UartLink, UsbStdio

LINK = "usb"  # or "uart": UART0 on GP0/GP1 at 115200 baud
# GP22 held to GND at power-up skips the box and leaves the REPL usable: the
# box switches Ctrl-C off (it is a data byte), so this is the way back in.
SAFE_PIN = 22


def reference_config() -> BoxConfig:
    """The reference box: 8 faders, 8 mutes, 4 encoders with push, 8 LEDs."""
    encoders = [(ENCODER_PINS[2 * i], ENCODER_PINS[2 * i + 1], MUX_BASE + 8 + i)
                for i in range(4)]
    return BoxConfig(name="surfaced-ref-box", faders=list(range(8)),
                     buttons=[MUX_BASE + i for i in range(8)], encoders=encoders, leds=8,
                     adc_bits=12)


def main(hw: PicoHardware | None = None, loops: int = -1) -> Box:
    """Run the box; loops < 0 runs forever (tests pass a count)."""
    if hw is None:
        import machine

        if machine.Pin(SAFE_PIN, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
            raise SystemExit("surfbox: safe-mode jumper on GP22, box not started")
        hw = PicoHardware(UartLink() if LINK == "uart" else UsbStdio())
    box = Box(hw, reference_config())
    box.announce()
    n = 0
    while n != loops:
        data = hw.link.read()  # type: ignore[attr-defined]
        if data:
            box.receive(data)
        box.poll()
        n += 1
    return box


if __name__ == "__main__":
    main()
