"""Every LevelDB key format of the node, in one place (py-evm's "schema" habit).

The chainstate lives in one LevelDB. Each record kind has a one-byte prefix, so kinds never
collide and a prefix scan lists one kind::

    b"V"                      -> DB format version (u32 LE)
    b"b" + block hash (32)    -> raw block, wire format (with witnesses and block signature)
    b"i" + block hash (32)    -> block index record (see :class:`IndexRecord`)
    b"C" + txid (32) + index (u32 BIG-endian) -> Coin.serialize()   (the UTXO set)
    b"u" + block hash (32)    -> BlockUndo.serialize() for a block that was connected once
    b"B"                      -> hash of the block the UTXO set corresponds to ("best block")
    b"R"                      -> present while a reindex is under way (restart it on open)
    b"S" + state key          -> contract state value (flushed with the coins, contract_db)
    b"N" + node hash (32)     -> sparse Merkle tree node of the contract state
    b"s" + block hash (32)    -> ContractUndo.serialize() (height + state undo) of a block
    b"r" + txid (32)          -> msgpack list of the tx's serialized contract Receipts

The coin key puts the output index big-endian so that LevelDB's byte order is (txid, index)
numeric order: the UTXO-set hash iterates coins in exactly that order.

Why one DB and prefixes rather than several DBs: a block connect must change coins, the undo
record, index status and the best-block marker in ONE atomic WriteBatch, and LevelDB batches
are atomic only within one database.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag

from wattchain.core.tx import OutPoint

#: Bump when any record format below changes; an unknown version refuses to open.
DB_FORMAT_VERSION = 2  # 2: contract state, undo and receipt records

PREFIX_VERSION = b"V"
PREFIX_BLOCK = b"b"
PREFIX_INDEX = b"i"
PREFIX_COIN = b"C"
PREFIX_UNDO = b"u"
KEY_BEST_BLOCK = b"B"
KEY_REINDEXING = b"R"
PREFIX_CONTRACT_STATE = b"S"
PREFIX_CONTRACT_NODE = b"N"
PREFIX_CONTRACT_UNDO = b"s"
PREFIX_RECEIPT = b"r"

_COIN_KEY_LEN = 1 + 32 + 4
_INDEX_HEAD = struct.Struct("<II32sI")  # status, height, chain work (BE bytes), tx count


class SchemaError(ValueError):
    """A stored record does not have the layout this module writes (corruption or a bug)."""


class BlockStatus(IntFlag):
    """Block index status flags (Core's BlockStatus, reduced to what a full-block node needs).

    A block enters the index only with its data (headers-only entries are not stored: a PoS
    node checks the stake before storing anything, the "Fake Stake" lesson), so HEADER_VALID
    and HAVE_DATA are set together today; they are separate so a headers-first sync can be
    added without a format change.
    """

    HEADER_VALID = 0x01  # context-free and contextual header checks passed
    HAVE_DATA = 0x02  # the raw block is stored under PREFIX_BLOCK
    HAVE_UNDO = 0x04  # an undo record is stored under PREFIX_UNDO
    VALID_SCRIPTS = 0x08  # connected once: every rule, scripts included, passed
    FAILED = 0x10  # the block itself broke a rule
    FAILED_CHILD = 0x20  # an ancestor is FAILED

    @property
    def failed(self) -> bool:
        return bool(self & (BlockStatus.FAILED | BlockStatus.FAILED_CHILD))


# ---------------------------------------------------------------------------- keys
def version_key() -> bytes:
    return PREFIX_VERSION


def block_key(block_hash: bytes) -> bytes:
    return PREFIX_BLOCK + _check_hash(block_hash)


def index_key(block_hash: bytes) -> bytes:
    return PREFIX_INDEX + _check_hash(block_hash)


def undo_key(block_hash: bytes) -> bytes:
    return PREFIX_UNDO + _check_hash(block_hash)


def contract_undo_key(block_hash: bytes) -> bytes:
    return PREFIX_CONTRACT_UNDO + _check_hash(block_hash)


def receipt_key(txid: bytes) -> bytes:
    return PREFIX_RECEIPT + _check_hash(txid)


def coin_key(outpoint: OutPoint) -> bytes:
    """b"C" + txid + big-endian index: LevelDB order is (txid bytes, numeric index)."""
    return PREFIX_COIN + _check_hash(outpoint.txid) + outpoint.index.to_bytes(4, "big")


def outpoint_from_coin_key(key: bytes) -> OutPoint:
    if len(key) != _COIN_KEY_LEN or key[:1] != PREFIX_COIN:
        raise SchemaError(f"not a coin key: {key.hex()}")
    return OutPoint(key[1:33], int.from_bytes(key[33:37], "big"))


def hash_from_key(key: bytes) -> bytes:
    """The block hash of a b"b"/b"i"/b"u" key."""
    if len(key) != 33:
        raise SchemaError(f"not a block-keyed record: {key.hex()}")
    return key[1:]


def _check_hash(value: bytes) -> bytes:
    if len(value) != 32:
        raise SchemaError(f"expected a 32-byte hash, got {len(value)} bytes")
    return value


# ---------------------------------------------------------------------------- values
def encode_version(version: int = DB_FORMAT_VERSION) -> bytes:
    return struct.pack("<I", version)


def decode_version(value: bytes) -> int:
    if len(value) != 4:
        raise SchemaError("bad DB format version record")
    return struct.unpack("<I", value)[0]


@dataclass(frozen=True)
class IndexRecord:
    """One block index record as stored.

    Layout: status (u32 LE) | height (u32 LE) | cumulative chain work (32 bytes big-endian, a
    256-bit unsigned int) | transaction count (u32 LE) | serialized header (rest of the value).
    Chain work is stored although it is derivable, so loading the index needs no header
    arithmetic and a stored value can be cross-checked against a recomputation.
    """

    status: BlockStatus
    height: int
    chain_work: int
    tx_count: int
    header_bytes: bytes

    def serialize(self) -> bytes:
        if not 0 <= self.chain_work < 1 << 256:
            raise SchemaError("chain work does not fit 256 bits")
        return _INDEX_HEAD.pack(int(self.status), self.height,
                                self.chain_work.to_bytes(32, "big"),
                                self.tx_count) + self.header_bytes

    @classmethod
    def deserialize(cls, value: bytes) -> "IndexRecord":
        if len(value) < _INDEX_HEAD.size:
            raise SchemaError("truncated block index record")
        status, height, work, tx_count = _INDEX_HEAD.unpack_from(value)
        return cls(BlockStatus(status), height, int.from_bytes(work, "big"), tx_count,
                   value[_INDEX_HEAD.size:])
