"""Two real nodes (daemon objects, real sockets) with ``channels=1``, driven over HTTP
JSON-RPC: connect the channel nodes, open a channel funded by the wallet, wait for the funding
to confirm on the staked chain, pay an invoice, close cooperatively; bad requests get typed
errors. A restart keeps the channel node's identity and its (closed) channel."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from .test_three_node_network import Rpc, _config, _prepare, _wait_synced

from wattchain.channels.resolver import SWEEP_FEE_SAT
from wattchain.node.config import NodeConfig, load_config, parse_config_text
from wattchain.node.daemon import Node

FUNDING_SAT = 1_000_000
PAY_MSAT = 5_000_000
PUSH_MSAT = 200_000_000



async def _call_error(rpc: Rpc, method: str, *params: Any) -> dict[str, Any]:
    """The error object of a call that must fail."""
    body = {"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params)}
    async with rpc.session.post(rpc.url, data=json.dumps(body),
                                headers=rpc.headers) as response:
        reply = json.loads(await response.text())
    assert reply["error"] is not None, f"{method} did not fail"
    return reply["error"]


def _channel_config(datadir: Path, premine: tuple[str, ...], limit: str,
                    peers: list[int]) -> NodeConfig:
    return replace(_config(datadir, premine, limit, peers), channels=True, channelport=0)


async def _until(rpc: Rpc, predicate: Any, blocks: int = 60) -> Any:
    """Wait block by block (``waitfornewblock``) until ``predicate()`` returns a truthy value."""
    for _ in range(blocks):
        value = await predicate()
        if value:
            return value
        await rpc("waitfornewblock", 10_000)
    raise AssertionError("condition not reached")


async def _scenario(tmp_path: Path) -> None:
    datadirs, premine, limit = _prepare(tmp_path, 2)
    nodes: list[Node] = []
    try:
        for datadir in datadirs:
            peers = [n.p2p.port for n in nodes if n.p2p is not None]
            node = Node(_channel_config(datadir, premine, limit, peers))
            await node.start()
            nodes.append(node)
        await _wait_synced(nodes, 2)
        async with aiohttp.ClientSession() as session:
            alice, bob = (Rpc(session, n) for n in nodes)
            b_info = await bob("getchannelnodeinfo")
            peer = await alice("connectpeer", "127.0.0.1", b_info["port"])
            assert peer["node_id"] == b_info["node_id"]
            opened = await alice("openchannel", b_info["node_id"], FUNDING_SAT)
            cid = opened["channel_id"]
            # The funding tx went through the mempool and confirms on the staked chain.
            async def active() -> Any:
                chans = await alice("listchannels")
                theirs = await bob("listchannels")
                return chans[0]["active"] and theirs and theirs[0]["active"] and chans
            chans = await _until(alice, active)
            assert len(chans) == 1 and chans[0]["channel_id"] == cid
            assert chans[0]["capacity_sat"] == FUNDING_SAT
            out = await alice("gettxout", opened["funding_txid"],
                              opened["funding_output_index"])
            assert Decimal(str(out["value"])) * 10**8 == FUNDING_SAT
            assert out["confirmations"] >= 3
            invoice = await bob("addinvoice", PAY_MSAT)
            paid = await alice("pay", b_info["node_id"], PAY_MSAT, invoice["payment_hash"])
            assert hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() == \
                invoice["payment_hash"]
            info = await alice("getchannelinfo", cid)
            assert info["opener"] == "local" and info["pending_htlcs"] == 0
            assert info["remote_balance_msat"] == PAY_MSAT
            assert info["local_balance_msat"] == FUNDING_SAT * 1000 - PAY_MSAT
            b_side = await bob("getchannelinfo", cid)
            assert b_side["local_balance_msat"] == PAY_MSAT
            # Typed errors.
            bad = await _call_error(alice, "pay", b_info["node_id"], PAY_MSAT, "00" * 32)
            assert bad["code"] == -1 and "Payment failed" in bad["message"]
            assert (await _call_error(alice, "getchannelinfo", "11" * 32))["code"] == -8
            assert (await _call_error(alice, "openchannel", "02" + "11" * 32, 10_000))[
                "code"] == -29
            assert (await _call_error(alice, "addinvoice", 0))["code"] == -8
            # Cooperative close: the closing tx confirms and both sides see the channel closed.
            closed = await alice("closechannel", cid)
            async def both_closed() -> bool:
                states = [(await rpc("getchannelinfo", cid))["state"] for rpc in (alice, bob)]
                return states == ["closed", "closed"]
            await _until(alice, both_closed)
            assert await bob("gettxout", opened["funding_txid"],
                             opened["funding_output_index"]) is None
            # Both sides were paid to their wallets: each has a confirmed closing output.
            received = {}
            for name, rpc in (("alice", alice), ("bob", bob)):
                mine = [u for u in await rpc("listunspent", 1)
                        if u["txid"] == closed["closing_txid"]]
                assert len(mine) == 1
                received[name] = Decimal(str(mine[0]["amount"])) * 10**8
            assert received["bob"] == PAY_MSAT // 1000
            assert FUNDING_SAT - PAY_MSAT // 1000 - 1_000 < received["alice"] < \
                FUNDING_SAT - PAY_MSAT // 1000
            # Unilateral close of a second channel: the commitment goes through the mempool,
            # and Bob's resolver (chain events hopped to his loop) sweeps his to_remote to his
            # wallet at once; Alice's to_local waits its CSV delay.
            second = await alice("openchannel", b_info["node_id"], FUNDING_SAT, PUSH_MSAT)
            cid2 = second["channel_id"]

            async def second_active() -> bool:
                return all([(await rpc("getchannelinfo", cid2))["active"]
                            for rpc in (alice, bob)])
            await _until(alice, second_active)
            forced = await alice("forceclosechannel", cid2)

            to_remote = PUSH_MSAT // 1000 - SWEEP_FEE_SAT

            async def swept() -> list[Any]:
                return [u for u in await bob("listunspent", 1)
                        if Decimal(str(u["amount"])) * 10**8 == to_remote]
            assert len(await _until(bob, swept)) == 1
            a_info = await alice("getchannelinfo", cid2)
            assert a_info["state"] == "closing" and a_info["force_closed"]
            assert a_info["spent_height"] is not None
            assert (await bob("getchannelinfo", cid2))["spent_height"] == a_info["spent_height"]
            assert await bob("gettxout", forced["closing_txid"], 0) is not None or \
                await bob("gettxout", forced["closing_txid"], 1) is not None
    finally:
        for node in reversed(nodes):
            await node.stop()
    # A restart keeps the channel node's identity and its channels, and rebuilds the on-chain
    # resolution of the force-closed one.
    again = Node(_channel_config(datadirs[1], premine, limit, []))
    await again.start()
    try:
        assert again.channels is not None
        assert again.channels.node.node_id.hex() == b_info["node_id"]
        assert sorted(c.channel_id.hex() for c in again.channels.node.channels.values()) == \
            sorted([cid, cid2])
        # The force close was replayed at start (its resolution state rebuilt from the chain).
        assert [label for label, _ in again.channels.guards.resolver.broadcasts] == \
            ["to_remote"]
        assert again.channels.node.channels[bytes.fromhex(cid2)].spent_height == \
            a_info["spent_height"]
    finally:
        await again.stop()


def test_two_nodes_open_pay_close_over_rpc(tmp_path) -> None:
    asyncio.run(_scenario(tmp_path))


def test_channel_config_keys(tmp_path) -> None:
    sections = parse_config_text("channels=1\nchannelport=19735\n")
    assert sections[""] == {"channels": ["1"], "channelport": ["19735"]}
    (tmp_path / "wattchain.conf").write_text("channels=1\nchannelport=19735\n")
    config = load_config(tmp_path, network="regtest")
    assert config.channels is True and config.channelport == 19735
    assert load_config(tmp_path / "none", network="regtest").channels is False


def test_channel_rpcs_disabled_without_channels(tmp_path) -> None:
    async def scenario() -> None:
        datadirs, premine, limit = _prepare(tmp_path, 1)
        node = Node(_config(datadirs[0], premine, limit, []))
        await node.start()
        try:
            async with aiohttp.ClientSession() as session:
                err = await _call_error(Rpc(session, node), "listchannels")
                assert err["code"] == -1 and "channels=1" in err["message"]
        finally:
            await node.stop()
    asyncio.run(scenario())
