"""The memory pool: valid unconfirmed transactions waiting for a block.

Library API (Core's names in brackets)::

    pool = Mempool(chainstate, MempoolPolicy())   # subscribes to the chainstate's events
    pool.accept(tx)            -> AcceptResult    # [sendrawtransaction]; MempoolRejectError
    pool.test_accept(tx)       -> AcceptResult    # [testmempoolaccept], no state change
    pool.get(txid), pool.get_entry(txid), pool.contains(txid), pool.txids(), len(pool)
    pool.info()                -> MempoolInfo     # [getmempoolinfo]
    pool.select_for_block(max_weight, max_sigops_cost)   # [BlockAssembler]
    pool.save(path); pool.load(path)              # [mempool.dat]
    pool.expire(now)

Threading: like :class:`~wattchain.node.chainstate.Chainstate`, a Mempool is used from ONE
thread (the node runs both in one single-thread executor, and chain events arrive on that
thread); there is no internal locking.

What lives where: acceptance rules in :mod:`.mempool_validate`, standardness and the policy
knobs in :mod:`.policy`, the entry graph in :mod:`.mempool_graph`, orphans in :mod:`.orphans`,
block selection in :mod:`.mempool_select`, the file in :mod:`.mempool_persist`. This module
applies results and follows the chain.

Memory cap (Core's TrimToSize, simplified): while the estimated usage exceeds
``policy.max_bytes``, the entry with the lowest descendant score (the better of its own fee rate
and its fee rate with descendants) is evicted with all its descendants, and the rolling minimum
fee rate rises to that package's rate plus the incremental relay fee. The floor decays with a
half-life of ``policy.rolling_fee_halflife`` (quartered below 1/4 usage, halved below 1/2), but
only after a block has connected since the last bump, and drops to zero below half the
incremental fee — Core's GetMinFee. Finding the victim is a linear scan (fine for the pool sizes
a Python node holds; a sorted index would be the next step).

Chain events: ``block_connected`` removes the block's txs (their descendants stay: their
parent is now confirmed) and everything conflicting with the block, with descendants.
``block_disconnected`` keeps the block's txs (not coinbase/coinstake); ``tip_changed`` then runs
:meth:`Mempool.update_for_reorg` (Core's UpdateMempoolForReorg): the disconnected txs and the old
pool are re-validated against the new tip, disconnected txs first, and whatever is no longer
valid (spent inputs, immature coinstake spends, non-final) is dropped.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wattchain.consensus.tx_verify import is_coinstake
from wattchain.core.keys import verify_ecdsa
from wattchain.core.tx import OutPoint, Transaction
from wattchain.node.mempool_entry import AcceptResult, MempoolEntry, MempoolInfo
from wattchain.node.mempool_graph import TxGraph
from wattchain.node.mempool_persist import MempoolPersistError, read_mempool, save_mempool
from wattchain.node.mempool_select import select_for_block
from wattchain.node.mempool_validate import (Candidate, MissingInputs, caching_verifier,
                                             check_transaction_for_pool)
from wattchain.node.orphans import OrphanPool
from wattchain.node.policy import MempoolPolicy, MempoolRejectError, fee_rate
from wattchain.script.checker import EcdsaVerifier
from wattchain.script.sigcache import SignatureCache

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry
    from wattchain.node.chainstate import Chainstate

log = logging.getLogger(__name__)

#: How often (seconds) the rolling minimum fee is allowed to decay (Core: 10).
_ROLLING_FEE_UPDATE_INTERVAL = 10
#: :meth:`Mempool.accept` runs the (linear) expiry scan at most this often (seconds). Core
#: expires on every acceptance; once a minute keeps acceptance O(1) in the pool size.
_EXPIRE_INTERVAL = 60

__all__ = ["Mempool", "MempoolPolicy", "MempoolRejectError", "AcceptResult", "MempoolEntry",
           "MempoolInfo", "MempoolPersistError"]


class Mempool:
    """Unconfirmed transactions valid on the chainstate's tip (see the module docstring)."""

    def __init__(self, chainstate: "Chainstate", policy: MempoolPolicy = MempoolPolicy(), *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 subscribe: bool = True, verifier: EcdsaVerifier = verify_ecdsa,
                 sigcache: SignatureCache | None = None) -> None:
        """``clock`` gives "now" when a call passes none; ``rng`` drives orphan eviction;
        ``verifier`` checks ECDSA signatures (pass the compiled core's); ``sigcache``, shared
        with the block ScriptVerifier, receives every signature that passed here so the block
        confirming the tx need not check it again."""
        self.chainstate = chainstate
        self.params = chainstate.params
        self.policy = policy
        self._clock = clock
        self._verifier = caching_verifier(sigcache, verifier) if sigcache is not None else verifier
        self.graph = TxGraph()
        self.orphans = OrphanPool(policy.max_orphans, policy.orphan_expiry_seconds,
                                  policy.max_tx_weight, rng)
        self._rolling_min_fee = 0.0
        self._last_rolling_update = 0
        self._block_since_bump = False
        self._last_expire: int | None = None
        #: Transactions of disconnected blocks, oldest block first, awaiting tip_changed.
        self._disconnected: list[Transaction] = []
        #: Called with every transaction that enters the pool (the wallet's
        #: ``transaction_added``), on the mempool's thread; failures are logged, not raised.
        self._added_listeners: list[Callable[[Transaction], object]] = []
        if subscribe:
            chainstate.subscribe(self)

    def add_listener(self, callback: Callable[[Transaction], object]) -> None:
        """Call ``callback(tx)`` for every transaction accepted from now on."""
        self._added_listeners.append(callback)

    def _now(self, now: int | None) -> int:
        return int(self._clock()) if now is None else now

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.graph)

    def contains(self, txid: bytes) -> bool:
        return txid in self.graph.entries

    def get(self, txid: bytes) -> Transaction | None:
        entry = self.graph.entries.get(txid)
        return entry.tx if entry is not None else None

    def get_entry(self, txid: bytes) -> MempoolEntry | None:
        return self.graph.entries.get(txid)

    def get_by_wtxid(self, wtxid: bytes) -> Transaction | None:
        txid = self.graph.by_wtxid.get(wtxid)
        return self.get(txid) if txid is not None else None

    def txids(self) -> list[bytes]:
        """Pooled txids in arrival order (parents before children)."""
        return [e.txid for e in sorted(self.graph.entries.values(), key=lambda e: e.sequence)]

    def spender_of(self, outpoint: OutPoint) -> bytes | None:
        """The pooled tx spending ``outpoint``, if any."""
        return self.graph.spenders.get(outpoint)

    def info(self, now: int | None = None) -> MempoolInfo:
        return MempoolInfo(size=len(self.graph), bytes=self.graph.total_vsize,
                           usage=self.graph.usage, max=self.policy.max_bytes,
                           mempoolminfee=max(self.min_fee_rate(now),
                                             self.policy.min_relay_fee_rate),
                           minrelaytxfee=self.policy.min_relay_fee_rate,
                           total_fee=self.graph.total_fee, orphans=len(self.orphans))

    def min_fee_rate(self, now: int | None = None) -> int:
        """The rolling floor raised by evictions (0 when nothing was evicted lately)."""
        if not self._block_since_bump or self._rolling_min_fee == 0:
            return round(self._rolling_min_fee)
        now = self._now(now)
        if now > self._last_rolling_update + _ROLLING_FEE_UPDATE_INTERVAL:
            halflife = self.policy.rolling_fee_halflife
            if self.graph.usage < self.policy.max_bytes // 4:
                halflife //= 4
            elif self.graph.usage < self.policy.max_bytes // 2:
                halflife //= 2
            self._rolling_min_fee /= 2 ** ((now - self._last_rolling_update) / halflife)
            self._last_rolling_update = now
            if self._rolling_min_fee < self.policy.incremental_relay_fee_rate / 2:
                self._rolling_min_fee = 0.0
                return 0
        return max(round(self._rolling_min_fee), self.policy.incremental_relay_fee_rate)

    def select_for_block(self, max_weight: int, max_sigops_cost: int) -> list[Transaction]:
        """Txs for a block template (see :mod:`.mempool_select`)."""
        return select_for_block(self.graph, max_weight, max_sigops_cost)

    # ------------------------------------------------------------------ acceptance
    def accept(self, tx: Transaction, *, now: int | None = None) -> AcceptResult:
        """Validate and add ``tx`` (raises :class:`MempoolRejectError` with Core's reason).

        A tx with missing inputs is parked in the orphan pool (``orphan=True``); accepting a
        parent retries its orphans, and those that enter are listed in ``resolved``. If the
        memory cap evicts the new tx at once, "mempool full" is raised (as in Core, txs it
        replaced stay replaced)."""
        now = self._now(now)
        if self._last_expire is None or now >= self._last_expire + _EXPIRE_INTERVAL:
            self.expire(now)
        try:
            candidate = self._check(tx, now)
        except MissingInputs:
            self.orphans.add(tx, now)
            return AcceptResult(tx.txid, tx.wtxid, False, orphan=True, reason="missing-inputs")
        result = self._apply(candidate, now)
        self.orphans.remove(tx.txid)
        resolved = self._resolve_orphans(tx, now)
        if resolved:
            return AcceptResult(result.txid, result.wtxid, True, result.fee, result.vsize,
                                replaced=result.replaced, resolved=tuple(resolved))
        return result

    def test_accept(self, tx: Transaction, *, now: int | None = None) -> AcceptResult:
        """Every check of :meth:`accept`, no state change. Missing inputs give
        ``accepted=False, reason="missing-inputs"`` (the orphan pool is not touched)."""
        now = self._now(now)
        try:
            candidate = self._check(tx, now)
        except MissingInputs:
            return AcceptResult(tx.txid, tx.wtxid, False, orphan=True, reason="missing-inputs")
        return AcceptResult(tx.txid, tx.wtxid, True, candidate.fee, tx.vsize,
                            replaced=tuple(sorted(candidate.replaced)))

    def _check(self, tx: Transaction, now: int, *, check_fees: bool = True,
               check_scripts: bool = True) -> Candidate:
        return check_transaction_for_pool(
            tx, self.chainstate, self.graph, self.policy, self.params,
            min_fee_rate=self.min_fee_rate(now), check_fees=check_fees,
            check_scripts=check_scripts, verifier=self._verifier)

    def _apply(self, candidate: Candidate, now: int, entry_time: int | None = None, *,
               trim: bool = True) -> AcceptResult:
        tx = candidate.tx
        if candidate.replaced:
            self.graph.remove(candidate.replaced)
        entry = candidate.entry(now if entry_time is None else entry_time,
                                self.graph.next_sequence())
        self.graph.add(entry)
        if trim:
            evicted = self.trim_to_size(now)
            if tx.txid in evicted:
                raise MempoolRejectError("mempool full", "evicted at once by the memory cap")
        for callback in self._added_listeners:
            try:
                callback(tx)
            except Exception:  # noqa: BLE001 - a listener must not undo an accepted tx
                log.exception("mempool listener %r failed", callback)
        return AcceptResult(tx.txid, tx.wtxid, True, candidate.fee, tx.vsize,
                            replaced=tuple(sorted(candidate.replaced)))

    def _resolve_orphans(self, parent: Transaction, now: int) -> list[Transaction]:
        """Retry orphans spending outputs of newly accepted txs (breadth first)."""
        resolved: list[Transaction] = []
        queue = self.orphans.children_of(parent)
        while queue:
            orphan = queue.pop(0)
            if orphan.txid not in self.orphans:
                continue
            try:
                self._apply(self._check(orphan, now), now)
            except MissingInputs:
                continue  # another parent is still missing: keep waiting
            except MempoolRejectError as exc:
                log.debug("orphan %s rejected: %s", orphan.txid_hex, exc)
                self.orphans.remove(orphan.txid)
                continue
            self.orphans.remove(orphan.txid)
            resolved.append(orphan)
            queue.extend(self.orphans.children_of(orphan))
        return resolved

    # ------------------------------------------------------------------ limits
    def trim_to_size(self, now: int | None = None) -> set[bytes]:
        """Evict lowest-descendant-score packages until under the memory cap; returns the
        evicted txids and raises the rolling minimum fee (module docstring)."""
        evicted: set[bytes] = set()
        now = self._now(now)
        entries = self.graph.entries
        while self.graph.usage > self.policy.max_bytes and entries:
            def key(entry: MempoolEntry) -> tuple[float, int]:
                fee, size = entry.descendant_score()
                return (fee / size, -entry.sequence)
            victim = min(entries.values(), key=key)
            fee, size = victim.descendant_score()
            removed_rate = fee_rate(fee, size) + self.policy.incremental_relay_fee_rate
            if removed_rate > self._rolling_min_fee:
                self._rolling_min_fee = float(removed_rate)
                self._last_rolling_update = now
                self._block_since_bump = False
            package = self.graph.descendants((victim.txid,))
            self.graph.remove(package)
            evicted |= package
        return evicted

    def expire(self, now: int | None = None) -> int:
        """Drop txs that entered more than ``policy.expiry_seconds`` ago (with descendants)
        and expired orphans; returns how many pool txs were dropped."""
        now = self._now(now)
        cutoff = now - self.policy.expiry_seconds
        stale = [e.txid for e in self.graph.entries.values() if e.time < cutoff]
        doomed = self.graph.descendants(stale)
        self.graph.remove(doomed)
        self.orphans.limit(now)
        self._last_expire = now
        return len(doomed)

    def remove(self, txids: "list[bytes] | set[bytes]") -> int:
        """Remove txs and their descendants (e.g. a wallet abandoning a tx)."""
        doomed = self.graph.descendants(txids)
        self.graph.remove(doomed)
        return len(doomed)

    # ------------------------------------------------------------------ chain events
    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        txs = block.transactions[1:]
        confirmed = {tx.txid for tx in txs}
        if self._disconnected:
            self._disconnected = [tx for tx in self._disconnected if tx.txid not in confirmed]
        for tx in txs:
            if tx.txid in self.graph.entries:
                self.graph.remove((tx.txid,))
        conflicts = set()
        for tx in txs:
            for txin in tx.inputs:
                spender = self.graph.spenders.get(txin.prevout)
                if spender is not None and spender != tx.txid:
                    conflicts.add(spender)
        if conflicts:
            self.graph.remove(self.graph.descendants(conflicts))
        self.orphans.remove_for_block(txs)
        self._block_since_bump = True

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        keep = [tx for n, tx in enumerate(block.transactions)
                if n and not (n == 1 and is_coinstake(tx))]
        self._disconnected[:0] = keep  # tip first: earlier blocks go in front

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        """End of an activation step: re-add what disconnected blocks held. (Tools that call
        ``Chainstate.disconnect_tip`` directly get no tip_changed and call
        :meth:`update_for_reorg` themselves.)"""
        if self._disconnected:
            self.update_for_reorg()

    def update_for_reorg(self, now: int | None = None) -> None:
        """Re-validate the disconnected blocks' txs and the whole pool against the new tip
        (disconnected txs first, fee floors bypassed as Core does; scripts of txs that were
        already pooled are not re-run, since a txid fixes the outputs they spend)."""
        now = self._now(now)
        disconnected, self._disconnected = self._disconnected, []
        old = self.graph.clear()
        for tx in disconnected:
            self._readd(tx, now, now, check_scripts=True)
        for entry in old:
            self._readd(entry.tx, now, entry.time, check_scripts=False)
        self.trim_to_size(now)

    def _readd(self, tx: Transaction, now: int, entry_time: int, *, check_scripts: bool) -> bool:
        try:
            candidate = self._check(tx, now, check_fees=False, check_scripts=check_scripts)
            self._apply(candidate, now, entry_time, trim=False)
        except (MissingInputs, MempoolRejectError) as exc:
            log.debug("dropped %s after reorg: %s", tx.txid_hex, exc)
            return False
        return True

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the pool (arrival order, with entry times) atomically to ``path``."""
        entries = sorted(self.graph.entries.values(), key=lambda e: e.sequence)
        save_mempool(path, [(e.time, e.tx) for e in entries])

    def load(self, path: str | Path, now: int | None = None) -> int:
        """Re-accept the txs saved at ``path`` against the current chain (all rules; expired
        and no-longer-valid ones are skipped). Returns how many entered the pool. A damaged
        file raises :class:`MempoolPersistError` and changes nothing."""
        now = self._now(now)
        items = read_mempool(path)
        cutoff = now - self.policy.expiry_seconds
        accepted = 0
        for entry_time, tx in items:
            if entry_time < cutoff:
                continue
            try:
                self._apply(self._check(tx, now), now, entry_time)
            except (MissingInputs, MempoolRejectError) as exc:
                log.debug("not reloading %s: %s", tx.txid_hex, exc)
                continue
            accepted += 1
        return accepted
