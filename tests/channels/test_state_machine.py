"""The sans-I/O channel state machine: both sides' HTLC sets and balances through the BOLT 2
update dance, every protocol violation rejected with a typed error and no state change, and
the stored state equal to the live one."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from pair import channel_pair, exchange

from wattchain.channels import messages as m
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.state import ChannelStateError, ProtocolError
from wattchain.channels.store import ChannelStore

PRE = [hashlib.sha256(b"pre%d" % i).digest() for i in range(10)]
HASH = [hashlib.sha256(p).digest() for p in PRE]


def test_htlcs_in_both_directions_settle_with_exact_balances() -> None:
    a, b = channel_pair(funding_sat=1_000_000, push_msat=100_000_000)
    _, add0 = a.add_htlc(30_000_000, HASH[0], 500)
    _, add1 = a.add_htlc(20_000_000, HASH[1], 500)
    b.receive_add(add0), b.receive_add(add1)
    _, add2 = b.add_htlc(5_000_000, HASH[2], 500)
    a.receive_add(add2)
    exchange(a, b)
    # all three HTLCs in both sides' current commitments, balances reduced by them
    for chan in (a, b):
        ctn = chan.log.latest[LOCAL]
        assert len(chan.log.htlcs_in(LOCAL, ctn)) == 3
    assert a.balance_msat(LOCAL, LOCAL, a.log.latest[LOCAL]) == 900_000_000 - 50_000_000
    assert len(a.txs.commitment(LOCAL, a.log.latest[LOCAL]).htlc_outputs()) == 3
    a.receive_fulfill(b.fulfill_htlc(0, PRE[0]))
    a.receive_fail(b.fail_htlc(1, b"no"))
    b.receive_fulfill(a.fulfill_htlc(0, PRE[2]))
    exchange(b, a)
    assert not a.log.unresolved() and not b.log.unresolved()
    assert a.closing_balances_msat() == {LOCAL: 900_000_000 - 30_000_000 + 5_000_000,
                                         REMOTE: 100_000_000 + 30_000_000 - 5_000_000}
    assert b.closing_balances_msat() == {LOCAL: a.closing_balances_msat()[REMOTE],
                                         REMOTE: a.closing_balances_msat()[LOCAL]}
    # both sides build byte-identical commitments for each holder
    for holder, mirror in ((a, b), (b, a)):
        ctn = holder.log.latest[LOCAL]
        assert holder.txs.commitment(LOCAL, ctn).tx == mirror.txs.commitment(REMOTE, ctn).tx


def _snapshot(chan):  # type: ignore[no-untyped-def]
    return (chan.header_record(), {k: e.to_record() for k, e in chan.log.entries.items()})


def test_bad_commitment_signature_is_refused_without_state_change() -> None:
    a, b = channel_pair()
    _, add = a.add_htlc(10_000_000, HASH[0], 500)
    b.receive_add(add)
    good = a.sign_next_remote()
    before = _snapshot(b)
    other = channel_pair(funding_sat=1_000_001)[0]  # same keys, different funding amount
    forged = m.CommitmentSigned(good.channel_id, other.txs.sign_remote(1)[0],
                                good.htlc_signatures)
    with pytest.raises(ProtocolError, match="bad commitment signature"):
        b.receive_commitment_signed(forged)
    with pytest.raises(ProtocolError, match="htlc signatures"):
        b.receive_commitment_signed(replace(good, htlc_signatures=[]))
    assert _snapshot(b) == before
    a.receive_revoke_and_ack(b.receive_commitment_signed(good))  # the real one still works


def test_wrong_revocation_secret_is_refused() -> None:
    a, b = channel_pair()
    _, add = a.add_htlc(10_000_000, HASH[0], 500)
    b.receive_add(add)
    rev = b.receive_commitment_signed(a.sign_next_remote())
    before = _snapshot(a)
    with pytest.raises(ProtocolError, match="does not match the commitment point"):
        a.receive_revoke_and_ack(replace(rev, per_commitment_secret=b"\x01" * 32))
    assert _snapshot(a) == before
    a.receive_revoke_and_ack(rev)
    with pytest.raises(ProtocolError, match="without a pending commitment"):
        a.receive_revoke_and_ack(rev)


def test_update_violations() -> None:
    a, b = channel_pair(funding_sat=100_000)
    with pytest.raises(ChannelStateError, match="insufficient balance"):
        a.add_htlc(100_000_000, HASH[0], 500)
    with pytest.raises(ProtocolError, match="exceeds the sender's balance"):
        b.receive_add(m.UpdateAddHtlc(a.channel_id, 0, 200_000_000, HASH[0], 500, b""))
    b2 = channel_pair(funding_sat=100_000)[1]
    with pytest.raises(ProtocolError, match="out of order"):
        b2.receive_add(m.UpdateAddHtlc(a.channel_id, 5, 1000, HASH[0], 500, b""))
    _, add = a.add_htlc(10_000_000, HASH[0], 500)
    b2.receive_add(add)
    with pytest.raises(ChannelStateError, match="not irrevocably committed"):
        b2.fulfill_htlc(0, PRE[0])          # fulfilling before lock-in is not allowed
    with pytest.raises(ChannelStateError, match="preimage does not match"):
        b2.fulfill_htlc(0, PRE[1])
    a2, b3 = channel_pair()
    _, add = a2.add_htlc(10_000_000, HASH[0], 500)
    b3.receive_add(add)
    exchange(a2, b3)
    with pytest.raises(ProtocolError, match="preimage does not match"):
        a2.receive_fulfill(m.UpdateFulfillHtlc(a2.channel_id, 0, PRE[1]))
    with pytest.raises(ProtocolError, match="unknown htlc"):
        a2.receive_fulfill(m.UpdateFulfillHtlc(a2.channel_id, 9, PRE[0]))
    with pytest.raises(ChannelStateError, match="no pending updates"):
        a2.sign_next_remote()


def test_stored_channel_equals_live_one_mid_protocol(tmp_path) -> None:
    a, b = channel_pair()
    for i in range(3):
        _, add = a.add_htlc(1_000_000, HASH[i], 500)
        b.receive_add(add)
    exchange(a, b)
    a.receive_fulfill(b.fulfill_htlc(0, PRE[0]))
    cs = b.sign_next_remote()          # in flight: B awaits A's revocation
    store = ChannelStore(tmp_path / "db", sync=False)
    store.save(b)
    loaded = store.load(b.channel_id)
    assert _snapshot(loaded) == _snapshot(b)
    assert loaded.unacked == [cs.encode()]
    for subject in (LOCAL, REMOTE):
        ctn = b.log.latest[subject]
        assert loaded.txs.commitment(subject, ctn).tx == b.txs.commitment(subject, ctn).tx
    # the loaded copy continues the protocol where the live one was
    rev = a.receive_commitment_signed(cs)
    loaded.receive_revoke_and_ack(rev)
    store.close()


def test_old_commitments_rebuild_after_archiving() -> None:
    """The watcher rebuilds revoked commitments long after their HTLCs were settled."""
    a, b = channel_pair()
    txids = {}
    for i in range(6):
        _, add = a.add_htlc(2_000_000, HASH[i], 500)
        b.receive_add(add)
        exchange(a, b)
        txids[b.log.latest[LOCAL]] = b.txs.commitment(LOCAL, b.log.latest[LOCAL]).txid
        a.receive_fulfill(b.fulfill_htlc(i, PRE[i]))
        exchange(b, a)
    assert not a.log.active and a.log.horizon[REMOTE] > 0
    for ctn, txid in txids.items():
        assert a.txs.commitment(REMOTE, ctn).txid == txid
