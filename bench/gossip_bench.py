"""Gossip benchmark: 8 nodes, each in its own OS process, on loopback.

Every node is a separate process (``multiprocessing``, fork) with its own chainstate, mempool
and P2P node on a real WebSocket on 127.0.0.1, so nodes validate in parallel as separate
machines would. The parent only generates the chain and coordinates over pipes; all times are
``time.monotonic()`` (one system-wide clock on Linux) taken inside the node processes.
Topology: a ring with chords (node i dials i+1 and, for the first half, i+n/2: degree 3,
diameter 2 for 8 nodes).

Figures:

- ``tx``: ``--txs`` P2WPKH payments, each submitted at a random node; the time until every
  node's mempool holds it.
- ``block``: ``--blocks`` blocks of about ``--block-bytes`` serialized bytes (default 2 MB) of
  1-in-2-out P2WPKH spends with real signatures, each submitted at node 0. Two figures:
  ``prechecked_by_all`` — until every node has received the block and passed its header,
  stake and signature (the point at which a node relays it on, BIP152 high-bandwidth style);
  ``connected_by_all`` — until every node has fully validated and connected it.
- ``mempool_accept_tx_per_s``: ``--accept-txs`` payments submitted back to back at node 0
  through ``submit_transaction`` (validation + relay bookkeeping) while the other processes
  receive and validate the relayed copies.

The machine's core count matters: with fewer cores than nodes, the nodes' validations contend
for CPU and ``connected_by_all`` is roughly (nodes / cores) x one validation. Prints one JSON
object. Generation (signing ~10k transactions per block) is timed separately.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from wattchain.consensus.params import ChainParams
from wattchain.core.header import StakeBlock, deserialize_stake_block
from wattchain.core.tx import Transaction
from wattchain.node.chaingen import Branch, far_future_now, generated_params, make_keys
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool
from wattchain.node.policy import MempoolRejectError
from wattchain.p2p.node import P2PNode

#: Serialized size of one 1-in-2-out P2WPKH spend (approximately).
TX_BYTES = 222


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build(n_blocks: int, block_bytes: int, n_txs: int, seed: int
          ) -> tuple[ChainParams, list[StakeBlock], list[Transaction]]:
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


# ---------------------------------------------------------------------------- node process
class NodeProcess:
    """One node (runs in the child): executes the coordinator's commands, reports times."""

    def __init__(self, index: int, pipe: Pipe, datadir: Path, params: ChainParams,
                 blocks: list[bytes], block_hashes: list[bytes], txs: list[bytes],
                 txids: list[bytes]) -> None:
        self.index = index
        self.pipe = pipe
        self.datadir = datadir
        self.params = params
        self.blocks = blocks
        self.block_hashes = block_hashes
        self.txs = txs
        self.txids = txids
        self.tasks: set[asyncio.Task[Any]] = set()

    def reply(self, *msg: object) -> None:
        self.pipe.send(msg)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def main(self) -> None:
        params = self.params
        cs = Chainstate.open(self.datadir, params, sync=False)
        pool = Mempool(cs)
        p2p = P2PNode(cs, pool, params, datadir=self.datadir, discover=False,
                      clock=lambda: far_future_now(params), rng=random.Random(self.index))
        await p2p.start()
        self.reply("port", p2p.port)
        loop = asyncio.get_running_loop()
        while True:
            cmd, *args = await loop.run_in_executor(None, self.pipe.recv)
            if cmd == "stop":
                for task in list(self.tasks):
                    task.cancel()
                await p2p.stop()
                cs.close()
                self.reply("stopped")
                return
            await self.command(p2p, cmd, args)

    async def command(self, p2p: P2PNode, cmd: str, args: list[Any]) -> None:
        if cmd == "connect":
            await p2p.connect("127.0.0.1", args[0])
            self.reply("ok")
        elif cmd == "wait_peers":
            await p2p.wait_for_peers(args[0])
            self.reply("ok")
        elif cmd == "watch_tx":
            k = args[0]
            self.spawn(self._watch_tx(p2p, k))
            self.reply("watching")
        elif cmd == "watch_block":
            k = args[0]
            self.spawn(self._watch_block(p2p, k))
            self.reply("watching")
        elif cmd == "submit_tx":
            tx = Transaction.deserialize(self.txs[args[0]])
            start = time.monotonic()
            accepted = (await p2p.submit_transaction(tx)).accepted
            self.reply("submitted", start, time.monotonic(), accepted)
        elif cmd == "accept_batch":
            txs = [Transaction.deserialize(raw) for raw in self.txs[args[0]:args[1]]]
            accepted = 0
            start = time.monotonic()
            for tx in txs:
                try:
                    accepted += (await p2p.submit_transaction(tx)).accepted
                except MempoolRejectError:
                    pass
            self.reply("accepted", start, time.monotonic(), accepted)
        elif cmd == "submit_block":
            block = deserialize_stake_block(self.blocks[args[0]])   # not timed: a staker
            start = time.monotonic()                                # has the object
            result = await p2p.submit_block(block)
            self.reply("submitted", start, time.monotonic(), result.accepted,
                       f"{result.reason} {result.detail}")
        else:
            raise ValueError(f"unknown command {cmd}")

    async def _watch_tx(self, p2p: P2PNode, k: int) -> None:
        await p2p.wait_for_tx(self.txids[k])
        self.reply("tx", k, self.index, time.monotonic())

    async def _watch_block(self, p2p: P2PNode, k: int) -> None:
        block_hash = self.block_hashes[k]
        await p2p.wait_for_block(block_hash)
        prechecked = time.monotonic()
        await p2p.wait_for_tip(block_hash)
        self.reply("block", k, self.index, prechecked, time.monotonic())


def node_main(node: NodeProcess) -> None:
    asyncio.run(node.main())


# ---------------------------------------------------------------------------- coordinator
class Cluster:
    """The coordinator's side of the pipes. Nodes send replies to commands and, from their
    watcher tasks, reports ("tx", "block") that may arrive before or after a reply."""

    REPORTS = ("tx", "block")

    def __init__(self, pipes: list[Pipe]) -> None:
        self.pipes = pipes
        self.reports: list[tuple[Any, ...]] = []

    def ask(self, i: int, *cmd: object) -> tuple[Any, ...]:
        self.pipes[i].send(cmd)
        while True:
            msg = self.pipes[i].recv()
            if msg[0] not in self.REPORTS:
                return msg  # type: ignore[no-any-return]
            self.reports.append(msg)

    def collect(self, count: int, kind: str) -> list[tuple[Any, ...]]:
        """``count`` reports of ``kind`` from any nodes."""
        got = [r for r in self.reports if r[0] == kind][:count]
        self.reports = [r for r in self.reports if r not in got]
        while len(got) < count:
            for pipe in mp_connection.wait(self.pipes):
                msg = pipe.recv()  # type: ignore[union-attr]
                if msg[0] != kind:
                    raise SystemExit(f"unexpected {msg!r} while waiting for {kind} reports")
                got.append(msg)
        return got


def summary(values: list[float], listed: bool = False) -> dict[str, object]:
    out: dict[str, object] = {"median_ms": round(statistics.median(values) * 1000, 1),
                              "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                              "max_ms": round(max(values) * 1000, 1), "samples": len(values)}
    if listed:
        out["each_ms"] = [round(v * 1000, 1) for v in values]
    return out


def run_bench(args: argparse.Namespace) -> dict[str, object]:
    gen_start = time.perf_counter()
    params, blocks, payments = build(args.blocks, args.block_bytes,
                                     args.txs + args.accept_txs, args.seed)
    gen_seconds = time.perf_counter() - gen_start
    block_info = {"serialized_bytes": len(blocks[0].serialize()), "weight": blocks[0].weight,
                  "transactions": len(blocks[0].transactions)}
    blocks_raw = [b.serialize() for b in blocks]
    block_hashes = [b.hash for b in blocks]
    txs_raw = [t.serialize() for t in payments]
    txids = [t.txid for t in payments]
    del blocks, payments
    gc.collect()
    gc.freeze()   # children share the parent's objects without touching them

    n = args.nodes
    root = Path(tempfile.mkdtemp(prefix="gossip-bench-"))
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for i in range(n):
        parent_end, child_end = ctx.Pipe()
        node = NodeProcess(i, child_end, root / f"n{i}", params, blocks_raw, block_hashes,
                           txs_raw, txids)
        proc = ctx.Process(target=node_main, args=(node,), daemon=True)
        proc.start()
        pipes.append(parent_end)
        procs.append(proc)
    cluster = Cluster(pipes)
    ports = [pipe.recv()[1] for pipe in pipes]
    edges = {(i, (i + 1) % n) for i in range(n)} | {(i, i + n // 2) for i in range(n // 2)}
    for a, b in sorted(edges):
        cluster.ask(a, "connect", ports[b])
    for i in range(n):
        cluster.ask(i, "wait_peers", 2)
    rng = random.Random(args.seed)

    tx_times = []
    for k in range(args.txs):
        for i in range(n):
            cluster.ask(i, "watch_tx", k)
        origin = rng.randrange(n)
        _, start, _, accepted = cluster.ask(origin, "submit_tx", k)
        if not accepted:
            raise SystemExit(f"bench tx {k} refused")
        seen = cluster.collect(n, "tx")
        tx_times.append(max(t for *_, t in seen) - start)

    _, start, end, n_accepted = cluster.ask(0, "accept_batch", args.txs,
                                            args.txs + args.accept_txs)
    accept_rate = n_accepted / (end - start)

    prechecked, connected, origin_times = [], [], []
    per_hop: list[float] = []
    for k in range(len(blocks_raw)):
        for i in range(n):
            cluster.ask(i, "watch_block", k)
        _, start, end, accepted, why = cluster.ask(0, "submit_block", k)
        if not accepted:
            raise SystemExit(f"bench block refused: {why}")
        reports = cluster.collect(n, "block")
        origin_times.append(end - start)
        prechecked.append(max(r[3] for r in reports) - start)
        connected.append(max(r[4] for r in reports) - start)
        per_hop.extend(r[3] - start for r in reports if r[2] != 0)

    for pipe in pipes:
        pipe.send(("stop",))
    for pipe in pipes:
        pipe.recv()
    for proc in procs:
        proc.join()
    shutil.rmtree(root, ignore_errors=True)

    return {
        "nodes": n,
        "processes": n,
        "edges": len(edges),
        "tx": summary(tx_times),
        "block": {
            **block_info,
            # The figure the 1 s target is compared to: every node has the block and has
            # checked its header, stake and signature (and relayed it on).
            "prechecked_by_all": summary(prechecked, listed=True),
            "connected_by_all": summary(connected, listed=True),
            "prechecked_per_node_median_ms": round(statistics.median(per_hop) * 1000, 1),
            # One node's submit_block of the block (precheck, push, full validation).
            "origin_full_validation_median_ms": round(
                statistics.median(origin_times) * 1000, 1),
        },
        "mempool_accept_tx_per_s": round(accept_rate, 1),
        "mempool_accept_txs": n_accepted,
        "generation_seconds": round(gen_seconds, 1),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument("--accept-txs", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--block-bytes", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run_bench(args), indent=2))


if __name__ == "__main__":
    main()
