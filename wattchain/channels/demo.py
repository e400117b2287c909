"""``wattchain demo ev-charging``: outlet, car and a hub on an in-process testnet.

Runs a real chainstate with Proof-of-Stake blocks (``testchain.py``), three channel nodes on
loopback WebSockets (car -> hub -> outlet), opens and confirms both channels on chain, then
charges the car increment by increment, paying each over the two-hop route. For comparison the
same purchase is paid on chain: accepted by a real mempool (zero confirmations: instant but not
final — the payer can still double-spend it) and then buried under six staked blocks (final, but
six block intervals later). Prints a human-readable report, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from wattchain.channels.ev import MWH_PER_KWH, Car, SmartOutlet
from wattchain.channels.guards import guard
from wattchain.channels.node import ChannelNode, NodeConfig
from wattchain.channels.store import ChannelStore
from wattchain.channels.testchain import TestChain
from wattchain.consensus.params import main_params
from wattchain.core.hashes import sha256

FUNDING_SAT = 5_000_000


def add_demo_parser(sub: Any) -> None:
    """Register ``demo ev-charging`` on the top-level CLI's subparsers."""
    demo = sub.add_parser("demo", help="self-contained demonstrations")
    which = demo.add_subparsers(dest="demo", required=True)
    ev = which.add_parser("ev-charging", help="pay-per-increment EV charging over channels")
    ev.add_argument("--kwh", type=float, default=1.0, help="energy to charge (default 1.0)")
    ev.add_argument("--increment-kwh", type=float, default=0.01)
    ev.add_argument("--price-sat-per-kwh", type=int, default=30_000)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(func=lambda args, _params: run_ev_demo(args))


def run_ev_demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="wattchain-ev-") as tmp:
        report = asyncio.run(ev_charging(Path(tmp), args.kwh, args.increment_kwh,
                                         args.price_sat_per_kwh))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def _node(chain: TestChain, tmp: Path, name: str) -> ChannelNode:
    node = ChannelNode(sha256(b"demo:" + name.encode()), ChannelStore(tmp / name, sync=False),
                       funding=chain, broadcaster=chain, config=NodeConfig(minimum_depth=3),
                       height=chain.height)
    guard(node, chain.subscribe)
    return node


async def _open(chain: TestChain, a: ChannelNode, b: ChannelNode) -> bytes:
    peer = await a.connect("127.0.0.1", b.port)
    chan = await a.open_channel(peer, FUNDING_SAT)
    await chain.wait_broadcast(lambda tx: tx.txid == chan.funding_txid)
    chain.mine(n=a.config.minimum_depth)
    await a.wait_ready(chan.channel_id)
    await b.wait_ready(chan.channel_id)
    return chan.channel_id


async def ev_charging(tmp: Path, kwh: float, increment_kwh: float,
                      price_sat_per_kwh: int) -> dict[str, Any]:
    chain = TestChain(tmp / "chain")
    car_n, hub, outlet_n = (_node(chain, tmp, n) for n in ("car", "hub", "outlet"))
    for n in (car_n, hub, outlet_n):
        await n.start()
    try:
        c1 = await _open(chain, car_n, hub)
        c2 = await _open(chain, hub, outlet_n)
        for n in (car_n, hub, outlet_n):
            n.graph.add_channel(c1, car_n.node_id, hub.node_id, FUNDING_SAT * 1000)
            n.graph.add_channel(c2, hub.node_id, outlet_n.node_id, FUNDING_SAT * 1000)
        outlet = SmartOutlet(outlet_n, price_msat_per_kwh=price_sat_per_kwh * 1000,
                             increment_mwh=int(increment_kwh * MWH_PER_KWH))
        car = Car(car_n, outlet)
        start = time.perf_counter()
        result = await car.charge(int(kwh * MWH_PER_KWH))
        elapsed = time.perf_counter() - start
        lat = sorted(result.latencies_s)
        fees_msat = car.node.graph.find_route(car_n.node_id, outlet_n.node_id,
                                              outlet.increment_price_msat,
                                              0).fee_msat * result.increments_paid
        channel = {
            "kwh_delivered": outlet.meter.delivered_mwh / MWH_PER_KWH,
            "payments": result.increments_paid,
            "paid_sat": result.paid_msat / 1000,
            "routing_fees_sat": fees_msat / 1000,
            "latency_ms": {"p50": _pct(lat, 50) * 1e3, "p99": _pct(lat, 99) * 1e3,
                           "mean": statistics.fmean(lat) * 1e3 if lat else 0.0},
            "wall_seconds": elapsed,
            "final": True,
        }
        onchain = await _onchain(chain, outlet_n, result.paid_msat // 1000)
        return {"route": "car -> hub -> outlet", "channel": channel, "onchain": onchain}
    finally:
        for n in (car_n, hub, outlet_n):
            await n.stop()
        chain.close()


async def _onchain(chain: TestChain, outlet: ChannelNode, amount_sat: int) -> dict[str, Any]:
    """The same purchase as one on-chain payment: 0-conf (mempool) and 6-conf timings."""
    from wattchain.node.mempool import Mempool
    mempool = Mempool(chain.chainstate, clock=lambda: chain.now)
    tx = chain.pay(outlet.default_close_script(), amount_sat, fee=1_000)
    start = time.perf_counter()
    accepted = mempool.accept(tx)
    zero_conf = time.perf_counter() - start
    start = time.perf_counter()
    chain.mine([tx], n=6)
    six_conf_local = time.perf_counter() - start
    spacing_main = main_params().target_spacing
    return {
        "amount_sat": amount_sat,
        "zero_conf": {"accepted": accepted.accepted, "latency_ms": zero_conf * 1e3,
                      "final": False, "note": "unconfirmed: the payer can still double-spend"},
        "six_conf": {"blocks": 6, "expected_seconds_on_main": 6 * spacing_main,
                     "staking_seconds_in_process": six_conf_local, "final": True},
    }


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, (len(values) * pct) // 100)]


def format_report(r: dict[str, Any]) -> str:
    ch, oc = r["channel"], r["onchain"]
    lat = ch["latency_ms"]
    return "\n".join([
        f"EV charging over payment channels ({r['route']})",
        f"  energy delivered : {ch['kwh_delivered']:.3f} kWh",
        f"  payments made    : {ch['payments']} ({ch['paid_sat']:.0f} sat, "
        f"routing fees {ch['routing_fees_sat']:.0f} sat)",
        f"  payment latency  : p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, "
        f"mean {lat['mean']:.2f} ms (final when fulfilled)",
        "Same purchase settled on chain",
        f"  0 confirmations  : accepted={oc['zero_conf']['accepted']} in "
        f"{oc['zero_conf']['latency_ms']:.2f} ms — NOT final ({oc['zero_conf']['note']})",
        f"  6 confirmations  : final after 6 blocks = "
        f"{oc['six_conf']['expected_seconds_on_main']} s on main "
        f"(staked here in {oc['six_conf']['staking_seconds_in_process']:.2f} s)",
    ])
