"""Context-free and contextual block rules: one broken rule per test, Core's reason string."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain_builder import (OP_TRUE, WITNESS_V1_ANYONE, Chain, op_return, spend, with_header,
                           with_txs)
from wattchain.consensus.assemble import build_coinbase
from wattchain.consensus.block_check import check_block, check_block_header
from wattchain.consensus.contextual import contextual_check_block
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.target import target_to_bits
from wattchain.core.block import Block
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.opcodes import Op


@pytest.fixture
def chain() -> Chain:
    return Chain()


def test_valid_block_passes(chain: Chain) -> None:
    (outpoint, coin) = chain.funding[0]
    tx = spend([outpoint], [TxOut(coin.value - 1000, OP_TRUE)])
    chain.validate(chain.block([tx], fee=1000))


# ---------------------------------------------------------------------------- header
def test_bits_above_pos_limit(chain: Chain) -> None:
    easy = target_to_bits(chain.params.pos_limit * 2 + 1)
    block = with_header(chain.block(), bits=easy)
    with pytest.raises(BlockValidationError) as err:
        check_block_header(block.header, chain.params)
    assert err.value.reason == "bad-diffbits"


@pytest.mark.parametrize("bits", [0x04923456, 0xFF123456, 0x01003456, 0])
def test_negative_overflowing_or_zero_bits(chain: Chain, bits: int) -> None:
    block = with_header(chain.block(), bits=bits)
    assert chain.reject_reason(block) == "bad-diffbits"


def test_bits_not_as_expected(chain: Chain) -> None:
    harder = target_to_bits(chain.params.pos_limit >> 4)
    assert chain.reject_reason(chain.block(bits=harder)) == "bad-diffbits"


def test_time_at_median_time_past_is_too_old(chain: Chain) -> None:
    mtp = chain.ctx.median_time_past
    assert chain.reject_reason(chain.block(time=mtp)) == "time-too-old"
    # PoS also wants every block after its parent (pos.md), which is stricter than the MTP.
    assert chain.reject_reason(chain.block(time=mtp + 1)) == "time-before-parent"
    assert chain.reject_reason(chain.block(time=chain.ctx.time)) == "time-before-parent"
    chain.validate(chain.block(time=chain.ctx.time + 1))


def test_time_off_the_stake_grid(chain: Chain) -> None:
    params = replace(chain.params, stake_timestamp_mask=15)
    grid = Chain(params=params)
    on_grid = (grid.ctx.time + 16) & ~15
    assert grid.reject_reason(grid.block(time=on_grid + 1)) == "bad-stake-time-mask"
    grid.validate(grid.block(time=on_grid))


def test_time_too_new_boundary(chain: Chain) -> None:
    drift = chain.params.max_future_block_time
    now = chain.next_time
    chain.validate(chain.block(time=now + drift), now=now)
    chain = Chain()
    assert chain.reject_reason(chain.block(time=now + drift + 1), now=now) == "time-too-new"


def test_old_version(chain: Chain) -> None:
    assert chain.reject_reason(chain.block(version=3)) == "bad-version(0x00000003)"


# ---------------------------------------------------------------------------- check_block
def test_bad_merkle_root(chain: Chain) -> None:
    block = with_header(chain.block(), merkle_root=bytes(32))
    assert chain.reject_reason(block) == "bad-txnmrklroot"


def test_mutated_merkle_duplicate_tail(chain: Chain) -> None:
    txs = [spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)])]
    block = chain.block(txs)  # coinbase, coinstake, tx: an odd count
    mutated = Block(block.header, block.transactions + (txs[-1],))
    # CVE-2012-2459: same root, different list.
    assert mutated.compute_merkle_root()[0] == block.header.merkle_root
    assert chain.reject_reason(mutated) == "bad-txns-duplicate"


def test_no_transactions(chain: Chain) -> None:
    block = with_txs(chain.block(), [])
    with pytest.raises(BlockValidationError) as err:
        check_block(block, chain.params, check_merkle_root=False)
    assert err.value.reason == "bad-blk-length"


def _block_of_base_size(chain: Chain, size: int) -> Block:
    """A block whose stripped size is exactly ``size`` (a big OP_RETURN in the coinbase)."""
    subsidy = chain.params.block_subsidy(chain.next_height)
    filler = 100
    for _ in range(5):
        outputs = (TxOut(0, OP_TRUE), TxOut(0, op_return(filler)))
        block = chain.block(coinbase_outputs=outputs, coinstake=chain.coinstake(legacy=True))
        diff = size - block.base_size
        if diff == 0:
            return block
        filler += diff
    raise AssertionError("could not hit the size exactly")


def test_base_size_exactly_at_limit_passes(chain: Chain) -> None:
    block = _block_of_base_size(chain, chain.params.max_block_base_size)
    assert block.base_size == 2_000_000
    chain.validate(block)


def test_base_size_one_byte_over_fails(chain: Chain) -> None:
    block = _block_of_base_size(chain, chain.params.max_block_base_size + 1)
    assert chain.reject_reason(block) == "bad-blk-length"


def test_first_tx_not_coinbase(chain: Chain) -> None:
    tx = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)])
    block = chain.block()
    assert chain.reject_reason(with_txs(block, [tx])) == "bad-cb-missing"


def test_second_coinbase(chain: Chain) -> None:
    block = chain.block()
    extra = build_coinbase(chain.next_height, [TxOut(0, OP_TRUE)], extra_nonce=b"x",
                           witness_reserved=None)
    assert chain.reject_reason(with_txs(block, [*block.transactions, extra])) == "bad-cb-multiple"


def test_transaction_check_failure_is_reported(chain: Chain) -> None:
    bad = spend([chain.funding[0][0]], [TxOut(-1, OP_TRUE)])
    assert chain.reject_reason(chain.block([bad])) == "bad-txns-vout-negative"


def test_legacy_sigops_limit(chain: Chain) -> None:
    limit = chain.params.max_block_sigops_cost // 4  # 20,000 legacy sigops
    checksigs = bytes((Op.OP_CHECKSIG,)) * 10_000
    subsidy = chain.params.block_subsidy(chain.next_height)

    def block_with(n_extra: int) -> Block:
        outputs = [TxOut(0, OP_TRUE), TxOut(0, checksigs), TxOut(0, checksigs)]
        if n_extra:
            outputs.append(TxOut(0, bytes((Op.OP_CHECKSIG,)) * n_extra))
        return chain.block(coinbase_outputs=outputs)

    check_block(block_with(0), chain.params)  # exactly 20,000 sigops = 80,000 cost
    assert limit == 20_000
    with pytest.raises(BlockValidationError) as err:
        check_block(block_with(1), chain.params)
    assert err.value.reason == "bad-blk-sigops"


# ---------------------------------------------------------------------------- contextual
def test_nonfinal_by_height(chain: Chain) -> None:
    h = chain.next_height
    tx = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)], locktime=h)
    assert chain.reject_reason(chain.block([tx], fee=9 * COIN)) == "bad-txns-nonfinal"
    ok = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)], locktime=h - 1)
    chain.validate(chain.block([ok], fee=9 * COIN))


def test_locktime_ignored_when_all_sequences_final(chain: Chain) -> None:
    tx = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)], locktime=10**6,
               sequence=0xFFFFFFFF)
    chain.validate(chain.block([tx], fee=9 * COIN))


def test_bip113_time_lock_uses_median_time_past(chain: Chain) -> None:
    mtp = chain.ctx.median_time_past
    # Block time is far past the locktime, but the MTP is not: still non-final (BIP113).
    tx = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)], locktime=mtp)
    assert chain.next_time > mtp
    assert chain.reject_reason(chain.block([tx], fee=9 * COIN)) == "bad-txns-nonfinal"
    ok = spend([chain.funding[0][0]], [TxOut(COIN, OP_TRUE)], locktime=mtp - 1)
    chain.validate(chain.block([ok], fee=9 * COIN))


def test_coinbase_height_wrong(chain: Chain) -> None:
    block = chain.block()
    coinbase = build_coinbase(chain.next_height + 1, block.transactions[0].outputs,
                              witness_reserved=None)
    assert chain.reject_reason(with_txs(block, [coinbase, *block.transactions[1:]])) == "bad-cb-height"


def _witness_spend(chain: Chain, index: int = 0, witness: tuple[bytes, ...] = (b"\x01",)):
    coin_op = chain.add_coin(
        replace(chain.funding[index][1], output=TxOut(COIN, WITNESS_V1_ANYONE)),
        b"w" + bytes([index]))
    return spend([coin_op], [TxOut(COIN - 500, OP_TRUE)], witness=witness)


def test_witness_block_with_commitment_passes(chain: Chain) -> None:
    block = chain.block([_witness_spend(chain)], fee=500)
    assert block.witness_commitment_index() is not None
    chain.validate(block)


def test_witness_nonce_size(chain: Chain) -> None:
    block = chain.block([_witness_spend(chain)], fee=500)
    cb = block.transactions[0]
    bad_cb = replace(cb, inputs=(replace(cb.inputs[0], witness=(bytes(31),)),))
    bad = with_txs(block, [bad_cb, *block.transactions[1:]])
    assert chain.reject_reason(bad) == "bad-witness-nonce-size"


def test_witness_merkle_mismatch(chain: Chain) -> None:
    block = chain.block([_witness_spend(chain)], fee=500)
    other = _witness_spend(chain, witness=(b"\x02",))  # same txid, different wtxid
    assert other.txid == block.transactions[2].txid
    bad = Block(block.header, (*block.transactions[:2], other))
    assert chain.reject_reason(bad) == "bad-witness-merkle-match"


def test_unexpected_witness(chain: Chain) -> None:
    block = chain.block([_witness_spend(chain)], fee=500, witness_commitment=False)
    assert chain.reject_reason(block) == "unexpected-witness"


def _block_of_weight(chain: Chain, weight: int) -> Block:
    filler = 7_000_000
    for _ in range(5):
        tx = _witness_spend(chain, witness=(bytes(filler),))
        block = chain.block([tx], fee=500)
        diff = weight - block.weight
        if diff == 0:
            return block
        filler += diff
    raise AssertionError("could not hit the weight exactly")


def test_weight_exactly_at_limit_passes(chain: Chain) -> None:
    block = _block_of_weight(chain, chain.params.max_block_weight)
    assert block.weight == 8_000_000
    chain.validate(block)


def test_weight_one_over_fails(chain: Chain) -> None:
    block = _block_of_weight(chain, chain.params.max_block_weight + 1)
    assert chain.reject_reason(block) == "bad-blk-weight"


def test_contextual_check_needs_no_view(chain: Chain) -> None:
    """contextual_check_block is UTXO-free: a block spending unknown coins still passes it."""
    tx = spend([OutPoint(bytes(32), 7)], [TxOut(1, OP_TRUE)])
    contextual_check_block(chain.block([tx]), chain.next_height, chain.ctx, chain.params)


def test_coinbase_script_padded_to_minimum() -> None:
    cb = build_coinbase(1, [TxOut(0, b"")], witness_reserved=None)
    assert len(cb.inputs[0].script_sig) >= 2
    assert isinstance(cb, Transaction) and isinstance(cb.inputs[0], TxIn)
