"""Open a channel on a real chain, pay 1,000 HTLCs over loopback, close cooperatively: the
closing transaction confirms and pays both sides exactly their balances."""

from __future__ import annotations

import asyncio
import hashlib

from harness import make_node, open_ready, preimage, run

from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.router import Hop, Route
from wattchain.channels.testchain import TestChain

FUNDING = 10_000_000
N_PAYMENTS = 1000
AMOUNT = 1_000_000  # msat


def test_open_pay_1000_then_cooperative_close(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, FUNDING, push_msat=5_000)
            cid = chan.channel_id
            hashes = [bob.payments.add_invoice(preimage(i), AMOUNT) for i in range(N_PAYMENTS)]
            received: list[bytes] = []
            bob.payments.on_received.append(lambda h, amt: received.append(h))
            cltv = chain.height + 100
            futs = []
            for i, h in enumerate(hashes):
                route = Route((Hop(cid, alice.node_id, bob.node_id, AMOUNT, cltv),))
                futs.append(alice.payments.pay(route, h))
                if i % 50 == 49:  # pipelined in waves
                    await asyncio.gather(*futs)
                    futs = []
            pres = await asyncio.gather(*futs)
            assert len(received) == N_PAYMENTS and set(received) == set(hashes)
            assert all(hashlib.sha256(p).digest() in hashes for p in pres)

            await alice.wait_idle(cid)
            await bob.wait_idle(cid)
            a_bal = alice.channels[cid].closing_balances_msat()
            expected_bob = 5_000 + N_PAYMENTS * AMOUNT
            assert a_bal == {LOCAL: FUNDING * 1000 - expected_bob, REMOTE: expected_bob}

            a_script, b_script = alice.default_close_script(), bob.default_close_script()
            closing = await alice.close_channel(cid)
            await bob.wait_closed(cid)
            fee = alice.closing_fee_sat()
            chain.mine()
            tip = chain.chainstate.get_block(chain.chainstate.tip.hash)
            assert tip is not None and closing.txid in {tx.txid for tx in tip.transactions}
            pays = {o.script_pubkey: o.value for o in closing.outputs}
            assert pays[b_script] == expected_bob // 1000
            assert pays[a_script] == (FUNDING * 1000 - expected_bob) // 1000 - fee
            # the chain agrees: both outputs are unspent coins of the exact amounts
            from wattchain.core.tx import OutPoint
            for i, out in enumerate(closing.outputs):
                coin = chain.chainstate.get_coin(OutPoint(closing.txid, i))
                assert coin is not None and coin.output.value == out.value
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
