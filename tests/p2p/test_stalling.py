"""Block requests to a peer that never answers time out and go to another peer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from wattchain.node.chaingen import Branch
from wattchain.p2p.messages import GetData, GetHeaders, Headers, INV_BLOCK, decode, max_frame_size

from .helpers import link, run, start_node, stop_nodes, test_chain
from .test_hostile import RawPeer

CHAIN_LENGTH = 40


def test_stalled_block_requests_are_re_requested_elsewhere(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    for _ in range(CHAIN_LENGTH):
        branch.add(branch.make_block())
    headers = tuple(b.header for b in branch.blocks[1:])

    async def scenario() -> None:
        fresh = await start_node(params, tmp_path / "fresh", block_timeout=0.3,
                                 tick_seconds=0.05)
        seed = await start_node(params, tmp_path / "seed")
        staller = RawPeer(params)
        asked_staller: set[bytes] = set()
        first_request = asyncio.Event()
        try:
            for block in branch.blocks[1:]:
                assert (await seed.p2p.submit_block(block)).accepted
            await staller.open(fresh.addr)
            await staller.handshake()

            async def stall() -> None:
                # Answer getheaders with the whole chain; swallow every getdata.
                assert staller.ws is not None
                async for frame in staller.ws:
                    if frame.type is not aiohttp.WSMsgType.BINARY:
                        break
                    msg = decode(frame.data, max_frame_size(params))
                    if isinstance(msg, GetHeaders):
                        await staller.send(Headers(headers))
                    elif isinstance(msg, GetData):
                        asked_staller.update(h for k, h in msg.items if k == INV_BLOCK)
                        first_request.set()

            task = asyncio.get_running_loop().create_task(stall())
            await first_request.wait()
            assert fresh.p2p.tip_height == 0
            await link(fresh, seed)
            await fresh.p2p.wait_for_tip(branch.tip.hash)
            # The staller was asked first; every block still arrived, from the seed.
            assert asked_staller
            served = {p["addr"].split(":")[0]: p["blocks_received"]
                      for p in fresh.p2p.peer_info()}
            assert served["127.0.0.2"] == 0 and served["127.0.0.1"] == CHAIN_LENGTH
            task.cancel()
        finally:
            await staller.close()
            await stop_nodes([fresh, seed])

    run(scenario())
