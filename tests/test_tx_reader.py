"""The compiled transaction reader (``wattchain/core/_tx_reader.pyx``) against the Python
``Transaction.read``. Random transactions and blocks, and mutated or truncated encodings, must
give the same objects, ids, sizes and cached serializations, or the same DecodeError message,
and leave the reader at the same position.
"""

from __future__ import annotations

import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import headers, mutations, transactions

from wattchain.core import compiled
from wattchain.core.block import Block, BlockHeader
from wattchain.core.errors import DecodeError
from wattchain.core.serialization import ByteReader
from wattchain.core.tx import Transaction

reader_module = compiled.compiled_tx_reader(fast=True)
pytestmark = pytest.mark.skipif(
    reader_module is None,
    reason="compiled transaction reader (wattchain/core/_tx_reader.pyx) is not built: "
           "run `pip install -e .` with a C compiler")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(monkeypatch: pytest.MonkeyPatch, decode):  # type: ignore[no-untyped-def]
    """``decode()`` with the Python reader and with the compiled one: (outcome, outcome)."""
    outcomes = []
    for pure in ("1", "0"):
        monkeypatch.setenv("WATTCHAIN_PURE", pure)
        try:
            outcomes.append(("ok", decode()))
        except DecodeError as exc:
            outcomes.append(("error", str(exc)))
    monkeypatch.delenv("WATTCHAIN_PURE")
    return outcomes


def described(tx: Transaction) -> tuple:
    """Everything a caller can ask of a transaction, derived values included."""
    return (tx, tx.txid, tx.wtxid, tx.has_witness, tx.serialize(), tx.serialize(False),
            tx.base_size, tx.total_size, tx.weight, type(tx),
            [type(txin.prevout) for txin in tx.inputs])


def read_at(data: bytes, start: int, allow_witness: bool):
    reader = ByteReader(data)
    reader.read(start)
    tx = Transaction.read(reader, allow_witness)
    return described(tx), reader.position


@SETTINGS
@given(tx=transactions(min_inputs=0), prefix=st.binary(max_size=5), suffix=st.binary(max_size=5),
       allow_witness=st.booleans())
def test_valid_transactions_read_the_same(tx, prefix, suffix, allow_witness):
    with pytest.MonkeyPatch.context() as mp:
        data = prefix + tx.serialize() + suffix
        pure, fast = both(mp, lambda: read_at(data, len(prefix), allow_witness))
    assert pure == fast


@SETTINGS
@given(data=st.data(), tx=transactions(min_inputs=0), allow_witness=st.booleans())
def test_mutated_encodings_fail_or_succeed_the_same(data, tx, allow_witness):
    raw = data.draw(mutations(tx.serialize()))
    with pytest.MonkeyPatch.context() as mp:
        pure, fast = both(mp, lambda: read_at(raw, 0, allow_witness))
    assert pure == fast


@SETTINGS
@given(raw=st.binary(max_size=120))
def test_random_bytes_fail_or_succeed_the_same(raw):
    with pytest.MonkeyPatch.context() as mp:
        pure, fast = both(mp, lambda: read_at(raw, 0, True))
    assert pure == fast


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=headers, txs=st.lists(transactions(), max_size=6), data=st.data())
def test_blocks_decode_the_same(header, txs, data):
    raw = Block(header, tuple(txs)).serialize()
    if data.draw(st.booleans()):
        raw = data.draw(mutations(raw))

    def decode():
        block = Block.deserialize(raw)
        return block, [described(tx) for tx in block.transactions]
    with pytest.MonkeyPatch.context() as mp:
        pure, fast = both(mp, decode)
    assert pure == fast


def test_extended_format_and_its_rejections():
    """Hand-made encodings: witness record, superfluous witness, unknown flags, counts that
    cannot fit, non-canonical lengths."""
    version, lock = b"\x02\x00\x00\x00", b"\x00\x00\x00\x00"
    txin = bytes(32) + b"\x01\x00\x00\x00" + b"\x00" + b"\xff\xff\xff\xff"
    txout = b"\x01" + bytes(7) + b"\x01\x51"
    cases = [
        version + b"\x00\x01\x01" + txin + b"\x01" + txout + b"\x01\x02ab" + lock,
        version + b"\x00\x01\x01" + txin + b"\x01" + txout + b"\x00" + lock,  # superfluous
        version + b"\x00\x03\x01" + txin + b"\x01" + txout + b"\x01\x01a" + lock,  # flags
        version + b"\x00\x00" + lock,  # zero inputs, zero outputs
        version + b"\xfd\x01\x00" + txin,  # non-canonical count
        version + b"\xfe\xff\xff\xff\x00",  # count too large to fit
        version + b"\x01" + txin[:40] + b"\xfd\xfc\x00",  # non-canonical script length
        version + b"\x01" + txin + b"\x01" + b"\x01" + bytes(7) + b"\xff" + bytes(8) + lock,
    ]
    with pytest.MonkeyPatch.context() as mp:
        for raw in cases:
            for allow_witness in (True, False):
                pure, fast = both(mp, lambda: read_at(raw, 0, allow_witness))
                assert pure == fast, raw.hex()
    assert fast[0] == "error"


def test_reading_a_block_leaves_the_collector_as_it_was():
    txs = (Transaction(1, (), (), 0),)
    raw = Block(BlockHeader(1, bytes(32), bytes(32), 0, 0, 0), txs).serialize()
    header_size = len(raw) - len(txs[0].serialize()) - 1
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            got, end = reader_module.read_transactions(raw, header_size + 1, len(raw), 1)
            assert gc.isenabled() is enabled
            assert got == txs and end == len(raw)
            with pytest.raises(DecodeError):
                reader_module.read_transactions(raw, header_size + 1, len(raw), 2)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()


def test_positions_outside_the_data_are_refused():
    with pytest.raises(ValueError):
        reader_module.read_transaction(b"\x00" * 10, 5, 11)
    with pytest.raises(ValueError):
        reader_module.read_transaction(b"\x00" * 10, 6, 5)
    with pytest.raises(ValueError):
        reader_module.read_transactions(b"\x00" * 10, 0, 10, -1)


def test_decoded_value_objects_are_untracked_and_freed(monkeypatch):
    """The reader's TxIn/TxOut/OutPoint are left out of the cycle collector (see
    ``_fast_slots.new_acyclic``), and decoding the same block over and over leaks nothing."""
    import sys
    monkeypatch.delenv("WATTCHAIN_PURE", raising=False)

    tx = Transaction.deserialize(bytes.fromhex(
        "02000000000101" + "11" * 32 + "01000000" + "00" + "feffffff"
        + "01" + "e803000000000000" + "0151" + "0201aa0201bb" + "00000000"))
    assert tx.has_witness and not gc.is_tracked(tx.inputs[0])
    assert not gc.is_tracked(tx.inputs[0].prevout) and not gc.is_tracked(tx.outputs[0])
    raw = Block(BlockHeader(1, bytes(32), bytes(32), 0, 0, 0), (tx,) * 50).serialize()
    for _ in range(20):
        Block.deserialize(raw)
    before = sys.getallocatedblocks()
    for _ in range(200):
        Block.deserialize(raw)
    assert sys.getallocatedblocks() - before < 200  # 200 x 50 transactions decoded
