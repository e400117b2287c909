"""Two in-memory channel ends wired together (sans-I/O), for state-machine tests."""

from __future__ import annotations

import hashlib

from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.state import Channel, LocalSecrets, PartyParams

PARAMS = PartyParams(dust_limit_sat=546, to_self_delay=144, htlc_minimum_msat=1,
                     max_accepted_htlcs=483, reserve_sat=0)


def channel_pair(funding_sat: int = 1_000_000, push_msat: int = 0,
                 feerate: int = 253) -> tuple[Channel, Channel]:
    """(opener, acceptor), both past channel_ready, with commitment 0 signed both ways."""
    sa = LocalSecrets(hashlib.sha256(b"a").digest())
    sb = LocalSecrets(hashlib.sha256(b"b").digest())
    txid = hashlib.sha256(b"funding").digest()
    a = Channel(channel_id=txid, opener=LOCAL, funding_txid=txid, funding_index=0,
                funding_sat=funding_sat, push_msat=push_msat, feerate_per_kw=feerate,
                secrets=sa, local_params=PARAMS, remote_params=PARAMS,
                remote_basepoints=sb.basepoints(), remote_first_point=sb.point(0),
                minimum_depth=1)
    b = Channel(channel_id=txid, opener=REMOTE, funding_txid=txid, funding_index=0,
                funding_sat=funding_sat, push_msat=push_msat, feerate_per_kw=feerate,
                secrets=sb, local_params=PARAMS, remote_params=PARAMS,
                remote_basepoints=sa.basepoints(), remote_first_point=sa.point(0),
                minimum_depth=1)
    sig_a, hs_a = a.txs.sign_remote(0)
    b.txs.verify_local(0, sig_a, hs_a)
    b.local_sig = sig_a
    sig_b, hs_b = b.txs.sign_remote(0)
    a.txs.verify_local(0, sig_b, hs_b)
    a.local_sig = sig_b
    a.receive_channel_ready(b.channel_ready_message())
    b.receive_channel_ready(a.channel_ready_message())
    return a, b


def exchange(sender: Channel, receiver: Channel) -> None:
    """sender signs; receiver revokes; repeat in the other direction while anything is
    pending (the full BOLT 2 dance for the updates proposed so far)."""
    for _ in range(4):
        progressed = False
        for x, y in ((sender, receiver), (receiver, sender)):
            if x.can_sign_remote():
                rev = y.receive_commitment_signed(x.sign_next_remote())
                x.receive_revoke_and_ack(rev)
                progressed = True
        if not progressed:
            return
