"""SLIP framing (RFC 1055), double-END, with the C core's counting rules.

Each dropped frame raises exactly one counter: `garbage` (bytes before the
first END), `bad_escape` (ESC followed by anything but ESC_END/ESC_ESC) or
`overflow` (longer than max_packet). The decoder resynchronises at the next
END. See firmware/core/slip.h and tests/vectors/slip_osc.json.
"""

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_UNSYNCED = 0
_UNSYNCED_DIRTY = 1
_FRAME = 2
_ESCAPE = 3
_DISCARD = 4


def encode(packet: bytes) -> bytes:
    """END + packet with END/ESC escaped + END."""
    out = bytearray([END])
    for b in packet:
        if b == END:
            out.append(ESC)
            out.append(ESC_END)
        elif b == ESC:
            out.append(ESC)
            out.append(ESC_ESC)
        else:
            out.append(b)
    out.append(END)
    return bytes(out)


class Decoder:
    """Incremental SLIP decoder; feed() bytes, get complete frames back."""

    def __init__(self, max_packet: int = 96) -> None:
        self.max_packet = max_packet
        self.packets = 0
        self.garbage = 0
        self.bad_escape = 0
        self.overflow = 0
        self._buf = bytearray()
        self._state = _UNSYNCED

    def reset(self) -> None:
        """Drop any frame in flight and wait for the next END."""
        self._buf = bytearray()
        self._state = _UNSYNCED

    def feed(self, data: bytes) -> list:
        """Frames (bytes) completed by data, in order."""
        frames = []
        for b in data:
            frame = self.feed_byte(b)
            if frame is not None:
                frames.append(frame)
        return frames

    def feed_byte(self, b: int) -> bytes | None:
        """One byte; returns a complete frame or None."""
        st = self._state
        if st in (_UNSYNCED, _UNSYNCED_DIRTY):
            if b == END:
                if st == _UNSYNCED_DIRTY:
                    self.garbage += 1
                self._state = _FRAME
                self._buf = bytearray()
            else:
                self._state = _UNSYNCED_DIRTY
            return None
        if st == _DISCARD:
            if b == END:
                self._state = _FRAME
                self._buf = bytearray()
            return None
        if st == _ESCAPE:
            if b == ESC_END:
                return self._store(END)
            if b == ESC_ESC:
                return self._store(ESC)
            self.bad_escape += 1
            self._buf = bytearray()
            self._state = _FRAME if b == END else _DISCARD
            return None
        if b == END:
            if not self._buf:
                return None  # empty frame between ENDs: not an error
            frame = bytes(self._buf)
            self._buf = bytearray()
            self.packets += 1
            return frame
        if b == ESC:
            self._state = _ESCAPE
            return None
        return self._store(b)

    def _store(self, b: int) -> None:
        if len(self._buf) >= self.max_packet:
            self.overflow += 1
            self._buf = bytearray()
            self._state = _DISCARD
            return None
        self._buf.append(b)
        self._state = _FRAME
        return None
