"""The PoS header encoding, chain parameters, genesis construction and compact targets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattchain.consensus.assemble import build_block, genesis_block
from wattchain.consensus.params import ChainParams, main_params, params_for, regtest_params
from wattchain.consensus.params import test_params
from wattchain.consensus.target import (bits_to_target, block_proof, decode_bits,
                                        target_to_bits)
from wattchain.core.block import Block
from wattchain.core.errors import DecodeError
from wattchain.core.header import (EMPTY_STATE_ROOT, MAX_BLOCK_SIGNATURE_SIZE, StakeBlockHeader,
                                   deserialize_stake_block)
from wattchain.core.serialization import compact_size
from wattchain.core.tx import COIN, OutPoint, TxOut

headers = st.builds(
    StakeBlockHeader,
    version=st.integers(-2**31, 2**31 - 1),
    prev_hash=st.binary(min_size=32, max_size=32),
    merkle_root=st.binary(min_size=32, max_size=32),
    time=st.integers(0, 2**32 - 1),
    bits=st.integers(0, 2**32 - 1),
    nonce=st.integers(0, 2**32 - 1),
    state_root=st.binary(min_size=32, max_size=32),
    prevout_stake=st.builds(OutPoint, st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1)),
    block_signature=st.binary(max_size=MAX_BLOCK_SIGNATURE_SIZE),
)


@given(headers)
def test_header_round_trip_and_signature_excluded_from_hash(header: StakeBlockHeader) -> None:
    raw = header.serialize()
    assert len(raw) == 80 + 32 + 36 + len(compact_size(len(header.block_signature))) \
        + len(header.block_signature)
    decoded = StakeBlockHeader.deserialize(raw)
    assert decoded == header
    assert decoded.hash == header.hash
    assert header.with_signature(b"\x01" * 65).hash == header.hash
    assert header.without_signature().block_signature == b""
    assert header.without_signature().hash == header.hash


def test_hash_covers_every_other_field() -> None:
    header = StakeBlockHeader(4, bytes(32), bytes(32), 1, 0x207FFFFF)
    for change in ({"version": 5}, {"prev_hash": b"\x01" * 32}, {"merkle_root": b"\x01" * 32},
                   {"time": 2}, {"bits": 0x1D00FFFF}, {"nonce": 1}, {"state_root": bytes(32)},
                   {"prevout_stake": OutPoint(bytes(32), 0)}):
        assert replace(header, **change).hash != header.hash, change


def test_first_80_bytes_are_bitcoin_header() -> None:
    from wattchain.core.block import BlockHeader

    header = StakeBlockHeader(4, b"\x02" * 32, b"\x03" * 32, 1234, 0x1D00FFFF, 7)
    legacy = BlockHeader(4, b"\x02" * 32, b"\x03" * 32, 1234, 0x1D00FFFF, 7)
    assert header.serialize()[:80] == legacy.serialize()
    assert header.state_root == EMPTY_STATE_ROOT and header.prevout_stake.is_null()


def test_header_decode_errors() -> None:
    header = StakeBlockHeader(4, bytes(32), bytes(32), 1, 2, block_signature=b"\x01" * 65)
    raw = header.serialize()
    for cut in (0, 50, 80, 147, len(raw) - 1):
        with pytest.raises(DecodeError):
            StakeBlockHeader.deserialize(raw[:cut])
    with pytest.raises(DecodeError):
        StakeBlockHeader.deserialize(raw + b"\x00")
    too_long = header.serialize_unsigned() + compact_size(MAX_BLOCK_SIGNATURE_SIZE + 1) \
        + bytes(MAX_BLOCK_SIGNATURE_SIZE + 1)
    with pytest.raises(DecodeError):
        StakeBlockHeader.deserialize(too_long)


@given(st.binary(max_size=300))
def test_block_decode_garbage_only_decode_error(data: bytes) -> None:
    try:
        Block.deserialize(data, header_type=StakeBlockHeader)
    except DecodeError:
        pass


def test_block_round_trip_with_stake_header() -> None:
    params = regtest_params()
    block = build_block(params.genesis_hash, 1, params.genesis_time + 16, None, [], params,
                        block_signature=b"\x05" * 65,
                        prevout_stake=OutPoint(b"\x09" * 32, 1))
    raw = block.serialize()
    assert deserialize_stake_block(raw) == block
    assert Block.deserialize(raw, header_type=StakeBlockHeader).hash == block.hash


# ---------------------------------------------------------------------------- params
def test_network_parameters_shape() -> None:
    main, test, reg = main_params(), test_params(), regtest_params()
    assert len({main.magic, test.magic, reg.magic}) == 3
    assert len({main.genesis_hash, test.genesis_hash, reg.genesis_hash}) == 3
    assert main.max_block_base_size == 2_000_000 and main.max_block_weight == 8_000_000
    assert main.max_block_sigops_cost == 80_000
    assert (main.target_spacing, main.stake_timestamp_mask, main.coinbase_maturity) == (128, 15, 500)
    assert reg.coinbase_maturity == 10 and reg.stake_timestamp_mask == 0
    assert reg.pos_limit > main.pos_limit
    assert main.genesis_time & main.stake_timestamp_mask == 0
    assert params_for("regtest") == reg
    with pytest.raises(ValueError):
        params_for("nope")


def test_block_subsidy_schedule() -> None:
    p = main_params()
    assert p.block_subsidy(0) == 4 * COIN
    assert p.block_subsidy(p.halving_interval - 1) == 4 * COIN
    assert p.block_subsidy(p.halving_interval) == 2 * COIN
    assert p.block_subsidy(p.halving_interval * 7) == 4 * COIN >> 7
    assert p.block_subsidy(p.halving_interval * 8) == 0
    total = sum(p.block_subsidy(p.halving_interval * i) * p.halving_interval for i in range(8))
    assert total <= p.max_money


def test_genesis_is_deterministic_and_follows_params() -> None:
    a, b = regtest_params(), regtest_params()
    assert a.genesis_block.serialize() == b.genesis_block.serialize()
    assert genesis_block(a) is a.genesis_block
    moved = replace(a, genesis_time=a.genesis_time + 16)
    assert moved.genesis_hash != a.genesis_hash
    premined = regtest_params(premine=[(b"\x51", 1000 * COIN)])
    cb = premined.genesis_block.transactions[0]
    assert cb.outputs == (TxOut(1000 * COIN, b"\x51"),)
    assert premined.genesis_block.header.prevout_stake.is_null()
    assert premined.genesis_block.compute_merkle_root()[0] == premined.genesis_block.header.merkle_root
    assert premined.genesis_hash != a.genesis_hash
    assert hash(premined) == hash(regtest_params(premine=[(b"\x51", 1000 * COIN)]))


def test_params_validation() -> None:
    with pytest.raises(ValueError):
        replace(main_params(), magic=b"\x00")
    with pytest.raises(ValueError):
        replace(main_params(), max_block_weight=4_000_000)
    with pytest.raises(ValueError):
        regtest_params(premine=[(b"\x51", main_params().max_money + 1)])
    assert isinstance(main_params(), ChainParams)


# ---------------------------------------------------------------------------- compact targets
@pytest.mark.parametrize("bits,target,negative,overflow", [
    (0x00000000, 0, False, False),
    (0x00123456, 0, False, False),
    (0x01003456, 0, False, False),
    (0x01123456, 0x12, False, False),
    (0x02008000, 0x80, False, False),
    (0x05009234, 0x92340000, False, False),
    (0x04923456, 0x12345600, True, False),   # Core: -0x12345600
    (0x04123456, 0x12345600, False, False),
    (0x20123456, 0x1234560000000000000000000000000000000000000000000000000000000000, False, False),
    (0xFF123456, 0x123456 << (8 * 252), False, True),
])
def test_decode_bits_matches_core(bits, target, negative, overflow) -> None:
    decoded = decode_bits(bits)
    assert (decoded.negative, decoded.overflow) == (negative, overflow)
    if not overflow:
        assert decoded.target == target


@given(st.integers(1, 2**256 - 1))
def test_target_round_trip_loses_only_precision(target: int) -> None:
    bits = target_to_bits(target)
    back = bits_to_target(bits)
    assert back <= target and (target - back) < (target >> 15) + 1
    assert target_to_bits(back) == bits


def test_block_proof() -> None:
    assert block_proof(0x1D00FFFF) == 0x100010001
    assert block_proof(0x04923456) == 0
    assert block_proof(main_params().genesis_bits) > block_proof(regtest_params().genesis_bits)
