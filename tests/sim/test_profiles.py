"""Profiles and the community's settlement plan: deterministic, documented shapes."""

from __future__ import annotations

import random

import pytest

from wattchain.sim.community import Action, BatterySpec, Community, SimulationError, SlotFigures
from wattchain.sim.driver import SimConfig, plan_energy
from wattchain.sim.profiles import (EV_KW, KWH, EvSession, HouseholdProfile, base_load_kw,
                                    slot_energies, solar_kw)


def test_solar_curve_is_a_clipped_sine_peaking_at_13() -> None:
    assert solar_kw(3.0) == 0.0 and solar_kw(6.0) == 0.0 and solar_kw(20.0) == 0.0
    assert solar_kw(23.5) == 0.0
    assert solar_kw(13.0) == pytest.approx(1.0)
    assert solar_kw(9.5) == pytest.approx(solar_kw(16.5))      # symmetric about 13:00
    assert solar_kw(10.0) < solar_kw(12.0) < solar_kw(13.0)
    assert solar_kw(37.0) == solar_kw(13.0)                    # wraps daily


def test_load_shape_has_morning_and_evening_peaks() -> None:
    assert base_load_kw(3.0) == 0.25
    assert base_load_kw(8.0) == 0.9
    assert base_load_kw(12.0) == 0.45
    assert base_load_kw(19.0) == 1.3 == max(base_load_kw(h / 4) for h in range(96))


def test_ev_session_energy_overlaps_slots() -> None:
    session = EvSession(start=1.0, hours=0.5)
    assert session.kwh_in(0.0, 1.0) == 0.0
    assert session.kwh_in(1.0, 1.25) == pytest.approx(EV_KW * 0.25)
    assert session.kwh_in(1.25, 2.0) == pytest.approx(EV_KW * 0.25)


def test_night_slot_produces_nothing_and_noon_slot_does() -> None:
    house = HouseholdProfile(0, kwp=4.0, size=1.0, ev_sessions=())
    weather = [1.0] * 30
    night, load = slot_energies(house, 0, 0, weather, random.Random(1))
    assert night == 0 and load > 0
    noon, _ = slot_energies(house, 0, 13, weather, random.Random(1))
    # slot 13:00-13:15, midpoint 13:07: about 4 kW for a quarter hour
    assert noon == pytest.approx(4.0 * 0.25 * KWH, rel=0.01)


def test_plan_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    a = plan_energy(SimConfig(households=4, hours=24, seed=7))
    b = plan_energy(SimConfig(households=4, hours=24, seed=7))
    c = plan_energy(SimConfig(households=4, hours=24, seed=8))
    assert a == b
    assert a.consumption != c.consumption
    assert len(a.production) == 96 and all(len(row) == 4 for row in a.production)
    assert all(p == 0 for p in a.production[0])                # midnight
    assert sum(a.production[52]) > 0                           # 13:00


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="households"):
        SimConfig(households=0)
    with pytest.raises(ValueError, match="hours"):
        SimConfig(hours=0)


def test_community_plans_burns_within_holdings_and_deposits_within_capacity() -> None:
    community = Community(3, [BatterySpec(0, capacity=10, fee_rate=1)])
    figures = SlotFigures(0)
    supply = community.supply_actions([8, 0, 5])
    assert supply == [Action("mint", 0, 8, 0), Action("mint", 2, 5, 0)]
    community.apply(supply, figures)
    demand = community.demand_actions([3, 4, 0])
    # house 0 burns 3 and stores 5; house 1 has nothing; house 2 stores what fits (5)
    assert demand == [Action("burn", 0, 3, 0), Action("deposit", 0, 5, 0),
                      Action("deposit", 2, 5, 0)]
    community.apply(demand, figures)
    assert community.held == 0 and community.in_batteries == 10
    assert community.minted - community.burned == community.held + community.in_batteries
    # next slot: positions are rolled (withdrawn in full)
    assert community.supply_actions([0, 0, 0]) == [Action("withdraw", 0, 5, 0),
                                                   Action("withdraw", 2, 5, 0)]
    with pytest.raises(SimulationError, match="stale position"):
        community.apply([Action("withdraw", 0, 4, 0)], SlotFigures(1))
