"""UTXO-dependent rules: inputs, maturity, fees, BIP68, sigops cost, scripts, reward, undo."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain_builder import OP_TRUE, P2WSH_TRUE, Chain, spend
from wattchain.consensus.coins import Coin, CoinsViewCache, DictCoinsView
from wattchain.consensus.connect import BlockUndo, DisconnectError, connect_block, disconnect_block
from wattchain.consensus.context import ListChainContext
from wattchain.consensus.errors import BlockValidationError, TxValidationError
from wattchain.consensus.params import regtest_params
from wattchain.consensus.tx_verify import (CONSENSUS_LOCKTIME_FLAGS, SEQUENCE_LOCKTIME_DISABLE_FLAG,
                                           SEQUENCE_LOCKTIME_TYPE_FLAG, LockTimeFlags,
                                           calculate_sequence_locks, check_tx_inputs,
                                           evaluate_sequence_locks, transaction_sigop_cost)
from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.flags import CONSENSUS_FLAGS
from wattchain.script.opcodes import Op
from wattchain.script.script import push_int
from wattchain.script.sign import KeyStore, sign_transaction
from wattchain.script.standard import p2pkh, p2sh_of, p2wpkh


@pytest.fixture
def chain() -> Chain:
    return Chain()


def snapshot(view: CoinsViewCache, outpoints) -> dict:
    return {op: view.get_coin(op) for op in outpoints}


# ---------------------------------------------------------------------------- inputs
def test_missing_input(chain: Chain) -> None:
    tx = spend([OutPoint(bytes(range(32)), 0)], [TxOut(1, OP_TRUE)])
    assert chain.reject_reason(chain.block([tx])) == "bad-txns-inputs-missingorspent"


def test_double_spend_within_block(chain: Chain) -> None:
    op, coin = chain.funding[0]
    a = spend([op], [TxOut(coin.value, OP_TRUE)])
    b = spend([op], [TxOut(coin.value - 1, OP_TRUE)])
    assert chain.reject_reason(chain.block([a, b])) == "bad-txns-inputs-missingorspent"


def test_spend_output_created_earlier_in_block(chain: Chain) -> None:
    op, coin = chain.funding[0]
    a = spend([op], [TxOut(coin.value, OP_TRUE)])
    b = spend([OutPoint(a.txid, 0)], [TxOut(coin.value - 10, OP_TRUE)])
    chain.validate(chain.block([a, b], fee=10))


@pytest.mark.parametrize("coinstake", [False, True])
def test_coinbase_maturity_boundary(chain: Chain, coinstake: bool) -> None:
    maturity = chain.params.coinbase_maturity
    spend_height = chain.next_height
    immature = Coin(TxOut(COIN, OP_TRUE), spend_height - maturity + 1, is_coinbase=not coinstake,
                    is_coinstake=coinstake)
    mature = replace(immature, height=spend_height - maturity)
    op_immature = chain.add_coin(immature, b"immature")
    op_mature = chain.add_coin(mature, b"mature")
    tx = spend([op_immature], [TxOut(COIN, OP_TRUE)])
    kind = "coinstake" if coinstake else "coinbase"
    assert chain.reject_reason(chain.block([tx])) == f"bad-txns-premature-spend-of-{kind}"
    chain.validate(chain.block([spend([op_mature], [TxOut(COIN, OP_TRUE)])]))


def test_input_value_out_of_range(chain: Chain) -> None:
    big = chain.add_coin(Coin(TxOut(chain.params.max_money + 1, OP_TRUE), 1, False), b"big")
    tx = spend([big], [TxOut(1, OP_TRUE)])
    assert chain.reject_reason(chain.block([tx])) == "bad-txns-inputvalues-outofrange"


def test_input_sum_out_of_range(chain: Chain) -> None:
    half = chain.params.max_money // 2 + 1
    a = chain.add_coin(Coin(TxOut(half, OP_TRUE), 1, False), b"a")
    b = chain.add_coin(Coin(TxOut(half, OP_TRUE), 1, False), b"b")
    tx = spend([a, b], [TxOut(1, OP_TRUE)])
    with pytest.raises(TxValidationError) as err:
        check_tx_inputs(tx, chain.view, chain.next_height, chain.params)
    assert err.value.reason == "bad-txns-inputvalues-outofrange"


def test_value_created(chain: Chain) -> None:
    op, coin = chain.funding[0]
    tx = spend([op], [TxOut(coin.value + 1, OP_TRUE)])
    assert chain.reject_reason(chain.block([tx])) == "bad-txns-in-belowout"


def test_fee_returned(chain: Chain) -> None:
    op, coin = chain.funding[0]
    tx = spend([op], [TxOut(coin.value - 1234, OP_TRUE)])
    assert check_tx_inputs(tx, chain.view, chain.next_height, chain.params) == 1234


def test_accumulated_fees_out_of_range(chain: Chain) -> None:
    money = chain.params.max_money
    a = chain.add_coin(Coin(TxOut(money, OP_TRUE), 1, False), b"a")
    b = chain.add_coin(Coin(TxOut(money, OP_TRUE), 1, False), b"b")
    txs = [spend([a], [TxOut(0, OP_TRUE)]), spend([b], [TxOut(0, OP_TRUE)])]
    assert chain.reject_reason(chain.block(txs)) == "bad-txns-accumulated-fee-outofrange"


# ---------------------------------------------------------------------------- reward
def test_coinstake_amount_boundary_includes_fees(chain: Chain) -> None:
    op, coin = chain.funding[0]
    tx = spend([op], [TxOut(coin.value - 777, OP_TRUE)])
    assert chain.reject_reason(chain.block([tx], fee=778)) == "bad-cs-amount"
    chain.validate(chain.block([tx], fee=777))


def test_coinstake_reward_counts_against_subsidy(chain: Chain) -> None:
    chain_ok = Chain()
    chain_ok.validate(chain_ok.block(coinstake=chain_ok.coinstake()))
    greedy = chain.coinstake(extra=1)
    assert chain.reject_reason(chain.block(coinstake=greedy)) == "bad-cs-amount"
    # The coinbase of a PoS block pays nothing: the reward belongs to the coinstake.
    paying_coinbase = chain.block(coinbase_outputs=(TxOut(1, OP_TRUE),))
    assert chain.reject_reason(paying_coinbase) == "bad-cb-pos-value"


def test_coinstake_may_claim_less_than_allowed(chain: Chain) -> None:
    chain.validate(chain.block(coinstake=chain.coinstake(reward=0)))


def test_coinstake_outputs_are_marked(chain: Chain) -> None:
    stake = chain.coinstake()
    chain.validate(chain.block(coinstake=stake))
    created = chain.view.get_coin(OutPoint(stake.txid, 1))
    assert created is not None and created.is_coinstake and not created.is_coinbase


def test_coinstake_shape_elsewhere_is_refused(chain: Chain) -> None:
    a = spend([chain.funding[0][0]], [TxOut(10 * COIN, OP_TRUE)])
    mint = spend([chain.funding[1][0]], [TxOut(0, b""), TxOut(11 * COIN, OP_TRUE)])
    assert chain.reject_reason(chain.block([a, mint])) == "bad-cs-multiple"


# ---------------------------------------------------------------------------- BIP68
def test_relative_height_lock(chain: Chain) -> None:
    h = chain.next_height
    op = chain.add_coin(Coin(TxOut(COIN, OP_TRUE), h - 5, False), b"young")
    locked = spend([op], [TxOut(COIN, OP_TRUE)], sequence=6)
    assert chain.reject_reason(chain.block([locked])) == "bad-txns-nonfinal"
    chain.validate(chain.block([spend([op], [TxOut(COIN, OP_TRUE)], sequence=5)]))


def test_relative_lock_ignored_for_version_1_and_disable_flag(chain: Chain) -> None:
    h = chain.next_height
    op = chain.add_coin(Coin(TxOut(COIN, OP_TRUE), h - 1, False), b"young")
    v1 = spend([op], [TxOut(COIN, OP_TRUE)], sequence=100, version=1)
    chain.validate(chain.block([v1]))
    chain = Chain()
    op = chain.add_coin(Coin(TxOut(COIN, OP_TRUE), h - 1, False), b"young")
    disabled = spend([op], [TxOut(COIN, OP_TRUE)], sequence=SEQUENCE_LOCKTIME_DISABLE_FLAG | 100)
    chain.validate(chain.block([disabled]))


def test_relative_time_lock() -> None:
    # Times spaced 100 s apart; coin created at height 50.
    times = tuple(1_000_000 + 100 * i for i in range(101))
    ctx = ListChainContext(times)
    tx = spend([OutPoint(bytes(32), 1)], [TxOut(1, OP_TRUE)],
               sequence=SEQUENCE_LOCKTIME_TYPE_FLAG | 2)  # 1024 s
    locks = calculate_sequence_locks(tx, CONSENSUS_LOCKTIME_FLAGS, [50], ctx)
    base = ctx.median_time_past_at(49)
    assert locks.min_time == base + 1024 - 1 and locks.min_height == -1
    assert evaluate_sequence_locks(101, base + 1024, locks)
    assert not evaluate_sequence_locks(101, base + 1023, locks)
    none = calculate_sequence_locks(tx, LockTimeFlags.NONE, [50], ctx)
    assert none.min_time == -1


def test_relative_time_lock_in_block(chain: Chain) -> None:
    h = chain.next_height
    coin_height = h - 40  # 40 blocks x 16 s = 640 s of MTP progress
    op = chain.add_coin(Coin(TxOut(COIN, OP_TRUE), coin_height, False), b"t")
    elapsed = chain.ctx.median_time_past - chain.ctx.median_time_past_at(coin_height - 1)
    assert elapsed == 640
    locked = spend([op], [TxOut(COIN, OP_TRUE)], sequence=SEQUENCE_LOCKTIME_TYPE_FLAG | 2)
    assert chain.reject_reason(chain.block([locked])) == "bad-txns-nonfinal"
    ok = spend([op], [TxOut(COIN, OP_TRUE)], sequence=SEQUENCE_LOCKTIME_TYPE_FLAG | 1)
    chain.validate(chain.block([ok]))


# ---------------------------------------------------------------------------- sigops / scripts
def test_witness_sigops_count_toward_block_limit(chain: Chain) -> None:
    # A P2WSH witness script with 201 x CHECKMULTISIG (20 each, counted accurately without
    # a preceding OP_n) = 4,020 cost per input; 20 inputs = 80,400 > 80,000.
    script = bytes((Op.OP_CHECKMULTISIG,)) * 201
    coin_script = bytes((Op.OP_0, 32)) + sha256(script)
    ops = [chain.add_coin(Coin(TxOut(COIN, coin_script), 1, False), b"s" + bytes([i]))
           for i in range(20)]
    tx = spend(ops, [TxOut(COIN, OP_TRUE)], witness=(script,))
    coins = [chain.view.get_coin(op) for op in ops]
    assert transaction_sigop_cost(tx, coins, CONSENSUS_FLAGS) == 20 * 201 * 20
    assert chain.reject_reason(chain.block([tx])) == "bad-blk-sigops"


def test_p2sh_sigops_weighted_by_four(chain: Chain) -> None:
    redeem = bytes((Op.OP_1,)) + bytes((Op.OP_CHECKSIG,)) * 3
    coin = Coin(TxOut(COIN, p2sh_of(redeem)), 1, False)
    tx = spend([OutPoint(bytes(32), 0)], [TxOut(1, OP_TRUE)], script_sig=bytes((len(redeem),)) + redeem)
    assert transaction_sigop_cost(tx, [coin], CONSENSUS_FLAGS) == 3 * 4


def test_failing_script(chain: Chain) -> None:
    op = chain.add_coin(Coin(TxOut(COIN, bytes((Op.OP_0,))), 1, False), b"false")
    tx = spend([op], [TxOut(COIN, OP_TRUE)])
    reason = chain.reject_reason(chain.block([tx]))
    assert reason == "mandatory-script-verify-flag-failed (EVAL_FALSE)"


def test_script_check_can_be_skipped(chain: Chain) -> None:
    op = chain.add_coin(Coin(TxOut(COIN, bytes((Op.OP_0,))), 1, False), b"false")
    block = chain.block([spend([op], [TxOut(COIN, OP_TRUE)])])
    connect_block(block, CoinsViewCache(chain.view), chain.next_height, chain.ctx, chain.params,
                  script_check=False)


def test_signed_spends_verify_and_tampering_fails(chain: Chain) -> None:
    keys = KeyStore()
    key = bytes(31) + b"\x07"
    pub = keys.add_key(key)
    scripts = [p2wpkh(hash160(pub)), p2pkh(hash160(pub)), P2WSH_TRUE]
    coins = [Coin(TxOut(COIN, s), 1, False) for s in scripts]
    ops = [chain.add_coin(c, b"k" + bytes([i])) for i, c in enumerate(coins)]
    unsigned = spend(ops[:2], [TxOut(2 * COIN - 1000, OP_TRUE)])
    signed = sign_transaction(unsigned, [c.output for c in coins[:2]], keys)
    wsh = spend([ops[2]], [TxOut(COIN, OP_TRUE)], witness=(OP_TRUE,))
    assert public_key(key) == pub
    good_chain_block = chain.block([signed, wsh], fee=1000)
    tampered = replace(signed, outputs=(TxOut(2 * COIN - 1001, OP_TRUE),))
    bad = chain.block([tampered, wsh], fee=1001)
    reason = chain.reject_reason(bad)
    assert reason.startswith("mandatory-script-verify-flag-failed (")
    chain.validate(good_chain_block)


# ---------------------------------------------------------------------------- undo
def test_connect_then_disconnect_restores_view(chain: Chain) -> None:
    op0, c0 = chain.funding[0]
    op1, c1 = chain.funding[1]
    a = spend([op0], [TxOut(c0.value - 100, OP_TRUE), TxOut(0, bytes((Op.OP_RETURN,)))])
    b = spend([OutPoint(a.txid, 0), op1], [TxOut(c0.value + c1.value - 300, P2WSH_TRUE)])
    block = chain.block([a, b], fee=300)
    touched = [op0, op1, OutPoint(a.txid, 0), OutPoint(a.txid, 1), OutPoint(b.txid, 0),
               OutPoint(block.transactions[0].txid, 0)]
    before = snapshot(chain.view, touched)
    undo = chain.validate(block)
    after = snapshot(chain.view, touched)
    assert after[op0] is None and after[OutPoint(b.txid, 0)] is not None
    assert after[OutPoint(a.txid, 1)] is None  # OP_RETURN never becomes a coin
    assert BlockUndo.deserialize(undo.serialize()) == undo
    assert [len(x) for x in undo.tx_undo] == [1, 1, 2]  # coinstake first
    disconnect_block(block, undo, chain.view)
    assert snapshot(chain.view, touched) == before


def test_failed_connect_leaves_view_untouched(chain: Chain) -> None:
    op, coin = chain.funding[0]
    good = spend([op], [TxOut(coin.value, OP_TRUE)])
    bad = spend([OutPoint(bytes(range(32)), 0)], [TxOut(1, OP_TRUE)])
    block = chain.block([good, bad])
    with pytest.raises(BlockValidationError):
        connect_block(block, chain.view, chain.next_height, chain.ctx, chain.params)
    assert chain.view.get_coin(op) == coin
    assert chain.view.get_coin(OutPoint(good.txid, 0)) is None
    assert chain.view.dirty_count() == 0


def test_disconnect_with_wrong_undo_raises(chain: Chain) -> None:
    op, coin = chain.funding[0]
    tx = spend([op], [TxOut(coin.value, OP_TRUE)])
    block = chain.block([tx])
    undo = chain.validate(block)
    with pytest.raises(DisconnectError):
        disconnect_block(block, BlockUndo(()), chain.view)
    wrong = BlockUndo(((replace(coin, height=coin.height + 1), coin),))
    with pytest.raises(DisconnectError):
        disconnect_block(block, wrong, chain.view)
    # Nothing changed by the failed attempts: the right undo still works.
    disconnect_block(block, undo, chain.view)
    assert chain.view.get_coin(op) == coin
    with pytest.raises(DisconnectError):  # outputs already gone now
        disconnect_block(block, undo, chain.view)


def test_genesis_connect_adds_premine() -> None:
    params = regtest_params(premine=[(OP_TRUE, 1000 * COIN), (P2WSH_TRUE, 5 * COIN)])
    genesis = params.genesis_block
    view = CoinsViewCache(DictCoinsView())
    undo = connect_block(genesis, view, 0, None, params)
    cb = genesis.transactions[0]
    coin = view.get_coin(OutPoint(cb.txid, 0))
    assert coin == Coin(TxOut(1000 * COIN, OP_TRUE), 0, True)
    assert view.get_coin(OutPoint(cb.txid, 1)).value == 5 * COIN
    assert undo == BlockUndo(())
    other = regtest_params(premine=[(OP_TRUE, 1)]).genesis_block
    with pytest.raises(BlockValidationError) as err:
        connect_block(other, CoinsViewCache(DictCoinsView()), 0, None, params)
    assert err.value.reason == "bad-genesis"


# ---------------------------------------------------------------------------- BIP65 / BIP112 in blocks
def test_checksequenceverify_enforced_in_blocks(chain: Chain) -> None:
    h = chain.next_height
    script = push_int(5) + bytes((Op.OP_CHECKSEQUENCEVERIFY,))
    op = chain.add_coin(Coin(TxOut(COIN, script), h - 10, False), b"csv")
    short = spend([op], [TxOut(COIN, OP_TRUE)], sequence=4)
    assert chain.reject_reason(chain.block([short])) == \
        "mandatory-script-verify-flag-failed (UNSATISFIED_LOCKTIME)"
    chain.validate(chain.block([spend([op], [TxOut(COIN, OP_TRUE)], sequence=5)]))


def test_checklocktimeverify_enforced_in_blocks(chain: Chain) -> None:
    script = push_int(50) + bytes((Op.OP_CHECKLOCKTIMEVERIFY,))
    op = chain.add_coin(Coin(TxOut(COIN, script), 1, False), b"cltv")
    early = spend([op], [TxOut(COIN, OP_TRUE)], locktime=49)
    assert chain.reject_reason(chain.block([early])) == \
        "mandatory-script-verify-flag-failed (UNSATISFIED_LOCKTIME)"
    chain.validate(chain.block([spend([op], [TxOut(COIN, OP_TRUE)], locktime=50)]))


# ---------------------------------------------------------------------------- random chains
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_chain_connect_then_disconnect_restores_utxo_set(data) -> None:
    """Connect a random chain of blocks spending random coins, then disconnect them all in
    reverse: the bottom view must equal the starting set exactly."""
    chain = Chain()
    start = dict(chain.base.coins)
    spendable = [(op, coin.value, coin.script_pubkey) for op, coin in chain.funding]
    applied = []
    for _ in range(data.draw(st.integers(1, 6), label="blocks")):
        txs = []
        fee_total = 0
        for _ in range(data.draw(st.integers(0, 4), label="txs")):
            if not spendable:
                break
            picks = data.draw(st.lists(st.integers(0, len(spendable) - 1), min_size=1,
                                       max_size=3, unique=True), label="inputs")
            chosen = [spendable[i] for i in picks]
            for i in sorted(picks, reverse=True):
                spendable.pop(i)
            total = sum(value for _, value, _ in chosen)
            n_out = data.draw(st.integers(1, 3), label="outputs")
            fee = data.draw(st.integers(0, 1000), label="fee")
            share = (total - fee) // n_out
            outputs = [TxOut(share, OP_TRUE if k % 2 == 0 else P2WSH_TRUE) for k in range(n_out)]
            fee_total += total - share * n_out
            inputs = tuple(TxIn(op, b"", 0xFFFFFFFE, (OP_TRUE,) if script == P2WSH_TRUE else ())
                           for op, _, script in chosen)
            tx = Transaction(2, inputs, tuple(outputs))
            txs.append(tx)
            spendable += [(OutPoint(tx.txid, k), out.value, out.script_pubkey)
                          for k, out in enumerate(outputs)]
        block = chain.block(txs, fee=fee_total)
        undo = chain.validate(block)
        applied.append((block, BlockUndo.deserialize(undo.serialize())))
        chain.ctx = chain.ctx.extend(block.header.time, block.hash, block.header.bits)
        if data.draw(st.booleans(), label="flush"):
            chain.base.apply(chain.view.dirty_entries())
            chain.view.reset_dirty()
    for block, undo in reversed(applied):
        disconnect_block(block, undo, chain.view)
    chain.base.apply(chain.view.dirty_entries())
    chain.view.clear()
    assert chain.base.coins == start
