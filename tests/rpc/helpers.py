"""A real node behind a real RPC server on 127.0.0.1, for blocking HTTP clients.

The server's event loop runs in a background thread (started and stopped through futures, no
sleeps), so tests can use independent blocking clients: urllib, python-bitcoinlib's RawProxy
and wattchain-cli.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from wattchain.consensus.params import ChainParams
from wattchain.core.header import StakeBlock
from wattchain.node.chaingen import Branch, Key, far_future_now, generated_params, make_keys
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool
from wattchain.node.services import NodeServices
from wattchain.rpc.auth import read_cookie
from wattchain.rpc.server import RpcServer


@dataclass
class ChainData:
    params: ChainParams
    keys: list[Key]
    branch: Branch
    blocks: list[StakeBlock]


def build_chain(n_blocks: int = 6, seed: int = 7) -> ChainData:
    keys = make_keys(3)
    params = generated_params(keys, outputs_per_key=4)
    branch = Branch(params, keys)
    rng = random.Random(seed)
    for _ in range(n_blocks):
        branch.random_block(rng, max_txs=2)
    return ChainData(params, keys, branch, list(branch.blocks))


class RpcFailure(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.status = status
        self.code = error.get("code")
        self.message = error.get("message")


@dataclass
class RunningNode:
    services: NodeServices
    server: RpcServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    datadir: Path
    chain: ChainData
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/"

    @property
    def cookie(self) -> str:
        return read_cookie(self.datadir)

    def post(self, body: bytes | str, credential: str | None = None, method: str = "POST",
             path: str = "/") -> tuple[int, bytes]:
        """Raw HTTP exchange: (status, body)."""
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/json"}
        cred = self.cookie if credential is None else credential
        if cred:
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        request = urllib.request.Request(self.url.rstrip("/") + path,
                                         data=body if method == "POST" else None,
                                         method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()

    def call(self, method: str, *params: Any, named: dict[str, Any] | None = None) -> Any:
        """One legacy JSON-RPC call; raises RpcFailure with the error code."""
        request = {"jsonrpc": "1.0", "id": "t", "method": method,
                   "params": named if named is not None else list(params)}
        status, body = self.post(json.dumps(request, default=str))
        reply = json.loads(body, parse_float=Decimal)
        assert reply["id"] == "t"
        if reply["error"] is not None:
            raise RpcFailure(status, reply["error"])
        assert status == 200
        return reply["result"]

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


def start_node(datadir: Path, chain: ChainData, *, with_mempool: bool = True,
               **server_kwargs: Any) -> RunningNode:
    datadir.mkdir(parents=True, exist_ok=True)
    cs = Chainstate.open(datadir, chain.params, sync=False)
    now = far_future_now(chain.params)
    for block in chain.blocks[1:]:
        result = cs.process_block(block, now)
        assert result.accepted, result
    pool = Mempool(cs) if with_mempool else None
    services = NodeServices(params=chain.params, chainstate=cs, mempool=pool)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings: dict[str, Any] = {"datadir": datadir, "rest": True, "auth_failure_delay": 0}
    settings.update(server_kwargs)
    server = RpcServer(services, **settings)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    return RunningNode(services, server, loop, thread, datadir, chain)


def stop_node(node: RunningNode) -> None:
    asyncio.run_coroutine_threadsafe(node.server.stop(), node.loop).result(timeout=30)
    node.loop.call_soon_threadsafe(node.loop.stop)
    node.thread.join(timeout=30)
    node.loop.close()
    node.services.close()
    node.services.chainstate.close()
