"""Signature hashes: legacy (Core's sighash.json) and BIP143 (the BIP's worked examples).

Every BIP143 check compares our midstates and hash with the BIP's printed values, re-derives the
hash from the printed preimage, checks that the preimage's fields are exactly ours, verifies the
example's signature with :func:`verify_ecdsa`, and re-creates that (RFC6979) signature.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from vector_files import load_vector_json

from wattchain.core.hashes import hash160, sha256, sha256d
from wattchain.core.keys import public_key, sign_ecdsa, verify_ecdsa
from wattchain.core.serialization import ByteReader, compact_size
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script import sighash as sighash_module
from wattchain.script.script import find_and_delete, iter_script, push_data
from wattchain.script.sighash import (
    SIGHASH_ALL,
    SIGHASH_ANYONECANPAY,
    SIGHASH_NONE,
    SIGHASH_ONE,
    SIGHASH_SINGLE,
    PrecomputedTransactionData,
    legacy_signature_hash,
    segwit_v0_signature_hash,
)


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# ---------------------------------------------------------------------------- legacy: sighash.json
def test_sighash_json_all_rows() -> None:
    rows = load_vector_json("bitcoin", "sighash.json")
    tests = [row for row in rows if len(row) == 5]
    assert len(tests) == 500
    mismatches = []
    for raw_tx, script_hex, index, hash_type, expected in tests:
        tx = Transaction.from_hex(raw_tx)
        got = legacy_signature_hash(bytes.fromhex(script_hex), tx, index, hash_type)
        if got[::-1].hex() != expected:  # printed byte-reversed, like a txid
            mismatches.append((raw_tx[:16], index, hash_type))
    assert mismatches == []


def test_sighash_json_exercises_the_tricky_parts() -> None:
    """Guard that the 500 rows really cover codeseparators, negative types and ANYONECANPAY."""
    tests = [row for row in load_vector_json("bitcoin", "sighash.json") if len(row) == 5]
    assert sum(0xAB in bytes.fromhex(row[1]) for row in tests) >= 200
    assert sum(row[3] < 0 for row in tests) == 251
    assert sum(bool(row[3] & 0x80) for row in tests) == 229


# ---------------------------------------------------------------------------- BIP143
def _bip143_checks() -> list[tuple[int, int]]:
    vectors = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"]
    return [(vi, si) for vi, v in enumerate(vectors) for si in range(len(v["sighashes"]))]


BIP143_IDS = [(0, 0), (1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0), (4, 1), (4, 2), (4, 3),
              (4, 4), (4, 5), (5, 0), (6, 0)]


def test_bip143_has_fourteen_checks() -> None:
    assert _bip143_checks() == BIP143_IDS


def _parse_bip143_preimage(preimage: bytes) -> dict[str, bytes | int]:
    reader = ByteReader(preimage)
    fields: dict[str, bytes | int] = {
        "version": reader.u32(),
        "hashPrevouts": reader.read(32),
        "hashSequence": reader.read(32),
        "outpoint": reader.read(36),
    }
    start = reader.position
    script = reader.var_bytes()
    fields["scriptCode"] = script
    fields["scriptCode_serialized"] = preimage[start:reader.position]
    fields["amount"] = reader.i64()
    fields["sequence"] = reader.u32()
    fields["hashOutputs"] = reader.read(32)
    fields["locktime"] = reader.u32()
    fields["hash_type"] = reader.u32()
    reader.expect_end()
    return fields


@pytest.mark.parametrize("vector_index,check_index", BIP143_IDS)
def test_bip143_sighash(vector_index: int, check_index: int) -> None:
    vector = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"][vector_index]
    check = vector["sighashes"][check_index]
    source = vector if "unsigned_tx" in vector else vector["derived"]
    tx = Transaction.from_hex(source["unsigned_tx"])
    index = check["input_index"]
    hash_type = check["sighash_type"]
    spent = source["inputs"][index]
    amount = spent["amount_sat"]
    preimage = bytes.fromhex(check["sighash_preimage"])
    expected = bytes.fromhex(check["expected_sighash"])
    fields = _parse_bip143_preimage(preimage)

    # The printed preimage hashes to the printed sighash (natural byte order).
    assert _dsha(preimage) == expected

    # scriptCode: derived from the spent output, independently of the vector's scriptCode field.
    if "witnessScript" in spent:
        witness_script = bytes.fromhex(spent["witnessScript"])
        program = bytes.fromhex(spent.get("redeemScript") or spent["scriptPubKey"])
        assert program == b"\x00\x20" + sha256(witness_script)
        script_code = fields["scriptCode"]
        assert witness_script.endswith(script_code)
        if len(script_code) < len(witness_script):  # begins after an executed OP_CODESEPARATOR
            assert witness_script[len(witness_script) - len(script_code) - 1] == 0xAB
    else:
        pubkey = bytes.fromhex(check["public_key"])
        program = bytes.fromhex(spent.get("redeemScript") or spent["scriptPubKey"])
        assert program == b"\x00\x14" + hash160(pubkey)
        script_code = b"\x76\xa9\x14" + hash160(pubkey) + b"\x88\xac"
    assert fields["scriptCode"] == script_code
    if "scriptCode" in check:
        assert bytes.fromhex(check["scriptCode"]) == compact_size(len(script_code)) + script_code
        assert fields["scriptCode_serialized"] == bytes.fromhex(check["scriptCode"])
        assert bytes.fromhex(check["amount_le"]) == struct.pack("<q", amount)

    # Our preimage fields, one by one.
    txin = tx.inputs[index]
    pre = PrecomputedTransactionData(tx)
    acp = bool(hash_type & SIGHASH_ANYONECANPAY)
    base = hash_type & 0x1F
    assert fields["version"] == tx.version and fields["locktime"] == tx.locktime
    assert fields["outpoint"] == txin.prevout.serialize()
    assert fields["amount"] == amount and fields["sequence"] == txin.sequence
    assert fields["hash_type"] == hash_type
    assert fields["hashPrevouts"] == (bytes(32) if acp else pre.hash_prevouts)
    expect_seq = acp or base in (SIGHASH_NONE, SIGHASH_SINGLE)
    assert fields["hashSequence"] == (bytes(32) if expect_seq else pre.hash_sequence)
    if base == SIGHASH_SINGLE:
        single = (_dsha(tx.outputs[index].serialize()) if index < len(tx.outputs)
                  else bytes(32))
        assert fields["hashOutputs"] == single
    elif base == SIGHASH_NONE:
        assert fields["hashOutputs"] == bytes(32)
    else:
        assert fields["hashOutputs"] == pre.hash_outputs
    for name in ("hashPrevouts", "hashSequence", "hashOutputs"):
        if name in check:
            assert bytes.fromhex(check[name]) == fields[name]

    # The hash itself, with and without shared precomputation.
    assert segwit_v0_signature_hash(script_code, tx, index, hash_type, amount) == expected
    assert segwit_v0_signature_hash(script_code, tx, index, hash_type, amount, pre) == expected

    # Signatures: verify the BIP's, and reproduce it (RFC6979, low S).
    if "signature" in check:
        sig = bytes.fromhex(check["signature"])
        assert sig[-1] == hash_type & 0xFF
        pubkey = bytes.fromhex(check["public_key"])
        assert verify_ecdsa(pubkey, sig[:-1], expected)
        assert not verify_ecdsa(pubkey, sig[:-1], sha256(expected))
        if "private_key" in check:
            private = bytes.fromhex(check["private_key"])
            assert public_key(private) == pubkey
            assert sign_ecdsa(private, expected) == sig[:-1]


def test_bip143_midstates_vector5_intermediate() -> None:
    vector = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"][4]
    pre = PrecomputedTransactionData(Transaction.from_hex(vector["unsigned_tx"]))
    assert pre.hash_prevouts.hex() == vector["intermediate"]["hashPrevouts"]
    assert pre.hash_sequence.hex() == vector["intermediate"]["hashSequence"]
    assert pre.hash_outputs.hex() == vector["intermediate"]["hashOutputs_ALL"]


def test_bip143_vector7_signatures_in_signed_tx() -> None:
    """Vector 7: CHECKMULTISIGVERIFY with both signatures inside the witnessScript itself."""
    vector = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"][6]
    derived = vector["derived"]
    signed = Transaction.from_hex(vector["signed_tx"])
    witness_script = bytes.fromhex(derived["inputs"][0]["witnessScript"])
    assert bytes.fromhex(derived["inputs"][0]["scriptPubKey"]) == b"\x00\x20" + sha256(witness_script)
    stack = signed.inputs[0].witness
    assert [item.hex() for item in stack] == [
        serialized[2:] for serialized in vector["witness_items_serialized"]]
    assert stack[-1] == witness_script
    expected = bytes.fromhex(vector["sighashes"][0]["expected_sighash"])
    got = segwit_v0_signature_hash(witness_script, signed, 0, SIGHASH_ALL,
                                   derived["inputs"][0]["amount_sat"])
    assert got == expected
    _, sig1, sig2, _n, key1, key2, _script = stack
    assert verify_ecdsa(key1, sig1[:-1], expected)
    assert verify_ecdsa(key2, sig2[:-1], expected)
    # With FindAndDelete (the legacy rule) applied, the hash would differ: the rule is v0-exempt.
    stripped, removed = find_and_delete(witness_script, push_data(sig1))
    assert removed == 1
    assert segwit_v0_signature_hash(stripped, signed, 0, SIGHASH_ALL, 200000) != expected


def test_bip143_vector4_swapped_tx_signatures_still_valid() -> None:
    """SINGLE|ANYONECANPAY commits to neither the input index nor the other inputs."""
    vector = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"][3]
    original = Transaction.from_hex(vector["signed_tx"])
    swapped = Transaction.from_hex(vector["signed_tx_inputs_outputs_swapped"])
    assert [i.prevout for i in swapped.inputs] == [i.prevout for i in reversed(original.inputs)]
    for new_index, txin in enumerate(swapped.inputs):
        sig, witness_script = txin.witness
        pubkey = bytes.fromhex("0392972e2eb617b2388771abe27235fd5ac44af8e61693261550447a4c3e39da98")
        assert pubkey in witness_script
        amount = 16777215
        # The signer's scriptCode: whole script, or after its executed OP_CODESEPARATOR.
        candidates = [witness_script, witness_script[witness_script.index(b"\xab") + 1:]]
        hashes = [segwit_v0_signature_hash(c, swapped, new_index, sig[-1], amount)
                  for c in candidates]
        assert sig[-1] == SIGHASH_SINGLE | SIGHASH_ANYONECANPAY
        assert any(verify_ecdsa(pubkey, sig[:-1], h) for h in hashes)


@pytest.mark.parametrize("vector_index", [0, 2])
def test_bip143_legacy_p2pk_inputs(vector_index: int) -> None:
    """Vectors 1 and 3 also carry a legacy P2PK input signed with the original sighash."""
    vector = load_vector_json("bitcoin", "bip143_segwit_v0_sighash.json")["vectors"][vector_index]
    spent = vector["inputs"][0]
    assert spent["type"] == "P2PK"
    script_pubkey = bytes.fromhex(spent["scriptPubKey"])
    private = bytes.fromhex(spent["private_key"])
    pubkey = public_key(private)
    assert script_pubkey == push_data(pubkey) + b"\xac"
    signed = Transaction.from_hex(vector["signed_tx"])
    (sig,) = [op.data for op in iter_script(signed.inputs[0].script_sig)]
    if "signature_legacy_sighash_all" in spent:
        assert sig.hex() == spent["signature_legacy_sighash_all"]
    assert sig[-1] == SIGHASH_ALL
    digest = legacy_signature_hash(script_pubkey, signed, 0, SIGHASH_ALL)
    assert verify_ecdsa(pubkey, sig[:-1], digest)
    assert sign_ecdsa(private, digest) == sig[:-1]
    # The legacy hash does not commit to witnesses: same value for the unsigned tx.
    unsigned = Transaction.from_hex(vector["unsigned_tx"])
    assert legacy_signature_hash(script_pubkey, unsigned, 0, SIGHASH_ALL) == digest


# ---------------------------------------------------------------------------- FindAndDelete rows
def _tx_valid_sighash_rows() -> list[tuple[str, bytes, Transaction]]:
    rows = load_vector_json("bitcoin", "tx_valid.json")
    found = []
    for i, row in enumerate(rows):
        if len(row) == 1 and row[0].startswith(("Non-segwit: correct sighash",
                                                "BIP143: correct sighash")):
            kind = "legacy" if row[0].startswith("Non-segwit") else "bip143"
            found.append((kind, bytes.fromhex(row[0].rsplit("= ", 1)[1]),
                          Transaction.from_hex(rows[i + 1][1])))
    return found


def test_find_and_delete_sighashes_from_tx_valid() -> None:
    """Core's tx_valid.json prints the correct sighash for its FindAndDelete tests."""
    rows = _tx_valid_sighash_rows()
    assert [kind for kind, _, _ in rows] == ["legacy", "bip143", "legacy", "bip143"]
    for kind, expected, tx in rows:
        if kind == "legacy":
            pushes = [op.data for op in iter_script(tx.inputs[0].script_sig)]
            redeem = pushes[-1]
            sigs = [p for p in pushes[:-1] if p and p[0] == 0x30]
            keys = [p for p in pushes[:-1] if p and len(p) == 33]
            script_code = redeem
            for sig in sigs:
                script_code, removed = find_and_delete(script_code, push_data(sig))
                assert removed == 1
            assert len(script_code) == len(redeem) - sum(len(push_data(s)) for s in sigs)
            digest = legacy_signature_hash(script_code, tx, 0, SIGHASH_ALL)
            assert digest == expected
            # Without FindAndDelete the hash is different.
            assert legacy_signature_hash(redeem, tx, 0, SIGHASH_ALL) != expected
        else:
            stack = tx.inputs[0].witness
            sigs = [p for p in stack[:-1] if p and p[0] == 0x30]
            keys = [p for p in stack[:-1] if len(p) == 33]
            digest = segwit_v0_signature_hash(stack[-1], tx, 0, SIGHASH_ALL, 200000)
            assert digest == expected
        for sig, key in zip(sigs, keys):
            assert verify_ecdsa(key, sig[:-1], digest)


# ---------------------------------------------------------------------------- special cases
def _tx(n_in: int, n_out: int) -> Transaction:
    inputs = tuple(TxIn(OutPoint(bytes([i + 1]) * 32, i), b"", 0xFFFFFFFF - i)
                   for i in range(n_in))
    outputs = tuple(TxOut(1000 * (i + 1), b"\x51" * (i + 1)) for i in range(n_out))
    return Transaction(2, inputs, outputs, 0)


def test_sighash_one_constant_is_uint256_one() -> None:
    assert int.from_bytes(SIGHASH_ONE, "little") == 1 and len(SIGHASH_ONE) == 32


@pytest.mark.parametrize("hash_type", [SIGHASH_SINGLE, SIGHASH_SINGLE | SIGHASH_ANYONECANPAY,
                                       0x43, -253])  # -253 = 0xffffff03: low bits SINGLE
def test_legacy_single_without_matching_output_returns_one(hash_type: int) -> None:
    tx = _tx(3, 1)
    assert legacy_signature_hash(b"\x51", tx, 1, hash_type) == SIGHASH_ONE
    assert legacy_signature_hash(b"\x51", tx, 2, hash_type) == SIGHASH_ONE
    assert legacy_signature_hash(b"\x51", tx, 0, hash_type) != SIGHASH_ONE


def test_legacy_input_index_out_of_range_returns_one() -> None:
    assert legacy_signature_hash(b"", _tx(2, 2), 2, SIGHASH_ALL) == SIGHASH_ONE


def test_segwit_single_without_matching_output_uses_zero_hash_outputs() -> None:
    tx = _tx(3, 1)
    digest = segwit_v0_signature_hash(b"\x51", tx, 2, SIGHASH_SINGLE, 5)
    txin = tx.inputs[2]
    preimage = (struct.pack("<I", 2) + PrecomputedTransactionData(tx).hash_prevouts + bytes(32)
                + txin.prevout.serialize() + b"\x01\x51" + struct.pack("<q", 5)
                + struct.pack("<I", txin.sequence) + bytes(32) + bytes(4)
                + struct.pack("<I", SIGHASH_SINGLE))
    assert digest == _dsha(preimage)


def test_legacy_preimage_by_hand_single_anyonecanpay() -> None:
    tx = _tx(3, 3)
    hash_type = SIGHASH_SINGLE | SIGHASH_ANYONECANPAY
    script = b"\x76\xab\x51"  # OP_DUP OP_CODESEPARATOR OP_1: the separator is dropped
    txin = tx.inputs[1]
    preimage = (struct.pack("<I", 2) + b"\x01" + txin.prevout.serialize() + b"\x02\x76\x51"
                + struct.pack("<I", txin.sequence) + b"\x02"
                + struct.pack("<q", -1) + b"\x00" + tx.outputs[1].serialize()
                + bytes(4) + struct.pack("<I", hash_type))
    assert legacy_signature_hash(script, tx, 1, hash_type) == _dsha(preimage)


def test_legacy_full_hash_type_is_committed() -> None:
    tx = _tx(2, 2)
    base = legacy_signature_hash(b"\x51", tx, 0, SIGHASH_ALL)
    assert legacy_signature_hash(b"\x51", tx, 0, 0x101) != base
    # 0 (not ALL/NONE/SINGLE) behaves like ALL apart from the committed type bytes.
    preimage_body = _legacy_all_preimage_body(tx, 0, b"\x51")
    assert legacy_signature_hash(b"\x51", tx, 0, 0) == _dsha(preimage_body + bytes(4))
    assert base == _dsha(preimage_body + b"\x01\x00\x00\x00")


def _legacy_all_preimage_body(tx: Transaction, index: int, script: bytes) -> bytes:
    parts = [struct.pack("<I", tx.version), compact_size(len(tx.inputs))]
    for i, txin in enumerate(tx.inputs):
        parts.append(txin.prevout.serialize())
        parts.append(compact_size(len(script)) + script if i == index else b"\x00")
        parts.append(struct.pack("<I", txin.sequence))
    parts.append(compact_size(len(tx.outputs)))
    parts.extend(out.serialize() for out in tx.outputs)
    parts.append(struct.pack("<I", tx.locktime))
    return b"".join(parts)


@pytest.mark.parametrize("script,serialized", [
    # Core writes len(script) - separators, then copies only up to where its tokenizer stopped
    # (past the opcode and any complete length field of the truncated push).
    (b"\xab\x05\xaa", b"\x02\x05"),
    (b"\x05\xaa", b"\x02\x05"),
    (b"\x51\xab\x4d\x01", b"\x03\x51\x4d"),
    (b"\xab\x4c\x05\xaa\xbb", b"\x04\x4c\x05"),
    (b"\x51\xab\x52", b"\x02\x51\x52"),
    (b"\xab", b"\x00"),
])
def test_legacy_script_code_with_truncated_push_matches_core(script: bytes,
                                                              serialized: bytes) -> None:
    tx = _tx(1, 1)
    txin = tx.inputs[0]
    preimage = (struct.pack("<I", 2) + b"\x01" + txin.prevout.serialize() + serialized
                + struct.pack("<I", txin.sequence) + b"\x01" + tx.outputs[0].serialize()
                + bytes(4) + struct.pack("<I", SIGHASH_ALL))
    assert legacy_signature_hash(script, tx, 0, SIGHASH_ALL) == _dsha(preimage)


# ---------------------------------------------------------------------------- midstate sharing
def _count_sha256d(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]

    def counting(data: bytes) -> bytes:
        calls[0] += 1
        return sha256d(data)

    monkeypatch.setattr(sighash_module, "sha256d", counting)
    return calls


def test_midstates_computed_once_per_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    tx = _tx(6, 4)
    expected = [segwit_v0_signature_hash(b"\x51", tx, i, SIGHASH_ALL, 100) for i in range(6)]
    calls = _count_sha256d(monkeypatch)
    pre = PrecomputedTransactionData(tx)
    got = [segwit_v0_signature_hash(b"\x51", tx, i, SIGHASH_ALL, 100, pre) for i in range(6)]
    assert got == expected
    # 3 midstates (prevouts, sequences, outputs) once, plus one final hash per input.
    assert calls[0] == 3 + 6
    # A second pass reuses everything: one hash per input only.
    calls[0] = 0
    for i in range(6):
        segwit_v0_signature_hash(b"\x51", tx, i, SIGHASH_ALL | SIGHASH_ANYONECANPAY, 100, pre)
    assert calls[0] == 6


def test_without_precomputation_midstates_are_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    tx = _tx(6, 4)
    calls = _count_sha256d(monkeypatch)
    for i in range(6):
        segwit_v0_signature_hash(b"\x51", tx, i, SIGHASH_ALL, 100)
    assert calls[0] == 6 * 4


def test_single_hashes_only_its_own_output(monkeypatch: pytest.MonkeyPatch) -> None:
    tx = _tx(3, 3)
    pre = PrecomputedTransactionData(tx)
    calls = _count_sha256d(monkeypatch)
    for i in range(3):
        segwit_v0_signature_hash(b"\x51", tx, i, SIGHASH_SINGLE, 100, pre)
    # hashPrevouts once; per input: its single output + the final hash. No hashSequence and
    # no all-outputs hash.
    assert calls[0] == 1 + 3 * 2
    assert "hash_sequence" not in pre.__dict__ and "hash_outputs" not in pre.__dict__
