"""The staker with the real mempool as its transaction source: parents before children, the
fees claimed by the coinstake, and the mempool emptied by the block it helped build."""

from __future__ import annotations

from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Spendable, generated_params, make_keys, sign_transaction
from wattchain.node.coinstake import StakePolicy
from wattchain.node.mempool import Mempool

from .stake_helpers import FakeClock, StakerNode


def test_staker_takes_mempool_transactions_and_their_fees(tmp_path) -> None:
    staker_key, payer = make_keys(2, seed=31)
    params = generated_params([staker_key, payer], outputs_per_key=3)
    clock = FakeClock(params.genesis_time + 1)
    node = StakerNode.open(tmp_path, params, [staker_key],
                           policy=StakePolicy(split_threshold=10**15, combine_threshold=0),
                           clock=clock)
    pool = Mempool(node.chainstate, clock=clock)
    node.staker.source = pool
    genesis = params.genesis_block.transactions[0]
    coin_index = next(i for i, out in enumerate(genesis.outputs)
                      if out.script_pubkey == payer.script_pubkey)
    spendable = Spendable(OutPoint(genesis.txid, coin_index), genesis.outputs[coin_index], 0,
                          True, payer)
    txs, fees = [], [2000, 3000, 5000]
    for fee in fees:  # a chain: each spends the previous one's output
        value = spendable.output.value - fee
        tx = sign_transaction(Transaction(2, (TxIn(spendable.outpoint, b"", 0xFFFFFFFE),),
                                          (TxOut(value, payer.script_pubkey),), 0), [spendable])
        result = pool.accept(tx, now=int(clock.now))
        assert result.accepted, result
        txs.append(tx)
        spendable = Spendable(OutPoint(tx.txid, 0), tx.outputs[0], 0, False, payer)
    [block] = node.stake_blocks(1)
    assert list(block.transactions[2:]) == txs
    coinstake = block.transactions[1]
    assert sum(o.value for o in coinstake.outputs) == (50 * 10**8 + params.block_subsidy(1)
                                                       + sum(fees))
    assert node.chainstate.tip.hash == block.hash
    assert pool.select_for_block(params.max_block_weight, params.max_block_sigops_cost) == []
    node.close()


def test_staker_skips_coins_a_pooled_transaction_spends(tmp_path) -> None:
    """The user's own payment must not be conflicted by their staker staking its input."""
    (staker_key,) = make_keys(1, seed=32)
    params = generated_params([staker_key], outputs_per_key=2)
    clock = FakeClock(params.genesis_time + 1)
    node = StakerNode.open(tmp_path, params, [staker_key], clock=clock)
    pool = Mempool(node.chainstate, clock=clock)
    genesis = params.genesis_block.transactions[0]
    coins = [Spendable(OutPoint(genesis.txid, i), out, 0, True, staker_key)
             for i, out in enumerate(genesis.outputs)]
    before = {outpoint for outpoint, _ in node.staker.stakeable_coins()}
    assert before == {c.outpoint for c in coins}
    payment = sign_transaction(Transaction(2, (TxIn(coins[0].outpoint, b"", 0xFFFFFFFD),),
                                           (TxOut(coins[0].output.value - 1000,
                                                  staker_key.script_pubkey),), 0), [coins[0]])
    assert pool.accept(payment, now=int(clock.now)).accepted
    node.staker.source = pool
    assert {outpoint for outpoint, _ in node.staker.stakeable_coins()} == {coins[1].outpoint}
    [block] = node.stake_blocks(1)
    assert block.header.prevout_stake == coins[1].outpoint
    assert payment in block.transactions  # the payment confirms in the staker's own block
    node.close()
