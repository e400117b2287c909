"""A small microgrid run (5 households, 2 simulated hours around noon) through three real
nodes; afterwards every figure of results.json is compared with what the chain's RPC says."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from wattchain.contracts.tsl import TSL_TOTAL_SUPPLY
from wattchain.sim.driver import SimConfig, simulate
from wattchain.sim.network import Network
from wattchain.sim.report import PLOTS, write_report

CONFIG = SimConfig(households=5, hours=2, seed=3, start_hour=11)


async def _run(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The results, and the chain's answers to the same questions asked afterwards."""
    net = Network(root / "nodes", CONFIG.households, CONFIG.batteries)
    await net.start()
    try:
        results = await simulate(net, CONFIG)
        rpc = net.rpc(0)   # a validator, not the gateway the simulation talked to
        await rpc("waitforblockheight", results["totals"]["tip"], 60_000)
        c = results["contracts"]

        async def view(contract: str, method: str, *args: Any) -> Any:
            reply = await rpc("callcontract", contract, method, list(args))
            assert reply["executionResult"]["excepted"] == "None"
            return reply["executionResult"]["output"]

        chain: dict[str, Any] = {
            "watt_minted": await view(c["watt"], "totalMinted"),
            "watt_burned": await view(c["watt"], "totalBurned"),
            "watt_supply": await view(c["watt"], "totalSupply"),
            "tsl_supply": await view(c["tsl"], "totalSupply"),
            "watt_in_storage": await rpc("tokenbalance", c["watt"], c["storage"]),
            "tsl_in_storage": await rpc("tokenbalance", c["tsl"], c["storage"]),
            "pools": await view(c["storage"], "pools"),
            "houses": [{"watt": await rpc("tokenbalance", c["watt"], h["account"]),
                        "tsl": await rpc("tokenbalance", c["tsl"], h["account"])}
                       for h in results["parties"]["houses"]],
            "earnings": [await view(c["storage"], "earnings", "0x" + o["account"])
                         for o in results["parties"]["owners"]],
            "fee_logs": [e["data"] for r in await rpc("searchlogs", 0, -1, [c["storage"]],
                                                      ["FeeSplit"])
                         for e in r["log"] if e["topic"] == "FeeSplit"],
            "receipts": {t["txid"]: await rpc("gettransactionreceipt", t["txid"])
                         for t in results["transactions"]},
            "blocks": [await rpc("getblock", b["hash"], 1) for b in results["blocks"]],
        }
    finally:
        await net.stop()
    write_report(results, root / "out")
    return results, chain


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("microgrid")
    results, chain = asyncio.run(_run(root))
    return results, chain, root / "out"


def test_energy_is_conserved(run) -> None:
    results, chain, _ = run
    t = results["totals"]
    assert t["produced"] > 0 and t["watt_burned"] > 0 and t["watt_in_storage"] > 0
    assert t["watt_minted"] == t["produced"]
    assert t["watt_burned"] == t["demand"] - t["grid_import"]
    assert t["watt_minted"] - t["watt_burned"] == t["watt_held"] + t["watt_in_storage"]
    assert chain["watt_minted"] - chain["watt_burned"] == (
        sum(h["watt"] for h in chain["houses"]) + chain["watt_in_storage"])
    assert chain["watt_supply"] == chain["watt_minted"] - chain["watt_burned"]


def test_fee_shares_sum_to_fees_charged(run) -> None:
    results, chain, _ = run
    t = results["totals"]
    assert t["fees"] > 0
    assert t["fee_owner_side"] + t["fee_marketing"] + t["fee_platform"] == t["fees"]
    logs = chain["fee_logs"]
    assert sum(e["fee"] for e in logs) == t["fees"]
    for e in logs:
        assert e["owner_side"] + e["marketing"] + e["platform"] == e["fee"]
        assert e["marketing"] == e["fee"] * 10 // 100
    # what households paid is exactly what the storage contract holds (nothing claimed yet)
    paid = sum(CONFIG.tsl_per_house - h["tsl"] for h in chain["houses"])
    assert paid == t["fees"] == chain["tsl_in_storage"]
    assert sum(chain["earnings"]) + chain["pools"]["marketing"] + chain["pools"]["platform"] \
        == t["fees"]


def test_tsl_supply_is_fixed(run) -> None:
    results, chain, _ = run
    assert chain["tsl_supply"] == TSL_TOTAL_SUPPLY == 1_000_000_000 * 10**8
    assert {s["tsl_supply"] for s in results["slots"]} == {TSL_TOTAL_SUPPLY}
    assert results["totals"]["tsl_supply"] == TSL_TOTAL_SUPPLY


def test_results_match_the_chain_rpc(run) -> None:
    results, chain, _ = run
    t = results["totals"]
    for key in ("watt_minted", "watt_burned", "watt_supply", "tsl_supply", "watt_in_storage",
                "tsl_in_storage"):
        assert t[key] == chain[key], key
    assert t["fee_marketing"] == chain["pools"]["marketing"]
    assert t["fee_platform"] == chain["pools"]["platform"]
    assert [o["earnings"] for o in results["parties"]["owners"]] == chain["earnings"]
    for house, onchain in zip(results["parties"]["houses"], chain["houses"]):
        assert (house["watt"], house["tsl"]) == (onchain["watt"], onchain["tsl"])
        assert house["fees_paid"] == CONFIG.tsl_per_house - onchain["tsl"]
    slots = results["slots"]
    assert len(slots) == CONFIG.slots
    assert slots[-1]["watt_supply"] == chain["watt_supply"]
    assert sum(s["fees"] for s in slots) == sum(e["fee"] for e in chain["fee_logs"])
    for tx in results["transactions"]:
        receipts = chain["receipts"][tx["txid"]]
        assert receipts and all(r["excepted"] == "None" for r in receipts)
        assert tx["gas_used"] == sum(r["gasUsed"] for r in receipts)
    assert sum(s["transactions"] for s in slots) == sum(
        1 for tx in results["transactions"] if tx["phase"] != "setup")
    for block, onchain in zip(results["blocks"], chain["blocks"]):
        assert block["height"] == onchain["height"]
        assert block["transactions"] == len(onchain["tx"])
    # every transaction sent is in exactly one of the listed blocks
    mined = [txid for b in chain["blocks"] for txid in b["tx"]]
    assert all(mined.count(tx["txid"]) == 1 for tx in results["transactions"])


def test_report_files(run) -> None:
    results, _, out = run
    assert json.loads((out / "results.json").read_text()) == json.loads(
        json.dumps(results))
    page = (out / "index.html").read_text()
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page
