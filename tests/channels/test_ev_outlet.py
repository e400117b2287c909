"""The smart outlet delivers only paid increments and cuts power within one increment after
the car stops paying; the car pays per increment through a hub (two hops)."""

from __future__ import annotations

from harness import make_node, open_ready, run

from wattchain.channels.ev import Car, SmartOutlet
from wattchain.channels.testchain import TestChain

FUNDING = 1_000_000


def test_outlet_cuts_power_within_one_increment_when_payments_stop(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        car_n, hub, outlet_n = (make_node(chain, tmp_path, n) for n in ("car", "hub", "outlet"))
        for n in (car_n, hub, outlet_n):
            await n.start()
        try:
            c1 = await open_ready(chain, car_n, hub, FUNDING)
            c2 = await open_ready(chain, hub, outlet_n, FUNDING)
            for n in (car_n, hub, outlet_n):
                n.graph.add_channel(c1.channel_id, car_n.node_id, hub.node_id, FUNDING * 1000)
                n.graph.add_channel(c2.channel_id, hub.node_id, outlet_n.node_id, FUNDING * 1000)
            outlet = SmartOutlet(outlet_n, price_msat_per_kwh=30_000_000, increment_mwh=10_000)
            car = Car(car_n, outlet)
            # The car wants 0.2 kWh but stops paying after 5 increments (0.05 kWh).
            report = await car.charge(200_000, draw_per_tick_mwh=2_500, stop_paying_after=5)
            m = outlet.meter
            assert outlet.payments_received == 5 == report.increments_paid
            assert m.paid_mwh == 5 * 10_000
            assert m.delivered_mwh == report.energy_mwh == 50_000   # never more than paid
            assert not m.relay_on and m.cutoffs[-1] == 50_000
            assert outlet.tick(2_500) == 0                          # power stays off
            assert report.paid_msat == 5 * 300_000
            assert len(report.latencies_s) == 5
            # Paying again switches the power back on for exactly one more increment.
            await car.pay_increment()
            assert m.relay_on
            assert outlet.tick(50_000) == 10_000 and not m.relay_on
        finally:
            for n in (car_n, hub, outlet_n):
                await n.stop()
            chain.close()
    run(scenario())


def test_outlet_ignores_payments_it_did_not_invoice(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        node = make_node(chain, tmp_path, "outlet")
        outlet = SmartOutlet(node, increment_mwh=10_000)
        inv = outlet.next_invoice()
        outlet._on_payment(bytes(32), 10**9)                  # unknown hash
        outlet._on_payment(inv.payment_hash, inv.amount_msat - 1)  # underpaid
        assert outlet.meter.paid_mwh == 0 and outlet.tick(10_000) == 0
        outlet._on_payment(inv.payment_hash, inv.amount_msat)
        outlet._on_payment(inv.payment_hash, inv.amount_msat)  # counted once
        assert outlet.meter.paid_mwh == 10_000
        assert outlet.tick(4_000) == 4_000 and outlet.meter.relay_on
        assert outlet.tick(10_000) == 6_000 and not outlet.meter.relay_on
        node.store.close()
        chain.close()
    run(scenario())


def test_demo_command_reports_channel_and_onchain_settlement(capsys) -> None:
    from wattchain.cli import main
    assert main(["demo", "ev-charging", "--kwh", "0.03", "--json"]) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    ch, oc = report["channel"], report["onchain"]
    assert ch["kwh_delivered"] == 0.03 and ch["payments"] == 3
    assert ch["paid_sat"] == 3 * 300 and ch["final"] is True
    assert ch["latency_ms"]["p50"] > 0
    assert oc["amount_sat"] == 900
    assert oc["zero_conf"]["accepted"] is True and oc["zero_conf"]["final"] is False
    assert oc["six_conf"]["blocks"] == 6 and oc["six_conf"]["final"] is True
