"""Filling a staked block with transactions from a source (normally the mempool).

The source chooses by fee rate within the budgets it is given (Core's addPackageTxs runs in the
mempool, :mod:`wattchain.node.mempool_select`); this module only re-checks what the staker must
not take on trust before it signs a block with its own key:

- every input is available: in the active UTXO set or created by an earlier transaction of the
  block, not spent by the coinstake (the staker may have merged a coin the mempool also spends)
  nor by an earlier transaction; a transaction failing this is dropped, and so are its
  in-block descendants (their inputs then are missing too);
- the fee is inputs minus outputs, never negative, and is what the coinstake may claim;
- the budgets: a source that overshoots has its surplus dropped from the end; that includes
  the block gas budget of contract outputs (``max_gas``), and a transaction whose contract
  outputs do not parse is dropped. Contract outputs never become spendable coins.

Script and policy checks are the mempool's job; the staker submits its block through
``Chainstate.process_block`` like any other, so a bad transaction costs a block, not validity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from wattchain.consensus.coins import Coin
from wattchain.contracts import ContractFormatError, ContractParams, contract_outputs
from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.script.flags import CONSENSUS_FLAGS
from wattchain.consensus.tx_verify import transaction_sigop_cost

__all__ = ["FilledTransactions", "NoTransactions", "TransactionSource", "fill_transactions"]


class TransactionSource(Protocol):
    """Where block transactions come from (``wattchain.node.mempool.Mempool`` fits)."""

    def select_for_block(self, max_weight: int, max_sigops_cost: int) -> list[Transaction]:
        """Transactions for a block, parents before children, within both budgets (which
        exclude the coinbase and coinstake)."""


class NoTransactions:
    """The default source: blocks hold only the coinbase and the coinstake."""

    def select_for_block(self, max_weight: int, max_sigops_cost: int) -> list[Transaction]:
        return []


@dataclass(frozen=True)
class FilledTransactions:
    """Transactions kept for a block, their total fee, weight and sigop cost."""

    transactions: tuple[Transaction, ...]
    fees: int
    weight: int
    sigops_cost: int
    #: Transactions of the source's selection that were left out (missing inputs, negative fee,
    #: over budget).
    dropped: int


def fill_transactions(selected: Iterable[Transaction],
                      get_coin: Callable[[OutPoint], Coin | None],
                      reserved: frozenset[OutPoint], height: int,
                      max_weight: int, max_sigops_cost: int, *,
                      contract_params: ContractParams | None = None) -> FilledTransactions:
    """Keep the transactions of ``selected`` that can go into a block at ``height`` (see the
    module docstring). ``reserved`` are the outpoints the coinstake spends.
    ``contract_params`` (default: ContractParams()) bounds the block's gas."""
    contract_params = contract_params or ContractParams()
    created: dict[OutPoint, TxOut] = {}
    spent: set[OutPoint] = set(reserved)
    kept: list[Transaction] = []
    fees = weight = sigops = dropped = gas = 0
    for tx in selected:
        coins: list[Coin] = []
        usable = not tx.is_coinbase()
        seen: set[OutPoint] = set()
        for txin in tx.inputs if usable else ():
            prevout = txin.prevout
            if prevout in spent or prevout in seen:
                usable = False
                break
            seen.add(prevout)
            out = created.get(prevout)
            if out is not None:
                coins.append(Coin(out, height, False))
                continue
            coin = get_coin(prevout)
            if coin is None:
                usable = False
                break
            coins.append(coin)
        fee = sum(coin.output.value for coin in coins) - tx.total_output_value() if usable else -1
        if not usable or fee < 0:
            dropped += 1
            continue
        try:
            contract = contract_outputs(tx, contract_params)
        except ContractFormatError:
            dropped += 1
            continue
        tx_gas = sum(output.gas_limit for _, output in contract)
        cost = transaction_sigop_cost(tx, coins, CONSENSUS_FLAGS)
        if (weight + tx.weight > max_weight or sigops + cost > max_sigops_cost
                or gas + tx_gas > contract_params.max_gas_per_block):
            dropped += 1
            continue
        kept.append(tx)
        spent |= seen
        txid = tx.txid
        contract_indices = {index for index, _ in contract}
        for index, out in enumerate(tx.outputs):
            if index not in contract_indices:
                created[OutPoint(txid, index)] = out
        gas += tx_gas
        fees += fee
        weight += tx.weight
        sigops += cost
    return FilledTransactions(tuple(kept), fees, weight, sigops, dropped)
