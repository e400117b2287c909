"""The records a mempool keeps and hands out: entries, acceptance results, summary info.

A :class:`MempoolEntry` is mutable on purpose: its ancestor/descendant aggregates change as
relatives enter and leave the pool (Core's CTxMemPoolEntry does the same). Callers outside the
mempool get entries for reading (``getmempoolentry``) and must not modify them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattchain.core.tx import Transaction

#: Estimated CPython overhead of one entry beyond its serialized transaction: the entry
#: object, its relative sets, index slots (txid, wtxid, one spender slot per input). A rough
#: constant, like Core's DynamicMemoryUsage; it only needs to be monotone in the real cost.
ENTRY_OVERHEAD = 700
INPUT_OVERHEAD = 200


def entry_usage(tx: Transaction) -> int:
    """Estimated memory of one pooled transaction (what ``max_bytes`` bounds)."""
    return ENTRY_OVERHEAD + INPUT_OVERHEAD * len(tx.inputs) + 2 * tx.total_size


@dataclass(eq=False)
class MempoolEntry:
    """One pooled transaction with its fee data and package aggregates.

    ``parents``/``children`` are the txids of in-pool transactions it spends from / that spend
    it (Core's depends/spentby). Ancestor and descendant aggregates include the entry itself.
    """

    tx: Transaction
    fee: int
    time: int
    height: int
    sigop_cost: int
    sequence: int
    parents: set[bytes] = field(default_factory=set)
    children: set[bytes] = field(default_factory=set)
    ancestor_count: int = 1
    ancestor_size: int = 0
    ancestor_fees: int = 0
    ancestor_sigops: int = 0
    descendant_count: int = 1
    descendant_size: int = 0
    descendant_fees: int = 0

    def __post_init__(self) -> None:
        self.ancestor_size = self.ancestor_size or self.vsize
        self.ancestor_fees = self.ancestor_fees or self.fee
        self.ancestor_sigops = self.ancestor_sigops or self.sigop_cost
        self.descendant_size = self.descendant_size or self.vsize
        self.descendant_fees = self.descendant_fees or self.fee

    @property
    def txid(self) -> bytes:
        return self.tx.txid

    @property
    def wtxid(self) -> bytes:
        return self.tx.wtxid

    @property
    def vsize(self) -> int:
        return self.tx.vsize

    @property
    def weight(self) -> int:
        return self.tx.weight

    @property
    def usage(self) -> int:
        return entry_usage(self.tx)

    def descendant_score(self) -> tuple[int, int]:
        """Eviction key (fee, size) as Core's descendant score: the better of the entry's own
        rate and its rate with descendants, so a high-fee child protects its parent."""
        own, pkg = (self.fee, self.vsize), (self.descendant_fees, self.descendant_size)
        return own if own[0] * pkg[1] > pkg[0] * own[1] else pkg

    def __repr__(self) -> str:
        return (f"MempoolEntry({self.tx.txid_hex[:16]}.., fee={self.fee}, vsize={self.vsize}, "
                f"anc={self.ancestor_count}, desc={self.descendant_count})")


@dataclass(frozen=True)
class AcceptResult:
    """What :meth:`Mempool.accept` / :meth:`Mempool.test_accept` decided.

    ``accepted`` is True when the tx is (or, for test_accept, would be) in the pool. A tx with
    missing inputs is not an error: it goes to the orphan pool, ``orphan`` is True and
    ``reason`` is ``"missing-inputs"``. ``replaced`` lists txids evicted by a BIP125
    replacement; ``resolved`` lists orphans that entered the pool because this tx did.
    """

    txid: bytes
    wtxid: bytes
    accepted: bool
    fee: int = 0
    vsize: int = 0
    orphan: bool = False
    reason: str | None = None
    replaced: tuple[bytes, ...] = ()
    resolved: tuple[Transaction, ...] = ()


@dataclass(frozen=True)
class MempoolInfo:
    """Core's getmempoolinfo: counts, sizes and the fee floors (rates in units per kvB)."""

    size: int
    bytes: int
    usage: int
    max: int
    mempoolminfee: int
    minrelaytxfee: int
    total_fee: int
    orphans: int


__all__ = ["MempoolEntry", "AcceptResult", "MempoolInfo", "entry_usage"]
