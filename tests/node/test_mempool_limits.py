"""The memory cap (eviction order, rolling minimum fee, "mempool full") and expiry."""

from __future__ import annotations

import pytest

from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolRejectError
from wattchain.node.mempool_entry import entry_usage

from .mempool_helpers import NOW, Wallet, chainstate, pool, wallet, make_pool  # noqa: F401


def _capped_pool(chainstate: Chainstate, wallet: Wallet, n: int) -> Mempool:
    """A pool whose cap holds ``n`` one-in-one-out P2WPKH txs but not ``n + 1``."""
    probe = wallet.pay([wallet.unused[-1]], 1000)
    return make_pool(chainstate, max_bytes=n * entry_usage(probe) + 50)


def test_lowest_feerate_evicted_and_floor_rises(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = _capped_pool(chainstate, wallet, 3)
    low, high, mid = (wallet.pay([wallet.coin()], fee) for fee in (1000, 5000, 3000))
    for tx in (low, high, mid):
        pool.accept(tx)
    assert pool.min_fee_rate() == 0
    newcomer = wallet.pay([wallet.coin()], 4000)
    pool.accept(newcomer)
    assert set(pool.txids()) == {high.txid, mid.txid, newcomer.txid}
    floor = 1000 * 1000 // low.vsize + pool.policy.incremental_relay_fee_rate
    assert pool.min_fee_rate() == floor
    assert pool.info().mempoolminfee == floor
    cheap = wallet.pay([wallet.coin()], floor * 110 // 1000 - 1)
    with pytest.raises(MempoolRejectError) as info:
        pool.accept(cheap)
    assert info.value.reason == "mempool min fee not met"
    pool.graph.check()


def test_floor_decays_only_after_a_block(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = _capped_pool(chainstate, wallet, 1)
    pool.accept(wallet.pay([wallet.coin()], 1000))
    pool.accept(wallet.pay([wallet.coin()], 2000))
    floor = pool.min_fee_rate(NOW)
    assert floor > 0
    halflife = pool.policy.rolling_fee_halflife
    assert pool.min_fee_rate(NOW + halflife) == floor  # no block yet: no decay
    pool.block_connected(chainstate.params.genesis_block, chainstate.tip_entry)  # empty block
    assert pool.min_fee_rate(NOW + halflife) == round(floor / 2)
    assert pool.min_fee_rate(NOW + 20 * halflife) == 0


def test_new_tx_evicted_at_once_is_mempool_full(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = _capped_pool(chainstate, wallet, 2)
    rich = [wallet.pay([wallet.coin()], 9000) for _ in range(2)]
    for tx in rich:
        pool.accept(tx)
    poor = wallet.pay([wallet.coin()], 1000)
    with pytest.raises(MempoolRejectError) as info:
        pool.accept(poor)
    assert info.value.reason == "mempool full"
    assert set(pool.txids()) == {tx.txid for tx in rich}
    pool.graph.check()


def test_high_fee_child_protects_parent(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = _capped_pool(chainstate, wallet, 3)
    parent = wallet.pay([wallet.coin()], 200)
    child = wallet.pay(wallet.outputs_of(parent), 20_000)
    loner = wallet.pay([wallet.coin()], 1500)
    for tx in (parent, child, loner):
        pool.accept(tx)
    pool.accept(wallet.pay([wallet.coin()], 3000))
    assert not pool.contains(loner.txid)
    assert pool.contains(parent.txid) and pool.contains(child.txid)


def test_package_evicted_with_descendants(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = _capped_pool(chainstate, wallet, 3)
    parent = wallet.pay([wallet.coin()], 150)
    child = wallet.pay(wallet.outputs_of(parent), 200)  # parent's package scores lowest
    pool.accept(parent)
    pool.accept(child)
    keeper = wallet.pay([wallet.coin()], 5000)
    pool.accept(keeper)
    pool.accept(wallet.pay([wallet.coin()], 6000))
    assert not pool.contains(parent.txid) and not pool.contains(child.txid)
    assert pool.contains(keeper.txid) and len(pool) == 2
    pool.graph.check()


def test_expiry_removes_old_txs_and_descendants(pool: Mempool, wallet: Wallet) -> None:
    old = wallet.pay([wallet.coin()], 1000)
    pool.accept(old, now=NOW - 100)
    child = wallet.pay(wallet.outputs_of(old), 1000)
    pool.accept(child, now=NOW)
    fresh = wallet.pay([wallet.coin()], 1000)
    pool.accept(fresh, now=NOW)
    expiry = pool.policy.expiry_seconds
    assert pool.expire(NOW - 100 + expiry) == 0
    assert pool.expire(NOW - 100 + expiry + 1) == 2
    assert pool.txids() == [fresh.txid]
    pool.graph.check()


def test_acceptance_also_expires(pool: Mempool, wallet: Wallet) -> None:
    old = wallet.pay([wallet.coin()], 1000)
    pool.accept(old, now=NOW)
    later = NOW + pool.policy.expiry_seconds + 1
    newer = wallet.pay([wallet.coin()], 1000)
    pool.accept(newer, now=later)
    assert pool.txids() == [newer.txid]
