"""Early block relay, in the spirit of BIP152's high-bandwidth mode.

A 2 MB block takes seconds of Python to validate fully. If every hop validated before
relaying, propagation time would be (hops x validation). Instead a node forwards a new block as
soon as its *header* passes :meth:`Chainstate.precheck_header` (parent known, header rules,
stake kernel and block signature against the staked coin on the block's branch, stake-reuse
rules) and the block extends its current tip; full validation follows, and the nodes along the
path validate in parallel.

Punishment (decided here, following Core's ``MaybePunishNodeForBlock(via_compact_block)``):

- a pushed block that fails the *precheck* is the sender's fault (it should have prechecked
  it before relaying): scored as any invalid block, and it is never relayed further;
- a pushed block that passed the precheck but fails *full* validation is not scored: the
  sender may have only relayed it. The originator cannot be told apart from a relayer on this
  network, so the defence is economic instead: a header that passes needs a winning stake
  kernel and the staked key, and the relay accepts at most one pushed block per
  (staked outpoint, block time) — the kernel does not cover the body, so without that rule one
  winning kernel could sign any number of bodies and make us validate each. A pushed block id
  that failed is not accepted by push again: a later push of it counts as a header
  announcement and the block is fetched with getdata, where a bad copy is the sender's fault.

Pushes go only to peers known to have the parent (they announced it, or we sent it to them):
a peer still syncing is not sent blocks it cannot connect, which it would have to treat as
unrequested data. A receiver processes an unrequested block only if it builds on its tip or
on a block it saw recently (a sibling race between two stakers); side-chain blocks a peer makes
it store that way count against that peer's side-chain budget (see handlers).

Only event-loop state lives here; the chainstate is reached through ``node.run``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from wattchain.core.errors import DecodeError
from wattchain.core.header import (MAX_BLOCK_SIGNATURE_SIZE, UNSIGNED_HEADER_SIZE, StakeBlock,
                                   StakeBlockHeader)
from wattchain.core.serialization import ByteReader
from wattchain.core.tx import OutPoint
from wattchain.node.activation import ProcessResult
from wattchain.p2p.messages import BlockMsg, encode
from wattchain.p2p.peer import Peer
from wattchain.p2p.peers import BoundedSet

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.p2p.node import P2PNode

log = logging.getLogger(__name__)

#: Longest header prefix of a serialized block (unsigned part + CompactSize + signature).
_MAX_HEADER_PREFIX = UNSIGNED_HEADER_SIZE + 9 + MAX_BLOCK_SIGNATURE_SIZE
#: Longest wait for a pushed block to leave before validating it ourselves.
PUSH_FLUSH_SECONDS = 0.5
#: Block ids / stakes remembered by the relay (a few days of blocks).
RECENT_BLOCKS = 4096


def header_of(raw: bytes) -> StakeBlockHeader | None:
    """The header at the front of serialized block bytes, without decoding the body (a
    2 MB body takes ~0.5 s to decode); None if the prefix is not a header."""
    try:
        return StakeBlockHeader.read(ByteReader(raw[:_MAX_HEADER_PREFIX]))
    except DecodeError:
        return None


class BlockRelay:
    """Which blocks were prechecked/connected, and pushing them to peers."""

    def __init__(self, node: "P2PNode") -> None:
        self.node = node
        #: Block ids that passed the precheck or connected: further pushed copies are dropped
        #: silently (with early relay a block arrives from several peers at once).
        self.seen = BoundedSet(RECENT_BLOCKS)
        #: Pushed block ids that failed full validation (fetched by getdata, not by push, again).
        self.failed = BoundedSet(RECENT_BLOCKS)
        #: (stake outpoint, time) -> the one block id accepted by push for that stake.
        self._stakes: dict[tuple[OutPoint, int], bytes] = {}

    # ------------------------------------------------------------------ bookkeeping
    def connected(self, hashes: list[bytes]) -> None:
        """Blocks that joined the active chain (by any path)."""
        for h in hashes:
            self.seen.add(h)

    def is_known(self, block_hash: bytes) -> bool:
        return block_hash in self.seen

    def refuse_push(self, header: StakeBlockHeader) -> str | None:
        """Why a pushed block is dropped unprocessed (None: process it)."""
        block_hash = header.hash
        first = self._stakes.get((header.prevout_stake, header.time))
        if first is not None and first != block_hash:
            return "another pushed block uses the same stake"
        return None

    def body_failed(self, block_hash: bytes) -> None:
        """A pushed, prechecked block failed full validation. Its id is forgotten as "known"
        by every peer, so the genuine block, if one exists under the same id (a relayer can
        break the body without changing the header), is announced normally once we have it."""
        self.seen.discard(block_hash)
        self.failed.add(block_hash)
        for peer in self.node.peers.values():
            peer.known_blocks.discard(block_hash)

    # ------------------------------------------------------------------ precheck + push
    async def precheck_and_push(self, header: StakeBlockHeader, source: Peer | None, *,
                                raw: bytes | None = None,
                                block: StakeBlock | None = None) -> ProcessResult | None:
        """Precheck ``header`` on the chainstate thread; if it passes, remember the block and,
        when it extends our tip, push it to every peer that has its parent and lacks it.
        Returns None on success, else the precheck's rejection. Give ``raw`` bytes, or the
        ``block`` of a local submission (serialized only if some peer needs it)."""
        node = self.node
        cs = node.chainstate
        now = int(node.clock())

        def check() -> tuple[ProcessResult | None, bool]:
            return cs.precheck_header(header, now), header.prev_hash == cs.tip_entry.hash

        rejected, extends_tip = await node.run(check)
        if rejected is not None:
            return rejected
        block_hash = header.hash
        if block_hash in self.seen:
            # Another copy passed its precheck while this one waited for the thread: it is
            # being validated already.
            return ProcessResult.reject(block_hash, "duplicate")
        self.seen.add(block_hash)
        if len(self._stakes) >= RECENT_BLOCKS:
            del self._stakes[next(iter(self._stakes))]
        self._stakes.setdefault((header.prevout_stake, header.time), block_hash)
        node.notify()
        if extends_tip:
            targets = self.push(header, source, raw=raw, block=block)
            if targets:
                # Let the block leave before this node starts seconds of CPU-bound
                # validation (which starves the event loop of the GIL), briefly.
                await asyncio.wait([asyncio.ensure_future(p.conn.wait_sent()) for p in targets],
                                   timeout=PUSH_FLUSH_SECONDS)
        return None

    def push(self, header: StakeBlockHeader, source: Peer | None, *, raw: bytes | None = None,
             block: StakeBlock | None = None) -> list[Peer]:
        """Send the block unsolicited to ready peers that know its parent and not the block.
        Returns the peers it went to."""
        block_hash = header.hash
        genesis = self.node.params.genesis_hash
        targets = [p for p in self.node.peers.values()
                   if p is not source and p.is_ready and block_hash not in p.known_blocks
                   and (header.prev_hash in p.known_blocks or header.prev_hash == genesis)]
        if not targets:
            return []
        if raw is None:
            if block is None:
                return []
            raw = block.serialize()
        frame = encode(BlockMsg(raw))   # encoded once, not per peer
        for peer in targets:
            peer.known_blocks.add(block_hash)
            peer.send_frame(frame)
        log.debug("pushed block %s to %d peers", header.hash_hex, len(targets))
        return targets
