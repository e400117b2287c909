"""The built-in contract classes a node runs: the registry every block executes against.

Adding a class or a new version of one is a hard fork: give the new registry an activation
height in the chain parameters and pick it by height (py-evm's era table) when that day comes.
"""

from __future__ import annotations

from wattchain.contracts.battery import BatteryStorage
from wattchain.contracts.meters import MeterRegistry
from wattchain.contracts.runtime import ContractRegistry
from wattchain.contracts.tsl import TslToken
from wattchain.contracts.watt import WattToken


def default_registry() -> ContractRegistry:
    """A fresh registry of every built-in contract (no shared mutable module state)."""
    return ContractRegistry([MeterRegistry, WattToken, TslToken, BatteryStorage])
