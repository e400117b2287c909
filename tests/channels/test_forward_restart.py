"""A forwarding hub restarts mid-payment: A -> B -> C with two payments held at C. B's process
is dropped and a new one opens the same store. The incoming <-> outgoing links come back from
disk, so when C then fulfils one payment and fails the other, the new B settles the first back
to A (which gets the preimage) and fails the second back (A gets C's failure); nothing is
forwarded twice and the balances add up."""

from __future__ import annotations

import asyncio

import pytest
from harness import make_node, open_ready, preimage, run

from wattchain.channels import router as r
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.payments import PaymentEngine, PaymentFailed
from wattchain.channels.state import Channel
from wattchain.channels.testchain import TestChain

FUNDING = 1_000_000
AMOUNT = 30_000_000
FEE = 1000 + AMOUNT // 1_000_000


def _holding(n: int):  # type: ignore[no-untyped-def]
    def idle_with(chan: Channel) -> bool:
        log = chan.log
        return (sum(log.is_locked_in(e) for e in log.unresolved()) == n
                and all(log.oldest_unrevoked[s] == log.latest[s] for s in (LOCAL, REMOTE)))
    return idle_with


def test_hub_restart_keeps_forwarding_links(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        a, b, c = (make_node(chain, tmp_path, n) for n in "abc")
        for n in (a, b, c):
            await n.start()
        b2 = None
        try:
            ab = (await open_ready(chain, a, b, FUNDING)).channel_id
            bc = (await open_ready(chain, b, c, FUNDING)).channel_id
            held: set[int] = set()
            c.payments._settle = lambda chan, entry: held.add(entry.htlc.id)  # type: ignore
            h_ok = c.payments.add_invoice(preimage(1), AMOUNT)
            h_bad = bytes.fromhex("22" * 32)                 # C will fail this one
            cltv = chain.height + 100

            def route() -> r.Route:
                return r.Route((r.Hop(ab, a.node_id, b.node_id, AMOUNT + FEE, cltv + 40),
                                r.Hop(bc, b.node_id, c.node_id, AMOUNT, cltv)))
            ok = asyncio.ensure_future(a.payments.pay(route(), h_ok))
            bad = asyncio.ensure_future(a.payments.pay(route(), h_bad))
            await c.wait_until(bc, _holding(2))
            await b.wait_until(bc, _holding(2))
            await b.wait_until(ab, _holding(2))
            assert held == {0, 1}

            # B dies; a new process opens its store.
            chain.chainstate.events.unsubscribe(b)
            chain.chainstate.events.unsubscribe(b.watcher)
            await b.stop()
            b.store.close()
            b2 = make_node(chain, tmp_path, "b")
            out = b2.channels[bc].log.entries
            assert out[(LOCAL, 0)].forward_from == (ab, 0)   # the links came from disk
            assert out[(LOCAL, 1)].forward_from == (ab, 1)
            await b2.start()
            await a.connect("127.0.0.1", b2.port)
            await c.connect("127.0.0.1", b2.port)
            # Reconnected, nothing is forwarded a second time.
            await b2.wait_until(bc, _holding(2))
            await c.wait_until(bc, _holding(2))
            assert b2.channels[bc].log.next_id[LOCAL] == 2

            c_chan = c.channels[bc]
            PaymentEngine._settle(c.payments, c_chan, c_chan.log.entries[(REMOTE, 0)])
            c.payments._fail(c_chan, c_chan.log.entries[(REMOTE, 1)], r.UNKNOWN_PAYMENT_HASH)
            assert await ok == preimage(1)
            with pytest.raises(PaymentFailed) as info:
                await bad
            assert info.value.failure.code == r.UNKNOWN_PAYMENT_HASH
            assert info.value.failure.node == c.node_id
            for x, cid in ((a, ab), (b2, ab), (b2, bc), (c, bc)):
                await x.wait_idle(cid)
            assert a.channels[ab].closing_balances_msat() == {
                LOCAL: FUNDING * 1000 - AMOUNT - FEE, REMOTE: AMOUNT + FEE}
            assert b2.channels[bc].closing_balances_msat() == {
                LOCAL: FUNDING * 1000 - AMOUNT, REMOTE: AMOUNT}
            assert b2.channels[bc].log.next_id[LOCAL] == 2
            assert b2.store.preimage(h_ok) == preimage(1)    # learned downstream, kept
        finally:
            for n in (a, c) + ((b2,) if b2 is not None else ()):
                await n.stop()
            chain.close()
    run(scenario())


def test_hub_learns_preimage_from_downstream_onchain_claim(tmp_path) -> None:
    """C goes on chain instead of fulfilling off chain and claims the HTLC with its
    HTLC-success tx; B's resolver reads the preimage from that witness and fulfils A's HTLC
    off chain, so A's payment succeeds and B is not out of pocket."""
    from wattchain.channels.resolver import UnilateralResolver

    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        a, b, c = (make_node(chain, tmp_path, n) for n in "abc")
        res_b, res_c = UnilateralResolver(b), UnilateralResolver(c)
        chain.subscribe(res_b), chain.subscribe(res_c)
        for n in (a, b, c):
            await n.start()
        try:
            ab = (await open_ready(chain, a, b, FUNDING)).channel_id
            bc = (await open_ready(chain, b, c, FUNDING)).channel_id
            c.payments._settle = lambda chan, entry: None  # type: ignore[method-assign]
            h = c.payments.add_invoice(preimage(3), AMOUNT)
            cltv = chain.height + 100
            paying = asyncio.ensure_future(a.payments.pay(r.Route((
                r.Hop(ab, a.node_id, b.node_id, AMOUNT + FEE, cltv + 40),
                r.Hop(bc, b.node_id, c.node_id, AMOUNT, cltv))), h))
            await c.wait_until(bc, _holding(1))
            await b.wait_until(ab, _holding(1))
            assert b.store.preimage(h) is None
            c.force_close(bc)
            chain.mine()                                     # C's commitment confirms
            assert [label for label, _ in res_c.broadcasts] == ["htlc-received-0"]
            assert not paying.done()
            chain.mine()                                     # C's HTLC-success confirms
            assert await paying == preimage(3)
            assert b.store.preimage(h) == preimage(3)
            await a.wait_idle(ab)
            await b.wait_idle(ab)
            assert b.channels[ab].closing_balances_msat() == {
                LOCAL: AMOUNT + FEE, REMOTE: FUNDING * 1000 - AMOUNT - FEE}
        finally:
            for n in (a, b, c):
                await n.stop()
            chain.close()
    run(scenario())
