"""The orphan pool: children arriving before parents, bounds, expiry, invalid orphans."""

from __future__ import annotations

from dataclasses import replace

from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool

from .mempool_helpers import NOW, Wallet, chainstate, make_pool, pool, wallet  # noqa: F401


def test_child_before_parent_resolves(pool: Mempool, wallet: Wallet) -> None:
    parent, child, grandchild = wallet.chain(wallet.coin(), 3)
    for orphan in (grandchild, child):
        result = pool.accept(orphan)
        assert not result.accepted and result.orphan and result.reason == "missing-inputs"
    assert len(pool) == 0 and len(pool.orphans) == 2 and pool.info().orphans == 2
    result = pool.accept(parent)
    assert result.accepted
    assert [tx.txid for tx in result.resolved] == [child.txid, grandchild.txid]
    assert pool.txids() == [parent.txid, child.txid, grandchild.txid]
    assert len(pool.orphans) == 0
    pool.graph.check()


def test_orphan_with_two_missing_parents_waits_for_both(pool: Mempool, wallet: Wallet) -> None:
    left = wallet.pay([wallet.coin()], 1000)
    right = wallet.pay([wallet.coin()], 1000)
    child = wallet.pay(wallet.outputs_of(left) + wallet.outputs_of(right), 1000)
    assert pool.accept(child).orphan
    assert pool.accept(left).resolved == ()
    assert child.txid in pool.orphans
    assert pool.accept(right).resolved == (child,)
    assert pool.contains(child.txid)


def test_invalid_orphan_is_dropped_when_parent_arrives(pool: Mempool, wallet: Wallet) -> None:
    parent = wallet.pay([wallet.coin()], 1000)
    out = wallet.outputs_of(parent)[0]
    forged = wallet.pay([replace(out, key=wallet.keys[2])], 1000)
    assert pool.accept(forged).orphan
    result = pool.accept(parent)
    assert result.resolved == ()
    assert not pool.contains(forged.txid) and forged.txid not in pool.orphans


def test_orphan_pool_is_bounded(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate, max_orphans=3)
    orphans = []
    for _ in range(5):
        parent = wallet.pay([wallet.coin()], 1000)
        orphans.append(wallet.pay(wallet.outputs_of(parent), 1000))
        assert pool.accept(orphans[-1]).orphan
    kept = set(pool.orphans.txids())
    assert len(kept) == 3 and kept <= {tx.txid for tx in orphans}


def test_orphans_expire(pool: Mempool, wallet: Wallet) -> None:
    parent = wallet.pay([wallet.coin()], 1000)
    child = wallet.pay(wallet.outputs_of(parent), 1000)
    pool.accept(child, now=NOW)
    pool.expire(NOW + pool.policy.orphan_expiry_seconds - 1)
    assert child.txid in pool.orphans
    pool.expire(NOW + pool.policy.orphan_expiry_seconds)
    assert child.txid not in pool.orphans
    assert pool.accept(parent).resolved == ()
