"""Block headers and blocks in Bitcoin's wire format.

The header type is a parameter of :class:`Block` rather than a fixed class: Bitcoin's 80-byte
:class:`BlockHeader` is used for real Bitcoin blocks (test vectors), and the chain layer plugs in
its Proof-of-Stake header (state root, staked outpoint, block signature) without this module
knowing about staking. A header type needs ``read(reader)``, ``serialize()`` and ``hash``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Generic, Protocol, TypeVar

from wattchain.core.compiled import compiled_tx_reader
from wattchain.core.hashes import sha256d
from wattchain.core.merkle import find_witness_commitment, merkle_root
from wattchain.core.serialization import ByteReader, compact_size, decode_exact, i32, u32
from wattchain.core.tx import WITNESS_SCALE_FACTOR, Transaction, txid_to_hex

#: Smallest possible serialized transaction: version, two empty counts, locktime.
_MIN_TX_SIZE = 10


class HeaderLike(Protocol):
    @property
    def hash(self) -> bytes: ...

    def serialize(self) -> bytes: ...


H = TypeVar("H", bound=HeaderLike)


@dataclass(frozen=True)
class BlockHeader:
    """Bitcoin's 80-byte block header."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    SIZE: ClassVar[int] = 80

    @classmethod
    def read(cls, reader: ByteReader) -> "BlockHeader":
        return cls(reader.i32(), reader.read(32), reader.read(32), reader.u32(), reader.u32(),
                   reader.u32())

    @classmethod
    def deserialize(cls, data: bytes) -> "BlockHeader":
        return decode_exact(data, cls.read)

    def serialize(self) -> bytes:
        return (i32(self.version) + self.prev_hash + self.merkle_root + u32(self.time)
                + u32(self.bits) + u32(self.nonce))

    @cached_property
    def hash(self) -> bytes:
        return sha256d(self.serialize())

    @property
    def hash_hex(self) -> str:
        return txid_to_hex(self.hash)


@dataclass(frozen=True)
class Block(Generic[H]):
    """A header plus its transactions (the first one being the coinbase)."""

    header: H
    transactions: tuple[Transaction, ...]

    @classmethod
    def read(cls, reader: ByteReader, header_type: type = BlockHeader) -> "Block":
        header = header_type.read(reader)
        n = reader.count(_MIN_TX_SIZE)
        compiled = compiled_tx_reader()
        if compiled is not None:  # the same objects and errors (see Transaction.read)
            txs = reader.read_with(compiled.read_transactions, n)
        else:
            txs = tuple(Transaction.read(reader) for _ in range(n))
        return cls(header, txs)

    @classmethod
    def deserialize(cls, data: bytes, header_type: type = BlockHeader) -> "Block":
        return decode_exact(data, lambda reader: cls.read(reader, header_type))

    def serialize(self, include_witness: bool = True) -> bytes:
        parts = [self.header.serialize(), compact_size(len(self.transactions))]
        parts.extend(tx.serialize(include_witness) for tx in self.transactions)
        return b"".join(parts)

    @property
    def hash(self) -> bytes:
        return self.header.hash

    # ------------------------------------------------------------------ commitments
    def compute_merkle_root(self) -> tuple[bytes, bool]:
        """(root over txids, mutated flag)."""
        return merkle_root([tx.txid for tx in self.transactions])

    def compute_witness_merkle_root(self) -> tuple[bytes, bool]:
        """Root over wtxids with the coinbase's wtxid replaced by zeros (BIP141)."""
        hashes = [bytes(32)] + [tx.wtxid for tx in self.transactions[1:]]
        return merkle_root(hashes)

    def witness_commitment_index(self) -> int | None:
        if not self.transactions:
            return None
        return find_witness_commitment([out.script_pubkey for out in self.transactions[0].outputs])

    # ------------------------------------------------------------------ size
    @cached_property
    def base_size(self) -> int:
        """Size without witness data: the quantity capped at 2,000,000 bytes.
        (``len(self.serialize(include_witness=False))``, summed from the transactions'
        cached sizes instead of joining a copy of the block.)"""
        return self._size(False)

    @cached_property
    def total_size(self) -> int:
        """``len(self.serialize())``, from the transactions' cached sizes."""
        return self._size(True)

    def _size(self, include_witness: bool) -> int:
        txs = self.transactions
        size = len(self.header.serialize()) + len(compact_size(len(txs)))
        if include_witness:
            return size + sum(tx.total_size for tx in txs)
        return size + sum(tx.base_size for tx in txs)

    @cached_property
    def weight(self) -> int:
        return self.base_size * (WITNESS_SCALE_FACTOR - 1) + self.total_size
