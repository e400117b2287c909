"""BOLT 3 commitment transactions: building, ordering and funding-key signatures.

A commitment transaction belongs to one side (its *holder*): only the holder can broadcast it,
and the holder's own balance (to_local) is delayed by ``to_self_delay`` and revocable, while
the counterparty's (to_remote) is paid at once. Every amount in :class:`CommitmentSpec` is
therefore seen from the holder: ``to_local_msat`` is the holder's balance, an ``OFFERED`` HTLC
is one the holder pays. To build the counterparty's commitment, use
:meth:`CommitmentSpec.for_counterparty` and swap the two :class:`PartyConfig` arguments.

Conventions (BOLT 2 ``open_channel``): :attr:`PartyConfig.to_self_delay` is the delay a party
*demands of the other side*, so the holder's to_local uses ``counterparty.to_self_delay``, and
the holder's own ``dust_limit_sat`` trims its commitment. ``option_static_remotekey`` is always
on (to_remote pays the counterparty's ``payment_basepoint`` untweaked), as with every modern
channel and as ``option_anchors`` requires.

This module is the channel API's front door: it re-exports the data model (:mod:`.model`), the
fee rules (:mod:`.fees`) and the second-stage HTLC transactions (:mod:`.htlc_tx`).
"""

from __future__ import annotations

from dataclasses import replace

from wattchain.channels.errors import CommitmentError
from wattchain.channels.fees import (commitment_fee_sat, commitment_locktime_sequence,
                                     commitment_weight, extract_commitment_number,
                                     extract_obscured_number, htlc_success_fee_sat,
                                     htlc_timeout_fee_sat, is_htlc_trimmed,
                                     obscure_commitment_number, obscuring_factor)
from wattchain.channels.htlc_tx import (HtlcTx, build_htlc_success_tx, build_htlc_timeout_tx,
                                        build_htlc_txs, remote_htlc_sighash_type, sign_htlc_tx,
                                        signed_htlc_success_tx, signed_htlc_timeout_tx,
                                        verify_htlc_signature)
from wattchain.channels.model import (ChannelKeys, CommitmentKeys, CommitmentOutput,
                                      CommitmentSpec, CommitmentTx, Funding, Htlc,
                                      HtlcDirection, OutputKind, PartyConfig, Side)
from wattchain.channels.scripts import (ANCHOR_OUTPUT_SAT, anchor_script,
                                        to_remote_anchors_script, to_remote_p2wpkh)
from wattchain.channels.signing import (check_input_signature, input_sighash, sign_input,
                                        with_sighash)
from wattchain.core.tx import Transaction, TxIn
from wattchain.script.standard import p2wsh

# ---------------------------------------------------------------------------- building
def _check_spec(spec: CommitmentSpec, funding: Funding) -> None:
    if spec.feerate_per_kw < 0:
        raise CommitmentError("feerate_per_kw must not be negative")
    if spec.to_local_msat < 0 or spec.to_remote_msat < 0:
        raise CommitmentError("balances must not be negative")
    total = spec.to_local_msat + spec.to_remote_msat + sum(h.amount_msat for h in spec.htlcs)
    if total > funding.amount_sat * 1000:
        raise CommitmentError(f"balances and HTLCs ({total} msat) exceed the funding amount "
                              f"({funding.amount_sat} sat)")
    seen: set[tuple[HtlcDirection, int]] = set()
    for htlc in spec.htlcs:
        if htlc.amount_msat <= 0:
            raise CommitmentError(f"HTLC {htlc.id} has a non-positive amount")
        if (htlc.direction, htlc.id) in seen:
            raise CommitmentError(f"duplicate {htlc.direction.value} HTLC id {htlc.id}")
        seen.add((htlc.direction, htlc.id))


def build_commitment_tx(funding: Funding, holder: PartyConfig, counterparty: PartyConfig,
                        spec: CommitmentSpec, per_commitment_point: bytes,
                        keys: CommitmentKeys | None = None) -> CommitmentTx:
    """The holder's unsigned commitment tx for ``spec`` (BOLT 3 "Commitment Transaction
    Construction"): trim HTLCs, take the fee (and anchors) from the opener, drop dust balances,
    add anchors, then order outputs by BIP69 with CLTV expiry breaking HTLC ties.

    ``keys`` may pass the :class:`CommitmentKeys` of an earlier build with the same configs
    and point (key derivation is most of the cost of a build); it must match them."""
    _check_spec(spec, funding)
    if holder.funding_pubkey != funding.local_funding_pubkey \
            or counterparty.funding_pubkey != funding.remote_funding_pubkey:
        raise CommitmentError("funding pubkeys do not match the holder/counterparty configs")
    if keys is None:
        keys = CommitmentKeys.derive(holder, counterparty, per_commitment_point)
    elif keys.per_commitment_point != per_commitment_point \
            or keys.local_funding_pubkey != holder.funding_pubkey \
            or keys.to_remote_pubkey != counterparty.payment_basepoint:
        raise CommitmentError("precomputed keys belong to another commitment or channel")
    anchors = spec.anchors
    dust = holder.dust_limit_sat
    untrimmed = [h for h in spec.htlcs
                 if not is_htlc_trimmed(h, spec.feerate_per_kw, dust, anchors)]
    fee = commitment_fee_sat(spec.feerate_per_kw, len(untrimmed), anchors)
    opener_cost_msat = (fee + (2 * ANCHOR_OUTPUT_SAT if anchors else 0)) * 1000
    to_local_msat, to_remote_msat = spec.to_local_msat, spec.to_remote_msat
    if spec.opener is Side.LOCAL:
        to_local_msat = max(0, to_local_msat - opener_cost_msat)
    else:
        to_remote_msat = max(0, to_remote_msat - opener_cost_msat)

    # (sort key, kind, amount, script_pubkey, witness_script, htlc)
    pending: list[tuple[OutputKind, int, bytes, bytes, Htlc | None]] = []
    has_local = to_local_msat // 1000 >= dust
    has_remote = to_remote_msat // 1000 >= dust
    if has_local:
        script = keys.to_local_script()
        pending.append((OutputKind.TO_LOCAL, to_local_msat // 1000, p2wsh(script), script, None))
    if has_remote:
        if anchors:
            script = to_remote_anchors_script(keys.to_remote_pubkey)
            pending.append((OutputKind.TO_REMOTE, to_remote_msat // 1000, p2wsh(script),
                            script, None))
        else:
            pending.append((OutputKind.TO_REMOTE, to_remote_msat // 1000,
                            to_remote_p2wpkh(keys.to_remote_pubkey), b"", None))
    for htlc in untrimmed:
        script = keys.htlc_script(htlc, anchors)
        kind = (OutputKind.OFFERED_HTLC if htlc.direction is HtlcDirection.OFFERED
                else OutputKind.RECEIVED_HTLC)
        pending.append((kind, htlc.amount_sat, p2wsh(script), script, htlc))
    if anchors:
        if has_local or untrimmed:
            script = anchor_script(keys.local_funding_pubkey)
            pending.append((OutputKind.LOCAL_ANCHOR, ANCHOR_OUTPUT_SAT, p2wsh(script), script,
                            None))
        if has_remote or untrimmed:
            script = anchor_script(keys.remote_funding_pubkey)
            pending.append((OutputKind.REMOTE_ANCHOR, ANCHOR_OUTPUT_SAT, p2wsh(script), script,
                            None))
    pending.sort(key=lambda p: (p[1], p[2], p[4].cltv_expiry if p[4] is not None else 0))
    outputs = tuple(CommitmentOutput(i, kind, amount, spk, wscript, htlc)
                    for i, (kind, amount, spk, wscript, htlc) in enumerate(pending))

    opener_cfg, accepter_cfg = ((holder, counterparty) if spec.opener is Side.LOCAL
                                else (counterparty, holder))
    factor = obscuring_factor(opener_cfg.payment_basepoint, accepter_cfg.payment_basepoint)
    obscured = obscure_commitment_number(spec.commitment_number, factor)
    locktime, sequence = commitment_locktime_sequence(obscured)
    tx = Transaction(version=2,
                     inputs=(TxIn(funding.outpoint, b"", sequence),),
                     outputs=tuple(o.txout for o in outputs), locktime=locktime)
    actual_fee = funding.amount_sat - sum(o.amount_sat for o in outputs)
    if actual_fee < 0:  # only possible with anchors: BOLT 2 requires the opener to afford them
        raise CommitmentError(f"the opener cannot pay the anchors: outputs exceed the funding "
                              f"amount by {-actual_fee} sat")
    return CommitmentTx(tx, outputs, funding, keys, spec, actual_fee, obscured)


# ---------------------------------------------------------------------------- signatures
def commitment_sighash(commitment: CommitmentTx) -> bytes:
    """BIP143 SIGHASH_ALL digest both funding keys sign."""
    return input_sighash(commitment.tx, 0, commitment.funding.witness_script,
                         commitment.funding.amount_sat)


def sign_commitment(commitment: CommitmentTx, funding_privkey: bytes) -> bytes:
    """DER signature (no sighash byte) of a commitment with one funding key."""
    return sign_input(commitment.tx, 0, commitment.funding.witness_script,
                      commitment.funding.amount_sat, funding_privkey)


def verify_commitment_signature(commitment: CommitmentTx, funding_pubkey: bytes,
                                der_sig: bytes) -> None:
    """Raise :class:`SignatureError` unless ``der_sig`` signs the commitment."""
    check_input_signature(commitment.tx, 0, commitment.funding.witness_script,
                          commitment.funding.amount_sat, funding_pubkey, der_sig)


def funding_witness(funding: Funding, local_sig: bytes, remote_sig: bytes) -> tuple[bytes, ...]:
    """``0 <sig1> <sig2> <script>`` with signatures in the script's key order (SIGHASH_ALL)."""
    first_is_local = funding.local_funding_pubkey <= funding.remote_funding_pubkey
    sigs = (local_sig, remote_sig) if first_is_local else (remote_sig, local_sig)
    return (b"", with_sighash(sigs[0]), with_sighash(sigs[1]), funding.witness_script)


def signed_commitment_tx(commitment: CommitmentTx, local_sig: bytes,
                         remote_sig: bytes) -> Transaction:
    """The broadcastable commitment: both funding signatures in the witness. ``local_sig`` is
    the holder's (made with ``funding.local_funding_pubkey``)."""
    txin = replace(commitment.tx.inputs[0],
                   witness=funding_witness(commitment.funding, local_sig, remote_sig))
    return replace(commitment.tx, inputs=(txin,))


__all__ = [
    "Side", "HtlcDirection", "OutputKind", "PartyConfig", "ChannelKeys", "Htlc",
    "CommitmentSpec", "Funding", "CommitmentKeys", "CommitmentOutput", "CommitmentTx",
    "obscuring_factor", "obscure_commitment_number", "commitment_locktime_sequence",
    "extract_obscured_number", "extract_commitment_number", "commitment_weight",
    "commitment_fee_sat", "htlc_timeout_fee_sat", "htlc_success_fee_sat", "is_htlc_trimmed",
    "build_commitment_tx", "commitment_sighash", "sign_commitment",
    "verify_commitment_signature", "funding_witness", "signed_commitment_tx",
    "HtlcTx", "build_htlc_success_tx", "build_htlc_timeout_tx", "build_htlc_txs",
    "remote_htlc_sighash_type", "sign_htlc_tx", "signed_htlc_success_tx",
    "signed_htlc_timeout_tx", "verify_htlc_signature",
]
