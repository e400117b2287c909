"""BIP143 signing and verification of one channel-transaction input.

Why a separate module: commitment, HTLC, closing, sweep and penalty transactions all sign
SegWit v0 inputs whose witness script the channel code already knows, so they share these
helpers instead of the wallet's generic signer (which has to solve scripts it does not know).
Signatures are DER *without* the sighash byte (as BOLT 2 messages carry them); the byte is
appended when a witness is assembled (:func:`with_sighash`).
"""

from __future__ import annotations

from wattchain.channels.errors import SignatureError
from wattchain.core.keys import sign_ecdsa, verify_ecdsa
from wattchain.core.tx import Transaction
from wattchain.script.sighash import SIGHASH_ALL, segwit_v0_signature_hash


def input_sighash(tx: Transaction, input_index: int, witness_script: bytes, amount_sat: int,
                  sighash_type: int = SIGHASH_ALL) -> bytes:
    """BIP143 digest of input ``input_index`` spending a P2WSH/P2WPKH output of
    ``amount_sat`` whose script code is ``witness_script``."""
    if not 0 <= input_index < len(tx.inputs):
        raise SignatureError(f"transaction has no input {input_index}")
    return segwit_v0_signature_hash(witness_script, tx, input_index, sighash_type, amount_sat)


def sign_input(tx: Transaction, input_index: int, witness_script: bytes, amount_sat: int,
               privkey: bytes, sighash_type: int = SIGHASH_ALL) -> bytes:
    """Deterministic (RFC6979, low-S) DER signature of one input, without the sighash byte."""
    return sign_ecdsa(privkey, input_sighash(tx, input_index, witness_script, amount_sat,
                                             sighash_type))


def check_input_signature(tx: Transaction, input_index: int, witness_script: bytes,
                          amount_sat: int, pubkey: bytes, der_sig: bytes,
                          sighash_type: int = SIGHASH_ALL) -> None:
    """Raise :class:`SignatureError` unless ``der_sig`` signs the input for ``pubkey``."""
    digest = input_sighash(tx, input_index, witness_script, amount_sat, sighash_type)
    if not verify_ecdsa(pubkey, der_sig, digest):
        raise SignatureError(f"signature on input {input_index} does not verify for "
                             f"pubkey {pubkey.hex()}")


def with_sighash(der_sig: bytes, sighash_type: int = SIGHASH_ALL) -> bytes:
    """The witness form of a signature: DER followed by the sighash-type byte."""
    return der_sig + bytes((sighash_type,))
