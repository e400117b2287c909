"""Qtum-style contracts on the UTXO chain: built-in energy contracts, gas, state and receipts.

Pure, deterministic, synchronous, float-free; chain parameters come in as a
:class:`ContractParams` (proposed as a field of ``ChainParams``: ``contracts``).

Integration API (what consensus / the node calls)
=================================================

Transaction checks (context-free, consensus)
    ``contract_outputs(tx, params) -> [(index, ContractOutput)]`` parses every output whose
    script uses OP_CREATE (0xc1) / OP_CALL (0xc2); a malformed one raises
    :class:`ContractScriptError` (``.reason`` is a short Core-style string, e.g.
    ``contract-gas-price-out-of-range``): the transaction is invalid. Suggested extra rules
    for the caller: no contract outputs in the coinbase or coinstake; the transaction fee must
    be >= ``required_gas_fee(outputs)`` (= sum of gas_limit * gas_price, Qtum's rule); the
    coin spent by input 0 must satisfy ``sender_account(script)`` (P2PKH, P2WPKH or P2PK, else
    :class:`InvalidSenderError`). Contract outputs are provably unspendable (0xc1/0xc2 are
    invalid opcodes): keep them out of the UTXO set like OP_RETURN outputs.

Connecting a block
    ``state = ContractState(store, nodes, root)`` over two small key/value interfaces
    (:class:`StateStore`: get/put/delete of state keys; :class:`smt.NodeStore`: get/put of SMT
    nodes, content-addressed, never deleted), opened at the parent block's ``state_root``.
    ``result = execute_block(block, sender_of, state, height, time, params, registry)``
    (``block`` may also be its transaction list) with ``sender_of(tx) -> script_pubkey`` of the coin spent by ``tx.inputs[0]``
    (from the UTXO view *before* the block spends it) and ``registry = default_registry()``.
    It raises :class:`ContractFormatError` subclasses for an invalid block
    (:class:`BlockGasLimitError`: sum of gas limits > ``max_gas_per_block``; bad scripts;
    bad senders) *before* touching state. Otherwise it commits and returns
    :class:`BlockExecution`:

    * ``state_root`` — must equal the header's ``state_root`` (else reject the block and call
      ``state.undo_block(result.undo)``);
    * ``refunds`` — ``TxOut``s the coinstake must pay, in this order, after its stake outputs
      (Qtum's layout): unused gas ``(gas_limit - gas_used) * gas_price`` plus, for failed
      outputs, the output's value, to the sender's script; ``total_refund`` for the fee sum;
    * ``receipts`` — one :class:`Receipt` per contract output (``serialize()`` /
      ``Receipt.deserialize``) with events (:class:`Event`: contract id, topic, msgpack map);
      ``matching_events(receipts, contract_ids, topics)`` is the filter behind ``searchlogs``;
    * ``undo`` — :class:`BlockStateUndo` (``serialize()``/``deserialize``); store it with the
      block's undo data.

    Time and height are the block's; nothing reads a clock.

Disconnecting a block
    ``state.undo_block(BlockStateUndo.deserialize(raw))`` restores every changed key and
    the previous root exactly (it checks the state is at that block's root first).

Read-only calls (``callcontract``)
    ``call_view(state, contract_id, method, args, sender, BlockContext(height, time, params,
    registry), gas_limit) -> ViewResult`` runs any method and always reverts.

Building transactions (wallet / RPC)
    ``create_script(0, gas_limit, gas_price, abi.encode_create(name, version, args))``,
    ``call_script(0, gas_limit, gas_price, abi.encode_call(method, args), contract_id)``;
    a new contract's id is ``contract_id(txid, output_index)`` (Qtum's hash160 rule).
    Built-ins (name, version 1): ``MeterRegistry``, ``WattToken``, ``TslToken``,
    ``BatteryStorage``; see each module for methods, arguments and events. Accounts are 20
    bytes (the key hash of an address). Meter readings are signed over
    ``watt.reading_digest``; operator operations over ``meters.operation_digest``.

Modules: script (outputs), abi (payloads), accounts, smt, state, gas, params, receipts,
runtime (frames, registry), executor (blocks, views), base/token (contract base classes),
meters, watt, tsl, battery, registry (the default set).
"""

from wattchain.contracts.accounts import BURN_ADDRESS, contract_id, sender_account
from wattchain.contracts.errors import (AbiError, BlockGasLimitError, ContractError,
                                        ContractFormatError, ContractScriptError,
                                        ExecutionFailure, InvalidSenderError, OutOfGas)
from wattchain.contracts.executor import (BlockExecution, ViewResult, call_view,
                                          execute_block, execute_transaction,
                                          required_gas_fee)
from wattchain.contracts.params import ContractParams, GasSchedule
from wattchain.contracts.receipts import Event, Receipt, matching_events
from wattchain.contracts.registry import default_registry
from wattchain.contracts.runtime import BlockContext, ContractRegistry
from wattchain.contracts.script import (OP_CALL, OP_CREATE, ContractOutput, call_script,
                                        contract_outputs, create_script, is_contract_script,
                                        parse_contract_output)
from wattchain.contracts.smt import EMPTY_ROOT, NodeStore
from wattchain.contracts.state import BlockStateUndo, ContractState, MemoryStore, StateStore

__all__ = [
    "AbiError", "BURN_ADDRESS", "BlockContext", "BlockExecution", "BlockGasLimitError",
    "BlockStateUndo", "ContractError", "ContractFormatError", "ContractOutput",
    "ContractParams", "ContractRegistry", "ContractScriptError", "ContractState", "EMPTY_ROOT",
    "Event", "ExecutionFailure", "GasSchedule", "InvalidSenderError", "MemoryStore",
    "NodeStore", "OP_CALL", "OP_CREATE", "OutOfGas", "Receipt", "StateStore", "ViewResult",
    "call_script", "call_view", "contract_id", "contract_outputs", "create_script",
    "default_registry", "execute_block", "execute_transaction", "is_contract_script",
    "matching_events",
    "parse_contract_output", "required_gas_fee", "sender_account",
]
