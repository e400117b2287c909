"""CScriptNum: script's little-endian sign-magnitude integers."""

from __future__ import annotations

from wattchain.script.errors import ScriptError, ScriptErrorCode

DEFAULT_MAX_NUM_SIZE = 4


def encode_num(n: int) -> bytes:
    """Minimal encoding of ``n`` (zero is the empty string)."""
    if n == 0:
        return b""
    negative = n < 0
    magnitude = -n if negative else n
    out = bytearray()
    while magnitude:
        out.append(magnitude & 0xFF)
        magnitude >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if negative else 0x00)
    elif negative:
        out[-1] |= 0x80
    return bytes(out)


def decode_num(data: bytes, require_minimal: bool = False,
               max_size: int = DEFAULT_MAX_NUM_SIZE) -> int:
    """Decode a stack element as a number, enforcing Core's size and minimality rules."""
    if len(data) > max_size:
        raise ScriptError(ScriptErrorCode.SCRIPTNUM, "script number overflow")
    if require_minimal and data:
        # The most significant byte may only be 0x00/0x80 if it is needed for the sign bit.
        if data[-1] & 0x7F == 0 and (len(data) == 1 or not data[-2] & 0x80):
            raise ScriptError(ScriptErrorCode.SCRIPTNUM, "non-minimally encoded script number")
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value
