"""Channel nodes on real loopback sockets over a real chainstate (see testchain.py).

Tests are plain functions driving the loop with :func:`run`; every wait is on an event (a
future of the node, a broadcast); ``run``'s timeout only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from wattchain.channels.guards import Guards, guard
from wattchain.channels.node import ChannelNode, NodeConfig
from wattchain.channels.state import Channel
from wattchain.channels.store import ChannelStore
from wattchain.channels.testchain import TestChain
from wattchain.channels.watcher import BreachWatcher

T = TypeVar("T")
HANG_GUARD = 60.0
CONFIG = NodeConfig(minimum_depth=3)


def run(coro: Awaitable[T], timeout: float = HANG_GUARD) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


def secret(name: str) -> bytes:
    return hashlib.sha256(b"node:" + name.encode()).digest()


def make_node(chain: TestChain, tmp: Path, name: str, cls: type[ChannelNode] = ChannelNode,
              config: NodeConfig = CONFIG) -> ChannelNode:
    store = ChannelStore(tmp / f"{name}.db", sync=False)
    node = cls(secret(name), store, funding=chain, broadcaster=chain, config=config,
               height=chain.height)
    chain.subscribe(node)
    node.watcher = BreachWatcher(node)  # type: ignore[attr-defined]
    chain.subscribe(node.watcher)  # type: ignore[attr-defined]
    return node


def make_guarded(chain: TestChain, tmp: Path, name: str, config: NodeConfig = CONFIG
                 ) -> tuple[ChannelNode, Guards]:
    """A node with all its guards attached the way an embedding does it (``guard`` with the
    chainstate: catching up first, which after a restart rebuilds on-chain resolution)."""
    store = ChannelStore(tmp / f"{name}.db", sync=False)
    node = ChannelNode(secret(name), store, funding=chain, broadcaster=chain, config=config,
                       height=chain.height)
    return node, guard(node, chain.subscribe, chain=chain.chainstate)


async def restart(chain: TestChain, tmp: Path, name: str, node: ChannelNode, guards: Guards,
                  config: NodeConfig = CONFIG) -> tuple[ChannelNode, Guards]:
    """Stop ``node`` (unsubscribing it and its guards, closing its store) and start a fresh
    one on the same store, as a process restart does."""
    await node.stop()
    for listener in (node, node.outbox, guards.watcher, guards.resolver, guards.deadlines):
        chain.chainstate.events.unsubscribe(listener)
    node.store.close()
    fresh, fresh_guards = make_guarded(chain, tmp, name, config)
    await fresh.start()
    return fresh, fresh_guards


async def open_ready(chain: TestChain, a: ChannelNode, b: ChannelNode, funding_sat: int,
                     push_msat: int = 0) -> Channel:
    """Connect a -> b, open and fund a channel, mine it to minimum depth, await ready."""
    peer = a.peers.get(b.node_id) or await a.connect("127.0.0.1", b.port)
    chan = await a.open_channel(peer, funding_sat, push_msat)
    await chain.wait_broadcast(lambda tx: tx.txid == chan.funding_txid)
    chain.mine(n=CONFIG.minimum_depth)
    await a.wait_ready(chan.channel_id)
    await b.wait_ready(chan.channel_id)
    return a.channels[chan.channel_id]


def preimage(i: int, tag: bytes = b"") -> bytes:
    return hashlib.sha256(b"preimage" + tag + i.to_bytes(8, "big")).digest()
