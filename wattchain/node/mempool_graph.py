"""The mempool's transaction graph: entries, spender index, and package aggregates.

Pure bookkeeping with no validation: the mempool validates, then calls :meth:`TxGraph.add` /
:meth:`TxGraph.remove`. Keeping it apart makes the invariants checkable on their own
(:meth:`TxGraph.check` recomputes every aggregate from scratch; the tests call it).

Invariants: ``spenders`` maps every outpoint spent by a pooled tx to that tx; ``parents`` /
``children`` link pooled txs that spend each other's outputs; each entry's ancestor and
descendant aggregates (count, vsize, fees, sigops) equal the sums over its ancestor /
descendant set including itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from wattchain.core.tx import OutPoint
from wattchain.node.mempool_entry import MempoolEntry


class TxGraph:
    def __init__(self) -> None:
        self.entries: dict[bytes, MempoolEntry] = {}
        self.by_wtxid: dict[bytes, bytes] = {}
        self.spenders: dict[OutPoint, bytes] = {}
        self.usage = 0
        self.total_vsize = 0
        self.total_fee = 0
        self._next_sequence = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self.entries

    def next_sequence(self) -> int:
        """Arrival order: a child always gets a higher number than its in-pool parents."""
        self._next_sequence += 1
        return self._next_sequence

    # ------------------------------------------------------------------ relatives
    def parents_of_inputs(self, prevouts: Iterable[OutPoint]) -> set[bytes]:
        return {op.txid for op in prevouts if op.txid in self.entries}

    def ancestors_of(self, parents: Iterable[bytes]) -> set[bytes]:
        """All in-pool ancestors of a tx whose direct in-pool parents are ``parents``."""
        result: set[bytes] = set()
        stack = list(parents)
        while stack:
            txid = stack.pop()
            if txid in result:
                continue
            result.add(txid)
            stack.extend(self.entries[txid].parents)
        return result

    def ancestors(self, txid: bytes) -> set[bytes]:
        """Ancestors of a pooled tx (not including itself)."""
        return self.ancestors_of(self.entries[txid].parents)

    def descendants(self, txids: Iterable[bytes]) -> set[bytes]:
        """``txids`` plus every pooled descendant of them."""
        result: set[bytes] = set()
        stack = list(txids)
        while stack:
            txid = stack.pop()
            if txid in result or txid not in self.entries:
                continue
            result.add(txid)
            stack.extend(self.entries[txid].children)
        return result

    # ------------------------------------------------------------------ changes
    def add(self, entry: MempoolEntry) -> None:
        """Insert a validated entry: link relatives, update aggregates and the indexes."""
        txid = entry.txid
        if txid in self.entries:
            raise ValueError(f"{entry!r} is already pooled")
        entry.parents = self.parents_of_inputs(txin.prevout for txin in entry.tx.inputs)
        ancestors = self.ancestors_of(entry.parents)
        entry.children = set()
        entry.ancestor_count = 1 + len(ancestors)
        entry.ancestor_size = entry.vsize
        entry.ancestor_fees = entry.fee
        entry.ancestor_sigops = entry.sigop_cost
        entry.descendant_count, entry.descendant_size, entry.descendant_fees = (
            1, entry.vsize, entry.fee)
        for ancestor_id in ancestors:
            ancestor = self.entries[ancestor_id]
            entry.ancestor_size += ancestor.vsize
            entry.ancestor_fees += ancestor.fee
            entry.ancestor_sigops += ancestor.sigop_cost
            ancestor.descendant_count += 1
            ancestor.descendant_size += entry.vsize
            ancestor.descendant_fees += entry.fee
        for parent_id in entry.parents:
            self.entries[parent_id].children.add(txid)
        self.entries[txid] = entry
        self.by_wtxid[entry.wtxid] = txid
        for txin in entry.tx.inputs:
            self.spenders[txin.prevout] = txid
        self.usage += entry.usage
        self.total_vsize += entry.vsize
        self.total_fee += entry.fee

    def remove(self, txids: Iterable[bytes]) -> list[MempoolEntry]:
        """Remove exactly ``txids`` (callers add descendants when they must go too). Entries
        that stay have their aggregates reduced by the removed relatives."""
        doomed = {txid for txid in txids if txid in self.entries}
        relatives = {txid: (self.ancestors(txid) - doomed, self.descendants((txid,)) - doomed)
                     for txid in doomed}
        removed = []
        for txid, (ancestors, descendants) in relatives.items():
            entry = self.entries[txid]
            for ancestor_id in ancestors:
                ancestor = self.entries[ancestor_id]
                ancestor.descendant_count -= 1
                ancestor.descendant_size -= entry.vsize
                ancestor.descendant_fees -= entry.fee
            for descendant_id in descendants:
                descendant = self.entries[descendant_id]
                descendant.ancestor_count -= 1
                descendant.ancestor_size -= entry.vsize
                descendant.ancestor_fees -= entry.fee
                descendant.ancestor_sigops -= entry.sigop_cost
        for txid in doomed:
            entry = self.entries.pop(txid)
            for parent_id in entry.parents:
                parent = self.entries.get(parent_id)
                if parent is not None:
                    parent.children.discard(txid)
            for child_id in entry.children:
                child = self.entries.get(child_id)
                if child is not None:
                    child.parents.discard(txid)
            self.by_wtxid.pop(entry.wtxid, None)
            for txin in entry.tx.inputs:
                if self.spenders.get(txin.prevout) == txid:
                    del self.spenders[txin.prevout]
            self.usage -= entry.usage
            self.total_vsize -= entry.vsize
            self.total_fee -= entry.fee
            removed.append(entry)
        return removed

    def clear(self) -> list[MempoolEntry]:
        """Empty the graph; returns the entries in arrival order."""
        entries = sorted(self.entries.values(), key=lambda e: e.sequence)
        self.entries.clear()
        self.by_wtxid.clear()
        self.spenders.clear()
        self.usage = self.total_vsize = self.total_fee = 0
        return entries

    # ------------------------------------------------------------------ self-check
    def check(self) -> None:
        """Recompute every link and aggregate; AssertionError on any mismatch (tests)."""
        for txid, entry in self.entries.items():
            parents = self.parents_of_inputs(txin.prevout for txin in entry.tx.inputs)
            assert entry.parents == parents, f"parents of {entry!r}"
            for parent_id in parents:
                assert txid in self.entries[parent_id].children
            ancestors = self.ancestors(txid) | {txid}
            descendants = self.descendants((txid,))
            assert entry.ancestor_count == len(ancestors), f"ancestor count of {entry!r}"
            assert entry.ancestor_size == sum(self.entries[a].vsize for a in ancestors)
            assert entry.ancestor_fees == sum(self.entries[a].fee for a in ancestors)
            assert entry.ancestor_sigops == sum(self.entries[a].sigop_cost for a in ancestors)
            assert entry.descendant_count == len(descendants), f"descendants of {entry!r}"
            assert entry.descendant_size == sum(self.entries[d].vsize for d in descendants)
            assert entry.descendant_fees == sum(self.entries[d].fee for d in descendants)
            for txin in entry.tx.inputs:
                assert self.spenders[txin.prevout] == txid
        assert len(self.spenders) == sum(len(e.tx.inputs) for e in self.entries.values())
        assert self.usage == sum(e.usage for e in self.entries.values())


__all__ = ["TxGraph"]
