"""BIP174 roles over :class:`~wattchain.wallet.psbt.Psbt`: signer, combiner, finalizer and
extractor (the creator is ``Psbt.from_unsigned``; the wallet is the updater).

Signing reuses :func:`wattchain.script.sign.sign_input` — the same code that signs ordinary
transactions — with a provider that adds the PSBT's own scripts and public keys to the
wallet's, and feeds the PSBT's partial signatures back in. Finalizing is signing with no
private keys: if the collected signatures complete the input, the final scriptSig/witness is
built, checked with the script interpreter (as Core's ProduceSignature does), and the
now-redundant fields are dropped, as BIP174 asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from wattchain.core.hashes import hash160, sha256
from wattchain.core.tx import Transaction, TxIn
from wattchain.script.errors import ScriptError
from wattchain.script.flags import STANDARD_FLAGS
from wattchain.script.sighash import SIGHASH_ALL
from wattchain.script.sign import SigningError, SigningProvider, sign_input
from wattchain.script.verify import verify_input
from wattchain.wallet.errors import PsbtError, PsbtMismatch
from wattchain.wallet.psbt import Psbt, PsbtInput


class _NoKeys:
    def private_key_for(self, pubkey: bytes) -> bytes | None:
        return None

    def pubkey_for_hash(self, key_hash: bytes) -> bytes | None:
        return None

    def script_for_hash(self, script_hash: bytes) -> bytes | None:
        return None


class PsbtInputProvider:
    """The base provider (a wallet's keys, or none) plus what one PSBT input reveals."""

    def __init__(self, base: SigningProvider, pin: PsbtInput) -> None:
        self.base = base
        self._pubkeys = {hash160(k): k for k in (*pin.partial_sigs, *pin.bip32_derivs)}
        self._scripts: dict[bytes, bytes] = {}
        for script in (pin.redeem_script, pin.witness_script):
            if script is not None:
                self._scripts[hash160(script)] = script
                self._scripts[sha256(script)] = script

    def private_key_for(self, pubkey: bytes) -> bytes | None:
        return self.base.private_key_for(pubkey)

    def pubkey_for_hash(self, key_hash: bytes) -> bytes | None:
        return self.base.pubkey_for_hash(key_hash) or self._pubkeys.get(key_hash)

    def script_for_hash(self, script_hash: bytes) -> bytes | None:
        return self.base.script_for_hash(script_hash) or self._scripts.get(script_hash)


def sign_psbt_input(psbt: Psbt, index: int, provider: SigningProvider | None = None, *,
                    sighash_type: int | None = None, finalize: bool = True) -> bool:
    """Add every signature ``provider`` can make to input ``index`` (and its scripts); finalize
    it when complete and ``finalize``. Returns whether the input is complete (final)."""
    pin = psbt.inputs[index]
    if pin.is_final:
        return True
    spent = psbt.spent_output(index)
    if spent is None:
        return False
    if sighash_type is not None and pin.sighash_type is not None \
            and sighash_type != pin.sighash_type:
        raise PsbtError("Specified sighash value does not match value stored in PSBT")
    hash_type = pin.sighash_type if pin.sighash_type is not None else (
        sighash_type if sighash_type is not None else SIGHASH_ALL)
    try:
        result = sign_input(psbt.tx, index, spent, PsbtInputProvider(provider or _NoKeys(), pin),
                            hash_type, partial_signatures=pin.partial_sigs)
    except SigningError as exc:
        raise PsbtError(f"input {index}: {exc}") from None
    pin.partial_sigs.update(result.signatures)
    if result.redeem_script is not None and pin.redeem_script is None:
        pin.redeem_script = result.redeem_script
    if result.witness_script is not None and pin.witness_script is None:
        pin.witness_script = result.witness_script
    if not (result.complete and finalize):
        return False
    signed_in = replace(psbt.tx.inputs[index], script_sig=result.script_sig,
                        witness=result.witness)
    candidate = replace(psbt.tx, inputs=psbt.tx.inputs[:index] + (signed_in,)
                        + psbt.tx.inputs[index + 1:])
    try:
        verify_input(candidate, index, spent, STANDARD_FLAGS)
    except ScriptError:
        return False  # a bad partial signature: leave the input unfinalized
    pin.final_script_sig = result.script_sig
    pin.final_script_witness = result.witness if result.witness else None
    pin.partial_sigs.clear()
    pin.sighash_type = None
    pin.redeem_script = pin.witness_script = None
    pin.bip32_derivs.clear()
    return True


def sign_psbt(psbt: Psbt, provider: SigningProvider | None, *, sighash_type: int | None = None,
              finalize: bool = True) -> bool:
    """Signer role over every input; True if all inputs are final afterwards."""
    complete = True
    for index in range(len(psbt.inputs)):
        complete &= sign_psbt_input(psbt, index, provider, sighash_type=sighash_type,
                                    finalize=finalize)
    return complete


def finalize_psbt(psbt: Psbt) -> bool:
    """Finalizer role: build final scripts from the collected signatures where possible."""
    return sign_psbt(psbt, None, finalize=True)


def extract_transaction(psbt: Psbt) -> Transaction:
    """Extractor role: the network transaction; every input must be final."""
    inputs = []
    for index, (txin, pin) in enumerate(zip(psbt.tx.inputs, psbt.inputs)):
        if not pin.is_final:
            raise PsbtError(f"input {index} is not finalized")
        inputs.append(TxIn(txin.prevout, pin.final_script_sig or b"", txin.sequence,
                           pin.final_script_witness or ()))
    return replace(psbt.tx, inputs=tuple(inputs))


def combine_psbts(psbts: Sequence[Psbt]) -> Psbt:
    """Combiner role: the union of every map; all PSBTs must be for the same transaction."""
    if not psbts:
        raise PsbtError("combinepsbt needs at least one PSBT")
    first = psbts[0]
    base_tx = first.tx.serialize(False)
    result = Psbt.deserialize(first.serialize())
    for other in psbts[1:]:
        if other.tx.serialize(False) != base_tx:
            raise PsbtMismatch("PSBTs not compatible (different transactions)")
        for mine, theirs in zip(result.inputs, other.inputs):
            _merge_input(mine, theirs)
        for mine_out, theirs_out in zip(result.outputs, other.outputs):
            mine_out.redeem_script = mine_out.redeem_script or theirs_out.redeem_script
            mine_out.witness_script = mine_out.witness_script or theirs_out.witness_script
            mine_out.bip32_derivs.update(theirs_out.bip32_derivs)
            mine_out.unknown.update(theirs_out.unknown)
        known = {xpub for xpub, _ in result.xpubs}
        result.xpubs.extend(item for item in other.xpubs if item[0] not in known)
        result.unknown.update(other.unknown)
    return result


def _merge_input(mine: PsbtInput, theirs: PsbtInput) -> None:
    mine.non_witness_utxo = mine.non_witness_utxo or theirs.non_witness_utxo
    mine.witness_utxo = mine.witness_utxo or theirs.witness_utxo
    mine.unknown.update(theirs.unknown)
    if mine.is_final:
        return
    if theirs.is_final:
        mine.final_script_sig = theirs.final_script_sig
        mine.final_script_witness = theirs.final_script_witness
        mine.partial_sigs.clear()
        mine.bip32_derivs.clear()
        mine.sighash_type = None
        mine.redeem_script = mine.witness_script = None
        return
    mine.partial_sigs.update(theirs.partial_sigs)
    mine.bip32_derivs.update(theirs.bip32_derivs)
    if mine.sighash_type is None:
        mine.sighash_type = theirs.sighash_type
    mine.redeem_script = mine.redeem_script or theirs.redeem_script
    mine.witness_script = mine.witness_script or theirs.witness_script
