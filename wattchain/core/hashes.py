"""Hash functions used by Bitcoin-style consensus code."""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256: txids, block hashes, merkle nodes and legacy/BIP143 sighashes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 through OpenSSL (hashlib).

    Some OpenSSL 3 builds drop RIPEMD-160 from the default provider; we fail loudly rather than
    silently computing something else, since every P2PKH/P2SH address depends on it.
    """
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError as exc:  # pragma: no cover - depends on the OpenSSL build
        raise RuntimeError("this Python's OpenSSL lacks RIPEMD-160, which wattchain needs") from exc


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256: public-key and script hashes in P2PKH, P2SH and P2WPKH."""
    return ripemd160(hashlib.sha256(data).digest())


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || data)."""
    tag_digest = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_digest + tag_digest + data).digest()
