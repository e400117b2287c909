"""Three real nodes (daemon objects, real sockets, real RPC over HTTP) on one regtest genesis:
they stake, a payment between two wallets confirms, coins are conserved, shutdown is clean and
a restart resumes."""

from __future__ import annotations

import asyncio
import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from wattchain.consensus.params import regtest_params
from wattchain.node.config import WALLET_DIRNAME, NodeConfig
from wattchain.node.daemon import Node
from wattchain.node.datadir_lock import DataDirLockedError
from wattchain.rpc.auth import read_cookie
from wattchain.testnet import stake_limit
from wattchain.wallet.wallet import Wallet

COINS = 1_000
OUTPUTS = 12


def _prepare(tmp_path: Path, count: int) -> tuple[list[Path], tuple[str, ...], str]:
    datadirs, addresses = [], []
    for i in range(count):
        datadir = tmp_path / f"node{i}"
        wallet = Wallet.create(datadir / WALLET_DIRNAME, regtest_params())
        addresses.append(wallet.get_new_address())
        wallet.close()
        datadirs.append(datadir)
    premine = tuple(f"{a}:{COINS}" for a in addresses for _ in range(OUTPUTS))
    limit = stake_limit(count * OUTPUTS * COINS * 10**8)
    return datadirs, premine, f"{limit:x}"


def _config(datadir: Path, premine: tuple[str, ...], limit: str,
            peers: list[int]) -> NodeConfig:
    return NodeConfig(network="regtest", datadir=datadir, port=0, rpcport=0, premine=premine,
                      poslimit=limit, addnode=tuple(f"127.0.0.1:{p}" for p in peers),
                      discover=False)


class Rpc:
    def __init__(self, session: aiohttp.ClientSession, node: Node) -> None:
        assert node.rpc is not None
        self.session = session
        self.url = f"http://127.0.0.1:{node.rpc.port}/"
        token = base64.b64encode(read_cookie(node.datadir).encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    async def __call__(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params)}
        async with self.session.post(self.url, data=json.dumps(body),
                                     headers=self.headers) as response:
            reply = json.loads(await response.text(), parse_float=Decimal)
        if reply["error"] is not None:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]


async def _wait_synced(nodes: list[Node], height: int) -> None:
    for node in nodes:
        assert node.p2p is not None
        await asyncio.wait_for(node.p2p.wait_until(lambda n=node: n.p2p.tip_height >= height),
                               60)


def _total(balances: dict[str, Any]) -> Decimal:
    mine = balances["mine"]
    return sum((Decimal(str(mine[k])) for k in ("trusted", "untrusted_pending", "immature", "stake")),
               Decimal(0))


async def _scenario(tmp_path: Path) -> None:
    datadirs, premine, limit = _prepare(tmp_path, 3)
    nodes: list[Node] = []
    try:
        for datadir in datadirs:
            peers = [n.p2p.port for n in nodes if n.p2p is not None]
            node = Node(_config(datadir, premine, limit, peers))
            await node.start()
            nodes.append(node)
        await _wait_synced(nodes, 3)
        async with aiohttp.ClientSession() as session:
            alice, bob, carol = (Rpc(session, n) for n in nodes)
            info = await carol("getstakinginfo")
            assert info["enabled"] and Decimal(str(info["weight"])) > 0
            address = await bob("getnewaddress")
            txid = await alice("sendtoaddress", address, 12.5)
            # the payment confirms on every node
            for _ in range(60):
                tip = await carol("waitfornewblock", 10_000)
                if txid not in await carol("getrawmempool") and any(
                        u["txid"] == txid for u in await bob("listunspent", 1)):
                    break
            else:
                raise AssertionError("payment did not confirm")
            received = [u for u in await bob("listunspent", 1) if u["txid"] == txid]
            assert len(received) == 1 and Decimal(str(received[0]["amount"])) == Decimal("12.5")
            assert received[0]["address"] == address
            sent = [t for t in await alice("listtransactions", "*", 50)
                    if t["txid"] == txid and t["category"] == "send"]
            assert sent and Decimal(str(sent[0]["amount"])) == Decimal("-12.5")
            # every coin belongs to one of the three wallets: their balances add up to the
            # UTXO set's total at one common tip (stop staking to hold the chain still)
            for rpc in (alice, bob, carol):
                await rpc("setstaking", False)
            # Rival blocks of equal work may have left the nodes on different tips; one more
            # block from alice alone is more work than any rival, so everyone follows it.
            await alice("setstaking", True)
            await alice("waitfornewblock", 20_000)
            await alice("setstaking", False)
            tip = await alice("waitfornewblock", 1_500)  # an attempt already in flight lands
            for rpc in (bob, carol):
                assert (await rpc("waitforblock", tip["hash"], 20_000))["hash"] == tip["hash"]
            hashes = {await rpc("getbestblockhash") for rpc in (alice, bob, carol)}
            assert len(hashes) == 1
            supply = Decimal(str((await carol("gettxoutsetinfo"))["total_amount"]))
            wallets = sum([_total(await rpc("getbalances")) for rpc in (alice, bob, carol)],
                          Decimal(0))
            if wallets != supply:  # diagnostics, shown by pytest on failure
                for rpc in (alice, bob, carol):
                    print("BAL", await rpc("getbalances"))
                    print("UNSPENT", [(u["txid"][:8], u["vout"], u["amount"], u["confirmations"])
                                      for u in await rpc("listunspent", 0)])
                print("TXID", txid)
            assert wallets == supply
            assert supply == Decimal(3 * OUTPUTS * COINS) + Decimal(4) * tip["height"]
            height = tip["height"]
        # a second node on a used datadir refuses to start
        with pytest.raises(DataDirLockedError):
            await Node(_config(datadirs[0], premine, limit, [])).start()
    finally:
        for node in reversed(nodes):
            await node.stop()
    # graceful shutdown flushed everything: a restart resumes at the same tip
    again = Node(_config(datadirs[1], premine, limit, []))
    await again.start()
    try:
        assert again.chainstate is not None and again.chainstate.tip.height >= height
        assert (datadirs[1] / "mempool.dat").exists()
    finally:
        await again.stop()


def test_three_nodes_stake_pay_and_restart(tmp_path) -> None:
    asyncio.run(_scenario(tmp_path))
