"""Bitcoin wire encoding: little-endian integers, CompactSize lengths and length-prefixed bytes.

:class:`ByteReader` is the only way consensus objects read untrusted bytes. It guarantees that
every failure is a :class:`DecodeError` and that no length prefix can make us allocate more than
the input actually holds: a prefix larger than the remaining bytes is rejected before anything
is allocated, and element counts are checked against the smallest possible element size.
"""

from __future__ import annotations

import struct

from collections.abc import Callable
from typing import TypeVar

from wattchain.core.errors import DecodeError

T = TypeVar("T")

#: Bitcoin Core's MAX_SIZE: the largest CompactSize value accepted when decoding (32 MiB).
MAX_COMPACT_SIZE = 0x02000000

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def compact_size(n: int) -> bytes:
    """Encode ``n`` as a CompactSize (Bitcoin's variable-length integer)."""
    if n < 0:
        raise ValueError("CompactSize cannot encode a negative number")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + _U16.pack(n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + _U32.pack(n)
    if n <= 0xFFFFFFFFFFFFFFFF:
        return b"\xff" + _U64.pack(n)
    raise ValueError("CompactSize cannot encode a number above 2**64-1")


def var_bytes(data: bytes) -> bytes:
    """Length-prefixed byte string."""
    return compact_size(len(data)) + data


def u32(n: int) -> bytes:
    return _U32.pack(n)


def i32(n: int) -> bytes:
    return _I32.pack(n)


def u64(n: int) -> bytes:
    return _U64.pack(n)


def i64(n: int) -> bytes:
    return _I64.pack(n)


class ByteReader:
    """A cursor over immutable bytes that raises only :class:`DecodeError`."""

    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytes(data)
        self._pos = 0
        self._end = len(self._data)

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def read(self, n: int) -> bytes:
        if n < 0 or n > self._end - self._pos:
            raise DecodeError(f"truncated input: wanted {n} bytes at offset {self._pos}, "
                              f"{self._end - self._pos} left")
        start = self._pos
        self._pos = start + n
        return self._data[start:self._pos]

    def slice(self, start: int, end: int) -> bytes:
        """Raw bytes already consumed, e.g. to hash a header exactly as received."""
        return self._data[start:end]

    def peek_byte(self) -> int:
        if self._pos >= self._end:
            raise DecodeError(f"truncated input at offset {self._pos}")
        return self._data[self._pos]

    def u8(self) -> int:
        if self._pos >= self._end:
            raise DecodeError(f"truncated input at offset {self._pos}")
        b = self._data[self._pos]
        self._pos += 1
        return b

    def u16(self) -> int:
        return _U16.unpack(self.read(2))[0]

    def u32(self) -> int:
        return _U32.unpack(self.read(4))[0]

    def i32(self) -> int:
        return _I32.unpack(self.read(4))[0]

    def u64(self) -> int:
        return _U64.unpack(self.read(8))[0]

    def i64(self) -> int:
        return _I64.unpack(self.read(8))[0]

    def compact_size(self, limit: int = MAX_COMPACT_SIZE) -> int:
        """Read a canonical CompactSize no larger than ``limit``.

        Non-minimal encodings are rejected, as in Bitcoin Core, so each value has exactly one
        encoding and a transaction cannot be malleated by re-encoding its lengths.
        """
        first = self.u8()
        if first < 0xFD:
            n = first
        elif first == 0xFD:
            n = self.u16()
            if n < 0xFD:
                raise DecodeError("non-canonical CompactSize")
        elif first == 0xFE:
            n = self.u32()
            if n <= 0xFFFF:
                raise DecodeError("non-canonical CompactSize")
        else:
            n = self.u64()
            if n <= 0xFFFFFFFF:
                raise DecodeError("non-canonical CompactSize")
        if n > limit:
            raise DecodeError(f"size {n} exceeds limit {limit}")
        return n

    def count(self, min_item_size: int, limit: int = MAX_COMPACT_SIZE) -> int:
        """Read an element count, refusing counts the remaining input cannot possibly hold."""
        n = self.compact_size(limit)
        if min_item_size > 0 and n > self.remaining // min_item_size:
            raise DecodeError(f"count {n} cannot fit in the {self.remaining} bytes left")
        return n

    def var_bytes(self, limit: int = MAX_COMPACT_SIZE) -> bytes:
        return self.read(self.compact_size(limit))

    def read_with(self, read: Callable[..., tuple[T, int]], *args: object) -> T:
        """Decode with a compiled reader ``read(data, position, end, *args)`` that returns
        ``(object, position after it)`` and raises only DecodeError, as this class does."""
        obj, self._pos = read(self._data, self._pos, self._end, *args)
        return obj

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise DecodeError(f"{self._end - self._pos} trailing bytes after the object")


def decode_exact(data: bytes, read: Callable[[ByteReader], T]) -> T:
    """Decode exactly one object with ``read``; trailing bytes are a DecodeError.

    Every ``deserialize`` goes through here so that "the whole input, nothing more" is
    enforced in one place.
    """
    reader = ByteReader(data)
    obj = read(reader)
    reader.expect_end()
    return obj
