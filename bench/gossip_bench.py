"""Gossip benchmark: 8 nodes on loopback, transaction and full-block propagation.

Starts ``--nodes`` P2P nodes (real chainstates and mempools in temporary datadirs, real
WebSockets on 127.0.0.1) wired as a ring with chords (node i dials i+1 and, for the first half,
i+n/2: degree 3, diameter 2 for 8 nodes). Then:

- ``tx``: ``--txs`` P2WPKH payments, each submitted at a random node; the time until every
  node's mempool holds it. Median and p95 in milliseconds.
- ``block``: ``--blocks`` blocks of about ``--block-bytes`` serialized bytes (default 2 MB) of
  1-in-2-out P2WPKH spends with real signatures, each submitted at node 0; the time until
  every node's tip is that block (every hop fully validates before relaying). Median and p95.
- ``mempool_accept_tx_per_s``: the rate at which node 0 accepted the ``--txs`` payments through
  ``submit_transaction`` (validation + relay bookkeeping), for reference; the mempool's own
  bench (bench/mempool_bench.py) measures acceptance alone.

All nodes run in this one process, so their validation work is serialized by the GIL: the
block figure is roughly (nodes x one validation) + network, not what 8 machines would see.
Prints one JSON object. Generation (signing ~10k transactions per block) is timed separately
and not part of any figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wattchain.core.header import StakeBlock
from wattchain.node.chaingen import Branch, far_future_now, generated_params, make_keys
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool
from wattchain.p2p.node import P2PNode

#: Serialized size of one 1-in-2-out P2WPKH spend (approximately).
TX_BYTES = 222


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build(n_blocks: int, block_bytes: int, n_txs: int, seed: int):
    """Params, the full blocks (chained), and payments spending other premine coins."""
    per_block = max(1, block_bytes // TX_BYTES)
    keys = make_keys(16, seed=seed)
    coins_needed = n_blocks * per_block + n_txs + 64
    params = generated_params(keys, outputs_per_key=coins_needed // 16 + 1)
    branch = Branch(params, keys)
    rng = random.Random(seed)
    pool = sorted((c for c in branch.mature_coins() if c.key is not None),
                  key=lambda c: (c.outpoint.txid, c.outpoint.index))
    spendable = pool[32:]   # the first 32 stay free for the blocks' stakes
    payments = [branch.spend([spendable.pop()], 2, rng, fee=20_000, anyone_can_spend_share=0)
                for _ in range(n_txs)]
    blocks: list[StakeBlock] = []
    for _ in range(n_blocks):
        staked = branch.staked
        spendable = [c for c in spendable if c.outpoint not in staked]
        txs = [branch.spend([spendable.pop()], 2, rng, fee=1000, anyone_can_spend_share=0)
               for _ in range(per_block)]
        blocks.append(branch.add(branch.make_block(txs)))
    return params, blocks, payments


async def run_bench(args: argparse.Namespace) -> dict[str, object]:
    gen_start = time.perf_counter()
    params, blocks, payments = build(args.blocks, args.block_bytes, args.txs, args.seed)
    gen_seconds = time.perf_counter() - gen_start
    root = Path(tempfile.mkdtemp(prefix="gossip-bench-"))
    nodes = []
    for i in range(args.nodes):
        cs = Chainstate.open(root / f"n{i}", params, sync=False)
        pool = Mempool(cs)
        p2p = P2PNode(cs, pool, params, datadir=root / f"n{i}", discover=False,
                      clock=lambda: far_future_now(params), rng=random.Random(i))
        await p2p.start()
        nodes.append((cs, pool, p2p))
    n = args.nodes
    edges = {(i, (i + 1) % n) for i in range(n)} | {(i, i + n // 2) for i in range(n // 2)}
    for a, b in sorted(edges):
        await nodes[a][2].connect("127.0.0.1", nodes[b][2].port)
    await asyncio.gather(*(p.wait_until(lambda p=p: p.connection_count() >= 2)
                           for _, _, p in nodes))
    rng = random.Random(args.seed)

    tx_times = []
    accept_seconds = 0.0
    for tx in payments:
        origin = nodes[rng.randrange(n)][2]
        start = time.perf_counter()
        await origin.submit_transaction(tx)
        accept_seconds += time.perf_counter() - start
        await asyncio.gather(*(p.wait_for_tx(tx.txid) for _, _, p in nodes))
        tx_times.append(time.perf_counter() - start)

    block_times = []
    origin_times = []
    for block in blocks:
        start = time.perf_counter()
        result = await nodes[0][2].submit_block(block)
        origin_times.append(time.perf_counter() - start)
        if not result.accepted:
            raise SystemExit(f"bench block refused: {result.reason} {result.detail}")
        await asyncio.gather(*(p.wait_for_tip(block.hash) for _, _, p in nodes))
        block_times.append(time.perf_counter() - start)

    for cs, _, p2p in nodes:
        await p2p.stop()
        cs.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1), "samples": len(values)}

    return {
        "nodes": n,
        "edges": len(edges),
        "tx": summary(tx_times),
        "block": {**summary(block_times),
                  "serialized_bytes": len(blocks[0].serialize()),
                  "weight": blocks[0].weight,
                  "transactions": len(blocks[0].transactions),
                  # One node's full validation of the block (submit_block at the origin):
                  # every hop pays this before relaying, and all nodes share one GIL here.
                  "origin_validation_median_ms": round(
                      statistics.median(origin_times) * 1000, 1)},
        "mempool_accept_tx_per_s": round(len(payments) / accept_seconds, 1),
        "generation_seconds": round(gen_seconds, 1),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--block-bytes", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run_bench(args)), indent=2))


if __name__ == "__main__":
    main()
