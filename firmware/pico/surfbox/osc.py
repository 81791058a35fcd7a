"""Minimal OSC 1.0 messages: int32 'i', float32 'f', string 's', blob 'b'.

Big-endian values, strings NUL-terminated and NUL-padded to 4 bytes, blobs
as int32 size + bytes + padding, packets a multiple of 4 bytes (OSC 1.0
specification). Parsing is strict and every malformed input raises OscError
whose `kind` matches the C core's status names (tests/vectors/slip_osc.json).
"""

import struct


class OscError(ValueError):
    """A packet that is not a valid OSC message for this codec."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind + (": " + detail if detail else ""))
        self.kind = kind


def _pad(n: int) -> int:
    return (n + 3) & ~3


def _string(s: str) -> bytes:
    raw = s.encode()
    return raw + bytes(4 - len(raw) % 4)  # always 1..4 NULs


def encode(address: str, types: str, args: list) -> bytes:
    """One message. args must match types; ValueError otherwise."""
    if not address.startswith("/"):
        raise ValueError("OSC address must start with '/': " + address)
    if len(types) != len(args):
        raise ValueError("type tags and arguments differ in number")
    out = bytearray(_string(address))
    out += _string("," + types)
    for t, v in zip(types, args):  # noqa: B905 (MicroPython has no strict=)
        if t == "i":
            out += struct.pack(">i", v)
        elif t == "f":
            out += struct.pack(">f", v)
        elif t == "s":
            out += _string(v)
        elif t == "b":
            out += struct.pack(">i", len(v)) + bytes(v) + bytes(_pad(len(v)) - len(v))
        else:
            raise ValueError("unsupported OSC type tag " + t)
    return bytes(out)


def _read_string(p: bytes, off: int, missing: str) -> tuple:
    end = p.find(b"\0", off)
    if end < 0:
        raise OscError(missing, f"unterminated string at {off}")
    nxt = off + (end - off) // 4 * 4 + 4
    if nxt > len(p):
        raise OscError("truncated", "string padding past the end")
    if any(p[end:nxt]):
        raise OscError("padding", f"non-NUL padding at {end}")
    try:
        text = p[off:end].decode()
    except UnicodeError as exc:  # MicroPython and CPython both raise a UnicodeError
        raise OscError(missing, f"not UTF-8 at {off}") from exc
    return text, nxt


def parse(packet: bytes) -> tuple:
    """(address, types, args) of one message; OscError if malformed."""
    p = bytes(packet)
    if not p or len(p) % 4:
        raise OscError("size", f"{len(p)} bytes is not a positive multiple of 4")
    if p[0] == 0x23:  # '#bundle'
        raise OscError("bundle")
    if p[0] != 0x2F:
        raise OscError("address", "does not start with '/'")
    address, off = _read_string(p, 0, "address")
    if off == len(p):
        return address, "", []  # OSC 1.0: tolerate a missing type tag string
    if p[off] != 0x2C:
        raise OscError("typetags", f"no ',' at {off}")
    try:
        tags, off = _read_string(p, off, "typetags")
    except OscError as exc:
        raise OscError("typetags" if exc.kind == "truncated" else exc.kind) from exc
    types = tags[1:]
    args = []
    for t in types:
        if t in "if":
            if off + 4 > len(p):
                raise OscError("truncated", f"{t} argument at {off}")
            args.append(struct.unpack(">" + t, p[off:off + 4])[0])
            off += 4
        elif t == "s":
            s, off = _read_string(p, off, "truncated")
            args.append(s)
        elif t == "b":
            if off + 4 > len(p):
                raise OscError("truncated", f"blob size at {off}")
            n = struct.unpack(">i", p[off:off + 4])[0]
            if n < 0:
                raise OscError("blob", "negative size")
            room = len(p) - off - 4
            if n > room or _pad(n) > room:
                raise OscError("truncated", f"blob of {n} bytes")
            data = p[off + 4:off + 4 + n]
            if any(p[off + 4 + n:off + 4 + _pad(n)]):
                raise OscError("padding", "blob padding")
            args.append(data)
            off += 4 + _pad(n)
        else:
            raise OscError("type", "unsupported type tag " + t)
    if off != len(p):
        raise OscError("trailing", f"{len(p) - off} bytes after the arguments")
    return address, types, args
