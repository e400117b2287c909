"""Contracts connected through a real Chainstate: tokens, energy, rejected blocks, refunds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattchain.contracts import EMPTY_ROOT, contract_id
from wattchain.contracts.meters import meter_id
from wattchain.contracts.watt import reading_digest
from wattchain.core.header import EMPTY_STATE_ROOT
from wattchain.core.keys import sign_ecdsa
from wattchain.core.tx import TxOut
from wattchain.node.chaingen import replay_state_root

from chain_support import GAS, PRICE, ContractChain, account_of, create_out, operator_sigs

TSL_SUPPLY = 1_000_000_000


@pytest.fixture
def chain(tmp_path):
    c = ContractChain(tmp_path)
    yield c
    c.close()


def test_genesis_commits_to_the_empty_sparse_merkle_root(chain) -> None:
    assert EMPTY_STATE_ROOT == EMPTY_ROOT
    assert chain.params.genesis_block.header.state_root == EMPTY_ROOT
    assert chain.cs.contract_state_root() == EMPTY_ROOT


def test_tsl_create_and_transfer_through_blocks(chain) -> None:
    alice, bob = chain.keys[0], chain.keys[1]
    tsl = chain.create(alice, "TslToken", {})
    decimals = chain.view(tsl, "decimals")
    supply = TSL_SUPPLY * 10**decimals
    assert chain.view(tsl, "totalSupply") == supply
    assert chain.view(tsl, "balanceOf", account_of(alice)) == supply
    receipt = chain.call(alice, tsl, "transfer", account_of(bob), 1234)
    assert receipt.ok and [e.topic for e in receipt.events] == ["Transfer"]
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 1234
    assert chain.view(tsl, "balanceOf", account_of(alice)) == supply - 1234
    # Every header commits to the state; the node's root is the tip's and a replay's.
    tip = chain.cs.get_header(chain.cs.tip.hash)
    assert tip.state_root == chain.cs.contract_state_root() != EMPTY_ROOT
    assert replay_state_root(chain.params, chain.branch.blocks) == tip.state_root


def test_meter_registry_and_watt_mint_and_burn(chain) -> None:
    ops = chain.keys[:3]
    owner, meter = chain.keys[3], chain.keys[2]
    registry = chain.create(ops[0], "MeterRegistry",
                            {"operators": [k.pubkey for k in ops], "threshold": 2})
    watt = chain.create(ops[0], "WattToken", {"registry": registry})
    action = ["certify", meter.pubkey, account_of(owner), "meter"]
    sigs = operator_sigs(ops, [0, 2], registry, registry, 0, action)
    receipt = chain.call(ops[1], registry, "certify", meter.pubkey, account_of(owner), "meter",
                         0, sigs)
    assert receipt.ok, receipt.excepted
    mid = meter_id(meter.pubkey)
    start = chain.branch.tip.header.time

    def signed(kind: str, counter: int, energy: int, consumer: bytes = b"") -> bytes:
        return sign_ecdsa(meter.secret, reading_digest(watt, kind, mid, start + counter * 900,
                                                       900, energy, counter, consumer))

    receipt = chain.call(owner, watt, "mint_production", mid, start + 900, 900, 5000, 1,
                         signed("production", 1, 5000))
    assert receipt.ok, receipt.excepted
    assert chain.view(watt, "balanceOf", account_of(owner)) == 5000
    # Replaying the same reading is refused: the receipt fails, nothing changes.
    replay = chain.call(owner, watt, "mint_production", mid, start + 900, 900, 5000, 1,
                        signed("production", 1, 5000))
    assert not replay.ok and "replayed" in replay.excepted
    receipt = chain.call(owner, watt, "burn_consumption", mid, account_of(owner), start + 1800,
                         900, 2000, 2, signed("consumption", 2, 2000, account_of(owner)))
    assert receipt.ok, receipt.excepted
    assert chain.view(watt, "balanceOf", account_of(owner)) == 3000
    assert chain.view(watt, "totalSupply") == 3000


def test_wrong_state_root_is_rejected(chain) -> None:
    alice = chain.keys[0]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    bad = chain.branch.make_block([tx], state_root=bytes(32))
    result = chain.submit(bad)
    assert not result.accepted and result.reason == "bad-state-root"
    assert chain.cs.contract_state_root() == EMPTY_ROOT
    # The same block with the right root and refunds connects.
    good = chain.branch.make_block([tx], time_step=6)  # another slot: not the same stake
    result = chain.submit(good)
    assert result.accepted, (result.reason, result.detail)
    assert chain.cs.contract_state_root() == good.header.state_root != EMPTY_ROOT


def test_missing_or_wrong_refund_is_rejected(chain) -> None:
    alice = chain.keys[0]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    right = chain.branch.execute_contracts([tx], chain.branch.height + 1,
                                           chain.branch.tip.header.time)
    assert right.refunds and right.refunds[0].script_pubkey == alice.script_pubkey
    # state_root given explicitly: make_block adds no refunds.
    missing = chain.branch.make_block([tx], state_root=right.state_root)
    result = chain.submit(missing)
    assert not result.accepted and result.reason == "bad-gas-refund"
    stake, time = chain.branch.find_stake(missing.header.time + 4, missing.header.bits,
                                          [tx.inputs[0].prevout])
    wrong_refund = TxOut(right.refunds[0].value + 1, alice.script_pubkey)
    coinstake = chain.branch.coinstake(stake, chain.branch.height + 1, None, [wrong_refund])
    assert coinstake.outputs[-1] == wrong_refund
    from wattchain.consensus.assemble import build_block
    from wattchain.consensus.pos import sign_block
    wrong = build_block(chain.branch.tip.hash, chain.branch.height + 1,
                        time, missing.header.bits, [tx], chain.params,
                        coinstake=coinstake, state_root=right.state_root)
    result = chain.submit(sign_block(wrong, stake.key.secret))
    assert not result.accepted and result.reason == "bad-gas-refund"
    assert chain.cs.contract_state_root() == EMPTY_ROOT


def test_malformed_contract_output_is_rejected_before_storing(chain) -> None:
    alice = chain.keys[0]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    script = tx.outputs[0].script_pubkey
    # gas price 1 is below the consensus minimum: the parser's reason rejects the block
    bad_script = script.replace(bytes((1, PRICE)), bytes((0x51,)), 1)
    assert bad_script != script
    bad_tx = replace(tx, outputs=(TxOut(0, bad_script), *tx.outputs[1:]))
    block = chain.branch.make_block([bad_tx], state_root=EMPTY_ROOT)
    result = chain.submit(block)
    assert not result.accepted and result.reason.startswith("contract-")
    assert chain.cs.get_block(block.hash) is None


def test_out_of_gas_reverts_keeps_fee_and_refunds_value(chain) -> None:
    alice = chain.keys[0]
    # The create's intrinsic cost alone (30,000 + data) exceeds the 10,000 minimum gas limit.
    tx = chain.contract_tx(alice, create_out("TslToken", {}, gas=10_000, value=777))
    block = chain.mine(tx)
    [receipt] = chain.cs.get_receipt(tx.txid)
    assert receipt.status == "out_of_gas"
    assert receipt.gas_used == 10_000 and receipt.refund == 777  # no gas left, value back
    assert block.transactions[1].outputs[-1] == TxOut(777, alice.script_pubkey)
    assert chain.cs.contract_state_root() == EMPTY_ROOT  # nothing kept
    # The fee (all its gas) stayed with the staker: the refund is only the value.
    assert chain.cs.call_contract(contract_id(tx.txid, 0), "totalSupply").status != "ok"
    # The refund output is a real coin of the UTXO set; the contract output is not.
    from wattchain.core.tx import OutPoint
    cs_txid = block.transactions[1].txid
    refund_index = len(block.transactions[1].outputs) - 1
    assert chain.cs.get_coin(OutPoint(cs_txid, refund_index)).output.value == 777
    assert chain.cs.get_coin(OutPoint(tx.txid, 0)) is None


def test_partial_gas_is_refunded_from_the_fee(chain) -> None:
    alice = chain.keys[0]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    block = chain.mine(tx)
    [receipt] = chain.cs.get_receipt(tx.txid)
    assert receipt.ok and 0 < receipt.gas_used < GAS
    assert receipt.refund == (GAS - receipt.gas_used) * PRICE
    assert block.transactions[1].outputs[-1] == TxOut(receipt.refund, alice.script_pubkey)


def test_block_without_contract_state_is_refused_by_pure_consensus(chain) -> None:
    from wattchain.consensus.coins import CoinsViewCache
    from wattchain.consensus.connect import connect_block
    from wattchain.consensus.errors import BlockValidationError
    from wattchain.node.utxo_db import EmptyCoinsView
    alice = chain.keys[0]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    block = chain.branch.make_block([tx])
    view = CoinsViewCache(EmptyCoinsView())
    connect_block(chain.params.genesis_block, view, 0, None, chain.params)
    with pytest.raises(BlockValidationError) as err:
        connect_block(block, view, 1, chain.branch.context(), chain.params)
    assert err.value.reason == "contracts-unavailable"
