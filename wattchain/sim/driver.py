"""`wattchain sim microgrid`: run a community's 15-minute settlements through real nodes.

:func:`simulate` drives a started :class:`~wattchain.sim.network.Network`: deploy the
contracts, then for every slot send the supply phase (production mints, battery withdrawals),
wait for it to confirm, send the demand phase (consumption burns, surplus deposits), wait
again. Simulated time only advances when the chain has confirmed the slot, so it is decoupled
from wall time (no sleeps). It returns the ``results.json`` document; every chain figure in it
is read back over RPC (receipts, token views, blocks), not copied from the model.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from wattchain.contracts.tsl import TSL_TOTAL_SUPPLY
from wattchain.sim.chain import (Contracts, Ledger, Meter, account_of, deploy, derived_secret,
                                 hex_id)
from wattchain.sim.community import Action, BatterySpec, Community, SimulationError, SlotFigures
from wattchain.sim.network import Network, Parties
from wattchain.sim.profiles import (KWH, SLOT_MINUTES, SLOTS_PER_HOUR, HouseholdProfile,
                                    make_households, slot_energies, weather_factors)

#: Simulated day: 2024-06-21 00:00 UTC (a long summer day). Readings carry simulated time.
SIM_EPOCH = 1_718_928_000
SLOT_SECONDS = SLOT_MINUTES * 60


@dataclass(frozen=True)
class SimConfig:
    households: int = 50
    hours: int = 24
    seed: int = 1
    start_hour: int = 0
    batteries: int = 2
    #: Capacity per household, shared among the batteries (kWh).
    storage_kwh_per_house: float = 5.0
    #: TSL base units per kWh per started slot (0.01 TSL).
    fee_rate: int = 1_000_000
    tsl_per_house: int = 1_000 * 10**8

    def __post_init__(self) -> None:
        if not 1 <= self.households <= 500:
            raise ValueError("households must be in 1..500")
        if not 1 <= self.hours <= 24 * 7:
            raise ValueError("hours must be in 1..168")
        if not 0 <= self.start_hour < 24:
            raise ValueError("start hour must be in 0..23")
        if not 1 <= self.batteries <= 16:
            raise ValueError("batteries must be in 1..16")

    @property
    def slots(self) -> int:
        return self.hours * SLOTS_PER_HOUR


@dataclass(frozen=True)
class EnergyPlan:
    houses: list[HouseholdProfile]
    production: list[list[int]]     # [slot][house], WATT base units
    consumption: list[list[int]]


def plan_energy(config: SimConfig) -> EnergyPlan:
    """The whole run's meter readings, from the seed alone."""
    rng = random.Random(config.seed)
    weather = weather_factors(rng, config.hours)
    houses = make_households(rng, config.households, config.hours, config.start_hour)
    production, consumption = [], []
    for slot in range(config.slots):
        pairs = [slot_energies(h, slot, config.start_hour, weather, rng) for h in houses]
        production.append([p for p, _ in pairs])
        consumption.append([c for _, c in pairs])
    return EnergyPlan(houses, production, consumption)


class Progress:
    """A one-line progress bar of simulated time on stderr."""

    def __init__(self, total: int, start_hour: int, stream: Any = sys.stderr) -> None:
        self.total, self.start_hour, self.stream = total, start_hour, stream

    def __call__(self, done: int, height: int) -> None:
        minutes = self.start_hour * 60 + done * SLOT_MINUTES
        bar = "#" * (30 * done // self.total)
        self.stream.write(f"\r[{bar:<30}] day {minutes // 1440 + 1} "
                          f"{minutes // 60 % 24:02d}:{minutes % 60:02d}  slot {done}/"
                          f"{self.total}  height {height}")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()


async def simulate(net: Network, config: SimConfig,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    assert net.parties is not None
    parties = net.parties
    rpc = net.rpc()
    ledger = Ledger(rpc)
    plan = plan_energy(config)
    capacity = int(config.storage_kwh_per_house * KWH * config.households / config.batteries)
    specs = [BatterySpec(i, capacity, config.fee_rate) for i in range(config.batteries)]
    meters = [Meter.from_secret(derived_secret(config.seed, f"meter{i}"))
              for i in range(config.households)]
    first_height = await rpc("getblockcount")
    contracts = await deploy(ledger, parties, meters, config.seed,
                             [(s.capacity, s.fee_rate) for s in specs], config.tsl_per_house)
    battery_ids = [contracts.battery_ids[o] for o in parties.owners]
    community = Community(config.households, specs)
    sim_start_height = await rpc("getblockcount")
    slots = []
    for slot in range(config.slots):
        figures = SlotFigures(slot)
        figures.demand = sum(plan.consumption[slot])
        start = SIM_EPOCH + config.start_hour * 3600 + slot * SLOT_SECONDS
        phases = (("supply", lambda: community.supply_actions(plan.production[slot])),
                  ("demand", lambda: community.demand_actions(plan.consumption[slot])))
        txids: list[str] = []
        for phase, actions_of in phases:
            actions = actions_of()
            sent = [await _send(ledger, contracts, parties.houses, meters, battery_ids, a,
                                start, phase) for a in actions]
            await ledger.confirm(sent)
            community.apply(actions, figures)
            txids += sent
        figures.grid_import = figures.demand - figures.burned
        slots.append(await _slot_record(ledger, contracts, community, figures, txids, start))
        if progress is not None:
            progress(slot + 1, slots[-1]["height"])
    return await _results(ledger, contracts, community, config, plan, slots, first_height,
                          sim_start_height, battery_ids, parties)


async def _send(ledger: Ledger, contracts: Contracts, houses: tuple[str, ...],
                meters: list[Meter], battery_ids: list[int], action: Action, start: int,
                phase: str) -> str:
    house = houses[action.house]
    meter = meters[action.house]
    battery = battery_ids[action.battery]
    if action.kind in ("mint", "burn"):
        kind = "production" if action.kind == "mint" else "consumption"
        consumer = account_of(house) if kind == "consumption" else b""
        counter, sig = meter.sign(contracts.watt, kind, start, SLOT_SECONDS, action.amount,
                                  consumer)
        result = await ledger.rpc(
            "submitmeterreading", watt=contracts.watt.hex(), device=meter.device.hex(),
            kind=kind, intervalstart=start, intervalseconds=SLOT_SECONDS,
            energy=action.amount, counter=counter, signature=sig.hex(),
            consumer=house if consumer else None, senderaddress=house)
        return ledger.record(result["txid"], action.kind, phase)
    return await ledger.call(house, contracts.storage, action.kind, [battery, action.amount],
                             action.kind, phase)


async def _slot_record(ledger: Ledger, contracts: Contracts, community: Community,
                       figures: SlotFigures, txids: list[str], start: int) -> dict[str, Any]:
    splits = [e for t in txids for e in fee_events(ledger.receipts[t])]
    return {**asdict(figures), "interval_start": start,
            "stored": community.in_batteries, "held": community.held,
            "watt_supply": await ledger.view(contracts.watt, "totalSupply"),
            "tsl_supply": await ledger.view(contracts.tsl, "totalSupply"),
            "fees": sum(e["fee"] for e in splits),
            "fee_owner_side": sum(e["owner_side"] for e in splits),
            "fee_marketing": sum(e["marketing"] for e in splits),
            "fee_platform": sum(e["platform"] for e in splits),
            "transactions": len(txids),
            "height": await ledger.rpc("getblockcount")}


def fee_events(receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The FeeSplit events' data in a transaction's receipts."""
    return [e["data"] for r in receipts for e in r["log"] if e["topic"] == "FeeSplit"]


async def _results(ledger: Ledger, contracts: Contracts, community: Community,
                   config: SimConfig, plan: EnergyPlan, slots: list[dict[str, Any]],
                   first_height: int, sim_start_height: int,
                   battery_ids: list[int], parties: Parties) -> dict[str, Any]:
    rpc = ledger.rpc
    watt, tsl, storage = contracts.watt, contracts.tsl, contracts.storage
    houses = []
    for i, address in enumerate(parties.houses):
        profile = plan.houses[i]
        houses.append({
            "address": address, "account": account_of(address).hex(),
            "kwp": profile.kwp, "size": profile.size, "ev_sessions": len(profile.ev_sessions),
            "battery": battery_ids[community.battery_of(i)],
            "watt": await rpc("tokenbalance", watt.hex(), address),
            "tsl": await rpc("tokenbalance", tsl.hex(), address),
            "stored": community.state[i].stored,
            "fees_paid": config.tsl_per_house - await rpc("tokenbalance", tsl.hex(), address)})
    owners = []
    for address, battery in zip(parties.owners, battery_ids):
        record = await ledger.view(storage, "battery", battery)
        owners.append({"address": address, "account": account_of(address).hex(),
                       "battery": battery, "capacity": record["capacity"],
                       "stored": record["stored"], "fee_rate": record["fee_rate"],
                       "earnings": await ledger.view(storage, "earnings",
                                                     hex_id(account_of(address)))})
    pools = await ledger.view(storage, "pools")
    tip = await rpc("getblockcount")
    blocks = []
    for height in range(first_height + 1, tip + 1):
        block = await rpc("getblock", await rpc("getblockhash", height), 1)
        blocks.append({"height": height, "hash": block["hash"], "time": block["time"],
                       "transactions": len(block["tx"]), "contract_transactions":
                       len(block["tx"]) - 2, "simulation": height > sim_start_height})
    transactions = [{**t, "gas_used": sum(r["gasUsed"] for r in ledger.receipts[t["txid"]]),
                     "fee": sum(e["fee"] for e in fee_events(ledger.receipts[t["txid"]]))}
                    for t in ledger.sent]
    fees = sum(s["fees"] for s in slots)
    return {
        "config": asdict(config),
        "contracts": {"registry": contracts.registry.hex(), "watt": watt.hex(),
                      "tsl": tsl.hex(), "storage": storage.hex()},
        "totals": {
            "produced": sum(s["produced"] for s in slots),
            "demand": sum(s["demand"] for s in slots),
            "grid_import": sum(s["grid_import"] for s in slots),
            "watt_minted": await ledger.view(watt, "totalMinted"),
            "watt_burned": await ledger.view(watt, "totalBurned"),
            "watt_supply": await ledger.view(watt, "totalSupply"),
            "watt_held": sum(h["watt"] for h in houses),
            "watt_in_storage": await rpc("tokenbalance", watt.hex(), storage.hex()),
            "tsl_supply": await ledger.view(tsl, "totalSupply"),
            "tsl_expected_supply": TSL_TOTAL_SUPPLY,
            "tsl_in_storage": await rpc("tokenbalance", tsl.hex(), storage.hex()),
            "fees": fees,
            "fee_owner_side": sum(o["earnings"] for o in owners),
            "fee_marketing": pools["marketing"], "fee_platform": pools["platform"],
            "transactions": len(ledger.sent), "blocks": len(blocks),
            "first_height": first_height, "simulation_start_height": sim_start_height,
            "tip": tip},
        "slots": slots,
        "parties": {"platform": parties.platform, "houses": houses, "owners": owners,
                    "marketing_pool": pools["marketing"], "platform_pool": pools["platform"]},
        "blocks": blocks,
        "transactions": transactions,
    }


async def run_microgrid(config: SimConfig, out: Path, workdir: Path | None = None,
                        show_progress: bool = True) -> dict[str, Any]:
    """Start a network in ``workdir`` (a temporary directory by default), simulate, write
    ``results.json``, the plots and ``index.html`` into ``out``."""
    from wattchain.sim.report import write_report
    with tempfile.TemporaryDirectory(prefix="wattchain-sim-") as tmp:
        root = workdir or Path(tmp)
        net = Network(root, config.households, config.batteries)
        await net.start()
        try:
            progress = Progress(config.slots, config.start_hour) if show_progress else None
            results = await simulate(net, config, progress)
        finally:
            await net.stop()
    write_report(results, out)
    return results


def run(config: SimConfig, out: Path) -> dict[str, Any]:
    return asyncio.run(run_microgrid(config, out))


__all__ = ["EnergyPlan", "Progress", "SIM_EPOCH", "SimConfig", "SimulationError",
           "fee_events", "plan_energy", "run", "run_microgrid", "simulate"]
