"""Blocks and merkle trees, checked against Bitcoin main-net block 702,861 and the genesis block.

Independent checks: the header's proof of work, the merkle root printed in the vectors' SOURCES.md,
a from-scratch merkle implementation in this file, and txids/wtxids hashed from slices of the raw
file rather than from re-serialized objects.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import pytest
from vector_files import vector_path

from wattchain.core.block import Block, BlockHeader
from wattchain.core.errors import DecodeError
from wattchain.core.merkle import (
    WITNESS_COMMITMENT_HEADER,
    find_witness_commitment,
    merkle_root,
    witness_commitment_hash,
    witness_commitment_script,
)
from wattchain.core.serialization import compact_size
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut

BLOCK_HASH = "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae"
MERKLE_ROOT_DISPLAY = "407d72768cec1a244b7599af79f554055c72d6b2356c890f8c25abf797679022"
BLOCK_SIZE = 1_381_836


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _reference_merkle(leaves: list[bytes]) -> bytes:
    """Textbook Bitcoin merkle root (duplicate the last node of odd levels), no mutation check."""
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level = level + [level[-1]]
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@lru_cache(maxsize=1)
def _raw_block() -> bytes:
    return vector_path("blocks", "mainnet_702861.raw").read_bytes()


@pytest.fixture(scope="module")
def raw() -> bytes:
    return _raw_block()


@pytest.fixture(scope="module")
def block(raw: bytes) -> Block:
    return Block.deserialize(raw)


@pytest.fixture(scope="module")
def tx_slices(raw: bytes, block: Block) -> list[bytes]:
    """Each transaction's bytes cut straight out of the file."""
    pos = 80 + len(compact_size(len(block.transactions)))
    slices = []
    for tx in block.transactions:
        slices.append(raw[pos:pos + tx.total_size])
        pos += tx.total_size
    assert pos == len(raw)
    return slices


def _strip(raw_tx: bytes, tx: Transaction) -> bytes:
    if raw_tx[4:6] != b"\x00\x01":
        return raw_tx
    wit = sum(len(compact_size(len(i.witness)))
              + sum(len(compact_size(len(x))) + len(x) for x in i.witness) for i in tx.inputs)
    return raw_tx[:4] + raw_tx[6:len(raw_tx) - 4 - wit] + raw_tx[-4:]


# ---------------------------------------------------------------------------- block 702,861
def test_decode_and_reserialize_byte_exact(raw: bytes, block: Block) -> None:
    assert len(raw) == BLOCK_SIZE
    assert block.serialize() == raw
    assert block.total_size == BLOCK_SIZE


def test_counts(block: Block) -> None:
    assert len(block.transactions) == 2500
    assert sum(len(tx.inputs) for tx in block.transactions) == 6518
    assert block.transactions[0].is_coinbase()
    assert not any(tx.is_coinbase() for tx in block.transactions[1:])


def test_header_hash_and_proof_of_work(raw: bytes, block: Block) -> None:
    header = block.header
    assert isinstance(header, BlockHeader)
    assert header.serialize() == raw[:80]
    assert header.hash == _dsha(raw[:80])
    assert header.hash_hex == BLOCK_HASH
    assert block.hash == header.hash
    exponent, mantissa = header.bits >> 24, header.bits & 0x007FFFFF
    target = mantissa << (8 * (exponent - 3))
    assert int.from_bytes(header.hash, "little") <= target
    assert BlockHeader.deserialize(raw[:80]) == header


def test_merkle_root_over_txids(block: Block, tx_slices: list[bytes]) -> None:
    txids = [_dsha(_strip(s, tx)) for s, tx in zip(tx_slices, block.transactions)]
    assert txids == [tx.txid for tx in block.transactions]
    root, mutated = block.compute_merkle_root()
    assert not mutated
    assert root[::-1].hex() == MERKLE_ROOT_DISPLAY
    assert root == block.header.merkle_root
    assert _reference_merkle(txids) == root


def test_witness_commitment_over_wtxids(block: Block, tx_slices: list[bytes]) -> None:
    wtxids = [_dsha(s) for s in tx_slices]
    assert wtxids[1:] == [tx.wtxid for tx in block.transactions[1:]]
    witness_root = _reference_merkle([bytes(32)] + wtxids[1:])
    computed, mutated = block.compute_witness_merkle_root()
    assert computed == witness_root and not mutated

    coinbase = block.transactions[0]
    (reserved,) = coinbase.inputs[0].witness
    assert len(reserved) == 32
    index = block.witness_commitment_index()
    assert index is not None
    script = coinbase.outputs[index].script_pubkey
    assert script[:6] == bytes.fromhex("6a24aa21a9ed")
    assert script[6:38] == _dsha(witness_root + reserved)
    assert witness_commitment_hash(witness_root, reserved) == script[6:38]
    assert witness_commitment_script(witness_root, reserved) == script[:38]


def test_segwit_content_and_weight(block: Block, tx_slices: list[bytes]) -> None:
    segwit = [s for s in tx_slices if s[4:6] == b"\x00\x01"]
    assert sum(tx.has_witness for tx in block.transactions) == len(segwit) == 2065
    base = 80 + len(compact_size(2500)) + sum(
        len(_strip(s, tx)) for s, tx in zip(tx_slices, block.transactions))
    assert block.base_size == base
    assert block.weight == 3 * base + BLOCK_SIZE
    assert block.weight <= 4_000_000
    assert sum(tx.weight for tx in block.transactions) + 4 * (80 + 3) == block.weight


def test_block_without_witness_serialization(block: Block) -> None:
    stripped = block.serialize(include_witness=False)
    assert len(stripped) == block.base_size
    again = Block.deserialize(stripped)
    assert [tx.txid for tx in again.transactions] == [tx.txid for tx in block.transactions]
    assert not any(tx.has_witness for tx in again.transactions)


def test_truncated_and_padded_blocks_are_decode_errors(raw: bytes) -> None:
    for cut in (0, 1, 79, 80, 81, 82, 83, 200, len(raw) // 2, len(raw) - 1):
        with pytest.raises(DecodeError):
            Block.deserialize(raw[:cut])
    with pytest.raises(DecodeError, match="trailing"):
        Block.deserialize(raw + b"\x00")
    with pytest.raises(DecodeError):
        BlockHeader.deserialize(raw[:81])
    with pytest.raises(DecodeError):
        BlockHeader.deserialize(raw[:79])


def test_huge_tx_count_rejected(raw: bytes) -> None:
    # 0x01000000 transactions announced, 100 bytes of data.
    with pytest.raises(DecodeError):
        Block.deserialize(raw[:80] + b"\xfe\x00\x00\x00\x01" + bytes(100))


# ---------------------------------------------------------------------------- genesis
def test_genesis_block() -> None:
    from test_transaction import GENESIS_COINBASE_HEX

    coinbase = Transaction.from_hex(GENESIS_COINBASE_HEX)
    header = BlockHeader(1, bytes(32), coinbase.txid, 1231006505, 0x1D00FFFF, 2083236893)
    block = Block(header, (coinbase,))
    assert header.hash_hex == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert block.compute_merkle_root() == (coinbase.txid, False)
    assert Block.deserialize(block.serialize()) == block
    assert block.witness_commitment_index() is None


# ---------------------------------------------------------------------------- merkle trees
def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(n)]


@pytest.mark.parametrize("n", list(range(1, 18)) + [31, 32, 33, 100])
def test_merkle_root_matches_reference(n: int) -> None:
    leaves = _leaves(n)
    root, mutated = merkle_root(leaves)
    assert root == _reference_merkle(leaves)
    assert not mutated


def test_merkle_root_small_cases() -> None:
    assert merkle_root([]) == (bytes(32), False)
    a, b, c = _leaves(3)
    assert merkle_root([a]) == (a, False)
    assert merkle_root([a, b])[0] == _dsha(a + b)
    # Three leaves: c is paired with itself.
    assert merkle_root([a, b, c])[0] == _dsha(_dsha(a + b) + _dsha(c + c))


def test_cve_2012_2459_odd_list_duplicate_has_same_root_and_is_mutated() -> None:
    a, b, c = _leaves(3)
    honest = merkle_root([a, b, c])
    forged = merkle_root([a, b, c, c])
    assert honest == (forged[0], False)
    assert forged[1] is True


def test_mutation_detected_at_higher_level() -> None:
    a, b = _leaves(2)
    # [a, b, a, b]: the leaves differ pairwise, but level 1 is (h, h).
    root, mutated = merkle_root([a, b, a, b])
    assert mutated
    assert root == _reference_merkle([a, b, a, b])
    # Equal but non-adjacent leaves are not a mutation.
    assert merkle_root([a, b, a])[1] is False


def test_block_with_duplicated_transactions_is_mutated(block: Block) -> None:
    txs = block.transactions
    root = block.header.merkle_root
    # 2500 -> 1250 -> 625 (odd): the last level-2 node (txs 2496..2499) is paired with itself,
    # so repeating those four transactions reproduces the header's root exactly (CVE-2012-2459);
    # the equal sibling pair at level 2 flags it.
    forged_root, mutated = Block(block.header, txs + txs[-4:]).compute_merkle_root()
    assert forged_root == root
    assert mutated is True
    # An odd prefix (2499 txs): appending its last tx again keeps the root and is flagged.
    odd_root, odd_mutated = merkle_root([tx.txid for tx in txs[:2499]])
    assert not odd_mutated
    assert merkle_root([tx.txid for tx in txs[:2499] + txs[2498:2499]]) == (odd_root, True)
    # The last tx repeated twice: the two copies are siblings, so the tree is flagged.
    assert Block(block.header, txs + txs[-1:] * 2).compute_merkle_root()[1] is True
    # Re-appending the last two txs (a, b, a, b) does NOT form equal siblings at any level here:
    # not "mutated", but the root changes, so the header's commitment rejects it instead.
    dup_two_root, dup_two_mutated = Block(block.header, txs + txs[-2:]).compute_merkle_root()
    assert dup_two_mutated is False
    assert dup_two_root != root


# ---------------------------------------------------------------------------- witness commitment
def test_find_witness_commitment_takes_last_match() -> None:
    commit = witness_commitment_script(b"\x11" * 32)
    assert commit.startswith(WITNESS_COMMITMENT_HEADER) and len(commit) == 38
    scripts = [b"\x51", commit, b"\x6a", commit + b"\x00extra", commit[:37]]
    assert find_witness_commitment(scripts) == 3
    assert find_witness_commitment([b"\x51", commit[:37]]) is None
    assert find_witness_commitment([bytes.fromhex("6a24aa21a9ee") + bytes(32)]) is None


def test_generic_block_with_custom_header_type() -> None:
    """Block is generic over the header: any type with read/serialize/hash works."""

    class TinyHeader:
        def __init__(self, tag: bytes) -> None:
            self.tag = tag

        @classmethod
        def read(cls, reader) -> "TinyHeader":  # type: ignore[no-untyped-def]
            return cls(reader.read(4))

        def serialize(self) -> bytes:
            return self.tag

        @property
        def hash(self) -> bytes:
            return _dsha(self.tag)

    tx = Transaction(1, (TxIn(OutPoint.null(), b"\x01\x01"),), (TxOut(50, b"\x51"),))
    raw = b"WATT" + b"\x01" + tx.serialize()
    blk = Block.deserialize(raw, header_type=TinyHeader)
    assert blk.header.tag == b"WATT" and blk.hash == _dsha(b"WATT")
    assert blk.serialize() == raw
    assert blk.transactions == (tx,)
