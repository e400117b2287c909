"""Second-stage penalty: the cheater publishes a revoked commitment *and* its pre-signed
HTLC-success tx for an HTLC of it (in the same block, or after our penalty was broadcast).
The watcher takes the HTLC tx's output with the revocation key and re-broadcasts the main
penalty without the output it lost; at the end nothing of the revoked commitment is left to
the cheater. Every step is a real block on a real chainstate."""

from __future__ import annotations

from harness import make_node, open_ready, preimage, run

from wattchain.channels import commitment as bolt3
from wattchain.channels.htlclog import LOCAL
from wattchain.channels.keys import derive_privkey
from wattchain.channels.router import Hop, Route
from wattchain.channels.testchain import TestChain
from wattchain.channels.watcher import PENALTY_FEE_SAT
from wattchain.core.tx import OutPoint, Transaction

FUNDING = 2_000_000
HTLC_MSAT = 50_000_000


async def _breach_material(chain: TestChain, alice, bob) -> tuple[bytes, Transaction,
                                                                   Transaction]:
    """Alice pays Bob three HTLCs; returns (channel id, Bob's commitment while the first was
    in flight — revoked by the end — and Bob's signed HTLC-success tx for that HTLC)."""
    chan = await open_ready(chain, alice, bob, FUNDING, push_msat=300_000_000)
    cid = chan.channel_id
    captured: list[tuple[Transaction, Transaction]] = []

    def capture(payment_hash: bytes, amount: int) -> None:
        if captured:
            return
        b = bob.channels[cid]
        ctn = b.log.latest[LOCAL]
        c = b.txs.commitment(LOCAL, ctn)
        (htlc_tx,) = bolt3.build_htlc_txs(c)
        assert htlc_tx.success                              # Bob received it: HTLC-success
        local_sig = bolt3.sign_htlc_tx(
            htlc_tx, derive_privkey(b.secrets.htlc_base, c.keys.per_commitment_point),
            as_counterparty=False)
        success = bolt3.signed_htlc_success_tx(htlc_tx, b.local_htlc_sigs[0], local_sig,
                                               preimage(0))
        captured.append((b.txs.signed_local_commitment(), success))

    bob.payments.on_received.append(capture)
    cltv = chain.height + 100
    for i in range(3):
        h = bob.payments.add_invoice(preimage(i), HTLC_MSAT)
        await alice.payments.pay(Route((Hop(cid, alice.node_id, bob.node_id, HTLC_MSAT,
                                            cltv),)), h)
    await alice.wait_idle(cid)
    old, success = captured[0]
    assert success.inputs[0].prevout.txid == old.txid
    return cid, old, success


def _assert_all_taken(chain: TestChain, alice, old: Transaction, success: Transaction) -> None:
    """Every output of the revoked commitment and of the cheater's HTLC tx is spent, and what
    is left of them sits at Alice's sweep script."""
    for i in range(len(old.outputs)):
        assert chain.chainstate.get_coin(OutPoint(old.txid, i)) is None
    assert chain.chainstate.get_coin(OutPoint(success.txid, 0)) is None
    script = alice.default_close_script()
    takes = [alice.watcher.penalties[next(iter(alice.watcher.breaches.values())).chan
                                     .channel_id]] + alice.watcher.htlc_penalties
    for tx in takes:
        coin = chain.chainstate.get_coin(OutPoint(tx.txid, 0))
        assert coin is not None and coin.output.script_pubkey == script
    htlc_index = success.inputs[0].prevout.index
    rest = sum(o.value for i, o in enumerate(old.outputs) if i != htlc_index)
    assert sum(tx.outputs[0].value for tx in takes) == (
        rest + success.outputs[0].value - 2 * PENALTY_FEE_SAT)


def test_htlc_tx_in_the_same_block_as_the_revoked_commitment(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            cid, old, success = await _breach_material(chain, alice, bob)
            chain.mine([old, success])                      # Bob cheats, both stages at once
            (second,) = alice.watcher.htlc_penalties
            penalty = alice.watcher.penalties[cid]
            assert second.inputs[0].prevout == OutPoint(success.txid, 0)
            lost = success.inputs[0].prevout
            assert lost not in {i.prevout for i in penalty.inputs}
            assert {i.prevout for i in penalty.inputs} == {
                OutPoint(old.txid, i) for i in range(len(old.outputs)) if i != lost.index}
            assert sorted(t.txid for t in chain.pending) == sorted([penalty.txid, second.txid])
            chain.mine()
            _assert_all_taken(chain, alice, old, success)
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())


def test_htlc_tx_racing_the_broadcast_penalty(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            cid, old, success = await _breach_material(chain, alice, bob)
            chain.mine([old])
            first = alice.watcher.penalties[cid]
            assert chain.pending == [first]                  # it would take every output
            assert alice.watcher.htlc_penalties == []
            chain.mine([success])                            # ...but Bob's HTLC tx wins one
            (second,) = alice.watcher.htlc_penalties
            replacement = alice.watcher.penalties[cid]
            assert replacement.txid != first.txid
            assert len(replacement.inputs) == len(first.inputs) - 1
            # the first penalty is now a double spend: evicted, never mined
            assert sorted(t.txid for t in chain.pending) == sorted([replacement.txid,
                                                                    second.txid])
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(first.txid, 0)) is None
            _assert_all_taken(chain, alice, old, success)
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
