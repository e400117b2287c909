"""The compiled block loop's contract-output flags against ``find_contract_transactions``.

The loop flags a transaction "contract-free" when none of its outputs passes the byte test
``is_contract_script`` starts with (a 0xc1/0xc2 byte, outside the P2WPKH/P2WSH shape), and the
contract scan skips flagged transactions. Random output scripts with those bytes in pushes,
as opcodes, in witness programs, in valid and in malformed contract scripts must give the same
flags as that test computed in Python, never flag a transaction holding a contract output, and
give the same contract transactions, or the same first error, as the full scan.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_connect_fast import Builder
from wattchain.consensus import connect as connect_module
from wattchain.consensus.coins import CoinsViewCache
from wattchain.consensus.connect import connect_block
from wattchain.consensus.connect_fast import compiled_available
from wattchain.consensus.contract_rules import find_contract_transactions
from wattchain.consensus.errors import BlockValidationError
from wattchain.contracts.script import call_script, create_script, is_contract_script
from wattchain.core.tx import TxOut
from wattchain.node.utxo_db import EmptyCoinsView
from wattchain.script.script import push_data

pytestmark = pytest.mark.skipif(not compiled_available(), reason="compiled loop is not built")

SPECIAL = st.sampled_from([0xC1, 0xC2, 0x00, 0x14, 0x20, 0x4C, 0x4D, 0x6A, 0x51])
RAW = st.lists(st.one_of(SPECIAL, st.integers(0, 255)), max_size=40).map(bytes)


@st.composite
def scripts(draw) -> bytes:
    kind = draw(st.sampled_from(["raw", "pushes", "wpkh", "wsh", "create", "call", "cut",
                                 "op_return", "plain"]))
    if kind == "raw":
        return draw(RAW)
    if kind == "pushes":  # pushes holding the special bytes, maybe an opcode among them
        parts = [push_data(draw(RAW)) for _ in range(draw(st.integers(1, 3)))]
        if draw(st.booleans()):
            parts.insert(draw(st.integers(0, len(parts))), bytes((draw(SPECIAL),)))
        return b"".join(parts)
    if kind in ("wpkh", "wsh"):  # a witness program whose hash holds 0xc1/0xc2
        size = 20 if kind == "wpkh" else 32
        body = bytearray(draw(st.binary(min_size=size, max_size=size)))
        body[draw(st.integers(0, size - 1))] = draw(st.sampled_from([0xC1, 0xC2]))
        tail = draw(st.sampled_from([b"", b"\xc1"]))  # one byte longer: not the shape
        return bytes((0, size)) + bytes(body) + tail
    if kind == "create":
        return create_script(draw(st.integers(0, 2)), draw(st.integers(0, 10**6)),
                             draw(st.integers(0, 100)), draw(RAW))
    if kind == "call":
        return call_script(draw(st.integers(0, 2)), 50_000, 40, draw(RAW),
                           draw(st.binary(min_size=20, max_size=20)))
    if kind == "cut":  # a push running past the end, then the special bytes inside it
        return b"\x4c\x30" + draw(RAW)
    if kind == "op_return":
        return b"\x6a" + draw(RAW)
    return draw(st.sampled_from([b"\x51", b"\x00\x14" + bytes(20), b"\x76\xa9\x14" + bytes(20)
                                 + b"\x88\xac"]))


def prefilter(script: bytes) -> bool:
    """The loop's test, written in Python: may this output claim to be a contract output?"""
    n = len(script)
    if 0xC1 not in script and 0xC2 not in script:
        return False
    return not (n in (22, 34) and script[0] == 0 and script[1] == n - 2)


def build(output_scripts: list[list[bytes]], seed: int):
    """A block of one-input transactions with ``output_scripts`` added as zero-value outputs.
    The block is made (and its contracts executed by the generator) without those outputs and
    they are put in afterwards: only ``connect_block``'s per-transaction part and the contract
    scan look at this block, neither checks the merkle root or the state root."""
    b = Builder(seed)
    txs, plain = [], []
    for extra in output_scripts:
        spends = [b.coin("wpkh")]
        outputs = b.pay(spends[0][1].output.value - 5000, 1)
        plain.append(b.tx(spends, outputs))
        txs.append(b.tx(spends, outputs + [TxOut(0, s) for s in extra]))
    block = b.branch.make_block(plain)
    block = replace(block, transactions=(*block.transactions[:2], *txs))
    return b.params, b.coins, b.branch.context(), block


def base_view(params, coins) -> CoinsViewCache:
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    for outpoint, coin in coins:
        base.add_coin(outpoint, coin)
    return CoinsViewCache(base)


def scan(block, params, flags):
    try:
        return ("ok", [(position, tx.txid, found)
                       for position, tx, found in find_contract_transactions(block, params,
                                                                              flags)])
    except BlockValidationError as exc:
        return ("error", exc.reason, exc.detail)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output_scripts=st.lists(st.lists(scripts(), max_size=3), min_size=1, max_size=5),
       seed=st.integers(0, 99))
def test_flags_skip_exactly_the_transactions_without_contract_outputs(output_scripts, seed):
    params, coins, ctx, block = build(output_scripts, seed)
    fees, _, _, flags = connect_module._connect_transactions(
        block, base_view(params, coins), 1, ctx, params, None, fast=True)
    txs = block.transactions
    expected = bytearray([0, 0]) + bytearray(
        not any(prefilter(out.script_pubkey) for out in tx.outputs) for tx in txs[2:])
    assert flags == expected
    for flag, tx in zip(flags, txs):  # sound: a flagged transaction claims no contract output
        assert not (flag and any(is_contract_script(out.script_pubkey) for out in tx.outputs))
    assert scan(block, params, flags) == scan(block, params, None)


def test_the_python_loop_gives_no_flags_and_bad_flags_are_refused():
    params, coins, ctx, block = build([[b"\x51"], [create_script(0, 50_000, 40, b"\x01")]], 1)
    flags = connect_module._connect_transactions(block, base_view(params, coins), 1, ctx,
                                                 params, None, fast=False)[3]
    assert flags is None
    with pytest.raises(ValueError):
        find_contract_transactions(block, params, bytearray(len(block.transactions) - 1))


@pytest.mark.parametrize("fast", [True, False])
def test_a_contract_output_is_still_found_by_connect_block(fast, monkeypatch):
    """Without a contract state a block with a contract output is refused on both paths, and
    one whose 0xc1 bytes sit in witness programs and pushes is accepted."""
    if fast:
        monkeypatch.delenv("WATTCHAIN_PURE", raising=False)
    else:
        monkeypatch.setenv("WATTCHAIN_PURE", "1")
    harmless = [b"\x00\x14" + b"\xc1" * 20, push_data(b"\xc1\xc2" * 5)]
    for extra, expected in (([create_script(0, 50_000, 40, b"\x01")], "contracts-unavailable"),
                            (harmless, None)):
        params, coins, ctx, block = build([[b"\x51"], extra], 2)
        try:
            connect_block(block, base_view(params, coins), 1, ctx, params, script_check=False)
            reason = None
        except BlockValidationError as exc:
            reason = exc.reason
        assert reason == expected
