"""The compiled block scan (:mod:`wattchain.consensus._block_scan`), when built and allowed,
behind functions that give the Python reference's answers either way.

``check_block`` and the witness-commitment check use these; without the compiled module (not
built, or ``WATTCHAIN_PURE=1``) every transaction takes the Python checks and the merkle roots
come from :func:`wattchain.core.merkle.merkle_root`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from wattchain.core.compiled import optional_module
from wattchain.core.merkle import merkle_root as python_merkle_root
from wattchain.core.tx import Transaction

#: ``TransactionScan.status`` values.
UNCHECKED, PASSES, PASSES_COINBASE, PASSES_COINSTAKE_SHAPE = 0, 1, 2, 3


class TransactionScan(NamedTuple):
    """What the compiled pass found: per transaction, ``status`` (``PASSES``: passes
    ``check_transaction``; ``PASSES_COINBASE``: passes and is a coinbase;
    ``PASSES_COINSTAKE_SHAPE``: passes and ``tx_verify.is_coinstake`` holds; ``UNCHECKED``:
    the Python checks decide) and ``contract_free`` (1: no output may be a contract output),
    and the legacy sigop count of the passing ones."""

    status: bytes | bytearray
    contract_free: bytes | bytearray
    sigops: int


def compiled_block_scan(fast: bool | None = None) -> Any:
    """The compiled module unless ``fast`` is False (default: unless ``WATTCHAIN_PURE``) or it
    is not built."""
    return optional_module("wattchain.consensus._block_scan", fast)


def scan_transactions(txs: Sequence[Transaction], max_money: int, max_weight: int,
                      fast: bool | None = None) -> TransactionScan | None:
    """The compiled pass over ``txs`` (it also caches the passing ones' txid and wtxid), or
    None without the compiled module."""
    module = compiled_block_scan(fast)
    if module is None:
        return None
    return TransactionScan(*module.scan_transactions(list(txs), max_money, max_weight))


def merkle_root(hashes: Sequence[bytes], fast: bool | None = None) -> tuple[bytes, bool]:
    """:func:`wattchain.core.merkle.merkle_root`, hashed in C when every item is 32 bytes."""
    module = compiled_block_scan(fast)
    if module is not None:
        result = module.merkle_root(list(hashes))
        if result is not None:
            return result
    return python_merkle_root(hashes)


__all__ = ["UNCHECKED", "PASSES", "PASSES_COINBASE", "PASSES_COINSTAKE_SHAPE", "TransactionScan",
           "compiled_block_scan", "scan_transactions", "merkle_root"]
