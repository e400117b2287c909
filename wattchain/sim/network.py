"""A small regtest network of real in-process nodes for the simulation, and a JSON-RPC client.

Two validators stake on their own premine; a third node, the community's *gateway*, does not
stake: its wallet holds the keys of the platform, the registrar (who sends the operators'
certifications), the battery owners and every household, all paid in the genesis premine so
the run starts at once. Every node is a full :class:`~wattchain.node.daemon.Node` (chainstate
in LevelDB, P2P over loopback sockets, the HTTP JSON-RPC server with its cookie); the
simulation talks to the gateway over HTTP like any client would.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from wattchain.consensus.params import regtest_params
from wattchain.node.config import WALLET_DIRNAME, NodeConfig
from wattchain.node.daemon import Node
from wattchain.rpc.auth import read_cookie
from wattchain.testnet import stake_limit
from wattchain.wallet.wallet import Wallet

VALIDATORS = 2
VALIDATOR_OUTPUTS = 12
VALIDATOR_COINS = 1_000
#: Premine of the gateway's parties: (outputs, coins each). Several coins per sender let one
#: phase send several transactions from one account without long unconfirmed chains.
HOUSE_OUTPUTS = (6, 100)
PLATFORM_OUTPUTS = (20, 100)
OWNER_OUTPUTS = (3, 100)
#: The registrar has ONE coin: each certification spends the previous one's change, which
#: forces the operator nonces to confirm in order.
REGISTRAR_OUTPUTS = (1, 10_000)
#: Mempool ancestor limit (policy.max_ancestors) minus a margin.
CHAIN_LIMIT = 20
WAIT_MS = 60_000


class RpcError(RuntimeError):
    """A JSON-RPC call returned an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message')} (code {error.get('code')})")
        self.method = method
        self.code = error.get("code")


class Rpc:
    """Calls one node's JSON-RPC server over HTTP with its cookie."""

    def __init__(self, session: aiohttp.ClientSession, node: Node) -> None:
        assert node.rpc is not None
        self.session = session
        self.url = f"http://127.0.0.1:{node.rpc.port}/"
        token = base64.b64encode(read_cookie(node.datadir).encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.calls = 0

    async def __call__(self, method: str, /, *params: Any, **named: Any) -> Any:
        """Positional ``params`` or (Core's named-parameter form) keyword arguments."""
        body = {"jsonrpc": "1.0", "id": self.calls, "method": method,
                "params": named if named else list(params)}
        self.calls += 1
        async with self.session.post(self.url, data=json.dumps(body),
                                     headers=self.headers) as response:
            reply = json.loads(await response.text(), parse_float=Decimal)
        if reply.get("error") is not None:
            raise RpcError(method, reply["error"])
        return reply["result"]


@dataclass(frozen=True)
class Parties:
    """Addresses (bech32 P2WPKH) in the gateway's wallet."""

    platform: str
    registrar: str
    owners: tuple[str, ...]
    houses: tuple[str, ...]


class Network:
    """Start with :meth:`start`, stop with :meth:`stop` (or ``async with``)."""

    def __init__(self, root: Path, houses: int, batteries: int) -> None:
        self.root = root
        self.houses = houses
        self.batteries = batteries
        self.nodes: list[Node] = []
        self.parties: Parties | None = None
        self.session: aiohttp.ClientSession | None = None

    def _prepare(self) -> tuple[list[Path], tuple[str, ...], str]:
        params = regtest_params()
        premine: list[str] = []
        datadirs = []
        for i in range(VALIDATORS):
            datadir = self.root / f"validator{i}"
            wallet = Wallet.create(datadir / WALLET_DIRNAME, params)
            address = wallet.get_new_address()
            wallet.close()
            premine += [f"{address}:{VALIDATOR_COINS}"] * VALIDATOR_OUTPUTS
            datadirs.append(datadir)
        gateway = self.root / "gateway"
        wallet = Wallet.create(gateway / WALLET_DIRNAME, params)
        try:
            platform, registrar = wallet.get_new_address(), wallet.get_new_address()
            owners = tuple(wallet.get_new_address() for _ in range(self.batteries))
            houses = tuple(wallet.get_new_address() for _ in range(self.houses))
        finally:
            wallet.close()
        for address, (count, coins) in ([(platform, PLATFORM_OUTPUTS),
                                         (registrar, REGISTRAR_OUTPUTS)]
                                        + [(o, OWNER_OUTPUTS) for o in owners]
                                        + [(h, HOUSE_OUTPUTS) for h in houses]):
            premine += [f"{address}:{coins}"] * count
        datadirs.append(gateway)
        self.parties = Parties(platform, registrar, owners, houses)
        limit = stake_limit(VALIDATORS * VALIDATOR_OUTPUTS * VALIDATOR_COINS * 10**8)
        return datadirs, tuple(premine), f"{limit:x}"

    async def start(self) -> None:
        datadirs, premine, limit = self._prepare()
        for i, datadir in enumerate(datadirs):
            peers = [n.p2p.port for n in self.nodes if n.p2p is not None]
            config = NodeConfig(network="regtest", datadir=datadir, port=0, rpcport=0,
                                premine=premine, poslimit=limit, discover=False,
                                addnode=tuple(f"127.0.0.1:{p}" for p in peers),
                                staking=i < VALIDATORS, printtoconsole=False,
                                loglevel="warning")
            node = Node(config)
            await node.start()
            self.nodes.append(node)
        for node in self.nodes:  # everyone sees the validators' first blocks: peers are up
            assert node.p2p is not None
            await asyncio.wait_for(
                node.p2p.wait_until(lambda n=node: n.p2p.tip_height >= 2), 120)
        self.session = aiohttp.ClientSession()

    def rpc(self, index: int = -1) -> Rpc:
        """A client of node ``index`` (default: the gateway)."""
        assert self.session is not None
        return Rpc(self.session, self.nodes[index])

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        for node in reversed(self.nodes):
            await node.stop()
        self.nodes = []

    async def __aenter__(self) -> Network:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


__all__ = ["CHAIN_LIMIT", "Network", "Parties", "Rpc", "RpcError", "WAIT_MS"]
