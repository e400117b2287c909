"""Per-commitment secrets (BOLT 3 "Per-commitment Secret Requirements").

Why a shachain: a node must be able to hand out up to 2^48 secrets, one per revoked commitment,
and the receiver must store all of them in O(48) space. Secret ``I`` is derived from a seed by
flipping bits of ``I`` from the top and hashing; secrets with a common prefix share a chain, so
the receiver keeps only one secret per trailing-zero count and derives the rest on demand.

Indices count *down*: commitment number ``n`` uses index ``2^48 - 1 - n``
(:func:`commitment_index`), so the first commitment's secret is the hardest to derive from.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattchain.channels.errors import ShachainError
from wattchain.core.hashes import sha256

#: Indices are 48-bit numbers.
INDEX_BITS = 48
MAX_INDEX = (1 << INDEX_BITS) - 1


def _check_index(index: int) -> None:
    if not 0 <= index <= MAX_INDEX:
        raise ShachainError(f"shachain index {index} outside 0..2^48-1")


def _derive(base: bytes, bits: int, index: int) -> bytes:
    """Flip bit B of the running value and hash it, for each set bit B < ``bits`` of ``index``,
    from the top down (``generate_from_seed`` is ``_derive(seed, 48, index)``)."""
    value = bytearray(base)
    for bit in range(bits - 1, -1, -1):
        if (index >> bit) & 1:
            value[bit // 8] ^= 1 << (bit % 8)
            value[:] = sha256(bytes(value))
    return bytes(value)


def generate_from_seed(seed: bytes, index: int) -> bytes:
    """Secret number ``index`` of the chain rooted at the 32-byte ``seed``."""
    if len(seed) != 32:
        raise ShachainError(f"shachain seed must be 32 bytes, got {len(seed)}")
    _check_index(index)
    return _derive(seed, INDEX_BITS, index)


def commitment_index(commitment_number: int) -> int:
    """Shachain index of commitment number ``commitment_number`` (indices count down)."""
    if not 0 <= commitment_number <= MAX_INDEX:
        raise ShachainError(f"commitment number {commitment_number} outside 0..2^48-1")
    return MAX_INDEX - commitment_number


def commitment_secret(seed: bytes, commitment_number: int) -> bytes:
    """The per-commitment secret a node uses for its commitment ``commitment_number``."""
    return generate_from_seed(seed, commitment_index(commitment_number))


def _position(index: int) -> int:
    """Slot of ``index`` in the compact store: its number of trailing zero bits (48 for 0)."""
    for bit in range(INDEX_BITS):
        if (index >> bit) & 1:
            return bit
    return INDEX_BITS


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    secret: bytes


class ShachainStore:
    """The receiver's compact store of revealed per-commitment secrets (at most 49 entries).

    :meth:`insert` checks each new secret against every stored secret it must be able to
    derive, so a counterparty that reveals secrets from two different seeds (which would let it
    cheat) is caught at once; a rejected insert leaves the store unchanged.
    """

    def __init__(self) -> None:
        self._known: list[_Entry | None] = [None] * (INDEX_BITS + 1)

    def insert(self, index: int, secret: bytes) -> None:
        """Store secret ``index``; raises :class:`ShachainError` if it contradicts the store."""
        _check_index(index)
        if len(secret) != 32:
            raise ShachainError(f"per-commitment secret must be 32 bytes, got {len(secret)}")
        slot = _position(index)
        for lower in range(slot):
            entry = self._known[lower]
            if entry is None:
                continue
            if _derive(secret, slot, entry.index) != entry.secret:
                raise ShachainError(f"secret for index {index} does not derive the stored "
                                    f"secret for index {entry.index}")
        self._known[slot] = _Entry(index, bytes(secret))

    def get(self, index: int) -> bytes | None:
        """Secret ``index`` if it was inserted or can be derived from an inserted one."""
        _check_index(index)
        for slot, entry in enumerate(self._known):
            if entry is None:
                continue
            if (index >> slot) == (entry.index >> slot):  # same prefix above the slot
                return _derive(entry.secret, slot, index)
        return None

    def get_commitment_secret(self, commitment_number: int) -> bytes | None:
        """Secret of the counterparty's commitment ``commitment_number``, if revealed."""
        return self.get(commitment_index(commitment_number))

    def entries(self) -> list[tuple[int, bytes]]:
        """(index, secret) of every slot in use, lowest slot first — for persistence."""
        return [(e.index, e.secret) for e in self._known if e is not None]

    @classmethod
    def from_entries(cls, entries: list[tuple[int, bytes]]) -> "ShachainStore":
        """Rebuild a store from :meth:`entries` (re-checked, so a corrupt record raises)."""
        store = cls()
        for index, secret in sorted(entries, key=lambda item: -item[0]):
            store.insert(index, secret)
        return store
