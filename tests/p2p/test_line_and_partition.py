"""Gossip across a line of five nodes, and convergence after a network partition heals."""

from __future__ import annotations

import random
from pathlib import Path

from wattchain.node.chaingen import Branch

from .helpers import all_txids, link, payment, run, start_nodes, stop_nodes, test_chain, \
    unstaked_coins


def test_tx_crosses_five_node_line_and_block_comes_back(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    rng = random.Random(5)

    async def scenario() -> None:
        nodes = await start_nodes(params, tmp_path, 5, ping_interval=0.0, tick_seconds=0.05)
        try:
            for a, b in zip(nodes, nodes[1:]):
                await link(a, b)
            # A line: the ends know exactly one peer, the middle nodes two.
            assert [n.p2p.connection_count() for n in nodes] == [1, 2, 2, 2, 1]
            # Every link measures its latency with ping/pong.
            for node in nodes:
                await node.p2p.wait_until(lambda node=node: all(
                    p["pingtime"] is not None for p in node.p2p.peer_info()))

            tx = payment(branch, unstaked_coins(branch)[0], rng)
            result = await nodes[0].p2p.submit_transaction(tx)
            assert result.accepted
            await nodes[4].p2p.wait_for_tx(tx.txid)
            for node in nodes:
                assert await all_txids(node) == {tx.txid}

            block = branch.add(branch.make_block([tx]))
            assert (await nodes[4].p2p.submit_block(block)).became_tip
            await nodes[0].p2p.wait_for_tip(block.hash)
            for node in nodes:
                await node.p2p.wait_for_tip(block.hash)
                assert node.cs.tip.height == 1
                # The mined tx left every mempool.
                assert await all_txids(node) == set()
            assert all(p["banscore"] == 0 for n in nodes for p in n.p2p.peer_info())
        finally:
            await stop_nodes(nodes)

    run(scenario())


def test_partition_heals_to_most_work_chain_with_consistent_mempools(tmp_path: Path) -> None:
    params, keys = test_chain()
    base = Branch(params, keys)
    rng = random.Random(7)
    # Side B will win: three blocks against side A's two.
    side_b = base.fork()
    for _ in range(3):
        side_b.add(side_b.make_block())
    coins = unstaked_coins(base)
    mined_on_a = payment(base, coins[0], rng)
    side_a = base.fork()
    side_a.add(side_a.make_block([mined_on_a]))
    side_a.add(side_a.make_block())
    spare = [c for c in unstaked_coins(base) if c.outpoint != coins[0].outpoint]
    pending_a = payment(base, spare[0], rng)
    pending_b = payment(base, spare[1], rng)

    async def scenario() -> None:
        a1, a2, b1, b2 = nodes = await start_nodes(params, tmp_path, 4)
        try:
            await link(a1, a2)
            await link(b1, b2)
            # Partitioned: each half extends its own chain and gets its own tx.
            for block in side_a.blocks[1:]:
                assert (await a1.p2p.submit_block(block)).accepted
            for block in side_b.blocks[1:]:
                assert (await b2.p2p.submit_block(block)).accepted
            await a2.p2p.wait_for_tip(side_a.tip.hash)
            await b1.p2p.wait_for_tip(side_b.tip.hash)
            assert (await a1.p2p.submit_transaction(pending_a)).accepted
            assert (await b2.p2p.submit_transaction(pending_b)).accepted
            await a2.p2p.wait_for_tx(pending_a.txid)
            await b1.p2p.wait_for_tx(pending_b.txid)
            assert a2.cs.tip.chain_work < b1.cs.tip.chain_work

            # Heal the partition with one link.
            await link(a2, b1)
            expected = {pending_a.txid, pending_b.txid, mined_on_a.txid}
            for node in nodes:
                await node.p2p.wait_for_tip(side_b.tip.hash)
            for node in nodes:
                for txid in expected:
                    await node.p2p.wait_for_tx(txid)
            for node in nodes:
                assert node.cs.tip.hash == side_b.tip.hash
                assert node.cs.tip.height == 3
                assert await all_txids(node) == expected
        finally:
            await stop_nodes(nodes)

    run(scenario())
