"""Funding a transaction: choose inputs, price it at a fee rate, add (or drop) change.

Pure function of its arguments (coins, outputs, fee rate, a random generator) so every branch
is testable without a chain. The fee is exact for the estimated size: ``fee_for(rate, vsize)``
with Core's dummy-signature sizes (:mod:`.fees`), so the signed transaction pays at least the
requested rate. Change below the dust threshold is not created; it goes to the fee.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.policy import fee_for, is_dust
from wattchain.wallet.coinselect import Candidate, select_coins
from wattchain.wallet.errors import InsufficientFunds, InvalidAmount, WalletError
from wattchain.wallet.fees import TX_OVERHEAD_WEIGHT, input_weight, output_weight, vsize_of_weight

#: BIP125 opt-in replaceability with nLockTime enabled (current Core's default).
RBF_SEQUENCE = 0xFFFFFFFD
FINAL_SEQUENCE_NO_RBF = 0xFFFFFFFE
#: Core's defaults: DEFAULT_DISCARD_FEE (10 sat/vB) and the long-term fee rate used for waste.
DISCARD_FEE_RATE = 10_000
LONG_TERM_FEE_RATE = 10_000
DUST_RELAY_FEE_RATE = 3_000


@dataclass(frozen=True)
class SpendableCoin:
    outpoint: OutPoint
    output: TxOut
    #: Signed input weight (fees.input_weight), known for every coin the wallet can solve.
    weight: int


@dataclass(frozen=True)
class FundedTransaction:
    """An unsigned transaction and what signing and reporting need."""

    tx: Transaction
    spent_outputs: tuple[TxOut, ...]
    fee: int
    change_index: int  # -1: no change output
    algorithm: str


def fund_transaction(outputs: Sequence[TxOut], coins: Sequence[SpendableCoin], fee_rate: int,
                     change_script: bytes, rng: random.Random, *,
                     subtract_fee_from: Sequence[int] = (), locktime: int = 0,
                     rbf: bool = True, dust_relay_fee_rate: int = DUST_RELAY_FEE_RATE
                     ) -> FundedTransaction:
    """Select coins paying ``outputs`` at ``fee_rate`` (base units per 1000 vB)."""
    if not outputs:
        raise WalletError("Transaction must have at least one recipient")
    for out in outputs:
        if out.value <= 0:
            raise InvalidAmount("Invalid amount for send")
        if is_dust(out, dust_relay_fee_rate) and not subtract_fee_from:
            raise WalletError("Transaction amount too small")
    sffo = sorted(set(subtract_fee_from))
    if any(not 0 <= i < len(outputs) for i in sffo):
        raise InvalidAmount("subtract_fee_from names an output that does not exist")
    if fee_rate < 0:
        raise InvalidAmount("negative fee rate")
    amount = sum(out.value for out in outputs)
    base_weight = TX_OVERHEAD_WEIGHT + sum(output_weight(out) for out in outputs)
    change_weight = output_weight(TxOut(0, change_script))
    change_input = input_weight(change_script) or 272
    change_fee = fee_for(fee_rate, vsize_of_weight(change_weight))
    cost_of_change = change_fee + fee_for(DISCARD_FEE_RATE, vsize_of_weight(change_input))

    def fee_of(weight: int) -> int:
        return fee_for(fee_rate, vsize_of_weight(weight)) if not sffo else 0

    pool = [Candidate(c.outpoint, c.output.value, c.weight, fee_of(c.weight),
                      fee_for(LONG_TERM_FEE_RATE, vsize_of_weight(c.weight)) if not sffo else 0)
            for c in coins]
    target = amount + (fee_for(fee_rate, vsize_of_weight(base_weight)) if not sffo else 0)
    selection = select_coins(pool, target, cost_of_change if not sffo else 0, change_fee, rng)
    by_outpoint = {c.outpoint: c for c in coins}
    chosen = [by_outpoint[c.outpoint] for c in selection.coins]
    rng.shuffle(chosen)
    total_in = sum(c.output.value for c in chosen)
    weight = base_weight + sum(c.weight for c in chosen)
    fee_no_change = fee_for(fee_rate, vsize_of_weight(weight))
    fee_with_change = fee_for(fee_rate, vsize_of_weight(weight + change_weight))

    final_outputs = list(outputs)
    change_value = 0
    if not sffo:
        if total_in < amount + fee_no_change:
            raise InsufficientFunds()
        change_value = total_in - amount - fee_with_change
        if selection.algorithm == "bnb" or change_value <= 0 or \
                is_dust(TxOut(change_value, change_script), dust_relay_fee_rate):
            change_value = 0
    else:
        leftover = total_in - amount
        if leftover > 0 and not is_dust(TxOut(leftover, change_script), dust_relay_fee_rate):
            change_value, to_pay = leftover, fee_with_change
        else:
            to_pay = max(0, fee_no_change - leftover)
        share, remainder = divmod(to_pay, len(sffo))
        for n, index in enumerate(sffo):
            value = final_outputs[index].value - share - (remainder if n == 0 else 0)
            out = TxOut(value, final_outputs[index].script_pubkey)
            if value <= 0 or is_dust(out, dust_relay_fee_rate):
                raise WalletError("The transaction amount is too small to pay the fee")
            final_outputs[index] = out
    change_index = -1
    if change_value:
        change_index = rng.randrange(len(final_outputs) + 1)
        final_outputs.insert(change_index, TxOut(change_value, change_script))
    sequence = RBF_SEQUENCE if rbf else FINAL_SEQUENCE_NO_RBF
    tx = Transaction(2, tuple(TxIn(c.outpoint, b"", sequence) for c in chosen),
                     tuple(final_outputs), locktime)
    fee = total_in - tx.total_output_value()
    return FundedTransaction(tx, tuple(c.output for c in chosen), fee, change_index,
                             selection.algorithm)
