"""Helpers for the mempool tests: a wallet of premine coins that builds signed spends."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from wattchain.consensus.coins import Coin, CoinsViewCache
from wattchain.consensus.params import ChainParams
from wattchain.consensus.tx_verify import check_tx_inputs
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import ANYONE_CAN_SPEND, Branch, Key, Spendable, sign_transaction
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool
from wattchain.node.policy import MempoolPolicy

#: BIP125-signalling sequence, and the largest non-signalling one (nLockTime still enabled).
RBF = 0xFFFFFFFD
NO_RBF = 0xFFFFFFFE


class Wallet:
    """Hands out the branch's mature coins and builds signed P2WPKH/OP_TRUE spends."""

    def __init__(self, branch: Branch) -> None:
        self.branch = branch
        self.keys: list[Key] = branch.keys
        self.unused = sorted(branch.mature_coins(), key=lambda c: (c.outpoint.txid,
                                                                   c.outpoint.index))

    def coin(self) -> Spendable:
        """An unused coin still unspent on the branch (blocks may have staked some)."""
        while True:
            coin = self.unused.pop(0)
            if coin.outpoint in self.branch.coins:
                return coin

    def build(self, inputs: Sequence[Spendable], values: Sequence[int], *,
              scripts: Sequence[bytes] | None = None, sequence: int = RBF, locktime: int = 0,
              version: int = 2, sign: bool = True) -> Transaction:
        """A tx spending ``inputs`` into outputs of ``values`` (paying key 0 by default)."""
        if scripts is None:
            scripts = [self.keys[0].script_pubkey] * len(values)
        outputs = tuple(TxOut(v, s) for v, s in zip(values, scripts))
        unsigned = Transaction(version, tuple(TxIn(c.outpoint, b"", sequence) for c in inputs),
                               outputs, locktime)
        return sign_transaction(unsigned, inputs) if sign else unsigned

    def pay(self, inputs: Sequence[Spendable], fee: int, n_outputs: int = 1, **kwargs: object
            ) -> Transaction:
        """Spend ``inputs`` minus ``fee`` into ``n_outputs`` equal outputs to key 0."""
        total = sum(c.output.value for c in inputs) - fee
        values = [total // n_outputs] * n_outputs
        values[0] += total - sum(values)
        return self.build(inputs, values, **kwargs)  # type: ignore[arg-type]

    def outputs_of(self, tx: Transaction) -> list[Spendable]:
        """The tx's outputs as spendable coins (for building children)."""
        result = []
        for index, out in enumerate(tx.outputs):
            key: Key | None
            if out.script_pubkey == ANYONE_CAN_SPEND:
                key = None
            else:
                key = next((k for k in self.keys if k.script_pubkey == out.script_pubkey), None)
                if key is None:
                    continue
            result.append(Spendable(OutPoint(tx.txid, index), out, 0, False, key))
        return result

    def chain(self, start: Spendable, length: int, fee: int = 1000) -> list[Transaction]:
        """``length`` txs each spending the previous one's output 0."""
        txs = []
        coin = start
        for _ in range(length):
            tx = self.pay([coin], fee)
            txs.append(tx)
            coin = self.outputs_of(tx)[0]
        return txs


def connects_in_order(chainstate: Chainstate, txs: list[Transaction]) -> bool:
    """Apply ``txs`` in order on the tip's UTXO set, as a block would (inputs, values)."""
    view = CoinsViewCache(chainstate.cache)
    height = chainstate.tip.height + 1
    for tx in txs:
        check_tx_inputs(tx, view, height, chainstate.params)  # raises if not connectable
        for txin in tx.inputs:
            view.spend_coin(txin.prevout)
        for index, out in enumerate(tx.outputs):
            view.add_coin(OutPoint(tx.txid, index), Coin(out, height, False))
    return True


# ------------------------------------------------------------------------------ fixtures
# Imported by the test modules (conftest.py belongs to the chainstate tests).

#: The tests' wall clock: well after the genesis (entry times, expiry, orphan ages).
NOW = 1_800_000_000


def make_pool(chainstate: Chainstate, **policy: object) -> Mempool:
    return Mempool(chainstate, MempoolPolicy(**policy),  # type: ignore[arg-type]
                   clock=lambda: NOW, rng=random.Random(7))


@pytest.fixture
def chainstate(tmp_path: Path, params: ChainParams) -> Iterator[Chainstate]:
    cs = Chainstate.open(tmp_path / "node", params, sync=False)
    yield cs
    cs.close()


@pytest.fixture
def wallet(branch: Branch) -> Wallet:
    return Wallet(branch)


@pytest.fixture
def pool(chainstate: Chainstate) -> Mempool:
    return make_pool(chainstate)
