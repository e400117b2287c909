"""The in-memory block index: every stored block's header, height, status and chain work.

Loaded whole from LevelDB at startup (the index is small next to the blocks it describes) and
kept in memory because fork choice, ancestor lookups, median-time-past and locators all walk
it. Entries point at their parent and at a "skip" ancestor (Core's skip list), so
:meth:`BlockIndexEntry.get_ancestor` is O(log n) however long the chain grows.

:class:`ActiveChain` is Core's CChain: the active chain as a height-indexed list, so "is this
entry on the active chain" and "the block at height h" are O(1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from wattchain.consensus.pos import GENESIS_STAKE_MODIFIER, next_stake_modifier
from wattchain.core.header import StakeBlockHeader
from wattchain.node.schema import BlockStatus, IndexRecord

#: Blocks whose times form median-time-past (BIP113).
MEDIAN_TIME_SPAN = 11


def _invert_lowest_one(n: int) -> int:
    return n & (n - 1)


def skip_height(height: int) -> int:
    """Core's GetSkipHeight: the height the skip pointer of a block at ``height`` targets."""
    if height < 2:
        return 0
    if height & 1:
        return _invert_lowest_one(_invert_lowest_one(height - 1)) + 1
    return _invert_lowest_one(height)


@dataclass(eq=False, slots=True)
class BlockIndexEntry:
    """One block in the index. Identity equality: there is one entry per hash."""

    hash: bytes
    header: StakeBlockHeader
    height: int
    parent: BlockIndexEntry | None
    status: BlockStatus
    chain_work: int
    tx_count: int = 0
    #: Arrival order among blocks of equal work: the earlier one wins (Core's nSequenceId).
    #: Blocks loaded from disk all get 0, so a restart keeps whatever tip was stored.
    sequence_id: int = 0
    skip: BlockIndexEntry | None = field(default=None, repr=False)
    #: Derived from the header chain (consensus.pos), so it is recomputed on load, not stored.
    stake_modifier: bytes = field(default=GENESIS_STAKE_MODIFIER, repr=False)

    def __post_init__(self) -> None:
        if self.parent is not None:
            self.skip = self.parent.get_ancestor(skip_height(self.height))
            self.stake_modifier = next_stake_modifier(self.parent.stake_modifier,
                                                      self.header.prevout_stake.txid)

    @property
    def time(self) -> int:
        return self.header.time

    def is_failed(self) -> bool:
        return self.status.failed

    def have_data(self) -> bool:
        return bool(self.status & BlockStatus.HAVE_DATA)

    def get_ancestor(self, height: int) -> BlockIndexEntry | None:
        """The ancestor at ``height`` (self at its own height); None if out of range."""
        if height > self.height or height < 0:
            return None
        walk: BlockIndexEntry = self
        walk_height = self.height
        while walk_height > height:
            h_skip = skip_height(walk_height)
            h_skip_prev = skip_height(walk_height - 1)
            if walk.skip is not None and (
                    h_skip == height
                    or (h_skip > height and not (h_skip_prev < h_skip - 2
                                                 and h_skip_prev >= height))):
                walk = walk.skip
                walk_height = h_skip
            else:
                assert walk.parent is not None
                walk = walk.parent
                walk_height -= 1
        return walk

    def median_time_past(self) -> int:
        """Median of the times of this block and up to 10 ancestors (BIP113)."""
        times = []
        walk: BlockIndexEntry | None = self
        while walk is not None and len(times) < MEDIAN_TIME_SPAN:
            times.append(walk.header.time)
            walk = walk.parent
        times.sort()
        return times[len(times) // 2]

    def to_record(self) -> IndexRecord:
        return IndexRecord(self.status, self.height, self.chain_work, self.tx_count,
                           self.header.serialize())

    def __repr__(self) -> str:
        return (f"BlockIndexEntry({self.hash[::-1].hex()[:16]}.., height={self.height}, "
                f"status={self.status!r})")


def last_common_ancestor(a: BlockIndexEntry, b: BlockIndexEntry) -> BlockIndexEntry:
    """The fork point of two entries of the same tree (both chains start at the genesis)."""
    if a.height > b.height:
        a = a.get_ancestor(b.height)  # type: ignore[assignment]
    elif b.height > a.height:
        b = b.get_ancestor(a.height)  # type: ignore[assignment]
    while a is not b:
        if a.parent is None or b.parent is None:
            raise ValueError("entries are not in one tree")
        a, b = a.parent, b.parent
    return a


class ActiveChain:
    """The active chain, genesis first; ``chain[h]`` is the entry at height h."""

    def __init__(self) -> None:
        self._entries: list[BlockIndexEntry] = []

    @property
    def tip(self) -> BlockIndexEntry | None:
        return self._entries[-1] if self._entries else None

    @property
    def height(self) -> int:
        return len(self._entries) - 1

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, height: int) -> BlockIndexEntry:
        return self._entries[height]

    def at(self, height: int) -> BlockIndexEntry | None:
        if 0 <= height < len(self._entries):
            return self._entries[height]
        return None

    def contains(self, entry: BlockIndexEntry) -> bool:
        return self.at(entry.height) is entry

    def set_tip(self, entry: BlockIndexEntry | None) -> None:
        """Make ``entry`` the tip, rewriting only the part of the list that changed."""
        if entry is None:
            self._entries.clear()
            return
        old_len = len(self._entries)
        del self._entries[entry.height + 1:]
        if old_len <= entry.height:
            self._entries.extend([None] * (entry.height + 1 - old_len))  # type: ignore[list-item]
        walk: BlockIndexEntry | None = entry
        while walk is not None and self._entries[walk.height] is not walk:
            self._entries[walk.height] = walk
            walk = walk.parent
        if self._entries[0].parent is not None:
            raise ValueError("chain does not start at a genesis")

    def find_fork(self, entry: BlockIndexEntry) -> BlockIndexEntry | None:
        """The last entry of the active chain that is an ancestor of (or is) ``entry``."""
        if entry.height > self.height:
            entry = entry.get_ancestor(self.height)  # type: ignore[assignment]
        walk: BlockIndexEntry | None = entry
        while walk is not None and not self.contains(walk):
            walk = walk.parent
        return walk

    def locator(self, entry: BlockIndexEntry | None = None) -> list[bytes]:
        """Core's block locator from ``entry`` (default: the tip): the 10 most recent hashes,
        then exponentially sparser back to the genesis, which is always last."""
        walk = entry if entry is not None else self.tip
        hashes: list[bytes] = []
        step = 1
        while walk is not None:
            hashes.append(walk.hash)
            if walk.height == 0:
                break
            walk = walk.get_ancestor(max(walk.height - step, 0))
            if len(hashes) > 10:
                step *= 2
        return hashes

    def __iter__(self) -> Iterator[BlockIndexEntry]:
        return iter(self._entries)


class BlockIndex:
    """All known blocks by hash, plus the counter that orders equal-work arrivals."""

    def __init__(self) -> None:
        self._by_hash: dict[bytes, BlockIndexEntry] = {}
        self._next_sequence = 1

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._by_hash

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, block_hash: bytes) -> BlockIndexEntry | None:
        return self._by_hash.get(block_hash)

    def entries(self) -> Iterable[BlockIndexEntry]:
        return self._by_hash.values()

    def add(self, header: StakeBlockHeader, parent: BlockIndexEntry | None, work: int,
            status: BlockStatus, tx_count: int) -> BlockIndexEntry:
        """Insert a newly received block; its chain work is the parent's plus ``work``."""
        entry = BlockIndexEntry(
            hash=header.hash, header=header,
            height=0 if parent is None else parent.height + 1, parent=parent, status=status,
            chain_work=work + (0 if parent is None else parent.chain_work), tx_count=tx_count,
            sequence_id=self._next_sequence)
        self._next_sequence += 1
        self._by_hash[entry.hash] = entry
        return entry

    def remove(self, entry: BlockIndexEntry) -> None:
        """Forget an entry whose storing failed (it must have no children)."""
        self._by_hash.pop(entry.hash, None)

    def load(self, records: Iterable[tuple[bytes, IndexRecord]]) -> list[BlockIndexEntry]:
        """Rebuild the index from stored records (any order); returns entries whose parent is
        missing (corruption the caller reports). Loaded entries get sequence id 0."""
        decoded = []
        for block_hash, record in records:
            header = StakeBlockHeader.deserialize(record.header_bytes)
            if header.hash != block_hash:
                raise ValueError(f"index record under {block_hash.hex()} holds another header")
            decoded.append((record, header))
        decoded.sort(key=lambda item: item[0].height)
        orphans = []
        for record, header in decoded:
            parent = self._by_hash.get(header.prev_hash) if record.height > 0 else None
            if record.height > 0 and (parent is None or parent.height != record.height - 1):
                orphans.append(BlockIndexEntry(header.hash, header, record.height, None,
                                               record.status, record.chain_work,
                                               record.tx_count))
                continue
            entry = BlockIndexEntry(header.hash, header, record.height, parent, record.status,
                                    record.chain_work, record.tx_count, sequence_id=0)
            self._by_hash[entry.hash] = entry
        return orphans

    def descendants(self, entry: BlockIndexEntry) -> list[BlockIndexEntry]:
        """Every indexed block that has ``entry`` as a strict ancestor (a scan: used only
        when marking a failed block's descendants, which is rare)."""
        return [other for other in self._by_hash.values()
                if other.height > entry.height and other.get_ancestor(entry.height) is entry]


class EntryChainContext:
    """:class:`wattchain.consensus.context.ChainContext` over a block index entry (the parent
    of the block being validated). Queries follow the entry's own branch, which need not be
    the active chain, so a fork's blocks are validated against their own history."""

    __slots__ = ("entry",)

    def __init__(self, entry: BlockIndexEntry) -> None:
        self.entry = entry

    @property
    def height(self) -> int:
        return self.entry.height

    @property
    def hash(self) -> bytes:
        return self.entry.hash

    @property
    def time(self) -> int:
        return self.entry.header.time

    @property
    def bits(self) -> int:
        return self.entry.header.bits

    @property
    def median_time_past(self) -> int:
        return self.entry.median_time_past()

    def median_time_past_at(self, height: int) -> int:
        return self._ancestor(height).median_time_past()

    @property
    def stake_modifier(self) -> bytes:
        return self.entry.stake_modifier

    def time_at(self, height: int) -> int:
        return self._ancestor(height).header.time

    def _ancestor(self, height: int) -> BlockIndexEntry:
        ancestor = self.entry.get_ancestor(height)
        if ancestor is None:
            raise IndexError(f"height {height} outside 0..{self.entry.height}")
        return ancestor
