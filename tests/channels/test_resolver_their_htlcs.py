"""The counterparty force-closes with HTLCs in flight both ways. Our resolver claims straight
from its commitment: the HTLC it offered us with the preimage at once, the HTLC we offered it
through the timeout path once its CLTV expiry has passed — consensus refuses that claim one
block earlier. Every step is a real block on a real chainstate."""

from __future__ import annotations

import pytest
from harness import make_node, open_ready, preimage, run

from wattchain.channels import onchain
from wattchain.channels.commitment import HtlcDirection
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.keys import derive_privkey
from wattchain.channels.resolver import SWEEP_FEE_SAT, UnilateralResolver
from wattchain.channels.state import Channel
from wattchain.channels.testchain import ChainRejected, TestChain
from wattchain.core.tx import OutPoint

FUNDING = 1_000_000
TO_BOB_MSAT = 40_000_000
TO_ALICE_MSAT = 30_000_000


def _both_locked_in(chan: Channel) -> bool:
    log = chan.log
    return (sum(log.is_locked_in(e) for e in log.unresolved()) == 2
            and all(log.oldest_unrevoked[s] == log.latest[s] for s in (LOCAL, REMOTE)))


def test_htlcs_on_the_counterpartys_commitment_are_claimed(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        res_b = UnilateralResolver(bob)
        chain.subscribe(res_b)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=300_000_000)
            cid = chan.channel_id
            # Both hold the HTLCs they receive ("hold invoices"): nothing settles off chain.
            alice.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            to_bob = bob.payments.add_invoice(preimage(1), TO_BOB_MSAT)   # Bob knows this one
            to_alice = bytes.fromhex("11" * 32)                        # nobody knows this one
            expiry_to_bob = chain.height + 50
            expiry_to_alice = chain.height + 12
            alice.payments.send_htlc(alice.channels[cid], TO_BOB_MSAT, to_bob, expiry_to_bob,
                                     b"")
            bob.payments.send_htlc(bob.channels[cid], TO_ALICE_MSAT, to_alice,
                                   expiry_to_alice, b"")
            await alice.wait_until(cid, _both_locked_in)
            await bob.wait_until(cid, _both_locked_in)

            commitment = alice.force_close(cid)                 # Alice goes on chain
            b_chan = bob.channels[cid]
            theirs = b_chan.txs.commitment(REMOTE, b_chan.log.latest[REMOTE])
            assert theirs.txid == commitment.txid
            offered_to_us = theirs.htlc_output(HtlcDirection.OFFERED, 0)
            we_offered = theirs.htlc_output(HtlcDirection.RECEIVED, 0)
            chain.mine()
            labels = [label for label, _ in res_b.broadcasts]
            assert labels == ["to_remote", "claim-received-0"]  # preimage claim at once
            claim = res_b.broadcasts[1][1]
            assert claim.inputs[0].prevout == OutPoint(commitment.txid, offered_to_us.index)
            assert preimage(1) in claim.inputs[0].witness
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(commitment.txid,
                                                      offered_to_us.index)) is None
            coin = chain.chainstate.get_coin(OutPoint(claim.txid, 0))
            assert coin is not None
            assert coin.output.script_pubkey == bob.default_close_script()
            assert coin.output.value == TO_BOB_MSAT // 1000 - SWEEP_FEE_SAT

            # Our offered HTLC: nothing until its expiry; an early claim is refused.
            while chain.height < expiry_to_alice - 1:
                chain.mine()
            assert len(res_b.broadcasts) == 2
            htlc_key = derive_privkey(b_chan.secrets.htlc_base,
                                      theirs.keys.per_commitment_point)
            early = onchain.claim_htlc_after_timeout(theirs, we_offered, htlc_key,
                                                     bob.default_close_script(), SWEEP_FEE_SAT)
            assert early.locktime == expiry_to_alice
            with pytest.raises(ChainRejected, match="bad-txns-nonfinal"):
                chain.mine([early])                              # block height == expiry
            chain.mine()
            assert chain.height == expiry_to_alice               # next block is past it
            assert [label for label, _ in res_b.broadcasts][2:] == ["claim-offered-0"]
            timeout_claim = res_b.broadcasts[2][1]
            assert timeout_claim.txid == early.txid              # the same tx, now final
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(commitment.txid,
                                                      we_offered.index)) is None
            coin = chain.chainstate.get_coin(OutPoint(timeout_claim.txid, 0))
            assert coin is not None
            assert coin.output.value == TO_ALICE_MSAT // 1000 - SWEEP_FEE_SAT
            chain.mine()
            assert len(res_b.broadcasts) == 3                    # nothing claimed twice
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_payer_learns_the_preimage_from_the_payees_onchain_claim(tmp_path) -> None:
    """Alice force-closes with her HTLC to Bob in flight; Bob claims it from her commitment
    with the preimage; Alice's resolver reads the preimage from that witness and her payment
    completes (BOLT 5: the offerer extracts the preimage from the claim)."""
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        res_a, res_b = UnilateralResolver(alice), UnilateralResolver(bob)
        chain.subscribe(res_a), chain.subscribe(res_b)
        await alice.start(), await bob.start()
        try:
            cid = (await open_ready(chain, alice, bob, FUNDING)).channel_id
            bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            h = bob.payments.add_invoice(preimage(5), TO_BOB_MSAT)
            paying = alice.payments.send_htlc(alice.channels[cid], TO_BOB_MSAT, h,
                                              chain.height + 50, b"")
            await alice.wait_until(cid, lambda c: len(c.log.unresolved()) == 1
                                   and c.log.is_locked_in(c.log.unresolved()[0]))
            alice.force_close(cid)
            chain.mine()
            # (Bob has no balance of his own: no to_remote output, only the HTLC to claim)
            assert [label for label, _ in res_b.broadcasts] == ["claim-received-0"]
            assert not paying.done()
            assert alice.store.preimage(h) is None
            chain.mine()                                     # Bob's claim confirms
            assert paying.done() and paying.result() == preimage(5)
            assert alice.store.preimage(h) == preimage(5)
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
