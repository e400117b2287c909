"""Random operation sequences: the graph's aggregates and indexes stay exact, every pooled tx
stays spendable, and the selected block template always connects in order."""

from __future__ import annotations

import random

import pytest

from wattchain.node.chaingen import Spendable
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import MempoolRejectError
from wattchain.node.mempool_entry import entry_usage

from .mempool_helpers import (NO_RBF, NOW, RBF, Wallet, chainstate,  # noqa: F401
                              connects_in_order, make_pool, wallet)


@pytest.mark.parametrize("seed", range(4))
def test_random_operations_keep_invariants(chainstate: Chainstate, wallet: Wallet,
                                           seed: int) -> None:
    rng = random.Random(seed)
    probe = wallet.pay([wallet.unused[0]], 1000)
    pool = make_pool(chainstate, max_bytes=14 * entry_usage(probe), max_ancestors=5,
                     max_descendants=6, max_replacements=6)
    coins: list[Spendable] = list(wallet.unused)
    now = NOW
    outcomes: dict[str, int] = {}
    for _ in range(120):
        now += rng.randint(0, 600)
        roll = rng.random()
        if roll < 0.8:
            live = [c for c in coins if pool.contains(c.outpoint.txid)
                    or chainstate.get_coin(c.outpoint) is not None]
            inputs = rng.sample(live if rng.random() < 0.9 else coins, rng.choice((1, 1, 2)))
            fee = rng.choice((50, 150, 400, 1500, 6000, 30_000))
            tx = wallet.pay(inputs, fee, n_outputs=rng.randint(1, 3),
                            sequence=rng.choice((RBF, RBF, NO_RBF)))
            try:
                result = pool.accept(tx, now=now)
            except MempoolRejectError as exc:
                assert "script-verify" not in exc.reason, exc
                outcomes[exc.reason] = outcomes.get(exc.reason, 0) + 1
                assert not pool.contains(tx.txid)
            else:
                outcomes["orphan" if result.orphan else "accepted"] = outcomes.get(
                    "orphan" if result.orphan else "accepted", 0) + 1
                if result.accepted:
                    coins.extend(wallet.outputs_of(tx))
                assert not any(pool.contains(t) for t in result.replaced)
                for resolved in result.resolved:
                    assert pool.contains(resolved.txid)
        elif roll < 0.9:
            pool.expire(now + rng.choice((0, pool.policy.expiry_seconds)))
        elif len(pool):
            pool.remove([rng.choice(pool.txids())])
        pool.graph.check()
        assert pool.graph.usage <= pool.policy.max_bytes
        assert not set(pool.orphans.txids()) & set(pool.txids())
        for txid in pool.txids():
            for txin in pool.get(txid).inputs:  # type: ignore[union-attr]
                parent = txin.prevout.txid
                assert pool.contains(parent) or chainstate.get_coin(txin.prevout) is not None
    selected = pool.select_for_block(4_000_000, 80_000)
    assert sorted(tx.txid for tx in selected) == sorted(pool.txids())
    assert connects_in_order(chainstate, selected)
    # The run exercised acceptance, orphans, replacements and refusals, not just one path.
    assert outcomes.get("accepted", 0) > 30 and len(outcomes) > 4, outcomes
