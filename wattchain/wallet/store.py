"""Wallet persistence: one LevelDB (through :class:`~wattchain.node.kvstore.KVStore`) with
msgpack records. Every key format lives here (py-evm's "one schema module" habit).

Every multi-record change (a block's transactions plus the new best block, a new address plus
the advanced index, encryption of all secrets plus the wrapped master key) is written in ONE
:class:`~wattchain.node.kvstore.Batch`, so a crash leaves either the old or the new state.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack

from wattchain.node.errors import StorageError
from wattchain.node.kvstore import Batch, KVStore
from wattchain.wallet.errors import WalletError

FORMAT_VERSION = 1

KEY_META = b"\x01meta"
KEY_MASTER_KEY = b"\x01mkey"
PREFIX_SECRET = b"\x02"
PREFIX_SCRIPT = b"\x03"
PREFIX_TX = b"\x04"

SECRET_SEED = b"seed"
SECRET_MNEMONIC = b"mnemonic"


def secret_key_for_pubkey(pubkey: bytes) -> bytes:
    return b"key:" + pubkey


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise WalletError(f"corrupt wallet record: {exc}") from exc


def _rewrite_path(path: Path) -> Path:
    return path.with_name(path.name + ".rewrite")


def recover_rewrite(path: str | Path) -> None:
    """Finish a :meth:`WalletDB.rewrite` interrupted between its two renames."""
    path = Path(path)
    fresh = _rewrite_path(path)
    if not path.exists() and fresh.exists():
        os.replace(fresh, path)


class WalletDB:
    """Typed access to the wallet's records."""

    def __init__(self, path: str | Path, *, sync: bool = True) -> None:
        recover_rewrite(path)
        try:
            self.kv = KVStore(Path(path), sync=sync)
        except StorageError as exc:
            raise WalletError(f"cannot open wallet database: {exc}") from exc

    def close(self) -> None:
        self.kv.close()

    def commit(self, batch: Batch) -> None:
        try:
            self.kv.commit(batch)
        except StorageError as exc:
            raise WalletError(f"wallet write failed: {exc}") from exc

    def rewrite(self) -> None:
        """Copy every live record into a fresh database and replace the old one, as Core
        rewrites its wallet file after encryptwallet: superseded records (the plaintext
        secrets) survive in LevelDB's logs and tables until a compaction happens to reach
        them, so the old files are deleted instead. (Bytes of deleted files may remain in
        the disk's free blocks; that is the file system's business, as it is for Core.)

        Crash safety: the new copy is complete before the old directory moves aside, and
        :func:`recover_rewrite` finishes an interrupted swap when the wallet is opened."""
        path, sync = self.kv.path, self.kv.sync
        fresh = _rewrite_path(path)
        shutil.rmtree(fresh, ignore_errors=True)
        new = KVStore(fresh, sync=sync)
        batch = Batch()
        for key, value in self.kv.iterate_prefix(b""):
            batch.put(key, value)
        new.commit(batch)
        new.close()
        self.kv.close()
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(fresh, path)
        shutil.rmtree(old, ignore_errors=True)
        self.kv = KVStore(path, sync=sync)

    # ------------------------------------------------------------------ reads
    def meta(self) -> dict[str, Any] | None:
        raw = self.kv.get(KEY_META)
        if raw is None:
            return None
        meta = unpack(raw)
        if meta.get("version") != FORMAT_VERSION:
            raise WalletError(f"unsupported wallet format version {meta.get('version')}")
        return meta

    def master_key(self) -> dict[str, Any] | None:
        raw = self.kv.get(KEY_MASTER_KEY)
        return None if raw is None else unpack(raw)

    def secrets(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for key, raw in self.kv.iterate_prefix(PREFIX_SECRET):
            yield key[len(PREFIX_SECRET):], unpack(raw)

    def scripts(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for key, raw in self.kv.iterate_prefix(PREFIX_SCRIPT):
            yield key[len(PREFIX_SCRIPT):], unpack(raw)

    def transactions(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for key, raw in self.kv.iterate_prefix(PREFIX_TX):
            yield key[len(PREFIX_TX):], unpack(raw)


# ---------------------------------------------------------------------- batch writers
def put_meta(batch: Batch, meta: dict[str, Any]) -> None:
    batch.put(KEY_META, pack({**meta, "version": FORMAT_VERSION}))


def put_master_key(batch: Batch, record: dict[str, Any]) -> None:
    batch.put(KEY_MASTER_KEY, pack(record))


def put_secret(batch: Batch, name: bytes, data: bytes, encrypted: bool) -> None:
    batch.put(PREFIX_SECRET + name, pack({"enc": encrypted, "data": data}))


def put_script(batch: Batch, script: bytes, record: dict[str, Any]) -> None:
    batch.put(PREFIX_SCRIPT + script, pack(record))


def put_tx(batch: Batch, txid: bytes, record: dict[str, Any]) -> None:
    batch.put(PREFIX_TX + txid, pack(record))


def delete_tx(batch: Batch, txid: bytes) -> None:
    batch.delete(PREFIX_TX + txid)
