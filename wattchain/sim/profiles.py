"""Deterministic energy profiles of a simulated microgrid, in WATT base units per slot.

Everything here is a pure function of its arguments plus a ``random.Random`` seeded by the
caller, so one seed gives one community, byte for byte, on every machine (no NumPy, no clock).
Energies are integers: 1 WATT = 1 kWh = 10^8 base units, the token's own unit, so a reading
can be signed and minted exactly as computed.

Solar (per kWp of panels)
    ``solar_kw(hour)`` is a clipped sine: 0 before ``SUNRISE`` (06:00) and after ``SUNSET``
    (20:00), ``sin(pi * (hour - SUNRISE) / (SUNSET - SUNRISE))`` in between, so the peak
    (1 kW per kWp, a clear-sky noon) is at 13:00, solar noon of the chosen day length. A
    slot's clear-sky energy is the curve's value at the slot's midpoint times 0.25 h. Weather
    multiplies it by a factor drawn once per hour from ``uniform(WEATHER_MIN, 1.0)`` (passing
    clouds), the same for every panel of the community because they share one sky.

Household load
    ``base_load_kw(hour)`` is a documented daily shape: 0.25 kW at night, a morning peak
    (07:00-09:00, 0.9 kW), a daytime plateau (0.45 kW) and an evening peak (18:00-22:00,
    1.3 kW); each household scales it by its size factor and each slot by
    ``uniform(1 - LOAD_NOISE, 1 + LOAD_NOISE)``.

EV charging
    A household with an EV plugs in once a day at a random evening hour (17:00-22:00) and
    charges ``EV_KW`` (7.4 kW, a 32 A single-phase wallbox) for a random 1-3 hours.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

KWH = 10**8            # WATT base units per kWh
SLOT_MINUTES = 15
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
SLOT_HOURS = SLOT_MINUTES / 60
SUNRISE = 6.0
SUNSET = 20.0
WEATHER_MIN = 0.3
LOAD_NOISE = 0.2
EV_KW = 7.4


def solar_kw(hour: float) -> float:
    """Clear-sky output of 1 kWp at ``hour`` (0-24, wraps daily): a sine clipped to daylight."""
    hour %= 24.0
    if not SUNRISE < hour < SUNSET:
        return 0.0
    return math.sin(math.pi * (hour - SUNRISE) / (SUNSET - SUNRISE))


def base_load_kw(hour: float) -> float:
    """A typical household's mean load (kW) at ``hour`` (0-24, wraps daily)."""
    hour %= 24.0
    if 7.0 <= hour < 9.0:
        return 0.9
    if 18.0 <= hour < 22.0:
        return 1.3
    if 9.0 <= hour < 18.0:
        return 0.45
    return 0.25


def slot_midpoint(slot: int, start_hour: float) -> float:
    """Hour of day of a slot's midpoint (slot 0 starts at ``start_hour``)."""
    return start_hour + (slot + 0.5) * SLOT_HOURS


def to_units(kwh: float) -> int:
    """kWh to WATT base units (rounded down: a meter never reports more than it measured)."""
    return max(0, int(kwh * KWH))


@dataclass(frozen=True)
class EvSession:
    """One charging session: from ``start`` (hours since the run's start) for ``hours``."""

    start: float
    hours: float

    def kwh_in(self, begin: float, end: float) -> float:
        """Energy drawn in [begin, end) (hours since the run's start)."""
        overlap = min(end, self.start + self.hours) - max(begin, self.start)
        return max(0.0, overlap) * EV_KW


@dataclass(frozen=True)
class HouseholdProfile:
    """One household's parameters; its per-slot energies come from :func:`slot_energies`."""

    index: int
    kwp: float              # installed panels
    size: float             # load scale factor
    ev_sessions: tuple[EvSession, ...]


def weather_factors(rng: random.Random, hours: int) -> list[float]:
    """One cloudiness factor per simulated hour (shared by the whole community)."""
    return [rng.uniform(WEATHER_MIN, 1.0) for _ in range(hours + 1)]


def make_households(rng: random.Random, count: int, hours: int, start_hour: float,
                    ev_share: float = 0.4) -> list[HouseholdProfile]:
    """``count`` households: 2-8 kWp panels, load size 0.6-1.6, some with an EV that plugs in
    once per simulated evening."""
    households = []
    days = int((start_hour + hours) // 24) + 1
    for index in range(count):
        kwp = round(rng.uniform(2.0, 8.0), 1)
        size = round(rng.uniform(0.6, 1.6), 2)
        sessions: list[EvSession] = []
        if rng.random() < ev_share:
            for day in range(days):
                plug = day * 24 + rng.uniform(17.0, 22.0) - start_hour
                sessions.append(EvSession(plug, rng.uniform(1.0, 3.0)))
        households.append(HouseholdProfile(index, kwp, size, tuple(sessions)))
    return households


def slot_energies(house: HouseholdProfile, slot: int, start_hour: float,
                  weather: list[float], rng: random.Random) -> tuple[int, int]:
    """(production, consumption) of one household in one slot, in WATT base units.

    ``rng`` supplies the load noise; call households and slots in a fixed order."""
    hour = slot_midpoint(slot, start_hour)
    cloud = weather[int((slot * SLOT_HOURS))]
    produced = solar_kw(hour) * house.kwp * cloud * SLOT_HOURS
    load = base_load_kw(hour) * house.size * rng.uniform(1 - LOAD_NOISE, 1 + LOAD_NOISE)
    begin = slot * SLOT_HOURS
    ev = sum(s.kwh_in(begin, begin + SLOT_HOURS) for s in house.ev_sessions)
    return to_units(produced), to_units(load * SLOT_HOURS + ev)


__all__ = ["EV_KW", "EvSession", "HouseholdProfile", "KWH", "SLOTS_PER_HOUR", "SLOT_HOURS",
           "SLOT_MINUTES", "SUNRISE", "SUNSET", "base_load_kw", "make_households",
           "slot_energies", "slot_midpoint", "solar_kw", "to_units", "weather_factors"]
