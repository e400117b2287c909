"""A fresh node catches up a 500-block chain headers-first from two peers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wattchain.node.chaingen import Branch

from .helpers import link, run, start_nodes, stop_nodes, test_chain

CHAIN_LENGTH = 500


def test_fresh_node_syncs_500_blocks_from_two_peers(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    for _ in range(CHAIN_LENGTH):
        branch.add(branch.make_block())

    async def scenario() -> None:
        seed_a, seed_b, fresh = nodes = await start_nodes(params, tmp_path, 3)
        try:
            for seed in (seed_a, seed_b):
                for block in branch.blocks[1:]:
                    assert (await seed.p2p.submit_block(block)).accepted
            assert fresh.p2p.tip_height == 0
            await asyncio.gather(link(fresh, seed_a), link(fresh, seed_b))
            await fresh.p2p.wait_for_tip(branch.tip.hash)
            assert fresh.cs.tip.height == CHAIN_LENGTH
            assert fresh.cs.tip.hash == branch.tip.hash
            # Both peers served blocks (parallel download), and neither was penalised.
            served = [p["blocks_received"] for p in fresh.p2p.peer_info()]
            assert len(served) == 2 and all(n > 0 for n in served), served
            assert sum(served) >= CHAIN_LENGTH
            assert all(p["banscore"] == 0 for p in fresh.p2p.peer_info())
        finally:
            await stop_nodes(nodes)

    run(scenario())
