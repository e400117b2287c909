"""CompactSize and ByteReader: boundaries, canonical encodings, limits and error types.

Expected encodings are written out byte by byte from the CompactSize definition (one byte below
0xfd; 0xfd + u16; 0xfe + u32; 0xff + u64, all little-endian), not produced by the encoder.
"""

from __future__ import annotations

import pytest

from wattchain.core.errors import DecodeError
from wattchain.core.serialization import (
    MAX_COMPACT_SIZE,
    ByteReader,
    compact_size,
    i32,
    i64,
    u32,
    u64,
    var_bytes,
)

# (value, canonical encoding) at every width boundary.
BOUNDARIES: list[tuple[int, bytes]] = [
    (0, b"\x00"),
    (1, b"\x01"),
    (0xFC, b"\xfc"),
    (0xFD, b"\xfd\xfd\x00"),
    (0xFE, b"\xfd\xfe\x00"),
    (0xFF, b"\xfd\xff\x00"),
    (0x100, b"\xfd\x00\x01"),
    (0xFFFF, b"\xfd\xff\xff"),
    (0x10000, b"\xfe\x00\x00\x01\x00"),
    (0xFFFFFFFF, b"\xfe\xff\xff\xff\xff"),
    (2**32, b"\xff\x00\x00\x00\x00\x01\x00\x00\x00"),
    (2**64 - 1, b"\xff" + b"\xff" * 8),
]


@pytest.mark.parametrize("value,encoding", BOUNDARIES)
def test_compact_size_encoding_boundaries(value: int, encoding: bytes) -> None:
    assert compact_size(value) == encoding


@pytest.mark.parametrize("value,encoding", [b for b in BOUNDARIES if b[0] <= MAX_COMPACT_SIZE])
def test_compact_size_decodes_within_limit(value: int, encoding: bytes) -> None:
    reader = ByteReader(encoding + b"\xaa")
    assert reader.compact_size() == value
    assert reader.position == len(encoding)
    assert reader.remaining == 1


@pytest.mark.parametrize("value,encoding", [b for b in BOUNDARIES if b[0] > MAX_COMPACT_SIZE])
def test_compact_size_above_max_size_rejected_by_default(value: int, encoding: bytes) -> None:
    with pytest.raises(DecodeError):
        ByteReader(encoding).compact_size()
    # ...but an explicit larger limit accepts the canonical encoding.
    assert ByteReader(encoding).compact_size(limit=2**64) == value


def test_max_size_limit_is_core_max_size() -> None:
    assert MAX_COMPACT_SIZE == 32 * 1024 * 1024
    exactly = b"\xfe" + (0x02000000).to_bytes(4, "little")
    one_more = b"\xfe" + (0x02000001).to_bytes(4, "little")
    assert ByteReader(exactly).compact_size() == 0x02000000
    with pytest.raises(DecodeError, match="exceeds limit"):
        ByteReader(one_more).compact_size()


def test_custom_limit() -> None:
    assert ByteReader(b"\x0a").compact_size(limit=10) == 10
    with pytest.raises(DecodeError):
        ByteReader(b"\x0b").compact_size(limit=10)


@pytest.mark.parametrize("encoding", [
    b"\xfd\x00\x00",                  # 0 in three bytes
    b"\xfd\xfc\x00",                  # 0xfc fits one byte
    b"\xfe\xff\xff\x00\x00",          # 0xffff fits 0xfd form
    b"\xfe\x00\x00\x00\x00",
    b"\xff\xff\xff\xff\xff\x00\x00\x00\x00",  # 0xffffffff fits 0xfe form
    b"\xff\x00\x00\x00\x00\x00\x00\x00\x00",
])
def test_non_canonical_compact_size_rejected(encoding: bytes) -> None:
    with pytest.raises(DecodeError, match="non-canonical"):
        ByteReader(encoding).compact_size(limit=2**64)


@pytest.mark.parametrize("encoding", [b"", b"\xfd", b"\xfd\x01", b"\xfe\x00\x00\x01",
                                      b"\xff\x00\x00\x00\x00\x01\x00\x00"])
def test_truncated_compact_size(encoding: bytes) -> None:
    with pytest.raises(DecodeError):
        ByteReader(encoding).compact_size(limit=2**64)


def test_compact_size_encoder_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        compact_size(-1)
    with pytest.raises(ValueError):
        compact_size(2**64)


def test_fixed_width_integers_little_endian() -> None:
    assert u32(0x01020304) == b"\x04\x03\x02\x01"
    assert i32(-1) == b"\xff\xff\xff\xff"
    assert u64(1) == b"\x01" + bytes(7)
    assert i64(-2) == b"\xfe" + b"\xff" * 7
    reader = ByteReader(b"\x04\x03\x02\x01" + b"\xff" * 4 + b"\xfe" + b"\xff" * 7
                        + b"\x01" + bytes(7) + b"\x34\x12")
    assert reader.u32() == 0x01020304
    assert reader.i32() == -1
    assert reader.i64() == -2
    assert reader.u64() == 1
    assert reader.u16() == 0x1234
    reader.expect_end()


def test_var_bytes_round_trip_and_prefix() -> None:
    for size in (0, 1, 0xFC, 0xFD, 0x1234):
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        encoded = var_bytes(data)
        assert encoded[:len(encoded) - size] == compact_size(size)
        reader = ByteReader(encoded)
        assert reader.var_bytes() == data
        reader.expect_end()


def test_var_bytes_length_beyond_input_is_decode_error_without_allocation() -> None:
    # A 32 MiB length prefix on a 5-byte input: rejected before any allocation.
    with pytest.raises(DecodeError, match="truncated"):
        ByteReader(b"\xfe\x00\x00\x00\x02").var_bytes()
    with pytest.raises(DecodeError):
        ByteReader(b"\x05abcd").var_bytes()


def test_count_guard_against_remaining_input() -> None:
    # 3 items of at least 10 bytes cannot fit in 29 bytes...
    with pytest.raises(DecodeError, match="cannot fit"):
        ByteReader(b"\x03" + bytes(29)).count(10)
    # ...but fit in exactly 30.
    reader = ByteReader(b"\x03" + bytes(30))
    assert reader.count(10) == 3
    # A huge count with no data behind it.
    with pytest.raises(DecodeError):
        ByteReader(b"\xfe\x00\x00\x00\x01").count(1)
    # min_item_size 0 disables the guard (only the size limit applies).
    assert ByteReader(b"\xfd\x00\x01").count(0) == 256


def test_reader_errors_are_decode_errors() -> None:
    reader = ByteReader(b"\x01\x02\x03")
    with pytest.raises(DecodeError):
        reader.read(4)
    with pytest.raises(DecodeError):
        reader.read(-1)
    assert reader.read(3) == b"\x01\x02\x03"
    for method in (reader.u8, reader.u16, reader.u32, reader.i32, reader.u64, reader.i64,
                   reader.peek_byte, reader.compact_size, reader.var_bytes):
        with pytest.raises(DecodeError):
            method()
    assert issubclass(DecodeError, ValueError)


def test_expect_end_and_slice() -> None:
    reader = ByteReader(memoryview(b"abcdef"))
    assert reader.peek_byte() == ord("a")
    assert reader.read(2) == b"ab"
    with pytest.raises(DecodeError, match="4 trailing bytes"):
        reader.expect_end()
    assert reader.slice(0, 2) == b"ab"
    reader.read(4)
    reader.expect_end()
