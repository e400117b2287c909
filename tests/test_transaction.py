"""Transactions: byte-exact round trips of real transactions, txid/wtxid, weight, BIP144 errors.

Known identities come from outside the code under test: the txids Bitcoin Core's tx_valid.json
names in its comments, the genesis coinbase, and the BIP143 examples (whose unsigned form is the
signed transaction minus witnesses, so its hash is the signed transaction's txid).
"""

from __future__ import annotations

import re

import pytest
from vector_files import load_vector_json

from wattchain.core.errors import DecodeError
from wattchain.core.hashes import sha256d
from wattchain.core.serialization import compact_size
from wattchain.core.tx import (
    NULL_INDEX,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    hex_to_txid,
    txid_to_hex,
)

#: The genesis block's coinbase: famous bytes with a famous txid.
GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04"
    "ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20"
    "6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01"
    "000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c"
    "ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000")
GENESIS_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


def _tx_valid_rows() -> list[list]:
    return [row for row in load_vector_json("bitcoin", "tx_valid.json") if isinstance(row[0], list)]


def _bip143_vectors() -> list[dict]:
    return load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"]


def _strip_witness(raw: bytes, tx: Transaction) -> bytes:
    """Non-witness serialization built by hand: drop marker/flag and the witness section.

    Independent of ``Transaction.serialize``: the witness section is the bytes between the end
    of the outputs and the 4-byte locktime, and its length is recomputed from the stacks.
    """
    if not (raw[4] == 0 and raw[5] == 1):
        return raw
    witness_len = sum(len(compact_size(len(txin.witness)))
                      + sum(len(compact_size(len(item))) + len(item) for item in txin.witness)
                      for txin in tx.inputs)
    body = raw[6:len(raw) - 4 - witness_len]
    return raw[:4] + body + raw[-4:]


# ---------------------------------------------------------------------------- real transactions
def test_tx_valid_round_trip_byte_exact() -> None:
    rows = _tx_valid_rows()
    assert len(rows) == 121
    segwit = 0
    for prevouts, tx_hex, _flags in rows:
        raw = bytes.fromhex(tx_hex)
        tx = Transaction.deserialize(raw)
        assert tx.serialize() == raw
        assert tx.to_hex() == tx_hex
        assert len(tx.inputs) == len(prevouts)
        assert tx.wtxid == sha256d(raw)
        assert tx.txid == sha256d(_strip_witness(raw, tx))
        assert tx.serialize(include_witness=False) == _strip_witness(raw, tx)
        if raw[4:6] == b"\x00\x01":
            segwit += 1
            assert tx.has_witness and tx.txid != tx.wtxid
        else:
            assert not tx.has_witness and tx.txid == tx.wtxid
        # The prevouts listed by the row are exactly the inputs' outpoints.
        for txin, (prev_txid, prev_index, *_rest) in zip(tx.inputs, prevouts):
            assert txin.prevout.txid == hex_to_txid(prev_txid)
            assert txin.prevout.index == (NULL_INDEX if prev_index == -1 else prev_index)
    assert segwit == 28


def test_tx_valid_known_txids_from_comments() -> None:
    """Core's file says "The following is <txid>" before some real transactions."""
    rows = load_vector_json("bitcoin", "tx_valid.json")
    pattern = re.compile(r"^The following is ([0-9a-f]{64})( on testnet3)?$")
    checked = []
    for i, row in enumerate(rows):
        if len(row) == 1 and isinstance(row[0], str) and (m := pattern.match(row[0])):
            following = next(r for r in rows[i + 1:] if isinstance(r[0], list))
            tx = Transaction.from_hex(following[1])
            assert tx.txid_hex == m.group(1)
            checked.append(m.group(1))
    assert len(checked) == 4


def test_genesis_coinbase() -> None:
    tx = Transaction.from_hex(GENESIS_COINBASE_HEX)
    assert tx.txid_hex == GENESIS_TXID
    assert tx.wtxid == tx.txid
    assert tx.is_coinbase()
    assert tx.version == 1 and tx.locktime == 0
    assert tx.outputs[0].value == 50 * 100_000_000
    assert b"The Times 03/Jan/2009" in tx.inputs[0].script_sig
    assert tx.to_hex() == GENESIS_COINBASE_HEX
    assert tx.weight == 4 * len(bytes.fromhex(GENESIS_COINBASE_HEX))


def test_bip143_signed_txids_equal_unsigned_hash_when_no_script_sig() -> None:
    """Native segwit spends only add witnesses, so txid(signed) = sha256d(unsigned)."""
    checked = 0
    for vector in _bip143_vectors():
        signed = Transaction.from_hex(vector["signed_tx"])
        unsigned_hex = vector.get("unsigned_tx") or vector["derived"]["unsigned_tx"]
        assert signed.serialize() == bytes.fromhex(vector["signed_tx"])
        assert signed.wtxid == sha256d(bytes.fromhex(vector["signed_tx"]))
        if all(not txin.script_sig for txin in signed.inputs):
            assert signed.txid == sha256d(bytes.fromhex(unsigned_hex))
            checked += 1
        else:
            assert signed.txid != sha256d(bytes.fromhex(unsigned_hex))
    assert checked == 3  # vectors 4, 6 and 7


def test_bip143_vector1_weight_and_vsize_by_hand() -> None:
    """Vector 1: input 0 is P2PK (signature in scriptSig), input 1 is P2WPKH (witness)."""
    vector = _bip143_vectors()[0]
    unsigned = bytes.fromhex(vector["unsigned_tx"])
    signed_raw = bytes.fromhex(vector["signed_tx"])
    tx = Transaction.deserialize(signed_raw)
    p2pk_sig = tx.inputs[0].script_sig[1:]
    assert tx.inputs[0].script_sig == bytes((len(p2pk_sig),)) + p2pk_sig
    sig, pubkey = tx.inputs[1].witness
    assert sig.hex() == vector["sighashes"][0]["signature"]
    assert pubkey.hex() == vector["inputs"][1]["public_key"]

    # Base size: the unsigned tx plus input 0's scriptSig (a one-byte push opcode + signature;
    # its CompactSize length stays one byte, so no other length changes).
    base = len(unsigned) + 1 + len(p2pk_sig)
    # Witness bytes: marker+flag, input 0's empty stack (1 byte), input 1's stack:
    # count (1) + len-prefixed signature + len-prefixed 33-byte key.
    witness = 2 + 1 + 1 + (1 + len(sig)) + (1 + 33)
    assert len(signed_raw) == base + witness
    assert (base, len(sig), len(p2pk_sig)) == (233, 71, 72)
    assert tx.base_size == base
    assert tx.total_size == len(signed_raw) == 343
    assert tx.weight == 3 * base + len(signed_raw) == 1042
    assert tx.vsize == (1042 + 3) // 4 == 261


def test_bip143_vector5_weight_p2sh_p2wsh_multisig() -> None:
    vector = _bip143_vectors()[4]
    signed_raw = bytes.fromhex(vector["signed_tx"])
    tx = Transaction.deserialize(signed_raw)
    redeem = bytes.fromhex(vector["inputs"][0]["redeemScript"])
    witness_script = bytes.fromhex(vector["inputs"][0]["witnessScript"])
    assert tx.inputs[0].script_sig == bytes((len(redeem),)) + redeem
    stack = tx.inputs[0].witness
    assert stack[0] == b"" and stack[-1] == witness_script and len(stack) == 8
    base = len(bytes.fromhex(vector["unsigned_tx"])) + 1 + len(redeem)
    # marker+flag, stack count 8, then every item with a one-byte length prefix (all < 0xfd;
    # the 6-of-6 witnessScript is 207 bytes).
    assert all(len(item) < 0xFD for item in stack) and len(witness_script) == 207
    witness = 2 + 1 + sum(1 + len(item) for item in stack)
    assert len(signed_raw) == base + witness
    assert tx.weight == 3 * base + len(signed_raw)
    assert tx.vsize == -(-tx.weight // 4)


# ---------------------------------------------------------------------------- BIP144 edge cases
def _simple_tx() -> Transaction:
    return Transaction(
        version=2,
        inputs=(TxIn(OutPoint(bytes(range(32)), 3), b"\x51", 0xFFFFFFFE),),
        outputs=(TxOut(12345, b"\x6a"),),
        locktime=99,
    )


def _extended(tx: Transaction, flag: int, stacks: list[list[bytes]]) -> bytes:
    """Hand-build a BIP144 encoding with an arbitrary flag byte and witness stacks."""
    plain = tx.serialize(include_witness=False)
    body = plain[4:-4]
    wit = b"".join(compact_size(len(s)) + b"".join(compact_size(len(i)) + i for i in s)
                   for s in stacks)
    return plain[:4] + b"\x00" + bytes((flag,)) + body + wit + plain[-4:]


def test_hand_built_witness_encoding_decodes() -> None:
    raw = _extended(_simple_tx(), 1, [[b"\x01\x02", b""]])
    tx = Transaction.deserialize(raw)
    assert tx.inputs[0].witness == (b"\x01\x02", b"")
    assert tx.serialize() == raw
    assert tx.txid == sha256d(_simple_tx().serialize())
    assert tx.wtxid == sha256d(raw)


def test_witness_of_single_empty_item_counts_as_witness() -> None:
    raw = _extended(_simple_tx(), 1, [[b""]])
    tx = Transaction.deserialize(raw)
    assert tx.has_witness and tx.inputs[0].witness == (b"",)
    assert tx.serialize() == raw


def test_superfluous_witness_record_rejected() -> None:
    with pytest.raises(DecodeError, match="superfluous"):
        Transaction.deserialize(_extended(_simple_tx(), 1, [[]]))


def test_superfluous_witness_with_zero_inputs_rejected() -> None:
    # marker 00, flag 01, then zero inputs, one output, no witness stacks.
    raw = (b"\x01\x00\x00\x00" + b"\x00\x01" + b"\x00" + b"\x01" + bytes(8) + b"\x00"
           + bytes(4))
    with pytest.raises(DecodeError, match="superfluous"):
        Transaction.deserialize(raw)


@pytest.mark.parametrize("flag", [0x02, 0x03, 0x80, 0xFF])
def test_unknown_flag_bits_rejected(flag: int) -> None:
    with pytest.raises(DecodeError, match="unknown transaction optional data"):
        Transaction.deserialize(_extended(_simple_tx(), flag, [[b"\x01"]]))


def test_zero_input_zero_output_tx() -> None:
    # version, empty vin, flag byte 0 (read as the "dummy"), locktime: Core's layout.
    raw = b"\x02\x00\x00\x00" + b"\x00" + b"\x00" + b"\x07\x00\x00\x00"
    tx = Transaction.deserialize(raw)
    assert tx.inputs == () and tx.outputs == () and tx.locktime == 7
    assert tx.serialize() == raw


def test_zero_input_tx_with_outputs_needs_no_witness_mode() -> None:
    tx = Transaction(1, (), (TxOut(5, b"\x51"),), 0)
    raw = tx.serialize()
    assert raw == b"\x01\x00\x00\x00\x00\x01" + (5).to_bytes(8, "little") + b"\x01\x51" + bytes(4)
    # Read in witness mode the output count looks like a BIP144 flag, exactly as in Core.
    with pytest.raises(DecodeError):
        Transaction.deserialize(raw)
    assert Transaction.deserialize(raw, allow_witness=False) == tx


@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 10])
def test_trailing_bytes_rejected(extra: bytes) -> None:
    raw = bytes.fromhex(GENESIS_COINBASE_HEX)
    with pytest.raises(DecodeError, match="trailing"):
        Transaction.deserialize(raw + extra)


def test_every_truncation_of_segwit_tx_is_decode_error() -> None:
    raw = _extended(_simple_tx(), 1, [[b"\x01\x02", b"\x03" * 80]])
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            Transaction.deserialize(raw[:cut])


def test_non_canonical_count_inside_tx_rejected() -> None:
    plain = _simple_tx().serialize()
    # Re-encode the input count (1) as 0xfd 0x01 0x00.
    raw = plain[:4] + b"\xfd\x01\x00" + plain[5:]
    with pytest.raises(DecodeError, match="non-canonical"):
        Transaction.deserialize(raw)


def test_huge_counts_rejected_before_allocation() -> None:
    for count in (b"\xfe\xff\xff\xff\x01", b"\xfe\x00\x00\x00\x02", b"\xff" + b"\xff" * 8):
        with pytest.raises(DecodeError):
            Transaction.deserialize(b"\x01\x00\x00\x00" + count + bytes(50))


def test_negative_output_value_decodes() -> None:
    tx = Transaction(1, _simple_tx().inputs, (TxOut(-1, b""), TxOut(-(2**63), b"\x00")), 0)
    decoded = Transaction.deserialize(tx.serialize())
    assert [o.value for o in decoded.outputs] == [-1, -(2**63)]


def test_from_hex_rejects_non_hex_with_decode_error() -> None:
    with pytest.raises(DecodeError):
        Transaction.from_hex("zz")


# ---------------------------------------------------------------------------- coinbase detection
def test_coinbase_detection() -> None:
    null = OutPoint.null()
    assert null.is_null() and null.index == 0xFFFFFFFF and null.txid == bytes(32)
    coinbase = Transaction(1, (TxIn(null, b"\x01\x02"),), (TxOut(1, b""),))
    assert coinbase.is_coinbase()
    # Two inputs, one null: not a coinbase.
    two = Transaction(1, (TxIn(null), TxIn(OutPoint(b"\x01" * 32, 0))), (TxOut(1, b""),))
    assert not two.is_coinbase()
    # Null hash but a real index, or real hash with index 0xffffffff: not null, not a coinbase.
    assert not Transaction(1, (TxIn(OutPoint(bytes(32), 0)),), ()).is_coinbase()
    assert not Transaction(1, (TxIn(OutPoint(b"\x01" + bytes(31), NULL_INDEX)),), ()).is_coinbase()
    assert not _simple_tx().is_coinbase()


def test_txid_display_order() -> None:
    raw = bytes(range(32))
    assert txid_to_hex(raw) == raw[::-1].hex()
    assert hex_to_txid(txid_to_hex(raw)) == raw
    with pytest.raises(ValueError):
        hex_to_txid("00" * 31)
    assert str(OutPoint(raw, 5)) == f"{raw[::-1].hex()}:5"


def test_total_output_value() -> None:
    tx = Transaction(1, (), (TxOut(3, b""), TxOut(4, b"")))
    assert tx.total_output_value() == 7
