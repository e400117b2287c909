"""Restart in the middle of on-chain resolution: the watcher, resolver and deadline state is
rebuilt from the channel store plus a replay of the recent chain (``recovery.catch_up``), so a
penalty or sweep that had not confirmed when the node went down still confirms, and one that
had confirmed is not sent again."""

from __future__ import annotations

import hashlib

from harness import make_guarded, open_ready, preimage, restart, run

from wattchain.channels.node import NodeConfig
from wattchain.channels.router import Hop, Route
from wattchain.channels.state import Phase
from wattchain.channels.testchain import TestChain
from wattchain.core.tx import OutPoint

FUNDING = 2_000_000
DELAY = 5
CFG = NodeConfig(minimum_depth=3, to_self_delay=DELAY)


def test_penalty_confirms_after_restart_before_it_confirmed(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice")
        bob, _ = make_guarded(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=300_000_000)
            cid = chan.channel_id
            old = bob.channels[cid].txs.signed_local_commitment()   # commitment 0
            h = bob.payments.add_invoice(preimage(1), 40_000_000)
            await alice.payments.pay(Route((Hop(cid, alice.node_id, bob.node_id, 40_000_000,
                                                chain.height + 100),)), h)
            await alice.wait_idle(cid)
            chain.mine([old])                      # Bob cheats with his revoked commitment
            penalty = ga.watcher.penalties[cid]
            assert chain.pending == [penalty]
            # Alice crashes before the penalty confirms, and the broadcast is lost with it.
            chain.pending.clear()
            chain.mine()
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga)
            assert alice.channels[cid].spent_height == chain.height - 1
            assert alice.channels[cid].phase is Phase.CLOSED
            assert ga.watcher.penalties[cid].txid == penalty.txid   # rebuilt, not recomputed
            assert chain.pending == [penalty]                       # and sent again
            chain.mine()
            coin = chain.chainstate.get_coin(OutPoint(penalty.txid, 0))
            assert coin is not None and coin.output.script_pubkey == alice.default_close_script()
            for i in range(len(old.outputs)):
                assert chain.chainstate.get_coin(OutPoint(old.txid, i)) is None
            # A further restart finds the penalty confirmed: nothing is sent again.
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga)
            assert chain.pending == []
            assert old.txid in ga.watcher.breaches
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_force_close_sweeps_to_local_across_restarts(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice", CFG)
        bob, gb = make_guarded(chain, tmp_path, "bob", CFG)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=500_000_000)
            cid = chan.channel_id
            commitment = alice.force_close(cid)
            # Crash before the commitment confirms, its broadcast lost: the restarted node
            # broadcasts it again (the channel is marked force-closed in the store).
            chain.pending.clear()
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert alice.channels[cid].force_closed
            assert [tx.txid for tx in chain.pending] == [commitment.txid]
            chain.mine()
            conf = chain.height
            assert alice.channels[cid].spent_height == conf
            assert [label for label, _ in gb.resolver.broadcasts] == ["to_remote"]
            chain.mine()
            # Crash again before the CSV delay: the resolver's wait is rebuilt from the chain.
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert chain.pending == [] and ga.resolver.broadcasts == []
            while not ga.resolver.broadcasts:
                chain.mine()
            assert chain.height == conf + DELAY - 1   # the next block may include the sweep
            label, sweep = ga.resolver.broadcasts[0]
            assert label == "to_local"
            chain.mine()
            coin = chain.chainstate.get_coin(OutPoint(sweep.txid, 0))
            assert coin is not None and coin.output.script_pubkey == alice.default_close_script()
            assert chain.chainstate.get_coin(sweep.inputs[0].prevout) is None
            # Restarted once more after the sweep confirmed: nothing goes out again.
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert chain.pending == []
            assert [label for label, _ in ga.resolver.broadcasts] == ["to_local"]  # replayed
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_sweep_broadcast_but_unconfirmed_at_restart_is_sent_again(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice", CFG)
        bob, _ = make_guarded(chain, tmp_path, "bob", CFG)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=500_000_000)
            cid = chan.channel_id
            alice.force_close(cid)
            chain.mine()
            while not ga.resolver.broadcasts:
                chain.mine()
            sweep = ga.resolver.broadcasts[0][1]
            chain.pending.clear()                  # lost with the crash
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert [tx.txid for tx in chain.pending] == [sweep.txid]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(sweep.txid, 0)) is not None
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_htlc_second_stage_resumes_after_restarts(tmp_path) -> None:
    """An offered HTLC on our force-closed commitment: restart after its HTLC-timeout tx was
    broadcast (lost), and again after it confirmed but before its CSV-delayed output matured:
    the timeout tx is re-sent, and its output is still swept."""
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, ga = make_guarded(chain, tmp_path, "alice", CFG)
        bob, _ = make_guarded(chain, tmp_path, "bob", CFG)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=200_000_000)
            cid = chan.channel_id
            bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            h = hashlib.sha256(preimage(7)).digest()
            expiry = chain.height + 10
            alice.payments.send_htlc(alice.channels[cid], 50_000_000, h, expiry, b"")
            await alice.wait_until(
                cid, lambda c: any(c.log.is_locked_in(e) for e in c.log.unresolved()))
            alice.force_close(cid)
            chain.mine()
            labels = lambda: [label for label, _ in ga.resolver.broadcasts]  # noqa: E731
            while "htlc-offered-0" not in labels():
                chain.mine()
            timeout_tx = dict(ga.resolver.broadcasts)["htlc-offered-0"]
            assert chain.height + 1 == expiry + 1
            chain.pending = [tx for tx in chain.pending if tx.txid != timeout_tx.txid]
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert timeout_tx.txid in {tx.txid for tx in chain.pending}
            chain.mine()
            conf = chain.height
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is not None
            alice, ga = await restart(chain, tmp_path, "alice", alice, ga, CFG)
            assert "htlc-offered-0-sweep" not in labels()
            while "htlc-offered-0-sweep" not in labels():
                chain.mine()
            assert chain.height == conf + DELAY - 1
            sweep = dict(ga.resolver.broadcasts)["htlc-offered-0-sweep"]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is None
            coin = chain.chainstate.get_coin(OutPoint(sweep.txid, 0))
            assert coin is not None and coin.output.script_pubkey == alice.default_close_script()
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
