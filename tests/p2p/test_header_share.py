"""Each peer holds a bounded share of the header tree (headers not yet backed by blocks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from wattchain.node.chaingen import Branch, far_future_now
from wattchain.node.chainstate import Chainstate
from wattchain.p2p.messages import INV_BLOCK, GetData, GetHeaders, Headers, decode, max_frame_size
from wattchain.p2p.sync import ChainSync

from .helpers import link, run, start_node, stop_nodes, test_chain
from .test_hostile import HOSTILE_HOST, RawPeer


def test_share_caps_each_peer_and_is_released_by_blocks_and_departure(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    for _ in range(6):
        branch.add(branch.make_block())
    headers = [b.header for b in branch.blocks[1:]]
    cs = Chainstate.open(tmp_path, params, sync=False)
    sync = ChainSync(cs, lambda: far_future_now(params), header_share=3)
    try:
        first = sync.add_headers(headers, peer=1)
        assert (first.new, first.full, first.last_height) == (3, True, 3)
        assert sync.header_count(1) == 3 and len(sync.tree) == 3
        assert sync.add_headers(headers, peer=1).new == 0          # still over its share
        # Another peer is not starved: the first three are known, it adds the rest.
        second = sync.add_headers(headers, peer=2)
        assert (second.new, second.full, second.last_height) == (3, False, 6)
        assert sync.header_count(2) == 3
        # A stored block backs its header: the share of the peer that sent it is released.
        received = sync.receive(branch.blocks[1], peer=2)
        assert received.outcomes[0].result.accepted
        assert received.owned == {1: 2, 2: 3} and sync.header_count(1) == 2
        # A departing peer's unbacked headers leave the tree (so reconnecting does not stack
        # shares); headers built on them go too.
        assert sync.drop_peer(1) == 5 and sync.tree == {}
        assert sync.header_count(2) == 0 and sync.blocks_to_fetch(10) == []
        assert sync.drop_peer(1) == 0
        again = sync.add_headers(headers, peer=2)
        assert again.new == 3 and again.full
        assert [h for h, _ in sync.blocks_to_fetch(10)] == [b.hash for b in branch.blocks[2:5]]
    finally:
        cs.close()


def test_peer_over_its_share_is_paused_and_node_syncs_from_another_peer(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    for _ in range(10):
        branch.add(branch.make_block())
    headers = tuple(b.header for b in branch.blocks[1:])
    share = 4

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node", header_share=share,
                                block_timeout=0.3, tick_seconds=0.05)
        seed = await start_node(params, tmp_path / "seed")
        spammer = RawPeer(params)
        asked: asyncio.Queue[tuple[bytes, ...]] = asyncio.Queue()
        try:
            for block in branch.blocks[1:]:
                assert (await seed.p2p.submit_block(block)).accepted
            await spammer.open(node.addr)
            await spammer.handshake()

            async def answer() -> None:
                # Every getheaders gets the whole chain; block requests are noted, never served.
                assert spammer.ws is not None
                async for frame in spammer.ws:
                    if frame.type is not aiohttp.WSMsgType.BINARY:
                        break
                    msg = decode(frame.data, max_frame_size(params))
                    if isinstance(msg, GetHeaders):
                        await spammer.send(Headers(headers))
                    elif isinstance(msg, GetData):
                        asked.put_nowait(tuple(h for k, h in msg.items if k == INV_BLOCK))

            task = asyncio.get_running_loop().create_task(answer())
            # Only the blocks of the headers within its share are wanted.
            assert await asked.get() == tuple(b.hash for b in branch.blocks[1:share + 1])
            sync = node.p2p.sync   # chainstate-thread state: read it on that thread
            assert await node.p2p.run(sync.header_count, 1) == share
            assert await node.p2p.run(lambda: len(sync.tree)) == share
            # The honest seed (also capped at its share, resumed as blocks drain it) still
            # brings the node to the tip; the spammer is not punished for its headers.
            await link(node, seed)
            await node.p2p.wait_for_tip(branch.tip.hash)
            assert not node.p2p.is_banned(HOSTILE_HOST)
            assert await node.p2p.run(lambda: len(sync.tree)) == 0
            task.cancel()
        finally:
            await spammer.close()
            await stop_nodes([node, seed])

    run(scenario())
