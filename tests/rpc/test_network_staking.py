"""RPCs backed by a real P2P node and a real staker: peers, addnode, relay, staking info."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wattchain.node.chaingen import far_future_now
from wattchain.node.chainstate import Chainstate
from wattchain.node.coinstake import KeyStoreStakingKeys
from wattchain.node.mempool import Mempool
from wattchain.node.staker import Staker
from wattchain.p2p.node import P2PNode
from wattchain.script.sign import KeyStore

from .helpers import ChainData, RpcFailure, start_node, stop_node


def test_peers_addnode_and_relay(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "a", chain)
    params = chain.params
    clock = lambda: far_future_now(params)  # noqa: E731
    other_cs = Chainstate.open(tmp_path / "b", params, sync=False)
    now = far_future_now(params)
    for block in chain.blocks[1:]:
        assert other_cs.process_block(block, now).accepted
    other_pool = Mempool(other_cs)
    cs = node.services.chainstate

    async def start() -> tuple[P2PNode, P2PNode]:
        mine = P2PNode(cs, node.services.mempool, params, clock=clock, discover=False,
                       rng=random.Random(1))
        theirs = P2PNode(other_cs, other_pool, params, clock=clock, discover=False,
                         rng=random.Random(2))
        await mine.start()
        await theirs.start()
        return mine, theirs

    mine, theirs = node.run(start())
    node.services.p2p = mine
    try:
        assert node.call("getconnectioncount") == 0
        with pytest.raises(RpcFailure) as info:
            node.call("addnode", "127.0.0.1:notaport", "onetry")
        assert info.value.code == -8
        assert node.call("addnode", f"127.0.0.1:{theirs.port}", "onetry") is None
        node.run(mine.wait_for_peers(1))
        assert node.call("getconnectioncount") == 1
        peers = node.call("getpeerinfo")
        assert len(peers) == 1
        net = node.call("getnetworkinfo")
        assert net["networkactive"] is True and net["connections_out"] == 1
        # a transaction sent over RPC is relayed to the peer's mempool
        coin = sorted((c for c in chain.branch.mature_coins() if c.key is not None),
                      key=lambda c: (c.outpoint.txid, c.outpoint.index))[0]
        tx = chain.branch.spend([coin], 1, random.Random(5), fee=1500)
        assert node.call("sendrawtransaction", tx.to_hex()) == tx.txid_hex
        node.run(theirs.wait_for_tx(tx.txid))
        assert other_pool.contains(tx.txid)
    finally:
        node.run(theirs.stop())
        node.run(mine.stop())
        node.services.p2p = None
        stop_node(node)
        other_cs.close()


def test_getstakinginfo_and_setstaking(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "a", chain)
    try:
        key = chain.keys[0]
        store = KeyStore()
        store.add_key(key.secret, compressed=True)
        keys = KeyStoreStakingKeys(store, [key.pubkey])
        cs = node.services.chainstate
        clock = lambda: far_future_now(chain.params)  # noqa: E731
        staker = node.run(node.services.call(Staker, cs, keys, clock=clock))
        node.services.staker = staker
        expected_weight = sum(c.output.value for c in chain.branch.coins.values()
                              if c.output.script_pubkey == key.script_pubkey)
        info = node.call("getstakinginfo")
        assert info["enabled"] is True and info["weight"] == expected_weight
        assert info["pooledtx"] == 0 and info["netstakeweight"] > 0
        assert set(info) >= {"enabled", "staking", "errors", "pooledtx", "difficulty",
                             "search-interval", "weight", "netstakeweight", "expectedtime"}
        assert node.call("setstaking", False) is False
        assert node.call("getstakinginfo")["enabled"] is False and staker.enabled is False
        assert node.call("setstaking", True) is True and staker.enabled is True
        with pytest.raises(RpcFailure) as err:
            node.call("setstaking", "yes")
        assert err.value.code == -3
    finally:
        stop_node(node)
