"""BIP125 replace-by-fee: each rule refused when broken, the replacement accepted when met."""

from __future__ import annotations

import pytest

from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolRejectError

from .mempool_helpers import NO_RBF, Wallet, chainstate, make_pool, pool, wallet  # noqa: F401


def _refused(pool: Mempool, tx, reason: str) -> MempoolRejectError:  # type: ignore[no-untyped-def]
    before = pool.txids()
    with pytest.raises(MempoolRejectError) as info:
        pool.accept(tx)
    assert info.value.reason == reason
    assert pool.txids() == before
    pool.graph.check()
    return info.value


def test_replacement_accepted_evicts_original_and_descendants(pool: Mempool,
                                                              wallet: Wallet) -> None:
    coin = wallet.coin()
    original = wallet.pay([coin], 1000)
    child = wallet.pay(wallet.outputs_of(original), 1000)
    other = wallet.pay([wallet.coin()], 1000)
    for tx in (original, child, other):
        pool.accept(tx)
    replacement = wallet.pay([coin], 2000 + 110)  # covers both + its own bandwidth
    assert pool.test_accept(replacement).replaced == tuple(sorted((original.txid, child.txid)))
    assert len(pool) == 3
    result = pool.accept(replacement)
    assert result.accepted and set(result.replaced) == {original.txid, child.txid}
    assert set(pool.txids()) == {other.txid, replacement.txid}
    assert pool.spender_of(coin.outpoint) == replacement.txid
    pool.graph.check()


def test_rule1_original_must_signal(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate)
    coin = wallet.coin()
    pool.accept(wallet.pay([coin], 1000, sequence=NO_RBF))
    _refused(pool, wallet.pay([coin], 100_000), "txn-mempool-conflict")
    full_rbf = make_pool(chainstate, full_rbf=True)
    full_rbf.chainstate.events.unsubscribe(full_rbf)
    full_rbf.accept(wallet.pay([coin], 1000, sequence=NO_RBF))
    assert full_rbf.accept(wallet.pay([coin], 100_000)).replaced


def test_rule2_no_new_unconfirmed_inputs(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    pool.accept(wallet.pay([coin], 1000))
    unrelated = wallet.pay([wallet.coin()], 1000)
    pool.accept(unrelated)
    replacement = wallet.pay([coin, wallet.outputs_of(unrelated)[0]], 100_000)
    _refused(pool, replacement, "replacement-adds-unconfirmed")
    # The same replacement adding a *confirmed* input instead is fine.
    assert pool.accept(wallet.pay([coin, wallet.coin()], 100_000)).accepted


def test_rule3_absolute_fee(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    original = wallet.pay([coin], 5000, n_outputs=20)  # large, so a low feerate
    pool.accept(original)
    smaller = wallet.pay([coin], 4999)  # far higher feerate, lower absolute fee
    assert 4999 / smaller.vsize > 5000 / original.vsize
    error = _refused(pool, smaller, "insufficient fee")
    assert "less fees" in error.detail


def test_rule4_pays_for_own_bandwidth(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    pool.accept(wallet.pay([coin], 1000))
    replacement = wallet.pay([coin], 1000 + 109)  # needs 110 more for its 110 vbytes
    assert replacement.vsize == 110
    error = _refused(pool, replacement, "insufficient fee")
    assert "additional fees" in error.detail
    assert pool.accept(wallet.pay([coin], 1000 + 110)).accepted


def test_feerate_must_beat_each_conflict(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    pool.accept(wallet.pay([coin], 2000))
    bigger = wallet.pay([coin], 15_000, n_outputs=30)  # rules 3 and 4 hold, feerate lower
    assert 15_000 - 2000 >= bigger.vsize and 15_000 / bigger.vsize <= 2000 / 110
    error = _refused(pool, bigger, "insufficient fee")
    assert "feerate" in error.detail


def test_rule5_max_replacements(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate, max_replacements=3)
    coin = wallet.coin()
    chain = wallet.chain(coin, 4)
    for tx in chain:
        pool.accept(tx)
    _refused(pool, wallet.pay([coin], 100_000), "too many potential replacements")
    pool.remove([chain[3].txid])
    assert pool.accept(wallet.pay([coin], 100_000)).replaced == tuple(
        sorted(tx.txid for tx in chain[:3]))


def test_replacement_cannot_spend_what_it_replaces(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    parent = wallet.pay([coin], 1000, n_outputs=2)
    pool.accept(parent)
    # Conflicts with ``parent`` (same coin) while spending ``parent``'s output.
    bad = wallet.pay([coin, wallet.outputs_of(parent)[0]], 100_000)
    _refused(pool, bad, "bad-txns-spends-conflicting-tx")
