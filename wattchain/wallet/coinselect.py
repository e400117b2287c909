"""Coin selection: Bitcoin Core's branch and bound, then single random draw, then largest first.

* **Branch and bound** (Murch's algorithm, Core's ``SelectCoinsBnB``) looks for an input set
  whose effective value (value minus the fee to spend it) lands in
  ``[target, target + cost_of_change]``: no change output is needed, and the excess goes to
  the fee. Among matches it keeps the one with the least waste.
* **Single random draw** (Core's ``SelectCoinsSRD``) shuffles the coins and adds them until the
  target plus a change output and a minimum change amount is covered, which avoids creating
  tiny change and does not leak the wallet's coin structure as largest-first would.
* **Largest first** covers the last case: the wallet can pay, but not with comfortable change.

The functions are pure (the caller passes the random generator), so tests are exact.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from wattchain.core.tx import OutPoint
from wattchain.wallet.errors import InsufficientFunds

#: Core's TOTAL_TRIES for branch and bound.
BNB_MAX_TRIES = 100_000
#: Core's CHANGE_LOWER: single random draw aims for at least this much change.
CHANGE_LOWER = 50_000


@dataclass(frozen=True)
class Candidate:
    """A spendable coin as selection sees it; ``fee``/``long_term_fee`` are the cost of its
    input at the current and the long-term fee rate."""

    outpoint: OutPoint
    value: int
    weight: int
    fee: int
    long_term_fee: int

    @property
    def effective_value(self) -> int:
        return self.value - self.fee


@dataclass(frozen=True)
class Selection:
    coins: tuple[Candidate, ...]
    algorithm: str

    @property
    def total_value(self) -> int:
        return sum(c.value for c in self.coins)

    @property
    def total_fee(self) -> int:
        return sum(c.fee for c in self.coins)


def select_bnb(pool: Sequence[Candidate], target: int, cost_of_change: int,
               max_tries: int = BNB_MAX_TRIES) -> list[Candidate] | None:
    """Core's SelectCoinsBnB over effective values; None when no changeless match exists."""
    coins = sorted((c for c in pool if c.effective_value > 0),
                   key=lambda c: c.effective_value, reverse=True)
    available = sum(c.effective_value for c in coins)
    if available < target or not coins:
        return None
    selection: list[int] = []
    best: list[int] | None = None
    best_waste = None
    value = waste = 0
    index = 0
    fees_above_long_term = coins[0].fee - coins[0].long_term_fee > 0
    for _ in range(max_tries):
        backtrack = False
        if (value + available < target or value > target + cost_of_change
                or (best_waste is not None and waste > best_waste and fees_above_long_term)):
            backtrack = True
        elif value >= target:
            total_waste = waste + (value - target)
            if best_waste is None or total_waste <= best_waste:
                best, best_waste = list(selection), total_waste
            backtrack = True
        if backtrack:
            if not selection:
                break
            index -= 1
            while index > selection[-1]:
                available += coins[index].effective_value
                index -= 1
            last = coins[selection.pop()]
            value -= last.effective_value
            waste -= last.fee - last.long_term_fee
        else:
            coin = coins[index]
            available -= coin.effective_value
            # Skip a coin equal to an excluded predecessor: that branch was already explored.
            if (not selection or index - 1 == selection[-1]
                    or coin.effective_value != coins[index - 1].effective_value
                    or coin.fee != coins[index - 1].fee):
                selection.append(index)
                value += coin.effective_value
                waste += coin.fee - coin.long_term_fee
        index += 1
    return None if best is None else [coins[i] for i in best]


def select_srd(pool: Sequence[Candidate], target: int, rng: random.Random
               ) -> list[Candidate] | None:
    """Random coins until their effective value reaches ``target`` (which should already hold
    the change output's cost and the minimum change); None if all of them do not."""
    coins = [c for c in pool if c.effective_value > 0]
    rng.shuffle(coins)
    chosen, total = [], 0
    for coin in coins:
        chosen.append(coin)
        total += coin.effective_value
        if total >= target:
            return chosen
    return None


def select_largest_first(pool: Sequence[Candidate], target: int) -> list[Candidate] | None:
    chosen, total = [], 0
    for coin in sorted(pool, key=lambda c: c.effective_value, reverse=True):
        if coin.effective_value <= 0:
            break
        chosen.append(coin)
        total += coin.effective_value
        if total >= target:
            return chosen
    return None


def select_coins(pool: Sequence[Candidate], target: int, cost_of_change: int,
                 change_fee: int, rng: random.Random) -> Selection:
    """Inputs whose effective value pays ``target`` (outputs + the fee of everything but the
    inputs). Tries BnB (no change), then SRD, then largest first (both with change); raises
    InsufficientFunds when even every coin together falls short."""
    if target <= 0:
        raise ValueError("selection target must be positive")
    found = select_bnb(pool, target, cost_of_change)
    if found is not None:
        return Selection(tuple(found), "bnb")
    found = select_srd(pool, target + change_fee + CHANGE_LOWER, rng)
    if found is not None:
        return Selection(tuple(found), "srd")
    found = select_largest_first(pool, target + change_fee)
    if found is None:
        found = select_largest_first(pool, target)
    if found is not None:
        return Selection(tuple(found), "largest_first")
    raise InsufficientFunds()
