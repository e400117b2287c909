"""The interface through which the interpreter sees a transaction.

The interpreter never touches transactions or elliptic-curve code directly: it asks a
:class:`SignatureChecker` whether a signature, a locktime or a sequence is satisfied. This keeps
the engine testable with fake checkers and lets a batched/compiled ECDSA backend be swapped in
(the ``verifier`` argument) without touching the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from wattchain.core.keys import verify_ecdsa
from wattchain.core.tx import Transaction
from wattchain.script.opcodes import LOCKTIME_THRESHOLD
from wattchain.script.sighash import (PrecomputedTransactionData, legacy_signature_hash,
                                      segwit_v0_signature_hash)

SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF

#: (pubkey, DER signature without hash type, 32-byte digest) -> valid?
EcdsaVerifier = Callable[[bytes, bytes, bytes], bool]


class SigVersion(Enum):
    """Which signature-hash algorithm and rules apply to the script being run."""

    BASE = 0
    WITNESS_V0 = 1


class SignatureChecker:
    """Answers 'no' to everything: for evaluating scripts outside any transaction."""

    def check_ecdsa_signature(self, signature: bytes, pubkey: bytes, script_code: bytes,
                              sigversion: SigVersion) -> bool:
        """``signature`` includes its trailing hash-type byte; ``script_code`` is final
        (after OP_CODESEPARATOR and, for BASE, FindAndDelete)."""
        return False

    def check_locktime(self, locktime: int) -> bool:
        return False

    def check_sequence(self, sequence: int) -> bool:
        return False


class TransactionSignatureChecker(SignatureChecker):
    """Checks signatures and timelocks against input ``input_index`` of ``tx``."""

    def __init__(self, tx: Transaction, input_index: int, amount: int,
                 precomputed: PrecomputedTransactionData | None = None,
                 verifier: EcdsaVerifier = verify_ecdsa) -> None:
        self.tx = tx
        self.input_index = input_index
        self.amount = amount
        self.precomputed = precomputed
        self.verifier = verifier

    def signature_hash(self, script_code: bytes, hash_type: int, sigversion: SigVersion) -> bytes:
        if sigversion is SigVersion.WITNESS_V0:
            if self.precomputed is None:
                self.precomputed = PrecomputedTransactionData(self.tx)
            return segwit_v0_signature_hash(script_code, self.tx, self.input_index, hash_type,
                                            self.amount, self.precomputed)
        return legacy_signature_hash(script_code, self.tx, self.input_index, hash_type)

    def check_ecdsa_signature(self, signature: bytes, pubkey: bytes, script_code: bytes,
                              sigversion: SigVersion) -> bool:
        if not signature:
            return False
        digest = self.signature_hash(script_code, signature[-1], sigversion)
        return self.verifier(pubkey, signature[:-1], digest)

    def check_locktime(self, locktime: int) -> bool:
        """BIP65: the transaction's nLockTime must be of the same kind and at least ``locktime``,
        and the input must not be final (which would disable nLockTime)."""
        tx_locktime = self.tx.locktime
        same_kind = ((tx_locktime < LOCKTIME_THRESHOLD) == (locktime < LOCKTIME_THRESHOLD))
        if not same_kind or locktime > tx_locktime:
            return False
        return self.tx.inputs[self.input_index].sequence != 0xFFFFFFFF

    def check_sequence(self, sequence: int) -> bool:
        """BIP112: the input's nSequence must be a relative lock of the same kind, at least as long."""
        tx_sequence = self.tx.inputs[self.input_index].sequence
        if self.tx.version < 2 or tx_sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            return False
        mask = SEQUENCE_LOCKTIME_TYPE_FLAG | SEQUENCE_LOCKTIME_MASK
        tx_masked = tx_sequence & mask
        wanted = sequence & mask
        if (tx_masked < SEQUENCE_LOCKTIME_TYPE_FLAG) != (wanted < SEQUENCE_LOCKTIME_TYPE_FLAG):
            return False
        return wanted <= tx_masked
