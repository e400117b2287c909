"""On-chain resolution of a channel (BOLT 3 closing tx, BOLT 5 sweeps and penalties).

Why these transactions: once a commitment is on chain, every output has one or more spending
paths and a node must take the ones that are its due, in time:

* cooperative close — both sides sign a plain 2-of-2 spend paying each its balance (the opener
  pays the agreed fee); no delays, no scripts.
* our own commitment — to_local after ``to_self_delay`` blocks (BIP68 nSequence + CSV);
  HTLCs through the second-stage txs of :mod:`.htlc_tx`, whose outputs are swept the same way.
* the counterparty's (current) commitment — to_remote at once; HTLCs it offered us with the
  preimage; HTLCs we offered after their CLTV expiry.
* the counterparty's *revoked* commitment — the penalty: to_local and every HTLC output with
  the revocation key (and to_remote with our payment key), all in one transaction.

All builders return fully signed transactions; fees are explicit arguments (the caller picks
the feerate). Witness "true" for OP_IF is ``b"\\x01"`` (MINIMALIF), "false" the empty vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from wattchain.channels.commitment import (CommitmentOutput, CommitmentSpec, CommitmentTx,
                                           Funding, HtlcDirection, HtlcTx, OutputKind,
                                           PartyConfig, Side, build_commitment_tx,
                                           extract_commitment_number, funding_witness,
                                           obscuring_factor)
from wattchain.channels.errors import OnchainError
from wattchain.channels.keys import derive_revocation_privkey, per_commitment_point
from wattchain.channels.shachain import ShachainStore
from wattchain.channels.signing import check_input_signature, sign_input, with_sighash
from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key
from wattchain.core.tx import SEQUENCE_FINAL, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.standard import p2pkh, p2wsh

#: nSequence of inputs that need neither a relative lock nor finality (signals RBF).
SEQUENCE_NO_LOCK = 0xFFFFFFFD

_TRUE = b"\x01"
_FALSE = b""


# ---------------------------------------------------------------------------- cooperative close
@dataclass(frozen=True)
class ClosingTx:
    """An unsigned cooperative closing tx (BOLT 3 "Closing Transaction")."""

    tx: Transaction
    funding: Funding
    fee_sat: int
    local_amount_sat: int
    remote_amount_sat: int


def build_closing_tx(funding: Funding, local_script: bytes, remote_script: bytes,
                     to_local_msat: int, to_remote_msat: int, fee_sat: int, opener: Side,
                     dust_limit_sat: int) -> ClosingTx:
    """Each side gets its balance (rounded down to satoshis); the opener's output also pays
    ``fee_sat``. Outputs below ``dust_limit_sat`` are left out; the rest are BIP69-ordered.
    Version 2, locktime 0, final sequence, exactly as BOLT 3 fixes it, so both sides build
    the same bytes from the same ``closing_signed`` numbers."""
    if to_local_msat < 0 or to_remote_msat < 0 or fee_sat < 0:
        raise OnchainError("balances and fee must not be negative")
    if to_local_msat + to_remote_msat > funding.amount_sat * 1000:
        raise OnchainError("balances exceed the funding amount")
    local_sat, remote_sat = to_local_msat // 1000, to_remote_msat // 1000
    if opener is Side.LOCAL:
        local_sat -= fee_sat
    else:
        remote_sat -= fee_sat
    if min(local_sat, remote_sat) < 0:
        raise OnchainError(f"the opener cannot pay the closing fee of {fee_sat} sat")
    outputs = [TxOut(amount, script) for amount, script in
               ((local_sat, local_script), (remote_sat, remote_script))
               if amount >= dust_limit_sat]
    outputs.sort(key=lambda out: (out.value, out.script_pubkey))
    tx = Transaction(2, (TxIn(funding.outpoint, b"", SEQUENCE_FINAL),), tuple(outputs), 0)
    paid = sum(out.value for out in outputs)
    return ClosingTx(tx, funding, funding.amount_sat - paid,
                     local_sat if local_sat >= dust_limit_sat else 0,
                     remote_sat if remote_sat >= dust_limit_sat else 0)


def sign_closing_tx(closing: ClosingTx, funding_privkey: bytes) -> bytes:
    return sign_input(closing.tx, 0, closing.funding.witness_script, closing.funding.amount_sat,
                      funding_privkey)


def verify_closing_signature(closing: ClosingTx, funding_pubkey: bytes, der_sig: bytes) -> None:
    check_input_signature(closing.tx, 0, closing.funding.witness_script,
                          closing.funding.amount_sat, funding_pubkey, der_sig)


def signed_closing_tx(closing: ClosingTx, local_sig: bytes, remote_sig: bytes) -> Transaction:
    witness = funding_witness(closing.funding, local_sig, remote_sig)
    return replace(closing.tx, inputs=(replace(closing.tx.inputs[0], witness=witness),))


# ---------------------------------------------------------------------------- generic sweeping
@dataclass(frozen=True)
class SweepInput:
    """One output to spend: ``witness(sig)`` returns the stack *before* the witness script
    (empty ``witness_script`` means P2WPKH: the script code is then P2PKH of ``pubkey``)."""

    outpoint: OutPoint
    amount_sat: int
    witness_script: bytes
    privkey: bytes
    sequence: int
    witness: Callable[[bytes], tuple[bytes, ...]]


def _script_code(item: SweepInput) -> bytes:
    if item.witness_script:
        return item.witness_script
    return p2pkh(hash160(public_key(item.privkey)))


def sweep(inputs: Sequence[SweepInput], dest_script: bytes, fee_sat: int,
          locktime: int = 0) -> Transaction:
    """A version-2 tx spending ``inputs`` to one ``dest_script`` output, every input signed
    SIGHASH_ALL (so the fee and destination are fixed by every signature)."""
    if not inputs:
        raise OnchainError("nothing to sweep")
    total = sum(item.amount_sat for item in inputs)
    if not 0 <= fee_sat < total:
        raise OnchainError(f"fee {fee_sat} sat must be below the swept {total} sat")
    unsigned = Transaction(2, tuple(TxIn(item.outpoint, b"", item.sequence) for item in inputs),
                           (TxOut(total - fee_sat, dest_script),), locktime)
    signed_inputs = []
    for index, item in enumerate(inputs):
        sig = with_sighash(sign_input(unsigned, index, _script_code(item), item.amount_sat,
                                      item.privkey))
        stack = item.witness(sig)
        if item.witness_script:
            stack = stack + (item.witness_script,)
        signed_inputs.append(replace(unsigned.inputs[index], witness=stack))
    return replace(unsigned, inputs=tuple(signed_inputs))


def _output(commitment: CommitmentTx, kind: OutputKind) -> CommitmentOutput:
    out = commitment.output_of(kind)
    if out is None:
        raise OnchainError(f"commitment has no {kind.value} output (trimmed or absent)")
    return out


def _check_key(privkey: bytes, expected_pubkey: bytes, what: str) -> None:
    if public_key(privkey) != expected_pubkey:
        raise OnchainError(f"private key does not match the {what} of this output")


# ---------------------------------------------------------------------------- our commitment
def delayed_sweep_input(outpoint: OutPoint, amount_sat: int, witness_script: bytes,
                        to_self_delay: int, delayed_privkey: bytes) -> SweepInput:
    """The owner's path of a to_local-style output: nSequence = to_self_delay (BIP68 makes the
    tx invalid until the output is that many blocks deep; CSV checks the nSequence)."""
    return SweepInput(outpoint, amount_sat, witness_script, delayed_privkey, to_self_delay,
                      lambda sig: (sig, _FALSE))


def sweep_to_local(commitment: CommitmentTx, delayed_privkey: bytes, dest_script: bytes,
                   fee_sat: int) -> Transaction:
    """Our to_local after the CSV delay (``delayed_privkey`` = derive_privkey(our delayed
    basepoint secret, our per-commitment point))."""
    out = _output(commitment, OutputKind.TO_LOCAL)
    _check_key(delayed_privkey, commitment.keys.local_delayed_pubkey, "delayed pubkey")
    return sweep([delayed_sweep_input(OutPoint(commitment.txid, out.index), out.amount_sat,
                                      out.witness_script, commitment.keys.to_self_delay,
                                      delayed_privkey)], dest_script, fee_sat)


def sweep_htlc_tx_output(htlc_tx: HtlcTx, signed_htlc_tx: Transaction, delayed_privkey: bytes,
                         dest_script: bytes, fee_sat: int) -> Transaction:
    """The output of our confirmed HTLC-success/timeout tx, after the CSV delay."""
    return sweep([delayed_sweep_input(OutPoint(signed_htlc_tx.txid, 0), htlc_tx.output.value,
                                      htlc_tx.output_witness_script, htlc_tx.to_self_delay,
                                      delayed_privkey)], dest_script, fee_sat)


# ---------------------------------------------------------------------------- their commitment
def sweep_to_remote(their_commitment: CommitmentTx, payment_privkey: bytes,
                    dest_script: bytes, fee_sat: int) -> Transaction:
    """Our balance on the counterparty's commitment (static key: our payment basepoint secret).
    With anchors the output has a 1-block CSV, hence nSequence 1."""
    return sweep([_to_remote_input(their_commitment, payment_privkey)], dest_script, fee_sat)


def _to_remote_input(commitment: CommitmentTx, payment_privkey: bytes) -> SweepInput:
    out = _output(commitment, OutputKind.TO_REMOTE)
    pubkey = commitment.keys.to_remote_pubkey
    _check_key(payment_privkey, pubkey, "to_remote pubkey")
    outpoint = OutPoint(commitment.txid, out.index)
    if commitment.anchors:
        return SweepInput(outpoint, out.amount_sat, out.witness_script, payment_privkey, 1,
                          lambda sig: (sig,))
    return SweepInput(outpoint, out.amount_sat, b"", payment_privkey, SEQUENCE_NO_LOCK,
                      lambda sig: (sig, pubkey))


def claim_htlc_with_preimage(their_commitment: CommitmentTx, output: CommitmentOutput,
                             htlc_privkey: bytes, preimage: bytes, dest_script: bytes,
                             fee_sat: int) -> Transaction:
    """Take an HTLC the counterparty offered us (OFFERED on its commitment) with the preimage:
    witness ``<sig> <preimage>``. ``htlc_privkey`` = derive_privkey(our htlc basepoint
    secret, their per-commitment point)."""
    htlc = output.htlc
    if htlc is None or htlc.direction is not HtlcDirection.OFFERED:
        raise OnchainError("only an HTLC offered by the commitment's holder has a preimage path")
    if len(preimage) != 32 or sha256(preimage) != htlc.payment_hash:
        raise OnchainError(f"preimage does not match HTLC {htlc.id}'s payment hash")
    _check_key(htlc_privkey, their_commitment.keys.remote_htlc_pubkey, "remote htlc pubkey")
    item = SweepInput(OutPoint(their_commitment.txid, output.index), output.amount_sat,
                      output.witness_script, htlc_privkey,
                      1 if their_commitment.anchors else SEQUENCE_NO_LOCK,
                      lambda sig: (sig, preimage))
    return sweep([item], dest_script, fee_sat)


def claim_htlc_after_timeout(their_commitment: CommitmentTx, output: CommitmentOutput,
                             htlc_privkey: bytes, dest_script: bytes,
                             fee_sat: int) -> Transaction:
    """Take back an HTLC we offered (RECEIVED on the counterparty's commitment) once it
    expired: nLockTime = cltv_expiry (checked by OP_CHECKLOCKTIMEVERIFY), witness
    ``<sig> <>``."""
    htlc = output.htlc
    if htlc is None or htlc.direction is not HtlcDirection.RECEIVED:
        raise OnchainError("only an HTLC received by the commitment's holder has a timeout path "
                           "for the counterparty")
    _check_key(htlc_privkey, their_commitment.keys.remote_htlc_pubkey, "remote htlc pubkey")
    item = SweepInput(OutPoint(their_commitment.txid, output.index), output.amount_sat,
                      output.witness_script, htlc_privkey,
                      1 if their_commitment.anchors else SEQUENCE_NO_LOCK,
                      lambda sig: (sig, _FALSE))
    return sweep([item], dest_script, fee_sat, locktime=htlc.cltv_expiry)


# ---------------------------------------------------------------------------- penalty
def revocation_sweep_inputs(revoked: CommitmentTx,
                            revocation_privkey: bytes) -> list[SweepInput]:
    """Revocation-path inputs for to_local (``<sig> 1``) and every HTLC output
    (``<sig> <revocationpubkey>``) of a revoked commitment of the counterparty."""
    rev_pub = revoked.keys.revocation_pubkey
    _check_key(revocation_privkey, rev_pub, "revocation pubkey")
    items = []
    for out in revoked.outputs:
        outpoint = OutPoint(revoked.txid, out.index)
        if out.kind is OutputKind.TO_LOCAL:
            items.append(SweepInput(outpoint, out.amount_sat, out.witness_script,
                                    revocation_privkey, SEQUENCE_NO_LOCK,
                                    lambda sig: (sig, _TRUE)))
        elif out.htlc is not None:
            items.append(SweepInput(outpoint, out.amount_sat, out.witness_script,
                                    revocation_privkey, SEQUENCE_NO_LOCK,
                                    lambda sig: (sig, rev_pub)))
    return items


def build_penalty_tx(revoked: CommitmentTx, revocation_privkey: bytes, dest_script: bytes,
                     fee_sat: int, payment_privkey: bytes | None = None,
                     exclude: frozenset[int] = frozenset()) -> Transaction:
    """One transaction taking every output of the counterparty's revoked commitment that we
    can spend: to_local and all HTLCs with the revocation key, plus to_remote (ours anyway)
    when ``payment_privkey`` is given. Anchors are left alone: the counterparty's is not ours
    and ours is worth less than the fee to spend it. Output indexes in ``exclude`` are left
    out: outputs already spent on chain (the cheater's second-stage HTLC txs won the race for
    them, and a penalty spending them would be invalid as a whole)."""
    items = [item for item in revocation_sweep_inputs(revoked, revocation_privkey)
             if item.outpoint.index not in exclude]
    to_remote = revoked.output_of(OutputKind.TO_REMOTE)
    if payment_privkey is not None and to_remote is not None \
            and to_remote.index not in exclude:
        items.append(_to_remote_input(revoked, payment_privkey))
    return sweep(items, dest_script, fee_sat)


def build_htlc_tx_penalty(revoked_htlc_tx: Transaction, revoked: CommitmentTx,
                          revocation_privkey: bytes, dest_script: bytes,
                          fee_sat: int) -> Transaction:
    """Penalty for a second-stage HTLC tx the counterparty published from a revoked
    commitment (before our penalty confirmed): its output is to_local-shaped, so the same
    revocation key takes it at once."""
    keys = revoked.keys
    _check_key(revocation_privkey, keys.revocation_pubkey, "revocation pubkey")
    script = keys.to_local_script()
    out = revoked_htlc_tx.outputs[0] if revoked_htlc_tx.outputs else None
    if out is None or out.script_pubkey != p2wsh(script):
        raise OnchainError("transaction is not a second-stage HTLC tx of this commitment")
    return sweep([SweepInput(OutPoint(revoked_htlc_tx.txid, 0), out.value, script,
                             revocation_privkey, SEQUENCE_NO_LOCK, lambda sig: (sig, _TRUE))],
                 dest_script, fee_sat)


# ---------------------------------------------------------------------------- recognition
@dataclass(frozen=True)
class RevokedCommitment:
    """A counterparty commitment seen on chain whose per-commitment secret we hold."""

    txid: bytes
    commitment_number: int
    per_commitment_secret: bytes

    @property
    def per_commitment_point(self) -> bytes:
        return per_commitment_point(self.per_commitment_secret)


def identify_revoked_commitment(tx: Transaction, funding: Funding,
                                opener_payment_basepoint: bytes,
                                accepter_payment_basepoint: bytes,
                                revealed: ShachainStore) -> RevokedCommitment | None:
    """Recognise a revoked commitment among the transactions spending the funding output:
    read its obscured commitment number (locktime/sequence) and look up the per-commitment
    secret the counterparty revealed for that number. None for anything else (a cooperative
    close, the current commitment, or an unrelated tx)."""
    if len(tx.inputs) != 1 or tx.inputs[0].prevout != funding.outpoint:
        return None
    factor = obscuring_factor(opener_payment_basepoint, accepter_payment_basepoint)
    number = extract_commitment_number(tx, factor)
    if number is None:
        return None
    secret = revealed.get_commitment_secret(number)
    if secret is None:
        return None
    return RevokedCommitment(tx.txid, number, secret)


def penalty_for_revoked(tx: Transaction, revoked: RevokedCommitment, funding: Funding,
                        ours: PartyConfig, theirs: PartyConfig, their_spec: CommitmentSpec,
                        revocation_base_secret: bytes, dest_script: bytes, fee_sat: int,
                        payment_privkey: bytes | None = None) -> Transaction:
    """The watcher's one call: rebuild the counterparty's revoked commitment from the spec we
    stored for it (its point of view: ``their_spec``), check it is byte-for-byte the
    transaction seen on chain, derive the revocation key and build the penalty."""
    rebuilt, revocation_privkey = rebuild_revoked_commitment(
        tx, revoked, funding, ours, theirs, their_spec, revocation_base_secret)
    return build_penalty_tx(rebuilt, revocation_privkey, dest_script, fee_sat, payment_privkey)


def rebuild_revoked_commitment(tx: Transaction, revoked: RevokedCommitment, funding: Funding,
                               ours: PartyConfig, theirs: PartyConfig,
                               their_spec: CommitmentSpec, revocation_base_secret: bytes
                               ) -> tuple[CommitmentTx, bytes]:
    """The counterparty's revoked commitment rebuilt from ``their_spec`` (checked to be the
    ``tx`` seen on chain) and the revocation private key of its outputs. A watcher keeps both:
    second-stage HTLC txs the cheater publishes later are punished with the same key."""
    their_funding = Funding(funding.outpoint, funding.amount_sat,
                            funding.remote_funding_pubkey, funding.local_funding_pubkey)
    if their_spec.commitment_number != revoked.commitment_number:
        raise OnchainError(f"stored spec is for commitment {their_spec.commitment_number}, "
                           f"the chain has {revoked.commitment_number}")
    rebuilt = build_commitment_tx(their_funding, theirs, ours, their_spec,
                                  revoked.per_commitment_point)
    if rebuilt.txid != tx.txid:
        raise OnchainError("stored spec does not rebuild the revoked commitment seen on chain")
    revocation_privkey = derive_revocation_privkey(revocation_base_secret,
                                                   revoked.per_commitment_secret)
    return rebuilt, revocation_privkey
