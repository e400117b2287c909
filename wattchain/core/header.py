"""wattchain's Proof-of-Stake block header (Qtum's shape, see design/pos.md).

Layout on the wire::

    version (i32) | prev_hash (32) | merkle_root (32) | time (u32) | bits (u32) | nonce (u32)
    | state_root (32) | prevout_stake (36: txid + u32 index)
    | block_signature (CompactSize length + bytes, at most MAX_BLOCK_SIGNATURE_SIZE)

The first 80 bytes are Bitcoin's header, so existing tooling can read them. The block id is
SHA256d of everything *except* the signature: a block is signed over its own id, and ids stay
stable whatever signature bytes a relayer attaches (pos.md, "Signature"). Checking the signature
is the PoS rules' job; this module only serializes and hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar, TypeAlias

from wattchain.core.block import Block
from wattchain.core.hashes import sha256, sha256d
from wattchain.core.serialization import ByteReader, decode_exact, i32, u32, var_bytes
from wattchain.core.tx import OutPoint, txid_to_hex

def _empty_state_root() -> bytes:
    """Root of the empty 256-level sparse Merkle tree of the contract state
    (``wattchain.contracts.smt.EMPTY_ROOT``: an empty leaf is 32 zero bytes, an inner node
    ``sha256(0x01 || left || right)``). Recomputed here rather than imported so the core
    package does not depend on the contract layer; a test pins the two equal."""
    node = bytes(32)
    for _ in range(256):
        node = sha256(b"\x01" + node + node)
    return node


#: The contract state root of a chain without contract state (the genesis commits to it).
EMPTY_STATE_ROOT = _empty_state_root()

#: Upper bound on the signature field. A 65-byte compact recoverable signature is what the PoS
#: rules expect; DER signatures are at most 73. 80 leaves room without letting a peer make us
#: store kilobytes per header (the "Fake Stake" lesson).
MAX_BLOCK_SIGNATURE_SIZE = 80

#: Size of the header without its signature field.
UNSIGNED_HEADER_SIZE = 80 + 32 + 36


@dataclass(frozen=True)
class StakeBlockHeader:
    """A PoS block header. ``hash`` (the block id) excludes ``block_signature``."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int = 0
    state_root: bytes = EMPTY_STATE_ROOT
    prevout_stake: OutPoint = OutPoint.null()
    block_signature: bytes = b""

    MAX_SIGNATURE_SIZE: ClassVar[int] = MAX_BLOCK_SIGNATURE_SIZE

    # ------------------------------------------------------------------ encoding
    @classmethod
    def read(cls, reader: ByteReader) -> "StakeBlockHeader":
        """Read one header; any malformation (truncation, oversized signature) is DecodeError."""
        version = reader.i32()
        prev_hash = reader.read(32)
        merkle_root = reader.read(32)
        time = reader.u32()
        bits = reader.u32()
        nonce = reader.u32()
        state_root = reader.read(32)
        prevout = OutPoint(reader.read(32), reader.u32())
        signature = reader.var_bytes(limit=MAX_BLOCK_SIGNATURE_SIZE)
        return cls(version, prev_hash, merkle_root, time, bits, nonce, state_root, prevout,
                   signature)

    @classmethod
    def deserialize(cls, data: bytes) -> "StakeBlockHeader":
        """Decode exactly one header; trailing bytes are an error."""
        return decode_exact(data, cls.read)

    def serialize_unsigned(self) -> bytes:
        """The bytes the block id and the block signature cover (no signature field at all)."""
        return self._unsigned_bytes

    @cached_property
    def _unsigned_bytes(self) -> bytes:
        return (i32(self.version) + self.prev_hash + self.merkle_root + u32(self.time)
                + u32(self.bits) + u32(self.nonce) + self.state_root
                + self.prevout_stake.serialize())

    def serialize(self) -> bytes:
        return self._unsigned_bytes + var_bytes(self.block_signature)

    # ------------------------------------------------------------------ identity
    @cached_property
    def hash(self) -> bytes:
        """Block id: SHA256d of the header without its signature (internal byte order)."""
        return sha256d(self._unsigned_bytes)

    @property
    def hash_hex(self) -> str:
        return txid_to_hex(self.hash)

    def without_signature(self) -> "StakeBlockHeader":
        """The same header with an empty signature (same ``hash``)."""
        return replace(self, block_signature=b"")

    def with_signature(self, signature: bytes) -> "StakeBlockHeader":
        return replace(self, block_signature=signature)

    def is_proof_of_stake(self) -> bool:
        """Every block but the genesis names a staked outpoint."""
        return not self.prevout_stake.is_null()


#: A block of wattchain's chain.
StakeBlock: TypeAlias = Block[StakeBlockHeader]


def deserialize_stake_block(data: bytes) -> StakeBlock:
    """Decode a wattchain block (shorthand for ``Block.deserialize(data, StakeBlockHeader)``)."""
    return Block.deserialize(data, header_type=StakeBlockHeader)
