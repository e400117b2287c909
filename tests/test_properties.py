"""Property-based tests (hypothesis) for the byte-level foundation.

* Random transactions and blocks round-trip through serialize/deserialize with stable ids.
* Decoders fed random bytes, or mutated/truncated real transactions and blocks, either succeed
  (and then re-serialize to exactly the input: every encoding is canonical) or raise
  :class:`DecodeError` -- never IndexError, struct.error, MemoryError or OverflowError.
* CompactSize and script numbers round-trip; script helpers never crash on arbitrary bytes.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from vector_files import load_vector_json, vector_path
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wattchain.core.block import Block, BlockHeader
from wattchain.core.errors import DecodeError
from wattchain.core.keys import parse_der_lax, verify_ecdsa
from wattchain.core.serialization import ByteReader, compact_size
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.errors import ScriptError
from wattchain.script.number import decode_num, encode_num
from wattchain.script.script import (
    find_and_delete,
    iter_script,
    parse_ops,
    remove_codeseparators,
)
from wattchain.script.sighash import legacy_signature_hash, segwit_v0_signature_hash

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None)

U32 = st.integers(0, 2**32 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# ---------------------------------------------------------------------------- strategies
# Mostly short scripts, occasionally one long enough for a 3-byte CompactSize length.
scripts = st.one_of(st.binary(max_size=40), st.binary(min_size=250, max_size=300))
witness_stacks = st.lists(st.binary(max_size=40), max_size=4).map(tuple)


@st.composite
def tx_inputs(draw: st.DrawFn, with_witness: bool) -> TxIn:
    return TxIn(
        OutPoint(draw(st.binary(min_size=32, max_size=32)), draw(U32)),
        draw(scripts),
        draw(U32),
        draw(witness_stacks) if with_witness else (),
    )


@st.composite
def transactions(draw: st.DrawFn, min_inputs: int = 1, max_inputs: int = 4,
                 with_witness: bool | None = None) -> Transaction:
    witness = draw(st.booleans()) if with_witness is None else with_witness
    inputs = draw(st.lists(tx_inputs(witness), min_size=min_inputs, max_size=max_inputs))
    outputs = draw(st.lists(st.builds(TxOut, I64, scripts), max_size=5))
    return Transaction(draw(U32), tuple(inputs), tuple(outputs), draw(U32))


headers = st.builds(BlockHeader, st.integers(-(2**31), 2**31 - 1),
                    st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
                    U32, U32, U32)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """One or a few random edits: truncate, flip, overwrite, insert or delete bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "set", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "truncate":
            del out[pos:]
        elif kind == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[pos] = draw(st.sampled_from([0x00, 0x01, 0xFC, 0xFD, 0xFE, 0xFF]))
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=9))
        elif kind == "delete":
            del out[pos:pos + draw(st.integers(1, 9))]
    return bytes(out)


def _decode_or_decode_error(decoder, data: bytes):  # type: ignore[no-untyped-def]
    """Run a decoder; allow only success or DecodeError (anything else fails the test)."""
    try:
        return decoder(data)
    except DecodeError:
        return None


# ---------------------------------------------------------------------------- seeds from vectors
@lru_cache(maxsize=1)
def _real_txs() -> tuple[bytes, ...]:
    rows = load_vector_json("bitcoin", "tx_valid.json")
    txs = [bytes.fromhex(row[1]) for row in rows if isinstance(row[0], list)]
    raw = vector_path("blocks", "mainnet_702861.raw").read_bytes()
    block = Block.deserialize(raw)
    # A spread of real main-net shapes: the coinbase and every 50th transaction.
    txs += [tx.serialize() for tx in block.transactions[::50]]
    return tuple(txs)


@lru_cache(maxsize=1)
def _small_real_block() -> bytes:
    """The real block's header and coinbase plus four real transactions (fast to mutate)."""
    raw = vector_path("blocks", "mainnet_702861.raw").read_bytes()
    block = Block.deserialize(raw)
    small = Block(block.header, block.transactions[:1] + block.transactions[1:2000:500])
    return small.serialize()


# ---------------------------------------------------------------------------- round trips
@SETTINGS
@given(transactions())
def test_transaction_round_trip(tx: Transaction) -> None:
    raw = tx.serialize()
    decoded = Transaction.deserialize(raw)
    assert decoded == tx
    assert decoded.serialize() == raw
    assert decoded.txid == tx.txid == _dsha(tx.serialize(include_witness=False))
    assert decoded.wtxid == tx.wtxid == _dsha(raw)
    if tx.has_witness:
        assert raw[4:6] == b"\x00\x01"
    else:
        assert tx.txid == tx.wtxid and raw == tx.serialize(include_witness=False)
    assert tx.weight == 3 * tx.base_size + tx.total_size
    assert tx.vsize * 4 >= tx.weight > tx.vsize * 4 - 4


@SETTINGS
@given(transactions(with_witness=True))
def test_witness_stripping_keeps_txid(tx: Transaction) -> None:
    stripped = Transaction.deserialize(tx.serialize(include_witness=False))
    assert stripped.txid == tx.txid
    assert all(txin.witness == () for txin in stripped.inputs)
    assert [i.prevout for i in stripped.inputs] == [i.prevout for i in tx.inputs]


@SETTINGS
@given(transactions(min_inputs=0, max_inputs=0, with_witness=False))
def test_zero_input_transactions_round_trip_without_witness_mode(tx: Transaction) -> None:
    raw = tx.serialize()
    assert Transaction.deserialize(raw, allow_witness=False) == tx
    if not tx.outputs:
        assert Transaction.deserialize(raw) == tx


@settings(max_examples=60, deadline=None)
@given(headers, st.lists(transactions(max_inputs=3), min_size=1, max_size=4))
def test_block_round_trip(header: BlockHeader, txs: list[Transaction]) -> None:
    block = Block(header, tuple(txs))
    raw = block.serialize()
    decoded = Block.deserialize(raw)
    assert decoded == block
    assert decoded.serialize() == raw
    assert decoded.hash == _dsha(raw[:80])
    assert [t.wtxid for t in decoded.transactions] == [t.wtxid for t in txs]
    assert BlockHeader.deserialize(raw[:80]) == header
    # Sizes are summed from the transactions: they must be the serializations' lengths.
    for each in (block, decoded):
        assert each.total_size == len(raw)
        assert each.base_size == len(block.serialize(include_witness=False))


@FAST
@given(st.integers(0, 2**64 - 1))
def test_compact_size_round_trip(n: int) -> None:
    encoded = compact_size(n)
    expected_len = 1 if n < 0xFD else 3 if n <= 0xFFFF else 5 if n <= 0xFFFFFFFF else 9
    assert len(encoded) == expected_len
    reader = ByteReader(encoded)
    assert reader.compact_size(limit=2**64) == n
    reader.expect_end()


@FAST
@given(st.binary(min_size=1, max_size=9))
def test_compact_size_decoding_is_canonical(data: bytes) -> None:
    """Whatever decodes, re-encodes to exactly the bytes consumed."""
    reader = ByteReader(data)
    try:
        n = reader.compact_size(limit=2**64)
    except DecodeError:
        return
    assert compact_size(n) == data[:reader.position]


@FAST
@given(st.integers(-(2**63) + 1, 2**63 - 1))
def test_script_number_round_trip(n: int) -> None:
    encoded = encode_num(n)
    assert len(encoded) <= 9
    assert decode_num(encoded, require_minimal=True, max_size=9) == n
    if -(2**31) < n < 2**31:
        assert len(encoded) <= 4
        assert decode_num(encoded, require_minimal=True) == n


@FAST
@given(st.binary(max_size=5))
def test_script_number_minimal_iff_reencodes(data: bytes) -> None:
    value = decode_num(data, max_size=5)
    minimal = encode_num(value) == data
    try:
        decode_num(data, require_minimal=True, max_size=5)
        accepted = True
    except ScriptError:
        accepted = False
    assert accepted == minimal


# ---------------------------------------------------------------------------- hostile bytes
@FAST
@given(st.binary(max_size=400))
def test_random_bytes_tx_decoder_only_raises_decode_error(data: bytes) -> None:
    tx = _decode_or_decode_error(Transaction.deserialize, data)
    if tx is not None:
        assert tx.serialize() == data
    _decode_or_decode_error(lambda d: Transaction.deserialize(d, allow_witness=False), data)


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_block_decoders_only_raise_decode_error(data: bytes) -> None:
    block = _decode_or_decode_error(Block.deserialize, data)
    if block is not None:
        assert block.serialize() == data
    header = _decode_or_decode_error(BlockHeader.deserialize, data)
    if header is not None:
        assert header.serialize() == data


@FAST
@given(st.binary(max_size=12), st.binary(max_size=200))
def test_adversarial_prefix_bytes(prefix: bytes, body: bytes) -> None:
    """Versions followed by marker/flag/huge-count shapes that stress the BIP144 branch."""
    for lead in (b"\x00\x01", b"\x00\x02", b"\x00\xff", b"\xfd", b"\xfe", b"\xff"):
        data = b"\x02\x00\x00\x00" + lead + prefix + body
        tx = _decode_or_decode_error(Transaction.deserialize, data)
        if tx is not None:
            assert tx.serialize() == data


@SETTINGS
@given(st.data())
def test_mutated_real_transactions(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(_real_txs()))
    mutated = data.draw(mutations(original))
    tx = _decode_or_decode_error(Transaction.deserialize, mutated)
    if tx is not None:
        assert tx.serialize() == mutated


@SETTINGS
@given(st.data())
def test_mutated_random_transactions(data: st.DataObject) -> None:
    original = data.draw(transactions()).serialize()
    mutated = data.draw(mutations(original))
    tx = _decode_or_decode_error(Transaction.deserialize, mutated)
    if tx is not None:
        assert tx.serialize() == mutated


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_real_block(data: st.DataObject) -> None:
    original = _small_real_block()
    mutated = data.draw(mutations(original))
    block = _decode_or_decode_error(Block.deserialize, mutated)
    if block is not None:
        assert block.serialize() == mutated


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_truncated_real_block_prefixes(cut: int) -> None:
    original = _small_real_block()
    cut %= len(original)
    assume(cut != len(original))
    try:
        Block.deserialize(original[:cut])
    except DecodeError:
        return
    raise AssertionError(f"a {cut}-byte prefix of a block decoded")


# ---------------------------------------------------------------------------- script helpers
@FAST
@given(st.binary(max_size=200), st.binary(max_size=12))
def test_find_and_delete_never_crashes(script: bytes, pattern: bytes) -> None:
    result, removed = find_and_delete(script, pattern)
    assert removed >= 0
    assert len(result) == len(script) - removed * len(pattern)
    if removed == 0:
        assert result == script


@FAST
@given(st.lists(st.sampled_from([b"\x51", b"\x02\xab\xcd", b"\xab", b"\x4c\x01\x51", b"\x76"]),
                max_size=20), st.sampled_from([b"\x51", b"\x02\xab\xcd", b"\xab", b"\x76"]))
def test_find_and_delete_on_op_boundaries(ops: list[bytes], pattern: bytes) -> None:
    """On a well-formed op list, the result is the list with every ``pattern`` op dropped."""
    script = b"".join(ops)
    result, removed = find_and_delete(script, pattern)
    assert removed == ops.count(pattern)
    assert result == b"".join(op for op in ops if op != pattern)


@FAST
@given(st.binary(max_size=200))
def test_remove_codeseparators_never_crashes(script: bytes) -> None:
    result = remove_codeseparators(script)
    assert len(result) <= len(script)
    ops = parse_ops(script)
    if ops is not None:
        assert result == b"".join(script[op.start:op.end] for op in ops if op.opcode != 0xAB)
        assert all(op.opcode != 0xAB for op in iter_script(result))


@settings(max_examples=100, deadline=None)
@given(transactions(max_inputs=3), st.binary(max_size=100), st.integers(-(2**31), 2**31 - 1),
       st.data())
def test_sighash_never_crashes(tx: Transaction, script: bytes, hash_type: int,
                               data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(tx.inputs) - 1))
    assert len(legacy_signature_hash(script, tx, index, hash_type)) == 32
    amount = data.draw(I64)
    assert len(segwit_v0_signature_hash(script, tx, index, hash_type, amount)) == 32


@FAST
@given(st.binary(max_size=80), st.binary(max_size=70))
def test_lax_der_and_verify_never_crash(sig: bytes, pubkey: bytes) -> None:
    assert len(parse_der_lax(sig)) == 64
    msg = hashlib.sha256(sig + pubkey).digest()
    assert verify_ecdsa(pubkey, sig, msg) in (True, False)
