"""Everything a channel node broadcasts goes through one outbox, so that it can be re-sent.

Two situations lose a broadcast transaction that the node's money depends on (a penalty, a
sweep, an HTLC claim, our own commitment):

* **a reorg** takes the block holding it off the active chain. A full node's mempool re-adds
  the transactions of disconnected blocks, but the channel node cannot rely on the broadcaster
  being one (and a light embedding has none), so the outbox re-broadcasts every transaction
  of its own that left the chain and did not come back — unless it spends an output of a
  transaction that itself left the chain for good (e.g. a penalty whose revoked commitment
  was reorged out: the watcher will build a new one if that commitment confirms again).
* **a restart** in the middle of a resolution: :mod:`.recovery` replays recent blocks through
  the guards with the outbox *held* (collecting instead of sending), then sends only what is
  still spendable at the tip.

It is a chain listener (``Chainstate.subscribe``); :func:`guards.guard` subscribes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from wattchain.core.tx import OutPoint, Transaction

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

#: Transactions confirmed deeper than this are forgotten (no reorg is expected to undo them).
FORGET_DEPTH = 100


class Broadcaster(Protocol):
    def broadcast(self, tx: Transaction) -> None: ...


class Outbox:
    """Sends through ``broadcaster`` and remembers what it sent until it is buried."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self.broadcaster = broadcaster
        #: Our transactions not yet buried FORGET_DEPTH deep, by txid.
        self.sent: dict[bytes, Transaction] = {}
        self._confirmed_at: dict[bytes, int] = {}
        self._held: list[Transaction] | None = None
        #: Blocks (their transactions) disconnected since the last tip change, tip first,
        #: and the txids connected since then.
        self._gone: list[tuple[Transaction, ...]] = []
        self._back: set[bytes] = set()

    def broadcast(self, tx: Transaction) -> None:
        self.sent[tx.txid] = tx
        if self._held is not None:
            if all(t.txid != tx.txid for t in self._held):
                self._held.append(tx)
        else:
            self.broadcaster.broadcast(tx)

    # ------------------------------------------------------------------ restart replay
    def hold(self) -> None:
        """Collect broadcasts instead of sending them (during a replay of old blocks)."""
        self._held = []

    def release(self, spendable: Callable[[OutPoint], bool]) -> list[Transaction]:
        """Stop holding; send (and return) the collected transactions whose every input is
        still ``spendable`` — the others were confirmed, or lost a race, during the replayed
        stretch."""
        held, self._held = self._held or [], None
        out = [tx for tx in held if all(spendable(txin.prevout) for txin in tx.inputs)]
        for tx in out:
            self.broadcaster.broadcast(tx)
        return out

    # ------------------------------------------------------------------ chain listener
    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        for tx in block.transactions:
            self._back.add(tx.txid)
            if tx.txid in self.sent:
                self._confirmed_at[tx.txid] = entry.height
        buried = [t for t, h in self._confirmed_at.items() if h <= entry.height - FORGET_DEPTH]
        for txid in buried:
            del self._confirmed_at[txid]
            self.sent.pop(txid, None)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self._gone.append(tuple(block.transactions))
        for tx in block.transactions:
            self._back.discard(tx.txid)
            self._confirmed_at.pop(tx.txid, None)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        """After a reorg: re-send our transactions that left the chain for good."""
        if not self._gone:
            self._back.clear()
            return
        gone = [tx for txs in reversed(self._gone) for tx in txs]  # chain order
        lost = {tx.txid for tx in gone} - self._back
        resend = [tx for tx in gone if tx.txid in lost and tx.txid in self.sent
                  and not any(txin.prevout.txid in lost for txin in tx.inputs)]
        self._gone.clear()
        self._back.clear()
        for tx in resend:
            self.broadcaster.broadcast(tx)
