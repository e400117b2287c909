"""The chainstate: stored blocks, the block index, the UTXO set, and the active chain.

Library API (synchronous; callers in other threads or loops must serialize calls)::

    cs = Chainstate.open(datadir, params)      # creates the DB and connects the genesis
    result = cs.process_block(block, now)      # store, then activate the most-work chain
    cs.tip, cs.get_coin(outpoint), cs.block_locator(), cs.get_block(h), cs.get_header(h)
    cs.utxo_stats(), cs.reindex(), cs.close()

Crash safety rests on two rules. (1) Every LevelDB write is one atomic batch: storing a block
with its index record; connecting or disconnecting a block (undo record, index status, and —
when the coins cache flushes — every dirty coin plus the best-block marker); marking blocks
failed. (2) The best-block marker is written only together with the coins it describes. So
after a SIGKILL the coins on disk are exactly the result of connecting the chain that ends at
the stored best block, and :meth:`Chainstate.open` continues from there to the most-work
stored chain, as Core's startup does.

Chain selection itself (connect/disconnect/reorg) lives in :mod:`wattchain.node.activation`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from wattchain.consensus.block_check import check_block, check_block_header
from wattchain.consensus.coins import Coin
from wattchain.consensus.contextual import contextual_check_block, contextual_check_block_header
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import check_proof_of_stake
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.consensus.target import block_proof
from wattchain.core.errors import DecodeError
from wattchain.core.header import StakeBlock, StakeBlockHeader, deserialize_stake_block
from wattchain.contracts import (BlockContext, BlockExecution, Receipt, ViewResult, call_view,
                                 execute_block)
from wattchain.core.tx import OutPoint, Transaction
from wattchain.node import schema
from wattchain.node.activation import ChainActivator, ProcessResult, chain_context
from wattchain.node.contract_db import DEFAULT_CONTRACT_CACHE_BYTES, ContractDB
from wattchain.node.block_index import (ActiveChain, BlockIndex, BlockIndexEntry,
                                        EntryChainContext)
from wattchain.node.errors import ChainstateError, StorageError
from wattchain.node.events import ChainEvents, ChainListener
from wattchain.node.kvstore import Batch, KVStore
from wattchain.node.schema import BlockStatus, IndexRecord
from wattchain.node.stake_lookup import StakeCoinFinder
from wattchain.node.utxo_db import DEFAULT_CACHE_BYTES, CoinsDB, UtxoCache, UtxoStats, utxo_stats

#: Sub-directory of the datadir holding the chainstate LevelDB.
CHAINSTATE_DIR = "chainstate"

__all__ = ["Chainstate", "ChainTip", "ProcessResult"]


@dataclass(frozen=True)
class ChainTip:
    """The active chain's tip as callers see it."""

    hash: bytes
    height: int
    chain_work: int

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()


class Chainstate:
    """One node's chain: open with :meth:`open`, feed blocks to :meth:`process_block`."""

    def __init__(self, store: KVStore, params: ChainParams, cache_bytes: int) -> None:
        """Use :meth:`open`; this only wires the parts together."""
        self.params = params
        self.store = store
        self.index = BlockIndex()
        self.chain = ActiveChain()
        self.coins_db = CoinsDB(store)
        self.cache = UtxoCache(self.coins_db, cache_bytes)
        #: Contract state at the tip (cached; flushed with the coins), undo and receipts.
        self.contracts = ContractDB(store, params,
                                    DEFAULT_CONTRACT_CACHE_BYTES if cache_bytes else 0)
        self._activator = ChainActivator(self)
        self._stakes = StakeCoinFinder(self)
        #: Subscribers to connect/disconnect/tip notifications (mempool, staker, wallet).
        self.events = ChainEvents()
        #: Batches block signature checks (threads, sigcache); owned and closed by the node.
        self.script_verifier: ScriptVerifier | None = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, datadir: str | Path, params: ChainParams, *,
             cache_bytes: int = DEFAULT_CACHE_BYTES, sync: bool = True,
             activate: bool = True,
             script_verifier: ScriptVerifier | None = None) -> "Chainstate":
        """Open (or create) the chainstate under ``datadir``.

        ``cache_bytes`` bounds the write-back coins cache (0 = write through, flush after
        every block). ``sync`` fsyncs every commit. ``activate=False`` stops at the stored
        best block instead of connecting stored blocks beyond it (crash tests inspect that
        state). ``script_verifier`` checks blocks' scripts in parallel (None: one thread);
        the caller keeps ownership and closes it after this chainstate."""
        store = KVStore(Path(datadir) / CHAINSTATE_DIR, sync=sync)
        try:
            self = cls(store, params, cache_bytes)
            self.script_verifier = script_verifier
            self._load()
            if store.get(schema.KEY_REINDEXING) is not None:
                self.reindex()
            elif self.coins_db.best_block() is None:
                self._init_genesis()
            else:
                self._load_tip()
            if activate:
                self._activator.activate_best_chain()
        except BaseException:
            store.close()
            raise
        return self

    def close(self) -> None:
        """Flush the coins cache (with the tip as best block) and close the database."""
        if self.store.closed:
            return
        try:
            self.flush()
        finally:
            self.store.close()

    def __enter__(self) -> "Chainstate":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def flush(self) -> None:
        """Write the coins cache and the best-block marker now (one atomic batch)."""
        self._check_open()
        tip = self.chain.tip
        if tip is not None:
            batch = Batch()
            self.cache.add_flush_to(batch, tip.hash)
            self.contracts.add_flush_to(batch)
            self.store.commit(batch)
            self.cache.flushed()
            self.contracts.flushed()

    def _check_open(self) -> None:
        if self.store.closed:
            raise ChainstateError("chainstate is closed")

    def _load(self) -> None:
        version_raw = self.store.get(schema.version_key())
        if version_raw is None:
            if next(self.store.iterate_prefix(b""), None) is not None:
                raise StorageError("database has records but no format version")
            batch = Batch()
            batch.put(schema.version_key(), schema.encode_version())
            self.store.commit(batch)
        elif schema.decode_version(version_raw) != schema.DB_FORMAT_VERSION:
            raise StorageError(f"unsupported DB format version "
                               f"{schema.decode_version(version_raw)}")
        records = []
        for key, value in self.store.iterate_prefix(schema.PREFIX_INDEX):
            try:
                records.append((schema.hash_from_key(key), IndexRecord.deserialize(value)))
            except (schema.SchemaError, DecodeError) as exc:
                raise StorageError(f"corrupt block index record {key.hex()}: {exc}") from exc
        try:
            orphans = self.index.load(records)
        except (DecodeError, ValueError) as exc:
            raise StorageError(f"corrupt block index: {exc}") from exc
        if orphans:
            raise StorageError(f"{len(orphans)} block index records have no parent, e.g. "
                               f"{orphans[0]!r}")
        for entry in self.index.entries():
            self._stakes.remember(entry)

    def _load_tip(self) -> None:
        best = self.coins_db.best_block()
        entry = self.index.get(best) if best is not None else None
        if entry is None:
            raise StorageError("the UTXO set's best block is not in the block index")
        self.chain.set_tip(entry)
        # The contract state flushed with the coins: it is at the best block's root.
        self.contracts.set_root(entry.header.state_root)
        self._activator.reset_candidates()

    def _init_genesis(self) -> None:
        """First open (or a reindex): store the genesis if needed and connect it."""
        genesis = self.params.genesis_block
        entry = self.index.get(genesis.hash)
        if entry is None:
            entry = self._store_block(genesis, None)
        elif entry.parent is not None or entry.height != 0:
            raise StorageError("stored genesis entry is not at height 0")
        if not self._activator.connect_genesis(entry):
            raise ChainstateError("the genesis block of these parameters does not connect")
        self._activator.reset_candidates()

    # ------------------------------------------------------------------ block intake
    def process_block(self, block: StakeBlock, now: int | None = None) -> ProcessResult:
        """Check, store and (if it leads the most-work valid chain) connect ``block``.

        ``now`` is the caller's clock for the future-time rule (consensus never reads
        clocks); None means the system clock. Blocks are stored only after every check that
        needs no UTXOs passed, so junk never reaches the disk.
        """
        self._check_open()
        checked = self._precheck(block.header, now)
        if isinstance(checked, ProcessResult):
            return checked
        parent, ctx = checked
        try:
            check_block(block, self.params)
            contextual_check_block(block, parent.height + 1, ctx, self.params)
        except BlockValidationError as exc:
            return ProcessResult.reject(block.hash, exc.reason, exc.detail)
        entry = self._store_block(block, parent)
        result = self._activator.activate_best_chain(block)
        return result.for_block(entry, self.chain.tip is entry)

    def precheck_block(self, block: StakeBlock, now: int | None = None) -> ProcessResult | None:
        """The cheap checks :meth:`process_block` runs first (see :meth:`precheck_header`);
        read-only. None when they pass, else the rejection process_block would return."""
        return self.precheck_header(block.header, now)

    def precheck_header(self, header: StakeBlockHeader,
                        now: int | None = None) -> ProcessResult | None:
        """Header, stake and block signature of a block, without its body and without
        storing anything: not a duplicate, parent known and valid, fork within the reorg
        window, header rules, the stake kernel and signature against the staked coin on the
        block's own branch, and the stake-reuse rules.

        Why: a peer relays a block as soon as this passes (BIP152 high-bandwidth style),
        before the seconds of full validation. Forging a header that passes needs a real
        stake and its key, so early relay cannot be used to spread free junk. Returns None
        when every check passes, else the rejection :meth:`process_block` would return."""
        self._check_open()
        checked = self._precheck(header, now)
        return checked if isinstance(checked, ProcessResult) else None

    def _precheck(self, header: StakeBlockHeader, now: int | None
                  ) -> ProcessResult | tuple[BlockIndexEntry, EntryChainContext]:
        """Shared prefix of process_block and precheck_header: a rejection, or the parent
        entry and its chain context for the body checks."""
        block_hash = header.hash
        known = self.index.get(block_hash)
        if known is not None:
            return ProcessResult.reject(
                block_hash, "duplicate-invalid" if known.is_failed() else "duplicate")
        parent = self.index.get(header.prev_hash)
        if parent is None:
            return ProcessResult.reject(block_hash, "prev-blk-not-found",
                                        "orphan: parent block unknown")
        if parent.is_failed():
            return ProcessResult.reject(block_hash, "bad-prevblk", "parent block is invalid")
        tip = self.chain.tip
        assert tip is not None
        fork = self.chain.find_fork(parent)
        assert fork is not None
        if tip.height - fork.height > self.params.max_reorg_depth:
            return ProcessResult.reject(
                block_hash, "bad-fork-prior-to-max-reorg-depth",
                f"fork at height {fork.height} is {tip.height - fork.height} blocks below "
                f"the tip; at most {self.params.max_reorg_depth} may be reorganized")
        if now is None:
            now = int(time.time())
        try:
            check_block_header(header, self.params)
            ctx = chain_context(parent)
            contextual_check_block_header(header, ctx, now, self.params)
            # Stake and signature before anything is stored (pos.md, "Fake Stake").
            coin = self._stakes.find(header.prevout_stake, parent)
            check_proof_of_stake(header, ctx, coin, self.params)
            self._stakes.check_reuse(block_hash, header.prevout_stake, header.time, parent)
        except BlockValidationError as exc:
            return ProcessResult.reject(block_hash, exc.reason, exc.detail)
        return parent, ctx

    def _store_block(self, block: StakeBlock, parent: BlockIndexEntry | None) -> BlockIndexEntry:
        """Write the raw block and its index record in one batch, then index it."""
        work = block_proof(block.header.bits)
        entry = self.index.add(block.header, parent, work,
                               BlockStatus.HEADER_VALID | BlockStatus.HAVE_DATA,
                               len(block.transactions))
        batch = Batch()
        batch.put(schema.block_key(entry.hash), block.serialize())
        batch.put(schema.index_key(entry.hash), entry.to_record().serialize())
        try:
            self.store.commit(batch)
        except StorageError:
            self.index.remove(entry)
            raise
        self._stakes.remember(entry)
        self._activator.add_candidate(entry)
        return entry

    def subscribe(self, listener: ChainListener) -> None:
        """Receive block_connected / block_disconnected / tip_changed (see node.events)."""
        self.events.subscribe(listener)

    # ------------------------------------------------------------------ queries
    @property
    def tip(self) -> ChainTip:
        self._check_open()
        entry = self.chain.tip
        if entry is None:
            raise ChainstateError("no active chain")
        return ChainTip(entry.hash, entry.height, entry.chain_work)

    @property
    def tip_entry(self) -> BlockIndexEntry:
        entry = self.chain.tip
        if entry is None:
            raise ChainstateError("no active chain")
        return entry

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        """The unspent coin at ``outpoint`` in the active chain's UTXO set."""
        self._check_open()
        return self.cache.get_coin(outpoint)

    def block_locator(self) -> list[bytes]:
        """Hashes from the tip back to the genesis, exponentially sparser (Core's locator)."""
        self._check_open()
        return self.chain.locator()

    def get_entry(self, block_hash: bytes) -> BlockIndexEntry | None:
        return self.index.get(block_hash)

    def get_header(self, block_hash: bytes) -> StakeBlockHeader | None:
        entry = self.index.get(block_hash)
        return entry.header if entry is not None else None

    def get_block(self, block_hash: bytes) -> StakeBlock | None:
        """A stored block (any chain, failed ones included) or None."""
        self._check_open()
        raw = self.store.get(schema.block_key(block_hash))
        if raw is None:
            return None
        try:
            return deserialize_stake_block(raw)
        except DecodeError as exc:
            raise StorageError(f"corrupt stored block {block_hash[::-1].hex()}: {exc}") from exc

    def read_block(self, entry: BlockIndexEntry) -> StakeBlock:
        """The stored block of an index entry; its absence is corruption."""
        block = self.get_block(entry.hash)
        if block is None or block.hash != entry.hash:
            raise StorageError(f"block data missing for {entry!r}")
        return block

    def utxo_stats(self) -> UtxoStats:
        """Count, total amount and hash of the UTXO set at the tip (flushes the cache first,
        as Core's gettxoutsetinfo does, so the hash is read from one DB snapshot)."""
        self.flush()
        return utxo_stats(self.coins_db.iterate_coins(), self.tip_entry.hash)

    def utxo_disk_size(self) -> int:
        """LevelDB's estimate of the on-disk bytes of the coin records (after compacting
        them, so the estimate covers data still in the write-ahead log)."""
        self.flush()
        self.store.compact(schema.PREFIX_COIN)
        return self.coins_db.disk_size()

    def disconnect_tip(self) -> bytes:
        """Disconnect the tip block (tests and tooling: Core's invalidateblock without marking
        anything invalid, so the next activation may reconnect it). Returns its hash."""
        self._check_open()
        entry = self.tip_entry
        self._activator.disconnect_tip()
        return entry.hash

    # ------------------------------------------------------------------ contracts
    def contract_state_root(self) -> bytes:
        """The contract state root at the tip (equals the tip header's ``state_root``)."""
        self._check_open()
        return self.contracts.root

    def get_receipt(self, txid: bytes) -> list[Receipt]:
        """Receipts of a confirmed transaction's contract outputs, in output order (empty for
        an unknown txid or one without contract outputs)."""
        self._check_open()
        return self.contracts.get_receipts(txid)

    def call_contract(self, contract: bytes, method: str, args: Sequence[Any] = (), *,
                      sender: bytes = bytes(20), gas_limit: int | None = None) -> ViewResult:
        """Run ``method`` read-only at the tip (``callcontract``); nothing is kept."""
        self._check_open()
        tip = self.tip_entry
        limit = self.params.contracts.max_gas_per_tx if gas_limit is None else gas_limit
        context = BlockContext(tip.height, tip.header.time, self.params.contracts,
                               self.contracts.registry)
        return call_view(self.contracts.overlay(), contract, method, list(args), sender,
                         context, limit)

    def preview_contracts(self, transactions: Sequence[Transaction], height: int,
                          time: int) -> BlockExecution:
        """Execute the contract outputs of a candidate block on the tip (``transactions``:
        the block's transactions after the coinstake) on a throwaway overlay; the staker puts
        ``state_root`` in the header and ``refunds`` at the end of the coinstake. Raises
        ContractFormatError for transactions a block may not hold."""
        self._check_open()
        created: dict[OutPoint, bytes] = {}
        for tx in transactions:
            for index, out in enumerate(tx.outputs):
                created[OutPoint(tx.txid, index)] = out.script_pubkey

        def sender_of(tx: Transaction) -> bytes:
            prevout = tx.inputs[0].prevout
            if prevout in created:
                return created[prevout]
            coin = self.cache.get_coin(prevout)
            if coin is None:
                raise ChainstateError(f"input {prevout} of {tx.txid_hex} is not in the UTXO set")
            return coin.output.script_pubkey

        placeholder = Transaction(2, (), (), 0)  # position 0 (coinbase) holds no contracts
        return execute_block([placeholder, *transactions], sender_of, self.contracts.overlay(),
                             height, time, self.params.contracts, self.contracts.registry)

    # ------------------------------------------------------------------ reindex
    def reindex(self) -> UtxoStats:
        """Rebuild the UTXO set from the stored blocks: wipe coins, connect the genesis, then
        activate the most-work valid stored chain again. Restartable: a flag record makes an
        interrupted reindex start over on the next open."""
        self._check_open()
        batch = Batch()
        batch.put(schema.KEY_REINDEXING, b"\x01")
        self.store.commit(batch)
        self.cache.discard()
        self.contracts.wipe()
        wipe = Batch()
        for key, _ in self.store.iterate_prefix(schema.PREFIX_COIN):
            wipe.delete(key)
        wipe.delete(schema.KEY_BEST_BLOCK)
        self.store.commit(wipe)
        self.chain.set_tip(None)
        self._init_genesis()
        self._activator.activate_best_chain()
        self.flush()
        done = Batch()
        done.delete(schema.KEY_REINDEXING)
        self.store.commit(done)
        return self.utxo_stats()

