"""Headers-first sync state: the header tree ahead of our blocks, the download plan, and the
parent-first block feed into the chainstate.

:class:`ChainSync` touches the chainstate and therefore runs only on the node's single
chainstate thread (it is plain synchronous code; the node calls it through its executor).
:class:`DownloadTracker` is the event-loop half: which block is in flight from which peer, and
when a request has timed out and must go to another peer.

Why headers first: headers are small and checkable without the blocks, so we learn the
most-work chain from every peer cheaply, and then fetch its blocks from several peers at once.
Only blocks on a header chain with more work than our tip are downloaded (the "Fake Stake"
defence: a peer cannot make us store arbitrary low-work forks), and each peer has a budget of
side-chain blocks it may make us store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattchain.consensus.block_check import check_block_header
from wattchain.consensus.contextual import contextual_check_block_header
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.target import block_proof
from wattchain.core.errors import DecodeError
from wattchain.core.header import StakeBlock, StakeBlockHeader, deserialize_stake_block
from wattchain.node.activation import ProcessResult
from wattchain.node.block_index import BlockIndexEntry, EntryChainContext
from wattchain.node import schema
from wattchain.node.chainstate import Chainstate
from wattchain.p2p.messages import MAX_HEADERS

#: Bound on headers held ahead of stored blocks (memory a peer can make us spend).
MAX_TREE_HEADERS = 100_000
#: Headers one peer may hold in the tree (introduced by it, not yet backed by a stored block):
#: an eighth of the tree, so a single peer cannot fill it and starve honest peers' headers.
DEFAULT_HEADER_SHARE = MAX_TREE_HEADERS // 8
#: Bound on received blocks waiting for their parent.
MAX_BUFFERED_BLOCKS = 1024
ZERO_HASH = bytes(32)
#: Refusals that say nothing bad about the block or its sender.
BENIGN_REJECTS = frozenset({"duplicate", "prev-blk-not-found", "time-too-new",
                            "bad-fork-prior-to-max-reorg-depth"})


@dataclass
class HeaderNode:
    header: StakeBlockHeader
    hash: bytes
    height: int
    chain_work: int
    #: The peer that first sent this header (its share of the tree is charged for it).
    peer: int = 0


@dataclass(frozen=True)
class HeadersOutcome:
    """What a ``headers`` message taught us."""

    new: int
    #: The first header's parent is unknown: ask the sender for the headers in between.
    unconnected: bool = False
    #: A header broke a rule: (reason, detail); the sender is scored.
    invalid: tuple[str, str] | None = None
    #: Height of the last header of the message we know of (the peer has at least this).
    last_height: int = -1
    #: The header tree is at MAX_TREE_HEADERS, or the sender used up its share of it: stop
    #: asking the sender for more until blocks drain it.
    full: bool = False


@dataclass
class BlockOutcome:
    """One block fed to the chainstate (it may be a buffered child of the received block)."""

    block_hash: bytes
    peer: int
    result: ProcessResult


@dataclass
class ReceivedBlock:
    outcomes: list[BlockOutcome] = field(default_factory=list)
    #: The bytes did not decode: (detail).
    undecodable: str | None = None
    block_hash: bytes | None = None
    buffered: bool = False
    #: Headers still ahead of stored blocks after this block.
    tree_size: int = 0
    #: Headers each peer still holds in the tree after this block (peer id -> count).
    owned: dict[int, int] = field(default_factory=dict)


class ChainSync:
    """Header tree + block feed. Chainstate-thread only."""

    def __init__(self, chainstate: Chainstate, now: Callable[[], float], *,
                 header_share: int = DEFAULT_HEADER_SHARE) -> None:
        self.cs = chainstate
        self.header_share = header_share
        #: peer id -> headers it introduced that are still in the tree.
        self._owned: dict[int, int] = {}
        self.params = chainstate.params
        self._now = now
        self.tree: dict[bytes, HeaderNode] = {}
        self._best: HeaderNode | None = None
        #: prev_hash -> {hash: (block, peer)} received before their parent was stored.
        self._waiting: dict[bytes, dict[bytes, tuple[StakeBlock, int]]] = {}
        self._n_waiting = 0

    # ------------------------------------------------------------------ lookups
    def _lookup(self, block_hash: bytes) -> HeaderNode | BlockIndexEntry | None:
        entry = self.cs.get_entry(block_hash)
        return entry if entry is not None else self.tree.get(block_hash)

    def knows_header(self, block_hash: bytes) -> bool:
        """Whether ``block_hash`` is in the block index or the tree of announced headers."""
        return self._lookup(block_hash) is not None

    def best_header_height(self) -> int:
        tip = self.cs.tip_entry
        best = self._best
        return best.height if best is not None and best.chain_work > tip.chain_work else tip.height

    def locator(self) -> list[bytes]:
        """A locator from our best header (tree nodes first, then the stored chain)."""
        hashes: list[bytes] = []
        node = self._best if self._best is not None and self._best.hash in self.tree else None
        step, count = 1, 0
        while node is not None:
            if count % step == 0:
                hashes.append(node.hash)
            count += 1
            if len(hashes) > 10:
                step = min(step * 2, 1 << 20)
            prev = node.header.prev_hash
            nxt = self.tree.get(prev)
            if nxt is None:
                entry = self.cs.get_entry(prev)
                return hashes + (self.cs.chain.locator(entry) if entry is not None
                                 else self.cs.block_locator())
            node = nxt
        return hashes + self.cs.block_locator()

    # ------------------------------------------------------------------ serving
    def headers_for(self, locator: Sequence[bytes], stop: bytes) -> list[StakeBlockHeader]:
        """Headers of our active chain after the first locator hash on it (Core's
        ProcessGetHeaders), at most MAX_HEADERS, ending at ``stop`` if met."""
        chain = self.cs.chain
        start = 1   # no locator hash on our chain: start after the shared genesis, as Core
        for h in locator:
            entry = self.cs.get_entry(h)
            if entry is not None and chain.contains(entry):
                start = entry.height + 1
                break
        headers = []
        for height in range(start, min(chain.height + 1, start + MAX_HEADERS)):
            entry = chain.at(height)
            assert entry is not None
            headers.append(entry.header)
            if entry.hash == stop:
                break
        return headers

    def headers_of(self, hashes: Sequence[bytes]) -> list[StakeBlockHeader]:
        return [e.header for e in (self.cs.get_entry(h) for h in hashes) if e is not None]

    def get_raw_block(self, block_hash: bytes) -> bytes | None:
        return self.cs.store.get(schema.block_key(block_hash))

    # ------------------------------------------------------------------ headers
    def header_count(self, peer: int) -> int:
        """Headers ``peer`` introduced that no stored block backs yet."""
        return self._owned.get(peer, 0)

    def add_headers(self, headers: Sequence[StakeBlockHeader], peer: int = 0) -> HeadersOutcome:
        """Add a ``headers`` message's headers from ``peer`` (0: local) to the tree."""
        new = 0
        last_height = -1
        now = int(self._now())
        prev_hash: bytes | None = None
        for header in headers:
            if prev_hash is not None and header.prev_hash != prev_hash:
                return HeadersOutcome(new, invalid=("bad-headers-noncontinuous",
                                                    "headers do not form a chain"))
            block_hash = header.hash
            prev_hash = block_hash
            known = self._lookup(block_hash)
            if known is not None:
                if isinstance(known, BlockIndexEntry) and known.is_failed():
                    return HeadersOutcome(new, invalid=("bad-prevblk", "known-invalid block"))
                last_height = known.height
                continue
            parent = self._lookup(header.prev_hash)
            if parent is None:
                return HeadersOutcome(new, unconnected=True, last_height=last_height)
            try:
                if isinstance(parent, BlockIndexEntry):
                    if parent.is_failed():
                        raise BlockValidationError("bad-prevblk", "parent is invalid")
                    check_block_header(header, self.params)
                    contextual_check_block_header(header, EntryChainContext(parent), now,
                                                  self.params)
                else:
                    check_block_header(header, self.params)
                    if not header.is_proof_of_stake():
                        raise BlockValidationError("bad-blk-not-pos", "no staked output")
            except BlockValidationError as exc:
                return HeadersOutcome(new, invalid=(exc.reason, exc.detail))
            if len(self.tree) >= MAX_TREE_HEADERS or self.header_count(peer) >= self.header_share:
                return HeadersOutcome(new, last_height=last_height, full=True)
            node = HeaderNode(header, block_hash, parent.height + 1,
                              parent.chain_work + block_proof(header.bits), peer)
            self.tree[block_hash] = node
            self._owned[peer] = self.header_count(peer) + 1
            new += 1
            last_height = node.height
            if self._best is None or node.chain_work > self._best.chain_work:
                self._best = node
        return HeadersOutcome(new, last_height=last_height)

    def blocks_to_fetch(self, limit: int) -> list[tuple[bytes, int]]:
        """(hash, height) of missing blocks on the best header chain, lowest first, if that
        chain has more work than our tip. At most ``limit``."""
        best = self._best
        if best is None or best.chain_work <= self.cs.tip_entry.chain_work:
            return []
        path: list[tuple[bytes, int]] = []
        node: HeaderNode | None = best
        buffered = {h for children in self._waiting.values() for h in children}
        while node is not None:
            if self.cs.get_entry(node.hash) is None and node.hash not in buffered:
                path.append((node.hash, node.height))
            node = self.tree.get(node.header.prev_hash)
        path.reverse()
        return path[:limit]

    # ------------------------------------------------------------------ blocks
    def receive_block(self, raw: bytes, peer: int) -> ReceivedBlock:
        """Decode a block and feed it (and any buffered descendants) to the chainstate."""
        try:
            block = deserialize_stake_block(raw)
        except DecodeError as exc:
            return ReceivedBlock(undecodable=str(exc))
        return self.receive(block, peer)

    def receive(self, block: StakeBlock, peer: int) -> ReceivedBlock:
        out = ReceivedBlock(block_hash=block.hash)
        prev = block.header.prev_hash
        if self.cs.get_entry(prev) is None and self._lookup(prev) is not None:
            # Its parent is a header we know but a block we lack: hold it (bounded).
            siblings = self._waiting.setdefault(prev, {})
            if block.hash not in siblings and self._n_waiting < MAX_BUFFERED_BLOCKS:
                siblings[block.hash] = (block, peer)
                self._n_waiting += 1
            out.buffered = True
            return out
        queue = [(block, peer)]
        while queue:
            blk, who = queue.pop(0)
            result = self.cs.process_block(blk, int(self._now()))
            out.outcomes.append(BlockOutcome(blk.hash, who, result))
            self._forget(blk.hash, result)
            children = self._waiting.pop(blk.hash, {})
            self._n_waiting -= len(children)
            queue.extend(children.values())
        out.tree_size = len(self.tree)
        out.owned = dict(self._owned)
        return out

    def _pop(self, block_hash: bytes) -> HeaderNode | None:
        """Remove one header from the tree, releasing its peer's share."""
        node = self.tree.pop(block_hash, None)
        if node is not None:
            left = self._owned.get(node.peer, 0) - 1
            if left > 0:
                self._owned[node.peer] = left
            else:
                self._owned.pop(node.peer, None)
        return node

    def _prune(self, doomed: set[bytes]) -> None:
        """Remove ``doomed`` headers and every header built on them; fix the best header."""
        for h in list(doomed):
            self._pop(h)
        changed = True
        while changed:
            changed = False
            for h, node in list(self.tree.items()):
                if node.header.prev_hash in doomed:
                    doomed.add(h)
                    self._pop(h)
                    changed = True
        if self._best is not None and self._best.hash not in self.tree:
            self._best = max(self.tree.values(), key=lambda n: n.chain_work, default=None)

    def drop_peer(self, peer: int) -> int:
        """A peer left: its headers not yet backed by blocks (and headers built on them) leave
        the tree, so reconnecting cannot stack shares. Returns how many were removed; the
        caller asks the remaining peers for headers again if any were."""
        doomed = {h for h, node in self.tree.items() if node.peer == peer}
        if not doomed:
            return 0
        before = len(self.tree)
        self._prune(doomed)
        return before - len(self.tree)

    def _forget(self, block_hash: bytes, result: ProcessResult) -> None:
        """A block reached the chainstate: its header leaves the tree (the index has it). If
        it was invalid, every header built on it goes too and the best header is recomputed,
        so we never download descendants of an invalid block."""
        if result.accepted or result.reason in BENIGN_REJECTS:
            if self.cs.get_entry(block_hash) is not None:
                self._pop(block_hash)
            return
        self._prune({block_hash})

    def is_on_active_chain(self, block_hash: bytes) -> bool:
        entry = self.cs.get_entry(block_hash)
        return entry is not None and self.cs.chain.contains(entry)


@dataclass
class InFlight:
    peer: int
    deadline: float


class DownloadTracker:
    """Event-loop side: blocks requested from which peer, timeouts, per-peer limits."""

    def __init__(self, per_peer: int = 16, timeout: float = 10.0) -> None:
        self.per_peer = per_peer
        self.timeout = timeout
        self.in_flight: dict[bytes, InFlight] = {}
        self._count: dict[int, int] = {}
        #: hash -> peers that said notfound / timed out (not asked again for it).
        self.refused: dict[bytes, set[int]] = {}

    def count(self, peer: int) -> int:
        return self._count.get(peer, 0)

    def free_slots(self, peer: int) -> int:
        return max(0, self.per_peer - self.count(peer))

    def request(self, block_hash: bytes, peer: int, now: float) -> None:
        self.in_flight[block_hash] = InFlight(peer, now + self.timeout)
        self._count[peer] = self.count(peer) + 1

    def is_requested_from(self, block_hash: bytes, peer: int) -> bool:
        flight = self.in_flight.get(block_hash)
        return flight is not None and flight.peer == peer

    def done(self, block_hash: bytes) -> int | None:
        flight = self.in_flight.pop(block_hash, None)
        if flight is None:
            return None
        self._count[flight.peer] -= 1
        self.refused.pop(block_hash, None)
        return flight.peer

    def failed(self, block_hash: bytes, peer: int) -> None:
        if self.is_requested_from(block_hash, peer):
            self.done(block_hash)
        self.refused.setdefault(block_hash, set()).add(peer)

    def expired(self, now: float) -> list[tuple[bytes, int]]:
        late = [(h, f.peer) for h, f in self.in_flight.items() if f.deadline <= now]
        for h, peer in late:
            self.failed(h, peer)
        return late

    def drop_peer(self, peer: int) -> list[bytes]:
        lost = [h for h, f in self.in_flight.items() if f.peer == peer]
        for h in lost:
            self.done(h)
        self._count.pop(peer, None)
        return lost
