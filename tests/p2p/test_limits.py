"""Connection limits and timeouts: max_outbound for discovery, the handshake timeout for silent
inbound sockets, and the orphan transaction's parent fetch."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import pytest

from wattchain.core.tx import OutPoint
from wattchain.node.chaingen import Branch, Spendable
from wattchain.p2p.messages import INV_TX, GetData, Inv, TxMsg, decode, max_frame_size

from .helpers import link, payment, run, start_node, start_nodes, stop_nodes, test_chain, \
    unstaked_coins
from .test_hostile import HOSTILE_HOST, RawPeer


@pytest.mark.parametrize("max_outbound", [1, 2])
def test_discovery_dials_only_up_to_max_outbound(tmp_path: Path, max_outbound: int) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        hub, other = await start_nodes(params, tmp_path, 2)
        seeker = await start_node(params, tmp_path / "seeker", discover=True,
                                  tick_seconds=0.02, max_outbound=max_outbound)
        try:
            await link(other, hub)
            await seeker.p2p.connect(*hub.addr)   # one outbound slot used
            # The seeker learns other's address by getaddr/addr...
            await seeker.p2p.wait_until(lambda: seeker.p2p.addrbook.get(*other.addr) is not None)
            if max_outbound == 2:
                await seeker.p2p.wait_for_peers(2)   # ...and dials it while a slot is free,
            else:
                # ...but not with every slot taken: several maintenance ticks go by without
                # a dial (ticks are awaited, not slept).
                ticks = seeker.p2p.ticks
                await seeker.p2p.wait_until(lambda: seeker.p2p.ticks >= ticks + 10)
                assert seeker.p2p.outbound_count() == 1
                assert other.p2p.connection_count() == 1   # only the hub
                assert not seeker.p2p._dialling
        finally:
            await stop_nodes([hub, other, seeker])

    run(scenario())


def test_discovery_never_opens_more_outbound_than_the_limit_at_once(tmp_path: Path) -> None:
    """Two known addresses and one free slot: one dial, not two (a tick must count the dials
    still opening)."""
    params, _ = test_chain()

    async def scenario() -> None:
        a, b = await start_nodes(params, tmp_path, 2)
        seeker = await start_node(params, tmp_path / "seeker", discover=True,
                                  tick_seconds=0.02, max_outbound=1)
        try:
            for node in (a, b):
                seeker.p2p.addrbook.add(*node.addr, 0.0)
            await seeker.p2p.wait_for_peers(1)
            ticks = seeker.p2p.ticks
            await seeker.p2p.wait_until(lambda: seeker.p2p.ticks >= ticks + 10)
            assert seeker.p2p.outbound_count() == 1 and seeker.p2p.connection_count() == 1
            assert a.p2p.connection_count() + b.p2p.connection_count() == 1
        finally:
            await stop_nodes([a, b, seeker])

    run(scenario())


@pytest.mark.parametrize("timeout", [0.2, 1000.0], ids=["short", "long"])
def test_silent_inbound_socket_is_closed_after_the_handshake_timeout(tmp_path: Path,
                                                                     timeout: float) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node", handshake_timeout=timeout,
                                tick_seconds=0.02)
        silent = RawPeer(params)
        try:
            await silent.open(node.addr)   # WebSocket up, never a version message
            if timeout > 100:
                # Control: with a long timeout the silent socket still holds its slot after
                # ticks worth more than the short timeout.
                await node.p2p.wait_until(lambda: len(node.p2p.peers) == 1)
                ticks = node.p2p.ticks
                await node.p2p.wait_until(lambda: node.p2p.ticks >= ticks + 20)
                assert len(node.p2p.peers) == 1 and node.p2p.connection_count() == 0
                return
            await silent.wait_closed()
            await node.p2p.wait_until(lambda: not node.p2p.peers)
            assert node.p2p.connection_count() == 0
            assert not node.p2p.is_banned(HOSTILE_HOST)   # slow is not hostile
        finally:
            await silent.close()
            await node.stop()

    run(scenario())


def test_orphan_transaction_makes_node_fetch_its_parent_from_the_relaying_peer(
        tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    rng = random.Random(4)
    parent = payment(branch, unstaked_coins(branch)[-1], rng)
    out = parent.outputs[0]
    key = next(k for k in keys if k.script_pubkey == out.script_pubkey)
    child = branch.spend([Spendable(OutPoint(parent.txid, 0), out, 1, False, key)], 1, rng,
                         fee=20_000, anyone_can_spend_share=0.0)

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node")
        peer = RawPeer(params)
        requests: asyncio.Queue[tuple[bytes, ...]] = asyncio.Queue()
        try:
            await peer.open(node.addr)
            await peer.handshake()

            async def serve() -> None:
                assert peer.ws is not None
                known = {parent.txid: parent, child.txid: child}
                async for frame in peer.ws:
                    if frame.type is not aiohttp.WSMsgType.BINARY:
                        break
                    msg = decode(frame.data, max_frame_size(params))
                    if isinstance(msg, GetData):
                        wanted = tuple(h for k, h in msg.items if k == INV_TX)
                        requests.put_nowait(wanted)
                        for txid in wanted:
                            await peer.send(TxMsg(known[txid]))

            task = asyncio.get_running_loop().create_task(serve())
            await peer.send(Inv(((INV_TX, child.txid),)))     # the child only
            assert await requests.get() == (child.txid,)
            # The child is an orphan: its parent is asked for, from this same peer.
            assert await requests.get() == (parent.txid,)
            await node.p2p.wait_for_tx(parent.txid)
            await node.p2p.wait_for_tx(child.txid)
            assert await node.p2p.run(node.pool.contains, child.txid)
            assert len(node.pool.orphans) == 0
            assert node.p2p.peer_info()[0]["banscore"] == 0
            task.cancel()
        finally:
            await peer.close()
            await node.stop()

    run(scenario())
