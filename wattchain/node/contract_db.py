"""The contract state on disk: state keys and SMT nodes in the chainstate's LevelDB.

Layering mirrors the coins (:mod:`utxo_db`): a write-back cache of state keys and SMT nodes
sits over LevelDB, and its dirty entries are written in the SAME batch as the dirty coins and
the best-block marker (:meth:`ContractDB.add_flush_to`, called wherever the coins flush). So a
node killed at any instant restarts with coins and contract state at the same block, and the
state's root is then the best block header's ``state_root`` (no marker of its own needed).

Per block, the activation also writes (with the block's connect batch): the contract undo
record (:class:`~wattchain.consensus.contract_rules.ContractUndo`) and the receipts by txid.
Those are small and keyed by block/txid, so they bypass the cache.

Read-only work (``callcontract``, the staker's preview of a candidate block) runs on an
:class:`OverlayStore` over the tip's stores, which is simply dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgpack

from wattchain.consensus.contract_rules import BlockContracts, ContractUndo
from wattchain.consensus.params import ChainParams
from wattchain.contracts import ContractState, EMPTY_ROOT, Receipt, default_registry
from wattchain.contracts.receipts import ReceiptFormatError
from wattchain.contracts.state import UndoFormatError
from wattchain.core.header import StakeBlock
from wattchain.node import schema
from wattchain.node.errors import StorageError
from wattchain.node.kvstore import Batch, KVStore

#: Default bound of the contract cache before it forces a flush (with the coins).
DEFAULT_CONTRACT_CACHE_BYTES = 16 * 1024 * 1024
_ENTRY_OVERHEAD = 96


class CachedPrefixStore:
    """Write-back cache of one key prefix of the LevelDB (a StateStore and a NodeStore).

    ``None`` in :attr:`dirty` is a pending delete."""

    def __init__(self, store: KVStore, prefix: bytes) -> None:
        self._store = store
        self._prefix = prefix
        self.dirty: dict[bytes, bytes | None] = {}
        self._bytes = 0

    def get(self, key: bytes) -> bytes | None:
        if key in self.dirty:
            return self.dirty[key]
        return self._store.get(self._prefix + key)

    def put(self, key: bytes, value: bytes) -> None:
        self.dirty[key] = value
        self._bytes += len(key) + len(value) + _ENTRY_OVERHEAD

    def delete(self, key: bytes) -> None:
        self.dirty[key] = None
        self._bytes += len(key) + _ENTRY_OVERHEAD

    def memory_usage(self) -> int:
        return self._bytes

    def add_flush_to(self, batch: Batch) -> None:
        for key, value in self.dirty.items():
            if value is None:
                batch.delete(self._prefix + key)
            else:
                batch.put(self._prefix + key, value)

    def clear(self) -> None:
        self.dirty.clear()
        self._bytes = 0


class OverlayStore:
    """A throwaway layer over a store: reads fall through, writes stay here."""

    def __init__(self, base: "CachedPrefixStore | OverlayStore") -> None:
        self._base = base
        self._data: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self._data:
            return self._data[key]
        return self._base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: bytes) -> None:
        self._data[key] = None


class ContractDB:
    """The node's contract state (at the active tip), its cache and its per-block records."""

    def __init__(self, store: KVStore, params: ChainParams,
                 max_bytes: int = DEFAULT_CONTRACT_CACHE_BYTES) -> None:
        self.store = store
        self.params = params
        self.max_bytes = max_bytes
        self.registry = default_registry()
        self.states = CachedPrefixStore(store, schema.PREFIX_CONTRACT_STATE)
        self.nodes = CachedPrefixStore(store, schema.PREFIX_CONTRACT_NODE)
        self.state = ContractState(self.states, self.nodes, EMPTY_ROOT)

    # ------------------------------------------------------------------ state
    @property
    def root(self) -> bytes:
        return self.state.root

    def set_root(self, root: bytes) -> None:
        """Point the state at ``root`` (on open: the best block's header root)."""
        self.state = ContractState(self.states, self.nodes, root)

    def binding(self) -> BlockContracts:
        """What ``connect_block`` / ``disconnect_block`` take to work on this state."""
        return BlockContracts(self.state, self.registry)

    def overlay(self) -> ContractState:
        """A throwaway state at the tip root: writes go to an overlay that is dropped."""
        return ContractState(OverlayStore(self.states), OverlayStore(self.nodes), self.root)

    # ------------------------------------------------------------------ cache
    def memory_usage(self) -> int:
        return self.states.memory_usage() + self.nodes.memory_usage()

    def should_flush(self) -> bool:
        return self.max_bytes <= 0 or self.memory_usage() > self.max_bytes

    def add_flush_to(self, batch: Batch) -> None:
        """Put every dirty state key and SMT node into ``batch`` (the coins' flush batch)."""
        self.states.add_flush_to(batch)
        self.nodes.add_flush_to(batch)

    def flushed(self) -> None:
        self.states.clear()
        self.nodes.clear()

    def wipe(self) -> None:
        """Forget the state (reindex): drop the cache and delete every stored state key.
        SMT nodes are content-addressed and may stay."""
        self.flushed()
        batch = Batch()
        for key, _ in self.store.iterate_prefix(schema.PREFIX_CONTRACT_STATE):
            batch.delete(key)
        self.store.commit(batch)
        self.set_root(EMPTY_ROOT)

    # ------------------------------------------------------------------ per-block records
    def undo_record(self, block_hash: bytes) -> ContractUndo:
        raw = self.store.get(schema.contract_undo_key(block_hash))
        if raw is None:
            raise StorageError(f"contract undo missing for {block_hash[::-1].hex()}")
        try:
            return ContractUndo.deserialize(raw)
        except UndoFormatError as exc:
            raise StorageError(f"corrupt contract undo for {block_hash[::-1].hex()}: "
                               f"{exc}") from exc

    @staticmethod
    def put_undo(batch: Batch, block_hash: bytes, record: ContractUndo) -> None:
        batch.put(schema.contract_undo_key(block_hash), record.serialize())

    @staticmethod
    def put_receipts(batch: Batch, receipts: Iterable[Receipt]) -> None:
        by_tx: dict[bytes, list[bytes]] = {}
        for receipt in receipts:
            by_tx.setdefault(receipt.txid, []).append(receipt.serialize())
        for txid, items in by_tx.items():
            batch.put(schema.receipt_key(txid), msgpack.packb(items, use_bin_type=True))

    @staticmethod
    def delete_receipts(batch: Batch, block: StakeBlock) -> None:
        for tx in block.transactions[2:]:
            batch.delete(schema.receipt_key(tx.txid))

    def get_receipts(self, txid: bytes) -> list[Receipt]:
        """The receipts of a confirmed transaction's contract outputs (empty if none)."""
        raw = self.store.get(schema.receipt_key(txid))
        if raw is None:
            return []
        try:
            return [Receipt.deserialize(item) for item in msgpack.unpackb(raw, raw=False)]
        except (ReceiptFormatError, ValueError, TypeError) as exc:
            raise StorageError(f"corrupt receipts for {txid[::-1].hex()}: {exc}") from exc


__all__ = ["CachedPrefixStore", "ContractDB", "OverlayStore"]
