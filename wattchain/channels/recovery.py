"""Restart safety for on-chain resolution: rebuild the guards' state from the store and the
recent chain.

The breach watcher, the unilateral-close resolver and the deadline enforcer keep their
working state in memory (breaches being punished, closes being swept, sweeps waiting for a CSV
delay). Rather than persisting each of those structures — and keeping them consistent with the
chain through reorgs — the node persists only *where to look*: per channel the heights of the
funding tx and of the tx that spent the funding output (``Channel.funding_height`` /
``spent_height``, saved with the channel in its write batch) and the last tip it processed
(``ChannelStore.scanned``). At start that stretch of the active chain is replayed through the
node, the watcher and the resolver with the outbox *held*, so they rebuild exactly the state
they had (and learn what happened while the node was down); then what is still needed goes
out: a penalty or sweep that never confirmed is sent again, one that confirmed (or lost a race)
is not. A force-close commitment that never confirmed is re-sent too.

Two steps, because they run on different threads in a daemon: :func:`read_replay` reads the
chain (on the chainstate's thread, in the same call that subscribes the guards, so no block
slips between) and keeps only the transactions that matter to the channels — funding txs and,
transitively, everything spending their outputs — and :func:`replay` drives the listeners
(where the channel node lives). :func:`catch_up` does both for single-threaded embeddings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wattchain.core.tx import OutPoint, Transaction

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.guards import Guards
    from wattchain.channels.node import ChannelNode
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)

#: A close older than this many blocks is considered resolved and is not replayed (longer than
#: any to_self_delay we accept plus HTLC expiries).
CLOSE_HORIZON = 4032
#: Blocks before the last processed tip also replayed (a reorg may have replaced them).
REORG_MARGIN = 6


class ChainReader(Protocol):
    """What :func:`read_replay` needs of a chainstate."""

    @property
    def tip_entry(self) -> "BlockIndexEntry": ...

    def read_block(self, entry: "BlockIndexEntry") -> "StakeBlock": ...


@dataclass(frozen=True)
class Slice:
    """The channel-relevant transactions of one block (what listeners read of a block)."""

    transactions: tuple[Transaction, ...]


@dataclass(frozen=True)
class ReplayPlan:
    tip: "BlockIndexEntry"
    blocks: tuple[tuple[Slice, "BlockIndexEntry"], ...]


def rescan_start(node: "ChannelNode", tip_height: int) -> int | None:
    """The first height to replay for ``node``'s channels, or None if nothing needs it."""
    scanned = node.store.scanned()
    starts: list[int] = []
    for chan in node.channels.values():
        if chan.spent_height is not None:          # a close: replay it from its start
            if chan.spent_height >= tip_height - CLOSE_HORIZON:
                starts.append(chan.spent_height)
            continue
        # Not (yet) spent as far as we know: look for a spend since we last looked.
        since = scanned - REORG_MARGIN if scanned is not None else tip_height - CLOSE_HORIZON
        if chan.funding_height is not None:
            since = max(since, chan.funding_height)
        starts.append(since)
    return max(1, min(starts)) if starts else None


def read_replay(node: "ChannelNode", chain: ChainReader) -> ReplayPlan:
    """The blocks to replay, reduced to funding txs of ``node``'s channels and transactions
    spending (transitively) their outputs."""
    tip = chain.tip_entry
    start = rescan_start(node, tip.height)
    if start is None:
        return ReplayPlan(tip, ())
    relevant = {c.funding_txid for c in node.channels.values()}
    blocks: list[tuple[Slice, "BlockIndexEntry"]] = []
    for height in range(start, tip.height + 1):
        entry = tip.get_ancestor(height)
        assert entry is not None
        kept: list[Transaction] = []
        for tx in chain.read_block(entry).transactions:
            if tx.txid in relevant or any(i.prevout.txid in relevant for i in tx.inputs):
                relevant.add(tx.txid)
                kept.append(tx)
        blocks.append((Slice(tuple(kept)), entry))
    return ReplayPlan(tip, tuple(blocks))


def replay(node: "ChannelNode", guards: "Guards", plan: ReplayPlan) -> list[Transaction]:
    """Drive ``node`` and its guards through ``plan`` with the outbox held, then send what is
    still needed; returns the transactions sent."""
    listeners = (node, guards.watcher, guards.resolver)
    spent: set[OutPoint] = set()
    node.outbox.hold()
    try:
        if plan.blocks:
            log.info("channel recovery: replaying blocks %d..%d", plan.blocks[0][1].height,
                     plan.tip.height)
        for block, entry in plan.blocks:
            spent.update(txin.prevout for tx in block.transactions for txin in tx.inputs)
            for listener in listeners:
                try:
                    listener.block_connected(block, entry)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - as Chainstate's event loop does
                    log.exception("channel recovery: %r failed at %d", listener, entry.height)
    finally:
        # Everything the held txs spend was created in the replayed stretch (or is a funding
        # output, whose spend would be in it): not spent there means unspent at the tip.
        sent = node.outbox.release(lambda op: op not in spent)
    node.height = plan.tip.height
    for chan in node.channels.values():
        if chan.force_closed and chan.spent_height is None:
            tx = chan.txs.signed_local_commitment()
            node.broadcast(tx)
            sent.append(tx)
    guards.deadlines.check(plan.tip.height)
    node.tip_changed(plan.tip)
    return sent


def catch_up(node: "ChannelNode", guards: "Guards", chain: ChainReader) -> list[Transaction]:
    """:func:`read_replay` then :func:`replay` (both on the calling thread)."""
    return replay(node, guards, read_replay(node, chain))
