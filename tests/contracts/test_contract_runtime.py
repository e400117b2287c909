"""The executor: gas, refunds, reverts, receipts, block rules, views and determinism."""

from __future__ import annotations

import dataclasses

import pytest

from contract_harness import GAS, PRICE, Harness, make_user
from wattchain.contracts.accounts import contract_id, sender_account
from wattchain.contracts.errors import (BlockGasLimitError, ContractScriptError,
                                        InvalidSenderError)
from wattchain.contracts.executor import required_gas_fee
from wattchain.contracts.params import ContractParams
from wattchain.contracts.receipts import Receipt, ReceiptFormatError, matching_events
from wattchain.contracts.script import contract_outputs
from wattchain.contracts.smt import EMPTY_ROOT
from wattchain.core.tx import TxOut
from wattchain.script.standard import multisig, p2pk, p2wpkh

ALICE, BOB = make_user("alice"), make_user("bob")


@pytest.fixture
def chain():
    h = Harness()
    h.tsl = h.create(ALICE, "TslToken", {})
    return h


def test_successful_call_charges_gas_and_refunds_the_rest(chain):
    receipt = chain.ok(ALICE, chain.tsl, "transfer", BOB.account, 7)
    assert 10_000 < receipt.gas_used < GAS
    assert receipt.refund == (GAS - receipt.gas_used) * PRICE
    assert [e.topic for e in receipt.events] == ["Transfer"]
    assert receipt.events[0].fields() == {"from": ALICE.account, "to": BOB.account, "value": 7}
    assert receipt.sender == ALICE.account and receipt.contract_id == chain.tsl


def test_out_of_gas_reverts_state_returns_value_and_keeps_the_fee(chain):
    sink = chain.create(ALICE, "Sink", {})
    chain.ok(ALICE, sink, "work", 1, value=10)
    root = chain.state.root
    receipt = chain.call(ALICE, sink, "work", 40, gas=200_000, value=500)
    assert receipt.status == "out_of_gas"
    assert receipt.gas_used == 200_000           # the whole limit is charged ...
    assert receipt.refund == 500                 # ... and only the value comes back
    assert receipt.events == ()
    assert chain.state.root == root
    assert chain.state.get(b"n" + sink) == (10).to_bytes(8, "big")
    # the same call with enough gas succeeds and keeps the value in the contract
    assert chain.ok(ALICE, sink, "work", 40, gas=2_000_000, value=500).refund % PRICE == 0
    assert chain.state.get(b"n" + sink) == (510).to_bytes(8, "big")


def test_failed_call_drops_writes_and_events(chain):
    sink = chain.create(ALICE, "Sink", {})
    root = chain.state.root
    receipt = chain.call(ALICE, sink, "fail_after_write")
    assert (receipt.status, receipt.excepted, receipt.events) == ("revert", "deliberate", ())
    assert chain.state.root == root


def test_a_contract_bug_is_a_deterministic_revert(chain):
    sink = chain.create(ALICE, "Sink", {})
    root = chain.state.root
    receipt = chain.call(ALICE, sink, "buggy")
    assert (receipt.status, receipt.excepted) == ("revert", "internal error: KeyError")
    assert chain.state.root == root


def test_call_depth_is_limited(chain):
    sink = chain.create(ALICE, "Sink", {})
    receipt = chain.call(ALICE, sink, "recurse", 0)
    assert (receipt.status, receipt.excepted) == ("revert", "call depth exceeded")
    assert chain.ok(ALICE, sink, "recurse", 90).status == "ok"


def test_revert_keeps_gas_used_and_refunds_value_and_unused_gas(chain):
    root = chain.state.root
    receipt = chain.call(BOB, chain.tsl, "transfer", ALICE.account, 1, value=1_000)
    assert (receipt.status, receipt.excepted) == ("revert", "TslToken.transfer is not payable")
    assert receipt.refund == (GAS - receipt.gas_used) * PRICE + 1_000
    receipt = chain.call(BOB, chain.tsl, "transfer", ALICE.account, 1)
    assert (receipt.status, receipt.excepted) == ("revert", "insufficient balance")
    assert chain.state.root == root


@pytest.mark.parametrize("method, args, status, reason", [
    ("nosuch", [], "revert", "TslToken has no method nosuch"),
    ("transfer", [b"x" * 20], "bad_call_data", "missing a required argument"),
    ("transfer", [b"x" * 19, 1], "revert", "to must be a 20-byte account"),
    ("transfer", [b"x" * 20, -1], "revert", "amount must be a non-negative integer"),
    ("transfer", [bytes(20), 1], "revert", "transfer to the burn address"),
])
def test_bad_calls_fail_with_reason(chain, method, args, status, reason):
    receipt = chain.call(ALICE, chain.tsl, method, *args)
    assert receipt.status == status and reason in receipt.excepted


def test_garbage_call_data_and_unknown_targets(chain):
    from wattchain.contracts.script import call_script, create_script
    tx = chain.tx(ALICE, TxOut(0, call_script(0, GAS, PRICE, b"\xc1", chain.tsl)),
                  TxOut(0, call_script(0, GAS, PRICE, b"\x82\xa6method\xa1f\xa4args\x90",
                                       bytes(20))),
                  TxOut(0, create_script(0, GAS, PRICE, b"\x83\xa5class\xa4Nope\xa7version\x01"
                                                        b"\xa4args\x80")))
    receipts = chain.block(tx).receipts
    assert [r.status for r in receipts] == ["bad_call_data", "revert", "revert"]
    assert "no contract at" in receipts[1].excepted
    assert "unknown contract class Nope v1" == receipts[2].excepted
    assert receipts[2].contract_id == contract_id(tx.txid, 2)


def test_receipt_serialization_round_trip_and_event_search(chain):
    receipt = chain.ok(ALICE, chain.tsl, "approve", BOB.account, 3)
    assert Receipt.deserialize(receipt.serialize()) == receipt
    with pytest.raises(ReceiptFormatError):
        Receipt.deserialize(receipt.serialize()[:-3])
    transfer = chain.ok(ALICE, chain.tsl, "transfer", BOB.account, 3)
    found = matching_events([receipt, transfer], topics={"Transfer"})
    assert [(r, e.topic) for r, e in found] == [(transfer, "Transfer")]
    assert len(matching_events([receipt, transfer], contract_ids={chain.tsl})) == 2
    assert matching_events([receipt, transfer], contract_ids={bytes(20)}) == []


def test_refund_outputs_go_to_the_sender_script_in_block_order(chain):
    tx1 = chain.tx(ALICE, chain.call_output(chain.tsl, "transfer", BOB.account, 5))
    tx2 = chain.tx(BOB, chain.call_output(chain.tsl, "transfer", ALICE.account, 1),
                   chain.call_output(chain.tsl, "transfer", ALICE.account, 1))
    result = chain.block(tx1, tx2)
    assert [r.status for r in result.receipts] == ["ok", "ok", "ok"]
    assert [out.script_pubkey for out in result.refunds] == [ALICE.script, BOB.script,
                                                             BOB.script]
    assert [out.value for out in result.refunds] == [r.refund for r in result.receipts]
    assert result.total_refund + result.gas_used * PRICE == 3 * GAS * PRICE
    assert required_gas_fee(contract_outputs(tx2)) == 2 * GAS * PRICE


def test_block_gas_limit_is_checked_before_execution():
    h = Harness(ContractParams(max_gas_per_block=3 * GAS))
    tsl = h.create(ALICE, "TslToken", {})
    root = h.state.root
    txs = [h.tx(ALICE, h.call_output(tsl, "transfer", BOB.account, 1)) for _ in range(4)]
    with pytest.raises(BlockGasLimitError):
        h.block(*txs)
    assert h.state.root == root and not h.state.dirty
    assert len(h.block(*txs[:3]).receipts) == 3


def test_sender_rules():
    assert sender_account(p2wpkh(ALICE.account)) == ALICE.account
    assert sender_account(p2pk(ALICE.pubkey)) == ALICE.account
    with pytest.raises(InvalidSenderError):
        sender_account(multisig(1, [ALICE.pubkey]))
    h = Harness()
    tx = h.tx(ALICE, h.create_output("TslToken", {}))
    h._senders[tx.txid] = b"\x51"
    with pytest.raises(InvalidSenderError):
        h.block(tx)
    assert h.state.root == EMPTY_ROOT and not h.state.dirty


def test_contract_output_in_coinbase_is_invalid():
    h = Harness()
    from wattchain.contracts.executor import execute_block
    coinbase = h.tx(ALICE, h.create_output("TslToken", {}))
    with pytest.raises(ContractScriptError):
        execute_block([coinbase], lambda tx: ALICE.script, h.state, 1, 0, h.params, h.registry)


def test_execute_block_accepts_a_block_object(chain):
    from wattchain.contracts.executor import execute_block
    from wattchain.core.block import Block, BlockHeader
    tx = chain.tx(ALICE, chain.call_output(chain.tsl, "transfer", BOB.account, 2))
    coinbase = chain.tx(ALICE, TxOut(0, b"\x51"))
    block = Block(BlockHeader(1, bytes(32), bytes(32), 0, 0, 0), (coinbase, tx))
    result = execute_block(block, lambda t: ALICE.script, chain.state, 5, 0, chain.params,
                           chain.registry)
    assert [r.ok for r in result.receipts] == [True]
    assert chain.view(chain.tsl, "balanceOf", BOB.account) == 2


def test_views_never_change_state(chain):
    root = chain.state.root
    assert chain.view(chain.tsl, "transfer", BOB.account, 5, sender=ALICE.account) is True
    assert chain.view(chain.tsl, "balanceOf", BOB.account) == 0
    assert chain.state.root == root and not chain.state.dirty


def test_same_operations_give_the_same_root_and_reorg_restores_it():
    def run() -> Harness:
        h = Harness()
        h.tsl = h.create(ALICE, "TslToken", {})
        h.ok(ALICE, h.tsl, "transfer", BOB.account, 10)
        h.ok(BOB, h.tsl, "approve", ALICE.account, 4)
        return h
    one, two = run(), run()
    assert one.state.root == two.state.root != EMPTY_ROOT
    roots = [one.state.root]
    one.ok(ALICE, one.tsl, "transferFrom", BOB.account, ALICE.account, 4)
    roots.append(one.state.root)
    one.ok(ALICE, one.tsl, "transfer", BOB.account, 1)
    assert one.view(one.tsl, "balanceOf", BOB.account) == 7
    balances = []
    for expected_root in reversed(roots):
        one.disconnect()
        balances.append(one.view(one.tsl, "balanceOf", BOB.account))
        assert one.state.root == expected_root
    assert balances == [6, 10]
    assert one.state.root == two.state.root
    assert one.store.data == two.store.data


def test_create_may_not_carry_value():
    h = Harness()
    tx = h.tx(ALICE, h.create_output("TslToken", {}, value=99))
    (receipt,) = h.block(tx).receipts
    assert receipt.status == "revert"
    assert receipt.refund == (GAS - receipt.gas_used) * PRICE + 99
    assert h.state.root == EMPTY_ROOT


def test_gas_schedule_is_a_parameter():
    cheap = dataclasses.replace(ContractParams().gas, storage_write_new=1)
    h = Harness(ContractParams(gas=cheap))
    g = Harness()
    for x in (h, g):
        x.tsl = x.create(ALICE, "TslToken", {})
    assert h.ok(ALICE, h.tsl, "transfer", BOB.account, 1).gas_used < \
        g.ok(ALICE, g.tsl, "transfer", BOB.account, 1).gas_used
