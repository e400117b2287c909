"""BOLT 2 HTLC deadlines: a channel whose counterparty sits on an HTLC is failed on chain in
time. An offered HTLC past ``cltv_expiry + grace`` makes the payer broadcast its commitment and
take the HTLC back with the HTLC-timeout tx; a received HTLC whose preimage we know, still
unsettled ``fulfill_margin`` blocks before its expiry, makes the payee go on chain and claim
it with the HTLC-success tx before the payer's timeout path opens. Real blocks, real
chainstate."""

from __future__ import annotations

import hashlib

from harness import make_node, open_ready, preimage, run

from wattchain.channels.deadline import FULFILL_MARGIN, OFFERED_GRACE, DeadlineEnforcer
from wattchain.channels.node import ChannelNode
from wattchain.channels.resolver import UnilateralResolver
from wattchain.channels.state import Phase
from wattchain.channels.testchain import TestChain
from wattchain.core.tx import OutPoint

FUNDING = 1_000_000
HTLC_MSAT = 40_000_000


async def _held_htlc(chain: TestChain, alice: ChannelNode, bob: ChannelNode,
                     payment_hash: bytes, expiry: int) -> bytes:
    """Alice offers Bob an HTLC that Bob holds (never settles off chain); returns the
    channel id once it is irrevocably committed on both sides."""
    chan = await open_ready(chain, alice, bob, FUNDING)
    cid = chan.channel_id
    bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
    alice.payments.send_htlc(alice.channels[cid], HTLC_MSAT, payment_hash, expiry, b"")
    for node in (alice, bob):
        await node.wait_until(cid, lambda c: len(c.log.unresolved()) == 1
                              and c.log.is_locked_in(c.log.unresolved()[0])
                              and c.log.oldest_unrevoked == c.log.latest)
    return cid


def _enforce(chain: TestChain, node: ChannelNode) -> tuple[DeadlineEnforcer,
                                                          UnilateralResolver]:
    enforcer, resolver = DeadlineEnforcer(node), UnilateralResolver(node)
    chain.subscribe(enforcer), chain.subscribe(resolver)
    return enforcer, resolver


def test_offered_htlc_past_its_deadline_goes_on_chain(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        enforcer, res_a = _enforce(chain, alice)
        await alice.start(), await bob.start()
        try:
            expiry = chain.height + 10
            cid = await _held_htlc(chain, alice, bob, hashlib.sha256(b"unknown").digest(),
                                   expiry)
            commitment = alice.channels[cid].txs.signed_local_commitment()
            while chain.height < expiry + OFFERED_GRACE - 1:
                chain.mine()
                assert enforcer.failed == [] and chain.pending == []
            chain.mine()                                    # the deadline block
            assert [(c, h) for c, h, _ in enforcer.failed] == [(cid, expiry + OFFERED_GRACE)]
            assert "offered htlc 0" in enforcer.failed[0][2]
            assert alice.channels[cid].phase is Phase.CLOSING
            assert [tx.txid for tx in chain.pending] == [commitment.txid]
            chain.mine()                                    # commitment confirms...
            assert [label for label, _ in res_a.broadcasts] == ["htlc-offered-0"]
            timeout_tx = res_a.broadcasts[0][1]
            chain.mine()                                    # ...and the HTLC comes back
            htlc_out = timeout_tx.inputs[0].prevout
            assert htlc_out.txid == commitment.txid
            assert chain.chainstate.get_coin(htlc_out) is None
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is not None
            chain.mine()
            assert len(enforcer.failed) == 1                # failed once only
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_received_htlc_with_known_preimage_is_claimed_before_expiry(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        enforcer, res_b = _enforce(chain, bob)
        await alice.start(), await bob.start()
        try:
            expiry = chain.height + 20
            h = bob.payments.add_invoice(preimage(7), HTLC_MSAT)  # Bob knows the preimage
            cid = await _held_htlc(chain, alice, bob, h, expiry)
            deadline = expiry - FULFILL_MARGIN
            while chain.height < deadline - 1:
                chain.mine()
                assert enforcer.failed == []
            chain.mine()
            assert [(c, hh) for c, hh, _ in enforcer.failed] == [(cid, deadline)]
            commitment = chain.pending[0]
            assert commitment.inputs[0].prevout == OutPoint(
                bob.channels[cid].funding_txid, bob.channels[cid].funding_index)
            chain.mine()
            assert [label for label, _ in res_b.broadcasts] == ["htlc-received-0"]
            success = res_b.broadcasts[0][1]
            assert preimage(7) in success.inputs[0].witness
            chain.mine()
            assert chain.height < expiry                    # settled before Alice's timeout
            assert chain.chainstate.get_coin(success.inputs[0].prevout) is None
            coin = chain.chainstate.get_coin(OutPoint(success.txid, 0))
            assert coin is not None and coin.output.value < HTLC_MSAT // 1000
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
