"""Executing contract outputs: per transaction and per block, with receipts and refunds.

Qtum's economics: a contract transaction's fee must cover ``gas_limit * gas_price`` of each of
its contract outputs (the caller checks this with :func:`required_gas_fee`). After execution
the sender is refunded ``(gas_limit - gas_used) * gas_price``, plus the output's value when the
output failed; the staker pays these refunds as outputs of the coinstake
(:attr:`BlockExecution.refunds`, in block order, one per output with a non-zero refund, to the
script of the coin spent by the transaction's input 0).

Output failures (revert, out of gas, bad call data) are *not* block failures: they are caught,
their state changes reverted, and recorded in the receipt. Block-invalid conditions
(malformed contract scripts, a non key-hash sender, too much gas asked in the block) raise
:class:`ContractFormatError` before anything executes, leaving the state untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wattchain.contracts import abi
from wattchain.contracts.accounts import contract_id as make_contract_id
from wattchain.contracts.accounts import sender_account
from wattchain.contracts.errors import (CONTRACT_BUG_ERRORS, BlockGasLimitError,
                                        ContractScriptError, ExecutionFailure,
                                        InternalContractError)
from wattchain.contracts.gas import GasMeter
from wattchain.contracts.params import ContractParams
from wattchain.contracts.receipts import STATUS_OK, Receipt
from wattchain.contracts.runtime import BlockContext, ContractRegistry, Runtime
from wattchain.contracts.script import ContractOutput, contract_outputs
from wattchain.contracts.state import BlockStateUndo, ContractState
from wattchain.core.block import Block
from wattchain.core.tx import Transaction, TxOut


@dataclass(frozen=True)
class BlockExecution:
    """Everything a connected block's contract outputs produced."""

    receipts: tuple[Receipt, ...]
    refunds: tuple[TxOut, ...]
    state_root: bytes
    undo: BlockStateUndo

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.receipts)

    @property
    def total_refund(self) -> int:
        return sum(out.value for out in self.refunds)


def required_gas_fee(outputs: Sequence[tuple[int, ContractOutput]]) -> int:
    """The least fee a transaction with these contract outputs must pay (Qtum's rule)."""
    return sum(output.gas_fee for _, output in outputs)


def intrinsic_gas(output: ContractOutput, params: ContractParams) -> int:
    gas = params.gas
    base = gas.tx_base + (gas.create_extra if output.kind == "create" else 0)
    return base + gas.data_byte * len(output.data)


def execute_output(tx: Transaction, index: int, output: ContractOutput, value: int,
                   sender: bytes, state: ContractState, block: BlockContext) -> Receipt:
    """Run one contract output; never raises :class:`ExecutionFailure`."""
    meter = GasMeter(output.gas_limit)
    runtime = Runtime(state, block, meter, sender)
    checkpoint = state.checkpoint()
    txid = tx.txid
    target = output.contract_id if output.contract_id is not None \
        else make_contract_id(txid, index)
    status, excepted = STATUS_OK, ""
    try:
        try:
            meter.charge(intrinsic_gas(output, block.params), "intrinsic")
            if output.kind == "create":
                runtime.create(target, abi.decode_create(output.data), sender, value)
            else:
                call = abi.decode_call(output.data)
                runtime.invoke(target, call.method, call.args, sender, value, 0)
        except CONTRACT_BUG_ERRORS as bug:
            raise InternalContractError(f"internal error: {type(bug).__name__}") from bug
    except ExecutionFailure as failure:
        state.revert_to(checkpoint)
        runtime.events.clear()
        status, excepted = failure.status, failure.reason
    refund = (output.gas_limit - meter.used) * output.gas_price
    if status != STATUS_OK:
        refund += value
    return Receipt(txid, index, target, sender, output.gas_limit, output.gas_price, meter.used,
                   status, excepted, refund, tuple(runtime.events))


def execute_transaction(tx: Transaction, sender_script: bytes,
                        outputs: Sequence[tuple[int, ContractOutput]], state: ContractState,
                        block: BlockContext) -> list[Receipt]:
    """Run a transaction's contract outputs in order (``outputs`` from :func:`contract_outputs`).

    Raises :class:`InvalidSenderError` if ``sender_script`` cannot own contract calls.
    """
    sender = sender_account(sender_script)
    return [execute_output(tx, index, output, tx.outputs[index].value, sender, state, block)
            for index, output in outputs]


def execute_block(block: Block | Sequence[Transaction],
                  sender_of: Callable[[Transaction], bytes], state: ContractState, height: int,
                  time: int, params: ContractParams,
                  registry: ContractRegistry) -> BlockExecution:
    """Execute every contract output of a block and commit the state.

    ``block`` is a :class:`Block` or its transaction list; the first transaction is the
    coinbase and may not hold contract outputs (the caller also refuses them in the coinstake). ``sender_of(tx)`` returns the script of the
    coin spent by ``tx``'s input 0 (from the caller's UTXO view). On return the state is
    committed (its store written, :attr:`ContractState.root` = the new root); if the block then
    fails another check, call ``state.undo_block(result.undo)``.
    """
    if state.dirty:
        raise RuntimeError("execute_block on a state with uncommitted writes")
    transactions = block.transactions if isinstance(block, Block) else block
    plan: list[tuple[Transaction, bytes, list[tuple[int, ContractOutput]]]] = []
    block_gas = 0
    for position, tx in enumerate(transactions):
        found = contract_outputs(tx, params)
        if not found:
            continue
        if position == 0:
            raise ContractScriptError("contract-output-in-coinbase")
        block_gas += sum(output.gas_limit for _, output in found)
        plan.append((tx, sender_of(tx), found))
    if block_gas > params.max_gas_per_block:
        raise BlockGasLimitError("contract-block-gas-limit", f"{block_gas}")
    for _, script, _ in plan:
        sender_account(script)  # every sender is checked before anything runs
    context = BlockContext(height, time, params, registry)
    receipts: list[Receipt] = []
    refunds: list[TxOut] = []
    try:
        for tx, script, found in plan:
            for receipt in execute_transaction(tx, script, found, state, context):
                receipts.append(receipt)
                if receipt.refund:
                    refunds.append(TxOut(receipt.refund, script))
    except BaseException:
        state.discard()
        raise
    undo = state.commit_block()
    return BlockExecution(tuple(receipts), tuple(refunds), undo.new_root, undo)


@dataclass(frozen=True)
class ViewResult:
    result: Any
    gas_used: int
    status: str
    excepted: str


def call_view(state: ContractState, contract: bytes, method: str, args: list[Any],
              sender: bytes, block: BlockContext, gas_limit: int) -> ViewResult:
    """Run a call without keeping any effect (``callcontract``): state is always reverted."""
    meter = GasMeter(gas_limit)
    runtime = Runtime(state, block, meter, sender)
    checkpoint = state.checkpoint()
    try:
        try:
            result = runtime.invoke(contract, method, list(args), sender, 0, 0)
        except CONTRACT_BUG_ERRORS as bug:
            raise InternalContractError(f"internal error: {type(bug).__name__}") from bug
        return ViewResult(result, meter.used, STATUS_OK, "")
    except ExecutionFailure as failure:
        return ViewResult(None, meter.used, failure.status, failure.reason)
    finally:
        state.revert_to(checkpoint)
