"""HTLC-timeout and HTLC-success transactions (BOLT 3 second stage).

Why a second stage: an HTLC output on the holder's commitment cannot pay the holder directly,
because the holder's money must stay revocable for ``to_self_delay`` blocks. The HTLC is
therefore spent — with a 2-of-2 of both HTLC keys, pre-signed by the counterparty at every
``commitment_signed`` — into a to_local-style output: revocable at once, or the holder's after
the CSV delay.

* HTLC-timeout spends an OFFERED HTLC; nLockTime = ``cltv_expiry``.
* HTLC-success spends a RECEIVED HTLC with the preimage; nLockTime = 0.
* Without anchors the fee comes out of the HTLC amount and both signatures are SIGHASH_ALL.
  With ``option_anchors`` the fee is zero, nSequence is 1 (the CSV in the HTLC script), and the
  counterparty signs SIGHASH_SINGLE|ANYONECANPAY so the holder can attach fee inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wattchain.channels.errors import CommitmentError
from wattchain.channels.fees import htlc_success_fee_sat, htlc_timeout_fee_sat
from wattchain.channels.model import CommitmentOutput, CommitmentTx, Htlc, HtlcDirection
from wattchain.channels.scripts import to_local_script
from wattchain.channels.signing import check_input_signature, sign_input, with_sighash
from wattchain.core.hashes import sha256
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.sighash import SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_SINGLE
from wattchain.script.standard import p2wsh


@dataclass(frozen=True)
class HtlcTx:
    """An unsigned second-stage HTLC tx and what is needed to sign and later spend it."""

    tx: Transaction
    #: True for HTLC-success (needs the preimage), False for HTLC-timeout.
    success: bool
    htlc: Htlc
    #: The commitment output it spends (its witness script is the signing script code).
    spent: CommitmentOutput
    #: to_local-style script of the single output (revocation or CSV-delayed holder key).
    output_witness_script: bytes
    anchors: bool
    to_self_delay: int

    @property
    def output(self) -> TxOut:
        return self.tx.outputs[0]

    @property
    def spent_txout(self) -> TxOut:
        return self.spent.txout


def remote_htlc_sighash_type(anchors: bool) -> int:
    """Sighash type of the counterparty's HTLC signature (0x83 with anchors, else ALL)."""
    return (SIGHASH_SINGLE | SIGHASH_ANYONECANPAY) if anchors else SIGHASH_ALL


def _build(commitment: CommitmentTx, output: CommitmentOutput, success: bool) -> HtlcTx:
    htlc = output.htlc
    want = HtlcDirection.RECEIVED if success else HtlcDirection.OFFERED
    if htlc is None or htlc.direction is not want:
        kind = "HTLC-success needs a received" if success else "HTLC-timeout needs an offered"
        raise CommitmentError(f"{kind} HTLC output, got {output.kind.value}")
    if commitment.outputs[output.index] != output:
        raise CommitmentError("output does not belong to this commitment")
    anchors = commitment.anchors
    feerate = commitment.spec.feerate_per_kw
    fee = (htlc_success_fee_sat if success else htlc_timeout_fee_sat)(feerate, anchors)
    if output.amount_sat - fee <= 0:
        raise CommitmentError(f"HTLC {htlc.id} does not cover its second-stage fee {fee}")
    keys = commitment.keys
    out_script = to_local_script(keys.revocation_pubkey, keys.to_self_delay,
                                 keys.local_delayed_pubkey)
    txin = TxIn(OutPoint(commitment.txid, output.index), b"", 1 if anchors else 0)
    tx = Transaction(version=2, inputs=(txin,),
                     outputs=(TxOut(output.amount_sat - fee, p2wsh(out_script)),),
                     locktime=0 if success else htlc.cltv_expiry)
    return HtlcTx(tx, success, htlc, output, out_script, anchors, keys.to_self_delay)


def build_htlc_timeout_tx(commitment: CommitmentTx, output: CommitmentOutput) -> HtlcTx:
    """The holder's HTLC-timeout tx for an offered HTLC output of its commitment."""
    return _build(commitment, output, success=False)


def build_htlc_success_tx(commitment: CommitmentTx, output: CommitmentOutput) -> HtlcTx:
    """The holder's HTLC-success tx for a received HTLC output of its commitment."""
    return _build(commitment, output, success=True)


def build_htlc_txs(commitment: CommitmentTx) -> tuple[HtlcTx, ...]:
    """One second-stage tx per untrimmed HTLC output, in commitment output order — the order
    in which ``commitment_signed`` carries the HTLC signatures."""
    return tuple(_build(commitment, out, out.htlc.direction is HtlcDirection.RECEIVED)
                 for out in commitment.htlc_outputs() if out.htlc is not None)


def sign_htlc_tx(htlc_tx: HtlcTx, htlc_privkey: bytes, *, as_counterparty: bool) -> bytes:
    """DER signature of the HTLC tx with an HTLC key. The counterparty (who pre-signs the
    holder's HTLC txs) uses :func:`remote_htlc_sighash_type`; the holder uses ALL."""
    sighash = remote_htlc_sighash_type(htlc_tx.anchors) if as_counterparty else SIGHASH_ALL
    return sign_input(htlc_tx.tx, 0, htlc_tx.spent.witness_script, htlc_tx.spent.amount_sat,
                      htlc_privkey, sighash)


def verify_htlc_signature(htlc_tx: HtlcTx, pubkey: bytes, der_sig: bytes, *,
                          as_counterparty: bool) -> None:
    """Raise :class:`SignatureError` unless ``der_sig`` is a valid HTLC-tx signature."""
    sighash = remote_htlc_sighash_type(htlc_tx.anchors) if as_counterparty else SIGHASH_ALL
    check_input_signature(htlc_tx.tx, 0, htlc_tx.spent.witness_script,
                          htlc_tx.spent.amount_sat, pubkey, der_sig, sighash)


def _signed(htlc_tx: HtlcTx, remote_sig: bytes, local_sig: bytes, last: bytes) -> Transaction:
    witness = (b"", with_sighash(remote_sig, remote_htlc_sighash_type(htlc_tx.anchors)),
               with_sighash(local_sig), last, htlc_tx.spent.witness_script)
    return replace(htlc_tx.tx, inputs=(replace(htlc_tx.tx.inputs[0], witness=witness),))


def signed_htlc_timeout_tx(htlc_tx: HtlcTx, remote_sig: bytes, local_sig: bytes) -> Transaction:
    """Witness ``0 <remotehtlcsig> <localhtlcsig> <> <script>``."""
    if htlc_tx.success:
        raise CommitmentError("this is an HTLC-success tx; use signed_htlc_success_tx")
    return _signed(htlc_tx, remote_sig, local_sig, b"")


def signed_htlc_success_tx(htlc_tx: HtlcTx, remote_sig: bytes, local_sig: bytes,
                           preimage: bytes) -> Transaction:
    """Witness ``0 <remotehtlcsig> <localhtlcsig> <preimage> <script>``; the preimage is
    checked here so a wrong one is a clear error instead of an invalid broadcast."""
    if not htlc_tx.success:
        raise CommitmentError("this is an HTLC-timeout tx; use signed_htlc_timeout_tx")
    if len(preimage) != 32 or sha256(preimage) != htlc_tx.htlc.payment_hash:
        raise CommitmentError(f"preimage does not match HTLC {htlc_tx.htlc.id}'s payment hash")
    return _signed(htlc_tx, remote_sig, local_sig, preimage)
