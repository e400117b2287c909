"""Channel payment throughput and latency on loopback WebSockets.

* ``one_channel``: payments over a single channel A -> B. ``throughput`` keeps ``--window``
  payments in flight (the node batches the updates of one loop turn into one
  commitment_signed, as BOLT 2 allows) and reports completed payments per second;
  ``latency`` pays one at a time and reports p50/p99 of add -> fulfilled.
* ``three_hops``: the same over A -> B -> C -> D (two forwarding nodes, one payment hash).

Channel state is persisted in LevelDB as in production (one batch per transition); ``--sync``
also fsyncs every batch. Funding is real: a chainstate with staked blocks (testchain.py).

    python bench/channel_bench.py                       # 2000 payments, window 100
    python bench/channel_bench.py --payments 5000 --window 200 --sync

Prints one JSON object. Target (issue 9): at least 1,000 payments/s on one channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wattchain.channels.node import ChannelNode, NodeConfig
from wattchain.channels.router import Route
from wattchain.channels.store import ChannelStore
from wattchain.channels.testchain import TestChain
from wattchain.core.hashes import sha256

FUNDING_SAT = 10_000_000
AMOUNT_MSAT = 1_000


def _pct(values: list[float], pct: int) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, len(values) * pct // 100)] if values else 0.0


async def _network(tmp: Path, hops: int, sync: bool) -> tuple[TestChain, list[ChannelNode],
                                                               list[bytes]]:
    chain = TestChain(tmp / "chain")
    nodes = []
    for i in range(hops + 1):
        node = ChannelNode(sha256(b"bench%d" % i), ChannelStore(tmp / f"n{i}", sync=sync),
                           funding=chain, broadcaster=chain, config=NodeConfig(minimum_depth=1),
                           height=chain.height)
        chain.subscribe(node)
        await node.start()
        nodes.append(node)
    cids = []
    for a, b in zip(nodes, nodes[1:]):
        chan = await a.open_channel(await a.connect("127.0.0.1", b.port), FUNDING_SAT)
        chain.mine()
        await a.wait_ready(chan.channel_id)
        await b.wait_ready(chan.channel_id)
        cids.append(chan.channel_id)
    for n in nodes:
        for (a, b), cid in zip(zip(nodes, nodes[1:]), cids):
            n.graph.add_channel(cid, a.node_id, b.node_id, FUNDING_SAT * 1000)
    return chain, nodes, cids


async def _measure(tmp: Path, hops: int, payments: int, window: int, latency_n: int,
                   sync: bool) -> dict[str, Any]:
    chain, nodes, cids = await _network(tmp, hops, sync)
    src, dst = nodes[0], nodes[-1]
    try:
        route = src.graph.find_route(src.node_id, dst.node_id, AMOUNT_MSAT, chain.height + 50)
        counter = iter(range(10**9))

        def invoice() -> bytes:
            return dst.payments.add_invoice(sha256(b"p%d" % next(counter)), AMOUNT_MSAT)

        async def pay(r: Route, h: bytes) -> float:
            start = time.perf_counter()
            await src.payments.pay(r, h)
            return time.perf_counter() - start

        hashes = [invoice() for _ in range(payments)]
        sem = asyncio.Semaphore(window)

        async def limited(h: bytes) -> float:
            async with sem:
                return await pay(route, h)

        start = time.perf_counter()
        in_flight_lat = await asyncio.gather(*(limited(h) for h in hashes))
        elapsed = time.perf_counter() - start
        sequential = [await pay(route, invoice()) for _ in range(latency_n)]
        return {
            "hops": hops, "payments": payments, "window": window,
            "payments_per_second": payments / elapsed,
            "pipelined_latency_ms": {"p50": _pct(in_flight_lat, 50) * 1e3,
                                     "p99": _pct(in_flight_lat, 99) * 1e3},
            "latency_ms": {"n": latency_n, "p50": _pct(sequential, 50) * 1e3,
                           "p99": _pct(sequential, 99) * 1e3},
        }
    finally:
        for n in nodes:
            await n.stop()
            n.store.close()
        chain.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--latency-payments", type=int, default=200)
    parser.add_argument("--sync", action="store_true", help="fsync every channel batch")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": {"python": sys.version.split()[0],
                                       "platform": platform.platform()}, "sync": args.sync}
    for name, hops in (("one_channel", 1), ("three_hops", 3)):
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = asyncio.run(_measure(Path(tmp), hops, args.payments, args.window,
                                             args.latency_payments, args.sync))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
