"""Coin selection and funding: BnB exact match, the fallbacks, insufficient funds, dust change
dropped into the fee, subtract-fee-from-outputs, exact fees by estimated size."""

from __future__ import annotations

import random

import pytest

from wattchain.core.hashes import sha256
from wattchain.core.tx import COIN, OutPoint, TxOut
from wattchain.node.policy import fee_for, is_dust
from wattchain.wallet.coinselect import (CHANGE_LOWER, Candidate, select_bnb, select_coins,
                                         select_srd)
from wattchain.wallet.errors import InsufficientFunds, InvalidAmount, WalletError
from wattchain.wallet.fees import input_weight, vsize_of_weight
from wattchain.wallet.spend import SpendableCoin, fund_transaction

P2WPKH = b"\x00\x14" + bytes(20)
DEST = b"\x00\x14" + b"\x11" * 20
CHANGE = b"\x00\x14" + b"\x22" * 20
P2WPKH_WEIGHT = input_weight(P2WPKH)


def _candidate(value: int, fee: int = 0, n: int = 0) -> Candidate:
    return Candidate(OutPoint(sha256(value.to_bytes(8, "little") + bytes([n])), 0), value, 272,
                     fee, fee)


def _coins(*values: int) -> list[SpendableCoin]:
    return [SpendableCoin(OutPoint(sha256(bytes([i])), i), TxOut(v, P2WPKH), P2WPKH_WEIGHT)
            for i, v in enumerate(values)]


def test_input_weight_estimates() -> None:
    assert P2WPKH_WEIGHT == 41 * 4 + 108  # 68 vbytes, Core's estimate for P2WPKH inputs
    assert vsize_of_weight(P2WPKH_WEIGHT) == 68
    assert input_weight(b"\x6a") is None  # unsolvable: not priced, not selected


def test_bnb_finds_the_exact_match() -> None:
    pool = [_candidate(v * 100_000) for v in (1, 2, 3, 4, 7)]
    found = select_bnb(pool, 10 * 100_000, cost_of_change=0)
    assert found is not None and sum(c.value for c in found) == 10 * 100_000
    # Inside the window [target, target + cost_of_change] counts as a match too...
    found = select_bnb(pool, 10 * 100_000 - 500, cost_of_change=1000)
    assert found is not None
    # ...outside it does not (no subset sums to 17.5 .. 17.6).
    assert select_bnb(pool, 1_750_000, cost_of_change=10_000) is None
    assert select_bnb(pool, 100 * COIN, 0) is None


def test_bnb_prefers_least_waste() -> None:
    # Fees above the long-term rate: fewer inputs waste less.
    pool = [Candidate(OutPoint(sha256(bytes([i])), 0), v, 272, 100, 50)
            for i, v in enumerate((5100, 3100, 2100))]
    found = select_bnb(pool, 5000, cost_of_change=100)
    assert [c.value for c in found] == [5100]


def test_srd_and_fallback_order() -> None:
    pool = [_candidate(v * COIN, n=i) for i, v in enumerate((1, 1, 1, 5))]
    found = select_srd(pool, 2 * COIN, random.Random(1))
    assert found is not None and sum(c.value for c in found) >= 2 * COIN
    assert select_srd(pool, 9 * COIN, random.Random(1)) is None
    selection = select_coins(pool, 3 * COIN + 1, 0, 1000, random.Random(2))
    assert selection.algorithm == "srd"
    # Everything together covers the target but not target + change + CHANGE_LOWER.
    total = 8 * COIN
    selection = select_coins(pool, total - CHANGE_LOWER // 2, 0, 1000, random.Random(2))
    assert selection.algorithm == "largest_first" and selection.total_value == total
    with pytest.raises(InsufficientFunds) as err:
        select_coins(pool, total + 1, 0, 1000, random.Random(2))
    assert err.value.rpc_code == -6


def test_fund_exact_fee_with_change() -> None:
    rate = 5_000
    funded = fund_transaction([TxOut(COIN, DEST)], _coins(3 * COIN), rate, CHANGE,
                              random.Random(4), locktime=77)
    tx = funded.tx
    assert funded.change_index >= 0 and tx.outputs[funded.change_index].script_pubkey == CHANGE
    assert tx.locktime == 77 and tx.inputs[0].sequence == 0xFFFFFFFD
    estimated_vsize = vsize_of_weight(40 + 2 + 4 * sum(len(o.serialize()) for o in tx.outputs)
                                      + P2WPKH_WEIGHT)
    assert funded.fee == fee_for(rate, estimated_vsize)
    assert 3 * COIN - tx.total_output_value() == funded.fee


def test_bnb_changeless_spend() -> None:
    rate = 1_000
    in_fee = fee_for(rate, 68)
    base = fee_for(rate, vsize_of_weight(42 + 4 * len(TxOut(COIN, DEST).serialize())))
    coins = _coins(COIN + in_fee + base, 7 * COIN)
    funded = fund_transaction([TxOut(COIN, DEST)], coins, rate, CHANGE, random.Random(4))
    assert funded.algorithm == "bnb" and funded.change_index == -1
    assert len(funded.tx.inputs) == 1 and funded.fee == in_fee + base


def test_dust_change_goes_to_fee() -> None:
    rate = 1_000
    amount = COIN
    # Leaves ~200 units over amount + fee with change: less than the change output's dust limit.
    fee_with_change = fee_for(rate, vsize_of_weight(
        42 + 4 * (len(TxOut(0, DEST).serialize()) + len(TxOut(0, CHANGE).serialize()))
        + P2WPKH_WEIGHT))
    value = amount + fee_with_change + 200
    assert is_dust(TxOut(200, CHANGE), 3000)
    funded = fund_transaction([TxOut(amount, DEST)], _coins(value), rate, CHANGE,
                              random.Random(4))
    assert funded.change_index == -1 and len(funded.tx.outputs) == 1
    assert funded.fee == value - amount  # the would-be change is paid as fee


def test_subtract_fee_from_outputs() -> None:
    funded = fund_transaction([TxOut(COIN, DEST), TxOut(COIN, CHANGE)], _coins(2 * COIN), 2_000,
                              CHANGE, random.Random(1), subtract_fee_from=[0, 1])
    assert funded.change_index == -1
    values = [o.value for o in funded.tx.outputs]
    assert sum(values) + funded.fee == 2 * COIN
    assert abs(values[0] - values[1]) <= 1  # the fee is split, remainder on the first
    with pytest.raises(WalletError, match="too small to pay the fee"):
        fund_transaction([TxOut(1000, DEST)], _coins(1000), 50_000, CHANGE, random.Random(1),
                         subtract_fee_from=[0])


def test_funding_errors() -> None:
    with pytest.raises(InsufficientFunds):
        fund_transaction([TxOut(COIN, DEST)], _coins(COIN), 1000, CHANGE, random.Random(1))
    with pytest.raises(InvalidAmount):
        fund_transaction([TxOut(0, DEST)], _coins(COIN), 1000, CHANGE, random.Random(1))
    with pytest.raises(WalletError, match="too small"):
        fund_transaction([TxOut(100, DEST)], _coins(COIN), 1000, CHANGE, random.Random(1))
    with pytest.raises(WalletError, match="at least one recipient"):
        fund_transaction([], _coins(COIN), 1000, CHANGE, random.Random(1))
