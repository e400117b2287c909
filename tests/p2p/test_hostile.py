"""A hostile peer is disconnected and banned; honest peers keep being served."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from wattchain.consensus.params import ChainParams
from wattchain.node.chaingen import Branch
from wattchain.p2p.messages import (PROTOCOL_VERSION, BlockMsg, Message, TxMsg, Verack, Version,
                                    decode, encode, max_frame_size)
from wattchain.p2p.node import P2P_PATH, P2PError

from .helpers import link, payment, run, start_node, stop_nodes, test_chain, \
    unstaked_coins

HOSTILE_HOST = "127.0.0.2"


class RawPeer:
    """A hand-driven peer speaking the wire protocol from another loopback address."""

    def __init__(self, params: ChainParams) -> None:
        self.params = params
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, target: tuple[str, int]) -> None:
        connector = aiohttp.TCPConnector(local_addr=(HOSTILE_HOST, 0))
        self.session = aiohttp.ClientSession(connector=connector)
        self.ws = await self.session.ws_connect(f"http://{target[0]}:{target[1]}{P2P_PATH}",
                                                max_msg_size=0)

    async def send(self, msg: Message) -> None:
        assert self.ws is not None
        await self.ws.send_bytes(encode(msg))

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as one frame; the node may hang up while they are still going out."""
        assert self.ws is not None
        try:
            await self.ws.send_bytes(data)
        except ConnectionError:
            pass

    async def handshake(self) -> None:
        await self.send(Version(self.params.magic, self.params.genesis_hash, PROTOCOL_VERSION,
                                1, 0, "/hostile/", 12345, 0))
        got_verack = False
        while not got_verack:
            msg = await self.ws.receive()  # type: ignore[union-attr]
            assert msg.type is aiohttp.WSMsgType.BINARY
            got_verack = isinstance(decode(msg.data, max_frame_size(self.params)), Verack)
        await self.send(Verack())

    async def wait_closed(self) -> None:
        """Read until the node closes the socket."""
        assert self.ws is not None
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


Attack = Callable[[RawPeer, Branch, ChainParams], Awaitable[None]]


async def garbage(peer: RawPeer, branch: Branch, params: ChainParams) -> None:
    await peer.send_raw(b"\xc1 this is not msgpack")


async def oversized(peer: RawPeer, branch: Branch, params: ChainParams) -> None:
    await peer.handshake()
    await peer.send_raw(b"\x00" * (max_frame_size(params) + 1))


async def invalid_block(peer: RawPeer, branch: Branch, params: ChainParams) -> None:
    await peer.handshake()
    # Extends the node's tip, so it is processed; unsigned, so the PoS rules refuse it.
    block = branch.fork().make_block(sign=False)
    await peer.send(BlockMsg(block.serialize()))


async def tx_flood(peer: RawPeer, branch: Branch, params: ChainParams) -> None:
    await peer.handshake()
    rng = random.Random(3)
    for coin in unstaked_coins(branch)[:25]:
        await peer.send(TxMsg(payment(branch, coin, rng)))


@pytest.mark.parametrize("attack, reason", [
    (garbage, "undecodable: not a msgpack frame"),
    (oversized, "oversized frame"),
    (invalid_block, "invalid block: bad-blk-sig"),
    (tx_flood, "unrequested transaction"),
], ids=["garbage", "oversized", "invalid-block", "tx-flood"])
def test_hostile_peer_is_banned_and_honest_peer_still_served(tmp_path: Path, attack: Attack,
                                                             reason: str) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    rng = random.Random(11)

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node")
        honest = await start_node(params, tmp_path / "honest")
        hostile = RawPeer(params)
        try:
            await link(honest, node)
            await hostile.open(node.addr)
            await attack(hostile, branch, params)
            await hostile.wait_closed()
            await node.p2p.wait_until(lambda: node.p2p.is_banned(HOSTILE_HOST))
            assert not node.p2p.is_banned("127.0.0.1")
            assert reason in node.p2p.ban_reasons[HOSTILE_HOST][-1]
            await hostile.close()

            # Reconnecting is refused at the HTTP upgrade.
            retry = RawPeer(params)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await retry.open(node.addr)
            assert refused.value.status == 403
            await retry.close()

            # The honest peer still relays both ways.
            tx = payment(branch, unstaked_coins(branch)[-1], rng)
            assert (await honest.p2p.submit_transaction(tx)).accepted
            await node.p2p.wait_for_tx(tx.txid)
            block = branch.add(branch.make_block([tx]))
            assert (await node.p2p.submit_block(block)).became_tip
            await honest.p2p.wait_for_tip(block.hash)
            assert node.p2p.connection_count() == 1
            assert node.p2p.peer_info()[0]["banscore"] == 0
        finally:
            await hostile.close()
            await stop_nodes([node, honest])

        # The ban survives a restart (the address book file).
        again = await start_node(params, tmp_path / "node")
        try:
            assert again.p2p.is_banned(HOSTILE_HOST)
        finally:
            await again.stop()

    run(scenario())


def test_wrong_network_is_disconnected_without_ban(tmp_path: Path) -> None:
    params, keys = test_chain()
    other_params, _ = test_chain(n_keys=2)  # a different premine: a different genesis
    assert other_params.genesis_hash != params.genesis_hash

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "a")
        stranger = await start_node(other_params, tmp_path / "b")
        try:
            with pytest.raises(P2PError) as failed:
                await stranger.p2p.connect(*node.addr)
            assert "closed before the handshake" in str(failed.value)
            assert node.p2p.connection_count() == 0
            assert not node.p2p.is_banned("127.0.0.1")
        finally:
            await stop_nodes([node, stranger])

    run(scenario())


def test_self_connection_is_detected(tmp_path: Path) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "a")
        try:
            with pytest.raises(P2PError) as failed:
                await node.p2p.connect(*node.addr, persistent=False)
            assert "closed before the handshake" in str(failed.value)
            await node.p2p.wait_until(lambda: not node.p2p.peers)
            assert node.p2p.connection_count() == 0
        finally:
            await node.stop()

    run(scenario())

