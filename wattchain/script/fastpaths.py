"""BIP143 signature hashing for the block pipeline: compiled when built, else pure Python.

Why: see :mod:`wattchain.script._fastpaths`. The compiled module is optional, built by the same
mechanism as the signature core (``setup.py``); without it, or with ``WATTCHAIN_PURE=1``, every
function here uses :mod:`wattchain.script.sighash`, which defines the results. Only the block
pipeline's template jobs call this; the interpreter keeps using ``sighash`` directly.
"""

from __future__ import annotations

from types import ModuleType

from wattchain.core.tx import Transaction
from wattchain.core.compiled import optional_module
from wattchain.script.sighash import (SIGHASH_ALL, PrecomputedTransactionData,
                                      segwit_v0_signature_hash)

_MIDSTATES = ("hash_prevouts", "hash_sequence", "hash_outputs")


_MODULE = "wattchain.script._fastpaths"


def compiled_module(pure: bool | None = None) -> ModuleType | None:
    """The compiled module unless ``pure`` (default: ``WATTCHAIN_PURE``) or not built."""
    return optional_module(_MODULE, None if pure is None else not pure)


def compiled_available() -> bool:
    """Whether the compiled fast paths are built (whatever ``WATTCHAIN_PURE`` says)."""
    return optional_module(_MODULE, fast=True) is not None


def segwit_v0_digest(script_code: bytes, tx: Transaction, index: int, hash_type: int,
                     amount: int, precomputed: PrecomputedTransactionData | None,
                     pure: bool | None = None) -> bytes:
    """Exactly ``sighash.segwit_v0_signature_hash(script_code, tx, index, hash_type, amount,
    precomputed)``; SIGHASH_ALL (every standard wallet signature) runs compiled.

    The compiled path fills all three midstates of ``precomputed`` at once, so the other
    inputs of the transaction reuse them as with the pure path.
    """
    fast = compiled_module(pure)
    if precomputed is None:
        precomputed = PrecomputedTransactionData(tx)
    if fast is None or hash_type != SIGHASH_ALL:
        return segwit_v0_signature_hash(script_code, tx, index, hash_type, amount, precomputed)
    cached = precomputed.__dict__
    try:
        if "hash_outputs" not in cached or "hash_prevouts" not in cached or (
                "hash_sequence" not in cached):
            cached.update(zip(_MIDSTATES, fast.bip143_midstates(tx)))
        return fast.bip143_digest(tx, index, script_code, amount, hash_type,
                                  cached["hash_prevouts"], cached["hash_sequence"],
                                  cached["hash_outputs"])
    except (OverflowError, TypeError):
        # A field outside its wire range (only hand-built objects): let the reference code
        # raise (or answer) exactly as it would.
        return segwit_v0_signature_hash(script_code, tx, index, hash_type, amount, precomputed)


__all__ = ["compiled_module", "compiled_available", "segwit_v0_digest"]
