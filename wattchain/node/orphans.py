"""The orphan pool: transactions whose inputs are not known yet (Core's TxOrphanage).

A child can arrive before its parent (relay races, a reorg). Instead of dropping it, the
mempool parks it here, indexed by the outpoints it spends, and retries it when a transaction
creating one of those outpoints enters the pool. The pool is bounded — by count (random
eviction, so an attacker cannot choose what gets evicted) and by age — because orphans are
unvalidated and cost memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from wattchain.core.tx import OutPoint, Transaction


@dataclass(frozen=True)
class Orphan:
    tx: Transaction
    expires: int


class OrphanPool:
    """Bounded store of orphans keyed by txid, with an index from spent outpoint to orphans."""

    def __init__(self, max_orphans: int, expiry_seconds: int, max_weight: int,
                 rng: random.Random | None = None) -> None:
        self.max_orphans = max_orphans
        self.expiry_seconds = expiry_seconds
        self.max_weight = max_weight
        self._rng = rng if rng is not None else random.Random()
        self._orphans: dict[bytes, Orphan] = {}
        self._by_prevout: dict[OutPoint, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._orphans)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self._orphans

    def get(self, txid: bytes) -> Transaction | None:
        orphan = self._orphans.get(txid)
        return orphan.tx if orphan is not None else None

    def txids(self) -> list[bytes]:
        return list(self._orphans)

    def add(self, tx: Transaction, now: int) -> bool:
        """Park ``tx``; False if it is too large to keep (Core ignores such orphans)."""
        txid = tx.txid
        if txid in self._orphans:
            return True
        if tx.weight > self.max_weight:
            return False
        self._orphans[txid] = Orphan(tx, now + self.expiry_seconds)
        for txin in tx.inputs:
            self._by_prevout.setdefault(txin.prevout, set()).add(txid)
        self.limit(now)
        return txid in self._orphans

    def remove(self, txid: bytes) -> bool:
        orphan = self._orphans.pop(txid, None)
        if orphan is None:
            return False
        for txin in orphan.tx.inputs:
            spenders = self._by_prevout.get(txin.prevout)
            if spenders is not None:
                spenders.discard(txid)
                if not spenders:
                    del self._by_prevout[txin.prevout]
        return True

    def children_of(self, tx: Transaction) -> list[Transaction]:
        """Orphans spending an output of ``tx`` (candidates to retry now), oldest first."""
        txid = tx.txid
        found: dict[bytes, Transaction] = {}
        for index in range(len(tx.outputs)):
            for orphan_id in self._by_prevout.get(OutPoint(txid, index), ()):
                found[orphan_id] = self._orphans[orphan_id].tx
        order = {txid: n for n, txid in enumerate(self._orphans)}
        return sorted(found.values(), key=lambda t: order[t.txid])

    def remove_for_block(self, transactions: Iterable[Transaction]) -> int:
        """Drop orphans included in a block or spending an outpoint a block tx spent (they
        can never become valid). Returns how many were dropped."""
        doomed: set[bytes] = set()
        for tx in transactions:
            if tx.txid in self._orphans:
                doomed.add(tx.txid)
            for txin in tx.inputs:
                doomed.update(self._by_prevout.get(txin.prevout, ()))
        for txid in doomed:
            self.remove(txid)
        return len(doomed)

    def limit(self, now: int) -> int:
        """Expire old orphans, then evict random ones down to ``max_orphans``."""
        removed = 0
        for txid in [t for t, o in self._orphans.items() if o.expires <= now]:
            removed += self.remove(txid)
        while len(self._orphans) > self.max_orphans:
            victim = self._rng.choice(list(self._orphans))
            removed += self.remove(victim)
        return removed

    def clear(self) -> None:
        self._orphans.clear()
        self._by_prevout.clear()


__all__ = ["OrphanPool", "Orphan"]
