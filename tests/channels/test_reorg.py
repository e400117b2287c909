"""Reorgs: a penalty, a sweep or a commitment of ours taken off the chain by a fork that
overtakes it is broadcast again (the node's outbox), and the guards roll their state back so
that a revoked or unilateral commitment reorged out is watched — and resolved — afresh when it
confirms again on the new chain."""

from __future__ import annotations

import hashlib

from harness import make_guarded, open_ready, preimage, run

from wattchain.channels.node import NodeConfig
from wattchain.channels.router import Hop, Route
from wattchain.channels.state import Phase
from wattchain.channels.testchain import TestChain
from wattchain.core.tx import OutPoint

FUNDING = 2_000_000
DELAY = 5
CFG = NodeConfig(minimum_depth=3, to_self_delay=DELAY)


async def _revoked(chain: TestChain, tmp_path):  # type: ignore[no-untyped-def]
    """Alice and Bob (guarded) with a channel, and Bob's commitment 0 — revoked by a payment
    Alice made to him afterwards."""
    alice, ga = make_guarded(chain, tmp_path, "alice")
    bob, _ = make_guarded(chain, tmp_path, "bob")
    await alice.start(), await bob.start()
    chan = await open_ready(chain, alice, bob, FUNDING, push_msat=300_000_000)
    cid = chan.channel_id
    old = bob.channels[cid].txs.signed_local_commitment()
    h = bob.payments.add_invoice(preimage(1), 40_000_000)
    await alice.payments.pay(Route((Hop(cid, alice.node_id, bob.node_id, 40_000_000,
                                        chain.height + 100),)), h)
    await alice.wait_idle(cid)
    return alice, bob, ga, cid, old


def test_penalty_reorged_out_is_rebroadcast(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob, ga, cid, old = await _revoked(chain, tmp_path)
        try:
            chain.mine([old])
            penalty = ga.watcher.penalties[cid]
            chain.mine()                                   # the penalty confirms at P
            assert chain.chainstate.get_coin(OutPoint(penalty.txid, 0)) is not None
            assert chain.pending == []
            chain.reorg(1)                                 # a fork without it overtakes P
            assert chain.chainstate.get_coin(OutPoint(penalty.txid, 0)) is None
            assert [tx.txid for tx in chain.pending] == [penalty.txid]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(penalty.txid, 0)) is not None
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_revoked_commitment_reorged_out_is_watched_again(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob, ga, cid, old = await _revoked(chain, tmp_path)
        try:
            chain.mine([old])
            spent_at = chain.height
            penalty = ga.watcher.penalties[cid]
            chain.mine()
            chain.reorg(2)                  # both the revoked commitment and the penalty go
            assert old.txid not in ga.watcher.breaches
            assert alice.channels[cid].spent_height is None
            # The penalty's parent left the chain: re-sending it would only be refused.
            assert chain.pending == []
            chain.mine([old])               # the cheater tries again on the new chain
            assert alice.channels[cid].spent_height == chain.height != spent_at
            assert old.txid in ga.watcher.breaches
            assert [tx.txid for tx in chain.pending] == [penalty.txid]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(penalty.txid, 0)) is not None
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_force_close_reorged_out_is_resolved_at_its_new_height(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice", CFG)
        bob, _ = make_guarded(chain, tmp_path, "bob", CFG)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=500_000_000)
            cid = chan.channel_id
            commitment = alice.force_close(cid)
            chain.mine()
            chain.mine(n=2)
            # Three blocks replaced by four: the commitment leaves the chain and is re-sent.
            chain.reorg(3)
            assert alice.channels[cid].spent_height is None
            assert ga.resolver._ours == {}
            assert [tx.txid for tx in chain.pending] == [commitment.txid]
            chain.mine()
            conf = chain.height
            assert alice.channels[cid].spent_height == conf
            while not ga.resolver.broadcasts:
                chain.mine()
            assert chain.height == conf + DELAY - 1      # the delay counts from the new height
            label, sweep = ga.resolver.broadcasts[0]
            assert label == "to_local"
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(sweep.txid, 0)) is not None
            # The block holding the sweep is reorged out: the sweep goes out again.
            chain.reorg(1)
            assert chain.chainstate.get_coin(OutPoint(sweep.txid, 0)) is None
            assert [tx.txid for tx in chain.pending] == [sweep.txid]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(sweep.txid, 0)) is not None
            assert alice.channels[cid].phase is Phase.CLOSING
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_htlc_timeout_tx_reorged_out_delays_its_sweep_from_the_new_height(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice", CFG)
        bob, _ = make_guarded(chain, tmp_path, "bob", CFG)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=200_000_000)
            cid = chan.channel_id
            bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            h = hashlib.sha256(preimage(9)).digest()
            alice.payments.send_htlc(alice.channels[cid], 50_000_000, h, chain.height + 8, b"")
            await alice.wait_until(
                cid, lambda c: any(c.log.is_locked_in(e) for e in c.log.unresolved()))
            alice.force_close(cid)
            chain.mine()
            labels = lambda: [label for label, _ in ga.resolver.broadcasts]  # noqa: E731
            while "htlc-offered-0" not in labels():
                chain.mine()
            timeout_tx = dict(ga.resolver.broadcasts)["htlc-offered-0"]
            chain.mine()                                  # the HTLC-timeout tx confirms
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is not None
            chain.mine()
            chain.reorg(2)                                # ... and leaves the chain
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is None
            assert timeout_tx.txid in {tx.txid for tx in chain.pending}
            chain.mine()
            conf = chain.height
            while "htlc-offered-0-sweep" not in labels():
                chain.mine()
            assert chain.height == conf + DELAY - 1       # CSV counted from the new block
            sweep = dict(ga.resolver.broadcasts)["htlc-offered-0-sweep"]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(sweep.txid, 0)) is not None
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
