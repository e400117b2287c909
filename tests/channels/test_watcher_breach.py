"""Breach: the counterparty broadcasts a revoked commitment (with an HTLC in flight); the
watcher's penalty transaction confirms and sweeps every output of it to us."""

from __future__ import annotations

from harness import make_node, open_ready, preimage, run

from wattchain.channels.router import Hop, Route
from wattchain.channels.testchain import TestChain
from wattchain.core.tx import OutPoint

FUNDING = 2_000_000


def test_revoked_commitment_is_punished(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=300_000_000)
            cid = chan.channel_id
            captured = []
            # Bob's commitment while the HTLC is locked in (fulfill not yet committed).
            bob.payments.on_received.append(
                lambda h, amt: captured.append(bob.channels[cid].txs.signed_local_commitment())
                if not captured else None)
            cltv = chain.height + 100
            for i in range(3):
                h = bob.payments.add_invoice(preimage(i), 50_000_000)
                await alice.payments.pay(Route((Hop(cid, alice.node_id, bob.node_id,
                                                    50_000_000, cltv),)), h)
            await alice.wait_idle(cid)
            old = captured[0]
            assert any(o.value == 50_000 for o in old.outputs)  # the in-flight HTLC output
            # Bob cheats: his revoked commitment gets mined.
            chain.mine([old])
            penalty = alice.watcher.penalties[cid]
            assert chain.pending == [penalty]
            chain.mine()
            for i in range(len(old.outputs)):
                assert chain.chainstate.get_coin(OutPoint(old.txid, i)) is None
            assert {tx.prevout for tx in penalty.inputs} == {
                OutPoint(old.txid, i) for i in range(len(old.outputs))}
            assert len(penalty.outputs) == 1
            assert penalty.outputs[0].script_pubkey == alice.default_close_script()
            assert penalty.outputs[0].value == sum(o.value for o in old.outputs) - 5_000
            coin = chain.chainstate.get_coin(OutPoint(penalty.txid, 0))
            assert coin is not None and coin.output.value == penalty.outputs[0].value
            # Alice's current (unrevoked) commitment is no breach: the watcher ignores it.
            current = alice.channels[cid].txs.signed_local_commitment()
            assert bob.watcher.penalty_for(bob.channels[cid], current) is None
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
