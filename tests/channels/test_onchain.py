"""On-chain resolution: penalty, CSV sweeps, HTLC claims and the cooperative close.

Every transaction built here is checked through wattchain's script interpreter
(``verify_input`` with consensus flags) against the outputs it spends; timelocks are checked
with the consensus finality / BIP68 functions the block validator uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from wattchain.channels.commitment import (ChannelKeys, CommitmentSpec, CommitmentTx, Funding,
                                           Htlc, HtlcDirection, OutputKind, PartyConfig, Side,
                                           build_commitment_tx, build_htlc_success_tx,
                                           build_htlc_timeout_tx, sign_commitment,
                                           sign_htlc_tx, signed_commitment_tx,
                                           signed_htlc_success_tx, signed_htlc_timeout_tx)
from wattchain.channels.errors import OnchainError
from wattchain.channels.keys import derive_privkey, derive_revocation_privkey
from wattchain.channels.onchain import (build_closing_tx, build_htlc_tx_penalty,
                                        build_penalty_tx, claim_htlc_after_timeout,
                                        claim_htlc_with_preimage, delayed_sweep_input,
                                        identify_revoked_commitment, penalty_for_revoked,
                                        sign_closing_tx, signed_closing_tx, sweep,
                                        sweep_htlc_tx_output, sweep_to_local, sweep_to_remote,
                                        verify_closing_signature)
from wattchain.channels.shachain import ShachainStore, commitment_index
from wattchain.consensus.context import ListChainContext
from wattchain.consensus.tx_verify import (CONSENSUS_LOCKTIME_FLAGS, check_sequence_locks,
                                           is_final_tx)
from wattchain.core.hashes import hash160, sha256
from wattchain.core.tx import OutPoint, Transaction
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import CONSENSUS_FLAGS, STANDARD_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.standard import p2wpkh

FUNDING_SAT = 1_000_000
ALICE_DELAY = 144  # Alice demands this of Bob's to_local
BOB_DELAY = 20     # Bob demands this of Alice's to_local
DEST = p2wpkh(hash160(b"\x02" * 33))
PREIMAGES = {i: sha256(b"preimage %d" % i) for i in range(4)}


def _keys(tag: bytes) -> ChannelKeys:
    return ChannelKeys(*(sha256(tag + part) for part in
                         (b"fund", b"rev", b"pay", b"delay", b"htlc", b"seed")))


@dataclass(frozen=True)
class Pair:
    alice: ChannelKeys
    bob: ChannelKeys
    alice_cfg: PartyConfig
    bob_cfg: PartyConfig
    alice_funding: Funding  # Alice's view (local = Alice)
    bob_funding: Funding

    def alice_commitment(self, spec: CommitmentSpec) -> CommitmentTx:
        return build_commitment_tx(self.alice_funding, self.alice_cfg, self.bob_cfg, spec,
                                   self.alice.per_commitment_point(spec.commitment_number))

    def bob_commitment(self, alice_spec: CommitmentSpec) -> CommitmentTx:
        spec = alice_spec.for_counterparty()
        return build_commitment_tx(self.bob_funding, self.bob_cfg, self.alice_cfg, spec,
                                   self.bob.per_commitment_point(spec.commitment_number))

    def signed(self, commitment: CommitmentTx, holder: ChannelKeys,
               counterparty: ChannelKeys) -> Transaction:
        return signed_commitment_tx(commitment, sign_commitment(commitment, holder.funding_privkey),
                                    sign_commitment(commitment, counterparty.funding_privkey))


def make_pair() -> Pair:
    alice, bob = _keys(b"alice"), _keys(b"bob")
    alice_cfg = alice.config(ALICE_DELAY, 546)
    bob_cfg = bob.config(BOB_DELAY, 546)
    outpoint = OutPoint(sha256(b"funding tx"), 1)
    return Pair(alice, bob, alice_cfg, bob_cfg,
                Funding(outpoint, FUNDING_SAT, alice_cfg.funding_pubkey, bob_cfg.funding_pubkey),
                Funding(outpoint, FUNDING_SAT, bob_cfg.funding_pubkey, alice_cfg.funding_pubkey))


def alice_spec(number: int, anchors: bool = False) -> CommitmentSpec:
    """Alice (opener) 600k, Bob 370k, two HTLCs each way (from Alice's side)."""
    htlcs = (Htlc(0, HtlcDirection.OFFERED, 10_000_000, sha256(PREIMAGES[0]), 500),
             Htlc(1, HtlcDirection.OFFERED, 5_000_000, sha256(PREIMAGES[1]), 510),
             Htlc(0, HtlcDirection.RECEIVED, 8_000_000, sha256(PREIMAGES[2]), 505),
             Htlc(1, HtlcDirection.RECEIVED, 7_000_000, sha256(PREIMAGES[3]), 520))
    return CommitmentSpec(number, 600_000_000, 370_000_000, 2_000, htlcs, Side.LOCAL, anchors)


def _verify_all(tx: Transaction, spent: dict[OutPoint, object],
                flags=CONSENSUS_FLAGS) -> None:
    for index, txin in enumerate(tx.inputs):
        verify_input(tx, index, spent[txin.prevout], flags)


def _outputs_by_outpoint(tx: Transaction) -> dict[OutPoint, object]:
    return {OutPoint(tx.txid, i): out for i, out in enumerate(tx.outputs)}


def _bip68_ok(tx: Transaction, confirmed_height: int, block_height: int) -> bool:
    """Could ``tx`` go into a block at ``block_height`` if its inputs confirmed at
    ``confirmed_height``?"""
    ctx = ListChainContext(times=tuple(range(1_000, 1_000 + block_height)))
    return check_sequence_locks(tx, CONSENSUS_LOCKTIME_FLAGS,
                                [confirmed_height] * len(tx.inputs), ctx)


# ---------------------------------------------------------------------------- penalty
@pytest.mark.parametrize("anchors", [False, True])
def test_penalty_sweeps_every_output_of_a_revoked_commitment(anchors):
    pair = make_pair()
    # Bob's commitment #0, then he moves to #1 and reveals secret #0 to Alice.
    spec0 = alice_spec(0, anchors)
    revoked_commitment = pair.bob_commitment(spec0)
    revoked_tx = pair.signed(revoked_commitment, pair.bob, pair.alice)
    verify_input(revoked_tx, 0, pair.alice_funding.txout, CONSENSUS_FLAGS)
    revealed = ShachainStore()
    revealed.insert(commitment_index(0), pair.bob.per_commitment_secret(0))
    current_tx = pair.signed(pair.bob_commitment(replace(spec0, commitment_number=1)),
                             pair.bob, pair.alice)

    opener_bp, accepter_bp = pair.alice_cfg.payment_basepoint, pair.bob_cfg.payment_basepoint
    assert identify_revoked_commitment(current_tx, pair.alice_funding, opener_bp, accepter_bp,
                                       revealed) is None
    revoked = identify_revoked_commitment(revoked_tx, pair.alice_funding, opener_bp,
                                          accepter_bp, revealed)
    assert revoked is not None and revoked.commitment_number == 0
    assert revoked.txid == revoked_tx.txid

    fee = 5_000
    penalty = penalty_for_revoked(revoked_tx, revoked, pair.alice_funding, pair.alice_cfg,
                                  pair.bob_cfg, spec0.for_counterparty(),
                                  pair.alice.revocation_basepoint_secret, DEST, fee,
                                  payment_privkey=pair.alice.payment_basepoint_secret)
    anchor_kinds = (OutputKind.LOCAL_ANCHOR, OutputKind.REMOTE_ANCHOR)
    wanted = {OutPoint(revoked_tx.txid, o.index) for o in revoked_commitment.outputs
              if o.kind not in anchor_kinds}
    assert {txin.prevout for txin in penalty.inputs} == wanted
    assert len(wanted) == 6  # to_local, to_remote and four HTLCs
    if anchors:
        assert len(revoked_commitment.outputs) == 8
    _verify_all(penalty, _outputs_by_outpoint(revoked_tx), STANDARD_FLAGS)
    taken = sum(revoked_tx.outputs[p.index].value for p in wanted)
    assert penalty.outputs[0].value == taken - fee and penalty.outputs[0].script_pubkey == DEST
    # Without to_remote the penalty still takes to_local and every HTLC.
    rev_key = derive_revocation_privkey(pair.alice.revocation_basepoint_secret,
                                        pair.bob.per_commitment_secret(0))
    partial = build_penalty_tx(revoked_commitment, rev_key, DEST, fee)
    assert len(partial.inputs) == 5
    _verify_all(partial, _outputs_by_outpoint(revoked_tx))


def test_penalty_needs_the_revealed_secret_and_matching_spec():
    pair = make_pair()
    spec0 = alice_spec(0)
    bob0 = pair.bob_commitment(spec0)
    revoked_tx = pair.signed(bob0, pair.bob, pair.alice)
    # A wrong revocation key (a secret Bob has not revealed) is refused up front.
    wrong = derive_revocation_privkey(pair.alice.revocation_basepoint_secret,
                                      pair.bob.per_commitment_secret(1))
    with pytest.raises(OnchainError, match="revocation pubkey"):
        build_penalty_tx(bob0, wrong, DEST, 1_000)
    # The delayed (non-revocation) branch is not spendable by Alice's revocation signature.
    rev_key = derive_revocation_privkey(pair.alice.revocation_basepoint_secret,
                                        pair.bob.per_commitment_secret(0))
    penalty = build_penalty_tx(bob0, rev_key, DEST, 1_000)
    to_local_in = next(i for i, t in enumerate(penalty.inputs)
                       if t.prevout.index == bob0.output_of(OutputKind.TO_LOCAL).index)
    stack = penalty.inputs[to_local_in].witness
    forged = replace(penalty.inputs[to_local_in], witness=(stack[0], b"", stack[2]))
    bad = replace(penalty, inputs=penalty.inputs[:to_local_in] + (forged,)
                  + penalty.inputs[to_local_in + 1:])
    with pytest.raises(ScriptError):
        verify_input(bad, to_local_in, revoked_tx.outputs[forged.prevout.index],
                     CONSENSUS_FLAGS)
    # A stored spec that does not rebuild the on-chain tx is an error, not a bogus penalty.
    revealed = ShachainStore()
    revealed.insert(commitment_index(0), pair.bob.per_commitment_secret(0))
    revoked = identify_revoked_commitment(revoked_tx, pair.alice_funding,
                                          pair.alice_cfg.payment_basepoint,
                                          pair.bob_cfg.payment_basepoint, revealed)
    other_spec = replace(spec0, to_local_msat=spec0.to_local_msat - 1_000_000,
                         to_remote_msat=spec0.to_remote_msat + 1_000_000).for_counterparty()
    with pytest.raises(OnchainError, match="does not rebuild"):
        penalty_for_revoked(revoked_tx, revoked, pair.alice_funding, pair.alice_cfg,
                            pair.bob_cfg, other_spec, pair.alice.revocation_basepoint_secret,
                            DEST, 1_000)
    with pytest.raises(OnchainError, match="below the swept"):
        build_penalty_tx(bob0, rev_key, DEST, FUNDING_SAT)


def test_penalty_on_a_revoked_second_stage_htlc_tx():
    """Bob publishes his revoked commitment and at once an HTLC-timeout from it (signed by
    Alice back then): its output is revocable by the same key."""
    pair = make_pair()
    spec0 = alice_spec(0)
    bob0 = pair.bob_commitment(spec0)
    revoked_tx = pair.signed(bob0, pair.bob, pair.alice)
    out = next(o for o in bob0.htlc_outputs() if o.htlc.direction is HtlcDirection.OFFERED)
    htlc_tx = build_htlc_timeout_tx(bob0, out)
    point = bob0.keys.per_commitment_point
    alice_sig = sign_htlc_tx(htlc_tx, derive_privkey(pair.alice.htlc_basepoint_secret, point),
                             as_counterparty=True)
    bob_sig = sign_htlc_tx(htlc_tx, derive_privkey(pair.bob.htlc_basepoint_secret, point),
                           as_counterparty=False)
    timeout_tx = signed_htlc_timeout_tx(htlc_tx, alice_sig, bob_sig)
    verify_input(timeout_tx, 0, revoked_tx.outputs[out.index], CONSENSUS_FLAGS)
    rev_key = derive_revocation_privkey(pair.alice.revocation_basepoint_secret,
                                        pair.bob.per_commitment_secret(0))
    penalty = build_htlc_tx_penalty(timeout_tx, bob0, rev_key, DEST, 500)
    assert penalty.outputs[0].value == timeout_tx.outputs[0].value - 500
    verify_input(penalty, 0, timeout_tx.outputs[0], CONSENSUS_FLAGS)
    with pytest.raises(OnchainError, match="not a second-stage"):
        build_htlc_tx_penalty(revoked_tx, bob0, rev_key, DEST, 500)


# ---------------------------------------------------------------------------- our commitment
def test_to_local_sweep_waits_for_the_csv_delay():
    pair = make_pair()
    commitment = pair.alice_commitment(alice_spec(3))
    commit_tx = pair.signed(commitment, pair.alice, pair.bob)
    delayed_key = derive_privkey(pair.alice.delayed_payment_basepoint_secret,
                                 commitment.keys.per_commitment_point)
    assert commitment.keys.to_self_delay == BOB_DELAY
    sweep_tx = sweep_to_local(commitment, delayed_key, DEST, 1_000)
    out = commitment.output_of(OutputKind.TO_LOCAL)
    assert sweep_tx.inputs[0].sequence == BOB_DELAY and sweep_tx.version == 2
    verify_input(sweep_tx, 0, commit_tx.outputs[out.index], STANDARD_FLAGS)
    # BIP68: confirmed at height 100, the sweep is valid from block 120 on.
    assert not _bip68_ok(sweep_tx, 100, 119)
    assert _bip68_ok(sweep_tx, 100, 120)
    # An input sequence shorter than the delay fails OP_CHECKSEQUENCEVERIFY in the script.
    early = sweep([delayed_sweep_input(OutPoint(commit_tx.txid, out.index), out.amount_sat,
                                       out.witness_script, BOB_DELAY - 1, delayed_key)],
                  DEST, 1_000)
    with pytest.raises(ScriptError) as info:
        verify_input(early, 0, commit_tx.outputs[out.index], CONSENSUS_FLAGS)
    assert info.value.code is ScriptErrorCode.UNSATISFIED_LOCKTIME
    with pytest.raises(OnchainError, match="does not match"):
        sweep_to_local(commitment, pair.alice.delayed_payment_basepoint_secret, DEST, 1_000)


@pytest.mark.parametrize("anchors", [False, True])
def test_second_stage_htlc_txs_on_our_commitment(anchors):
    """Alice's own commitment: HTLC-success with the preimage at once, HTLC-timeout only
    after the CLTV expiry; both outputs are swept after the CSV delay."""
    pair = make_pair()
    commitment = pair.alice_commitment(alice_spec(4, anchors))
    commit_tx = pair.signed(commitment, pair.alice, pair.bob)
    point = commitment.keys.per_commitment_point
    alice_htlc = derive_privkey(pair.alice.htlc_basepoint_secret, point)
    bob_htlc = derive_privkey(pair.bob.htlc_basepoint_secret, point)
    delayed_key = derive_privkey(pair.alice.delayed_payment_basepoint_secret, point)

    received = commitment.htlc_output(HtlcDirection.RECEIVED, 0)
    success = build_htlc_success_tx(commitment, received)
    success_tx = signed_htlc_success_tx(
        success, sign_htlc_tx(success, bob_htlc, as_counterparty=True),
        sign_htlc_tx(success, alice_htlc, as_counterparty=False), PREIMAGES[2])
    verify_input(success_tx, 0, commit_tx.outputs[received.index], STANDARD_FLAGS)
    assert is_final_tx(success_tx, 1, 0)
    # A witness with the wrong preimage fails in the script.
    stack = success_tx.inputs[0].witness
    wrong = replace(success_tx, inputs=(replace(success_tx.inputs[0], witness=stack[:3]
                                                + (PREIMAGES[3],) + stack[4:]),))
    with pytest.raises(ScriptError):
        verify_input(wrong, 0, commit_tx.outputs[received.index], CONSENSUS_FLAGS)

    offered = commitment.htlc_output(HtlcDirection.OFFERED, 1)
    timeout = build_htlc_timeout_tx(commitment, offered)
    timeout_tx = signed_htlc_timeout_tx(
        timeout, sign_htlc_tx(timeout, bob_htlc, as_counterparty=True),
        sign_htlc_tx(timeout, alice_htlc, as_counterparty=False))
    verify_input(timeout_tx, 0, commit_tx.outputs[offered.index], STANDARD_FLAGS)
    assert timeout_tx.locktime == 510
    assert not is_final_tx(timeout_tx, 510, 0) and is_final_tx(timeout_tx, 511, 0)
    if anchors:
        assert _bip68_ok(timeout_tx, 100, 101) and not _bip68_ok(timeout_tx, 100, 100)

    for htlc_tx, signed in ((success, success_tx), (timeout, timeout_tx)):
        claim = sweep_htlc_tx_output(htlc_tx, signed, delayed_key, DEST, 300)
        verify_input(claim, 0, signed.outputs[0], STANDARD_FLAGS)
        assert not _bip68_ok(claim, 200, 200 + BOB_DELAY - 1)
        assert _bip68_ok(claim, 200, 200 + BOB_DELAY)


# ---------------------------------------------------------------------------- their commitment
@pytest.mark.parametrize("anchors", [False, True])
def test_claims_on_the_counterpartys_commitment(anchors):
    """Bob broadcast his current commitment: Alice takes to_remote at once, the HTLC Bob
    offered her with its preimage, and the HTLC she offered Bob after its CLTV expiry."""
    pair = make_pair()
    bob0 = pair.bob_commitment(alice_spec(7, anchors))
    bob_tx = pair.signed(bob0, pair.bob, pair.alice)
    alice_htlc = derive_privkey(pair.alice.htlc_basepoint_secret, bob0.keys.per_commitment_point)

    to_remote = sweep_to_remote(bob0, pair.alice.payment_basepoint_secret, DEST, 500)
    verify_input(to_remote, 0, bob_tx.outputs[to_remote.inputs[0].prevout.index],
                 STANDARD_FLAGS)

    # Alice's received HTLC 0 (preimage 2) is OFFERED on Bob's commitment.
    theirs_offered = bob0.htlc_output(HtlcDirection.OFFERED, 0)
    assert theirs_offered.htlc.payment_hash == sha256(PREIMAGES[2])
    claim = claim_htlc_with_preimage(bob0, theirs_offered, alice_htlc, PREIMAGES[2], DEST, 500)
    verify_input(claim, 0, bob_tx.outputs[theirs_offered.index], STANDARD_FLAGS)
    with pytest.raises(OnchainError, match="preimage"):
        claim_htlc_with_preimage(bob0, theirs_offered, alice_htlc, PREIMAGES[3], DEST, 500)

    # Alice's offered HTLC 1 (cltv 510) is RECEIVED on Bob's commitment.
    theirs_received = bob0.htlc_output(HtlcDirection.RECEIVED, 1)
    refund = claim_htlc_after_timeout(bob0, theirs_received, alice_htlc, DEST, 500)
    assert refund.locktime == 510
    verify_input(refund, 0, bob_tx.outputs[theirs_received.index], STANDARD_FLAGS)
    assert not is_final_tx(refund, 510, 0) and is_final_tx(refund, 511, 0)
    early = replace(refund, locktime=509)  # fails CLTV before the signature is even checked
    with pytest.raises(ScriptError) as info:
        verify_input(early, 0, bob_tx.outputs[theirs_received.index], CONSENSUS_FLAGS)
    assert info.value.code is ScriptErrorCode.UNSATISFIED_LOCKTIME
    with pytest.raises(OnchainError, match="timeout path"):
        claim_htlc_after_timeout(bob0, theirs_offered, alice_htlc, DEST, 500)


# ---------------------------------------------------------------------------- cooperative close
@pytest.mark.parametrize("opener", [Side.LOCAL, Side.REMOTE])
def test_cooperative_close_pays_exact_balances(opener):
    pair = make_pair()
    alice_script, bob_script = p2wpkh(hash160(b"\x03" * 33)), p2wpkh(hash160(b"\x02" * 33))
    fee = 1_234
    closing = build_closing_tx(pair.alice_funding, alice_script, bob_script,
                               to_local_msat=612_345_678, to_remote_msat=387_654_322,
                               fee_sat=fee, opener=opener, dust_limit_sat=546)
    alice_sig = sign_closing_tx(closing, pair.alice.funding_privkey)
    bob_sig = sign_closing_tx(closing, pair.bob.funding_privkey)
    verify_closing_signature(closing, pair.bob_cfg.funding_pubkey, bob_sig)
    tx = signed_closing_tx(closing, alice_sig, bob_sig)
    verify_input(tx, 0, pair.alice_funding.txout, STANDARD_FLAGS)
    paid = {out.script_pubkey: out.value for out in tx.outputs}
    alice_fee, bob_fee = (fee, 0) if opener is Side.LOCAL else (0, fee)
    assert paid == {alice_script: 612_345 - alice_fee, bob_script: 387_654 - bob_fee}
    assert tx.inputs[0].sequence == 0xFFFFFFFF and tx.locktime == 0 and tx.version == 2
    assert [o.value for o in tx.outputs] == sorted(o.value for o in tx.outputs)
    # Bob builds the same bytes from his side (local/remote swapped).
    mirror = build_closing_tx(pair.bob_funding, bob_script, alice_script,
                              to_local_msat=387_654_322, to_remote_msat=612_345_678,
                              fee_sat=fee, opener=opener.other(), dust_limit_sat=546)
    assert mirror.tx == closing.tx
    assert signed_closing_tx(mirror, bob_sig, alice_sig) == tx


def test_cooperative_close_edge_cases():
    pair = make_pair()
    a, b = p2wpkh(hash160(b"\x03" * 33)), p2wpkh(hash160(b"\x02" * 33))
    closing = build_closing_tx(pair.alice_funding, a, b, 999_600_000, 400_000, 1_000,
                               Side.LOCAL, 546)
    assert [o.script_pubkey for o in closing.tx.outputs] == [a]  # Bob's 400 sat is dust
    assert closing.remote_amount_sat == 0 and closing.fee_sat == 1_400
    with pytest.raises(OnchainError, match="cannot pay"):
        build_closing_tx(pair.alice_funding, a, b, 500_000, 999_500_000, 1_000, Side.LOCAL, 546)
    with pytest.raises(OnchainError, match="exceed"):
        build_closing_tx(pair.alice_funding, a, b, FUNDING_SAT * 1000, 1, 0, Side.LOCAL, 546)
    tx = signed_closing_tx(closing, sign_closing_tx(closing, pair.alice.funding_privkey),
                           sign_closing_tx(closing, pair.alice.funding_privkey))
    with pytest.raises(ScriptError):  # Alice cannot close alone
        verify_input(tx, 0, pair.alice_funding.txout, CONSENSUS_FLAGS)
