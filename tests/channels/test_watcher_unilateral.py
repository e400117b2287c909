"""Unilateral close: our to_local is swept only after the CSV delay (consensus refuses it
earlier); an offered HTLC the peer holds leaves through the pre-signed HTLC-timeout tx at its
CLTV expiry and that output is swept after the delay; the counterparty sweeps its to_remote at
once. Every step is a real block on a real chainstate."""

from __future__ import annotations

import hashlib

import pytest
from harness import make_node, open_ready, preimage, run

from wattchain.channels import onchain
from wattchain.channels.commitment import OutputKind
from wattchain.channels.htlclog import LOCAL
from wattchain.channels.keys import derive_privkey
from wattchain.channels.node import NodeConfig
from wattchain.channels.resolver import UnilateralResolver
from wattchain.channels.testchain import ChainRejected, TestChain
from wattchain.core.tx import OutPoint

FUNDING = 1_000_000
DELAY = 5
HTLC_MSAT = 50_000_000


def test_force_close_sweeps_after_csv_and_htlc_timeout(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        cfg = NodeConfig(minimum_depth=3, to_self_delay=DELAY)
        alice = make_node(chain, tmp_path, "alice", config=cfg)
        bob = make_node(chain, tmp_path, "bob", config=cfg)
        res_a, res_b = UnilateralResolver(alice), UnilateralResolver(bob)
        chain.subscribe(res_a), chain.subscribe(res_b)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=200_000_000)
            cid = chan.channel_id
            # Bob holds an HTLC without settling it (a "hold invoice"), and does not know its
            # preimage (else his resolver would claim it from Alice's commitment at once).
            bob.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            h = hashlib.sha256(preimage(1)).digest()
            expiry = chain.height + 12
            alice.payments.send_htlc(alice.channels[cid], HTLC_MSAT, h, expiry, b"")
            a_chan = await alice.wait_until(
                cid, lambda c: any(c.log.is_locked_in(e) for e in c.log.unresolved()))
            assert len(a_chan.log.unresolved()) == 1
            ctn = a_chan.log.latest[LOCAL]
            built = a_chan.txs.commitment(LOCAL, ctn)
            commitment = alice.force_close(cid)
            assert commitment.txid == built.txid
            htlc_out = built.htlc_outputs()[0].index
            to_local = built.output_of(OutputKind.TO_LOCAL).index
            chain.mine()                                # the commitment confirms
            conf = chain.height
            assert [label for label, _ in res_b.broadcasts] == ["to_remote"]
            # Before the CSV delay nothing of Alice's is broadcast, and a sweep is refused.
            chain.mine()
            assert res_a.broadcasts == []
            early = onchain.sweep_to_local(
                built, derive_privkey(a_chan.secrets.delayed_base, a_chan.secrets.point(ctn)),
                alice.default_close_script(), 1_000)
            with pytest.raises(ChainRejected, match="non-BIP68-final"):
                chain.mine([early])
            while not res_a.broadcasts:
                chain.mine()
            assert chain.height == conf + DELAY - 1    # the next block may include it
            assert [label for label, _ in res_a.broadcasts] == ["to_local"]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(commitment.txid, to_local)) is None
            sweep = res_a.broadcasts[0][1]
            coin = chain.chainstate.get_coin(OutPoint(sweep.txid, 0))
            assert coin is not None and coin.output.script_pubkey == alice.default_close_script()
            # The HTLC times out: HTLC-timeout at the expiry, then its delayed output.
            while len(res_a.broadcasts) < 2:
                chain.mine()
            assert res_a.broadcasts[1][0] == "htlc-offered-0"
            assert chain.height + 1 == expiry + 1
            timeout_tx = res_a.broadcasts[1][1]
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(commitment.txid, htlc_out)) is None
            while len(res_a.broadcasts) < 3:
                chain.mine()
            assert res_a.broadcasts[2][0] == "htlc-offered-0-sweep"
            chain.mine()
            assert chain.chainstate.get_coin(OutPoint(timeout_tx.txid, 0)) is None
            final = chain.chainstate.get_coin(OutPoint(res_a.broadcasts[2][1].txid, 0))
            assert final is not None and final.output.value > HTLC_MSAT // 1000 - 5_000
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
