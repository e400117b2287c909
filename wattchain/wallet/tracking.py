"""Following the chain: the wallet as a chainstate listener, mempool notifications, rescans.

Each block's effect (its wallet transactions, addresses that became used, the new best block)
is committed in one batch, so the stored wallet always matches some block the chainstate
connected; on open the wallet catches up from that block, undoing what a reorg (while it was
closed) removed from the active chain.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from wattchain.core.tx import Transaction
from wattchain.node.kvstore import Batch
from wattchain.wallet import store
from wattchain.wallet.errors import InvalidAddressOrKey, WalletError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry
    from wattchain.node.chainstate import Chainstate
    from wattchain.node.mempool import Mempool

log = logging.getLogger(__name__)


class ChainTracking:
    """Mixin of :class:`~wattchain.wallet.wallet.Wallet` (uses its ledger, keyring and db)."""

    chainstate: "Chainstate | None"

    if TYPE_CHECKING:  # provided by Wallet (stubs would shadow it)
        def _write_state(self, batch: Batch) -> None: ...
        def _now(self) -> int: ...

    # ------------------------------------------------------------------ listener interface
    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        batch = Batch()
        self._connect(block, entry.height, entry.hash, batch)
        self._write_state(batch)
        self.db.commit(batch)  # type: ignore[attr-defined]

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        batch = Batch()
        ledger = self.ledger  # type: ignore[attr-defined]
        for tx in reversed(block.transactions):
            ledger.unconfirm(tx.txid, batch)
        ledger.tip_height = entry.height - 1
        ledger.tip_hash = entry.header.prev_hash
        self._write_state(batch)
        self.db.commit(batch)  # type: ignore[attr-defined]

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        self.ledger.tip_height = tip.height  # type: ignore[attr-defined]
        self.ledger.tip_hash = tip.hash  # type: ignore[attr-defined]

    def transaction_added(self, tx: Transaction) -> bool:
        """A transaction entered the mempool (or this wallet created it): record it if it
        touches the wallet. Returns whether it did."""
        if self.db.kv.closed:  # type: ignore[attr-defined]
            return False  # a closed wallet still registered with a mempool
        batch = Batch()
        if not self.ledger.add(tx, batch, self._now()):  # type: ignore[attr-defined]
            return False
        self._write_state(batch)
        self.db.commit(batch)  # type: ignore[attr-defined]
        return True

    def abandon_transaction(self, txid: bytes) -> None:
        """abandontransaction: forget an unconfirmed wallet tx (and its unconfirmed wallet
        descendants) so its inputs can be spent again. The caller must make sure it is not in
        the mempool (Core's rule), since a later confirmation would be recorded again anyway."""
        ledger = self.ledger  # type: ignore[attr-defined]
        wtx = ledger.txs.get(txid)
        if wtx is None:
            raise InvalidAddressOrKey("Invalid or non-wallet transaction id")
        if wtx.height is not None:
            raise WalletError("Transaction not eligible for abandonment")
        batch = Batch()
        for victim in reversed(ledger.unconfirmed_descendants(txid)):
            ledger.forget(victim, batch)
        self._write_state(batch)
        self.db.commit(batch)  # type: ignore[attr-defined]

    def _connect(self, block: "StakeBlock", height: int, block_hash: bytes,
                 batch: Batch) -> None:
        ledger = self.ledger  # type: ignore[attr-defined]
        keyring = self.keyring  # type: ignore[attr-defined]
        now = self._now()
        for pos, tx in enumerate(block.transactions):
            if ledger.add(tx, batch, now, block_hash=block_hash, height=height, pos=pos,
                          block_time=block.header.time):
                for info in keyring.top_up():
                    store.put_script(batch, info.script_pubkey, info.to_record())
        ledger.tip_height = height
        ledger.tip_hash = block_hash

    # ------------------------------------------------------------------ catching up
    def attach(self, chainstate: "Chainstate", mempool: "Mempool | None" = None) -> None:
        """Follow ``chainstate``: catch up from the wallet's best block, then subscribe; with
        ``mempool``, also record its current and future transactions that touch the wallet
        (through ``Mempool.add_listener``)."""
        self.chainstate = chainstate
        self.catch_up(chainstate)
        chainstate.subscribe(self)  # type: ignore[arg-type]
        if mempool is not None:
            for txid in mempool.txids():
                tx = mempool.get(txid)
                if tx is not None:
                    self.transaction_added(tx)
            mempool.add_listener(self.transaction_added)

    def catch_up(self, chainstate: "Chainstate") -> None:
        ledger = self.ledger  # type: ignore[attr-defined]
        meta: dict[str, Any] = self.meta  # type: ignore[attr-defined]
        birth = meta.get("birth")
        start = chainstate.tip.height if birth is None else int(birth)
        if ledger.tip_hash is not None:
            entry = chainstate.get_entry(ledger.tip_hash)
            fork = chainstate.chain.find_fork(entry) if entry is not None else None
            fork_height = fork.height if fork is not None else -1
            if fork_height < ledger.tip_height:
                self._undo_above(fork_height)
            start = fork_height + 1
        self.rescan(chainstate, start)

    def _undo_above(self, height: int) -> None:
        """Unconfirm every wallet transaction above ``height`` (blocks no longer active)."""
        ledger = self.ledger  # type: ignore[attr-defined]
        batch = Batch()
        for wtx in list(ledger.txs.values()):
            if wtx.height is not None and wtx.height > height:
                ledger.unconfirm(wtx.txid, batch)
        ledger.tip_height = height
        ledger.tip_hash = None
        self._write_state(batch)
        self.db.commit(batch)  # type: ignore[attr-defined]

    def rescan(self, chainstate: "Chainstate", start_height: int = 0) -> int:
        """Read the active chain from ``start_height`` to the tip into the wallet; returns the
        number of blocks read. Commits once per block (crash-consistent)."""
        tip = chainstate.tip.height
        start = max(0, start_height)
        for height in range(start, tip + 1):
            entry = chainstate.chain.at(height)
            assert entry is not None
            block = chainstate.read_block(entry)
            batch = Batch()
            self._connect(block, height, entry.hash, batch)
            self._write_state(batch)
            self.db.commit(batch)  # type: ignore[attr-defined]
        if tip >= 0 and start > tip:
            self.ledger.tip_height = tip  # type: ignore[attr-defined]
            self.ledger.tip_hash = chainstate.tip.hash  # type: ignore[attr-defined]
        return max(0, tip + 1 - start)
