"""The compiled block scan (``wattchain.consensus._block_scan``) against the Python checks.

``scan_transactions`` may only say "passes" about a transaction ``check_transaction`` accepts,
and must say it about every accepted transaction of a modelled shape; the sigop count, the
coinbase and coinstake shapes, the contract-free flag and the cached txid/wtxid must equal
the Python answers. ``merkle_root`` must equal ``core.merkle.merkle_root``. And
``check_block`` must fail every broken block with the same reason and detail either way.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain_builder import OP_TRUE, Chain, spend, with_txs
from wattchain.consensus import block_scan
from wattchain.consensus.block_check import check_block, legacy_sigop_count
from wattchain.consensus.errors import BlockValidationError, TxValidationError
from wattchain.consensus.tx_check import check_transaction
from wattchain.consensus.tx_verify import is_coinstake
from wattchain.contracts.script import contract_outputs
from wattchain.core.merkle import merkle_root as python_merkle_root
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut

scan_module = block_scan.compiled_block_scan(fast=True)
pytestmark = pytest.mark.skipif(scan_module is None, reason="compiled extensions are not built")

MAX_MONEY = 21_000_000 * COIN
MAX_WEIGHT = 8_000_000
NULL = OutPoint(bytes(32), 0xFFFFFFFF)

# Scripts that exercise the sigop counter (CHECKSIG, CHECKMULTISIG after OP_1..16, truncated
# pushes) and the contract-byte test (0xc1/0xc2), besides random bytes.
special_scripts = st.sampled_from([
    b"", b"\xac", b"\xad\xac", b"\x52\xae", b"\xae", b"\x4c", b"\x4d\x01", b"\x01",
    b"\xc1", b"\x00\x14" + bytes(20), b"\x00\x14" + b"\xc1" * 20, b"\x6a\x02\xc2\xac",
    bytes(101), bytes(2)])
scripts = st.one_of(special_scripts, st.binary(max_size=30))
values = st.one_of(st.sampled_from([-1, 0, 1, MAX_MONEY, MAX_MONEY + 1, 2**63 - 1]),
                   st.integers(0, 10 * COIN))
prevouts = st.one_of(
    st.just(NULL), st.just(OutPoint(bytes(32), 0)), st.just(OutPoint(b"\x01" * 32, 0xFFFFFFFF)),
    st.builds(OutPoint, st.sampled_from([b"\x01" * 32, b"\x02" * 32]), st.integers(0, 2)))


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    inputs = tuple(TxIn(draw(prevouts), draw(scripts), draw(st.integers(0, 2**32 - 1)),
                        tuple(draw(st.lists(st.binary(max_size=8), max_size=2))))
                   for _ in range(draw(st.integers(0, 4))))
    outputs = tuple(TxOut(draw(values), draw(scripts)) for _ in range(draw(st.integers(0, 4))))
    return Transaction(draw(st.integers(0, 3)), inputs, outputs, draw(st.integers(0, 9)))


def python_passes(tx: Transaction) -> bool:
    try:
        check_transaction(tx, MAX_MONEY, MAX_WEIGHT)
    except TxValidationError:
        return False
    return True


def fresh(tx: Transaction) -> Transaction:
    """The same transaction with nothing cached."""
    return Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime)


@settings(max_examples=600, deadline=None)
@given(transactions())
def test_scan_says_passes_exactly_when_check_transaction_does(tx: Transaction) -> None:
    candidates = [fresh(tx)]  # as built in memory
    if tx.inputs:  # as decoded, with the reader's cached serializations
        candidates.append(Transaction.deserialize(tx.serialize()))
    for candidate in candidates:
        status, free, sigops = scan_module.scan_transactions([candidate], MAX_MONEY, MAX_WEIGHT)
        assert (status[0] != block_scan.UNCHECKED) == python_passes(tx)
        if status[0] == block_scan.UNCHECKED:
            assert (free[0], sigops) == (0, 0)
            continue
        assert sigops == legacy_sigop_count(tx)
        assert (status[0] == block_scan.PASSES_COINBASE) == tx.is_coinbase()
        assert (status[0] == block_scan.PASSES_COINSTAKE_SHAPE) == is_coinstake(tx)
        if free[0]:
            assert contract_outputs(tx) == []
        # The identities it cached are the ones Python computes.
        reference = fresh(tx)
        assert candidate.__dict__["txid"] == reference.txid
        assert candidate.__dict__["wtxid"] == reference.wtxid
        assert candidate.has_witness == reference.has_witness


@pytest.mark.parametrize("script_size", [0, 1, 2, 100, 101])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_scan_at_the_coinbase_and_coinstake_boundaries(script_size: int, n_outputs: int) -> None:
    coinbase = Transaction(1, (TxIn(NULL, bytes(script_size)),),
                           tuple(TxOut(0, b"") for _ in range(n_outputs)), 0)
    coinstake = spend([OutPoint(b"\x01" * 32, 0)],
                      [TxOut(0, b"")] + [TxOut(5, OP_TRUE)] * (n_outputs - 1))
    status, _, _ = scan_module.scan_transactions([coinbase, coinstake], MAX_MONEY, MAX_WEIGHT)
    assert status[0] == (block_scan.PASSES_COINBASE if 2 <= script_size <= 100
                         else block_scan.UNCHECKED)
    assert status[1] == (block_scan.PASSES_COINSTAKE_SHAPE if n_outputs == 2
                         else block_scan.PASSES)
    assert (status[1] == block_scan.PASSES_COINSTAKE_SHAPE) == is_coinstake(coinstake)


def test_scan_leaves_more_than_64_inputs_and_odd_objects_to_python() -> None:
    many = spend([OutPoint(b"\x01" * 32, i) for i in range(65)], [TxOut(1, OP_TRUE)])
    sixty_four = spend([OutPoint(b"\x01" * 32, i) for i in range(64)], [TxOut(1, OP_TRUE)])

    class Sub(Transaction):
        pass
    odd = Sub(2, sixty_four.inputs, sixty_four.outputs, 0)
    status, _, _ = scan_module.scan_transactions([many, sixty_four, odd], MAX_MONEY, MAX_WEIGHT)
    assert list(status) == [block_scan.UNCHECKED, block_scan.PASSES, block_scan.UNCHECKED]


def test_scan_of_an_oversize_transaction_is_unchecked() -> None:
    big = spend([OutPoint(b"\x01" * 32, 0)], [TxOut(1, b"\x6a" + bytes(20_000))])
    status, _, _ = scan_module.scan_transactions([big], MAX_MONEY, 80_000)
    assert status[0] == block_scan.UNCHECKED
    status, _, _ = scan_module.scan_transactions([fresh(big)], MAX_MONEY, MAX_WEIGHT)
    assert status[0] == block_scan.PASSES


hashes = st.binary(min_size=32, max_size=32)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\x01" * 32, b"\x02" * 32]) | hashes, max_size=40),
       st.randoms(use_true_random=False))
def test_merkle_root_matches_python(items: list[bytes], rng: random.Random) -> None:
    if items and rng.random() < 0.4:  # a duplicated tail: CVE-2012-2459's mutation
        items = items + items[-rng.randrange(1, len(items) + 1):]
    assert scan_module.merkle_root(items) == python_merkle_root(items)
    assert block_scan.merkle_root(items) == python_merkle_root(items)


def test_merkle_root_of_other_items_falls_back_to_python() -> None:
    items = [b"short", b"\x01" * 32, b"\x02" * 33]
    assert scan_module.merkle_root(items) is None
    assert block_scan.merkle_root(items) == python_merkle_root(items)
    assert scan_module.merkle_root([]) == python_merkle_root([])
    one = hashlib.sha256(b"x").digest()
    assert scan_module.merkle_root([one]) == (one, False)


# ------------------------------------------------------------------------------ check_block
def outcome(block, params, fast: bool):
    try:
        check_block(block, params, fast=fast)
    except BlockValidationError as exc:
        return exc.reason, exc.detail
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(transactions(), max_size=5), st.randoms(use_true_random=False))
def test_check_block_fails_the_same_way_either_way(txs, rng) -> None:
    chain = Chain()
    (outpoint, coin) = chain.funding[0]
    good = spend([outpoint], [TxOut(coin.value - 1000, OP_TRUE)])
    block = chain.block([good], fee=1000)
    listed = list(block.transactions)
    for tx in txs:  # random transactions anywhere, even before the coinbase
        listed.insert(rng.randrange(len(listed) + 1), tx)
    broken = with_txs(block, listed)
    # Two copies with nothing cached: each mode computes its own txids.
    first = with_txs(block, [fresh(tx) for tx in listed])
    assert outcome(broken, chain.params, fast=True) == outcome(first, chain.params, fast=False)


def test_valid_blocks_pass_and_rules_still_fire_with_the_scan() -> None:
    chain = Chain()
    (outpoint, coin) = chain.funding[0]
    good = spend([outpoint], [TxOut(coin.value - 1000, OP_TRUE)])
    block = chain.block([good], fee=1000)
    assert outcome(block, chain.params, fast=True) is None
    second_coinbase = with_txs(block, [*block.transactions, block.transactions[0]])
    assert outcome(second_coinbase, chain.params, fast=True)[0] == "bad-cb-multiple"
    second_coinstake = with_txs(block, [*block.transactions, block.transactions[1]])
    assert outcome(second_coinstake, chain.params, fast=True)[0] == "bad-cs-multiple"
    sigops = spend([outpoint], [TxOut(1, b"\xac" * 20_001)])
    assert outcome(with_txs(block, [*block.transactions, sigops]), chain.params,
                   fast=True)[0] == "bad-blk-sigops"
