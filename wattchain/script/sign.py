"""Producing scriptSigs and witnesses for the standard templates.

The structure follows Bitcoin Core's ``ProduceSignature``/``SignStep`` so that PSBT can be
layered on later without reshaping it:

* a :class:`SigningProvider` answers "which key/script has this hash?" (:class:`KeyStore` is
  the in-memory one; a PSBT would be another),
* :func:`sign_input` solves the spent output one layer at a time (P2SH -> P2WPKH/P2WSH ->
  inner script), creates every signature it can, and returns both the spending data and a
  record of what is still missing (:class:`InputSigningResult`), so partial signers can be
  combined by passing earlier signatures back in through ``partial_signatures``.

``complete`` means every required signature is present. It does not mean the input will pass:
a CLTV/CSV lock also needs the transaction's nLockTime/nSequence to satisfy it, which is the
transaction builder's job and is checked by the interpreter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.checker import SigVersion
from wattchain.script.script import push_data
from wattchain.script.sighash import (SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_NONE,
                                      SIGHASH_SINGLE, PrecomputedTransactionData,
                                      legacy_signature_hash, segwit_v0_signature_hash)
from wattchain.script.standard import (TxOutType, is_compressed_pubkey, match_timelock, p2pkh,
                                       p2wpkh, solve)

#: Hash types that STRICTENC accepts; anything else would make a non-standard signature.
DEFINED_HASH_TYPES = frozenset(
    base | acp for base in (SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE)
    for acp in (0, SIGHASH_ANYONECANPAY))


class SigningError(ValueError):
    """Signing was asked to do something unsafe or impossible (bad hash type, bad index...)."""


class IncompleteSigningError(SigningError):
    """Some inputs could not be fully signed; carries the partially signed transaction."""

    def __init__(self, transaction: Transaction, results: list["InputSigningResult"]) -> None:
        self.transaction = transaction
        self.results = results
        incomplete = [i for i, result in enumerate(results) if not result.complete]
        super().__init__(f"inputs {incomplete} are not fully signed")


class SigningProvider(Protocol):
    """Read-only source of keys and scripts for the signer (Core's SigningProvider)."""

    def private_key_for(self, pubkey: bytes) -> bytes | None: ...

    def pubkey_for_hash(self, key_hash: bytes) -> bytes | None: ...

    def script_for_hash(self, script_hash: bytes) -> bytes | None: ...


class KeyStore:
    """In-memory keys (by public key and its hash160) and scripts (by hash160 and sha256).

    Adding a compressed key also registers its P2WPKH script as a known redeem script, so
    P2SH-P2WPKH outputs of the key are signable without extra steps (as Core's wallets do).
    """

    def __init__(self) -> None:
        self._private_keys: dict[bytes, bytes] = {}
        self._pubkeys: dict[bytes, bytes] = {}
        self._scripts: dict[bytes, bytes] = {}

    def add_key(self, private_key: bytes, compressed: bool = True) -> bytes:
        """Store ``private_key`` under the chosen public-key encoding; returns that pubkey."""
        pubkey = public_key(private_key, compressed)
        self._private_keys[pubkey] = private_key
        self.add_pubkey(pubkey)
        if compressed:
            self.add_script(p2wpkh(hash160(pubkey)))
        return pubkey

    def add_pubkey(self, pubkey: bytes) -> None:
        """Know a public key without its private key (lets P2PKH partial results name it)."""
        self._pubkeys[hash160(pubkey)] = pubkey

    def add_script(self, script: bytes) -> None:
        """Know a redeem script (by hash160) and witness script (by sha256)."""
        self._scripts[hash160(script)] = script
        self._scripts[sha256(script)] = script

    def private_key_for(self, pubkey: bytes) -> bytes | None:
        return self._private_keys.get(pubkey)

    def pubkey_for_hash(self, key_hash: bytes) -> bytes | None:
        return self._pubkeys.get(key_hash)

    def script_for_hash(self, script_hash: bytes) -> bytes | None:
        return self._scripts.get(script_hash)


@dataclass(frozen=True)
class InputSigningResult:
    """What :func:`sign_input` produced for one input, and what it still lacks.

    Iterating yields ``(script_sig, witness)``, so ``script_sig, witness = sign_input(...)``
    works for callers that only want the spending data.
    """

    script_sig: bytes
    witness: tuple[bytes, ...]
    complete: bool
    #: Template of the script that was finally signed (after P2SH / P2WSH unwrapping).
    kind: TxOutType
    #: Every signature created or reused, by public key (hash type byte included).
    signatures: Mapping[bytes, bytes] = field(default_factory=dict)
    redeem_script: bytes | None = None
    witness_script: bytes | None = None
    #: hash160s of keys whose public key is unknown (P2PKH/P2WPKH).
    missing_pubkeys: tuple[bytes, ...] = ()
    #: hash160s of public keys we have no private key (and no partial signature) for.
    missing_signatures: tuple[bytes, ...] = ()
    #: hash160 (P2SH) or sha256 (P2WSH) of scripts the provider does not know.
    missing_scripts: tuple[bytes, ...] = ()

    def __iter__(self) -> Iterator[bytes | tuple[bytes, ...]]:
        yield self.script_sig
        yield self.witness


@dataclass(frozen=True, slots=True)
class _Step:
    kind: TxOutType
    stack: list[bytes]
    solved: bool


class _InputSigner:
    """State for signing one input: the sighash inputs plus what has been found missing."""

    def __init__(self, tx: Transaction, input_index: int, amount: int, provider: SigningProvider,
                 hash_type: int, precomputed: PrecomputedTransactionData | None,
                 partial_signatures: Mapping[bytes, bytes]) -> None:
        self.tx = tx
        self.input_index = input_index
        self.amount = amount
        self.provider = provider
        self.hash_type = hash_type
        self.precomputed = precomputed
        self.signatures: dict[bytes, bytes] = dict(partial_signatures)
        self.missing_pubkeys: list[bytes] = []
        self.missing_signatures: list[bytes] = []
        self.missing_scripts: list[bytes] = []

    def create_signature(self, pubkey: bytes, script_code: bytes,
                         sigversion: SigVersion) -> bytes | None:
        """A signature by ``pubkey`` over this input, or None (recorded as missing)."""
        if pubkey in self.signatures:
            return self.signatures[pubkey]
        private_key = self.provider.private_key_for(pubkey)
        # BIP143 policy (WITNESS_PUBKEYTYPE) forbids uncompressed keys in SegWit scripts.
        if private_key is None or (sigversion is SigVersion.WITNESS_V0
                                   and not is_compressed_pubkey(pubkey)):
            self.missing_signatures.append(hash160(pubkey))
            return None
        if sigversion is SigVersion.WITNESS_V0:
            if self.precomputed is None:
                self.precomputed = PrecomputedTransactionData(self.tx)
            digest = segwit_v0_signature_hash(script_code, self.tx, self.input_index,
                                              self.hash_type, self.amount, self.precomputed)
        else:
            digest = legacy_signature_hash(script_code, self.tx, self.input_index,
                                           self.hash_type)
        signature = sign_ecdsa(private_key, digest) + bytes((self.hash_type,))
        self.signatures[pubkey] = signature
        return signature

    def sign_step(self, script: bytes, sigversion: SigVersion) -> _Step:
        """Solve one script layer (Core's SignStep).

        For SCRIPTHASH / WITNESS_V0_SCRIPTHASH the stack is the inner script, for
        WITNESS_V0_KEYHASH the key hash; the caller descends into those.
        """
        kind, solutions = solve(script)
        if kind is TxOutType.PUBKEY:
            sig = self.create_signature(solutions[0], script, sigversion)
            return _Step(kind, [sig] if sig else [], sig is not None)
        if kind is TxOutType.PUBKEYHASH:
            pubkey = self.provider.pubkey_for_hash(solutions[0])
            if pubkey is None:
                self.missing_pubkeys.append(solutions[0])
                return _Step(kind, [], False)
            sig = self.create_signature(pubkey, script, sigversion)
            return _Step(kind, [sig, pubkey] if sig else [], sig is not None)
        if kind in (TxOutType.SCRIPTHASH, TxOutType.WITNESS_V0_SCRIPTHASH):
            inner = self.provider.script_for_hash(solutions[0])
            if inner is None:
                self.missing_scripts.append(solutions[0])
                return _Step(kind, [], False)
            return _Step(kind, [inner], True)
        if kind is TxOutType.WITNESS_V0_KEYHASH:
            return _Step(kind, [solutions[0]], True)
        if kind is TxOutType.MULTISIG:
            return self._sign_multisig(script, solutions, sigversion)
        timelock = match_timelock(script) if kind is TxOutType.NONSTANDARD else None
        if timelock is not None:
            sig = self.create_signature(timelock.pubkey, script, sigversion)
            return _Step(kind, [sig] if sig else [], sig is not None)
        return _Step(kind, [], False)

    def _sign_multisig(self, script: bytes, solutions: list[bytes],
                       sigversion: SigVersion) -> _Step:
        """``OP_0 <sig>...`` in key order. Every possible signature is created (a combiner may
        need them), the first m are used, and missing ones are left as empty placeholders."""
        required = solutions[0][0]
        sigs: list[bytes] = []
        for pubkey in solutions[1:-1]:
            sig = self.create_signature(pubkey, script, sigversion)
            if sig is not None and len(sigs) < required:
                sigs.append(sig)
        complete = len(sigs) == required
        sigs.extend(b"" for _ in range(required - len(sigs)))
        return _Step(TxOutType.MULTISIG, [b"", *sigs], complete)


def sign_input(tx: Transaction, input_index: int, spent_output: TxOut, keystore: SigningProvider,
               hash_type: int = SIGHASH_ALL, precomputed: PrecomputedTransactionData | None = None,
               partial_signatures: Mapping[bytes, bytes] | None = None) -> InputSigningResult:
    """Create the scriptSig and witness spending ``spent_output`` from input ``input_index``.

    Handles P2PK, P2PKH, bare multisig and the CLTV/CSV templates directly or inside P2SH,
    P2WSH or P2SH-P2WSH, plus P2WPKH and P2SH-P2WPKH. ``partial_signatures`` (pubkey ->
    signature) are reused instead of signing, which is how separate signers combine.
    Raises :class:`SigningError` for undefined hash types and for SIGHASH_SINGLE without a
    matching output (whose legacy "signature of 1" could be replayed on any transaction).
    """
    if not 0 <= input_index < len(tx.inputs):
        raise SigningError(f"input {input_index} does not exist")
    if hash_type not in DEFINED_HASH_TYPES:
        raise SigningError(f"undefined hash type 0x{hash_type:02x}")
    if hash_type & 0x1F == SIGHASH_SINGLE and input_index >= len(tx.outputs):
        raise SigningError("SIGHASH_SINGLE needs an output with the same index as the input")
    signer = _InputSigner(tx, input_index, spent_output.value, keystore, hash_type, precomputed,
                          partial_signatures or {})

    step = signer.sign_step(spent_output.script_pubkey, SigVersion.BASE)
    kind, stack, solved = step.kind, step.stack, step.solved
    redeem_script = witness_script = None
    if solved and kind is TxOutType.SCRIPTHASH:
        redeem_script = stack[0]
        step = signer.sign_step(redeem_script, SigVersion.BASE)
        # P2SH inside P2SH is never spendable (the inner hash would be checked as data).
        solved = step.solved and step.kind is not TxOutType.SCRIPTHASH
        kind, stack = step.kind, step.stack

    witness: list[bytes] = []
    if solved and kind is TxOutType.WITNESS_V0_KEYHASH:
        step = signer.sign_step(p2pkh(stack[0]), SigVersion.WITNESS_V0)
        witness, solved, stack = step.stack, step.solved, []
    elif solved and kind is TxOutType.WITNESS_V0_SCRIPTHASH:
        witness_script = stack[0]
        step = signer.sign_step(witness_script, SigVersion.WITNESS_V0)
        kind = step.kind
        solved = step.solved and kind not in (TxOutType.SCRIPTHASH, TxOutType.WITNESS_V0_KEYHASH,
                                              TxOutType.WITNESS_V0_SCRIPTHASH,
                                              TxOutType.WITNESS_UNKNOWN)
        witness, stack = [*step.stack, witness_script], []

    if redeem_script is not None:
        stack.append(redeem_script)
    return InputSigningResult(
        script_sig=b"".join(push_data(item) for item in stack),
        witness=tuple(witness),
        complete=solved,
        kind=kind,
        signatures=dict(signer.signatures),
        redeem_script=redeem_script,
        witness_script=witness_script,
        missing_pubkeys=tuple(signer.missing_pubkeys),
        missing_signatures=tuple(signer.missing_signatures),
        missing_scripts=tuple(signer.missing_scripts),
    )


def sign_transaction_inputs(tx: Transaction, spent_outputs: Sequence[TxOut],
                            keystore: SigningProvider, hash_type: int = SIGHASH_ALL
                            ) -> tuple[Transaction, list[InputSigningResult]]:
    """Sign every input it can; returns the new transaction and one result per input.

    An input for which nothing at all could be produced keeps its existing scriptSig and
    witness, so several signers owning different inputs can sign the same transaction in turn.
    """
    if len(spent_outputs) != len(tx.inputs):
        raise SigningError(f"{len(spent_outputs)} spent outputs for {len(tx.inputs)} inputs")
    # BIP143 midstates depend on prevouts, sequences and outputs only, never on scriptSigs or
    # witnesses, so one precomputation serves every input of the signed transaction.
    precomputed = PrecomputedTransactionData(tx)
    results = [sign_input(tx, i, spent, keystore, hash_type, precomputed)
               for i, spent in enumerate(spent_outputs)]
    inputs = tuple(
        txin if not (result.script_sig or result.witness)
        else replace(txin, script_sig=result.script_sig, witness=result.witness)
        for txin, result in zip(tx.inputs, results))
    return replace(tx, inputs=inputs), results


def sign_transaction(tx: Transaction, spent_outputs: Sequence[TxOut], keystore: SigningProvider,
                     hash_type: int = SIGHASH_ALL, *, allow_partial: bool = False) -> Transaction:
    """A copy of ``tx`` with all inputs signed.

    Raises :class:`IncompleteSigningError` (holding the partially signed transaction and the
    per-input results) unless every input is complete or ``allow_partial`` is set.
    """
    signed, results = sign_transaction_inputs(tx, spent_outputs, keystore, hash_type)
    if not allow_partial and not all(result.complete for result in results):
        raise IncompleteSigningError(signed, results)
    return signed
