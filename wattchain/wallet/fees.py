"""Size estimates for fee calculation, in weight units, using Core's dummy-signature sizes.

The wallet prices a transaction before signing it, so it assumes the largest DER signature
(72 bytes with the hash type). Real signatures are 71-72 bytes, so the paid fee rate is never
below the requested one and at most ~1 vbyte per input above it.
"""

from __future__ import annotations

from wattchain.core.serialization import compact_size
from wattchain.core.tx import TxOut
from wattchain.script.standard import TxOutType, solve

MAX_SIG_SIZE = 72  # largest DER signature (71 bytes, high R) plus the hash-type byte
#: version + locktime (8) + input and output counts (1 each, for < 253 of each), as weight,
#: plus the 2-byte segwit marker and flag (witness data, 1 WU each).
TX_OVERHEAD_WEIGHT = (4 + 4 + 1 + 1) * 4 + 2
_OUTPOINT_SEQUENCE = 32 + 4 + 4


def output_weight(out: TxOut) -> int:
    return len(out.serialize()) * 4


def input_weight(script_pubkey: bytes, witness_script: bytes | None = None,
                 pubkey_len: int = 33) -> int | None:
    """Weight of an input spending ``script_pubkey`` once signed, or None if the wallet does
    not know how to spend it (unsolvable)."""
    kind, solutions = solve(script_pubkey)
    if kind is TxOutType.WITNESS_V0_KEYHASH:
        witness = 1 + (1 + MAX_SIG_SIZE) + (1 + 33)
        return (_OUTPOINT_SEQUENCE + 1) * 4 + witness
    if kind is TxOutType.WITNESS_V0_SCRIPTHASH and witness_script is not None:
        inner, parts = solve(witness_script)
        if inner is not TxOutType.MULTISIG:
            return None
        required = parts[0][0]
        witness = (1 + 1 + required * (1 + MAX_SIG_SIZE) + len(compact_size(len(witness_script)))
                   + len(witness_script))
        return (_OUTPOINT_SEQUENCE + 1) * 4 + witness
    if kind is TxOutType.PUBKEYHASH:
        script_sig = 1 + MAX_SIG_SIZE + 1 + pubkey_len
        # +1: the empty witness count every input carries once the tx has witnesses.
        return (_OUTPOINT_SEQUENCE + 1 + script_sig) * 4 + 1
    if kind is TxOutType.PUBKEY:
        return (_OUTPOINT_SEQUENCE + 1 + 1 + MAX_SIG_SIZE) * 4 + 1
    return None


def vsize_of_weight(weight: int) -> int:
    return (weight + 3) // 4
