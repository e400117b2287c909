"""Block template selection: ancestor-feerate packages (CPFP), budgets, and validity."""

from __future__ import annotations

from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool

from .mempool_helpers import Wallet, chainstate, connects_in_order, pool, wallet  # noqa: F401


def test_child_pays_for_parent(pool: Mempool, wallet: Wallet, chainstate: Chainstate) -> None:
    parent = wallet.pay([wallet.coin()], 200)
    child = wallet.pay(wallet.outputs_of(parent), 20_000)
    medium = wallet.pay([wallet.coin()], 5000)
    low = wallet.pay([wallet.coin()], 3000)
    for tx in (low, child, medium, parent):  # child before parent: via the orphan pool
        pool.accept(tx)
    assert len(pool) == 4
    selected = pool.select_for_block(4_000_000, 80_000)
    assert selected == [parent, child, medium, low]
    assert connects_in_order(chainstate, selected)


def test_without_the_child_the_parent_goes_last(pool: Mempool, wallet: Wallet) -> None:
    parent = wallet.pay([wallet.coin()], 200)
    medium = wallet.pay([wallet.coin()], 5000)
    pool.accept(parent)
    pool.accept(medium)
    assert pool.select_for_block(4_000_000, 80_000) == [medium, parent]


def test_packages_share_ancestors(pool: Mempool, wallet: Wallet, chainstate: Chainstate) -> None:
    parent = wallet.pay([wallet.coin()], 500, n_outputs=2)
    kid_a, kid_b = (wallet.pay([out], fee)
                    for out, fee in zip(wallet.outputs_of(parent), (9000, 4000)))
    other = wallet.pay([wallet.coin()], 7000)
    middle = wallet.pay([wallet.coin()], 4100)
    for tx in (parent, kid_a, kid_b, other, middle):
        pool.accept(tx)
    selected = pool.select_for_block(4_000_000, 80_000)
    pkg_a = (500 + 9000) / (parent.vsize + kid_a.vsize)
    assert 7000 / other.vsize > pkg_a > 4100 / middle.vsize > 4000 / kid_b.vsize
    # kid_b's own package (with the parent) scores 4500/251 at first; once the parent is in,
    # it is re-scored alone (4000/110), which puts it just behind ``middle``.
    assert selected == [other, parent, kid_a, middle, kid_b]
    assert connects_in_order(chainstate, selected)


def test_weight_and_sigop_budgets(pool: Mempool, wallet: Wallet, chainstate: Chainstate) -> None:
    parent = wallet.pay([wallet.coin()], 200)
    child = wallet.pay(wallet.outputs_of(parent), 20_000)
    single = wallet.pay([wallet.coin()], 5000)
    for tx in (parent, child, single):
        pool.accept(tx)
    assert pool.select_for_block(single.weight + 1, 80_000) == [single]
    assert pool.select_for_block(4_000_000, 1) == [single]  # each P2WPKH input costs 1
    assert pool.select_for_block(4_000_000, 0) == []
    assert pool.select_for_block(4_000_000, 3) == [parent, child, single]
