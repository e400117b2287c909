"""Byte-exact Bitcoin-compatible primitives: hashes, serialization, transactions and blocks.

Nothing here knows about scripts, chain parameters or storage; it only turns bytes into typed,
immutable objects and back, and never raises anything but :class:`DecodeError` on bad bytes.
"""

from wattchain.core.errors import DecodeError
from wattchain.core.hashes import hash160, ripemd160, sha256, sha256d, tagged_hash
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut, COIN

__all__ = [
    "COIN",
    "DecodeError",
    "OutPoint",
    "Transaction",
    "TxIn",
    "TxOut",
    "hash160",
    "ripemd160",
    "sha256",
    "sha256d",
    "tagged_hash",
]
