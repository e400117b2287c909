"""Consensus rules of the contract layer, as hooks of ``connect_block`` / ``disconnect_block``.

Context-free (:func:`find_contract_transactions`, also run by ``check_block``): every output that
claims to be a contract output must parse (else the block is invalid with the parser's reason),
and the coinbase and coinstake carry none.

With the UTXO view (:func:`connect_contracts`, called once every other per-transaction rule
passed): the sender of a contract transaction is the coin its input 0 spends (a key-hash
script), its fee covers ``sum(gas_limit * gas_price)`` of its contract outputs, and the block's
contract outputs are executed in order against the state at the parent's root. The header's
``state_root`` must then equal the new root ("bad-state-root") and the coinstake must end with
exactly the refunds of the execution ("bad-gas-refund").

Refund arithmetic. A refund is unused gas (already part of the fee the coinstake claims) plus,
for a failed output, the value that output sent to the contract. That value is not a fee — it
left the UTXO set with the contract output — so the coinstake may pay it on top of subsidy +
fees: :func:`connect_contracts` returns it as the extra allowance of the ``bad-cs-amount`` /
``bad-cb-amount`` checks and runs those checks itself first, so that nothing can fail after the
state was committed (on any failure here the state is undone before raising).

Contract outputs never enter the UTXO set (like OP_RETURN): the connect hook removes them from
the block's private coins cache, the disconnect hook puts them back so that the generic undo
walk finds the view it expects.

Without a contract state (``contracts=None``: pure consensus tests, replays of coins only) a
block with contract outputs is rejected "contracts-unavailable" and ``state_root`` is not
checked: such a caller cannot know the parent's root.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattchain.consensus.coins import Coin, CoinNotFoundError, CoinsViewCache
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import ChainParams
from wattchain.contracts import (BlockExecution, BlockStateUndo, ContractFormatError,
                                 ContractOutput, ContractRegistry, ContractState,
                                 InvalidSenderError, contract_outputs, default_registry,
                                 execute_block, is_contract_script, required_gas_fee,
                                 sender_account)
from wattchain.contracts.state import StateRootMismatch, UndoFormatError
from wattchain.core.header import StakeBlock
from wattchain.core.tx import OutPoint, Transaction

#: Scripts larger than this never enter the UTXO set (connect.MAX_SCRIPT_SIZE, Core's).
_MAX_SCRIPT_SIZE = 10_000
_OP_RETURN = 0x6A
_HEIGHT = struct.Struct("<I")


@dataclass
class BlockContracts:
    """The contract state a block connects against, and what connecting it produced.

    Callers pass one to ``connect_block(..., contracts=...)``; afterwards ``execution``
    holds the receipts, refunds and the state undo (store :meth:`ContractUndo.serialize` of
    :attr:`undo_record` with the block's undo data). For ``disconnect_block`` set
    :attr:`undo_record` to the stored record first.
    """

    state: ContractState
    registry: ContractRegistry = field(default_factory=default_registry)
    execution: BlockExecution | None = None
    undo_record: "ContractUndo | None" = None


@dataclass(frozen=True)
class ContractUndo:
    """What disconnecting a block needs on the contract side: its height (to restore its
    contract outputs in the coins walk) and the state undo."""

    height: int
    state_undo: BlockStateUndo

    def serialize(self) -> bytes:
        return _HEIGHT.pack(self.height) + self.state_undo.serialize()

    @classmethod
    def deserialize(cls, data: bytes) -> "ContractUndo":
        if len(data) < _HEIGHT.size:
            raise UndoFormatError("truncated contract undo record")
        (height,) = _HEIGHT.unpack_from(data)
        return cls(height, BlockStateUndo.deserialize(data[_HEIGHT.size:]))


def _reject(exc: ContractFormatError, tx: Transaction | None = None) -> BlockValidationError:
    where = f"tx {tx.txid_hex}: " if tx is not None else ""
    return BlockValidationError(exc.reason, where + str(exc))


def _enters_utxo_set(script: bytes) -> bool:
    return not ((script and script[0] == _OP_RETURN) or len(script) > _MAX_SCRIPT_SIZE)


# ------------------------------------------------------------------------------ context-free
#: (position in the block, transaction, its parsed contract outputs), contract txs only.
ContractTxs = list[tuple[int, Transaction, list[tuple[int, ContractOutput]]]]


def find_contract_transactions(block: StakeBlock, params: ChainParams,
                               contract_free: bytes | bytearray | None = None) -> ContractTxs:
    """Context-free contract rules (every claimed contract output parses; none in the
    coinbase or coinstake); returns the block's contract transactions. One pass over the
    outputs, with a byte-search fast path for ordinary scripts.

    ``contract_free`` (from the compiled block loop, one byte per transaction): transactions
    marked 1 are skipped, the loop having found in each output neither byte 0xc1 nor 0xc2 (or
    a P2WPKH/P2WSH shape), the two tests by which ``is_contract_script`` says "not a contract
    script" before parsing; such a transaction has no contract output and no malformed one,
    so the result and the first error are the same."""
    found_txs: ContractTxs = []
    txs = block.transactions
    if contract_free is not None and len(contract_free) != len(txs):
        raise ValueError("contract_free needs one flag per transaction")
    for position, tx in enumerate(txs):
        if contract_free is not None and contract_free[position]:
            continue
        try:
            found = contract_outputs(tx, params.contracts)
        except ContractFormatError as exc:
            raise _reject(exc, tx) from exc
        if not found:
            continue
        if position == 0:
            raise BlockValidationError("bad-cb-contract", "contract output in the coinbase")
        if position == 1 and block.header.is_proof_of_stake():
            raise BlockValidationError("bad-cs-contract", "contract output in the coinstake")
        found_txs.append((position, tx, found))
    return found_txs


def check_contract_outputs(block: StakeBlock, params: ChainParams) -> bool:
    """:func:`find_contract_transactions` for ``check_block``: whether there are any."""
    return bool(find_contract_transactions(block, params))


# ------------------------------------------------------------------------------ connect
def _contract_plan(found_txs: ContractTxs,
                   tx_undo: Sequence[tuple[Coin, ...]]) -> dict[bytes, bytes]:
    """Sender script per contract transaction (txid -> script of input 0's coin), after the
    sender and gas-fee rules."""
    senders: dict[bytes, bytes] = {}
    for position, tx, found in found_txs:
        spent = tx_undo[position - 1]
        script = spent[0].output.script_pubkey
        try:
            sender_account(script)
        except InvalidSenderError as exc:
            raise _reject(exc, tx) from exc
        fee = sum(coin.output.value for coin in spent) - tx.total_output_value()
        need = required_gas_fee(found)
        if fee < need:
            raise BlockValidationError("bad-txns-contract-fee",
                                       f"tx {tx.txid_hex}: fee {fee} < gas {need}")
        senders[tx.txid] = script
    return senders


def _remove_contract_coins(found_txs: ContractTxs, cache: CoinsViewCache) -> None:
    for _, tx, found in found_txs:
        for index, _ in found:
            if not _enters_utxo_set(tx.outputs[index].script_pubkey):
                continue
            try:
                cache.spend_coin(OutPoint(tx.txid, index))
            except CoinNotFoundError:
                # Only possible when scripts are not checked: a later transaction of the
                # block "spent" the unspendable output.
                raise BlockValidationError("bad-txns-contract-spent",
                                           f"contract output {tx.txid_hex}:{index} spent"
                                           ) from None


def connect_contracts(block: StakeBlock, cache: CoinsViewCache, height: int,
                      params: ChainParams, tx_undo: Sequence[tuple[Coin, ...]], fees: int,
                      stake_reward: int, contracts: BlockContracts | None, *,
                      contract_free: bytes | bytearray | None = None) -> int:
    """The contract part of ``connect_block`` (see the module docstring). Returns the value
    refunds the coinstake may pay beyond subsidy + fees; raises BlockValidationError with the
    state unchanged. ``contract_free``: see :func:`find_contract_transactions`."""
    found_txs = find_contract_transactions(block, params, contract_free)
    if contracts is None:
        if found_txs:
            raise BlockValidationError("contracts-unavailable", "block has contract outputs "
                                                                "but no contract state is given")
        return 0
    contracts.execution = None
    if not found_txs:  # nothing runs: the state, and so the root, stay the parent's
        root = contracts.state.root
        if block.header.state_root != root:
            raise BlockValidationError("bad-state-root", f"header state root "
                                                         f"{block.header.state_root.hex()} != "
                                                         f"{root.hex()}")
        contracts.execution = BlockExecution((), (), root, BlockStateUndo(root, root, ()))
        return 0
    senders = _contract_plan(found_txs, tx_undo)
    _remove_contract_coins(found_txs, cache)
    state = contracts.state
    try:
        result = execute_block(block, lambda tx: senders[tx.txid], state, height,
                               block.header.time, params.contracts, contracts.registry)
    except ContractFormatError as exc:
        raise _reject(exc) from exc
    try:
        value_refund = _check_execution(block, height, params, result, fees, stake_reward)
    except BlockValidationError:
        state.undo_block(result.undo)
        raise
    contracts.execution = result
    return value_refund


def _check_execution(block: StakeBlock, height: int, params: ChainParams,
                     result: BlockExecution, fees: int, stake_reward: int) -> int:
    header = block.header
    if header.state_root != result.state_root:
        raise BlockValidationError("bad-state-root",
                                   f"header state root {header.state_root.hex()} != "
                                   f"{result.state_root.hex()}")
    refunds = result.refunds
    coinstake = block.transactions[1]
    tail = coinstake.outputs[len(coinstake.outputs) - len(refunds):] if refunds else ()
    if len(coinstake.outputs) < len(refunds) + 2 or tuple(tail) != refunds:
        raise BlockValidationError("bad-gas-refund",
                                   "coinstake does not end with the contract refunds")
    gas_refund = sum((r.gas_limit - r.gas_used) * r.gas_price for r in result.receipts)
    value_refund = result.total_refund - gas_refund
    allowed = params.block_subsidy(height) + fees + value_refund
    if stake_reward > allowed:
        raise BlockValidationError("bad-cs-amount",
                                   f"coinstake pays too much (actual={stake_reward} vs "
                                   f"limit={allowed})")
    paid = block.transactions[0].total_output_value() + stake_reward
    if paid > allowed:
        raise BlockValidationError("bad-cb-amount",
                                   f"coinbase pays too much (actual={paid} vs limit={allowed})")
    return value_refund


# ------------------------------------------------------------------------------ disconnect
def disconnect_contracts(block: StakeBlock, cache: CoinsViewCache,
                         contracts: BlockContracts | None) -> None:
    """The contract part of ``disconnect_block``, run before its coins walk: put the block's
    contract outputs back into ``cache`` (the walk removes every spendable-looking output)
    and restore the state before the block. Mismatching undo data raises
    ``DisconnectError`` ("bad-undo-data"). The block connected once, so every output that
    claims to be a contract output is one (no parameters needed to parse it again)."""
    from wattchain.consensus.connect import DisconnectError  # connect imports this module

    outputs = [(tx, index, out) for tx in block.transactions[2:]
               for index, out in enumerate(tx.outputs) if is_contract_script(out.script_pubkey)]
    has_contracts = bool(outputs)
    if contracts is None:
        if has_contracts:
            raise DisconnectError("contracts-unavailable",
                                  "block has contract outputs but no contract state is given")
        return
    record = contracts.undo_record
    if record is None:
        raise DisconnectError("bad-undo-data", "contract undo record missing")
    if record.state_undo.new_root != block.header.state_root:
        raise DisconnectError("bad-undo-data", "contract undo is not this block's")
    for tx, index, out in outputs:
        if _enters_utxo_set(out.script_pubkey):
            cache.add_coin(OutPoint(tx.txid, index), Coin(out, record.height, False, False))
    try:
        contracts.state.undo_block(record.state_undo)
    except StateRootMismatch as exc:
        raise DisconnectError("bad-undo-data", str(exc)) from exc


__all__ = ["BlockContracts", "ContractUndo", "check_contract_outputs", "connect_contracts",
           "disconnect_contracts", "find_contract_transactions"]
