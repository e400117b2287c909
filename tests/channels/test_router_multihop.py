"""Multi-hop payments over 3 hops (A -> B -> C -> D) with one payment hash; failures at the
payee and at a forwarding node propagate back to the payer and leave balances unchanged."""

from __future__ import annotations

import pytest
from harness import make_node, open_ready, preimage, run

from wattchain.channels import router as r
from wattchain.channels.htlclog import REMOTE
from wattchain.channels.payments import PaymentFailed
from wattchain.channels.testchain import TestChain

FUNDING = 1_000_000
AMOUNT = 100_000_000  # msat


def test_three_hop_payment_and_failures(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        nodes = [make_node(chain, tmp_path, n) for n in "abcd"]
        for n in nodes:
            await n.start()
        a, b, c, d = nodes
        try:
            chans = [await open_ready(chain, x, y, FUNDING) for x, y in zip(nodes, nodes[1:])]
            for n in nodes:  # the graph from configuration
                for (x, y), ch in zip(zip(nodes, nodes[1:]), chans):
                    n.graph.add_channel(ch.channel_id, x.node_id, y.node_id, FUNDING * 1000)
            route = a.graph.find_route(a.node_id, d.node_id, AMOUNT, chain.height + 18)
            assert [h.channel_id for h in route.hops] == [ch.channel_id for ch in chans]
            fee = 1000 + AMOUNT // 1_000_000  # base + 1 ppm, charged by B and C
            assert route.hops[0].amount_msat == AMOUNT + fee + (1000 + (AMOUNT + 0) // 10**6)
            assert route.hops[0].cltv_expiry == chain.height + 18 + 2 * 40

            h = d.payments.add_invoice(preimage(1), AMOUNT)
            assert await a.payments.pay(route, h) == preimage(1)
            for x, ch in zip(nodes, chans):
                await x.wait_idle(ch.channel_id)
            bal = [x.channels[ch.channel_id].closing_balances_msat()
                   for x, ch in zip(nodes, chans)]
            assert bal[2][REMOTE] == AMOUNT                       # D got the amount
            assert bal[1][REMOTE] == AMOUNT + fee                 # C earned its fee
            assert bal[0][REMOTE] == route.amount_msat            # A paid amount + fees
            assert route.fee_msat == 2 * fee

            # Failure at the payee (unknown hash): reported by D, back to A.
            with pytest.raises(PaymentFailed) as info:
                await a.payments.pay(route, bytes(32))
            assert info.value.failure.code == r.UNKNOWN_PAYMENT_HASH
            assert info.value.failure.node == d.node_id
            # Failure at a forwarding node: a route that underpays C's fee.
            h2 = d.payments.add_invoice(preimage(2), AMOUNT)
            stingy = r.Route(route.hops[:1] + (
                r.Hop(chans[1].channel_id, b.node_id, c.node_id, AMOUNT,
                      route.hops[1].cltv_expiry),) + route.hops[2:])
            with pytest.raises(PaymentFailed) as info:
                await a.payments.pay(stingy, h2)
            assert info.value.failure.code == r.FEE_INSUFFICIENT
            assert info.value.failure.node == c.node_id
            for x, ch in zip(nodes, chans):
                await x.wait_idle(ch.channel_id)
            after = [x.channels[ch.channel_id].closing_balances_msat()
                     for x, ch in zip(nodes, chans)]
            assert after == bal  # failed payments moved nothing
        finally:
            for n in nodes:
                await n.stop()
            chain.close()
    run(scenario())


def test_find_route_prefers_cheaper_path_and_reports_no_route() -> None:
    g = r.ChannelGraph()
    a, b, c, d = (bytes([2]) + bytes([i]) * 32 for i in range(4))
    g.add_channel(b"\x01" * 32, a, b, 10**9)
    g.add_channel(b"\x02" * 32, b, d, 10**9, fee_base_msat=5000)
    g.add_channel(b"\x03" * 32, a, c, 10**9)
    g.add_channel(b"\x04" * 32, c, d, 10**9, fee_base_msat=100)
    route = g.find_route(a, d, 1_000_000, 500)
    assert [h.channel_id for h in route.hops] == [b"\x03" * 32, b"\x04" * 32]
    assert route.fee_msat == 100 + 1
    assert route.hops[-1].amount_msat == 1_000_000 and route.hops[-1].cltv_expiry == 500
    with pytest.raises(r.RouteError, match="no route"):
        g.find_route(a, d, 2 * 10**9, 500)  # over every channel's capacity
    with pytest.raises(r.RouteError, match="no route"):
        g.find_route(a, d, 1000, 500, exclude=frozenset({b"\x02" * 32, b"\x04" * 32}))


def test_route_payload_round_trip_and_rejects_garbage() -> None:
    hops = [(b"\x07" * 32, 5000, 700), (b"\x08" * 32, 4000, 660)]
    assert r.decode_payload(r.encode_payload(hops)) == hops
    assert r.decode_payload(b"") == []
    for bad in (b"\xc1", r.encode_payload([]) + b"x", __import__("msgpack").packb([[b"x", 1, 2]])):
        with pytest.raises(r.RouteError):
            r.decode_payload(bad)
    assert r.Failure.decode(b"junk").code == "unreadable_failure"
    f = r.Failure(r.FEE_INSUFFICIENT, b"\x02" * 33, b"\x01" * 32)
    assert r.Failure.decode(f.encode()) == f
