"""Multi-node harness: real chainstates, real mempools, real sockets on 127.0.0.1.

Tests are plain functions that drive the loop with :func:`run` (pytest-asyncio is not a
dependency). Every wait is on an event of the node (``wait_for_tip``, ``wait_until``);
``run``'s overall timeout only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wattchain.consensus.params import ChainParams
from wattchain.core.tx import Transaction
from wattchain.node.chaingen import Branch, Key, Spendable, far_future_now, generated_params, make_keys
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool
from wattchain.p2p.node import P2PNode

T = TypeVar("T")
#: Generous guard against hangs (not a speed assertion).
HANG_GUARD = 60.0


def run(coro: Awaitable[T], timeout: float = HANG_GUARD) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


def test_chain(n_keys: int = 4, outputs_per_key: int = 8) -> tuple[ChainParams, list[Key]]:
    keys = make_keys(n_keys)
    return generated_params(keys, outputs_per_key=outputs_per_key), keys


test_chain.__test__ = False  # type: ignore[attr-defined]


@dataclass
class Node:
    cs: Chainstate
    pool: Mempool
    p2p: P2PNode
    datadir: Path

    @property
    def addr(self) -> tuple[str, int]:
        return (self.p2p.host, self.p2p.port)

    async def stop(self) -> None:
        await self.p2p.stop()
        self.cs.close()


async def start_node(params: ChainParams, datadir: Path, **kwargs: Any) -> Node:
    datadir.mkdir(parents=True, exist_ok=True)
    cs = Chainstate.open(datadir, params, sync=False)
    pool = Mempool(cs)
    settings: dict[str, Any] = {"clock": lambda: far_future_now(params), "discover": False,
                                "datadir": datadir, "rng": random.Random(str(datadir))}
    settings.update(kwargs)
    p2p = P2PNode(cs, pool, params, **settings)
    await p2p.start()
    return Node(cs, pool, p2p, datadir)


async def start_nodes(params: ChainParams, tmp_path: Path, n: int, **kwargs: Any) -> list[Node]:
    return [await start_node(params, tmp_path / f"node{i}", **kwargs) for i in range(n)]


async def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        await node.stop()


async def link(a: Node, b: Node) -> None:
    """a dials b and both see the completed handshake."""
    before = b.p2p.connection_count()
    await a.p2p.connect(*b.addr)
    await b.p2p.wait_for_peers(before + 1)


def payment(branch: Branch, coin: Spendable, rng: random.Random, fee: int = 20_000) -> Transaction:
    """A standard fee-paying spend of one premine coin."""
    return branch.spend([coin], 2, rng, fee=fee, anyone_can_spend_share=0.0)


def unstaked_coins(branch: Branch) -> list[Spendable]:
    """Key-owned mature coins that no branch sharing ``branch.staked`` has staked."""
    coins = [c for c in branch.mature_coins() if c.key is not None
             and c.outpoint not in branch.staked]
    return sorted(coins, key=lambda c: (c.outpoint.txid, c.outpoint.index))


async def all_txids(node: Node) -> set[bytes]:
    return set(await node.p2p.run(node.pool.txids))
