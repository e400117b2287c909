"""A block pushed before its parent is connected here (a busy node's tip lags what its peers
already sent it) is an honest push that came early, not unrequested data: it is taken as a
header announcement and fetched, and costs the sender nothing. A pushed block whose parent
this node never heard of is still unrequested data."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from wattchain.node.chaingen import Branch
from wattchain.p2p.messages import BlockMsg, GetData, Headers, decode, max_frame_size

from .helpers import run, start_node, test_chain
from .test_hostile import HOSTILE_HOST, RawPeer


async def _next_getdata(peer: RawPeer) -> GetData:
    assert peer.ws is not None
    while True:
        msg = await peer.ws.receive()
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        decoded = decode(msg.data, max_frame_size(peer.params))
        if isinstance(decoded, GetData):
            return decoded


def _score(node, host: str) -> tuple[int, list[str]]:
    peers = [p for p in node.p2p.peers.values() if p.host == host]
    assert len(peers) == 1
    return peers[0].misbehaviour.score, peers[0].misbehaviour.reasons


def test_block_pushed_before_its_parent_connected_is_fetched_not_scored(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    first = branch.add(branch.make_block())
    second = branch.add(branch.make_block())

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node")
        peer = RawPeer(params)
        try:
            await peer.open(node.addr)
            await peer.handshake()
            # Announce the first block; the node asks for it, but we hold it back.
            await peer.send(Headers((first.header,)))
            asked = await _next_getdata(peer)
            assert [h for _, h in asked.items] == [first.hash]
            # Push the child before the parent arrived: known parent header, so not scored.
            await peer.send(BlockMsg(second.serialize()))
            await peer.send(BlockMsg(first.serialize()))
            asked = await _next_getdata(peer)
            assert [h for _, h in asked.items] == [second.hash]
            await peer.send(BlockMsg(second.serialize()))
            await node.p2p.wait_until(lambda: node.p2p.tip_hash == second.hash)
            assert _score(node, HOSTILE_HOST) == (0, [])
        finally:
            await peer.close()
            await node.stop()

    run(scenario())


def test_block_with_unknown_parent_pushed_is_unrequested(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    first = branch.add(branch.make_block())
    orphan = branch.add(branch.make_block())

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node")
        peer = RawPeer(params)
        try:
            await peer.open(node.addr)
            await peer.handshake()
            await peer.send(BlockMsg(orphan.serialize()))
            # Frames are handled in order: once the announcement after it is answered, the
            # pushed block has been dealt with.
            await peer.send(Headers((first.header,)))
            await _next_getdata(peer)
            assert _score(node, HOSTILE_HOST) == (10, ["unrequested block (+10)"])
            assert node.p2p.tip_hash == params.genesis_hash
        finally:
            await peer.close()
            await node.stop()

    run(scenario())
