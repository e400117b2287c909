"""Properties of the BOLT 3 builders over random channels (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_onchain import alice_spec, make_pair

from wattchain.channels.commitment import (CommitmentSpec, Htlc, HtlcDirection, OutputKind,
                                           Side, build_commitment_tx, commitment_fee_sat,
                                           commitment_locktime_sequence,
                                           extract_commitment_number, is_htlc_trimmed,
                                           obscuring_factor)
from wattchain.channels.errors import CommitmentError
from wattchain.channels.shachain import ShachainStore, commitment_index, commitment_secret
from wattchain.core.hashes import sha256

PAIR = make_pair()

htlc_st = st.builds(
    Htlc, id=st.integers(0, 1_000), direction=st.sampled_from(list(HtlcDirection)),
    amount_msat=st.integers(1, 20_000_000), payment_hash=st.binary(min_size=32, max_size=32),
    cltv_expiry=st.integers(1, 499_999_999))


@st.composite
def specs(draw) -> CommitmentSpec:
    raw = draw(st.lists(htlc_st, max_size=6))
    htlcs, seen = [], set()
    for h in raw:
        if (h.direction, h.id) not in seen:
            seen.add((h.direction, h.id))
            htlcs.append(h)
    in_htlcs = sum(h.amount_msat for h in htlcs)
    to_local = draw(st.integers(0, 1_000_000_000 - in_htlcs))
    to_remote = draw(st.integers(0, 1_000_000_000 - in_htlcs - to_local))
    return CommitmentSpec(draw(st.integers(0, 2**48 - 1)), to_local, to_remote,
                          draw(st.integers(0, 50_000)), tuple(htlcs),
                          draw(st.sampled_from(list(Side))), draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(specs())
def test_commitment_invariants(spec):
    point = PAIR.alice.per_commitment_point(1)
    try:
        c = build_commitment_tx(PAIR.alice_funding, PAIR.alice_cfg, PAIR.bob_cfg, spec, point)
    except CommitmentError as exc:
        # Only an opener too poor for the two anchors (BOLT 2 forbids that state) is refused.
        assert "cannot pay the anchors" in str(exc)
        opener_msat = spec.to_local_msat if spec.opener is Side.LOCAL else spec.to_remote_msat
        assert spec.anchors and opener_msat < 660_000 + commitment_fee_sat(
            spec.feerate_per_kw, len(spec.htlcs), True) * 1000
        return
    values = [o.value for o in c.tx.outputs]
    # Value is conserved: outputs + fee == funding, and the fee is never negative.
    assert sum(values) + c.fee_sat == PAIR.alice_funding.amount_sat and c.fee_sat >= 0
    # BIP69 order by amount, then script.
    keys = [(o.value, o.script_pubkey) for o in c.tx.outputs]
    assert keys == sorted(keys)
    # Every HTLC is either trimmed or has exactly one output with its amount.
    for h in spec.htlcs:
        outs = [o for o in c.outputs if o.htlc == h]
        trimmed = is_htlc_trimmed(h, spec.feerate_per_kw, PAIR.alice_cfg.dust_limit_sat,
                                  spec.anchors)
        assert len(outs) == (0 if trimmed else 1)
        if outs:
            assert outs[0].amount_sat == h.amount_sat
    # The non-opener's balance is never charged.
    kind = OutputKind.TO_REMOTE if spec.opener is Side.LOCAL else OutputKind.TO_LOCAL
    msat = spec.to_remote_msat if spec.opener is Side.LOCAL else spec.to_local_msat
    out = c.output_of(kind)
    assert (out.amount_sat if out else 0) == (msat // 1000 if msat // 1000 >= 546 else 0)
    # The commitment number is recoverable by both parties.
    opener, accepter = ((PAIR.alice_cfg, PAIR.bob_cfg) if spec.opener is Side.LOCAL
                        else (PAIR.bob_cfg, PAIR.alice_cfg))
    factor = obscuring_factor(opener.payment_basepoint, accepter.payment_basepoint)
    assert extract_commitment_number(c.tx, factor) == spec.commitment_number
    assert (c.tx.locktime, c.tx.inputs[0].sequence) \
        == commitment_locktime_sequence(spec.commitment_number ^ factor)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(1, 300))
def test_shachain_store_holds_any_prefix(seed, count):
    store = ShachainStore()
    for n in range(count):
        store.insert(commitment_index(n), commitment_secret(seed, n))
    assert len(store.entries()) <= 49
    for n in (0, count // 2, count - 1):
        assert store.get_commitment_secret(n) == commitment_secret(seed, n)
    assert store.get_commitment_secret(count) is None


def test_mirrored_specs_build_mirrored_commitments():
    """Alice's and Bob's commitments for the same state pay the same amounts to each side."""
    spec = alice_spec(9)
    alice_c = PAIR.alice_commitment(spec)
    bob_c = PAIR.bob_commitment(spec)
    assert alice_c.output_of(OutputKind.TO_LOCAL).amount_sat \
        == bob_c.output_of(OutputKind.TO_REMOTE).amount_sat
    assert alice_c.fee_sat == bob_c.fee_sat
    assert sorted((o.htlc.id, o.htlc.direction.value) for o in alice_c.htlc_outputs()) \
        == sorted((o.htlc.id, o.htlc.direction.other().value) for o in bob_c.htlc_outputs())
    assert sha256(alice_c.tx.serialize()) != sha256(bob_c.tx.serialize())


def test_opener_that_cannot_pay_the_anchors_is_refused():
    spec = CommitmentSpec(0, 0, 999_671_000, 0, (), Side.LOCAL, True)
    point = PAIR.alice.per_commitment_point(0)
    try:
        build_commitment_tx(PAIR.alice_funding, PAIR.alice_cfg, PAIR.bob_cfg, spec, point)
    except CommitmentError as exc:
        assert "cannot pay the anchors" in str(exc) and "by 1 sat" in str(exc)
    else:
        raise AssertionError("a commitment creating value was built")
    # Without anchors the same state is fine (the opener simply has no output).
    c = build_commitment_tx(PAIR.alice_funding, PAIR.alice_cfg, PAIR.bob_cfg,
                            CommitmentSpec(0, 0, 999_671_000, 0, (), Side.LOCAL, False), point)
    assert [o.kind for o in c.outputs] == [OutputKind.TO_REMOTE]
