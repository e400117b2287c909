"""Block template selection from the mempool (Core's BlockAssembler::addPackageTxs).

Transactions are chosen as *packages*: a tx together with its not-yet-selected in-pool
ancestors, ranked by the package's fee rate (ancestor fees / ancestor vsize). This is how a
high-fee child pays for its low-fee parent (CPFP). After a package is taken, its remaining
descendants are re-scored with the taken ancestors left out (Core's mapModifiedTx), using a heap
with stale-entry skipping. A package that does not fit the remaining weight or sigop budget is
skipped for good, as in Core. Every package is emitted parents first, so the returned list can
be put into a block in order.
"""

from __future__ import annotations

import heapq
from fractions import Fraction

from wattchain.core.tx import Transaction
from wattchain.node.mempool_graph import TxGraph


def _package(graph: TxGraph, txid: bytes, included: set[bytes]) -> set[bytes]:
    return (graph.ancestors(txid) | {txid}) - included


def select_for_block(graph: TxGraph, max_weight: int, max_sigops_cost: int) -> list[Transaction]:
    """Transactions for a block, best package fee rate first, parents before children.

    ``max_weight`` and ``max_sigops_cost`` are the budgets for these transactions alone (the
    caller reserves room for the coinbase and coinstake)."""
    entries = graph.entries
    heap: list[tuple[Fraction, int, bytes, int]] = []
    stamps: dict[bytes, int] = {}
    for txid, entry in entries.items():
        stamps[txid] = 0
        heap.append((-Fraction(entry.ancestor_fees, entry.ancestor_size), entry.sequence, txid, 0))
    heapq.heapify(heap)
    included: set[bytes] = set()
    failed: set[bytes] = set()
    selected: list[Transaction] = []
    weight = sigops = 0
    while heap:
        _, _, txid, stamp = heapq.heappop(heap)
        if txid in included or txid in failed or stamps[txid] != stamp:
            continue
        package = _package(graph, txid, included)
        package_weight = sum(entries[t].weight for t in package)
        package_sigops = sum(entries[t].sigop_cost for t in package)
        if weight + package_weight > max_weight or sigops + package_sigops > max_sigops_cost:
            failed.add(txid)
            continue
        for member in sorted(package, key=lambda t: (entries[t].ancestor_count,
                                                     entries[t].sequence)):
            selected.append(entries[member].tx)
        included |= package
        weight += package_weight
        sigops += package_sigops
        for descendant in graph.descendants(package) - included:
            if descendant in failed:
                continue
            rest = _package(graph, descendant, included)
            fees = sum(entries[t].fee for t in rest)
            size = sum(entries[t].vsize for t in rest)
            stamps[descendant] += 1
            heapq.heappush(heap, (-Fraction(fees, size), entries[descendant].sequence,
                                  descendant, stamps[descendant]))
    return selected


__all__ = ["select_for_block"]
