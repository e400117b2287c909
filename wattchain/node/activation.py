"""Chain selection: connect, disconnect, reorganize to the most-work valid chain.

Core's ActivateBestChain, reduced to full blocks. Every stored, not-failed block whose chain
work is at least the tip's is a *candidate*. While the best candidate beats the tip (more work;
equal work only if it arrived earlier), disconnect back to the fork point and connect forward.
If a block fails to connect it is marked FAILED, its descendants FAILED_CHILD, and the loop
simply picks the best remaining candidate again — which, when the whole fork was bad, is the
previous tip: the old chain is reconnected and the UTXO set ends up exactly as before.

Each connect/disconnect is validated in a per-block CoinsViewCache and merged into the big
cache only on success, then committed as one batch (undo + index status, plus all dirty coins
and the best-block marker whenever the big cache flushes — every block when write-through).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattchain.consensus.coins import CoinsViewCache
from wattchain.consensus.connect import BlockUndo, connect_block, disconnect_block
from wattchain.consensus.contract_rules import BlockContracts, ContractUndo
from wattchain.consensus.errors import BlockValidationError
from wattchain.core.errors import DecodeError
from wattchain.core.header import StakeBlock
from wattchain.node import schema
from wattchain.node.block_index import BlockIndexEntry, EntryChainContext
from wattchain.node.errors import ChainstateError, StorageError
from wattchain.node.kvstore import Batch
from wattchain.node.schema import BlockStatus

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.chainstate import Chainstate


def chain_context(parent: BlockIndexEntry) -> EntryChainContext:
    """The consensus view of the chain ending at ``parent``."""
    return EntryChainContext(parent)


@dataclass
class ProcessResult:
    """What :meth:`Chainstate.process_block` did with one block.

    ``accepted`` is False when the block was refused before storing (duplicate, orphan,
    context-free or contextual rule) or turned out invalid when connected; ``reason`` is then
    a Core-style reject string. ``reorged`` counts blocks of the previously active chain that
    are no longer in it; ``connected``/``disconnected`` count all steps taken (a failed reorg
    disconnects and reconnects the same blocks and has ``reorged == 0``).
    """

    block_hash: bytes
    accepted: bool
    reason: str | None = None
    detail: str = ""
    became_tip: bool = False
    reorged: int = 0
    connected: int = 0
    disconnected: int = 0

    @classmethod
    def reject(cls, block_hash: bytes, reason: str, detail: str = "") -> "ProcessResult":
        return cls(block_hash, False, reason, detail)


@dataclass
class ActivationResult:
    """Steps taken by one :meth:`ChainActivator.activate_best_chain` call."""

    connected: int = 0
    disconnected: int = 0
    reorged: int = 0
    #: block hash -> (reason, detail) for blocks found invalid while connecting.
    invalid: dict[bytes, tuple[str, str]] = field(default_factory=dict)

    def for_block(self, entry: BlockIndexEntry, is_tip: bool) -> ProcessResult:
        """The result as reported for ``entry``, the block just received."""
        result = ProcessResult(entry.hash, True, None, "", is_tip, self.reorged, self.connected,
                               self.disconnected)
        if entry.hash in self.invalid:
            result.accepted = False
            result.reason, result.detail = self.invalid[entry.hash]
        elif entry.is_failed():
            result.accepted = False
            result.reason = "bad-prevblk"
            result.detail = "an ancestor failed to connect"
        return result


def _better(a: BlockIndexEntry, b: BlockIndexEntry) -> bool:
    """Whether ``a`` should replace ``b`` as tip: more work, or equal work and earlier."""
    return a.chain_work > b.chain_work or (a.chain_work == b.chain_work
                                          and a.sequence_id < b.sequence_id)


class ChainActivator:
    """Owns the candidate set and moves the chainstate's tip; no state of its own besides."""

    def __init__(self, chainstate: "Chainstate") -> None:
        self.cs = chainstate
        self.candidates: set[BlockIndexEntry] = set()

    # ------------------------------------------------------------------ candidates
    def add_candidate(self, entry: BlockIndexEntry) -> None:
        if entry.have_data() and not entry.is_failed():
            self.candidates.add(entry)

    def reset_candidates(self) -> None:
        tip = self.cs.chain.tip
        floor = tip.chain_work if tip is not None else 0
        self.candidates = {e for e in self.cs.index.entries()
                           if e.have_data() and not e.is_failed() and e.chain_work >= floor}

    def _prune_candidates(self) -> None:
        tip = self.cs.chain.tip
        assert tip is not None
        self.candidates = {e for e in self.candidates
                           if not e.is_failed() and e.chain_work >= tip.chain_work}

    def _best_candidate(self) -> BlockIndexEntry | None:
        if not self.candidates:
            return None
        return max(self.candidates, key=lambda e: (e.chain_work, -e.sequence_id))

    # ------------------------------------------------------------------ activation
    def activate_best_chain(self, new_block: StakeBlock | None = None) -> ActivationResult:
        """Reorganize to the most-work valid candidate (see the module docstring).

        ``new_block`` is the block just stored by ``process_block``: connected from memory
        if the path reaches it, instead of read back and decoded again (Core's ``pblock``).
        It also keeps the txids the checks already computed."""
        chain = self.cs.chain
        old_tip = chain.tip
        if old_tip is None:
            raise ChainstateError("no active chain to extend (genesis not connected)")
        result = ActivationResult()
        max_depth = self.cs.params.max_reorg_depth
        while True:
            tip = chain.tip
            assert tip is not None
            best = self._best_candidate()
            if best is None or best is tip or not _better(best, tip):
                break
            fork = chain.find_fork(best)
            if fork is None:
                raise StorageError(f"{best!r} does not descend from the active genesis")
            if tip.height - fork.height > max_depth:
                self.candidates.discard(best)  # too deep: refused, but not invalid
                continue
            while chain.tip is not fork:
                self.disconnect_tip()
                result.disconnected += 1
            for height in range(fork.height + 1, best.height + 1):
                entry = best.get_ancestor(height)
                assert entry is not None
                known = new_block if new_block is not None and (
                    new_block.hash == entry.hash) else None
                failure = self.connect_tip(entry, known)
                if failure is not None:
                    result.invalid[entry.hash] = failure
                    break
                result.connected += 1
        self._prune_candidates()
        new_tip = chain.tip
        assert new_tip is not None
        if new_tip is not old_tip:
            self.cs.events.tip_changed(new_tip)
        fork = chain.find_fork(old_tip)
        result.reorged = old_tip.height - (fork.height if fork is not None else -1)
        return result

    # ------------------------------------------------------------------ single steps
    def connect_tip(self, entry: BlockIndexEntry,
                    block: StakeBlock | None = None) -> tuple[str, str] | None:
        """Connect ``entry`` (a child of the tip); ``block`` is its block if the caller has
        it, else it is read from disk. Returns (reason, detail) if invalid."""
        cs = self.cs
        parent = entry.parent
        if parent is None or cs.chain.tip is not parent:
            raise ChainstateError(f"{entry!r} does not extend the tip")
        if block is None:
            block = cs.read_block(entry)
        elif block.hash != entry.hash:
            raise ChainstateError(f"block {block.hash[::-1].hex()} is not {entry!r}")
        view = CoinsViewCache(cs.cache.view)
        contracts = cs.contracts.binding()
        try:
            undo = connect_block(block, view, entry.height, chain_context(parent), cs.params,
                                 script_verifier=cs.script_verifier, contracts=contracts,
                                 in_place=True)  # view is dropped if the block fails
        except BlockValidationError as exc:
            self.mark_failed(entry)  # the contract hook left the state at the parent
            return exc.reason, exc.detail
        self._commit_connect(entry, view, undo, contracts)
        cs.events.connected(block, entry)
        return None

    def connect_genesis(self, entry: BlockIndexEntry) -> bool:
        """Connect the genesis onto an empty chain (first open, reindex)."""
        cs = self.cs
        if cs.chain.tip is not None or entry.height != 0:
            raise ChainstateError("the genesis connects only onto an empty chain")
        view = CoinsViewCache(cs.cache.view)
        try:
            undo = connect_block(cs.read_block(entry), view, 0, None, cs.params, in_place=True)
        except BlockValidationError:
            return False
        self._commit_connect(entry, view, undo)
        return True

    def _commit_connect(self, entry: BlockIndexEntry, view: CoinsViewCache,
                        undo: BlockUndo, contracts: BlockContracts | None = None) -> None:
        cs = self.cs
        view.flush_into(cs.cache.view)
        cs.chain.set_tip(entry)
        batch = Batch()
        execution = contracts.execution if contracts is not None else None
        if execution is not None:
            # Receipts by txid and the contract undo go with the block's connect batch; the
            # state itself sits in the contract cache and flushes with the coins.
            cs.contracts.put_receipts(batch, execution.receipts)
            cs.contracts.put_undo(batch, entry.hash, ContractUndo(entry.height, execution.undo))
        done = BlockStatus.VALID_SCRIPTS | BlockStatus.HAVE_UNDO
        if entry.status & done != done:
            entry.status |= done
            batch.put(schema.undo_key(entry.hash), undo.serialize())
            batch.put(schema.index_key(entry.hash), entry.to_record().serialize())
        self._commit(batch)
        return None

    def disconnect_tip(self) -> None:
        """Undo the tip block, making its parent the tip."""
        cs = self.cs
        entry = cs.chain.tip
        if entry is None or entry.parent is None:
            raise ChainstateError("cannot disconnect the genesis")
        block = cs.read_block(entry)
        raw = cs.store.get(schema.undo_key(entry.hash))
        if raw is None:
            raise StorageError(f"undo data missing for {entry!r}")
        try:
            undo = BlockUndo.deserialize(raw)
        except (DecodeError, ValueError) as exc:
            raise StorageError(f"corrupt undo data for {entry!r}: {exc}") from exc
        view = CoinsViewCache(cs.cache.view)
        contracts = cs.contracts.binding()
        contracts.undo_record = cs.contracts.undo_record(entry.hash)
        try:
            disconnect_block(block, undo, view, contracts=contracts)
        except BlockValidationError as exc:
            raise StorageError(f"cannot disconnect {entry!r}: {exc}") from exc
        view.flush_into(cs.cache.view)
        cs.chain.set_tip(entry.parent)
        batch = Batch()
        cs.contracts.delete_receipts(batch, block)
        self._commit(batch)
        cs.events.disconnected(block, entry)

    def _commit(self, batch: Batch) -> None:
        """Commit ``batch``, adding the coins flush (coins + best block) when it is due."""
        cs = self.cs
        if cs.cache.should_flush() or cs.contracts.should_flush():
            tip = cs.chain.tip
            assert tip is not None
            # Coins, contract state and the best-block marker: one atomic batch.
            cs.cache.add_flush_to(batch, tip.hash)
            cs.contracts.add_flush_to(batch)
            cs.store.commit(batch)
            cs.cache.flushed()
            cs.contracts.flushed()
        else:
            cs.store.commit(batch)

    def mark_failed(self, entry: BlockIndexEntry) -> None:
        """Persist FAILED on ``entry`` and FAILED_CHILD on its descendants (one batch)."""
        cs = self.cs
        entry.status |= BlockStatus.FAILED
        changed = [entry]
        for child in cs.index.descendants(entry):
            if not child.status & BlockStatus.FAILED_CHILD:
                child.status |= BlockStatus.FAILED_CHILD
                changed.append(child)
        batch = Batch()
        for item in changed:
            batch.put(schema.index_key(item.hash), item.to_record().serialize())
            self.candidates.discard(item)
        cs.store.commit(batch)
