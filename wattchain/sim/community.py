"""The community's bookkeeping: who mints, burns, stores and withdraws what in each slot.

Pure and synchronous: the driver asks for a slot's two phases of actions, sends them as
transactions, waits for them to confirm, and only then applies them (:meth:`Community.apply`),
so this model and the chain move in lockstep and the final figures can be checked against
the chain's RPC.

Settlement of one 15-minute slot, per household (one meter, one battery assigned round-robin):

* phase "supply": the meter's production reading mints WATT to the household; any open
  battery position is withdrawn in full (paying the TSL storage fee for the slots it was
  stored, split 80/10/10 on chain);
* phase "demand": the meter's consumption reading burns ``min(consumption, WATT held)``
  (what WATT does not cover is imported from the upstream grid and only recorded here); the
  remaining surplus is deposited into the household's battery, up to its free capacity (what
  does not fit stays held as WATT).

Positions are rolled every slot (withdraw, then redeposit the new surplus) so storage is paid
per *simulated* slot: the contract counts started 15-minute slots of block time, and block time
runs far faster than simulated time here, so each roll pays for exactly one slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattchain.sim.profiles import KWH


class SimulationError(RuntimeError):
    """The chain did not do what the community planned (a failed receipt, a lost tx)."""


@dataclass(frozen=True)
class Action:
    """One transaction to send: kind is mint, withdraw, burn or deposit."""

    kind: str
    house: int
    amount: int
    battery: int


@dataclass(frozen=True)
class BatterySpec:
    index: int
    capacity: int      # WATT base units
    fee_rate: int      # TSL base units per kWh per started slot


@dataclass
class HouseState:
    held: int = 0
    stored: int = 0


@dataclass
class SlotFigures:
    """Energy of one slot, WATT base units (the chain-side figures are added by the driver)."""

    slot: int
    produced: int = 0
    demand: int = 0
    burned: int = 0
    grid_import: int = 0
    deposited: int = 0
    withdrawn: int = 0


@dataclass
class Community:
    houses: int
    batteries: list[BatterySpec]
    state: list[HouseState] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    minted: int = 0
    burned: int = 0

    def __post_init__(self) -> None:
        if self.houses < 1 or not self.batteries:
            raise ValueError("a community needs households and at least one battery")
        self.state = [HouseState() for _ in range(self.houses)]
        self.stored = [0] * len(self.batteries)

    def battery_of(self, house: int) -> int:
        return house % len(self.batteries)

    # ------------------------------------------------------------------ phases
    def supply_actions(self, production: list[int]) -> list[Action]:
        actions = []
        for house, produced in enumerate(production):
            battery = self.battery_of(house)
            if produced > 0:
                actions.append(Action("mint", house, produced, battery))
            if self.state[house].stored > 0:
                actions.append(Action("withdraw", house, self.state[house].stored, battery))
        return actions

    def demand_actions(self, consumption: list[int]) -> list[Action]:
        """Call after the supply phase was applied."""
        actions = []
        free = [b.capacity - s for b, s in zip(self.batteries, self.stored)]
        for house, demand in enumerate(consumption):
            held = self.state[house].held
            burn = min(demand, held)
            if burn > 0:
                actions.append(Action("burn", house, burn, self.battery_of(house)))
            battery = self.battery_of(house)
            deposit = min(held - burn, free[battery])
            if deposit > 0:
                free[battery] -= deposit
                actions.append(Action("deposit", house, deposit, battery))
        return actions

    def apply(self, actions: list[Action], figures: SlotFigures) -> None:
        """Record confirmed actions."""
        for a in actions:
            house = self.state[a.house]
            if a.kind == "mint":
                house.held += a.amount
                self.minted += a.amount
                figures.produced += a.amount
            elif a.kind == "withdraw":
                if a.amount != house.stored:
                    raise SimulationError(f"house {a.house}: withdraw of a stale position")
                house.held += a.amount
                house.stored = 0
                self.stored[a.battery] -= a.amount
                figures.withdrawn += a.amount
            elif a.kind == "burn":
                house.held -= a.amount
                self.burned += a.amount
                figures.burned += a.amount
            elif a.kind == "deposit":
                house.held -= a.amount
                house.stored = a.amount
                self.stored[a.battery] += a.amount
                figures.deposited += a.amount
            else:
                raise ValueError(f"unknown action {a.kind!r}")
            if house.held < 0:
                raise SimulationError(f"house {a.house}: negative WATT balance")

    # ------------------------------------------------------------------ totals
    @property
    def held(self) -> int:
        return sum(s.held for s in self.state)

    @property
    def in_batteries(self) -> int:
        return sum(self.stored)


def kwh(units: int) -> float:
    """WATT base units as kWh, for reports."""
    return units / KWH


__all__ = ["Action", "BatterySpec", "Community", "HouseState", "SimulationError",
           "SlotFigures", "kwh"]
