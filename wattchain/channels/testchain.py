"""A small in-process chain for channel tests, the EV demo and the channel benchmark.

A real :class:`~wattchain.node.chainstate.Chainstate` on disk fed with real Proof-of-Stake
blocks from :mod:`wattchain.node.chaingen`: funding, closing and penalty transactions are
validated by consensus code (scripts included) when :meth:`TestChain.mine` puts them in a
block, so what a channel test asserts about the chain is true on a real chain. It also plays
the node's :class:`Broadcaster` (a broadcast tx waits in ``pending`` for the next block) and a
:class:`FundingSource` (spending the generator's premined key-owned coins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from wattchain.consensus.params import ChainParams
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Branch, Key, Spendable, far_future_now, generated_params,
                                     make_keys, sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.node.events import ChainListener


class ChainRejected(RuntimeError):
    """A block with our transactions was refused by the chainstate (reason attached)."""


class TestChain:
    """Chainstate + block generator + broadcast queue + funding wallet."""

    __test__ = False  # not a pytest class

    def __init__(self, datadir: Path, *, n_keys: int = 4, outputs_per_key: int = 8,
                 value: int = 50 * COIN) -> None:
        self.keys: list[Key] = make_keys(n_keys, seed=99)
        self.params: ChainParams = generated_params(self.keys, outputs_per_key, value)
        self.branch = Branch(self.params, self.keys)
        self.chainstate = Chainstate.open(Path(datadir), self.params, sync=False)
        self.now = far_future_now(self.params)
        self.pending: list[Transaction] = []
        self.broadcast_event = asyncio.Event()
        self._reserved: set[OutPoint] = set()

    def close(self) -> None:
        self.chainstate.close()

    def subscribe(self, listener: ChainListener) -> None:
        self.chainstate.subscribe(listener)

    @property
    def height(self) -> int:
        return self.chainstate.tip.height

    # ------------------------------------------------------------------ Broadcaster
    def broadcast(self, tx: Transaction) -> None:
        if all(p.txid != tx.txid for p in self.pending):
            self.pending.append(tx)
        self.broadcast_event.set()

    async def wait_broadcast(self, predicate: Callable[[Transaction], bool] = lambda tx: True
                             ) -> Transaction:
        """The first pending tx matching ``predicate`` (waiting for broadcasts, no sleep)."""
        while True:
            for tx in self.pending:
                if predicate(tx):
                    return tx
            self.broadcast_event.clear()
            await self.broadcast_event.wait()

    # ------------------------------------------------------------------ FundingSource
    def _coin(self, amount_sat: int) -> Spendable:
        coins = [c for c in self.branch.mature_coins()
                 if c.key is not None and c.outpoint not in self._reserved
                 and c.output.value >= amount_sat + 10_000]
        if not coins:
            raise RuntimeError("no coin large enough to fund")
        coin = min(coins, key=lambda c: (c.output.value, c.outpoint.txid))
        self._reserved.add(coin.outpoint)
        # Never stake a coin a pending tx spends (Branch skips "staked" outpoints).
        self.branch.staked.add(coin.outpoint)
        return coin

    def fund(self, script_pubkey: bytes, amount_sat: int) -> Transaction:
        """A signed tx paying ``amount_sat`` to ``script_pubkey`` with change to the coin's
        key and a 2,000-sat fee."""
        return self.pay(script_pubkey, amount_sat)

    def pay(self, script_pubkey: bytes, amount_sat: int, fee: int = 2_000) -> Transaction:
        coin = self._coin(amount_sat)
        assert coin.key is not None
        change = coin.output.value - amount_sat - fee
        unsigned = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                               (TxOut(amount_sat, script_pubkey),
                                TxOut(change, coin.key.script_pubkey)), 0)
        return sign_transaction(unsigned, [coin])

    # ------------------------------------------------------------------ mining
    def mine(self, txs: list[Transaction] | None = None, n: int = 1) -> None:
        """Stake ``n`` blocks; the first holds ``txs`` (default: every pending broadcast)."""
        batch = list(self.pending) if txs is None else list(txs)
        if txs is None:
            self.pending.clear()
        else:
            self.pending = [p for p in self.pending if p.txid not in {t.txid for t in txs}]
        for i in range(n):
            block = self.branch.make_block(batch if i == 0 else [])
            self.now = max(self.now, block.header.time + 1)
            result = self.chainstate.process_block(block, self.now)
            if not result.accepted:
                self.branch.staked.add(block.header.prevout_stake)  # stored, stake now used
                raise ChainRejected(f"{result.reason}: {result.detail}")
            self.branch.add(block)
            self._evict_conflicts(block.transactions)

    def reorg(self, depth: int, n: int | None = None) -> None:
        """Replace the top ``depth`` blocks with ``n`` (default ``depth + 1``) empty blocks of
        a fork, which overtakes the current chain: the chainstate disconnects and connects
        blocks as in any reorg. Pending broadcasts stay pending."""
        n = depth + 1 if n is None else n
        branch = self.branch.fork(self.branch.height - depth)
        for _ in range(n):
            block = branch.make_block([])
            self.now = max(self.now, block.header.time + 1)
            result = self.chainstate.process_block(block, self.now)
            if not result.accepted:
                raise ChainRejected(f"{result.reason}: {result.detail}")
            branch.add(block)
        if self.chainstate.tip.hash != branch.tip.hash:
            raise ChainRejected("the fork did not become the active chain")
        self.branch = branch

    def _evict_conflicts(self, confirmed: "tuple[Transaction, ...] | list[Transaction]") -> None:
        """Drop pending txs that spend an outpoint a confirmed tx spent (a mempool evicts
        double spends on block connection: a replaced penalty must not poison the next
        block)."""
        spent = {txin.prevout for tx in confirmed for txin in tx.inputs}
        self.pending = [p for p in self.pending
                        if not any(txin.prevout in spent for txin in p.inputs)]
