"""The UTXO set on disk, its memory-bounded write-back cache, and the UTXO-set hash.

Layering, as in Bitcoin Core::

    CoinsDB (LevelDB)  <-  UtxoCache: one big CoinsViewCache, flushed when over its memory
                           bound, at shutdown, or on request  <-  a per-block CoinsViewCache
                           that connect/disconnect works in and that is merged into the big
                           cache only if the whole block succeeded

A flush writes every dirty coin AND the "best block" marker (the block the coins correspond
to) in one atomic LevelDB batch, together with whatever else the caller put in that batch
(undo records, index status). A process killed at any moment therefore restarts with coins
that match exactly the chain ending at the stored best block.

UTXO-set hash ("hash_serialized", like Core's ``gettxoutsetinfo``): SHA256d over the
concatenation, for every unspent coin in (txid bytes, numeric output index) order, of::

    txid (32) | output index (u32 LE) | code (u32 LE) | value (i64 LE)
    | CompactSize script length | script

where ``code = height << 2 | is_coinstake << 1 | is_coinbase``. This is Core's TxOutSer with
the coinbase bit widened by wattchain's coinstake flag. It is independent of the DB encoding of
coins, so two nodes (or a node and an in-memory replay) compare states by one value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from wattchain.consensus.coins import Coin, CoinsViewCache
from wattchain.core.errors import DecodeError
from wattchain.core.serialization import u32
from wattchain.core.tx import OutPoint
from wattchain.node import schema
from wattchain.node.errors import StorageError
from wattchain.node.kvstore import Batch, KVStore

#: Default bound of the big coins cache (Core's -dbcache default is 450 MiB; a Python node's
#: objects are larger, so a smaller default keeps RSS predictable).
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class EmptyCoinsView:
    """A view with no coins: the base of an in-memory replay."""

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        return None


class CoinsDB:
    """The UTXO set as stored in LevelDB (a read-only CoinsView; writes go through batches)."""

    def __init__(self, store: KVStore) -> None:
        self.store = store

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        raw = self.store.get(schema.coin_key(outpoint))
        if raw is None:
            return None
        try:
            return Coin.deserialize(raw)
        except (DecodeError, ValueError) as exc:
            raise StorageError(f"corrupt coin record for {outpoint}: {exc}") from exc

    def best_block(self) -> bytes | None:
        """Hash of the block the stored coins correspond to; None for an empty DB."""
        value = self.store.get(schema.KEY_BEST_BLOCK)
        if value is not None and len(value) != 32:
            raise StorageError("corrupt best-block marker")
        return value

    def iterate_coins(self) -> Iterator[tuple[OutPoint, Coin]]:
        """All stored coins in (txid, index) order, from one snapshot."""
        for key, value in self.store.iterate_prefix(schema.PREFIX_COIN):
            try:
                yield schema.outpoint_from_coin_key(key), Coin.deserialize(value)
            except (DecodeError, ValueError) as exc:
                raise StorageError(f"corrupt coin record {key.hex()}: {exc}") from exc

    def disk_size(self) -> int:
        return self.store.approximate_size(schema.PREFIX_COIN)


def write_coin_changes(batch: Batch, entries: Iterable[tuple[OutPoint, Coin | None]]) -> int:
    """Add coin puts (Coin) and deletes (None) to ``batch``; returns how many."""
    n = 0
    for outpoint, coin in entries:
        key = schema.coin_key(outpoint)
        if coin is None:
            batch.delete(key)
        else:
            batch.put(key, coin.serialize())
        n += 1
    return n


class UtxoCache:
    """The big write-back coins cache over :class:`CoinsDB`, bounded by ``max_bytes``.

    ``view`` is the CoinsViewCache that per-block caches stack on. The owner decides when to
    flush (after each block, via :meth:`should_flush`), and always flushes together with the
    best-block hash the cached state corresponds to. ``max_bytes=0`` makes it write-through.
    """

    def __init__(self, db: CoinsDB, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.view = CoinsViewCache(db)
        self.flushes = 0

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        return self.view.get_coin(outpoint)

    def memory_usage(self) -> int:
        return self.view.memory_usage()

    def should_flush(self) -> bool:
        return self.max_bytes <= 0 or self.memory_usage() > self.max_bytes

    def add_flush_to(self, batch: Batch, best_block: bytes) -> None:
        """Put every dirty coin and the best-block marker into ``batch``. The caller commits
        the batch and then calls :meth:`flushed`; until then the cache is unchanged, so a
        failed commit loses nothing."""
        write_coin_changes(batch, self.view.dirty_entries())
        batch.put(schema.KEY_BEST_BLOCK, best_block)

    def flushed(self) -> None:
        """The batch from :meth:`add_flush_to` is durable: keep unspent entries as clean
        (a warm cache) unless even clean entries exceed the bound, then drop everything."""
        self.view.reset_dirty()
        if self.view.memory_usage() > self.max_bytes:
            self.view.clear()
        self.flushes += 1

    def flush(self, best_block: bytes) -> None:
        """Flush now, in a batch of its own."""
        batch = Batch()
        self.add_flush_to(batch, best_block)
        self.db.store.commit(batch)
        self.flushed()

    def discard(self) -> None:
        """Forget unflushed changes (after a failed commit the cache may be ahead of disk)."""
        self.view.clear()


# ---------------------------------------------------------------------------- UTXO-set hash
def coin_hash_bytes(outpoint: OutPoint, coin: Coin) -> bytes:
    """One coin's part of the hashed stream (see the module docstring)."""
    code = coin.height << 2 | int(coin.is_coinstake) << 1 | int(coin.is_coinbase)
    return outpoint.serialize() + u32(code) + coin.output.serialize()


def coin_sort_key(item: tuple[OutPoint, Coin]) -> tuple[bytes, int]:
    return item[0].txid, item[0].index


@dataclass(frozen=True)
class UtxoStats:
    """Summary of a UTXO set (Core's gettxoutsetinfo, reduced)."""

    count: int
    total_amount: int
    hash_serialized: bytes
    best_block: bytes | None = None

    @property
    def hash_hex(self) -> str:
        return self.hash_serialized[::-1].hex()


def utxo_stats(coins: Iterable[tuple[OutPoint, Coin]], best_block: bytes | None = None,
               *, presorted: bool = True) -> UtxoStats:
    """Count, total and hash of ``coins``. They must come in (txid, index) order — as
    :meth:`CoinsDB.iterate_coins` yields them — unless ``presorted=False``."""
    if not presorted:
        coins = sorted(coins, key=coin_sort_key)
    hasher = hashlib.sha256()
    count = 0
    total = 0
    last: tuple[bytes, int] | None = None
    for outpoint, coin in coins:
        key = (outpoint.txid, outpoint.index)
        if last is not None and key <= last:
            raise ValueError("coins are not in (txid, index) order")
        last = key
        hasher.update(coin_hash_bytes(outpoint, coin))
        count += 1
        total += coin.output.value
    return UtxoStats(count, total, hashlib.sha256(hasher.digest()).digest(), best_block)


def cache_coins(view: CoinsViewCache) -> list[tuple[OutPoint, Coin]]:
    """The unspent coins of a cache over an :class:`EmptyCoinsView` (an in-memory replay)."""
    return [(op, coin) for op, coin in view.dirty_entries() if coin is not None]
