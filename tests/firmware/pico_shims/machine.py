"""A CPython stand-in for MicroPython's `machine` module, enough for
firmware/pico/surfbox/hw_pico.py: Pin, ADC and UART with state a test can
set and inspect. Only loaded by tests/firmware/test_pico.py."""

from __future__ import annotations

from typing import ClassVar


class Pin:
    """A GPIO. Inputs read `level` (set by the test); outputs keep a history."""

    IN = 0
    OUT = 1
    PULL_UP = 1
    board: ClassVar[dict[int, Pin]] = {}

    def __init__(
        self, pin_id: int, mode: int = -1, pull: int = -1, value: int | None = None
    ) -> None:
        self.id = pin_id
        self.mode = mode
        self.pull = pull
        self.level = 1 if pull == Pin.PULL_UP else 0
        self.history: list[int] = []
        self.listeners: list[object] = []
        if value is not None:
            self.level = value
        Pin.board[pin_id] = self

    def value(self, v: int | None = None) -> int | None:
        """Read, or drive (outputs)."""
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.history.append(self.level)
        for listener in self.listeners:
            listener(self)  # type: ignore[operator]
        return None


class ADC:
    """An ADC input; read_u16() returns a value from `source` (a callable)."""

    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.source = lambda: 32768
        ADC.last = self

    last: ADC | None = None

    def read_u16(self) -> int:
        """16-bit scaled reading, as MicroPython's machine.ADC."""
        return int(self.source())


class UART:
    """A UART whose receive buffer the test fills and whose output it reads."""

    def __init__(self, uart_id: int, baudrate: int = 115200, tx: Pin | None = None,
                 rx: Pin | None = None) -> None:
        self.id = uart_id
        self.baudrate = baudrate
        self.rx_buffer = bytearray()
        self.tx_buffer = bytearray()

    def any(self) -> int:
        """Bytes waiting."""
        return len(self.rx_buffer)

    def read(self, n: int) -> bytes:
        """Take up to n bytes."""
        data = bytes(self.rx_buffer[:n])
        del self.rx_buffer[:n]
        return data

    def write(self, data: bytes) -> int:
        """Queue bytes for the test to read."""
        self.tx_buffer += data
        return len(data)
