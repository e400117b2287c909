"""Typed errors of the contract layer, split by who must react to them.

* :class:`ContractFormatError` and subclasses: a transaction or block is *invalid* (a malformed
  contract output, a sender that cannot own contracts, a block over its gas limit). Consensus
  rejects the transaction/block; nothing is executed and no state changes.
* :class:`ExecutionFailure` and subclasses: a *valid* contract output whose execution failed
  (revert, out of gas, bad call data, unknown contract). The runtime catches these, reverts the
  output's state changes, charges the gas used and refunds the output's value; they never
  escape :func:`wattchain.contracts.runtime.execute_block`.
"""

from __future__ import annotations


class ContractFormatError(ValueError):
    """Consensus-invalid contract data; ``reason`` is a Core-style short string."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ContractScriptError(ContractFormatError):
    """An OP_CREATE / OP_CALL output script that does not parse or is out of range."""


class InvalidSenderError(ContractFormatError):
    """The coin spent by input 0 of a contract transaction is not a key-hash output."""


class BlockGasLimitError(ContractFormatError):
    """The contract outputs of a block ask for more gas than the block may use."""


class ExecutionFailure(Exception):
    """A contract output failed; its state changes are reverted. ``status`` goes in the receipt."""

    status = "revert"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContractError(ExecutionFailure):
    """A contract refused the operation (Solidity's ``revert``/``require``)."""


class OutOfGas(ExecutionFailure):
    """The gas meter ran past the output's gas limit."""

    status = "out_of_gas"


class AbiError(ExecutionFailure):
    """A creation payload or call data that does not decode to a well-formed request."""

    status = "bad_call_data"


class InternalContractError(ExecutionFailure):
    """A built-in contract raised a plain Python error (a contract bug).

    Such errors are deterministic for a given contract version, so every node turns them into
    the same failed receipt instead of rejecting the block; the reason names the exception
    type so the bug is visible in receipts.
    """

    status = "revert"


#: Python exceptions from contract code that the executor converts to
#: :class:`InternalContractError` (never MemoryError/RecursionError: those depend on the node).
CONTRACT_BUG_ERRORS = (TypeError, ValueError, KeyError, IndexError, ArithmeticError,
                       AttributeError)
