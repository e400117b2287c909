"""The staker builds contract blocks from the mempool; the mempool's contract policy."""

from __future__ import annotations

import pytest

from wattchain.contracts import contract_id
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Spendable, generated_params, make_keys, replay_state_root,
                                     sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.node.coinstake import KeyStoreStakingKeys, StakePolicy
from wattchain.node.mempool import Mempool
from wattchain.node.policy import MempoolRejectError
from wattchain.node.staker import Staker

from chain_support import GAS, PRICE, account_of, call_out, create_out

RELAY_FEE = 5_000
OTHER = bytes([7]) * 20


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _setup(tmp_path):  # noqa: ANN202
    staker_key, user = make_keys(2, seed=77)
    params = generated_params([staker_key, user], outputs_per_key=3)
    clock = Clock(params.genesis_time + 1)
    cs = Chainstate.open(tmp_path, params, sync=False)
    pool = Mempool(cs, clock=clock)
    staker = Staker(cs, KeyStoreStakingKeys.from_secrets([staker_key.secret]), source=pool,
                    policy=StakePolicy(split_threshold=10**15, combine_threshold=0), clock=clock)
    genesis = params.genesis_block.transactions[0]
    coins = [Spendable(OutPoint(genesis.txid, i), out, 0, True, user)
             for i, out in enumerate(genesis.outputs) if out.script_pubkey == user.script_pubkey]
    return params, cs, pool, staker, clock, user, coins


def _tx(user, coin: Spendable, *outputs: TxOut, fee: int) -> Transaction:  # noqa: ANN001
    change = coin.output.value - sum(o.value for o in outputs) - fee
    unsigned = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                           (*outputs, TxOut(change, user.script_pubkey)), 0)
    return sign_transaction(unsigned, [coin])


def _stake_one(cs: Chainstate, staker: Staker, clock: Clock):  # noqa: ANN202
    for _ in range(10_000):
        clock.now += 1
        block = staker.try_stake(clock.now)
        if block is not None:
            result = cs.process_block(block, int(clock.now))
            assert result.accepted, (result.reason, result.detail)
            return block
    raise AssertionError("no block staked")


def test_staker_builds_a_valid_contract_block_from_the_mempool(tmp_path) -> None:
    params, cs, pool, staker, clock, user, coins = _setup(tmp_path)
    create = _tx(user, coins[0], create_out("TslToken", {}), fee=GAS * PRICE + RELAY_FEE)
    assert pool.accept(create, now=int(clock.now)).accepted
    block = _stake_one(cs, staker, clock)
    assert create in block.transactions
    [receipt] = cs.get_receipt(create.txid)
    assert receipt.ok
    coinstake = block.transactions[1]
    assert coinstake.outputs[-1] == TxOut(receipt.refund, user.script_pubkey)
    # The coinstake pays stake + subsidy + the whole fee; the refund is part of it.
    stake_value = 50 * 10**8
    assert sum(o.value for o in coinstake.outputs) == (stake_value + params.block_subsidy(1)
                                                       + GAS * PRICE + RELAY_FEE)
    assert block.header.state_root == cs.contract_state_root()
    tsl = contract_id(create.txid, 0)
    assert cs.call_contract(tsl, "balanceOf", [account_of(user)]).result > 0
    # A second block calls the new contract.
    transfer = _tx(user, coins[1], call_out(tsl, "transfer", OTHER, 5),
                   fee=GAS * PRICE + RELAY_FEE)
    assert pool.accept(transfer, now=int(clock.now)).accepted
    block2 = _stake_one(cs, staker, clock)
    assert transfer in block2.transactions and cs.get_receipt(transfer.txid)[0].ok
    assert cs.call_contract(tsl, "balanceOf", [OTHER]).result == 5
    chain = [params.genesis_block, cs.get_block(block.hash), cs.get_block(block2.hash)]
    assert replay_state_root(params, chain) == cs.contract_state_root()
    cs.close()


def test_mempool_contract_policy(tmp_path) -> None:
    params, cs, pool, staker, clock, user, coins = _setup(tmp_path)
    now = int(clock.now)
    # Fee covers the gas but not the relay fee on top.
    short = _tx(user, coins[0], create_out("TslToken", {}), fee=GAS * PRICE)
    with pytest.raises(MempoolRejectError) as err:
        pool.accept(short, now=now)
    assert err.value.reason == "min relay fee not met"
    # Malformed: gas limit below the consensus minimum.
    bad = _tx(user, coins[0], create_out("TslToken", {}, gas=100), fee=10**6)
    with pytest.raises(MempoolRejectError) as err:
        pool.accept(bad, now=now)
    assert err.value.reason.startswith("contract-")
    ok = _tx(user, coins[0], create_out("TslToken", {}), fee=GAS * PRICE + RELAY_FEE)
    assert pool.accept(ok, now=now).accepted
    cs.close()


def test_mempool_refuses_gas_price_below_policy(tmp_path) -> None:
    from dataclasses import replace

    from wattchain.node.policy import MempoolPolicy
    params, cs, _, _, clock, user, coins = _setup(tmp_path)
    pool = Mempool(cs, replace(MempoolPolicy(), min_gas_price=PRICE + 1), clock=clock)
    tx = _tx(user, coins[0], create_out("TslToken", {}), fee=GAS * PRICE + RELAY_FEE)
    with pytest.raises(MempoolRejectError) as err:
        pool.accept(tx, now=int(clock.now))
    assert err.value.reason == "contract-gas-price-too-low"
    cs.close()


def test_fill_keeps_the_block_gas_budget_and_drops_malformed(tmp_path) -> None:
    from wattchain.consensus.coins import Coin
    from wattchain.contracts import ContractParams
    from wattchain.node.stake_fill import fill_transactions
    params, cs, _, _, _, user, coins = _setup(tmp_path)
    txs = [_tx(user, coin, create_out("TslToken", {}), fee=GAS * PRICE + RELAY_FEE)
           for coin in coins[:2]]
    malformed = _tx(user, coins[2], TxOut(0, bytes((0xC1,))), fee=RELAY_FEE)
    by_outpoint = {c.outpoint: Coin(c.output, 0, True) for c in coins}
    budget = ContractParams(max_gas_per_block=GAS + GAS // 2)
    filled = fill_transactions([*txs, malformed], by_outpoint.get, frozenset(), 1,
                               params.max_block_weight, params.max_block_sigops_cost,
                               contract_params=budget)
    assert filled.transactions == (txs[0],) and filled.dropped == 2
    roomy = fill_transactions(txs, by_outpoint.get, frozenset(), 1, params.max_block_weight,
                              params.max_block_sigops_cost)
    assert roomy.transactions == tuple(txs)
    cs.close()
