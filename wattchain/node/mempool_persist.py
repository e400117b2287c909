"""Saving the mempool on shutdown and reading it back on start (Core's mempool.dat).

File format (little-endian)::

    b"WMPL" | u32 version (1) | CompactSize count | count x (u64 entry time | var_bytes tx)
    | sha256 of everything before it (32 bytes)

Transactions are written in arrival order, so parents precede children and a reload can
re-accept them one by one. The write is atomic: a temporary file is written and fsynced, then
renamed over the old one and the directory fsynced, so a crash leaves either the old or the new
file, never a torn one. The checksum catches any other damage; a damaged file is refused as a
whole with :class:`MempoolPersistError` before anything is accepted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from wattchain.core.errors import DecodeError
from wattchain.core.serialization import ByteReader, compact_size, u32, u64, var_bytes
from wattchain.core.tx import Transaction

MAGIC = b"WMPL"
VERSION = 1
_CHECKSUM_SIZE = 32


class MempoolPersistError(Exception):
    """The mempool file is unreadable, of an unknown version, or damaged."""


def encode_mempool(items: Iterable[tuple[int, Transaction]]) -> bytes:
    items = list(items)
    parts = [MAGIC, u32(VERSION), compact_size(len(items))]
    for time, tx in items:
        parts.append(u64(time))
        parts.append(var_bytes(tx.serialize()))
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def decode_mempool(data: bytes) -> list[tuple[int, Transaction]]:
    if len(data) < len(MAGIC) + 4 + _CHECKSUM_SIZE or not data.startswith(MAGIC):
        raise MempoolPersistError("not a wattchain mempool file")
    body, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if hashlib.sha256(body).digest() != checksum:
        raise MempoolPersistError("mempool file checksum mismatch (damaged file)")
    reader = ByteReader(body)
    reader.read(len(MAGIC))
    try:
        version = reader.u32()
        if version != VERSION:
            raise MempoolPersistError(f"unsupported mempool file version {version}")
        count = reader.count(9)
        items = []
        for _ in range(count):
            time = reader.u64()
            items.append((time, Transaction.deserialize(reader.var_bytes())))
        reader.expect_end()
    except DecodeError as exc:
        raise MempoolPersistError(f"corrupt mempool file: {exc}") from exc
    return items


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync, rename, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_mempool(path: str | Path, items: Iterable[tuple[int, Transaction]]) -> None:
    write_atomic(path, encode_mempool(items))


def read_mempool(path: str | Path) -> list[tuple[int, Transaction]]:
    """The saved (time, tx) pairs; an absent file is an empty mempool."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise MempoolPersistError(f"cannot read {path}: {exc}") from exc
    return decode_mempool(data)


__all__ = ["MempoolPersistError", "save_mempool", "read_mempool", "encode_mempool",
           "decode_mempool", "write_atomic"]
