"""Blockchain RPCs over HTTP, checked against values computed from the generated blocks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wattchain.consensus.target import bits_to_target
from wattchain.core.header import StakeBlockHeader, deserialize_stake_block
from wattchain.core.tx import COIN
from wattchain.node.chaingen import far_future_now, replay_stats

from .helpers import RpcFailure, RunningNode


def display(h: bytes) -> str:
    return h[::-1].hex()


def test_counts_and_hashes(node: RunningNode) -> None:
    blocks = node.chain.blocks
    assert node.call("getblockcount") == len(blocks) - 1
    assert node.call("getbestblockhash") == display(blocks[-1].hash)
    for height, block in enumerate(blocks):
        assert node.call("getblockhash", height) == display(block.hash)


def test_getblock_verbosity_0_1_2(node: RunningNode) -> None:
    blocks = node.chain.blocks
    height = 3
    block = blocks[height]
    raw = node.call("getblock", display(block.hash), 0)
    assert raw == block.serialize().hex()
    assert deserialize_stake_block(bytes.fromhex(raw)).hash == block.hash
    one = node.call("getblock", display(block.hash))
    assert one == node.call("getblock", display(block.hash), 1)
    assert one["hash"] == display(block.hash) and one["height"] == height
    assert one["confirmations"] == len(blocks) - height
    assert one["tx"] == [display(tx.txid) for tx in block.transactions]
    assert one["nTx"] == len(block.transactions)
    assert one["previousblockhash"] == display(blocks[height - 1].hash)
    assert one["nextblockhash"] == display(blocks[height + 1].hash)
    assert one["merkleroot"] == display(block.header.merkle_root)
    assert one["time"] == block.header.time and one["bits"] == f"{block.header.bits:08x}"
    assert one["size"] == len(block.serialize())
    assert one["strippedsize"] == len(block.serialize(include_witness=False))
    assert one["weight"] == 3 * one["strippedsize"] + one["size"]
    assert one["versionHex"] == f"{block.header.version:08x}"
    # Proof-of-stake fields (Qtum style)
    assert one["proofofstake"] is True and one["flags"] == "proof-of-stake"
    assert one["prevoutstake"] == {"txid": display(block.header.prevout_stake.txid),
                                   "vout": block.header.prevout_stake.index}
    assert one["blocksignature"] == block.header.block_signature.hex()
    assert len(one["blocksignature"]) == 130
    assert block.transactions[1].inputs[0].prevout == block.header.prevout_stake
    two = node.call("getblock", display(block.hash), 2)
    assert [t["txid"] for t in two["tx"]] == one["tx"]
    for tx, decoded in zip(block.transactions, two["tx"]):
        assert decoded["hex"] == tx.to_hex()
        assert node.call("decoderawtransaction", tx.to_hex()) == {
            k: v for k, v in decoded.items() if k != "hex"}
    assert node.call("getblock", display(block.hash), False) == raw
    genesis = node.call("getblock", display(blocks[0].hash))
    assert genesis["proofofstake"] is False and "previousblockhash" not in genesis
    assert "prevoutstake" not in genesis


def test_getblockheader(node: RunningNode) -> None:
    block = node.chain.blocks[2]
    raw = node.call("getblockheader", display(block.hash), False)
    header = StakeBlockHeader.deserialize(bytes.fromhex(raw))
    assert header == block.header
    verbose = node.call("getblockheader", display(block.hash))
    assert verbose["hash"] == display(block.hash) and verbose["nTx"] == len(block.transactions)
    assert verbose["mediantime"] == sorted(b.header.time for b in node.chain.blocks[:3])[1]
    with pytest.raises(RpcFailure) as info:
        node.call("getblockheader", "11" * 32)
    assert info.value.code == -5


def test_chaininfo_difficulty_and_chainwork(node: RunningNode) -> None:
    blocks = node.chain.blocks
    info = node.call("getblockchaininfo")
    work = sum((1 << 256) // (bits_to_target(b.header.bits) + 1) for b in blocks)
    assert info["chain"] == "regtest"
    assert info["blocks"] == info["headers"] == len(blocks) - 1
    assert info["bestblockhash"] == display(blocks[-1].hash)
    assert int(info["chainwork"], 16) == work and len(info["chainwork"]) == 64
    assert info["initialblockdownload"] is False and info["pruned"] is False
    assert info["size_on_disk"] > 0
    expected = (0xFFFF << 208) / bits_to_target(blocks[-1].header.bits)
    assert float(node.call("getdifficulty")) == pytest.approx(expected, rel=1e-12)
    assert float(info["difficulty"]) == pytest.approx(expected, rel=1e-12)


def test_gettxout_and_txoutsetinfo(node: RunningNode) -> None:
    branch = node.chain.branch
    tip_height = len(node.chain.blocks) - 1
    coin = sorted(branch.coins.values(), key=lambda c: (c.height, c.outpoint.txid))[0]
    result = node.call("gettxout", display(coin.outpoint.txid), coin.outpoint.index)
    assert result["value"] == Decimal(coin.output.value) / COIN
    assert result["scriptPubKey"]["hex"] == coin.output.script_pubkey.hex()
    assert result["confirmations"] == tip_height - coin.height + 1
    assert result["bestblock"] == display(node.chain.blocks[-1].hash)
    staked = node.chain.blocks[1].header.prevout_stake  # spent by block 1's coinstake
    assert node.call("gettxout", display(staked.txid), staked.index) is None
    with pytest.raises(RpcFailure) as info:
        node.call("gettxout", display(staked.txid), -1)
    assert info.value.code == -8
    stats = replay_stats(node.chain.params, node.chain.blocks)
    info_ = node.call("gettxoutsetinfo")
    assert info_["txouts"] == stats.count
    assert info_["total_amount"] == Decimal(stats.total_amount) / COIN
    assert info_["hash_serialized"] == stats.hash_hex
    assert info_["height"] == tip_height
    assert "hash_serialized" not in node.call("gettxoutsetinfo", "none")
    with pytest.raises(RpcFailure) as err:
        node.call("gettxoutsetinfo", "muhash")
    assert err.value.code == -8


def test_getchaintips_reports_forks(node: RunningNode) -> None:
    blocks = node.chain.blocks
    tips = node.call("getchaintips")
    assert tips == [{"height": len(blocks) - 1, "hash": display(blocks[-1].hash),
                     "branchlen": 0, "status": "active"}]
    fork = node.chain.branch.fork(len(blocks) - 3)
    side = fork.add(fork.make_block())
    cs = node.services.chainstate
    now = far_future_now(node.chain.params)
    result = node.run(node.services.call(cs.process_block, side, now))
    assert result.accepted and not result.became_tip
    tips = node.call("getchaintips")
    assert len(tips) == 2
    fork_tip = next(t for t in tips if t["hash"] == display(side.hash))
    assert fork_tip["height"] == len(blocks) - 2 and fork_tip["branchlen"] == 1
    assert fork_tip["status"] == "valid-headers"   # stored, never connected
    # the fork's block is retrievable but not on the active chain
    assert node.call("getblock", display(side.hash))["confirmations"] == -1
