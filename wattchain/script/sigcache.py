"""A bounded, salted cache of signature checks that succeeded (Bitcoin Core's CSignatureCache).

Why: a transaction's signatures are verified when it enters the mempool; when the block that
confirms it arrives, the same (sighash, pubkey, signature) triples need not be verified again.
Only successes are stored, so a hit can never turn an invalid signature valid.

Why salted: keys are ``sha256(salt || sighash || pubkey || signature)`` with a random salt per
instance, so an attacker cannot precompute entries that collide in our table or predict which
ones a bounded cache evicts. The node owns the instance and passes it in; nothing is global.
Eviction is oldest-first once ``max_entries`` is reached (each entry costs ~100 bytes).

The key layout is part of the interface: the compiled block loop
(``wattchain/consensus/_connect_fast.pyx``) derives the same keys in C from :attr:`salt` and
looks them up in :attr:`entries`, so that a multisig walk's cache lookups cost no Python call.
"""

from __future__ import annotations

import hashlib
import os

#: Default bound: ~32 MB of entries, Core's default cache size order of magnitude.
DEFAULT_MAX_ENTRIES = 300_000


class SignatureCache:
    """Set of successful ECDSA checks, bounded by entry count."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, salt: bytes | None = None) -> None:
        if max_entries < 1:
            raise ValueError("a signature cache needs room for at least one entry")
        self.max_entries = max_entries
        self._salt = os.urandom(32) if salt is None else bytes(salt)
        self._salted = hashlib.sha256(self._salt)
        # dict keeps insertion order: the first key is the oldest, evicted first.
        self._entries: dict[bytes, None] = {}

    def _key(self, msg: bytes, pubkey: bytes, sig: bytes) -> bytes:
        h = self._salted.copy()
        # Length-prefix the variable-length parts so (pubkey, sig) boundaries cannot shift.
        h.update(msg)
        h.update(len(pubkey).to_bytes(2, "little"))
        h.update(pubkey)
        h.update(sig)
        return h.digest()

    @property
    def salt(self) -> bytes:
        """The salt keys are hashed with (for the compiled loop's own key derivation)."""
        return self._salt

    @property
    def entries(self) -> dict[bytes, None]:
        """The live key table, read-only by contract (for the compiled loop's lookups)."""
        return self._entries

    def contains(self, msg: bytes, pubkey: bytes, sig: bytes) -> bool:
        """Whether this exact (sighash, pubkey, DER signature) was added and not yet evicted."""
        return self._key(msg, pubkey, sig) in self._entries

    def add(self, msg: bytes, pubkey: bytes, sig: bytes) -> None:
        """Record a check that *succeeded* (the caller's promise: never add a failure)."""
        key = self._key(msg, pubkey, sig)
        entries = self._entries
        if key in entries:
            return
        if len(entries) >= self.max_entries:
            del entries[next(iter(entries))]
        entries[key] = None

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["SignatureCache", "DEFAULT_MAX_ENTRIES"]
