"""What contextual validation needs to know about the chain a block extends.

Consensus code never reaches into the block index: the storage layer hands it a
:class:`ChainContext` describing the *parent* of the block being validated (its height, hash,
time, bits, median-time-past) plus one query, ``median_time_past_at(height)``, which BIP68
time-based relative locks need for ancestors of the parent. Keeping the interface this small
keeps consensus free of storage imports and lets tests describe a chain with a list of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

#: Median-time-past spans the last 11 blocks (BIP113).
MEDIAN_TIME_SPAN = 11


def median_time(times: Sequence[int]) -> int:
    """Median of up to the last 11 block times, as Core's GetMedianTimePast (upper median)."""
    window = sorted(times[-MEDIAN_TIME_SPAN:])
    if not window:
        raise ValueError("median of no block times")
    return window[len(window) // 2]


class ChainContext(Protocol):
    """The parent block of the block being validated, as seen by consensus.

    Implemented by the storage layer over its block index (and by :class:`ListChainContext`
    in tests). All values refer to the branch that ends at the parent, not to the active chain.
    """

    @property
    def height(self) -> int:
        """Height of the parent block (the new block's height is ``height + 1``)."""
        ...

    @property
    def hash(self) -> bytes:
        """Block id of the parent (the new header's ``prev_hash`` must equal it)."""
        ...

    @property
    def time(self) -> int:
        """The parent's header time."""
        ...

    @property
    def bits(self) -> int:
        """The parent's compact target (retargeting starts from it)."""
        ...

    @property
    def median_time_past(self) -> int:
        """Median of the times of the parent and its up-to-10 predecessors (BIP113)."""
        ...

    @property
    def stake_modifier(self) -> bytes:
        """The parent's stake modifier (the child's kernel hashes it, consensus.pos)."""
        ...

    def time_at(self, height: int) -> int:
        """Header time of this branch's block at ``height`` (0 <= height <= self.height):
        the kernel hashes the time of the block holding the staked output, and retargeting
        reads the grandparent's time."""
        ...

    def median_time_past_at(self, height: int) -> int:
        """Median-time-past of this branch's block at ``height`` (0 <= height <= self.height).

        BIP68 measures a time-based relative lock from the MTP of the block *before* the one
        that created the spent coin, i.e. ``median_time_past_at(coin.height - 1)``.
        """
        ...


@dataclass(frozen=True)
class ListChainContext:
    """A :class:`ChainContext` over the complete list of block times from genesis to parent.

    Meant for tests and tools; cost is O(11) per query. ``hash``/``bits`` are whatever the
    caller says the parent's are.
    """

    times: tuple[int, ...]
    hash: bytes = bytes(32)
    bits: int = 0
    stake_modifier: bytes = bytes(32)

    def __post_init__(self) -> None:
        if not self.times:
            raise ValueError("a chain context needs at least the genesis time")

    def time_at(self, height: int) -> int:
        if not 0 <= height < len(self.times):
            raise IndexError(f"height {height} outside 0..{self.height}")
        return self.times[height]

    @property
    def height(self) -> int:
        return len(self.times) - 1

    @property
    def time(self) -> int:
        return self.times[-1]

    @property
    def median_time_past(self) -> int:
        return median_time(self.times)

    def median_time_past_at(self, height: int) -> int:
        if not 0 <= height < len(self.times):
            raise IndexError(f"height {height} outside 0..{self.height}")
        return median_time(self.times[max(0, height - MEDIAN_TIME_SPAN + 1):height + 1])

    def extend(self, time: int, block_hash: bytes, bits: int,
               stake_modifier: bytes | None = None) -> "ListChainContext":
        """The context for the child of a block with this ``time``/``block_hash``/``bits``
        (and stake modifier; default: unchanged)."""
        modifier = self.stake_modifier if stake_modifier is None else stake_modifier
        return ListChainContext(self.times + (time,), block_hash, bits, modifier)
