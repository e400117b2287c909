"""The mempool following the chain: blocks remove confirmed and conflicting txs, reorgs re-add,
selected transactions make a valid block. Blocks are real PoS blocks from chaingen's Branch,
fed through Chainstate.process_block (the mempool reacts to the chainstate's events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from wattchain.consensus.pos import next_target_bits
from wattchain.core.header import StakeBlock
from wattchain.core.tx import OutPoint, Transaction
from wattchain.consensus.params import ChainParams
from wattchain.node.chaingen import Branch, Key, far_future_now
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolRejectError

from .mempool_helpers import NO_RBF, Wallet, chainstate, make_pool, pool, wallet  # noqa: F401


def mine(branch: Branch, cs: Chainstate, txs: Sequence[Transaction] = (), *,
         avoid: Iterable[OutPoint] = (), only_stake: OutPoint | None = None) -> StakeBlock:
    """Build the next block of ``branch`` holding ``txs``, staking a coin not in ``avoid``
    (or exactly ``only_stake``), add it to the branch and feed it to ``cs``."""
    params = branch.params
    ctx = branch.context()
    bits = next_target_bits(ctx, params)
    earliest = max(branch.tip.header.time + params.target_spacing, ctx.median_time_past + 1)
    exclude = [txin.prevout for tx in txs for txin in tx.inputs] + list(avoid)
    if only_stake is not None:
        exclude += [op for op in branch.coins if op != only_stake]
    stake, time = branch.find_stake(earliest, bits, exclude)
    block = branch.make_block(txs, stake=stake, time_step=time - branch.tip.header.time)
    result = cs.process_block(block, far_future_now(params))
    assert result.accepted, result
    branch.add(block)
    return block


def test_block_removes_confirmed_and_conflicting(pool: Mempool, wallet: Wallet,
                                                 chainstate: Chainstate) -> None:
    branch = wallet.branch
    coin_a, coin_c, coin_e = wallet.coin(), wallet.coin(), wallet.coin()
    a = wallet.pay([coin_a], 1000)
    b = wallet.pay(wallet.outputs_of(a), 1000)
    c = wallet.pay([coin_c], 1000, sequence=NO_RBF)
    d = wallet.pay(wallet.outputs_of(c), 1000)
    e = wallet.pay([coin_e], 1000)
    for tx in (a, b, c, d, e):
        pool.accept(tx)
    rival_c = wallet.pay([coin_c], 5000)  # confirmed instead of c
    mine(branch, chainstate, [a, rival_c], avoid=[coin_e.outpoint])
    assert set(pool.txids()) == {b.txid, e.txid}
    entry_b = pool.get_entry(b.txid)
    assert entry_b is not None and entry_b.parents == set() and entry_b.ancestor_count == 1
    pool.graph.check()
    with pytest.raises(MempoolRejectError) as info:
        pool.accept(a)
    assert info.value.reason == "txn-already-known"
    # Its input is spent on chain: indistinguishable from an unknown parent (Core: orphan).
    assert pool.accept(c).orphan
    mine(branch, chainstate, avoid=[coin_e.outpoint])
    assert c.txid in pool.orphans  # not dropped: nothing in the new block touches it
    assert set(pool.txids()) == {b.txid, e.txid}


def test_coinstake_conflict_is_removed(pool: Mempool, wallet: Wallet,
                                       chainstate: Chainstate) -> None:
    staked = wallet.coin()
    doomed = wallet.pay([staked], 1000)
    child = wallet.pay(wallet.outputs_of(doomed), 1000)
    kept = wallet.pay([wallet.coin()], 1000)
    for tx in (doomed, child, kept):
        pool.accept(tx)
    block = mine(wallet.branch, chainstate, only_stake=staked.outpoint)
    assert block.transactions[1].inputs[0].prevout == staked.outpoint
    assert pool.txids() == [kept.txid]


def test_reorg_readds_disconnected_transactions(pool: Mempool, wallet: Wallet,
                                                chainstate: Chainstate) -> None:
    main = wallet.branch
    fork = main.fork()
    coin_1, coin_2 = wallet.coin(), wallet.coin()
    t1 = wallet.pay([coin_1], 1000)
    t2 = wallet.pay([coin_2], 1000)
    pool.accept(t1)
    pool.accept(t2)
    block1 = mine(main, chainstate, [t1, t2])
    assert len(pool) == 0
    x = wallet.pay(wallet.outputs_of(t1), 1000)  # child of a confirmed tx
    coinstake = block1.transactions[1]
    y = wallet.pay(wallet.outputs_of(coinstake), 1000)  # spends block 1's coinstake
    pool.accept(x)
    pool.accept(y)
    assert pool.get_entry(x.txid).ancestor_count == 1  # type: ignore[union-attr]

    t2_rival = wallet.pay([coin_2], 3000)
    avoid = [coin_1.outpoint, coinstake.inputs[0].prevout]
    mine(fork, chainstate, [t2_rival], avoid=avoid)  # equal work: no reorg yet
    assert chainstate.tip.hash == block1.hash and len(pool) == 2
    mine(fork, chainstate, avoid=avoid)
    assert chainstate.tip.hash == fork.tip.hash
    # t1 is back (with its child x on top); t2 lost to its confirmed rival; y's coin is gone.
    assert set(pool.txids()) == {t1.txid, x.txid}
    assert pool.txids() == [t1.txid, x.txid]
    entry_x = pool.get_entry(x.txid)
    assert entry_x is not None and entry_x.parents == {t1.txid} and entry_x.ancestor_count == 2
    pool.graph.check()


def test_selection_makes_a_valid_block(pool: Mempool, wallet: Wallet,
                                       chainstate: Chainstate) -> None:
    parent = wallet.pay([wallet.coin()], 200, n_outputs=2)
    child = wallet.pay(wallet.outputs_of(parent)[:1], 20_000)
    grandchild = wallet.pay(wallet.outputs_of(child), 1000)
    others = [wallet.pay([wallet.coin()], fee) for fee in (3000, 7000)]
    for tx in (grandchild, child, parent, *others):
        pool.accept(tx)
    assert len(pool) == 5
    selected = pool.select_for_block(chainstate.params.max_block_weight - 4000,
                                     chainstate.params.max_block_sigops_cost - 400)
    assert selected[:2] == [parent, child] and len(selected) == 5
    mine(wallet.branch, chainstate, selected)
    assert len(pool) == 0


def test_reload_after_restart_drops_confirmed(tmp_path: Path, params: ChainParams,
                                              keys: list[Key]) -> None:
    datadir = tmp_path / "node2"
    branch = Branch(params, keys)
    wallet = Wallet(branch)
    a, b = wallet.pay([wallet.coin()], 1000), wallet.pay([wallet.coin()], 1000)
    with Chainstate.open(datadir, params, sync=False) as cs:
        pool = make_pool(cs)
        pool.accept(a)
        pool.accept(b)
        pool.save(datadir / "mempool.dat")
        cs.events.unsubscribe(pool)
        mine(branch, cs, [a], avoid=[b.inputs[0].prevout])  # confirmed while "down"
    with Chainstate.open(datadir, params, sync=False) as cs:
        pool = make_pool(cs)
        assert pool.load(datadir / "mempool.dat") == 1
        assert pool.txids() == [b.txid]


def test_block_drops_orphans_it_conflicts_with(pool: Mempool, wallet: Wallet,
                                               chainstate: Chainstate) -> None:
    coin = wallet.coin()
    unseen_parent = wallet.pay([wallet.coin()], 1000)
    orphan = wallet.pay(wallet.outputs_of(unseen_parent) + [coin], 1000)
    assert pool.accept(orphan).orphan
    mine(wallet.branch, chainstate, [wallet.pay([coin], 1000)])
    assert orphan.txid not in pool.orphans and len(pool.orphans) == 0
