"""Chain parameters of the contract layer (gas bounds and gas schedule).

Kept as its own frozen dataclass so that :class:`wattchain.consensus.params.ChainParams` can
carry one as a field (``contracts: ContractParams = ContractParams()``) without this package
importing consensus. Numbers follow Qtum's shape: Qtum's minimum gas limit per output is 10,000,
its default minimum gas price 40 base units, and its block gas limit 40,000,000.

Every fee quantity is an ``int`` in base units; ``max_gas_per_tx * max_gas_price`` is far
below ``max_money`` so no gas fee can overflow a 64-bit amount.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GasSchedule:
    """What each runtime operation costs, in gas. Changing any number is a hard fork."""

    tx_base: int = 10_000           # every contract output (call entry, receipt, refund output)
    create_extra: int = 20_000      # on top of tx_base for OP_CREATE
    data_byte: int = 16             # per byte of payload / call data
    call: int = 700                 # a cross-contract call
    storage_read: int = 200
    storage_write_new: int = 20_000  # a key that did not exist
    storage_write: int = 5_000       # overwrite or delete an existing key
    storage_byte: int = 8            # per byte of key + value written
    event: int = 375
    event_byte: int = 8
    sig_verify: int = 3_000          # one ECDSA verification
    hash_base: int = 30
    hash_word: int = 6               # per 32-byte word hashed
    step: int = 10                   # one iteration of a data-dependent loop


@dataclass(frozen=True)
class ContractParams:
    """Gas bounds checked when a contract output is parsed, and the gas schedule."""

    contract_version: int = 0
    min_gas_limit: int = 10_000
    max_gas_per_tx: int = 10_000_000
    max_gas_per_block: int = 40_000_000
    min_gas_price: int = 40
    max_gas_price: int = 100_000_000
    #: Largest creation payload / call data (bytes); larger outputs are invalid.
    max_data_size: int = 16_384
    #: Deepest chain of cross-contract calls.
    max_call_depth: int = 16
    gas: GasSchedule = GasSchedule()
